-- A compensation request that gets no answer is repeated (the services'
-- compensations are idempotent); each repetition is a new event.
ALTER TABLE compensations ADD COLUMN attempts integer NOT NULL DEFAULT 0;
