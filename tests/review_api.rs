//! The review server's HTTP API without a browser: the token is required, nothing outside the scan folder is
//! served, invalid decisions are refused, valid ones are saved before the answer, and `phieu export` refuses
//! while items are open.

mod review_support;

use review_support::*;
use serde_json::json;

#[test]
fn review_api_guards_and_saves_decisions() {
    let dir = tmp("review-api");
    let out = dir.join("scan");
    scan_samples(&out);
    // A file beside the scan folder that must never be served.
    std::fs::write(dir.join("secret.png"), b"secret").unwrap();

    let (code, err) = export(&out, &dir.join("final.jsonl"), &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("5 review items are unresolved"), "{err}");
    assert!(!dir.join("final.jsonl").exists());

    let s = Server::start(&out, "Nguyễn Thị Lan");
    // The token is required on every route, the page included.
    for path in ["/", "/api/items", "/api/file?path=manifest.json"] {
        assert_eq!(http(&s.addr, "GET", path, None).status, 403, "{path}");
        let wrong = format!(
            "{path}{}token=0000",
            if path.contains('?') { '&' } else { '?' }
        );
        assert_eq!(http(&s.addr, "GET", &wrong, None).status, 403, "{path}");
    }
    let page = http(&s.addr, "GET", &s.with_token("/"), None);
    assert_eq!(page.status, 200);
    assert!(page.text().contains("còn lại"));

    let items = http(&s.addr, "GET", &s.with_token("/api/items"), None).json();
    // The two forms with an empty dossier field are ratings for the department, not items.
    assert_eq!(items["remaining"], 5);
    let list = items["items"].as_array().unwrap();
    let first = &list[0];
    assert_eq!(first["id"]["source"]["path"], "samples/synth_00001.jpg");
    assert_eq!(first["id"]["kind"], "field");
    assert_eq!(first["title"], "Mã hồ sơ");
    let crop = first["crop"].as_str().unwrap();

    // Files: crops under the folder yes; traversal, absolute paths and non-images no.
    let ok = http(
        &s.addr,
        "GET",
        &s.with_token(&format!("/api/file?path={crop}")),
        None,
    );
    assert_eq!(ok.status, 200);
    assert!(ok.body.starts_with(b"\x89PNG"));
    for bad in [
        "../secret.png",
        "review/../../secret.png",
        "%2e%2e/secret.png",
        "/etc/passwd",
        "results.jsonl",
    ] {
        let r = http(
            &s.addr,
            "GET",
            &s.with_token(&format!("/api/file?path={bad}")),
            None,
        );
        assert_eq!(r.status, 404, "{bad}: {}", r.text());
        assert!(!r.text().contains("secret\""), "{bad}");
    }
    // The whole page, warped upright from the registration, is cached inside the folder.
    let p = http(
        &s.addr,
        "GET",
        &s.with_token("/api/page?path=samples/synth_00001.jpg&page=1"),
        None,
    );
    assert_eq!(p.status, 200, "{}", p.text());
    let img = image::load_from_memory(&p.body).unwrap();
    assert_eq!(img.height(), 1000);
    assert!((img.width() as i64 - 707).abs() <= 1, "{}", img.width());
    assert_eq!(out.join(".phieu/pages").read_dir().unwrap().count(), 1);
    let q = http(
        &s.addr,
        "GET",
        &s.with_token("/api/page?path=/etc/passwd&page=1"),
        None,
    );
    assert_eq!(q.status, 404);

    // Decisions are validated server-side.
    let id = first["id"].clone();
    let decide = |value: serde_json::Value, item: &serde_json::Value| {
        http(
            &s.addr,
            "POST",
            &s.with_token("/api/decide"),
            Some(&json!({"item": item, "value": value})),
        )
    };
    for bad in [json!("000.00.17.H48-240116-945"), json!("abc"), json!(12)] {
        let r = decide(bad.clone(), &id);
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
    }
    let mut accepted_row = id.clone();
    accepted_row["kind"] = json!("answer");
    accepted_row["key"] = json!("c1");
    assert_eq!(
        decide(json!("a"), &accepted_row).status,
        400,
        "not in queue"
    );
    let mut c8 = id.clone();
    c8["kind"] = json!("answer");
    c8["key"] = json!("c8");
    assert_eq!(decide(json!("d"), &c8).status, 400);
    assert!(
        saved_decisions(&out).is_empty(),
        "refused decisions are not saved"
    );

    let r = decide(json!("000.00.17.H48-240116-9456"), &id);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["remaining"], 4);
    let r = decide(json!(null), &c8);
    assert_eq!(r.status, 200, "{}", r.text());
    let saved = saved_decisions(&out);
    assert_eq!(saved.len(), 2);
    assert_eq!(saved[0]["schema"], "phieu-decision/1");
    assert_eq!(saved[0]["operator"], "Nguyễn Thị Lan");
    assert_eq!(saved[0]["value"], "000.00.17.H48-240116-9456");
    // The machine's proposal, whatever the shipped model read.
    let proposed = std::fs::read_to_string(out.join("results.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|r| r["source"]["path"] == "samples/synth_00001.jpg")
        .unwrap()["fields"]["dossier_code"]["value"]
        .clone();
    assert_eq!(saved[0]["previous"], proposed);
    assert_eq!(saved[1]["value"], serde_json::Value::Null);
    assert!(saved[1]["at"].as_str().unwrap().ends_with('Z'));
    s.kill();

    // A restart resumes with what was saved; `--returned` offers the nearest returned dossiers for codes.
    let returned = dir.join("returned.csv");
    std::fs::write(
        &returned,
        "code,procedure\n000.20.31.H48-230403-9408,x\n999.99.99.X99-991231-9999,z\n",
    )
    .unwrap();
    let s = Server::start_with(&out, "Lan", &["--returned", returned.to_str().unwrap()]);
    let items = http(&s.addr, "GET", &s.with_token("/api/items"), None).json();
    assert_eq!(items["remaining"], 3);
    assert_eq!(items["items"][0]["decision"]["operator"], "Nguyễn Thị Lan");
    let code3 = items["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| {
            i["id"]["source"]["path"] == "samples/synth_00003.jpg"
                && i["id"]["key"] == "dossier_code"
        })
        .expect("synth_00003's code is an item");
    let proposal = code3["proposal"].as_str().unwrap_or("");
    let cands: Vec<&str> = code3["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    // The sheet's true code (a few misread characters away from the proposal) is offered, a far one is not.
    assert_eq!(cands, ["000.20.31.H48-230403-9408"], "proposal {proposal}");
    for c in &cands {
        assert!(
            phieu::read::validate::edit_distance(proposal, c) <= 3,
            "{proposal} {c}"
        );
    }
    s.kill();

    let (code, err) = export(&out, &dir.join("partial.jsonl"), &["--allow-unreviewed"]);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(dir.join("partial.jsonl")).unwrap();
    let recs = phieu::store::final_record::read_final_jsonl(&text).unwrap();
    // Six forms (synth 1, 2, 3, 4, 5, 7); the blank page and the other page are not forms.
    assert_eq!(recs.len(), 6);
    let open: usize = recs.iter().map(|r| r.unresolved.len()).sum();
    assert_eq!(open, 3);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn unread_page_is_kept_or_discarded_and_shown_as_scanned() {
    let dir = tmp("review-page-item");
    // A page whose corner markers were not found (the sample's non-form page stands in for the image).
    let mut rec = phieu::results::PageRecord::bare(
        phieu::results::SourceRef {
            path: "samples/synth_00006.jpg".into(),
            page: 1,
        },
        phieu::results::PageStatus::NeedsReview,
        vec!["markers_not_found".into()],
    );
    rec.template = Some("gtvt".into());
    std::fs::write(dir.join("results.jsonl"), phieu::results::to_jsonl(&[rec])).unwrap();
    std::fs::write(dir.join("manifest.json"), r#"{"batch_id":"b-page"}"#).unwrap();

    let s = Server::start(&dir, "Lan");
    let items = http(&s.addr, "GET", &s.with_token("/api/items"), None).json();
    assert_eq!(items["remaining"], 1);
    let page = &items["items"][0];
    assert_eq!(page["id"]["kind"], "page");
    let keys: Vec<(&str, &str)> = page["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["key"].as_str().unwrap(), o["value"].as_str().unwrap()))
        .collect();
    assert_eq!(keys, [("1", "keep"), ("0", "discard")]);
    assert_eq!(page["page_upright"], false);
    // Never registered: the page is shown as scanned, scaled to the view height.
    let img = http(
        &s.addr,
        "GET",
        &s.with_token("/api/page?path=samples/synth_00006.jpg&page=1"),
        None,
    );
    assert_eq!(img.status, 200, "{}", img.text());
    assert_eq!(image::load_from_memory(&img.body).unwrap().height(), 1000);

    let decide = |value: serde_json::Value, item: &serde_json::Value| {
        http(
            &s.addr,
            "POST",
            &s.with_token("/api/decide"),
            Some(&json!({"item": item, "value": value})),
        )
    };
    assert_eq!(decide(json!("maybe"), &page["id"]).status, 400);
    let r = decide(json!("keep"), &page["id"]);
    assert_eq!(r.status, 200, "{}", r.text());
    // Kept: the dossier code and all ten rows are now typed in by the operator.
    assert_eq!(r.json()["remaining"], 11);
    let (code, _) = export(&dir, &dir.join("f.jsonl"), &[]);
    assert_eq!(code, 1);
    let r = decide(json!("discard"), &page["id"]);
    assert_eq!(r.json()["remaining"], 0);
    s.kill();
    let (code, err) = export(&dir, &dir.join("f.jsonl"), &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read_to_string(dir.join("f.jsonl")).unwrap(), "");
    assert_eq!(saved_decisions(&dir).len(), 2);
    std::fs::remove_dir_all(&dir).ok();
}
