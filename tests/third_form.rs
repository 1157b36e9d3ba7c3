//! A form the program was never written for goes through every step with nothing but its description file:
//! `form new` → `render` → `synth` → `scan` → review (decisions through the review library, as the page makes
//! them) → `export` → `import` (SQLite, and PostgreSQL when `PHIEU_PG_URL` is set) → `report`. The form
//! (`tests/fixtures/forms/tnmt.toml`) differs from the built-in ones in every dimension: 12 criteria, 5 options
//! scored 4–0, a dossier-code pattern with its date in another place, a second code field of its own, and another
//! marker layout. A second version of it, with 11 criteria, is read side by side with the first in one batch.

use phieu::review::{Batch, DecisionLog, Decisions, ReviewOptions};
use phieu::store::final_record::ItemKind;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn phieu(args: &[&str], dir: &Path) -> (i32, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_phieu"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("phieu runs");
    // What the command said, on either stream.
    let mut said = String::from_utf8_lossy(&o.stdout).into_owned();
    said.push_str(&String::from_utf8_lossy(&o.stderr));
    (o.status.code().unwrap_or(-1), said)
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("phieu-third-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn jsonl(p: &Path) -> Vec<Value> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A page's file name (truth is keyed by it).
fn name_of(path: &str) -> String {
    Path::new(path)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(path)
        .to_string()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Authors the form (and, with `version` 2, its second version with the last criterion dropped) into `dir`.
fn author(dir: &Path, version: u32) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut desc = std::fs::read_to_string(root.join("tests/fixtures/forms/tnmt.toml")).unwrap();
    if version == 2 {
        desc = desc.replace("version = 1", "version = 2");
        let last = desc.rfind("[[criteria]]").unwrap();
        let end = desc[last..].find("\n[overall]").unwrap() + last;
        desc.replace_range(last..end + 1, "");
    }
    let d = dir.join(format!("tnmt-v{version}.toml"));
    std::fs::write(&d, desc).unwrap();
    let out = dir.join(format!("tnmt-v{version}.json"));
    let (code, err) = phieu(&["form", "new", s(&d), "-o", s(&out)], dir);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("written to"), "{err}");
    let (code, err) = phieu(&["form", "check", s(&out)], dir);
    assert_eq!(code, 0, "{err}");
    out
}

/// Truth of each synth page by file name.
fn truth(set: &Path) -> BTreeMap<String, Value> {
    jsonl(&set.join("truth.jsonl"))
        .into_iter()
        .map(|t| (t["path"].as_str().unwrap().to_string(), t))
        .collect()
}

#[test]
fn a_third_form_goes_from_its_description_to_the_report() {
    let dir = tmp("e2e");
    let form = author(&dir, 1);
    let t: Value = serde_json::from_str(&std::fs::read_to_string(&form).unwrap()).unwrap();
    assert_eq!(t["rows"].as_array().unwrap().len(), 13);
    assert_eq!(t["rows"][0]["options"].as_array().unwrap().len(), 5);

    // Printed (PDF and PNG), prefilled with a code of the form's own pattern; a code of another pattern is refused.
    let pdf = dir.join("tnmt.pdf");
    let code = "TN.051-00042-20250714";
    let (c, err) = phieu(
        &[
            "render",
            "--template",
            s(&form),
            "--dossier",
            code,
            "-o",
            s(&pdf),
        ],
        &dir,
    );
    assert_eq!(c, 0, "{err}");
    assert!(std::fs::read(&pdf).unwrap().starts_with(b"%PDF"));
    let (c, _) = phieu(
        &[
            "render",
            "--template",
            s(&form),
            "--dossier",
            "000.00.17.H48-210426-0001",
            "-o",
            s(&dir.join("x.png")),
        ],
        &dir,
    );
    assert_eq!(c, 2);

    // Filled and scanned (with the simulator's degradations), then read.
    let set = dir.join("set");
    let (c, err) = phieu(
        &[
            "synth",
            "--template",
            s(&form),
            "--count",
            "12",
            "--seed",
            "1616",
            "--gray-only",
            "--out",
            s(&set),
        ],
        &dir,
    );
    assert_eq!(c, 0, "{err}");
    let out = dir.join("out");
    let (c, err) = phieu(
        &[
            "scan",
            s(&set),
            "--template",
            s(&form),
            "--today",
            "2026-12-01",
            "--out",
            s(&out),
        ],
        &dir,
    );
    assert!(c == 0 || c == 1, "{err}");
    let truth = truth(&set);
    let results = jsonl(&out.join("results.jsonl"));
    assert_eq!(results.len(), truth.len());
    let (mut forms, mut rows, mut auto_rows, mut fields_auto) = (0, 0, 0, 0);
    let (mut qr_printed, mut qr_agreed) = (0, 0);
    for r in &results {
        let name = name_of(r["source"]["path"].as_str().unwrap());
        let tr = &truth[&name];
        if tr["kind"] != "form" {
            assert_ne!(r["status"], "accepted", "{name}: not a form");
            continue;
        }
        forms += 1;
        assert_ne!(r["status"], "rejected", "{name}: a form page is never lost");
        assert_ne!(r["status"], "blank", "{name}: a form page is never lost");
        if r["template"].is_null() {
            continue; // whole-page review
        }
        assert_eq!(r["template"], "tnmt", "{name}");
        assert_eq!(r["form_version"], 1, "{name}");
        for (row, a) in r["answers"].as_object().unwrap() {
            rows += 1;
            if a["status"] == "accepted" {
                auto_rows += 1;
                assert_eq!(
                    a["choice"], tr["answers"][row],
                    "{name} {row}: accepted wrong"
                );
            }
        }
        for (id, f) in r["fields"].as_object().unwrap() {
            let carried = tr["qr"]["content"].as_str().unwrap().contains(";HS=");
            if carried && id == "so_ho_so" && tr["qr"]["obscured"] == false {
                qr_printed += 1;
                qr_agreed += usize::from(f["status"] == "accepted");
            }
            if f["status"] != "needs_review" {
                fields_auto += 1;
                assert_eq!(
                    f["value"], tr["fields"][id]["value"],
                    "{name} {id}: accepted wrong"
                );
            }
        }
    }
    assert!(forms >= 9, "{forms} forms");
    // The reading must work on this form, not merely never be wrong: most rows and fields read by themselves.
    assert!(
        auto_rows * 10 >= rows * 8,
        "{auto_rows}/{rows} rows automatic"
    );
    assert!(
        fields_auto * 3 >= forms * 2,
        "{fields_auto} of {} fields automatic",
        forms * 2
    );
    assert_eq!(
        qr_agreed, qr_printed,
        "every printed dossier code its QR carries is read"
    );

    // Review: every item decided with the truth, through the same library calls as the review page.
    let batch = Batch::load(&out, &ReviewOptions::default()).unwrap();
    let (mut log, past) = DecisionLog::open(&out.join("review.jsonl")).unwrap();
    let mut ds = Decisions::from_log(&past);
    assert!(
        !batch.items(&ds).is_empty(),
        "the degraded set has items to review"
    );
    // A kept page gains an item for every value: decide until nothing is left.
    while let Some(it) = batch
        .items(&ds)
        .into_iter()
        .find(|i| ds.get(&i.id).is_none())
    {
        let tr = &truth[&name_of(&it.id.source.path)];
        let v = match it.id.kind {
            ItemKind::Answer => tr["answers"][&it.id.key].as_str().map(String::from),
            ItemKind::Field => tr["fields"][&it.id.key]["value"].as_str().map(String::from),
            ItemKind::Page if tr["kind"] == "form" => Some("keep:tnmt".to_string()),
            ItemKind::Page => Some("discard".to_string()),
        };
        let d = batch.decision(&it.id, v, "lan", &ds);
        batch.validate(&d, &ds).unwrap();
        log.append(&d).unwrap();
        ds.record(d);
    }
    drop(log);

    // Export: every form, every value settled, scored on the form's own points.
    let fin = dir.join("final.jsonl");
    let (c, err) = phieu(&["export", s(&out), "-o", s(&fin)], &dir);
    assert_eq!(c, 0, "{err}");
    let finals = jsonl(&fin);
    assert_eq!(finals.len(), forms);
    for f in &finals {
        assert_eq!(f["template"], "tnmt");
        assert_eq!(f["form_version"], 1);
        assert!(f["unresolved"].as_array().unwrap().is_empty());
        let name = name_of(f["source"]["path"].as_str().unwrap());
        let tr = &truth[&name];
        for (row, a) in f["answers"].as_object().unwrap() {
            assert_eq!(a["value"], tr["answers"][row], "{name} {row}");
        }
        let expected: Option<i64> = (1..=12)
            .map(|i| {
                let c = tr["answers"][format!("c{i}")].as_str()?;
                Some(4 - (c.as_bytes()[0] - b'a') as i64)
            })
            .sum();
        assert_eq!(
            f["score"].as_i64(),
            expected,
            "{name}: score on the form's own points"
        );
    }

    // Import (SQLite, then PostgreSQL when available) and report.
    let mut dbs = vec![format!("sqlite:{}", dir.join("r.db").display())];
    if let Ok(url) = std::env::var("PHIEU_PG_URL") {
        // A schema of its own: the other database tests share the database and leave their ratings in it.
        let mut admin = phieu::store::db::open(&url).unwrap();
        admin
            .transaction(&mut |tx| {
                tx.execute_batch(
                    "DROP SCHEMA IF EXISTS phieu_third CASCADE; CREATE SCHEMA phieu_third;",
                )?;
                Ok(true)
            })
            .unwrap();
        let sep = if url.contains('?') { '&' } else { '?' };
        dbs.push(format!("{url}{sep}options=-csearch_path%3Dphieu_third"));
    }
    for db in &dbs {
        let (c, err) = phieu(
            &["import", s(&fin), "--db", db, "--template", s(&form)],
            &dir,
        );
        assert_eq!(c, 0, "{db}: {err}");
        let (c, err) = phieu(
            &["import", s(&fin), "--db", db, "--template", s(&form)],
            &dir,
        );
        assert_eq!(c, 0, "{db}: {err}");
        assert!(
            err.contains("already"),
            "{db}: a re-import changes nothing: {err}"
        );
        let csv = dir.join("report.csv");
        let (c, err) = phieu(&["report", "--db", db, "-o", s(&csv)], &dir);
        assert_eq!(c, 0, "{db}: {err}");
        let text = std::fs::read_to_string(&csv).unwrap();
        // The form's own department and its five options appear; no built-in form's labels do.
        assert!(text.contains("Sở Tài nguyên và Môi trường"), "{text}");
        assert!(text.contains("tnmt_v1_c12_e"), "{text}");
        assert!(!text.contains("Giao thông"), "{text}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn two_versions_of_a_form_are_read_side_by_side() {
    let dir = tmp("versions");
    let v1 = author(&dir, 1);
    let v2 = author(&dir, 2);
    let set = dir.join("set");
    let (c, err) = phieu(
        &[
            "synth",
            "--template",
            s(&v1),
            "--template",
            s(&v2),
            "--count",
            "10",
            "--seed",
            "2727",
            "--blank-fraction",
            "0",
            "--other-fraction",
            "0",
            "--out",
            s(&set),
        ],
        &dir,
    );
    assert_eq!(c, 0, "{err}");
    let out = dir.join("out");
    let (c, err) = phieu(
        &[
            "scan",
            s(&set),
            "--template",
            s(&v1),
            "--template",
            s(&v2),
            "--out",
            s(&out),
        ],
        &dir,
    );
    assert!(c == 0 || c == 1, "{err}");
    let truth = truth(&set);
    let mut seen = [0, 0];
    for r in jsonl(&out.join("results.jsonl")) {
        let name = name_of(r["source"]["path"].as_str().unwrap());
        let tr = &truth[&name];
        if r["template"].is_null() {
            continue;
        }
        assert_eq!(r["template"], "tnmt");
        assert_eq!(r["form_version"], tr["form_version"], "{name}");
        let rows = r["answers"].as_object().unwrap().len();
        let v = tr["form_version"].as_u64().unwrap();
        assert_eq!(rows, if v == 1 { 13 } else { 12 }, "{name}");
        seen[v as usize - 1] += 1;
    }
    assert!(seen[0] >= 2 && seen[1] >= 2, "both versions read: {seen:?}");
    // The same form twice (same id and version) is refused before anything is read.
    let (c, err) = phieu(
        &[
            "scan",
            s(&set),
            "--template",
            s(&v1),
            "--template",
            s(&v1),
            "--out",
            s(&dir.join("o2")),
        ],
        &dir,
    );
    assert_eq!(c, 2);
    assert!(err.contains("new version number"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn authoring_mistakes_are_named_and_nothing_is_overwritten() {
    let dir = tmp("mistakes");
    let form = author(&dir, 1);
    let before = std::fs::read(&form).unwrap();
    let desc = dir.join("tnmt-v1.toml");
    // An existing template is never replaced without --force.
    let (c, err) = phieu(&["form", "new", s(&desc), "-o", s(&form)], &dir);
    assert_eq!(c, 2);
    assert!(err.contains("exists; pass --force"), "{err}");
    assert_eq!(std::fs::read(&form).unwrap(), before);
    // A label too long for its column names the file, the label and what to do.
    let text = std::fs::read_to_string(&desc).unwrap().replace(
        "\"Bình thường\"",
        "\"Bình thường, không có ý kiến gì thêm\"",
    );
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, text).unwrap();
    let (c, err) = phieu(
        &["form", "new", s(&bad), "-o", s(&dir.join("bad.json"))],
        &dir,
    );
    assert_eq!(c, 2);
    assert!(err.contains("bad.toml: row c1"), "{err}");
    assert!(err.contains("shorten it"), "{err}");
    assert!(!dir.join("bad.json").exists());
    // A TOML mistake is reported with its line.
    std::fs::write(&bad, "id = \"x\"\nscale = [\n").unwrap();
    let (c, err) = phieu(
        &["form", "new", s(&bad), "-o", s(&dir.join("bad.json"))],
        &dir,
    );
    assert_eq!(c, 2);
    assert!(err.contains("bad.toml: not a form description"), "{err}");
    assert!(err.contains("line"), "{err}");
    // A built-in form passes the print check; a missing file is named.
    assert_eq!(phieu(&["form", "check", "gtvt"], &dir).0, 0);
    let (c, err) = phieu(&["form", "check", "nope.json"], &dir);
    assert_eq!(c, 2);
    assert!(err.contains("nope.json: cannot read template"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
