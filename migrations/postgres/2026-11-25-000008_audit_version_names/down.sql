CREATE INDEX resource_versions_at_idx ON resource_versions (resource_type, resource_id, valid_from, valid_to);
DROP INDEX resource_versions_named_at_idx;
ALTER TABLE resource_versions DROP COLUMN name;
