DROP TABLE access_requests;
ALTER TABLE suspended_memberships DROP COLUMN expires_at;
DROP INDEX group_members_expires_idx;
ALTER TABLE group_members DROP COLUMN expires_at;
DROP INDEX groups_requires_approval_idx;
ALTER TABLE groups DROP COLUMN requires_approval;
