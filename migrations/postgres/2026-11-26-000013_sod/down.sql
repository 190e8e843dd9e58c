ALTER TABLE access_requests DROP COLUMN notes;
DROP TABLE sod_exceptions;
DROP TABLE sod_policy_groups;
DROP TABLE sod_policies;
