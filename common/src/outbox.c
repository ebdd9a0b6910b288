#include "ad/outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"
#include "ad/fault.h"

int ad_outbox_add(ad_db *db, const char *subject, const ad_envelope *env, ad_error_t *err)
{
        PGconn *conn = ad_db_conn(db);
        uint8_t *buf = NULL;
        size_t len = 0, esc_len = 0;
        unsigned char *esc;
        int ret;

        ret = ad_event_pack(env, &buf, &len, err);
        if (ret < 0)
                return ret;
        /* bytea as hex text keeps the query in text protocol. */
        esc = PQescapeByteaConn(conn, buf, len, &esc_len);
        free(buf);
        if (esc == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "cannot escape event: %s",
                                     PQerrorMessage(conn));
        const char *params[3] = { env->event_id, subject, (const char *)esc };
        ret = ad_db_exec(db, NULL,
                         "INSERT INTO outbox (event_id, subject, payload) VALUES ($1, $2, $3) "
                         "ON CONFLICT (event_id) DO NOTHING",
                         3, params, err);
        PQfreemem(esc);
        return ret < 0 ? ad_error_wrap(err, "outbox") : 0;
}

int ad_outbox_relay(ad_db *db, ad_bus *bus, int batch, int *published, ad_error_t *err)
{
        PGresult *r = NULL;
        char limit[16];
        const char *params[1] = { limit };
        int count = 0, ret;

        snprintf(limit, sizeof(limit), "%d", batch > 0 ? batch : 100);
        ret = ad_db_begin(db, err);
        if (ret < 0)
                return ret;
        /* Rows stay locked until the commit, so two relays never publish
         * the same row at once; SKIP LOCKED lets them share the work. */
        ret = ad_db_exec(db, &r,
                         "SELECT id, event_id, subject, payload FROM outbox "
                         "WHERE published_at IS NULL ORDER BY id LIMIT $1 "
                         "FOR UPDATE SKIP LOCKED",
                         1, params, err);
        if (ret < 0)
                goto fail;
        for (int i = 0; i < PQntuples(r); i++) {
                size_t len = 0;
                unsigned char *data =
                        PQunescapeBytea((const unsigned char *)PQgetvalue(r, i, 3), &len);
                const char *id[1] = { PQgetvalue(r, i, 0) };

                if (data == NULL) {
                        ret = ad_error_make(err, AD_ERR_GENERIC, 0, "cannot decode outbox row");
                        goto fail;
                }
                ret = ad_bus_publish(bus, PQgetvalue(r, i, 2), PQgetvalue(r, i, 1), data, len, NULL,
                                     err);
                PQfreemem(data);
                if (ret < 0)
                        goto fail;
                /* Published, not yet marked: after a crash the row is published
                 * again (same Nats-Msg-Id) by the next relay. */
                AD_FAULT("outbox.after_publish", PQgetvalue(r, i, 2));
                ret = ad_db_exec(db, NULL, "UPDATE outbox SET published_at = now() WHERE id = $1",
                                 1, id, err);
                if (ret < 0)
                        goto fail;
                count++;
        }
        PQclear(r);
        r = NULL;
        ret = ad_db_commit(db, err);
        if (ret < 0)
                return ret;
        if (published)
                *published = count;
        return 0;
fail:
        PQclear(r);
        ad_db_rollback(db);
        return ad_error_wrap(err, "outbox relay");
}
