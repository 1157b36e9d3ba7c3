//! Output contract (`phieu-result/1`): one [`PageRecord`] per page in `results.jsonl`, a flat CSV for
//! spreadsheets, and atomic file writes (temp file + rename) so a crash never leaves a half-written output.

use crate::forms::template::{FieldRole, Template};
use crate::util::csv_escape;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// Schema tag written in every record.
pub const SCHEMA: &str = "phieu-result/1";

/// Page outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PageStatus {
    /// Every value read automatically.
    Accepted,
    /// At least one value needs a person.
    NeedsReview,
    /// Not one of our forms, or unreadable.
    Rejected,
    /// A blank page (duplex back).
    Blank,
}

/// The status of one value (a rating row or a code field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueStatus {
    /// Read automatically.
    Accepted,
    /// A person must decide.
    NeedsReview,
    /// A code field left empty (rows use a `null` choice instead).
    Missing,
}

impl ValueStatus {
    /// The wire name (`accepted`, `needs_review`, `missing`).
    pub fn as_str(self) -> &'static str {
        match self {
            ValueStatus::Accepted => "accepted",
            ValueStatus::NeedsReview => "needs_review",
            ValueStatus::Missing => "missing",
        }
    }
}

impl PageStatus {
    /// The wire name (`accepted`, `needs_review`, `rejected`, `blank`).
    pub fn as_str(self) -> &'static str {
        match self {
            PageStatus::Accepted => "accepted",
            PageStatus::NeedsReview => "needs_review",
            PageStatus::Rejected => "rejected",
            PageStatus::Blank => "blank",
        }
    }
}

/// Where a page came from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SourceRef {
    /// Input file path as given.
    pub path: String,
    /// Page number from 1.
    pub page: u32,
}

/// One field's result.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FieldOut {
    /// Value (for review: the proposal).
    pub value: Option<String>,
    /// Model's unconstrained reading.
    #[serde(default)]
    pub raw: Option<String>,
    /// Confidence in [0,1].
    pub confidence: f64,
    /// Accepted, needs review, or missing (an empty field).
    pub status: ValueStatus,
    /// Review reasons.
    #[serde(default)]
    pub reasons: Vec<String>,
    /// Crop of the field for the operator, relative to the output folder.
    #[serde(default)]
    pub crop: Option<String>,
    /// A returned dossier one edit away from the reading, proposed to the operator (never applied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<String>,
    /// Where the value comes from: `ocr` (the field's text), `qr` (the form's QR `HS=`), or `qr+ocr` (both agree).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// One rating row's result.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AnswerOut {
    /// `a`, `b`, `c` or null (skipped, or undecided under review).
    pub choice: Option<String>,
    /// Confidence in [0,1].
    pub confidence: f64,
    /// Accepted or needs review.
    pub status: ValueStatus,
    /// Review reason.
    #[serde(default)]
    pub reason: Option<String>,
    /// Options whose box was filled to cancel it.
    #[serde(default)]
    pub cancelled: Vec<String>,
    /// Row crop for the operator, relative to the output folder.
    #[serde(default)]
    pub crop: Option<String>,
    /// Per-box ink coverage a, b, c (for audits and calibration).
    #[serde(default)]
    pub coverage: Vec<f64>,
}

/// Registration summary.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RegistrationOut {
    /// 0, 90, 180 or 270.
    pub rotation: u32,
    /// Skew, degrees.
    pub skew_deg: f64,
    /// Scale, px per mm.
    pub px_per_mm: f64,
    /// `homography4`, `affine3`, `similarity2` or `table`.
    pub fit: String,
    /// Markers used.
    pub markers: Vec<String>,
    /// Largest residual against the printed rules, mm.
    pub residual_max_mm: f64,
    /// RMS residual, mm.
    pub residual_rms_mm: f64,
    /// Whether verification passed.
    pub verified: bool,
    /// Template mm → image px, row-major.
    pub homography: [[f64; 3]; 3],
    /// Scanner streaks painted over before reading, in image pixels (`column 1203-1205`, `row 88-88`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub streaks_removed: Vec<String>,
}

/// One page's record: the import contract.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PageRecord {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// Where the page came from.
    pub source: SourceRef,
    /// SHA-256 of the input file's bytes (resume key together with the page number).
    #[serde(default)]
    pub file_sha256: Option<String>,
    /// SHA-256 of the decoded page pixels (duplicate detection).
    #[serde(default)]
    pub page_hash: Option<String>,
    /// For a page scanned twice: the first copy (in output order).
    #[serde(default)]
    pub duplicate_of: Option<SourceRef>,
    /// Outcome.
    pub status: PageStatus,
    /// Page-level reasons (not_a_form, template_conflict, registration_unverified, ...).
    #[serde(default)]
    pub reasons: Vec<String>,
    /// Template id.
    pub template: Option<String>,
    /// The form's version (absent in records written before versions were read side by side: version 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form_version: Option<u32>,
    /// QR content when read.
    #[serde(default)]
    pub qr: Option<String>,
    /// Code fields.
    #[serde(default)]
    pub fields: BTreeMap<String, FieldOut>,
    /// Rating rows by id.
    #[serde(default)]
    pub answers: BTreeMap<String, AnswerOut>,
    /// Sum of the criteria points (c1–c9) when every criterion row is accepted.
    #[serde(default)]
    pub score: Option<i32>,
    /// Registration details.
    #[serde(default)]
    pub registration: Option<RegistrationOut>,
    /// Error text for unreadable pages.
    #[serde(default)]
    pub error: Option<String>,
}

impl PageRecord {
    /// A record with no reading (blank, rejected or error).
    pub fn bare(source: SourceRef, status: PageStatus, reasons: Vec<String>) -> PageRecord {
        PageRecord {
            schema: SCHEMA.to_string(),
            source,
            file_sha256: None,
            page_hash: None,
            duplicate_of: None,
            status,
            reasons,
            template: None,
            form_version: None,
            qr: None,
            fields: BTreeMap::new(),
            answers: BTreeMap::new(),
            score: None,
            registration: None,
            error: None,
        }
    }
}

/// Writes `bytes` to `path` atomically: a temp file in the same folder, fsync, rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with(path, bytes, true)
}

/// Like [`write_atomic`], but without the fsync when `durable` is false: for outputs that can be made again
/// (review crops), where a flush per file would stall a worker for milliseconds. A crash still never leaves a
/// half-written file under the final name; only a power cut can lose the last ones.
pub fn write_atomic_with(path: &Path, bytes: &[u8], durable: bool) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        if durable {
            f.sync_all()?;
        }
    }
    std::fs::rename(&tmp, path)
}

/// Serializes records as JSON lines.
pub fn to_jsonl(records: &[PageRecord]) -> String {
    let mut s = String::new();
    for r in records {
        s.push_str(&serde_json::to_string(r).expect("records serialize"));
        s.push('\n');
    }
    s
}

/// One CSV row per page, fields and answers flattened (`ID`, `ID_status` for each field and row of the batch's
/// templates, in template order); UTF-8 with BOM so spreadsheet programs show Vietnamese.
pub fn to_csv(records: &[PageRecord], field_ids: &[String], row_ids: &[String]) -> String {
    let mut s = String::from("\u{feff}");
    let mut head: Vec<String> = ["path", "page", "status", "template"]
        .map(String::from)
        .to_vec();
    for id in field_ids.iter().chain(row_ids) {
        head.push(id.clone());
        head.push(format!("{id}_status"));
    }
    head.push("score".into());
    head.push("reasons".into());
    s.push_str(&head.join(","));
    s.push_str("\r\n");
    for rec in records {
        let mut cols = vec![
            csv_escape(&rec.source.path),
            rec.source.page.to_string(),
            rec.status.as_str().to_string(),
            csv_escape(rec.template.as_deref().unwrap_or_default()),
        ];
        for id in field_ids {
            let f = rec.fields.get(id);
            cols.push(csv_escape(
                f.and_then(|x| x.value.as_deref()).unwrap_or_default(),
            ));
            cols.push(f.map(|x| x.status.as_str()).unwrap_or_default().to_string());
        }
        for r in row_ids {
            let a = rec.answers.get(r);
            cols.push(a.and_then(|a| a.choice.clone()).unwrap_or_default());
            cols.push(a.map(|a| a.status.as_str()).unwrap_or_default().to_string());
        }
        cols.push(rec.score.map(|x| x.to_string()).unwrap_or_default());
        cols.push(csv_escape(&rec.reasons.join(";")));
        s.push_str(&cols.join(","));
        s.push_str("\r\n");
    }
    s
}

/// Flags duplicates across a batch: a page whose pixels equal an earlier page's (scanned twice) gets
/// `duplicate_page` and `duplicate_of`; forms sharing one dossier code all get `duplicate_dossier`. Flagged pages
/// are never `accepted`, so an importer cannot count one rating twice. Returns the number of flagged pages.
pub fn flag_duplicates(records: &mut [PageRecord], templates: &[Template]) -> usize {
    use std::collections::HashMap;
    let mut flagged = std::collections::BTreeSet::new();
    let mut first: HashMap<String, SourceRef> = HashMap::new();
    for (i, r) in records.iter_mut().enumerate() {
        let is_form = matches!(r.status, PageStatus::Accepted | PageStatus::NeedsReview);
        let Some(h) = r.page_hash.clone().filter(|_| is_form) else {
            continue;
        };
        match first.get(&h) {
            Some(src) => {
                r.duplicate_of = Some(src.clone());
                r.reasons.push("duplicate_page".into());
                flagged.insert(i);
            }
            None => {
                first.insert(h, r.source.clone());
            }
        }
    }
    let mut by_code: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        if r.duplicate_of.is_some() {
            continue;
        }
        // The dossier code is the field with that role on the page's own form (`dossier_code` on the built-in
        // ones); the same code on two different forms is still one dossier.
        let field = r
            .template
            .as_deref()
            .and_then(|t| Template::find(templates, t, r.form_version))
            .and_then(|t| t.field_with_role(FieldRole::DossierCode))
            .map_or("dossier_code", |f| f.id.as_str());
        if let Some(v) = r.fields.get(field).and_then(|f| f.value.clone()) {
            by_code.entry(v).or_default().push(i);
        }
    }
    for idx in by_code.values().filter(|v| v.len() > 1) {
        for &i in idx {
            records[i].reasons.push("duplicate_dossier".into());
            flagged.insert(i);
        }
    }
    for &i in &flagged {
        if records[i].status == PageStatus::Accepted {
            records[i].status = PageStatus::NeedsReview;
        }
    }
    flagged.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_whole_file() {
        let dir = std::env::temp_dir().join(format!("phieu-export-{}", std::process::id()));
        let p = dir.join("r.jsonl");
        write_atomic(&p, b"one\n").unwrap();
        write_atomic(&p, b"two\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "two\n");
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "no temp files left"
        );
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn page_scanned_twice_is_flagged_once_and_not_accepted() {
        let mk = |p: &str, h: &str| {
            let mut r = PageRecord::bare(
                SourceRef {
                    path: p.into(),
                    page: 1,
                },
                PageStatus::Accepted,
                vec![],
            );
            r.page_hash = Some(h.into());
            r
        };
        let mut v = vec![mk("a.png", "x"), mk("b.png", "y"), mk("c.png", "x")];
        assert_eq!(flag_duplicates(&mut v, &Template::builtins()), 1);
        assert_eq!(v[0].status, PageStatus::Accepted);
        assert_eq!(v[2].status, PageStatus::NeedsReview);
        assert_eq!(v[2].duplicate_of.as_ref().unwrap().path, "a.png");
    }

    #[test]
    fn csv_has_bom_and_escapes_commas() {
        let mut r = PageRecord::bare(
            SourceRef {
                path: "a,b.png".into(),
                page: 1,
            },
            PageStatus::Blank,
            vec![],
        );
        r.template = Some("gtvt".into());
        let s = to_csv(&[r], &["dossier_code".to_string()], &["c1".to_string()]);
        assert!(s.starts_with('\u{feff}'));
        assert!(s.contains("\"a,b.png\""));
    }
}
