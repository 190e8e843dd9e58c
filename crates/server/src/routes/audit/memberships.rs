//! Who was in a group at an instant or over a window, and which groups a user was in
//! (directly and through nested groups) over a window, with the periods.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{NaiveDateTime, TimeDelta};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use store::audit::{AtLookup, Period};
use store::resource::ResourceType;

use super::export::{self, cell, Listing, Page};
use super::{check_not_pruned, instant, limit, never_existed_since, not_at, ts, window, Ts};
use crate::auth::{AuditRead, Auth};
use crate::db;
use crate::error::ApiError;
use crate::state::AppState;

/// Query parameters of the membership lists: `at`, or a window `from`/`to`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MembershipParams {
    at: Option<String>,
    from: Option<String>,
    to: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
}

#[derive(Clone, Copy)]
enum When {
    At(NaiveDateTime),
    Window(Option<NaiveDateTime>, NaiveDateTime),
}

fn when(q: &MembershipParams) -> Result<When, ApiError> {
    if q.from.is_some() || q.to.is_some() {
        if q.at.is_some() {
            return Err(scim::Error::invalid_value(
                "give either at, or a window with from and/or to, not both",
            )
            .into());
        }
        let (from, to) = window(q.from.as_deref(), q.to.as_deref())?;
        return Ok(When::Window(from, to));
    }
    Ok(When::At(
        instant("at", q.at.as_deref())?.unwrap_or_else(store::write::now),
    ))
}

/// One member of `Groups/{id}/members`, serialised straight into the response (a page of
/// 1,000 members builds no `serde_json::Value`).
#[derive(Serialize)]
struct MemberItem {
    value: String,
    #[serde(rename = "type")]
    kind: String,
    display: Option<String>,
    periods: Vec<PeriodItem>,
}

/// One membership period of a [`MemberItem`].
#[derive(Serialize)]
struct PeriodItem {
    from: Ts,
    to: Option<Ts>,
    source: String,
}

impl MemberItem {
    fn new(id: String, display: Option<String>, periods: Vec<Period>) -> MemberItem {
        let kind = periods
            .first()
            .map(|p| p.member_type.clone())
            .unwrap_or_default();
        MemberItem {
            value: id,
            kind,
            display,
            periods: periods
                .into_iter()
                .map(|p| PeriodItem {
                    from: Ts(p.valid_from),
                    to: p.valid_to.map(Ts),
                    source: p.source,
                })
                .collect(),
        }
    }
}

const MEMBER_COLUMNS: &[&str] = &["value", "type", "display", "source", "from", "to"];

fn member_rows(item: &MemberItem) -> Vec<Vec<String>> {
    item.periods
        .iter()
        .map(|p| {
            vec![
                item.value.clone(),
                item.kind.clone(),
                item.display.clone().unwrap_or_default(),
                p.source.clone(),
                ts(p.from.0),
                p.to.map(|t| ts(t.0)).unwrap_or_default(),
            ]
        })
        .collect()
}

/// `GET /audit/v1/Groups/{id}/members?at=T` (members at `T`, default now) or `?from=&to=`
/// (everyone who was a member at any moment of `[from, to)`, with their periods).
pub async fn group_members(
    _auth: Auth<AuditRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    q: web::Query<MembershipParams>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let limit = limit(q.limit.as_deref())?;
    let when = when(&q)?;
    let check_id = id.clone();
    match when {
        // At T the group must have existed then; over a window it must have existed at all.
        When::At(at) => {
            let (anchor, found) = db::run(&state.store, move |s| {
                s.read(|c| {
                    let anchor = store::events::anchor(c)?;
                    let found = store::audit::resource_at(c, ResourceType::Group, &check_id, at)?;
                    Ok((anchor, found))
                })
            })
            .await?;
            check_not_pruned("at", Some(at), &anchor)?;
            if !matches!(found, AtLookup::Found(_)) {
                return Err(not_at("Group", &id, at, &found, &anchor));
            }
        }
        When::Window(from, _) => {
            let (anchor, created) = db::run(&state.store, move |s| {
                s.read(|c| {
                    let anchor = store::events::anchor(c)?;
                    let created = store::audit::created(c, ResourceType::Group, &check_id)?;
                    Ok((anchor, created))
                })
            })
            .await?;
            check_not_pruned("from", from, &anchor)?;
            if created.is_none() {
                return Err(never_existed_since("Group", &id, &anchor));
            }
        }
    }
    let listing = Listing::new(
        move |c, cursor, limit| {
            let after = cursor.unwrap_or_default();
            let members: Vec<(String, Vec<Period>, Option<String>)> = match when {
                // one query: the periods at T with each member's name at T
                When::At(at) => store::audit::members_at_named(c, &id, at, after, limit)?
                    .into_iter()
                    .map(|(p, name)| (p.member_id.clone(), vec![p], name))
                    .collect(),
                When::Window(from, to) => {
                    let rows = store::audit::members_in_window(c, &id, from, to, after, limit)?;
                    let ids: Vec<String> = rows.iter().map(|(m, _)| m.clone()).collect();
                    let mut names =
                        store::audit::names_at(c, &ids, to - TimeDelta::microseconds(1))?;
                    rows.into_iter()
                        .map(|(m, periods)| {
                            let name = names.remove(&m);
                            (m, periods, name)
                        })
                        .collect()
                }
            };
            let next = (members.len() as i64 == limit)
                .then(|| members.last().map(|(m, _, _)| m.clone()))
                .flatten();
            let items = members
                .into_iter()
                .map(|(m, periods, display)| MemberItem::new(m, display, periods))
                .collect();
            Ok(Page { items, next })
        },
        MEMBER_COLUMNS,
        member_rows,
    );
    export::respond(&req, &state.store, listing, q.into_inner().cursor, limit).await
}

const GROUP_COLUMNS: &[&str] = &["value", "display", "membership", "from", "to", "via"];

fn group_rows(item: &Value) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for kind in ["direct", "indirect"] {
        for p in item[kind].as_array().into_iter().flatten() {
            let via = p["via"]
                .as_array()
                .map(|v| {
                    v.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(" > ")
                })
                .unwrap_or_default();
            out.push(vec![
                cell(item.get("value")),
                cell(item.get("display")),
                kind.to_string(),
                cell(p.get("from")),
                cell(p.get("to")),
                via,
            ]);
        }
    }
    out
}

/// `GET /audit/v1/Users/{id}/groups?from=T1&to=T2` (or `?at=T`): every group the user belonged
/// to during the window, directly or through nested groups, with the periods; an indirect
/// period is the intersection of the periods along the chain, `via` lists the chain.
pub async fn user_groups(
    _auth: Auth<AuditRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    q: web::Query<MembershipParams>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let limit = limit(q.limit.as_deref())?;
    let (from, to, name) = match when(&q)? {
        When::At(at) => (Some(at), at + TimeDelta::microseconds(1), "at"),
        When::Window(from, to) => (from, to, "from"),
    };
    let check_id = id.clone();
    let (anchor, created) = db::run(&state.store, move |s| {
        s.read(|c| {
            let anchor = store::events::anchor(c)?;
            let created = store::audit::created(c, ResourceType::User, &check_id)?;
            Ok((anchor, created))
        })
    })
    .await?;
    check_not_pruned(name, from, &anchor)?;
    if created.is_none() {
        return Err(never_existed_since("User", &id, &anchor));
    }
    let listing = Listing::new(
        move |c, cursor, limit| {
            let after = cursor.unwrap_or_default();
            let all = store::audit::by_group(store::audit::groups_of_member(c, &id, from, to)?);
            let page: Vec<(String, Vec<store::audit::GroupPath>)> = all
                .into_iter()
                .filter(|(g, _)| g.as_str() > after)
                .take(usize::try_from(limit).unwrap_or(usize::MAX))
                .collect();
            let ids: Vec<String> = page.iter().map(|(g, _)| g.clone()).collect();
            let names = store::audit::names_at(c, &ids, to - TimeDelta::microseconds(1))?;
            let next = (page.len() as i64 == limit)
                .then(|| ids.last().cloned())
                .flatten();
            let items = page
                .into_iter()
                .map(|(g, paths)| {
                    let (direct, indirect): (Vec<_>, Vec<_>) =
                        paths.into_iter().partition(|p| p.depth == 0);
                    json!({
                        "value": g,
                        "display": names.get(&g),
                        "direct": direct.iter().map(|p| json!({"from": ts(p.valid_from), "to": p.valid_to.map(ts)})).collect::<Vec<_>>(),
                        "indirect": indirect.iter().map(|p| {
                            let mut via: Vec<&str> = p.path.split('/').collect();
                            via.pop();
                            json!({"from": ts(p.valid_from), "to": p.valid_to.map(ts), "via": via})
                        }).collect::<Vec<_>>(),
                    })
                })
                .collect();
            Ok(Page { items, next })
        },
        GROUP_COLUMNS,
        group_rows,
    );
    export::respond(&req, &state.store, listing, q.into_inner().cursor, limit).await
}
