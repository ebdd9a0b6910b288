-- Apps as a resource (issue 15).  The coordinator, single writer of the
-- saga's state, writes apps too: an app's settings and config change only
-- with the deployment they cause, in one transaction.

CREATE TABLE apps (
    name           text PRIMARY KEY,
    repo_url       text NOT NULL DEFAULT '',
    ref            text NOT NULL DEFAULT '',
    -- name -> sealed value: never plain text at rest
    env            jsonb NOT NULL DEFAULT '{}',
    -- bumped by every change of env; each deployment records the one it ran
    config_version integer NOT NULL DEFAULT 1,
    -- containers of the web process set by a scale request; 0 = as the
    -- repository's deployer.yaml says
    web_replicas   integer NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE deployments
    ADD COLUMN config_version integer,
    -- for a human: "deploy abc123", "set GREETING", "rollback to v2"...
    ADD COLUMN description    text NOT NULL DEFAULT '';

-- Release numbers per app: 1, 2, 3... in the order they became healthy.
ALTER TABLE releases ADD COLUMN version integer;
UPDATE releases r SET version = n.v FROM (
    SELECT id, row_number() OVER (PARTITION BY app_name ORDER BY id) AS v FROM releases) n
    WHERE n.id = r.id;
CREATE UNIQUE INDEX releases_app_version_idx ON releases (app_name, version);

-- Apps that exist already: their newest deployment's settings.
INSERT INTO apps (name, repo_url, ref, env)
SELECT DISTINCT ON (d.app_name) d.app_name, d.repo_url, d.ref, coalesce(b.env, '{}')
    FROM deployments d LEFT JOIN builds b ON b.deployment_id = d.id
    WHERE d.status NOT IN ('DESTROYING', 'DESTROYED')
    ORDER BY d.app_name, d.created_at DESC
ON CONFLICT DO NOTHING;

-- The app destroy request (deploy.app.destroy) a deployment is destroyed
-- with: the coordinator destroys an app's deployments one after another.
ALTER TABLE deployments ADD COLUMN app_destroy uuid;
CREATE INDEX deployments_app_destroy_idx ON deployments (app_destroy) WHERE app_destroy IS NOT NULL;
