-- A keyed fingerprint (HMAC-SHA256 under secrets.key) of a request's env,
-- so a reused Idempotency-Key with other env values is told apart without
-- storing the values.  NULL for requests recorded before it existed.
ALTER TABLE deployment_requests ADD COLUMN env_digest text;
