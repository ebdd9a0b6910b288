-- The stored status is one of the names in common/src/status.c, and only
-- those (tests/unit/test_status.c checks that this list and the C table
-- agree).  A writer with a typo fails here instead of leaving a
-- deployment no predicate recognises.
ALTER TABLE deployments ADD CONSTRAINT deployments_status_known CHECK (status IN (
    'QUEUED', 'ANALYZING', 'BUILDING', 'PROVISIONING', 'DEPLOYING', 'HEALTHY', 'EXPOSED',
    'SUPERSEDED', 'FAILED', 'ROLLING_BACK', 'ROLLED_BACK', 'DESTROYING', 'DESTROYED'));
