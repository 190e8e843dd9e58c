//! Attribute and schema definitions in their RFC 7643 §7 JSON representation.

use serde::{Deserialize, Serialize};

/// An attribute's data type (RFC 7643 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AttrType {
    /// A sequence of Unicode characters.
    #[default]
    String,
    /// `true` or `false`.
    Boolean,
    /// A real number.
    Decimal,
    /// A whole number.
    Integer,
    /// An `xsd:dateTime` string.
    DateTime,
    /// Base64-encoded binary data.
    Binary,
    /// A URI reference to a resource.
    Reference,
    /// A composite of sub-attributes.
    Complex,
}

/// Whether and how an attribute may be modified (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Mutability {
    /// Set by the service provider only.
    ReadOnly,
    /// May be updated and read at any time.
    #[default]
    ReadWrite,
    /// May be set on creation (or while unassigned), never changed afterwards.
    Immutable,
    /// May be written but is never returned.
    WriteOnly,
}

/// When an attribute is returned in responses (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Returned {
    /// Always returned, whatever `attributes`/`excludedAttributes` say.
    Always,
    /// Never returned.
    Never,
    /// Returned unless excluded.
    #[default]
    Default,
    /// Returned only when named in `attributes`.
    Request,
}

/// How the service provider enforces uniqueness (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Uniqueness {
    /// No uniqueness.
    #[default]
    None,
    /// Unique within this service provider.
    Server,
    /// Globally unique.
    Global,
}

/// One attribute definition. Missing characteristics take the RFC 7643 §2.2 defaults.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AttributeDef {
    /// Canonical attribute name (`userName`, `$ref`).
    pub name: String,
    /// Data type.
    #[serde(rename = "type")]
    pub ty: AttrType,
    /// Whether the value is an array.
    pub multi_valued: bool,
    /// Human-readable description.
    pub description: String,
    /// Whether the attribute is required.
    pub required: bool,
    /// Suggested values (not enforced by Roster; RFC 7643 says MAY).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub canonical_values: Vec<String>,
    /// Whether string comparison is case-sensitive.
    pub case_exact: bool,
    /// Mutability.
    pub mutability: Mutability,
    /// Return policy.
    pub returned: Returned,
    /// Uniqueness policy.
    pub uniqueness: Uniqueness,
    /// For `reference` attributes: the resource types that may be referenced.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reference_types: Vec<String>,
    /// For `complex` attributes: the sub-attributes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sub_attributes: Vec<AttributeDef>,
}

impl AttributeDef {
    /// A single-valued, readWrite, non-required attribute with the given name and type.
    pub fn new(name: impl Into<String>, ty: AttrType) -> Self {
        Self {
            name: name.into(),
            ty,
            ..Self::default()
        }
    }

    /// Finds a sub-attribute by name, case-insensitively.
    pub fn sub_attr(&self, name: &str) -> Option<&AttributeDef> {
        find_attr(&self.sub_attributes, name)
    }

    /// Whether this is a complex attribute.
    pub fn is_complex(&self) -> bool {
        self.ty == AttrType::Complex
    }

    /// Whether string values are compared case-insensitively.
    pub fn is_case_insensitive_string(&self) -> bool {
        matches!(
            self.ty,
            AttrType::String | AttrType::Reference | AttrType::Binary
        ) && !self.case_exact
    }
}

/// Finds an attribute by name in a list, case-insensitively (RFC 7643 §2.1).
pub fn find_attr<'a>(attrs: &'a [AttributeDef], name: &str) -> Option<&'a AttributeDef> {
    attrs.iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

/// A schema (RFC 7643 §7): a URN id and its attribute definitions.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SchemaDef {
    /// The schema URN.
    pub id: String,
    /// Short name (`User`).
    pub name: String,
    /// Human-readable description.
    pub description: String,
    /// Top-level attributes.
    pub attributes: Vec<AttributeDef>,
}

impl SchemaDef {
    /// Finds a top-level attribute by name, case-insensitively.
    pub fn attr(&self, name: &str) -> Option<&AttributeDef> {
        find_attr(&self.attributes, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_rfc_7643_section_2_2() {
        let a: AttributeDef = serde_json::from_str(r#"{"name":"nick"}"#).unwrap();
        assert_eq!(a.ty, AttrType::String);
        assert!(!a.multi_valued && !a.required && !a.case_exact);
        assert_eq!(a.mutability, Mutability::ReadWrite);
        assert_eq!(a.returned, Returned::Default);
        assert_eq!(a.uniqueness, Uniqueness::None);
    }

    #[test]
    fn camel_case_round_trip() {
        let src = r#"{"name":"when","type":"dateTime","multiValued":true,"description":"d","required":true,
            "caseExact":true,"mutability":"writeOnly","returned":"request","uniqueness":"global"}"#;
        let a: AttributeDef = serde_json::from_str(src).unwrap();
        assert_eq!(a.ty, AttrType::DateTime);
        assert_eq!(a.mutability, Mutability::WriteOnly);
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(v["type"], "dateTime");
        assert_eq!(v["multiValued"], true);
        assert_eq!(v["caseExact"], true);
        assert_eq!(v["returned"], "request");
        assert!(v.get("subAttributes").is_none());
    }
}
