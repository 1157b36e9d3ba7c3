//! Shared contracts after the scan: the operator decision log (`review.jsonl`, one [`Decision`] per line) and the
//! final records (`phieu-final/1`, one [`FinalRecord`] per form) that `phieu export` writes and `phieu import` reads.

use crate::results::SourceRef;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Schema tag of every final record.
pub const FINAL_SCHEMA: &str = "phieu-final/1";

/// Schema tag of every review decision line.
pub const DECISION_SCHEMA: &str = "phieu-decision/1";

/// What a review item is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    /// A rating row (`key` = row id such as `c3` or `overall`); value `a`, `b`, `c` or null (left blank).
    Answer,
    /// A code field (`key` = `dossier_code` or `enterprise_code`); value the code, or null (field empty).
    Field,
    /// A whole page that could not be read (`key` = `page`); value `keep` (operator fills every value in) or
    /// `discard` (not a form to import).
    Page,
}

/// Identifies one review item: a page plus the value on it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ItemId {
    /// The page.
    pub source: SourceRef,
    /// Kind of value.
    pub kind: ItemKind,
    /// Row id, field id, or `page`.
    pub key: String,
}

/// Who settled a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecidedBy {
    /// Read automatically with enough confidence.
    Machine,
    /// Decided by an operator in review.
    Person,
}

/// One operator decision, appended (and fsynced) to `DIR/review.jsonl` the moment it is made. The last decision
/// for an item wins; earlier ones stay in the log as history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Always [`DECISION_SCHEMA`].
    pub schema: String,
    /// The item decided.
    pub item: ItemId,
    /// The decided value (null = blank / empty).
    pub value: Option<String>,
    /// The value before this decision (the machine's proposal, or the previous decision).
    pub previous: Option<String>,
    /// Operator name (`--operator`).
    pub operator: String,
    /// RFC 3339 UTC time of the decision.
    pub at: String,
}

/// A settled value in a final record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinalValue {
    /// The value (`a`/`b`/`c` for rows, the code for fields); null = blank row or empty field.
    pub value: Option<String>,
    /// Machine or person.
    pub decided_by: DecidedBy,
    /// The machine's confidence (for values a person decided: the confidence of the machine's proposal).
    pub confidence: f64,
    /// Operator, when a person decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// Decision time, when a person decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<String>,
}

/// One form ready for import: machine results merged with review decisions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinalRecord {
    /// Always [`FINAL_SCHEMA`].
    pub schema: String,
    /// Batch id from the scan's `manifest.json` (`batch_id`).
    pub batch: String,
    /// The page.
    pub source: SourceRef,
    /// SHA-256 of the page pixels.
    #[serde(default)]
    pub page_hash: Option<String>,
    /// Template id (`gtvt`, `khdt`).
    pub template: String,
    /// The form's version (records from before versions were recorded are version 1).
    #[serde(default = "first_version")]
    pub form_version: u32,
    /// Code fields by id (`dossier_code`, and `enterprise_code` on KHĐT forms).
    pub fields: BTreeMap<String, FinalValue>,
    /// Rating rows by id (`c1`..`c9`, `overall`).
    pub answers: BTreeMap<String, FinalValue>,
    /// Sum of criterion points (a=2, b=1, c=0) over c1–c9 when all nine are answered.
    pub score: Option<i32>,
    /// Items still needing a person; empty for a complete record (export refuses non-empty ones unless
    /// `--allow-unreviewed`).
    #[serde(default)]
    pub unresolved: Vec<ItemId>,
}

fn first_version() -> u32 {
    1
}

/// Reads final records from JSON lines (blank lines skipped); the error names the line.
pub fn read_final_jsonl(text: &str) -> Result<Vec<FinalRecord>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_record_round_trips_through_json() {
        let v = |s: &str| FinalValue {
            value: Some(s.into()),
            decided_by: DecidedBy::Machine,
            confidence: 0.99,
            operator: None,
            decided_at: None,
        };
        let r = FinalRecord {
            schema: FINAL_SCHEMA.into(),
            batch: "b1".into(),
            source: SourceRef {
                path: "a.png".into(),
                page: 1,
            },
            page_hash: None,
            template: "gtvt".into(),
            form_version: 1,
            fields: [("dossier_code".to_string(), v("000.00.17.H48-210426-0001"))].into(),
            answers: [("c1".to_string(), v("a"))].into(),
            score: None,
            unresolved: vec![],
        };
        let text = serde_json::to_string(&r).unwrap() + "\n\n";
        assert_eq!(read_final_jsonl(&text).unwrap(), vec![r]);
        assert!(read_final_jsonl("{}\n").unwrap_err().starts_with("line 1"));
    }
}
