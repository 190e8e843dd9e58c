//! The measured classes: one operation each, with the validation of its answer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use hyper::body::Bytes;
use hyper::Method;
use rand::rngs::StdRng;
use rand::Rng;
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::json;

use super::body;
use super::http::{encode, Client};
use super::seed::Seeded;

pub const ALL: [&str; 9] = [
    "mixed",
    "get",
    "filter",
    "page",
    "patch_user",
    "patch_member",
    "create",
    "big_group_patch",
    "big_group_get",
];

/// The steady mix: (class, weight in percent).
pub const MIX: [(Class, u32); 6] = [
    (Class::Get, 30),
    (Class::Filter, 30),
    (Class::Page, 5),
    (Class::PatchUser, 15),
    (Class::PatchMember, 10),
    (Class::Create, 10),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Mixed,
    Get,
    Filter,
    Page,
    PatchUser,
    PatchMember,
    Create,
    BigGroupPatch,
    BigGroupGet,
}

impl Class {
    pub fn parse(s: &str) -> Option<Class> {
        Some(match s {
            "mixed" => Class::Mixed,
            "get" => Class::Get,
            "filter" => Class::Filter,
            "page" => Class::Page,
            "patch_user" => Class::PatchUser,
            "patch_member" => Class::PatchMember,
            "create" => Class::Create,
            "big_group_patch" => Class::BigGroupPatch,
            "big_group_get" => Class::BigGroupGet,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Class::Mixed => "mixed",
            Class::Get => "get",
            Class::Filter => "filter",
            Class::Page => "page",
            Class::PatchUser => "patch_user",
            Class::PatchMember => "patch_member",
            Class::Create => "create",
            Class::BigGroupPatch => "big_group_patch",
            Class::BigGroupGet => "big_group_get",
        }
    }
}

/// The fields of a resource the validation looks at; everything else is skipped unparsed.
#[derive(Deserialize)]
struct Resource {
    id: Option<String>,
    #[serde(rename = "userName")]
    user_name: Option<String>,
    title: Option<String>,
    members: Option<Vec<IgnoredAny>>,
}

#[derive(Deserialize)]
struct ListResponse {
    #[serde(rename = "totalResults")]
    total_results: Option<u64>,
    #[serde(rename = "startIndex")]
    start_index: Option<u64>,
    #[serde(rename = "Resources", default)]
    resources: Vec<Resource>,
}

/// Per-task state: which users it owns (for writes that must not race other tasks), the
/// memberships it added and still has to remove.
pub struct TaskState {
    pub task: usize,
    pub tasks: usize,
    pub counter: u64,
    /// (group id, user id) added by this task and not yet removed.
    pub pending_member: Option<(String, String)>,
    pub pending_big: Option<String>,
    pub created: Arc<AtomicU64>,
}

type Check = Result<(), String>;

fn fail<T: std::fmt::Display>(what: T) -> Check {
    Err(what.to_string())
}

fn snippet(b: &Bytes) -> String {
    String::from_utf8_lossy(&b[..b.len().min(160)]).into_owned()
}

/// A user index owned by this task (index ≡ task mod tasks), so concurrent writes of
/// different tasks never touch the same user.
fn own_user(rng: &mut StdRng, st: &TaskState, n: usize) -> usize {
    let per = n / st.tasks;
    if per == 0 {
        return st.task % n;
    }
    rng.gen_range(0..per) * st.tasks + st.task
}

fn patch(ops: serde_json::Value) -> Option<Bytes> {
    let v = json!({"schemas": [body::PATCH_OP], "Operations": ops});
    serde_json::to_vec(&v).ok().map(Bytes::from)
}

/// Runs one operation of `class` and validates the answer.
pub async fn op(
    class: Class,
    c: &mut Client,
    s: &Seeded,
    st: &mut TaskState,
    rng: &mut StdRng,
) -> Check {
    let n = s.users.len();
    st.counter += 1;
    match class {
        Class::Mixed => {
            let mut roll = rng.gen_range(0..100);
            let mut pick = Class::Get;
            for (cl, w) in MIX {
                if roll < w {
                    pick = cl;
                    break;
                }
                roll -= w;
            }
            Box::pin(op(pick, c, s, st, rng)).await
        }
        Class::Get => {
            let u = &s.users[rng.gen_range(0..n)];
            let r = c
                .send(Method::GET, &format!("/Users/{}", u.id), None)
                .await
                .map_err(|e| e.to_string())?;
            if r.status.as_u16() != 200 {
                return fail(format!("GET /Users/id: {} {}", r.status, snippet(&r.body)));
            }
            let v: Resource = serde_json::from_slice(&r.body).map_err(|e| e.to_string())?;
            if v.id.as_deref() != Some(u.id.as_str()) {
                return fail("GET /Users/id: wrong id");
            }
            Ok(())
        }
        Class::Filter => {
            let u = &s.users[rng.gen_range(0..n)];
            let f = format!("userName eq \"{}\"", u.user_name);
            let r = c
                .send(Method::GET, &format!("/Users?filter={}", encode(&f)), None)
                .await
                .map_err(|e| e.to_string())?;
            if r.status.as_u16() != 200 {
                return fail(format!("filter: {} {}", r.status, snippet(&r.body)));
            }
            let v: ListResponse = serde_json::from_slice(&r.body).map_err(|e| e.to_string())?;
            if v.total_results != Some(1) || v.resources.len() != 1 {
                return fail(format!(
                    "filter: {:?} results, {} resources (expected 1)",
                    v.total_results,
                    v.resources.len()
                ));
            }
            let got = &v.resources[0];
            if got.id.as_deref() != Some(u.id.as_str())
                || !got
                    .user_name
                    .as_deref()
                    .is_some_and(|x| x.eq_ignore_ascii_case(&u.user_name))
            {
                return fail("filter: wrong user");
            }
            Ok(())
        }
        Class::Page => {
            let max_start = n.saturating_sub(99).max(1);
            let start = rng.gen_range(1..=max_start);
            let r = c
                .send(
                    Method::GET,
                    &format!("/Users?startIndex={start}&count=100"),
                    None,
                )
                .await
                .map_err(|e| e.to_string())?;
            if r.status.as_u16() != 200 {
                return fail(format!("page: {} {}", r.status, snippet(&r.body)));
            }
            let v: ListResponse = serde_json::from_slice(&r.body).map_err(|e| e.to_string())?;
            let total = v.total_results.unwrap_or(0);
            if total < n as u64 {
                return fail(format!("page: totalResults {total} < {n} seeded"));
            }
            let expect = (total + 1).saturating_sub(start as u64).min(100) as usize;
            if v.resources.len() != expect {
                return fail(format!(
                    "page: {} resources at startIndex {start} (expected {expect})",
                    v.resources.len()
                ));
            }
            if v.start_index.is_some_and(|x| x != start as u64) {
                return fail("page: wrong startIndex");
            }
            if v.resources.iter().any(|x| x.id.is_none()) {
                return fail("page: a resource without id");
            }
            Ok(())
        }
        Class::PatchUser => {
            let u = &s.users[own_user(rng, st, n)];
            let title = format!("Title {}-{}", st.task, st.counter);
            let b = patch(json!([{"op": "replace", "path": "title", "value": title}]));
            let r = c
                .send(Method::PATCH, &format!("/Users/{}", u.id), b)
                .await
                .map_err(|e| e.to_string())?;
            match r.status.as_u16() {
                204 => Ok(()),
                200 => {
                    let v: Resource = serde_json::from_slice(&r.body).map_err(|e| e.to_string())?;
                    if v.id.as_deref() != Some(u.id.as_str())
                        || v.title.as_deref() != Some(title.as_str())
                    {
                        return fail("patch_user: the answer does not show the change");
                    }
                    Ok(())
                }
                _ => fail(format!("patch_user: {} {}", r.status, snippet(&r.body))),
            }
        }
        Class::PatchMember => {
            if s.groups.is_empty() {
                return fail("patch_member: no groups seeded (--groups 0)");
            }
            let (group, user, add) = match st.pending_member.take() {
                Some((g, u)) => (g, u, false),
                None => {
                    let g = s.groups[rng.gen_range(0..s.groups.len())].clone();
                    let u = s.users[own_user(rng, st, n)].id.clone();
                    st.pending_member = Some((g.clone(), u.clone()));
                    (g, u, true)
                }
            };
            let r = member_patch(c, &format!("/Groups/{group}"), &group, &user, add).await;
            if add && r.is_err() {
                st.pending_member = None;
            }
            r
        }
        Class::BigGroupPatch => {
            let Some(big) = s.big_group.as_deref() else {
                return fail("big_group_patch: no big group (--big-group 0)");
            };
            let (user, add) = match st.pending_big.take() {
                Some(u) => (u, false),
                None => {
                    let per = (s.spare.len() / st.tasks).max(1);
                    let k = (rng.gen_range(0..per) * st.tasks + st.task) % s.spare.len().max(1);
                    let Some(u) = s.spare.get(k) else {
                        return fail("big_group_patch: no spare users");
                    };
                    st.pending_big = Some(u.id.clone());
                    (u.id.clone(), true)
                }
            };
            let r = member_patch(
                c,
                &format!("/Groups/{big}?excludedAttributes=members"),
                big,
                &user,
                add,
            )
            .await;
            if add && r.is_err() {
                st.pending_big = None;
            }
            r
        }
        Class::BigGroupGet => {
            let Some(big) = s.big_group.as_deref() else {
                return fail("big_group_get: no big group (--big-group 0)");
            };
            let r = c
                .send(
                    Method::GET,
                    &format!("/Groups/{big}?excludedAttributes=members"),
                    None,
                )
                .await
                .map_err(|e| e.to_string())?;
            if r.status.as_u16() != 200 {
                return fail(format!("big_group_get: {} {}", r.status, snippet(&r.body)));
            }
            let v: Resource = serde_json::from_slice(&r.body).map_err(|e| e.to_string())?;
            if v.id.as_deref() != Some(big) {
                return fail("big_group_get: wrong id");
            }
            if v.members.is_some_and(|m| !m.is_empty()) {
                return fail("big_group_get: members returned despite excludedAttributes=members");
            }
            Ok(())
        }
        Class::Create => {
            let k = st.created.fetch_add(1, Ordering::Relaxed);
            let name = format!("new{k}.{}@example.com", s.run);
            let manager = &s.users[rng.gen_range(0..n)].id;
            let doc = body::user(&name, 10_000_000 + k, Some(manager));
            let b = serde_json::to_vec(&doc).map_err(|e| e.to_string())?;
            let r = c
                .send(Method::POST, "/Users", Some(Bytes::from(b)))
                .await
                .map_err(|e| e.to_string())?;
            if r.status.as_u16() != 201 {
                return fail(format!("create: {} {}", r.status, snippet(&r.body)));
            }
            let v: Resource = serde_json::from_slice(&r.body).map_err(|e| e.to_string())?;
            if v.id.as_deref().is_none_or(str::is_empty)
                || !v
                    .user_name
                    .as_deref()
                    .is_some_and(|x| x.eq_ignore_ascii_case(&name))
            {
                return fail("create: the answer lacks the id or the userName");
            }
            Ok(())
        }
    }
}

async fn member_patch(c: &mut Client, path: &str, group: &str, user: &str, add: bool) -> Check {
    let b = if add {
        patch(json!([{"op": "add", "path": "members", "value": [{"value": user}]}]))
    } else {
        patch(json!([{"op": "remove", "path": format!("members[value eq \"{user}\"]")}]))
    };
    let r = c
        .send(Method::PATCH, path, b)
        .await
        .map_err(|e| e.to_string())?;
    match r.status.as_u16() {
        204 => Ok(()),
        200 => {
            let v: Resource = serde_json::from_slice(&r.body).map_err(|e| e.to_string())?;
            if v.id.as_deref() != Some(group) {
                return fail("member patch: wrong group in the answer");
            }
            Ok(())
        }
        _ => fail(format!(
            "member patch ({}): {} {}",
            if add { "add" } else { "remove" },
            r.status,
            snippet(&r.body)
        )),
    }
}
