//! A target loaded for pushing: its row, settings, decrypted credentials and SCIM client.

use std::collections::HashSet;

use store::push::targets::TargetRow;

use crate::client::Client;
use crate::crypto::SecretKey;
use crate::error::{Error, Result};
use crate::spec::{Auth, Scope, Settings};

/// A target ready to push.
#[derive(Debug)]
pub struct Target {
    /// The stored row.
    pub row: TargetRow,
    /// Its settings.
    pub settings: Settings,
    /// Its client.
    pub client: Client,
    /// The parsed scope filter (scope `filter`).
    pub filter: Option<scim::Filter>,
    /// The first retry delay of a failed item (doubling after each failure).
    pub retry_base: std::time::Duration,
}

impl Target {
    /// Decrypts the credentials and builds the client.
    pub fn load(
        row: TargetRow,
        key: &SecretKey,
        http: reqwest::Client,
        retry_base: std::time::Duration,
    ) -> Result<Target> {
        let settings = settings_of(&row)?;
        let auth: Auth = serde_json::from_str(&key.open(&row.secret)?)
            .map_err(|_| Error::Key("stored credentials are not readable".into()))?;
        let filter = match &settings.scope {
            Scope::Filter { filter } => Some(
                scim::filter::parse(filter)
                    .map_err(|e| Error::Invalid(format!("scope.filter: {}", e.detail)))?,
            ),
            _ => None,
        };
        let client = Client::new(
            &row.name,
            http,
            &settings.base_url,
            auth,
            settings.rate_limit,
        );
        Ok(Target {
            row,
            settings,
            client,
            filter,
            retry_base,
        })
    }

    /// The actor name in the audit log: `push:<name>`.
    pub fn actor(&self) -> String {
        format!("push:{}", self.row.name)
    }

    /// The assigned group ids (scope `groups`), else empty.
    pub fn assigned(&self) -> HashSet<String> {
        match &self.settings.scope {
            Scope::Groups { groups } => groups.iter().cloned().collect(),
            _ => HashSet::new(),
        }
    }
}

/// The settings stored in a row.
pub fn settings_of(row: &TargetRow) -> Result<Settings> {
    serde_json::from_str(&row.config)
        .map_err(|e| Error::Store(store::Error::Corrupt(format!("target settings: {e}"))))
}
