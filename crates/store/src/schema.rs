//! Hand-written diesel schema, portable across SQLite and PostgreSQL.
//!
//! `migrations/sqlite` and `migrations/postgres` must produce exactly these columns; the
//! schema-parity test in `migrations.rs` checks it on both backends.

diesel::table! {
    users (id) {
        id -> Text,
        user_name_norm -> Text,
        external_id -> Nullable<Text>,
        display_name_norm -> Nullable<Text>,
        active -> Bool,
        given_name_norm -> Nullable<Text>,
        family_name_norm -> Nullable<Text>,
        email_norm -> Nullable<Text>,
        employee_number -> Nullable<Text>,
        department_norm -> Nullable<Text>,
        manager_id -> Nullable<Text>,
        created -> Timestamp,
        modified -> Timestamp,
        version -> BigInt,
        doc -> Text,
        doc_norm -> Text,
    }
}

diesel::table! {
    groups (id) {
        id -> Text,
        display_name_norm -> Text,
        external_id -> Nullable<Text>,
        created -> Timestamp,
        modified -> Timestamp,
        version -> BigInt,
        doc -> Text,
        doc_norm -> Text,
        requires_approval -> Bool,
    }
}

diesel::table! {
    group_members (group_id, member_id) {
        group_id -> Text,
        member_id -> Text,
        member_type -> Text,
        source -> Text,
        added -> Timestamp,
        expires_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    events (seq) {
        seq -> BigInt,
        at -> Timestamp,
        actor -> Text,
        actor_id -> Nullable<Text>,
        request_id -> Nullable<Text>,
        action -> Text,
        resource_type -> Text,
        resource_id -> Text,
        version -> BigInt,
        before -> Nullable<Text>,
        after -> Nullable<Text>,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::table! {
    event_head (id) {
        id -> Integer,
        seq -> BigInt,
        hash -> Text,
    }
}

diesel::table! {
    chain_anchor (id) {
        id -> Integer,
        seq -> BigInt,
        prev_hash -> Text,
        pruned_before -> Nullable<Timestamp>,
        prune_seq -> Nullable<BigInt>,
    }
}

diesel::table! {
    resource_versions (resource_type, resource_id, version) {
        resource_type -> Text,
        resource_id -> Text,
        version -> BigInt,
        doc -> Text,
        valid_from -> Timestamp,
        valid_to -> Nullable<Timestamp>,
        event_seq -> BigInt,
        name -> Text,
    }
}

diesel::table! {
    membership_periods (id) {
        id -> BigInt,
        group_id -> Text,
        member_id -> Text,
        member_type -> Text,
        source -> Text,
        valid_from -> Timestamp,
        valid_to -> Nullable<Timestamp>,
    }
}

diesel::table! {
    tokens (jti) {
        jti -> Text,
        name -> Text,
        scopes -> Text,
        created -> Timestamp,
        expires -> Nullable<Timestamp>,
        revoked -> Nullable<Timestamp>,
    }
}

diesel::table! {
    server_settings (name) {
        name -> Text,
        value -> Text,
    }
}

diesel::table! {
    user_passwords (user_id) {
        user_id -> Text,
        hash -> Text,
        changed -> Timestamp,
    }
}

diesel::table! {
    push_targets (id) {
        id -> Text,
        name -> Text,
        config -> Text,
        secret -> Text,
        paused -> Bool,
        paused_reason -> Nullable<Text>,
        quarantined_until -> Nullable<Timestamp>,
        failures -> BigInt,
        last_success -> Nullable<Timestamp>,
        reconcile_requested -> Bool,
        created -> Timestamp,
        modified -> Timestamp,
    }
}

diesel::table! {
    push_cursors (target_id) {
        target_id -> Text,
        seq -> BigInt,
        full_sync -> Nullable<Text>,
        lease_owner -> Nullable<Text>,
        lease_token -> Nullable<Text>,
        lease_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    push_state (target_id, resource_type, resource_id) {
        target_id -> Text,
        resource_type -> Text,
        resource_id -> Text,
        remote_id -> Nullable<Text>,
        pushed_hash -> Nullable<Text>,
        pushed_doc -> Nullable<Text>,
        remote_key -> Nullable<Text>,
        status -> Text,
        attempts -> BigInt,
        next_attempt_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        updated -> Timestamp,
    }
}

diesel::table! {
    push_log (id) {
        id -> BigInt,
        target_id -> Text,
        at -> Timestamp,
        owner -> Text,
        resource_type -> Nullable<Text>,
        resource_id -> Nullable<Text>,
        method -> Text,
        path -> Text,
        status -> Nullable<BigInt>,
        latency_ms -> BigInt,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    rules (id) {
        id -> Text,
        name -> Text,
        filter -> Text,
        groups -> Text,
        grace_days -> BigInt,
        version -> BigInt,
        status -> Text,
        evaluated -> BigInt,
        eval_cursor -> Nullable<Text>,
        created -> Timestamp,
        modified -> Timestamp,
    }
}

diesel::table! {
    rule_grants (rule_id, group_id, user_id) {
        rule_id -> Text,
        group_id -> Text,
        user_id -> Text,
        granted -> Timestamp,
        expires -> Nullable<Timestamp>,
    }
}

diesel::table! {
    suspended_memberships (group_id, member_id) {
        group_id -> Text,
        member_id -> Text,
        member_type -> Text,
        suspended -> Timestamp,
        expires_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    scheduled_jobs (id) {
        id -> Text,
        due -> Timestamp,
        claimed_by -> Nullable<Text>,
        claimed_until -> Nullable<Timestamp>,
        attempts -> BigInt,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    access_requests (id) {
        id -> Text,
        group_id -> Text,
        member_id -> Text,
        member_type -> Text,
        source -> Text,
        governed_by -> Text,
        status -> Text,
        requested_by -> Text,
        requested_by_id -> Nullable<Text>,
        requested -> Timestamp,
        decided_by -> Nullable<Text>,
        decided_by_id -> Nullable<Text>,
        decided -> Nullable<Timestamp>,
        reason -> Nullable<Text>,
        access_expires -> Nullable<Timestamp>,
        notes -> Nullable<Text>,
    }
}

diesel::table! {
    sod_policies (id) {
        id -> Text,
        name -> Text,
        description -> Nullable<Text>,
        created -> Timestamp,
        modified -> Timestamp,
    }
}

diesel::table! {
    sod_policy_groups (policy_id, group_id) {
        policy_id -> Text,
        group_id -> Text,
    }
}

diesel::table! {
    sod_exceptions (id) {
        id -> Text,
        policy_id -> Text,
        user_id -> Text,
        accepted_by -> Text,
        accepted_by_id -> Nullable<Text>,
        reason -> Text,
        access_request_id -> Nullable<Text>,
        accepted -> Timestamp,
    }
}

// --- webhooks and alerts (migration 000012) ---

diesel::table! {
    webhooks (id) {
        id -> Text,
        url -> Text,
        events -> Text,
        secret -> Text,
        description -> Nullable<Text>,
        cursor -> BigInt,
        created -> Timestamp,
        modified -> Timestamp,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Text,
        webhook_id -> Text,
        seq -> BigInt,
        event_type -> Text,
        payload -> Text,
        status -> Text,
        attempts -> BigInt,
        next_attempt_at -> Nullable<Timestamp>,
        last_status -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
        created -> Timestamp,
        delivered_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    worker_leases (name) {
        name -> Text,
        seq -> BigInt,
        lease_owner -> Nullable<Text>,
        lease_token -> Nullable<Text>,
        lease_until -> Nullable<Timestamp>,
    }
}

diesel::joinable!(webhook_deliveries -> webhooks (webhook_id));

// --- end of webhooks and alerts ---

diesel::joinable!(group_members -> groups (group_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    groups,
    group_members,
    events,
    event_head,
    chain_anchor,
    resource_versions,
    membership_periods,
    tokens,
    server_settings,
    user_passwords,
    push_targets,
    push_cursors,
    push_state,
    push_log,
    rules,
    rule_grants,
    suspended_memberships,
    scheduled_jobs,
    access_requests,
    sod_policies,
    sod_policy_groups,
    sod_exceptions,
    webhooks,
    webhook_deliveries,
    worker_leases,
);
