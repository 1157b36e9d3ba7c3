//! Re-runs and interruptions: the same command twice gives identical outputs and skips finished pages; a run
//! killed with SIGKILL at any moment resumes without duplicates or losses.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn scan(out: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_phieu"))
        .args(["scan", "samples", "--out"])
        .arg(out)
        .current_dir(root())
        .output()
        .expect("phieu runs")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("phieu-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&d).ok();
    d
}

#[test]
fn rerun_is_identical_and_skips_finished_pages() {
    let out = tmp("rerun");
    scan(&out);
    let first = std::fs::read(out.join("results.jsonl")).unwrap();
    let again = scan(&out);
    assert_eq!(std::fs::read(out.join("results.jsonl")).unwrap(), first);
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("8 resumed"), "{err}");
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn torn_journal_after_a_crash_resumes_without_duplicates() {
    let reference = tmp("ref");
    scan(&reference);
    let want = std::fs::read_to_string(reference.join("results.jsonl")).unwrap();
    let out = tmp("torn");
    scan(&out);
    // Keep three finished pages and half of a fourth line, as a kill mid-write leaves it.
    let j = std::fs::read_dir(out.join(".phieu"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("journal-")
        })
        .expect("journal written");
    let text = std::fs::read_to_string(&j).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let torn = format!(
        "{}\n{}",
        lines[..3].join("\n"),
        &lines[3][..lines[3].len() / 2]
    );
    std::fs::write(&j, torn).unwrap();
    std::fs::remove_file(out.join("results.jsonl")).unwrap();
    let o = scan(&out);
    assert!(String::from_utf8_lossy(&o.stderr).contains("3 resumed"));
    assert_eq!(
        std::fs::read_to_string(out.join("results.jsonl")).unwrap(),
        want
    );
    std::fs::remove_dir_all(&out).ok();
    std::fs::remove_dir_all(&reference).ok();
}

#[test]
fn kill_9_at_any_moment_then_rerun_gives_the_full_results() {
    let reference = tmp("ref9");
    scan(&reference);
    let want = std::fs::read_to_string(reference.join("results.jsonl")).unwrap();
    for delay_ms in [50u64, 150, 300] {
        let out = tmp(&format!("kill{delay_ms}"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_phieu"))
            .args(["scan", "samples", "--quiet", "--out"])
            .arg(&out)
            .current_dir(root())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        child.kill().ok(); // SIGKILL on Unix
        child.wait().ok();
        scan(&out);
        let got = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
        assert_eq!(got, want, "after a kill at {delay_ms} ms");
        std::fs::remove_dir_all(&out).ok();
    }
    std::fs::remove_dir_all(&reference).ok();
}

/// Several SIGKILLs at pseudo-random moments (fixed seed) during one batch that mixes single pages with a
/// multi-page TIFF, each followed by a restart, and then a run to the end: every page appears exactly once and
/// the results equal an uninterrupted run's.
#[test]
fn repeated_kills_at_random_moments_leave_every_page_exactly_once() {
    let input = tmp("mixin");
    std::fs::create_dir_all(&input).unwrap();
    for e in std::fs::read_dir(root().join("samples")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "jpg") {
            std::fs::copy(&p, input.join(p.file_name().unwrap())).unwrap();
        }
    }
    std::fs::copy(
        root().join("tests/fixtures/formats/four_forms_g4_khdt_gtvt_khdt_khdt.tif"),
        input.join("four.tif"),
    )
    .unwrap();
    let run = |out: &Path| {
        Command::new(env!("CARGO_BIN_EXE_phieu"))
            .arg("scan")
            .arg(&input)
            .args(["--quiet", "--jobs", "2", "--out"])
            .arg(out)
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let reference = tmp("mixref");
    let t = std::time::Instant::now();
    run(&reference).wait().unwrap();
    let full_ms = t.elapsed().as_millis() as u64;
    let want = std::fs::read_to_string(reference.join("results.jsonl")).unwrap();
    let out = tmp("mixkill");
    let mut seed = 0x9e37_79b9_u64;
    for _ in 0..4 {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let delay = (seed >> 33) % full_ms.max(1);
        let mut child = run(&out);
        std::thread::sleep(std::time::Duration::from_millis(delay));
        child.kill().ok();
        child.wait().ok();
    }
    run(&out).wait().unwrap();
    let got = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
    let mut seen = std::collections::BTreeMap::new();
    for l in got.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        *seen
            .entry((
                v["source"]["path"].as_str().unwrap().to_string(),
                v["source"]["page"].as_u64().unwrap(),
            ))
            .or_insert(0) += 1;
    }
    assert_eq!(seen.len(), 12, "8 single pages and 4 TIFF pages");
    assert!(seen.values().all(|&n| n == 1), "{seen:?}");
    assert_eq!(got, want);
    for d in [&input, &reference, &out] {
        std::fs::remove_dir_all(d).ok();
    }
}
