//! End-to-end: the README's main command on the bundled `samples/`, checked against the simulator's truth and
//! against a golden summary of our own output (regenerate on purpose with `PHIEU_UPDATE_GOLDEN=1`).

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn scan_samples(out: &Path) -> Vec<Value> {
    let status = Command::new(env!("CARGO_BIN_EXE_phieu"))
        .args(["scan", "samples", "--quiet", "--out"])
        .arg(out)
        .current_dir(root())
        .status()
        .expect("phieu runs");
    // Exit code 1 = some pages need review, 0 = all accepted; both are successful runs.
    assert!(matches!(status.code(), Some(0 | 1)), "exit {status:?}");
    std::fs::read_to_string(out.join("results.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn truth() -> BTreeMap<String, Value> {
    std::fs::read_to_string(root().join("samples/truth.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["path"].as_str().unwrap().to_string(), v)
        })
        .collect()
}

fn name(r: &Value) -> String {
    Path::new(r["source"]["path"].as_str().unwrap())
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn samples_are_read_without_silent_errors() {
    let out = std::env::temp_dir().join(format!("phieu-samples-{}", std::process::id()));
    let results = scan_samples(&out);
    let truth = truth();
    assert_eq!(results.len(), truth.len(), "one record per page");
    let (mut rows, mut auto) = (0, 0);
    for r in &results {
        assert_eq!(r["schema"], "phieu-result/1");
        let t = &truth[&name(r)];
        match t["kind"].as_str().unwrap() {
            "blank" => assert_eq!(r["status"], "blank", "{}", name(r)),
            "other" => assert_eq!(r["status"], "rejected", "{}", name(r)),
            _ => {
                assert_eq!(r["template"], t["template"], "{}", name(r));
                let amb: Vec<&str> = t["ambiguous_rows"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap())
                    .collect();
                for (rid, want) in t["answers"].as_object().unwrap() {
                    let a = &r["answers"][rid];
                    rows += 1;
                    if a["status"] == "accepted" {
                        assert!(
                            !amb.contains(&rid.as_str()),
                            "{} {rid}: ambiguous row accepted",
                            name(r)
                        );
                        assert_eq!(&a["choice"], want, "{} {rid}: silent error", name(r));
                        auto += 1;
                    }
                }
                for (fid, tf) in t["fields"].as_object().unwrap() {
                    let f = &r["fields"][fid];
                    if f["status"] == "accepted" {
                        assert_eq!(f["value"], tf["value"], "{} {fid}: silent error", name(r));
                    }
                    if tf["value"].is_null() {
                        assert_eq!(f["status"], "missing", "{} {fid}: empty field", name(r));
                    }
                }
            }
        }
    }
    assert!(
        auto as f64 >= 0.85 * rows as f64,
        "only {auto}/{rows} rows automatic"
    );
    for f in ["results.csv", "results.jsonl"] {
        assert!(out.join(f).exists());
    }
    std::fs::remove_dir_all(&out).ok();
}

/// The parts of a record that must not change without a deliberate golden update.
fn summary(r: &Value) -> Value {
    let answers: BTreeMap<String, Value> = r["answers"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, a)| (k.clone(), serde_json::json!([a["choice"], a["status"]])))
                .collect()
        })
        .unwrap_or_default();
    let fields: BTreeMap<String, Value> = r["fields"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, f)| (k.clone(), serde_json::json!([f["value"], f["status"]])))
                .collect()
        })
        .unwrap_or_default();
    serde_json::json!({"page": name(r), "status": r["status"], "template": r["template"], "answers": answers, "fields": fields})
}

#[test]
fn samples_match_golden_results() {
    let out = std::env::temp_dir().join(format!("phieu-golden-{}", std::process::id()));
    let got: Vec<Value> = scan_samples(&out).iter().map(summary).collect();
    let golden = root().join("tests/golden/samples.json");
    if std::env::var("PHIEU_UPDATE_GOLDEN").is_ok() {
        std::fs::write(&golden, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
    }
    let want: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(&golden).expect("golden file")).unwrap();
    assert_eq!(
        got, want,
        "results differ from tests/golden/samples.json (set PHIEU_UPDATE_GOLDEN=1 only on purpose)"
    );
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn score_is_only_given_when_all_nine_criteria_are_answered_and_accepted() {
    let out = std::env::temp_dir().join(format!("phieu-samples-score-{}", std::process::id()));
    let results = scan_samples(&out);
    let mut skipped_seen = 0;
    for r in &results {
        let Some(answers) = r["answers"].as_object().filter(|a| !a.is_empty()) else {
            continue;
        };
        let rows: Vec<&Value> = (1..=9).map(|i| &answers[&format!("c{i}")]).collect();
        let all_accepted = rows.iter().all(|a| a["status"] == "accepted");
        let points: Option<i64> = rows
            .iter()
            .map(|a| match (a["status"].as_str(), a["choice"].as_str()) {
                (Some("accepted"), Some("a")) => Some(2),
                (Some("accepted"), Some("b")) => Some(1),
                (Some("accepted"), Some(_)) => Some(0),
                _ => None,
            })
            .sum();
        skipped_seen += (all_accepted && points.is_none()) as usize;
        assert_eq!(r["score"].as_i64(), points, "{}", name(r));
    }
    // The samples include forms with a skipped criterion and every other row accepted: the case the rule is for.
    assert!(skipped_seen > 0);
    std::fs::remove_dir_all(&out).ok();
}
