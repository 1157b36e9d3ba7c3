//! The orchestrator: expands inputs into pages, reads each page through the stages (register → identify →
//! verify → marks → codes → validate) in parallel with rayon, and returns records in input order.

use crate::export::{
    AnswerOut, FieldOut, PageRecord, PageStatus, RegistrationOut, SourceRef, SCHEMA,
};
use crate::identify::{find_qr_anywhere, identify, IdentifyOptions};
use crate::load::{expand_inputs, LoadError, LoadOptions, Page, PageRef, PageSource};
use crate::marks::{apply_page_habit, flag_sparse_page, read_row, MarkOptions, RowStatus};
use crate::ocr::{read_field, FieldOptions, FieldStatus, FieldTarget, LineRecognizer};
use crate::register::{register, verify, warp_region, RegisterOptions, RegisterOutcome};
use crate::template::Template;
use crate::validate::{
    dossier_problems, match_returned, CodePattern, ReturnedMatch, ValidateOptions,
};
use rayon::prelude::*;
use sha2::Digest;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Everything that tunes a scan.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// Registration.
    pub register: RegisterOptions,
    /// Identification.
    pub identify: IdentifyOptions,
    /// Checkbox reading.
    pub marks: MarkOptions,
    /// Code fields.
    pub fields: FieldOptions,
    /// Dossier checks.
    pub validate: ValidateOptions,
    /// Write review crops under `out/review/`.
    pub review_crops: bool,
    /// Limits on input size, pages per file and time per page.
    pub load: LoadOptions,
}

/// Shared read-only state for a batch.
pub struct Reader {
    /// Options.
    pub opts: ScanOptions,
    /// Known templates.
    pub templates: Vec<Template>,
    /// The code recognizer, if a model is loaded.
    pub recognizer: Option<Box<dyn LineRecognizer>>,
}

/// Per-stage wall time totals, microseconds.
#[derive(Debug, Default)]
pub struct StageTimes {
    /// Decoding.
    pub load: AtomicUsize,
    /// Marker finding and fit.
    pub register: AtomicUsize,
    /// QR + layout + verification.
    pub identify: AtomicUsize,
    /// Boxes.
    pub marks: AtomicUsize,
    /// Code fields.
    pub ocr: AtomicUsize,
}

fn us(t: std::time::Instant) -> usize {
    t.elapsed().as_micros() as usize
}

fn crop_name(src: &PageRef, what: &str) -> String {
    let stem = src
        .path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("page")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect::<String>();
    let mut h = sha2::Sha256::new();
    h.update(src.path.to_string_lossy().as_bytes());
    let tag = hex(&h.finalize()[..3]);
    format!("review/{stem}-{tag}-p{}-{what}.png", src.page)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// SHA-256 of a page's pixels and size.
pub fn page_hash(img: &image::GrayImage) -> String {
    let mut h = sha2::Sha256::new();
    h.update(img.width().to_le_bytes());
    h.update(img.height().to_le_bytes());
    h.update(img.as_raw());
    hex(&h.finalize())
}

impl Reader {
    /// A `needs_review` record when `page` has used up its time budget by the end of `stage`: a page that slow
    /// is abnormal, and the rest of the batch must not wait on it.
    fn over_budget(&self, page: &Page, stage: &str) -> Option<PageRecord> {
        let budget = self.opts.load.page_time_budget;
        let spent = page.started.elapsed();
        if spent <= budget {
            return None;
        }
        let src = SourceRef {
            path: page.source.path.to_string_lossy().into_owned(),
            page: page.source.page,
        };
        let mut r = PageRecord::bare(
            src,
            PageStatus::NeedsReview,
            vec!["time_budget_exceeded".into()],
        );
        r.error = Some(format!(
            "{} page {}: {} ms after {stage}, over the budget of {} ms (--page-time-budget-ms); not read further",
            page.source.path.display(),
            page.source.page,
            spent.as_millis(),
            budget.as_millis()
        ));
        Some(r)
    }

    /// Reads one decoded page. `out` is where review crops go (none when `None`).
    pub fn read_page(&self, page: &Page, out: Option<&Path>, times: &StageTimes) -> PageRecord {
        let src = SourceRef {
            path: page.source.path.to_string_lossy().into_owned(),
            page: page.source.page,
        };
        let img = &page.image;
        if let Some(r) = self.over_budget(page, "decoding") {
            return r;
        }
        let t0 = std::time::Instant::now();
        let outcome = register(img, &self.opts.register);
        times.register.fetch_add(us(t0), Ordering::Relaxed);
        if let Some(r) = self.over_budget(page, "registration") {
            return r;
        }
        let mut reg = match outcome {
            RegisterOutcome::Blank { .. } => {
                // A black or pure-noise page has no "ink" by the paper-relative measure, yet it is no blank back.
                if let Some((why, error)) = crate::load::implausible_page(img) {
                    let mut r = PageRecord::bare(
                        src,
                        PageStatus::Rejected,
                        vec!["not_a_form".into(), why.into()],
                    );
                    r.error = Some(format!(
                        "{} page {}: {error}",
                        page.source.path.display(),
                        page.source.page
                    ));
                    return r;
                }
                return PageRecord::bare(src, PageStatus::Blank, vec![]);
            }
            RegisterOutcome::MarkersMissing { reason } => {
                return whole_page_review(src, "markers_not_found", find_qr_anywhere(img), reason);
            }
            RegisterOutcome::NotAForm { reason } => {
                if let Some(q) = find_qr_anywhere(img) {
                    // One of our forms whose corners are missing: a person must see it, it is not "not a form".
                    return whole_page_review(src, "markers_not_found", Some(q), reason);
                }
                let mut r = PageRecord::bare(src, PageStatus::Rejected, vec!["not_a_form".into()]);
                r.error = Some(reason);
                return r;
            }
            RegisterOutcome::Registered(r) => r,
        };
        let t1 = std::time::Instant::now();
        let id = identify(img, &reg, &self.templates, &self.opts.identify);
        let mut reasons: Vec<String> = vec![];
        let qr_content = id.qr.as_ref().map(|q| q.content.clone());
        let template = match (&id.template, id.conflict) {
            (_, true) => {
                reasons.push("template_conflict".into());
                // Read with the layout's template so the operator sees values, but nothing is accepted.
                id.layout.clone()
            }
            (Some(t), false) => {
                if id.layout.is_none() {
                    reasons.push("layout_unverified".into());
                }
                Some(t.clone())
            }
            (None, false) => None,
        };
        let Some(tid) = template else {
            // A fit through a clipped or stained marker misses the table too: if our QR is on the page, it is one
            // of our forms that a person must see.
            let qr_anywhere = find_qr_anywhere(img);
            times.identify.fetch_add(us(t1), Ordering::Relaxed);
            if qr_anywhere.is_some() {
                let error = format!(
                    "markers found but the table is not where they say (scores {:?})",
                    id.layout_scores
                );
                return whole_page_review(src, "registration_failed", qr_anywhere, error);
            }
            // Some of a known table where the markers say it is: evidence of our form, so a person decides.
            let best = id.layout_scores.first().map_or(0.0, |s| s.1);
            if best >= self.opts.identify.form_evidence {
                let error = format!(
                    "markers and part of a known table found, but the form is not certain (scores {:?})",
                    id.layout_scores
                );
                return whole_page_review(src, "layout_uncertain", None, error);
            }
            // Marker-like blobs on a text page can fit by chance; without our table it is not our form.
            let mut r = PageRecord::bare(src, PageStatus::Rejected, vec!["not_a_form".into()]);
            r.error = Some(format!(
                "markers found but no known table layout (scores {:?})",
                id.layout_scores
            ));
            r.qr = qr_content;
            return r;
        };
        let t = self
            .templates
            .iter()
            .find(|t| t.template_id == tid)
            .expect("identified template exists");
        verify(img, &mut reg, t, &self.opts.register);
        times.identify.fetch_add(us(t1), Ordering::Relaxed);
        if id.qr.as_ref().is_some_and(|q| {
            q.template
                .as_ref()
                .is_none_or(|q| !self.templates.iter().any(|t| &t.template_id == q))
        }) {
            // A QR that is not one of our payloads (junk, or a form we do not know) on our layout: someone must look.
            reasons.push("qr_unrecognised".into());
        }
        // The form's printed extent against the image's (rotation-invariant): a form printed at half size on
        // a full sheet reads at half the linear size.
        let form_px = t.page_mm[0] * t.page_mm[1] * reg.px_per_mm * reg.px_per_mm;
        let linear = (form_px / (img.width() as f64 * img.height() as f64)).sqrt();
        if linear < self.opts.load.min_form_scale {
            reasons.push("form_scale".into());
        }
        if let Some(r) = self.over_budget(page, "identification") {
            return r;
        }
        if !reg.check.ok {
            reasons.push("registration_unverified".into());
        }
        // A page whose registration failed or whose form is in doubt yields proposals only: every value on it
        // goes to a person, with the page-level reason.
        let distrust = if !reg.check.ok {
            Some("registration_unverified")
        } else if id.conflict {
            Some("template_conflict")
        } else {
            None
        };
        let trusted = distrust.is_none();

        let t2 = std::time::Instant::now();
        let mut answers = BTreeMap::new();
        let mut readings: Vec<_> = t
            .rows
            .iter()
            .map(|row| {
                let boxes: Vec<_> = row
                    .options
                    .iter()
                    .map(|o| (o.id.clone(), o.bbox, reg.h))
                    .collect();
                read_row(img, &boxes, row, &reg.levels, &self.opts.marks)
            })
            .collect();
        apply_page_habit(&mut readings, &self.opts.marks);
        if flag_sparse_page(&mut readings, &self.opts.marks) {
            reasons.push("few_marks_on_page".into());
        }
        for (row, rr) in t.rows.iter().zip(readings) {
            let mut status = rr.status;
            let mut reason = rr.reason.map(|r| {
                serde_json::to_value(r)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string()
            });
            let mut choice = rr.choice.clone();
            if !trusted {
                // Never read boxes through a registration that failed: values are only proposals.
                status = RowStatus::NeedsReview;
                reason = distrust.map(String::from);
                if !reg.check.ok {
                    choice = None;
                }
            }
            let crop = if status == RowStatus::NeedsReview && self.opts.review_crops {
                out.and_then(|o| {
                    let name = crop_name(&page.source, &row.id);
                    let c = warp_region(
                        img,
                        &reg.h,
                        [
                            row.band[0] - 1.0,
                            row.band[1] - 1.0,
                            row.band[2] + 1.0,
                            row.band[3] + 1.0,
                        ],
                        6.0,
                    );
                    save_png(&o.join(&name), &c).then_some(name)
                })
            } else {
                None
            };
            answers.insert(
                row.id.clone(),
                AnswerOut {
                    choice,
                    confidence: (rr.confidence * 1e4).round() / 1e4,
                    status: if status == RowStatus::Accepted {
                        "accepted"
                    } else {
                        "needs_review"
                    }
                    .into(),
                    reason,
                    cancelled: rr.cancelled.clone(),
                    crop,
                    coverage: rr
                        .boxes
                        .iter()
                        .map(|b| (b.coverage * 1e4).round() / 1e4)
                        .collect(),
                },
            );
        }
        times.marks.fetch_add(us(t2), Ordering::Relaxed);
        if let Some(r) = self.over_budget(page, "checkbox reading") {
            return r;
        }

        let t3 = std::time::Instant::now();
        let mut fields = BTreeMap::new();
        for f in &t.fields {
            let pattern = CodePattern::from_regex(&f.pattern).expect("validated template");
            let lexicon: &[String] = if f.id == "dossier_code" {
                &self.opts.validate.returned
            } else {
                &[]
            };
            let target = FieldTarget {
                bbox: f.bbox,
                pattern: &pattern,
                lexicon,
            };
            let (mut fr, field_img) = read_field(
                img,
                &reg.h,
                &target,
                &reg.levels,
                self.recognizer.as_deref(),
                &self.opts.fields,
            );
            let mut suggestion = None;
            let mut source = fr.value.as_ref().map(|_| "ocr");
            if f.id == "dossier_code" {
                // The QR's `HS=` is an error-corrected copy of the printed code: when it holds a code of the
                // field's pattern it is the reading, and the OCR only confirms it. A confident OCR that reads
                // another code sends the field to a person with both; an unsure OCR is outvoted.
                let hs = id
                    .qr
                    .as_ref()
                    .and_then(|q| q.dossier.clone())
                    .filter(|hs| pattern.matches(hs));
                if let Some(hs) = hs {
                    let ocr_sure = fr.status == FieldStatus::Accepted && fr.reasons.is_empty();
                    match &fr.value {
                        Some(v) if *v == hs => {
                            fr.confidence = fr.confidence.max(0.999);
                            source = Some("qr+ocr");
                        }
                        Some(v) if ocr_sure => {
                            suggestion = Some(v.clone());
                            fr.value = Some(hs);
                            fr.reasons.push("qr_mismatch".into());
                            source = Some("qr");
                        }
                        _ => {
                            // Outvoting needs a field that holds no more ink than one printed line: a field
                            // written over with other text is for a person to see.
                            let cut = (reg.levels.paper + reg.levels.ink) / 2.0;
                            let inked = field_img.as_ref().map_or(0.0, |fi| {
                                let dark = fi.pixels().filter(|p| (p.0[0] as f32) < cut).count();
                                dark as f64 / (fi.width() as f64 * fi.height() as f64).max(1.0)
                            });
                            let one_line = inked <= self.opts.fields.max_line_ink;
                            fr.value = Some(hs);
                            fr.reasons.clear();
                            if one_line {
                                fr.status = FieldStatus::Accepted;
                                fr.confidence = 0.995;
                            } else {
                                fr.reasons.push("qr_field_overwritten".into());
                            }
                            source = Some("qr");
                        }
                    }
                } else if id.qr.as_ref().is_some_and(|q| q.dossier.is_some()) {
                    fr.reasons.push("qr_code_off_pattern".into());
                }
                if let Some(v) = fr.value.clone() {
                    for p in dossier_problems(&v, &self.opts.validate) {
                        fr.reasons.push(
                            serde_json::to_value(p)
                                .unwrap()
                                .as_str()
                                .unwrap()
                                .to_string(),
                        );
                    }
                }
                if !self.opts.validate.returned.is_empty() {
                    if let Some(v) = fr.value.clone() {
                        match match_returned(&v, &self.opts.validate.returned) {
                            ReturnedMatch::Found => {}
                            ReturnedMatch::Nearest(c) => {
                                fr.reasons.push("not_in_returned".into());
                                suggestion = Some(c);
                            }
                            ReturnedMatch::AmbiguousNearest => {
                                fr.reasons.push("ambiguous_nearest".into())
                            }
                            ReturnedMatch::NotFound => fr.reasons.push("not_in_returned".into()),
                        }
                    }
                }
            }
            // Strokes broken badly enough to cut the corner markers break characters too (a 7 read as a 1): the
            // OCR alone may not decide such a page's codes.
            if reg.gaps_closed && source == Some("ocr") && fr.status != FieldStatus::Missing {
                fr.reasons.push("broken_strokes".into());
            }
            if let Some(why) = distrust.filter(|_| fr.status != FieldStatus::Missing) {
                fr.reasons.push(why.into());
            }
            if !fr.reasons.is_empty() && fr.status != FieldStatus::Missing {
                fr.status = FieldStatus::NeedsReview;
            }
            if fr.status == FieldStatus::Missing && !fr.reasons.is_empty() {
                fr.status = FieldStatus::NeedsReview;
            }
            let crop = if fr.status == FieldStatus::NeedsReview && self.opts.review_crops {
                out.zip(field_img.as_ref()).and_then(|(o, fi)| {
                    let name = crop_name(&page.source, &f.id);
                    save_png(&o.join(&name), fi).then_some(name)
                })
            } else {
                None
            };
            fields.insert(
                f.id.clone(),
                FieldOut {
                    value: fr.value,
                    raw: fr.raw,
                    confidence: (fr.confidence * 1e4).round() / 1e4,
                    status: serde_json::to_value(fr.status)
                        .unwrap()
                        .as_str()
                        .unwrap()
                        .to_string(),
                    reasons: fr.reasons,
                    crop,
                    suggestion,
                    source: source.map(String::from),
                },
            );
        }
        times.ocr.fetch_add(us(t3), Ordering::Relaxed);

        let all_ok = reasons.is_empty()
            && answers.values().all(|a| a.status == "accepted")
            && fields.values().all(|f| f.status != "needs_review");
        // One rule with the final record (`export`): the score exists when every criterion row (the numbered
        // rows of the template) is accepted with an answer; a skipped criterion leaves it undefined.
        let points: Option<Vec<i32>> = t
            .rows
            .iter()
            .filter(|r| r.number.is_some())
            .map(|r| {
                let a = answers.get(&r.id).filter(|a| a.status == "accepted")?;
                let c = a.choice.as_ref()?;
                r.options.iter().find(|o| &o.id == c).map(|o| o.score)
            })
            .collect();
        let score = points.map(|p| p.iter().sum());
        PageRecord {
            schema: SCHEMA.into(),
            source: src,
            file_sha256: None,
            page_hash: None,
            duplicate_of: None,
            status: if all_ok {
                PageStatus::Accepted
            } else {
                PageStatus::NeedsReview
            },
            reasons,
            template: Some(tid),
            qr: qr_content,
            fields,
            answers,
            score,
            registration: Some(RegistrationOut {
                rotation: reg.rotation,
                skew_deg: (reg.skew_deg * 1000.0).round() / 1000.0,
                px_per_mm: (reg.px_per_mm * 1000.0).round() / 1000.0,
                fit: serde_json::to_value(reg.fit)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string(),
                markers: reg.markers_found.clone(),
                residual_max_mm: (reg.check.max_mm * 1000.0).round() / 1000.0,
                residual_rms_mm: (reg.check.rms_mm * 1000.0).round() / 1000.0,
                verified: reg.check.ok,
                homography: reg.h.0,
            }),
            error: None,
        }
    }
}

fn save_png(path: &Path, img: &image::GrayImage) -> bool {
    use image::ImageEncoder;
    let mut buf = Vec::new();
    // Crops are small and short-lived: fast compression keeps them off the batch's critical path.
    let enc = image::codecs::png::PngEncoder::new_with_quality(
        &mut buf,
        image::codecs::png::CompressionType::Fast,
        image::codecs::png::FilterType::Sub,
    );
    if enc
        .write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            image::ExtendedColorType::L8,
        )
        .is_err()
    {
        return false;
    }
    crate::export::write_atomic_with(path, &buf, false).is_ok()
}

/// A unit of work: one page of one file.
#[derive(Debug, Clone)]
pub struct Unit {
    /// Which page.
    pub source: PageRef,
    /// SHA-256 of the file's bytes.
    pub file_sha256: String,
}

/// SHA-256 of a file's bytes, hex.
pub fn file_sha256(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = sha2::Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(hex(&h.finalize()))
}

/// Expands inputs into page units (sorted by path, page) plus records for files that cannot be opened, with
/// the default [`LoadOptions`].
pub fn plan(inputs: &[PathBuf]) -> (Vec<Unit>, Vec<PageRecord>) {
    plan_with(inputs, &LoadOptions::default())
}

/// [`plan`] under the given limits: a file with more pages than `max_pages_per_file` gives units for the
/// pages up to the limit and one `too_many_pages` record for the rest.
pub fn plan_with(inputs: &[PathBuf], limits: &LoadOptions) -> (Vec<Unit>, Vec<PageRecord>) {
    let (files, errors) = expand_inputs(inputs);
    let mut bad: Vec<PageRecord> = errors.iter().map(load_rejection).collect();
    type Counted = (PathBuf, Result<(u32, String, Option<LoadError>), LoadError>);
    let counts: Vec<Counted> = files
        .par_iter()
        .map(|f| {
            // One read serves both the content hash and the page count.
            let counted = (|| {
                let kind = crate::load::file_kind(f)
                    .ok_or_else(|| LoadError::Unsupported { path: f.clone() })?;
                let bytes = std::fs::read(f).map_err(|source| LoadError::Io {
                    path: f.clone(),
                    source,
                })?;
                let h = hex(&sha2::Sha256::digest(&bytes));
                let src = PageSource::from_bytes(f, bytes, kind, limits)?;
                Ok((src.readable_pages(), h, src.too_many_pages()))
            })();
            (f.clone(), counted)
        })
        .collect();
    let mut units = vec![];
    for (f, c) in counts {
        match c {
            Ok((n, h, rest)) => {
                units.extend((1..=n).map(|page| Unit {
                    source: PageRef {
                        path: f.clone(),
                        page,
                    },
                    file_sha256: h.clone(),
                }));
                if let Some(e) = rest {
                    let mut r = load_rejection(&e);
                    r.file_sha256 = Some(h);
                    bad.push(r);
                }
            }
            Err(e) => bad.push(load_rejection(&e)),
        }
    }
    (units, bad)
}

/// The rejected record for a load error: reasons from [`LoadError::reasons`], the error text names file and page.
fn load_rejection(e: &LoadError) -> PageRecord {
    let mut r = rejected_page(e.path(), e.page(), "unreadable", e.to_string());
    r.reasons = e.reasons();
    r
}

/// Reads every unit in parallel; `on_done` is called after each page (for progress). Output is sorted by
/// (path, page) whatever the completion order.
pub fn run(
    reader: &Reader,
    units: &[Unit],
    out: Option<&Path>,
    times: &StageTimes,
    journal: Option<&Journal>,
    on_done: &(dyn Fn(&PageRecord) + Sync),
) -> Vec<PageRecord> {
    // `open` is the worker's current file: pages of a file are consecutive units and each worker takes units in
    // increasing order, so every worker parses a multi-page file at most once.
    let work = |u: &Unit, open: &mut Option<Opened>| -> PageRecord {
        if let Some(done) = journal.and_then(|j| j.finished(u)) {
            on_done(&done);
            return done;
        }
        let t = std::time::Instant::now();
        if open.as_ref().is_none_or(|(p, _)| *p != u.source.path) {
            // Drop the previous file before parsing the next, so a worker holds one file at a time.
            *open = None;
            *open = Some((
                u.source.path.clone(),
                PageSource::open(&u.source.path, &reader.opts.load),
            ));
        }
        let loaded = match open.as_mut() {
            Some((_, Ok(s))) => Some(s.page(u.source.page).map_err(|e| load_rejection(&e))),
            Some((_, Err(e))) => {
                let mut r = load_rejection(e);
                // An error from opening the file names page 1; this unit's page is the one to report.
                if r.source.page != u.source.page {
                    r.source.page = u.source.page;
                    r.error = Some(format!("{e} (while opening it for page {})", u.source.page));
                }
                Some(Err(r))
            }
            None => None,
        };
        let rec = match loaded {
            Some(Ok(page)) => {
                times.load.fetch_add(us(t), Ordering::Relaxed);
                let mut r = reader.read_page(&page, out, times);
                // A single-image file's bytes already identify its page (and are hashed anyway); hashing
                // megapixels again costs more than reading the page's marks.
                r.page_hash = Some(
                    if crate::load::file_kind(&u.source.path) == Some(crate::load::FileKind::Raster)
                    {
                        u.file_sha256.clone()
                    } else {
                        page_hash(&page.image)
                    },
                );
                // Every error text names its file and page, whichever stage wrote it.
                let here = format!("{} page {}", u.source.path.display(), u.source.page);
                if let Some(e) = r.error.as_mut().filter(|e| !e.starts_with(&here)) {
                    *e = format!("{here}: {e}");
                }
                r
            }
            Some(Err(r)) => r,
            None => rejected_page(
                &u.source.path,
                u.source.page,
                "unreadable",
                format!(
                    "{} page {}: not opened",
                    u.source.path.display(),
                    u.source.page
                ),
            ),
        };
        let mut rec = rec;
        rec.file_sha256 = Some(u.file_sha256.clone());
        if let Some(j) = journal {
            if let Err(e) = j.append(&rec) {
                use std::io::Write as _;
                let _ = writeln!(
                    std::io::stderr(),
                    "phieu: warning: cannot write the resume journal: {e}"
                );
            }
        }
        rec
    };
    // Pages go to a fixed set of workers that each hold one page at a time, so memory is bounded by the worker
    // count. (A rayon task that waits on the model's own thread pool would steal further pages meanwhile, and
    // pages would pile up in flight.)
    let workers = rayon::current_num_threads().max(1).min(units.len().max(1));
    let next = AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<PageRecord>>> =
        units.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            std::thread::Builder::new()
                // Some third-party image routines recurse deeply on large dark regions.
                .stack_size(64 << 20)
                .spawn_scoped(scope, || {
                    let mut open: Option<Opened> = None;
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(u) = units.get(i) else { break };
                        // A bug on one page must not take the batch down: it becomes that page's rejection.
                        let rec = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            work(u, &mut open)
                        }))
                        .unwrap_or_else(|_| {
                            // The decoder may be mid-way through the file; start afresh for the next page.
                            open = None;
                            let msg = format!(
                                "{} page {}: internal error while reading",
                                u.source.path.display(),
                                u.source.page
                            );
                            rejected_page(&u.source.path, u.source.page, "internal_error", msg)
                        });
                        // Progress output is the caller's; it may fail (a closed stderr pipe) but it never
                        // changes or loses the page's record.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            on_done(&rec)
                        }));
                        *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(rec);
                    }
                })
                .expect("spawn worker");
        }
    });
    let mut recs: Vec<PageRecord> = slots
        .into_iter()
        .filter_map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()))
        .collect();
    recs.sort_by(|a, b| (&a.source.path, a.source.page).cmp(&(&b.source.path, b.source.page)));
    recs
}

/// A worker's current file: its path and the parsed file, or why it could not be opened.
type Opened = (PathBuf, Result<PageSource, LoadError>);

/// The resume journal: one record per finished page, appended as pages complete, so an interrupted run
/// (even `kill -9`) restarts without redoing or duplicating pages. Keyed by (file SHA-256, page).
pub struct Journal {
    file: std::sync::Mutex<std::fs::File>,
    done: std::collections::HashMap<(String, u32), PageRecord>,
}

impl Journal {
    /// Opens (or creates) the journal at `path` and loads the finished pages; a torn last line is ignored.
    pub fn open(path: &Path) -> std::io::Result<Journal> {
        let mut done = std::collections::HashMap::new();
        if let Ok(text) = std::fs::read_to_string(path) {
            for line in text.lines() {
                if let Ok(r) = serde_json::from_str::<PageRecord>(line) {
                    if let Some(h) = r.file_sha256.clone() {
                        done.insert((h, r.source.page), r);
                    }
                }
            }
        }
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d)?;
        }
        // A torn line from a killed run must not glue onto the next record.
        let needs_nl = std::fs::read(path)
            .map(|b| !b.is_empty() && !b.ends_with(b"\n"))
            .unwrap_or(false);
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        if needs_nl {
            std::io::Write::write_all(&mut file, b"\n")?;
        }
        Ok(Journal {
            file: std::sync::Mutex::new(file),
            done,
        })
    }

    /// A finished record for this unit, if any (re-targeted to the unit's current path).
    pub fn finished(&self, u: &Unit) -> Option<PageRecord> {
        self.done
            .get(&(u.file_sha256.clone(), u.source.page))
            .map(|r| {
                let mut r = r.clone();
                r.source.path = u.source.path.to_string_lossy().into_owned();
                r
            })
    }

    /// Appends a finished record (one line, flushed).
    pub fn append(&self, r: &PageRecord) -> std::io::Result<()> {
        let mut line = serde_json::to_string(r).expect("records serialize");
        line.push('\n');
        let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
        std::io::Write::write_all(&mut *f, line.as_bytes())?;
        std::io::Write::flush(&mut *f)
    }
}

/// A page a person must read whole (no usable registration), with the template and content of its QR when one
/// was found anywhere on it.
fn whole_page_review(
    src: SourceRef,
    reason: &str,
    qr: Option<crate::identify::QrInfo>,
    error: String,
) -> PageRecord {
    let mut r = PageRecord::bare(src, PageStatus::NeedsReview, vec![reason.into()]);
    r.template = qr.as_ref().and_then(|q| q.template.clone());
    r.qr = qr.map(|q| q.content);
    r.error = Some(error);
    r
}

/// A rejected page's record, with the reason and an error text that names the file and page.
fn rejected_page(path: &Path, page: u32, reason: &str, error: String) -> PageRecord {
    let src = SourceRef {
        path: path.to_string_lossy().into_owned(),
        page,
    };
    let mut r = PageRecord::bare(src, PageStatus::Rejected, vec![reason.into()]);
    r.error = Some(error);
    r
}
