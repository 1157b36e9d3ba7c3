//! The review page in a real headless Chromium (driven through chromedriver's WebDriver protocol): resolve the
//! sample batch's items with the keyboard, kill and restart the server half-way, finish, then check the saved
//! decisions and the exported final records against the samples' truth.
//!
//! Along the way it checks what the operator sees: the "done" banner in view at 1400 × 900 without scrolling,
//! ←/→ inside the code box moving the caret (not the item), decision times in the browser's local time (the
//! browser runs in Asia/Ho_Chi_Minh, UTC+7, while review.jsonl keeps UTC), and no empty key badge.
//!
//! Without chromedriver the test prints a skip message, unless `PHIEU_REQUIRE_BROWSER=1` (CI), where it fails.
//! `PHIEU_SCREENSHOT=FILE.png` saves a screenshot of the page showing the first item.

mod review_support;

use review_support::*;
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};

const ENTER: &str = "\u{E007}";
const LEFT: &str = "\u{E012}";
const RIGHT: &str = "\u{E014}";
const UP: &str = "\u{E013}";
const DOWN: &str = "\u{E015}";

/// The browser's time zone in this test: the center's, and not UTC, so a UTC time shown as is would be caught.
const TZ: &str = "Asia/Ho_Chi_Minh";
const TZ_OFFSET_S: i64 = 7 * 3600;

fn find_exe(names: &[&str]) -> Option<String> {
    let path = std::env::var("PATH").unwrap_or_default();
    for n in names {
        for d in path.split(':').chain(["/usr/bin", "/usr/lib/chromium"]) {
            let p = std::path::Path::new(d).join(n);
            if p.is_file() {
                return Some(p.to_string_lossy().into_owned());
            }
        }
    }
    None
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A chromedriver process with one headless Chromium session.
struct Browser {
    driver: Child,
    addr: String,
    session: String,
    profile: std::path::PathBuf,
}

impl Browser {
    fn start(driver: &str, chromium: &str, profile: std::path::PathBuf) -> Browser {
        let port = free_port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            // Chromium inherits the driver's environment: its local time is the center's.
            .env("TZ", TZ)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        // Owned (and so killed on drop) before anything below can fail.
        let mut b = Browser {
            driver: child,
            addr: format!("127.0.0.1:{port}"),
            session: String::new(),
            profile,
        };
        wait_for(30, "chromedriver", || {
            std::net::TcpStream::connect(&b.addr).ok()?;
            let r = http(&b.addr, "GET", "/status", None);
            (r.status == 200 && r.json()["value"]["ready"] == true).then_some(())
        });
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                         "--disable-background-networking", "--disable-component-update", "--disable-sync",
                         "--disable-dev-shm-usage", "--window-size=1400,900",
                         format!("--user-data-dir={}", b.profile.display())]
            }
        }}});
        let r = b.cmd("POST", "/session", Some(caps));
        b.session = r["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {r}"))
            .to_string();
        b
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let path = if path == "/session" {
            path.to_string()
        } else {
            format!("/session/{}{path}", self.session)
        };
        let body = body.or_else(|| (method == "POST").then(|| json!({})));
        let r = http(&self.addr, method, &path, body.as_ref());
        let v = r.json();
        assert_eq!(r.status, 200, "{method} {path}: {v}");
        v["value"].clone()
    }

    fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    fn js(&self, script: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
    }

    fn text(&self, id: &str) -> String {
        self.js(&format!(
            "return document.getElementById('{id}').textContent"
        ))
        .as_str()
        .unwrap_or("")
        .to_string()
    }

    /// Types keys to whatever has focus, as a person at the keyboard would.
    fn keys(&self, text: &str) {
        let mut actions = vec![];
        for c in text.chars() {
            actions.push(json!({"type": "keyDown", "value": c.to_string()}));
            actions.push(json!({"type": "keyUp", "value": c.to_string()}));
        }
        self.cmd(
            "POST",
            "/actions",
            Some(json!({"actions": [{"type": "key", "id": "kb", "actions": actions}]})),
        );
    }

    fn wait_ready(&self) {
        wait_for(30, "page ready", || {
            (self.js("return document.body.dataset.ready || ''") == "1").then_some(())
        });
    }

    /// The item on screen (from the page's own state shown in the DOM): title and source line.
    fn showing(&self) -> (String, String) {
        let src = self.js("return document.querySelector('#what .src').textContent");
        let title = self.js("return document.querySelector('#what b').textContent");
        (
            title.as_str().unwrap_or("").to_string(),
            src.as_str().unwrap_or("").to_string(),
        )
    }

    fn remaining(&self) -> i64 {
        self.js("return document.getElementById('counter').dataset.remaining")
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(-1)
    }

    fn screenshot(&self, path: &str) {
        let b64 = self.cmd("GET", "/screenshot", None);
        std::fs::write(path, base64_decode(b64.as_str().unwrap())).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            http(
                &self.addr,
                "DELETE",
                &format!("/session/{}", self.session),
                None,
            );
        }
        self.driver.kill().ok();
        self.driver.wait().ok();
        std::fs::remove_dir_all(&self.profile).ok();
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` shifted by `offset_s`, as the page shows local times: `HH:MM:SS DD/MM/YYYY`.
fn local_time(at: &str, offset_s: i64) -> String {
    let n = |r: std::ops::Range<usize>| at[r].parse::<i64>().unwrap();
    assert!(at.len() == 20 && at.ends_with('Z'), "{at}");
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    // Days since 1970-01-01 (Howard Hinnant's days-from-civil).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19);
    assert_eq!(phieu::util::rfc3339_utc(secs), at, "days-from-civil");
    let l = phieu::util::rfc3339_utc(secs + offset_s);
    format!("{} {}/{}/{}", &l[11..19], &l[8..10], &l[5..7], &l[0..4])
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let clean: Vec<u8> = s.bytes().filter(|c| !b"=\r\n".contains(c)).collect();
    let mut out = vec![];
    for ch in clean.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in ch.iter().enumerate() {
            n |= (val(c) as u32) << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..ch.len()]);
    }
    out
}

/// The queue as the server lists it: (file name, kind, key) in order.
fn queue(s: &Server) -> Vec<(String, String, String)> {
    let v = http(&s.addr, "GET", &s.with_token("/api/items"), None).json();
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let p = i["id"]["source"]["path"].as_str().unwrap();
            (
                p.trim_start_matches("samples/").to_string(),
                i["id"]["kind"].as_str().unwrap().to_string(),
                i["id"]["key"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Decides the item on screen with the keyboard, using the samples' truth as the operator's reading.
fn resolve_current(
    b: &Browser,
    item: &(String, String, String),
    truth: &std::collections::HashMap<(String, String), Option<String>>,
) {
    let (file, kind, key) = item;
    let (_, src) = b.showing();
    assert!(
        src.contains(file.as_str()),
        "showing {src}, expected {file}"
    );
    let want = truth[&(file.clone(), key.clone())].clone();
    let before = b.remaining();
    // Every key badge names a key: a choice without one (the blank code) has no badge at all.
    let badges = b.js(
        "return Array.from(document.querySelectorAll('#choices .key')).map(k => k.textContent)",
    );
    assert!(
        badges
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k.as_str().is_some_and(|k| !k.trim().is_empty())),
        "empty key badge on {file} {key}: {badges}"
    );
    match kind.as_str() {
        "field" => {
            // The code box has focus: replace its content by typing.
            wait_for(10, "code input focused", || {
                (b.js("return document.activeElement.id") == "code").then_some(())
            });
            b.js("document.getElementById('code').value=''; document.getElementById('code').dispatchEvent(new Event('input'))");
            if let Some(code) = &want {
                b.keys(code);
                let ok = b.js("return document.getElementById('code-ok').className");
                assert!(ok.as_str().unwrap().contains("valid"), "{ok}");
                assert!(!ok.as_str().unwrap().contains("invalid"), "{ok}");
                b.keys(ENTER);
            } else {
                // No code on the form: the blank button saves a blank even with something typed in the box.
                b.keys("000.00");
                b.js("Array.from(document.querySelectorAll('#choices button'))\
                      .find(b => b.textContent.includes('Để trống')).click()");
            }
        }
        "answer" => {
            // Options are keyed 1, 2, 3, … in printed order (a, b, c, …); `0` leaves the row blank.
            let k = match want.as_deref() {
                Some(o) if o.len() == 1 => ((o.as_bytes()[0] - b'a' + b'1') as char).to_string(),
                _ => "0".to_string(),
            };
            b.keys(&k);
            b.keys(ENTER);
        }
        other => panic!("unexpected item kind {other}"),
    }
    wait_for(10, "decision saved", || {
        (b.remaining() == before - 1).then_some(())
    });
}

/// `phieu export OUT -o FILE` with every item decided: it must succeed, and its records are returned.
fn exported(
    out: &std::path::Path,
    file: &std::path::Path,
) -> Vec<phieu::store::final_record::FinalRecord> {
    let (code, err) = export(out, file, &[]);
    assert_eq!(code, 0, "{err}");
    phieu::store::final_record::read_final_jsonl(&std::fs::read_to_string(file).unwrap()).unwrap()
}

/// chromedriver and Chromium, or `None` (the test is skipped) when they are not installed; with
/// `PHIEU_REQUIRE_BROWSER=1` (CI) a missing browser fails the test instead.
fn browser_or_skip() -> Option<(String, String)> {
    let required = std::env::var("PHIEU_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
    let driver = find_exe(&["chromedriver"]);
    let chromium = find_exe(&["chromium", "chromium-browser", "google-chrome"]);
    match (driver, chromium) {
        (Some(d), Some(c)) => Some((d, c)),
        _ => {
            assert!(
                !required,
                "PHIEU_REQUIRE_BROWSER=1 but chromium/chromedriver are not installed"
            );
            eprintln!("skipping review_browser: chromium and chromedriver not installed");
            None
        }
    }
}

#[test]
fn operator_resolves_the_sample_batch_with_the_keyboard_across_a_restart() {
    let Some((driver, chromium)) = browser_or_skip() else {
        return;
    };
    let dir = tmp("review-browser");
    let out = dir.join("scan");
    scan_samples(&out);
    let truth = truth();
    let b = Browser::start(&driver, &chromium, dir.join("profile"));

    let s = Server::start(&out, "Trần Văn Minh");
    let items = queue(&s);
    // Two forms have an empty dossier field: ratings for the department, not items.
    assert_eq!(items.len(), 5, "{items:?}");
    b.goto(&s.url);
    b.wait_ready();
    assert_eq!(b.text("counter"), "còn lại 5");
    assert_eq!(b.showing().0, "Mã hồ sơ");
    // The page shows the crop and the whole page with the item outlined.
    wait_for(60, "images loaded", || {
        let v = b.js(
            "const c=document.getElementById('crop'), p=document.getElementById('page');\
                      return c.complete && c.naturalWidth>0 && p.complete && p.naturalWidth>0 && \
                      !document.getElementById('outline').hidden",
        );
        (v == true).then_some(())
    });
    if let Ok(p) = std::env::var("PHIEU_SCREENSHOT") {
        b.screenshot(&p);
    }
    // A code that does not match the pattern is flagged as typed and refused on Enter.
    b.js("document.getElementById('code').value=''");
    b.keys("000.00.17");
    let ok = b.js("return document.getElementById('code-ok').className");
    assert!(ok.as_str().unwrap().contains("invalid"), "{ok}");
    b.keys(ENTER);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(b.remaining(), 5);
    assert!(b.text("error").contains("định dạng"), "{}", b.text("error"));
    assert!(saved_decisions(&out).is_empty());
    // The blank-code choice is there, without a key badge (inside the code box `0` is a digit).
    let blank = b.js(
        "const b=Array.from(document.querySelectorAll('#choices button')).find(b=>b.textContent.includes('Để trống'));\
         return b ? [b.querySelectorAll('.key').length, b.textContent] : null",
    );
    assert_eq!(blank[0], 0, "{blank}");

    // Inside the code box ←/→ move the caret, as in any text box, and the item stays; a letter typed there goes
    // in at the caret (upper-cased) and the caret stays after it.
    let caret = || {
        b.js("const c=document.getElementById('code'); return [c.value, c.selectionStart, c.selectionEnd]")
    };
    let shown = b.showing();
    let position = b.text("position");
    assert_eq!(caret(), json!(["000.00.17", 9, 9]));
    b.keys(&format!("{LEFT}{LEFT}"));
    assert_eq!(caret(), json!(["000.00.17", 7, 7]));
    b.keys(RIGHT);
    assert_eq!(caret(), json!(["000.00.17", 8, 8]));
    b.keys("h");
    assert_eq!(caret(), json!(["000.00.1H7", 9, 9]));
    assert_eq!(b.showing(), shown);
    assert_eq!(b.text("position"), position);
    assert_eq!(b.js("return document.activeElement.id"), "code");
    // ↑/↓ still move between items from inside the code box.
    b.keys(DOWN);
    assert_ne!(b.text("position"), position);
    b.keys(UP);
    assert_eq!(b.text("position"), position);
    assert_eq!(b.showing(), shown);

    for item in &items[..3] {
        resolve_current(&b, item, &truth);
    }
    assert_eq!(saved_decisions(&out).len(), 3);
    s.kill();

    // Restart: a new server (new port and token) resumes at the first undecided item.
    let s = Server::start(&out, "Trần Văn Minh");
    b.goto(&s.url);
    b.wait_ready();
    assert_eq!(b.text("counter"), "còn lại 2");
    assert!(b.showing().1.contains(&items[3].0));
    // Earlier decisions are still reachable with ↑ (← too, unless the code box has focus), and show when they
    // were made in the browser's local time, not the UTC that review.jsonl keeps.
    assert_eq!(
        b.js("return new Date().getTimezoneOffset()"),
        json!(-TZ_OFFSET_S / 60),
        "the browser runs in {TZ}"
    );
    b.keys(UP);
    let decided = b.text("decided");
    assert!(decided.starts_with("Đã quyết định"), "{decided}");
    let at = saved_decisions(&out)[2]["at"].as_str().unwrap().to_string();
    let local = local_time(&at, TZ_OFFSET_S);
    assert!(
        decided.ends_with(&format!("Trần Văn Minh, {local}")),
        "{decided}: want {local} for {at}"
    );
    b.keys(DOWN);
    assert!(b.showing().1.contains(&items[3].0));
    for item in &items[3..] {
        resolve_current(&b, item, &truth);
    }
    assert_eq!(b.text("counter"), "còn lại 0");
    assert_eq!(b.js("return document.getElementById('done').hidden"), false);
    // The banner is in view without scrolling in a 1400 × 900 window.
    let view = b.js(
        "const r=document.getElementById('done').getBoundingClientRect();\
         return {top: r.top, bottom: r.bottom, height: r.height, inner_h: innerHeight, inner_w: innerWidth,\
                 scroll: scrollY, outer_w: outerWidth, outer_h: outerHeight}",
    );
    assert!(view["outer_w"] == 1400 && view["outer_h"] == 900, "{view}");
    let f = |k: &str| view[k].as_f64().unwrap();
    assert!(
        f("height") > 0.0 && f("top") >= 0.0 && f("bottom") <= f("inner_h") && f("scroll") == 0.0,
        "{view}"
    );
    if let Ok(p) = std::env::var("PHIEU_SCREENSHOT_DONE") {
        b.screenshot(&p);
    }
    s.kill();

    let saved = saved_decisions(&out);
    assert_eq!(saved.len(), 5);
    for (d, item) in saved.iter().zip(&items) {
        assert_eq!(d["operator"], "Trần Văn Minh");
        assert_eq!(d["item"]["key"], item.2.as_str());
        let want = truth[&(item.0.clone(), item.2.clone())].clone();
        assert_eq!(d["value"].as_str().map(String::from), want, "{d}");
    }

    let recs = exported(&out, &dir.join("final.jsonl"));
    assert_eq!(recs.len(), 6);
    for r in &recs {
        assert!(r.unresolved.is_empty());
        let file = r.source.path.trim_start_matches("samples/").to_string();
        for (key, v) in r.answers.iter().chain(&r.fields) {
            let decided = items.iter().any(|i| i.0 == file && &i.2 == key);
            let by = if decided {
                phieu::store::final_record::DecidedBy::Person
            } else {
                phieu::store::final_record::DecidedBy::Machine
            };
            assert_eq!(v.decided_by, by, "{file} {key}");
            if decided {
                assert_eq!(v.value, truth[&(file.clone(), key.clone())], "{file} {key}");
            }
        }
    }
    // Scores are recomputed from the final answers: the sum over c1..c9 when all nine have a value.
    let pts = |v: &Option<String>| match v.as_deref() {
        Some("a") => Some(2),
        Some("b") => Some(1),
        Some("c") => Some(0),
        _ => None,
    };
    for r in &recs {
        let want: Option<i32> = (1..=9)
            .map(|i| pts(&r.answers[&format!("c{i}")].value))
            .sum();
        assert_eq!(r.score, want, "{}", r.source.path);
    }
    assert!(recs.iter().any(|r| r.score.is_some()));
    std::fs::remove_dir_all(&dir).ok();
}

/// A form authored from its description (`tests/fixtures/forms/tnmt.toml`: 12 criteria, 5 options, its own code
/// fields) is reviewed in the browser like the built-in ones: its labels, its five option keys, its code
/// patterns, and the exported records hold what the operator typed.
#[test]
fn operator_reviews_an_authored_form_with_five_options() {
    let Some((driver, chromium)) = browser_or_skip() else {
        return;
    };
    let dir = tmp("review-third");
    let run = |args: &[&str]| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_phieu"))
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("phieu runs");
        assert!(
            matches!(o.status.code(), Some(0 | 1)),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    let desc = root().join("tests/fixtures/forms/tnmt.toml");
    run(&["form", "new", desc.to_str().unwrap(), "-o", "tnmt.json"]);
    run(&[
        "synth",
        "--template",
        "tnmt.json",
        "--count",
        "5",
        "--seed",
        "5151",
        "--clean",
        "--blank-fraction",
        "0",
        "--other-fraction",
        "0",
        "--out",
        "set",
    ]);
    run(&[
        "scan",
        "set",
        "--template",
        "tnmt.json",
        "--today",
        "2026-12-01",
        "--out",
        "scan",
    ]);
    let out = dir.join("scan");
    // The operator's reading: the truth of each page, by file name and key.
    let mut truth = std::collections::HashMap::new();
    for l in std::fs::read_to_string(dir.join("set/truth.jsonl"))
        .unwrap()
        .lines()
    {
        let v: Value = serde_json::from_str(l).unwrap();
        let file = v["path"].as_str().unwrap().to_string();
        for (k, x) in v["answers"].as_object().into_iter().flatten() {
            truth.insert((file.clone(), k.clone()), x.as_str().map(String::from));
        }
        for (k, x) in v["fields"].as_object().into_iter().flatten() {
            truth.insert(
                (file.clone(), k.clone()),
                x["value"].as_str().map(String::from),
            );
        }
    }
    let b = Browser::start(&driver, &chromium, dir.join("profile"));
    let s = Server::start(&out, "Lan");
    let items: Vec<(String, String, String)> = queue(&s)
        .into_iter()
        .map(|(p, kind, key)| (p.trim_start_matches("set/").to_string(), kind, key))
        .collect();
    assert!(
        items.iter().any(|i| i.1 == "answer"),
        "the set has rows to review: {items:?}"
    );
    b.goto(&s.url);
    b.wait_ready();
    for item in &items {
        resolve_current(&b, item, &truth);
    }
    assert_eq!(b.remaining(), 0);
    s.kill();
    let recs = exported(&out, &dir.join("final.jsonl"));
    assert_eq!(recs.len(), 5);
    for r in &recs {
        assert_eq!(r.template, "tnmt");
        let file = r.source.path.trim_start_matches("set/").to_string();
        for (key, v) in r.answers.iter().chain(&r.fields) {
            if items.iter().any(|i| i.0 == file && &i.2 == key) {
                assert_eq!(v.value, truth[&(file.clone(), key.clone())], "{file} {key}");
            }
        }
    }
}
