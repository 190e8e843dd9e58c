//! Webhook administration for the admin API: create, read, replace, delete, deliveries and
//! their retry. Blocking (database only); every change is an audit event by the calling actor,
//! with the secret left out. The secret is sealed with the server's key and never returned.

use serde_json::{json, Value};

use store::events::format_ts;
use store::webhooks::{self, DeliveryRow, WebhookRow, RESOURCE};
use store::{Store, WriteCtx};

use crate::error::{Error, Result};
use crate::spec::WebhookInput;

fn not_found(e: store::Error, what: &str) -> Error {
    match e {
        store::Error::NotFound => Error::NotFound(format!("{what} not found")),
        other => Error::Store(other),
    }
}

/// The API view of a webhook (no secret), with delivery counts.
pub fn view(row: &WebhookRow, counts: Option<&std::collections::HashMap<String, i64>>) -> Value {
    let events: Value = serde_json::from_str(&row.events).unwrap_or(Value::Null);
    let mut v = json!({
        "id": row.id,
        "url": row.url,
        "events": events,
        "description": row.description,
        "cursor": row.cursor,
        "created": format_ts(row.created),
        "modified": format_ts(row.modified),
    });
    if let (Some(c), Some(o)) = (counts, v.as_object_mut()) {
        let n = |s: &str| c.get(s).copied().unwrap_or(0);
        o.insert(
            "deliveries".into(),
            json!({"pending": n(webhooks::PENDING), "delivered": n(webhooks::DELIVERED), "failed": n(webhooks::FAILED)}),
        );
    }
    v
}

/// The API view of a delivery.
pub fn delivery_view(row: &DeliveryRow) -> Value {
    json!({
        "id": row.id,
        "webhookId": row.webhook_id,
        "seq": row.seq,
        "type": row.event_type,
        "status": row.status,
        "attempts": row.attempts,
        "nextAttemptAt": row.next_attempt_at.map(format_ts),
        "lastStatus": row.last_status,
        "lastError": row.last_error,
        "created": format_ts(row.created),
        "deliveredAt": row.delivered_at.map(format_ts),
        "payload": serde_json::from_str::<Value>(&row.payload).unwrap_or(Value::Null),
    })
}

/// Creates a webhook; it receives the events written from now on.
pub fn create(store: &Store, key: &push::SecretKey, ctx: &WriteCtx, body: &Value) -> Result<Value> {
    let input = WebhookInput::from_json(body, true)?;
    let secret = key.seal(input.secret.as_deref().unwrap_or_default())?;
    let events = serde_json::to_string(&input.events).unwrap_or_else(|_| "[]".into());
    let id = uuid::Uuid::new_v4().to_string();
    let row = store.write(ctx, |tx| {
        let now = tx.now();
        let (head, _) = store::events::head(tx.conn)?;
        let row = WebhookRow {
            id: id.clone(),
            url: input.url.clone(),
            events: events.clone(),
            secret: secret.clone(),
            description: input.description.clone(),
            // the create event itself is not delivered
            cursor: head + 1,
            created: now,
            modified: now,
        };
        webhooks::insert(tx.conn, &row)?;
        tx.append_event(
            "webhook.create",
            RESOURCE,
            &id,
            1,
            None,
            Some(view(&row, None).to_string()),
        )?;
        Ok(row)
    })?;
    Ok(view(&row, Some(&Default::default())))
}

/// Every webhook.
pub fn list(store: &Store) -> Result<Vec<Value>> {
    Ok(store.read(|c| {
        let rows = webhooks::list(c)?;
        let mut out = Vec::new();
        for r in rows {
            let counts: std::collections::HashMap<String, i64> =
                webhooks::counts(c, &r.id)?.into_iter().collect();
            out.push(view(&r, Some(&counts)));
        }
        Ok(out)
    })?)
}

/// One webhook.
pub fn get(store: &Store, id: &str) -> Result<Value> {
    store
        .read(|c| {
            let r = webhooks::get(c, id)?;
            let counts: std::collections::HashMap<String, i64> =
                webhooks::counts(c, id)?.into_iter().collect();
            Ok(view(&r, Some(&counts)))
        })
        .map_err(|e| not_found(e, &format!("webhook {id}")))
}

/// Replaces a webhook's settings (without `secret` the stored one stays).
pub fn replace(
    store: &Store,
    key: &push::SecretKey,
    ctx: &WriteCtx,
    id: &str,
    body: &Value,
) -> Result<Value> {
    let input = WebhookInput::from_json(body, false)?;
    let sealed = match &input.secret {
        Some(s) => Some(key.seal(s)?),
        None => None,
    };
    let events = serde_json::to_string(&input.events).unwrap_or_else(|_| "[]".into());
    store
        .write(ctx, |tx| {
            let current = webhooks::get(tx.conn, id)?;
            let secret = sealed.clone().unwrap_or(current.secret.clone());
            let now = tx.now();
            webhooks::update(
                tx.conn,
                id,
                &input.url,
                &events,
                &secret,
                input.description.as_deref(),
                now,
            )?;
            let row = webhooks::get(tx.conn, id)?;
            let mut after = view(&row, None);
            if let Some(o) = after.as_object_mut() {
                o.insert("secretChanged".into(), json!(sealed.is_some()));
            }
            tx.append_event(
                "webhook.replace",
                RESOURCE,
                id,
                0,
                Some(view(&current, None).to_string()),
                Some(after.to_string()),
            )?;
            Ok(())
        })
        .map_err(|e| not_found(e, &format!("webhook {id}")))?;
    get(store, id)
}

/// Deletes a webhook and its deliveries.
pub fn delete(store: &Store, ctx: &WriteCtx, id: &str) -> Result<()> {
    store
        .write(ctx, |tx| {
            let current = webhooks::get(tx.conn, id)?;
            webhooks::delete(tx.conn, id)?;
            tx.append_event(
                "webhook.delete",
                RESOURCE,
                id,
                0,
                Some(view(&current, None).to_string()),
                None,
            )?;
            Ok(())
        })
        .map_err(|e| not_found(e, &format!("webhook {id}")))
}

/// Deliveries of a webhook, newest first (`status` filter; `before`: a seq to page back from).
pub fn deliveries(
    store: &Store,
    id: &str,
    status: Option<&str>,
    before: Option<i64>,
    count: i64,
) -> Result<Value> {
    if let Some(s) = status {
        if ![webhooks::PENDING, webhooks::DELIVERED, webhooks::FAILED].contains(&s) {
            return Err(Error::Invalid(
                "status: one of pending, delivered, failed".into(),
            ));
        }
    }
    let count = count.clamp(1, 500);
    let rows = store
        .read(|c| {
            webhooks::get(c, id)?;
            webhooks::deliveries(c, id, status, before, count)
        })
        .map_err(|e| not_found(e, &format!("webhook {id}")))?;
    let next = (rows.len() as i64 == count)
        .then(|| rows.last().map(|r| r.seq))
        .flatten();
    let items: Vec<Value> = rows.iter().map(delivery_view).collect();
    Ok(json!({"totalResults": items.len(), "items": items, "nextBefore": next}))
}

/// Makes a delivery pending again, due now.
pub fn retry(store: &Store, ctx: &WriteCtx, id: &str, delivery: &str) -> Result<Value> {
    store
        .write(ctx, |tx| {
            webhooks::retry(tx.conn, id, delivery)?;
            tx.append_event(
                "webhook.retry",
                RESOURCE,
                id,
                0,
                None,
                Some(json!({"delivery": delivery}).to_string()),
            )?;
            Ok(())
        })
        .map_err(|e| not_found(e, &format!("delivery {delivery} of webhook {id}")))?;
    let row = store
        .read(|c| webhooks::delivery(c, id, delivery))
        .map_err(|e| not_found(e, "delivery"))?;
    Ok(delivery_view(&row))
}
