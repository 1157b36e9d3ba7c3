//! Stage benchmarks on decoded pages (decoding excluded), single-threaded, so figures are CPU time per page:
//! decode, register (markers + fit), identify (QR + layout) + verify, marks (30 boxes), code fields.

use crate::identify::identify;
use crate::load::{load_page, Page};
use crate::marks::read_row;
use crate::ocr::read_field;
use crate::pipeline::{plan, Reader};
use crate::register::{register, verify, RegisterOutcome};
use crate::validate::CodePattern;
use std::fmt::Write;
use std::path::PathBuf;
use std::time::Instant;

/// Times each stage over the pages of `inputs` (at most `limit` pages) and returns a report.
pub fn bench(reader: &Reader, inputs: &[PathBuf], limit: usize) -> String {
    let (units, _) = plan(inputs);
    let units: Vec<_> = units.into_iter().take(limit).collect();
    // Decode-only rate with all cores (what the image crate alone achieves on these files).
    let t = Instant::now();
    {
        use rayon::prelude::*;
        let n: usize = units
            .par_iter()
            .map(|u| load_page(&u.source.path, u.source.page).is_ok() as usize)
            .sum();
        std::hint::black_box(n);
    }
    let decode_all_cores = units.len() as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    let pages: Vec<Page> = units
        .iter()
        .filter_map(|u| load_page(&u.source.path, u.source.page).ok())
        .collect();
    let decode = t.elapsed().as_secs_f64();
    let (mut reg_t, mut id_t, mut marks_t, mut ocr_t) = (0.0, 0.0, 0.0, 0.0);
    let (mut n_reg, mut n_fields) = (0usize, 0usize);
    for p in &pages {
        let t = Instant::now();
        let out = register(&p.image, &reader.opts.register);
        reg_t += t.elapsed().as_secs_f64();
        let RegisterOutcome::Registered(mut r) = out else {
            continue;
        };
        n_reg += 1;
        let t = Instant::now();
        let id = identify(&p.image, &r, &reader.templates, &reader.opts.identify);
        let Some(tpl) = id
            .template
            .as_ref()
            .and_then(|i| reader.templates.iter().find(|t| &t.template_id == i))
        else {
            continue;
        };
        verify(&p.image, &mut r, tpl, &reader.opts.register);
        id_t += t.elapsed().as_secs_f64();
        let t = Instant::now();
        for row in &tpl.rows {
            let boxes: Vec<_> = row
                .options
                .iter()
                .map(|o| (o.id.clone(), o.bbox, r.h))
                .collect();
            std::hint::black_box(read_row(
                &p.image,
                &boxes,
                row,
                &r.levels,
                &reader.opts.marks,
            ));
        }
        marks_t += t.elapsed().as_secs_f64();
        let t = Instant::now();
        for f in &tpl.fields {
            let pat = CodePattern::from_regex(&f.pattern).expect("valid");
            let target = crate::ocr::FieldTarget {
                bbox: f.bbox,
                pattern: &pat,
                lexicon: &[],
            };
            std::hint::black_box(read_field(
                &p.image,
                &r.h,
                &target,
                &r.levels,
                reader.recognizer.as_deref(),
                &reader.opts.fields,
            ));
            n_fields += 1;
        }
        ocr_t += t.elapsed().as_secs_f64();
    }
    let n = pages.len().max(1) as f64;
    let nr = n_reg.max(1) as f64;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "pages: {} decoded, {} registered (one thread; ms per page)",
        pages.len(),
        n_reg
    );
    let _ = writeln!(
        s,
        "decode-only, all {} cores     {:8.1} pages/s",
        rayon::current_num_threads(),
        decode_all_cores
    );
    let _ = writeln!(s, "decode (image crate)        {:8.2} ms", decode * 1e3 / n);
    let _ = writeln!(s, "register (markers + fit)    {:8.2} ms", reg_t * 1e3 / n);
    let _ = writeln!(s, "identify + verify           {:8.2} ms", id_t * 1e3 / nr);
    let _ = writeln!(
        s,
        "register+identify+verify    {:8.2} ms",
        (reg_t / n + id_t / nr) * 1e3
    );
    let _ = writeln!(
        s,
        "marks (30 boxes)            {:8.2} ms",
        marks_t * 1e3 / nr
    );
    let _ = writeln!(
        s,
        "code fields ({} fields)    {:8.2} ms per field",
        n_fields,
        ocr_t * 1e3 / n_fields.max(1) as f64
    );
    s
}

/// Accuracy of the code reader on labelled line crops (`labels.jsonl` from `phieu synth --field-crops`): per
/// variant, how many are accepted automatically, accepted wrongly (silent), or sent to review, for a sweep of
/// the per-character acceptance threshold; plus time per field.
pub fn eval_codes(
    rec: &dyn crate::ocr::LineRecognizer,
    dir: &std::path::Path,
    templates: &[crate::template::Template],
) -> Result<String, String> {
    use crate::ocr::{decide_field, FieldOptions, FieldStatus};
    use std::collections::BTreeMap;
    let labels = std::fs::read_to_string(dir.join("labels.jsonl"))
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let patterns: BTreeMap<String, CodePattern> = templates
        .iter()
        .flat_map(|t| t.fields.iter())
        .map(|f| {
            (
                f.id.clone(),
                CodePattern::from_regex(&f.pattern).expect("valid"),
            )
        })
        .collect();
    let mut rows: Vec<(String, String, Vec<Vec<f32>>)> = vec![];
    let mut secs = 0.0;
    for l in labels.lines() {
        let v: serde_json::Value = serde_json::from_str(l).map_err(|e| e.to_string())?;
        let file = v["file"].as_str().unwrap_or_default();
        let img = image::open(dir.join(file.trim_start_matches("crops/")))
            .or_else(|_| image::open(dir.join("..").join(file)))
            .map_err(|e| format!("{file}: {e}"))?
            .to_luma8();
        let t = Instant::now();
        let lp = rec.log_probs(&img).map_err(|e| e.to_string())?;
        secs += t.elapsed().as_secs_f64();
        rows.push((
            v["variant"].as_str().unwrap_or("?").to_string(),
            format!(
                "{}\u{1}{}",
                v["field"].as_str().unwrap_or("dossier_code"),
                v["text"].as_str().unwrap_or("")
            ),
            lp,
        ));
    }
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} crops, model {:.2} ms per line (one thread, incl. ocrs preprocessing)",
        rows.len(),
        secs * 1e3 / rows.len().max(1) as f64
    );
    let _ = writeln!(
        s,
        "{:>9} {:12} {:>5} {:>8} {:>8} {:>8} {:>9}",
        "min_p", "variant", "n", "auto_ok", "silent", "review", "exact*"
    );
    for thr in [0.8f32, 0.9, 0.95, 0.97, 0.99] {
        let opts = FieldOptions {
            min_char_prob: thr,
            ..FieldOptions::default()
        };
        let mut agg: BTreeMap<String, [usize; 5]> = BTreeMap::new();
        for (variant, key, lp) in &rows {
            let (field, text) = key.split_once('\u{1}').unwrap_or(("dossier_code", key));
            let Some(pat) = patterns.get(field) else {
                continue;
            };
            let r = decide_field(lp, rec.alphabet(), pat, &opts);
            let e = agg.entry(variant.clone()).or_default();
            e[0] += 1;
            let right = r.value.as_deref() == Some(text);
            e[4] += right as usize;
            match r.status {
                FieldStatus::Accepted if right => e[1] += 1,
                FieldStatus::Accepted => e[2] += 1,
                _ => e[3] += 1,
            }
        }
        for (v, e) in agg {
            let p = |x: usize| 100.0 * x as f64 / e[0].max(1) as f64;
            let _ = writeln!(
                s,
                "{thr:9.2} {v:12} {:5} {:7.2}% {:7.2}% {:7.2}% {:8.2}%",
                e[0],
                p(e[1]),
                p(e[2]),
                p(e[3]),
                p(e[4])
            );
        }
    }
    let _ = writeln!(
        s,
        "exact* = grammar-constrained proposal equals the truth (what an operator is shown)"
    );
    Ok(s)
}
