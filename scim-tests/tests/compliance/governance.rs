//! Approvals and time-bound access (issue 9, docs/governance.md): groups that require approval
//! turn adds (SCIM PATCH/PUT/POST, /Bulk, rules) into access requests, decided by `approve`
//! tokens that are listed approvers and never the requester; approved and admin-granted
//! memberships end on time; undecided requests expire. The clock is moved, never slept on.

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::Method;
use scim_tests::{assert_scim_error, backend_tests, group_body, TestApp};
use serde_json::{json, Value};

const GOV: &str = "urn:roster:params:scim:schemas:extension:governance:2.0:Group";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// A token issued with a name (the identity approvals are judged by).
struct Token {
    jwt: String,
    jti: String,
}

struct Ctx {
    app: TestApp,
    /// The HR source: `scim.read` + `scim.write`, named `hr`.
    hr: Token,
    /// An operator: `admin` + `scim.read` + `scim.write`, named `it-admin`.
    admin: Token,
}

fn ops(ops: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": ops})
}

fn add_member(id: &str) -> Value {
    ops(json!([{"op": "add", "path": "members", "value": [{"value": id}]}]))
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

impl Ctx {
    fn new(app: TestApp) -> Ctx {
        let hr = Ctx::issue(&app, "hr", &["scim.read", "scim.write"]);
        let admin = Ctx::issue(&app, "it-admin", &["admin", "scim.read", "scim.write"]);
        Ctx { app, hr, admin }
    }

    fn issue(app: &TestApp, name: &str, scopes: &[&str]) -> Token {
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        let i = server::auth::issue(&app.state.store, &app.state.keys, name, &scopes, 1).unwrap();
        Token {
            jwt: i.token,
            jti: i.record.jti,
        }
    }

    fn token(&self, name: &str, scopes: &[&str]) -> Token {
        Ctx::issue(&self.app, name, scopes)
    }

    async fn user(&self, name: &str, dept: &str) -> String {
        let mut body = scim_tests::user_body(name);
        body["schemas"] = json!(["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE]);
        body[ENTERPRISE] = json!({"department": dept});
        let res = self
            .app
            .send(Method::POST, "/Users", &self.hr.jwt, &body)
            .await;
        assert_eq!(res.status(), 201, "create {name}");
        id_of(&res.json().await.unwrap())
    }

    /// Creates a group (as the admin) with these governance settings.
    async fn governed(&self, name: &str, settings: Value) -> String {
        let mut body = group_body(name, &[]);
        body["schemas"] = json!(["urn:ietf:params:scim:schemas:core:2.0:Group", GOV]);
        body[GOV] = settings;
        let res = self
            .app
            .send(Method::POST, "/Groups", &self.admin.jwt, &body)
            .await;
        assert_eq!(res.status(), 201, "create {name}");
        id_of(&res.json().await.unwrap())
    }

    async fn patch_group(&self, token: &str, id: &str, body: &Value) -> reqwest::Response {
        self.app
            .send(
                Method::PATCH,
                &format!("/Groups/{id}?attributes=members,displayName"),
                token,
                body,
            )
            .await
    }

    /// Member ids of a group, as a SCIM client sees them.
    async fn members(&self, group: &str) -> Vec<String> {
        let v: Value = self
            .app
            .get(&format!("/Groups/{group}"), &self.hr.jwt)
            .await
            .json()
            .await
            .unwrap();
        v["members"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|m| m["value"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn source(&self, group: &str, member: &str) -> Option<String> {
        let m = member.to_string();
        self.app
            .state
            .store
            .read(|c| store::members::sources_of(c, &m))
            .unwrap()
            .into_iter()
            .find(|(g, _)| g == group)
            .map(|(_, s)| s)
    }

    async fn admin_api(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> reqwest::Response {
        let mut r = self.app.req(method, &format!("/admin/v1{path}"), token);
        if let Some(b) = body {
            r = r
                .header("Content-Type", "application/json")
                .body(b.to_string());
        }
        r.send().await.unwrap()
    }

    /// The access requests with `status` (newest first), as the admin lists them.
    async fn requests(&self, status: &str) -> Vec<Value> {
        let res = self
            .admin_api(
                Method::GET,
                &format!("/access-requests?status={status}"),
                &self.admin.jwt,
                None,
            )
            .await;
        assert_eq!(res.status(), 200);
        let v: Value = res.json().await.unwrap();
        let items = v["items"].as_array().unwrap().clone();
        assert_eq!(v["totalResults"], items.len());
        items
    }

    async fn decide(&self, token: &Token, id: &str, verb: &str, body: Value) -> reqwest::Response {
        self.admin_api(
            Method::POST,
            &format!("/access-requests/{id}/{verb}"),
            &token.jwt,
            Some(&body),
        )
        .await
    }

    fn advance(&self, by: TimeDelta) {
        self.app.state.store.clock().advance(by);
    }

    async fn run_due(&self) {
        let s = self.app.state.scheduler.clone();
        let report = tokio::task::spawn_blocking(move || s.run_due())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(report.failed, 0, "{report:?}");
    }

    /// `(action, resource type, resource id, after)` of every event after `seq`.
    fn events_after(&self, seq: i64) -> Vec<(String, String, String, Value)> {
        self.app
            .state
            .store
            .read(|c| store::events::after(c, seq, 10_000))
            .unwrap()
            .into_iter()
            .map(|e| {
                let after = e
                    .after
                    .as_deref()
                    .map(|a| serde_json::from_str(a).unwrap())
                    .unwrap_or(Value::Null);
                (e.action, e.resource_type, e.resource_id, after)
            })
            .collect()
    }

    fn head(&self) -> i64 {
        self.app.state.store.read(store::events::head).unwrap().0
    }

    fn now(&self) -> DateTime<Utc> {
        self.app.state.store.clock().now().and_utc()
    }
}

fn instant(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("not a time: {v}")))
        .unwrap()
        .with_timezone(&Utc)
}

/// A request opened by a SCIM PATCH (the group answers without the member; a repeat finds the
/// same request), approved by a listed approver (maxDurationDays shortens the duration asked),
/// then ended by the scheduler when the clock passes its end; every step in the hash chain.
async fn patch_opens_a_request_that_is_approved_and_expires(app: TestApp) {
    let c = Ctx::new(app);
    let bob = c.user("bob", "Finance").await;
    let alice = c.user("alice@example.com", "Finance").await;
    let g = c
        .governed(
            "payments",
            json!({"requiresApproval": true, "approvers": [{"value": alice}], "maxDurationDays": 3}),
        )
        .await;
    // the settings are returned, with the approver's type filled in
    let group: Value = c
        .app
        .get(&format!("/Groups/{g}"), &c.hr.jwt)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(group[GOV]["requiresApproval"], true);
    assert_eq!(
        group[GOV]["approvers"],
        json!([{"value": alice, "type": "User"}])
    );
    assert_eq!(group[GOV]["maxDurationDays"], 3);

    let seq = c.head();
    let res = c.patch_group(&c.hr.jwt, &g, &add_member(&bob)).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["members"].as_array().is_none_or(|m| m.is_empty()),
        "the answer shows the group without the member: {body}"
    );
    assert!(c.members(&g).await.is_empty());
    assert_eq!(c.source(&g, &bob), None);
    let pending = c.requests("pending").await;
    assert_eq!(pending.len(), 1, "{pending:?}");
    let req = pending[0].clone();
    let rid = id_of(&req);
    assert_eq!(
        (
            req["groupId"].as_str(),
            req["memberId"].as_str(),
            req["source"].as_str()
        ),
        (Some(g.as_str()), Some(bob.as_str()), Some("manual"))
    );
    assert_eq!(
        req["requester"],
        json!({"actor": "hr", "actorId": c.hr.jti})
    );
    assert_eq!(req["decidedBy"], Value::Null);
    let decide_by = instant(&req["decideBy"]) - instant(&req["requestedAt"]);
    assert_eq!(decide_by, TimeDelta::days(14), "the default time to live");
    // a repeat add (PATCH, and a PUT listing the member) finds the same request
    assert_eq!(
        c.patch_group(&c.hr.jwt, &g, &add_member(&bob))
            .await
            .status(),
        200
    );
    let mut put = group_body("payments", &[&bob]);
    put["externalId"] = json!("fin-1");
    let res = c
        .app
        .send(Method::PUT, &format!("/Groups/{g}"), &c.hr.jwt, &put)
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["members"].as_array().is_none_or(|m| m.is_empty()),
        "{body}"
    );
    let pending = c.requests("pending").await;
    assert_eq!(pending.len(), 1);
    assert_eq!(id_of(&pending[0]), rid);
    let requested: Vec<_> = c
        .events_after(seq)
        .into_iter()
        .filter(|(a, ..)| a == "access.requested")
        .collect();
    assert_eq!(requested.len(), 1, "one request event for three adds");
    assert_eq!(requested[0].1, "AccessRequest");
    assert_eq!(requested[0].2, rid);
    assert_eq!(requested[0].3["requester"]["actor"], "hr");

    // the approver asks for 10 days; the group allows 3
    let approver = c.token("alice@example.com", &["approve"]);
    let seq = c.head();
    let before = c.now();
    let res = c
        .decide(
            &approver,
            &rid,
            "approve",
            json!({"reason": "quarter close", "durationDays": 10}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["status"], "approved");
    assert_eq!(v["reason"], "quarter close");
    assert_eq!(
        v["decidedBy"],
        json!({"actor": "alice@example.com", "actorId": approver.jti})
    );
    assert_eq!(v["decideBy"], Value::Null);
    let ends = instant(&v["expiresAt"]);
    assert!(
        ends >= before + TimeDelta::days(3)
            && ends < before + TimeDelta::days(3) + TimeDelta::minutes(5),
        "maxDurationDays wins: {ends} vs {before}"
    );
    assert_eq!(c.members(&g).await, std::slice::from_ref(&bob));
    assert_eq!(c.source(&g, &bob).as_deref(), Some("manual"));
    // deciding twice is a conflict
    let again = c
        .decide(&approver, &rid, "approve", json!({"reason": "again"}))
        .await;
    assert_scim_error(again, 409, None).await;
    let events = c.events_after(seq);
    let actions: Vec<&str> = events.iter().map(|(a, ..)| a.as_str()).collect();
    assert_eq!(actions, ["access.approved", "members"]);
    assert_eq!(events[0].3["reason"], "quarter close");
    assert_eq!(events[0].3["requester"]["actor"], "hr");
    assert_eq!(events[0].3["decidedBy"]["actor"], "alice@example.com");
    assert_eq!(events[1].3["added"], json!([bob]));
    assert_eq!(events[1].3["reason"], "access request approved");
    assert_eq!(events[1].3["accessRequest"], rid);
    assert_eq!(c.requests("approved").await.len(), 1);

    // two days on, still a member; past the end, the scheduler removes it
    c.advance(TimeDelta::days(2));
    c.run_due().await;
    assert_eq!(c.members(&g).await, std::slice::from_ref(&bob));
    let seq = c.head();
    c.advance(TimeDelta::days(1) + TimeDelta::hours(1));
    c.run_due().await;
    assert!(c.members(&g).await.is_empty());
    let events = c.events_after(seq);
    assert_eq!(events.len(), 1, "{events:?}");
    let (action, rtype, rid_g, after) = &events[0];
    assert_eq!(
        (action.as_str(), rtype.as_str(), rid_g.as_str()),
        ("membership.expired", "Group", g.as_str())
    );
    assert_eq!(after["removed"], json!([bob]));
    assert_eq!(after["reason"], "membership expired");
    assert_eq!(
        after["expiresAt"].as_str().map(|s| &s[..16]),
        v["expiresAt"].as_str().map(|s| &s[..16])
    );
    // the auditor reads the request's whole story through the audit API
    let auditor = c.app.token(&["audit.read"]);
    let res = c
        .app
        .req(
            Method::GET,
            &format!("/audit/v1/events?resourceType=AccessRequest&resourceId={rid}"),
            &auditor,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let page: Value = res.json().await.unwrap();
    let story: Vec<(&str, &str)> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        story,
        [
            ("access.requested", "hr"),
            ("access.approved", "alice@example.com")
        ]
    );
    // nothing is left to do: the job is gone, and the chain verifies
    c.run_due().await;
    assert!(c
        .app
        .state
        .store
        .read(|conn| store::jobs::get(conn, store::governance::JOB))
        .unwrap()
        .is_none());
    let verdict = c.app.state.store.read(store::events::verify).unwrap();
    assert!(
        matches!(verdict, store::events::Verdict::Ok { .. }),
        "{verdict:?}"
    );
}

/// The requester never approves its own request (same token, or another token with the same
/// name), nor does a user approve its own access; someone else can.
async fn self_approval_is_refused(app: TestApp) {
    let c = Ctx::new(app);
    let bob = c.user("bob", "Ops").await;
    let lead = c.user("lead", "Ops").await;
    let g = c
        .governed("prod-admins", json!({"requiresApproval": true}))
        .await;
    // a token that may both write and approve opens a request
    let both = c.token("ops-bot", &["scim.read", "scim.write", "approve"]);
    assert_eq!(
        c.patch_group(&both.jwt, &g, &add_member(&bob))
            .await
            .status(),
        200
    );
    let rid = id_of(&c.requests("pending").await[0]);
    let res = c
        .decide(&both, &rid, "approve", json!({"reason": "mine"}))
        .await;
    let e = assert_scim_error(res, 403, None).await;
    assert!(e["detail"].as_str().unwrap().contains("requester"), "{e}");
    let twin = c.token("ops-bot", &["approve"]);
    let res = c
        .decide(&twin, &rid, "approve", json!({"reason": "mine too"}))
        .await;
    assert_scim_error(res, 403, None).await;
    // a user cannot approve its own access either
    assert_eq!(
        c.patch_group(&c.hr.jwt, &g, &add_member(&lead))
            .await
            .status(),
        200
    );
    let lead_req = c
        .requests("pending")
        .await
        .into_iter()
        .find(|r| r["memberId"] == lead.as_str())
        .unwrap();
    let as_lead = c.token("lead", &["approve"]);
    let res = c
        .decide(
            &as_lead,
            &id_of(&lead_req),
            "approve",
            json!({"reason": "me"}),
        )
        .await;
    let e = assert_scim_error(res, 403, None).await;
    assert!(e["detail"].as_str().unwrap().contains("itself"), "{e}");
    assert!(c.members(&g).await.is_empty(), "nothing was granted");
    assert_eq!(c.requests("pending").await.len(), 2);
    // lead may approve bob's (the group has no approvers list: any approve token)
    let res = c
        .decide(&as_lead, &rid, "approve", json!({"reason": "on call"}))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(c.members(&g).await, [bob]);
    // a requester may take its own request back by denying it
    let carl = c.user("carl", "Ops").await;
    assert_eq!(
        c.patch_group(&both.jwt, &g, &add_member(&carl))
            .await
            .status(),
        200
    );
    let carl_req = c
        .requests("pending")
        .await
        .into_iter()
        .find(|r| r["memberId"] == carl.as_str())
        .unwrap();
    let res = c
        .decide(
            &both,
            &id_of(&carl_req),
            "deny",
            json!({"reason": "added by mistake"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(c.requests("denied").await.len(), 1);
}

/// A denial: recorded with its reason, grants nothing, and is final; approvers that are not
/// listed (or whose token names no user) are refused.
async fn denial_and_approver_list(app: TestApp) {
    let c = Ctx::new(app);
    let bob = c.user("bob", "Sales").await;
    c.user("carol", "Sales").await;
    let dana = c.user("dana", "Security").await;
    // approvers: the members of the security team (a group), checked through nesting
    let security = c.governed("security-team", json!({})).await;
    let leads = c.governed("security-leads", json!({})).await;
    assert_eq!(
        c.patch_group(&c.admin.jwt, &leads, &add_member(&dana))
            .await
            .status(),
        200
    );
    assert_eq!(
        c.patch_group(&c.admin.jwt, &security, &add_member(&leads))
            .await
            .status(),
        200
    );
    let g = c
        .governed(
            "crm-export",
            json!({"requiresApproval": true, "approvers": [{"value": security, "type": "Group"}]}),
        )
        .await;
    assert_eq!(
        c.patch_group(&c.hr.jwt, &g, &add_member(&bob))
            .await
            .status(),
        200
    );
    let rid = id_of(&c.requests("pending").await[0]);
    // carol is a user but not listed; "nobody" names no user
    for (name, why) in [("carol", "not listed"), ("nobody", "no User's userName")] {
        let t = c.token(name, &["approve"]);
        let res = c.decide(&t, &rid, "deny", json!({"reason": "x"})).await;
        let e = assert_scim_error(res, 403, None).await;
        let detail = e["detail"].as_str().unwrap();
        assert!(
            detail.contains("not an approver") && detail.contains(why),
            "{name}: {e}"
        );
    }
    let dana_t = c.token("dana", &["approve"]);
    let seq = c.head();
    let res = c
        .decide(&dana_t, &rid, "deny", json!({"reason": "no business need"}))
        .await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(
        (v["status"].as_str(), v["reason"].as_str()),
        (Some("denied"), Some("no business need"))
    );
    assert_eq!(v["expiresAt"], Value::Null);
    assert!(c.members(&g).await.is_empty());
    let events = c.events_after(seq);
    assert_eq!(
        events.len(),
        1,
        "a denial changes no membership: {events:?}"
    );
    assert_eq!(events[0].0, "access.denied");
    assert_eq!(events[0].3["reason"], "no business need");
    assert_eq!(events[0].3["decidedBy"]["actor"], "dana");
    for verb in ["approve", "deny"] {
        let res = c
            .decide(&dana_t, &rid, verb, json!({"reason": "again"}))
            .await;
        assert_scim_error(res, 409, None).await;
    }
    assert_eq!(c.requests("denied").await.len(), 1);
    assert!(c.requests("pending").await.is_empty());
    // a new add after a denial opens a new request
    assert_eq!(
        c.patch_group(&c.hr.jwt, &g, &add_member(&bob))
            .await
            .status(),
        200
    );
    let again = c.requests("pending").await;
    assert_eq!(again.len(), 1);
    assert_ne!(id_of(&again[0]), rid);
}

/// A request nobody decides expires after the time to live, and says so.
async fn undecided_request_expires(app: TestApp) {
    let c = Ctx::new(app);
    let bob = c.user("bob", "Legal").await;
    let g = c
        .governed("legal-hold", json!({"requiresApproval": true}))
        .await;
    assert_eq!(
        c.patch_group(&c.hr.jwt, &g, &add_member(&bob))
            .await
            .status(),
        200
    );
    let rid = id_of(&c.requests("pending").await[0]);
    c.run_due().await;
    c.advance(TimeDelta::days(13));
    c.run_due().await;
    assert_eq!(c.requests("pending").await.len(), 1, "not yet");
    let seq = c.head();
    c.advance(TimeDelta::days(1) + TimeDelta::minutes(1));
    c.run_due().await;
    assert!(c.requests("pending").await.is_empty());
    let expired = c.requests("expired").await;
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0]["reason"], "not decided within 14 days");
    assert_eq!(expired[0]["decidedBy"]["actor"], "scheduler");
    let events = c.events_after(seq);
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].0.as_str(), events[0].2.as_str()),
        ("access.expired", rid.as_str())
    );
    let approver = c.token("someone", &["approve"]);
    let res = c
        .decide(&approver, &rid, "approve", json!({"reason": "late"}))
        .await;
    assert_scim_error(res, 409, None).await;
    assert!(c.members(&g).await.is_empty());
}

/// A rule that grants an approval-required group opens a request on the user's write; the
/// approval grants it with the rule as source. Adds through /Bulk, POST /Groups with members,
/// and to a group nested in an approval-required one are requests too; a client's removal
/// withdraws a pending request.
async fn rules_bulk_nesting_and_withdrawal(app: TestApp) {
    let c = Ctx::new(app);
    let g = c
        .governed("treasury", json!({"requiresApproval": true}))
        .await;
    let rule = c
        .admin_api(
            Method::POST,
            "/rules",
            &c.admin.jwt,
            Some(&json!({"name": "finance", "filter": format!("{ENTERPRISE}:department eq \"Finance\""), "groups": [g]})),
        )
        .await;
    assert_eq!(rule.status(), 201);
    let rule = id_of(&rule.json().await.unwrap());
    let ann = c.user("ann", "Finance").await;
    assert_eq!(
        c.source(&g, &ann),
        None,
        "the rule did not grant it by itself"
    );
    let pending = c.requests("pending").await;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0]["source"], format!("rule:{rule}"));
    assert_eq!(pending[0]["memberId"], ann.as_str());
    assert_eq!(pending[0]["requester"]["actor"], "hr");
    let approver = c.token("treasurer", &["approve"]);
    let res = c
        .decide(
            &approver,
            &id_of(&pending[0]),
            "approve",
            json!({"reason": "birthright"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(c.source(&g, &ann), Some(format!("rule:{rule}")));

    // /Bulk and POST /Groups with members
    let bob = c.user("bob", "Sales").await;
    let bulk = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [{"method": "PATCH", "path": format!("/Groups/{g}"), "data": add_member(&bob)}]
    });
    let res = c.app.send(Method::POST, "/Bulk", &c.hr.jwt, &bulk).await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["Operations"][0]["status"], "200", "{v}");
    assert_eq!(c.source(&g, &bob), None);
    let mut body = group_body("vault", &[&bob]);
    body["schemas"] = json!(["urn:ietf:params:scim:schemas:core:2.0:Group", GOV]);
    body[GOV] = json!({"requiresApproval": true});
    let res = c
        .app
        .send(Method::POST, "/Groups", &c.admin.jwt, &body)
        .await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    assert!(
        created["members"].as_array().is_none_or(|m| m.is_empty()),
        "{created}"
    );
    let vault = id_of(&created);
    // nested: a group inside treasury needs approval to join too (once nested, by approval)
    let desk = c.governed("treasury-desk", json!({})).await;
    assert_eq!(
        c.patch_group(&c.hr.jwt, &g, &add_member(&desk))
            .await
            .status(),
        200
    );
    let desk_req = c
        .requests("pending")
        .await
        .into_iter()
        .find(|r| r["memberId"] == desk.as_str())
        .unwrap();
    assert_eq!(desk_req["memberType"], "Group");
    let res = c
        .decide(
            &approver,
            &id_of(&desk_req),
            "approve",
            json!({"reason": "desk"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let carl = c.user("carl", "Sales").await;
    assert_eq!(
        c.patch_group(&c.hr.jwt, &desk, &add_member(&carl))
            .await
            .status(),
        200
    );
    assert_eq!(c.source(&desk, &carl), None);
    let carl_req = c
        .requests("pending")
        .await
        .into_iter()
        .find(|r| r["memberId"] == carl.as_str())
        .unwrap();
    assert_eq!(carl_req["groupId"], desk.as_str());
    assert_eq!(carl_req["governedBy"], g.as_str());
    assert_eq!(
        c.requests("pending").await.len(),
        3,
        "bob in treasury and vault, carl in desk"
    );
    // a nesting that would make a cycle by the time it is approved is refused then
    let outer = c.governed("all-finance", json!({})).await;
    assert_eq!(
        c.patch_group(&c.hr.jwt, &g, &add_member(&outer))
            .await
            .status(),
        200
    );
    let outer_req = c
        .requests("pending")
        .await
        .into_iter()
        .find(|r| r["memberId"] == outer.as_str())
        .unwrap();
    assert_eq!(
        c.patch_group(&c.hr.jwt, &outer, &add_member(&g))
            .await
            .status(),
        200
    );
    let res = c
        .decide(
            &approver,
            &id_of(&outer_req),
            "approve",
            json!({"reason": "x"}),
        )
        .await;
    let e = assert_scim_error(res, 409, None).await;
    assert!(e["detail"].as_str().unwrap().contains("cycle"), "{e}");
    let res = c
        .decide(
            &approver,
            &id_of(&outer_req),
            "deny",
            json!({"reason": "cycle"}),
        )
        .await;
    assert_eq!(res.status(), 200);

    // the client takes its adds back: the requests are withdrawn
    let remove = ops(json!([{"op": "remove", "path": format!("members[value eq \"{bob}\"]")}]));
    assert_eq!(c.patch_group(&c.hr.jwt, &g, &remove).await.status(), 200);
    let put = group_body("vault", &[]);
    assert_eq!(
        c.app
            .send(Method::PUT, &format!("/Groups/{vault}"), &c.hr.jwt, &put)
            .await
            .status(),
        200
    );
    let withdrawn = c.requests("withdrawn").await;
    assert_eq!(withdrawn.len(), 2, "{withdrawn:?}");
    assert!(withdrawn.iter().all(|r| r["memberId"] == bob.as_str()));
    // PUT by HR kept vault's governance settings it did not send
    let v: Value = c
        .app
        .get(&format!("/Groups/{vault}"), &c.hr.jwt)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v[GOV]["requiresApproval"], true);
    // deleting a member withdraws its requests
    let res = c
        .app
        .req(Method::DELETE, &format!("/scim/v2/Users/{carl}"), &c.hr.jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert!(c.requests("pending").await.is_empty());
    assert_eq!(c.requests("withdrawn").await.len(), 3);
}

/// Only a token with `admin` changes governance settings; a PUT that omits them keeps them.
async fn governance_settings_need_admin(app: TestApp) {
    let c = Ctx::new(app);
    let bob = c.user("bob", "IT").await;
    let mut body = group_body("admins", &[]);
    body["schemas"] = json!(["urn:ietf:params:scim:schemas:core:2.0:Group", GOV]);
    body[GOV] = json!({"requiresApproval": true});
    let before = c.app.event_count();
    let res = c.app.send(Method::POST, "/Groups", &c.hr.jwt, &body).await;
    let e = assert_scim_error(res, 403, None).await;
    assert!(e["detail"].as_str().unwrap().contains("'admin'"), "{e}");
    assert_eq!(c.app.event_count(), before, "nothing written");
    // `requiresApproval: false` alone is no setting: HR may send it
    body[GOV] = json!({"requiresApproval": false});
    assert_eq!(
        c.app
            .send(Method::POST, "/Groups", &c.hr.jwt, &body)
            .await
            .status(),
        201
    );
    let g = c
        .governed("admins-2", json!({"requiresApproval": true}))
        .await;
    for op in [
        json!({"op": "replace", "path": format!("{GOV}:requiresApproval"), "value": false}),
        json!({"op": "remove", "path": GOV}),
        json!({"op": "add", "path": format!("{GOV}:maxDurationDays"), "value": 30}),
    ] {
        let res = c.patch_group(&c.hr.jwt, &g, &ops(json!([op]))).await;
        assert_scim_error(res, 403, None).await;
    }
    let mut put = group_body("admins-2", &[]);
    put["schemas"] = json!(["urn:ietf:params:scim:schemas:core:2.0:Group", GOV]);
    put[GOV] = json!({"requiresApproval": false});
    let res = c
        .app
        .send(Method::PUT, &format!("/Groups/{g}"), &c.hr.jwt, &put)
        .await;
    assert_scim_error(res, 403, None).await;
    // a PUT without the extension (what Entra ID and Okta send) keeps the settings
    let plain = group_body("Admins 2", &[]);
    let res = c
        .app
        .send(Method::PUT, &format!("/Groups/{g}"), &c.hr.jwt, &plain)
        .await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v[GOV]["requiresApproval"], true, "{v}");
    assert_eq!(v["displayName"], "Admins 2");
    assert_eq!(
        c.patch_group(&c.hr.jwt, &g, &add_member(&bob))
            .await
            .status(),
        200
    );
    assert!(c.members(&g).await.is_empty(), "approval still required");
    // the admin may switch it off; adds are then immediate
    let off =
        ops(json!([{"op": "replace", "path": format!("{GOV}:requiresApproval"), "value": false}]));
    assert_eq!(c.patch_group(&c.admin.jwt, &g, &off).await.status(), 200);
    let carol = c.user("carol", "IT").await;
    assert_eq!(
        c.patch_group(&c.hr.jwt, &g, &add_member(&carol))
            .await
            .status(),
        200
    );
    assert_eq!(c.members(&g).await, [carol]);
    // an approver deleted since does not block HR's unrelated changes
    let temp = c.user("temp-approver", "IT").await;
    let h = c
        .governed("helpdesk", json!({"approvers": [{"value": temp}]}))
        .await;
    let res = c
        .app
        .req(Method::DELETE, &format!("/scim/v2/Users/{temp}"), &c.hr.jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let rename = ops(json!([{"op": "replace", "path": "displayName", "value": "Help desk"}]));
    let res = c.patch_group(&c.hr.jwt, &h, &rename).await;
    assert_eq!(res.status(), 200);
    let v: Value = c
        .app
        .get(&format!("/Groups/{h}"), &c.hr.jwt)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        v[GOV]["approvers"],
        json!([{"value": temp, "type": "User"}])
    );
    // and filters see the settings
    let q = format!(
        "/Groups?filter={}",
        scim_tests::enc(&format!("{GOV}:requiresApproval eq true"))
    );
    let list: Value = c.app.get(&q, &c.hr.jwt).await.json().await.unwrap();
    assert_eq!(list["totalResults"], 0);
}

/// An admin grants a membership with an end; the scheduler removes it on time, and the log
/// says why. An admin can also take a membership away.
async fn admin_grant_ends_on_time(app: TestApp) {
    let c = Ctx::new(app);
    let bob = c.user("bob", "Support").await;
    let carol = c.user("carol", "Support").await;
    let g = c.governed("break-glass", json!({})).await;
    let res = c
        .admin_api(
            Method::POST,
            &format!("/groups/{g}/members"),
            &c.admin.jwt,
            Some(&json!({"value": bob, "durationDays": 2, "reason": "incident 42"})),
        )
        .await;
    assert_eq!(res.status(), 201);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["memberId"], bob.as_str());
    let ends = instant(&v["expiresAt"]);
    assert!(ends > c.now() + TimeDelta::days(2) - TimeDelta::minutes(5));
    assert_eq!(c.members(&g).await, std::slice::from_ref(&bob));
    // an explicit instant for a second member, then moved later by a second grant
    let at = (c.now() + TimeDelta::days(1))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let res = c
        .admin_api(
            Method::POST,
            &format!("/groups/{g}/members"),
            &c.admin.jwt,
            Some(&json!({"value": carol, "expiresAt": at})),
        )
        .await;
    assert_eq!(res.status(), 201);
    let res = c
        .admin_api(
            Method::POST,
            &format!("/groups/{g}/members"),
            &c.admin.jwt,
            Some(&json!({"value": carol, "durationDays": 5})),
        )
        .await;
    assert_eq!(res.status(), 200, "an existing membership gets the new end");
    c.advance(TimeDelta::days(1) + TimeDelta::hours(1));
    c.run_due().await;
    assert_eq!(c.members(&g).await.len(), 2, "carol's end moved to day 5");
    let seq = c.head();
    c.advance(TimeDelta::days(1));
    c.run_due().await;
    assert_eq!(c.members(&g).await, std::slice::from_ref(&carol));
    let events = c.events_after(seq);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0, "membership.expired");
    assert_eq!(events[0].3["removed"], json!([bob]));
    // revoke
    let path = format!("/groups/{g}/members/{carol}");
    let res = c.admin_api(Method::DELETE, &path, &c.admin.jwt, None).await;
    assert_eq!(res.status(), 204);
    assert!(c.members(&g).await.is_empty());
    let res = c.admin_api(Method::DELETE, &path, &c.admin.jwt, None).await;
    assert_scim_error(res, 404, None).await;
    let last = c.events_after(c.head() - 1);
    assert_eq!(last[0].3["reason"], "revoked by an admin");
    // nothing is due any more: carol's old end does not fire
    c.advance(TimeDelta::days(10));
    c.run_due().await;
    assert_eq!(
        c.events_after(c.head() - 1)[0].3["reason"],
        "revoked by an admin"
    );
}

/// Bad bodies and parameters are SCIM errors (400 invalidValue or invalidSyntax) that change
/// nothing; wrong scopes are 401/403.
async fn bad_input_and_scopes(app: TestApp) {
    let c = Ctx::new(app);
    let bob = c.user("bob", "HR").await;
    let g = c
        .governed("payroll", json!({"requiresApproval": true}))
        .await;
    assert_eq!(
        c.patch_group(&c.hr.jwt, &g, &add_member(&bob))
            .await
            .status(),
        200
    );
    let rid = id_of(&c.requests("pending").await[0]);
    let approver = c.token("approver", &["approve"]);
    let url = format!("/admin/v1/access-requests/{rid}/approve");
    let send = |body: &'static str| {
        c.app
            .req(Method::POST, &url, &approver.jwt)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };
    let before = c.app.event_count();
    assert_scim_error(
        send("{\"reason\": ").await.unwrap(),
        400,
        Some("invalidSyntax"),
    )
    .await;
    for body in [
        "[]",
        "{}",
        "{\"reason\": \"\"}",
        "{\"reason\": 7}",
        "{\"reason\": \"x\", \"expiresAt\": \"tomorrow\"}",
        "{\"reason\": \"x\", \"expiresAt\": \"2001-01-01T00:00:00Z\"}",
        "{\"reason\": \"x\", \"durationDays\": 0}",
        "{\"reason\": \"x\", \"durationDays\": \"3\"}",
        "{\"reason\": \"x\", \"durationDays\": 3, \"expiresAt\": \"2999-01-01T00:00:00Z\"}",
        "{\"reason\": \"x\", \"colour\": \"red\"}",
    ] {
        let e = assert_scim_error(send(body).await.unwrap(), 400, Some("invalidValue")).await;
        assert!(!e["detail"].as_str().unwrap().is_empty(), "{body}");
    }
    let res = c
        .decide(
            &approver,
            &rid,
            "deny",
            json!({"reason": "x", "durationDays": 3}),
        )
        .await;
    assert_scim_error(res, 400, Some("invalidValue")).await;
    assert_eq!(c.app.event_count(), before, "nothing written");
    assert_eq!(c.requests("pending").await.len(), 1);
    // listing parameters
    for q in [
        "status=maybe",
        "count=-1",
        "count=5000",
        "startIndex=0",
        "colour=red",
    ] {
        let res = c
            .admin_api(
                Method::GET,
                &format!("/access-requests?{q}"),
                &c.admin.jwt,
                None,
            )
            .await;
        assert_scim_error(res, 400, Some("invalidValue")).await;
    }
    let res = c
        .admin_api(
            Method::GET,
            "/access-requests/no-such-request",
            &approver.jwt,
            None,
        )
        .await;
    assert_scim_error(res, 404, None).await;
    let res = c
        .decide(
            &approver,
            "no-such-request",
            "approve",
            json!({"reason": "x"}),
        )
        .await;
    assert_scim_error(res, 404, None).await;
    // governance settings are validated
    let hr_group = group_body("x", &[]);
    for (ext, detail) in [
        (json!({"maxDurationDays": 0}), "maxDurationDays"),
        (json!({"approvers": [{"value": "nobody"}]}), "approvers[0]"),
        (
            json!({"approvers": [{"value": bob, "type": "Group"}]}),
            "approvers[0]",
        ),
        (json!({"requiresApproval": "perhaps"}), "requiresApproval"),
    ] {
        let mut body = hr_group.clone();
        body[GOV] = ext;
        let res = c
            .app
            .send(Method::POST, "/Groups", &c.admin.jwt, &body)
            .await;
        let e = assert_scim_error(res, 400, Some("invalidValue")).await;
        assert!(e["detail"].as_str().unwrap().contains(detail), "{e}");
    }
    // grant bodies
    for body in [
        json!({}),
        json!({"value": bob, "type": "Robot"}),
        json!({"value": "nobody"}),
        json!({"value": bob, "durationDays": 99999}),
    ] {
        let res = c
            .admin_api(
                Method::POST,
                &format!("/groups/{g}/members"),
                &c.admin.jwt,
                Some(&body),
            )
            .await;
        assert_scim_error(res, 400, Some("invalidValue")).await;
    }
    let res = c
        .admin_api(
            Method::POST,
            "/groups/no-such-group/members",
            &c.admin.jwt,
            Some(&json!({"value": bob})),
        )
        .await;
    assert_scim_error(res, 404, None).await;
    // scopes: reading needs admin or approve, deciding needs approve, granting needs admin
    let list = "/access-requests";
    let res = c.admin_api(Method::GET, list, &c.hr.jwt, None).await;
    assert_scim_error(res, 403, None).await;
    assert_eq!(
        c.admin_api(Method::GET, list, &approver.jwt, None)
            .await
            .status(),
        200
    );
    let res = c
        .app
        .client
        .get(format!("{}/admin/v1{list}", c.app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = c
        .decide(
            &c.admin,
            &rid,
            "approve",
            json!({"reason": "admin is not approve"}),
        )
        .await;
    let e = assert_scim_error(res, 403, None).await;
    assert!(e["detail"].as_str().unwrap().contains("'approve'"), "{e}");
    let res = c
        .admin_api(
            Method::POST,
            &format!("/groups/{g}/members"),
            &approver.jwt,
            Some(&json!({"value": bob})),
        )
        .await;
    assert_scim_error(res, 403, None).await;
    assert_eq!(c.requests("pending").await.len(), 1);
    assert!(c.members(&g).await.is_empty());
}

/// Two schedulers (replicas) over one database expire each request and end each membership
/// exactly once.
async fn expiry_runs_once_across_replicas(app: TestApp) {
    let c = Ctx::new(app);
    let open = c.governed("contractors", json!({})).await;
    let gated = c
        .governed("finance-admins", json!({"requiresApproval": true}))
        .await;
    for i in 0..5 {
        let u = c.user(&format!("temp{i}"), "Temp").await;
        let res = c
            .admin_api(
                Method::POST,
                &format!("/groups/{open}/members"),
                &c.admin.jwt,
                Some(&json!({"value": u, "durationDays": 2})),
            )
            .await;
        assert_eq!(res.status(), 201);
        if i < 3 {
            assert_eq!(
                c.patch_group(&c.hr.jwt, &gated, &add_member(&u))
                    .await
                    .status(),
                200
            );
        }
    }
    assert_eq!(c.members(&open).await.len(), 5);
    assert_eq!(c.requests("pending").await.len(), 3);
    c.advance(TimeDelta::days(15));
    let store = c.app.state.store.clone();
    let a = server::scheduler::Scheduler::new(store.clone(), std::time::Duration::ZERO);
    let b = server::scheduler::Scheduler::new(store.clone(), std::time::Duration::ZERO);
    let seq = c.head();
    let (ra, rb) = tokio::join!(
        tokio::task::spawn_blocking(move || a.run_due().unwrap()),
        tokio::task::spawn_blocking(move || b.run_due().unwrap()),
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.failed + rb.failed, 0, "{ra:?} {rb:?}");
    let events = c.events_after(seq);
    let count = |action: &str| events.iter().filter(|(a, ..)| a == action).count();
    assert_eq!(count("membership.expired"), 5, "{events:?}");
    assert_eq!(count("access.expired"), 3, "{events:?}");
    assert_eq!(events.len(), 8, "nothing else, nothing twice");
    assert!(c.members(&open).await.is_empty());
    assert_eq!(c.requests("expired").await.len(), 3);
}

/// A leaver's time-bound membership is suspended with its end: restored before the end it
/// keeps it, restored after it is not restored. A leaver's pending requests are withdrawn.
async fn leavers_keep_ends_and_lose_pending_requests(app: TestApp) {
    let c = Ctx::new(app);
    let g = c.governed("on-call", json!({})).await;
    let gated = c.governed("prod", json!({"requiresApproval": true})).await;
    let dave = c.user("dave", "Ops").await;
    let erin = c.user("erin", "Ops").await;
    for (u, days) in [(&dave, 10), (&erin, 3)] {
        let res = c
            .admin_api(
                Method::POST,
                &format!("/groups/{g}/members"),
                &c.admin.jwt,
                Some(&json!({"value": u, "durationDays": days})),
            )
            .await;
        assert_eq!(res.status(), 201);
    }
    assert_eq!(
        c.patch_group(&c.hr.jwt, &gated, &add_member(&dave))
            .await
            .status(),
        200
    );
    let ends = |member: &str| {
        let (g, m) = (g.clone(), member.to_string());
        c.app
            .state
            .store
            .read(|conn| store::members::membership(conn, &g, &m))
            .unwrap()
            .map(|m| m.expires_at)
    };
    let dave_end = ends(&dave).unwrap();
    assert!(dave_end.is_some());
    let active = |on: bool| ops(json!([{"op": "replace", "path": "active", "value": on}]));
    for u in [&dave, &erin] {
        let res = c
            .app
            .send(
                Method::PATCH,
                &format!("/Users/{u}"),
                &c.hr.jwt,
                &active(false),
            )
            .await;
        assert_eq!(res.status(), 200);
    }
    assert!(c.members(&g).await.is_empty(), "suspended");
    let withdrawn = c.requests("withdrawn").await;
    assert_eq!(withdrawn.len(), 1);
    assert_eq!(withdrawn[0]["reason"], "user is inactive");
    c.advance(TimeDelta::days(5));
    c.run_due().await;
    for u in [&dave, &erin] {
        let res = c
            .app
            .send(
                Method::PATCH,
                &format!("/Users/{u}"),
                &c.hr.jwt,
                &active(true),
            )
            .await;
        assert_eq!(res.status(), 200);
    }
    assert_eq!(
        c.members(&g).await,
        std::slice::from_ref(&dave),
        "erin's end passed while away"
    );
    assert_eq!(ends(&dave), Some(dave_end), "dave keeps his end");
    c.advance(TimeDelta::days(5) + TimeDelta::hours(1));
    c.run_due().await;
    assert!(c.members(&g).await.is_empty(), "and it still ends on time");
}

backend_tests!(
    expiry_runs_once_across_replicas,
    leavers_keep_ends_and_lose_pending_requests,
    patch_opens_a_request_that_is_approved_and_expires,
    self_approval_is_refused,
    denial_and_approver_list,
    undecided_request_expires,
    rules_bulk_nesting_and_withdrawal,
    governance_settings_need_admin,
    admin_grant_ends_on_time,
    bad_input_and_scopes,
);
