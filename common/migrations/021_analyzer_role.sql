-- The analyzer's own PostgreSQL role (issue 12, docs/security.md): where
-- the stack made a role ad_analyzer, it gets only what the analyzer's SQL
-- needs (common/src/step.c reads a deployment's status, common/src/db.c
-- records and checks processed events, and every service reads which
-- migrations are applied), not the owner's rights: it cannot change a
-- deployment, a release or anything else.  scripts/stack.sh makes the role
-- without membership in the owner role.  Compose and Helm have no such role:
-- nothing happens there.
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'ad_analyzer') THEN
        GRANT SELECT ON schema_migrations TO ad_analyzer;
        GRANT SELECT ON deployments TO ad_analyzer;
        GRANT SELECT, INSERT ON processed_events TO ad_analyzer;
    END IF;
END
$$;
