-- Roster foundation schema (PostgreSQL). Text columns use COLLATE "C" so ordering matches SQLite. Keep in step with ../../sqlite and crates/store/src/schema.rs.
-- Case-insensitive attributes are projected pre-normalised (Rust to_lowercase) into *_norm columns.

CREATE TABLE users (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    user_name_norm TEXT COLLATE "C" NOT NULL,
    external_id TEXT COLLATE "C",
    display_name_norm TEXT COLLATE "C",
    active BOOLEAN NOT NULL DEFAULT TRUE,
    given_name_norm TEXT COLLATE "C",
    family_name_norm TEXT COLLATE "C",
    email_norm TEXT COLLATE "C",
    employee_number TEXT COLLATE "C",
    department_norm TEXT COLLATE "C",
    manager_id TEXT COLLATE "C",
    created TIMESTAMP NOT NULL,
    modified TIMESTAMP NOT NULL,
    version BIGINT NOT NULL,
    doc TEXT COLLATE "C" NOT NULL
);
CREATE UNIQUE INDEX users_user_name_norm_key ON users (user_name_norm);
CREATE INDEX users_external_id_idx ON users (external_id);
CREATE INDEX users_display_name_norm_idx ON users (display_name_norm);
CREATE INDEX users_email_norm_idx ON users (email_norm);
CREATE INDEX users_employee_number_idx ON users (employee_number);
CREATE INDEX users_department_norm_idx ON users (department_norm);
CREATE INDEX users_manager_id_idx ON users (manager_id);
CREATE INDEX users_modified_idx ON users (modified);

CREATE TABLE groups (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    display_name_norm TEXT COLLATE "C" NOT NULL,
    external_id TEXT COLLATE "C",
    created TIMESTAMP NOT NULL,
    modified TIMESTAMP NOT NULL,
    version BIGINT NOT NULL,
    doc TEXT COLLATE "C" NOT NULL
);
CREATE INDEX groups_display_name_norm_idx ON groups (display_name_norm, id);
CREATE INDEX groups_external_id_idx ON groups (external_id);
CREATE INDEX groups_modified_idx ON groups (modified);

-- Members are rows, never a JSON array: one member change is O(1) whatever the group size.
CREATE TABLE group_members (
    group_id TEXT COLLATE "C" NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    member_id TEXT COLLATE "C" NOT NULL,
    member_type TEXT COLLATE "C" NOT NULL,
    source TEXT COLLATE "C" NOT NULL,
    added TIMESTAMP NOT NULL,
    PRIMARY KEY (group_id, member_id)
);
CREATE INDEX group_members_member_idx ON group_members (member_id);

-- The one append-only log of every change: audit trail and change feed.
CREATE TABLE events (
    seq BIGINT PRIMARY KEY NOT NULL,
    at TIMESTAMP NOT NULL,
    actor TEXT COLLATE "C" NOT NULL,
    actor_id TEXT COLLATE "C",
    request_id TEXT COLLATE "C",
    action TEXT COLLATE "C" NOT NULL,
    resource_type TEXT COLLATE "C" NOT NULL,
    resource_id TEXT COLLATE "C" NOT NULL,
    version BIGINT NOT NULL,
    before TEXT COLLATE "C",
    after TEXT COLLATE "C",
    prev_hash TEXT COLLATE "C" NOT NULL,
    hash TEXT COLLATE "C" NOT NULL
);
CREATE INDEX events_resource_idx ON events (resource_type, resource_id, seq);
CREATE INDEX events_at_idx ON events (at);

-- One row: the last seq and hash. Every write transaction updates it first, so seq order is commit order.
CREATE TABLE event_head (
    id INTEGER PRIMARY KEY NOT NULL,
    seq BIGINT NOT NULL,
    hash TEXT COLLATE "C" NOT NULL
);
INSERT INTO event_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Every version of every resource with its validity span (point-in-time queries).
CREATE TABLE resource_versions (
    resource_type TEXT COLLATE "C" NOT NULL,
    resource_id TEXT COLLATE "C" NOT NULL,
    version BIGINT NOT NULL,
    doc TEXT COLLATE "C" NOT NULL,
    valid_from TIMESTAMP NOT NULL,
    valid_to TIMESTAMP,
    event_seq BIGINT NOT NULL,
    PRIMARY KEY (resource_type, resource_id, version)
);

-- Every membership with its validity span.
CREATE TABLE membership_periods (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    group_id TEXT COLLATE "C" NOT NULL,
    member_id TEXT COLLATE "C" NOT NULL,
    member_type TEXT COLLATE "C" NOT NULL,
    source TEXT COLLATE "C" NOT NULL,
    valid_from TIMESTAMP NOT NULL,
    valid_to TIMESTAMP
);
CREATE INDEX membership_periods_group_idx ON membership_periods (group_id, valid_from);
CREATE INDEX membership_periods_member_idx ON membership_periods (member_id, valid_from);

CREATE TABLE tokens (
    jti TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    scopes TEXT COLLATE "C" NOT NULL,
    created TIMESTAMP NOT NULL,
    expires TIMESTAMP,
    revoked TIMESTAMP
);

-- Server-wide secrets and settings (e.g. the JWT signing key), created on first start.
CREATE TABLE server_settings (
    name TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    value TEXT COLLATE "C" NOT NULL
);
