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
            std::hint::black_box(read_field(
                &p.image,
                &r.h,
                f.bbox,
                &r.levels,
                &pat,
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
