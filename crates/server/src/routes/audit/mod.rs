//! The compliance history under `/audit/v1`: read-only, token scope `audit.read`.
//!
//! Lists are keyset-paged (`cursor`, `limit`) and answer `{"items": [...], "nextCursor": "..."}`;
//! with `Accept: text/csv` or `application/x-ndjson` they stream the whole result instead (see
//! [`export`]). Nothing here writes: every other method is `405`.

pub mod events;
pub mod export;
pub mod memberships;
pub mod reports;
pub mod resources;

use actix_web::http::Method;
use actix_web::{web, HttpRequest};
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta};

use super::{endpoint, Access, Endpoint};
use crate::auth;
use crate::error::ApiError;

/// The audit routes (under `/audit/v1`): all `GET`, all `audit.read`.
pub fn endpoints() -> Vec<Endpoint> {
    let get = |path: &'static str, route: fn(actix_web::Route) -> actix_web::Route| {
        endpoint(Method::GET, path, Access::Scope(auth::AUDIT_READ), route)
    };
    vec![
        get("/head", |r| r.to(events::head)),
        get("/events", |r| r.to(events::list)),
        get("/Users/{id}", |r| r.to(resources::user_at)),
        get("/Users/{id}/versions", |r| r.to(resources::user_versions)),
        get("/Users/{id}/groups", |r| r.to(memberships::user_groups)),
        get("/Groups/{id}", |r| r.to(resources::group_at)),
        get("/Groups/{id}/versions", |r| r.to(resources::group_versions)),
        get("/Groups/{id}/members", |r| r.to(memberships::group_members)),
        get("/reports/orphans", |r| r.to(reports::orphans)),
    ]
}

/// Unknown paths under `/audit/v1`.
pub async fn not_found(req: HttpRequest) -> Result<web::Json<()>, ApiError> {
    Err(scim::Error::not_found(format!("no audit endpoint at {}", req.path())).into())
}

/// Any method but GET.
pub async fn method_not_allowed(req: HttpRequest) -> Result<web::Json<()>, ApiError> {
    Err(scim::Error::new(
        405,
        None,
        format!(
            "{} is not allowed on {}: the audit API is read-only (GET)",
            req.method(),
            req.path()
        ),
    )
    .into())
}

/// Page size when `limit` is not given.
pub const DEFAULT_LIMIT: i64 = 100;
/// Largest `limit`.
pub const MAX_LIMIT: i64 = 1000;

/// Parses `limit` (1..=1000, default 100).
pub fn limit(raw: Option<&str>) -> Result<i64, ApiError> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_LIMIT);
    };
    raw.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| (1..=MAX_LIMIT).contains(n))
        .ok_or_else(|| {
            scim::Error::invalid_value(format!(
                "limit must be a whole number from 1 to {MAX_LIMIT}, not '{raw}'"
            ))
            .into()
        })
}

/// Parses an instant parameter: RFC 3339 (`2026-03-01T09:00:00Z`, any offset), or a date
/// (`2026-03-01`, its midnight UTC). Precision beyond microseconds is dropped.
pub fn instant(name: &str, raw: Option<&str>) -> Result<Option<NaiveDateTime>, ApiError> {
    let Some(raw) = raw.map(str::trim) else {
        return Ok(None);
    };
    let parsed = DateTime::parse_from_rfc3339(raw)
        .map(|t| t.naive_utc())
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
        .ok_or_else(|| {
            scim::Error::invalid_value(format!(
                "{name} must be an RFC 3339 date-time such as 2026-03-01T09:00:00Z (or a date \
                 such as 2026-03-01), not '{raw}'"
            ))
        })?;
    let micros = TimeDelta::microseconds(1);
    let truncated = chrono::DurationRound::duration_trunc(parsed, micros).unwrap_or(parsed);
    Ok(Some(truncated))
}

/// A time window `[from, to)`; `to` defaults to now.
pub fn window(
    from: Option<&str>,
    to: Option<&str>,
) -> Result<(Option<NaiveDateTime>, NaiveDateTime), ApiError> {
    let from = instant("from", from)?;
    let to = instant("to", to)?.unwrap_or_else(|| store::write::now() + TimeDelta::microseconds(1));
    if from.is_some_and(|f| f >= to) {
        return Err(scim::Error::invalid_value("from must be before to").into());
    }
    Ok((from, to))
}

/// The format of every instant the audit API writes.
const TS_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6fZ";

/// An instant as the audit API writes it: RFC 3339 UTC with microseconds, exact enough to be
/// passed back as `at`.
pub fn ts(t: NaiveDateTime) -> String {
    t.format(TS_FORMAT).to_string()
}

/// An instant that serialises as [`ts`] does, written straight into the output (no `String`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ts(pub NaiveDateTime);

impl Ts {
    /// `YYYY-MM-DDTHH:MM:SS.ffffffZ` written digit by digit (chrono's `format` parses its
    /// format string on every call: a third of the cost of rendering 1,000 members); `None` for
    /// years outside 0..=9999.
    fn digits(&self) -> Option<[u8; 27]> {
        use chrono::{Datelike, Timelike};
        let t = self.0;
        let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
        let micros = t.nanosecond() / 1000 % 1_000_000;
        let mut out = *b"0000-00-00T00:00:00.000000Z";
        let mut put = |at: usize, width: usize, mut v: u32| {
            for i in (at..at + width).rev() {
                out[i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(0, 4, year);
        put(5, 2, t.month());
        put(8, 2, t.day());
        put(11, 2, t.hour());
        put(14, 2, t.minute());
        put(17, 2, t.second());
        put(20, 6, micros);
        Some(out)
    }
}

impl serde::Serialize for Ts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.digits() {
            Some(d) => s.serialize_str(std::str::from_utf8(&d).unwrap_or_default()),
            None => s.collect_str(&self.0.format(TS_FORMAT)),
        }
    }
}

/// The 404 for a point-in-time lookup that found nothing, saying why.
pub fn not_at(
    kind: &str,
    id: &str,
    at: NaiveDateTime,
    found: &store::audit::AtLookup,
    anchor: &store::events::Anchor,
) -> ApiError {
    use store::audit::AtLookup;
    let detail = match found {
        AtLookup::NeverExisted | AtLookup::Found(_) => {
            return never_existed_since(kind, id, anchor);
        }
        AtLookup::NotYetCreated { created } => format!(
            "{kind} '{id}' did not exist at {}: it was created at {}",
            ts(at),
            ts(*created)
        ),
        AtLookup::Deleted { deleted } => format!(
            "{kind} '{id}' did not exist at {}: it was deleted at {}",
            ts(at),
            ts(*deleted)
        ),
    };
    scim::Error::not_found(detail).into()
}

/// `410 Gone` when `at` (or a window start) is before a prune's cut: the history that would
/// answer it was deleted by `roster audit prune`.
pub fn check_not_pruned(
    name: &str,
    t: Option<NaiveDateTime>,
    anchor: &store::events::Anchor,
) -> Result<(), ApiError> {
    match (t, anchor.pruned_before) {
        (Some(t), Some(cut)) if t < cut => Err(scim::Error::new(
            410,
            None,
            format!(
                "history before {} was pruned (roster audit prune, event {}): {name} {} cannot \
                 be answered; ask for an instant at or after {}",
                ts(cut),
                anchor.prune_seq.map(|s| s.to_string()).unwrap_or_default(),
                ts(t),
                ts(cut)
            ),
        )
        .into()),
        _ => Ok(()),
    }
}

/// The 404 for a resource id that never existed (or, after a prune, has no kept history).
pub fn never_existed_since(kind: &str, id: &str, anchor: &store::events::Anchor) -> ApiError {
    match anchor.pruned_before {
        Some(cut) => scim::Error::not_found(format!(
            "no {kind} with id '{id}' has existed since {} (history before that was pruned)",
            ts(cut)
        ))
        .into(),
        None => never_existed(kind, id),
    }
}

/// The 404 for a resource id that never existed.
pub fn never_existed(kind: &str, id: &str) -> ApiError {
    scim::Error::not_found(format!("no {kind} with id '{id}' has ever existed")).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_and_limits() {
        let t = instant("at", Some("2026-03-01T10:00:00.1234567+02:00"))
            .unwrap()
            .unwrap();
        assert_eq!(ts(t), "2026-03-01T08:00:00.123456Z");
        for t in [
            t,
            NaiveDate::from_ymd_opt(1970, 1, 1)
                .unwrap()
                .and_hms_micro_opt(0, 0, 0, 0)
                .unwrap(),
            NaiveDate::from_ymd_opt(9999, 12, 31)
                .unwrap()
                .and_hms_micro_opt(23, 59, 59, 999_999)
                .unwrap(),
            NaiveDate::from_ymd_opt(12345, 6, 7)
                .unwrap()
                .and_hms_micro_opt(8, 9, 10, 11)
                .unwrap(),
        ] {
            assert_eq!(
                serde_json::to_string(&Ts(t)).unwrap(),
                format!("\"{}\"", ts(t))
            );
        }
        assert_eq!(
            ts(instant("at", Some("2026-03-01")).unwrap().unwrap()),
            "2026-03-01T00:00:00.000000Z"
        );
        assert!(instant("at", Some("yesterday")).is_err());
        assert_eq!(limit(None).unwrap(), 100);
        assert!(limit(Some("0")).is_err());
        assert!(limit(Some("1001")).is_err());
        assert!(limit(Some("x")).is_err());
    }
}
