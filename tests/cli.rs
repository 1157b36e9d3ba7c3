//! The command line never lets its own output corrupt a batch: a closed stderr pipe (`phieu scan ... 2>&1 | head
//! -1`) leaves every page's record as it would have been.

use std::path::PathBuf;
use std::process::{Command, Stdio};

#[test]
fn closed_stderr_pipe_neither_panics_nor_changes_a_record() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = std::env::temp_dir().join(format!("phieu-cli-pipe-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let mut child = Command::new(env!("CARGO_BIN_EXE_phieu"))
        .args([
            "scan",
            "samples",
            "tests/fixtures/field_reports",
            "--no-crops",
            "--out",
        ])
        .arg(&out)
        .current_dir(&root)
        .stderr(Stdio::piped())
        .spawn()
        .expect("phieu runs");
    // The reader goes away at once, as `head -1` does after its line.
    drop(child.stderr.take());
    let status = child.wait().unwrap();
    assert!(matches!(status.code(), Some(0 | 1)), "exit {status:?}");
    let text = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
    let recs: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.len(), 8 + 6, "one record per page");
    for r in &recs {
        assert!(
            !r["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x == "internal_error"),
            "{r}"
        );
    }
    let _ = std::fs::remove_dir_all(&out);
}
