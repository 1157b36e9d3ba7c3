//! The batch manifest (`manifest.json`): what was read, by which program, model and templates, under which
//! options, and the page counts. One typed record that `scan` writes and `review` reads. It holds no
//! timestamps, so a re-run of the same batch writes the same file.

use crate::forms::template::Template;
use crate::results::{PageRecord, PageStatus};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `manifest.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Manifest {
    /// The batch's name, from the content of its input files (the same scans give the same id anywhere).
    pub batch_id: String,
    /// `phieu VERSION`.
    #[serde(default)]
    pub program: String,
    /// The results schema (`phieu-result/1`).
    #[serde(default)]
    pub results_schema: String,
    /// Templates the batch was read with (id and version).
    #[serde(default)]
    pub templates: Vec<TemplateRef>,
    /// The recognition model.
    #[serde(default)]
    pub model: ModelRef,
    /// Options that change what is read.
    #[serde(default)]
    pub options: ManifestOptions,
    /// Input files with their hashes and page counts.
    #[serde(default)]
    pub inputs: Vec<InputFile>,
    /// Page counts by outcome.
    #[serde(default)]
    pub pages: PageCounts,
    /// The full templates, so review and export read the batch with exactly the forms it was scanned with.
    #[serde(default)]
    pub forms: Vec<Template>,
}

/// A template's id and version.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TemplateRef {
    /// Template id.
    pub id: String,
    /// Form version.
    pub version: u32,
}

/// The model a batch was read with.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ModelRef {
    /// Name and version from its metadata.
    pub version: String,
    /// SHA-256 of the ONNX bytes.
    pub sha256: Option<String>,
    /// Whether it loaded (when not, every code field went to review).
    pub loaded: bool,
}

/// A file named in the options, with its hash.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FileRef {
    /// Path as given.
    pub path: PathBuf,
    /// SHA-256 of its bytes when it could be read.
    pub sha256: Option<String>,
}

/// The scan options recorded in the manifest.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ManifestOptions {
    /// Review crops were written.
    #[serde(default)]
    pub review_crops: bool,
    /// `--template` files.
    #[serde(default)]
    pub extra_templates: Vec<PathBuf>,
    /// `--agency` prefixes.
    #[serde(default)]
    pub agencies: Vec<String>,
    /// `--returned` export.
    #[serde(default)]
    pub returned: Option<FileRef>,
}

/// One input file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct InputFile {
    /// Path as given.
    pub path: String,
    /// SHA-256 of its bytes.
    pub sha256: String,
    /// Pages read from it.
    pub pages: u32,
}

/// Page counts by outcome.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PageCounts {
    /// All pages.
    pub total: usize,
    /// Accepted.
    pub accepted: usize,
    /// Needs review.
    pub needs_review: usize,
    /// Rejected.
    pub rejected: usize,
    /// Blank.
    pub blank: usize,
}

impl PageCounts {
    /// Counts the records' outcomes.
    pub fn of(records: &[PageRecord]) -> PageCounts {
        let count = |s: PageStatus| records.iter().filter(|r| r.status == s).count();
        PageCounts {
            total: records.len(),
            accepted: count(PageStatus::Accepted),
            needs_review: count(PageStatus::NeedsReview),
            rejected: count(PageStatus::Rejected),
            blank: count(PageStatus::Blank),
        }
    }
}

impl Manifest {
    /// The batch id of a set of input files: a hash over their sorted content hashes.
    pub fn batch_id_of(inputs: &[InputFile]) -> String {
        use sha2::Digest;
        let mut hashes: Vec<&str> = inputs.iter().map(|i| i.sha256.as_str()).collect();
        hashes.sort_unstable();
        let mut h = sha2::Sha256::new();
        for x in hashes {
            h.update(x.as_bytes());
            h.update(b"\n");
        }
        crate::util::hex(&h.finalize()[..8])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_round_trips_and_old_ones_still_parse() {
        let m = Manifest {
            batch_id: "ab".into(),
            inputs: vec![InputFile {
                path: "a.jpg".into(),
                sha256: "00".into(),
                pages: 1,
            }],
            ..Default::default()
        };
        let back: Manifest = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!((back.batch_id, back.inputs), (m.batch_id, m.inputs));
        let old: Manifest = serde_json::from_str(r#"{"batch_id":"xyz"}"#).unwrap();
        assert_eq!(old.batch_id, "xyz");
    }

    #[test]
    fn the_batch_id_ignores_input_order() {
        let f = |h: &str| InputFile {
            path: h.into(),
            sha256: h.into(),
            pages: 1,
        };
        assert_eq!(
            Manifest::batch_id_of(&[f("1"), f("2")]),
            Manifest::batch_id_of(&[f("2"), f("1")])
        );
    }
}
