-- 004_bindings: what a binding needs beyond migration 001's (entry, resource, plugin).
-- - source: who made it. `cli` (certinbox bind), `config` ([[binding]], reconciled on start and
--   reload: the only ones reconciliation removes) or `sidecar` (a drop's `bind`).
-- - the push record (written by plugins' push reports, a later migration's users): the entry
--   version its consumer has received and when, and the last attempt's outcome.
-- - one entry per resource: a resource such as lb-prod:443 serves one certificate, so binding
--   a second entry to it is refused (two certificates on one listener get two resource names,
--   e.g. lb-prod:443/rsa and lb-prod:443/ecdsa). The index also makes "who holds it?" cheap.
ALTER TABLE bindings ADD COLUMN source TEXT NOT NULL DEFAULT 'cli'
  CHECK (source IN ('cli', 'config', 'sidecar'));
ALTER TABLE bindings ADD COLUMN pushed_version INTEGER;   -- entry version the consumer has
ALTER TABLE bindings ADD COLUMN pushed_at INTEGER;        -- when that version was pushed
ALTER TABLE bindings ADD COLUMN last_push_at INTEGER;     -- the last attempt, either outcome
ALTER TABLE bindings ADD COLUMN last_push_result TEXT
  CHECK (last_push_result IS NULL OR last_push_result IN ('succeeded', 'failed'));
ALTER TABLE bindings ADD COLUMN last_push_message TEXT;
CREATE UNIQUE INDEX bindings_resource ON bindings (resource);
