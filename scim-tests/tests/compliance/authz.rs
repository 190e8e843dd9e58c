//! The authorisation matrix: every route of the server's route table × every method × every
//! set of scopes, against the policy in the same table, and that policy against the one
//! documented in docs/SECURITY.md.

use reqwest::Method;
use scim_tests::{backend_tests, TestApp};
use server::routes::{mounts, Access};

/// The scope sets tried: none (no token at all), each scope alone, and combinations.
const SCOPE_SETS: [&[&str]; 13] = [
    &[],
    &["scim.read"],
    &["scim.write"],
    &["audit.read"],
    &["admin"],
    &["approve"],
    &["metrics.read"],
    &["scim.read", "scim.write"],
    &["scim.read", "audit.read"],
    &["scim.write", "admin"],
    &["scim.write", "approve"],
    &["scim.read", "scim.write", "audit.read", "admin"],
    &[
        "scim.read",
        "scim.write",
        "audit.read",
        "admin",
        "approve",
        "metrics.read",
    ],
];

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// A concrete path for a route pattern (`{id}` becomes an id that does not exist).
fn concrete(pattern: &str) -> String {
    pattern
        .replace("{id}", "2819c223-7f76-453a-919d-413861904646")
        .replace("{user_id}", "2819c223-7f76-453a-919d-413861904646")
        .replace("{member_id}", "2819c223-7f76-453a-919d-413861904646")
        .replace("{delivery_id}", "2819c223-7f76-453a-919d-413861904646")
        .replace("{tail:.*}", "x")
}

/// What the policy says for a caller holding `scopes` (`None`: no token sent).
fn expected(access: Access, scopes: Option<&[&str]>) -> &'static str {
    match (access, scopes) {
        (Access::Public, _) => "allowed",
        (_, None) => "401",
        (Access::AnyToken, Some(_)) => "allowed",
        (Access::Scope(s), Some(have)) if have.contains(&s) => "allowed",
        (Access::Scope(_), Some(_)) => "403",
        (Access::AnyOf(any), Some(have)) if any.iter().any(|s| have.contains(s)) => "allowed",
        (Access::AnyOf(_), Some(_)) => "403",
    }
}

fn observed(status: u16) -> &'static str {
    match status {
        401 => "401",
        403 => "403",
        _ => "allowed",
    }
}

async fn every_route_method_and_scope_set_matches_the_policy(app: TestApp) {
    let tokens: Vec<(Option<&[&str]>, Option<String>)> = SCOPE_SETS
        .iter()
        .map(|set| {
            if set.is_empty() {
                (None, None)
            } else {
                (Some(*set), Some(app.token(set)))
            }
        })
        .collect();
    let before = app.event_count();
    let mut mismatches = Vec::new();
    let mut checked = 0;
    for mount in mounts() {
        let mut paths: Vec<&str> = Vec::new();
        for e in &mount.endpoints {
            if !paths.contains(&e.path) {
                paths.push(e.path);
            }
        }
        for e in &mount.endpoints {
            let url = format!("{}{}{}", app.addr, mount.prefix, concrete(e.path));
            for (scopes, token) in &tokens {
                let mut req = app
                    .client
                    .request(e.method.as_str().parse().unwrap(), &url)
                    .header("Content-Type", "application/scim+json")
                    .body("{}");
                if let Some(t) = token {
                    req = req.bearer_auth(t);
                }
                let status = req.send().await.unwrap().status().as_u16();
                let want = expected(e.access, *scopes);
                checked += 1;
                // a 5xx would hide a policy answer; 501 is /Me's deliberate "not implemented"
                if observed(status) != want || (status >= 500 && status != 501) {
                    mismatches.push(format!(
                        "{} {}{} with {:?}: got {status}, policy {} says {want}",
                        e.method,
                        mount.prefix,
                        e.path,
                        scopes.unwrap_or(&[]),
                        e.access.describe()
                    ));
                }
            }
        }
        // methods a path does not list are 405, with or without a token
        for path in paths {
            let listed: Vec<&str> = mount
                .endpoints
                .iter()
                .filter(|e| e.path == path)
                .map(|e| e.method.as_str())
                .collect();
            for m in METHODS.iter().filter(|m| !listed.contains(m)) {
                for (_, token) in [&tokens[0], &tokens[tokens.len() - 1]] {
                    let mut req = app.client.request(
                        Method::from_bytes(m.as_bytes()).unwrap(),
                        format!("{}{}{}", app.addr, mount.prefix, concrete(path)),
                    );
                    if let Some(t) = token {
                        req = req.bearer_auth(t);
                    }
                    let status = req.send().await.unwrap().status().as_u16();
                    checked += 1;
                    if status != 405 {
                        mismatches.push(format!(
                            "{m} {}{path}: got {status}, want 405",
                            mount.prefix
                        ));
                    }
                }
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {checked} requests disagree with the route table:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    assert!(checked > 400, "only {checked} requests");
    assert_eq!(app.event_count(), before, "the matrix changed data");
}

/// The policy table in docs/SECURITY.md lists exactly the routes and policies of the table.
#[test]
fn documented_policy_is_the_route_table() {
    let doc = include_str!("../../../docs/SECURITY.md");
    let section = doc
        .split("## Authorisation")
        .nth(1)
        .expect("docs/SECURITY.md has an Authorisation section");
    let mut documented: Vec<String> = section
        .lines()
        .take_while(|l| !l.starts_with("## "))
        .filter(|l| METHODS.iter().any(|m| l.starts_with(&format!("| {m} "))))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
            format!("{} {} {}", cells[0], cells[1].trim_matches('`'), cells[2])
        })
        .collect();
    let mut table: Vec<String> = mounts()
        .iter()
        .flat_map(|m| {
            m.endpoints.iter().map(move |e| {
                format!(
                    "{} {}{} {}",
                    e.method,
                    m.prefix,
                    e.path,
                    e.access.describe()
                )
            })
        })
        .collect();
    documented.sort();
    table.sort();
    assert_eq!(documented, table, "update the table in docs/SECURITY.md");
}

backend_tests!(every_route_method_and_scope_set_matches_the_policy);
