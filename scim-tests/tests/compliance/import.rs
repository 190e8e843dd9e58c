//! HR feed from a file (issue 8, docs/lifecycle.md#hr-imports): `roster import users.csv` upserts
//! by externalId / employee number through the same write path as SCIM, so rules, dates and
//! rehires apply; rejected rows are reported and roll back alone; `--dry-run` writes nothing;
//! `--deactivate-missing` honours its threshold.

use std::path::PathBuf;
use std::process::Command;

use reqwest::Method;
use scim_tests::{backend_tests, group_body, TestApp};
use serde_json::{json, Value};
use server::import::{self, Options, Summary};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const HEADER: &str = "Employee ID,First Name,Last Name,Work Email,Department,Job Title,Manager Employee ID,Hire Date,Termination Date";

struct Feed {
    dir: PathBuf,
}

impl Feed {
    fn new() -> Feed {
        let dir = std::env::temp_dir()
            .join("roster-tests")
            .join(format!("import-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        Feed { dir }
    }

    /// Writes `hr.csv` with the header and `rows`.
    fn write(&self, rows: &[&str]) -> PathBuf {
        let path = self.dir.join("hr.csv");
        let mut text = format!("{HEADER}\n");
        for r in rows {
            text.push_str(r);
            text.push('\n');
        }
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn opts(path: &std::path::Path) -> Options {
    Options {
        path: path.to_path_buf(),
        mapping: None,
        dry_run: false,
        deactivate_missing: false,
        threshold: 100,
        confirm: false,
        batch: 500,
    }
}

async fn run(app: &TestApp, o: Options) -> anyhow::Result<Summary> {
    let store = app.state.store.clone();
    tokio::task::spawn_blocking(move || import::run(&store, &o, &|_| {}))
        .await
        .unwrap()
}

/// `(joiners, rehired, movers, leavers, unchanged, rejected)`
fn counts(s: &Summary) -> (u64, u64, u64, u64, u64, usize) {
    (
        s.joiners,
        s.rehired,
        s.movers,
        s.leavers,
        s.unchanged,
        s.rejected.len(),
    )
}

async fn by_external_id(app: &TestApp, token: &str, x: &str) -> Option<Value> {
    let q = format!(
        "/Users?filter={}",
        scim_tests::enc(&format!("externalId eq \"{x}\""))
    );
    let v: Value = app.get(&q, token).await.json().await.unwrap();
    assert!(v["totalResults"].as_i64().unwrap() <= 1, "{v}");
    v["Resources"].get(0).cloned()
}

fn events_after(app: &TestApp, seq: i64) -> Vec<store::events::Event> {
    app.state
        .store
        .read(|c| store::events::after(c, seq, 100_000))
        .unwrap()
}

fn head(app: &TestApp) -> i64 {
    app.state.store.read(store::events::head).unwrap().0
}

async fn joiners_movers_leavers_and_unchanged_rows(app: TestApp) {
    let rw = app.rw_token();
    let feed = Feed::new();
    // the report comes before the manager in the file: managers are written first anyway
    let path = feed.write(&[
        "E2,Bob,Builder,bob@example.com,Engineering,Engineer,E1,2020-03-01,",
        "E1,Ada,Lovelace,ada@example.com,Engineering,Director,,2019-01-01,",
        "E3,Cy,Cyclist,cy@example.com,Sales,Associate,E1,2021-06-01,",
    ]);
    let s = run(&app, opts(&path)).await.unwrap();
    assert_eq!(counts(&s), (3, 0, 0, 0, 0, 0), "{s:?}");
    let ada = by_external_id(&app, &rw, "E1").await.unwrap();
    let bob = by_external_id(&app, &rw, "E2").await.unwrap();
    assert_eq!(ada["userName"], "ada@example.com");
    assert_eq!(ada["displayName"], "Ada Lovelace");
    assert_eq!(ada["active"], true);
    assert_eq!(bob[ENTERPRISE]["manager"]["value"], ada["id"]);
    assert_eq!(bob[ENTERPRISE]["employeeNumber"], "E2");
    assert_eq!(bob["emails"][0]["value"], "bob@example.com");

    // the same file again changes nothing and writes no event
    let before = head(&app);
    let s = run(&app, opts(&path)).await.unwrap();
    assert_eq!(counts(&s), (0, 0, 0, 0, 3, 0), "{s:?}");
    assert_eq!(head(&app), before);

    // bob moves to Sales under Cy, Cy leaves (end date passed), a bad row and a duplicate
    let path = feed.write(&[
        "E1,Ada,Lovelace,ada@example.com,Engineering,Director,,2019-01-01,",
        "E2,Bob,Builder,bob@example.com,Sales,Engineer,E3,2020-03-01,",
        "E3,Cy,Cyclist,cy@example.com,Sales,Associate,E1,2021-06-01,2021-12-31",
        "E4,Di,Diver,di@example.com,Sales,Associate,E1,next tuesday,",
        "E2,Bob,Again,bob2@example.com,Sales,Engineer,E3,2020-03-01,",
    ]);
    let s = run(&app, opts(&path)).await.unwrap();
    assert_eq!(counts(&s), (0, 0, 1, 1, 1, 2), "{s:?}");
    assert_eq!(s.rejected[0].line, 5);
    assert!(s.rejected[0].reason.contains("not a date"), "{s:?}");
    assert_eq!(s.rejected[1].line, 6);
    assert!(s.rejected[1].reason.contains("already on line 3"), "{s:?}");
    let bob2 = by_external_id(&app, &rw, "E2").await.unwrap();
    let cy = by_external_id(&app, &rw, "E3").await.unwrap();
    assert_eq!(bob2["id"], bob["id"]);
    assert_eq!(bob2[ENTERPRISE]["department"], "Sales");
    assert_eq!(bob2[ENTERPRISE]["manager"]["value"], cy["id"]);
    assert_eq!(cy["active"], false);
    assert!(by_external_id(&app, &rw, "E4").await.is_none());

    // the writes are in the audit log under the import's name
    let evs = events_after(&app, before);
    assert_eq!(evs.len(), 2, "{evs:?}");
    assert!(evs.iter().all(|e| e.actor == "import:hr.csv"), "{evs:?}");
    assert!(evs.iter().all(|e| e.action == "replace"), "{evs:?}");
}

async fn rules_apply_and_a_returning_leaver_is_rehired_in_place(app: TestApp) {
    let rw = app.rw_token();
    let admin = app.token(&["admin"]);
    let res = app
        .send(Method::POST, "/Groups", &rw, &group_body("eng", &[]))
        .await;
    let eng = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let res = app
        .req(Method::POST, "/admin/v1/rules", &admin)
        .header("Content-Type", "application/json")
        .body(
            json!({"name": "eng", "filter": format!("{ENTERPRISE}:department eq \"Engineering\""),
                   "groups": [eng], "graceDays": 0})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let rule: Value = res.json().await.unwrap();
    let feed = Feed::new();
    let path = feed.write(&["E7,Eve,Engineer,eve@example.com,Engineering,Engineer,,2020-01-01,"]);
    let s = run(&app, opts(&path)).await.unwrap();
    assert_eq!(counts(&s), (1, 0, 0, 0, 0, 0));
    let eve = by_external_id(&app, &rw, "E7").await.unwrap();
    let id = eve["id"].as_str().unwrap().to_string();
    let sources = |app: &TestApp| {
        let id = id.clone();
        app.state
            .store
            .read(|c| store::members::sources_of(c, &id))
            .unwrap()
    };
    assert_eq!(
        sources(&app),
        vec![(
            eng.clone(),
            format!("rule:{}", rule["id"].as_str().unwrap())
        )]
    );

    // she leaves: access ends with the import
    let path = feed
        .write(&["E7,Eve,Engineer,eve@example.com,Engineering,Engineer,,2020-01-01,2024-05-31"]);
    let s = run(&app, opts(&path)).await.unwrap();
    assert_eq!(counts(&s), (0, 0, 0, 1, 0, 0));
    assert!(sources(&app).is_empty());

    // she comes back: the same user, active, with her birthright access again
    let before = head(&app);
    let path = feed.write(&["E7,Eve,Engineer,eve@example.com,Engineering,Engineer,,2025-02-01,"]);
    let s = run(&app, opts(&path)).await.unwrap();
    assert_eq!(counts(&s), (0, 1, 0, 0, 0, 0), "{s:?}");
    let back = by_external_id(&app, &rw, "E7").await.unwrap();
    assert_eq!(back["id"], eve["id"]);
    assert_eq!(back["active"], true);
    assert_eq!(sources(&app).len(), 1);
    let evs = events_after(&app, before);
    assert!(
        evs.iter()
            .any(|e| e.action == "rehire" && e.resource_id == id && e.actor == "import:hr.csv"),
        "{evs:?}"
    );
}

async fn a_rejected_write_rolls_back_alone_and_dry_run_writes_nothing(app: TestApp) {
    let rw = app.rw_token();
    // someone outside HR already holds the userName a row asks for
    app.create_user(&rw, "taken@example.com").await;
    let feed = Feed::new();
    let path = feed.write(&[
        "E1,Ada,Lovelace,ada@example.com,Engineering,Director,,2019-01-01,",
        "E2,Tom,Taken,taken@example.com,Engineering,Engineer,E1,2020-01-01,",
        "E3,Cy,Cyclist,cy@example.com,Sales,Associate,E1,2021-06-01,",
    ]);
    let before = head(&app);
    let mut o = opts(&path);
    o.dry_run = true;
    let dry = run(&app, o).await.unwrap();
    assert_eq!(head(&app), before, "a dry run wrote events");
    assert!(by_external_id(&app, &rw, "E1").await.is_none());
    assert_eq!(counts(&dry), (2, 0, 0, 0, 0, 1), "{dry:?}");
    let s = run(&app, opts(&path)).await.unwrap();
    assert_eq!(counts(&s), (2, 0, 0, 0, 0, 1), "{s:?}");
    assert_eq!(s.rejected[0].line, 3);
    assert!(s.rejected[0].reason.contains("userName"), "{s:?}");
    // the rows around it are in, in one transaction with a gap-free log
    assert!(by_external_id(&app, &rw, "E1").await.is_some());
    assert!(by_external_id(&app, &rw, "E3").await.is_some());
    assert!(by_external_id(&app, &rw, "E2").await.is_none());
    let evs = events_after(&app, before);
    assert_eq!(evs.len(), 2, "{evs:?}");
    assert_eq!(evs[0].seq, before + 1);
    assert_eq!(evs[1].seq, before + 2);
    // the savepoint's rolled-back event left no hole in the hash chain
    assert!(matches!(
        app.state.store.read(store::events::verify).unwrap(),
        store::events::Verdict::Ok { .. }
    ));
}

async fn deactivate_missing_honours_the_threshold(app: TestApp) {
    let rw = app.rw_token();
    let feed = Feed::new();
    let rows: Vec<String> = (1..=5)
        .map(|i| format!("E{i},G{i},F{i},u{i}@example.com,Sales,Associate,,2020-01-01,"))
        .collect();
    let all: Vec<&str> = rows.iter().map(String::as_str).collect();
    let path = feed.write(&all);
    run(&app, opts(&path)).await.unwrap();
    // a user not managed by HR (no externalId, no employee number) is never touched
    let outsider = app.create_user(&rw, "contractor").await;

    // a file with only two people: three would be deactivated
    let path = feed.write(&all[..2]);
    let mut o = opts(&path);
    o.deactivate_missing = true;
    o.threshold = 2;
    let before = head(&app);
    let e = run(&app, o.clone()).await.unwrap_err();
    assert!(
        format!("{e:#}").contains("would deactivate 3 users"),
        "{e:#}"
    );
    assert_eq!(head(&app), before, "a refused import wrote");
    o.dry_run = true;
    o.confirm = true;
    let dry = run(&app, o.clone()).await.unwrap();
    assert_eq!(dry.deactivated_missing, 3);
    assert_eq!(head(&app), before);
    o.dry_run = false;
    let s = run(&app, o).await.unwrap();
    assert_eq!(s.deactivated_missing, 3, "{s:?}");
    for i in 1..=5 {
        let u = by_external_id(&app, &rw, &format!("E{i}")).await.unwrap();
        assert_eq!(u["active"], i <= 2, "E{i}: {u}");
    }
    let o = app
        .get(&format!("/Users/{}", outsider["id"].as_str().unwrap()), &rw)
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(o["active"], true);
}

async fn the_cli_reports_and_exits_2_on_rejected_rows(app: TestApp) {
    let feed = Feed::new();
    let path = feed.write(&[
        "E1,Ada,Lovelace,ada@example.com,Engineering,Director,,2019-01-01,",
        "E2,Bob,Builder,bob@example.com,Engineering,Engineer,E404,yesterday,",
    ]);
    let out = Command::new(scim_tests::roster_bin())
        .args(["import", path.to_str().unwrap(), "--dry-run"])
        .env("ROSTER_DATABASE_URL", app.db.url())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(stdout.contains("dry run: nothing was changed"), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.trim_start().starts_with("joiners") && l.trim_end().ends_with(" 1")),
        "{stdout}"
    );
    assert!(
        stderr.contains("rejected: line 3 (E2): startDate 'yesterday' is not a date"),
        "{stderr}"
    );
    assert!(by_external_id(&app, &app.rw_token(), "E1").await.is_none());
    let out = Command::new(scim_tests::roster_bin())
        .args(["import", path.to_str().unwrap()])
        .env("ROSTER_DATABASE_URL", app.db.url())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(by_external_id(&app, &app.rw_token(), "E1").await.is_some());
    // a file that cannot be matched is refused with a reason and exit 1
    let bad = feed.dir.join("bad.csv");
    std::fs::write(&bad, "Name,Email\nAda,ada@example.com\n").unwrap();
    let out = Command::new(scim_tests::roster_bin())
        .args(["import", bad.to_str().unwrap()])
        .env("ROSTER_DATABASE_URL", app.db.url())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("no column maps to externalId or employeeNumber"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn a_failed_savepoint_leaves_the_rest_of_the_transaction_and_the_chain_whole(app: TestApp) {
    let rw = app.rw_token();
    let before = head(&app);
    let doc = |name: &str| json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name});
    let ctx = store::WriteCtx::system("test");
    let store = app.state.store.clone();
    let (inner, kept) = tokio::task::spawn_blocking(move || {
        store
            .write(&ctx, |tx| {
                store::users::create(tx, doc("first"))?;
                let inner = tx.savepoint(|tx| {
                    store::users::create(tx, doc("rolled-back"))?;
                    // the second write of the savepoint fails: both are undone
                    store::users::create(tx, doc("FIRST"))
                });
                let kept = store::users::create(tx, doc("third"))?;
                Ok((inner.map(|_| ()), kept))
            })
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        matches!(inner, Err(store::Error::Conflict { .. })),
        "{inner:?}"
    );
    for (name, present) in [("first", true), ("rolled-back", false), ("third", true)] {
        let q = format!(
            "/Users?filter={}",
            scim_tests::enc(&format!("userName eq \"{name}\""))
        );
        let v: Value = app.get(&q, &rw).await.json().await.unwrap();
        assert_eq!(v["totalResults"], i64::from(present), "{name}: {v}");
    }
    let evs = events_after(&app, before);
    assert_eq!(
        evs.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![before + 1, before + 2]
    );
    assert_eq!(evs[1].resource_id, kept.id);
    assert!(matches!(
        app.state.store.read(store::events::verify).unwrap(),
        store::events::Verdict::Ok { .. }
    ));
}

backend_tests!(
    a_failed_savepoint_leaves_the_rest_of_the_transaction_and_the_chain_whole,
    joiners_movers_leavers_and_unchanged_rows,
    rules_apply_and_a_returning_leaver_is_rehired_in_place,
    a_rejected_write_rolls_back_alone_and_dry_run_writes_nothing,
    deactivate_missing_honours_the_threshold,
    the_cli_reports_and_exits_2_on_rejected_rows,
);
