//! Encryption of target credentials at rest (XChaCha20-Poly1305 with a 256-bit key).
//!
//! The key comes from configuration (`ROSTER_SECRET_KEY`, 64 hex digits) or from a key file in
//! the data folder, created on first use with mode 0600. It is never stored in the database, so
//! a database dump alone does not reveal downstream credentials. Replicas must share the key.

use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

use crate::error::{Error, Result};

const PREFIX: &str = "xc1:";

/// The key that encrypts stored credentials.
#[derive(Clone)]
pub struct SecretKey([u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(…)")
    }
}

impl SecretKey {
    /// Parses 64 hex digits.
    pub fn from_hex(s: &str) -> Result<SecretKey> {
        let bytes = hex::decode(s.trim())
            .map_err(|_| Error::Key("the secret key must be 64 hex digits".into()))?;
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::Key("the secret key must be 64 hex digits (32 bytes)".into()))?;
        Ok(SecretKey(arr))
    }

    /// A new random key.
    pub fn generate() -> SecretKey {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        SecretKey(k)
    }

    /// Reads the key file, creating it (mode 0600, with its folder 0700) if it does not exist.
    pub fn load_or_create(path: &Path) -> Result<SecretKey> {
        use std::io::Write;
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let fail = |what: &str, e: std::io::Error| {
            Error::Key(format!("cannot {what} {}: {e}", path.display()))
        };
        match std::fs::read_to_string(path) {
            Ok(text) => return SecretKey::from_hex(&text),
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(fail("read", e)),
            Err(_) => {}
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| fail("create the folder of", e))?;
        }
        let key = SecretKey::generate();
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(mut f) => {
                f.write_all(hex::encode(key.0).as_bytes())
                    .map_err(|e| fail("write", e))?;
                Ok(key)
            }
            // another process created it first: use theirs
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = std::fs::read_to_string(path).map_err(|e| fail("read", e))?;
                SecretKey::from_hex(&text)
            }
            Err(e) => Err(fail("create", e)),
        }
    }

    /// Encrypts `plain` to printable text.
    pub fn seal(&self, plain: &str) -> Result<String> {
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = cipher
            .encrypt(XNonce::from_slice(&nonce), plain.as_bytes())
            .map_err(|_| Error::Key("encryption failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(format!("{PREFIX}{}", hex::encode(out)))
    }

    /// Decrypts text made by [`SecretKey::seal`]; fails if the key is wrong or the text altered.
    pub fn open(&self, sealed: &str) -> Result<String> {
        let wrong = || {
            Error::Key(
                "a stored credential cannot be decrypted: the secret key differs from the one it \
                 was stored with (check ROSTER_SECRET_KEY / the key file), or the row was altered"
                    .into(),
            )
        };
        let raw = sealed
            .strip_prefix(PREFIX)
            .and_then(|h| hex::decode(h).ok())
            .ok_or_else(wrong)?;
        if raw.len() < 24 {
            return Err(wrong());
        }
        let (nonce, ct) = raw.split_at(24);
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        let plain = cipher
            .decrypt(XNonce::from_slice(nonce), ct)
            .map_err(|_| wrong())?;
        String::from_utf8(plain).map_err(|_| wrong())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_other_keys_and_tampering() {
        let k = SecretKey::generate();
        let sealed = k.seal("s3cret-token").unwrap();
        assert!(!sealed.contains("s3cret"));
        assert_eq!(k.open(&sealed).unwrap(), "s3cret-token");
        assert!(SecretKey::generate().open(&sealed).is_err());
        let mut bad = sealed.clone();
        let last = bad.pop().unwrap();
        bad.push(if last == '0' { '1' } else { '0' });
        assert!(k.open(&bad).is_err());
    }

    #[test]
    fn key_file_is_created_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("roster-key-{}", uuid::Uuid::new_v4()));
        let path = dir.join("secret.key");
        let a = SecretKey::load_or_create(&path).unwrap();
        let b = SecretKey::load_or_create(&path).unwrap();
        assert_eq!(a.0, b.0);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
