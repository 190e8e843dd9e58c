//! Property test: for random users and random filters, the SQL compiled by the store returns
//! exactly the users that the in-memory evaluator (`scim::filter::eval`) accepts, on SQLite and
//! on PostgreSQL.

use std::collections::BTreeSet;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use scim::filter::Filter;
use scim::schema::{Registry, ResourceKind};
use scim_tests::{Backend, TestDb};
use serde_json::{json, Value};

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn words() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "alice",
        "Alice",
        "ALICE",
        "bob",
        "Bob",
        "Élodie",
        "élodie",
        "ΣΑΣ",
        "σας",
        "x_%y",
        "x\\y",
        "a",
        "ab",
        "b",
        "zed",
        "İstanbul",
        "straße",
        "STRASSE",
        "10",
        "9",
    ])
    .prop_map(str::to_string)
}

fn user() -> impl Strategy<Value = Value> {
    (
        words(),
        proptest::option::of(words()),
        proptest::option::of(words()),
        proptest::option::of(words()),
        proptest::option::of(any::<bool>()),
        prop::collection::vec(
            (
                words(),
                prop::sample::select(vec!["work", "home", "Work"]),
                any::<bool>(),
            ),
            0..3,
        ),
        proptest::option::of(words()),
        proptest::option::of(words()),
    )
        .prop_map(|(given, family, title, ext, active, emails, dept, emp)| {
            let mut u = json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENT],
                "name": {"givenName": given},
            });
            if let Some(f) = family {
                u["name"]["familyName"] = json!(f);
                u["displayName"] = json!(format!("{given} {f}"));
            }
            if let Some(t) = title {
                u["title"] = json!(t);
            }
            if let Some(e) = ext {
                u["externalId"] = json!(e);
            }
            if let Some(a) = active {
                u["active"] = json!(a);
            }
            let mut seen_primary = false;
            let emails: Vec<Value> = emails
                .into_iter()
                .map(|(v, t, p)| {
                    let primary = p && !seen_primary;
                    seen_primary |= primary;
                    json!({"value": format!("{v}@Example.com"), "type": t, "primary": primary})
                })
                .collect();
            if !emails.is_empty() {
                u["emails"] = json!(emails);
            }
            let mut ent = serde_json::Map::new();
            if let Some(d) = dept {
                ent.insert("department".into(), json!(d));
            }
            if let Some(e) = emp {
                ent.insert("employeeNumber".into(), json!(e));
            }
            if !ent.is_empty() {
                u[ENT] = Value::Object(ent);
            }
            u
        })
}

fn string_attr() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "userName",
        "displayName",
        "name.givenName",
        "name.familyName",
        "title",
        "externalId",
        "emails.value",
        "emails",
        "emails.type",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
    ])
}

fn leaf() -> impl Strategy<Value = String> {
    let op = prop::sample::select(vec!["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"]);
    prop_oneof![
        (string_attr(), op, words()).prop_map(|(a, o, w)| format!("{a} {o} {}", json!(w))),
        (string_attr()).prop_map(|a| format!("{a} pr")),
        (prop::sample::select(vec!["eq", "ne"]), any::<bool>())
            .prop_map(|(o, b)| format!("active {o} {b}")),
        prop::sample::select(vec![
            "active pr",
            "name pr",
            "emails.primary eq true",
            "title eq null",
            "title ne null"
        ])
        .prop_map(str::to_string),
        (
            prop::sample::select(vec!["work", "WORK", "home"]),
            prop::sample::select(vec!["co", "sw", "eq", "ne"]),
            words()
        )
            .prop_map(|(t, o, w)| format!("emails[type eq \"{t}\" and value {o} {}]", json!(w))),
        (words(), any::<bool>())
            .prop_map(|(w, p)| format!("emails[not (value sw {}) or primary eq {p}]", json!(w))),
    ]
}

fn filter() -> impl Strategy<Value = String> {
    leaf().prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) and ({b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} or {b}")),
            inner.prop_map(|a| format!("not ({a})")),
        ]
    })
}

fn check(backend: Backend) {
    let Some(db) = TestDb::create(backend) else {
        eprintln!("skipped: set {}", scim_tests::POSTGRES_ENV);
        return;
    };
    let store = store::Store::open(&db.url(), &store::PoolOptions::default()).unwrap();
    let reg = Registry::builtin();
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    );
    // 60 random users with unique userNames
    let mut rendered = Vec::new();
    let ctx = store::WriteCtx::system("test");
    for i in 0..60 {
        let mut u = user().new_tree(&mut runner).unwrap().current();
        let word = words().new_tree(&mut runner).unwrap().current();
        u["userName"] = json!(format!("{word}-{i}"));
        let doc = scim::resource::validate(ResourceKind::User, u, reg).unwrap();
        let r = store
            .write(&ctx, |tx| store::users::create(tx, doc))
            .unwrap();
        let mut full = r.doc.clone();
        full["id"] = json!(r.id);
        // a user with the externalId or employeeNumber of an inactive one is a rehire of it
        // (restored in place, docs/lifecycle.md): the stored document replaces the earlier one
        rendered.retain(|u: &Value| u["id"] != full["id"]);
        rendered.push(full);
    }
    let mut checked = 0;
    let mut matched_any = 0;
    for _ in 0..800 {
        let text = filter().new_tree(&mut runner).unwrap().current();
        let f: Filter = scim::filter::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let want: BTreeSet<String> = rendered
            .iter()
            .filter(|u| scim::filter::eval(&f, u, ResourceKind::User, reg))
            .map(|u| u["id"].as_str().unwrap().to_string())
            .collect();
        let spec = store::ListSpec {
            filter: Some(&f),
            sort_by: None,
            descending: false,
            start: 1,
            count: 1000,
        };
        let got = match store.read(|c| store::users::list(c, &spec)) {
            Ok((_, page)) => page.into_iter().map(|r| r.id).collect::<BTreeSet<_>>(),
            Err(store::Error::Scim(e)) if e.scim_type == Some(scim::ScimType::InvalidFilter) => {
                // the compiler refuses some type/operator pairs (e.g. `gt` on a boolean) that the
                // evaluator simply treats as no match
                assert!(
                    want.is_empty(),
                    "{backend:?}: refused `{text}` ({}) but eval matched {}",
                    e.detail,
                    want.len()
                );
                continue;
            }
            Err(e) => panic!("{backend:?}: `{text}` failed: {e}"),
        };
        if got != want {
            let diff: Vec<&Value> = rendered
                .iter()
                .filter(|u| {
                    let id = u["id"].as_str().unwrap();
                    got.contains(id) != want.contains(id)
                })
                .collect();
            panic!("{backend:?}: SQL and eval disagree on `{text}` (SQL {} vs eval {}); differing users: {diff:#?}", got.len(), want.len());
        }
        checked += 1;
        if !want.is_empty() && want.len() < rendered.len() {
            matched_any += 1;
        }
    }
    assert!(checked > 600, "{checked} filters compared");
    assert!(
        matched_any > 100,
        "only {matched_any} filters selected a proper subset: the generator is too weak"
    );
}

#[test]
fn sql_agrees_with_eval_on_sqlite() {
    check(Backend::Sqlite);
}

#[test]
fn sql_agrees_with_eval_on_postgres() {
    check(Backend::Postgres);
}
