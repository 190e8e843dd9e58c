-- Birthright access rules, their grants, suspended memberships of leavers, and the scheduler's
-- jobs (issue 8, docs/lifecycle.md). Keep in step with ../../postgres and crates/store/src/schema.rs.

-- A rule: a SCIM filter over Users and the groups it grants. `status` is `ready`, `evaluating`
-- (existing users are being re-evaluated after a change, `evaluated` so far, resuming after
-- `eval_cursor`) or `deleting` (its grants are being withdrawn; the row goes when done).
CREATE TABLE rules (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    filter TEXT NOT NULL,
    groups TEXT NOT NULL,
    grace_days BIGINT NOT NULL,
    version BIGINT NOT NULL,
    status TEXT NOT NULL,
    evaluated BIGINT NOT NULL,
    eval_cursor TEXT,
    created TIMESTAMP NOT NULL,
    modified TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX rules_name_key ON rules (name);

-- One row per (rule, group, user) the rule grants; `expires` is set while the user no longer
-- matches and the rule's grace period runs. The membership itself is the group_members row.
CREATE TABLE rule_grants (
    rule_id TEXT NOT NULL,
    group_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    granted TIMESTAMP NOT NULL,
    expires TIMESTAMP,
    PRIMARY KEY (rule_id, group_id, user_id)
);
CREATE INDEX rule_grants_user_idx ON rule_grants (user_id);
CREATE INDEX rule_grants_group_user_idx ON rule_grants (group_id, user_id);

-- Manual memberships of a deactivated user: not in effect (no group_members row, the period is
-- closed), restored if the same user is activated again.
CREATE TABLE suspended_memberships (
    group_id TEXT NOT NULL,
    member_id TEXT NOT NULL,
    member_type TEXT NOT NULL,
    suspended TIMESTAMP NOT NULL,
    PRIMARY KEY (group_id, member_id)
);
CREATE INDEX suspended_memberships_member_idx ON suspended_memberships (member_id);

-- Due work of the scheduler: `user:ID` (dates, grace expiries) and `rule:ID` (re-evaluation).
-- A replica claims a job with a conditional UPDATE of `claimed_by`/`claimed_until`; the job row
-- is deleted in the same transaction as its effect, so it runs once.
CREATE TABLE scheduled_jobs (
    id TEXT PRIMARY KEY NOT NULL,
    due TIMESTAMP NOT NULL,
    claimed_by TEXT,
    claimed_until TIMESTAMP,
    attempts BIGINT NOT NULL,
    last_error TEXT
);
CREATE INDEX scheduled_jobs_due_idx ON scheduled_jobs (due);
