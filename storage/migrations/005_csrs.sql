-- 005_csrs: certificate signing requests made here, and the audit log of key exports.

-- A CSR made by `certinbox csr create`. Its entry (kind leaf) has no version until the signed
-- certificate arrives: the entry is `pre_activation`. The key is a row of `keys` (sealed like an
-- imported key); a certificate with the same spki_sha256 activates the entry (activated_at set)
-- and becomes its version 1.
CREATE TABLE csrs (
  entry_id INTEGER PRIMARY KEY REFERENCES entries (id) ON DELETE CASCADE,
  key_id INTEGER NOT NULL REFERENCES keys (id),
  spki_sha256 TEXT NOT NULL,
  key_type TEXT NOT NULL,                 -- rsa-2048 | rsa-3072 | rsa-4096 | ec-p256 | ec-p384
  key_algorithm TEXT NOT NULL,            -- "RSA" | "EC", as versions.key_algorithm
  key_bits INTEGER NOT NULL,
  subject TEXT NOT NULL,                  -- RFC 2253, as versions.subject
  subject_cn TEXT NOT NULL,
  sans TEXT NOT NULL DEFAULT '[]',        -- JSON array, as versions.sans
  der BLOB NOT NULL,                      -- the CSR (PKCS#10 DER); PEM is derived from it
  created_at INTEGER NOT NULL,
  activated_at INTEGER                    -- NULL while pending
);
CREATE INDEX csrs_spki ON csrs (spki_sha256);

-- Every request to export private key material (PEM key or PKCS#12), allowed or refused.
CREATE TABLE key_exports (
  id INTEGER PRIMARY KEY,
  time INTEGER NOT NULL,
  entry_id INTEGER REFERENCES entries (id) ON DELETE SET NULL,
  entry_name TEXT NOT NULL,
  version INTEGER,
  what TEXT NOT NULL CHECK (what IN ('key', 'pkcs12')),
  outcome TEXT NOT NULL CHECK (outcome IN ('exported', 'refused')),
  reason TEXT,                            -- error code when refused
  endpoint TEXT NOT NULL DEFAULT ''       -- the control endpoint the request came through
);
CREATE INDEX key_exports_entry ON key_exports (entry_id);
