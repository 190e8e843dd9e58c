//! The registry of issued bearer tokens (by `jti`), for listing and revocation.
//! The token itself is never stored; issuing and revoking are audit events.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::json;

use crate::conn::DbConn;
use crate::error::{Error, Result};
use crate::schema::tokens;
use crate::write::Tx;

/// A registered token.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = tokens)]
pub struct TokenRecord {
    /// Unique token id (the JWT `jti`).
    pub jti: String,
    /// Human name given at issue time; it is the actor in the audit log.
    pub name: String,
    /// Space-separated scopes.
    pub scopes: String,
    /// Issue time.
    pub created: NaiveDateTime,
    /// Expiry, if any.
    pub expires: Option<NaiveDateTime>,
    /// Revocation time, if revoked.
    pub revoked: Option<NaiveDateTime>,
}

/// Registers a newly issued token (audit event `issue` on resource type `Token`).
pub fn insert(tx: &mut Tx<'_>, t: &TokenRecord) -> Result<()> {
    diesel::insert_into(tokens::table)
        .values(t)
        .execute(tx.conn)?;
    let after = json!({
        "name": t.name,
        "scopes": t.scopes,
        "expires": t.expires.map(|e| e.and_utc().to_rfc3339()),
    });
    tx.append_event("issue", "Token", &t.jti, 1, None, Some(after.to_string()))?;
    Ok(())
}

/// All tokens, newest first.
pub fn list(conn: &mut DbConn) -> Result<Vec<TokenRecord>> {
    Ok(tokens::table
        .order((tokens::created.desc(), tokens::jti.asc()))
        .select(TokenRecord::as_select())
        .load(conn)?)
}

/// One token by jti, if registered.
pub fn find(conn: &mut DbConn, jti: &str) -> Result<Option<TokenRecord>> {
    Ok(tokens::table
        .find(jti)
        .select(TokenRecord::as_select())
        .get_result(conn)
        .optional()?)
}

/// Revokes a token (audit event `revoke`). NotFound if unknown; revoking twice is a no-op.
pub fn revoke(tx: &mut Tx<'_>, jti: &str) -> Result<TokenRecord> {
    let t = find(tx.conn, jti)?.ok_or(Error::NotFound)?;
    if t.revoked.is_some() {
        return Ok(t);
    }
    let now = tx.now();
    diesel::update(tokens::table.find(jti))
        .set(tokens::revoked.eq(now))
        .execute(tx.conn)?;
    tx.append_event(
        "revoke",
        "Token",
        jti,
        2,
        None,
        Some(json!({"name": t.name}).to_string()),
    )?;
    Ok(TokenRecord {
        revoked: Some(now),
        ..t
    })
}
