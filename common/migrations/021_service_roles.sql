-- Service roles with only what their SQL needs (issue 12, docs/security.md).
-- Where the stack made the roles (scripts/stack.sh makes these two without
-- membership in the owner role), they get these privileges and no others:
--   ad_analyzer     common/src/step.c reads a deployment's status,
--                   common/src/db.c records and checks processed events,
--                   every service reads which migrations are applied;
--   ad_provisioner  the same, and services/provisioner/provision.c reads a
--                   deployment's or a first request's app name.
-- Neither can change a deployment, a release or anything else.  Compose and
-- Helm have no such roles: nothing happens there.
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'ad_analyzer') THEN
        GRANT SELECT ON schema_migrations TO ad_analyzer;
        GRANT SELECT ON deployments TO ad_analyzer;
        GRANT SELECT, INSERT ON processed_events TO ad_analyzer;
    END IF;
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'ad_provisioner') THEN
        GRANT SELECT ON schema_migrations TO ad_provisioner;
        GRANT SELECT ON deployments, deployment_requests TO ad_provisioner;
        GRANT SELECT, INSERT ON processed_events TO ad_provisioner;
    END IF;
END
$$;
