//! Cursor paging (RFC 9865): keyset pages in the order of index paging, forward and back.

use reqwest::Method;
use scim_tests::{assert_scim_error, backend_tests, enc, user_body, TestApp};
use serde_json::{json, Value};

/// The `scimType` of a refused cursor. RFC 9865 §2.1 names it `invalidCursor`; Roster answers
/// `invalidValue` until `scim::ScimType` has that variant.
const INVALID_CURSOR: &str = "invalidCursor";
const SEARCH: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

/// One cursor page as the client sees it.
#[derive(Debug)]
struct Page {
    ids: Vec<String>,
    next: Option<String>,
    previous: Option<String>,
    total: u64,
}

fn page_of(body: &Value) -> Page {
    assert!(body.get("startIndex").is_none(), "no startIndex: {body}");
    let ids: Vec<String> = body["Resources"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| r["id"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(body["itemsPerPage"].as_u64().unwrap() as usize, ids.len());
    Page {
        ids,
        next: body["nextCursor"].as_str().map(str::to_string),
        previous: body["previousCursor"].as_str().map(str::to_string),
        total: body["totalResults"].as_u64().unwrap(),
    }
}

async fn get_page(app: &TestApp, t: &str, res: &str, query: &str, cursor: &str) -> Page {
    let r = app.get(&format!("/{res}?{query}&cursor={cursor}"), t).await;
    assert_eq!(r.status(), 200, "{res}?{query}&cursor={cursor}");
    page_of(&r.json().await.unwrap())
}

/// Ids in the order index paging gives them.
async fn reference(app: &TestApp, t: &str, res: &str, query: &str) -> Vec<String> {
    let r = app.get(&format!("/{res}?{query}&count=1000"), t).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

/// Walks from an empty cursor to the last page, checking the cursor attributes on the way.
async fn forward(app: &TestApp, t: &str, res: &str, query: &str, count: usize) -> Vec<Page> {
    let mut pages: Vec<Page> = Vec::new();
    let mut cursor = String::new();
    loop {
        let p = get_page(app, t, res, &format!("{query}&count={count}"), &cursor).await;
        assert!(p.ids.len() <= count);
        assert_eq!(
            p.previous.is_some(),
            !pages.is_empty(),
            "previousCursor on every page but the first"
        );
        let next = p.next.clone();
        pages.push(p);
        assert!(pages.len() < 100, "walk does not end");
        match next {
            Some(n) => cursor = n,
            None => break,
        }
    }
    pages
}

/// Walks back from `last` through `previousCursor`; returns the pages in forward order.
async fn backward(
    app: &TestApp,
    t: &str,
    res: &str,
    query: &str,
    count: usize,
    last: &Page,
) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut cursor = last.previous.clone();
    while let Some(c) = cursor {
        let p = get_page(app, t, res, &format!("{query}&count={count}"), &c).await;
        assert!(p.next.is_some(), "a page before another has a nextCursor");
        cursor = p.previous.clone();
        pages.push(p.ids);
        assert!(pages.len() < 100, "walk does not end");
    }
    pages.reverse();
    pages
}

/// Walks `query` both ways with page size `count` and checks the pages against index paging.
async fn check_walks(app: &TestApp, t: &str, res: &str, query: &str, count: usize) {
    let want = reference(app, t, res, query).await;
    let pages = forward(app, t, res, query, count).await;
    let got: Vec<String> = pages.iter().flat_map(|p| p.ids.clone()).collect();
    assert_eq!(got, want, "forward walk of {res}?{query}");
    for p in &pages {
        assert_eq!(p.total as usize, want.len());
    }
    for p in &pages[..pages.len() - 1] {
        assert_eq!(p.ids.len(), count, "only the last page may be short");
    }
    let last = pages.last().unwrap();
    let mut back = backward(app, t, res, query, count, last).await;
    back.push(last.ids.clone());
    let fwd: Vec<Vec<String>> = pages.iter().map(|p| p.ids.clone()).collect();
    assert_eq!(back, fwd, "backward walk of {res}?{query}");
}

async fn user_with_title(app: &TestApp, t: &str, name: &str, title: Option<&str>) -> Value {
    let mut b = user_body(name);
    if let Some(title) = title {
        b["title"] = json!(title);
    }
    if name.starts_with('x') {
        b["active"] = json!(false);
    }
    let r = app.send(Method::POST, "/Users", t, &b).await;
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

async fn seed_users(app: &TestApp, t: &str) {
    for (n, title) in [
        ("carol", Some("Beta")),
        ("alice", None),
        ("Bob", Some("alpha")),
        ("dave", Some("beta")),
        ("xena", None),
        ("erin", Some("Zeta")),
        ("frank", Some("Beta")),
        ("xavier", Some("gamma")),
    ] {
        user_with_title(app, t, n, title).await;
    }
}

async fn user_walks(app: TestApp) {
    let t = app.rw_token();
    seed_users(&app, &t).await;
    for count in [1, 3, 8, 20] {
        check_walks(&app, &t, "Users", "x=1", count).await;
    }
    let pages = forward(&app, &t, "Users", "x=1", 3).await;
    assert_eq!(pages.len(), 3);
    assert!(pages[2].next.is_none(), "no nextCursor on the last page");
    // `cursor` without a value starts too (the RFC's own example)
    let r = app.get("/Users?cursor&count=2", &t).await;
    let first = page_of(&r.json().await.unwrap());
    assert_eq!(first.ids, pages[0].ids[..2]);
    assert!(first.next.is_some() && first.previous.is_none());
    // count=0: the total only
    let r = app.get("/Users?cursor=&count=0", &t).await;
    let p = page_of(&r.json().await.unwrap());
    assert_eq!((p.total, p.ids.len(), p.next), (8, 0, None));
}

async fn sorted_and_filtered_walks(app: TestApp) {
    let t = app.rw_token();
    seed_users(&app, &t).await;
    for query in [
        "sortBy=title",
        "sortBy=title&sortOrder=descending",
        "sortBy=userName&sortOrder=descending",
        "sortBy=active",
        "sortBy=active&sortOrder=descending",
        "sortBy=meta.created&sortOrder=descending",
        "sortBy=emails.value",
        "sortBy=name.familyName&sortOrder=descending",
    ] {
        for count in [1, 2, 3] {
            check_walks(&app, &t, "Users", query, count).await;
        }
    }
    let title_ne = format!("filter={}", enc(r#"title ne "gamma""#));
    for query in [
        format!("filter={}", enc(r#"userName sw "x" or title pr"#)),
        format!("{title_ne}&sortBy=title&sortOrder=descending"),
        format!("{title_ne}&sortBy=title"),
    ] {
        check_walks(&app, &t, "Users", &query, 2).await;
    }
    // a filter that matches nothing: one empty page, no cursors
    let none = format!("filter={}", enc(r#"userName eq "nobody""#));
    let p = get_page(&app, &t, "Users", &none, "").await;
    assert_eq!((p.total, p.ids.len()), (0, 0));
    assert!(p.next.is_none() && p.previous.is_none());
}

async fn writes_between_pages_do_not_shift_pages(app: TestApp) {
    let t = app.rw_token();
    let mut original: Vec<String> = Vec::new();
    for i in 0..10 {
        let u = app.create_user(&t, &format!("m{i:02}")).await;
        original.push(u["id"].as_str().unwrap().into());
    }
    let first = get_page(&app, &t, "Users", "count=3", "").await;
    assert_eq!(first.ids, original[..3]);
    // rows before, inside and after the walk's position appear; the boundary row goes
    for n in ["a-new", "m015", "m055", "z-new"] {
        app.create_user(&t, n).await;
    }
    let r = app
        .req(
            Method::DELETE,
            &format!("/scim/v2/Users/{}", original[2]),
            &t,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let mut seen = first.ids.clone();
    let mut cursor = first.next.clone();
    while let Some(c) = cursor {
        let p = get_page(&app, &t, "Users", "count=3", &c).await;
        seen.extend(p.ids.clone());
        cursor = p.next;
    }
    let mut dedup = seen.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), seen.len(), "no row twice: {seen:?}");
    for id in &original {
        assert!(seen.contains(id), "no pre-existing row skipped");
    }
    assert_eq!(seen.len(), 10 + 2, "m055 and z-new come after the position");
}

async fn bad_cursors_are_400(app: TestApp) {
    let t = app.rw_token();
    seed_users(&app, &t).await;
    let p = get_page(&app, &t, "Users", "count=2", "").await;
    let good = p.next.unwrap();
    for bad in [
        "abc".to_string(),
        "zz".to_string(),
        "0".repeat(64),
        format!("{}00", &good[..good.len() - 2]),
        good[..good.len() - 2].to_string(),
        format!("{good}00"),
        "%FF%FE".to_string(),
    ] {
        let r = app.get(&format!("/Users?count=2&cursor={bad}"), &t).await;
        assert_scim_error(r, 400, Some(INVALID_CURSOR)).await;
    }
    // a cursor of another query: other filter, sort, order or resource type
    for other in [
        format!("/Users?count=2&filter={}", enc(r#"userName pr"#)),
        "/Users?count=2&sortBy=title".to_string(),
        "/Users?count=2&sortOrder=descending".to_string(),
        "/Groups?count=2".to_string(),
    ] {
        let r = app.get(&format!("{other}&cursor={good}"), &t).await;
        assert_scim_error(r, 400, Some(INVALID_CURSOR)).await;
    }
    // changing only count is fine
    let r = app.get(&format!("/Users?count=5&cursor={good}"), &t).await;
    assert_eq!(r.status(), 200);
    // startIndex and cursor ask for two paging methods
    for q in [
        "startIndex=1&cursor=",
        &format!("startIndex=3&cursor={good}"),
    ] {
        let r = app.get(&format!("/Users?{q}"), &t).await;
        assert_scim_error(r, 400, Some("invalidValue")).await;
    }
    let body = json!({"schemas": [SEARCH], "startIndex": 1, "cursor": ""});
    let r = app.send(Method::POST, "/Users/.search", &t, &body).await;
    assert_scim_error(r, 400, Some("invalidValue")).await;
    // the root search merges two listings and does not page by cursor
    let body = json!({"schemas": [SEARCH], "cursor": ""});
    let r = app.send(Method::POST, "/.search", &t, &body).await;
    assert_scim_error(r, 400, Some("invalidValue")).await;
}

async fn search_body_walks(app: TestApp) {
    let t = app.rw_token();
    seed_users(&app, &t).await;
    let want = reference(&app, &t, "Users", "sortBy=title&sortOrder=descending").await;
    let mut got = Vec::new();
    let mut cursor = Some(String::new());
    while let Some(c) = cursor {
        let body = json!({
            "schemas": [SEARCH],
            "sortBy": "title",
            "sortOrder": "descending",
            "attributes": ["userName"],
            "count": 3,
            "cursor": c
        });
        let r = app.send(Method::POST, "/Users/.search", &t, &body).await;
        assert_eq!(r.status(), 200);
        let p = page_of(&r.json().await.unwrap());
        got.extend(p.ids);
        cursor = p.next;
    }
    assert_eq!(got, want);
}

async fn group_walks(app: TestApp) {
    let t = app.rw_token();
    // equal displayNames (case-insensitively): the id breaks the tie
    for n in ["Ops", "dev", "ops", "OPS", "Admins", "zeta", "Dev"] {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": n
        });
        let r = app.send(Method::POST, "/Groups", &t, &body).await;
        assert_eq!(r.status(), 201);
    }
    for query in [
        "x=1",
        "sortOrder=descending",
        "sortBy=displayName",
        "sortBy=externalId&sortOrder=descending",
        &format!("filter={}", enc(r#"displayName ne "zeta""#)),
    ] {
        for count in [1, 2, 3] {
            check_walks(&app, &t, "Groups", query, count).await;
        }
    }
    let want = reference(&app, &t, "Groups", "sortOrder=descending").await;
    let mut got = Vec::new();
    let mut cursor = Some(String::new());
    while let Some(c) = cursor {
        let body = json!({
            "schemas": [SEARCH], "sortOrder": "descending", "count": 2, "cursor": c
        });
        let r = app.send(Method::POST, "/Groups/.search", &t, &body).await;
        assert_eq!(r.status(), 200);
        let p = page_of(&r.json().await.unwrap());
        got.extend(p.ids);
        cursor = p.next;
    }
    assert_eq!(got, want);
}

async fn advertised(app: TestApp) {
    let t = app.rw_token();
    let body: Value = app
        .get("/ServiceProviderConfig", &t)
        .await
        .json()
        .await
        .unwrap();
    let p = &body["pagination"];
    assert_eq!(p["cursor"], true);
    assert_eq!(p["index"], true);
    assert_eq!(p["defaultPaginationMethod"], "index");
    assert_eq!(p["defaultPageSize"], 100);
    assert_eq!(p["maxPageSize"], body["filter"]["maxResults"]);
    // without a cursor parameter, paging is by index, as advertised
    let r: Value = app.get("/Users", &t).await.json().await.unwrap();
    assert_eq!(r["startIndex"], 1);
    assert!(r.get("nextCursor").is_none());
}

backend_tests!(
    user_walks,
    sorted_and_filtered_walks,
    writes_between_pages_do_not_shift_pages,
    bad_cursors_are_400,
    search_body_walks,
    group_walks,
    advertised
);
