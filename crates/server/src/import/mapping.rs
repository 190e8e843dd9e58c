//! Which CSV column feeds which user attribute: the default mapping for common HRMS exports
//! and the `--mapping mapping.toml` file that overrides it.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context};
use serde::Deserialize;

/// A user attribute an HR column can feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// `externalId` (the match key; defaults to the employee number).
    ExternalId,
    /// `userName` (defaults to the work email, else the employee number).
    UserName,
    /// Enterprise `employeeNumber` (the second match key).
    EmployeeNumber,
    /// `name.givenName`
    GivenName,
    /// `name.middleName`
    MiddleName,
    /// `name.familyName`
    FamilyName,
    /// `displayName` (defaults to given and family name).
    DisplayName,
    /// `nickName`
    NickName,
    /// `emails` of type `work` (primary).
    Email,
    /// `phoneNumbers` of type `work`.
    Phone,
    /// `title`
    Title,
    /// `userType`
    UserType,
    /// `preferredLanguage`
    PreferredLanguage,
    /// `locale`
    Locale,
    /// `timezone`
    Timezone,
    /// Enterprise `department`.
    Department,
    /// Enterprise `division`.
    Division,
    /// Enterprise `costCenter`.
    CostCenter,
    /// Enterprise `organization`.
    Organization,
    /// The manager's employee number (resolved to the manager's id).
    Manager,
    /// Lifecycle `startDate`.
    StartDate,
    /// Lifecycle `endDate`.
    EndDate,
    /// Lifecycle `employmentStatus`.
    EmploymentStatus,
    /// `active` (true/false, yes/no, 1/0, active/inactive).
    Active,
}

/// Every field with the name a mapping file uses for it.
pub const FIELDS: &[(&str, Field)] = &[
    ("externalId", Field::ExternalId),
    ("userName", Field::UserName),
    ("employeeNumber", Field::EmployeeNumber),
    ("name.givenName", Field::GivenName),
    ("name.middleName", Field::MiddleName),
    ("name.familyName", Field::FamilyName),
    ("displayName", Field::DisplayName),
    ("nickName", Field::NickName),
    ("emails.work", Field::Email),
    ("phoneNumbers.work", Field::Phone),
    ("title", Field::Title),
    ("userType", Field::UserType),
    ("preferredLanguage", Field::PreferredLanguage),
    ("locale", Field::Locale),
    ("timezone", Field::Timezone),
    ("department", Field::Department),
    ("division", Field::Division),
    ("costCenter", Field::CostCenter),
    ("organization", Field::Organization),
    ("manager.employeeNumber", Field::Manager),
    ("startDate", Field::StartDate),
    ("endDate", Field::EndDate),
    ("employmentStatus", Field::EmploymentStatus),
    ("active", Field::Active),
];

/// Header spellings of common HRMS exports (compared lower-case with everything but letters and
/// digits removed, so `Employee ID`, `employee_id` and `EmployeeId` are one).
const DEFAULT_HEADERS: &[(&str, Field)] = &[
    ("externalid", Field::ExternalId),
    ("username", Field::UserName),
    ("login", Field::UserName),
    ("userprincipalname", Field::UserName),
    ("upn", Field::UserName),
    ("employeenumber", Field::EmployeeNumber),
    ("employeeno", Field::EmployeeNumber),
    ("employeeid", Field::EmployeeNumber),
    ("empid", Field::EmployeeNumber),
    ("empno", Field::EmployeeNumber),
    ("workerid", Field::EmployeeNumber),
    ("personnelnumber", Field::EmployeeNumber),
    ("firstname", Field::GivenName),
    ("givenname", Field::GivenName),
    ("legalfirstname", Field::GivenName),
    ("middlename", Field::MiddleName),
    ("lastname", Field::FamilyName),
    ("familyname", Field::FamilyName),
    ("surname", Field::FamilyName),
    ("legallastname", Field::FamilyName),
    ("displayname", Field::DisplayName),
    ("fullname", Field::DisplayName),
    ("preferredname", Field::NickName),
    ("nickname", Field::NickName),
    ("email", Field::Email),
    ("workemail", Field::Email),
    ("emailaddress", Field::Email),
    ("mail", Field::Email),
    ("phone", Field::Phone),
    ("workphone", Field::Phone),
    ("phonenumber", Field::Phone),
    ("title", Field::Title),
    ("jobtitle", Field::Title),
    ("businesstitle", Field::Title),
    ("position", Field::Title),
    ("usertype", Field::UserType),
    ("employeetype", Field::UserType),
    ("workertype", Field::UserType),
    ("preferredlanguage", Field::PreferredLanguage),
    ("language", Field::PreferredLanguage),
    ("locale", Field::Locale),
    ("timezone", Field::Timezone),
    ("department", Field::Department),
    ("dept", Field::Department),
    ("departmentname", Field::Department),
    ("division", Field::Division),
    ("costcenter", Field::CostCenter),
    ("organization", Field::Organization),
    ("organisation", Field::Organization),
    ("company", Field::Organization),
    ("manager", Field::Manager),
    ("managerid", Field::Manager),
    ("manageremployeeid", Field::Manager),
    ("manageremployeenumber", Field::Manager),
    ("supervisorid", Field::Manager),
    ("startdate", Field::StartDate),
    ("hiredate", Field::StartDate),
    ("enddate", Field::EndDate),
    ("terminationdate", Field::EndDate),
    ("termdate", Field::EndDate),
    ("lastday", Field::EndDate),
    ("employmentstatus", Field::EmploymentStatus),
    ("workerstatus", Field::EmploymentStatus),
    ("status", Field::EmploymentStatus),
    ("active", Field::Active),
];

fn fold(header: &str) -> String {
    header
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The mapping file (`--mapping mapping.toml`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingFile {
    /// Column header -> field name (see [`FIELDS`]); `""` ignores a column.
    #[serde(default)]
    columns: HashMap<String, String>,
    /// Whether headers the file does not name are still mapped by their default spelling.
    #[serde(default = "yes")]
    defaults: bool,
    /// The field delimiter (one character; default `,`).
    delimiter: Option<String>,
    /// `chrono` format of dates that are not ISO 8601 (e.g. `%m/%d/%Y`).
    date_format: Option<String>,
}

fn yes() -> bool {
    true
}

/// How the columns of one CSV file map to fields.
#[derive(Debug, Clone)]
pub struct Mapping {
    /// Field of each column (by position); `None`: the column is ignored.
    pub columns: Vec<Option<Field>>,
    /// Headers of the ignored columns (reported once).
    pub ignored: Vec<String>,
    /// The field delimiter.
    pub delimiter: u8,
    /// Extra date format, tried after ISO 8601.
    pub date_format: Option<String>,
}

/// The mapping settings read before the header row (delimiter, file entries).
#[derive(Debug, Default)]
pub struct MappingSpec {
    file: MappingFile,
}

impl MappingSpec {
    /// The default mapping, or the one in `path`.
    pub fn load(path: Option<&Path>) -> anyhow::Result<MappingSpec> {
        let Some(path) = path else {
            return Ok(MappingSpec {
                file: MappingFile {
                    defaults: true,
                    ..MappingFile::default()
                },
            });
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read mapping file {}", path.display()))?;
        let file: MappingFile = toml::from_str(&text)
            .with_context(|| format!("mapping file {} is not valid", path.display()))?;
        for (column, field) in &file.columns {
            if !field.is_empty() && !FIELDS.iter().any(|(n, _)| n == field) {
                bail!(
                    "mapping file {}: column '{column}' maps to unknown field '{field}'; fields are: {}",
                    path.display(),
                    FIELDS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                );
            }
        }
        if let Some(d) = &file.delimiter {
            if d.len() != 1 {
                bail!(
                    "mapping file {}: delimiter must be one ASCII character",
                    path.display()
                );
            }
        }
        Ok(MappingSpec { file })
    }

    /// The field delimiter byte.
    pub fn delimiter(&self) -> u8 {
        self.file
            .delimiter
            .as_deref()
            .and_then(|d| d.bytes().next())
            .unwrap_or(b',')
    }

    /// Maps the header row. Refuses a file in which two columns feed one field, or in which
    /// neither `externalId` nor `employeeNumber` is present (rows could not be matched).
    pub fn resolve(&self, headers: &[String]) -> anyhow::Result<Mapping> {
        let mut columns = Vec::with_capacity(headers.len());
        let mut ignored = Vec::new();
        for h in headers {
            let name = h.trim();
            let explicit = self
                .file
                .columns
                .iter()
                .find(|(c, _)| c.trim().eq_ignore_ascii_case(name))
                .map(|(_, f)| f.as_str());
            let field = match explicit {
                Some("") => None,
                Some(f) => FIELDS.iter().find(|(n, _)| *n == f).map(|(_, f)| *f),
                None if self.file.defaults => {
                    let folded = fold(name);
                    DEFAULT_HEADERS
                        .iter()
                        .find(|(n, _)| *n == folded)
                        .map(|(_, f)| *f)
                }
                None => None,
            };
            if field.is_none() {
                ignored.push(name.to_string());
            }
            columns.push(field);
        }
        for (i, f) in columns.iter().enumerate() {
            if let Some(f) = f {
                if let Some(j) = columns[i + 1..].iter().position(|g| g == &Some(*f)) {
                    bail!(
                        "columns '{}' and '{}' both map to {}; name one of them in a mapping file (\"\" ignores a column)",
                        headers[i].trim(),
                        headers[i + 1 + j].trim(),
                        field_name(*f)
                    );
                }
            }
        }
        if !columns
            .iter()
            .any(|f| matches!(f, Some(Field::ExternalId | Field::EmployeeNumber)))
        {
            bail!(
                "no column maps to externalId or employeeNumber (headers: {}); rows cannot be matched to users without one",
                headers.join(", ")
            );
        }
        Ok(Mapping {
            columns,
            ignored,
            delimiter: self.delimiter(),
            date_format: self.file.date_format.clone(),
        })
    }
}

/// The mapping-file name of a field.
pub fn field_name(f: Field) -> &'static str {
    FIELDS
        .iter()
        .find(|(_, g)| *g == f)
        .map(|(n, _)| *n)
        .unwrap_or("?")
}

impl Mapping {
    /// Whether some column feeds `f`.
    pub fn has(&self, f: Field) -> bool {
        self.columns.contains(&Some(f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(h: &[&str]) -> Vec<String> {
        h.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn default_mapping_reads_common_hrms_headers() {
        let spec = MappingSpec::load(None).unwrap();
        let m = spec
            .resolve(&headers(&[
                "Employee ID",
                "First Name",
                "last_name",
                "Work Email",
                "Department",
                "Job Title",
                "Manager Employee ID",
                "Hire Date",
                "Termination Date",
                "Badge Colour",
            ]))
            .unwrap();
        assert_eq!(
            m.columns,
            vec![
                Some(Field::EmployeeNumber),
                Some(Field::GivenName),
                Some(Field::FamilyName),
                Some(Field::Email),
                Some(Field::Department),
                Some(Field::Title),
                Some(Field::Manager),
                Some(Field::StartDate),
                Some(Field::EndDate),
                None
            ]
        );
        assert_eq!(m.ignored, vec!["Badge Colour".to_string()]);
    }

    #[test]
    fn a_file_without_a_key_column_or_with_two_columns_for_one_field_is_refused() {
        let spec = MappingSpec::load(None).unwrap();
        let e = spec
            .resolve(&headers(&["First Name", "Email"]))
            .unwrap_err();
        assert!(
            e.to_string().contains("externalId or employeeNumber"),
            "{e}"
        );
        let e = spec
            .resolve(&headers(&["Employee ID", "Email", "Work Email"]))
            .unwrap_err();
        assert!(e.to_string().contains("both map to emails.work"), "{e}");
    }

    #[test]
    fn a_mapping_file_overrides_and_ignores_columns() {
        let dir = std::env::temp_dir().join(format!("roster-map-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m.toml");
        std::fs::write(
            &path,
            "delimiter = \";\"\ndate_format = \"%d.%m.%Y\"\n[columns]\n\"Personalnummer\" = \"employeeNumber\"\n\"Abteilung\" = \"department\"\n\"Email\" = \"\"\n",
        )
        .unwrap();
        let spec = MappingSpec::load(Some(&path)).unwrap();
        assert_eq!(spec.delimiter(), b';');
        let m = spec
            .resolve(&headers(&["Personalnummer", "Abteilung", "Email", "Title"]))
            .unwrap();
        assert_eq!(
            m.columns,
            vec![
                Some(Field::EmployeeNumber),
                Some(Field::Department),
                None,
                Some(Field::Title)
            ]
        );
        assert_eq!(m.date_format.as_deref(), Some("%d.%m.%Y"));
        std::fs::write(&path, "[columns]\n\"X\" = \"favouriteColour\"\n").unwrap();
        let e = MappingSpec::load(Some(&path)).unwrap_err();
        assert!(
            format!("{e:#}").contains("unknown field 'favouriteColour'"),
            "{e:#}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
