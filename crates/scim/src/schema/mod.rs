//! Schemas (RFC 7643 §7–8): the built-in User, Group and EnterpriseUser definitions, the
//! registry that resolves attribute paths against them, and the discovery representations
//! served by `/Schemas` and `/ResourceTypes`.

mod attribute;

use std::sync::OnceLock;

use crate::error::Error;
use serde_json::{json, Value};

pub use attribute::{
    find_attr, AttrType, AttributeDef, Mutability, Returned, SchemaDef, Uniqueness,
};

use crate::path::AttrPath;

/// Core User schema URN.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// Core Group schema URN.
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// Enterprise User extension URN.
pub const ENTERPRISE_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// ListResponse message URN.
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// Error message URN.
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
/// PatchOp message URN.
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// SearchRequest message URN.
pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
/// BulkRequest message URN.
pub const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
/// BulkResponse message URN.
pub const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
/// ServiceProviderConfig schema URN.
pub const SERVICE_PROVIDER_CONFIG_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
/// ResourceType schema URN.
pub const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
/// Schema schema URN (the `schemas` value of a `/Schemas` entry).
pub const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

const USER_JSON: &str = include_str!("builtin/user.json");
const GROUP_JSON: &str = include_str!("builtin/group.json");
const ENTERPRISE_USER_JSON: &str = include_str!("builtin/enterprise_user.json");
const LIFECYCLE_USER_JSON: &str = include_str!("builtin/lifecycle_user.json");
const GOVERNANCE_GROUP_JSON: &str = include_str!("builtin/governance_group.json");

/// Roster's lifecycle extension for Users (`startDate`, `endDate`, `employmentStatus`).
pub const LIFECYCLE_USER_SCHEMA: &str =
    "urn:roster:params:scim:schemas:extension:lifecycle:2.0:User";
/// Roster's governance extension for Groups (`requiresApproval`, `approvers`,
/// `maxDurationDays`; see [`crate::governance`]).
pub const GOVERNANCE_GROUP_SCHEMA: &str =
    "urn:roster:params:scim:schemas:extension:governance:2.0:Group";

/// The resource types Roster serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    /// `/Users`
    User,
    /// `/Groups`
    Group,
}

impl ResourceKind {
    /// Both kinds, in discovery order.
    pub const ALL: [ResourceKind; 2] = [ResourceKind::User, ResourceKind::Group];

    /// The endpoint path, `/Users` or `/Groups`.
    pub fn endpoint(&self) -> &'static str {
        match self {
            ResourceKind::User => "/Users",
            ResourceKind::Group => "/Groups",
        }
    }

    /// The resource type name (`meta.resourceType`), `User` or `Group`.
    pub fn name(&self) -> &'static str {
        match self {
            ResourceKind::User => "User",
            ResourceKind::Group => "Group",
        }
    }

    /// The core schema URN.
    pub fn core_schema(&self) -> &'static str {
        match self {
            ResourceKind::User => USER_SCHEMA,
            ResourceKind::Group => GROUP_SCHEMA,
        }
    }

    /// Looks a kind up by resource type name (`User`/`Group`), case-insensitively.
    pub fn from_name(name: &str) -> Option<ResourceKind> {
        Self::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(name))
    }
}

/// An attribute path resolved against the registry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResolvedAttr<'a> {
    /// Canonical URN of the schema that defines the attribute. Common attributes (`id`,
    /// `externalId`, `meta`) report the kind's core schema, since they live at the top level.
    pub schema: &'a str,
    /// The (top-level) attribute.
    pub attr: &'a AttributeDef,
    /// The sub-attribute, when the path names one.
    pub sub: Option<&'a AttributeDef>,
}

impl ResolvedAttr<'_> {
    /// Whether the attribute lives in an extension object rather than at the top level.
    pub fn is_extension(&self) -> bool {
        !self.schema.eq_ignore_ascii_case(USER_SCHEMA)
            && !self.schema.eq_ignore_ascii_case(GROUP_SCHEMA)
    }

    /// The definition the path finally points at: the sub-attribute if any, else the attribute.
    pub fn leaf(&self) -> &AttributeDef {
        self.sub.unwrap_or(self.attr)
    }
}

/// The set of known schemas plus the common attributes of RFC 7643 §3.1.
#[derive(Debug, Clone, PartialEq)]
pub struct Registry {
    schemas: Vec<SchemaDef>,
    common: Vec<AttributeDef>,
    /// Extension schema URNs of each resource type, in registration order.
    extensions: Vec<(ResourceKind, String)>,
}

static GLOBAL: OnceLock<Registry> = OnceLock::new();

impl Registry {
    /// A registry over the given schemas (plus the common attributes). The built-in extension
    /// schemas among them are registered: Enterprise User and Roster lifecycle for Users,
    /// Roster governance for Groups.
    pub fn new(schemas: Vec<SchemaDef>) -> Self {
        let extensions = [
            (ResourceKind::User, ENTERPRISE_USER_SCHEMA),
            (ResourceKind::User, LIFECYCLE_USER_SCHEMA),
            (ResourceKind::Group, GOVERNANCE_GROUP_SCHEMA),
        ]
        .into_iter()
        .filter(|(_, urn)| schemas.iter().any(|s| s.id == *urn))
        .map(|(kind, urn)| (kind, urn.to_string()))
        .collect();
        Self {
            schemas,
            common: common_attributes(),
            extensions,
        }
    }

    /// The built-in registry: RFC 7643 User, Group and EnterpriseUser, and Roster's lifecycle
    /// (User) and governance (Group) extensions. Parsed once.
    pub fn builtin() -> &'static Registry {
        static REGISTRY: OnceLock<Registry> = OnceLock::new();
        REGISTRY.get_or_init(|| {
            Registry::new(vec![
                parse_builtin(USER_JSON, USER_SCHEMA),
                parse_builtin(GROUP_JSON, GROUP_SCHEMA),
                parse_builtin(ENTERPRISE_USER_JSON, ENTERPRISE_USER_SCHEMA),
                parse_builtin(LIFECYCLE_USER_JSON, LIFECYCLE_USER_SCHEMA),
                parse_builtin(GOVERNANCE_GROUP_JSON, GOVERNANCE_GROUP_SCHEMA),
            ])
        })
    }

    /// The registry in force: the one [`install`](Registry::install)ed at start-up (built-in
    /// plus configured extensions), else the built-in one.
    pub fn global() -> &'static Registry {
        GLOBAL.get().unwrap_or_else(|| Registry::builtin())
    }

    /// Makes `registry` the one [`global`](Registry::global) returns. Only the first call
    /// wins (the registry is fixed for the life of the process); later calls return false.
    pub fn install(registry: Registry) -> bool {
        GLOBAL.set(registry).is_ok()
    }

    /// This registry plus an extension schema for `kind` (a custom schema from configuration).
    /// The URN must be new; attribute names must be valid and unique.
    pub fn with_extension(mut self, kind: ResourceKind, def: SchemaDef) -> Result<Self, Error> {
        if !def.id.to_ascii_lowercase().starts_with("urn:") {
            return Err(Error::invalid_value(format!(
                "schema id '{}' must be a URN (urn:…)",
                def.id
            )));
        }
        if self.schema(&def.id).is_some() {
            return Err(Error::invalid_value(format!(
                "schema '{}' is already registered",
                def.id
            )));
        }
        let mut seen: Vec<String> = Vec::new();
        for a in &def.attributes {
            let valid = a
                .name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
                && a.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !valid {
                return Err(Error::invalid_value(format!(
                    "schema '{}': '{}' is not a valid attribute name",
                    def.id, a.name
                )));
            }
            let lower = a.name.to_ascii_lowercase();
            if seen.contains(&lower) {
                return Err(Error::invalid_value(format!(
                    "schema '{}': attribute '{}' is defined twice",
                    def.id, a.name
                )));
            }
            seen.push(lower);
        }
        self.extensions.push((kind, def.id.clone()));
        self.schemas.push(def);
        Ok(self)
    }

    /// The extension schema URNs `kind` accepts.
    pub fn extension_urns(&self, kind: ResourceKind) -> Vec<&str> {
        self.extensions
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, u)| u.as_str())
            .collect()
    }

    /// The core schema URN of `kind` followed by its extension URNs.
    pub fn schema_urns(&self, kind: ResourceKind) -> Vec<&str> {
        let mut v = vec![kind.core_schema()];
        v.extend(self.extension_urns(kind));
        v
    }

    /// A schema by URN, case-insensitively.
    pub fn schema(&self, id: &str) -> Option<&SchemaDef> {
        self.schemas.iter().find(|s| s.id.eq_ignore_ascii_case(id))
    }

    /// All schemas, in registration order.
    pub fn schemas(&self) -> &[SchemaDef] {
        &self.schemas
    }

    /// The common attributes `schemas`, `id`, `externalId` and `meta` (RFC 7643 §3, §3.1).
    pub fn common_attributes(&self) -> &[AttributeDef] {
        &self.common
    }

    /// The extension schema of `kind` whose URN matches `urn` case-insensitively.
    pub fn extension(&self, kind: ResourceKind, urn: &str) -> Option<&SchemaDef> {
        self.extensions
            .iter()
            .find(|(k, u)| *k == kind && u.eq_ignore_ascii_case(urn))
            .and_then(|(_, u)| self.schema(u))
    }

    /// Resolves an attribute path for `kind`, case-insensitively. An unqualified name is
    /// looked up in the common attributes, then the core schema, then the extensions.
    pub fn find_attr(&self, kind: ResourceKind, path: &AttrPath) -> Option<ResolvedAttr<'_>> {
        let (schema, attr) = match &path.uri {
            Some(uri) => {
                let def = self.schema(uri).filter(|d| {
                    d.id == kind.core_schema() || self.extension(kind, &d.id).is_some()
                })?;
                match def.attr(&path.attr) {
                    Some(a) => (def.id.as_str(), a),
                    None if def.id == kind.core_schema() => {
                        (kind.core_schema(), find_attr(&self.common, &path.attr)?)
                    }
                    None => return None,
                }
            }
            None => match find_attr(&self.common, &path.attr) {
                Some(a) => (kind.core_schema(), a),
                None => self.schema_urns(kind).into_iter().find_map(|urn| {
                    let def = self.schema(urn)?;
                    def.attr(&path.attr).map(|a| (def.id.as_str(), a))
                })?,
            },
        };
        let sub = match &path.sub {
            Some(name) => Some(attr.sub_attr(name)?),
            None => None,
        };
        Some(ResolvedAttr { schema, attr, sub })
    }

    /// The `/Schemas/{id}` representation (RFC 7643 §7), `base` being the SCIM base URL.
    pub fn schema_json(&self, s: &SchemaDef, base: &str) -> Value {
        let attributes =
            serde_json::to_value(&s.attributes).unwrap_or_else(|_| Value::Array(Vec::new()));
        json!({
            "schemas": [SCHEMA_SCHEMA],
            "id": s.id,
            "name": s.name,
            "description": s.description,
            "attributes": attributes,
            "meta": {
                "resourceType": "Schema",
                "location": format!("{}/Schemas/{}", base.trim_end_matches('/'), s.id),
            },
        })
    }
}

/// The `/ResourceTypes/{name}` representation (RFC 7643 §6) of the global registry.
pub fn resource_type_json(kind: ResourceKind, base: &str) -> Value {
    Registry::global().resource_type_json(kind, base)
}

impl Registry {
    /// The `/ResourceTypes/{name}` representation (RFC 7643 §6), `base` being the SCIM base URL.
    pub fn resource_type_json(&self, kind: ResourceKind, base: &str) -> Value {
        let mut v = json!({
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": kind.name(),
            "name": kind.name(),
            "endpoint": kind.endpoint(),
            "description": match kind {
                ResourceKind::User => "User Account",
                ResourceKind::Group => "Group",
            },
            "schema": kind.core_schema(),
        });
        if let Some(obj) = v.as_object_mut() {
            let ext = self.extension_urns(kind);
            if !ext.is_empty() {
                let list = ext
                    .iter()
                    .map(|s| json!({ "schema": s, "required": false }))
                    .collect();
                obj.insert("schemaExtensions".into(), Value::Array(list));
            }
            obj.insert(
            "meta".into(),
            json!({
                "resourceType": "ResourceType",
                "location": format!("{}/ResourceTypes/{}", base.trim_end_matches('/'), kind.name()),
            }),
        );
        }
        v
    }
}

/// Parses a built-in schema. The JSON is compiled in and checked by a unit test, so the
/// fallback (an empty schema with the right id) is never reached in a release.
fn parse_builtin(json: &str, id: &str) -> SchemaDef {
    serde_json::from_str(json).unwrap_or_else(|_| SchemaDef {
        id: id.to_owned(),
        ..SchemaDef::default()
    })
}

/// RFC 7643 §3.1 common attributes; they belong to every resource but to no schema.
fn common_attributes() -> Vec<AttributeDef> {
    let read_only = |name: &str, ty: AttrType, case_exact: bool| AttributeDef {
        mutability: Mutability::ReadOnly,
        case_exact,
        ..AttributeDef::new(name, ty)
    };
    vec![
        AttributeDef {
            description: "The schema URNs of the resource (RFC 7643 §3).".into(),
            multi_valued: true,
            returned: Returned::Always,
            reference_types: vec!["uri".into()],
            ..AttributeDef::new("schemas", AttrType::Reference)
        },
        AttributeDef {
            description:
                "A unique identifier for a SCIM resource as defined by the service provider.".into(),
            returned: Returned::Always,
            uniqueness: Uniqueness::Server,
            ..read_only("id", AttrType::String, true)
        },
        AttributeDef {
            description: "An identifier for the resource as defined by the provisioning client."
                .into(),
            case_exact: true,
            ..AttributeDef::new("externalId", AttrType::String)
        },
        AttributeDef {
            description: "Resource metadata.".into(),
            sub_attributes: vec![
                read_only("resourceType", AttrType::String, true),
                read_only("created", AttrType::DateTime, false),
                read_only("lastModified", AttrType::DateTime, false),
                AttributeDef {
                    reference_types: vec!["uri".into()],
                    ..read_only("location", AttrType::Reference, true)
                },
                read_only("version", AttrType::String, true),
            ],
            ..read_only("meta", AttrType::Complex, false)
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> AttrPath {
        AttrPath::parse(s).unwrap()
    }

    #[test]
    fn builtin_schemas_parse_and_are_complete() {
        for (json, id, min) in [
            (USER_JSON, USER_SCHEMA, 20),
            (GROUP_JSON, GROUP_SCHEMA, 2),
            (ENTERPRISE_USER_JSON, ENTERPRISE_USER_SCHEMA, 6),
            (LIFECYCLE_USER_JSON, LIFECYCLE_USER_SCHEMA, 3),
            (GOVERNANCE_GROUP_JSON, GOVERNANCE_GROUP_SCHEMA, 3),
        ] {
            let s: SchemaDef = serde_json::from_str(json).unwrap();
            assert_eq!(s.id, id);
            assert!(s.attributes.len() >= min, "{id}");
        }
        let r = Registry::builtin();
        assert_eq!(r.schemas().len(), 5);
        assert_eq!(
            r.extension_urns(ResourceKind::User),
            [ENTERPRISE_USER_SCHEMA, LIFECYCLE_USER_SCHEMA]
        );
        assert_eq!(
            r.extension_urns(ResourceKind::Group),
            [GOVERNANCE_GROUP_SCHEMA]
        );
        assert!(r
            .schemas()
            .iter()
            .all(|s| !s.attributes.is_empty() && !s.name.is_empty()));
    }

    #[test]
    fn custom_extensions_register_and_resolve() {
        let def: SchemaDef = serde_json::from_value(json!({
            "id": "urn:example:params:scim:schemas:extension:acme:2.0:Group",
            "name": "Acme", "description": "",
            "attributes": [{"name": "costCode", "type": "integer", "multiValued": false}]
        }))
        .unwrap();
        let r = Registry::builtin()
            .clone()
            .with_extension(ResourceKind::Group, def.clone())
            .unwrap();
        let p =
            AttrPath::parse("urn:example:params:scim:schemas:extension:acme:2.0:Group:costCode")
                .unwrap();
        assert!(r.find_attr(ResourceKind::Group, &p).is_some());
        assert!(r.find_attr(ResourceKind::User, &p).is_none());
        assert_eq!(
            r.resource_type_json(ResourceKind::Group, "x")["schemaExtensions"][1]["schema"],
            def.id
        );
        assert!(
            r.clone().with_extension(ResourceKind::Group, def).is_err(),
            "duplicate URN"
        );
        let bad: SchemaDef = serde_json::from_value(
            json!({"id": "not-a-urn", "name": "x", "description": "", "attributes": []}),
        )
        .unwrap();
        assert!(r.with_extension(ResourceKind::User, bad).is_err());
    }

    #[test]
    fn user_schema_characteristics() {
        let r = Registry::builtin();
        let user = r
            .schema("URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER")
            .unwrap();
        let user_name = user.attr("username").unwrap();
        assert!(user_name.required);
        assert_eq!(user_name.uniqueness, Uniqueness::Server);
        let pw = user.attr("password").unwrap();
        assert_eq!(
            (pw.mutability, pw.returned),
            (Mutability::WriteOnly, Returned::Never)
        );
        let groups = user.attr("groups").unwrap();
        assert_eq!(groups.mutability, Mutability::ReadOnly);
        assert!(groups.sub_attr("$ref").is_some());
        assert!(user.attr("emails").unwrap().multi_valued);
    }

    #[test]
    fn find_attr_resolves_core_sub_extension_and_common() {
        let r = Registry::builtin();
        let k = ResourceKind::User;
        let a = r.find_attr(k, &p("name.familyName")).unwrap();
        assert_eq!(
            (a.attr.name.as_str(), a.sub.map(|s| s.name.as_str())),
            ("name", Some("familyName"))
        );
        assert_eq!(a.schema, USER_SCHEMA);
        let a = r.find_attr(k, &p("EMAILS")).unwrap();
        assert!(a.sub.is_none() && a.attr.name == "emails");
        let a = r.find_attr(k, &p("employeenumber")).unwrap();
        assert_eq!(a.schema, ENTERPRISE_USER_SCHEMA);
        assert!(a.is_extension());
        let a = r
            .find_attr(
                k,
                &p("urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:manager.VALUE"),
            )
            .unwrap();
        assert_eq!(a.leaf().name, "value");
        let a = r
            .find_attr(k, &p("urn:ietf:params:scim:schemas:core:2.0:User:userName"))
            .unwrap();
        assert_eq!(a.attr.name, "userName");
        for kind in ResourceKind::ALL {
            assert_eq!(
                r.find_attr(kind, &p("id")).unwrap().attr.returned,
                Returned::Always
            );
            assert!(r.find_attr(kind, &p("externalId")).is_some());
            assert_eq!(
                r.find_attr(kind, &p("meta.lastModified"))
                    .unwrap()
                    .leaf()
                    .ty,
                AttrType::DateTime
            );
        }
        assert!(r.find_attr(k, &p("nope")).is_none());
        assert!(r.find_attr(k, &p("name.nope")).is_none());
        assert!(r.find_attr(k, &p("userName.x")).is_none());
        assert!(r
            .find_attr(ResourceKind::Group, &p("employeeNumber"))
            .is_none());
        assert!(r
            .find_attr(ResourceKind::Group, &p("members.value"))
            .is_some());
    }

    #[test]
    fn discovery_json() {
        let r = Registry::builtin();
        let s = r.schema(ENTERPRISE_USER_SCHEMA).unwrap();
        let v = r.schema_json(s, "https://x/scim/v2/");
        assert_eq!(v["schemas"][0], SCHEMA_SCHEMA);
        assert_eq!(
            v["meta"]["location"],
            format!("https://x/scim/v2/Schemas/{ENTERPRISE_USER_SCHEMA}")
        );
        let mgr = &v["attributes"][5];
        assert_eq!(mgr["name"], "manager");
        assert_eq!(mgr["subAttributes"][1]["referenceTypes"][0], "User");
        assert_eq!(mgr["multiValued"], false);
        let rt = resource_type_json(ResourceKind::User, "https://x/scim/v2");
        assert_eq!(rt["endpoint"], "/Users");
        assert_eq!(rt["schemaExtensions"][0]["required"], false);
        assert_eq!(
            rt["meta"]["location"],
            "https://x/scim/v2/ResourceTypes/User"
        );
        let rt = resource_type_json(ResourceKind::Group, "https://x");
        assert_eq!(rt["schema"], GROUP_SCHEMA);
        assert_eq!(rt["schemaExtensions"][0]["schema"], GOVERNANCE_GROUP_SCHEMA);
    }
}
