//! One page through the reading stages: register → identify (with verification) → marks → codes → validate,
//! into the page's [`PageRecord`]. A page that cannot go on stops with its outcome (blank, rejected, or whole-page
//! review) as a value, never with a panic.

use crate::forms::template::{DateSpec, FieldRole, Template};
use crate::raster::warp_region;
use crate::read::codes::{read_field, FieldOptions, FieldReading, FieldTarget, LineRecognizer};
use crate::read::identify::{find_qr_anywhere, identify, Identification, IdentifyOptions, QrInfo};
use crate::read::load::{LoadOptions, Page, PageRef};
use crate::read::marks::{
    apply_page_habit, apply_speck_level, flag_ink_beside_blank_rows, flag_sparse_page, read_row,
    MarkOptions, RedInk, RowStatus,
};
use crate::read::register::{
    register, register_from_table, register_two_markers, verify, FitKind, MarkerLayout,
    RegisterOptions, RegisterOutcome, Registration,
};
use crate::read::validate::{
    dossier_problems, match_returned, CodePattern, ReturnedMatch, ValidateOptions,
};
use crate::results::{
    AnswerOut, FieldOut, PageRecord, PageStatus, RegistrationOut, SourceRef, ValueStatus, SCHEMA,
};
use sha2::Digest;
use std::collections::BTreeMap;
use std::path::Path;
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

pub(crate) fn us(t: std::time::Instant) -> usize {
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
    let tag = crate::util::hex(&h.finalize()[..3]);
    format!("review/{stem}-{tag}-p{}-{what}.png", src.page)
}

/// SHA-256 of a page's pixels and size.
pub fn page_hash(img: &image::GrayImage) -> String {
    let mut h = sha2::Sha256::new();
    h.update(img.width().to_le_bytes());
    h.update(img.height().to_le_bytes());
    h.update(img.as_raw());
    crate::util::hex(&h.finalize())
}

/// A page that stops before the end of the stages: its record is the outcome.
type Stop = Box<PageRecord>;

/// What identification settled about a registered page.
struct Identified<'t> {
    template: &'t Template,
    id: Identification,
    /// Page-level review reasons so far.
    reasons: Vec<String>,
    /// Why no value on the page may be accepted, if so.
    distrust: Option<&'static str>,
}

impl Reader {
    /// A `needs_review` record when `page` has used up its time budget by the end of `stage`: a page that slow
    /// is abnormal, and the rest of the batch must not wait on it.
    fn over_budget(&self, page: &Page, stage: &str) -> Result<(), Stop> {
        let budget = self.opts.load.page_time_budget;
        let spent = page.started.elapsed();
        if spent <= budget {
            return Ok(());
        }
        let mut r = PageRecord::bare(
            source_of(page),
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
        Err(Box::new(r))
    }

    /// Reads one decoded page. `out` is where review crops go (none when `None`).
    pub fn read_page(&self, page: &Page, out: Option<&Path>, times: &StageTimes) -> PageRecord {
        self.try_read(page, out, times).unwrap_or_else(|r| *r)
    }

    /// The stages in order; each either hands its typed result on or stops the page with its outcome.
    fn try_read(
        &self,
        page: &Page,
        out: Option<&Path>,
        times: &StageTimes,
    ) -> Result<PageRecord, Stop> {
        self.over_budget(page, "decoding")?;
        let mut reg = timed(&times.register, || self.register(page))?;
        self.over_budget(page, "registration")?;
        let form = timed(&times.identify, || self.identify(page, &mut reg))?;
        self.over_budget(page, "identification")?;
        let answers = timed(&times.marks, || self.read_marks(page, &reg, &form, out));
        let mut form = form;
        if answers.1 {
            form.reasons.push("few_marks_on_page".into());
        }
        self.over_budget(page, "checkbox reading")?;
        let fields = timed(&times.ocr, || self.read_fields(page, &reg, &form, out));
        Ok(assemble(page, &reg, form, answers.0, fields))
    }

    /// Registration: a registered page goes on; a blank page, a page without markers, or a page that is not a
    /// form stops here.
    fn register(&self, page: &Page) -> Result<Registration, Stop> {
        let img = &page.image;
        let src = source_of(page);
        let layouts = MarkerLayout::distinct(&self.templates);
        let outcome = register(img, &layouts, &self.opts.register);
        if matches!(
            outcome,
            RegisterOutcome::MarkersMissing { .. } | RegisterOutcome::NotAForm { .. }
        ) {
            // Two corners lost (a fax's narrower frame, a fold): the printed table decides whether the two
            // markers left are ours.
            if let Some(r) = register_two_markers(img, &self.templates, &self.opts.register) {
                return Ok(r);
            }
        }
        if matches!(outcome, RegisterOutcome::MarkersMissing { .. }) {
            // No marker left, but a ruled table: its corners, confirmed by its rules.
            if let Some(r) = register_from_table(img, &self.templates, &self.opts.register) {
                return Ok(r);
            }
        }
        match outcome {
            RegisterOutcome::Registered(r) => Ok(*r),
            RegisterOutcome::Blank { .. } => {
                // A black or pure-noise page has no "ink" by the paper-relative measure, yet it is no blank back.
                if let Some((why, error)) = crate::read::load::implausible_page(img) {
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
                    return Err(Box::new(r));
                }
                Err(Box::new(PageRecord::bare(src, PageStatus::Blank, vec![])))
            }
            RegisterOutcome::MarkersMissing { reason } => Err(whole_page_review(
                src,
                "markers_not_found",
                find_qr_anywhere(img, &self.templates),
                reason,
            )),
            RegisterOutcome::NotAForm { reason } => {
                if let Some(q) = find_qr_anywhere(img, &self.templates) {
                    // One of our forms whose corners are missing: a person must see it, it is not "not a form".
                    return Err(whole_page_review(src, "markers_not_found", Some(q), reason));
                }
                let mut r = PageRecord::bare(src, PageStatus::Rejected, vec!["not_a_form".into()]);
                r.error = Some(reason);
                Err(Box::new(r))
            }
        }
    }

    /// Identification and verification: which form (QR and layout), the fit checked against its printed rules,
    /// and the page-level reasons that follow. A page with evidence of our form but no certain template goes to
    /// a person whole; a page without it is not a form.
    fn identify(&self, page: &Page, reg: &mut Registration) -> Result<Identified<'_>, Stop> {
        let img = &page.image;
        let src = source_of(page);
        let id = identify(img, reg, &self.templates, &self.opts.identify);
        let mut reasons: Vec<String> = vec![];
        let chosen = match (&id.template, id.conflict) {
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
        let Some(template) = chosen.and_then(|k| self.templates.iter().find(|t| t.key() == k))
        else {
            return Err(self.unidentified(src, img, reg, &id));
        };
        verify(img, reg, template, &self.opts.register);
        if id.qr.as_ref().is_some_and(|q| q.template.is_none()) {
            // A QR that is not one of our payloads (junk, or a form we do not know) on our layout: someone must look.
            reasons.push("qr_unrecognised".into());
        }
        // The form's printed extent against the image's (rotation-invariant): a form printed at half size on
        // a full sheet reads at half the linear size.
        let form_px = template.page_mm[0] * template.page_mm[1] * reg.px_per_mm * reg.px_per_mm;
        let linear = (form_px / (img.width() as f64 * img.height() as f64)).sqrt();
        if linear < self.opts.load.min_form_scale {
            reasons.push("form_scale".into());
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
        Ok(Identified {
            template,
            id,
            reasons,
            distrust,
        })
    }

    /// The outcome of a registered page that no template fits.
    fn unidentified(
        &self,
        src: SourceRef,
        img: &image::GrayImage,
        reg: &Registration,
        id: &Identification,
    ) -> Stop {
        // A fit through a clipped or stained marker misses the table too: if our QR is on the page, it is one
        // of our forms that a person must see.
        let qr_anywhere = find_qr_anywhere(img, &self.templates);
        if qr_anywhere.is_some() {
            let error = format!(
                "markers found but the table is not where they say (scores {:?})",
                id.layout_scores
            );
            return whole_page_review(src, "registration_failed", qr_anywhere, error);
        }
        // Some of a known table where the markers say it is, or most of its option boxes: evidence of our form,
        // so a person decides.
        let best = id.layout_scores.first().map_or(0.0, |s| s.1);
        let boxes = self
            .templates
            .iter()
            .map(|t| crate::read::register::box_score(img, reg, t))
            .fold(0.0, f64::max);
        if best >= self.opts.identify.form_evidence || boxes >= self.opts.identify.box_evidence {
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
        r.qr = id.qr.as_ref().map(|q| q.content.clone());
        Box::new(r)
    }

    /// Every rating row, with the page's habit and the sparse-page rule applied; `true` when the page has too
    /// few marks to trust.
    fn read_marks(
        &self,
        page: &Page,
        reg: &Registration,
        form: &Identified,
        out: Option<&Path>,
    ) -> (BTreeMap<String, AnswerOut>, bool) {
        let img = &page.image;
        let t = form.template;
        let red = page
            .hue
            .as_ref()
            .and_then(|h| RedInk::find(&h.red, reg.px_per_mm, &self.opts.marks));
        let mut readings: Vec<_> = t
            .rows
            .iter()
            .map(|row| {
                let boxes: Vec<_> = row
                    .options
                    .iter()
                    .map(|o| (o.id.clone(), o.bbox, reg.h))
                    .collect();
                read_row(
                    img,
                    red.as_ref(),
                    &boxes,
                    row,
                    &reg.levels,
                    &self.opts.marks,
                )
            })
            .collect();
        apply_speck_level(&mut readings, &self.opts.marks);
        apply_page_habit(&mut readings, &self.opts.marks);
        let sparse = flag_sparse_page(&mut readings, &self.opts.marks);
        flag_ink_beside_blank_rows(
            img,
            page.hue.as_ref().map(|h| &h.chroma),
            &reg.h,
            &t.rows,
            &mut readings,
            &reg.levels,
            &self.opts.marks,
        );
        let mut answers = BTreeMap::new();
        for (row, rr) in t.rows.iter().zip(readings) {
            let mut accepted = rr.status == RowStatus::Accepted;
            let mut reason = rr.reason.map(|r| r.as_str().to_string());
            let mut choice = rr.choice.clone();
            if let Some(why) = form.distrust {
                // Never read boxes through a registration that failed: values are only proposals.
                accepted = false;
                reason = Some(why.into());
                if !reg.check.ok {
                    choice = None;
                }
            }
            let crop = (!accepted && self.opts.review_crops)
                .then_some(out)
                .flatten()
                .and_then(|o| {
                    let name = crop_name(&page.source, &row.id);
                    let b = row.band;
                    let c = warp_region(
                        img,
                        &reg.h,
                        [b[0] - 1.0, b[1] - 1.0, b[2] + 1.0, b[3] + 1.0],
                        6.0,
                    );
                    save_png(&o.join(&name), &c).then_some(name)
                });
            answers.insert(
                row.id.clone(),
                AnswerOut {
                    choice,
                    confidence: round4(rr.confidence),
                    status: if accepted {
                        ValueStatus::Accepted
                    } else {
                        ValueStatus::NeedsReview
                    },
                    reason,
                    cancelled: rr.cancelled.clone(),
                    crop,
                    coverage: rr.boxes.iter().map(|b| round4(b.coverage)).collect(),
                },
            );
        }
        (answers, sparse)
    }

    /// Every code field: recognised under its grammar, then settled with the QR and the center's lists.
    fn read_fields(
        &self,
        page: &Page,
        reg: &Registration,
        form: &Identified,
        out: Option<&Path>,
    ) -> BTreeMap<String, FieldOut> {
        let img = &page.image;
        let mut fields = BTreeMap::new();
        for f in &form.template.fields {
            let Ok(pattern) = CodePattern::from_regex(&f.pattern) else {
                // Template validation refuses such a file; a field we cannot check is never accepted.
                fields.insert(f.id.clone(), unreadable_field("pattern_invalid"));
                continue;
            };
            let dossier = f.role() == FieldRole::DossierCode;
            let lexicon: &[String] = if dossier {
                &self.opts.validate.returned
            } else {
                &[]
            };
            let admissible = |v: &str| {
                !dossier || dossier_problems(v, f.date.as_ref(), &self.opts.validate).is_empty()
            };
            let carried = form
                .id
                .qr
                .as_ref()
                .and_then(|q| q.values.get(&f.id).cloned());
            let target = FieldTarget {
                bbox: f.bbox,
                pattern: &pattern,
                lexicon,
                admissible: Some(&admissible),
                carried: carried.as_deref().filter(|hs| pattern.matches(hs)),
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
            let ink = field_ink(field_img.as_ref(), reg);
            let source = self.settle_with_qr(&mut fr, &mut suggestion, carried, &pattern, ink);
            if dossier {
                self.check_dossier(&mut fr, &mut suggestion, f.date.as_ref());
            }
            // Strokes broken badly enough to cut the corner markers break characters too (a 7 read as a 1): the
            // OCR alone may not decide such a page's codes.
            if reg.gaps_closed && source == Some("ocr") && fr.status != ValueStatus::Missing {
                fr.reasons.push("broken_strokes".into());
            }
            // A page that lost its markers (cut to a fax's width, corners torn) was registered from what was
            // left: its boxes are checked against the table, but a code read from it is a person's call (on the
            // held-out indep7700 a fax page fitted by its table gave a confident 3529 for 3629).
            if matches!(reg.fit, FitKind::Similarity2 | FitKind::Table)
                && source == Some("ocr")
                && fr.status != ValueStatus::Missing
            {
                fr.reasons.push("markers_lost".into());
            }
            // The model's confidence means nothing on detail the scanner never sampled: at a fax's 98-dpi rows a
            // 7 and a 1 differ by a pixel or two.
            let centre = [0.5 * (f.bbox[0] + f.bbox[2]), 0.5 * (f.bbox[1] + f.bbox[3])];
            if reg.h.min_local_scale(centre) / page.stretch < self.opts.fields.min_px_per_mm
                && source == Some("ocr")
                && fr.status != ValueStatus::Missing
            {
                fr.reasons.push("low_resolution".into());
            }
            if let Some(why) = form.distrust.filter(|_| fr.status != ValueStatus::Missing) {
                fr.reasons.push(why.into());
            }
            if !fr.reasons.is_empty() {
                fr.status = ValueStatus::NeedsReview;
            }
            let crop = (fr.status == ValueStatus::NeedsReview && self.opts.review_crops)
                .then_some(out)
                .flatten()
                .zip(field_img.as_ref())
                .and_then(|(o, fi)| {
                    let name = crop_name(&page.source, &f.id);
                    save_png(&o.join(&name), fi).then_some(name)
                });
            fields.insert(
                f.id.clone(),
                FieldOut {
                    value: fr.value,
                    raw: fr.raw,
                    confidence: round4(fr.confidence),
                    status: fr.status,
                    reasons: fr.reasons,
                    crop,
                    suggestion,
                    source: source.map(String::from),
                },
            );
        }
        fields
    }

    /// A value the QR carries (`HS=` on the center's forms) is an error-corrected copy of the printed code:
    /// when it holds a code of the field's pattern it is the reading, and the OCR only confirms it. A confident
    /// OCR that reads another code sends the field to a person with both; an unsure OCR is outvoted. Returns
    /// the value's source.
    fn settle_with_qr(
        &self,
        fr: &mut FieldReading,
        suggestion: &mut Option<String>,
        carried: Option<String>,
        pattern: &CodePattern,
        field_ink: f64,
    ) -> Option<&'static str> {
        let ocr = fr.value.as_ref().map(|_| "ocr");
        let Some(hs) = carried.clone().filter(|hs| pattern.matches(hs)) else {
            if carried.is_some() {
                fr.reasons.push("qr_code_off_pattern".into());
            }
            return ocr;
        };
        let ocr_sure = fr.status == ValueStatus::Accepted && fr.reasons.is_empty();
        match &fr.value {
            Some(v) if *v == hs => {
                // Two independent readings agree character for character, one of them error-corrected: the
                // OCR's own doubts (an unsure character, a reading off the grammar) are settled by the QR.
                fr.confidence = fr.confidence.max(0.999);
                fr.reasons.clear();
                fr.status = ValueStatus::Accepted;
                Some("qr+ocr")
            }
            Some(v) if ocr_sure => {
                *suggestion = Some(v.clone());
                fr.value = Some(hs);
                fr.reasons.push("qr_mismatch".into());
                Some("qr")
            }
            _ => {
                // Outvoting needs a field that holds no more ink than one printed line: a field written over
                // with other text is for a person to see.
                fr.value = Some(hs);
                fr.reasons.clear();
                if field_ink <= self.opts.fields.max_line_ink {
                    fr.status = ValueStatus::Accepted;
                    fr.confidence = 0.995;
                } else {
                    fr.reasons.push("qr_field_overwritten".into());
                }
                Some("qr")
            }
        }
    }

    /// The dossier code against what the center knows: grammar, date, agencies, and the returned list.
    fn check_dossier(
        &self,
        fr: &mut FieldReading,
        suggestion: &mut Option<String>,
        date: Option<&DateSpec>,
    ) {
        let Some(v) = fr.value.clone() else { return };
        for p in dossier_problems(&v, date, &self.opts.validate) {
            fr.reasons.push(p.as_str().into());
        }
        if self.opts.validate.returned.is_empty() {
            return;
        }
        match match_returned(&v, &self.opts.validate.returned) {
            ReturnedMatch::Found => {}
            ReturnedMatch::Nearest(c) => {
                fr.reasons.push("not_in_returned".into());
                *suggestion = Some(c);
            }
            ReturnedMatch::AmbiguousNearest => fr.reasons.push("ambiguous_nearest".into()),
            ReturnedMatch::NotFound => fr.reasons.push("not_in_returned".into()),
        }
    }
}

/// Runs a stage and adds its wall time to the stage's total.
fn timed<T>(total: &AtomicUsize, f: impl FnOnce() -> T) -> T {
    let t = std::time::Instant::now();
    let v = f();
    total.fetch_add(us(t), Ordering::Relaxed);
    v
}

fn round4(v: f64) -> f64 {
    (v * 1e4).round() / 1e4
}

fn round3(v: f64) -> f64 {
    (v * 1e3).round() / 1e3
}

fn source_of(page: &Page) -> SourceRef {
    SourceRef {
        path: page.source.path.to_string_lossy().into_owned(),
        page: page.source.page,
    }
}

/// Share of the field crop darker than halfway between paper and ink.
fn field_ink(field_img: Option<&image::GrayImage>, reg: &Registration) -> f64 {
    let cut = (reg.levels.paper + reg.levels.ink) / 2.0;
    field_img.map_or(0.0, |fi| {
        let dark = fi.pixels().filter(|p| (p.0[0] as f32) < cut).count();
        dark as f64 / (fi.width() as f64 * fi.height() as f64).max(1.0)
    })
}

/// A field that could not be read at all, for a person.
fn unreadable_field(reason: &str) -> FieldOut {
    FieldOut {
        value: None,
        raw: None,
        confidence: 0.0,
        status: ValueStatus::NeedsReview,
        reasons: vec![reason.into()],
        crop: None,
        suggestion: None,
        source: None,
    }
}

/// The record of a page read to the end: its status follows from every value's, and the score from the
/// template's criteria.
fn assemble(
    page: &Page,
    reg: &Registration,
    form: Identified,
    answers: BTreeMap<String, AnswerOut>,
    fields: BTreeMap<String, FieldOut>,
) -> PageRecord {
    let all_ok = form.reasons.is_empty()
        && answers.values().all(|a| a.status == ValueStatus::Accepted)
        && fields
            .values()
            .all(|f| f.status != ValueStatus::NeedsReview);
    let score = form.template.score(|row| {
        answers
            .get(row)
            .filter(|a| a.status == ValueStatus::Accepted)
            .and_then(|a| a.choice.as_deref())
    });
    PageRecord {
        schema: SCHEMA.into(),
        source: source_of(page),
        file_sha256: None,
        page_hash: None,
        duplicate_of: None,
        status: if all_ok {
            PageStatus::Accepted
        } else {
            PageStatus::NeedsReview
        },
        reasons: form.reasons,
        template: Some(form.template.template_id.clone()),
        form_version: Some(form.template.version),
        qr: form.id.qr.as_ref().map(|q| q.content.clone()),
        fields,
        answers,
        score,
        registration: Some(RegistrationOut {
            rotation: reg.rotation,
            skew_deg: round3(reg.skew_deg),
            px_per_mm: round3(reg.px_per_mm),
            fit: reg.fit.as_str().into(),
            markers: reg.markers_found.clone(),
            residual_max_mm: round3(reg.check.max_mm),
            residual_rms_mm: round3(reg.check.rms_mm),
            verified: reg.check.ok,
            homography: reg.h.0,
            streaks_removed: page
                .streaks
                .iter()
                .map(|s| {
                    let axis = if s.vertical { "column" } else { "row" };
                    format!("{axis} {}-{}", s.from, s.to)
                })
                .collect(),
        }),
        error: None,
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
    crate::results::write_atomic_with(path, &buf, false).is_ok()
}

/// A page a person must read whole (no usable registration), with the template and content of its QR when one
/// was found anywhere on it.
fn whole_page_review(src: SourceRef, reason: &str, qr: Option<QrInfo>, error: String) -> Stop {
    let mut r = PageRecord::bare(src, PageStatus::NeedsReview, vec![reason.into()]);
    r.template = qr.as_ref().and_then(|q| q.template.clone());
    r.form_version = qr.as_ref().and_then(|q| q.version);
    r.qr = qr.map(|q| q.content);
    r.error = Some(error);
    Box::new(r)
}
