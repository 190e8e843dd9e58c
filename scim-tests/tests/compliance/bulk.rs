//! `/Bulk` (RFC 7644 §3.7): bulkId references, failOnErrors, limits.

use reqwest::Method;
use scim_tests::{assert_scim_error, backend_tests, user_body, TestApp};
use serde_json::{json, Value};

const BULK: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";

fn bulk(ops: Value) -> Value {
    json!({"schemas": [BULK], "Operations": ops})
}

async fn bulk_with_forward_references(app: TestApp) {
    let t = app.rw_token();
    let before = app.event_count();
    // the group refers to a user created by a LATER operation (forward reference)
    let res = app
        .send(
            Method::POST,
            "/Bulk",
            &t,
            &bulk(json!([
                {"method": "POST", "path": "/Groups", "bulkId": "g1",
                 "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Bulk", "members": [{"type": "User", "value": "bulkId:u1"}]}},
                {"method": "POST", "path": "/Users", "bulkId": "u1", "data": user_body("bulk1")},
                {"method": "PATCH", "path": "/Users/bulkId:u1", "data": {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "add", "path": "title", "value": "T"}]}},
                {"method": "POST", "path": "/Users", "bulkId": "dup", "data": user_body("bulk1")}
            ])),
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
    );
    let ops = body["Operations"].as_array().unwrap();
    assert_eq!(ops.len(), 4);
    assert_eq!(ops[0]["status"], "201");
    assert_eq!(ops[0]["bulkId"], "g1");
    assert_eq!(ops[1]["status"], "201");
    assert_eq!(ops[2]["status"], "200");
    assert_eq!(ops[2]["version"], "W/\"2\"");
    assert_eq!(ops[3]["status"], "409");
    assert_eq!(ops[3]["response"]["scimType"], "uniqueness");
    let gloc = ops[0]["location"].as_str().unwrap();
    let gid = gloc.rsplit('/').next().unwrap();
    let uid = ops[1]["location"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let g: Value = app
        .get(&format!("/Groups/{gid}"), &t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(g["members"][0]["value"], uid.as_str());
    let u: Value = app
        .get(&format!("/Users/{uid}"), &t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(u["title"], "T");
    assert_eq!(
        app.event_count(),
        before + 3,
        "one event per successful operation"
    );
}

async fn bulk_errors_and_limits(app: TestApp) {
    let t = app.rw_token();
    let before = app.event_count();
    // circular references are refused as a whole
    let res = app
        .send(
            Method::POST,
            "/Bulk",
            &t,
            &bulk(json!([
                {"method": "POST", "path": "/Groups", "bulkId": "a", "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "A", "members": [{"value": "bulkId:b"}]}},
                {"method": "POST", "path": "/Groups", "bulkId": "b", "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "B", "members": [{"value": "bulkId:a"}]}}
            ])),
        )
        .await;
    assert_scim_error(res, 409, None).await;
    // failOnErrors: 1 stops after the first failure
    let mut body = bulk(json!([
        {"method": "POST", "path": "/Users", "bulkId": "x1", "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]}},
        {"method": "POST", "path": "/Users", "bulkId": "x2", "data": user_body("never")}
    ]));
    body["failOnErrors"] = json!(1);
    let res: Value = app
        .send(Method::POST, "/Bulk", &t, &body)
        .await
        .json()
        .await
        .unwrap();
    let ops = res["Operations"].as_array().unwrap();
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0]["status"], "400");
    assert_eq!(
        ops[0]["response"]["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    // a dependent of a failed operation fails too
    let res: Value = app
        .send(
            Method::POST,
            "/Bulk",
            &t,
            &bulk(json!([
                {"method": "POST", "path": "/Users", "bulkId": "bad", "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]}},
                {"method": "DELETE", "path": "/Users/bulkId:bad"}
            ])),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(res["Operations"][1]["status"], "409");
    assert_eq!(
        app.event_count(),
        before,
        "failed operations leave no event"
    );
    // maxOperations (1000) and maxPayloadSize are advertised and enforced with 413
    let spc: Value = app
        .get("/ServiceProviderConfig", &t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(spc["bulk"]["supported"], true);
    assert_eq!(spc["bulk"]["maxOperations"], 1000);
    let many: Vec<Value> = (0..1001)
        .map(|i| json!({"method": "DELETE", "path": format!("/Users/{i}")}))
        .collect();
    let res = app
        .send(Method::POST, "/Bulk", &t, &bulk(json!(many)))
        .await;
    assert_scim_error(res, 413, None).await;
    let big = "x".repeat(spc["bulk"]["maxPayloadSize"].as_u64().unwrap() as usize);
    let res = app
        .send(Method::POST, "/Bulk", &t, &bulk(json!([{"method": "POST", "path": "/Users", "bulkId": "b", "data": {"userName": big}}])))
        .await;
    assert_scim_error(res, 413, None).await;
    let res = app
        .send(Method::POST, "/Bulk", &t, &json!({"Operations": []}))
        .await;
    assert_scim_error(res, 400, Some("invalidSyntax")).await;
    let res = app
        .send(
            Method::POST,
            "/Bulk",
            &app.token(&["scim.read"]),
            &bulk(json!([])),
        )
        .await;
    assert_scim_error(res, 403, None).await;
}

backend_tests!(bulk_with_forward_references, bulk_errors_and_limits);
