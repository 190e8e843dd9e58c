//! The compliance history API (`/audit/v1`), the streamed exports and `roster audit verify`.

use std::path::PathBuf;
use std::process::Command;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use reqwest::Method;
use scim_tests::{assert_scim_error, backend_tests, user_body, TestApp};
use serde_json::{json, Value};

const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

fn audit_token(app: &TestApp) -> String {
    app.token(&["audit.read"])
}

fn named_token(app: &TestApp, name: &str, scopes: &[&str]) -> String {
    let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
    server::auth::issue(&app.state.store, &app.state.keys, name, &scopes, 1)
        .unwrap()
        .token
}

async fn audit(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.req(Method::GET, &format!("/audit/v1{path}"), token)
        .send()
        .await
        .unwrap()
}

async fn audit_json(app: &TestApp, path: &str, token: &str) -> Value {
    let res = audit(app, path, token).await;
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 200, "{path}: {body}");
    body
}

/// Follows `nextCursor` to the end; returns every item.
async fn all_items(app: &TestApp, path: &str, token: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = match &cursor {
            Some(c) => format!("{path}{sep}cursor={c}"),
            None => path.to_string(),
        };
        let page = audit_json(app, &url, token).await;
        out.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return out,
        }
    }
}

async fn group(app: &TestApp, t: &str, name: &str, members: &[&str]) -> String {
    let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
    let res = app
        .send(
            Method::POST,
            "/Groups",
            t,
            &json!({"schemas": [GROUP], "displayName": name, "members": members}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let g: Value = res.json().await.unwrap();
    g["id"].as_str().unwrap().to_string()
}

async fn put_group(app: &TestApp, t: &str, id: &str, name: &str, members: &[&str]) {
    let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
    let res = app
        .send(
            Method::PUT,
            &format!("/Groups/{id}"),
            t,
            &json!({"schemas": [GROUP], "displayName": name, "members": members}),
        )
        .await;
    assert_eq!(res.status(), 200);
}

async fn user(app: &TestApp, t: &str, name: &str) -> String {
    app.create_user(t, name).await["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The current head as `SEQ:HASH`, through the API.
async fn head(app: &TestApp, t: &str) -> String {
    audit_json(app, "/head", t).await["expectHead"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `validFrom` of every version of a resource (µs RFC 3339).
async fn valid_froms(app: &TestApp, kind: &str, id: &str, t: &str) -> Vec<String> {
    all_items(app, &format!("/{kind}/{id}/versions"), t)
        .await
        .iter()
        .map(|v| v["validFrom"].as_str().unwrap().to_string())
        .collect()
}

/// One microsecond before an instant written by the audit API.
fn just_before(ts: &str) -> String {
    let t = chrono::DateTime::parse_from_rfc3339(ts).unwrap() - chrono::TimeDelta::microseconds(1);
    t.naive_utc().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

async fn scopes_are_enforced_and_nothing_writes(app: TestApp) {
    let scim = app.rw_token();
    let admin = app.token(&["admin"]);
    let a = audit_token(&app);
    let uid = user(&app, &scim, "scoped").await;
    let paths = [
        "/events".to_string(),
        "/head".to_string(),
        format!("/Users/{uid}"),
        format!("/Users/{uid}/versions"),
        format!("/Users/{uid}/groups"),
        "/reports/orphans".to_string(),
    ];
    for p in &paths {
        let res = app
            .client
            .get(format!("{}/audit/v1{p}", app.addr))
            .send()
            .await
            .unwrap();
        assert_scim_error(res, 401, None).await;
        for t in [&scim, &admin] {
            let body = assert_scim_error(audit(&app, p, t).await, 403, None).await;
            assert!(body["detail"].as_str().unwrap().contains("audit.read"));
        }
        assert_eq!(audit(&app, p, &a).await.status(), 200, "{p}");
        for m in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
            let res = app
                .req(m.clone(), &format!("/audit/v1{p}"), &a)
                .header("Content-Type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap();
            assert_scim_error(res, 405, None).await;
        }
    }
    assert_scim_error(audit(&app, "/nope", &a).await, 404, None).await;
    // the SCIM API does not accept audit tokens either
    assert_scim_error(app.get("/Users", &a).await, 403, None).await;
}

async fn events_filter_page_and_reject_bad_parameters(app: TestApp) {
    let hr = named_token(&app, "hr-feed", &["scim.read", "scim.write"]);
    let ops = named_token(&app, "ops", &["scim.read", "scim.write"]);
    let a = audit_token(&app);
    let u1 = user(&app, &hr, "ev1").await;
    let u2 = user(&app, &hr, "ev2").await;
    let res = app
        .send(
            Method::PUT,
            &format!("/Users/{u1}"),
            &ops,
            &user_body("ev1b"),
        )
        .await;
    assert_eq!(res.status(), 200);
    let g = group(&app, &ops, "ev-group", &[&u2]).await;

    let all = all_items(&app, "/events?limit=2", &a).await;
    assert_eq!(all.len() as i64, app.event_count());
    let seqs: Vec<i64> = all.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=all.len() as i64).collect::<Vec<_>>());
    let e = all.iter().find(|e| e["action"] == "replace").unwrap();
    assert_eq!(e["actor"], "ops");
    assert_eq!(e["resourceId"], u1.as_str());
    assert_eq!(e["before"]["userName"], "ev1");
    assert_eq!(e["after"]["userName"], "ev1b");
    assert_eq!(e["hash"].as_str().unwrap().len(), 64);
    assert!(e["requestId"].as_str().is_some());

    let by_actor = all_items(&app, "/events?actor=hr-feed&resourceType=User", &a).await;
    assert_eq!(by_actor.len(), 2);
    let created = all_items(&app, "/events?action=create", &a).await;
    assert_eq!(created.len(), 3);
    let of_u1 = all_items(&app, &format!("/events?resourceId={u1}"), &a).await;
    assert_eq!(of_u1.len(), 2);
    let of_g = all_items(
        &app,
        &format!("/events?resourceType=Group&resourceId={g}"),
        &a,
    )
    .await;
    assert_eq!(of_g.len(), 1);

    // time window: since is inclusive, until exclusive
    let t = e["time"].as_str().unwrap();
    let since = all_items(&app, &format!("/events?since={t}"), &a).await;
    assert_eq!(since[0]["seq"], e["seq"]);
    let until = all_items(&app, &format!("/events?until={t}"), &a).await;
    assert!(until.iter().all(|x| x["seq"].as_i64() < e["seq"].as_i64()));
    assert_eq!(since.len() + until.len(), all.len());

    let diff = audit_json(
        &app,
        &format!("/events?view=diff&resourceId={u1}&action=replace"),
        &a,
    )
    .await;
    let d = &diff["items"][0]["diff"];
    assert_eq!(d["userName"], json!({"before": "ev1", "after": "ev1b"}));
    assert!(
        d.get("active").is_none(),
        "unchanged attributes left out: {d}"
    );

    for bad in [
        "/events?limit=0",
        "/events?limit=1001",
        "/events?limit=ten",
        "/events?since=yesterday",
        "/events?until=2026-13-01T00:00:00Z",
        "/events?cursor=abc",
        "/events?untill=2026-01-01",
        "/events?view=pretty",
        "/reports/orphans?limit=-1",
    ] {
        let body = assert_scim_error(audit(&app, bad, &a).await, 400, Some("invalidValue")).await;
        assert!(
            !body["detail"].as_str().unwrap().contains("internal"),
            "{bad}"
        );
    }
}

async fn head_is_the_last_event(app: TestApp) {
    let t = app.rw_token();
    let a = audit_token(&app);
    user(&app, &t, "h1").await;
    let h = audit_json(&app, "/head", &a).await;
    let (seq, hash) = app.state.store.read(store::events::head).unwrap();
    assert_eq!(h["seq"], seq);
    assert_eq!(h["hash"], hash.as_str());
    assert_eq!(h["expectHead"], format!("{seq}:{hash}"));
    assert!(h["time"].as_str().unwrap().ends_with('Z'));
}

async fn user_at_an_instant(app: TestApp) {
    let t = app.rw_token();
    let a = audit_token(&app);
    let uid = user(&app, &t, "alice").await;
    let g = group(&app, &t, "staff", &[&uid]).await;
    let res = app
        .send(
            Method::PUT,
            &format!("/Users/{uid}"),
            &t,
            &user_body("alice2"),
        )
        .await;
    assert_eq!(res.status(), 200);
    let froms = valid_froms(&app, "Users", &uid, &a).await;
    assert_eq!(froms.len(), 2);

    // before creation: 404 saying when it was created
    let res = audit(
        &app,
        &format!("/Users/{uid}?at={}", just_before(&froms[0])),
        &a,
    )
    .await;
    let body = assert_scim_error(res, 404, None).await;
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("did not exist") && detail.contains("created at"),
        "{detail}"
    );

    // version 1, exactly as it was (rendered like the live resource)
    let v1 = audit(
        &app,
        &format!("/Users/{uid}?at={}", just_before(&froms[1])),
        &a,
    )
    .await;
    assert_eq!(v1.headers()["etag"], "W/\"1\"");
    let v1: Value = v1.json().await.unwrap();
    assert_eq!(v1["id"], uid.as_str());
    assert_eq!(v1["userName"], "alice");
    assert_eq!(
        v1["schemas"][0],
        "urn:ietf:params:scim:schemas:core:2.0:User"
    );
    assert_eq!(v1["meta"]["version"], "W/\"1\"");
    assert_eq!(v1["meta"]["resourceType"], "User");
    assert_eq!(v1["groups"][0]["value"], g.as_str());
    assert_eq!(v1["groups"][0]["display"], "staff");
    let live: Value = app
        .get(&format!("/Users/{uid}"), &t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v1["meta"]["created"], live["meta"]["created"]);

    let v2 = audit_json(&app, &format!("/Users/{uid}?at={}", froms[1]), &a).await;
    assert_eq!(v2["userName"], "alice2");
    assert_eq!(v2["meta"]["version"], "W/\"2\"");
    let now = audit_json(&app, &format!("/Users/{uid}"), &a).await;
    let mut live_wo_loc = live.clone();
    live_wo_loc["meta"]["location"] = now["meta"]["location"].clone();
    assert_eq!(now, live_wo_loc, "at now = the live representation");

    // after deletion: 404 saying when it was deleted; the past is still readable
    let res = app
        .req(Method::DELETE, &format!("/scim/v2/Users/{uid}"), &t)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let body = assert_scim_error(audit(&app, &format!("/Users/{uid}"), &a).await, 404, None).await;
    assert!(body["detail"].as_str().unwrap().contains("deleted at"));
    let v2 = audit_json(&app, &format!("/Users/{uid}?at={}", froms[1]), &a).await;
    assert_eq!(v2["userName"], "alice2");

    let body = assert_scim_error(audit(&app, "/Users/nobody", &a).await, 404, None).await;
    assert!(body["detail"].as_str().unwrap().contains("ever existed"));
    assert_scim_error(
        audit(&app, &format!("/Users/{uid}?at=noon"), &a).await,
        400,
        Some("invalidValue"),
    )
    .await;
}

async fn versions_name_the_actor(app: TestApp) {
    let hr = named_token(&app, "hr-feed", &["scim.read", "scim.write"]);
    let helpdesk = named_token(&app, "helpdesk", &["scim.read", "scim.write"]);
    let a = audit_token(&app);
    let uid = user(&app, &hr, "vera").await;
    app.send(
        Method::PUT,
        &format!("/Users/{uid}"),
        &helpdesk,
        &user_body("vera2"),
    )
    .await;
    let versions = all_items(&app, &format!("/Users/{uid}/versions?limit=1"), &a).await;
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0]["version"], 1);
    assert_eq!(versions[0]["actor"], "hr-feed");
    assert_eq!(versions[0]["action"], "create");
    assert_eq!(versions[0]["validTo"], versions[1]["validFrom"]);
    assert_eq!(versions[0]["resource"]["userName"], "vera");
    assert_eq!(versions[1]["actor"], "helpdesk");
    assert_eq!(versions[1]["action"], "replace");
    assert!(versions[1]["validTo"].is_null());
    assert_eq!(versions[1]["resource"]["userName"], "vera2");
    // a time window keeps the versions valid at some moment of it
    let v2_from = versions[1]["validFrom"].as_str().unwrap();
    let window = |q: String| {
        let path = format!("/Users/{uid}/versions?{q}");
        let (app, a) = (&app, &a);
        async move {
            all_items(app, &path, a)
                .await
                .iter()
                .map(|v| v["version"].as_i64().unwrap())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(window(format!("since={v2_from}")).await, [2]);
    assert_eq!(window(format!("until={v2_from}")).await, [1]);
    assert_eq!(
        window(format!("since={}", just_before(v2_from))).await,
        [1, 2]
    );
    assert_eq!(
        window(format!("since={}&until={v2_from}", just_before(v2_from))).await,
        [1]
    );
    assert_scim_error(
        audit(
            &app,
            &format!("/Users/{uid}/versions?since={v2_from}&until={v2_from}"),
            &a,
        )
        .await,
        400,
        Some("invalidValue"),
    )
    .await;
    // as an export: one JSON line per version
    let ndjson = app
        .req(Method::GET, &format!("/audit/v1/Users/{uid}/versions"), &a)
        .header("Accept", "application/x-ndjson")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<Value> = ndjson
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines, versions);
    let g = group(&app, &hr, "vg", &[&uid]).await;
    let gv = all_items(&app, &format!("/Groups/{g}/versions"), &a).await;
    assert_eq!(gv.len(), 1);
    assert_eq!(gv[0]["resource"]["displayName"], "vg");
    assert_scim_error(audit(&app, "/Users/nobody/versions", &a).await, 404, None).await;
    assert_scim_error(
        audit(&app, &format!("/Users/{uid}/versions?cursor=x"), &a).await,
        400,
        Some("invalidValue"),
    )
    .await;
}

async fn group_members_at_and_over_a_window(app: TestApp) {
    let t = app.rw_token();
    let a = audit_token(&app);
    let u1 = user(&app, &t, "m1").await;
    let u2 = user(&app, &t, "m2").await;
    let u3 = user(&app, &t, "m3").await;
    let g = group(&app, &t, "finance-admins", &[&u1, &u2]).await;
    put_group(&app, &t, &g, "finance-admins", &[&u2, &u3]).await;
    let froms = valid_froms(&app, "Groups", &g, &a).await;
    let (t1, t2) = (&froms[0], &froms[1]);

    let ids = |items: &[Value]| {
        let mut v: Vec<String> = items
            .iter()
            .map(|m| m["value"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    let sorted = |mut v: Vec<&String>| {
        v.sort();
        v.into_iter().cloned().collect::<Vec<_>>()
    };
    let at1 = all_items(&app, &format!("/Groups/{g}/members?at={t1}&limit=1"), &a).await;
    assert_eq!(ids(&at1), sorted(vec![&u1, &u2]));
    assert!(at1
        .iter()
        .any(|m| m["display"] == "m1" && m["type"] == "User"));
    let at2 = all_items(&app, &format!("/Groups/{g}/members?at={t2}"), &a).await;
    assert_eq!(ids(&at2), sorted(vec![&u2, &u3]));

    // the group as it was at t1 includes its members then
    let g1 = audit_json(&app, &format!("/Groups/{g}?at={t1}"), &a).await;
    assert_eq!(g1["displayName"], "finance-admins");
    assert_eq!(
        ids(g1["members"].as_array().unwrap()),
        sorted(vec![&u1, &u2])
    );
    assert_eq!(g1["meta"]["version"], "W/\"1\"");

    // over a window: everyone, with their periods
    let w = all_items(&app, &format!("/Groups/{g}/members?from={t1}"), &a).await;
    assert_eq!(ids(&w), sorted(vec![&u1, &u2, &u3]));
    let m1 = w.iter().find(|m| m["value"] == u1.as_str()).unwrap();
    assert_eq!(m1["periods"].as_array().unwrap().len(), 1);
    assert_eq!(m1["periods"][0]["from"], t1.as_str());
    assert_eq!(m1["periods"][0]["to"], t2.as_str());
    assert_eq!(m1["periods"][0]["source"], "manual");
    let m2 = w.iter().find(|m| m["value"] == u2.as_str()).unwrap();
    assert!(m2["periods"][0]["to"].is_null());
    // a window that ends before u3 joined
    let early = all_items(&app, &format!("/Groups/{g}/members?from={t1}&to={t2}"), &a).await;
    assert_eq!(ids(&early), sorted(vec![&u1, &u2]));
    // as a spreadsheet: one row per period, the same as the JSON
    let csv = app
        .req(
            Method::GET,
            &format!("/audit/v1/Groups/{g}/members?from={t1}&limit=1"),
            &a,
        )
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut rows = csv_rows(&csv);
    assert_eq!(
        rows.remove(0),
        ["value", "type", "display", "source", "from", "to"]
    );
    assert_eq!(
        rows.len(),
        3,
        "the whole result, whatever limit says: {csv}"
    );
    let row1 = rows.iter().find(|r| r[0] == u1).unwrap();
    assert_eq!(
        row1[1..],
        ["User", "m1", "manual", t1.as_str(), t2.as_str()]
    );
    let row2 = rows.iter().find(|r| r[0] == u2).unwrap();
    assert_eq!(row2[5], "", "still a member");

    // before the group existed, and nonsense windows
    let res = audit(
        &app,
        &format!("/Groups/{g}/members?at={}", just_before(t1)),
        &a,
    )
    .await;
    assert!(assert_scim_error(res, 404, None).await["detail"]
        .as_str()
        .unwrap()
        .contains("created at"));
    for bad in [
        format!("/Groups/{g}/members?from={t2}&to={t1}"),
        format!("/Groups/{g}/members?at={t1}&from={t1}"),
        format!("/Groups/{g}/members?from=2026"),
    ] {
        assert_scim_error(audit(&app, &bad, &a).await, 400, Some("invalidValue")).await;
    }
    assert_scim_error(
        audit(&app, "/Groups/nope/members?from=2020-01-01", &a).await,
        404,
        None,
    )
    .await;
}

/// Checks the names shown at each instant: `(at, the member's name, the group's name)`.
async fn check_names_at(app: &TestApp, a: &str, g: &str, u: &str, expect: &[(String, &str, &str)]) {
    for (at, user_name, group_name) in expect {
        let members = all_items(app, &format!("/Groups/{g}/members?at={at}"), a).await;
        assert_eq!(members.len(), 1);
        assert_eq!(members[0]["display"], *user_name, "member at {at}");
        let as_then = audit_json(app, &format!("/Users/{u}?at={at}"), a).await;
        assert_eq!(as_then["userName"], *user_name);
        assert_eq!(
            as_then["groups"][0]["display"], *group_name,
            "groups at {at}"
        );
        let groups = all_items(app, &format!("/Users/{u}/groups?at={at}"), a).await;
        assert_eq!(groups[0]["display"], *group_name, "groups at {at}");
    }
    // over a window: the name at its end
    let (from, to) = (&expect[0].0, &expect[1].0);
    let window = all_items(app, &format!("/Groups/{g}/members?from={from}&to={to}"), a).await;
    assert_eq!(window[0]["display"], expect[0].1);
}

/// Names shown at an instant (a member's `display`, the groups of a user) are those of that
/// instant, read from `resource_versions.name`; migration 000008 fills that column from the
/// documents for rows written before it, and the answers stay the same.
async fn names_at_an_instant_are_those_of_that_instant(app: TestApp) {
    let t = app.rw_token();
    let a = audit_token(&app);
    let u = user(&app, &t, "old-name").await;
    let g = group(&app, &t, "old-group", &[&u]).await;
    let res = app
        .send(
            Method::PUT,
            &format!("/Users/{u}"),
            &t,
            &user_body("new-name"),
        )
        .await;
    assert_eq!(res.status(), 200);
    put_group(&app, &t, &g, "new-group", &[&u]).await;
    let user_froms = valid_froms(&app, "Users", &u, &a).await;
    let group_froms = valid_froms(&app, "Groups", &g, &a).await;
    let expect = [
        (group_froms[0].clone(), "old-name", "old-group"),
        (user_froms[1].clone(), "new-name", "old-group"),
        (group_froms[1].clone(), "new-name", "new-group"),
    ];
    check_names_at(&app, &a, &g, &u, &expect).await;

    // rows written before migration 000008: revert it (and anything newer), apply it again
    let mut raw = app.db.raw();
    assert!(store::migrations::revert_through(&mut raw, "2026-11-25-000008").unwrap() >= 1);
    assert!(store::migrations::run_pending(&mut raw).unwrap() >= 1);
    use store::schema::resource_versions::dsl as rv;
    let names: Vec<(String, String)> = rv::resource_versions
        .order((rv::resource_type, rv::version))
        .select((rv::resource_type, rv::name))
        .load(&mut raw)
        .unwrap();
    assert_eq!(
        names,
        [
            ("Group".to_string(), "old-group".to_string()),
            ("Group".to_string(), "new-group".to_string()),
            ("User".to_string(), "old-name".to_string()),
            ("User".to_string(), "new-name".to_string()),
        ]
    );
    check_names_at(&app, &a, &g, &u, &expect).await;

    // a version replaced in the transaction that made it was never valid: never shown
    let ctx = store::WriteCtx::system("one-transaction");
    let user_doc = |name: &str| json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name});
    let g2 = app
        .state
        .store
        .write(&ctx, |tx| {
            let id = store::users::create(tx, user_doc("first"))?.id;
            store::users::replace(tx, &id, user_doc("second"), None)?;
            let g = json!({"schemas": [GROUP], "displayName": "g2", "members": [{"value": id}]});
            Ok(store::groups::create(tx, g)?.0.id)
        })
        .unwrap();
    let at = valid_froms(&app, "Groups", &g2, &a).await[0].clone();
    for q in [format!("at={at}"), String::new()] {
        let members = all_items(&app, &format!("/Groups/{g2}/members?{q}"), &a).await;
        assert_eq!(members[0]["display"], "second", "{q}");
    }
}

async fn nested_groups_give_indirect_memberships(app: TestApp) {
    let t = app.rw_token();
    let a = audit_token(&app);
    let u = user(&app, &t, "nestor").await;
    let g1 = group(&app, &t, "team", &[&u]).await;
    let g2 = group(&app, &t, "department", &[&g1]).await;
    let g3 = group(&app, &t, "company", &[&g2]).await;
    let other = group(&app, &t, "unrelated", &[]).await;
    // the team leaves the department: indirect memberships end then
    put_group(&app, &t, &g2, "department", &[]).await;
    let g2_froms = valid_froms(&app, "Groups", &g2, &a).await;
    let left = &g2_froms[1];

    let items = all_items(&app, &format!("/Users/{u}/groups?from=2000-01-01"), &a).await;
    let by_id = |id: &str| items.iter().find(|x| x["value"] == id).cloned();
    assert!(by_id(&other).is_none());
    let team = by_id(&g1).unwrap();
    assert_eq!(team["display"], "team");
    assert_eq!(team["direct"].as_array().unwrap().len(), 1);
    assert!(team["direct"][0]["to"].is_null());
    assert!(team["indirect"].as_array().unwrap().is_empty());
    let dept = by_id(&g2).unwrap();
    assert!(dept["direct"].as_array().unwrap().is_empty());
    assert_eq!(dept["indirect"][0]["via"], json!([g1]));
    assert_eq!(dept["indirect"][0]["to"], left.as_str());
    let company = by_id(&g3).unwrap();
    assert_eq!(company["indirect"][0]["via"], json!([g1, g2]));
    assert_eq!(company["indirect"][0]["to"], left.as_str());

    // after the team left, only the direct membership remains
    let later = all_items(&app, &format!("/Users/{u}/groups?from={left}"), &a).await;
    assert_eq!(later.len(), 1);
    assert_eq!(later[0]["value"], g1.as_str());
    let at = all_items(
        &app,
        &format!("/Users/{u}/groups?at={}", just_before(left)),
        &a,
    )
    .await;
    assert_eq!(at.len(), 3);

    // CSV: one row per membership period
    let csv = app
        .req(Method::GET, &format!("/audit/v1/Users/{u}/groups"), &a)
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "value,display,membership,from,to,via");
    assert_eq!(lines.len(), 2, "{csv}");
    assert_scim_error(audit(&app, "/Users/nobody/groups", &a).await, 404, None).await;
}

async fn orphans_report_reactivations_and_passed_end_dates(app: TestApp) {
    let hr = named_token(&app, "hr-feed", &["scim.read", "scim.write"]);
    let helpdesk = named_token(&app, "helpdesk", &["scim.read", "scim.write"]);
    let a = audit_token(&app);
    let inactive = |name: &str| {
        let mut b = user_body(name);
        b["active"] = json!(false);
        b
    };
    // deactivated by HR, re-activated by the helpdesk: reported
    let back = user(&app, &hr, "back").await;
    app.send(
        Method::PUT,
        &format!("/Users/{back}"),
        &hr,
        &inactive("back"),
    )
    .await;
    app.send(
        Method::PUT,
        &format!("/Users/{back}"),
        &helpdesk,
        &user_body("back"),
    )
    .await;
    // deactivated and still inactive, or never deactivated: not reported
    let gone = user(&app, &hr, "gone").await;
    app.send(
        Method::PUT,
        &format!("/Users/{gone}"),
        &hr,
        &inactive("gone"),
    )
    .await;
    let fine = user(&app, &hr, "fine").await;
    app.send(
        Method::PUT,
        &format!("/Users/{fine}"),
        &hr,
        &user_body("fine"),
    )
    .await;
    // lifecycle endDate (the extension is written through the store: its schema ships later)
    let with_end = |name: &str, end: &str| {
        let mut b = user_body(name);
        b[store::audit::LIFECYCLE_URN] = json!({"endDate": end});
        b
    };
    let ctx = store::WriteCtx::system("hr-import");
    // an end date that passes while the scheduler does not run (a past one deactivates the user
    // in its write transaction, see docs/lifecycle.md)
    let clock = app.state.store.clock().clone();
    let end_date = (clock.now() + chrono::TimeDelta::days(2))
        .format("%Y-%m-%d")
        .to_string();
    let left = app
        .state
        .store
        .write(&ctx, |tx| {
            store::users::create(tx, with_end("left", &end_date))
        })
        .unwrap()
        .id;
    app.state
        .store
        .write(&ctx, |tx| {
            store::users::create(tx, with_end("leaving", "2999-01-01T00:00:00Z"))
        })
        .unwrap();

    clock.advance(chrono::TimeDelta::days(4));
    let report = all_items(&app, "/reports/orphans?limit=1", &a).await;
    let ids: Vec<&str> = report.iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(report.len(), 2, "{report:?}");
    assert!(ids.contains(&back.as_str()) && ids.contains(&left.as_str()));
    let r = report.iter().find(|o| o["id"] == back.as_str()).unwrap();
    assert_eq!(r["userName"], "back");
    let reason = &r["reasons"][0];
    assert_eq!(reason["reason"], "reactivated");
    assert_eq!(reason["reactivatedBy"], "helpdesk");
    assert_eq!(reason["deactivatedBy"], "hr-feed");
    assert_eq!(reason["version"], 3);
    assert!(reason["requestId"].as_str().is_some());
    let l = report.iter().find(|o| o["id"] == left.as_str()).unwrap();
    assert_eq!(
        l["reasons"][0],
        json!({"reason": "endDatePassed", "endDate": end_date})
    );

    let csv = app
        .req(Method::GET, "/audit/v1/reports/orphans", &a)
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(csv.starts_with("id,userName,reason,"));
}

async fn exports_stream_csv_and_ndjson(app: TestApp) {
    let t = app.rw_token();
    let a = audit_token(&app);
    for i in 0..5 {
        user(&app, &t, &format!("x{i}")).await;
    }
    let total = app.event_count() as usize;
    let res = app
        .req(Method::GET, "/audit/v1/events?limit=2", &a)
        .header("Accept", "application/x-ndjson")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "application/x-ndjson");
    let text = res.text().await.unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), total, "the whole result, whatever limit says");
    assert_eq!(lines[total - 1]["seq"], total as i64);

    let res = app
        .req(Method::GET, "/audit/v1/events?resourceType=User", &a)
        .header("Accept", "text/csv, application/json;q=0.5")
        .send()
        .await
        .unwrap();
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = res.text().await.unwrap();
    let mut reader = csv_rows(&text);
    let header = reader.remove(0);
    assert_eq!(header[0], "seq");
    assert_eq!(header.len(), 14);
    assert_eq!(reader.len(), 5);
    let after: Value = serde_json::from_str(&reader[0][10]).unwrap();
    assert_eq!(after["userName"], "x0");
}

/// A minimal CSV reader for the tests (quoted fields, doubled quotes, newlines in quotes).
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => row.push(std::mem::take(&mut field)),
            ('\n', false) => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (c, _) => field.push(c),
        }
    }
    rows
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

async fn export_of_100k_events_streams_in_flat_memory(app: TestApp) {
    const N: i64 = 100_000;
    let a = audit_token(&app);
    // ~1 KB per event, inserted fast through the store in one transaction (hash chain valid)
    let payload = json!({"userName": "bulk", "note": "x".repeat(900)}).to_string();
    let ctx = store::WriteCtx::system("bulk-load");
    app.state
        .store
        .write(&ctx, |tx| {
            for i in 0..N {
                tx.append_event(
                    "replace",
                    "User",
                    "bulk",
                    i + 1,
                    None,
                    Some(payload.clone()),
                )?;
            }
            Ok(())
        })
        .unwrap();
    let total = app.event_count();
    assert!(total > N);

    let before = rss_bytes();
    let mut peak = before;
    let mut res = app
        .req(Method::GET, "/audit/v1/events", &a)
        .header("Accept", "application/x-ndjson")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (mut lines, mut bytes, mut last_line) = (0i64, 0u64, Vec::new());
    while let Some(chunk) = res.chunk().await.unwrap() {
        bytes += chunk.len() as u64;
        for &b in chunk.iter() {
            if b == b'\n' {
                lines += 1;
                if lines < total {
                    last_line.clear();
                }
            } else if lines == total - 1 {
                last_line.push(b);
            }
        }
        peak = peak.max(rss_bytes());
    }
    assert_eq!(lines, total, "every event streamed");
    let last: Value = serde_json::from_slice(&last_line).unwrap();
    assert_eq!(last["seq"], total);
    assert!(bytes > 100_000_000, "{bytes} bytes streamed");
    let growth = peak.saturating_sub(before);
    eprintln!(
        "export of {total} events ({} MB): RSS {} MB before, peak growth {} MB",
        bytes >> 20,
        before >> 20,
        growth >> 20
    );
    assert!(
        growth < 64 << 20,
        "memory grew by {} MB while streaming {} MB",
        growth >> 20,
        bytes >> 20
    );
}

/// The `roster` binary (built by `cargo test --workspace`; built here if missing).
fn roster_bin() -> PathBuf {
    scim_tests::roster_bin()
}

/// Runs `roster audit verify` on the test database: `(success, stdout)`.
fn cli_verify(app: &TestApp, expect_head: Option<&str>) -> (bool, String) {
    let mut cmd = Command::new(roster_bin());
    cmd.args(["audit", "verify", "--database-url", &app.db.url()]);
    if let Some(h) = expect_head {
        cmd.args(["--expect-head", h]);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    (out.status.success(), stdout)
}

fn swap_seqs(raw: &mut store::DbConn, a: i64, b: i64) {
    raw.batch_execute(&format!(
        "UPDATE events SET seq = -1 WHERE seq = {a}; UPDATE events SET seq = {a} WHERE seq = {b}; \
         UPDATE events SET seq = {b} WHERE seq = -1;"
    ))
    .unwrap();
}

async fn cli_verify_catches_edits_deletions_and_reordering(app: TestApp) {
    let t = app.rw_token();
    for i in 0..4 {
        user(&app, &t, &format!("v{i}")).await;
    }
    let n = app.event_count();
    let (ok, out) = cli_verify(&app, None);
    assert!(ok, "{out}");
    assert!(out.contains(&format!("checked {n} events: ok")), "{out}");

    let mut raw = app.db.raw();
    raw.batch_execute("UPDATE events SET actor = 'mallory' WHERE seq = 3")
        .unwrap();
    let (ok, out) = cli_verify(&app, None);
    assert!(!ok);
    assert!(
        out.contains("BROKEN at seq 3") && out.contains("hash"),
        "{out}"
    );
    assert!(out.contains("checked 2 events"), "{out}");
    raw.batch_execute("UPDATE events SET actor = 'test' WHERE seq = 3")
        .unwrap();
    assert!(cli_verify(&app, None).0);

    swap_seqs(&mut raw, 2, 3);
    let (ok, out) = cli_verify(&app, None);
    assert!(!ok);
    assert!(out.contains("BROKEN at seq 2"), "{out}");
    swap_seqs(&mut raw, 2, 3);
    assert!(cli_verify(&app, None).0);

    raw.batch_execute("DELETE FROM events WHERE seq = 4")
        .unwrap();
    let (ok, out) = cli_verify(&app, None);
    assert!(!ok);
    assert!(
        out.contains("BROKEN at seq 4") && out.contains("missing"),
        "{out}"
    );
}

async fn cli_verify_expect_head_catches_a_rewritten_chain(app: TestApp) {
    let t = app.rw_token();
    let a = audit_token(&app);
    for i in 0..3 {
        user(&app, &t, &format!("r{i}")).await;
    }
    let recorded = head(&app, &a).await;
    assert!(cli_verify(&app, Some(&recorded)).0);
    user(&app, &t, "later").await;
    let (ok, out) = cli_verify(&app, Some(&recorded));
    assert!(ok, "later events do not matter: {out}");
    assert!(out.contains("expected head"), "{out}");

    // rewrite history and recompute every hash after it, and the head: plain verify passes,
    // the recorded head does not
    let mut raw = app.db.raw();
    let mut all = store::events::after(&mut raw, 0, 1000).unwrap();
    let mut prev = store::events::GENESIS_HASH.to_string();
    for e in all.iter_mut() {
        if e.seq == 2 {
            e.actor = "mallory".into();
        }
        e.prev_hash = prev.clone();
        e.hash = store::events::compute_hash(e);
        prev = e.hash.clone();
        use store::schema::events::dsl as ev;
        diesel::update(ev::events.find(e.seq))
            .set((
                ev::actor.eq(&e.actor),
                ev::prev_hash.eq(&e.prev_hash),
                ev::hash.eq(&e.hash),
            ))
            .execute(&mut raw)
            .unwrap();
    }
    let last = all.last().unwrap();
    {
        use store::schema::event_head::dsl as h;
        diesel::update(h::event_head.find(1))
            .set(h::hash.eq(&last.hash))
            .execute(&mut raw)
            .unwrap();
    }
    let (ok, out) = cli_verify(&app, None);
    assert!(ok, "a consistent rewrite passes plain verification: {out}");
    let (ok, out) = cli_verify(&app, Some(&recorded));
    assert!(!ok);
    let seq = recorded.split(':').next().unwrap();
    assert!(
        out.contains(&format!("BROKEN at seq {seq}")) && out.contains("rewritten"),
        "{out}"
    );

    // a head beyond the end of the chain (events removed), and a malformed head
    let (ok, out) = cli_verify(&app, Some(&format!("999:{}", "a".repeat(64))));
    assert!(!ok);
    assert!(out.contains("not in the chain"), "{out}");
    let (ok, _) = cli_verify(&app, Some("12:nothex"));
    assert!(!ok);
}

/// Runs `roster audit prune --before CUT` on the test database: `(success, stdout + stderr)`.
fn cli_prune(app: &TestApp, before: &str) -> (bool, String) {
    let out = Command::new(roster_bin())
        .args([
            "audit",
            "prune",
            "--before",
            before,
            "--database-url",
            &app.db.url(),
        ])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap()
    );
    (out.status.success(), text)
}

/// A small history with something to prune: returns `(kept user, group, deleted user, cut,
/// head recorded before the cut)`. Before the cut: the kept user's version 1, a user created
/// and deleted, the group created with the kept user, a membership ended. The cut is the
/// start of the kept user's version 2; after it, one more change.
async fn history_to_prune(
    app: &TestApp,
    t: &str,
    a: &str,
) -> (String, String, String, String, String) {
    let kept = user(app, t, "keeper").await;
    let gone = user(app, t, "gone").await;
    let other = user(app, t, "other").await;
    let res = app
        .req(Method::DELETE, &format!("/scim/v2/Users/{gone}"), t)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let g = group(app, t, "pruned-group", &[&kept, &other]).await;
    put_group(app, t, &g, "pruned-group", &[&kept]).await; // other's period closes
    let early_head = head(app, a).await;
    let res = app
        .send(
            Method::PUT,
            &format!("/Users/{kept}"),
            t,
            &user_body("keeper2"),
        )
        .await;
    assert_eq!(res.status(), 200);
    let cut = valid_froms(app, "Users", &kept, a).await[1].clone();
    user(app, t, "after-cut").await;
    (kept, g, gone, cut, early_head)
}

async fn prune_keeps_the_chain_verifiable_and_history_after_the_cut(app: TestApp) {
    let t = app.rw_token();
    let a = audit_token(&app);
    let (kept, g, gone, cut, early_head) = history_to_prune(&app, &t, &a).await;
    let live_created =
        audit_json(&app, &format!("/Users/{kept}"), &a).await["meta"]["created"].clone();
    let before_events = all_items(&app, "/events?limit=1000", &a).await;
    let cut_seq = before_events
        .iter()
        .find(|e| e["time"].as_str().unwrap() >= cut.as_str())
        .unwrap()["seq"]
        .as_i64()
        .unwrap();
    let late_head = head(&app, &a).await;

    // refused: a cut in the future; nothing written
    let (ok, out) = cli_prune(&app, "2999-01-01");
    assert!(!ok && out.contains("future"), "{out}");
    let n = app.event_count();

    let (ok, out) = cli_prune(&app, &cut);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!(
            "events:                    {} (seq 1..{}",
            cut_seq - 1,
            cut_seq - 1
        )),
        "{out}"
    );
    // gone's v1 and the group's v1 (replaced by the PUT); keeper's v1 ends at the cut, not before
    assert!(out.contains("closed resource versions:  2"), "{out}");
    assert!(out.contains("closed membership periods: 1"), "{out}");
    assert_eq!(
        app.event_count(),
        n - (cut_seq - 1) + 1,
        "events removed, prune event added"
    );

    // the chain verifies from the anchor, and says it was pruned
    let (ok, out) = cli_verify(&app, None);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("the chain starts at seq {cut_seq}")),
        "{out}"
    );
    assert!(out.contains("was pruned by prune event"), "{out}");
    // a head recorded after the cut is still checkable; one before it fails clearly
    let (ok, out) = cli_verify(&app, Some(&late_head));
    assert!(ok, "{out}");
    let (ok, out) = cli_verify(&app, Some(&early_head));
    assert!(!ok);
    assert!(
        out.contains("was pruned") && out.contains("can no longer be checked"),
        "{out}"
    );

    // the prune event is in the log and says what was cut
    let prunes = all_items(&app, "/events?action=prune", &a).await;
    assert_eq!(prunes.len(), 1);
    let p = &prunes[0];
    assert_eq!(p["resourceType"], "Audit");
    assert_eq!(p["actor"], "cli");
    let rec = &p["after"];
    assert_eq!(rec["before"], cut.as_str());
    assert_eq!(rec["events"], cut_seq - 1);
    assert_eq!(rec["pruned"]["fromSeq"], 1);
    assert_eq!(rec["pruned"]["toSeq"], cut_seq - 1);
    assert_eq!(rec["anchor"]["seq"], cut_seq);
    let first = &all_items(&app, "/events?limit=1", &a).await[0];
    assert_eq!(first["seq"], cut_seq);
    assert_eq!(rec["cut"]["hash"], first["prevHash"]);
    assert_eq!(
        before_events[(cut_seq - 2) as usize]["hash"],
        rec["cut"]["hash"],
        "the hash at the cut is the last pruned event's"
    );

    // at and after the cut everything is still answered
    let u = audit_json(&app, &format!("/Users/{kept}?at={cut}"), &a).await;
    assert_eq!(u["userName"], "keeper2");
    assert_eq!(
        u["meta"]["created"], live_created,
        "created survives the prune of v1"
    );
    assert_eq!(u["groups"][0]["value"], g.as_str());
    let members = all_items(&app, &format!("/Groups/{g}/members?at={cut}"), &a).await;
    assert_eq!(members.len(), 1);
    assert_eq!(members[0]["value"], kept.as_str());
    assert_eq!(members[0]["display"], "keeper2");
    let grp = audit_json(&app, &format!("/Groups/{g}?at={cut}"), &a).await;
    assert_eq!(grp["displayName"], "pruned-group");
    // v1 ended exactly at the cut (not before it): kept, but the event that created it is gone
    let versions = all_items(&app, &format!("/Users/{kept}/versions"), &a).await;
    assert_eq!(versions.len(), 2);
    assert!(versions[0]["actor"].is_null(), "{}", versions[0]);
    assert_eq!(versions[0]["validTo"], cut.as_str());
    assert_eq!(versions[1]["version"], 2);
    assert_eq!(versions[1]["actor"], "test");
    let gv = all_items(&app, &format!("/Groups/{g}/versions"), &a).await;
    assert_eq!(gv.len(), 1, "the group's open version is kept");
    assert!(gv[0]["actor"].is_null(), "its event was pruned: {}", gv[0]);
    let now = audit_json(&app, &format!("/Users/{kept}/groups"), &a).await;
    assert_eq!(now["items"].as_array().unwrap().len(), 1);

    // before the cut: 410 saying the history was pruned
    for path in [
        format!("/Users/{kept}?at={}", just_before(&cut)),
        format!("/Groups/{g}?at={}", just_before(&cut)),
        format!("/Groups/{g}/members?at={}", just_before(&cut)),
        format!("/Groups/{g}/members?from=2020-01-01"),
        format!("/Users/{kept}/groups?from=2020-01-01"),
    ] {
        let body = assert_scim_error(audit(&app, &path, &a).await, 410, None).await;
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.contains("was pruned") && detail.contains(&cut),
            "{path}: {detail}"
        );
    }
    // a user that only lived before the cut
    let body = assert_scim_error(audit(&app, &format!("/Users/{gone}"), &a).await, 404, None).await;
    assert!(
        body["detail"].as_str().unwrap().contains("pruned"),
        "{body}"
    );

    // pruning again at the same cut does nothing; a later cut prunes on top, still verifiable
    let (ok, out) = cli_prune(&app, &cut);
    assert!(ok && out.contains("nothing to prune"), "{out}");
    let res = app
        .send(
            Method::PUT,
            &format!("/Users/{kept}"),
            &t,
            &user_body("keeper3"),
        )
        .await;
    assert_eq!(res.status(), 200);
    let cut2 = valid_froms(&app, "Users", &kept, &a)
        .await
        .last()
        .unwrap()
        .clone();
    let (ok, out) = cli_prune(&app, &cut2);
    assert!(ok && out.contains("recorded as prune event"), "{out}");
    let (ok, out) = cli_verify(&app, None);
    assert!(ok, "{out}");
    let prunes = all_items(&app, "/events?action=prune", &a).await;
    assert_eq!(
        prunes.len(),
        1,
        "the first prune event was itself before the second cut"
    );
    assert_eq!(prunes[0]["version"], 2, "prunes are numbered");
    assert_eq!(prunes[0]["after"]["previousPrune"], p["seq"]);
    let u = audit_json(&app, &format!("/Users/{kept}?at={cut2}"), &a).await;
    assert_eq!(u["userName"], "keeper3");
}

async fn tamper_after_a_prune_is_detected(app: TestApp) {
    let t = app.rw_token();
    let a = audit_token(&app);
    let (_, _, _, cut, _) = history_to_prune(&app, &t, &a).await;
    // a tampered chain is never pruned
    let mut raw = app.db.raw();
    let actor = store::events::by_seq(&mut raw, 2).unwrap().unwrap().actor;
    raw.batch_execute("UPDATE events SET actor = 'mallory' WHERE seq = 2")
        .unwrap();
    let (ok, out) = cli_prune(&app, &cut);
    assert!(!ok, "{out}");
    assert!(
        out.contains("BROKEN at seq 2") && out.contains("never pruned"),
        "{out}"
    );
    raw.batch_execute(&format!(
        "UPDATE events SET actor = '{actor}' WHERE seq = 2"
    ))
    .unwrap();
    let (ok, out) = cli_prune(&app, &cut);
    assert!(ok, "{out}");
    let anchor = app.state.store.read(store::events::anchor).unwrap();
    let s = anchor.seq;
    let p = anchor.prune_seq.unwrap();
    assert!(cli_verify(&app, None).0);

    let broken = |needle: &str| {
        let (ok, out) = cli_verify(&app, None);
        assert!(!ok, "{out}");
        assert!(out.contains(needle), "wanted '{needle}': {out}");
    };
    // an event after the cut edited
    let actor = store::events::by_seq(&mut raw, s + 1)
        .unwrap()
        .unwrap()
        .actor;
    raw.batch_execute(&format!(
        "UPDATE events SET actor = 'mallory' WHERE seq = {}",
        s + 1
    ))
    .unwrap();
    broken(&format!(
        "BROKEN at seq {}: content does not match its hash",
        s + 1
    ));
    raw.batch_execute(&format!(
        "UPDATE events SET actor = '{actor}' WHERE seq = {}",
        s + 1
    ))
    .unwrap();
    // the first kept event deleted
    let first = store::events::by_seq(&mut raw, s).unwrap().unwrap();
    raw.batch_execute(&format!("DELETE FROM events WHERE seq = {s}"))
        .unwrap();
    broken(&format!("BROKEN at seq {s}: event {s} is missing"));
    diesel::insert_into(store::schema::events::table)
        .values(&first)
        .execute(&mut raw)
        .unwrap();
    assert!(cli_verify(&app, None).0);
    // the prune event's record edited (to hide what was cut)
    raw.batch_execute(&format!(
        "UPDATE events SET after = replace(after, '\"events\":', '\"events\":1') WHERE seq = {p}"
    ))
    .unwrap();
    broken(&format!(
        "BROKEN at seq {p}: content does not match its hash"
    ));
    raw.batch_execute(&format!(
        "UPDATE events SET after = replace(after, '\"events\":1', '\"events\":') WHERE seq = {p}"
    ))
    .unwrap();
    assert!(cli_verify(&app, None).0);
    // the anchor's hash changed
    raw.batch_execute(&format!(
        "UPDATE chain_anchor SET prev_hash = '{}'",
        "f".repeat(64)
    ))
    .unwrap();
    broken(&format!(
        "BROKEN at seq {s}: prev_hash does not match the chain anchor"
    ));
    raw.batch_execute(&format!(
        "UPDATE chain_anchor SET prev_hash = '{}'",
        anchor.prev_hash
    ))
    .unwrap();
    // the anchor moved forward to hide one more deleted event: the prune event disagrees
    let next = store::events::by_seq(&mut raw, s).unwrap().unwrap();
    raw.batch_execute(&format!(
        "DELETE FROM events WHERE seq = {s}; UPDATE chain_anchor SET seq = {}, prev_hash = '{}'",
        s + 1,
        next.hash
    ))
    .unwrap();
    broken(&format!("does not match what prune event {p} recorded"));
    diesel::insert_into(store::schema::events::table)
        .values(&next)
        .execute(&mut raw)
        .unwrap();
    raw.batch_execute(&format!(
        "UPDATE chain_anchor SET seq = {s}, prev_hash = '{}'",
        anchor.prev_hash
    ))
    .unwrap();
    assert!(cli_verify(&app, None).0);
    // the anchor reset to the genesis: the pruned events are missing
    raw.batch_execute(&format!(
        "UPDATE chain_anchor SET seq = 1, prev_hash = '{}', pruned_before = NULL, prune_seq = NULL",
        store::events::GENESIS_HASH
    ))
    .unwrap();
    broken("BROKEN at seq 1: event 1 is missing");
    // or the anchor row removed altogether
    raw.batch_execute("DELETE FROM chain_anchor").unwrap();
    broken("BROKEN at seq 1: event 1 is missing");
}

/// The SQL block of docs/audit.md that restricts the application role `roster`.
fn append_only_snippet() -> String {
    let guide =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/audit.md")).unwrap();
    let start = guide
        .find("```sql\nGRANT USAGE ON SCHEMA public TO roster;")
        .unwrap()
        + 7;
    let len = guide[start..].find("```").unwrap();
    guide[start..start + len].to_string()
}

/// A login role for one test, dropped (with its privileges) at the end.
struct TestRole {
    name: String,
    db_url: String,
    admin_url: String,
}

impl Drop for TestRole {
    fn drop(&mut self) {
        if let Ok(mut c) = diesel::PgConnection::establish(&self.db_url) {
            let _ = c.batch_execute(&format!("DROP OWNED BY {}", self.name));
        }
        if let Ok(mut c) = diesel::PgConnection::establish(&self.admin_url) {
            let _ = c.batch_execute(&format!("DROP ROLE IF EXISTS {}", self.name));
        }
    }
}

/// The append-only grants of docs/audit.md, applied as written to the role Roster connects as
/// (PostgreSQL): every write path still works (history rows are only inserted, spans only
/// closed) and the chain verifies, while the role can no longer edit, delete or truncate the
/// log, nor rewrite a version or a membership period.
#[tokio::test]
async fn postgres_append_only_grants_of_the_guide_allow_every_write() {
    let Some(db) = scim_tests::TestDb::create(scim_tests::Backend::Postgres) else {
        eprintln!(
            "skipped: set {} to run PostgreSQL cases",
            scim_tests::POSTGRES_ENV
        );
        return;
    };
    let opts = store::PoolOptions::default();
    drop(store::Store::open(&db.url(), &opts).unwrap()); // migrated by the owner
    let admin_url = std::env::var(scim_tests::POSTGRES_ENV).unwrap();
    let role = TestRole {
        name: format!("roster_app_{}", uuid::Uuid::new_v4().simple()),
        db_url: db.url(),
        admin_url: admin_url.clone(),
    };
    let grants = append_only_snippet()
        .replace(" TO roster;", &format!(" TO {};", role.name))
        .replace(" FROM roster;", &format!(" FROM {};", role.name));
    assert!(grants.contains("REVOKE UPDATE, DELETE, TRUNCATE ON events"));
    let mut owner = db.raw();
    owner
        .batch_execute(&format!("CREATE ROLE {} LOGIN; {grants}", role.name))
        .unwrap();
    let db_url = db.url();
    let (prefix, rest) = db_url.split_once("://").unwrap();
    let host_db = rest.split_once('@').map_or(rest, |(_, h)| h).to_string();
    let app_url = format!("{prefix}://{}@{host_db}", role.name);

    let app = store::Store::open(&app_url, &opts).unwrap();
    let ctx = store::WriteCtx::system("restricted");
    let doc = |name: &str| json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name});
    let (a, b) = app
        .write(&ctx, |tx| {
            let a = store::users::create(tx, doc("ada"))?.id;
            let b = store::users::create(tx, doc("bob"))?.id;
            Ok((a, b))
        })
        .unwrap();
    let g = app
        .write(&ctx, |tx| {
            store::users::replace(tx, &a, doc("ada2"), None)?;
            let members = json!([{"value": a}, {"value": b}]);
            let g = json!({"schemas": [GROUP], "displayName": "g", "members": members});
            Ok(store::groups::create(tx, g)?.0.id)
        })
        .unwrap();
    app.write(&ctx, |tx| {
        let g2 = json!({"schemas": [GROUP], "displayName": "g2", "members": [{"value": a}]});
        store::groups::replace(tx, &g, g2, None)?;
        store::users::delete(tx, &a, None)?;
        store::groups::delete(tx, &g, None)
    })
    .unwrap();
    let events = app.read(store::events::count).unwrap();
    assert_eq!(
        events, 8,
        "2 creates, a replace, a group, its replace, a delete (2), a group delete"
    );
    assert_eq!(
        app.read(store::events::verify).unwrap(),
        store::events::Verdict::Ok { checked: 8 }
    );

    let mut restricted =
        store::DbConn::Postgres(diesel::PgConnection::establish(&app_url).unwrap());
    for sql in [
        "UPDATE events SET actor = 'mallory' WHERE seq = 1",
        "DELETE FROM events WHERE seq = 1",
        "TRUNCATE events",
        "UPDATE resource_versions SET doc = '{}'",
        "DELETE FROM resource_versions",
        "UPDATE membership_periods SET valid_from = valid_to",
        "DELETE FROM membership_periods",
    ] {
        let err = restricted.batch_execute(sql).unwrap_err().to_string();
        assert!(err.contains("permission denied"), "{sql}: {err}");
    }
    drop(app);
    drop(restricted);
}

#[tokio::test]
async fn cli_verify_refuses_a_missing_database() {
    let path = std::env::temp_dir().join(format!("roster-none-{}.db", uuid::Uuid::new_v4()));
    let out = Command::new(roster_bin())
        .args([
            "audit",
            "verify",
            "--database-url",
            &format!("sqlite://{}", path.display()),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(!path.exists(), "verify never creates a database");
}

backend_tests!(
    scopes_are_enforced_and_nothing_writes,
    events_filter_page_and_reject_bad_parameters,
    head_is_the_last_event,
    user_at_an_instant,
    versions_name_the_actor,
    group_members_at_and_over_a_window,
    names_at_an_instant_are_those_of_that_instant,
    nested_groups_give_indirect_memberships,
    orphans_report_reactivations_and_passed_end_dates,
    exports_stream_csv_and_ndjson,
    export_of_100k_events_streams_in_flat_memory,
    cli_verify_catches_edits_deletions_and_reordering,
    cli_verify_expect_head_catches_a_rewritten_chain,
    prune_keeps_the_chain_verifiable_and_history_after_the_cut,
    tamper_after_a_prune_is_detected
);
