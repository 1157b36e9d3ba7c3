//! The command line never misleads the clerk: its own output never corrupts a batch (a closed stderr pipe), and
//! everyday mistakes (another batch in OUT, `-out` with one dash, files that are not scans) get a clear message
//! and exit status 2 before anything is written.

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

fn phieu(args: &[&str], dir: &std::path::Path) -> (Option<i32>, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_phieu"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("phieu runs");
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("phieu-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn another_batch_in_out_is_refused_unless_forced_and_then_kept_aside() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = temp("force");
    for (name, src) in [("a", "synth_00001.jpg"), ("b", "synth_00002.jpg")] {
        std::fs::create_dir_all(dir.join(name)).unwrap();
        std::fs::copy(root.join("samples").join(src), dir.join(name).join(src)).unwrap();
    }
    let (code, _) = phieu(&["scan", "a", "--quiet", "--out", "out"], &dir);
    assert!(matches!(code, Some(0 | 1)), "first batch: {code:?}");
    std::fs::write(dir.join("out/review.jsonl"), "{\"decision\":\"kept\"}\n").unwrap();
    let first = std::fs::read_to_string(dir.join("out/results.jsonl")).unwrap();
    // The same batch again is a re-run: allowed, same results.
    let (code, _) = phieu(&["scan", "a", "--quiet", "--out", "out"], &dir);
    assert!(matches!(code, Some(0 | 1)));
    assert_eq!(
        std::fs::read_to_string(dir.join("out/results.jsonl")).unwrap(),
        first
    );
    // Another batch is refused, and nothing in OUT changes.
    let (code, err) = phieu(&["scan", "b", "--quiet", "--out", "out"], &dir);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("holds the results of another batch") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("out/results.jsonl")).unwrap(),
        first
    );
    // With --force the old results and the operator's decisions are moved aside, never deleted.
    let (code, err) = phieu(&["scan", "b", "--quiet", "--force", "--out", "out"], &dir);
    assert!(matches!(code, Some(0 | 1)), "{err}");
    let replaced: Vec<_> = std::fs::read_dir(dir.join("out/.phieu"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("replaced-"))
        .collect();
    assert_eq!(replaced.len(), 1);
    let aside = replaced[0].path();
    assert_eq!(
        std::fs::read_to_string(aside.join("results.jsonl")).unwrap(),
        first
    );
    assert!(aside.join("review.jsonl").exists());
    assert!(
        !dir.join("out/review.jsonl").exists(),
        "no old decisions in the new batch"
    );
    let now = std::fs::read_to_string(dir.join("out/results.jsonl")).unwrap();
    assert!(now.contains("synth_00002.jpg") && !now.contains("synth_00001.jpg"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_long_option_with_one_dash_is_an_error_not_a_folder_named_ut() {
    let dir = temp("dash");
    std::fs::write(dir.join("x.txt"), "").unwrap();
    let (code, err) = phieu(&["scan", ".", "-out", "o_typo2"], &dir);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("`-out`") && err.contains("--out"), "{err}");
    assert!(!dir.join("ut").exists() && !dir.join("o_typo2").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn files_that_are_not_scans_are_named_and_an_empty_batch_is_an_error() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = temp("skipped");
    std::fs::create_dir_all(dir.join("in")).unwrap();
    std::fs::write(dir.join("in/notes.md"), "# notes").unwrap();
    std::fs::write(dir.join("in/scan.bmp"), "BM").unwrap();
    let (code, err) = phieu(&["scan", "in", "--out", "out"], &dir);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("skipped") && err.contains("scan.bmp") && err.contains("notes.md"),
        "{err}"
    );
    assert!(err.contains("no scans found"), "{err}");
    assert!(
        !dir.join("out").exists(),
        "nothing written for a usage error"
    );
    std::fs::copy(root.join("samples/synth_00001.jpg"), dir.join("in/a.jpg")).unwrap();
    let (code, err) = phieu(&["scan", "in", "--out", "out"], &dir);
    assert!(matches!(code, Some(0 | 1)), "{err}");
    assert!(err.contains("skipped") && err.contains("scan.bmp"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
