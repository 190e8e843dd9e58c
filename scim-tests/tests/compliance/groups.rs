//! `/Groups`: members as rows, User.groups, membership removal on delete.

use reqwest::Method;
use scim_tests::{assert_scim_error, backend_tests, group_body, TestApp};
use serde_json::{json, Value};

fn member_ids(g: &Value) -> Vec<String> {
    let mut v: Vec<String> = g["members"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| m["value"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

async fn groups_crud_and_memberships(app: TestApp) {
    let t = app.rw_token();
    let a = app.create_user(&t, "ann").await;
    let b = app.create_user(&t, "ben").await;
    let (a_id, b_id) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());

    let res = app
        .send(Method::POST, "/Groups", &t, &group_body("Finance", &[a_id]))
        .await;
    assert_eq!(res.status(), 201);
    assert!(res.headers().contains_key("location"));
    let g: Value = res.json().await.unwrap();
    let gid = g["id"].as_str().unwrap().to_string();
    assert_eq!(member_ids(&g), [a_id]);
    assert_eq!(g["members"][0]["type"], "User");
    assert_eq!(g["meta"]["resourceType"], "Group");

    // User.groups is computed, read-only
    let u: Value = app
        .get(&format!("/Users/{a_id}"), &t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(u["groups"][0]["value"], gid.as_str());
    assert_eq!(u["groups"][0]["display"], "Finance");
    let u: Value = app
        .get(&format!("/Users/{a_id}?excludedAttributes=groups"), &t)
        .await
        .json()
        .await
        .unwrap();
    assert!(u.get("groups").is_none());

    // nested group member
    let parent: Value = app
        .send(
            Method::POST,
            "/Groups",
            &t,
            &group_body("All", &[&gid, b_id]),
        )
        .await
        .json()
        .await
        .unwrap();
    let pid = parent["id"].as_str().unwrap().to_string();
    let types: Vec<&str> = parent["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["type"].as_str().unwrap())
        .collect();
    assert!(types.contains(&"Group") && types.contains(&"User"));

    // PUT replaces the member list
    let res = app
        .send(
            Method::PUT,
            &format!("/Groups/{gid}"),
            &t,
            &group_body("Finance", &[b_id]),
        )
        .await;
    assert_eq!(res.status(), 200);
    let g: Value = res.json().await.unwrap();
    assert_eq!(member_ids(&g), [b_id]);
    assert_eq!(g["meta"]["version"], "W/\"2\"");

    // excludedAttributes=members (Entra/Okta)
    let g: Value = app
        .get(&format!("/Groups/{gid}?excludedAttributes=members"), &t)
        .await
        .json()
        .await
        .unwrap();
    assert!(g.get("members").is_none());
    assert_eq!(g["displayName"], "Finance");

    // filter by displayName and by member
    let l: Value = app
        .get("/Groups?filter=displayName%20eq%20%22finance%22", &t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(l["totalResults"], 1);
    let f = format!("members[value eq \"{b_id}\"]");
    let l: Value = app
        .get(
            &format!(
                "/Groups?filter={}&excludedAttributes=members",
                f.replace(' ', "%20")
                    .replace('"', "%22")
                    .replace('[', "%5B")
                    .replace(']', "%5D")
            ),
            &t,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(l["totalResults"], 2);
    assert!(l["Resources"][0].get("members").is_none());

    // deleting a user removes its memberships and bumps the group's version
    let res = app
        .req(Method::DELETE, &format!("/scim/v2/Users/{b_id}"), &t)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let g: Value = app
        .get(&format!("/Groups/{gid}"), &t)
        .await
        .json()
        .await
        .unwrap();
    assert!(member_ids(&g).is_empty());
    assert_eq!(g["meta"]["version"], "W/\"3\"");
    let p: Value = app
        .get(&format!("/Groups/{pid}"), &t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(member_ids(&p), std::slice::from_ref(&gid));

    // deleting a group removes it from its parents
    let res = app
        .req(Method::DELETE, &format!("/scim/v2/Groups/{gid}"), &t)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_scim_error(app.get(&format!("/Groups/{gid}"), &t).await, 404, None).await;
    let p: Value = app
        .get(&format!("/Groups/{pid}"), &t)
        .await
        .json()
        .await
        .unwrap();
    assert!(member_ids(&p).is_empty());
}

async fn bad_members_are_400(app: TestApp) {
    let t = app.rw_token();
    let before = app.event_count();
    let res = app
        .send(
            Method::POST,
            "/Groups",
            &t,
            &group_body("X", &["no-such-id"]),
        )
        .await;
    let err = assert_scim_error(res, 400, Some("invalidValue")).await;
    assert!(err["detail"].as_str().unwrap().contains("no-such-id"));
    let res = app
        .send(
            Method::POST,
            "/Groups",
            &t,
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"]}),
        )
        .await;
    assert_scim_error(res, 400, Some("invalidValue")).await;
    let u = app.create_user(&t, "u").await;
    let res = app
        .send(
            Method::POST,
            "/Groups",
            &t,
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "G",
                    "members": [{"value": u["id"], "type": "Group"}]}),
        )
        .await;
    assert_scim_error(res, 400, Some("invalidValue")).await;
    assert_eq!(
        app.event_count(),
        before + 1,
        "only the user create left an event"
    );
    let l: Value = app.get("/Groups", &t).await.json().await.unwrap();
    assert_eq!(l["totalResults"], 0);
}

backend_tests!(groups_crud_and_memberships, bad_members_are_400);
