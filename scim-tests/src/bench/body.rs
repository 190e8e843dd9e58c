//! Realistic SCIM request bodies shared by `scim-bench` (seeding, `create`) and `ceiling`
//! (its canned responses), so both sides of the harness move the same bytes.

use serde_json::{json, Value};

pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// Used by `ceiling` (canned list answers).
#[allow(dead_code)]
pub const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
/// Used by `ceiling` (canned bulk answers).
#[allow(dead_code)]
pub const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

const GIVEN: [&str; 16] = [
    "Barbara",
    "Ahmed",
    "Chen",
    "Dolores",
    "Emeka",
    "Fatima",
    "Gunnar",
    "Hiroko",
    "Ines",
    "Jamal",
    "Katarzyna",
    "Luis",
    "Mei",
    "Nikolai",
    "Olivia",
    "Priya",
];
const FAMILY: [&str; 16] = [
    "Jensen",
    "Okafor",
    "Nakamura",
    "Schmidt",
    "Haddad",
    "Kowalski",
    "Silva",
    "Lindqvist",
    "Moreau",
    "Ivanova",
    "Patel",
    "Rossi",
    "Novak",
    "Garcia",
    "Kim",
    "Dubois",
];
const DEPARTMENTS: [&str; 8] = [
    "Engineering",
    "Finance",
    "Sales",
    "Marketing",
    "Legal",
    "Operations",
    "Support",
    "People",
];

/// The userName of seeded user `i` of run `run`.
pub fn user_name(run: &str, i: u64) -> String {
    format!("user{i}.{run}@example.com")
}

/// A ~1 KB enterprise User: name, emails, phones, address, enterprise extension with manager.
pub fn user(user_name: &str, i: u64, manager: Option<&str>) -> Value {
    let given = GIVEN[(i % 16) as usize];
    let family = FAMILY[((i / 16) % 16) as usize];
    let dept = DEPARTMENTS[(i % 8) as usize];
    let mut enterprise = json!({
        "employeeNumber": format!("E{i:08}"),
        "costCenter": format!("CC-{:04}", i % 997),
        "organization": "Example Corporation",
        "division": format!("{dept} Division"),
        "department": dept,
    });
    if let (Some(m), Some(obj)) = (manager, enterprise.as_object_mut()) {
        obj.insert("manager".into(), json!({ "value": m }));
    }
    json!({
        "schemas": [USER, ENTERPRISE],
        "userName": user_name,
        "externalId": format!("hr-{i:09}"),
        "name": {
            "formatted": format!("Ms. {given} J {family}"),
            "familyName": family,
            "givenName": given,
            "middleName": "Jane",
            "honorificPrefix": "Ms.",
        },
        "displayName": format!("{given} {family}"),
        "nickName": given,
        "title": "Senior Staff Engineer",
        "userType": "Employee",
        "preferredLanguage": "en-US",
        "locale": "en-US",
        "timezone": "Europe/Berlin",
        "active": true,
        "emails": [
            {"value": format!("{given}.{family}.{i}@example.com").to_lowercase(), "type": "work", "primary": true},
            {"value": format!("{given}{i}@home.example.org").to_lowercase(), "type": "home"},
        ],
        "phoneNumbers": [
            {"value": format!("+1 555 {:03} {:04}", i % 1000, i % 10000), "type": "work"},
            {"value": format!("+1 555 {:03} {:04}", (i / 7) % 1000, (i * 7) % 10000), "type": "mobile"},
        ],
        "addresses": [{
            "type": "work",
            "streetAddress": format!("{} Example Street", 100 + i % 900),
            "locality": "Springfield",
            "region": "IL",
            "postalCode": format!("{:05}", 60000 + i % 9999),
            "country": "US",
            "primary": true,
        }],
        ENTERPRISE: enterprise,
    })
}

/// A group with the given member ids.
pub fn group(display_name: &str, members: &[String]) -> Value {
    let members: Vec<Value> = members.iter().map(|m| json!({ "value": m })).collect();
    json!({
        "schemas": [GROUP],
        "displayName": display_name,
        "members": members,
    })
}
