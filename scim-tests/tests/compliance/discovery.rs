//! Health probes and discovery endpoints.

use scim_tests::{backend_tests, TestApp};
use serde_json::Value;

async fn health_needs_no_token(app: TestApp) {
    let res = app
        .client
        .get(format!("{}/healthz", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .client
        .get(format!("{}/readyz", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["database"], "ok");
}

async fn service_provider_config_is_truthful(app: TestApp) {
    let t = app.token(&["scim.read"]);
    let res = app.get("/ServiceProviderConfig", &t).await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/scim+json"));
    let spc: Value = res.json().await.unwrap();
    assert_eq!(
        spc["schemas"][0],
        "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
    );
    assert_eq!(spc["filter"]["supported"], true);
    assert_eq!(spc["etag"]["supported"], true);
    assert_eq!(spc["patch"]["supported"], true);
    assert_eq!(spc["sort"]["supported"], true);
    assert_eq!(spc["bulk"]["supported"], true);
    assert_eq!(spc["changePassword"]["supported"], true);
    assert_eq!(spc["authenticationSchemes"][0]["type"], "oauthbearertoken");
}

async fn schemas_and_resource_types(app: TestApp) {
    let t = app.token(&["scim.read"]);
    let body: Value = app.get("/Schemas", &t).await.json().await.unwrap();
    assert_eq!(body["totalResults"], 5);
    let ids: Vec<&str> = body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    for want in [
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:core:2.0:Group",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        "urn:roster:params:scim:schemas:extension:lifecycle:2.0:User",
        "urn:roster:params:scim:schemas:extension:governance:2.0:Group",
    ] {
        assert!(ids.contains(&want), "{want} in {ids:?}");
    }
    let user: Value = app
        .get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:User", &t)
        .await
        .json()
        .await
        .unwrap();
    let user_name = user["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "userName")
        .unwrap();
    assert_eq!(user_name["uniqueness"], "server");
    assert_eq!(user_name["required"], true);

    let rts: Value = app.get("/ResourceTypes", &t).await.json().await.unwrap();
    assert_eq!(rts["totalResults"], 2);
    let rt: Value = app
        .get("/ResourceTypes/User", &t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rt["endpoint"], "/Users");
    assert_eq!(
        rt["schemaExtensions"][0]["schema"],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    );
    let rt: Value = app
        .get("/ResourceTypes/Group", &t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        rt["schemaExtensions"],
        serde_json::json!([{"schema": "urn:roster:params:scim:schemas:extension:governance:2.0:Group", "required": false}])
    );
    let res = app.get("/ResourceTypes/Nope", &t).await;
    scim_tests::assert_scim_error(res, 404, None).await;
    let res = app.get("/NoSuchEndpoint", &t).await;
    scim_tests::assert_scim_error(res, 404, None).await;
}

backend_tests!(
    health_needs_no_token,
    service_provider_config_is_truthful,
    schemas_and_resource_types
);
