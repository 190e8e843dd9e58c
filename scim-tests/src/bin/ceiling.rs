//! `ceiling`: the trivial SCIM-shaped handler that measures the harness's own ceiling (issue 4).
//!
//! ```sh
//! cargo run --release -p scim-tests --bin ceiling -- --listen 127.0.0.1:18099 --workers 1
//! ```
//!
//! No storage at all. Ids are the hex of the userName (or Group displayName), so every answer
//! can be computed from the request alone and still passes `scim-bench`'s validation:
//! `GET /Users/{id}` decodes the userName from the id; `GET /Users?filter=userName eq "x"`
//! answers the one user whose id is hex(x); `GET /Users?startIndex=S&count=100` answers a canned
//! page of 100 users with `totalResults` 10^9; `PATCH /Users/{id}` echoes the new `title`;
//! `POST /Users`, `POST /Groups` and `POST /Bulk` answer `201` (per operation) with the id
//! derived from the name; group reads and PATCHes answer the group without members. User bodies
//! are the same ~1 KB documents the load generator sends, rendered once into a template at
//! start, so the ceiling moves the same bytes per request as a real server.

#[path = "../bench/body.rs"]
#[allow(dead_code)]
mod body;

use std::collections::HashMap;

use actix_web::http::header::{HeaderValue, CONTENT_TYPE, LOCATION};
use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use anyhow::Result;
use clap::Parser;
use serde_json::{json, Value};

#[derive(Parser, Debug)]
#[command(
    name = "ceiling",
    about = "Trivial SCIM-shaped handler: the harness ceiling"
)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:18099")]
    listen: String,
    /// HTTP worker threads
    #[arg(long, default_value_t = 1)]
    workers: usize,
}

const BASE: &str = "/scim/v2";

struct Canned {
    user: String,
    group: String,
    page: String,
    spc: String,
}

fn hex(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for b in s.bytes() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

fn unhex(s: &str) -> Option<String> {
    if s.len() % 2 != 0 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

fn canned() -> Result<Canned> {
    let mut user = body::user("__UN__", 1, Some("__MGR__"));
    if let Some(o) = user.as_object_mut() {
        o.insert("id".into(), json!("__ID__"));
        o.insert(
            "meta".into(),
            json!({"resourceType": "User", "created": "2026-01-01T00:00:00Z",
                   "lastModified": "2026-01-01T00:00:00Z", "version": "W/\"1\"",
                   "location": format!("http://127.0.0.1{BASE}/Users/__ID__")}),
        );
    }
    let user = serde_json::to_string(&user)?;
    let resources: Vec<Value> = (0..100u64)
        .map(|i| {
            let name = body::user_name("page", i);
            let mut u = body::user(&name, i, None);
            if let Some(o) = u.as_object_mut() {
                o.insert("id".into(), json!(hex(&name)));
            }
            u
        })
        .collect();
    let page = serde_json::to_string(
        &json!({"schemas": [body::LIST], "totalResults": 1_000_000_000u64,
        "startIndex": "__SI__", "itemsPerPage": 100, "Resources": resources}),
    )?
    .replace("\"__SI__\"", "__SI__");
    let group = serde_json::to_string(&json!({"schemas": [body::GROUP], "id": "__ID__",
        "displayName": "__DN__", "meta": {"resourceType": "Group", "version": "W/\"1\"",
        "location": format!("http://127.0.0.1{BASE}/Groups/__ID__")}}))?;
    let spc = serde_json::to_string(&json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "patch": {"supported": true}, "bulk": {"supported": true, "maxOperations": 1000,
        "maxPayloadSize": 4_194_304}, "filter": {"supported": true, "maxResults": 1000},
        "changePassword": {"supported": false}, "sort": {"supported": false},
        "etag": {"supported": false}, "authenticationSchemes": []}))?;
    Ok(Canned {
        user,
        group,
        page,
        spc,
    })
}

fn scim(status: StatusCode, body: String) -> HttpResponse {
    let mut r = HttpResponse::build(status);
    r.insert_header((
        CONTENT_TYPE,
        HeaderValue::from_static("application/scim+json"),
    ));
    r.body(body)
}

fn not_found() -> HttpResponse {
    scim(
        StatusCode::NOT_FOUND,
        r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"404"}"#.into(),
    )
}

fn user(c: &Canned, id: &str) -> Option<String> {
    let un = unhex(id)?;
    Some(
        c.user
            .replace("__ID__", id)
            .replace("__UN__", &un)
            .replace("__MGR__", id),
    )
}

fn group(c: &Canned, id: &str) -> Option<String> {
    let dn = unhex(id)?;
    Some(c.group.replace("__ID__", id).replace("__DN__", &dn))
}

async fn handle(req: HttpRequest, payload: web::Bytes, c: web::Data<Canned>) -> HttpResponse {
    let Some(path) = req.path().strip_prefix(BASE) else {
        return not_found();
    };
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let method = req.method().as_str();
    let json_body = || serde_json::from_slice::<Value>(&payload).ok();
    match (method, segs.as_slice()) {
        ("GET", ["ServiceProviderConfig"]) => scim(StatusCode::OK, c.spc.clone()),
        ("GET", ["Users", id]) => match user(&c, id) {
            Some(b) => scim(StatusCode::OK, b),
            None => not_found(),
        },
        ("GET", ["Users"]) => {
            let q: HashMap<String, String> =
                web::Query::<HashMap<String, String>>::from_query(req.query_string())
                    .map(web::Query::into_inner)
                    .unwrap_or_default();
            if let Some(f) = q.get("filter") {
                let name = f
                    .strip_prefix("userName eq \"")
                    .and_then(|r| r.strip_suffix('"'));
                let Some(u) = name.and_then(|n| user(&c, &hex(n))) else {
                    return scim(StatusCode::BAD_REQUEST, "{}".into());
                };
                let list = format!(
                    r#"{{"schemas":["{}"],"totalResults":1,"startIndex":1,"itemsPerPage":1,"Resources":[{u}]}}"#,
                    body::LIST
                );
                scim(StatusCode::OK, list)
            } else {
                let si = q
                    .get("startIndex")
                    .and_then(|s| s.parse::<u64>().ok())
                    .unwrap_or(1);
                scim(StatusCode::OK, c.page.replace("__SI__", &si.to_string()))
            }
        }
        ("PATCH", ["Users", id]) => {
            let title = json_body()
                .and_then(|v| v["Operations"][0]["value"].as_str().map(str::to_string))
                .unwrap_or_default();
            match user(&c, id) {
                Some(b) => scim(StatusCode::OK, b.replace("Senior Staff Engineer", &title)),
                None => not_found(),
            }
        }
        ("POST", ["Users"]) => {
            let name = json_body()
                .and_then(|v| v["userName"].as_str().map(str::to_string))
                .unwrap_or_default();
            let id = hex(&name);
            match user(&c, &id) {
                Some(b) => {
                    let mut r = scim(StatusCode::CREATED, b);
                    if let Ok(h) = HeaderValue::from_str(&format!("{BASE}/Users/{id}")) {
                        r.headers_mut().insert(LOCATION, h);
                    }
                    r
                }
                None => scim(StatusCode::BAD_REQUEST, "{}".into()),
            }
        }
        ("POST", ["Groups"]) => {
            let name = json_body()
                .and_then(|v| v["displayName"].as_str().map(str::to_string))
                .unwrap_or_default();
            match group(&c, &hex(&name)) {
                Some(b) => scim(StatusCode::CREATED, b),
                None => scim(StatusCode::BAD_REQUEST, "{}".into()),
            }
        }
        ("GET" | "PATCH", ["Groups", id]) => match group(&c, id) {
            Some(b) => scim(StatusCode::OK, b),
            None => not_found(),
        },
        ("POST", ["Bulk"]) => {
            let v = json_body().unwrap_or_default();
            let ops: Vec<Value> = v["Operations"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|op| {
                    let (kind, name) = match op["data"]["userName"].as_str() {
                        Some(n) => ("Users", n),
                        None => ("Groups", op["data"]["displayName"].as_str().unwrap_or("")),
                    };
                    json!({"method": op["method"], "bulkId": op["bulkId"], "status": "201",
                           "location": format!("http://127.0.0.1{BASE}/{kind}/{}", hex(name))})
                })
                .collect();
            let out = json!({"schemas": [body::BULK_RESPONSE], "Operations": ops});
            scim(StatusCode::OK, out.to_string())
        }
        _ => not_found(),
    }
}

#[actix_web::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let data = web::Data::new(canned()?);
    eprintln!("ceiling: listening on http://{}{BASE}", args.listen);
    HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(16 << 20))
            .default_service(web::to(handle))
    })
    .workers(args.workers.max(1))
    .bind(&args.listen)?
    .run()
    .await?;
    Ok(())
}
