//! Joiners, movers and leavers (issue 8, docs/lifecycle.md): birthright rules evaluated in the
//! user's write transaction, grace periods for movers, pre-hires and leavers by date, rehires,
//! the scheduler with a moved clock (never sleeping) and its single execution across replicas.

use chrono::TimeDelta;
use reqwest::Method;
use scim_tests::{assert_scim_error, backend_tests, group_body, user_body, TestApp};
use serde_json::{json, Value};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const LIFECYCLE: &str = "urn:roster:params:scim:schemas:extension:lifecycle:2.0:User";

struct Ctx {
    app: TestApp,
    rw: String,
    admin: String,
}

impl Ctx {
    fn new(app: TestApp) -> Ctx {
        let rw = app.rw_token();
        let admin = app.token(&["admin"]);
        Ctx { app, rw, admin }
    }

    async fn group(&self, name: &str) -> String {
        let res = self
            .app
            .send(Method::POST, "/Groups", &self.rw, &group_body(name, &[]))
            .await;
        assert_eq!(res.status(), 201);
        res.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    async fn admin_req(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> reqwest::Response {
        let mut r = self
            .app
            .req(method, &format!("/admin/v1{path}"), &self.admin);
        if let Some(b) = body {
            r = r
                .header("Content-Type", "application/json")
                .body(b.to_string());
        }
        r.send().await.unwrap()
    }

    async fn rule(&self, name: &str, filter: &str, groups: &[&str], grace: i64) -> String {
        let res = self
            .admin_req(
                Method::POST,
                "/rules",
                Some(
                    &json!({"name": name, "filter": filter, "groups": groups, "graceDays": grace}),
                ),
            )
            .await;
        assert_eq!(res.status(), 201, "create rule {name}");
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["status"], "ready", "{v}");
        v["id"].as_str().unwrap().to_string()
    }

    /// Creates a user with a department (and optional extra attributes); returns its body.
    async fn user(&self, name: &str, dept: &str, extra: Value) -> Value {
        let mut body = user_body(name);
        body["schemas"] = json!([
            "urn:ietf:params:scim:schemas:core:2.0:User",
            ENTERPRISE,
            LIFECYCLE
        ]);
        body[ENTERPRISE] = json!({"department": dept});
        if let Value::Object(m) = extra {
            for (k, v) in m {
                body[k] = v;
            }
        }
        let res = self.app.send(Method::POST, "/Users", &self.rw, &body).await;
        assert_eq!(res.status(), 201, "create {name}");
        res.json().await.unwrap()
    }

    async fn patch_user(&self, id: &str, ops: Value) -> Value {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": ops
        });
        let res = self
            .app
            .send(Method::PATCH, &format!("/Users/{id}"), &self.rw, &body)
            .await;
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }

    async fn get_user(&self, id: &str) -> Value {
        let res = self.app.get(&format!("/Users/{id}"), &self.rw).await;
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }

    /// The lifecycle `phase` (returned only on request).
    async fn phase(&self, id: &str) -> String {
        let q = format!(
            "/Users/{id}?attributes={}",
            scim_tests::enc(&format!("{LIFECYCLE}:phase"))
        );
        let v: Value = self.app.get(&q, &self.rw).await.json().await.unwrap();
        v[LIFECYCLE]["phase"]
            .as_str()
            .unwrap_or("absent")
            .to_string()
    }

    /// `(group id, source)` of every direct membership of `member`.
    fn memberships(&self, member: &str) -> Vec<(String, String)> {
        let m = member.to_string();
        self.app
            .state
            .store
            .read(|c| store::members::sources_of(c, &m))
            .unwrap()
    }

    fn in_group(&self, member: &str, group: &str) -> Option<String> {
        self.memberships(member)
            .into_iter()
            .find(|(g, _)| g == group)
            .map(|(_, s)| s)
    }

    fn advance(&self, days: i64) {
        self.app.state.store.clock().advance(TimeDelta::days(days));
    }

    async fn run_due(&self) -> server::scheduler::RunReport {
        let s = self.app.state.scheduler.clone();
        tokio::task::spawn_blocking(move || s.run_due())
            .await
            .unwrap()
            .unwrap()
    }

    fn events_after(&self, seq: i64) -> Vec<store::events::Event> {
        self.app
            .state
            .store
            .read(|c| store::events::after(c, seq, 10_000))
            .unwrap()
    }

    fn head(&self) -> i64 {
        self.app.state.store.read(store::events::head).unwrap().0
    }
}

fn date(offset_days: i64, app: &TestApp) -> String {
    (app.state.store.clock().now() + TimeDelta::days(offset_days))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

async fn rules_crud_and_validation(app: TestApp) {
    let c = Ctx::new(app);
    let g = c.group("marketing").await;
    for (body, field) in [
        (json!({"filter": "title pr", "groups": [g]}), "name"),
        (json!({"name": "x", "groups": [g]}), "filter"),
        (json!({"name": "x", "filter": "title pr"}), "groups"),
        (
            json!({"name": "x", "filter": "title pr", "groups": []}),
            "groups",
        ),
        (
            json!({"name": "x", "filter": "title pr", "groups": ["nope"]}),
            "groups[0]",
        ),
        (
            json!({"name": "x", "filter": "title pr", "groups": [g], "graceDays": -1}),
            "graceDays",
        ),
        (
            json!({"name": "x", "filter": "title pr", "groups": [g], "colour": 1}),
            "colour",
        ),
    ] {
        let res = c.admin_req(Method::POST, "/rules", Some(&body)).await;
        let e = assert_scim_error(res, 400, Some("invalidValue")).await;
        assert!(e["detail"].as_str().unwrap().starts_with(field), "{e}");
    }
    for filter in ["title eq", "noSuchAttribute eq \"x\"", "groups eq \"x\""] {
        let body = json!({"name": "x", "filter": filter, "groups": [g]});
        let res = c.admin_req(Method::POST, "/rules", Some(&body)).await;
        let e = assert_scim_error(res, 400, Some("invalidFilter")).await;
        assert!(e["detail"].as_str().unwrap().starts_with("filter"), "{e}");
    }
    let filter = format!("{ENTERPRISE}:department eq \"Marketing\" and title co \"Manager\"");
    let id = c.rule("marketing-managers", &filter, &[&g], 7).await;
    let dup = c
        .admin_req(
            Method::POST,
            "/rules",
            Some(&json!({"name": "marketing-managers", "filter": "title pr", "groups": [g]})),
        )
        .await;
    assert_scim_error(dup, 409, Some("uniqueness")).await;
    let one: Value = c
        .admin_req(Method::GET, &format!("/rules/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["name"], "marketing-managers");
    assert_eq!(one["filter"], filter);
    assert_eq!(one["groups"], json!([g]));
    assert_eq!(one["graceDays"], 7);
    let list: Value = c
        .admin_req(Method::GET, "/rules", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["totalResults"], 1);
    let put = c
        .admin_req(
            Method::PUT,
            &format!("/rules/{id}"),
            Some(&json!({"name": "managers", "filter": "title co \"Manager\"", "groups": [g]})),
        )
        .await;
    assert_eq!(put.status(), 200);
    let v: Value = put.json().await.unwrap();
    assert_eq!(
        (v["version"].as_i64(), v["graceDays"].as_i64()),
        (Some(2), Some(0))
    );
    let del = c
        .admin_req(Method::DELETE, &format!("/rules/{id}"), None)
        .await;
    assert_eq!(del.status(), 204);
    let gone = c
        .admin_req(Method::GET, &format!("/rules/{id}"), None)
        .await;
    assert_scim_error(gone, 404, None).await;
    // scim.write alone cannot manage rules
    let res = c
        .app
        .req(Method::GET, "/admin/v1/rules", &c.rw)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    // every change is in the audit log
    let actions: Vec<String> = c
        .events_after(0)
        .into_iter()
        .filter(|e| e.resource_type == "Rule")
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["rule.create", "rule.replace", "rule.delete"]);
}

async fn rules_grant_in_the_write_transaction_and_never_touch_manual_memberships(app: TestApp) {
    let c = Ctx::new(app);
    let g = c.group("marketing").await;
    let filter = format!("{ENTERPRISE}:department eq \"Marketing\"");
    let rule = c.rule("marketing", &filter, &[&g], 0).await;
    let source = format!("rule:{rule}");
    // create
    let ann = c.user("ann", "Marketing", json!({})).await;
    let ann = ann["id"].as_str().unwrap();
    assert_eq!(c.in_group(ann, &g), Some(source.clone()));
    let bob = c.user("bob", "Sales", json!({})).await;
    let bob = bob["id"].as_str().unwrap().to_string();
    assert_eq!(c.in_group(&bob, &g), None);
    // PATCH: bob moves in, ann moves out (grace 0: at once)
    c.patch_user(&bob, json!([{"op": "replace", "path": format!("{ENTERPRISE}:department"), "value": "Marketing"}])).await;
    c.patch_user(
        ann,
        json!([{"op": "replace", "path": format!("{ENTERPRISE}:department"), "value": "Sales"}]),
    )
    .await;
    assert_eq!(c.in_group(&bob, &g), Some(source.clone()));
    assert_eq!(c.in_group(ann, &g), None);
    // the group shows bob as a member over SCIM, and its history has the rule as source
    let group: Value = c
        .app
        .get(&format!("/Groups/{g}"), &c.rw)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(group["members"].as_array().unwrap().len(), 1);
    let periods = c
        .app
        .state
        .store
        .read(|conn| store::history::group_periods(conn, &g))
        .unwrap();
    assert!(periods.iter().all(|p| p.source == source), "{periods:?}");
    assert_eq!(periods.len(), 2);
    // a manual add of a rule-granted membership makes it manual, without a second row
    let add = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": bob}]}]});
    assert_eq!(
        c.app
            .send(Method::PATCH, &format!("/Groups/{g}"), &c.rw, &add)
            .await
            .status(),
        200
    );
    assert_eq!(c.memberships(&bob), vec![(g.clone(), "manual".to_string())]);
    // ... and a rule never removes it
    let mut put = c.get_user(&bob).await;
    put[ENTERPRISE]["department"] = json!("Finance");
    assert_eq!(
        c.app
            .send(Method::PUT, &format!("/Users/{bob}"), &c.rw, &put)
            .await
            .status(),
        200
    );
    assert_eq!(c.in_group(&bob, &g).as_deref(), Some("manual"));
    // a manual removal of a membership a rule still grants leaves it, held by the rule
    let carl = c.user("carl", "Marketing", json!({})).await;
    let carl = carl["id"].as_str().unwrap().to_string();
    let remove = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "remove", "path": format!("members[value eq \"{carl}\"]")}]});
    assert_eq!(
        c.app
            .send(Method::PATCH, &format!("/Groups/{g}"), &c.rw, &remove)
            .await
            .status(),
        200
    );
    assert_eq!(c.in_group(&carl, &g), Some(source.clone()));
    // Bulk goes through the same transaction
    let mut dana = user_body("dana");
    dana["schemas"] = json!(["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE]);
    dana[ENTERPRISE] = json!({"department": "marketing"});
    let bulk = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [{"method": "POST", "path": "/Users", "bulkId": "d", "data": dana}]});
    let res = c.app.send(Method::POST, "/Bulk", &c.rw, &bulk).await;
    assert_eq!(res.status(), 200);
    let out: Value = res.json().await.unwrap();
    let loc = out["Operations"][0]["location"].as_str().unwrap();
    let dana_id = loc.rsplit('/').next().unwrap();
    assert_eq!(c.in_group(dana_id, &g), Some(source.clone()));
    // the grant is a `members` event of the group naming the rule
    let grant = c
        .events_after(0)
        .into_iter()
        .find(|e| e.action == "members" && e.after.as_deref().is_some_and(|a| a.contains(dana_id)));
    let after: Value = serde_json::from_str(grant.unwrap().after.as_deref().unwrap()).unwrap();
    assert_eq!(after["source"], source);
    assert_eq!(after["added"], json!([dana_id]));
}

async fn movers_keep_old_access_for_the_grace_period_and_the_scheduler_removes_it(app: TestApp) {
    let c = Ctx::new(app);
    let (gm, gs) = (c.group("marketing").await, c.group("sales").await);
    let dept = |d: &str| format!("{ENTERPRISE}:department eq \"{d}\"");
    let rm = c.rule("marketing", &dept("Marketing"), &[&gm], 7).await;
    let rs = c.rule("sales", &dept("Sales"), &[&gs], 7).await;
    let u = c.user("mover", "Marketing", json!({})).await;
    let u = u["id"].as_str().unwrap().to_string();
    assert_eq!(c.in_group(&u, &gm), Some(format!("rule:{rm}")));
    let seq = c.head();
    c.patch_user(
        &u,
        json!([{"op": "replace", "path": format!("{ENTERPRISE}:department"), "value": "Sales"}]),
    )
    .await;
    // the new rule's access arrives at once, the old one stays during the grace period
    assert_eq!(c.in_group(&u, &gs), Some(format!("rule:{rs}")));
    assert_eq!(c.in_group(&u, &gm), Some(format!("rule:{rm}")));
    let scheduled: Vec<_> = c
        .events_after(seq)
        .into_iter()
        .filter(|e| e.action == "rule.expiry_scheduled")
        .collect();
    assert_eq!(scheduled.len(), 1);
    assert_eq!(scheduled[0].resource_id, rm);
    let notice: Value = serde_json::from_str(scheduled[0].after.as_deref().unwrap()).unwrap();
    assert_eq!(notice["user"], u);
    assert_eq!(notice["groups"], json!([gm]));
    let job = c
        .app
        .state
        .store
        .read(|conn| store::jobs::get(conn, &store::jobs::user_job(&u)))
        .unwrap()
        .unwrap();
    assert_eq!(
        store::events::format_ts(job.due),
        notice["expires"].as_str().unwrap()
    );
    // day 6: nothing due
    c.advance(6);
    assert_eq!(c.run_due().await.done, 0);
    assert!(c.in_group(&u, &gm).is_some());
    // day 8: the scheduler removes it, and the removal is in the log with its reason
    c.advance(2);
    let seq = c.head();
    assert_eq!(c.run_due().await.done, 1);
    assert_eq!(c.in_group(&u, &gm), None);
    assert!(c.in_group(&u, &gs).is_some());
    let removal = c
        .events_after(seq)
        .into_iter()
        .find(|e| e.action == "members" && e.resource_id == gm)
        .unwrap();
    assert_eq!(removal.actor, "scheduler");
    let after: Value = serde_json::from_str(removal.after.as_deref().unwrap()).unwrap();
    assert_eq!(after["removed"], json!([u]));
    assert_eq!(after["reason"], "grace period ended");
    // nothing left to do
    assert_eq!(c.run_due().await.done, 0);
    // moving back during a grace period cancels the expiry
    c.patch_user(&u, json!([{"op": "replace", "path": format!("{ENTERPRISE}:department"), "value": "Marketing"}])).await;
    c.patch_user(
        &u,
        json!([{"op": "replace", "path": format!("{ENTERPRISE}:department"), "value": "Sales"}]),
    )
    .await;
    assert!(c.in_group(&u, &gm).is_some());
    assert!(
        c.in_group(&u, &gs).is_some(),
        "sales is in its grace period"
    );
    c.advance(3);
    c.patch_user(&u, json!([{"op": "replace", "path": format!("{ENTERPRISE}:department"), "value": "Marketing"}])).await;
    c.advance(10);
    c.run_due().await;
    assert!(
        c.in_group(&u, &gm).is_some(),
        "re-matched: its expiry was cancelled"
    );
    assert_eq!(c.in_group(&u, &gs), None, "sales expired");
    assert!(c
        .events_after(0)
        .iter()
        .any(|e| e.action == "rule.expiry_cancelled"));
}

async fn joiners_start_as_pre_hires_and_leavers_lose_access_on_their_end_date(app: TestApp) {
    let c = Ctx::new(app);
    let (ge, gm) = (c.group("everyone").await, c.group("project").await);
    c.rule(
        "everyone",
        &format!("{ENTERPRISE}:department pr"),
        &[&ge],
        30,
    )
    .await;
    let start = date(10, &c.app);
    let u = c
        .user(
            "joiner",
            "Sales",
            json!({LIFECYCLE: {"startDate": start}, "active": true}),
        )
        .await;
    let id = u["id"].as_str().unwrap().to_string();
    assert_eq!(u["active"], false, "pre-hire is inactive");
    assert!(
        u[LIFECYCLE].get("phase").is_none(),
        "returned on request only"
    );
    assert_eq!(c.phase(&id).await, "preHire");
    // pre-hires get birthright groups ahead of day one (accounts can be prepared)
    assert!(c.in_group(&id, &ge).is_some());
    // an HR update before the start keeps it a pre-hire
    let p = c
        .patch_user(
            &id,
            json!([{"op": "replace", "path": "title", "value": "Rep"}]),
        )
        .await;
    assert_eq!(p["active"], false);
    assert_eq!(c.phase(&id).await, "preHire");
    // a SCIM filter finds pre-hires
    let q = format!(
        "/Users?filter={}",
        scim_tests::enc(&format!("{LIFECYCLE}:phase eq \"preHire\""))
    );
    let found: Value = c.app.get(&q, &c.rw).await.json().await.unwrap();
    assert_eq!(found["totalResults"], 1);
    c.advance(9);
    c.run_due().await;
    assert_eq!(c.get_user(&id).await["active"], false);
    c.advance(2);
    let seq = c.head();
    assert_eq!(c.run_due().await.done, 1);
    let now = c.get_user(&id).await;
    assert_eq!(now["active"], true);
    assert_eq!(c.phase(&id).await, "active");
    let activation = c
        .events_after(seq)
        .into_iter()
        .find(|e| e.resource_id == id)
        .unwrap();
    assert_eq!(
        (activation.action.as_str(), activation.actor.as_str()),
        ("activate", "scheduler")
    );
    // a manual membership, then an end date
    let add = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": id}]}]});
    assert_eq!(
        c.app
            .send(Method::PATCH, &format!("/Groups/{gm}"), &c.rw, &add)
            .await
            .status(),
        200
    );
    let end = date(5, &c.app);
    c.patch_user(
        &id,
        json!([{"op": "add", "path": format!("{LIFECYCLE}:endDate"), "value": end}]),
    )
    .await;
    c.advance(4);
    c.run_due().await;
    assert_eq!(c.get_user(&id).await["active"], true);
    c.advance(2);
    assert_eq!(c.run_due().await.done, 1);
    let left = c.get_user(&id).await;
    assert_eq!(left["active"], false);
    assert_eq!(c.phase(&id).await, "inactive");
    // rule memberships end without grace (30 days), manual ones are suspended
    assert_eq!(c.memberships(&id), vec![]);
    let suspended = c
        .app
        .state
        .store
        .read(|conn| store::lifecycle::suspended_of(conn, &id))
        .unwrap();
    assert_eq!(suspended, vec![gm.clone()]);
    let periods = c
        .app
        .state
        .store
        .read(|conn| store::history::group_periods(conn, &gm))
        .unwrap();
    assert_eq!(periods.len(), 1);
    assert!(periods[0].valid_to.is_some(), "kept in history, ended");
    assert_eq!(c.run_due().await.done, 0);
}

async fn hr_active_false_is_a_leaver_at_once_and_reactivation_restores_manual_access(app: TestApp) {
    let c = Ctx::new(app);
    let (gr, gm) = (c.group("rule-group").await, c.group("manual-group").await);
    c.rule("all", "userName pr", &[&gr], 14).await;
    let u = c.user("quitter", "Sales", json!({})).await;
    let id = u["id"].as_str().unwrap().to_string();
    let add = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": id}]}]});
    c.app
        .send(Method::PATCH, &format!("/Groups/{gm}"), &c.rw, &add)
        .await;
    assert_eq!(c.memberships(&id).len(), 2);
    c.patch_user(
        &id,
        json!([{"op": "replace", "path": "active", "value": false}]),
    )
    .await;
    assert_eq!(
        c.memberships(&id),
        vec![],
        "no grace for leavers, manual suspended"
    );
    let removed: Vec<Value> = c
        .events_after(0)
        .into_iter()
        .filter(|e| e.action == "members")
        .map(|e| serde_json::from_str(e.after.as_deref().unwrap()).unwrap())
        .filter(|v: &Value| v["removed"] == json!([id]))
        .collect();
    assert_eq!(removed.len(), 2);
    assert!(removed.iter().any(|v| v["reason"] == "user is inactive"));
    assert!(removed
        .iter()
        .any(|v| v["reason"] == "suspended: user is inactive"));
    c.patch_user(
        &id,
        json!([{"op": "replace", "path": "active", "value": true}]),
    )
    .await;
    assert_eq!(c.in_group(&id, &gm).as_deref(), Some("manual"));
    assert!(c.in_group(&id, &gr).unwrap().starts_with("rule:"));
}

async fn a_rehire_is_restored_in_place(app: TestApp) {
    let c = Ctx::new(app);
    let g = c.group("sales").await;
    c.rule(
        "sales",
        &format!("{ENTERPRISE}:department eq \"Sales\""),
        &[&g],
        0,
    )
    .await;
    let first = c
        .user("rehire", "Sales", json!({"externalId": "E-1001"}))
        .await;
    let id = first["id"].as_str().unwrap().to_string();
    let m = c.group("manual").await;
    let add = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": id}]}]});
    c.app
        .send(Method::PATCH, &format!("/Groups/{m}"), &c.rw, &add)
        .await;
    c.patch_user(
        &id,
        json!([{"op": "replace", "path": "active", "value": false}]),
    )
    .await;
    assert_eq!(c.memberships(&id), vec![]);
    // HR creates the person again, with another department and userName
    let again = c
        .user("rehire.again", "Sales", json!({"externalId": "E-1001"}))
        .await;
    assert_eq!(again["id"], id, "same id");
    assert_eq!(again["active"], true);
    assert_eq!(again["userName"], "rehire.again");
    assert_eq!(again["meta"]["version"], "W/\"3\"");
    assert!(c.in_group(&id, &g).is_some(), "rules re-evaluated");
    assert_eq!(
        c.in_group(&id, &m),
        None,
        "old manual access is not restored on rehire"
    );
    let versions = c
        .app
        .state
        .store
        .read(|conn| store::history::versions(conn, store::resource::ResourceType::User, &id))
        .unwrap();
    assert_eq!(versions.len(), 3, "history continuous");
    let actions: Vec<String> = c
        .events_after(0)
        .into_iter()
        .filter(|e| e.resource_id == id)
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["create", "patch", "rehire"]);
    // an active user with the same externalId is not a rehire: a second user is created
    let other = c
        .user("twin", "Sales", json!({"externalId": "E-1001"}))
        .await;
    assert_ne!(other["id"], id);
    // by employeeNumber too
    let mut e = c.user("emp", "Ops", json!({})).await;
    let eid = e["id"].as_str().unwrap().to_string();
    e[ENTERPRISE]["employeeNumber"] = json!("N-7");
    e["active"] = json!(false);
    assert_eq!(
        c.app
            .send(Method::PUT, &format!("/Users/{eid}"), &c.rw, &e)
            .await
            .status(),
        200
    );
    let mut body = user_body("emp2");
    body["schemas"] = json!(["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE]);
    body[ENTERPRISE] = json!({"employeeNumber": "N-7"});
    let res = c.app.send(Method::POST, "/Users", &c.rw, &body).await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.json::<Value>().await.unwrap()["id"], eid);
}

async fn preview_changes_nothing_and_big_removals_need_confirm(app: TestApp) {
    let c = Ctx::new(app);
    let g = c.group("eng").await;
    let rule = c
        .rule(
            "eng",
            &format!("{ENTERPRISE}:department eq \"Eng\""),
            &[&g],
            0,
        )
        .await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let u = c
            .user(
                &format!("eng{i}"),
                if i < 4 { "Eng" } else { "Ops" },
                json!({}),
            )
            .await;
        ids.push(u["id"].as_str().unwrap().to_string());
    }
    // downstream apps: one scoped to a group that nests eng, one to an unrelated group, one to
    // everybody (memberships do not decide what it receives)
    let parent = c.group("all-staff").await;
    let other = c.group("other").await;
    let nest = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": g}]}]});
    let res = c
        .app
        .send(Method::PATCH, &format!("/Groups/{parent}"), &c.rw, &nest)
        .await;
    assert_eq!(res.status(), 200);
    let mut target_ids = Vec::new();
    for (name, scope) in [
        ("wiki", json!({"type": "groups", "groups": [parent]})),
        ("crm", json!({"type": "groups", "groups": [other]})),
        ("mail", json!({"type": "all"})),
    ] {
        let res = c
            .admin_req(
                Method::POST,
                "/targets",
                Some(
                    &json!({"name": name, "baseUrl": "http://127.0.0.1:9/scim/v2",
                    "auth": {"type": "bearer", "token": "t"}, "scope": scope}),
                ),
            )
            .await;
        assert_eq!(res.status(), 201, "target {name}");
        target_ids.push(res.json::<Value>().await.unwrap()["id"].clone());
    }
    let before = c.app.event_count();
    let body = json!({"id": rule, "name": "eng", "filter": format!("{ENTERPRISE}:department eq \"Ops\""), "groups": [g]});
    let res = c
        .admin_req(Method::POST, "/rules/preview", Some(&body))
        .await;
    assert_eq!(res.status(), 200);
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["totals"]["membershipsLost"], 4, "{p}");
    assert_eq!(p["totals"]["membershipsGained"], 1);
    assert_eq!(p["gain"][0]["id"], ids[4]);
    assert_eq!(p["gain"][0]["groups"], json!([g]));
    assert_eq!(p["needsConfirm"], true, "threshold is 2 in this test");
    // the change reaches the wiki (eng is nested in its group) and no other app
    assert_eq!(
        p["targets"],
        json!([{"id": target_ids[0], "name": "wiki", "groups": [g], "scope": "groups", "users": 5}]),
        "{p}"
    );
    assert_eq!(c.app.event_count(), before, "preview changed nothing");
    assert_eq!(c.memberships(&ids[0]).len(), 1);
    // the change itself needs ?confirm=true
    let put = c
        .admin_req(Method::PUT, &format!("/rules/{rule}"), Some(&body))
        .await;
    let e = assert_scim_error(put, 409, None).await;
    assert!(
        e["detail"].as_str().unwrap().contains("confirm=true"),
        "{e}"
    );
    assert_eq!(c.app.event_count(), before);
    let put = c
        .admin_req(
            Method::PUT,
            &format!("/rules/{rule}?confirm=true"),
            Some(&body),
        )
        .await;
    assert_eq!(put.status(), 200);
    let v: Value = put.json().await.unwrap();
    assert_eq!(
        (v["status"].as_str(), v["evaluatedUsers"].as_i64()),
        (Some("ready"), Some(5))
    );
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(c.in_group(id, &g).is_some(), i == 4, "user {i}");
    }
    // deleting it removes one membership: under the threshold
    let del = c
        .admin_req(Method::DELETE, &format!("/rules/{rule}"), None)
        .await;
    assert_eq!(del.status(), 204);
    assert_eq!(c.in_group(&ids[4], &g), None);
    let gone: Vec<Value> = c
        .events_after(before)
        .into_iter()
        .filter(|e| e.action == "members" && e.resource_id == g)
        .map(|e| serde_json::from_str(e.after.as_deref().unwrap()).unwrap())
        .collect();
    assert_eq!(
        gone.len(),
        6,
        "4 removed, 1 added, 1 removed by the deletion"
    );
    assert_eq!(gone[5]["reason"], "rule deleted");
}

async fn due_work_survives_a_restart_and_runs_once_across_replicas(app: TestApp) {
    let c = Ctx::new(app);
    let g = c.group("temp").await;
    c.rule(
        "temp",
        &format!("{ENTERPRISE}:department eq \"Temp\""),
        &[&g],
        3,
    )
    .await;
    let mut users = Vec::new();
    for i in 0..6 {
        let u = c.user(&format!("t{i}"), "Temp", json!({})).await;
        let id = u["id"].as_str().unwrap().to_string();
        c.patch_user(
            &id,
            json!([{"op": "replace", "path": format!("{ENTERPRISE}:department"), "value": "Perm"}]),
        )
        .await;
        users.push(id);
    }
    // "restart": a new store and two schedulers (replicas) over the same database
    c.app.stop().await;
    let url = c.app.db.url();
    let opts = store::PoolOptions {
        max_size: 4,
        connect_timeout: std::time::Duration::from_secs(5),
        sqlite_sync: store::SqliteSync::Normal,
    };
    let reopened = store::Store::open(&url, &opts).unwrap();
    reopened.clock().set_offset(TimeDelta::days(4));
    assert_eq!(
        reopened.read(store::jobs::count).unwrap(),
        6,
        "due work found again"
    );
    let a = server::scheduler::Scheduler::new(reopened.clone(), std::time::Duration::ZERO);
    let b = server::scheduler::Scheduler::new(reopened.clone(), std::time::Duration::ZERO);
    let seq = reopened.read(store::events::head).unwrap().0;
    let (ra, rb) = tokio::join!(
        tokio::task::spawn_blocking(move || a.run_due().unwrap()),
        tokio::task::spawn_blocking(move || b.run_due().unwrap()),
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.done + rb.done, 6, "{ra:?} {rb:?}");
    assert_eq!(ra.failed + rb.failed, 0);
    let removals = reopened
        .read(|conn| store::events::after(conn, seq, 1000))
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "members")
        .count();
    assert_eq!(removals, 6, "each expiry ran once");
    for u in &users {
        let m = u.clone();
        assert!(reopened
            .read(|conn| store::members::sources_of(conn, &m))
            .unwrap()
            .is_empty());
    }
    // a claimed job cannot be claimed again, and is not finished by another owner
    let now = reopened.clock().now();
    reopened
        .admin(|conn| store::jobs::schedule(conn, "user:nobody", now))
        .unwrap();
    assert!(reopened
        .admin(|conn| store::jobs::claim(
            conn,
            "user:nobody",
            "r1",
            now,
            now + TimeDelta::minutes(5)
        ))
        .unwrap());
    assert!(!reopened
        .admin(|conn| store::jobs::claim(
            conn,
            "user:nobody",
            "r2",
            now,
            now + TimeDelta::minutes(5)
        ))
        .unwrap());
    assert!(!reopened
        .admin(|conn| store::jobs::finish(conn, "user:nobody", "r2"))
        .unwrap());
    // ... until its claim lapses
    let later = now + TimeDelta::minutes(6);
    assert!(reopened
        .admin(|conn| store::jobs::claim(
            conn,
            "user:nobody",
            "r2",
            later,
            later + TimeDelta::minutes(5)
        ))
        .unwrap());
    assert!(!reopened
        .admin(|conn| store::jobs::finish(conn, "user:nobody", "r1"))
        .unwrap());
    assert!(reopened
        .admin(|conn| store::jobs::finish(conn, "user:nobody", "r2"))
        .unwrap());
    assert!(matches!(
        reopened.read(store::events::verify).unwrap(),
        store::events::Verdict::Ok { .. }
    ));
}

/// A client's PATCH or PUT of a group that changes only what holds a membership (a rule-held
/// membership added by hand becomes manual; a manual one removed while a rule grants it stays,
/// held by the rule) is a change of who may keep access: it writes the group's event, naming
/// the members concerned.
async fn a_client_changing_what_holds_a_membership_is_in_the_audit_log(app: TestApp) {
    let c = Ctx::new(app);
    let g = c.group("eng").await;
    let rule = c
        .rule(
            "eng",
            &format!("{ENTERPRISE}:department eq \"Eng\""),
            &[&g],
            0,
        )
        .await;
    let u = c.user("held", "Eng", json!({})).await;
    let u = u["id"].as_str().unwrap().to_string();
    let patch = |ops: Value| json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
    let group_events = |seq: i64| -> Vec<(String, Value)> {
        c.events_after(seq)
            .into_iter()
            .filter(|e| e.resource_id == g)
            .map(|e| {
                (
                    e.action,
                    serde_json::from_str(e.after.as_deref().unwrap()).unwrap(),
                )
            })
            .collect()
    };
    // added by hand while the rule holds it: now manual
    let seq = c.head();
    let add = patch(json!([{"op": "add", "path": "members", "value": [{"value": u}]}]));
    let res = c
        .app
        .send(Method::PATCH, &format!("/Groups/{g}"), &c.rw, &add)
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(c.in_group(&u, &g).as_deref(), Some("manual"));
    let events = group_events(seq);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].0, "patch");
    assert_eq!(events[0].1["membersMadeManual"], json!([u]));
    assert!(
        events[0].1.get("membersAdded").is_none(),
        "not a new member"
    );
    // removed by hand while the rule still grants it: stays, held by the rule again
    let seq = c.head();
    let remove = patch(json!([{"op": "remove", "path": format!("members[value eq \"{u}\"]")}]));
    let res = c
        .app
        .send(Method::PATCH, &format!("/Groups/{g}"), &c.rw, &remove)
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(c.in_group(&u, &g), Some(format!("rule:{rule}")));
    let events = group_events(seq);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].1["membersKeptByRules"], json!([u]));
    assert!(
        events[0].1.get("membersRemoved").is_none(),
        "still a member"
    );
    // the same removal again changes nothing: no event
    let seq = c.head();
    let res = c
        .app
        .send(Method::PATCH, &format!("/Groups/{g}"), &c.rw, &remove)
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(group_events(seq), vec![]);
    // PUT with the member: made manual, said in the replace event
    let seq = c.head();
    let res = c
        .app
        .send(
            Method::PUT,
            &format!("/Groups/{g}"),
            &c.rw,
            &group_body("eng", &[&u]),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(c.in_group(&u, &g).as_deref(), Some("manual"));
    let events = group_events(seq);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].0, "replace");
    assert_eq!(events[0].1["membersMadeManual"], json!([u]));
}

async fn spawn_threshold_2(backend: scim_tests::Backend) -> Option<TestApp> {
    TestApp::spawn_with(backend, |a| a.lifecycle.rule_confirm_threshold = 2).await
}

mod threshold {
    #[tokio::test]
    async fn sqlite() {
        let app = super::spawn_threshold_2(scim_tests::Backend::Sqlite)
            .await
            .unwrap();
        super::preview_changes_nothing_and_big_removals_need_confirm(app).await;
    }

    #[tokio::test]
    async fn postgres() {
        match super::spawn_threshold_2(scim_tests::Backend::Postgres).await {
            Some(app) => super::preview_changes_nothing_and_big_removals_need_confirm(app).await,
            None => eprintln!(
                "skipped: set {} to run PostgreSQL cases",
                scim_tests::POSTGRES_ENV
            ),
        }
    }
}

backend_tests!(
    rules_crud_and_validation,
    rules_grant_in_the_write_transaction_and_never_touch_manual_memberships,
    movers_keep_old_access_for_the_grace_period_and_the_scheduler_removes_it,
    joiners_start_as_pre_hires_and_leavers_lose_access_on_their_end_date,
    hr_active_false_is_a_leaver_at_once_and_reactivation_restores_manual_access,
    a_rehire_is_restored_in_place,
    a_client_changing_what_holds_a_membership_is_in_the_audit_log,
    due_work_survives_a_restart_and_runs_once_across_replicas,
);
