//! Checkbox reading: classifies each box as empty, marked or filled (cancelled) from its interior after
//! registration, relative to the page's own paper and ink levels, and turns each row into an answer with a
//! confidence and, when unsure, a specific review reason. Stray ink outside the boxes never counts.

use crate::geom::Homography;
use crate::register::{sample, Levels};
use crate::template::{BoxMm, RowSpec};
use image::GrayImage;
use serde::Serialize;

/// Tunables for box classification (fractions of the box interior covered by ink).
#[derive(Debug, Clone)]
pub struct MarkOptions {
    /// Interior inset from the outline's centre line, mm (tolerates misregistration and outline bleed).
    pub inset_mm: f64,
    /// Sampling step, mm.
    pub step_mm: f64,
    /// Darkness (0 = paper, 1 = print black) above which a sample is ink.
    pub ink_level: f32,
    /// Darkness above which a sample counts as faint ink (pencil).
    pub faint_level: f32,
    /// Coverage at or below which a box is clearly empty.
    pub empty_max: f64,
    /// Coverage at or above which a box is clearly marked.
    pub marked_min: f64,
    /// Coverage at or above which a box is filled (cancelled).
    pub filled_min: f64,
    /// Coverage at or below which a (marked) box is clearly not filled.
    pub marked_max: f64,
    /// Faint coverage above which an otherwise empty box is doubtful.
    pub faint_max: f64,
    /// Faint coverage at or above which a box holds a light mark (pencil).
    pub light_min: f64,
    /// Rows whose confidence falls below this go to review.
    pub review_below: f64,
    /// A page with at least this many rows without any ink is suspicious (pencil lost in a 1-bit scan, a dropout
    /// colour, a wrong page): every row of it goes to review.
    pub max_blank_rows: usize,
}

impl Default for MarkOptions {
    fn default() -> Self {
        MarkOptions {
            inset_mm: 0.75,
            step_mm: 0.1,
            ink_level: 0.4,
            faint_level: 0.15,
            empty_max: 0.012,
            marked_min: 0.04,
            filled_min: 0.8,
            marked_max: 0.55,
            faint_max: 0.04,
            light_min: 0.07,
            review_below: 0.9,
            max_blank_rows: 4,
        }
    }
}

/// What a box holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BoxState {
    /// No mark.
    Empty,
    /// A tick, cross, dot or scribble.
    Marked,
    /// Fully inked: the citizen cancelled this box.
    Filled,
    /// Between empty and marked (faint or tiny ink).
    UnsureFaint,
    /// Between marked and filled (heavy scribble or partial fill).
    UnsureFill,
}

/// Measurements of one box.
#[derive(Debug, Clone, Serialize)]
pub struct BoxReading {
    /// Option id.
    pub option: String,
    /// Classification.
    pub state: BoxState,
    /// Fraction of interior samples that are ink.
    pub coverage: f64,
    /// Fraction of interior samples that are at least faint ink.
    pub faint: f64,
    /// Mean darkness of the interior, 0..1.
    pub mean_dark: f64,
    /// Confidence of the classification, 0..1.
    pub confidence: f64,
}

/// Row status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowStatus {
    /// Read automatically.
    Accepted,
    /// A person must look.
    NeedsReview,
}

/// Why a row needs review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowReason {
    /// Two or more live marks.
    Ambiguous,
    /// A faint or tiny mark that may or may not be one.
    FaintMark,
    /// Between a mark and a fill (cancel or scribble?).
    PartialFill,
    /// Every box in the row filled or the read is otherwise doubtful.
    LowConfidence,
    /// Most rows of the page are blank: marks may have been lost (e.g. pencil in a 1-bit scan).
    FewMarksOnPage,
}

/// The answer read from one row.
#[derive(Debug, Clone, Serialize)]
pub struct RowReading {
    /// Row id.
    pub row: String,
    /// The chosen option, `None` for a skipped row or when undecided.
    pub choice: Option<String>,
    /// Confidence in [0,1] that `choice` is right.
    pub confidence: f64,
    /// Accepted or needs review.
    pub status: RowStatus,
    /// Review reason.
    pub reason: Option<RowReason>,
    /// Options whose box was filled (cancelled).
    pub cancelled: Vec<String>,
    /// Per-box details.
    pub boxes: Vec<BoxReading>,
}

/// Smooth 0..1 step centred between `lo` and `hi`.
fn ramp(x: f64, lo: f64, hi: f64) -> f64 {
    ((x - lo) / (hi - lo)).clamp(0.0, 1.0)
}

/// Reads one box whose template outline is `b`, through `h`.
pub fn read_box(
    img: &GrayImage,
    h: &Homography,
    b: BoxMm,
    levels: &Levels,
    opts: &MarkOptions,
) -> (f64, f64, f64) {
    let range = (levels.paper - levels.ink).max(40.0);
    // Local paper: brightest typical level just outside the outline, so shading and colour paper cancel out.
    let mut ring = vec![];
    for i in 0..12 {
        let t = i as f64 / 11.0;
        for p in [
            [b[0] + t * (b[2] - b[0]), b[1] - 0.9],
            [b[0] + t * (b[2] - b[0]), b[3] + 0.9],
            [b[0] - 0.9, b[1] + t * (b[3] - b[1])],
            [b[2] + 0.9, b[1] + t * (b[3] - b[1])],
        ] {
            ring.push(sample(img, h.apply(p)));
        }
    }
    ring.sort_by(|a, b| a.total_cmp(b));
    let local_paper = ring[ring.len() * 3 / 4].max(levels.ink + range * 0.5);
    let paper = local_paper.min(levels.paper.max(local_paper));
    let (x0, y0, x1, y1) = (
        b[0] + opts.inset_mm,
        b[1] + opts.inset_mm,
        b[2] - opts.inset_mm,
        b[3] - opts.inset_mm,
    );
    let nx = ((x1 - x0) / opts.step_mm).round() as usize;
    let ny = ((y1 - y0) / opts.step_mm).round() as usize;
    let (mut ink, mut faint, mut sum, mut n) = (0usize, 0usize, 0.0f64, 0usize);
    for j in 0..=ny {
        let y = y0 + (y1 - y0) * j as f64 / ny as f64;
        for i in 0..=nx {
            let x = x0 + (x1 - x0) * i as f64 / nx as f64;
            let v = sample(img, h.apply([x, y]));
            let d = ((paper - v) / range).clamp(0.0, 1.0);
            ink += (d >= opts.ink_level) as usize;
            faint += (d >= opts.faint_level) as usize;
            sum += d as f64;
            n += 1;
        }
    }
    let n = n.max(1) as f64;
    (ink as f64 / n, faint as f64 / n, sum / n)
}

/// Classifies a box from its measurements.
pub fn classify(coverage: f64, faint: f64, opts: &MarkOptions) -> (BoxState, f64) {
    if coverage >= opts.filled_min {
        let c = 0.9 + 0.1 * ramp(coverage, opts.filled_min, 0.95);
        return (BoxState::Filled, c);
    }
    if coverage > opts.marked_max {
        // Between a heavy mark and a fill.
        return (BoxState::UnsureFill, 0.5);
    }
    if coverage >= opts.marked_min {
        // Confidence grows with distance from both unsure bands.
        let lo = ramp(coverage, opts.marked_min, opts.marked_min * 2.0);
        let hi = ramp(opts.marked_max - coverage, 0.0, 0.1);
        return (BoxState::Marked, 0.9 + 0.1 * lo.min(hi));
    }
    if faint >= opts.light_min {
        // A light mark (pencil, pale pen): little ink passes the dark level but a clear stroke passes the faint one.
        return (BoxState::Marked, 0.92);
    }
    if coverage <= opts.empty_max && faint <= opts.faint_max {
        let c = 0.9
            + 0.1
                * ramp(opts.empty_max - coverage, 0.0, opts.empty_max).min(ramp(
                    opts.faint_max - faint,
                    0.0,
                    opts.faint_max,
                ));
        return (BoxState::Empty, c);
    }
    (BoxState::UnsureFaint, 0.5)
}

/// Reads a whole row: boxes, then the row rule (one mark → answer; none → skipped; several → ambiguous).
pub fn read_row(
    img: &GrayImage,
    boxes: &[(String, BoxMm, Homography)],
    row: &RowSpec,
    levels: &Levels,
    opts: &MarkOptions,
) -> RowReading {
    let readings: Vec<BoxReading> = boxes
        .iter()
        .map(|(id, b, h)| {
            let (coverage, faint, mean_dark) = read_box(img, h, *b, levels, opts);
            let (state, confidence) = classify(coverage, faint, opts);
            BoxReading {
                option: id.clone(),
                state,
                coverage,
                faint,
                mean_dark,
                confidence,
            }
        })
        .collect();
    decide_row(&row.id, readings, opts)
}

/// The row rule on classified boxes.
///
/// A fully inked box beside exactly one live mark is a cancellation (the printed instruction); a heavy box that is
/// the only ink in its row is how that citizen marks (filling or scribbling the box) and is the answer.
pub fn decide_row(row: &str, boxes: Vec<BoxReading>, opts: &MarkOptions) -> RowReading {
    let marked: Vec<&BoxReading> = boxes
        .iter()
        .filter(|b| b.state == BoxState::Marked)
        .collect();
    let heavy: Vec<&BoxReading> = boxes
        .iter()
        .filter(|b| matches!(b.state, BoxState::Filled | BoxState::UnsureFill))
        .collect();
    let faint = boxes.iter().any(|b| b.state == BoxState::UnsureFaint);
    let conf: f64 = boxes.iter().map(|b| b.confidence).product();
    let mut cancelled = vec![];
    let (choice, mut status, mut reason) = if marked.len() >= 2 {
        (None, RowStatus::NeedsReview, Some(RowReason::Ambiguous))
    } else if marked.len() == 1 {
        cancelled = heavy.iter().map(|b| b.option.clone()).collect();
        let choice = Some(marked[0].option.clone());
        if heavy.iter().any(|b| b.state == BoxState::UnsureFill) {
            // A scribble next to a tick: a second answer or a sloppy cancellation?
            (choice, RowStatus::NeedsReview, Some(RowReason::PartialFill))
        } else if faint {
            (choice, RowStatus::NeedsReview, Some(RowReason::FaintMark))
        } else {
            (choice, RowStatus::Accepted, None)
        }
    } else if heavy.len() >= 2 {
        (None, RowStatus::NeedsReview, Some(RowReason::Ambiguous))
    } else if heavy.len() == 1 {
        let choice = Some(heavy[0].option.clone());
        if faint {
            (choice, RowStatus::NeedsReview, Some(RowReason::FaintMark))
        } else {
            (choice, RowStatus::Accepted, None)
        }
    } else if faint {
        (None, RowStatus::NeedsReview, Some(RowReason::FaintMark))
    } else {
        (None, RowStatus::Accepted, None)
    };
    // Heavy boxes are classified with low confidence (mark vs. cancel); once the row rule has resolved their role
    // they do not lower the row's confidence.
    let conf = if status == RowStatus::Accepted {
        boxes
            .iter()
            .map(|b| {
                if b.state == BoxState::UnsureFill {
                    0.97
                } else {
                    b.confidence
                }
            })
            .product::<f64>()
    } else {
        conf
    };
    if status == RowStatus::Accepted && conf < opts.review_below {
        status = RowStatus::NeedsReview;
        reason = Some(RowReason::LowConfidence);
    }
    let confidence = if reason == Some(RowReason::Ambiguous) {
        0.0
    } else {
        conf
    };
    RowReading {
        row: row.to_string(),
        choice,
        confidence,
        status,
        reason,
        cancelled,
        boxes,
    }
}

/// Page-level check: when most rows hold no ink at all, marks may have been lost in scanning, so no row of the
/// page is trusted. Returns whether the page was flagged.
pub fn flag_sparse_page(rows: &mut [RowReading], opts: &MarkOptions) -> bool {
    let blank = rows
        .iter()
        .filter(|r| r.boxes.iter().all(|b| b.state == BoxState::Empty))
        .count();
    if blank < opts.max_blank_rows {
        return false;
    }
    for r in rows.iter_mut() {
        if r.status == RowStatus::Accepted {
            r.status = RowStatus::NeedsReview;
            r.reason = Some(RowReason::FewMarksOnPage);
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::Canvas;

    const LEVELS: Levels = Levels {
        paper: 250.0,
        ink: 10.0,
    };

    /// A 20 × 20 mm canvas at 200 dpi with one 5 mm box at (7.5, 7.5) and optional ink in it.
    fn boxed(draw: impl Fn(&mut Canvas)) -> (f64, f64) {
        let mut c = Canvas::new(20.0, 20.0, 200.0);
        c.stroke_rect([7.5, 7.5, 12.5, 12.5], 0.35, [0, 0, 0]);
        draw(&mut c);
        let g = image::DynamicImage::ImageRgb8(c.img).to_luma8();
        let h = Homography::scale(200.0 / 25.4);
        let (cov, faint, _) = read_box(
            &g,
            &h,
            [7.5, 7.5, 12.5, 12.5],
            &LEVELS,
            &MarkOptions::default(),
        );
        (cov, faint)
    }

    fn state(draw: impl Fn(&mut Canvas)) -> BoxState {
        let (c, f) = boxed(draw);
        classify(c, f, &MarkOptions::default()).0
    }

    #[test]
    fn empty_box_should_be_empty() {
        assert_eq!(state(|_| {}), BoxState::Empty);
    }

    #[test]
    fn tick_should_be_marked() {
        assert_eq!(
            state(|c| c.stroke(
                &[[8.5, 10.0], [9.8, 11.6], [12.0, 8.2]],
                0.45,
                [20, 40, 160],
                1.0
            )),
            BoxState::Marked
        );
    }

    #[test]
    fn cross_should_be_marked() {
        assert_eq!(
            state(|c| {
                c.stroke(&[[8.2, 8.2], [11.8, 11.8]], 0.5, [0, 0, 0], 1.0);
                c.stroke(&[[11.8, 8.2], [8.2, 11.8]], 0.5, [0, 0, 0], 1.0);
            }),
            BoxState::Marked
        );
    }

    #[test]
    fn dot_should_be_marked() {
        assert_eq!(
            state(|c| c.fill_disc([10.0, 10.0], 0.6, [0, 0, 0])),
            BoxState::Marked
        );
    }

    #[test]
    fn filled_box_should_be_cancelled() {
        assert_eq!(
            state(|c| c.fill_rect([7.6, 7.6, 12.4, 12.4], [30, 30, 30])),
            BoxState::Filled
        );
    }

    #[test]
    fn pencil_tick_should_be_marked() {
        let s = state(|c| {
            c.stroke(
                &[[8.5, 10.0], [9.8, 11.6], [12.0, 8.2]],
                0.55,
                [95, 95, 100],
                0.6,
            )
        });
        assert_eq!(s, BoxState::Marked);
    }

    #[test]
    fn light_pencil_tick_is_not_silently_empty() {
        let s = state(|c| {
            c.stroke(
                &[[8.5, 10.0], [9.8, 11.6], [12.0, 8.2]],
                0.4,
                [120, 120, 120],
                0.5,
            )
        });
        assert_ne!(s, BoxState::Empty);
    }

    #[test]
    fn ink_outside_the_box_does_not_count() {
        assert_eq!(
            state(|c| c.stroke(&[[1.0, 1.0], [6.5, 15.0]], 0.5, [0, 0, 0], 1.0)),
            BoxState::Empty
        );
    }

    fn br(o: &str, state: BoxState) -> BoxReading {
        BoxReading {
            option: o.into(),
            state,
            coverage: 0.0,
            faint: 0.0,
            mean_dark: 0.0,
            confidence: 0.99,
        }
    }

    #[test]
    fn two_marks_in_a_row_need_review_as_ambiguous() {
        let r = decide_row(
            "c1",
            vec![
                br("a", BoxState::Marked),
                br("b", BoxState::Marked),
                br("c", BoxState::Empty),
            ],
            &MarkOptions::default(),
        );
        assert_eq!(r.status, RowStatus::NeedsReview);
        assert_eq!(r.reason, Some(RowReason::Ambiguous));
    }

    #[test]
    fn cancelled_box_with_one_other_mark_answers_the_other() {
        let r = decide_row(
            "c1",
            vec![
                br("a", BoxState::Filled),
                br("b", BoxState::Empty),
                br("c", BoxState::Marked),
            ],
            &MarkOptions::default(),
        );
        assert_eq!(r.status, RowStatus::Accepted);
        assert_eq!(r.choice.as_deref(), Some("c"));
        assert_eq!(r.cancelled, vec!["a".to_string()]);
    }

    #[test]
    fn lone_filled_box_is_the_answer() {
        let r = decide_row(
            "c1",
            vec![
                br("a", BoxState::Empty),
                br("b", BoxState::Filled),
                br("c", BoxState::Empty),
            ],
            &MarkOptions::default(),
        );
        assert_eq!(r.status, RowStatus::Accepted);
        assert_eq!(r.choice.as_deref(), Some("b"));
    }

    #[test]
    fn two_filled_boxes_and_no_mark_need_review() {
        let r = decide_row(
            "c1",
            vec![
                br("a", BoxState::Filled),
                br("b", BoxState::Filled),
                br("c", BoxState::Empty),
            ],
            &MarkOptions::default(),
        );
        assert_eq!(r.status, RowStatus::NeedsReview);
    }

    #[test]
    fn page_with_mostly_blank_rows_goes_to_review() {
        let blank = || {
            vec![
                br("a", BoxState::Empty),
                br("b", BoxState::Empty),
                br("c", BoxState::Empty),
            ]
        };
        let mut rows: Vec<RowReading> = (0..10)
            .map(|i| {
                let boxes = if i < 4 {
                    vec![
                        br("a", BoxState::Marked),
                        br("b", BoxState::Empty),
                        br("c", BoxState::Empty),
                    ]
                } else {
                    blank()
                };
                decide_row("r", boxes, &MarkOptions::default())
            })
            .collect();
        assert!(flag_sparse_page(&mut rows, &MarkOptions::default()));
        assert!(rows.iter().all(|r| r.status == RowStatus::NeedsReview));
    }

    #[test]
    fn blank_row_is_an_accepted_skip() {
        let r = decide_row(
            "c1",
            vec![
                br("a", BoxState::Empty),
                br("b", BoxState::Empty),
                br("c", BoxState::Empty),
            ],
            &MarkOptions::default(),
        );
        assert_eq!(r.status, RowStatus::Accepted);
        assert_eq!(r.choice, None);
    }
}
