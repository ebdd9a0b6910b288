-- The API's read model (docs/architecture.md, "Data access by owner"): a
-- deployment as the API shows it, whichever table knows it.  A request
-- the coordinator has not seen yet is QUEUED; a deployment another system
-- published (deploy.requested straight on the bus) has no request row.
-- The API owns this view and only reads it; the tables keep their owners
-- (deployment_requests the API, deployments the coordinator).
--
-- Two branches of a UNION ALL rather than a FULL JOIN: a lookup by id is
-- pushed into each branch and uses each table's primary key, where a
-- condition on coalesce(r.id, d.id) would read both tables whole.
CREATE OR REPLACE VIEW api_deployment AS
SELECT r.id,
       coalesce(d.app_name, r.app_name) AS app_name,
       coalesce(d.repo_url, r.repo_url) AS repo_url,
       coalesce(d.ref, r.ref) AS ref,
       coalesce(d.status, 'QUEUED') AS status,
       coalesce(nullif(d.requested_by, ''), r.requested_by) AS requested_by,
       r.created_at,
       coalesce(d.updated_at, r.created_at) AS updated_at
  FROM deployment_requests r
  LEFT JOIN deployments d ON d.id = r.id
UNION ALL
SELECT d.id, d.app_name, d.repo_url, d.ref, d.status, d.requested_by, d.created_at, d.updated_at
  FROM deployments d
 WHERE NOT EXISTS (SELECT 1 FROM deployment_requests x WHERE x.id = d.id);
