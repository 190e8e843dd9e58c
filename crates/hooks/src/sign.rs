//! Delivery signatures: `Roster-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` over
//! `"<t>.<body>"` with the webhook's secret (the Stripe scheme: the timestamp is signed too,
//! so a receiver can refuse replays older than a few minutes).

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "Roster-Signature";
/// The delivery id header (the same for every attempt: receivers deduplicate on it).
pub const ID_HEADER: &str = "Roster-Webhook-Id";
/// The event type header.
pub const EVENT_HEADER: &str = "Roster-Webhook-Event";

/// Hex HMAC-SHA256 of `"<t>.<body>"` under `secret`.
pub fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    // HMAC accepts keys of any length
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The `Roster-Signature` header value for `body` sent at `t`.
pub fn header(secret: &str, t: i64, body: &[u8]) -> String {
    format!("t={t},v1={}", signature(secret, t, body))
}

/// Checks a `Roster-Signature` header: a `v1` that matches and a `t` within `tolerance_secs`
/// of `now` (constant-time comparison).
pub fn verify(secret: &str, header: &str, body: &[u8], now: i64, tolerance_secs: i64) -> bool {
    let mut t: Option<i64> = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse().ok(),
            Some(("v1", v)) => sigs.push(v.to_string()),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    if (now - t).abs() > tolerance_secs {
        return false;
    }
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    sigs.iter().any(|s| {
        hex::decode(s)
            .map(|raw| mac.clone().verify_slice(&raw).is_ok())
            .unwrap_or(false)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4231_case_2() {
        // HMAC-SHA256("Jefe", "what do ya want for nothing?") with the message split as t.body
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn header_round_trips_and_rejects_tampering() {
        let h = header("0123456789abcdef", 1_700_000_000, b"{\"a\":1}");
        assert!(h.starts_with("t=1700000000,v1="));
        assert!(verify(
            "0123456789abcdef",
            &h,
            b"{\"a\":1}",
            1_700_000_100,
            300
        ));
        assert!(!verify(
            "0123456789abcdef",
            &h,
            b"{\"a\":2}",
            1_700_000_100,
            300
        ));
        assert!(!verify(
            "another secret!!",
            &h,
            b"{\"a\":1}",
            1_700_000_100,
            300
        ));
        assert!(!verify(
            "0123456789abcdef",
            &h,
            b"{\"a\":1}",
            1_700_001_000,
            300
        ));
        assert!(!verify("0123456789abcdef", "v1=00", b"{}", 0, 300));
    }
}
