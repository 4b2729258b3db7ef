-- 006_event_cursors: named subscriber cursors. A cursor is the last event seq a subscriber has
-- handled (acknowledged). The outbox's retention never prunes an event a cursor still needs
-- (seq above the cursor), so a subscriber that was down for long catches up without a gap.
CREATE TABLE event_cursors (
  name TEXT PRIMARY KEY,
  seq INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Pruning by age walks events by time.
CREATE INDEX events_time ON events (time);
