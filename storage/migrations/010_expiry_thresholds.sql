-- 010_expiry_thresholds: expiry notices keyed by the threshold's name ("33%", "7d", "33%,30d",
-- or "expired") instead of a number of days, now that a threshold may be a share of the
-- certificate's lifetime. A notice for notify_days N becomes "Nd", the name the same threshold
-- has when an old config's notify_days is read, so nothing already announced is announced again.
CREATE TABLE expiry_notices_by_key (
  version_id INTEGER NOT NULL REFERENCES versions (id) ON DELETE CASCADE,
  threshold TEXT NOT NULL,
  noticed_at INTEGER NOT NULL,
  event_seq INTEGER,
  PRIMARY KEY (version_id, threshold)
) WITHOUT ROWID;

INSERT INTO expiry_notices_by_key (version_id, threshold, noticed_at, event_seq)
  SELECT version_id, CASE WHEN threshold_days < 0 THEN 'expired' ELSE threshold_days || 'd' END,
         noticed_at, event_seq
  FROM expiry_notices;

DROP TABLE expiry_notices;
ALTER TABLE expiry_notices_by_key RENAME TO expiry_notices;
