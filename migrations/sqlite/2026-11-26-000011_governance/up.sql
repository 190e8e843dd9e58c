-- Access governance (issue 9, docs/governance.md): access requests for groups that require
-- approval, and time-bound memberships. Keep in step with ../../postgres and
-- crates/store/src/schema.rs.

-- Projection of the group's governance extension (requiresApproval), so that the membership
-- write path can tell in one primary-key read whether an add needs an approval. No group had
-- the extension before this migration.
ALTER TABLE groups ADD COLUMN requires_approval BOOLEAN NOT NULL DEFAULT 0;
-- Whether any group requires approval at all: one index probe, so that adds cost nothing more
-- while governance is not in use.
CREATE INDEX groups_requires_approval_idx ON groups (id) WHERE requires_approval;

-- A membership with an end: the scheduler removes it at expires_at.
ALTER TABLE group_members ADD COLUMN expires_at TIMESTAMP;
CREATE INDEX group_members_expires_idx ON group_members (expires_at) WHERE expires_at IS NOT NULL;

-- A suspended membership keeps its end, so that restoring it does not make it permanent.
ALTER TABLE suspended_memberships ADD COLUMN expires_at TIMESTAMP;

-- One request to add member_id to group_id (governed_by: the group whose requiresApproval
-- asked for it, group_id itself or a group it is nested in). status: pending, approved,
-- denied, expired (undecided for too long) or withdrawn (the client removed the member, the
-- member or group was deleted, the user left). access_expires: the end of the membership an
-- approval granted.
CREATE TABLE access_requests (
    id TEXT PRIMARY KEY NOT NULL,
    group_id TEXT NOT NULL,
    member_id TEXT NOT NULL,
    member_type TEXT NOT NULL,
    source TEXT NOT NULL,
    governed_by TEXT NOT NULL,
    status TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    requested_by_id TEXT,
    requested TIMESTAMP NOT NULL,
    decided_by TEXT,
    decided_by_id TEXT,
    decided TIMESTAMP,
    reason TEXT,
    access_expires TIMESTAMP
);
-- At most one pending request per membership: repeated adds find it (idempotent).
CREATE UNIQUE INDEX access_requests_pending_key ON access_requests (group_id, member_id) WHERE status = 'pending';
-- Listing by status, newest first; the scheduler's scan for undecided requests past their time.
CREATE INDEX access_requests_status_idx ON access_requests (status, requested, id);
-- Listing every request, newest first.
CREATE INDEX access_requests_requested_idx ON access_requests (requested, id);
-- Withdrawing the pending requests of a member that is deleted or leaves.
CREATE INDEX access_requests_member_pending_idx ON access_requests (member_id) WHERE status = 'pending';
