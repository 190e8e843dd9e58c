//! Migrations: both folders apply and revert cleanly, and the resulting schemas agree with
//! `schema.rs` and with each other (names, nullability, type family).

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};
use scim_tests::{Backend, TestDb};
use store::schema::*;

/// `(column name) -> (nullable, family)` per table.
type Shape = BTreeMap<String, BTreeMap<String, (bool, &'static str)>>;

#[derive(QueryableByName)]
struct Col {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    ty: String,
    #[diesel(sql_type = Integer)]
    nullable: i32,
}

fn family(ty: &str) -> &'static str {
    let t = ty.to_ascii_lowercase();
    if t.contains("char") || t.contains("text") {
        "text"
    } else if t.contains("int") {
        "integer"
    } else if t.contains("bool") {
        "bool"
    } else if t.contains("timestamp") {
        "timestamp"
    } else {
        "other"
    }
}

/// The column names `schema.rs` declares, read from the SQL diesel generates.
fn declared() -> BTreeMap<&'static str, Vec<String>> {
    fn names(sql: String) -> Vec<String> {
        let cols = sql
            .trim_start_matches("SELECT ")
            .split(" FROM")
            .next()
            .unwrap()
            .to_string();
        cols.split(", ")
            .map(|c| {
                c.rsplit('.')
                    .next()
                    .unwrap()
                    .trim_matches('`')
                    .trim_matches('"')
                    .to_string()
            })
            .collect()
    }
    macro_rules! t {
        ($($t:ident),+) => {
            BTreeMap::from([$((
                stringify!($t),
                names(diesel::debug_query::<diesel::sqlite::Sqlite, _>(&$t::table.select($t::all_columns)).to_string()),
            )),+])
        };
    }
    t!(
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
        access_requests
    )
}

fn shape(conn: &mut store::DbConn, tables: &[&str]) -> Shape {
    let mut out = Shape::new();
    for t in tables {
        let cols: Vec<Col> = match conn {
            store::DbConn::Sqlite(c) => diesel::sql_query(
                "SELECT name, type AS ty, CASE WHEN \"notnull\" = 1 OR pk > 0 THEN 0 ELSE 1 END AS nullable \
                 FROM pragma_table_info(?)",
            )
            .bind::<Text, _>(*t)
            .load(c)
            .unwrap(),
            store::DbConn::Postgres(c) => diesel::sql_query(
                "SELECT column_name::text AS name, data_type::text AS ty, \
                 CASE WHEN is_nullable = 'YES' THEN 1 ELSE 0 END AS nullable \
                 FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1",
            )
            .bind::<Text, _>(*t)
            .load(c)
            .unwrap(),
        };
        out.insert(
            t.to_string(),
            cols.into_iter()
                .map(|c| (c.name, (c.nullable == 1, family(&c.ty))))
                .collect(),
        );
    }
    out
}

fn migrated(backend: Backend) -> Option<(TestDb, store::DbConn)> {
    let db = TestDb::create(backend)?;
    let mut conn = db.raw();
    assert!(store::migrations::run_pending(&mut conn).unwrap() > 0);
    Some((db, conn))
}

#[test]
fn migrations_redo_and_schemas_match() {
    let declared = declared();
    let tables: Vec<&str> = declared.keys().copied().collect();
    let mut shapes = Vec::new();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some((_db, mut conn)) = migrated(backend) else {
            eprintln!("skipped PostgreSQL: set {}", scim_tests::POSTGRES_ENV);
            continue;
        };
        // redo: revert everything and apply again
        store::migrations::revert_all(&mut conn).unwrap();
        assert!(
            shape(&mut conn, &tables)
                .values()
                .all(|cols| cols.is_empty()),
            "{backend:?}: down.sql drops every table"
        );
        store::migrations::run_pending(&mut conn).unwrap();
        let s = shape(&mut conn, &tables);
        for (table, cols) in &declared {
            let mut have: Vec<&String> = s[*table].keys().collect();
            let mut want: Vec<&String> = cols.iter().collect();
            have.sort();
            want.sort();
            assert_eq!(
                have, want,
                "{backend:?}: columns of {table} differ from schema.rs"
            );
        }
        shapes.push((backend, s));
    }
    if let [(_, a), (_, b)] = shapes.as_slice() {
        assert_eq!(
            a, b,
            "SQLite and PostgreSQL schemas differ (nullability or type family)"
        );
    }
}
