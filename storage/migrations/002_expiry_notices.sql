-- 002_expiry_notices: what the expiry scan has announced, so nothing is announced twice, not
-- even across a restart. One row per (version, threshold): threshold_days is a notify_days value,
-- or -1 for "expired". A threshold that was crossed while a more urgent one was also crossed (a
-- long downtime, a certificate imported close to its expiry) is recorded without an event:
-- event_seq is NULL for it.
CREATE TABLE expiry_notices (
  version_id INTEGER NOT NULL REFERENCES versions (id) ON DELETE CASCADE,
  threshold_days INTEGER NOT NULL,
  noticed_at INTEGER NOT NULL,
  event_seq INTEGER,
  PRIMARY KEY (version_id, threshold_days)
) WITHOUT ROWID;

-- The expiry scan's floor (Unix seconds): every current version with not_after below it has been
-- announced as expired, so a scan starts its walk of versions_not_after there instead of at the
-- oldest expired certificate. Whatever makes a version with an earlier not_after current (an
-- import of an expired certificate, say) lowers it (Inventory::Impl::LowerExpiryFloor).
INSERT INTO meta (key, value) VALUES ('expiry_floor', '0');
