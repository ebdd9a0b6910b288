-- Process types (issue 15): a Procfile's entries other than web and
-- release (worker, clock...) run in containers of the release's image
-- with no port or route.  The coordinator writes all three columns.

-- What deploy.built carried: [{"name", "command", "replicas"}], so a
-- release made again from this build (config change, scale, rollback)
-- runs the same process types.
ALTER TABLE builds ADD COLUMN processes jsonb NOT NULL DEFAULT '[]';

-- The containers of each other process type the release ran
-- (deploy.exposed): {"worker": 2}.
ALTER TABLE releases ADD COLUMN processes jsonb NOT NULL DEFAULT '{}';

-- The app's scale of its other process types, set by scale requests:
-- {"worker": 0}; a type not listed runs as its build says (1).
ALTER TABLE apps ADD COLUMN process_replicas jsonb NOT NULL DEFAULT '{}';
