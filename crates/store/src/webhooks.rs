//! Webhook subscriptions and their deliveries (`webhooks`, `webhook_deliveries`). The engine
//! that fills and sends them lives in the `hooks` crate; this module only reads and writes rows.
//!
//! A delivery is enqueued once per `(webhook, event seq, type)` (a unique key), in the same
//! transaction that moves the webhook's cursor past the event, and is then sent until the
//! receiver answers 2xx or the engine gives up (`failed`).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::conn::DbConn;
use crate::error::{Error, Result};
use crate::schema::{webhook_deliveries, webhooks};

/// The `resource_type` of audit events about webhooks.
pub const RESOURCE: &str = "Webhook";
/// Waiting to be sent (or re-sent after a failure).
pub const PENDING: &str = "pending";
/// The receiver answered 2xx.
pub const DELIVERED: &str = "delivered";
/// Given up after the last attempt.
pub const FAILED: &str = "failed";

/// A webhook subscription as stored (`secret` sealed).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhooks)]
pub struct WebhookRow {
    /// The id.
    pub id: String,
    /// Where deliveries are POSTed.
    pub url: String,
    /// The subscribed types, a JSON array of strings.
    pub events: String,
    /// The signing secret, encrypted with the server's key.
    pub secret: String,
    /// Free text.
    pub description: Option<String>,
    /// The last event seq whose deliveries are enqueued.
    pub cursor: i64,
    /// When created.
    pub created: NaiveDateTime,
    /// When last changed.
    pub modified: NaiveDateTime,
}

/// One delivery.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_deliveries)]
pub struct DeliveryRow {
    /// The delivery id (also in the payload and the `Roster-Webhook-Id` header).
    pub id: String,
    /// The webhook.
    pub webhook_id: String,
    /// The event it derives from.
    pub seq: i64,
    /// The webhook event type (`joiner`, `leaver`, `alert` …).
    pub event_type: String,
    /// The JSON body sent.
    pub payload: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// Attempts made.
    pub attempts: i64,
    /// When the next attempt is due (`None`: now).
    pub next_attempt_at: Option<NaiveDateTime>,
    /// The HTTP status of the last attempt, if any answer came.
    pub last_status: Option<i64>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When enqueued.
    pub created: NaiveDateTime,
    /// When the receiver accepted it.
    pub delivered_at: Option<NaiveDateTime>,
}

/// Inserts a webhook.
pub fn insert(conn: &mut DbConn, row: &WebhookRow) -> Result<()> {
    diesel::insert_into(webhooks::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// One webhook.
pub fn get(conn: &mut DbConn, id: &str) -> Result<WebhookRow> {
    Ok(webhooks::table
        .find(id)
        .select(WebhookRow::as_select())
        .get_result(conn)?)
}

/// Every webhook, oldest first.
pub fn list(conn: &mut DbConn) -> Result<Vec<WebhookRow>> {
    Ok(webhooks::table
        .order((webhooks::created.asc(), webhooks::id.asc()))
        .select(WebhookRow::as_select())
        .load(conn)?)
}

/// Replaces a webhook's settings (the cursor stays).
pub fn update(
    conn: &mut DbConn,
    id: &str,
    url: &str,
    events: &str,
    secret: &str,
    description: Option<&str>,
    now: NaiveDateTime,
) -> Result<()> {
    let n = diesel::update(webhooks::table.find(id))
        .set((
            webhooks::url.eq(url),
            webhooks::events.eq(events),
            webhooks::secret.eq(secret),
            webhooks::description.eq(description),
            webhooks::modified.eq(now),
        ))
        .execute(conn)?;
    if n == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}

/// Deletes a webhook and its deliveries.
pub fn delete(conn: &mut DbConn, id: &str) -> Result<()> {
    diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::webhook_id.eq(id)))
        .execute(conn)?;
    let n = diesel::delete(webhooks::table.find(id)).execute(conn)?;
    if n == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}

/// Moves a webhook's cursor (never backwards).
pub fn advance(conn: &mut DbConn, id: &str, seq: i64) -> Result<()> {
    diesel::update(webhooks::table.find(id).filter(webhooks::cursor.lt(seq)))
        .set(webhooks::cursor.eq(seq))
        .execute(conn)?;
    Ok(())
}

/// Enqueues deliveries (the unique key refuses a second one for the same webhook, seq and
/// type: the transaction then fails rather than enqueue twice).
pub fn enqueue(conn: &mut DbConn, rows: &[DeliveryRow]) -> Result<()> {
    for row in rows {
        diesel::insert_into(webhook_deliveries::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(())
}

/// The next deliveries of a webhook to send, in event order: the oldest pending ones, at most
/// `limit`. The caller sends them in order and stops at the first that is not due or fails,
/// so a receiver sees its deliveries in the order of the log.
pub fn next_pending(conn: &mut DbConn, webhook_id: &str, limit: i64) -> Result<Vec<DeliveryRow>> {
    Ok(webhook_deliveries::table
        .filter(webhook_deliveries::webhook_id.eq(webhook_id))
        .filter(webhook_deliveries::status.eq(PENDING))
        .order((
            webhook_deliveries::seq.asc(),
            webhook_deliveries::event_type.asc(),
        ))
        .limit(limit)
        .select(DeliveryRow::as_select())
        .load(conn)?)
}

/// Records the outcome of an attempt.
pub fn record(conn: &mut DbConn, row: &DeliveryRow) -> Result<()> {
    diesel::update(webhook_deliveries::table.find(&row.id))
        .set((
            webhook_deliveries::status.eq(&row.status),
            webhook_deliveries::attempts.eq(row.attempts),
            webhook_deliveries::next_attempt_at.eq(row.next_attempt_at),
            webhook_deliveries::last_status.eq(row.last_status),
            webhook_deliveries::last_error.eq(&row.last_error),
            webhook_deliveries::delivered_at.eq(row.delivered_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// One delivery of a webhook.
pub fn delivery(conn: &mut DbConn, webhook_id: &str, id: &str) -> Result<DeliveryRow> {
    Ok(webhook_deliveries::table
        .find(id)
        .filter(webhook_deliveries::webhook_id.eq(webhook_id))
        .select(DeliveryRow::as_select())
        .get_result(conn)?)
}

/// Deliveries of a webhook, newest first, optionally of one status, with `seq < before`.
pub fn deliveries(
    conn: &mut DbConn,
    webhook_id: &str,
    status: Option<&str>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<DeliveryRow>> {
    let mut q = webhook_deliveries::table
        .filter(webhook_deliveries::webhook_id.eq(webhook_id))
        .into_boxed();
    if let Some(s) = status {
        q = q.filter(webhook_deliveries::status.eq(s.to_string()));
    }
    if let Some(b) = before {
        q = q.filter(webhook_deliveries::seq.lt(b));
    }
    Ok(q.order((
        webhook_deliveries::seq.desc(),
        webhook_deliveries::event_type.desc(),
    ))
    .limit(limit)
    .select(DeliveryRow::as_select())
    .load(conn)?)
}

/// Counts of a webhook's deliveries by status.
pub fn counts(conn: &mut DbConn, webhook_id: &str) -> Result<Vec<(String, i64)>> {
    Ok(webhook_deliveries::table
        .filter(webhook_deliveries::webhook_id.eq(webhook_id))
        .group_by(webhook_deliveries::status)
        .select((webhook_deliveries::status, diesel::dsl::count_star()))
        .load(conn)?)
}

/// Makes a delivery pending again, due now, with its attempts reset (`POST …/retry`).
pub fn retry(conn: &mut DbConn, webhook_id: &str, id: &str) -> Result<()> {
    let n = diesel::update(
        webhook_deliveries::table
            .find(id)
            .filter(webhook_deliveries::webhook_id.eq(webhook_id)),
    )
    .set((
        webhook_deliveries::status.eq(PENDING),
        webhook_deliveries::attempts.eq(0i64),
        webhook_deliveries::next_attempt_at.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?;
    if n == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}
