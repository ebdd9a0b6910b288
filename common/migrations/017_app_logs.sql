-- Runtime logs of apps (issue 15).  The deployer is the single writer: one
-- follower per container (held by a PostgreSQL advisory lock on the
-- follower's connection, so one deployer replica follows a container at a
-- time and a crashed one lets go with its connection) reads the engine's
-- log stream and stores each line here, trimmed to deployer.app_log_lines
-- per app.  The API reads (GET /apps/{name}/logs?follow=1, SSE and
-- WebSocket).  An app's lines go with its row.

CREATE TABLE app_logs (
    id         bigserial PRIMARY KEY,
    app_name   text NOT NULL REFERENCES apps (name) ON DELETE CASCADE,
    container  text NOT NULL,
    process    text NOT NULL DEFAULT 'web',
    replica    integer NOT NULL DEFAULT 1,
    stream     text NOT NULL DEFAULT 'stdout',
    -- the engine's timestamp of the line, as it sent it (RFC 3339)
    logged_at  timestamptz NOT NULL,
    line       text NOT NULL
);
CREATE INDEX app_logs_app_idx ON app_logs (app_name, id);

-- Where a container's follower is: the engine timestamp of the last line
-- stored (as nanoseconds since the epoch) and how many lines with exactly
-- that timestamp are stored, so a follower resuming with the engine's
-- `since=` skips those and no others.  Written in the transaction of the
-- lines it counts.
CREATE TABLE app_log_cursors (
    container  text PRIMARY KEY,
    app_name   text NOT NULL REFERENCES apps (name) ON DELETE CASCADE,
    last_ns    bigint NOT NULL,
    at_last    integer NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
