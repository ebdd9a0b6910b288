-- The release phase (issue 15): what deploy.built carried as
-- release_command (a Procfile's release:, the analysis's releaseCommand),
-- so a release made again from this build (config change, scale,
-- rollback) runs it too.  The coordinator writes it; '' = none.
ALTER TABLE builds ADD COLUMN release_command text NOT NULL DEFAULT '';
