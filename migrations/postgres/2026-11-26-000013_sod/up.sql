-- Separation of duties (issue 9, docs/governance.md#separation-of-duties): policies naming
-- groups one user must not hold together, and the exceptions approvers accepted. Keep in step
-- with ../../sqlite and crates/store/src/schema.rs.

CREATE TABLE sod_policies (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    name TEXT COLLATE "C" NOT NULL UNIQUE,
    description TEXT COLLATE "C",
    created TIMESTAMP NOT NULL,
    modified TIMESTAMP NOT NULL
);

-- The groups of a policy (two or more).
CREATE TABLE sod_policy_groups (
    policy_id TEXT COLLATE "C" NOT NULL,
    group_id TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (policy_id, group_id)
);
-- The membership write path asks "which policies name this group (or a group it is nested
-- in)?": one probe of this index; while no policy exists, one probe of the primary key.
CREATE INDEX sod_policy_groups_group_idx ON sod_policy_groups (group_id);

-- An accepted exception: the user may hold the groups of the policy together, because an
-- approver accepted it when approving access_request_id.
CREATE TABLE sod_exceptions (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    policy_id TEXT COLLATE "C" NOT NULL,
    user_id TEXT COLLATE "C" NOT NULL,
    accepted_by TEXT COLLATE "C" NOT NULL,
    accepted_by_id TEXT COLLATE "C",
    reason TEXT COLLATE "C" NOT NULL,
    access_request_id TEXT COLLATE "C",
    accepted TIMESTAMP NOT NULL
);
CREATE INDEX sod_exceptions_policy_user_idx ON sod_exceptions (policy_id, user_id);

-- What an access request carries besides the membership (a JSON object): `sodConflicts`, the
-- policies its grant would violate (shown to the approver), and `justification`, the reason an
-- admin gave when opening it explicitly. One column: diesel's tables stop at 16 columns.
ALTER TABLE access_requests ADD COLUMN notes TEXT COLLATE "C";
