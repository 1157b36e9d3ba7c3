//! Measurement against a truth file (ours from `phieu synth`, or the shared examples): registration error at the
//! checkbox corners against the true page transform, template identification, the mark confusion table, the
//! calibration table (confidence bin → observed accuracy) and field outcomes per variant. Prints figures only;
//! it never changes results.

use crate::forms::template::Template;
use crate::geom::{dist, Homography};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

/// Errors reading the inputs.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A file could not be read or parsed.
    #[error("{path}: {reason}")]
    Read {
        /// File.
        path: String,
        /// Cause.
        reason: String,
    },
}

fn read_jsonl(p: &Path) -> Result<Vec<Value>, EvalError> {
    let s = std::fs::read_to_string(p).map_err(|e| EvalError::Read {
        path: p.display().to_string(),
        reason: e.to_string(),
    })?;
    s.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).map_err(|e| EvalError::Read {
                path: p.display().to_string(),
                reason: e.to_string(),
            })
        })
        .collect()
}

fn h_of(v: &Value) -> Option<Homography> {
    let a = v.as_array()?;
    let mut m = [[0.0; 3]; 3];
    for (i, row) in a.iter().enumerate().take(3) {
        for (j, x) in row.as_array()?.iter().enumerate().take(3) {
            m[i][j] = x.as_f64()?;
        }
    }
    Some(Homography(m))
}

fn file_name(p: &str) -> String {
    Path::new(p)
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Prints a table of confidence bins (tenths) as (rows, rows right).
fn write_bins(out: &mut String, title: &str, label: &str, bins: &[(usize, usize); 10]) {
    let _ = writeln!(out, "\n== {title}");
    for (i, (n, ok)) in bins.iter().enumerate().filter(|(_, (n, _))| *n > 0) {
        let _ = writeln!(
            out,
            "  [{:.1}, {:.1})  n={n:6}  {label} {:.4}",
            i as f64 / 10.0,
            (i + 1) as f64 / 10.0,
            *ok as f64 / *n as f64
        );
    }
}

/// Evaluates `results` against `truth` and returns a printable report.
pub fn evaluate(truth: &Path, results: &Path) -> Result<String, EvalError> {
    let truth = read_jsonl(truth)?;
    let results = read_jsonl(results)?;
    let mut by_key: BTreeMap<(String, u64), &Value> = BTreeMap::new();
    for r in &results {
        let k = (
            file_name(r["source"]["path"].as_str().unwrap_or("")),
            r["source"]["page"].as_u64().unwrap_or(1),
        );
        by_key.insert(k, r);
    }
    let templates: BTreeMap<String, Template> = Template::builtins()
        .into_iter()
        .map(|t| (t.template_id.clone(), t))
        .collect();
    let mut out = String::new();
    // Registration.
    let (
        mut forms,
        mut registered,
        mut verified_ok,
        mut verified_bad,
        mut review_bad,
        mut review_good,
    ) = (0, 0, 0, 0, 0, 0);
    let mut page_review = 0;
    let mut errs: Vec<f64> = vec![];
    let mut causes: BTreeMap<String, usize> = BTreeMap::new();
    let (mut tmpl_ok, mut tmpl_n, mut tmpl_noqr_ok, mut tmpl_noqr_n) = (0, 0, 0, 0);
    // Marks: confusion truth-type × outcome, calibration bins.
    let mut conf: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut calib = [(0usize, 0usize); 10];
    let mut calib_all = [(0usize, 0usize); 10];
    let mut fields: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    for t in &truth {
        let key = (
            file_name(t["path"].as_str().unwrap_or("")),
            t["page"].as_u64().unwrap_or(1),
        );
        let r = by_key.get(&key).copied();
        if t["kind"] != "form" {
            let want = if t["kind"] == "blank" {
                "blank"
            } else {
                "rejected"
            };
            let got = r
                .map(|r| r["status"].as_str().unwrap_or("?").to_string())
                .unwrap_or("no_record".into());
            *causes
                .entry(format!(
                    "non-form {} -> {}",
                    t["kind"].as_str().unwrap_or("?"),
                    if got == want { "ok" } else { &got }
                ))
                .or_default() += 1;
            continue;
        }
        forms += 1;
        let Some(r) = r else {
            *causes.entry("form: no record".into()).or_default() += 1;
            continue;
        };
        let status = r["status"].as_str().unwrap_or("");
        let tid = t["template"].as_str().unwrap_or("");
        if status == "accepted" || status == "needs_review" {
            tmpl_n += 1;
            let ok = r["template"].as_str() == Some(tid);
            tmpl_ok += ok as usize;
            let qr_readable = r["qr"].is_string();
            if !qr_readable {
                tmpl_noqr_n += 1;
                tmpl_noqr_ok += ok as usize;
            }
        } else {
            *causes
                .entry(format!("form -> {status} ({})", r["reasons"]))
                .or_default() += 1;
        }
        if let (Some(hr), Some(ht), Some(tpl)) = (
            h_of(&r["registration"]["homography"]),
            h_of(&t["transform"]["homography"]),
            templates.get(tid),
        ) {
            registered += 1;
            let s = ht.local_scale([105.0, 148.5]);
            let mut worst: f64 = 0.0;
            for (_, _, b) in tpl.boxes() {
                for p in [[b[0], b[1]], [b[2], b[1]], [b[0], b[3]], [b[2], b[3]]] {
                    worst = worst.max(dist(hr.apply(p), ht.apply(p)) / s);
                }
            }
            errs.push(worst);
            let verified = r["registration"]["verified"].as_bool().unwrap_or(false);
            match (verified, worst <= 0.5) {
                (true, true) => verified_ok += 1,
                (true, false) => verified_bad += 1,
                (false, true) => review_good += 1,
                (false, false) => review_bad += 1,
            }
            if !verified {
                let degr = t["degradations"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str())
                            .map(|x| x.split(':').next().unwrap_or("").to_string())
                            .collect::<Vec<_>>()
                            .join("+")
                    })
                    .unwrap_or_default();
                *causes
                    .entry(format!(
                        "form -> registration unverified (err {:.2} mm; {degr})",
                        worst
                    ))
                    .or_default() += 1;
            }
        } else if r["status"] == "needs_review" {
            // No registration at all (markers missing, fit failed): the whole page goes to a person.
            page_review += 1;
        }
        let amb: Vec<&str> = t["ambiguous_rows"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
            .unwrap_or_default();
        let canc: Vec<&str> = t["cancelled_rows"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
            .unwrap_or_default();
        if let Some(ans) = t["answers"].as_object() {
            for (rid, want) in ans {
                let typ: String = if amb.contains(&rid.as_str()) {
                    "ambiguous".into()
                } else if canc.contains(&rid.as_str()) {
                    "cancelled".into()
                } else if want.is_null() {
                    "blank".into()
                } else {
                    // Name the mark style for single rows.
                    let style = t["marks"][rid]
                        .as_object()
                        .and_then(|m| m.values().next())
                        .and_then(|v| v.as_str())
                        .unwrap_or("?");
                    let style = style.split('+').next().unwrap_or(style);
                    format!("single:{style}")
                };
                let a = &r["answers"][rid];
                let outcome = match a["status"].as_str() {
                    Some("accepted") if typ != "ambiguous" && &a["choice"] == want => "auto_ok",
                    Some("accepted") => "SILENT",
                    Some("needs_review") => "review",
                    _ => "missing",
                };
                *conf.entry((typ.clone(), outcome.to_string())).or_default() += 1;
                if a["status"] == "accepted" || a["status"] == "needs_review" {
                    // Every proposal, accepted or not: would it have been right if taken as is?
                    let c = a["confidence"].as_f64().unwrap_or(0.0);
                    let bin = ((c * 10.0).floor() as usize).min(9);
                    calib_all[bin].0 += 1;
                    calib_all[bin].1 += (typ != "ambiguous" && &a["choice"] == want) as usize;
                }
                if a["status"] == "accepted" {
                    let c = a["confidence"].as_f64().unwrap_or(0.0);
                    let bin = ((c * 10.0).floor() as usize).min(9);
                    calib[bin].0 += 1;
                    calib[bin].1 += (outcome == "auto_ok") as usize;
                }
            }
        }
        if let Some(fs) = t["fields"].as_object() {
            for (fid, tf) in fs {
                let variant = tf["variant"].as_str().unwrap_or("?").to_string();
                let f = &r["fields"][fid];
                let norm = |v: &Value| {
                    v.as_str()
                        .map(|s| s.split_whitespace().collect::<String>())
                        .filter(|s| !s.is_empty())
                };
                let outcome = match f["status"].as_str() {
                    Some("accepted") if norm(&f["value"]) == norm(&tf["value"]) => "auto_ok",
                    Some("accepted") => "SILENT",
                    Some("missing") if tf["value"].is_null() => "auto_ok",
                    Some("missing") => "missed",
                    Some("needs_review") => "review",
                    _ => "no_record",
                };
                *fields
                    .entry((fid.clone(), variant, outcome.to_string()))
                    .or_default() += 1;
            }
        }
    }
    errs.sort_by(|a, b| a.total_cmp(b));
    let pct = |a: usize, b: usize| {
        if b == 0 {
            0.0
        } else {
            100.0 * a as f64 / b as f64
        }
    };
    let q = |f: f64| {
        errs.get(((errs.len() as f64 - 1.0) * f).round().max(0.0) as usize)
            .copied()
            .unwrap_or(0.0)
    };
    let _ = writeln!(
        out,
        "== registration ({forms} form pages, {registered} registered)"
    );
    let _ = writeln!(out, "max error at the 120 checkbox corners vs true transform: median {:.3} mm, p95 {:.3} mm, max {:.3} mm", q(0.5), q(0.95), q(1.0));
    let _ = writeln!(out, "verified and <=0.5 mm: {verified_ok}   verified but >0.5 mm (READ THROUGH BAD REGISTRATION): {verified_bad}");
    let _ = writeln!(
        out,
        "sent to review (unverified): {} ({} of them actually <=0.5 mm)",
        review_good + review_bad,
        review_good
    );
    let _ = writeln!(
        out,
        "sent to review without a registration (markers not found, fit failed): {page_review}"
    );
    let ok_or_review = verified_ok + review_good + review_bad + page_review;
    let _ = writeln!(
        out,
        "form pages registered <=0.5 mm or sent to review: {ok_or_review}/{forms} = {:.2}%",
        pct(ok_or_review, forms)
    );
    let _ = writeln!(out, "\n== template identification: {tmpl_ok}/{tmpl_n} = {:.2}% of pages read as forms; without a readable QR: {tmpl_noqr_ok}/{tmpl_noqr_n}", pct(tmpl_ok, tmpl_n));
    let _ = writeln!(
        out,
        "\n== page outcomes that are not a read form (cause -> count)"
    );
    for (k, v) in &causes {
        let _ = writeln!(out, "  {k:70} {v}");
    }
    let _ = writeln!(out, "\n== answers: confusion (truth row type x outcome)");
    let _ = writeln!(
        out,
        "  {:22} {:>7} {:>7} {:>7} {:>7}",
        "truth row", "auto_ok", "SILENT", "review", "missing"
    );
    let types: Vec<String> = conf
        .keys()
        .map(|(t, _)| t.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let (mut tot, mut silent, mut auto, mut amb_n) = (0, 0, 0, 0);
    for ty in &types {
        let g = |o: &str| conf.get(&(ty.clone(), o.to_string())).copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "  {:22} {:7} {:7} {:7} {:7}",
            ty,
            g("auto_ok"),
            g("SILENT"),
            g("review"),
            g("missing")
        );
        tot += g("auto_ok") + g("SILENT") + g("review") + g("missing");
        silent += g("SILENT");
        auto += g("auto_ok");
        if ty == "ambiguous" {
            amb_n += g("auto_ok") + g("SILENT") + g("review") + g("missing");
        }
    }
    let _ = writeln!(out, "  rows {tot}: silent errors {silent} = {:.3}%   automatic {auto}/{} non-ambiguous = {:.2}%", pct(silent, tot), tot - amb_n, pct(auto, tot - amb_n));
    write_bins(
        &mut out,
        "calibration of accepted rows (confidence bin -> observed accuracy)",
        "accuracy",
        &calib,
    );
    write_bins(
        &mut out,
        "calibration of every row proposal, accepted or sent to review (confidence bin -> share right)",
        "right",
        &calib_all,
    );
    let _ = writeln!(
        out,
        "\n== fields (field, variant): auto_ok / SILENT / review / missed"
    );
    let keys: std::collections::BTreeSet<(String, String)> = fields
        .keys()
        .map(|(f, v, _)| (f.clone(), v.clone()))
        .collect();
    for (f, v) in keys {
        let g = |o: &str| {
            fields
                .get(&(f.clone(), v.clone(), o.to_string()))
                .copied()
                .unwrap_or(0)
        };
        let n = g("auto_ok") + g("SILENT") + g("review") + g("missed") + g("no_record");
        let _ = writeln!(
            out,
            "  {f:16} {v:12} n={n:5}  auto {:6.2}%  silent {:5.2}%  review {:6.2}%  missed {}",
            pct(g("auto_ok"), n),
            pct(g("SILENT"), n),
            pct(g("review"), n),
            g("missed")
        );
    }
    Ok(out)
}
