-- The deployment saga's state.  The coordinator is the single writer of
-- deployments and their steps; every service records the events it has
-- completed in processed_events (idempotent consumers).

CREATE TABLE deployments (
    id            uuid PRIMARY KEY,
    app_name      text NOT NULL,
    repo_url      text NOT NULL,
    ref           text NOT NULL DEFAULT '',
    status        text NOT NULL,
    requested_by  text NOT NULL DEFAULT '',
    trace_id      text NOT NULL DEFAULT '',
    git_sha       text,
    url           text,
    ip            text,
    error         text,
    failed_step   text,
    analysis      jsonb,
    -- optimistic concurrency: every transition bumps it
    version       integer NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deployments_created_idx ON deployments (created_at DESC, id);
CREATE INDEX deployments_app_idx ON deployments (app_name, created_at DESC);
CREATE INDEX deployments_status_idx ON deployments (status);

-- When each step started and ended.
CREATE TABLE deployment_steps (
    deployment_id uuid NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    step          text NOT NULL,
    status        text NOT NULL,
    started_at    timestamptz NOT NULL DEFAULT now(),
    ended_at      timestamptz,
    deadline_at   timestamptz,
    PRIMARY KEY (deployment_id, step)
);

CREATE TABLE builds (
    deployment_id     uuid PRIMARY KEY REFERENCES deployments (id) ON DELETE CASCADE,
    image             text NOT NULL,
    digest            text NOT NULL DEFAULT '',
    tags              text[] NOT NULL DEFAULT '{}',
    duration_ms       bigint NOT NULL DEFAULT 0,
    cache_hit         boolean NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE infrastructure (
    deployment_id uuid PRIMARY KEY REFERENCES deployments (id) ON DELETE CASCADE,
    network       text NOT NULL,
    host_name     text NOT NULL,
    url           text NOT NULL,
    tls           boolean NOT NULL DEFAULT false,
    route_id      text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Each deployment of an app that became healthy is a release of it.
CREATE TABLE releases (
    id            bigserial PRIMARY KEY,
    app_name      text NOT NULL,
    deployment_id uuid NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    image         text NOT NULL,
    container_ids text[] NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX releases_app_idx ON releases (app_name, id DESC);

-- Append-only log of every event the coordinator has seen.
CREATE TABLE event_log (
    id            bigserial PRIMARY KEY,
    event_id      uuid NOT NULL UNIQUE,
    deployment_id uuid NOT NULL,
    subject       text NOT NULL,
    producer      text NOT NULL DEFAULT '',
    payload       bytea NOT NULL,
    applied       boolean NOT NULL,
    note          text NOT NULL DEFAULT '',
    received_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX event_log_deployment_idx ON event_log (deployment_id, id);

-- Transactional outbox: a state change and the event it causes commit
-- together; a relay publishes rows with Nats-Msg-Id = event_id.
CREATE TABLE outbox (
    id            bigserial PRIMARY KEY,
    event_id      uuid NOT NULL UNIQUE,
    subject       text NOT NULL,
    payload       bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz
);
CREATE INDEX outbox_pending_idx ON outbox (id) WHERE published_at IS NULL;

-- Idempotent consumers: (consumer, event id) pairs whose work is done.
CREATE TABLE processed_events (
    consumer      text NOT NULL,
    event_id      uuid NOT NULL,
    processed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- Build and runtime log lines, bounded per deployment by the writer.
CREATE TABLE deployment_logs (
    deployment_id uuid NOT NULL,
    seq           bigserial,
    source        text NOT NULL,
    line          text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (deployment_id, seq)
);

-- Every deployment request the API accepted.  The API owns this table; the
-- coordinator creates the deployments row when deploy.requested arrives.
CREATE TABLE deployment_requests (
    id              uuid PRIMARY KEY,
    app_name        text NOT NULL,
    repo_url        text NOT NULL,
    ref             text NOT NULL DEFAULT '',
    requested_by    text NOT NULL DEFAULT '',
    idempotency_key text UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deployment_requests_created_idx ON deployment_requests (created_at DESC, id);
