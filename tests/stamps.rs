//! A received-stamp over the answer table: its ring or its letters in an empty box must never be accepted as the
//! citizen's answer. Pages from `tests/independent/stamps.py` (stamp7 page 13, stamp6 page 5) that the reader
//! accepted wrongly before the stamp's thin ring and slanted crossings were followed out of the box.

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

fn scan_one(name: &str) -> Value {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let page = root.join("tests/fixtures/stamps").join(name);
    let out = std::env::temp_dir().join(format!("phieu-stamps-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&out).ok();
    let o = Command::new(env!("CARGO_BIN_EXE_phieu"))
        .arg("scan")
        .arg(&page)
        .args(["--quiet", "--no-crops", "--today", "2026-12-03", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    // Exit status 1: some page needs review.
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
    std::fs::remove_dir_all(&out).ok();
    let recs: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.len(), 1);
    recs.into_iter().next().unwrap()
}

/// The row the citizen left empty, where the stamp lies in a box, goes to a person; and no row is accepted with an
/// answer other than the citizen's.
fn stamped_empty_row_goes_to_review(rec: &Value, row: &str, truth: &[(&str, Option<&str>)]) {
    assert_eq!(rec["template"], "khdt");
    let r = &rec["answers"][row];
    assert_eq!(r["status"], "needs_review", "{row}: {r}");
    for (id, want) in truth {
        let a = &rec["answers"][id];
        if a["status"] == "accepted" {
            assert_eq!(a["choice"].as_str(), *want, "{id}: {a}");
        }
    }
}

#[test]
fn thin_inner_ring_through_an_empty_box_goes_to_review() {
    let rec = scan_one("thin_inner_ring_through_an_empty_box_should_go_to_review.png");
    let truth = [
        ("c1", Some("b")),
        ("c2", Some("a")),
        ("c3", None),
        ("c4", Some("b")),
        ("c5", Some("a")),
        ("c6", Some("a")),
        ("c7", Some("c")),
        ("c8", None),
        ("c9", Some("a")),
        ("overall", Some("c")),
    ];
    stamped_empty_row_goes_to_review(&rec, "c8", &truth);
}

#[test]
fn stamp_letters_over_an_empty_box_on_a_1bit_page_go_to_review() {
    let rec = scan_one("stamp_over_a_1bit_page_empty_box_should_go_to_review.png");
    let truth = [
        ("c1", Some("a")),
        ("c2", Some("b")),
        ("c3", Some("a")),
        ("c4", Some("a")),
        ("c5", Some("a")),
        ("c6", Some("a")),
        ("c7", None),
        ("c8", Some("a")),
        ("c9", Some("a")),
        ("overall", Some("b")),
    ];
    stamped_empty_row_goes_to_review(&rec, "c7", &truth);
}
