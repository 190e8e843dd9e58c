//! One CSV row: its mapped values, checked, and how they are written into a user document.

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveDateTime};
use scim::schema::{ENTERPRISE_USER_SCHEMA, LIFECYCLE_USER_SCHEMA, USER_SCHEMA};
use serde_json::{json, Map, Value};

use super::mapping::{field_name, Field, Mapping};

/// A parsed row: the values of its mapped columns (trimmed; empty means "clear").
#[derive(Debug, Clone)]
pub struct Row {
    /// Line number in the file (the header is line 1).
    pub line: u64,
    values: HashMap<Field, String>,
    active: Option<bool>,
}

/// What the row says about the manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManagerRef {
    /// No manager column: leave the manager as it is.
    Keep,
    /// The cell is empty: the user has no manager.
    Clear,
    /// The manager's user id.
    Set(String),
}

fn parse_date(s: &str, extra: Option<&str>) -> Option<String> {
    if let Some(t) = scim::meta::parse_datetime(s) {
        return Some(t.format("%Y-%m-%dT%H:%M:%SZ").to_string());
    }
    let f = extra?;
    if let Ok(d) = NaiveDate::parse_from_str(s, f) {
        return d
            .and_hms_opt(0, 0, 0)
            .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string());
    }
    NaiveDateTime::parse_from_str(s, f)
        .ok()
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "1" | "active" => Some(true),
        "false" | "no" | "n" | "0" | "inactive" => Some(false),
        _ => None,
    }
}

impl Row {
    /// The key (externalId, else employee number) of a record, read without checking the rest.
    pub fn key_of(record: &csv::StringRecord, mapping: &Mapping) -> String {
        let cell = |want: Field| {
            mapping
                .columns
                .iter()
                .position(|f| *f == Some(want))
                .and_then(|i| record.get(i))
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        cell(Field::ExternalId)
            .or_else(|| cell(Field::EmployeeNumber))
            .unwrap_or_default()
            .to_string()
    }

    /// Reads the mapped cells of `record`; a cell that cannot be read is the row's rejection
    /// reason.
    pub fn parse(record: &csv::StringRecord, mapping: &Mapping, line: u64) -> Result<Row, String> {
        let mut values = HashMap::new();
        let mut active = None;
        for (i, field) in mapping.columns.iter().enumerate() {
            let Some(field) = field else { continue };
            let raw = record.get(i).unwrap_or("").trim();
            let value = match field {
                Field::StartDate | Field::EndDate if !raw.is_empty() => {
                    parse_date(raw, mapping.date_format.as_deref()).ok_or_else(|| {
                        format!(
                            "{} '{raw}' is not a date (use YYYY-MM-DD, or set date_format in a mapping file)",
                            field_name(*field)
                        )
                    })?
                }
                Field::Active if !raw.is_empty() => {
                    active = Some(parse_bool(raw).ok_or_else(|| {
                        format!("active '{raw}' is not true/false, yes/no, 1/0 or active/inactive")
                    })?);
                    raw.to_string()
                }
                _ => raw.to_string(),
            };
            values.insert(*field, value);
        }
        let row = Row {
            line,
            values,
            active,
        };
        if row.key().is_none() {
            return Err("no externalId or employee number".into());
        }
        if row
            .values
            .get(&Field::UserName)
            .is_some_and(String::is_empty)
        {
            return Err("userName is empty".into());
        }
        Ok(row)
    }

    /// The value of a mapped column (`None`: not in the file; `Some("")`: empty cell).
    pub fn get(&self, f: Field) -> Option<&str> {
        self.values.get(&f).map(String::as_str)
    }

    fn non_empty(&self, f: Field) -> Option<&str> {
        self.get(f).filter(|v| !v.is_empty())
    }

    /// The `externalId` this row is matched on: its externalId column, else the employee number.
    pub fn external_id(&self) -> Option<&str> {
        self.non_empty(Field::ExternalId)
            .or_else(|| self.non_empty(Field::EmployeeNumber))
    }

    /// The employee number, if the file has one.
    pub fn employee_number(&self) -> Option<&str> {
        self.non_empty(Field::EmployeeNumber)
    }

    /// The row's key for messages and duplicate detection.
    pub fn key(&self) -> Option<&str> {
        self.external_id()
    }

    /// Whether the row describes someone who has left at `now`: `active` false, employment
    /// status `terminated`, or an end date at or before `now`.
    pub fn is_leaver(&self, now: NaiveDateTime) -> bool {
        self.active == Some(false)
            || self
                .non_empty(Field::EmploymentStatus)
                .is_some_and(|s| s.eq_ignore_ascii_case("terminated"))
            || self
                .non_empty(Field::EndDate)
                .and_then(scim::meta::parse_datetime)
                .is_some_and(|t| t.naive_utc() <= now)
    }

    /// The document of a new user from this row.
    pub fn new_doc(&self, manager: &ManagerRef) -> Value {
        let mut doc = json!({"schemas": [USER_SCHEMA]});
        if let Some(x) = self.external_id() {
            doc["externalId"] = json!(x);
        }
        let user_name = self
            .non_empty(Field::UserName)
            .or_else(|| self.non_empty(Field::Email))
            .or_else(|| self.employee_number())
            .or_else(|| self.external_id())
            .unwrap_or_default();
        doc["userName"] = json!(user_name);
        // on the HR file means employed, unless the row says otherwise (a pre-hire is settled
        // inactive until its start date when written)
        doc["active"] = Value::Bool(true);
        self.overlay(&mut doc, manager);
        doc
    }

    /// Writes the row's mapped values into `doc`: set where the cell has a value, removed where
    /// it is empty, untouched where the file has no such column.
    pub fn overlay(&self, doc: &mut Value, manager: &ManagerRef) {
        let Some(obj) = doc.as_object_mut() else {
            return;
        };
        for (f, key) in [
            (Field::ExternalId, "externalId"),
            (Field::UserName, "userName"),
            (Field::DisplayName, "displayName"),
            (Field::NickName, "nickName"),
            (Field::Title, "title"),
            (Field::UserType, "userType"),
            (Field::PreferredLanguage, "preferredLanguage"),
            (Field::Locale, "locale"),
            (Field::Timezone, "timezone"),
        ] {
            set(obj, key, self.get(f));
        }
        if let Some(a) = self.active {
            obj.insert("active".into(), Value::Bool(a));
        }
        let mut name = take_object(obj, "name");
        set(&mut name, "givenName", self.get(Field::GivenName));
        set(&mut name, "middleName", self.get(Field::MiddleName));
        set(&mut name, "familyName", self.get(Field::FamilyName));
        let names_given =
            self.get(Field::GivenName).is_some() || self.get(Field::FamilyName).is_some();
        if names_given && self.get(Field::DisplayName).is_none() {
            let full = [self.get(Field::GivenName), self.get(Field::FamilyName)]
                .into_iter()
                .flatten()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            set(obj, "displayName", Some(&full));
        }
        put_object(obj, "name", name);
        if let Some(email) = self.get(Field::Email) {
            set_typed(obj, "emails", email, true);
        }
        if let Some(phone) = self.get(Field::Phone) {
            set_typed(obj, "phoneNumbers", phone, false);
        }
        let mut ent = take_object(obj, ENTERPRISE_USER_SCHEMA);
        for (f, key) in [
            (Field::EmployeeNumber, "employeeNumber"),
            (Field::Department, "department"),
            (Field::Division, "division"),
            (Field::CostCenter, "costCenter"),
            (Field::Organization, "organization"),
        ] {
            set(&mut ent, key, self.get(f));
        }
        match manager {
            ManagerRef::Keep => {}
            ManagerRef::Clear => {
                ent.remove("manager");
            }
            ManagerRef::Set(id) => {
                ent.insert("manager".into(), json!({"value": id}));
            }
        }
        put_object(obj, ENTERPRISE_USER_SCHEMA, ent);
        let mut life = take_object(obj, LIFECYCLE_USER_SCHEMA);
        set(&mut life, "startDate", self.get(Field::StartDate));
        set(&mut life, "endDate", self.get(Field::EndDate));
        set(
            &mut life,
            "employmentStatus",
            self.get(Field::EmploymentStatus),
        );
        // the phase is Roster's to decide (read-only); it is settled again when written
        life.remove("phase");
        put_object(obj, LIFECYCLE_USER_SCHEMA, life);
    }

    /// Prepares the document of a deactivated user who is back (a rehire): active again, and a
    /// past end date or `terminated` status the file does not restate is cleared.
    pub fn revive(&self, doc: &mut Value, now: NaiveDateTime) {
        let Some(obj) = doc.as_object_mut() else {
            return;
        };
        obj.insert("active".into(), Value::Bool(true));
        if let Some(Value::Object(life)) = obj.get_mut(LIFECYCLE_USER_SCHEMA) {
            if self.get(Field::EndDate).is_none()
                && life
                    .get("endDate")
                    .and_then(Value::as_str)
                    .and_then(scim::meta::parse_datetime)
                    .is_some_and(|t| t.naive_utc() <= now)
            {
                life.remove("endDate");
            }
            if self.get(Field::EmploymentStatus).is_none()
                && life
                    .get("employmentStatus")
                    .and_then(Value::as_str)
                    .is_some_and(|s| s.eq_ignore_ascii_case("terminated"))
            {
                life.remove("employmentStatus");
            }
        }
    }
}

fn set(obj: &mut Map<String, Value>, key: &str, value: Option<&str>) {
    match value {
        None => {}
        Some("") => {
            obj.remove(key);
        }
        Some(v) => {
            obj.insert(key.into(), Value::String(v.to_string()));
        }
    }
}

fn take_object(obj: &mut Map<String, Value>, key: &str) -> Map<String, Value> {
    match obj.remove(key) {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

fn put_object(obj: &mut Map<String, Value>, key: &str, m: Map<String, Value>) {
    if !m.is_empty() {
        obj.insert(key.into(), Value::Object(m));
    }
}

/// Sets the `work` entry of a multi-valued attribute (`emails`, `phoneNumbers`); an empty value
/// removes it. A new work email is primary unless another entry already is.
fn set_typed(obj: &mut Map<String, Value>, key: &str, value: &str, primary: bool) {
    let mut items = match obj.remove(key) {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    };
    let is_work = |v: &Value| v.get("type").and_then(Value::as_str) == Some("work");
    if value.is_empty() {
        items.retain(|v| !is_work(v));
    } else if let Some(item) = items.iter_mut().find(|v| is_work(v)) {
        item["value"] = json!(value);
    } else {
        let other_primary = items
            .iter()
            .any(|v| v.get("primary") == Some(&Value::Bool(true)));
        let mut item = json!({"value": value, "type": "work"});
        if primary && !other_primary {
            item["primary"] = Value::Bool(true);
        }
        items.insert(0, item);
    }
    if !items.is_empty() {
        obj.insert(key.into(), Value::Array(items));
    }
}

#[cfg(test)]
mod tests {
    use super::super::mapping::MappingSpec;
    use super::*;

    fn row(headers: &[&str], cells: &[&str]) -> Result<Row, String> {
        let spec = MappingSpec::load(None).unwrap();
        let h: Vec<String> = headers.iter().map(|s| s.to_string()).collect();
        let m = spec.resolve(&h).unwrap();
        Row::parse(&csv::StringRecord::from(cells.to_vec()), &m, 2)
    }

    #[test]
    fn a_new_user_gets_core_enterprise_and_lifecycle_attributes() {
        let r = row(
            &[
                "Employee ID",
                "First Name",
                "Last Name",
                "Email",
                "Department",
                "Start Date",
            ],
            &[
                "E1",
                "Ada",
                "Lovelace",
                "ada@example.com",
                "Eng",
                "2027-01-04",
            ],
        )
        .unwrap();
        let doc = r.new_doc(&ManagerRef::Set("m-1".into()));
        assert_eq!(doc["userName"], "ada@example.com");
        assert_eq!(doc["externalId"], "E1");
        assert_eq!(doc["displayName"], "Ada Lovelace");
        assert_eq!(doc["emails"][0]["primary"], true);
        assert_eq!(doc[ENTERPRISE_USER_SCHEMA]["employeeNumber"], "E1");
        assert_eq!(doc[ENTERPRISE_USER_SCHEMA]["manager"]["value"], "m-1");
        assert_eq!(
            doc[LIFECYCLE_USER_SCHEMA]["startDate"],
            "2027-01-04T00:00:00Z"
        );
    }

    #[test]
    fn empty_cells_clear_and_absent_columns_keep() {
        let r = row(&["Employee ID", "Department", "Title"], &["E1", "", "CTO"]).unwrap();
        let mut doc = json!({
            "userName": "ada", "title": "Engineer", "nickName": "A",
            ENTERPRISE_USER_SCHEMA: {"employeeNumber": "E1", "department": "Eng"}
        });
        r.overlay(&mut doc, &ManagerRef::Keep);
        assert_eq!(doc["title"], "CTO");
        assert_eq!(doc["nickName"], "A");
        assert!(doc[ENTERPRISE_USER_SCHEMA].get("department").is_none());
    }

    #[test]
    fn bad_cells_reject_the_row_with_a_reason() {
        let e = row(&["Employee ID", "Hire Date"], &["E1", "next monday"]).unwrap_err();
        assert!(e.contains("startDate 'next monday' is not a date"), "{e}");
        let e = row(&["Employee ID", "Active"], &["E1", "maybe"]).unwrap_err();
        assert!(e.contains("active 'maybe'"), "{e}");
        let e = row(&["Employee ID", "Email"], &["", "x@example.com"]).unwrap_err();
        assert!(e.contains("no externalId or employee number"), "{e}");
    }

    #[test]
    fn leavers_are_told_by_active_status_or_end_date() {
        let now = chrono::NaiveDate::from_ymd_opt(2027, 1, 10)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        let h = &["Employee ID", "Status", "End Date", "Active"];
        assert!(!row(h, &["E1", "Active", "2027-02-01", ""])
            .unwrap()
            .is_leaver(now));
        assert!(row(h, &["E1", "Terminated", "", ""])
            .unwrap()
            .is_leaver(now));
        assert!(row(h, &["E1", "", "2027-01-09", ""])
            .unwrap()
            .is_leaver(now));
        assert!(row(h, &["E1", "", "", "no"]).unwrap().is_leaver(now));
    }
}
