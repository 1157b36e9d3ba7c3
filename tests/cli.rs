//! The command line never misleads the clerk: its own output never corrupts a batch (a closed stderr pipe), and
//! everyday mistakes (another batch in OUT, `-out` with one dash, files that are not scans) get a clear message
//! and exit status 2 before anything is written.

use std::path::{Path, PathBuf};
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
    // The samples' 8 pages and one page per field report.
    let reports = std::fs::read_to_string(root.join("tests/fixtures/field_reports/truth.jsonl"))
        .unwrap()
        .lines()
        .count();
    assert_eq!(recs.len(), 8 + reports, "one record per page");
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
    // The old batch's crops went aside with it: the new review/ holds only the new batch's.
    let crops = |d: PathBuf| -> Vec<String> {
        std::fs::read_dir(d)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    };
    let old_crops = crops(aside.join("review"));
    assert!(
        !old_crops.is_empty() && old_crops.iter().all(|c| c.starts_with("synth_00001")),
        "{old_crops:?}"
    );
    assert!(
        crops(dir.join("out/review"))
            .iter()
            .all(|c| c.starts_with("synth_00002")),
        "{:?}",
        crops(dir.join("out/review"))
    );
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
    std::fs::write(dir.join("in/scan.docx"), "PK").unwrap();
    let (code, err) = phieu(&["scan", "in", "--out", "out"], &dir);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("skipped") && err.contains("scan.docx") && err.contains("notes.md"),
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
    assert!(
        err.contains("skipped") && err.contains("scan.docx"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs `phieu ARGS` in `dir` with `env` changes (`Some` sets, `None` removes) and stdin from /dev/null; fails
/// after a minute.
fn phieu_env(args: &[&str], dir: &Path, env: &[(&str, Option<&str>)]) -> (Option<i32>, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_phieu"));
    c.args(args).current_dir(dir).stdin(Stdio::null());
    for (k, v) in env {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    // A command that should stop at once but serves instead (the old `review` as "operator") must not hang the
    // suite: give it a minute.
    let mut child = c.stderr(Stdio::piped()).spawn().expect("phieu runs");
    let t0 = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t0.elapsed().as_secs() > 60 {
            child.kill().ok();
            panic!("phieu {args:?} still running after 60 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let o = child.wait_with_output().unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Copies samples into `dir/name/`, `copies` times each (distinct names, so distinct pages of one batch).
fn sample_folder(dir: &Path, name: &str, copies: usize) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    for i in 0..copies {
        for e in std::fs::read_dir(root.join("samples")).unwrap().flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.ends_with(".jpg") {
                std::fs::copy(e.path(), d.join(format!("{i}-{n}"))).unwrap();
            }
        }
    }
    d
}

#[test]
fn a_missing_input_or_an_empty_folder_is_a_usage_error_that_writes_nothing() {
    let dir = temp("missing");
    let (code, err) = phieu(&["scan", "nope", "--out", "out"], &dir);
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(err, "phieu: error: nope: no such file or folder\n");
    assert!(!dir.join("out").exists(), "no output folder for a typo");
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    let (code, err) = phieu(&["scan", "empty", "--out", "out"], &dir);
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(
        err,
        "phieu: error: no scans found in empty (looked for .png .jpg .jpeg .bmp .jp2 .j2k .tif .tiff .pdf files)\n"
    );
    assert!(!dir.join("out").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_malformed_agency_is_refused_before_anything_is_read() {
    let dir = temp("agency");
    sample_folder(&dir, "in", 1);
    let (code, err) = phieu(
        &["scan", "in", "--agency", "000.00.17", "--out", "out"],
        &dir,
    );
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(
        err,
        "phieu: error: --agency 000.00.17: not an agency prefix of the form ddd.dd.dd.Ldd (e.g. 000.00.17.H48)\n"
    );
    assert!(!dir.join("out").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unreadable_files_are_named_with_what_to_do_and_the_counts_add_up() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = temp("counts");
    std::fs::create_dir_all(dir.join("in")).unwrap();
    std::fs::copy(root.join("samples/synth_00001.jpg"), dir.join("in/a.jpg")).unwrap();
    let jpeg = std::fs::read(root.join("samples/synth_00002.jpg")).unwrap();
    std::fs::write(dir.join("in/broken.jpg"), &jpeg[..500]).unwrap();
    std::fs::write(dir.join("in/junk.png"), "not a png").unwrap();
    let (code, err) = phieu(&["scan", "in", "--out", "out"], &dir);
    assert_eq!(code, Some(3), "{err}");
    assert!(
        err.contains("phieu: in/broken.jpg page 1: cannot decode"),
        "{err}"
    );
    assert!(
        err.contains("phieu: in/junk.png page 1: cannot decode"),
        "{err}"
    );
    assert!(
        err.contains("phieu: 2 pages could not be read (rejected, `unreadable`): check or rescan those files"),
        "{err}"
    );
    // `N pages in …: a accepted, b needs review, c rejected, d blank`: a + b + c + d = N = records.
    let line = err.lines().find(|l| l.contains(" pages in ")).expect(&err);
    let num = |after: &str| -> usize {
        let i = line
            .find(after)
            .unwrap_or_else(|| panic!("{after:?} in {line}"));
        line[..i]
            .rsplit([' ', '('])
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let total = num(" pages in ");
    assert_eq!(total, 3, "{line}");
    assert_eq!(
        num(" accepted") + num(" needs review") + num(" rejected") + num(" blank"),
        total,
        "{line}"
    );
    assert_eq!(num(" rejected"), 2, "{line}");
    let recs = std::fs::read_to_string(dir.join("out/results.jsonl")).unwrap();
    assert_eq!(recs.lines().count(), total);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ctrl_c_says_that_the_batch_resumes_and_the_same_command_resumes_it() {
    let dir = temp("ctrlc");
    sample_folder(&dir, "in", 3);
    let args = ["scan", "in", "--jobs", "1", "--quiet", "--out", "out"];
    let child = Command::new(env!("CARGO_BIN_EXE_phieu"))
        .args(args)
        .current_dir(&dir)
        .stderr(Stdio::piped())
        .spawn()
        .expect("phieu runs");
    // Interrupt once the first page is finished (in the journal), as a clerk's Ctrl-C would.
    let t0 = std::time::Instant::now();
    let journal_lines = || -> usize {
        std::fs::read_dir(dir.join("out/.phieu"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .map(|t| t.lines().count())
            .sum()
    };
    while journal_lines() == 0 {
        assert!(t0.elapsed().as_secs() < 120, "no page finished");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert_eq!(
        err.trim(),
        format!(
            "phieu: interrupted. Finished pages are kept in {}; run the same command again to resume from where \
             it stopped.",
            Path::new("out").join(".phieu").display()
        ),
    );
    let kept = journal_lines();
    assert!((1..24).contains(&kept), "{kept} pages kept");
    // The same command goes on from there.
    let (code, err) = phieu(&["scan", "in", "--jobs", "1", "--out", "out"], &dir);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("phieu: 24 pages in "), "{err}");
    let resumed: usize = err
        .split(" resumed from an earlier run")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .expect(&err);
    assert!(
        resumed >= kept,
        "{resumed} resumed, {kept} were kept: {err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_turned_page_reports_its_small_skew_not_one_near_360() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = temp("skew");
    std::fs::create_dir_all(dir.join("in")).unwrap();
    // The sample is printed 2.39° askew; turned by each quarter, it is the same 2.39° (before: -357.607 for
    // the turns whose angle crossed ±180°).
    let img = image::open(root.join("samples/synth_00001.jpg")).unwrap();
    img.save(dir.join("in/t0.png")).unwrap();
    img.rotate90().save(dir.join("in/t90.png")).unwrap();
    img.rotate180().save(dir.join("in/t180.png")).unwrap();
    img.rotate270().save(dir.join("in/t270.png")).unwrap();
    let (code, err) = phieu(
        &["scan", "in", "--quiet", "--no-crops", "--out", "out"],
        &dir,
    );
    assert!(matches!(code, Some(0 | 1)), "{err}");
    let text = std::fs::read_to_string(dir.join("out/results.jsonl")).unwrap();
    let mut turns = std::collections::BTreeSet::new();
    for l in text.lines() {
        let r: serde_json::Value = serde_json::from_str(l).unwrap();
        let reg = &r["registration"];
        let skew = reg["skew_deg"].as_f64().expect("registered");
        assert!((skew - 2.39).abs() < 0.05, "{}: {reg}", r["source"]["path"]);
        turns.insert(reg["rotation"].as_u64().unwrap());
    }
    assert_eq!(turns.len(), 4, "every quarter turn seen: {turns:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs `COMMAND` under `script` (util-linux) so that phieu sees a terminal, feeding `input` after a moment;
/// `done` sees the output so far and says when to stop (the child is then killed); returns everything written to
/// the terminal. `None` when `script` is not installed.
fn on_a_terminal(
    command: &str,
    dir: &Path,
    input: &str,
    mut done: impl FnMut(&str) -> bool,
) -> Option<String> {
    use std::io::{Read, Write};
    let mut child = Command::new("script")
        .args(["-qefc", command, "/dev/null"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    stdin.write_all(input.as_bytes()).unwrap();
    stdin.flush().unwrap();
    let mut seen = Vec::new();
    let t0 = std::time::Instant::now();
    while !done(&String::from_utf8_lossy(&seen)) && t0.elapsed().as_secs() < 120 {
        if let Ok(b) = rx.recv_timeout(std::time::Duration::from_millis(200)) {
            seen.extend(b);
        }
    }
    child.kill().ok();
    child.wait().ok();
    Some(String::from_utf8_lossy(&seen).into_owned())
}

#[test]
fn review_without_an_operator_name_asks_once_on_a_terminal_and_stops_elsewhere() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = temp("operator");
    let out = dir.join("scan");
    let o = Command::new(env!("CARGO_BIN_EXE_phieu"))
        .args(["scan", "samples/synth_00001.jpg", "--quiet", "--out"])
        .arg(&out)
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(matches!(o.status.code(), Some(0 | 1)));
    let out_s = out.to_str().unwrap();
    // No terminal to ask on (a script, a service): stop before serving, and say how to name the operator.
    let unset = [("USER", None), ("USERNAME", None)];
    let (code, err) = phieu_env(&["review", out_s], &dir, &unset);
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(
        err,
        "phieu: error: no operator name: pass --operator NAME (every decision is recorded with it)\n"
    );
    // On a terminal: asked once, and the name typed is the one the server records decisions with.
    let exe = env!("CARGO_BIN_EXE_phieu");
    let mut served_as = None;
    let Some(tty) = on_a_terminal(
        &format!("env -u USER -u USERNAME {exe} review {out_s}"),
        &dir,
        "Nguyễn Thị Lan\n",
        |seen| {
            if !seen.contains("Ctrl-C to stop") {
                return false;
            }
            let url = seen
                .split_whitespace()
                .find(|w| w.starts_with("http://127.0.0.1:"))
                .unwrap();
            let (addr, query) = url.trim_start_matches("http://").split_once('/').unwrap();
            served_as = Some(http_get(addr, &format!("/api/items{query}")));
            true
        },
    ) else {
        eprintln!("skipping the terminal half: `script` (util-linux) is not installed");
        return;
    };
    assert_eq!(
        tty.matches("phieu: operator name (recorded with every decision): ")
            .count(),
        1,
        "{tty}"
    );
    let body = served_as.expect(&tty);
    let items: serde_json::Value =
        serde_json::from_str(body.split("\r\n\r\n").nth(1).unwrap_or("")).expect(&body);
    assert_eq!(items["operator"], "Nguyễn Thị Lan", "{body}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// One `GET` with `Connection: close`; the whole response as text.
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut r = String::new();
    s.read_to_string(&mut r).unwrap();
    r
}

#[test]
fn review_of_a_folder_that_is_not_a_scan_says_which_folder_to_give() {
    let dir = temp("notscan");
    std::fs::create_dir_all(dir.join("photos")).unwrap();
    let (code, err) = phieu(&["review", "photos", "--operator", "Lan"], &dir);
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(
        err,
        "phieu: error: photos: not a scan folder (no results.jsonl); give the folder `phieu scan … --out` wrote, \
         or scan first\n"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn render_refuses_a_value_the_form_would_not_read_and_a_field_it_lacks() {
    let dir = temp("render");
    let (code, err) = phieu(&["render", "--dossier", "hello world", "-o", "f.pdf"], &dir);
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(
        err,
        "phieu: error: --dossier \"hello world\": not a valid Mã hồ sơ (dossier_code) for the gtvt form; write it \
         like 000.00.17.H48-210426-0001 (pattern ^\\d{3}\\.\\d{2}\\.\\d{2}\\.[A-Z]\\d{2}-\\d{6}-\\d{4}$)\n"
    );
    let (code, err) = phieu(
        &[
            "render",
            "--template",
            "gtvt",
            "--enterprise",
            "0123456789",
            "-o",
            "f.pdf",
        ],
        &dir,
    );
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(
        err,
        "phieu: error: --enterprise: the gtvt form has no enterprise code field (it is on --template khdt)\n"
    );
    assert!(
        !dir.join("f.pdf").exists(),
        "nothing written for a usage error"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_pdf_title_is_a_text_string_that_reads_back_in_vietnamese() {
    let dir = temp("title");
    let (code, err) = phieu(
        &[
            "render",
            "--template",
            "gtvt",
            "--dossier",
            "000.00.17.H48-240116-9456",
            "-o",
            "f.pdf",
        ],
        &dir,
    );
    assert_eq!(code, Some(0), "{err}");
    let doc = lopdf::Document::load(dir.join("f.pdf")).unwrap();
    let info = doc.trailer.get(b"Info").unwrap().as_reference().unwrap();
    let title = doc
        .get_object(info)
        .unwrap()
        .as_dict()
        .unwrap()
        .get(b"Title")
        .unwrap()
        .as_str()
        .unwrap()
        .to_vec();
    // PDF 32000 §7.9.2.2: UTF-16BE with its byte-order mark, never raw UTF-8 (shown as `PÄ’G-GTVT`).
    assert_eq!(&title[..2], &[0xFE, 0xFF]);
    let units: Vec<u16> = title[2..]
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    let form = phieu::forms::template::Template::builtin("gtvt").unwrap();
    assert_eq!(
        String::from_utf16(&units).unwrap(),
        format!("{} – Phiếu đánh giá mức độ hài lòng", form.form_code)
    );
    assert!(form.form_code.contains('Đ'), "{}", form.form_code);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_progress_bar_shows_pages_per_second_with_one_decimal() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = temp("progress");
    let exe = env!("CARGO_BIN_EXE_phieu");
    let out = dir.join("out");
    // The bar is drawn only on a terminal.
    let Some(tty) = on_a_terminal(
        &format!(
            "{exe} scan {} --jobs 1 --no-crops --out {}",
            root.join("samples").display(),
            out.display()
        ),
        &dir,
        "",
        |seen| seen.contains("phieu: wrote"),
    ) else {
        eprintln!("skipping: `script` (util-linux) is not installed");
        return;
    };
    let rates: Vec<&str> = tty
        .split(['\r', '\n'])
        .filter_map(|l| l.split("  ").find(|w| w.ends_with("/s")))
        .collect();
    assert!(!rates.is_empty(), "no rate drawn: {tty:?}");
    for r in &rates {
        let num = r
            .trim()
            .strip_suffix(" pages/s")
            .unwrap_or_else(|| panic!("{r:?}"));
        let (_, frac) = num.split_once('.').unwrap_or_else(|| panic!("{r:?}"));
        assert_eq!(frac.len(), 1, "{r:?}");
        assert!(num.parse::<f64>().is_ok(), "{r:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_form_with_a_skipped_criterion_has_the_same_score_in_results_and_final_records() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = temp("score");
    let out = dir.join("out");
    let out_s = out.to_str().unwrap();
    let (code, err) = phieu(
        &["scan", "samples", "--quiet", "--no-crops", "--out", out_s],
        &root,
    );
    assert_eq!(code, Some(1), "{err}");
    let final_path = dir.join("final.jsonl");
    let (code, err) = phieu(
        &[
            "export",
            out_s,
            "-o",
            final_path.to_str().unwrap(),
            "--allow-unreviewed",
        ],
        &root,
    );
    assert_eq!(code, Some(0), "{err}");
    let read = |p: &Path| -> std::collections::HashMap<String, serde_json::Value> {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .map(|r| (r["source"]["path"].as_str().unwrap().to_string(), r))
            .collect()
    };
    let (results, finals) = (read(&out.join("results.jsonl")), read(&final_path));
    let mut skipped = 0;
    for (path, r) in &results {
        if r["status"] != "accepted" {
            continue;
        }
        // Nothing was reviewed: an accepted form's final record keeps the machine's answers, so one rule
        // (from the template) must give one score.
        assert_eq!(r["score"], finals[path]["score"], "{path}");
        let answers = r["answers"].as_object().unwrap();
        if answers.values().any(|a| a["choice"].is_null()) {
            skipped += 1;
            assert!(
                r["score"].is_null(),
                "{path}: a skipped criterion gives no score"
            );
        }
    }
    assert!(
        skipped > 0,
        "the samples hold an accepted form with a skipped criterion"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
