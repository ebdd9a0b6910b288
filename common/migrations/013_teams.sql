-- Teams, users, roles and API keys (issue 13).  The API owns every table
-- here: it writes them (adapi admin, /tokens) and reads them on each
-- request.  Roles, weakest first: viewer (read), deployer (deploy,
-- rollback, delete, config, scale), admin (and the team's keys).

CREATE TABLE teams (
    id         uuid PRIMARY KEY,
    name       text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id         uuid PRIMARY KEY,
    name       text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9._@-]{1,63}$'),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE memberships (
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    team_id    uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    role       text NOT NULL CHECK (role IN ('admin', 'deployer', 'viewer')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, team_id)
);

-- A key is shown once, at creation; only its SHA-256 (hex) is kept.  A
-- key bound to a user acts with the weaker of its role and the user's
-- role in the team, and stops working when the user leaves the team.
CREATE TABLE api_keys (
    id           uuid PRIMARY KEY,
    team_id      uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id      uuid REFERENCES users (id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (name ~ '^[A-Za-z0-9._-]{1,63}$'),
    role         text NOT NULL CHECK (role IN ('admin', 'deployer', 'viewer')),
    hash         text NOT NULL UNIQUE CHECK (hash ~ '^[0-9a-f]{64}$'),
    -- the key's first characters, so a human can tell keys apart
    prefix       text NOT NULL,
    created_by   text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE UNIQUE INDEX api_keys_team_name_idx ON api_keys (team_id, name) WHERE revoked_at IS NULL;

-- Which team owns an app name.  Written by the API in the transaction
-- that records the first deployment request under the name (the apps row
-- comes later, from the coordinator, and goes when the app is destroyed;
-- the name stays the team's).  Apps with no row here (deployed before
-- teams, by platform operators or by external publishers) are visible to
-- platform operators only; `adapi admin assign-app` gives one to a team.
CREATE TABLE app_owners (
    app_name   text PRIMARY KEY,
    team_id    uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX app_owners_team_idx ON app_owners (team_id);

-- Claiming a name checks that no request used it before.
CREATE INDEX deployment_requests_app_idx ON deployment_requests (app_name);

-- Who changed what, when and from where: every request that asks for a
-- change (any method but GET) once its handler answered, refusals too,
-- and `adapi admin` commands.  Never a body or a header value.  team_id
-- is the caller's team, or for a platform operator the team owning the
-- app it acted on; team admins read their team's rows (GET /audit).
CREATE TABLE audit_log (
    id            bigserial PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT now(),
    team_id       uuid,
    principal     text NOT NULL,
    remote        text NOT NULL DEFAULT '',
    action        text NOT NULL,
    path          text NOT NULL DEFAULT '',
    app           text,
    deployment_id uuid,
    status        integer NOT NULL
);
CREATE INDEX audit_log_team_idx ON audit_log (team_id, id DESC);
