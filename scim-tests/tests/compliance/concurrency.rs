//! Concurrent writers: uniqueness holds, no update is lost, SQLite's single writer never shows
//! through as "database is locked".

use std::sync::Arc;

use reqwest::Method;
use scim_tests::{backend_tests, group_body, TestApp};
use serde_json::{json, Value};
use tokio::task::JoinSet;

async fn concurrent_creates_of_one_user_name_give_one_201(app: TestApp) {
    let app = Arc::new(app);
    let t = app.rw_token();
    let spellings = [
        "concurrent.user",
        "CONCURRENT.USER",
        "Concurrent.User",
        "cOnCuRrEnT.uSeR",
        "ｃｏｎｃｕｒｒｅｎｔ.ｕｓｅｒ",
        "ＣＯＮＣＵＲＲＥＮＴ.ＵＳＥＲ",
    ];
    let mut set = JoinSet::new();
    for i in 0..24 {
        let (app, t) = (app.clone(), t.clone());
        let name = spellings[i % spellings.len()];
        set.spawn(async move {
            let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name});
            let res = app.send(Method::POST, "/Users", &t, &body).await;
            let status = res.status().as_u16();
            let body: Value = res.json().await.unwrap();
            (status, body)
        });
    }
    let mut created = 0;
    let mut conflicts = 0;
    while let Some(r) = set.join_next().await {
        let (status, body) = r.unwrap();
        match status {
            201 => created += 1,
            409 => {
                assert_eq!(body["scimType"], "uniqueness", "{body}");
                conflicts += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!((created, conflicts), (1, 23));
    let list: Value = app.get("/Users", &t).await.json().await.unwrap();
    assert_eq!(list["totalResults"], 1);
}

async fn concurrent_member_patches_lose_nothing(app: TestApp) {
    let app = Arc::new(app);
    let t = app.rw_token();
    let g: Value = app
        .send(Method::POST, "/Groups", &t, &group_body("crowd", &[]))
        .await
        .json()
        .await
        .unwrap();
    let gid = g["id"].as_str().unwrap().to_string();
    let mut ids = Vec::new();
    for i in 0..50 {
        ids.push(
            app.create_user(&t, &format!("member{i}")).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let mut set = JoinSet::new();
    for id in ids.clone() {
        let (app, t, gid) = (app.clone(), t.clone(), gid.clone());
        set.spawn(async move {
            let patch = json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "add", "path": "members", "value": [{"value": id}]}]
            });
            app.send(Method::PATCH, &format!("/Groups/{gid}"), &t, &patch)
                .await
                .status()
                .as_u16()
        });
    }
    while let Some(r) = set.join_next().await {
        assert_eq!(r.unwrap(), 200);
    }
    let g: Value = app
        .get(&format!("/Groups/{gid}"), &t)
        .await
        .json()
        .await
        .unwrap();
    let mut members: Vec<String> = g["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap().to_string())
        .collect();
    members.sort();
    ids.sort();
    assert_eq!(members, ids, "every member added concurrently is there");
    assert_eq!(g["meta"]["version"], "W/\"51\"", "one version per PATCH");
}

async fn concurrent_writers_never_see_database_is_locked(app: TestApp) {
    let app = Arc::new(app);
    let t = app.rw_token();
    let mut set = JoinSet::new();
    for w in 0..16 {
        let (app, t) = (app.clone(), t.clone());
        set.spawn(async move {
            let mut out = Vec::new();
            for i in 0..8 {
                let res = create_raw(&app, &t, &format!("w{w}-{i}")).await;
                out.push(res);
            }
            out
        });
    }
    let mut n = 0;
    while let Some(r) = set.join_next().await {
        for (status, body) in r.unwrap() {
            n += 1;
            assert!(!body.contains("locked") && !body.contains("busy"), "{body}");
            assert_eq!(status, 201, "{body}");
        }
    }
    assert_eq!(n, 128);
    let list: Value = app.get("/Users?count=1", &t).await.json().await.unwrap();
    assert_eq!(list["totalResults"], 128);
}

/// POST /Users without asserting: (status, body text).
async fn create_raw(app: &TestApp, t: &str, name: &str) -> (u16, String) {
    let res = app
        .send(Method::POST, "/Users", t, &scim_tests::user_body(name))
        .await;
    (res.status().as_u16(), res.text().await.unwrap())
}

backend_tests!(
    concurrent_creates_of_one_user_name_give_one_201,
    concurrent_member_patches_lose_nothing,
    concurrent_writers_never_see_database_is_locked
);
