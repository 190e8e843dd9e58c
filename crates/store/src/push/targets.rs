//! `push_targets`: the downstream services, their settings and their health.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::conn::DbConn;
use crate::error::{Error, Result};
use crate::schema::{push_cursors, push_log, push_state, push_targets};

/// A target row. `config` is JSON without credentials; `secret` is the encrypted auth block.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = push_targets)]
pub struct TargetRow {
    /// Server-assigned id (UUID).
    pub id: String,
    /// Unique human name (`crm`).
    pub name: String,
    /// Settings as JSON (base URL, scope, mapping, …), no credentials.
    pub config: String,
    /// The auth block, encrypted.
    pub secret: String,
    /// Paused by an admin or by the deletion threshold.
    pub paused: bool,
    /// Why it is paused.
    pub paused_reason: Option<String>,
    /// While set and in the future, the whole target backs off.
    pub quarantined_until: Option<NaiveDateTime>,
    /// Consecutive runs that failed at the target level.
    pub failures: i64,
    /// The last successful call.
    pub last_success: Option<NaiveDateTime>,
    /// An admin asked for a reconciliation.
    pub reconcile_requested: bool,
    /// Creation time.
    pub created: NaiveDateTime,
    /// Last change of the settings.
    pub modified: NaiveDateTime,
}

/// Inserts a target and its cursor. The cursor starts at `start_seq` with a full sync pending,
/// so existing users reach the new target too. A duplicate name is `Conflict { field: "name" }`.
pub fn insert(conn: &mut DbConn, row: &TargetRow, start_seq: i64) -> Result<()> {
    diesel::insert_into(push_targets::table)
        .values(row)
        .execute(conn)
        .map_err(name_conflict)?;
    diesel::insert_into(push_cursors::table)
        .values((
            push_cursors::target_id.eq(&row.id),
            push_cursors::seq.eq(start_seq),
            push_cursors::full_sync.eq(Some(crate::push::lease::FULL_SYNC_START)),
        ))
        .execute(conn)?;
    Ok(())
}

fn name_conflict(e: diesel::result::Error) -> Error {
    match Error::from(e) {
        Error::Conflict { .. } => Error::Conflict {
            field: "name".into(),
        },
        other => other,
    }
}

/// One target.
pub fn get(conn: &mut DbConn, id: &str) -> Result<TargetRow> {
    Ok(push_targets::table
        .find(id)
        .select(TargetRow::as_select())
        .first(conn)?)
}

/// One target by id or by name.
pub fn find(conn: &mut DbConn, id_or_name: &str) -> Result<TargetRow> {
    Ok(push_targets::table
        .filter(
            push_targets::id
                .eq(id_or_name)
                .or(push_targets::name.eq(id_or_name)),
        )
        .select(TargetRow::as_select())
        .first(conn)?)
}

/// Every target, by name.
pub fn list(conn: &mut DbConn) -> Result<Vec<TargetRow>> {
    Ok(push_targets::table
        .order(push_targets::name.asc())
        .select(TargetRow::as_select())
        .load(conn)?)
}

/// Replaces a target's settings (name, config, secret).
pub fn update_settings(
    conn: &mut DbConn,
    id: &str,
    name: &str,
    config: &str,
    secret: &str,
    now: NaiveDateTime,
) -> Result<()> {
    let n = diesel::update(push_targets::table.find(id))
        .set((
            push_targets::name.eq(name),
            push_targets::config.eq(config),
            push_targets::secret.eq(secret),
            push_targets::modified.eq(now),
        ))
        .execute(conn)
        .map_err(name_conflict)?;
    if n == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}

/// Deletes a target with its cursor, state and log.
pub fn delete(conn: &mut DbConn, id: &str) -> Result<()> {
    let n = diesel::delete(push_targets::table.find(id)).execute(conn)?;
    if n == 0 {
        return Err(Error::NotFound);
    }
    diesel::delete(push_cursors::table.find(id)).execute(conn)?;
    diesel::delete(push_state::table.filter(push_state::target_id.eq(id))).execute(conn)?;
    diesel::delete(push_log::table.filter(push_log::target_id.eq(id))).execute(conn)?;
    Ok(())
}

/// Pauses (with a reason) or resumes a target. Resuming also lifts a quarantine.
pub fn set_paused(conn: &mut DbConn, id: &str, paused: bool, reason: Option<&str>) -> Result<()> {
    let n = if paused {
        diesel::update(push_targets::table.find(id))
            .set((
                push_targets::paused.eq(true),
                push_targets::paused_reason.eq(reason),
            ))
            .execute(conn)?
    } else {
        diesel::update(push_targets::table.find(id))
            .set((
                push_targets::paused.eq(false),
                push_targets::paused_reason.eq(None::<String>),
                push_targets::quarantined_until.eq(None::<NaiveDateTime>),
                push_targets::failures.eq(0i64),
            ))
            .execute(conn)?
    };
    if n == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}

/// Records the outcome of a run: success resets the failure count, failure increments it and
/// may set a quarantine.
pub fn record_health(
    conn: &mut DbConn,
    id: &str,
    success_at: Option<NaiveDateTime>,
    failures: i64,
    quarantined_until: Option<NaiveDateTime>,
) -> Result<()> {
    match success_at {
        Some(at) => diesel::update(push_targets::table.find(id))
            .set((
                push_targets::last_success.eq(at),
                push_targets::failures.eq(failures),
                push_targets::quarantined_until.eq(quarantined_until),
            ))
            .execute(conn)?,
        None => diesel::update(push_targets::table.find(id))
            .set((
                push_targets::failures.eq(failures),
                push_targets::quarantined_until.eq(quarantined_until),
            ))
            .execute(conn)?,
    };
    Ok(())
}

/// Sets or clears the reconcile request flag.
pub fn set_reconcile_requested(conn: &mut DbConn, id: &str, requested: bool) -> Result<()> {
    let n = diesel::update(push_targets::table.find(id))
        .set(push_targets::reconcile_requested.eq(requested))
        .execute(conn)?;
    if n == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}
