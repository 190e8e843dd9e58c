//! A scripted year in a company (issue 8, docs/lifecycle.md), on both backends, with a moving
//! clock: the store's clock starts on 5 January of next year at 09:00 UTC and moves one day at a
//! time, the scheduler running once a day (as a replica would), never sleeping.
//!
//! The cast: **bob** and **dave** already work here; **alice** and **carol** are hired with
//! future start dates. Alice and dave move from Engineering to Sales in April (grace period; dave's
//! Engineering membership was also added by hand, so it outlives the rule), bob is promoted to a
//! manager title in June and steps back in October, carol leaves on her end date in August and is
//! rehired in November to start in December. Every step asserts the people's access (groups and
//! what holds them), their `active` flag and lifecycle `phase`, and the exact audit trail written
//! since the previous step (actor, action, resource, and for memberships the source and reason).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use chrono::{Datelike, NaiveDate, NaiveDateTime, TimeDelta};
use reqwest::Method;
use scim_tests::{backend_tests, TestApp};
use serde_json::{json, Value};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const LIFECYCLE: &str = "urn:roster:params:scim:schemas:extension:lifecycle:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// The company: tokens per actor, a moving clock, and names for the ids in the audit trail.
struct Year {
    app: TestApp,
    /// The HR system (`scim.read scim.write`).
    hr: String,
    /// The help desk, which manages groups by hand (`scim.read scim.write`).
    helpdesk: String,
    /// The IT administrator, who writes the rules (`admin`).
    it: String,
    /// The calendar year the script plays in.
    year: i32,
    /// id -> name, for users, groups and rules.
    names: RefCell<HashMap<String, String>>,
    /// The last event already looked at by [`Year::trail`].
    seen: Cell<i64>,
}

impl Year {
    /// Starts the year: the clock moves to 5 January of next year, 09:00 UTC (always ahead of
    /// the real date, so the clock only ever moves forward).
    fn new(app: TestApp) -> Year {
        let issue = |name: &str, scopes: &[&str]| {
            let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
            server::auth::issue(&app.state.store, &app.state.keys, name, &scopes, 1)
                .unwrap()
                .token
        };
        let hr = issue("hr", &["scim.read", "scim.write"]);
        let helpdesk = issue("helpdesk", &["scim.read", "scim.write"]);
        let it = issue("it", &["admin"]);
        let clock = app.state.store.clock();
        let year = clock.now().year() + 1;
        let start = NaiveDate::from_ymd_opt(year, 1, 5)
            .unwrap()
            .and_hms_opt(9, 0, 0)
            .unwrap();
        clock.advance(start - clock.now());
        let seen = Cell::new(app.state.store.read(store::events::head).unwrap().0);
        Year {
            app,
            hr,
            helpdesk,
            it,
            year,
            names: RefCell::new(HashMap::new()),
            seen,
        }
    }

    fn now(&self) -> NaiveDateTime {
        self.app.state.store.clock().now()
    }

    /// A day of the script's year.
    fn day(&self, month: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, month, day).unwrap()
    }

    /// A day of the script's year as HR sends it (a date without a time is 00:00 UTC).
    fn date(&self, month: u32, day: u32) -> String {
        self.day(month, day).format("%Y-%m-%d").to_string()
    }

    /// Lets the days pass until `month`/`day` (same time of day): the clock moves one day at a
    /// time and the scheduler runs once a day. Returns the days on which it did something, with
    /// the number of jobs done.
    async fn live_until(&self, month: u32, day: u32) -> Vec<(NaiveDate, usize)> {
        let target = self.day(month, day);
        assert!(target > self.now().date(), "the script only moves forward");
        let mut busy = Vec::new();
        while self.now().date() < target {
            self.app.state.store.clock().advance(TimeDelta::days(1));
            let s = self.app.state.scheduler.clone();
            let report = tokio::task::spawn_blocking(move || s.run_due())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(report.failed, 0, "on {}", self.now().date());
            if report.done > 0 {
                busy.push((self.now().date(), report.done));
            }
        }
        assert_eq!(self.now().date(), target);
        busy
    }

    fn name(&self, id: &str, name: &str) {
        self.names
            .borrow_mut()
            .insert(id.to_string(), name.to_string());
    }

    fn label(&self, id: &str) -> String {
        self.names
            .borrow()
            .get(id)
            .cloned()
            .unwrap_or_else(|| format!("?{id}"))
    }

    /// `manual`, or `rule:NAME` for a `rule:ID` source.
    fn source_label(&self, source: &str) -> String {
        match source.strip_prefix("rule:") {
            Some(rule) => format!("rule:{}", self.label(rule)),
            None => source.to_string(),
        }
    }

    async fn group(&self, name: &str) -> String {
        let res = self
            .app
            .send(
                Method::POST,
                "/Groups",
                &self.helpdesk,
                &scim_tests::group_body(name, &[]),
            )
            .await;
        assert_eq!(res.status(), 201, "create group {name}");
        let id = res.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        self.name(&id, name);
        id
    }

    async fn rule(&self, name: &str, filter: &str, group: &str, grace_days: i64) -> String {
        let body =
            json!({"name": name, "filter": filter, "groups": [group], "graceDays": grace_days});
        let res = self
            .app
            .req(Method::POST, "/admin/v1/rules", &self.it)
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "create rule {name}");
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["status"], "ready", "{v}");
        let id = v["id"].as_str().unwrap().to_string();
        self.name(&id, name);
        id
    }

    /// A User as HR sends it: core, enterprise (department, title) and lifecycle (startDate).
    fn person(&self, name: &str, external_id: &str, dept: &str, title: &str, start: &str) -> Value {
        let mut body = scim_tests::user_body(name);
        body["schemas"] = json!([
            "urn:ietf:params:scim:schemas:core:2.0:User",
            ENTERPRISE,
            LIFECYCLE
        ]);
        body["externalId"] = json!(external_id);
        body["title"] = json!(title);
        body[ENTERPRISE] = json!({"department": dept});
        body[LIFECYCLE] = json!({"startDate": start});
        body
    }

    /// HR creates a person (asserts 201); returns the answer.
    async fn hire(&self, person: &Value) -> Value {
        let res = self
            .app
            .send(Method::POST, "/Users", &self.hr, person)
            .await;
        assert_eq!(res.status(), 201, "hire {}", person["userName"]);
        let v: Value = res.json().await.unwrap();
        self.name(v["id"].as_str().unwrap(), v["userName"].as_str().unwrap());
        v
    }

    /// HR changes one attribute of a user (PATCH replace, or add for a new attribute).
    async fn hr_sets(&self, id: &str, op: &str, path: &str, value: Value) -> Value {
        let body = json!({"schemas": [PATCH_OP],
            "Operations": [{"op": op, "path": path, "value": value}]});
        let res = self
            .app
            .send(Method::PATCH, &format!("/Users/{id}"), &self.hr, &body)
            .await;
        assert_eq!(res.status(), 200, "PATCH {path} of {}", self.label(id));
        res.json().await.unwrap()
    }

    /// The help desk adds a user to a group by hand (PATCH add members).
    async fn add_by_hand(&self, group: &str, user: &str) {
        let body = json!({"schemas": [PATCH_OP],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": user}]}]});
        let res = self
            .app
            .send(
                Method::PATCH,
                &format!("/Groups/{group}"),
                &self.helpdesk,
                &body,
            )
            .await;
        assert_eq!(res.status(), 200);
    }

    /// `(active, phase)` of a user, as a SCIM client reads them.
    async fn status(&self, id: &str) -> (bool, String) {
        let q = format!(
            "/Users/{id}?attributes={}",
            scim_tests::enc(&format!("active,{LIFECYCLE}:phase"))
        );
        let res = self.app.get(&q, &self.hr).await;
        assert_eq!(res.status(), 200);
        let v: Value = res.json().await.unwrap();
        (
            v["active"].as_bool().unwrap(),
            v[LIFECYCLE]["phase"].as_str().unwrap().to_string(),
        )
    }

    /// `(group, manual | rule:NAME)` of every membership of a user, by group name.
    fn access(&self, user: &str) -> Vec<(String, String)> {
        let u = user.to_string();
        let mut out: Vec<(String, String)> = self
            .app
            .state
            .store
            .read(|c| store::members::sources_of(c, &u))
            .unwrap()
            .into_iter()
            .map(|(g, s)| (self.label(&g), self.source_label(&s)))
            .collect();
        out.sort();
        out
    }

    /// The manual memberships of a leaver kept to restore, by group name.
    fn suspended(&self, user: &str) -> Vec<String> {
        let u = user.to_string();
        self.app
            .state
            .store
            .read(|c| store::lifecycle::suspended_of(c, &u))
            .unwrap()
            .iter()
            .map(|g| self.label(g))
            .collect()
    }

    /// The audit events written since the last call, one line each:
    /// `actor action Type name [what]`, ids replaced by names.
    fn trail(&self) -> Vec<String> {
        let events = self
            .app
            .state
            .store
            .read(|c| store::events::after(c, self.seen.get(), 10_000))
            .unwrap();
        if let Some(last) = events.last() {
            self.seen.set(last.seq);
        }
        events.iter().map(|e| self.line(e)).collect()
    }

    fn line(&self, e: &store::events::Event) -> String {
        let after: Value = e
            .after
            .as_deref()
            .map(|a| serde_json::from_str(a).unwrap())
            .unwrap_or(Value::Null);
        let names = |v: &Value| -> String {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .map(|id| self.label(id.as_str().unwrap()))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default()
        };
        let head = format!(
            "{} {} {} {}",
            e.actor,
            e.action,
            e.resource_type,
            self.label(&e.resource_id)
        );
        let detail = match (e.resource_type.as_str(), e.action.as_str()) {
            ("Group", "members") => {
                let (sign, who) = if after["added"].as_array().unwrap().is_empty() {
                    ("-", &after["removed"])
                } else {
                    ("+", &after["added"])
                };
                format!(
                    " {sign}{} {} ({})",
                    names(who),
                    self.source_label(after["source"].as_str().unwrap_or("?")),
                    after["reason"].as_str().unwrap_or("?")
                )
            }
            ("Group", "patch") => [
                ("membersAdded", "+"),
                ("membersRemoved", "-"),
                ("membersMadeManual", "manual:"),
                ("membersKeptByRules", "rule-held:"),
            ]
            .iter()
            .filter_map(|(key, tag)| after.get(*key).map(|ids| format!(" {tag}{}", names(ids))))
            .collect(),
            ("Rule", "rule.expiry_scheduled" | "rule.expiry_cancelled") => {
                let until = after["expires"]
                    .as_str()
                    .map(|x| format!(" until {}", &x[..10]))
                    .unwrap_or_default();
                format!(
                    ": {} [{}]{until}",
                    self.label(after["user"].as_str().unwrap()),
                    names(&after["groups"])
                )
            }
            _ => String::new(),
        };
        head + &detail
    }
}

fn access(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(g, s)| (g.to_string(), s.to_string()))
        .collect()
}

fn state(active: bool, phase: &str) -> (bool, String) {
    (active, phase.to_string())
}

async fn a_year_in_a_company(app: TestApp) {
    let y = Year::new(app);
    let dept = |d: &str| format!("{ENTERPRISE}:department eq \"{d}\"");

    // ── 5 January: IT sets up birthright access ───────────────────────────────────────────────
    let engineering = y.group("engineering").await;
    let sales = y.group("sales").await;
    let managers = y.group("managers").await;
    let apollo = y.group("apollo").await;
    y.rule("engineering", &dept("Engineering"), &engineering, 14)
        .await;
    y.rule("sales", &dept("Sales"), &sales, 30).await;
    y.rule("managers", "title co \"Manager\"", &managers, 0)
        .await;
    assert_eq!(
        y.trail(),
        [
            "helpdesk create Group engineering",
            "helpdesk create Group sales",
            "helpdesk create Group managers",
            "helpdesk create Group apollo",
            "it rule.create Rule engineering",
            "it rule.create Rule sales",
            "it rule.create Rule managers",
        ]
    );

    // ── 5 January: HR loads two people already employed and hires two with future starts ──────
    let bob = y
        .hire(&y.person(
            "bob",
            "E-1001",
            "Engineering",
            "Software Engineer",
            "2020-03-01",
        ))
        .await;
    let dave = y
        .hire(&y.person(
            "dave",
            "E-1002",
            "Engineering",
            "Solutions Engineer",
            "2021-09-15",
        ))
        .await;
    let alice = y
        .hire(&y.person(
            "alice",
            "E-1003",
            "Engineering",
            "Software Engineer",
            &y.date(2, 1),
        ))
        .await;
    let carol = y
        .hire(&y.person(
            "carol",
            "E-1004",
            "Sales",
            "Account Executive",
            &y.date(3, 1),
        ))
        .await;
    let [bob, dave, alice, carol] =
        [bob, dave, alice, carol].map(|u| u["id"].as_str().unwrap().to_string());
    for (who, want) in [
        (&bob, state(true, "active")),
        (&dave, state(true, "active")),
        (&alice, state(false, "preHire")),
        (&carol, state(false, "preHire")),
    ] {
        assert_eq!(y.status(who).await, want, "{}", y.label(who));
    }
    // pre-hires already hold their birthright groups (accounts can be prepared downstream)
    assert_eq!(
        y.access(&alice),
        access(&[("engineering", "rule:engineering")])
    );
    assert_eq!(y.access(&carol), access(&[("sales", "rule:sales")]));
    assert_eq!(
        y.trail(),
        [
            "hr create User bob",
            "hr members Group engineering +bob rule:engineering (rule grants it)",
            "hr create User dave",
            "hr members Group engineering +dave rule:engineering (rule grants it)",
            "hr create User alice",
            "hr members Group engineering +alice rule:engineering (rule grants it)",
            "hr create User carol",
            "hr members Group sales +carol rule:sales (rule grants it)",
        ]
    );

    // ── January: nothing is due until alice's first day, 1 February ───────────────────────────
    assert_eq!(y.live_until(1, 31).await, []);
    assert_eq!(y.status(&alice).await, state(false, "preHire"));
    assert_eq!(y.trail(), Vec::<String>::new());
    assert_eq!(y.live_until(2, 1).await, [(y.day(2, 1), 1)]);
    assert_eq!(y.status(&alice).await, state(true, "active"));
    assert_eq!(y.status(&carol).await, state(false, "preHire"));
    assert_eq!(
        y.access(&alice),
        access(&[("engineering", "rule:engineering")])
    );
    assert_eq!(y.trail(), ["scheduler activate User alice"]);

    // ── 2 February: the help desk adds alice to project apollo, and dave to engineering (which
    // the rule already grants him: the membership becomes manual, no second one) ──────────────
    y.live_until(2, 2).await;
    y.add_by_hand(&apollo, &alice).await;
    y.add_by_hand(&engineering, &dave).await;
    assert_eq!(
        y.access(&alice),
        access(&[("apollo", "manual"), ("engineering", "rule:engineering")])
    );
    assert_eq!(y.access(&dave), access(&[("engineering", "manual")]));
    assert_eq!(
        y.trail(),
        [
            "helpdesk patch Group apollo +alice",
            "helpdesk patch Group engineering manual:dave",
        ]
    );

    // ── 1 March: carol's first day; the help desk puts her on apollo too ──────────────────────
    assert_eq!(y.live_until(3, 1).await, [(y.day(3, 1), 1)]);
    assert_eq!(y.status(&carol).await, state(true, "active"));
    y.add_by_hand(&apollo, &carol).await;
    assert_eq!(
        y.access(&carol),
        access(&[("apollo", "manual"), ("sales", "rule:sales")])
    );
    assert_eq!(
        y.trail(),
        [
            "scheduler activate User carol",
            "helpdesk patch Group apollo +carol",
        ]
    );

    // ── 6 April: alice and dave move from Engineering to Sales. Sales access arrives at once;
    // Engineering stays for the rule's 14 days of grace ──────────────────────────────────────
    assert_eq!(y.live_until(4, 6).await, []);
    for who in [&alice, &dave] {
        let v = y
            .hr_sets(
                who,
                "replace",
                &format!("{ENTERPRISE}:department"),
                json!("Sales"),
            )
            .await;
        assert_eq!(v["active"], true);
    }
    assert_eq!(
        y.access(&alice),
        access(&[
            ("apollo", "manual"),
            ("engineering", "rule:engineering"),
            ("sales", "rule:sales")
        ])
    );
    assert_eq!(
        y.access(&dave),
        access(&[("engineering", "manual"), ("sales", "rule:sales")])
    );
    let expiry = y.date(4, 20);
    assert_eq!(
        y.trail(),
        [
            "hr patch User alice".to_string(),
            "hr members Group sales +alice rule:sales (rule grants it)".to_string(),
            format!(
                "hr rule.expiry_scheduled Rule engineering: alice [engineering] until {expiry}"
            ),
            "hr patch User dave".to_string(),
            "hr members Group sales +dave rule:sales (rule grants it)".to_string(),
            format!("hr rule.expiry_scheduled Rule engineering: dave [engineering] until {expiry}"),
        ]
    );

    // ── 19 April, still in the grace period; 20 April, it ends: the scheduler removes alice's
    // Engineering membership, and leaves dave's, which the help desk gave him by hand ─────────
    assert_eq!(y.live_until(4, 19).await, []);
    assert!(y.access(&alice).iter().any(|(g, _)| g == "engineering"));
    assert_eq!(y.live_until(4, 20).await, [(y.day(4, 20), 2)]);
    assert_eq!(
        y.access(&alice),
        access(&[("apollo", "manual"), ("sales", "rule:sales")])
    );
    assert_eq!(
        y.access(&dave),
        access(&[("engineering", "manual"), ("sales", "rule:sales")])
    );
    assert_eq!(
        y.trail(),
        ["scheduler members Group engineering -alice rule:engineering (grace period ended)"]
    );

    // ── 1 June: bob is promoted; the title-based rule grants managers at once ─────────────────
    assert_eq!(y.live_until(6, 1).await, []);
    y.hr_sets(&bob, "replace", "title", json!("Engineering Manager"))
        .await;
    assert_eq!(
        y.access(&bob),
        access(&[
            ("engineering", "rule:engineering"),
            ("managers", "rule:managers")
        ])
    );
    assert_eq!(
        y.trail(),
        [
            "hr patch User bob",
            "hr members Group managers +bob rule:managers (rule grants it)",
        ]
    );

    // ── 3 August: HR records carol's last day, 31 August. Nothing changes before it ───────────
    assert_eq!(y.live_until(8, 3).await, []);
    let v = y
        .hr_sets(
            &carol,
            "add",
            &format!("{LIFECYCLE}:endDate"),
            json!(y.date(8, 31)),
        )
        .await;
    assert_eq!(v["active"], true);
    assert_eq!(y.trail(), ["hr patch User carol"]);
    assert_eq!(y.live_until(8, 30).await, []);
    assert_eq!(y.status(&carol).await, state(true, "active"));
    assert_eq!(
        y.access(&carol),
        access(&[("apollo", "manual"), ("sales", "rule:sales")])
    );

    // ── 31 August: the scheduler deactivates carol. Rule access ends without the 30 days of
    // grace of the sales rule; her manual apollo membership is suspended ─────────────────────
    assert_eq!(y.live_until(8, 31).await, [(y.day(8, 31), 1)]);
    assert_eq!(y.status(&carol).await, state(false, "inactive"));
    assert_eq!(y.access(&carol), access(&[]));
    assert_eq!(y.suspended(&carol), ["apollo"]);
    assert_eq!(
        y.trail(),
        [
            "scheduler deactivate User carol",
            "scheduler members Group sales -carol rule:sales (user is inactive)",
            "scheduler members Group apollo -carol manual (suspended: user is inactive)",
        ]
    );

    // ── 1 October: bob steps back from management; managers (no grace) ends at once ──────────
    assert_eq!(y.live_until(10, 1).await, []);
    y.hr_sets(&bob, "replace", "title", json!("Staff Engineer"))
        .await;
    assert_eq!(
        y.access(&bob),
        access(&[("engineering", "rule:engineering")])
    );
    assert_eq!(
        y.trail(),
        [
            "hr patch User bob",
            "hr members Group managers -bob rule:managers (user no longer matches the rule)",
        ]
    );

    // ── 2 November: carol is rehired into Engineering, starting 1 December. HR creates her
    // again with the same externalId: the same user comes back, a pre-hire again, with the
    // Engineering rule's access and without her old manual access ───────────────────────────
    assert_eq!(y.live_until(11, 2).await, []);
    let res = y
        .app
        .send(
            Method::POST,
            "/Users",
            &y.hr,
            &y.person(
                "carol",
                "E-1004",
                "Engineering",
                "Solutions Engineer",
                &y.date(12, 1),
            ),
        )
        .await;
    assert_eq!(res.status(), 201);
    let back: Value = res.json().await.unwrap();
    assert_eq!(back["id"], carol, "same id");
    assert_eq!(back["active"], false);
    assert_eq!(y.status(&carol).await, state(false, "preHire"));
    assert_eq!(
        y.access(&carol),
        access(&[("engineering", "rule:engineering")])
    );
    assert_eq!(y.suspended(&carol), Vec::<String>::new());
    assert_eq!(
        y.trail(),
        [
            "hr rehire User carol",
            "hr members Group engineering +carol rule:engineering (rule grants it)",
        ]
    );
    let q = format!(
        "/Users?filter={}",
        scim_tests::enc("externalId eq \"E-1004\"")
    );
    let found: Value = y.app.get(&q, &y.hr).await.json().await.unwrap();
    assert_eq!(found["totalResults"], 1, "no second carol");

    // ── 1 December: carol starts again; then nothing is due until the end of the year ─────────
    assert_eq!(y.live_until(12, 1).await, [(y.day(12, 1), 1)]);
    assert_eq!(y.status(&carol).await, state(true, "active"));
    assert_eq!(y.trail(), ["scheduler activate User carol"]);
    assert_eq!(y.live_until(12, 31).await, []);
    assert_eq!(y.trail(), Vec::<String>::new());

    // ── 31 December: the year as the auditors see it ──────────────────────────────────────────
    for (who, want) in [
        (&alice, state(true, "active")),
        (&bob, state(true, "active")),
        (&carol, state(true, "active")),
        (&dave, state(true, "active")),
    ] {
        assert_eq!(y.status(who).await, want, "{}", y.label(who));
    }
    let all: Value = y.app.get("/Users", &y.hr).await.json().await.unwrap();
    assert_eq!(all["totalResults"], 4);
    assert_eq!(
        y.app.state.store.read(store::jobs::count).unwrap(),
        0,
        "nothing left to do"
    );
    let versions: Vec<String> = y
        .app
        .state
        .store
        .read(|c| store::history::versions(c, store::resource::ResourceType::User, &carol))
        .unwrap()
        .into_iter()
        .map(|v| {
            let doc: Value = serde_json::from_str(&v.doc).unwrap();
            format!(
                "{} {}",
                doc[ENTERPRISE]["department"], doc[LIFECYCLE]["phase"]
            )
        })
        .collect();
    assert_eq!(
        versions,
        [
            r#""Sales" "preHire""#,
            r#""Sales" "active""#,
            r#""Sales" "active""#,
            r#""Sales" "inactive""#,
            r#""Engineering" "preHire""#,
            r#""Engineering" "active""#,
        ],
        "carol's history is continuous"
    );
    // who was in engineering on 19 April, on 21 April, and on 31 December
    let members_at = |at: NaiveDateTime| -> Vec<String> {
        let mut m: Vec<String> = y
            .app
            .state
            .store
            .read(|c| store::history::members_at(c, &engineering, at))
            .unwrap()
            .iter()
            .map(|id| y.label(id))
            .collect();
        m.sort();
        m
    };
    let noon = |m: u32, d: u32| y.day(m, d).and_hms_opt(12, 0, 0).unwrap();
    assert_eq!(members_at(noon(4, 19)), ["alice", "bob", "dave"]);
    assert_eq!(members_at(noon(4, 21)), ["bob", "dave"]);
    assert_eq!(members_at(y.now()), ["bob", "carol", "dave"]);
    assert!(matches!(
        y.app.state.store.read(store::events::verify).unwrap(),
        store::events::Verdict::Ok { .. }
    ));
}

backend_tests!(a_year_in_a_company);
