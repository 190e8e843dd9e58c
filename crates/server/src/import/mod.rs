//! HR feed from a file (`roster import users.csv`): rows are matched to users by `externalId`
//! (else employee number) and written through the same store functions as SCIM writes, so
//! lifecycle dates, rehires and birthright rules apply exactly as they do for the API.
//!
//! Rows are written in batches of one transaction each; a row that cannot be written (a taken
//! `userName`, an invalid value) is rolled back to its savepoint and reported, and the rest of
//! the batch goes on. Managers are written before their reports, so a manager named by employee
//! number anywhere in the file is found.

pub mod mapping;
pub mod row;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use anyhow::{bail, Context};
use chrono::NaiveDateTime;
use scim::lifecycle::Phase;
use scim::schema::{Registry, ResourceKind};
use serde_json::Value;
use store::users::KeyedUser;

use mapping::{Field, MappingSpec};
use row::{ManagerRef, Row};

/// What to import and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// The CSV file (first line: headers).
    pub path: PathBuf,
    /// A mapping file overriding the default header mapping.
    pub mapping: Option<PathBuf>,
    /// Decide and report everything, write nothing.
    pub dry_run: bool,
    /// Deactivate HR-managed users who are not in the file.
    pub deactivate_missing: bool,
    /// More deactivations than this are refused unless `confirm`.
    pub threshold: u64,
    /// Accept more deactivations than `threshold`.
    pub confirm: bool,
    /// Rows per transaction.
    pub batch: usize,
}

/// A row that was not imported, and why.
#[derive(Debug, Clone)]
pub struct Rejected {
    /// Line in the file.
    pub line: u64,
    /// The row's key (externalId or employee number), if it has one.
    pub key: String,
    /// Why the row was rejected.
    pub reason: String,
}

/// What an import did (or, with `--dry-run`, would do).
#[derive(Debug, Default)]
pub struct Summary {
    /// Data rows read.
    pub rows: u64,
    /// New users.
    pub joiners: u64,
    /// Deactivated users restored in place.
    pub rehired: u64,
    /// Users whose attributes changed (department, title, manager, dates, …).
    pub movers: u64,
    /// Users the file deactivates (status, `active`, or end date).
    pub leavers: u64,
    /// Rows that match their user exactly.
    pub unchanged: u64,
    /// Rows not imported, with reasons.
    pub rejected: Vec<Rejected>,
    /// HR-managed users missing from the file that were deactivated (`--deactivate-missing`).
    pub deactivated_missing: u64,
    /// Non-fatal findings (unknown manager, ignored columns).
    pub warnings: Vec<String>,
    /// Whether nothing was written.
    pub dry_run: bool,
}

/// How a row changes its user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Joiner,
    Rehire,
    Mover,
    Leaver,
    Unchanged,
}

/// The decision for one row.
struct Plan {
    kind: Kind,
    existing: Option<store::StoredResource>,
    doc: Value,
    warning: Option<String>,
}

/// A row-level failure (the row is rejected) or an error that stops the import.
enum RowError {
    Reject(String),
    Fatal(store::Error),
}

impl From<store::Error> for RowError {
    fn from(e: store::Error) -> Self {
        match e {
            store::Error::Scim(e) => RowError::Reject(e.detail.to_string()),
            store::Error::Conflict { field } => {
                RowError::Reject(format!("{field} is already taken by another user"))
            }
            store::Error::VersionMismatch => {
                RowError::Reject("the user changed during the import; run it again".into())
            }
            e => RowError::Fatal(e),
        }
    }
}

/// Reads the file; returns the rows in write order (managers first) and the rejected rows.
fn read_rows(
    opts: &Options,
    summary: &mut Summary,
) -> anyhow::Result<(Vec<Row>, mapping::Mapping)> {
    let spec = MappingSpec::load(opts.mapping.as_deref())?;
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(spec.delimiter())
        .flexible(true)
        .from_path(&opts.path)
        .with_context(|| format!("cannot open {}", opts.path.display()))?;
    let headers: Vec<String> = reader
        .headers()
        .with_context(|| format!("cannot read the header line of {}", opts.path.display()))?
        .iter()
        .enumerate()
        .map(|(i, h)| {
            if i == 0 {
                h.trim_start_matches('\u{feff}').to_string()
            } else {
                h.to_string()
            }
        })
        .collect();
    let mapping = spec.resolve(&headers)?;
    for h in &mapping.ignored {
        summary
            .warnings
            .push(format!("column '{h}' is not mapped; ignored"));
    }
    let mut rows = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut user_names: HashMap<String, u64> = HashMap::new();
    for (i, record) in reader.records().enumerate() {
        let line = i as u64 + 2;
        summary.rows += 1;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                summary.rejected.push(Rejected {
                    line,
                    key: String::new(),
                    reason: format!("unreadable CSV: {e}"),
                });
                continue;
            }
        };
        let row = match Row::parse(&record, &mapping, line) {
            Ok(r) => r,
            Err(reason) => {
                summary.rejected.push(Rejected {
                    line,
                    key: Row::key_of(&record, &mapping),
                    reason,
                });
                continue;
            }
        };
        let key = row.key().unwrap_or_default().to_string();
        if let Some(first) = seen.get(&key) {
            summary.rejected.push(Rejected {
                line,
                key,
                reason: format!("the same person is already on line {first}"),
            });
            continue;
        }
        if let Some(u) = row.get(Field::UserName).or(row.get(Field::Email)) {
            let folded = scim::resource::normalize_case(u);
            if !folded.is_empty() {
                if let Some(first) = user_names.get(&folded) {
                    summary.rejected.push(Rejected {
                        line,
                        key,
                        reason: format!("userName '{u}' is already used on line {first}"),
                    });
                    continue;
                }
                user_names.insert(folded, line);
            }
        }
        seen.insert(key, line);
        rows.push(row);
    }
    Ok((managers_first(rows), mapping))
}

/// Orders rows so that a manager in the file comes before the people who report to it (in a
/// reporting cycle, the file order decides).
fn managers_first(rows: Vec<Row>) -> Vec<Row> {
    let by_number: HashMap<&str, usize> = rows
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.employee_number().map(|n| (n, i)))
        .collect();
    let mut order = Vec::with_capacity(rows.len());
    let mut placed = vec![false; rows.len()];
    for start in 0..rows.len() {
        // climb the chain of managers not yet placed, then place it top-down
        let mut chain = Vec::new();
        let mut on_chain = HashSet::new();
        let mut at = Some(start);
        while let Some(i) = at {
            if placed[i] || !on_chain.insert(i) {
                break;
            }
            chain.push(i);
            at = rows[i]
                .get(Field::Manager)
                .and_then(|m| by_number.get(m).copied());
        }
        for &i in chain.iter().rev() {
            placed[i] = true;
            order.push(i);
        }
    }
    let mut slots: Vec<Option<Row>> = rows.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

/// Which HR-managed users the file does not mention and are not already leavers.
fn missing_users(
    store: &store::Store,
    rows: &[Row],
    rejected: &[Rejected],
) -> anyhow::Result<Vec<String>> {
    let mut keys: HashSet<&str> = HashSet::new();
    for r in rows {
        keys.extend(r.external_id());
        keys.extend(r.employee_number());
    }
    // a rejected row still names someone who is in the file: never deactivate them for a typo
    keys.extend(
        rejected
            .iter()
            .map(|r| r.key.as_str())
            .filter(|k| !k.is_empty()),
    );
    let keyed: Vec<KeyedUser> = store.read(store::users::keyed)?;
    let absent: Vec<KeyedUser> = keyed
        .into_iter()
        .filter(|u| {
            !u.external_id.as_deref().is_some_and(|x| keys.contains(x))
                && !u
                    .employee_number
                    .as_deref()
                    .is_some_and(|n| keys.contains(n))
        })
        .collect();
    let mut out: Vec<String> = absent
        .iter()
        .filter(|u| u.active)
        .map(|u| u.id.clone())
        .collect();
    // inactive rows are leavers or pre-hires; only pre-hires still need deactivating
    let inactive: Vec<String> = absent
        .iter()
        .filter(|u| !u.active)
        .map(|u| u.id.clone())
        .collect();
    for chunk in inactive.chunks(500) {
        let users = store.read(|c| store::users::get_many(c, chunk))?;
        out.extend(
            users
                .into_iter()
                .filter(|u| scim::lifecycle::stored_phase(&u.doc) == Phase::PreHire)
                .map(|u| u.id),
        );
    }
    Ok(out)
}

/// Resolves the row's manager (by employee number: in the file first, then in the database).
fn manager_of(
    conn: &mut store::DbConn,
    row: &Row,
    written: &HashMap<String, String>,
) -> Result<(ManagerRef, Option<String>), RowError> {
    let Some(number) = row.get(Field::Manager) else {
        return Ok((ManagerRef::Keep, None));
    };
    if number.is_empty() {
        return Ok((ManagerRef::Clear, None));
    }
    if row.employee_number() == Some(number) {
        return Ok((
            ManagerRef::Keep,
            Some(format!(
                "manager '{number}' is the person themself; ignored"
            )),
        ));
    }
    if let Some(id) = written.get(number) {
        return Ok((ManagerRef::Set(id.clone()), None));
    }
    let found = store::users::find_by_keys(conn, None, Some(number))?;
    match found.as_slice() {
        [one] => Ok((ManagerRef::Set(one.id.clone()), None)),
        [] => Ok((
            ManagerRef::Keep,
            Some(format!(
                "manager '{number}' not found; manager left as it was"
            )),
        )),
        _ => Ok((
            ManagerRef::Keep,
            Some(format!(
                "employee number '{number}' belongs to {} users; manager left as it was",
                found.len()
            )),
        )),
    }
}

/// Validates a document and checks that its `userName` is free (or already the user's own).
fn validate(conn: &mut store::DbConn, doc: Value, own_id: Option<&str>) -> Result<Value, RowError> {
    let doc = scim::resource::validate(ResourceKind::User, doc, Registry::global())
        .map_err(|e| RowError::Reject(e.detail.to_string()))?;
    if let Some(name) = doc.get("userName").and_then(Value::as_str) {
        if let Some(holder) = store::users::id_by_user_name(conn, name)? {
            if Some(holder.as_str()) != own_id {
                return Err(RowError::Reject(format!(
                    "userName '{name}' is already taken by another user"
                )));
            }
        }
    }
    Ok(doc)
}

/// Decides what a row does to its user (reads only).
fn plan(
    conn: &mut store::DbConn,
    row: &Row,
    now: NaiveDateTime,
    written: &HashMap<String, String>,
) -> Result<Plan, RowError> {
    let (manager, warning) = manager_of(conn, row, written)?;
    let found = store::users::find_by_keys(conn, row.external_id(), row.employee_number())?;
    let existing = match found.len() {
        0 => None,
        1 => found.into_iter().next(),
        n => {
            return Err(RowError::Reject(format!(
                "{n} users have this externalId or employee number; resolve the duplicate first"
            )))
        }
    };
    let Some(existing) = existing else {
        let doc = validate(conn, row.new_doc(&manager), None)?;
        return Ok(Plan {
            kind: Kind::Joiner,
            existing: None,
            doc,
            warning,
        });
    };
    let previous = scim::lifecycle::stored_phase(&existing.doc);
    let mut doc = existing.doc.clone();
    row.overlay(&mut doc, &manager);
    if previous == Phase::Inactive && !row.is_leaver(now) {
        row.revive(&mut doc, now);
        let doc = validate(conn, doc, Some(&existing.id))?;
        return Ok(Plan {
            kind: Kind::Rehire,
            existing: Some(existing),
            doc,
            warning,
        });
    }
    let doc = validate(conn, doc, Some(&existing.id))?;
    let mut settled = doc.clone();
    let phase = scim::lifecycle::settle(&mut settled, Some(previous), now);
    let kind = if settled == existing.doc {
        Kind::Unchanged
    } else if phase == Phase::Inactive && previous != Phase::Inactive {
        Kind::Leaver
    } else {
        Kind::Mover
    };
    Ok(Plan {
        kind,
        existing: Some(existing),
        doc,
        warning,
    })
}

/// Writes a plan; returns the user's id.
fn apply(tx: &mut store::Tx<'_>, plan: Plan) -> store::Result<String> {
    let user = match (plan.kind, plan.existing) {
        (Kind::Unchanged, Some(u)) => return Ok(u.id),
        (Kind::Rehire, Some(u)) => store::users::rehire(tx, u, plan.doc)?,
        (_, Some(u)) => store::users::replace_loaded(tx, u, plan.doc)?,
        (_, None) => store::users::create(tx, plan.doc)?,
    };
    Ok(user.id)
}

/// What became of each row of a batch: its kind, user id and warning, or why it was rejected.
type Outcomes = Vec<(usize, Result<(Kind, String, Option<String>), String>)>;

/// Decides a batch without writing (`--dry-run`).
fn dry_batch(
    store: &store::Store,
    chunk: &[Row],
    written: &mut HashMap<String, String>,
) -> anyhow::Result<Outcomes> {
    let now = store.clock().now();
    let mut outcomes = Vec::with_capacity(chunk.len());
    store.read(|c| {
        for (i, row) in chunk.iter().enumerate() {
            match plan(c, row, now, written) {
                Ok(p) => {
                    if let (Some(n), Kind::Joiner) = (row.employee_number(), p.kind) {
                        written.insert(n.to_string(), "(new)".into());
                    }
                    outcomes.push((i, Ok((p.kind, String::new(), p.warning))));
                }
                Err(RowError::Reject(r)) => outcomes.push((i, Err(r))),
                Err(RowError::Fatal(e)) => return Err(e),
            }
        }
        Ok(())
    })?;
    Ok(outcomes)
}

/// Whether a store error belongs to one row (rejected) rather than to the import.
fn is_row_error(e: &store::Error) -> bool {
    matches!(
        e,
        store::Error::Scim(_)
            | store::Error::Conflict { .. }
            | store::Error::VersionMismatch
            | store::Error::NotFound
    )
}

/// Writes a batch in one transaction. Rows are first written straight (a row the plan rejects
/// writes nothing); if a write itself fails (a taken `userName`), the transaction is rolled back
/// and the batch written again with a savepoint around each row, so only that row is rejected.
fn write_batch(
    store: &store::Store,
    ctx: &store::WriteCtx,
    chunk: &[Row],
    written: &mut HashMap<String, String>,
) -> anyhow::Result<Outcomes> {
    for savepoints in [false, true] {
        // employee numbers this attempt wrote; forgotten again if the attempt rolls back
        let mut added: Vec<String> = Vec::new();
        let mut outcomes: Outcomes = Vec::with_capacity(chunk.len());
        let r = store.write(ctx, |tx| {
            let now = tx.now();
            for (i, row) in chunk.iter().enumerate() {
                let r = if savepoints {
                    tx.savepoint(|tx| {
                        let planned = plan(tx.conn, row, now, written)?;
                        let (kind, warning) = (planned.kind, planned.warning.clone());
                        let id = apply(tx, planned)?;
                        Ok::<_, RowError>((kind, id, warning))
                    })
                } else {
                    match plan(tx.conn, row, now, written) {
                        Ok(planned) => {
                            let (kind, warning) = (planned.kind, planned.warning.clone());
                            // a failed write aborts this attempt (rolled back, retried)
                            let id = apply(tx, planned)?;
                            Ok((kind, id, warning))
                        }
                        Err(e) => Err(e),
                    }
                };
                match r {
                    Ok((kind, id, warning)) => {
                        if let Some(n) = row.employee_number() {
                            written.insert(n.to_string(), id.clone());
                            added.push(n.to_string());
                        }
                        outcomes.push((i, Ok((kind, id, warning))));
                    }
                    Err(RowError::Reject(reason)) => outcomes.push((i, Err(reason))),
                    Err(RowError::Fatal(e)) => return Err(e),
                }
            }
            Ok(())
        });
        if r.is_err() {
            for n in &added {
                written.remove(n);
            }
        }
        match r {
            Ok(()) => return Ok(outcomes),
            Err(e) if !savepoints && is_row_error(&e) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    anyhow::bail!("the batch could not be written")
}

fn count(summary: &mut Summary, kind: Kind) {
    match kind {
        Kind::Joiner => summary.joiners += 1,
        Kind::Rehire => summary.rehired += 1,
        Kind::Mover => summary.movers += 1,
        Kind::Leaver => summary.leavers += 1,
        Kind::Unchanged => summary.unchanged += 1,
    }
}

/// Runs an import against `store` as actor `import:<file name>`; `progress` is told of each
/// row handled.
pub fn run(
    store: &store::Store,
    opts: &Options,
    progress: &dyn Fn(u64),
) -> anyhow::Result<Summary> {
    let mut summary = Summary {
        dry_run: opts.dry_run,
        ..Summary::default()
    };
    let (rows, _mapping) = read_rows(opts, &mut summary)?;
    let missing = if opts.deactivate_missing {
        let missing = missing_users(store, &rows, &summary.rejected)?;
        if missing.len() as u64 > opts.threshold && !opts.confirm {
            bail!(
                "--deactivate-missing would deactivate {} users, more than the threshold of {}; nothing was changed. Check the file is complete, then run again with --confirm (or raise --threshold)",
                missing.len(),
                opts.threshold
            );
        }
        missing
    } else {
        Vec::new()
    };
    let file = opts
        .path
        .file_name()
        .map(|f| f.to_string_lossy().to_string())
        .unwrap_or_else(|| "file".into());
    let ctx = store::WriteCtx::system(&format!("import:{file}"));
    let mut written: HashMap<String, String> = HashMap::new();
    let batch = opts.batch.max(1);
    for chunk in rows.chunks(batch) {
        let outcomes = if opts.dry_run {
            dry_batch(store, chunk, &mut written)?
        } else {
            write_batch(store, &ctx, chunk, &mut written)?
        };
        for (i, outcome) in outcomes {
            let row = &chunk[i];
            match outcome {
                Ok((kind, _, warning)) => {
                    count(&mut summary, kind);
                    if let Some(w) = warning {
                        summary.warnings.push(format!(
                            "line {} ({}): {w}",
                            row.line,
                            row.key().unwrap_or_default()
                        ));
                    }
                }
                Err(reason) => summary.rejected.push(Rejected {
                    line: row.line,
                    key: row.key().unwrap_or_default().to_string(),
                    reason,
                }),
            }
        }
        progress(chunk.len() as u64);
    }
    if !missing.is_empty() {
        if opts.dry_run {
            summary.deactivated_missing = missing.len() as u64;
        } else {
            for chunk in missing.chunks(batch) {
                let n = store.write(&ctx, |tx| {
                    let mut n = 0;
                    for id in chunk {
                        let current = store::users::get(tx.conn, id)?;
                        let mut doc = current.doc.clone();
                        if let Some(o) = doc.as_object_mut() {
                            o.insert("active".into(), Value::Bool(false));
                        }
                        store::users::replace_loaded(tx, current, doc)?;
                        n += 1;
                    }
                    Ok(n)
                })?;
                summary.deactivated_missing += n;
            }
        }
    }
    summary.rejected.sort_by_key(|r| r.line);
    Ok(summary)
}
