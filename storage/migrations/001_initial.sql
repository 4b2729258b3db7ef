-- 001_initial: the first inventory schema.
-- Migrations run inside a transaction that the runner opens: no BEGIN/COMMIT here.
-- Times are Unix seconds (UTC). JSON columns hold JSON text. Private keys are stored only in
-- keys.sealed (AES-256-GCM under the master key, AAD = spki_sha256): never in clear.

-- An entry is what people name, bind and watch; its certificates are its versions.
CREATE TABLE entries (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  grp TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('leaf', 'ca')),
  description TEXT NOT NULL DEFAULT '',
  labels TEXT NOT NULL DEFAULT '[]',      -- JSON array of strings
  metadata TEXT NOT NULL DEFAULT '{}',    -- JSON object from the sidecar's [metadata]
  current_version_id INTEGER REFERENCES versions (id),  -- NULL only while being created
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  UNIQUE (grp, name)
);
CREATE INDEX entries_name ON entries (name);

-- Sealed private keys, one per public key. A key no version points at is "unmatched": it waits
-- for its certificate.
CREATE TABLE keys (
  id INTEGER PRIMARY KEY,
  spki_sha256 TEXT NOT NULL UNIQUE,
  algorithm TEXT NOT NULL,
  bits INTEGER NOT NULL,
  sealed BLOB NOT NULL,                   -- nonce(12) || ciphertext || tag(16)
  created_at INTEGER NOT NULL,
  source_inbox TEXT NOT NULL,
  source_file TEXT NOT NULL
);

CREATE TABLE versions (
  id INTEGER PRIMARY KEY,
  entry_id INTEGER NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
  version INTEGER NOT NULL,
  fingerprint_sha256 TEXT NOT NULL UNIQUE,
  spki_sha256 TEXT NOT NULL,
  serial TEXT NOT NULL,
  subject TEXT NOT NULL,
  issuer TEXT NOT NULL,
  subject_cn TEXT NOT NULL,
  sans TEXT NOT NULL DEFAULT '[]',        -- JSON array: "DNS:a.example", "IP:192.0.2.1", ...
  not_before INTEGER NOT NULL,
  not_after INTEGER NOT NULL,
  key_algorithm TEXT NOT NULL,
  key_bits INTEGER NOT NULL,
  signature_algorithm TEXT NOT NULL,
  chain TEXT NOT NULL DEFAULT '[]',       -- JSON array of fingerprints, issuer first
  findings TEXT NOT NULL DEFAULT '[]',    -- JSON array of finding codes, sorted
  source_inbox TEXT NOT NULL,
  source_file TEXT NOT NULL,
  imported_at INTEGER NOT NULL,
  metadata TEXT NOT NULL DEFAULT '{}',
  der BLOB NOT NULL,
  key_id INTEGER REFERENCES keys (id),
  UNIQUE (entry_id, version)
);
CREATE INDEX versions_not_after ON versions (not_after);
CREATE INDEX versions_spki ON versions (spki_sha256);
CREATE INDEX versions_key ON versions (key_id);

-- Entry -> resource (e.g. "lb-prod:443"), optionally handled by a named plugin.
CREATE TABLE bindings (
  id INTEGER PRIMARY KEY,
  entry_id INTEGER NOT NULL REFERENCES entries (id),  -- no cascade: a bound entry is not deleted
  resource TEXT NOT NULL,
  plugin TEXT,
  created_at INTEGER NOT NULL,
  UNIQUE (entry_id, resource)
);

-- One row per file the daemon took from an inbox.
CREATE TABLE import_log (
  id INTEGER PRIMARY KEY,
  time INTEGER NOT NULL,
  inbox TEXT NOT NULL,
  file TEXT NOT NULL,
  file_sha256 TEXT NOT NULL DEFAULT '',
  outcome TEXT NOT NULL CHECK (outcome IN ('imported', 'duplicate', 'rejected')),
  reason TEXT,                            -- reason code when rejected
  message TEXT,
  entry_ids TEXT NOT NULL DEFAULT '[]'    -- JSON array of the entries it created or changed
);

-- The event outbox: written in the same transaction as the change it reports. AUTOINCREMENT so
-- a sequence number is never reused, even after old events are pruned.
CREATE TABLE events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  type TEXT NOT NULL,
  time INTEGER NOT NULL,
  payload TEXT NOT NULL                   -- the whole message: {"seq", "type", "time", ...}
);

CREATE TABLE meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('published_seq', '0');
