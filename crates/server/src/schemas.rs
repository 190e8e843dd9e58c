//! Custom schema extensions from `ROSTER_SCHEMA_DIR` (RFC 7643 §7 schema documents).
//!
//! Layout: `<dir>/User/*.json` extend Users, `<dir>/Group/*.json` extend Groups; each file is
//! one schema representation (`id` = the extension URN, `name`, `description`, `attributes`).
//! They are served by `/Schemas` and `/ResourceTypes`, validated, filterable and sortable like
//! the built-in attributes. The set is fixed at start.

use std::path::Path;

use anyhow::Context;
use scim::schema::{Registry, ResourceKind, SchemaDef};

/// The built-in registry plus every extension under `dir`.
pub fn load(dir: &Path) -> anyhow::Result<Registry> {
    anyhow::ensure!(
        dir.is_dir(),
        "ROSTER_SCHEMA_DIR {} is not a folder (expected User/*.json and Group/*.json)",
        dir.display()
    );
    let mut registry = Registry::builtin().clone();
    for kind in ResourceKind::ALL {
        let sub = dir.join(kind.name());
        if !sub.is_dir() {
            continue;
        }
        let mut files: Vec<_> = std::fs::read_dir(&sub)
            .with_context(|| format!("cannot read {}", sub.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let def: SchemaDef = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a SCIM schema document", file.display()))?;
            let id = def.id.clone();
            registry = registry
                .with_extension(kind, def)
                .map_err(|e| anyhow::anyhow!("{}: {}", file.display(), e.detail))?;
            tracing::info!(schema = %id, resource_type = kind.name(), "schema extension loaded");
        }
    }
    Ok(registry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_extensions_and_reports_bad_files() {
        let dir = std::env::temp_dir().join(format!("roster-schemas-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join("Group")).unwrap();
        std::fs::write(
            dir.join("Group/acme.json"),
            r#"{"id": "urn:acme:2.0:Group", "name": "Acme", "description": "",
                "attributes": [{"name": "costCode", "type": "string", "multiValued": false}]}"#,
        )
        .unwrap();
        let r = load(&dir).unwrap();
        assert_eq!(
            r.extension_urns(ResourceKind::Group),
            [scim::schema::GOVERNANCE_GROUP_SCHEMA, "urn:acme:2.0:Group"]
        );
        std::fs::write(dir.join("Group/bad.json"), "{").unwrap();
        let e = load(&dir).unwrap_err().to_string();
        assert!(e.contains("bad.json"), "{e}");
        assert!(load(&dir.join("missing")).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
