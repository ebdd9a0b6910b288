-- What the coordinator needs to roll back, destroy and re-run releases.

-- A build remembers what running its image needs, so a rollback can run
-- it again without the analyzer and the builder.
ALTER TABLE builds
    ADD COLUMN app_name  text NOT NULL DEFAULT '',
    ADD COLUMN port      integer NOT NULL DEFAULT 0,
    ADD COLUMN cpu       double precision NOT NULL DEFAULT 0,
    ADD COLUMN memory_mb integer NOT NULL DEFAULT 0,
    ADD COLUMN git_sha   text NOT NULL DEFAULT '',
    -- name -> sealed value: never plain text at rest
    ADD COLUMN env       jsonb NOT NULL DEFAULT '{}';

ALTER TABLE deployments
    ADD COLUMN kind        text NOT NULL DEFAULT 'deploy',  -- deploy | rollback
    ADD COLUMN rollback_of uuid,
    -- the status the saga was in when it failed or was destroyed
    ADD COLUMN failed_from text;

-- Compensations of a failed or destroyed deployment, run one at a time,
-- newest step first (seq 1 first).
CREATE TABLE compensations (
    deployment_id uuid NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    step          text NOT NULL,
    seq           integer NOT NULL,
    status        text NOT NULL DEFAULT 'pending', -- pending | requested | done
    requested_at  timestamptz,
    done_at       timestamptz,
    PRIMARY KEY (deployment_id, step)
);
