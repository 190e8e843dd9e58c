//! Embedded migrations, one folder per backend, run at start.

use diesel::connection::SimpleConnection;
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
