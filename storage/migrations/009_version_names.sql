-- 009_version_names: each version's serial number and name fields as x509-certificate-exporter
-- labels its series (docs/metrics.md), read once at import so that a scrape of /metrics never
-- decodes a certificate. Versions stored before this migration get theirs when the daemon next
-- opens the database (storage/version_names.cc), not here: SQL cannot read a DER certificate.
CREATE TABLE version_names (
  version_id INTEGER PRIMARY KEY REFERENCES versions (id) ON DELETE CASCADE,
  serial_decimal TEXT NOT NULL,
  subject_c TEXT NOT NULL,
  subject_st TEXT NOT NULL,
  subject_l TEXT NOT NULL,
  subject_o TEXT NOT NULL,
  subject_ou TEXT NOT NULL,
  subject_cn TEXT NOT NULL,
  issuer_c TEXT NOT NULL,
  issuer_st TEXT NOT NULL,
  issuer_l TEXT NOT NULL,
  issuer_o TEXT NOT NULL,
  issuer_ou TEXT NOT NULL,
  issuer_cn TEXT NOT NULL
);
