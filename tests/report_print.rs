//! The HTML report printed to PDF by headless Chromium (`--print-to-pdf`): the pages are A4, the text is there
//! (Vietnamese labels, the trend, the follow-up list) and nothing spills past the page width. Checked with
//! poppler's `pdfinfo` and `pdftotext`. Without chromium or poppler the test prints a skip message, unless
//! `PHIEU_REQUIRE_BROWSER=1` (CI), where it fails.

use phieu::report::{self, ReportOptions};
use phieu::store::channel::Channel;
use phieu::store::ratings::{Dataset, StoredRating};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

fn find_exe(names: &[&str]) -> Option<String> {
    let path = std::env::var("PATH").unwrap_or_default();
    for n in names {
        for d in path.split(':').chain(["/usr/bin", "/usr/lib/chromium"]) {
            let p = Path::new(d).join(n);
            if p.is_file() {
                return Some(p.to_string_lossy().into_owned());
            }
        }
    }
    None
}

/// Eight weeks of a counter's ratings: enough rows for a multi-page report.
fn dataset_and_returned() -> (Dataset, Vec<report::ReturnedDossier>) {
    let mut ds = Dataset::default();
    let mut returned = vec![];
    for i in 0..400u32 {
        let day = 1 + i % 56;
        let (m, d) = if day <= 31 { (3, day) } else { (4, day - 31) };
        let code = format!("000.00.17.H48-21{m:02}{d:02}-{i:04}");
        let counter = format!("Quầy {}", 1 + i % 3);
        returned.push(report::ReturnedDossier {
            code: code.clone(),
            procedure: "Cấp giấy phép".into(),
            department: "Sở Giao thông vận tải".into(),
            counter: counter.clone(),
            officer: format!("Cán bộ {}", 1 + i % 6),
            received: format!("2021-{m:02}-{d:02}"),
            returned: format!("2021-{m:02}-{d:02}"),
        });
        if i % 3 == 2 && day > 28 {
            continue; // counter 3 stops inviting ratings half-way
        }
        if i % 5 == 0 {
            continue; // nobody rated
        }
        let answers: BTreeMap<String, Option<String>> = [
            "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9", "overall",
        ]
        .iter()
        .enumerate()
        .map(|(k, r)| {
            (
                r.to_string(),
                Some(["a", "b", "a", "c"][(i as usize + k) % 4].to_string()),
            )
        })
        .collect();
        ds.ratings.push(StoredRating {
            id: format!("paper:{i:012}"),
            channel: if i % 4 == 0 {
                Channel::Tablet
            } else {
                Channel::Paper
            },
            dossier_code: Some(code),
            department: None,
            template: "gtvt".into(),
            form_version: 1,
            rated_on: None,
            answers,
            score: Some(12),
            unresolved: if i % 17 == 0 {
                vec!["c3".into()]
            } else {
                vec![]
            },
            aside: false,
            source: format!("batch b, a.pdf page {i}"),
        });
    }
    (ds, returned)
}

#[test]
fn the_html_report_prints_on_a4() {
    let required = std::env::var("PHIEU_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
    let chromium = find_exe(&["chromium", "chromium-browser", "google-chrome"]);
    let pdfinfo = find_exe(&["pdfinfo"]);
    let pdftotext = find_exe(&["pdftotext"]);
    let (Some(chromium), Some(pdfinfo), Some(pdftotext)) = (chromium, pdfinfo, pdftotext) else {
        assert!(
            !required,
            "PHIEU_REQUIRE_BROWSER=1 but chromium or poppler-utils is not installed"
        );
        eprintln!("skipping report_print: chromium or poppler-utils not installed");
        return;
    };
    let (ds, returned) = dataset_and_returned();
    let r = report::build(&ds, &[], Some(&returned), &ReportOptions::default());
    let dir = std::env::temp_dir().join(format!("phieu-report-print-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let html = dir.join("report.html");
    std::fs::write(&html, report::to_html(&r)).unwrap();
    let pdf = dir.join("report.pdf");
    let out = Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--no-pdf-header-footer",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    assert!(pdf.is_file(), "{}", String::from_utf8_lossy(&out.stderr));
    let info = Command::new(pdfinfo).arg(&pdf).output().unwrap();
    let info = String::from_utf8_lossy(&info.stdout).to_string();
    assert!(info.contains("(A4)"), "{info}");
    let pages: u32 = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap();
    assert!((2..=30).contains(&pages), "{pages} pages\n{info}");
    let text = Command::new(pdftotext)
        .args(["-layout"])
        .arg(&pdf)
        .arg("-")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout).to_string();
    for want in [
        "Tỷ lệ đánh giá",
        "Xu hướng",
        "Tuần 9/2021",
        "Hồ sơ đã trả chưa được đánh giá",
        "Đề xuất khen thưởng",
    ] {
        assert!(
            text.contains(want),
            "`{want}` is not in the printed report ({})",
            pdf.display()
        );
    }
    if std::env::var("PHIEU_KEEP_PRINT").is_err() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
