//! Checkbox reading: classifies each box as empty, marked or filled (cancelled) from its interior after
//! registration, relative to the page's own paper and ink levels, and turns each row into an answer with a
//! confidence and, when unsure, a specific review reason. Ink outside the boxes never makes an answer; a box that
//! cannot be seen, a stamp's ink, or pen ink beside the boxes of a blank row sends the row to a person.

use crate::forms::template::{BoxMm, RowSpec};
use crate::geom::Homography;
use crate::raster::sample;
use crate::read::load::HUE_SCALE;
use crate::read::register::Levels;
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
    /// Smallest connected piece of ink that counts as part of a stroke, mm² (halftone dots and specks are
    /// smaller; a 0.3 mm pen line 1 mm long is 0.3 mm²).
    pub min_stroke_mm2: f64,
    /// A dark mark must have one connected piece at least this long, mm (a pen dot is about 1 mm).
    pub min_mark_extent_mm: f64,
    /// A light (faint-only) mark must have one connected piece at least this long, mm...
    pub light_extent_mm: f64,
    /// ... filling at most this share of its bounding box: a stroke, not a round stain.
    pub light_fill_max: f64,
    /// Confidence every box of a row must have for the row to be accepted as skipped (chosen on the tuning sets
    /// synth 9191 and independent 7200: faint strokes lost in fax and 1-bit pages sit at 0.90–0.94).
    pub blank_min_confidence: f64,
    /// Rows answered plainly (a lone fill, or a lone stroke) needed to take the page's habit from them.
    pub habit_min_rows: usize,
    /// On a fill-habit page, faint coverage below which a doubtful box beside the row's clear fill is a stain.
    pub stain_max: f64,
    /// A page whose share of rows without any ink reaches this is suspicious (pencil lost in a 1-bit scan, a
    /// dropout colour, a wrong page): every row of it goes to review. A share, so forms of any length agree.
    pub max_blank_share: f64,
    /// On a 1-bit page, the width of the band (mm) a broken stroke's pieces must lie in: a line, not a patch.
    pub chain_width_mm: f64,
    /// ... the largest gap (mm) between its pieces along the band (a threshold or a fax's coarse lines leave a
    /// pencil line as dots up to about 2 mm apart) ...
    pub chain_gap_mm: f64,
    /// ... and the smallest share of the box's ink it must hold.
    pub chain_share_min: f64,
    /// Quiet boxes (empty, or only specks) a page needs before its speck level is taken from them.
    pub speck_min_boxes: usize,
    /// A speck-only box whose specks reach at most this multiple of the page's speck level is empty ...
    pub speck_factor: f64,
    /// ... up to this share of faint samples at most.
    pub speck_max: f64,
    /// Confidence of a box found empty against the page's speck level: enough for a row answered elsewhere,
    /// below [`MarkOptions::blank_min_confidence`], so a row of such boxes is never accepted as skipped.
    pub speck_confidence: f64,
    /// A sample of a colour page is red ink when its red excess ([`crate::read::load::Hue::red`]) reaches this.
    pub red_level: f32,
    /// A box in a stamp's area whose ink is at least this share red ink holds the stamp's ink, not a pen's: its
    /// row goes to a person.
    pub red_share_max: f64,
    /// A piece of red ink at least this wide and this tall (mm) is an office stamp (its ring or frame); a red
    /// pen's tick or writing is smaller on one side at least.
    pub stamp_min_mm: f64,
    /// A place on a box's printed outline shows when it is this dark against the local paper (a light 1-bit copy
    /// is descreened, which pales a one-pixel outline to a third of ink).
    pub outline_level: f32,
    /// A box whose outline shows at fewer than this share of its places is hidden (see `outline_seen`): its row
    /// goes to a person.
    pub outline_min: f64,
    /// A piece of ink at least this long (mm) in the blank paper around a box of a blank row is a pen's: the
    /// option circled or ticked beside its box.
    pub beside_min_mm: f64,
    /// On a colour page, ink this far from grey ([`crate::read::load::Hue::chroma`]) is a pen's, not the print's
    /// (black) or the paper's.
    pub pen_chroma: f32,
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
            filled_min: 0.95,
            marked_max: 0.7,
            faint_max: 0.04,
            light_min: 0.07,
            review_below: 0.9,
            min_stroke_mm2: 0.08,
            min_mark_extent_mm: 0.8,
            light_extent_mm: 2.0,
            light_fill_max: 0.55,
            blank_min_confidence: 0.96,
            habit_min_rows: 3,
            stain_max: 0.3,
            max_blank_share: 0.4,
            chain_width_mm: 0.5,
            chain_gap_mm: 2.0,
            chain_share_min: 0.6,
            speck_min_boxes: 12,
            speck_factor: 2.0,
            speck_max: 0.3,
            speck_confidence: 0.95,
            red_level: 60.0,
            red_share_max: 0.5,
            stamp_min_mm: 10.0,
            outline_level: 0.2,
            outline_min: 0.6,
            beside_min_mm: 1.5,
            pen_chroma: 80.0,
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
    /// Longest connected piece of ink in the box, mm (0 when only specks).
    pub stroke_mm: f64,
    /// On a 1-bit page, the length of the longest broken stroke (ink pieces in a thin line), mm; 0 when none.
    pub broken_mm: f64,
    /// Confidence of the classification, 0..1.
    pub confidence: f64,
    /// Share of interior samples that are ink, specks included.
    pub raw_coverage: f64,
    /// Share of interior samples that are at least faint ink, specks included.
    pub raw_faint: f64,
    /// Longest connected piece of faint-or-darker ink, mm.
    pub faint_mm: f64,
    /// The ink is part of a line crossing the box ([`BoxInk::line_through`]).
    pub line_through: bool,
    /// Share of the box's ink that is red ([`BoxInk::red_share`]).
    pub red_share: f64,
    /// Share of the box's outline that shows ([`BoxInk::outline_seen`]).
    pub outline_seen: f64,
}

impl BoxReading {
    /// A box's reading from its measurements.
    pub fn from_ink(option: &str, m: &BoxInk, opts: &MarkOptions) -> BoxReading {
        let (state, confidence) = classify(m, opts);
        BoxReading {
            option: option.to_string(),
            state,
            coverage: m.coverage,
            faint: m.faint,
            mean_dark: m.mean_dark,
            stroke_mm: m.ink_extent_mm.max(m.faint_extent_mm),
            broken_mm: m.broken_mm,
            confidence,
            raw_coverage: m.raw_coverage,
            raw_faint: m.raw_faint,
            faint_mm: m.faint_extent_mm,
            line_through: m.line_through,
            red_share: m.red_share,
            outline_seen: m.outline_seen,
        }
    }
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
    /// A line runs through a box and on beyond it (a stamp, a ruler line): it may not be the citizen's mark.
    LineThroughBox,
    /// A box under an office stamp holds its red ink.
    RedInk,
    /// A box's printed outline does not show: something lies over it, or the scan lost it.
    BoxHidden,
    /// No box is marked, but pen ink lies beside a box: an option circled, or ticked beside its box.
    InkBesideBox,
}

impl RowReason {
    /// The wire name written in results.
    pub fn as_str(self) -> &'static str {
        match self {
            RowReason::Ambiguous => "ambiguous",
            RowReason::FaintMark => "faint_mark",
            RowReason::PartialFill => "partial_fill",
            RowReason::LowConfidence => "low_confidence",
            RowReason::FewMarksOnPage => "few_marks_on_page",
            RowReason::LineThroughBox => "line_through_box",
            RowReason::RedInk => "red_ink",
            RowReason::BoxHidden => "box_hidden",
            RowReason::InkBesideBox => "ink_beside_box",
        }
    }
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

/// What the interior of one box holds, after specks too small to be pen strokes are set aside.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BoxInk {
    /// Fraction of interior samples that are dark ink, in components of at least [`MarkOptions::min_stroke_mm2`].
    pub coverage: f64,
    /// Fraction of interior samples that are at least faint ink, in such components.
    pub faint: f64,
    /// Mean darkness of the interior, 0..1.
    pub mean_dark: f64,
    /// Fraction of interior samples that are dark ink, specks included.
    pub raw_coverage: f64,
    /// Fraction of interior samples that are at least faint ink, specks included.
    pub raw_faint: f64,
    /// Largest extent (mm) of one connected piece of dark ink.
    pub ink_extent_mm: f64,
    /// Largest extent (mm) of one connected piece of faint-or-darker ink.
    pub faint_extent_mm: f64,
    /// How much of its bounding box that faint piece fills: a stroke (tick, cross) leaves most of it empty, a
    /// stain or smudge fills it.
    pub faint_fill: f64,
    /// On a 1-bit page, the length (mm) of the longest broken stroke: ink pieces, specks included, in a line (see
    /// `broken_stroke`); 0 when none or when the page is not 1-bit.
    pub broken_mm: f64,
    /// The box's ink is part of a line that runs on well beyond the box on two sides, one of them a side where
    /// the form prints nothing (see `line_through`): a stamp's ring, a ruler line, a fold, not a citizen's mark.
    pub line_through: bool,
    /// The share of the interior's ink samples that are a stamp's red ink ([`RedInk`]); 0 on grey and 1-bit
    /// pages and away from stamps.
    pub red_share: f64,
    /// The share of places along the box's printed outline where the outline shows (see `outline_seen`).
    pub outline_seen: f64,
}

/// One connected piece of a sample grid's mask.
#[derive(Debug, Clone, Copy)]
struct Piece {
    /// Samples in the piece.
    area: usize,
    /// Bounding box `[x0, y0, x1, y1]`, samples, inclusive.
    bbox: [usize; 4],
}

impl Piece {
    fn width(&self) -> usize {
        self.bbox[2] - self.bbox[0] + 1
    }

    fn height(&self) -> usize {
        self.bbox[3] - self.bbox[1] + 1
    }

    /// The bounding box's larger side, samples.
    fn side(&self) -> usize {
        self.width().max(self.height())
    }

    /// How much of its bounding box the piece fills.
    fn fill(&self) -> f64 {
        self.area as f64 / (self.width() * self.height()) as f64
    }
}

/// Connected pieces of `mask` on a `nx` × `ny` grid, 8-neighbour when `eight`, else 4-neighbour.
fn components(mask: &[bool], nx: usize, ny: usize, eight: bool) -> Vec<Piece> {
    let mut seen = vec![false; mask.len()];
    let mut out = vec![];
    let mut stack = vec![];
    for start in 0..mask.len() {
        if !mask[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let mut p = Piece {
            area: 0,
            bbox: [nx, ny, 0, 0],
        };
        while let Some(i) = stack.pop() {
            p.area += 1;
            let (x, y) = (i % nx, i / nx);
            let b = p.bbox;
            p.bbox = [b[0].min(x), b[1].min(y), b[2].max(x), b[3].max(y)];
            let mut push = |j: usize| {
                if mask[j] && !seen[j] {
                    seen[j] = true;
                    stack.push(j);
                }
            };
            // The four sides by hand: read_box labels two masks per box, and a 3 × 3 loop costs it a tenth.
            if x > 0 {
                push(i - 1);
            }
            if x + 1 < nx {
                push(i + 1);
            }
            if y > 0 {
                push(i - nx);
            }
            if y + 1 < ny {
                push(i + nx);
            }
            if eight {
                for (dx, dy) in [(-1i64, -1i64), (1, -1), (-1, 1), (1, 1)] {
                    let (xx, yy) = (x as i64 + dx, y as i64 + dy);
                    if xx >= 0 && yy >= 0 && (xx as usize) < nx && (yy as usize) < ny {
                        push(yy as usize * nx + xx as usize);
                    }
                }
            }
        }
        out.push(p);
    }
    out
}

/// The longest (mm) of `mask`'s 4-connected pieces, on a grid `step` mm apart, that hold a stroke's ink
/// ([`MarkOptions::min_stroke_mm2`]); 0 when none does.
fn longest_stroke_mm(mask: &[bool], nx: usize, ny: usize, step: f64, opts: &MarkOptions) -> f64 {
    let min_area = (opts.min_stroke_mm2 / (step * step)).round() as usize;
    components(mask, nx, ny, false)
        .into_iter()
        .filter(|c| c.area >= min_area)
        .map(|c| c.side() as f64 * step)
        .fold(0.0, f64::max)
}

/// A colour page's red ink ([`crate::read::load::Hue::red`]) and the areas (image px, `[x0, y0, x1, y1]`) where
/// office stamps lie on it.
#[derive(Debug, Clone)]
pub struct RedInk<'a> {
    /// Red excess, one pixel per [`HUE_SCALE`] × [`HUE_SCALE`] page pixels.
    pub plane: &'a GrayImage,
    /// Each stamp's bounding box, grown by 2 mm.
    pub stamps: Vec<[f64; 4]>,
}

impl<'a> RedInk<'a> {
    /// The stamps on `plane` (a page at `px_per_mm`): pieces of red ink, joined over 1 mm cells, at least
    /// [`MarkOptions::stamp_min_mm`] wide and tall. `None` when there is none, so a red pen is read as any pen.
    pub fn find(plane: &'a GrayImage, px_per_mm: f64, opts: &MarkOptions) -> Option<RedInk<'a>> {
        let scale = HUE_SCALE as f64;
        let cell = (px_per_mm / scale).round().max(1.0) as usize;
        let (w, h) = (plane.width() as usize, plane.height() as usize);
        let (nx, ny) = (w.div_ceil(cell), h.div_ceil(cell));
        let mut count = vec![0u16; nx * ny];
        let raw = plane.as_raw();
        let level = opts.red_level.clamp(0.0, 255.0) as u8;
        for (y, row) in raw.chunks_exact(w).enumerate() {
            let line = &mut count[(y / cell) * nx..(y / cell + 1) * nx];
            for (x, &v) in row.iter().enumerate() {
                if v >= level {
                    line[x / cell] += 1;
                }
            }
        }
        // Two red samples in a cell: a lone reddish pixel is a colour fringe or noise.
        let red: Vec<bool> = count.iter().map(|&c| c >= 2).collect();
        let grow = 2.0 * px_per_mm;
        let cell = cell as f64 * scale;
        let min_cells = opts.stamp_min_mm.round() as usize;
        let stamps: Vec<[f64; 4]> = components(&red, nx, ny, true)
            .into_iter()
            .filter(|c| c.width() >= min_cells && c.height() >= min_cells)
            .map(|Piece { bbox: b, .. }| {
                [
                    b[0] as f64 * cell - grow,
                    b[1] as f64 * cell - grow,
                    (b[2] + 1) as f64 * cell + grow,
                    (b[3] + 1) as f64 * cell + grow,
                ]
            })
            .collect();
        (!stamps.is_empty()).then_some(RedInk { plane, stamps })
    }

    /// Whether the image point `p` is red ink inside a stamp's area.
    fn at(&self, p: [f64; 2], opts: &MarkOptions) -> bool {
        self.stamps
            .iter()
            .any(|s| p[0] >= s[0] && p[0] <= s[2] && p[1] >= s[1] && p[1] <= s[3])
            && sample(
                self.plane,
                [p[0] / HUE_SCALE as f64, p[1] / HUE_SCALE as f64],
            ) >= opts.red_level
    }
}

/// Reads one box whose template outline is `b`, through `h`; `red` is a colour page's stamp ink, if it has any.
pub fn read_box(
    img: &GrayImage,
    red: Option<&RedInk>,
    h: &Homography,
    b: BoxMm,
    levels: &Levels,
    opts: &MarkOptions,
) -> BoxInk {
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
    let nx = ((x1 - x0) / opts.step_mm).round().max(1.0) as usize;
    let ny = ((y1 - y0) / opts.step_mm).round().max(1.0) as usize;
    let (gx, gy) = (nx + 1, ny + 1);
    let mut ink = vec![false; gx * gy];
    let mut faint = vec![false; gx * gy];
    let mut sum = 0.0f64;
    // How 1-bit the box looks: samples whose four nearest pixels are all pure black or white.
    let mut pure = 0usize;
    // Only a page whose levels are pure black and white can be a 1-bit page: elsewhere the count is not needed.
    let count_pure = levels.bilevel();
    let mut red_ink = 0usize;
    for j in 0..gy {
        let y = y0 + (y1 - y0) * j as f64 / ny as f64;
        for i in 0..gx {
            let x = x0 + (x1 - x0) * i as f64 / nx as f64;
            let p = h.apply([x, y]);
            let v = sample(img, p);
            let d = ((paper - v) / range).clamp(0.0, 1.0);
            ink[j * gx + i] = d >= opts.ink_level;
            faint[j * gx + i] = d >= opts.faint_level;
            if let Some(r) = red.filter(|_| d >= opts.ink_level) {
                red_ink += r.at(p, opts) as usize;
            }
            sum += d as f64;
            if count_pure {
                pure += nearest_pixels(img, p).iter().all(|&q| q <= 2 || q >= 253) as usize;
            }
        }
    }
    let n = (gx * gy) as f64;
    let ink_samples = ink.iter().filter(|&&v| v).count();
    let raw_coverage = ink_samples as f64 / n;
    let raw_faint = faint.iter().filter(|&&v| v).count() as f64 / n;
    let step = opts.step_mm;
    let min_area = (opts.min_stroke_mm2 / (step * step)).round() as usize;
    // Specks (halftone dots, scanner noise, toner) are not strokes: only pieces of a stroke's size count.
    let kept = |comps: &[Piece]| -> (usize, usize, f64) {
        let area: usize = comps
            .iter()
            .filter(|c| c.area >= min_area)
            .map(|c| c.area)
            .sum();
        let big = comps
            .iter()
            .filter(|c| c.area >= min_area)
            .max_by_key(|c| c.side());
        (
            area,
            big.map_or(0, |c| c.side()),
            big.map_or(0.0, |c| c.fill()),
        )
    };
    let (ink_area, ink_ext, _) = kept(&components(&ink, gx, gy, false));
    let (faint_area, faint_ext, faint_fill) = kept(&components(&faint, gx, gy, false));
    let faint_extent_mm = faint_ext as f64 * step;
    let n_samples = gx * gy;
    // A 1-bit page (or one resampled from 1-bit, as fax pages are): pure white paper, pure black print, and the box
    // almost all pure pixels. Only there are strokes cut into dots; a grey page's pencil is read as faint ink.
    let bilevel = pure * 100 >= n_samples * 90 && levels.bilevel();
    let broken_mm = if bilevel {
        broken_stroke(&faint, gx, gy, min_area, opts)
    } else {
        0.0
    };
    // Only ink enough to be read as a mark is worth following out of the box.
    let line_through = ink_area as f64 / n > opts.empty_max
        && line_through(img, h, b, paper, range, bilevel, opts);
    BoxInk {
        outline_seen: outline_seen(img, h, b, paper, range, opts),
        line_through,
        red_share: red_ink as f64 / ink_samples.max(1) as f64,
        coverage: ink_area as f64 / n,
        faint: faint_area as f64 / n,
        mean_dark: sum / n,
        raw_coverage,
        raw_faint,
        ink_extent_mm: ink_ext as f64 * step,
        faint_extent_mm,
        faint_fill,
        broken_mm,
    }
}

/// The share of places along box `b`'s printed outline where it shows: 6 places on each edge, away from the
/// corners, each the darkest sample across the edge within 0.6 mm (the fit's residual), dark against the local
/// `paper` as ink is. A box whose outline does not show is not seen: something lies over it (a sticky note, tape,
/// correction fluid, a folded corner) or the scan lost it, and its empty interior says nothing of a mark.
fn outline_seen(
    img: &GrayImage,
    h: &Homography,
    b: BoxMm,
    paper: f32,
    range: f32,
    opts: &MarkOptions,
) -> f64 {
    let mut seen = 0;
    for k in 0..6 {
        let t = 0.15 + 0.7 * k as f64 / 5.0;
        let (x, y) = (b[0] + t * (b[2] - b[0]), b[1] + t * (b[3] - b[1]));
        for (at, vertical) in [
            ([b[0], y], true),
            ([b[2], y], true),
            ([x, b[1]], false),
            ([x, b[3]], false),
        ] {
            // From the expected line outwards: the first dark enough sample settles the place.
            let shows = [0, 1, -1, 2, -2, 3, -3, 4, -4, 5, -5, 6, -6]
                .iter()
                .any(|&i| {
                    let off = i as f64 * 0.1;
                    let q = if vertical {
                        [at[0] + off, at[1]]
                    } else {
                        [at[0], at[1] + off]
                    };
                    // The darkest of the four pixels around: a light 1-bit copy keeps an outline as dots that
                    // interpolation would pale.
                    let v = nearest_pixels(img, h.apply(q))
                        .into_iter()
                        .min()
                        .unwrap_or(255) as f32;
                    (paper - v) / range >= opts.outline_level
                });
            seen += shows as usize;
        }
    }
    seen as f64 / 24.0
}

/// Whether the dark ink inside box `b` belongs to a line that leaves the box's surroundings on two sides, one of
/// them the left or the bottom: the sides where the form prints nothing near the box (its label is above and to
/// the right, the option's column rule 2.5 mm to the left). The surroundings reach 1.9 mm to the left (short of
/// the column rule) and 4 mm up, right and down; the box's own outline is left out. A tick's overrun leaves on
/// one side, usually the top or the right; a stamp's ring or a ruler line crosses the box and leaves on two.
fn line_through(
    img: &GrayImage,
    h: &Homography,
    b: BoxMm,
    paper: f32,
    range: f32,
    bilevel: bool,
    opts: &MarkOptions,
) -> bool {
    // A pen or stamp line is 0.4 mm or wider: a 0.25 mm grid keeps it connected.
    const STEP: f64 = 0.25;
    let (x0, y0, x1, y1) = (b[0] - 1.9, b[1] - 4.0, b[2] + 4.0, b[3] + 4.0);
    let nx = ((x1 - x0) / STEP).round() as usize + 1;
    let ny = ((y1 - y0) / STEP).round() as usize + 1;
    // On a grey or colour page, the darkest pixel of the sample's grid cell, not an interpolated value: a stamp's
    // inner ring or a fine pen line is a pixel wide, and interpolation between grid points would cut it into
    // dashes. A 1-bit page's grey is a field of dots that the darkest pixel would join into one piece.
    let mm = [h.apply([b[0], b[1]]), h.apply([b[2], b[1]])];
    let px_per_mm = (mm[1][0] - mm[0][0]).hypot(mm[1][1] - mm[0][1]) / (b[2] - b[0]).max(1e-6);
    let r = ((STEP * px_per_mm / 2.0).round() as i64).max(1);
    let raw = img.as_raw();
    let (w, hgt) = (img.width() as i64, img.height() as i64);
    let darkest = |p: [f64; 2]| -> f32 {
        if bilevel {
            return sample(img, p);
        }
        let (cx, cy) = (p[0].floor() as i64, p[1].floor() as i64);
        let mut v = 255u8;
        for yy in (cy - r).max(0)..=(cy + r).min(hgt - 1) {
            for xx in (cx - r).max(0)..=(cx + r).min(w - 1) {
                v = v.min(raw[(yy * w + xx) as usize]);
            }
        }
        v as f32
    };
    let dark = |x: f64, y: f64| {
        ((paper - darkest(h.apply([x, y]))) / range).clamp(0.0, 1.0) >= opts.ink_level
    };
    let within = |v: f64, lo: f64, hi: f64| v >= lo - 0.6 && v <= hi + 0.6;
    let edges = [(b[0], true), (b[2], true), (b[1], false), (b[3], false)];
    // The edge (index into `edges`) whose 0.6 mm band holds (x, y), if any.
    let on_edge = |x: f64, y: f64| -> Option<usize> {
        edges.iter().position(|&(e, vertical)| {
            let (along, across) = if vertical { (y, x) } else { (x, y) };
            let (lo, hi) = if vertical { (b[1], b[3]) } else { (b[0], b[2]) };
            (across - e).abs() <= 0.6 && within(along, lo, hi)
        })
    };
    // The printed outline is ink all round the box and would join every line to every side. Within 0.6 mm of it
    // a sample counts as ink only where a stroke crosses it: ink just inside and just outside, across the edge.
    // Up to 1.6 mm along the edge on each side, for a stroke (a stamp's ring) that crosses it at a slant down to
    // about 27°; samples on the outline's other edges are not evidence of a stroke. The answer depends only on the
    // edge and the place along it, so it is kept for the band's other samples across the edge.
    let crossing = |k: usize, along: f64| -> bool {
        let (e, vertical) = edges[k];
        let side = |off: f64| {
            (-4..=4).any(|m| {
                let s = m as f64 * 0.4;
                let (sx, sy) = if vertical {
                    (e + off, along + s)
                } else {
                    (along + s, e + off)
                };
                on_edge(sx, sy).is_none() && dark(sx, sy)
            })
        };
        side(-0.8) && side(0.8)
    };
    // Per edge, per grid place along it (row for the vertical edges, column for the others).
    let mut crossings: [Vec<Option<bool>>; 4] = [
        vec![None; ny],
        vec![None; ny],
        vec![None; nx],
        vec![None; nx],
    ];
    let inside =
        |x: f64, y: f64| x > b[0] + 0.6 && x < b[2] - 0.6 && y > b[1] + 0.6 && y < b[3] - 0.6;
    // Whether grid sample k is ink, worked out only when the flood asks: a tick's piece is a few hundred of the
    // grid's two thousand samples. 0: not known yet, 1: paper, 2: ink.
    let mut known = vec![0u8; nx * ny];
    let mut ink_at = |k: usize| -> bool {
        if known[k] == 0 {
            let (i, j) = (k % nx, k / nx);
            let (x, y) = (x0 + i as f64 * STEP, y0 + j as f64 * STEP);
            let is_ink = match on_edge(x, y) {
                Some(e) => {
                    let (at, along) = if edges[e].1 { (j, y) } else { (i, x) };
                    *crossings[e][at].get_or_insert_with(|| crossing(e, along))
                }
                None => dark(x, y),
            };
            known[k] = 1 + is_ink as u8;
        }
        known[k] == 2
    };
    let mut seeds = vec![];
    for j in 0..ny {
        let y = y0 + j as f64 * STEP;
        for i in 0..nx {
            if inside(x0 + i as f64 * STEP, y) && ink_at(j * nx + i) {
                seeds.push(j * nx + i);
            }
        }
    }
    // Flood from the ink inside the box (8-neighbour) and note which sides of the surroundings it reaches.
    let mut seen = vec![false; nx * ny];
    let mut stack = seeds;
    let mut sides = [false; 4]; // left, top, right, bottom
    while let Some(k) = stack.pop() {
        if seen[k] {
            continue;
        }
        seen[k] = true;
        let (i, j) = (k % nx, k / nx);
        sides[0] |= i == 0;
        sides[1] |= j == 0;
        sides[2] |= i == nx - 1;
        sides[3] |= j == ny - 1;
        for dj in -1i64..=1 {
            for di in -1i64..=1 {
                let (ii, jj) = (i as i64 + di, j as i64 + dj);
                if ii >= 0 && jj >= 0 && (ii as usize) < nx && (jj as usize) < ny {
                    let kk = jj as usize * nx + ii as usize;
                    if !seen[kk] && ink_at(kk) {
                        stack.push(kk);
                    }
                }
            }
        }
    }
    let n = sides.iter().filter(|&&v| v).count();
    n >= 2 && (sides[0] || sides[3])
}

/// The four pixels around `p` (bilinear sampling's neighbours), white outside the image.
fn nearest_pixels(img: &GrayImage, p: [f64; 2]) -> [u8; 4] {
    let (x, y) = ((p[0] - 0.5).floor() as i64, (p[1] - 0.5).floor() as i64);
    let at = |xx: i64, yy: i64| -> u8 {
        if xx < 0 || yy < 0 || xx >= img.width() as i64 || yy >= img.height() as i64 {
            255
        } else {
            img.get_pixel(xx as u32, yy as u32).0[0]
        }
    };
    [at(x, y), at(x + 1, y), at(x, y + 1), at(x + 1, y + 1)]
}

/// The longest broken stroke in `mask` (a `gx` × `gy` sample grid at `opts.step_mm`), mm; 0 when none.
///
/// A 1-bit threshold cuts a light or thin pen line into pieces that can lie a millimetre apart, too far to join by
/// growing them without joining speckle too. So the evidence is a line: over every direction (3° apart), the
/// band [`MarkOptions::chain_width_mm`] wide that holds the most ink. Along that band the pieces must follow each
/// other with gaps of at most [`MarkOptions::chain_gap_mm`] over at least [`MarkOptions::light_extent_mm`], hold
/// together a stroke's ink (`min_area` samples) and most of the box's ink ([`MarkOptions::chain_share_min`]:
/// speckle spreads over the box, a second stroke means a cross or two marks, which stay doubtful). A band along the
/// interior's edge is the printed outline bleeding in, not a pen.
fn broken_stroke(mask: &[bool], gx: usize, gy: usize, min_area: usize, opts: &MarkOptions) -> f64 {
    let step = opts.step_mm;
    let pts: Vec<(f64, f64)> = (0..mask.len())
        .filter(|&k| mask[k])
        .map(|k| ((k % gx) as f64, (k / gx) as f64))
        .collect();
    // A box this full is read by the other rules; a broken line is little ink.
    if pts.len() < min_area.max(1) || pts.len() * 4 > mask.len() {
        return 0.0;
    }
    let band = opts.chain_width_mm / step;
    let (mut best_n, mut best_theta, mut best_off) = (0usize, 0.0f64, 0.0f64);
    let mut proj = Vec::with_capacity(pts.len());
    for a in 0..60 {
        let theta = (a as f64 * 3.0).to_radians();
        let (nx, ny) = (-theta.sin(), theta.cos());
        proj.clear();
        proj.extend(pts.iter().map(|&(x, y)| x * nx + y * ny));
        proj.sort_by(|p, q| p.total_cmp(q));
        let mut lo = 0;
        for hi in 0..proj.len() {
            while proj[hi] - proj[lo] > band {
                lo += 1;
            }
            if hi + 1 - lo > best_n {
                best_n = hi + 1 - lo;
                best_theta = theta;
                best_off = (proj[hi] + proj[lo]) / 2.0;
            }
        }
    }
    // A band parallel to a side and near it is outline bleed.
    let deg = best_theta.to_degrees();
    let edge = 0.5 / step;
    let (w, h) = ((gx - 1) as f64, (gy - 1) as f64);
    let near_axis = |d: f64| d.abs() < 15.0 || (d - 180.0).abs() < 15.0;
    // Horizontal band (theta ~ 0): the offset is y; vertical band (theta ~ 90): the offset is -x.
    if near_axis(deg) && (best_off < edge || best_off > h - edge) {
        return 0.0;
    }
    if near_axis(deg - 90.0) && (-best_off < edge || -best_off > w - edge) {
        return 0.0;
    }
    let (nx, ny) = (-best_theta.sin(), best_theta.cos());
    let (tx, ty) = (best_theta.cos(), best_theta.sin());
    let mut along: Vec<f64> = pts
        .iter()
        .filter(|&&(x, y)| (x * nx + y * ny - best_off).abs() <= band / 2.0 + 1e-9)
        .map(|&(x, y)| x * tx + y * ty)
        .collect();
    along.sort_by(|p, q| p.total_cmp(q));
    // The longest run of pieces with no gap over chain_gap_mm: its length, ink and number of pieces (ink more than
    // 0.3 mm from the next along the band). Two pieces always lie on a line; three in a narrow band are a stroke.
    let gap = opts.chain_gap_mm / step;
    let split = 0.3 / step;
    let (mut best_len, mut best_ink, mut best_pieces) = (0.0f64, 0usize, 0usize);
    let (mut start, mut pieces) = (0, 1);
    for i in 0..along.len() {
        let end = i + 1 == along.len() || along[i + 1] - along[i] > gap;
        if end {
            let len = along[i] - along[start] + 1.0;
            if len > best_len {
                (best_len, best_ink, best_pieces) = (len, i + 1 - start, pieces);
            }
            (start, pieces) = (i + 1, 1);
        } else if along[i + 1] - along[i] > split {
            pieces += 1;
        }
    }
    let len_mm = best_len * step;
    let enough = best_ink >= min_area.max(1)
        && best_ink as f64 >= opts.chain_share_min * pts.len() as f64
        && best_pieces >= 3;
    if enough && len_mm >= opts.light_extent_mm {
        len_mm
    } else {
        0.0
    }
}

/// Classifies a box from its measurements.
pub fn classify(m: &BoxInk, opts: &MarkOptions) -> (BoxState, f64) {
    let (coverage, faint) = (m.coverage, m.faint);
    if coverage >= opts.filled_min {
        let c = 0.9 + 0.1 * ramp(coverage, opts.filled_min, 1.0);
        return (BoxState::Filled, c);
    }
    if coverage > opts.marked_max {
        // Between a heavy mark and a fill: a scribble, a partial fill.
        return (BoxState::UnsureFill, 0.5);
    }
    if coverage >= opts.marked_min && m.ink_extent_mm >= opts.min_mark_extent_mm {
        // Confidence grows with distance from both unsure bands.
        let lo = ramp(coverage, opts.marked_min, opts.marked_min * 2.0);
        let hi = ramp(opts.marked_max - coverage, 0.0, 0.1);
        return (BoxState::Marked, 0.9 + 0.1 * lo.min(hi));
    }
    if faint >= opts.light_min
        && m.faint_extent_mm >= opts.light_extent_mm
        && m.faint_fill <= opts.light_fill_max
    {
        // A light mark (pencil, pale pen): a long thin stroke that passes the faint level but little of the dark
        // one. A round faint blob is a stain, not a stroke, and falls through to doubtful below.
        return (BoxState::Marked, 0.92);
    }
    if m.broken_mm >= opts.light_extent_mm {
        // A 1-bit page's broken stroke: a light or thin pen line a threshold cut into dots, still a line.
        return (BoxState::Marked, 0.92);
    }
    // Empty is judged on all the ink, specks included: a stroke broken into dots by a 1-bit threshold must
    // not vanish. Specks only keep a box from counting as marked.
    let (coverage, faint) = (m.raw_coverage, m.raw_faint);
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
    red: Option<&RedInk>,
    boxes: &[(String, BoxMm, Homography)],
    row: &RowSpec,
    levels: &Levels,
    opts: &MarkOptions,
) -> RowReading {
    let readings: Vec<BoxReading> = boxes
        .iter()
        .map(|(id, b, h)| BoxReading::from_ink(id, &read_box(img, red, h, *b, levels, opts), opts))
        .collect();
    decide_row(&row.id, readings, PageHabit::Unknown, opts)
}

impl RowReading {
    /// The boxes that hold any ink at all.
    pub fn live_boxes(&self) -> Vec<&BoxReading> {
        self.boxes
            .iter()
            .filter(|b| b.state != BoxState::Empty)
            .collect()
    }
}

/// How the citizen marks answers on this page, from the rows that are plain to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PageHabit {
    /// Not enough plain rows to tell, or both styles.
    Unknown,
    /// Ticks, crosses, dots: a filled box is a cancellation.
    Tick,
    /// Every answer is a filled box: a fill is an answer, never a cancellation.
    Fill,
}

/// The page's habit: at least `min` rows answered by a lone clear fill and none by a lone stroke gives
/// [`PageHabit::Fill`]; the reverse gives [`PageHabit::Tick`].
pub fn page_habit(rows: &[RowReading], min: usize) -> PageHabit {
    let lone = |st: BoxState| {
        rows.iter()
            .filter(|r| {
                let live = r.live_boxes();
                live.len() == 1 && live[0].state == st
            })
            .count()
    };
    let (fills, ticks) = (lone(BoxState::Filled), lone(BoxState::Marked));
    if fills >= min && ticks == 0 {
        PageHabit::Fill
    } else if ticks >= min && fills == 0 {
        PageHabit::Tick
    } else {
        PageHabit::Unknown
    }
}

/// Whether a doubtful box holds nothing but specks: no ink piece of a stroke's size, no dark ink worth the name,
/// no faint piece as long as a pen dot, no broken stroke.
fn speck_only(b: &BoxReading, opts: &MarkOptions) -> bool {
    b.state == BoxState::UnsureFaint
        && b.coverage == 0.0
        && b.raw_coverage <= opts.empty_max
        && b.faint_mm < opts.min_mark_extent_mm
        && b.broken_mm == 0.0
}

/// The page's own speck level: on a page whose empty boxes are speckled (a halftone scan's dithered tint, toner
/// dust, paper grain), specks alone do not make a box doubtful. The level is the median share of faint samples
/// over the page's quiet boxes (empty or speck-only); where it is above [`MarkOptions::faint_max`], a speck-only
/// box within [`MarkOptions::speck_factor`] of it is empty, with [`MarkOptions::speck_confidence`], and its row is
/// decided again. Returns the level applied, `None` on a clean page (nothing changes).
pub fn apply_speck_level(rows: &mut [RowReading], opts: &MarkOptions) -> Option<f64> {
    let mut quiet: Vec<f64> = rows
        .iter()
        .flat_map(|r| &r.boxes)
        .filter(|b| b.state == BoxState::Empty || speck_only(b, opts))
        .map(|b| b.raw_faint)
        .collect();
    if quiet.len() < opts.speck_min_boxes {
        return None;
    }
    quiet.sort_by(|a, b| a.total_cmp(b));
    let level = quiet[quiet.len() / 2];
    if level <= opts.faint_max {
        return None;
    }
    let limit = (level * opts.speck_factor).min(opts.speck_max);
    for r in rows.iter_mut() {
        let mut boxes = std::mem::take(&mut r.boxes);
        let mut changed = false;
        for b in boxes.iter_mut() {
            if speck_only(b, opts) && b.raw_faint <= limit {
                b.state = BoxState::Empty;
                b.confidence = opts.speck_confidence;
                changed = true;
            }
        }
        if changed {
            *r = decide_row(&r.row, boxes, PageHabit::Unknown, opts);
        } else {
            r.boxes = boxes;
        }
    }
    Some(level)
}

/// Re-reads every row with the page's habit (see [`page_habit`]); returns the habit.
pub fn apply_page_habit(rows: &mut [RowReading], opts: &MarkOptions) -> PageHabit {
    let habit = page_habit(rows, opts.habit_min_rows);
    if habit != PageHabit::Unknown {
        for r in rows.iter_mut() {
            let boxes = std::mem::take(&mut r.boxes);
            *r = decide_row(&r.row, boxes, habit, opts);
        }
    }
    habit
}

/// The row rule on classified boxes.
///
/// A clear fill beside exactly one clearly live mark is a cancellation (the printed instruction), except on a
/// page where the citizen answers by filling boxes: there the row needs a person. A heavy box that is the only
/// ink in its row is the answer. A row is never accepted on a weak signal: a doubtful box anywhere in it sends
/// it to review, except on a fill-habit page where the doubt is a faint blob beside the row's one clear fill.
pub fn decide_row(
    row: &str,
    boxes: Vec<BoxReading>,
    habit: PageHabit,
    opts: &MarkOptions,
) -> RowReading {
    let marked: Vec<&BoxReading> = boxes
        .iter()
        .filter(|b| b.state == BoxState::Marked)
        .collect();
    let heavy: Vec<&BoxReading> = boxes
        .iter()
        .filter(|b| matches!(b.state, BoxState::Filled | BoxState::UnsureFill))
        .collect();
    let faint_boxes: Vec<&BoxReading> = boxes
        .iter()
        .filter(|b| b.state == BoxState::UnsureFaint)
        .collect();
    let faint = !faint_boxes.is_empty();
    // The row is as sure as its least sure box (a product would punish rows with more options).
    let conf: f64 = boxes.iter().map(|b| b.confidence).fold(1.0, f64::min);
    let mut cancelled = vec![];
    let (choice, mut status, mut reason) = if marked.len() >= 2 {
        (None, RowStatus::NeedsReview, Some(RowReason::Ambiguous))
    } else if marked.len() == 1 {
        cancelled = heavy.iter().map(|b| b.option.clone()).collect();
        let choice = Some(marked[0].option.clone());
        if heavy.iter().any(|b| b.state == BoxState::UnsureFill) {
            // A scribble next to a tick: a second answer or a sloppy cancellation?
            (choice, RowStatus::NeedsReview, Some(RowReason::PartialFill))
        } else if !heavy.is_empty() && habit == PageHabit::Fill {
            // This citizen answers by filling: the fill may be the answer and the stroke a slip.
            (None, RowStatus::NeedsReview, Some(RowReason::Ambiguous))
        } else if !heavy.is_empty() && marked[0].coverage < opts.marked_min * 2.0 {
            // A cancellation needs a clearly live mark beside it.
            (choice, RowStatus::NeedsReview, Some(RowReason::FaintMark))
        } else if faint {
            (choice, RowStatus::NeedsReview, Some(RowReason::FaintMark))
        } else {
            (choice, RowStatus::Accepted, None)
        }
    } else if heavy.len() >= 2 {
        (None, RowStatus::NeedsReview, Some(RowReason::Ambiguous))
    } else if heavy.len() == 1 {
        let choice = Some(heavy[0].option.clone());
        let stain_only = habit == PageHabit::Fill
            && heavy[0].state == BoxState::Filled
            && faint_boxes.iter().all(|b| b.faint < opts.stain_max);
        if faint && !stain_only {
            (choice, RowStatus::NeedsReview, Some(RowReason::FaintMark))
        } else {
            (choice, RowStatus::Accepted, None)
        }
    } else if faint {
        (None, RowStatus::NeedsReview, Some(RowReason::FaintMark))
    } else {
        (None, RowStatus::Accepted, None)
    };
    // Heavy boxes and stains the row rule has resolved do not lower an accepted row's confidence.
    let conf = if status == RowStatus::Accepted {
        boxes
            .iter()
            .map(|b| match b.state {
                BoxState::UnsureFill => 0.97,
                BoxState::UnsureFaint => 0.95,
                _ => b.confidence,
            })
            .fold(1.0, f64::min)
    } else {
        conf
    };
    // A box that cannot be seen says nothing: an empty-looking interior under a sticky note is not a blank.
    if status == RowStatus::Accepted && boxes.iter().any(|b| b.outline_seen < opts.outline_min) {
        status = RowStatus::NeedsReview;
        reason = Some(RowReason::BoxHidden);
    }
    // Ink that is part of a line crossing the box is not known to be a mark, whatever the row rule made of it.
    if status == RowStatus::Accepted
        && boxes
            .iter()
            .any(|b| b.line_through && b.state != BoxState::Empty)
    {
        status = RowStatus::NeedsReview;
        reason = Some(RowReason::LineThroughBox);
    }
    // A stamp's red ink in a box is not the citizen's mark, whatever the row rule made of it.
    if status == RowStatus::Accepted
        && boxes
            .iter()
            .any(|b| b.red_share >= opts.red_share_max && b.state != BoxState::Empty)
    {
        status = RowStatus::NeedsReview;
        reason = Some(RowReason::RedInk);
    }
    // A skipped row is a decision too: it needs every box clearly empty, not faint ink just under the line.
    if status == RowStatus::Accepted && choice.is_none() && conf < opts.blank_min_confidence {
        status = RowStatus::NeedsReview;
        reason = Some(RowReason::FaintMark);
    }
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

/// The longest piece of ink (mm) in the paper the form leaves blank around box `b` of a row whose band is
/// `band`: from 1.9 mm left of the box (short of the column rule) to 1.9 mm right of it or 0.5 mm short of its
/// label, whichever is nearer, and from 0.8 mm inside the row's rules, less the box and 0.7 mm around its outline.
/// A citizen who circles an option, or ticks beside its box, leaves ink there and none in the box.
pub fn ink_beside_box(
    img: &GrayImage,
    h: &Homography,
    b: BoxMm,
    label_at: [f64; 2],
    band: BoxMm,
    levels: &Levels,
    opts: &MarkOptions,
) -> f64 {
    const STEP: f64 = 0.2;
    let (x0, x1) = (b[0] - 1.9, (b[2] + 1.9).min(label_at[0] - 0.5));
    let (y0, y1) = (band[1] + 0.8, band[3] - 0.8);
    if x1 <= x0 || y1 <= y0 {
        return 0.0;
    }
    let nx = ((x1 - x0) / STEP).round() as usize + 1;
    let ny = ((y1 - y0) / STEP).round() as usize + 1;
    let near_box =
        |x: f64, y: f64| x > b[0] - 0.7 && x < b[2] + 0.7 && y > b[1] - 0.7 && y < b[3] + 0.7;
    let mut vals = vec![f32::NAN; nx * ny];
    for j in 0..ny {
        let y = y0 + j as f64 * STEP;
        for i in 0..nx {
            let x = x0 + i as f64 * STEP;
            if !near_box(x, y) {
                vals[j * nx + i] = sample(img, h.apply([x, y]));
            }
        }
    }
    let mut sorted: Vec<f32> = vals.iter().copied().filter(|v| !v.is_nan()).collect();
    if sorted.is_empty() {
        return 0.0;
    }
    sorted.sort_by(|a, b| a.total_cmp(b));
    // The zone is almost all paper: its bright typical level is the local paper, shading and tint included.
    let paper = sorted[sorted.len() * 4 / 5];
    let range = (levels.paper - levels.ink).max(40.0);
    let ink: Vec<bool> = vals
        .iter()
        .map(|&v| !v.is_nan() && (paper - v) / range >= opts.ink_level)
        .collect();
    longest_stroke_mm(&ink, nx, ny, STEP, opts)
}

/// On a colour page, the longest piece (mm) of pen-coloured ink ([`MarkOptions::pen_chroma`]) anywhere in a row's
/// options (from 1.9 mm left of the first box to the row's end, between its rules, less the boxes and 0.7 mm
/// around them): a tick on an option's printed label, which [`ink_beside_box`] cannot tell from the print.
pub fn pen_ink_in_row(
    img: &GrayImage,
    chroma: &GrayImage,
    h: &Homography,
    row: &RowSpec,
    levels: &Levels,
    opts: &MarkOptions,
) -> f64 {
    const STEP: f64 = 0.2;
    let Some(first) = row.options.iter().map(|o| o.bbox[0]).reduce(f64::min) else {
        return 0.0;
    };
    let (x0, x1) = (first - 1.9, row.band[2] - 0.8);
    let (y0, y1) = (row.band[1] + 0.8, row.band[3] - 0.8);
    if x1 <= x0 || y1 <= y0 {
        return 0.0;
    }
    let nx = ((x1 - x0) / STEP).round() as usize + 1;
    let ny = ((y1 - y0) / STEP).round() as usize + 1;
    let near_box = |x: f64, y: f64| {
        row.options.iter().any(|o| {
            let b = o.bbox;
            x > b[0] - 0.7 && x < b[2] + 0.7 && y > b[1] - 0.7 && y < b[3] + 0.7
        })
    };
    let range = (levels.paper - levels.ink).max(40.0);
    let scale = HUE_SCALE as f64;
    let mut ink = vec![false; nx * ny];
    for j in 0..ny {
        let y = y0 + j as f64 * STEP;
        for i in 0..nx {
            let x = x0 + i as f64 * STEP;
            if near_box(x, y) {
                continue;
            }
            let p = h.apply([x, y]);
            // Dark as ink and coloured: a pen. Black print has no colour; a tinted paper is not dark.
            ink[j * nx + i] = (levels.paper - sample(img, p)) / range >= opts.ink_level
                && sample(chroma, [p[0] / scale, p[1] / scale]) >= opts.pen_chroma;
        }
    }
    longest_stroke_mm(&ink, nx, ny, STEP, opts)
}

/// Rows accepted as skipped whose options hold pen ink beside their boxes ([`ink_beside_box`]) or, on a colour
/// page (`chroma`), pen-coloured ink anywhere ([`pen_ink_in_row`]) go to a person: the citizen answered, in a way
/// the form did not ask. `rows` and `readings` are in the same order.
pub fn flag_ink_beside_blank_rows(
    img: &GrayImage,
    chroma: Option<&GrayImage>,
    h: &Homography,
    rows: &[RowSpec],
    readings: &mut [RowReading],
    levels: &Levels,
    opts: &MarkOptions,
) {
    for (row, r) in rows.iter().zip(readings.iter_mut()) {
        if r.status != RowStatus::Accepted || r.choice.is_some() || !r.cancelled.is_empty() {
            continue;
        }
        let beside = row
            .options
            .iter()
            .map(|o| ink_beside_box(img, h, o.bbox, o.label_at, row.band, levels, opts))
            .fold(0.0, f64::max)
            .max(chroma.map_or(0.0, |c| pen_ink_in_row(img, c, h, row, levels, opts)));
        if beside >= opts.beside_min_mm {
            r.status = RowStatus::NeedsReview;
            r.reason = Some(RowReason::InkBesideBox);
        }
    }
}

/// Page-level check: when most rows hold no ink at all, marks may have been lost in scanning, so no row of the
/// page is trusted. Returns whether the page was flagged.
pub fn flag_sparse_page(rows: &mut [RowReading], opts: &MarkOptions) -> bool {
    let blank = rows
        .iter()
        .filter(|r| r.boxes.iter().all(|b| b.state == BoxState::Empty))
        .count();
    // Rows answered only by a barely-there mark: on a page that also has blank rows, they say that ink went
    // missing in the scan (a light pen under a 1-bit threshold leaves dots), so the blank rows may not be blank.
    let weak = rows
        .iter()
        .filter(|r| {
            let live = r.live_boxes();
            !live.is_empty()
                && live
                    .iter()
                    .all(|b| b.state == BoxState::Marked && b.coverage < 2.0 * opts.marked_min)
        })
        .count();
    // At least 2 rows, so a short form is not flagged for one skipped question.
    let limit = ((opts.max_blank_share * rows.len() as f64).ceil() as usize).max(2);
    if blank < limit && (blank < 2 || blank + weak < limit) {
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
    use crate::forms::render::Canvas;

    const LEVELS: Levels = Levels {
        paper: 250.0,
        ink: 10.0,
    };

    /// A 20 × 20 mm canvas at 200 dpi with one 5 mm box at (7.5, 7.5) and optional ink in it.
    fn boxed(draw: impl Fn(&mut Canvas)) -> BoxInk {
        let g = image::DynamicImage::ImageRgb8(box_canvas(draw).img).to_luma8();
        read_test_box(&g, None, &LEVELS)
    }

    /// The 20 × 20 mm canvas of [`boxed`]: its box and `draw`'s ink.
    fn box_canvas(draw: impl Fn(&mut Canvas)) -> Canvas {
        let mut c = Canvas::new(20.0, 20.0, 200.0);
        c.stroke_rect([7.5, 7.5, 12.5, 12.5], 0.35, [0, 0, 0]);
        draw(&mut c);
        c
    }

    /// Reads the box of [`box_canvas`] from its page `g`.
    fn read_test_box(g: &GrayImage, red: Option<&RedInk>, levels: &Levels) -> BoxInk {
        let h = Homography::scale(200.0 / 25.4);
        read_box(
            g,
            red,
            &h,
            [7.5, 7.5, 12.5, 12.5],
            levels,
            &MarkOptions::default(),
        )
    }

    fn state(draw: impl Fn(&mut Canvas)) -> BoxState {
        classify(&boxed(draw), &MarkOptions::default()).0
    }

    #[test]
    fn empty_box_should_be_empty() {
        assert_eq!(state(|_| {}), BoxState::Empty);
    }

    #[test]
    fn stamp_ring_through_a_box_is_a_line_not_a_mark() {
        // An arc of a stamp's ring (radius 16 mm, centre below left) entering the box on its left side and
        // leaving it at the bottom.
        let arc: Vec<[f64; 2]> = (0..=60)
            .map(|k| {
                let a = f64::to_radians(-10.0 - k as f64 * 1.5);
                [-2.0 + 16.0 * a.cos(), 22.0 + 16.0 * a.sin()]
            })
            .collect();
        let m = boxed(|c| c.stroke(&arc, 0.7, [200, 40, 50], 1.0));
        assert!(m.coverage > 0.05, "{m:?}");
        assert!(m.line_through, "{m:?}");
        let row = decide_row(
            "c1",
            vec![
                BoxReading::from_ink("a", &m, &MarkOptions::default()),
                br("b", BoxState::Empty),
            ],
            PageHabit::Unknown,
            &MarkOptions::default(),
        );
        assert_eq!(row.status, RowStatus::NeedsReview);
        assert_eq!(row.reason, Some(RowReason::LineThroughBox));
    }

    /// Points of a circle's arc (centre `c`, radius `r`) from `a0` to `a1` degrees, y down.
    fn arc(c: [f64; 2], r: f64, a0: f64, a1: f64) -> Vec<[f64; 2]> {
        (0..=80)
            .map(|k| {
                let a = (a0 + (a1 - a0) * k as f64 / 80.0).to_radians();
                [c[0] + r * a.cos(), c[1] + r * a.sin()]
            })
            .collect()
    }

    #[test]
    fn thin_inner_ring_of_a_stamp_across_the_box_is_a_line_not_a_mark() {
        // A stamp's inner ring: a pixel-wide light red line sagging through the box's lower half from edge to
        // edge. Interpolated samples on a 0.25 mm grid cut it into dashes that joined nothing.
        let m = boxed(|c| {
            c.stroke(
                &arc([10.0, -12.0], 23.5, 60.0, 120.0),
                0.2,
                [190, 70, 80],
                1.0,
            )
        });
        assert!(m.coverage > 0.012, "{m:?}");
        assert!(m.line_through, "{m:?}");
    }

    #[test]
    fn stamp_ring_leaving_the_box_at_a_slant_is_a_line_not_a_mark() {
        // A heavy ring through the box's lower right corner: in at the bottom, out through the right edge at 30° to
        // it, on up and to the right. Only within 0.6 mm along the edge did the crossing count.
        for w in [0.5, 0.7] {
            let m = boxed(|c| c.stroke(&[[8.2, 16.8], [16.2, 2.94]], w, [200, 40, 50], 1.0));
            assert!(m.coverage > 0.012, "{w}: {m:?}");
            assert!(m.line_through, "{w}: {m:?}");
        }
    }

    /// [`boxed`] on a colour page (its grey and red planes as the loader makes them) that lies under a stamp.
    fn boxed_colour(draw: impl Fn(&mut Canvas)) -> BoxInk {
        let c = box_canvas(draw);
        let (g, hue) = crate::read::load::to_planes(image::DynamicImage::ImageRgb8(c.img), false);
        let red = hue.unwrap().red;
        let stamp = RedInk {
            plane: &red,
            stamps: vec![[f64::MIN, f64::MIN, f64::MAX, f64::MAX]],
        };
        read_test_box(&g, Some(&stamp), &LEVELS)
    }

    /// The stamps [`RedInk::find`] finds on a 80 × 80 mm colour page at 200 dpi with `draw`'s ink.
    fn stamps_on(draw: impl Fn(&mut Canvas)) -> Vec<[f64; 4]> {
        let mut c = Canvas::new(80.0, 80.0, 200.0);
        draw(&mut c);
        let (_, hue) = crate::read::load::to_planes(image::DynamicImage::ImageRgb8(c.img), false);
        let red = hue.unwrap().red;
        RedInk::find(&red, 200.0 / 25.4, &MarkOptions::default()).map_or(vec![], |r| r.stamps)
    }

    #[test]
    fn a_stamps_ring_is_found_and_a_red_pens_ticks_and_writing_are_not() {
        const RED: [u8; 3] = [200, 45, 60];
        let ring = stamps_on(|c| c.stroke(&arc([40.0, 40.0], 18.0, 0.0, 360.0), 0.8, RED, 1.0));
        assert_eq!(ring.len(), 1, "{ring:?}");
        let px = 200.0 / 25.4;
        // The ring's 36 mm, grown by 2 mm on each side, give or take a cell.
        let w = (ring[0][2] - ring[0][0]) / px;
        assert!((39.0..=42.5).contains(&w), "{w}");
        let pen = stamps_on(|c| {
            for k in 0..4 {
                let y = 10.0 + 15.0 * k as f64;
                c.stroke(
                    &[[20.0, y], [21.5, y + 2.0], [25.0, y - 3.0]],
                    0.5,
                    RED,
                    1.0,
                );
            }
            // A code written along a line: long, but a line's height.
            c.stroke(
                &[[5.0, 72.0], [75.0, 70.0], [5.0, 75.0], [75.0, 74.0]],
                0.5,
                RED,
                1.0,
            );
        });
        assert!(pen.is_empty(), "{pen:?}");
        let blue = stamps_on(|c| {
            c.stroke(
                &arc([40.0, 40.0], 18.0, 0.0, 360.0),
                0.8,
                [40, 60, 170],
                1.0,
            )
        });
        assert!(blue.is_empty(), "{blue:?}");
    }

    #[test]
    fn stamp_letter_in_an_empty_box_goes_to_a_person() {
        // The bowl and stem of a stamp's bold "Đ": red ink, a stroke's width, wholly inside the box's surroundings.
        let m = boxed_colour(|c| {
            c.stroke(&[[9.0, 8.5], [9.0, 13.5]], 0.9, [200, 45, 60], 1.0);
            c.stroke(&arc([9.0, 11.0], 2.5, -90.0, 90.0), 0.9, [200, 45, 60], 1.0);
        });
        assert!(m.red_share > 0.9, "{m:?}");
        let row = decide_row(
            "c1",
            vec![
                br("a", BoxState::Empty),
                br("b", BoxState::Empty),
                BoxReading::from_ink("c", &m, &MarkOptions::default()),
            ],
            PageHabit::Unknown,
            &MarkOptions::default(),
        );
        assert_eq!(row.status, RowStatus::NeedsReview);
        assert_eq!(row.reason, Some(RowReason::RedInk));
    }

    #[test]
    fn blue_and_black_ticks_on_a_colour_page_are_not_red_ink() {
        for ink in [[20, 40, 160], [30, 30, 30], [60, 20, 120]] {
            let m =
                boxed_colour(|c| c.stroke(&[[8.5, 10.0], [9.8, 11.6], [12.0, 8.2]], 0.5, ink, 1.0));
            assert_eq!(m.red_share, 0.0, "{ink:?}: {m:?}");
            assert_eq!(classify(&m, &MarkOptions::default()).0, BoxState::Marked);
        }
    }

    /// Paints `b` (mm) opaquely with `rgb`, as a sticky note or correction tape hides what is under it.
    fn cover(c: &mut Canvas, b: BoxMm, rgb: [u8; 3]) {
        let s = c.px_per_mm;
        for y in (b[1] * s) as u32..(b[3] * s) as u32 {
            for x in (b[0] * s) as u32..(b[2] * s) as u32 {
                c.img.put_pixel(x, y, image::Rgb(rgb));
            }
        }
    }

    #[test]
    fn box_under_a_sticky_note_is_hidden_not_blank() {
        let clean = boxed(|_| {});
        assert_eq!(clean.outline_seen, 1.0, "{clean:?}");
        for note in [[252, 240, 140], [250, 200, 215], [253, 253, 250]] {
            let m = boxed(|c| cover(c, [5.0, 5.5, 16.0, 14.0], note));
            assert_eq!(m.outline_seen, 0.0, "{note:?}: {m:?}");
            let row = decide_row(
                "c1",
                vec![
                    BoxReading::from_ink("a", &m, &MarkOptions::default()),
                    br("b", BoxState::Empty),
                    br("c", BoxState::Empty),
                ],
                PageHabit::Unknown,
                &MarkOptions::default(),
            );
            assert_eq!(row.status, RowStatus::NeedsReview, "{note:?}");
            assert_eq!(row.reason, Some(RowReason::BoxHidden), "{note:?}");
        }
    }

    #[test]
    fn box_half_under_a_note_is_hidden_and_one_with_a_corner_under_it_is_seen() {
        let half = boxed(|c| cover(c, [5.0, 5.0, 10.3, 15.0], [252, 240, 140]));
        assert!(
            half.outline_seen < MarkOptions::default().outline_min,
            "{half:?}"
        );
        let corner = boxed(|c| cover(c, [5.0, 5.0, 8.3, 8.3], [252, 240, 140]));
        assert!(
            corner.outline_seen >= MarkOptions::default().outline_min,
            "{corner:?}"
        );
    }

    /// [`ink_beside_box`] for the box of [`boxed`] in a 15 mm row band (2.5 to 17.5 mm), its label at
    /// (14.5, 5.5): a canvas with the box, two lines of label text (bars) and `draw`'s ink.
    fn beside(draw: impl Fn(&mut Canvas)) -> f64 {
        let mut c = Canvas::new(30.0, 20.0, 200.0);
        c.stroke_rect([7.5, 7.5, 12.5, 12.5], 0.35, [0, 0, 0]);
        c.stroke(&[[0.0, 2.5], [30.0, 2.5]], 0.3, [0, 0, 0], 1.0);
        c.stroke(&[[0.0, 17.5], [30.0, 17.5]], 0.3, [0, 0, 0], 1.0);
        c.stroke(&[[5.0, 2.5], [5.0, 17.5]], 0.3, [0, 0, 0], 1.0);
        c.fill_rect([14.5, 5.8, 27.0, 7.6], [30, 30, 30]);
        c.fill_rect([14.5, 9.3, 24.0, 11.1], [30, 30, 30]);
        draw(&mut c);
        let g = image::DynamicImage::ImageRgb8(c.img).to_luma8();
        ink_beside_box(
            &g,
            &Homography::scale(200.0 / 25.4),
            [7.5, 7.5, 12.5, 12.5],
            [14.5, 5.5],
            [5.0, 2.5, 30.0, 17.5],
            &LEVELS,
            &MarkOptions::default(),
        )
    }

    #[test]
    fn a_blank_rows_box_has_no_ink_beside_it() {
        assert_eq!(beside(|_| {}), 0.0);
        // Specks and a smudge of toner are not a pen's.
        assert!(
            beside(|c| {
                c.fill_disc([6.5, 5.0], 0.1, [60, 60, 60]);
                c.fill_disc([11.0, 15.5], 0.12, [60, 60, 60]);
            }) < MarkOptions::default().beside_min_mm
        );
    }

    #[test]
    fn an_option_circled_or_ticked_beside_its_box_leaves_ink_beside_it() {
        let circle = beside(|c| {
            c.stroke(
                &arc([15.0, 10.0], 8.5, 0.0, 360.0),
                0.45,
                [25, 45, 160],
                1.0,
            )
        });
        assert!(circle >= MarkOptions::default().beside_min_mm, "{circle}");
        let tick = beside(|c| {
            c.stroke(
                &[[8.0, 14.0], [9.2, 15.5], [12.0, 13.2]],
                0.45,
                [25, 45, 160],
                1.0,
            )
        });
        assert!(tick >= MarkOptions::default().beside_min_mm, "{tick}");
    }

    /// [`pen_ink_in_row`] on a colour canvas with one row (band 2.5–17.5 mm) of one option: its box, its label
    /// printed in black (two bars of text) and `draw`'s ink.
    fn pen_in_row(draw: impl Fn(&mut Canvas)) -> f64 {
        let mut c = Canvas::new(40.0, 20.0, 200.0);
        c.stroke_rect([7.5, 7.5, 12.5, 12.5], 0.35, [0, 0, 0]);
        c.fill_rect([14.5, 5.8, 33.0, 7.6], [20, 20, 20]);
        c.fill_rect([14.5, 9.3, 30.0, 11.1], [20, 20, 20]);
        draw(&mut c);
        let (g, hue) = crate::read::load::to_planes(image::DynamicImage::ImageRgb8(c.img), false);
        let row = RowSpec {
            id: "c1".into(),
            number: Some(1),
            label: String::new(),
            band: [5.0, 2.5, 38.0, 17.5],
            options: vec![crate::forms::template::OptionSpec {
                id: "a".into(),
                label: "Tốt".into(),
                score: 2,
                bbox: [7.5, 7.5, 12.5, 12.5],
                label_at: [14.5, 5.5],
            }],
        };
        pen_ink_in_row(
            &g,
            &hue.unwrap().chroma,
            &Homography::scale(200.0 / 25.4),
            &row,
            &LEVELS,
            &MarkOptions::default(),
        )
    }

    #[test]
    fn a_blue_tick_on_the_printed_label_is_pen_ink_and_the_print_is_not() {
        assert_eq!(pen_in_row(|_| {}), 0.0);
        let tick = pen_in_row(|c| {
            c.stroke(
                &[[18.0, 8.0], [19.2, 9.8], [22.5, 5.0]],
                0.45,
                [25, 45, 160],
                1.0,
            )
        });
        assert!(tick >= MarkOptions::default().beside_min_mm, "{tick}");
        // The same tick in black is print-coloured: only its shape beside a box could tell it.
        let black = pen_in_row(|c| {
            c.stroke(
                &[[18.0, 8.0], [19.2, 9.8], [22.5, 5.0]],
                0.45,
                [20, 20, 25],
                1.0,
            )
        });
        assert_eq!(black, 0.0);
    }

    #[test]
    fn tick_overrunning_up_and_right_is_not_a_line_through() {
        for end in [[15.5, 4.0], [17.0, 6.0], [11.0, 3.0]] {
            let m = boxed(|c| c.stroke(&[[8.5, 10.0], [9.8, 11.6], end], 0.5, [20, 40, 160], 1.0));
            assert!(!m.line_through, "{end:?}: {m:?}");
            assert_eq!(classify(&m, &MarkOptions::default()).0, BoxState::Marked);
        }
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
            // Typical measurements of each state.
            coverage: match state {
                BoxState::Empty | BoxState::UnsureFaint => 0.0,
                BoxState::Marked => 0.2,
                BoxState::UnsureFill => 0.8,
                BoxState::Filled => 1.0,
            },
            faint: 0.0,
            mean_dark: 0.0,
            stroke_mm: 3.0,
            broken_mm: 0.0,
            confidence: 0.99,
            raw_coverage: 0.0,
            raw_faint: 0.0,
            faint_mm: 0.0,
            line_through: false,
            red_share: 0.0,
            outline_seen: 1.0,
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
            PageHabit::Unknown,
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
            PageHabit::Unknown,
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
            PageHabit::Unknown,
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
            PageHabit::Unknown,
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
                decide_row("r", boxes, PageHabit::Unknown, &MarkOptions::default())
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
            PageHabit::Unknown,
            &MarkOptions::default(),
        );
        assert_eq!(r.status, RowStatus::Accepted);
        assert_eq!(r.choice, None);
    }

    #[test]
    fn fill_beside_a_tick_on_a_fill_answering_page_needs_review() {
        let r = decide_row(
            "c1",
            vec![
                br("a", BoxState::Filled),
                br("b", BoxState::Marked),
                br("c", BoxState::Empty),
            ],
            PageHabit::Fill,
            &MarkOptions::default(),
        );
        assert_eq!(r.status, RowStatus::NeedsReview);
        assert_eq!(r.reason, Some(RowReason::Ambiguous));
    }

    #[test]
    fn scribble_beside_a_tick_needs_review() {
        let r = decide_row(
            "c1",
            vec![
                br("a", BoxState::UnsureFill),
                br("b", BoxState::Marked),
                br("c", BoxState::Empty),
            ],
            PageHabit::Tick,
            &MarkOptions::default(),
        );
        assert_eq!(r.status, RowStatus::NeedsReview);
        assert_eq!(r.reason, Some(RowReason::PartialFill));
    }

    /// A doubtful box holding only specks, `share` of its samples faint.
    fn specks(o: &str, share: f64) -> BoxReading {
        BoxReading {
            coverage: 0.0,
            raw_faint: share,
            confidence: 0.5,
            faint_mm: 0.3,
            ..br(o, BoxState::UnsureFaint)
        }
    }

    /// Ten rows; row `i` has a clear mark in box `a` unless `blank_row == Some(i)`, and specks elsewhere.
    fn speckled_page(share: f64, blank_row: Option<usize>) -> Vec<RowReading> {
        (0..10)
            .map(|i| {
                let first = if blank_row == Some(i) {
                    specks("a", share)
                } else {
                    br("a", BoxState::Marked)
                };
                let boxes = vec![first, specks("b", share), specks("c", share * 0.8)];
                decide_row("r", boxes, PageHabit::Unknown, &MarkOptions::default())
            })
            .collect()
    }

    #[test]
    fn dithered_tint_in_every_empty_box_does_not_make_them_doubtful() {
        let o = MarkOptions::default();
        let mut rows = speckled_page(0.12, Some(4));
        assert!(rows.iter().all(|r| r.status == RowStatus::NeedsReview));
        assert!(apply_speck_level(&mut rows, &o).is_some());
        for (i, r) in rows.iter().enumerate() {
            if i == 4 {
                // Nothing but specks: never accepted as a skipped question.
                assert_eq!(r.status, RowStatus::NeedsReview, "{r:?}");
            } else {
                assert_eq!(r.status, RowStatus::Accepted, "{r:?}");
                assert_eq!(r.choice.as_deref(), Some("a"));
                assert!(r.confidence >= o.review_below && r.confidence < 1.0);
            }
        }
    }

    #[test]
    fn specks_stand_out_on_a_clean_page_and_a_dot_is_never_a_speck() {
        let o = MarkOptions::default();
        // A clean page: the one speckled box is still doubtful.
        let mut rows: Vec<RowReading> = (0..10)
            .map(|i| {
                let b = if i == 0 {
                    specks("b", 0.12)
                } else {
                    br("b", BoxState::Empty)
                };
                let boxes = vec![br("a", BoxState::Marked), b, br("c", BoxState::Empty)];
                decide_row("r", boxes, PageHabit::Unknown, &o)
            })
            .collect();
        assert!(apply_speck_level(&mut rows, &o).is_none());
        assert_eq!(rows[0].reason, Some(RowReason::FaintMark));
        // A speckled page, but one box holds a faint piece as long as a pen dot, or far more specks than the rest.
        let mut rows = speckled_page(0.1, None);
        rows[2].boxes[1].faint_mm = 1.0;
        rows[3].boxes[1].raw_faint = 0.25;
        let again = |r: &RowReading| decide_row("r", r.boxes.clone(), PageHabit::Unknown, &o);
        rows[2] = again(&rows[2]);
        rows[3] = again(&rows[3]);
        apply_speck_level(&mut rows, &o);
        assert_eq!(rows[2].status, RowStatus::NeedsReview);
        assert_eq!(rows[3].status, RowStatus::NeedsReview);
        assert_eq!(rows[5].status, RowStatus::Accepted);
    }

    #[test]
    fn a_page_of_lone_fills_has_the_fill_habit() {
        let rows: Vec<RowReading> = (0..4)
            .map(|_| {
                let boxes = vec![
                    br("a", BoxState::Filled),
                    br("b", BoxState::Empty),
                    br("c", BoxState::Empty),
                ];
                decide_row("r", boxes, PageHabit::Unknown, &MarkOptions::default())
            })
            .collect();
        assert_eq!(page_habit(&rows, 3), PageHabit::Fill);
    }

    #[test]
    fn specks_should_not_make_a_mark() {
        // A halftone-like pattern of isolated one-sample dots over the whole box.
        let s = state(|c| {
            for i in 0..12 {
                for j in 0..12 {
                    c.fill_disc(
                        [8.0 + i as f64 * 0.35, 8.0 + j as f64 * 0.35],
                        0.04,
                        [0, 0, 0],
                    );
                }
            }
        });
        assert_ne!(s, BoxState::Marked);
    }

    /// The box of [`boxed`] on a 1-bit page: the canvas thresholded at half grey, read with pure levels.
    fn boxed_1bit(draw: impl Fn(&mut Canvas)) -> BoxInk {
        let mut g = image::DynamicImage::ImageRgb8(box_canvas(draw).img).to_luma8();
        for p in g.pixels_mut() {
            p.0[0] = if p.0[0] < 128 { 0 } else { 255 };
        }
        let levels = Levels {
            paper: 255.0,
            ink: 0.0,
        };
        read_test_box(&g, None, &levels)
    }

    /// Dots of `r` mm along the segment `a`–`b`, `every` mm apart (a pen line a 1-bit threshold cut up).
    fn dots(c: &mut Canvas, a: [f64; 2], b: [f64; 2], every: f64, r: f64) {
        let len = ((b[0] - a[0]).powi(2) + (b[1] - a[1]).powi(2)).sqrt();
        let n = (len / every).floor() as usize;
        for i in 0..=n {
            let t = i as f64 * every / len;
            c.fill_disc(
                [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])],
                r,
                [0, 0, 0],
            );
        }
    }

    #[test]
    fn a_slash_broken_into_dots_on_a_1bit_page_is_marked() {
        let m = boxed_1bit(|c| dots(c, [8.6, 11.4], [11.4, 8.6], 0.9, 0.13));
        // Each dot is a speck, so only the broken-stroke evidence can make it a mark.
        assert!(m.coverage < MarkOptions::default().marked_min, "{m:?}");
        assert!(m.broken_mm >= 2.0, "{m:?}");
        assert_eq!(classify(&m, &MarkOptions::default()).0, BoxState::Marked);
    }

    #[test]
    fn scattered_specks_on_a_1bit_page_are_not_a_mark() {
        let m = boxed_1bit(|c| {
            // A fixed scatter of 12 specks over the interior.
            let mut x = 7u64;
            for _ in 0..12 {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let (u, v) = ((x >> 33) % 1000, (x >> 13) % 1000);
                let p = [8.4 + 3.2 * u as f64 / 1000.0, 8.4 + 3.2 * v as f64 / 1000.0];
                c.fill_disc(p, 0.13, [0, 0, 0]);
            }
        });
        assert_eq!(m.broken_mm, 0.0, "{m:?}");
        assert_ne!(classify(&m, &MarkOptions::default()).0, BoxState::Marked);
    }

    #[test]
    fn dots_along_the_outline_are_bleed_not_a_mark() {
        let m = boxed_1bit(|c| dots(c, [8.4, 8.35], [11.6, 8.35], 0.6, 0.12));
        assert_eq!(m.broken_mm, 0.0, "{m:?}");
        assert_ne!(classify(&m, &MarkOptions::default()).0, BoxState::Marked);
    }

    #[test]
    fn two_dashes_are_not_a_broken_stroke() {
        // Two pieces always lie on some line: they are doubtful, not a stroke.
        let m = boxed_1bit(|c| {
            c.fill_disc([8.8, 11.2], 0.2, [0, 0, 0]);
            c.fill_disc([11.2, 8.8], 0.2, [0, 0, 0]);
        });
        assert_eq!(m.broken_mm, 0.0, "{m:?}");
        assert_eq!(
            classify(&m, &MarkOptions::default()).0,
            BoxState::UnsureFaint
        );
    }

    #[test]
    fn the_same_dots_on_a_grey_page_are_not_read_as_a_broken_stroke() {
        // Grey paper and print levels: the 1-bit rule does not apply.
        let m = boxed(|c| dots(c, [8.6, 11.4], [11.4, 8.6], 0.9, 0.13));
        assert_eq!(m.broken_mm, 0.0, "{m:?}");
    }

    #[test]
    fn round_faint_stain_should_be_doubtful_not_marked() {
        let s = state(|c| c.fill_disc([10.0, 10.0], 1.3, [200, 200, 200]));
        assert_eq!(s, BoxState::UnsureFaint);
    }

    mod invariants {
        use super::super::*;
        use proptest::prelude::*;

        fn arb_ink() -> impl Strategy<Value = BoxInk> {
            // Mix the cases that matter: empty, specks, faint blobs, strokes, scribbles and fills.
            (
                0.0f64..1.0,
                0.0f64..1.0,
                0.0f64..0.3,
                0.0f64..4.0,
                0.0f64..4.0,
                0.0f64..2.0,
                prop_oneof![Just(0.0f64), 0.0f64..5.0],
            )
                .prop_map(|(c, f, specks, ie, fe, fw, broken)| {
                    let coverage = c * c;
                    let faint = (coverage + f * (1.0 - coverage) * 0.5).min(1.0);
                    BoxInk {
                        coverage,
                        faint,
                        mean_dark: faint * 0.6,
                        raw_coverage: (coverage + specks * 0.2).min(1.0),
                        raw_faint: (faint + specks).min(1.0),
                        ink_extent_mm: if coverage > 0.0 { ie } else { 0.0 },
                        faint_extent_mm: if faint > 0.0 { fe.max(ie) } else { 0.0 },
                        faint_fill: fw / 2.0,
                        // A broken stroke is made of ink, specks included.
                        broken_mm: if specks > 0.0 || coverage > 0.0 {
                            broken
                        } else {
                            0.0
                        },
                        line_through: false,
                        red_share: 0.0,
                        outline_seen: 1.0,
                    }
                })
        }

        fn habit() -> impl Strategy<Value = PageHabit> {
            prop_oneof![
                Just(PageHabit::Unknown),
                Just(PageHabit::Tick),
                Just(PageHabit::Fill)
            ]
        }

        fn row(inks: &[BoxInk], habit: PageHabit) -> RowReading {
            let o = MarkOptions::default();
            let boxes = inks
                .iter()
                .zip(["a", "b", "c", "d"])
                .map(|(m, id)| BoxReading::from_ink(id, m, &o))
                .collect();
            decide_row("r", boxes, habit, &o)
        }

        proptest! {
            #[test]
            fn an_accepted_choice_rests_on_real_ink(inks in prop::collection::vec(arb_ink(), 2..=4), h in habit()) {
                let o = MarkOptions::default();
                let r = row(&inks, h);
                if r.status == RowStatus::Accepted {
                    prop_assert!(r.confidence >= o.review_below);
                    match &r.choice {
                        Some(c) => {
                            let b = r.boxes.iter().find(|b| &b.option == c).unwrap();
                            prop_assert!(matches!(b.state, BoxState::Marked | BoxState::Filled | BoxState::UnsureFill));
                            let light = b.faint >= o.light_min && b.stroke_mm >= o.light_extent_mm;
                            let broken = b.broken_mm >= o.light_extent_mm;
                            prop_assert!(b.coverage >= o.marked_min || light || broken, "{b:?}");
                        }
                        // A skipped row is accepted only when no box holds doubtful ink.
                        None => prop_assert!(r.boxes.iter().all(|b| b.state == BoxState::Empty)),
                    }
                }
            }

            #[test]
            fn a_cancellation_needs_a_clear_fill_and_a_clearly_live_mark(inks in prop::collection::vec(arb_ink(), 2..=4), h in habit()) {
                let o = MarkOptions::default();
                let r = row(&inks, h);
                if r.status == RowStatus::Accepted && !r.cancelled.is_empty() {
                    prop_assert!(h != PageHabit::Fill);
                    for c in &r.cancelled {
                        let b = r.boxes.iter().find(|b| &b.option == c).unwrap();
                        prop_assert_eq!(b.state, BoxState::Filled);
                        prop_assert!(b.coverage >= o.filled_min);
                    }
                    let chosen = r.boxes.iter().find(|b| Some(&b.option) == r.choice.as_ref()).unwrap();
                    prop_assert_eq!(chosen.state, BoxState::Marked);
                    prop_assert!(chosen.coverage >= 2.0 * o.marked_min);
                }
            }

            #[test]
            fn a_weak_signal_never_decides_an_accepted_row(inks in prop::collection::vec(arb_ink(), 2..=4), h in habit()) {
                let r = row(&inks, h);
                let doubtful = r.boxes.iter().any(|b| b.state == BoxState::UnsureFaint);
                let live = r.boxes.iter().filter(|b| b.state == BoxState::Marked).count();
                if r.status == RowStatus::Accepted {
                    prop_assert!(live <= 1);
                    if doubtful {
                        // Only a fill-habit page's clear fill may stand beside a faint blob.
                        prop_assert_eq!(h, PageHabit::Fill);
                        let chosen = r.boxes.iter().find(|b| Some(&b.option) == r.choice.as_ref()).unwrap();
                        prop_assert_eq!(chosen.state, BoxState::Filled);
                    }
                }
            }

            #[test]
            fn two_pieces_of_ink_are_never_a_broken_stroke(
                a in (0usize..34, 0usize..34, 1usize..4),
                b in (0usize..34, 0usize..34, 1usize..4),
            ) {
                // Two specks or dashes anywhere: they always lie on a line, so a line needs a third piece.
                let (gx, gy) = (36, 36);
                let mut mask = vec![false; gx * gy];
                for (x, y, s) in [a, b] {
                    for j in y..(y + s).min(gy) {
                        for i in x..(x + s).min(gx) {
                            mask[j * gx + i] = true;
                        }
                    }
                }
                prop_assert_eq!(broken_stroke(&mask, gx, gy, 8, &MarkOptions::default()), 0.0);
            }
        }
    }
}
