-- 003_versions: renewals. A new certificate renews the entry whose current version has the same
-- subject CN (and SAN set) in the same group; this index finds those candidates without a scan
-- of the group's entries.
CREATE INDEX versions_subject_cn ON versions (subject_cn);
