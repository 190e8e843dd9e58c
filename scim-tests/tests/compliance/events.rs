//! The write path: exactly one event per resource changed, none on failure, a verifiable
//! hash chain, and history rows.

use diesel::connection::SimpleConnection;
use reqwest::Method;
use scim_tests::{backend_tests, user_body, TestApp};
use serde_json::{json, Value};
use store::events::Verdict;

fn events(app: &TestApp) -> Vec<store::events::Event> {
    app.state
        .store
        .read(|c| store::events::after(c, 0, 10_000))
        .unwrap()
}

fn verify(app: &TestApp) -> Verdict {
    app.state.store.read(store::events::verify).unwrap()
}

async fn one_event_per_resource_changed(app: TestApp) {
    let t = app.rw_token();
    let base = app.event_count();
    let u = app.create_user(&t, "eve").await;
    let uid = u["id"].as_str().unwrap();
    assert_eq!(app.event_count(), base + 1);
    let g: Value = app
        .send(
            Method::POST,
            "/Groups",
            &t,
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "G",
                    "members": [{"value": uid}]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let gid = g["id"].as_str().unwrap();
    assert_eq!(app.event_count(), base + 2);
    app.send(
        Method::PUT,
        &format!("/Users/{uid}"),
        &t,
        &user_body("eve2"),
    )
    .await;
    assert_eq!(app.event_count(), base + 3);
    // deleting a user in one group changes two resources: two events
    let res = app
        .req(Method::DELETE, &format!("/scim/v2/Users/{uid}"), &t)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let all = events(&app);
    assert_eq!(all.len() as i64, base + 5);
    let tail: Vec<(&str, &str, &str)> = all[base as usize..]
        .iter()
        .map(|e| {
            (
                e.action.as_str(),
                e.resource_type.as_str(),
                e.resource_id.as_str(),
            )
        })
        .collect();
    assert_eq!(
        tail,
        [
            ("create", "User", uid),
            ("create", "Group", gid),
            ("replace", "User", uid),
            ("members", "Group", gid),
            ("delete", "User", uid),
        ]
    );
    // before/after recorded; seq gap-free; chain intact
    let replace = &all[base as usize + 2];
    assert!(replace.before.as_deref().unwrap().contains("\"eve\""));
    assert!(replace.after.as_deref().unwrap().contains("\"eve2\""));
    assert_eq!(replace.version, 2);
    for (i, e) in all.iter().enumerate() {
        assert_eq!(e.seq, i as i64 + 1);
    }
    assert_eq!(
        verify(&app),
        Verdict::Ok {
            checked: all.len() as u64
        }
    );

    // failed writes leave no event
    let before = app.event_count();
    app.send(Method::POST, "/Users", &t, &json!({"schemas": []}))
        .await;
    app.send(Method::PUT, "/Users/nope", &t, &user_body("x"))
        .await;
    app.req(Method::DELETE, "/scim/v2/Groups/nope", &t)
        .send()
        .await
        .unwrap();
    assert_eq!(app.event_count(), before);
}

async fn history_tracks_versions_and_memberships(app: TestApp) {
    let t = app.rw_token();
    let u = app.create_user(&t, "hank").await;
    let uid = u["id"].as_str().unwrap().to_string();
    let g: Value = app
        .send(
            Method::POST,
            "/Groups",
            &t,
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "H",
                    "members": [{"value": uid}]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let gid = g["id"].as_str().unwrap().to_string();
    app.send(
        Method::PUT,
        &format!("/Users/{uid}"),
        &t,
        &user_body("hank2"),
    )
    .await;
    let (versions, periods) = app
        .state
        .store
        .read(|c| {
            Ok((
                store::history::versions(c, store::resource::ResourceType::User, &uid)?,
                store::history::group_periods(c, &gid)?,
            ))
        })
        .unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0].valid_to, Some(versions[1].valid_from));
    assert!(versions[1].valid_to.is_none());
    assert!(versions[0].doc.contains("\"hank\""));
    assert_eq!(periods.len(), 1);
    assert!(periods[0].valid_to.is_none());
    let mid = periods[0].valid_from;

    app.send(
        Method::PUT,
        &format!("/Groups/{gid}"),
        &t,
        &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "H"}),
    )
    .await;
    let (periods, at_mid, now) = app
        .state
        .store
        .read(|c| {
            Ok((
                store::history::group_periods(c, &gid)?,
                store::history::members_at(c, &gid, mid)?,
                store::history::members_at(c, &gid, store::write::now())?,
            ))
        })
        .unwrap();
    assert!(periods[0].valid_to.is_some(), "membership period closed");
    assert_eq!(at_mid, [uid]);
    assert!(now.is_empty());
}

async fn tampering_breaks_the_chain(app: TestApp) {
    let t = app.rw_token();
    for i in 0..4 {
        app.create_user(&t, &format!("t{i}")).await;
    }
    let n = app.event_count();
    assert_eq!(verify(&app), Verdict::Ok { checked: n as u64 });
    let mut raw = app.db.raw();
    // edit a row
    raw.batch_execute("UPDATE events SET actor = 'mallory' WHERE seq = 3")
        .unwrap();
    match verify(&app) {
        Verdict::Broken { seq, .. } => assert_eq!(seq, 3),
        v => panic!("edit not detected: {v:?}"),
    }
    raw.batch_execute("UPDATE events SET actor = 'test' WHERE seq = 3")
        .unwrap();
    assert!(matches!(verify(&app), Verdict::Ok { .. }));
    // reorder two rows (swap their seqs)
    raw.batch_execute(
        "UPDATE events SET seq = -1 WHERE seq = 2; UPDATE events SET seq = 2 WHERE seq = 3; UPDATE events SET seq = 3 WHERE seq = -1;",
    )
    .unwrap();
    match verify(&app) {
        Verdict::Broken { seq, .. } => assert_eq!(seq, 2),
        v => panic!("reorder not detected: {v:?}"),
    }
    raw.batch_execute(
        "UPDATE events SET seq = -1 WHERE seq = 2; UPDATE events SET seq = 2 WHERE seq = 3; UPDATE events SET seq = 3 WHERE seq = -1;",
    )
    .unwrap();
    assert!(matches!(verify(&app), Verdict::Ok { .. }));
    // delete a row in the middle, then the last row
    raw.batch_execute("DELETE FROM events WHERE seq = 4")
        .unwrap();
    match verify(&app) {
        Verdict::Broken { seq, reason, .. } => {
            assert_eq!(seq, 4);
            assert!(reason.contains("missing"));
        }
        v => panic!("delete not detected: {v:?}"),
    }
    let mut raw2 = app.db.raw();
    raw2.batch_execute(&format!("DELETE FROM events WHERE seq >= 4 AND seq <= {n}"))
        .unwrap();
    match verify(&app) {
        Verdict::Broken { reason, .. } => assert!(reason.contains("event_head")),
        v => panic!("truncation not detected: {v:?}"),
    }
}

async fn concurrent_writers_keep_the_chain_gap_free(app: TestApp) {
    let t = app.rw_token();
    let base = app.event_count();
    // 24 distinct creates and 8 racing creates of one userName, all at once
    let mut tasks = Vec::new();
    for i in 0..32 {
        let client = app.client.clone();
        let url = format!("{}/scim/v2/Users", app.addr);
        let t = t.clone();
        let name = if i < 24 {
            format!("c{i}")
        } else {
            "same@example.com".to_string()
        };
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(t)
                .header("Content-Type", "application/scim+json")
                .body(user_body(&name).to_string())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        25,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        7,
        "{statuses:?}"
    );
    let all = events(&app);
    assert_eq!(all.len() as i64, base + 25);
    for (i, e) in all.iter().enumerate() {
        assert_eq!(e.seq, i as i64 + 1, "gap-free, commit-ordered");
    }
    assert_eq!(
        verify(&app),
        Verdict::Ok {
            checked: all.len() as u64
        }
    );
}

backend_tests!(
    one_event_per_resource_changed,
    history_tracks_versions_and_memberships,
    tampering_breaks_the_chain,
    concurrent_writers_keep_the_chain_gap_free
);
