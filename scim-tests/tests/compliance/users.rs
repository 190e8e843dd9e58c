//! `/Users` CRUD, validation, uniqueness, ETags.

use reqwest::Method;
use scim_tests::{assert_scim_error, backend_tests, user_body, TestApp};
use serde_json::{json, Value};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

async fn create_get_replace_delete(app: TestApp) {
    let t = app.rw_token();
    let mut body = user_body("bjensen");
    body["schemas"] = json!(["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE]);
    body["externalId"] = json!("hr-1001");
    body[ENTERPRISE] = json!({"employeeNumber": "1001", "department": "Finance"});
    let res = app.send(Method::POST, "/Users", &t, &body).await;
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str().unwrap().to_string();
    let etag = res.headers()["etag"].to_str().unwrap().to_string();
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/scim+json"));
    let created: Value = res.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(location, format!("{}/scim/v2/Users/{id}", app.addr));
    assert_eq!(created["meta"]["location"], location);
    assert_eq!(created["meta"]["resourceType"], "User");
    assert_eq!(created["meta"]["version"], etag);
    assert_eq!(etag, "W/\"1\"");
    assert_eq!(created["userName"], "bjensen");
    assert_eq!(created["externalId"], "hr-1001");
    assert_eq!(created[ENTERPRISE]["department"], "Finance");
    assert!(created["meta"]["created"].as_str().unwrap().ends_with('Z'));

    let res = app.get(&format!("/Users/{id}"), &t).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["etag"], etag.as_str());
    let got: Value = res.json().await.unwrap();
    assert_eq!(got, created);

    // If-None-Match with the current version: 304
    let res = app
        .req(Method::GET, &format!("/scim/v2/Users/{id}"), &t)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304);

    // PUT replaces; id in the body is ignored (readOnly)
    let mut put = user_body("bjensen");
    put["id"] = json!("client-chosen");
    put["displayName"] = json!("Barbara Jensen");
    put["active"] = json!(false);
    let res = app
        .req(Method::PUT, &format!("/scim/v2/Users/{id}"), &t)
        .header("Content-Type", "application/scim+json")
        .header("If-Match", &etag)
        .body(put.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["etag"], "W/\"2\"");
    let replaced: Value = res.json().await.unwrap();
    assert_eq!(replaced["id"], id.as_str());
    assert_eq!(replaced["displayName"], "Barbara Jensen");
    assert_eq!(replaced["active"], false);
    assert!(
        replaced.get("externalId").is_none(),
        "PUT replaced the whole resource"
    );
    assert_eq!(replaced["meta"]["created"], created["meta"]["created"]);

    // stale If-Match: 412, nothing changes
    let before = app.event_count();
    let res = app
        .req(Method::PUT, &format!("/scim/v2/Users/{id}"), &t)
        .header("Content-Type", "application/scim+json")
        .header("If-Match", &etag)
        .body(user_body("other").to_string())
        .send()
        .await
        .unwrap();
    assert_scim_error(res, 412, None).await;
    assert_eq!(app.event_count(), before);
    let got: Value = app
        .get(&format!("/Users/{id}"), &t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["userName"], "bjensen");

    // DELETE: 204, then 404
    let res = app
        .req(Method::DELETE, &format!("/scim/v2/Users/{id}"), &t)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = app.get(&format!("/Users/{id}"), &t).await;
    assert_scim_error(res, 404, None).await;
    let res = app
        .req(Method::DELETE, &format!("/scim/v2/Users/{id}"), &t)
        .send()
        .await
        .unwrap();
    assert_scim_error(res, 404, None).await;
    let res = app
        .send(
            Method::PUT,
            &format!("/Users/{id}"),
            &t,
            &user_body("bjensen"),
        )
        .await;
    assert_scim_error(res, 404, None).await;
}

async fn user_name_is_unique_case_insensitively(app: TestApp) {
    let t = app.rw_token();
    app.create_user(&t, "Alice@Example.com").await;
    let before = app.event_count();
    let res = app
        .send(Method::POST, "/Users", &t, &user_body("alice@example.COM"))
        .await;
    let err = assert_scim_error(res, 409, Some("uniqueness")).await;
    assert!(err["detail"].as_str().unwrap().contains("userName"));
    // Unicode case folding too
    app.create_user(&t, "ÉLODIE").await;
    let res = app
        .send(Method::POST, "/Users", &t, &user_body("élodie"))
        .await;
    assert_scim_error(res, 409, Some("uniqueness")).await;
    assert_eq!(app.event_count(), before + 1);
    // PUT onto a taken name
    let bob = app.create_user(&t, "bob").await;
    let res = app
        .send(
            Method::PUT,
            &format!("/Users/{}", bob["id"].as_str().unwrap()),
            &t,
            &user_body("ALICE@example.com"),
        )
        .await;
    assert_scim_error(res, 409, Some("uniqueness")).await;
}

async fn bad_input_is_400_and_changes_nothing(app: TestApp) {
    let t = app.rw_token();
    let before = app.event_count();
    let post = |body: String, ct: &'static str| {
        app.req(Method::POST, "/scim/v2/Users", &t)
            .header("Content-Type", ct)
            .body(body)
            .send()
    };
    // malformed JSON
    let res = post("{\"userName\": ".into(), "application/scim+json")
        .await
        .unwrap();
    let err = assert_scim_error(res, 400, Some("invalidSyntax")).await;
    assert!(err["detail"].as_str().unwrap().contains("line 1"));
    // empty body
    let res = app
        .req(Method::POST, "/scim/v2/Users", &t)
        .send()
        .await
        .unwrap();
    assert_scim_error(res, 400, Some("invalidSyntax")).await;
    // not an object
    let res = post("[1,2]".into(), "application/scim+json").await.unwrap();
    assert_scim_error(res, 400, Some("invalidSyntax")).await;
    // wrong content type
    let res = post(user_body("x").to_string(), "text/plain")
        .await
        .unwrap();
    let err = assert_scim_error(res, 400, Some("invalidSyntax")).await;
    assert!(err["detail"].as_str().unwrap().contains("Content-Type"));
    // application/json is accepted too
    let res = post(user_body("json-user").to_string(), "application/json")
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let before = before + 1;
    // missing userName
    let mut b = user_body("x");
    b.as_object_mut().unwrap().remove("userName");
    let res = app.send(Method::POST, "/Users", &t, &b).await;
    let err = assert_scim_error(res, 400, Some("invalidValue")).await;
    assert!(err["detail"].as_str().unwrap().contains("userName"));
    // wrong type
    let mut b = user_body("x");
    b["active"] = json!("maybe");
    let res = app.send(Method::POST, "/Users", &t, &b).await;
    assert_eq!(res.status(), 400);
    let mut b = user_body("x");
    b["name"] = json!("not an object");
    let res = app.send(Method::POST, "/Users", &t, &b).await;
    assert_eq!(res.status(), 400);
    // unknown attribute
    let mut b = user_body("x");
    b["shoeSize"] = json!(42);
    let res = app.send(Method::POST, "/Users", &t, &b).await;
    let err = assert_scim_error(res, 400, Some("invalidSyntax")).await;
    assert!(err["detail"].as_str().unwrap().contains("shoeSize"));
    // missing core schema
    let mut b = user_body("x");
    b["schemas"] = json!(["urn:example:nope"]);
    let res = app.send(Method::POST, "/Users", &t, &b).await;
    assert_eq!(res.status(), 400);
    // oversized body: 413
    let mut b = user_body("x");
    b["displayName"] = json!("a".repeat(2 * 1024 * 1024));
    let res = app.send(Method::POST, "/Users", &t, &b).await;
    assert_scim_error(res, 413, None).await;
    assert_eq!(app.event_count(), before, "no failed request left an event");
    let list: Value = app.get("/Users", &t).await.json().await.unwrap();
    assert_eq!(list["totalResults"], 1);
}

async fn entra_style_values_are_accepted(app: TestApp) {
    let t = app.rw_token();
    let mut b = user_body("entra@example.com");
    b["active"] = json!("False");
    b["USERNAME"] = b["userName"].take();
    b.as_object_mut().unwrap().remove("userName");
    let res = app.send(Method::POST, "/Users", &t, &b).await;
    assert_eq!(res.status(), 201);
    let u: Value = res.json().await.unwrap();
    assert_eq!(u["active"], false);
    assert_eq!(u["userName"], "entra@example.com");
}

async fn paging_is_one_based_and_bounded(app: TestApp) {
    let t = app.rw_token();
    for i in 0..5 {
        app.create_user(&t, &format!("user{i}")).await;
    }
    let page: Value = app
        .get("/Users?startIndex=2&count=2", &t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        page["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:ListResponse"
    );
    assert_eq!(page["totalResults"], 5);
    assert_eq!(page["startIndex"], 2);
    assert_eq!(page["itemsPerPage"], 2);
    let names: Vec<&str> = page["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["user1", "user2"]);
    let page: Value = app.get("/Users?count=0", &t).await.json().await.unwrap();
    assert_eq!(page["totalResults"], 5);
    assert_eq!(page["itemsPerPage"], 0);
    let page: Value = app
        .get("/Users?startIndex=0&count=100000", &t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["startIndex"], 1);
    assert_eq!(page["itemsPerPage"], 5);
    let res = app.get("/Users?count=abc", &t).await;
    assert_scim_error(res, 400, Some("invalidValue")).await;
}

async fn passwords_are_hashed_and_never_returned(app: TestApp) {
    let t = app.rw_token();
    let mut b = user_body("pw");
    b["password"] = json!("correct horse battery staple");
    let res = app.send(Method::POST, "/Users", &t, &b).await;
    assert_eq!(res.status(), 201);
    let u: Value = res.json().await.unwrap();
    assert!(u.get("password").is_none());
    let id = u["id"].as_str().unwrap().to_string();
    let got: Value = app
        .get(&format!("/Users/{id}?attributes=password,userName"), &t)
        .await
        .json()
        .await
        .unwrap();
    assert!(got.get("password").is_none(), "returned: never");
    let hash1 = app
        .state
        .store
        .read(|c| store::users::password_hash(c, &id))
        .unwrap()
        .unwrap();
    assert!(hash1.starts_with("$argon2id$"), "{hash1}");
    // PATCH of the password alone is recorded as a 'password' event, without the secret
    let res = app
        .send(
            Method::PATCH,
            &format!("/Users/{id}"),
            &t,
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "path": "password", "value": "n3w s3cret"}]}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["etag"], "W/\"2\"");
    let hash2 = app
        .state
        .store
        .read(|c| store::users::password_hash(c, &id))
        .unwrap()
        .unwrap();
    assert_ne!(hash1, hash2);
    let events = app
        .state
        .store
        .read(|c| store::events::for_resource(c, "User", &id))
        .unwrap();
    assert_eq!(events.last().unwrap().action, "password");
    for e in &events {
        for text in [&e.before, &e.after].into_iter().flatten() {
            assert!(
                !text.contains("s3cret") && !text.contains("staple") && !text.contains("argon2"),
                "{text}"
            );
        }
    }
    let res = app
        .req(Method::DELETE, &format!("/scim/v2/Users/{id}"), &t)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert!(app
        .state
        .store
        .read(|c| store::users::password_hash(c, &id))
        .unwrap()
        .is_none());
}

backend_tests!(
    passwords_are_hashed_and_never_returned,
    create_get_replace_delete,
    user_name_is_unique_case_insensitively,
    bad_input_is_400_and_changes_nothing,
    entra_style_values_are_accepted,
    paging_is_one_based_and_bounded
);
