//! Things over the answer table. A received-stamp's ring or letters in a box must never be accepted as the
//! citizen's answer: pages from `tests/independent/stamps.py` (seeds 6, 7, 9 and 10) that the reader accepted
//! wrongly before the stamp's thin ring and slanted crossings were followed out of the box, and before red ink in a
//! box sent its row to a person. A sticky note over a row's boxes must never make the row a blank, and neither must
//! an answer given beside the boxes (the option circled, a tick beside its box).

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

fn scan_one(name: &str) -> Value {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let page = root.join("tests/fixtures/over_the_table").join(name);
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

/// The row where the stamp or note lies over a box goes to a person, and no row is accepted with an answer other than the
/// citizen's.
fn covered_row_goes_to_review(rec: &Value, row: &str, truth: &[(&str, Option<&str>)]) {
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
    covered_row_goes_to_review(&rec, "c8", &PAGE_13);
}

#[test]
fn stamp_letters_over_an_empty_box_on_a_1bit_page_go_to_review() {
    let rec = scan_one("stamp_over_a_1bit_page_empty_box_should_go_to_review.png");
    covered_row_goes_to_review(&rec, "c7", &PAGE_5);
}

/// The truth of the base page of `scan_0013_stamp_table.png` in every stamp set.
const PAGE_13: [(&str, Option<&str>); 10] = [
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

/// The truth of the base page of `scan_0005_stamp_table.png`: its answers are lone filled boxes.
const PAGE_5: [(&str, Option<&str>); 10] = [
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

#[test]
fn stamp_letters_filling_an_empty_box_go_to_review() {
    // The stamp's "Ã" covers 42% of the row's third box.
    let rec = scan_one("stamp_letters_in_an_empty_box_should_go_to_review.png");
    covered_row_goes_to_review(&rec, "c3", &PAGE_13);
    assert_eq!(rec["answers"]["c3"]["reason"], "red_ink");
}

#[test]
fn stamp_letter_beside_a_lone_fill_does_not_turn_the_fill_into_a_cancellation() {
    // The answer is a lone filled box; the stamp's "Đ" in the next box read as the live mark, the fill as its
    // cancellation.
    let rec = scan_one("stamp_letters_beside_a_lone_fill_should_go_to_review.png");
    covered_row_goes_to_review(&rec, "c1", &PAGE_5);
    assert_eq!(rec["answers"]["c1"]["reason"], "red_ink");
}

#[test]
fn sticky_note_over_an_answered_row_goes_to_review_not_blank() {
    // A yellow note over the three boxes of row c1 (answered b): the boxes read empty, and the row was accepted as
    // skipped.
    let rec = scan_one("sticky_note_over_an_answered_row_should_go_to_review.png");
    covered_row_goes_to_review(&rec, "c1", &PAGE_13);
    assert_eq!(rec["answers"]["c1"]["reason"], "box_hidden");
    // The rows the note leaves alone are read as before.
    for row in ["c2", "c4", "c7", "overall"] {
        assert_eq!(rec["answers"][row]["status"], "accepted", "{row}");
    }
}

#[test]
fn option_circled_or_ticked_beside_its_box_is_not_a_blank_row() {
    // Rows c3 and c8, blank on the master page, answered b: c3 by a pen circle round the box and its label, c8
    // by a tick under the box. Both were accepted as skipped.
    let rec = scan_one("option_circled_and_one_ticked_beside_its_box_should_go_to_review.png");
    let mut truth = PAGE_13;
    for (id, want) in truth.iter_mut() {
        if *id == "c3" || *id == "c8" {
            *want = Some("b");
        }
    }
    for row in ["c3", "c8"] {
        covered_row_goes_to_review(&rec, row, &truth);
        assert_eq!(rec["answers"][row]["reason"], "ink_beside_box", "{row}");
    }
}
