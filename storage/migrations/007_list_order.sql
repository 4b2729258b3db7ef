-- 007_list_order: `ls` pages with a cursor (docs/protocol.md): each page is a keyset query that
-- starts right after the last row of the page before, so page N costs what page 1 costs. Both
-- orders of `ls` need an index that holds their whole key.

-- sort = name: (name, grp, id). (grp, name) is unique; the rowid ends every index.
CREATE INDEX entries_name_group ON entries (name, grp);
DROP INDEX entries_name;

-- sort = expiry: (the current version's not_after, name, id), CSR entries without a certificate
-- last. The current version's not_after is kept on the entry, so the order is one index of one
-- table: 9223372036854775807 (after every real date) while there is no current version. A
-- version's not_after never changes, so the triggers below, on every change of the current
-- version, keep it right.
ALTER TABLE entries ADD COLUMN expiry_order INTEGER NOT NULL DEFAULT 9223372036854775807;

UPDATE entries SET expiry_order = COALESCE(
  (SELECT v.not_after FROM versions v WHERE v.id = entries.current_version_id),
  9223372036854775807);

CREATE INDEX entries_expiry_order ON entries (expiry_order, name);

CREATE TRIGGER entries_expiry_order_insert AFTER INSERT ON entries
WHEN NEW.current_version_id IS NOT NULL
BEGIN
  UPDATE entries SET expiry_order = COALESCE(
    (SELECT v.not_after FROM versions v WHERE v.id = NEW.current_version_id),
    9223372036854775807) WHERE id = NEW.id;
END;

CREATE TRIGGER entries_expiry_order_update AFTER UPDATE OF current_version_id ON entries
BEGIN
  UPDATE entries SET expiry_order = COALESCE(
    (SELECT v.not_after FROM versions v WHERE v.id = NEW.current_version_id),
    9223372036854775807) WHERE id = NEW.id;
END;
