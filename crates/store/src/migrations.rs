//! Embedded migrations, one folder per backend, run at start.

use diesel::connection::SimpleConnection;
use diesel::migration::MigrationSource;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::conn::DbConn;
use crate::error::{Error, Result};

const SQLITE: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// Advisory-lock key so that several replicas starting together migrate one at a time.
const MIGRATION_LOCK: i64 = 0x524f_5354_4552; // "ROSTER"

/// Applies every pending migration; returns how many ran.
pub fn run_pending(conn: &mut DbConn) -> Result<usize> {
    let applied = match conn {
        DbConn::Sqlite(c) => {
            c.batch_execute("PRAGMA journal_mode = WAL;")?;
            c.run_pending_migrations(SQLITE)
                .map_err(|e| Error::Config(format!("migration failed: {e}")))?
                .len()
        }
        DbConn::Postgres(c) => {
            if postgres_up_to_date(c)? {
                // Nothing to apply: no lock and no DDL, so a role that may not create tables
                // (the append-only set-up of docs/audit.md) can start Roster.
                return Ok(0);
            }
            c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
            let result = c
                .run_pending_migrations(POSTGRES)
                .map(|v| v.len())
                .map_err(|e| Error::Config(format!("migration failed: {e}")));
            c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))?;
            result?
        }
    };
    Ok(applied)
}

#[derive(diesel::QueryableByName)]
struct AppliedVersion {
    #[diesel(sql_type = diesel::sql_types::Text)]
    version: String,
}

/// Whether every embedded PostgreSQL migration is applied, read without diesel's harness
/// (which first runs `CREATE TABLE IF NOT EXISTS __diesel_schema_migrations`, refused to a role
/// without `CREATE` on the schema even when the table exists).
fn postgres_up_to_date(c: &mut diesel::PgConnection) -> Result<bool> {
    use diesel::RunQueryDsl;
    let table: Vec<AppliedVersion> = diesel::sql_query(
        "SELECT COALESCE(to_regclass('__diesel_schema_migrations')::text, '') AS version",
    )
    .load(c)?;
    if table.first().is_none_or(|t| t.version.is_empty()) {
        return Ok(false);
    }
    let applied: std::collections::HashSet<String> =
        diesel::sql_query("SELECT version FROM __diesel_schema_migrations")
            .load::<AppliedVersion>(c)?
            .into_iter()
            .map(|v| v.version)
            .collect();
    let embedded = MigrationSource::<diesel::pg::Pg>::migrations(&POSTGRES)
        .map_err(|e| Error::Config(format!("migrations: {e}")))?;
    Ok(embedded
        .iter()
        .all(|m| applied.contains(&m.name().version().to_string())))
}

/// Reverts every applied migration (used by the redo test).
pub fn revert_all(conn: &mut DbConn) -> Result<()> {
    match conn {
        DbConn::Sqlite(c) => c
            .revert_all_migrations(SQLITE)
            .map(|_| ())
            .map_err(|e| Error::Config(e.to_string())),
        DbConn::Postgres(c) => c
            .revert_all_migrations(POSTGRES)
            .map(|_| ())
            .map_err(|e| Error::Config(e.to_string())),
    }
}

/// Reverts applied migrations, newest first, down to and including `version` (a migration
/// folder's date and number, e.g. `2026-11-25-000008`); returns how many were reverted. Tests
/// use it to check what a migration does to rows written before it.
pub fn revert_through(conn: &mut DbConn, version: &str) -> Result<usize> {
    let target = version.replace('-', "");
    match conn {
        DbConn::Sqlite(c) => revert_newer(c, || SQLITE, &target),
        DbConn::Postgres(c) => revert_newer(c, || POSTGRES, &target),
    }
}

fn revert_newer<DB: diesel::backend::Backend>(
    c: &mut impl MigrationHarness<DB>,
    source: fn() -> EmbeddedMigrations,
    target: &str,
) -> Result<usize>
where
    EmbeddedMigrations: MigrationSource<DB>,
{
    let fail = |e: Box<dyn std::error::Error + Send + Sync>| Error::Config(e.to_string());
    let mut reverted = 0;
    loop {
        let applied = c.applied_migrations().map_err(fail)?;
        match applied.first() {
            Some(last) if last.to_string().as_str() >= target => {
                c.revert_last_migration(source()).map_err(fail)?;
                reverted += 1;
            }
            _ => return Ok(reverted),
        }
    }
}
