-- 008_events_by_entry: the events of one entry, newest first (the web page's entry page), found
-- by an index on the entry id its payload carries ("certificate": {"id", ...}) instead of a walk
-- of the whole outbox. Events without a certificate index as NULL.
CREATE INDEX events_entry ON events (json_extract(payload, '$.certificate.id'), seq);
