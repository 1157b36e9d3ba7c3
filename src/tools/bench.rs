//! Stage benchmarks on decoded pages (decoding excluded), single-threaded, so figures are CPU time per page:
//! decode, register (markers + fit), identify (QR + layout) + verify, marks (30 boxes), code fields.

use crate::batch::plan;
use crate::read::load::load_page;
use crate::read::page::{Reader, StageTimes};
use crate::read::validate::CodePattern;
use std::fmt::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// Times each stage of the real page reader ([`Reader::read_page`], the code `phieu scan` runs) over the pages
/// of `inputs` (at most `limit`), on one thread, and reports CPU ms per page beside the decode-only rate on all
/// cores.
pub fn bench(reader: &Reader, inputs: &[PathBuf], limit: usize) -> String {
    let units: Vec<_> = plan(inputs).units.into_iter().take(limit).collect();
    // Decode-only rate with all cores (what the decoders alone achieve on these files).
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
    let times = StageTimes::default();
    let t = Instant::now();
    let mut pages = 0usize;
    let mut fields = 0usize;
    for u in &units {
        let t0 = Instant::now();
        let Ok(p) = load_page(&u.source.path, u.source.page) else {
            continue;
        };
        times
            .load
            .fetch_add(t0.elapsed().as_micros() as usize, Ordering::Relaxed);
        let r = reader.read_page(&p, None, &times);
        fields += r.fields.len();
        pages += 1;
    }
    let wall = t.elapsed().as_secs_f64();
    let n = pages.max(1) as f64;
    let ms = |v: &std::sync::atomic::AtomicUsize| v.load(Ordering::Relaxed) as f64 / 1000.0 / n;
    let mut s = String::new();
    let _ = writeln!(s, "pages: {pages} read on one thread (CPU ms per page)");
    let _ = writeln!(
        s,
        "decode-only, all {} cores     {:8.1} pages/s",
        rayon::current_num_threads(),
        decode_all_cores
    );
    let _ = writeln!(
        s,
        "end to end, one thread      {:8.1} pages/s",
        n / wall.max(1e-9)
    );
    let _ = writeln!(s, "decode                      {:8.2} ms", ms(&times.load));
    let _ = writeln!(
        s,
        "register (markers + fit)    {:8.2} ms",
        ms(&times.register)
    );
    let _ = writeln!(
        s,
        "identify + verify           {:8.2} ms",
        ms(&times.identify)
    );
    let _ = writeln!(s, "marks (every box)           {:8.2} ms", ms(&times.marks));
    let _ = writeln!(
        s,
        "code fields                 {:8.2} ms per page, {:.2} ms per field ({fields} fields)",
        ms(&times.ocr),
        times.ocr.load(Ordering::Relaxed) as f64 / 1000.0 / fields.max(1) as f64
    );
    s
}

/// Accuracy of the code reader on labelled line crops (`labels.jsonl` from `phieu synth --field-crops`): per
/// variant, how many are accepted automatically, accepted wrongly (silent), or sent to review, for a sweep of
/// the per-character acceptance threshold; plus time per field.
pub fn eval_codes(
    rec: &dyn crate::read::codes::LineRecognizer,
    dir: &std::path::Path,
    templates: &[crate::forms::template::Template],
) -> Result<String, String> {
    use crate::read::codes::{decide_field, FieldOptions, ValueStatus};
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
                ValueStatus::Accepted if right => e[1] += 1,
                ValueStatus::Accepted => e[2] += 1,
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
