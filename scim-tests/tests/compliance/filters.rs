//! Filters compiled to SQL.

use reqwest::Method;
use scim_tests::{assert_scim_error, backend_tests, enc, user_body, TestApp};
use serde_json::{json, Value};

async fn names(app: &TestApp, t: &str, filter: &str) -> Vec<String> {
    let res = app.get(&format!("/Users?filter={}", enc(filter)), t).await;
    assert_eq!(res.status(), 200, "filter {filter}");
    let body: Value = res.json().await.unwrap();
    let mut v: Vec<String> = body["Resources"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|u| u["userName"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(body["totalResults"].as_u64().unwrap() as usize, v.len());
    v.sort();
    v
}

async fn user_filters(app: TestApp) {
    let t = app.rw_token();
    let mut b = user_body("Alice");
    b["externalId"] = json!("EXT-1");
    b["displayName"] = json!("Alice Smith");
    let alice: Value = app
        .send(Method::POST, "/Users", &t, &b)
        .await
        .json()
        .await
        .unwrap();
    let mut b = user_body("bob");
    b["externalId"] = json!("ext-2");
    b["active"] = json!(false);
    app.send(Method::POST, "/Users", &t, &b).await;
    app.create_user(&t, "carol_100%").await;

    assert_eq!(names(&app, &t, r#"userName eq "alice""#).await, ["Alice"]);
    assert_eq!(names(&app, &t, r#"USERNAME EQ "ALICE""#).await, ["Alice"]);
    assert_eq!(
        names(
            &app,
            &t,
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "bob""#
        )
        .await,
        ["bob"]
    );
    // externalId is caseExact
    assert_eq!(names(&app, &t, r#"externalId eq "EXT-1""#).await, ["Alice"]);
    assert!(names(&app, &t, r#"externalId eq "ext-1""#).await.is_empty());
    assert_eq!(
        names(&app, &t, r#"displayName eq "alice smith""#).await,
        ["Alice"]
    );
    let id = alice["id"].as_str().unwrap();
    assert_eq!(
        names(&app, &t, &format!(r#"id eq "{id}""#)).await,
        ["Alice"]
    );
    assert_eq!(names(&app, &t, "active eq false").await, ["bob"]);
    assert_eq!(
        names(&app, &t, r#"userName sw "a" or userName eq "bob""#).await,
        ["Alice", "bob"]
    );
    assert_eq!(
        names(&app, &t, r#"not (userName eq "bob")"#).await,
        ["Alice", "carol_100%"]
    );
    assert_eq!(names(&app, &t, r#"externalId pr"#).await, ["Alice", "bob"]);
    assert_eq!(
        names(&app, &t, r#"externalId ne "EXT-1""#).await,
        ["bob", "carol_100%"]
    );
    // LIKE wildcards in the value are literal
    assert_eq!(
        names(&app, &t, r#"userName co "_100%""#).await,
        ["carol_100%"]
    );
    assert!(names(&app, &t, r#"userName co "%""#).await.len() == 1);
    assert!(names(&app, &t, r#"userName sw "_""#).await.is_empty());
    assert_eq!(
        names(&app, &t, r#"name.familyName eq "BOB""#).await,
        ["bob"]
    );
    assert_eq!(
        names(&app, &t, r#"meta.created gt "2000-01-01T00:00:00Z""#)
            .await
            .len(),
        3
    );
    // injection attempts are just values
    assert!(names(&app, &t, r#"userName eq "x' OR '1'='1""#)
        .await
        .is_empty());
}

async fn invalid_filters_are_400(app: TestApp) {
    let t = app.rw_token();
    for bad in [
        r#"userName eq"#,
        r#"userName xx "a""#,
        r#"(userName eq "a""#,
        r#"userName eq "a" and"#,
        r#"noSuchAttr eq "a""#,
        r#"active gt "x""#,
    ] {
        let res = app.get(&format!("/Users?filter={}", enc(bad)), &t).await;
        assert_scim_error(res, 400, Some("invalidFilter")).await;
    }
    let deep = format!("{}userName eq \"a\"{}", "(".repeat(5000), ")".repeat(5000));
    let res = app.get(&format!("/Users?filter={}", enc(&deep)), &t).await;
    assert_scim_error(res, 400, Some("invalidFilter")).await;
}

async fn json_attribute_filters_and_backfill(app: TestApp) {
    let t = app.rw_token();
    let mut b = user_body("dora");
    b["title"] = json!("Ingénieure Principale");
    b["emails"] = json!([{"value": "Dora@Work.example", "type": "work"}, {"value": "dora@home.example", "type": "home"}]);
    b["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] =
        json!({"employeeNumber": "E-7", "manager": {"value": "m-1"}});
    assert_eq!(app.send(Method::POST, "/Users", &t, &b).await.status(), 201);
    app.create_user(&t, "eli").await;
    assert_eq!(names(&app, &t, r#"title co "INGÉNIEURE""#).await, ["dora"]);
    assert_eq!(
        names(
            &app,
            &t,
            r#"emails[type eq "work" and value ew "@work.example"]"#
        )
        .await,
        ["dora"]
    );
    assert_eq!(
        names(&app, &t, r#"emails.value eq "DORA@HOME.EXAMPLE""#).await,
        ["dora"]
    );
    assert_eq!(
        names(&app, &t, r#"emails co "home.example""#).await,
        ["dora"]
    );
    assert_eq!(
        names(
            &app,
            &t,
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "e-7""#
        )
        .await,
        ["dora"]
    );
    assert_eq!(
        names(
            &app,
            &t,
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m-1""#
        )
        .await,
        ["dora"]
    );
    assert_eq!(names(&app, &t, r#"title pr"#).await, ["dora"]);
    assert_eq!(names(&app, &t, r#"not (title pr)"#).await, ["eli"]);
    // rows written before doc_norm existed are back-filled when the database is opened
    let mut raw = app.db.raw();
    diesel::connection::SimpleConnection::batch_execute(&mut raw, "UPDATE users SET doc_norm = ''")
        .unwrap();
    let reopened = store::Store::open(&app.db.url(), &store::PoolOptions::default()).unwrap();
    let f = scim::filter::parse(r#"title co "principale""#).unwrap();
    let spec = store::ListSpec {
        filter: Some(&f),
        sort_by: None,
        descending: false,
        start: 1,
        count: 10,
    };
    let (total, _) = reopened.read(|c| store::users::list(c, &spec)).unwrap();
    assert_eq!(total, 1);
}

async fn sorting(app: TestApp) {
    let t = app.rw_token();
    for (n, title) in [
        ("b", Some("Zeta")),
        ("a", Some("alpha")),
        ("c", None),
        ("d", Some("Beta")),
    ] {
        let mut u = user_body(n);
        if let Some(title) = title {
            u["title"] = json!(title);
        }
        app.send(Method::POST, "/Users", &t, &u).await;
    }
    let order = |q: &'static str| {
        let app = &app;
        let t = t.clone();
        async move {
            let body: Value = app
                .get(&format!("/Users?{q}"), &t)
                .await
                .json()
                .await
                .unwrap();
            body["Resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["userName"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(order("").await, ["a", "b", "c", "d"]);
    assert_eq!(
        order("sortBy=title").await,
        ["a", "d", "b", "c"],
        "case-insensitive, missing last"
    );
    assert_eq!(
        order("sortBy=title&sortOrder=descending").await,
        ["c", "b", "d", "a"]
    );
    assert_eq!(
        order("sortBy=userName&sortOrder=descending&count=2").await,
        ["d", "c"]
    );
    assert_eq!(
        order("sortBy=emails.value&startIndex=2&count=2").await,
        ["b", "c"]
    );
    let res = app.get("/Users?sortBy=title&sortOrder=sideways", &t).await;
    assert_scim_error(res, 400, Some("invalidValue")).await;
    let res = app.get("/Users?sortBy=groups", &t).await;
    assert_scim_error(res, 400, Some("invalidValue")).await;
}

async fn lifecycle_extension(app: TestApp) {
    const LC: &str = "urn:roster:params:scim:schemas:extension:lifecycle:2.0:User";
    let t = app.rw_token();
    for (name, start, end, status) in [
        ("joiner", "2031-03-01", None, "pending"),
        (
            "leaver",
            "2019-01-07T09:00:00+01:00",
            Some("2024-06-30"),
            "terminated",
        ),
        ("stayer", "2020-05-01", None, "active"),
    ] {
        let mut u = user_body(name);
        u["schemas"] = json!(["urn:ietf:params:scim:schemas:core:2.0:User", LC]);
        u[LC] = json!({"startDate": start, "employmentStatus": status});
        if let Some(end) = end {
            u[LC]["endDate"] = json!(end);
        }
        let res = app.send(Method::POST, "/Users", &t, &u).await;
        assert_eq!(res.status(), 201, "{name}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body[LC]["startDate"], start, "stored as sent");
    }
    assert_eq!(
        names(
            &app,
            &t,
            &format!("{LC}:endDate lt \"2025-01-01T00:00:00Z\"")
        )
        .await,
        ["leaver"]
    );
    assert_eq!(
        names(&app, &t, &format!("{LC}:startDate gt \"2030-12-31\"")).await,
        ["joiner"]
    );
    assert_eq!(
        names(
            &app,
            &t,
            &format!("{LC}:startDate lt \"2019-01-07T08:30:00Z\"")
        )
        .await,
        ["leaver"],
        "09:00+01:00 is 08:00Z"
    );
    assert!(names(
        &app,
        &t,
        &format!("{LC}:startDate lt \"2019-01-07T07:30:00Z\"")
    )
    .await
    .is_empty());
    assert_eq!(
        names(
            &app,
            &t,
            &format!("{LC}:employmentStatus eq \"TERMINATED\"")
        )
        .await,
        ["leaver"]
    );
    assert_eq!(
        names(&app, &t, "endDate pr").await,
        ["leaver"],
        "unqualified extension attribute"
    );
    let body: Value = app
        .get(&format!("/Users?sortBy={LC}:startDate"), &t)
        .await
        .json()
        .await
        .unwrap();
    let order: Vec<&str> = body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userName"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["leaver", "stayer", "joiner"]);
    let mut bad = user_body("bad-date");
    bad[LC] = json!({"startDate": "next tuesday"});
    let res = app.send(Method::POST, "/Users", &t, &bad).await;
    assert_scim_error(res, 400, Some("invalidValue")).await;
    let rt: Value = app
        .get("/ResourceTypes/User", &t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rt["schemaExtensions"][1]["schema"], LC);
}

backend_tests!(
    lifecycle_extension,
    user_filters,
    invalid_filters_are_400,
    json_attribute_filters_and_backfill,
    sorting
);
