//! Separation of duties (issue 9, docs/governance.md#separation-of-duties): policies naming
//! groups one user must not hold together; a conflicting add refused with `invalidValue` and an
//! `alert` event (and nothing else); nesting cannot bypass it; a rule's conflicting grant waits
//! for an approver; the report lists violations that predate a policy; an approval accepts an
//! exception only when it says so, and the exception is recorded.

use reqwest::Method;
use scim_tests::{assert_scim_error, backend_tests, group_body, TestApp};
use serde_json::{json, Value};

const GOV: &str = "urn:roster:params:scim:schemas:extension:governance:2.0:Group";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

struct Ctx {
    app: TestApp,
    /// `scim.read` + `scim.write`, named `hr`.
    hr: String,
    /// `admin` + `scim.read` + `scim.write`, named `it-admin`.
    admin: String,
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

fn add_member(id: &str) -> Value {
    json!({"schemas": [PATCH_OP],
           "Operations": [{"op": "add", "path": "members", "value": [{"value": id}]}]})
}

impl Ctx {
    fn new(app: TestApp) -> Ctx {
        let hr = Ctx::issue(&app, "hr", &["scim.read", "scim.write"]);
        let admin = Ctx::issue(&app, "it-admin", &["admin", "scim.read", "scim.write"]);
        Ctx { app, hr, admin }
    }

    fn issue(app: &TestApp, name: &str, scopes: &[&str]) -> String {
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        server::auth::issue(&app.state.store, &app.state.keys, name, &scopes, 1)
            .unwrap()
            .token
    }

    async fn user(&self, name: &str, dept: &str) -> String {
        let mut body = scim_tests::user_body(name);
        body["schemas"] = json!(["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE]);
        body[ENTERPRISE] = json!({"department": dept});
        let res = self.app.send(Method::POST, "/Users", &self.hr, &body).await;
        assert_eq!(res.status(), 201, "create {name}");
        id_of(&res.json().await.unwrap())
    }

    async fn group(&self, name: &str, members: &[&str]) -> String {
        let res = self
            .app
            .send(
                Method::POST,
                "/Groups",
                &self.admin,
                &group_body(name, members),
            )
            .await;
        assert_eq!(res.status(), 201, "create {name}");
        id_of(&res.json().await.unwrap())
    }

    async fn patch_add(&self, token: &str, group: &str, member: &str) -> reqwest::Response {
        self.app
            .send(
                Method::PATCH,
                &format!("/Groups/{group}"),
                token,
                &add_member(member),
            )
            .await
    }

    async fn members(&self, group: &str) -> Vec<String> {
        let v: Value = self
            .app
            .get(&format!("/Groups/{group}"), &self.hr)
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

    async fn api(
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

    /// Creates policy `name` over these groups; returns its id and `currentViolations`.
    async fn policy(&self, name: &str, groups: &[&str]) -> (String, i64) {
        let res = self
            .api(
                Method::POST,
                "/sod-policies",
                &self.admin,
                Some(&json!({"name": name, "groups": groups})),
            )
            .await;
        assert_eq!(res.status(), 201);
        let v: Value = res.json().await.unwrap();
        (id_of(&v), v["currentViolations"].as_i64().unwrap())
    }

    async fn violations(&self) -> Vec<Value> {
        let res = self
            .api(Method::GET, "/sod-violations", &self.admin, None)
            .await;
        assert_eq!(res.status(), 200);
        let v: Value = res.json().await.unwrap();
        let items = v["items"].as_array().unwrap().clone();
        assert_eq!(v["totalResults"], items.len());
        items
    }

    async fn requests(&self, status: &str) -> Vec<Value> {
        let res = self
            .api(
                Method::GET,
                &format!("/access-requests?status={status}"),
                &self.admin,
                None,
            )
            .await;
        assert_eq!(res.status(), 200);
        res.json::<Value>().await.unwrap()["items"]
            .as_array()
            .unwrap()
            .clone()
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

    /// The `accounts-payable` / `payment-approval` pair with policy `payments` over it.
    async fn payments(&self) -> (String, String, String) {
        let ap = self.group("accounts-payable", &[]).await;
        let pa = self.group("payment-approval", &[]).await;
        let (policy, n) = self.policy("payments", &[&ap, &pa]).await;
        assert_eq!(n, 0);
        (ap, pa, policy)
    }
}

async fn policy_crud_validation_and_scopes(app: TestApp) {
    let c = Ctx::new(app);
    let a = c.group("accounts-payable", &[]).await;
    let b = c.group("payment-approval", &[]).await;
    let bad = [
        (json!({"groups": [a, b]}), "name"),
        (json!({"name": "", "groups": [a, b]}), "name"),
        (json!({"name": "p", "groups": [a]}), "groups"),
        (json!({"name": "p", "groups": [a, a]}), "groups"),
        (json!({"name": "p", "groups": "x"}), "groups"),
        (json!({"name": "p", "groups": [a, 7]}), "groups"),
        (
            json!({"name": "p", "groups": [a, "2819c223-7f76-453a-919d-413861904646"]}),
            "groups[1]",
        ),
        (json!({"name": "p", "groups": [a, b], "color": 1}), "color"),
        (
            json!({"name": "p", "groups": [a, b], "description": 3}),
            "description",
        ),
    ];
    let before = c.app.event_count();
    for (body, field) in bad {
        let res = c
            .api(Method::POST, "/sod-policies", &c.admin, Some(&body))
            .await;
        let e = assert_scim_error(res, 400, Some("invalidValue")).await;
        assert!(
            e["detail"].as_str().unwrap().starts_with(field),
            "{body}: {e}"
        );
    }
    let res = c
        .app
        .req(Method::POST, "/admin/v1/sod-policies", &c.admin)
        .header("Content-Type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_scim_error(res, 400, Some("invalidSyntax")).await;
    assert_eq!(c.app.event_count(), before, "refused bodies write nothing");

    let res = c
        .api(
            Method::POST,
            "/sod-policies",
            &c.admin,
            Some(&json!({"name": "payments", "groups": [b, a], "description": "4-eyes"})),
        )
        .await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    let id = id_of(&created);
    let mut sorted = vec![a.clone(), b.clone()];
    sorted.sort();
    assert_eq!(created["groups"], json!(sorted));
    assert_eq!(created["currentViolations"], 0);
    assert_eq!(created["description"], "4-eyes");
    let got: Value = c
        .api(Method::GET, &format!("/sod-policies/{id}"), &c.admin, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["name"], "payments");
    let list: Value = c
        .api(Method::GET, "/sod-policies", &c.admin, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["totalResults"], 1);
    let dup = c
        .api(
            Method::POST,
            "/sod-policies",
            &c.admin,
            Some(&json!({"name": "payments", "groups": [a, b]})),
        )
        .await;
    assert_scim_error(dup, 409, Some("uniqueness")).await;
    let res = c
        .api(
            Method::PUT,
            &format!("/sod-policies/{id}"),
            &c.admin,
            Some(&json!({"name": "payments-4eyes", "groups": [a, b]})),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["name"], "payments-4eyes");
    let unknown = "/sod-policies/2819c223-7f76-453a-919d-413861904646";
    assert_scim_error(c.api(Method::GET, unknown, &c.admin, None).await, 404, None).await;
    assert_scim_error(
        c.api(
            Method::PUT,
            unknown,
            &c.admin,
            Some(&json!({"name": "x", "groups": [a, b]})),
        )
        .await,
        404,
        None,
    )
    .await;
    // scopes: no token 401, scim.write or approve 403
    let res = c
        .app
        .client
        .get(format!("{}/admin/v1/sod-policies", c.app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    for scopes in [&["scim.read", "scim.write"][..], &["approve"][..]] {
        let t = c.app.token(scopes);
        assert_eq!(
            c.api(Method::GET, "/sod-violations", &t, None)
                .await
                .status(),
            403
        );
        assert_eq!(
            c.api(
                Method::POST,
                "/sod-policies",
                &t,
                Some(&json!({"name": "q", "groups": [a, b]}))
            )
            .await
            .status(),
            403
        );
    }
    let seq = c.app.event_count();
    let res = c
        .api(
            Method::DELETE,
            &format!("/sod-policies/{id}"),
            &c.admin,
            None,
        )
        .await;
    assert_eq!(res.status(), 204);
    assert_scim_error(
        c.api(Method::GET, &format!("/sod-policies/{id}"), &c.admin, None)
            .await,
        404,
        None,
    )
    .await;
    let actions: Vec<String> = c
        .events_after(before)
        .into_iter()
        .filter(|e| e.1 == "SodPolicy")
        .map(|e| e.0)
        .collect();
    assert_eq!(actions, ["sod.create", "sod.replace", "sod.delete"]);
    assert_eq!(c.events_after(seq).len(), 1);
}

async fn conflicting_add_is_refused_with_an_alert(app: TestApp) {
    let c = Ctx::new(app);
    let (ap, pa, policy) = c.payments().await;
    let ann = c.user("ann", "Finance").await;
    assert_eq!(c.patch_add(&c.hr, &ap, &ann).await.status(), 200);
    let seq = c.app.event_count();
    let res = c.patch_add(&c.hr, &pa, &ann).await;
    let e = assert_scim_error(res, 400, Some("invalidValue")).await;
    let detail = e["detail"].as_str().unwrap();
    assert!(
        detail.contains(
            "policy 'payments' does not allow one user to hold 'accounts-payable' and \
             'payment-approval'"
        ),
        "{detail}"
    );
    assert!(c.members(&pa).await.is_empty(), "the add was not applied");
    let events = c.events_after(seq);
    assert_eq!(events.len(), 1, "only the alert: {events:?}");
    let (action, rtype, rid, after) = &events[0];
    assert_eq!(
        (action.as_str(), rtype.as_str(), rid.as_str()),
        ("alert", "SodPolicy", policy.as_str())
    );
    assert_eq!(after["kind"], "sod.violation_attempt");
    assert_eq!(after["policy"], policy.as_str());
    assert_eq!(after["policyName"], "payments");
    assert_eq!(after["user"], ann.as_str());
    assert_eq!(after["group"], pa.as_str());
    assert_eq!(after["actor"], "hr");
    assert_eq!(after["outcome"], "refused");

    // an admin gets no shortcut: neither SCIM nor the admin grant
    let res = c.patch_add(&c.admin, &pa, &ann).await;
    assert_scim_error(res, 400, Some("invalidValue")).await;
    let res = c
        .api(
            Method::POST,
            &format!("/groups/{pa}/members"),
            &c.admin,
            Some(&json!({"value": ann})),
        )
        .await;
    let e = assert_scim_error(res, 400, Some("invalidValue")).await;
    assert!(e["detail"].as_str().unwrap().contains("'payments'"));
    // a PUT of the group with the member, and /Bulk, take the same path
    let res = c
        .app
        .send(
            Method::PUT,
            &format!("/Groups/{pa}"),
            &c.hr,
            &group_body("payment-approval", &[&ann]),
        )
        .await;
    assert_scim_error(res, 400, Some("invalidValue")).await;
    assert!(c.members(&pa).await.is_empty());
    let alerts = c
        .events_after(seq)
        .into_iter()
        .filter(|e| e.0 == "alert")
        .count();
    assert_eq!(alerts, 4);
    assert!(
        c.events_after(seq).iter().all(|e| e.0 == "alert"),
        "nothing but alerts was written"
    );
    // a user holding only one of the groups is fine
    let bob = c.user("bob", "Finance").await;
    assert_eq!(c.patch_add(&c.hr, &pa, &bob).await.status(), 200);
    assert_eq!(c.members(&pa).await, vec![bob]);
}

async fn nesting_cannot_bypass_a_policy(app: TestApp) {
    let c = Ctx::new(app);
    let (ap, pa, _) = c.payments().await;
    let ann = c.user("ann", "Finance").await;
    assert_eq!(c.patch_add(&c.hr, &ap, &ann).await.status(), 200);
    // a group nested in payment-approval: joining it means holding payment-approval
    let approvers_emea = c.group("approvers-emea", &[]).await;
    assert_eq!(
        c.patch_add(&c.admin, &pa, &approvers_emea).await.status(),
        200
    );
    let e = assert_scim_error(
        c.patch_add(&c.hr, &approvers_emea, &ann).await,
        400,
        Some("invalidValue"),
    )
    .await;
    assert!(e["detail"].as_str().unwrap().contains("'payments'"));
    assert!(c.members(&approvers_emea).await.is_empty());
    // a group holding ann, nested into payment-approval
    let team = c.group("finance-team", &[&ann]).await;
    let e = assert_scim_error(
        c.patch_add(&c.admin, &pa, &team).await,
        400,
        Some("invalidValue"),
    )
    .await;
    let detail = e["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("user {ann} through group {team}")),
        "{detail}"
    );
    assert_eq!(c.members(&pa).await, vec![approvers_emea.clone()]);
    // ann through a nested group on the other side too
    let bob = c.user("bob", "Finance").await;
    let ap_team = c.group("ap-team", &[&bob]).await;
    assert_eq!(c.patch_add(&c.admin, &ap, &ap_team).await.status(), 200);
    assert_scim_error(
        c.patch_add(&c.hr, &pa, &bob).await,
        400,
        Some("invalidValue"),
    )
    .await;
    assert!(c.violations().await.is_empty());
}

async fn a_rules_conflicting_grant_waits_for_an_approver(app: TestApp) {
    let c = Ctx::new(app);
    let (ap, pa, policy) = c.payments().await;
    let res = c
        .api(
            Method::POST,
            "/rules",
            &c.admin,
            Some(&json!({"name": "approvers", "filter": format!("{ENTERPRISE}:department eq \"Treasury\""), "groups": [pa]})),
        )
        .await;
    assert_eq!(res.status(), 201);
    let rule = id_of(&res.json().await.unwrap());
    let ann = c.user("ann", "Finance").await;
    assert_eq!(c.patch_add(&c.hr, &ap, &ann).await.status(), 200);
    let seq = c.app.event_count();
    // the HR write that makes the rule grant payment-approval succeeds
    let res = c
        .app
        .send(
            Method::PATCH,
            &format!("/Users/{ann}"),
            &c.hr,
            &json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "replace", "path": format!("{ENTERPRISE}:department"), "value": "Treasury"}]}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert!(c.members(&pa).await.is_empty(), "the grant was not applied");
    let pending = c.requests("pending").await;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0]["memberId"], ann.as_str());
    assert_eq!(pending[0]["source"], format!("rule:{rule}"));
    assert_eq!(pending[0]["sodConflicts"], json!(["payments"]));
    let alerts: Vec<Value> = c
        .events_after(seq)
        .into_iter()
        .filter(|e| e.0 == "alert")
        .map(|e| e.3)
        .collect();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["policy"], policy.as_str());
    assert_eq!(alerts[0]["user"], ann.as_str());
    assert_eq!(alerts[0]["outcome"], "access request opened");
    // the same user written again: the same request, no new alert
    let seq = c.app.event_count();
    let res = c
        .app
        .send(
            Method::PATCH,
            &format!("/Users/{ann}"),
            &c.hr,
            &json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "replace", "path": "displayName", "value": "Ann"}]}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(c.requests("pending").await.len(), 1);
    assert!(!c.events_after(seq).iter().any(|e| e.0 == "alert"));
}

async fn report_lists_violations_that_predate_a_policy(app: TestApp) {
    let c = Ctx::new(app);
    let ann = c.user("ann", "Finance").await;
    let bob = c.user("bob", "Finance").await;
    let cy = c.user("cy", "Finance").await;
    let team = c.group("ap-team", &[&bob]).await;
    let ap = c.group("accounts-payable", &[&ann, &team, &cy]).await;
    let pa = c.group("payment-approval", &[&ann, &bob]).await;
    assert!(c.violations().await.is_empty());
    let (policy, n) = c.policy("payments", &[&ap, &pa]).await;
    assert_eq!(n, 2, "ann directly, bob through ap-team");
    let found = c.violations().await;
    assert_eq!(found.len(), 2);
    let mut users: Vec<&str> = found
        .iter()
        .map(|v| v["user"]["userName"].as_str().unwrap())
        .collect();
    users.sort();
    assert_eq!(users, ["ann", "bob"]);
    for v in &found {
        assert_eq!(v["policy"]["id"], policy.as_str());
        assert_eq!(v["policy"]["name"], "payments");
        assert_eq!(v["groups"].as_array().unwrap().len(), 2);
        assert_eq!(v["exceptionAccepted"], false);
    }
    let ann_row = found
        .iter()
        .find(|v| v["user"]["id"] == ann.as_str())
        .unwrap();
    let names: Vec<&str> = ann_row["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["displayName"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"accounts-payable") && names.contains(&"payment-approval"));
    let got: Value = c
        .api(
            Method::GET,
            &format!("/sod-policies/{policy}"),
            &c.admin,
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["currentViolations"], 2);
}

async fn violation_refused_then_accepted_as_a_recorded_exception(app: TestApp) {
    let c = Ctx::new(app);
    let (ap, pa, policy) = c.payments().await;
    let ann = c.user("ann", "Finance").await;
    let _alice = c.user("alice", "Finance").await;
    let approver = Ctx::issue(&c.app, "alice", &["approve"]);
    assert_eq!(c.patch_add(&c.hr, &ap, &ann).await.status(), 200);
    assert_scim_error(
        c.patch_add(&c.hr, &pa, &ann).await,
        400,
        Some("invalidValue"),
    )
    .await;
    // the admin asks for the exception explicitly
    let bad = c
        .api(
            Method::POST,
            "/access-requests",
            &c.admin,
            Some(&json!({"groupId": pa, "memberId": ann})),
        )
        .await;
    assert_scim_error(bad, 400, Some("invalidValue")).await;
    let res = c
        .api(
            Method::POST,
            "/access-requests",
            &c.admin,
            Some(&json!({"groupId": pa, "memberId": ann, "reason": "month-end cover, FIN-9"})),
        )
        .await;
    assert_eq!(res.status(), 201);
    let r: Value = res.json().await.unwrap();
    let rid = id_of(&r);
    assert_eq!(r["sodConflicts"], json!(["payments"]));
    assert_eq!(r["justification"], "month-end cover, FIN-9");
    assert_eq!(r["status"], "pending");
    // again: the same request
    let again = c
        .api(
            Method::POST,
            "/access-requests",
            &c.admin,
            Some(&json!({"groupId": pa, "memberId": ann, "reason": "again"})),
        )
        .await;
    assert_eq!(again.status(), 200);
    assert_eq!(id_of(&again.json().await.unwrap()), rid);
    // approving without accepting the exception: 409 naming the policy, nothing changes
    let seq = c.app.event_count();
    let res = c
        .api(
            Method::POST,
            &format!("/access-requests/{rid}/approve"),
            &approver,
            Some(&json!({"reason": "ok"})),
        )
        .await;
    let e = assert_scim_error(res, 409, None).await;
    assert!(e["detail"].as_str().unwrap().contains("'payments'"), "{e}");
    assert_eq!(c.app.event_count(), seq);
    assert!(c.members(&pa).await.is_empty());
    // the requester cannot accept its own exception
    let own = Ctx::issue(&c.app, "it-admin", &["approve"]);
    let res = c
        .api(
            Method::POST,
            &format!("/access-requests/{rid}/approve"),
            &own,
            Some(&json!({"reason": "ok", "acceptSodException": true})),
        )
        .await;
    assert_scim_error(res, 403, None).await;
    let res = c
        .api(
            Method::POST,
            &format!("/access-requests/{rid}/approve"),
            &approver,
            Some(&json!({"reason": "ok", "acceptSodException": "yes"})),
        )
        .await;
    assert_scim_error(res, 400, Some("invalidValue")).await;
    // accepted
    let res = c
        .api(
            Method::POST,
            &format!("/access-requests/{rid}/approve"),
            &approver,
            Some(&json!({"reason": "cover for FIN-9 until the 5th", "acceptSodException": true})),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "approved");
    assert_eq!(c.members(&pa).await, vec![ann.clone()]);
    let accepted: Vec<Value> = c
        .events_after(seq)
        .into_iter()
        .filter(|e| e.0 == "sod.exception_accepted")
        .map(|e| {
            assert_eq!(e.1, "SodPolicy");
            assert_eq!(e.2, policy);
            e.3
        })
        .collect();
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0]["acceptedBy"]["actor"], "alice");
    assert_eq!(accepted[0]["reason"], "cover for FIN-9 until the 5th");
    assert_eq!(accepted[0]["user"], ann.as_str());
    assert_eq!(accepted[0]["accessRequest"], rid.as_str());
    let found = c.violations().await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["user"]["id"], ann.as_str());
    assert_eq!(found[0]["exceptionAccepted"], true);
    assert_eq!(found[0]["exception"]["acceptedBy"]["actor"], "alice");
    assert_eq!(found[0]["exception"]["accessRequest"], rid.as_str());
}

async fn a_group_requiring_approval_flags_the_conflict(app: TestApp) {
    let c = Ctx::new(app);
    let ap = c.group("accounts-payable", &[]).await;
    let mut body = group_body("payment-approval", &[]);
    body["schemas"] = json!(["urn:ietf:params:scim:schemas:core:2.0:Group", GOV]);
    body[GOV] = json!({"requiresApproval": true});
    let res = c.app.send(Method::POST, "/Groups", &c.admin, &body).await;
    assert_eq!(res.status(), 201);
    let pa = id_of(&res.json().await.unwrap());
    let (policy, _) = c.policy("payments", &[&ap, &pa]).await;
    let ann = c.user("ann", "Finance").await;
    let bob = c.user("bob", "Finance").await;
    assert_eq!(c.patch_add(&c.hr, &ap, &ann).await.status(), 200);
    let seq = c.app.event_count();
    // the add opens a request (as for any add to this group), flagged with the conflict
    assert_eq!(c.patch_add(&c.hr, &pa, &ann).await.status(), 200);
    assert_eq!(c.patch_add(&c.hr, &pa, &bob).await.status(), 200);
    let pending = c.requests("pending").await;
    assert_eq!(pending.len(), 2);
    let of = |who: &str| {
        pending
            .iter()
            .find(|r| r["memberId"] == who)
            .unwrap()
            .clone()
    };
    assert_eq!(of(&ann)["sodConflicts"], json!(["payments"]));
    assert_eq!(of(&bob)["sodConflicts"], json!([]));
    let alerts: Vec<Value> = c
        .events_after(seq)
        .into_iter()
        .filter(|e| e.0 == "alert")
        .map(|e| e.3)
        .collect();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["policy"], policy.as_str());
    assert_eq!(alerts[0]["user"], ann.as_str());
    let approver = Ctx::issue(&c.app, "alice", &["approve"]);
    let approve = |id: String, body: Value| {
        let c = &c;
        let approver = approver.clone();
        async move {
            c.api(
                Method::POST,
                &format!("/access-requests/{id}/approve"),
                &approver,
                Some(&body),
            )
            .await
        }
    };
    assert_eq!(
        approve(id_of(&of(&bob)), json!({"reason": "ok"}))
            .await
            .status(),
        200
    );
    assert_eq!(
        approve(id_of(&of(&ann)), json!({"reason": "ok"}))
            .await
            .status(),
        409
    );
    assert_eq!(
        approve(
            id_of(&of(&ann)),
            json!({"reason": "ok", "acceptSodException": true})
        )
        .await
        .status(),
        200
    );
    let mut m = c.members(&pa).await;
    m.sort();
    let mut want = vec![ann, bob];
    want.sort();
    assert_eq!(m, want);
}

backend_tests!(
    policy_crud_validation_and_scopes,
    conflicting_add_is_refused_with_an_alert,
    nesting_cannot_bypass_a_policy,
    a_rules_conflicting_grant_waits_for_an_approver,
    report_lists_violations_that_predate_a_policy,
    violation_refused_then_accepted_as_a_recorded_exception,
    a_group_requiring_approval_flags_the_conflict,
);
