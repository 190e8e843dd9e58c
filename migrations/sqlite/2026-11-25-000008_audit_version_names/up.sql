-- The name of a resource in each version (userName of a User, displayName of a Group: what the
-- audit API shows as a member's or group's `display` at an instant), carried in the point-in-time
-- index so that naming 1,000 members at T is 1,000 index-only probes instead of 1,000 table rows
-- (~0.5 KB documents) read and parsed. Written by the write path with every version; rows written
-- before this migration are filled here from their document.
ALTER TABLE resource_versions ADD COLUMN name TEXT NOT NULL DEFAULT '';
UPDATE resource_versions
   SET name = COALESCE(CASE resource_type
                           WHEN 'User' THEN json_extract(doc, '$.userName')
                           WHEN 'Group' THEN json_extract(doc, '$.displayName')
                       END, '');
-- Replaces the (resource_type, resource_id, valid_from, valid_to) index of 000002, of which it is
-- an extension (the version at T is still found by the same range).
CREATE INDEX resource_versions_named_at_idx ON resource_versions (resource_type, resource_id, valid_from, valid_to, name);
DROP INDEX resource_versions_at_idx;
