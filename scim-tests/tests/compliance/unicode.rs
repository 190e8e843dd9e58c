//! userName uniqueness under Unicode case folding and compatibility normalisation (NFKC).

use diesel::prelude::*;
use reqwest::Method;
use scim_tests::{assert_scim_error, backend_tests, enc, TestApp};
use serde_json::{json, Value};

fn named(user_name: &str) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": user_name})
}

/// Pairs that are the same user: (stored first, then refused).
const SAME: [(&str, &str); 8] = [
    ("bjensen", "BJENSEN"),
    ("bjensen", "ＢＪｅｎｓｅｎ"), // full-width (NFKC)
    ("Amélie", "Ame\u{0301}lie"),  // NFC vs NFD
    ("Amélie", "AME\u{0301}LIE"),  // NFD upper case
    ("straße", "STRASSE"),         // ß folds to ss
    ("ﬁnn", "FINN"),               // ligature (NFKC)
    ("kelvin", "\u{212A}ELVIN"),   // KELVIN SIGN
    ("σοφοσ", "ΣΟΦΟΣ"),            // final sigma
];

async fn user_names_equal_under_folding_are_one_user(app: TestApp) {
    let t = app.rw_token();
    let mut firsts = std::collections::HashMap::new();
    for (first, _) in SAME {
        if !firsts.contains_key(first) {
            let u = app.create_user(&t, first).await;
            assert_eq!(u["userName"], first, "stored as given");
            firsts.insert(first, u["id"].as_str().unwrap().to_string());
        }
    }
    let other = app.create_user(&t, "someone-else").await;
    let other_id = other["id"].as_str().unwrap();
    let before = app.event_count();
    for (first, second) in SAME {
        let res = app.send(Method::POST, "/Users", &t, &named(second)).await;
        assert_scim_error(res, 409, Some("uniqueness")).await;
        // renaming another user to it, by PUT and by PATCH, is refused the same way
        let res = app
            .send(
                Method::PUT,
                &format!("/Users/{other_id}"),
                &t,
                &named(second),
            )
            .await;
        assert_scim_error(res, 409, Some("uniqueness")).await;
        let patch = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "userName", "value": second}]
        });
        let res = app
            .send(Method::PATCH, &format!("/Users/{other_id}"), &t, &patch)
            .await;
        assert_scim_error(res, 409, Some("uniqueness")).await;
        // and a filter with the other spelling finds the stored user
        let filter = format!("userName eq \"{second}\"");
        let body: Value = app
            .get(&format!("/Users?filter={}", enc(&filter)), &t)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(body["totalResults"], 1, "{filter}");
        assert_eq!(
            body["Resources"][0]["id"],
            firsts[first].as_str(),
            "{filter}"
        );
    }
    assert_eq!(app.event_count(), before, "no refused write was recorded");
    // names that only look alike stay distinct
    for name in ["bjensen2", "amelie", "strase", "fin"] {
        app.create_user(&t, name).await;
    }
}

/// Rows written with the previous key (plain lower case) get the new one at the next start;
/// two rows whose keys now collide do not stop the start.
async fn stored_keys_are_back_filled_at_start(app: TestApp) {
    let t = app.rw_token();
    let a = app.create_user(&t, "Straße").await;
    let b = app.create_user(&t, "Ａｌｉｃｅ").await;
    let c = app.create_user(&t, "STRASSE-2").await;
    drop(t);
    // make the rows look as the previous version wrote them
    {
        use store::schema::users;
        let mut raw = app.db.raw();
        for (id, old_key) in [
            (a["id"].as_str().unwrap(), "straße"),
            (b["id"].as_str().unwrap(), "ａｌｉｃｅ"),
            // c becomes a user "STRASSE" whose old key differs from a's new one: a collision
            (c["id"].as_str().unwrap(), "strasse"),
        ] {
            diesel::update(users::table.find(id))
                .set((users::user_name_norm.eq(old_key), users::doc_norm.eq("")))
                .execute(&mut raw)
                .unwrap();
        }
        let doc = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "STRASSE", "id": c["id"], "meta": c["meta"]});
        diesel::update(users::table.find(c["id"].as_str().unwrap()))
            .set(users::doc.eq(doc.to_string()))
            .execute(&mut raw)
            .unwrap();
    }
    let args = server::config::ServeArgs::for_database(&app.db.url());
    let reopened = store::Store::open(&app.db.url(), &args.db.pool_options()).unwrap();
    let keys: Vec<(String, String)> = reopened
        .read(|conn| {
            use store::schema::users;
            Ok(users::table
                .select((users::id, users::user_name_norm))
                .order(users::user_name_norm)
                .load(conn)?)
        })
        .unwrap();
    let key_of = |id: &Value| {
        keys.iter()
            .find(|(i, _)| i == id.as_str().unwrap())
            .unwrap()
            .1
            .clone()
    };
    assert_eq!(key_of(&b["id"]), "alice");
    // a and c both fold to "strasse": exactly one holds it, the other kept its old key
    let (ka, kc) = (key_of(&a["id"]), key_of(&c["id"]));
    assert!(
        (ka == "strasse") ^ (kc == "strasse"),
        "a={ka} c={kc}: exactly one holds the new key"
    );
    // filters use the new key
    let t = app.rw_token();
    let body: Value = app
        .get(
            &format!("/Users?filter={}", enc("userName eq \"ALICE\"")),
            &t,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["totalResults"], 1);
}

backend_tests!(
    user_names_equal_under_folding_are_one_user,
    stored_keys_are_back_filled_at_start
);
