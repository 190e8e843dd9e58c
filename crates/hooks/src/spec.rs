//! Webhook settings as the admin API takes them, validated field by field.

use serde_json::Value;

use crate::error::{Error, Result};

/// Webhook event types a subscription may name. `access.*` and `membership.expired` are the
/// governance actions of the approval workflow, passed through under their own names.
pub const EVENT_TYPES: &[&str] = &[
    "joiner",
    "mover",
    "leaver",
    "alert",
    "access.requested",
    "access.approved",
    "access.denied",
    "access.expired",
    "access.withdrawn",
    "membership.expired",
];

/// Shortest accepted secret, in characters.
pub const MIN_SECRET_CHARS: usize = 16;
/// Longest accepted URL, in bytes.
pub const MAX_URL_BYTES: usize = 2048;

/// A validated webhook body.
#[derive(Debug, Clone)]
pub struct WebhookInput {
    /// Where deliveries go (`http(s)://`, no credentials in it).
    pub url: String,
    /// Subscribed types, deduplicated, in the order of [`EVENT_TYPES`].
    pub events: Vec<String>,
    /// The signing secret (`None` on a PUT that keeps the stored one).
    pub secret: Option<String>,
    /// Free text.
    pub description: Option<String>,
}

fn invalid(field: &str, why: &str) -> Error {
    Error::Invalid(format!("{field}: {why}"))
}

impl WebhookInput {
    /// Validates a JSON body; `secret_required` on create.
    pub fn from_json(body: &Value, secret_required: bool) -> Result<WebhookInput> {
        let obj = body
            .as_object()
            .ok_or_else(|| Error::Invalid("the body must be a JSON object".into()))?;
        for key in obj.keys() {
            if !["url", "events", "secret", "description"].contains(&key.as_str()) {
                return Err(invalid(
                    key,
                    "unknown field (url, events, secret, description)",
                ));
            }
        }
        let url = obj
            .get("url")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("url", "required, a string"))?
            .trim()
            .to_string();
        check_url(&url)?;
        let listed = obj
            .get("events")
            .and_then(Value::as_array)
            .ok_or_else(|| invalid("events", "required, a non-empty array of event types"))?;
        let mut names = Vec::new();
        for v in listed {
            let name = v
                .as_str()
                .ok_or_else(|| invalid("events", "every entry must be a string"))?;
            if !EVENT_TYPES.contains(&name) {
                return Err(invalid(
                    "events",
                    &format!(
                        "unknown event type '{name}' (known: {})",
                        EVENT_TYPES.join(", ")
                    ),
                ));
            }
            names.push(name);
        }
        if names.is_empty() {
            return Err(invalid("events", "name at least one event type"));
        }
        let events = EVENT_TYPES
            .iter()
            .filter(|t| names.contains(t))
            .map(|t| t.to_string())
            .collect();
        let secret = match obj.get("secret") {
            None | Some(Value::Null) if !secret_required => None,
            Some(Value::String(s)) if s.chars().count() >= MIN_SECRET_CHARS => Some(s.clone()),
            _ => {
                return Err(invalid(
                    "secret",
                    &format!("required, a string of at least {MIN_SECRET_CHARS} characters"),
                ))
            }
        };
        let description = match obj.get("description") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.len() <= 1024 => Some(s.clone()),
            _ => return Err(invalid("description", "a string of at most 1024 bytes")),
        };
        Ok(WebhookInput {
            url,
            events,
            secret,
            description,
        })
    }
}

fn check_url(url: &str) -> Result<()> {
    if url.len() > MAX_URL_BYTES {
        return Err(invalid("url", "longer than 2048 bytes"));
    }
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| invalid("url", &format!("not an absolute URL ({e})")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid("url", "must be http:// or https://"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid("url", "names no host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid(
            "url",
            "must not carry credentials (deliveries are signed with the secret)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn err(body: Value) -> String {
        WebhookInput::from_json(&body, true)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn fields_are_checked_and_named() {
        let ok = json!({"url": "https://hooks.example/x", "events": ["leaver", "joiner", "leaver"], "secret": "0123456789abcdef"});
        let w = WebhookInput::from_json(&ok, true).unwrap();
        assert_eq!(w.events, ["joiner", "leaver"]);
        assert!(
            err(json!({"url": "ftp://x", "events": ["alert"], "secret": "0123456789abcdef"}))
                .starts_with("url:")
        );
        assert!(err(
            json!({"url": "https://u:p@x", "events": ["alert"], "secret": "0123456789abcdef"})
        )
        .starts_with("url:"));
        assert!(
            err(json!({"url": "https://x", "events": ["nope"], "secret": "0123456789abcdef"}))
                .starts_with("events:")
        );
        assert!(
            err(json!({"url": "https://x", "events": [], "secret": "0123456789abcdef"}))
                .starts_with("events:")
        );
        assert!(
            err(json!({"url": "https://x", "events": ["alert"], "secret": "short"}))
                .starts_with("secret:")
        );
        assert!(err(json!({"url": "https://x", "events": ["alert"]})).starts_with("secret:"));
        assert!(err(
            json!({"url": "https://x", "events": ["alert"], "secret": "0123456789abcdef", "x": 1})
        )
        .starts_with("x:"));
        let keep = json!({"url": "https://x", "events": ["alert"]});
        assert!(WebhookInput::from_json(&keep, false)
            .unwrap()
            .secret
            .is_none());
    }
}
