-- Custom domains of apps (issue 15).  The API is the single writer: it
-- checks and claims a host name in one statement (the primary key makes
-- two apps claiming one name at once end with one winner) and puts it on
-- the app's caddy route; the deployer reads them to keep them on the route
-- it switches.  An app's domains go with its row.

CREATE TABLE domains (
    hostname   text PRIMARY KEY,
    app_name   text NOT NULL REFERENCES apps (name) ON DELETE CASCADE,
    created_by text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX domains_app_idx ON domains (app_name);
