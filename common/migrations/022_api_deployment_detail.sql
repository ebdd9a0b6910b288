-- The API's read model (migration 009) with what the deployments list and
-- detail show: the coordinator's git_sha, url, error, failed_step, ip and
-- analysis (NULL while it has not seen the request).  GET /deployments
-- and GET /deployments/{id} read this view instead of joining the tables
-- themselves (docs/architecture.md, "Data access by owner").
--
-- requested_by of a deployment another system published is NULL when the
-- coordinator's row has none (''), as the detail showed it before.
--
-- CREATE OR REPLACE VIEW keeps the columns of 009 in their order and adds
-- the new ones after them.  The list takes its page of ids from each
-- table's (created_at DESC, id) index and its rows from here by id
-- (PostgreSQL would sort the whole view for an ORDER BY ... LIMIT on it).
CREATE OR REPLACE VIEW api_deployment AS
SELECT r.id,
       coalesce(d.app_name, r.app_name) AS app_name,
       coalesce(d.repo_url, r.repo_url) AS repo_url,
       coalesce(d.ref, r.ref) AS ref,
       coalesce(d.status, 'QUEUED') AS status,
       coalesce(nullif(d.requested_by, ''), r.requested_by) AS requested_by,
       r.created_at,
       coalesce(d.updated_at, r.created_at) AS updated_at,
       d.git_sha, d.url, d.ip, d.error, d.failed_step, d.analysis
  FROM deployment_requests r
  LEFT JOIN deployments d ON d.id = r.id
UNION ALL
SELECT d.id, d.app_name, d.repo_url, d.ref, d.status, nullif(d.requested_by, ''), d.created_at,
       d.updated_at, d.git_sha, d.url, d.ip, d.error, d.failed_step, d.analysis
  FROM deployments d
 WHERE NOT EXISTS (SELECT 1 FROM deployment_requests x WHERE x.id = d.id);
