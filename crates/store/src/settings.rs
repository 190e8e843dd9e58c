//! Server-wide settings and secrets kept in the database (`server_settings`).

use diesel::prelude::*;

use crate::conn::DbConn;
use crate::error::{Error, Result};
use crate::schema::server_settings;

/// Reads a setting.
pub fn get(conn: &mut DbConn, name: &str) -> Result<Option<String>> {
    Ok(server_settings::table
        .find(name)
        .select(server_settings::value)
        .first(conn)
        .optional()?)
}

/// Returns the setting, creating it with `make()` if absent. Safe when several processes race:
/// the first insert wins and everyone reads the winner.
pub fn get_or_create(
    conn: &mut DbConn,
    name: &str,
    make: impl FnOnce() -> String,
) -> Result<String> {
    if let Some(v) = get(conn, name)? {
        return Ok(v);
    }
    let value = make();
    match diesel::insert_into(server_settings::table)
        .values((
            server_settings::name.eq(name),
            server_settings::value.eq(&value),
        ))
        .execute(conn)
    {
        Ok(_) => Ok(value),
        Err(e) => match Error::from(e) {
            Error::Conflict { .. } => get(conn, name)?.ok_or(Error::NotFound),
            other => Err(other),
        },
    }
}
