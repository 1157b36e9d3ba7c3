//! Operator review after a scan: builds the queue of items a person must decide from `DIR/results.jsonl`, keeps
//! the append-only decision log `DIR/review.jsonl` (one fsynced write per decision, a torn last line ignored and
//! truncated away), validates decisions, and merges machine results with decisions into `phieu-final/1` records.
//!
//! The web page that shows the queue lives in [`server`]; this module holds everything that must be right
//! without a browser.

pub mod server;

use crate::forms::template::Template;
use crate::read::validate::CodePattern;
use crate::results::{write_atomic, PageRecord, PageStatus, SourceRef, ValueStatus};
use crate::store::final_record::{
    DecidedBy, Decision, FinalRecord, FinalValue, ItemId, ItemKind, DECISION_SCHEMA, FINAL_SCHEMA,
};
use crate::util::csv_escape;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// File name of the decision log inside the scan folder.
pub const DECISIONS_FILE: &str = "review.jsonl";

/// Errors of the review and export stage; each names the file (and line) it concerns.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// A file could not be read or written.
    #[error("{path}: {cause}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        cause: std::io::Error,
    },
    /// A line of `results.jsonl` or `review.jsonl` did not parse.
    #[error("{path}:{line}: {reason}")]
    Parse {
        /// File.
        path: PathBuf,
        /// Line number from 1.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// `manifest.json` is missing its batch id or does not parse.
    #[error("{path}: {reason}")]
    Manifest {
        /// File.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A decision was refused.
    #[error("{path} page {page} {key}: {reason}")]
    InvalidDecision {
        /// Input file of the page.
        path: String,
        /// Page number.
        page: u32,
        /// Item key (row id, field id or `page`).
        key: String,
        /// Why it was refused.
        reason: String,
    },
    /// Export was asked for while items are still undecided.
    #[error("{count} review items are unresolved (decide them with `phieu review`, or pass --allow-unreviewed)")]
    Unresolved {
        /// How many.
        count: usize,
    },
}

/// Options of the review stage.
#[derive(Debug, Clone)]
pub struct ReviewOptions {
    /// Templates the scan may have used (the built-ins by default; extra templates from the manifest are added
    /// when [`Batch::load`] finds them).
    pub templates: Vec<Template>,
}

impl Default for ReviewOptions {
    fn default() -> Self {
        ReviewOptions {
            templates: Template::builtins(),
        }
    }
}

/// One thing a person must decide, with what the machine proposed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    /// Which value.
    pub id: ItemId,
    /// The machine's proposal (`a`/`b`/`c`, a code, or none).
    pub proposal: Option<String>,
    /// The machine's confidence in its proposal.
    pub confidence: f64,
    /// Why it needs a person (review reasons joined by `, `).
    pub reason: String,
    /// Crop for the operator, relative to the scan folder.
    pub crop: Option<String>,
    /// A returned dossier one edit away (code fields only).
    pub suggestion: Option<String>,
    /// Template of the page, when known.
    pub template: Option<String>,
}

/// The latest decision per item (later lines of the log win).
#[derive(Debug, Clone, Default)]
pub struct Decisions {
    latest: BTreeMap<ItemId, Decision>,
}

impl Decisions {
    /// Folds a log in order: the last decision for an item wins.
    pub fn from_log(log: &[Decision]) -> Decisions {
        let mut d = Decisions::default();
        for x in log {
            d.record(x.clone());
        }
        d
    }

    /// Adds a decision (it replaces any earlier one for the same item).
    pub fn record(&mut self, d: Decision) {
        self.latest.insert(d.item.clone(), d);
    }

    /// The latest decision for `id`.
    pub fn get(&self, id: &ItemId) -> Option<&Decision> {
        self.latest.get(id)
    }
}

/// Reads a decision log. A missing file is an empty log; a last line without its newline that does not parse
/// is a write torn by a crash and is ignored. Any other bad line is an error (a decision is never dropped
/// silently).
pub fn read_decisions(path: &Path) -> Result<Vec<Decision>, ReviewError> {
    let text = match std::fs::read(path) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(source) => {
            return Err(ReviewError::Io {
                path: path.to_path_buf(),
                cause: source,
            })
        }
    };
    Ok(parse_log(path, &text)?.0)
}

/// Parses log text; returns the decisions and the byte length of the valid prefix (where the next append goes).
fn parse_log(path: &Path, text: &str) -> Result<(Vec<Decision>, usize), ReviewError> {
    let mut out = vec![];
    let mut pos = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let complete = line.ends_with('\n');
        if line.trim().is_empty() {
            pos += line.len();
            continue;
        }
        match serde_json::from_str::<Decision>(line.trim_end()) {
            Ok(d) => {
                out.push(d);
                pos += line.len();
            }
            Err(_) if !complete => break,
            Err(e) => {
                return Err(ReviewError::Parse {
                    path: path.to_path_buf(),
                    line: i + 1,
                    reason: e.to_string(),
                })
            }
        }
    }
    Ok((out, pos))
}

/// The open decision log: appends one line per decision with a single write followed by fsync.
#[derive(Debug)]
pub struct DecisionLog {
    path: PathBuf,
    file: std::fs::File,
    /// Whether the file ends mid-line (a complete last decision without its newline).
    needs_newline: bool,
}

impl DecisionLog {
    /// Opens (or creates) the log, returns it with the decisions already in it. A torn last line is cut off
    /// here, so the next append starts on a clean line.
    pub fn open(path: &Path) -> Result<(DecisionLog, Vec<Decision>), ReviewError> {
        let io = |source| ReviewError::Io {
            path: path.to_path_buf(),
            cause: source,
        };
        let existed = path.exists();
        // Append mode: every write lands at the current end of the file, so even a second server started on
        // the same folder adds whole lines instead of overwriting the first one's.
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io)?;
        if !existed {
            // A new file's name lives in its folder: sync that too, or a crash could lose the whole log.
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                if let Ok(d) = std::fs::File::open(dir) {
                    d.sync_all().ok();
                }
            }
        }
        let mut bytes = vec![];
        file.read_to_end(&mut bytes).map_err(io)?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let (decisions, valid) = parse_log(path, &text)?;
        if valid < bytes.len() {
            file.set_len(valid as u64).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        let needs_newline = valid > 0 && !text[..valid].ends_with('\n');
        Ok((
            DecisionLog {
                path: path.to_path_buf(),
                file,
                needs_newline,
            },
            decisions,
        ))
    }

    /// Appends one decision durably (one write, then fsync) before returning.
    pub fn append(&mut self, d: &Decision) -> Result<(), ReviewError> {
        let mut line = String::new();
        if self.needs_newline {
            line.push('\n');
        }
        line.push_str(&serde_json::to_string(d).expect("decisions serialize"));
        line.push('\n');
        let io = |source| ReviewError::Io {
            path: self.path.clone(),
            cause: source,
        };
        self.file.write_all(line.as_bytes()).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.needs_newline = false;
        Ok(())
    }
}

/// A scan folder loaded for review: its page records, batch id and templates.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The scan folder.
    pub dir: PathBuf,
    /// `batch_id` from `manifest.json`.
    pub batch_id: String,
    /// Page records from `results.jsonl`, in file order (sorted by path, page).
    pub records: Vec<PageRecord>,
    /// Templates by id.
    pub templates: Vec<Template>,
}

/// What an operator decided about a page that could not be read.
enum PageChoice {
    Keep(Option<String>),
    Discard,
}

fn page_choice(v: &str) -> Option<PageChoice> {
    match v {
        "discard" => Some(PageChoice::Discard),
        "keep" => Some(PageChoice::Keep(None)),
        _ => v
            .strip_prefix("keep:")
            .map(|t| PageChoice::Keep(Some(t.to_string()))),
    }
}

fn item_id(src: &SourceRef, kind: ItemKind, key: &str) -> ItemId {
    ItemId {
        source: src.clone(),
        kind,
        key: key.to_string(),
    }
}

impl Batch {
    /// Loads `DIR/results.jsonl` and `DIR/manifest.json` (whose `options.extra_templates` are loaded too when
    /// they can still be read).
    pub fn load(dir: &Path, opts: &ReviewOptions) -> Result<Batch, ReviewError> {
        let rpath = dir.join("results.jsonl");
        let text = std::fs::read_to_string(&rpath).map_err(|source| ReviewError::Io {
            path: rpath.clone(),
            cause: source,
        })?;
        let mut records = vec![];
        for (i, l) in text.lines().enumerate() {
            if l.trim().is_empty() {
                continue;
            }
            records.push(serde_json::from_str::<PageRecord>(l).map_err(|e| {
                ReviewError::Parse {
                    path: rpath.clone(),
                    line: i + 1,
                    reason: e.to_string(),
                }
            })?);
        }
        let mpath = dir.join("manifest.json");
        let mtext = std::fs::read_to_string(&mpath).map_err(|source| ReviewError::Io {
            path: mpath.clone(),
            cause: source,
        })?;
        let manifest: crate::batch::manifest::Manifest =
            serde_json::from_str(&mtext).map_err(|e| ReviewError::Manifest {
                path: mpath.clone(),
                reason: e.to_string(),
            })?;
        if manifest.batch_id.is_empty() {
            return Err(ReviewError::Manifest {
                path: mpath.clone(),
                reason: "no batch_id".into(),
            });
        }
        let batch_id = manifest.batch_id.clone();
        // The forms the batch was scanned with come first; manifests written before they were recorded name
        // the extra template files instead.
        let mut templates = manifest.forms.clone();
        let mut add = |t: Template| {
            if !templates.iter().any(|x| x.key() == t.key()) {
                templates.push(t);
            }
        };
        for p in &manifest.options.extra_templates {
            if let Ok(t) = Template::load(p) {
                add(t);
            }
        }
        for t in &opts.templates {
            add(t.clone());
        }
        Ok(Batch {
            dir: dir.to_path_buf(),
            batch_id,
            records,
            templates,
        })
    }

    /// The form a name points to: `gtvt`, or `gtvt@2` for a later version ([`Template::reference`]).
    pub fn template(&self, name: &str) -> Option<&Template> {
        Template::by_reference(&self.templates, name)
    }

    /// The form a page was read with: its template id in the version the scan recorded.
    fn scanned_form(&self, r: &PageRecord) -> Option<&Template> {
        Template::find(&self.templates, r.template.as_deref()?, r.form_version)
    }

    /// The record of page `src`.
    pub fn record(&self, src: &SourceRef) -> Option<&PageRecord> {
        self.records.iter().find(|r| &r.source == src)
    }

    /// Pages that become forms to import: read or partly read, and not a second scan of an earlier sheet.
    fn importable(&self) -> impl Iterator<Item = &PageRecord> {
        self.records.iter().filter(|r| {
            matches!(r.status, PageStatus::Accepted | PageStatus::NeedsReview)
                && r.duplicate_of.is_none()
        })
    }

    /// The template a page is read with after review: an operator's `keep:ID` overrides the scan's.
    fn page_template(&self, r: &PageRecord, decisions: &Decisions) -> Option<&Template> {
        let page = decisions.get(&item_id(&r.source, ItemKind::Page, "page"));
        let chosen = page
            .and_then(|d| d.value.as_deref())
            .and_then(page_choice)
            .and_then(|c| match c {
                PageChoice::Keep(t) => t,
                PageChoice::Discard => None,
            });
        match chosen {
            Some(name) => self.template(&name),
            None => self.scanned_form(r),
        }
    }

    /// Whether a page needs a whole-page decision: a person must look at it, and no single value says why.
    fn needs_page_item(&self, r: &PageRecord) -> bool {
        let value_items = r
            .answers
            .values()
            .any(|a| a.status == ValueStatus::NeedsReview)
            || r.fields
                .values()
                .any(|f| f.status == ValueStatus::NeedsReview);
        r.status == PageStatus::NeedsReview && !value_items
    }

    /// Every item of the batch (decided or not), in page order; within a page the page item first, then the
    /// fields, then the rows in printed order. Decisions matter only for pages: a discarded page has no value
    /// items, a kept page gains one item per row and field that the machine could not read at all.
    pub fn items(&self, decisions: &Decisions) -> Vec<Item> {
        let mut out = vec![];
        for r in self.importable() {
            let mut kept = false;
            if self.needs_page_item(r) {
                let id = item_id(&r.source, ItemKind::Page, "page");
                let choice = decisions
                    .get(&id)
                    .and_then(|d| d.value.as_deref())
                    .and_then(page_choice);
                out.push(Item {
                    id,
                    proposal: None,
                    confidence: 0.0,
                    reason: if r.reasons.is_empty() {
                        "needs_review".into()
                    } else {
                        r.reasons.join(", ")
                    },
                    crop: None,
                    suggestion: None,
                    template: self
                        .scanned_form(r)
                        .map(|t| t.reference())
                        .or_else(|| r.template.clone()),
                });
                match choice {
                    Some(PageChoice::Discard) => continue,
                    Some(PageChoice::Keep(_)) => kept = true,
                    None => {}
                }
            }
            let t = self.page_template(r, decisions);
            // A value of a page the operator kept that the machine could not read at all.
            let kept_item = |id| Item {
                id,
                proposal: None,
                confidence: 0.0,
                reason: "page_kept".into(),
                crop: None,
                suggestion: None,
                template: t.map(|t| t.reference()),
            };
            let field_ids: Vec<String> = match t {
                Some(t) => t.fields.iter().map(|f| f.id.clone()).collect(),
                None => r.fields.keys().cloned().collect(),
            };
            for fid in &field_ids {
                let id = item_id(&r.source, ItemKind::Field, fid);
                match r.fields.get(fid) {
                    // An empty field that the scan found certainly empty is a value (a rating with no dossier
                    // code counts for the department), not an item.
                    Some(f) if f.status == ValueStatus::NeedsReview => out.push(Item {
                        id,
                        proposal: f.value.clone(),
                        confidence: f.confidence,
                        reason: with_page_reasons(
                            if f.reasons.is_empty() {
                                f.status.as_str().to_string()
                            } else {
                                f.reasons.join(", ")
                            },
                            r,
                        ),
                        crop: f.crop.clone(),
                        suggestion: f.suggestion.clone(),
                        template: t.map(|t| t.reference()),
                    }),
                    None if kept => out.push(kept_item(id)),
                    _ => {}
                }
            }
            let row_ids: Vec<String> = match t {
                Some(t) => t.rows.iter().map(|r| r.id.clone()).collect(),
                None => r.answers.keys().cloned().collect(),
            };
            for rid in &row_ids {
                let id = item_id(&r.source, ItemKind::Answer, rid);
                match r.answers.get(rid) {
                    Some(a) if a.status == ValueStatus::NeedsReview => out.push(Item {
                        id,
                        proposal: a.choice.clone(),
                        confidence: a.confidence,
                        reason: with_page_reasons(
                            a.reason.clone().unwrap_or_else(|| "needs_review".into()),
                            r,
                        ),
                        crop: a.crop.clone(),
                        suggestion: None,
                        template: t.map(|t| t.reference()),
                    }),
                    None if kept => out.push(kept_item(id)),
                    _ => {}
                }
            }
        }
        out
    }

    /// Checks a proposed decision against the current queue and the template: answers must be an option id or
    /// null, codes must match the field's pattern (or be null), pages take `keep`, `keep:TEMPLATE` or `discard`.
    pub fn validate(&self, d: &Decision, decisions: &Decisions) -> Result<(), ReviewError> {
        let bad = |reason: String| ReviewError::InvalidDecision {
            path: d.item.source.path.clone(),
            page: d.item.source.page,
            key: d.item.key.clone(),
            reason,
        };
        if d.schema != DECISION_SCHEMA {
            return Err(bad(format!("schema must be {DECISION_SCHEMA}")));
        }
        if d.operator.trim().is_empty() {
            return Err(bad("operator name is empty".into()));
        }
        let item = self
            .items(decisions)
            .into_iter()
            .find(|i| i.id == d.item)
            .ok_or_else(|| bad("not an item of this batch's review queue".into()))?;
        let rec = self
            .record(&d.item.source)
            .ok_or_else(|| bad("no such page".into()))?;
        let t = self.page_template(rec, decisions);
        match d.item.kind {
            ItemKind::Answer => {
                let row = t
                    .and_then(|t| t.rows.iter().find(|r| r.id == d.item.key))
                    .ok_or_else(|| bad("row not in the page's template".into()))?;
                match &d.value {
                    None => Ok(()),
                    Some(v) if row.options.iter().any(|o| &o.id == v) => Ok(()),
                    Some(v) => Err(bad(format!("`{v}` is not an option of this row"))),
                }
            }
            ItemKind::Field => {
                let spec = t
                    .and_then(|t| t.field(&d.item.key))
                    .ok_or_else(|| bad("field not in the page's template".into()))?;
                let pattern = CodePattern::from_regex(&spec.pattern).map_err(bad)?;
                match &d.value {
                    None => Ok(()),
                    Some(v) if pattern.matches(v) => Ok(()),
                    Some(v) => Err(bad(format!(
                        "`{v}` does not match the pattern of {} ({})",
                        spec.label, spec.example
                    ))),
                }
            }
            ItemKind::Page => match d.value.as_deref().and_then(page_choice) {
                Some(PageChoice::Discard) => Ok(()),
                Some(PageChoice::Keep(None)) if item.template.is_some() => Ok(()),
                Some(PageChoice::Keep(None)) => Err(bad(
                    "the page's form is unknown: keep it as `keep:gtvt`, `keep:khdt`, ...".into(),
                )),
                Some(PageChoice::Keep(Some(tid))) if self.template(&tid).is_some() => Ok(()),
                Some(PageChoice::Keep(Some(tid))) => Err(bad(format!("unknown template `{tid}`"))),
                None => Err(bad("a page is `keep`, `keep:TEMPLATE` or `discard`".into())),
            },
        }
    }

    /// Builds a decision with `previous` set to the item's current value (last decision, else the proposal).
    pub fn decision(
        &self,
        item: &ItemId,
        value: Option<String>,
        operator: &str,
        decisions: &Decisions,
    ) -> Decision {
        let previous = match decisions.get(item) {
            Some(d) => d.value.clone(),
            None => self
                .items(decisions)
                .into_iter()
                .find(|i| &i.id == item)
                .and_then(|i| i.proposal),
        };
        Decision {
            schema: DECISION_SCHEMA.into(),
            item: item.clone(),
            value,
            previous,
            operator: operator.to_string(),
            at: crate::util::now_rfc3339(),
        }
    }

    /// Items with no decision yet.
    pub fn unresolved(&self, decisions: &Decisions) -> Vec<Item> {
        self.items(decisions)
            .into_iter()
            .filter(|i| decisions.get(&i.id).is_none())
            .collect()
    }

    /// Merges machine results and decisions into one final record per form (sorted by path, page). Pages
    /// scanned twice and pages discarded in review are left out. Undecided items keep the machine's proposal
    /// and are listed in the record's `unresolved`.
    pub fn finalize(&self, decisions: &Decisions) -> Vec<FinalRecord> {
        let items = self.items(decisions);
        let mut out = vec![];
        for r in self.importable() {
            let page_item = item_id(&r.source, ItemKind::Page, "page");
            let discarded = items.iter().any(|i| i.id == page_item)
                && matches!(
                    decisions
                        .get(&page_item)
                        .and_then(|d| d.value.as_deref())
                        .and_then(page_choice),
                    Some(PageChoice::Discard)
                );
            if discarded {
                continue;
            }
            let t = self.page_template(r, decisions);
            let mine: Vec<&Item> = items.iter().filter(|i| i.id.source == r.source).collect();
            let settle = |kind: ItemKind, key: &str, machine: Option<(Option<String>, f64)>| {
                let item = mine.iter().find(|i| i.id.kind == kind && i.id.key == key);
                let (value, confidence) = machine.unwrap_or((None, 0.0));
                match item.and_then(|i| decisions.get(&i.id)) {
                    Some(d) => FinalValue {
                        value: d.value.clone(),
                        decided_by: DecidedBy::Person,
                        confidence,
                        operator: Some(d.operator.clone()),
                        decided_at: Some(d.at.clone()),
                    },
                    None => FinalValue {
                        value,
                        decided_by: DecidedBy::Machine,
                        confidence,
                        operator: None,
                        decided_at: None,
                    },
                }
            };
            let mut field_ids: Vec<String> = r.fields.keys().cloned().collect();
            let mut row_ids: Vec<String> = r.answers.keys().cloned().collect();
            if let Some(t) = t {
                field_ids.extend(t.fields.iter().map(|f| f.id.clone()));
                row_ids.extend(t.rows.iter().map(|r| r.id.clone()));
            }
            let fields: BTreeMap<String, FinalValue> = field_ids
                .iter()
                .map(|k| {
                    let m = r.fields.get(k).map(|f| (f.value.clone(), f.confidence));
                    (k.clone(), settle(ItemKind::Field, k, m))
                })
                .collect();
            let answers: BTreeMap<String, FinalValue> = row_ids
                .iter()
                .map(|k| {
                    let m = r.answers.get(k).map(|a| (a.choice.clone(), a.confidence));
                    (k.clone(), settle(ItemKind::Answer, k, m))
                })
                .collect();
            let unresolved: Vec<ItemId> = mine
                .iter()
                .filter(|i| decisions.get(&i.id).is_none())
                .map(|i| i.id.clone())
                .collect();
            let score = t.and_then(|t| score(t, &answers, &unresolved));
            out.push(FinalRecord {
                schema: FINAL_SCHEMA.into(),
                batch: self.batch_id.clone(),
                source: r.source.clone(),
                page_hash: r.page_hash.clone(),
                template: t
                    .map(|t| t.template_id.clone())
                    .or_else(|| r.template.clone())
                    .unwrap_or_default(),
                form_version: t.map_or(1, |t| t.version),
                fields,
                answers,
                score,
                unresolved,
            });
        }
        out.sort_by(|a, b| a.source.cmp(&b.source));
        out
    }
}

/// An item's reasons followed by the page's own (a template conflict concerns every value on the page).
fn with_page_reasons(item: String, r: &PageRecord) -> String {
    let mut v: Vec<&str> = item.split(", ").collect();
    for x in &r.reasons {
        if !v.contains(&x.as_str()) {
            v.push(x);
        }
    }
    v.join(", ")
}

/// Sum of option points over the numbered criterion rows, only when every one has a settled value.
fn score(
    t: &Template,
    answers: &BTreeMap<String, FinalValue>,
    unresolved: &[ItemId],
) -> Option<i32> {
    let mut sum = 0;
    for row in t.rows.iter().filter(|r| r.number.is_some()) {
        if unresolved
            .iter()
            .any(|i| i.kind == ItemKind::Answer && i.key == row.id)
        {
            return None;
        }
        let v = answers.get(&row.id)?.value.as_deref()?;
        sum += row.options.iter().find(|o| o.id == v)?.score;
    }
    Some(sum)
}

fn by(v: &FinalValue) -> &'static str {
    match v.decided_by {
        DecidedBy::Machine => "machine",
        DecidedBy::Person => "person",
    }
}

/// Final records as JSON lines.
pub fn final_to_jsonl(records: &[FinalRecord]) -> String {
    records
        .iter()
        .map(|r| serde_json::to_string(r).expect("final records serialize") + "\n")
        .collect()
}

/// Final records as CSV, one row per form, each value followed by a `_by` column (`machine`/`person`); UTF-8
/// with BOM so spreadsheet programs show Vietnamese.
pub fn final_to_csv(records: &[FinalRecord], templates: &[Template]) -> String {
    // Fields and rows in the forms' printed order, each once; ids no form names follow in record order.
    let mut field_ids: Vec<String> = vec![];
    let mut row_ids: Vec<String> = vec![];
    for t in templates {
        if !records
            .iter()
            .any(|r| r.template == t.template_id && r.form_version == t.version)
        {
            continue;
        }
        for f in &t.fields {
            if !field_ids.contains(&f.id) {
                field_ids.push(f.id.clone());
            }
        }
        for row in &t.rows {
            if !row_ids.contains(&row.id) {
                row_ids.push(row.id.clone());
            }
        }
    }
    for r in records {
        for k in r.fields.keys() {
            if !field_ids.contains(k) {
                field_ids.push(k.clone());
            }
        }
        for k in r.answers.keys() {
            if !row_ids.contains(k) {
                row_ids.push(k.clone());
            }
        }
    }
    let mut head: Vec<String> = ["batch", "path", "page", "template"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for k in field_ids.iter().chain(&row_ids) {
        head.push(k.clone());
        head.push(format!("{k}_by"));
    }
    head.push("score".into());
    head.push("unresolved".into());
    let mut s = String::from("\u{feff}");
    s.push_str(&head.join(","));
    s.push_str("\r\n");
    for r in records {
        let mut cols = vec![
            csv_escape(&r.batch),
            csv_escape(&r.source.path),
            r.source.page.to_string(),
            csv_escape(&r.template),
        ];
        for (k, map) in field_ids
            .iter()
            .map(|k| (k, &r.fields))
            .chain(row_ids.iter().map(|k| (k, &r.answers)))
        {
            match map.get(k) {
                Some(v) => {
                    cols.push(csv_escape(v.value.as_deref().unwrap_or("")));
                    cols.push(by(v).into());
                }
                None => cols.extend([String::new(), String::new()]),
            }
        }
        cols.push(r.score.map(|x| x.to_string()).unwrap_or_default());
        cols.push(csv_escape(
            &r.unresolved
                .iter()
                .map(|i| i.key.as_str())
                .collect::<Vec<_>>()
                .join(";"),
        ));
        s.push_str(&cols.join(","));
        s.push_str("\r\n");
    }
    s
}

/// Options of `phieu export`.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Write records even while items are undecided (they are listed in each record's `unresolved`).
    pub allow_unreviewed: bool,
    /// Review options (templates).
    pub review: ReviewOptions,
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportSummary {
    /// Final records written.
    pub records: usize,
    /// Values an operator decided.
    pub by_person: usize,
    /// Items still undecided (0 unless `allow_unreviewed`).
    pub unresolved: usize,
}

/// `phieu export`: merges `DIR/results.jsonl` with `DIR/review.jsonl` into `out` (`.csv` → CSV, otherwise JSON
/// lines), written atomically. Refuses while items are unresolved unless `allow_unreviewed`.
pub fn export(dir: &Path, out: &Path, opts: &ExportOptions) -> Result<ExportSummary, ReviewError> {
    let batch = Batch::load(dir, &opts.review)?;
    let decisions = Decisions::from_log(&read_decisions(&dir.join(DECISIONS_FILE))?);
    let unresolved = batch.unresolved(&decisions).len();
    if unresolved > 0 && !opts.allow_unreviewed {
        return Err(ReviewError::Unresolved { count: unresolved });
    }
    let records = batch.finalize(&decisions);
    let csv = out
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let text = if csv {
        final_to_csv(&records, &batch.templates)
    } else {
        final_to_jsonl(&records)
    };
    write_atomic(out, text.as_bytes()).map_err(|source| ReviewError::Io {
        path: out.to_path_buf(),
        cause: source,
    })?;
    let by_person = records
        .iter()
        .flat_map(|r| r.fields.values().chain(r.answers.values()))
        .filter(|v| v.decided_by == DecidedBy::Person)
        .count();
    Ok(ExportSummary {
        records: records.len(),
        by_person,
        unresolved,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{AnswerOut, FieldOut};

    fn src(p: &str) -> SourceRef {
        SourceRef {
            path: p.into(),
            page: 1,
        }
    }

    fn status_of(s: &str) -> ValueStatus {
        serde_json::from_value(serde_json::Value::String(s.into())).expect("a status name")
    }

    fn answer(choice: Option<&str>, status: &str) -> AnswerOut {
        AnswerOut {
            choice: choice.map(String::from),
            confidence: if status == "accepted" { 0.99 } else { 0.4 },
            status: status_of(status),
            reason: (status != "accepted").then(|| "ambiguous".into()),
            cancelled: vec![],
            crop: None,
            coverage: vec![],
        }
    }

    fn field(value: Option<&str>, status: &str) -> FieldOut {
        FieldOut {
            value: value.map(String::from),
            raw: None,
            confidence: 0.9,
            status: status_of(status),
            reasons: vec![],
            crop: None,
            suggestion: None,
            source: None,
        }
    }

    const CODE: &str = "000.00.17.H48-210426-0001";

    /// A gtvt page with every row accepted as `a` except the ones listed as needing review.
    fn page(p: &str, review_rows: &[&str], code: FieldOut) -> PageRecord {
        let t = Template::builtin("gtvt").unwrap();
        let mut r = PageRecord::bare(src(p), PageStatus::Accepted, vec![]);
        r.template = Some("gtvt".into());
        r.page_hash = Some(format!("hash-{p}"));
        for row in &t.rows {
            let a = if review_rows.contains(&row.id.as_str()) {
                answer(Some("b"), "needs_review")
            } else {
                answer(Some("a"), "accepted")
            };
            r.answers.insert(row.id.clone(), a);
        }
        r.fields.insert("dossier_code".into(), code);
        if !review_rows.is_empty() || r.fields["dossier_code"].status == ValueStatus::NeedsReview {
            r.status = PageStatus::NeedsReview;
        }
        r
    }

    fn batch(records: Vec<PageRecord>) -> Batch {
        Batch {
            dir: PathBuf::from("."),
            batch_id: "b1".into(),
            records,
            templates: Template::builtins(),
        }
    }

    fn decide(b: &Batch, ds: &mut Decisions, p: &str, kind: ItemKind, key: &str, v: Option<&str>) {
        let d = b.decision(&item_id(&src(p), kind, key), v.map(String::from), "lan", ds);
        b.validate(&d, ds).unwrap();
        ds.record(d);
    }

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("phieu-review-{name}-{}", std::process::id()));
        std::fs::remove_dir_all(&d).ok();
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn queue_holds_review_rows_and_fields_but_not_empty_dossier_codes() {
        let mut dup = page("d.png", &["c2"], field(Some(CODE), "accepted"));
        dup.duplicate_of = Some(src("a.png"));
        let mut rejected = PageRecord::bare(src("r.png"), PageStatus::Rejected, vec![]);
        rejected.template = Some("gtvt".into());
        let b = batch(vec![
            page("a.png", &["c3", "overall"], field(Some(CODE), "accepted")),
            page("b.png", &[], field(None, "missing")),
            page("c.png", &[], field(Some(CODE), "needs_review")),
            dup,
            rejected,
        ]);
        let keys: Vec<(String, String)> = b
            .items(&Decisions::default())
            .iter()
            .map(|i| (i.id.source.path.clone(), i.id.key.clone()))
            .collect();
        let k = |p: &str, key: &str| (p.to_string(), key.to_string());
        assert_eq!(
            keys,
            vec![
                k("a.png", "c3"),
                k("a.png", "overall"),
                k("c.png", "dossier_code")
            ]
        );
    }

    #[test]
    fn unread_page_becomes_a_page_item_and_keep_adds_every_value() {
        let mut unread = PageRecord::bare(
            src("u.png"),
            PageStatus::NeedsReview,
            vec!["markers_not_found".into()],
        );
        unread.template = Some("gtvt".into());
        let b = batch(vec![unread]);
        let mut ds = Decisions::default();
        let items = b.items(&ds);
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].id.kind, ItemKind::Page);
        assert_eq!(items[0].reason, "markers_not_found");
        decide(&b, &mut ds, "u.png", ItemKind::Page, "page", Some("keep"));
        // The page item, the dossier code and all ten rows.
        assert_eq!(b.items(&ds).len(), 12);
        assert_eq!(b.unresolved(&ds).len(), 11);
        for row in Template::builtin("gtvt").unwrap().rows {
            decide(&b, &mut ds, "u.png", ItemKind::Answer, &row.id, Some("c"));
        }
        decide(
            &b,
            &mut ds,
            "u.png",
            ItemKind::Field,
            "dossier_code",
            Some(CODE),
        );
        assert!(b.unresolved(&ds).is_empty());
        let f = b.finalize(&ds);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].score, Some(0));
        assert_eq!(f[0].answers["c1"].decided_by, DecidedBy::Person);
        assert_eq!(f[0].fields["dossier_code"].value.as_deref(), Some(CODE));
        // Changing the mind: discarding drops the values and the record.
        decide(
            &b,
            &mut ds,
            "u.png",
            ItemKind::Page,
            "page",
            Some("discard"),
        );
        assert_eq!(b.items(&ds).len(), 1);
        assert!(b.finalize(&ds).is_empty());
    }

    #[test]
    fn page_of_unknown_form_must_be_kept_with_a_template() {
        let unread = PageRecord::bare(
            src("u.png"),
            PageStatus::NeedsReview,
            vec!["markers_not_found".into()],
        );
        let b = batch(vec![unread]);
        let mut ds = Decisions::default();
        let id = item_id(&src("u.png"), ItemKind::Page, "page");
        let d = b.decision(&id, Some("keep".into()), "lan", &ds);
        assert!(b.validate(&d, &ds).is_err());
        let d = b.decision(&id, Some("keep:nope".into()), "lan", &ds);
        assert!(b.validate(&d, &ds).is_err());
        decide(
            &b,
            &mut ds,
            "u.png",
            ItemKind::Page,
            "page",
            Some("keep:khdt"),
        );
        // KHĐT has two fields and ten rows.
        assert_eq!(b.items(&ds).len(), 13);
        assert_eq!(b.finalize(&ds)[0].template, "khdt");
    }

    #[test]
    fn decisions_are_validated() {
        let b = batch(vec![page(
            "a.png",
            &["c3"],
            field(Some(CODE), "needs_review"),
        )]);
        let ds = Decisions::default();
        let check = |kind: ItemKind, key: &str, v: Option<&str>| {
            let d = b.decision(
                &item_id(&src("a.png"), kind, key),
                v.map(String::from),
                "lan",
                &ds,
            );
            b.validate(&d, &ds).is_ok()
        };
        assert!(check(ItemKind::Answer, "c3", Some("a")));
        assert!(check(ItemKind::Answer, "c3", None));
        assert!(!check(ItemKind::Answer, "c3", Some("d")));
        // c4 was accepted by the machine: not an item.
        assert!(!check(ItemKind::Answer, "c4", Some("a")));
        assert!(!check(ItemKind::Answer, "c99", Some("a")));
        assert!(check(ItemKind::Field, "dossier_code", Some(CODE)));
        assert!(check(ItemKind::Field, "dossier_code", None));
        assert!(!check(
            ItemKind::Field,
            "dossier_code",
            Some("000.00.17.H48-210426-001")
        ));
        assert!(!check(ItemKind::Page, "page", Some("keep")));
        let mut d = b.decision(
            &item_id(&src("a.png"), ItemKind::Answer, "c3"),
            Some("a".into()),
            "",
            &ds,
        );
        assert!(b.validate(&d, &ds).is_err(), "operator required");
        d.operator = "lan".into();
        d.schema = "x".into();
        assert!(b.validate(&d, &ds).is_err(), "schema checked");
    }

    #[test]
    fn final_records_merge_decisions_and_recompute_the_score() {
        let mut dup = page("z.png", &[], field(Some(CODE), "accepted"));
        dup.duplicate_of = Some(src("a.png"));
        let b = batch(vec![
            page("b.png", &["c3"], field(Some(CODE), "accepted")),
            page("a.png", &[], field(Some(CODE), "accepted")),
            dup,
        ]);
        let mut ds = Decisions::default();
        let f = b.finalize(&ds);
        assert_eq!(f.len(), 2, "the second scan of a sheet is not a form");
        assert_eq!(f[0].source.path, "a.png", "sorted by path");
        assert_eq!(f[0].score, Some(18));
        assert!(f[0].unresolved.is_empty());
        assert_eq!(f[1].score, None, "c3 is still undecided");
        assert_eq!(f[1].unresolved.len(), 1);
        assert_eq!(f[1].answers["c3"].value.as_deref(), Some("b"));
        assert_eq!(f[1].answers["c3"].decided_by, DecidedBy::Machine);
        assert_eq!(f[0].batch, "b1");
        decide(&b, &mut ds, "b.png", ItemKind::Answer, "c3", Some("c"));
        decide(&b, &mut ds, "b.png", ItemKind::Answer, "c3", Some("b"));
        let f = b.finalize(&ds);
        let c3 = &f[1].answers["c3"];
        assert_eq!(c3.value.as_deref(), Some("b"), "the last decision wins");
        assert_eq!(c3.decided_by, DecidedBy::Person);
        assert_eq!(c3.operator.as_deref(), Some("lan"));
        assert_eq!(c3.confidence, 0.4);
        assert_eq!(f[1].score, Some(17));
        assert_eq!(f[1].answers["c4"].decided_by, DecidedBy::Machine);
        // A blank criterion row means no score.
        decide(&b, &mut ds, "b.png", ItemKind::Answer, "c3", None);
        assert_eq!(b.finalize(&ds)[1].score, None);
    }

    #[test]
    fn previous_value_is_the_proposal_then_the_last_decision() {
        let b = batch(vec![page("a.png", &["c3"], field(Some(CODE), "accepted"))]);
        let mut ds = Decisions::default();
        let id = item_id(&src("a.png"), ItemKind::Answer, "c3");
        let d1 = b.decision(&id, Some("a".into()), "lan", &ds);
        assert_eq!(d1.previous.as_deref(), Some("b"));
        ds.record(d1);
        let d2 = b.decision(&id, None, "lan", &ds);
        assert_eq!(d2.previous.as_deref(), Some("a"));
    }

    fn some_decision(key: &str, v: &str) -> Decision {
        Decision {
            schema: DECISION_SCHEMA.into(),
            item: item_id(&src("a.png"), ItemKind::Answer, key),
            value: Some(v.into()),
            previous: None,
            operator: "lan".into(),
            at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn torn_last_line_is_ignored_then_truncated_before_the_next_append() {
        let dir = tmp("torn");
        let p = dir.join(DECISIONS_FILE);
        {
            let (mut log, old) = DecisionLog::open(&p).unwrap();
            assert!(old.is_empty());
            log.append(&some_decision("c1", "a")).unwrap();
            log.append(&some_decision("c2", "b")).unwrap();
        }
        // A crash in the middle of the third write.
        let whole = serde_json::to_string(&some_decision("c3", "c")).unwrap();
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(&whole.as_bytes()[..whole.len() / 2]).unwrap();
        drop(f);
        assert_eq!(read_decisions(&p).unwrap().len(), 2);
        let (mut log, old) = DecisionLog::open(&p).unwrap();
        assert_eq!(old.len(), 2);
        log.append(&some_decision("c4", "a")).unwrap();
        drop(log);
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text.lines().count(), 3);
        let keys: Vec<String> = read_decisions(&p)
            .unwrap()
            .into_iter()
            .map(|d| d.item.key)
            .collect();
        assert_eq!(keys, ["c1", "c2", "c4"]);
        // A bad line in the middle is not a torn write: refuse rather than drop a decision.
        std::fs::write(&p, format!("{{oops\n{whole}\n")).unwrap();
        assert!(matches!(
            read_decisions(&p),
            Err(ReviewError::Parse { line: 1, .. })
        ));
        assert!(DecisionLog::open(&p).is_err());
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn two_writers_on_one_log_lose_nothing() {
        let dir = tmp("two");
        let p = dir.join(DECISIONS_FILE);
        let (mut a, _) = DecisionLog::open(&p).unwrap();
        let (mut b, _) = DecisionLog::open(&p).unwrap();
        for i in 0..5 {
            a.append(&some_decision(&format!("a{i}"), "a")).unwrap();
            b.append(&some_decision(&format!("b{i}"), "b")).unwrap();
        }
        let keys: Vec<String> = read_decisions(&p)
            .unwrap()
            .into_iter()
            .map(|d| d.item.key)
            .collect();
        assert_eq!(keys.len(), 10);
        assert_eq!(keys[..4], ["a0", "b0", "a1", "b1"]);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn complete_last_line_without_newline_is_kept() {
        let dir = tmp("nonl");
        let p = dir.join(DECISIONS_FILE);
        let whole = serde_json::to_string(&some_decision("c1", "a")).unwrap();
        std::fs::write(&p, &whole).unwrap();
        let (mut log, old) = DecisionLog::open(&p).unwrap();
        assert_eq!(old.len(), 1);
        log.append(&some_decision("c2", "b")).unwrap();
        assert_eq!(read_decisions(&p).unwrap().len(), 2);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn export_refuses_unresolved_items_unless_allowed_and_writes_csv() {
        let dir = tmp("export");
        let records = vec![page("a.png", &["c3"], field(Some(CODE), "accepted"))];
        std::fs::write(
            dir.join("results.jsonl"),
            crate::results::to_jsonl(&records),
        )
        .unwrap();
        std::fs::write(dir.join("manifest.json"), r#"{"batch_id":"xyz"}"#).unwrap();
        let out = dir.join("final.jsonl");
        let err = export(&dir, &out, &ExportOptions::default()).unwrap_err();
        assert!(matches!(err, ReviewError::Unresolved { count: 1 }));
        assert!(!out.exists());
        let opts = ExportOptions {
            allow_unreviewed: true,
            ..Default::default()
        };
        let s = export(&dir, &out, &opts).unwrap();
        assert_eq!((s.records, s.unresolved, s.by_person), (1, 1, 0));
        let f =
            crate::store::final_record::read_final_jsonl(&std::fs::read_to_string(&out).unwrap())
                .unwrap();
        assert_eq!(f[0].batch, "xyz");
        assert_eq!(f[0].unresolved.len(), 1);

        let b = Batch::load(&dir, &ReviewOptions::default()).unwrap();
        let (mut log, _) = DecisionLog::open(&dir.join(DECISIONS_FILE)).unwrap();
        let d = b.decision(
            &item_id(&src("a.png"), ItemKind::Answer, "c3"),
            Some("a".into()),
            "lan",
            &Decisions::default(),
        );
        log.append(&d).unwrap();
        let csv_path = dir.join("final.csv");
        let s = export(&dir, &csv_path, &ExportOptions::default()).unwrap();
        assert_eq!((s.records, s.unresolved, s.by_person), (1, 0, 1));
        let csv = std::fs::read_to_string(&csv_path).unwrap();
        assert!(csv.starts_with('\u{feff}'));
        let lines: Vec<&str> = csv.trim_start_matches('\u{feff}').lines().collect();
        let head: Vec<&str> = lines[0].split(',').collect();
        let row: Vec<&str> = lines[1].split(',').collect();
        let col = |name: &str| row[head.iter().position(|h| *h == name).unwrap()];
        assert_eq!(col("c3"), "a");
        assert_eq!(col("c3_by"), "person");
        assert_eq!(col("c4_by"), "machine");
        assert_eq!(col("score"), "18");
        assert_eq!(col("dossier_code"), CODE);
        // Columns follow the form the records use (GTVT: no enterprise code), in printed order.
        assert_eq!(
            head[4..8],
            ["dossier_code", "dossier_code_by", "c1", "c1_by"]
        );
        assert!(!head.contains(&"enterprise_code"));
        let c10 = head.iter().position(|h| *h == "overall").unwrap();
        assert!(head.iter().position(|h| *h == "c9").unwrap() < c10);
        assert_eq!(
            head.iter().position(|h| *h == "c2"),
            Some(8),
            "rows in printed order"
        );
        std::fs::remove_dir_all(dir).ok();
    }
}
