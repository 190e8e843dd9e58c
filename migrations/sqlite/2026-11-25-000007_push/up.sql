-- Outbound provisioning (push engine). Keep in step with ../../postgres and crates/store/src/schema.rs.

-- A downstream SCIM service. `config` is the JSON settings without credentials; `secret` is the
-- auth block encrypted with the server's secret key (never stored or returned in clear).
CREATE TABLE push_targets (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    config TEXT NOT NULL,
    secret TEXT NOT NULL,
    paused BOOLEAN NOT NULL DEFAULT 0,
    paused_reason TEXT,
    quarantined_until TIMESTAMP,
    failures BIGINT NOT NULL DEFAULT 0,
    last_success TIMESTAMP,
    reconcile_requested BOOLEAN NOT NULL DEFAULT 0,
    created TIMESTAMP NOT NULL,
    modified TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX push_targets_name_key ON push_targets (name);

-- Per target: how far the event log has been pushed, the full-sync position, and the lease
-- that lets exactly one replica push the target at a time (fencing token).
CREATE TABLE push_cursors (
    target_id TEXT PRIMARY KEY NOT NULL,
    seq BIGINT NOT NULL,
    full_sync TEXT,
    lease_owner TEXT,
    lease_token TEXT,
    lease_until TIMESTAMP
);

-- What was last pushed of each resource to each target. `remote_key` is how the remote object
-- is found again (userName/externalId/displayName) if its id was never recorded.
CREATE TABLE push_state (
    target_id TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    remote_id TEXT,
    pushed_hash TEXT,
    pushed_doc TEXT,
    remote_key TEXT,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP,
    last_error TEXT,
    updated TIMESTAMP NOT NULL,
    PRIMARY KEY (target_id, resource_type, resource_id)
);
CREATE INDEX push_state_status_idx ON push_state (target_id, status, next_attempt_at);

-- Every HTTP call made to a target.
CREATE TABLE push_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    target_id TEXT NOT NULL,
    at TIMESTAMP NOT NULL,
    owner TEXT NOT NULL,
    resource_type TEXT,
    resource_id TEXT,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status BIGINT,
    latency_ms BIGINT NOT NULL,
    error TEXT
);
CREATE INDEX push_log_target_idx ON push_log (target_id, id);
