//! Registration: finds the corner markers on a page, fits the template-mm → image-px transform (homography from
//! four markers, affine from three), undoes rotation, skew and scale, then checks and refines the fit against
//! the page itself (the printed table rules) before anything is read.
//!
//! Outcome is a value: a verified [`Registration`], a blank page, or not one of our forms.

use crate::forms::template::Template;
use crate::geom::{dist, Homography, Pt};
use crate::raster::{downsample, sample};
use image::{GrayImage, ImageBuffer, Luma};
use serde::Serialize;

/// Tunables for registration.
#[derive(Debug, Clone)]
pub struct RegisterOptions {
    /// Resolution of the working image used to find markers, px/mm.
    pub work_px_per_mm: f64,
    /// A pixel is ink when darker than this fraction of its local paper level.
    pub dark_ratio: f64,
    /// Pages with less ink than this fraction of their area are blank.
    pub blank_ink_fraction: f64,
    /// Largest acceptable residual after refinement, mm.
    pub max_residual_mm: f64,
    /// Smallest and largest plausible scan scale, px/mm.
    pub scale_range: (f64, f64),
    /// The fallback for pages with only two markers left.
    pub two_markers: TwoMarkerOptions,
}

/// Where a form's corner markers are: what registration looks for before it knows which form it has. Taken
/// from the templates ([`MarkerLayout::of`]); forms that share a layout share one search.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MarkerLayout {
    /// Centres of the `tl`, `tr`, `bl`, `br` markers, template mm.
    pub centers: [Pt; 4],
    /// Side of a square marker (and diameter of the disc), mm.
    pub size: f64,
    /// Which marker is the disc that tells the orientation (index into `tl`, `tr`, `bl`, `br`).
    pub disc: usize,
    /// Page size, mm.
    pub page_mm: [f64; 2],
}

impl Default for MarkerLayout {
    /// The layout of the center's forms: 7 mm markers 14 mm in from the corners of A4, the disc bottom right.
    fn default() -> Self {
        MarkerLayout {
            centers: [[14.0, 14.0], [196.0, 14.0], [14.0, 283.0], [196.0, 283.0]],
            size: 7.0,
            disc: 3,
            page_mm: [210.0, 297.0],
        }
    }
}

impl MarkerLayout {
    /// A template's markers; `None` unless it has exactly the four corners with one disc and equal sizes
    /// (template validation refuses other files).
    pub fn of(t: &Template) -> Option<MarkerLayout> {
        let mut centers = [[0.0; 2]; 4];
        let mut disc = None;
        for (i, id) in MARKER_IDS.iter().enumerate() {
            let m = t.markers.iter().find(|m| m.id == *id)?;
            centers[i] = m.center;
            if m.shape == "disc" {
                disc = disc.xor(Some(i)).or(Some(usize::MAX));
            }
        }
        let size = t.markers.first()?.size;
        let disc = disc.filter(|&d| d < 4)?;
        t.markers
            .iter()
            .all(|m| (m.size - size).abs() < 1e-9)
            .then_some(MarkerLayout {
                centers,
                size,
                disc,
                page_mm: t.page_mm,
            })
    }

    /// The distinct layouts of a set of templates, in template order.
    pub fn distinct(templates: &[Template]) -> Vec<MarkerLayout> {
        let mut out: Vec<MarkerLayout> = vec![];
        for l in templates.iter().filter_map(MarkerLayout::of) {
            if !out.contains(&l) {
                out.push(l);
            }
        }
        out
    }

    fn center(&self) -> Pt {
        [self.page_mm[0] / 2.0, self.page_mm[1] / 2.0]
    }

    fn short_mm(&self) -> f64 {
        self.page_mm[0].min(self.page_mm[1])
    }
}

impl Default for RegisterOptions {
    fn default() -> Self {
        RegisterOptions {
            work_px_per_mm: 1.5,
            dark_ratio: 0.6,
            blank_ink_fraction: 0.002,
            max_residual_mm: 0.5,
            scale_range: (2.5, 30.0),
            two_markers: TwoMarkerOptions::default(),
        }
    }
}

/// How the transform was fitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FitKind {
    /// Homography from four markers.
    Homography4,
    /// Affine from three markers (one corner folded, stapled or cut off).
    Affine3,
    /// Similarity from two markers, chosen by the printed table ([`register_two_markers`]).
    Similarity2,
    /// Homography from the corners of the ruled table, no marker left ([`register_from_table`]).
    Table,
}

impl FitKind {
    /// The wire name written in results.
    pub fn as_str(self) -> &'static str {
        match self {
            FitKind::Homography4 => "homography4",
            FitKind::Affine3 => "affine3",
            FitKind::Similarity2 => "similarity2",
            FitKind::Table => "table",
        }
    }
}

/// Paper and ink grey levels of a page.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Levels {
    /// Typical paper grey.
    pub paper: f32,
    /// Grey of solid print (the markers).
    pub ink: f32,
}

impl Levels {
    /// Pure white paper and pure black print: a 1-bit scan (or one resampled from 1-bit, as fax pages are).
    pub fn bilevel(&self) -> bool {
        self.paper >= 253.0 && self.ink <= 2.0
    }

    /// The contrast (share of paper-to-ink) a printed rule must reach across its profile. A 1-bit threshold
    /// cuts a 0.3 mm rule into dots, so averaged along it the rule is paler there than on a grey page, where
    /// a paler line would be a letter stroke or a shadow (chosen on the tuning sets independent 7200 and 7800).
    fn rule_contrast(&self) -> f32 {
        if self.bilevel() {
            0.2
        } else {
            0.35
        }
    }
}

/// A fitted, verified mapping from template mm to image px.
#[derive(Debug, Clone, Serialize)]
pub struct Registration {
    /// The marker layout that fitted (only templates with this layout can be the page's form).
    pub layout: MarkerLayout,
    /// Template mm → image px (after refinement).
    pub h: Homography,
    /// The marker-only fit before refinement.
    pub h_markers: Homography,
    /// Page rotation in the image, one of 0, 90, 180, 270 (clockwise).
    pub rotation: u32,
    /// Residual skew after removing `rotation`, degrees.
    pub skew_deg: f64,
    /// Scale, px per template mm (≈ dpi/25.4 × printer scale).
    pub px_per_mm: f64,
    /// Markers used.
    pub markers_found: Vec<String>,
    /// Fit kind.
    pub fit: FitKind,
    /// Paper and ink levels.
    pub levels: Levels,
    /// Probe residuals after refinement.
    pub check: FitCheck,
    /// The markers were found only after closing gaps in the ink (scanline dropout, strokes broken by a 1-bit
    /// threshold): text on this page may have lost strokes too.
    pub gaps_closed: bool,
}

impl Registration {
    /// A fit not yet checked against the rules ([`verify`] sets `h` and `check`).
    fn unverified(
        layout: &MarkerLayout,
        h: Homography,
        markers_found: Vec<String>,
        fit: FitKind,
        levels: Levels,
        gaps_closed: bool,
    ) -> Registration {
        let (rotation, skew_deg) = rotation_of(&h, layout);
        Registration {
            layout: layout.clone(),
            h,
            h_markers: h,
            rotation,
            skew_deg,
            px_per_mm: h.local_scale(layout.center()),
            markers_found,
            fit,
            levels,
            check: FitCheck::default(),
            gaps_closed,
        }
    }
}

/// The verification of a fit against the printed table rules.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FitCheck {
    /// Probes that found a rule.
    pub probes_found: usize,
    /// Probes attempted.
    pub probes_total: usize,
    /// Inliers used for the refinement.
    pub inliers: usize,
    /// Root mean square residual of inliers, mm.
    pub rms_mm: f64,
    /// Largest inlier residual, mm.
    pub max_mm: f64,
    /// Largest correction the refinement applied at a checkbox corner, mm.
    pub correction_mm: f64,
    /// Vertical table rules found along at least 30% of the rows ...
    pub columns_found: usize,
    /// ... of this many.
    pub columns_total: usize,
    /// Whether the fit passed.
    pub ok: bool,
}

/// What registration made of a page.
#[derive(Debug, Clone)]
pub enum RegisterOutcome {
    /// Markers found and the fit computed (verification is a separate step: [`verify`]).
    Registered(Box<Registration>),
    /// No ink to speak of.
    Blank {
        /// Fraction of ink pixels.
        ink_fraction: f64,
    },
    /// No marker configuration, but the page carries a large ruled table like ours (corners cut off or folded).
    MarkersMissing {
        /// Why.
        reason: String,
    },
    /// Ink but no marker configuration.
    NotAForm {
        /// Why.
        reason: String,
    },
}

#[derive(Debug, Clone)]
struct Blob {
    /// Full-resolution centre, px (coarse until refined).
    c: Pt,
    /// Full-resolution side estimate, px.
    size: f64,
    /// Full-resolution area, px².
    area: f64,
    /// area / (π r_max²): 1 for a disc, 0.64 for a square.
    roundness: f64,
    /// The blob touches the image's edge: part of it may be cut off, which makes a disc less round.
    clipped: bool,
}

struct Work {
    img: GrayImage,
    /// The form's short side, mm (what the image's short side is taken to span).
    short_mm: f64,
    factor: u32,
    bg_block: u32,
    bg: Vec<f32>,
    bw: u32,
}

fn work_image(img: &GrayImage, short_mm: f64, opts: &RegisterOptions) -> Work {
    // Assume the short side is roughly the form's width to pick the working scale; markers are found at any
    // scale.
    let short = img.width().min(img.height()) as f64;
    let f = ((short / short_mm) / opts.work_px_per_mm).floor().max(1.0) as u32;
    let small = downsample(img, f);
    let block = 24u32;
    let (w, h) = small.dimensions();
    let bw = w.div_ceil(block);
    let bh = h.div_ceil(block);
    let mut bg = vec![255f32; (bw * bh) as usize];
    let raw = small.as_raw();
    for by in 0..bh {
        for bx in 0..bw {
            let mut hist = [0u32; 256];
            let mut n = 0;
            for y in by * block..((by + 1) * block).min(h) {
                for x in bx * block..((bx + 1) * block).min(w) {
                    hist[raw[(y * w + x) as usize] as usize] += 1;
                    n += 1;
                }
            }
            let target = (n as f64 * 0.85) as u32;
            let mut c = 0;
            let mut v = 255;
            for (i, &k) in hist.iter().enumerate() {
                c += k;
                if c > target {
                    v = i;
                    break;
                }
            }
            bg[(by * bw + bx) as usize] = v as f32;
        }
    }
    // Ink-heavy blocks under-estimate paper; take the brightest neighbour.
    let mut bg2 = bg.clone();
    for by in 0..bh as i64 {
        for bx in 0..bw as i64 {
            let mut m = 0f32;
            for dy in -1..=1 {
                for dx in -1..=1 {
                    let (x, y) = (bx + dx, by + dy);
                    if x >= 0 && y >= 0 && x < bw as i64 && y < bh as i64 {
                        m = m.max(bg[(y * bw as i64 + x) as usize]);
                    }
                }
            }
            bg2[(by * bw as i64 + bx) as usize] = m;
        }
    }
    Work {
        img: small,
        short_mm,
        factor: f,
        bg_block: block,
        bg: bg2,
        bw,
    }
}

/// Finds the markers of one of `layouts` (the templates' marker layouts, [`MarkerLayout::distinct`]; the
/// default layout when empty) and fits the transform. Does not read anything.
pub fn register(
    img: &GrayImage,
    layouts: &[MarkerLayout],
    opts: &RegisterOptions,
) -> RegisterOutcome {
    let default = [MarkerLayout::default()];
    let layouts = if layouts.is_empty() {
        &default[..]
    } else {
        layouts
    };
    // The working scale assumes the smallest form fills the short side; markers are found at any scale.
    let short_mm = smallest_short_side(layouts).unwrap_or(210.0);
    let work = work_image(img, short_mm, opts);
    let (mask, inner) = ink_mask(&work, opts);
    let (blobs, content, grid_mm) = find_blobs(&work, &mask);
    // Blank backs: no ink worth the name once the scanner background (touching the image border) and dust
    // (specks under ~2.5 mm) are set aside.
    let ink_fraction = content as f64 / inner.max(1) as f64;
    if ink_fraction < opts.blank_ink_fraction {
        return RegisterOutcome::Blank { ink_fraction };
    }
    let fit_any = |blobs: &[Blob]| {
        layouts
            .iter()
            .filter_map(|l| fit_markers(blobs, l, opts).map(|(cost, f)| (cost, f, l)))
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .and_then(|(_, f, l)| refit(img, blobs, f, l).map(|f| (f, l)))
    };
    let mut fitted = fit_any(&blobs);
    let mut blobs = blobs;
    let mut gaps_closed = false;
    if fitted.is_none() {
        // Scanline dropout and broken 1-bit strokes cut markers into stripes: close gaps of up to two working
        // pixels (about 1.3 mm, a third of the quiet zone) and try again. Only failing pages pay for it.
        let closed =
            imageproc::morphology::close(&mask, imageproc::distance_transform::Norm::LInf, 1);
        let (b2, _, _) = find_blobs(&work, &closed);
        if let Some(f) = fit_any(&b2) {
            fitted = Some(f);
            blobs = b2;
            gaps_closed = true;
        }
    }
    // Without markers, look for the ruled table at a resolution where its 0.3 mm rules survive (only on such
    // pages, so the cost is not paid on normal forms).
    let grid_mm = if fitted.is_none() {
        let fine = RegisterOptions {
            work_px_per_mm: 4.0,
            ..opts.clone()
        };
        let work4 = work_image(img, short_mm, &fine);
        let (mask4, _) = ink_mask(&work4, &fine);
        grid_mm.max(find_blobs(&work4, &mask4).2)
    } else {
        grid_mm
    };
    registration_from(
        img,
        &work,
        fitted,
        blobs.len(),
        grid_mm,
        ink_fraction,
        gaps_closed,
    )
}

/// The short side of the smallest form among `layouts`, mm (what the working scale assumes the image spans).
fn smallest_short_side(layouts: &[MarkerLayout]) -> Option<f64> {
    layouts.iter().map(|l| l.short_mm()).reduce(f64::min)
}

/// Tunables of the two-marker fallback ([`register_two_markers`]).
#[derive(Debug, Clone)]
pub struct TwoMarkerOptions {
    /// Layout score (fraction of the table's horizontal rules found where the fit says) the best fit needs.
    pub min_layout: f64,
    /// A different fit scoring within this much of the best makes the page ambiguous: no fit.
    pub margin: f64,
    /// Two fits agree when they put the page centre within this many mm of each other.
    pub same_fit_mm: f64,
}

impl Default for TwoMarkerOptions {
    fn default() -> Self {
        TwoMarkerOptions {
            min_layout: 0.6,
            margin: 0.3,
            same_fit_mm: 3.0,
        }
    }
}

/// Registration from two markers, for a page that lost the other two: cut off by a scanner's frame or a fax's
/// narrower width, folded, stapled or torn. Two markers give a similarity (rotation, one scale, shift); among
/// every pair of marker-like blobs and every pair of marker places, the fit kept is the one under which one of
/// `templates` finds its printed table rules where the fit puts them, and only when no fit that disagrees comes
/// close. The page then goes through identification and [`verify`] like any other: the table rules refine the
/// fit to an affine one, and a page whose rules do not confirm it is read only as proposals for a person.
///
/// `None` when no such fit exists or two disagreeing fits are both plausible.
pub fn register_two_markers(
    img: &GrayImage,
    templates: &[Template],
    opts: &RegisterOptions,
) -> Option<Registration> {
    let two = &opts.two_markers;
    let layouts = MarkerLayout::distinct(templates);
    let short_mm = smallest_short_side(&layouts)?;
    let work = work_image(img, short_mm, opts);
    let (mask, _) = ink_mask(&work, opts);
    let (mut blobs, _, _) = find_blobs(&work, &mask);
    // Markers cut into stripes by a threshold or scanline dropout come back whole once small gaps are closed;
    // keep both sets, the closed ones only where they add a blob.
    let closed = imageproc::morphology::close(&mask, imageproc::distance_transform::Norm::LInf, 1);
    for b in find_blobs(&work, &closed).0 {
        if !blobs
            .iter()
            .any(|a| dist(a.c, b.c) < a.size.max(b.size) * 0.5)
        {
            blobs.push(b);
        }
    }
    let mut fits: Vec<(f64, f64, Registration)> = vec![];
    for layout in &layouts {
        let forms: Vec<&Template> = templates
            .iter()
            .filter(|t| MarkerLayout::of(t).as_ref() == Some(layout))
            .collect();
        for (i, bi) in blobs.iter().enumerate() {
            for (j, bj) in blobs.iter().enumerate() {
                if i == j {
                    continue;
                }
                // Every unordered pair of marker places; the blob loops give both orders.
                for (a, b) in (0..4).flat_map(|a| (a + 1..4).map(move |b| (a, b))) {
                    let src = [layout.centers[a], layout.centers[b]];
                    let Some(h) = Homography::similarity_from_2(&src, &[bi.c, bj.c]) else {
                        continue;
                    };
                    if plausibility(&h, &[bi, bj], &[a, b], layout, opts).is_none() {
                        continue;
                    }
                    let fit = (
                        h,
                        vec![MARKER_IDS[a].to_string(), MARKER_IDS[b].to_string()],
                        FitKind::Similarity2,
                        vec![i, j],
                    );
                    let Some(fit) = refit(img, &blobs, fit, layout) else {
                        continue;
                    };
                    let (h, ids, kind, _) = fit;
                    let levels = page_levels(img, &work, &h, &ids, layout);
                    let reg = Registration::unverified(layout, h, ids, kind, levels, false);
                    let (score, columns) = forms
                        .iter()
                        .map(|t| (layout_score(img, &reg, t), column_score(img, &reg, t)))
                        .fold((0.0, 0.0), |a, b| if b.0 > a.0 { b } else { a });
                    fits.push((score, columns, reg));
                }
            }
        }
    }
    // The horizontal rules cannot tell a fit from one moved along the rows, or from two markers turned half a
    // page (the table sits near the page's middle); the vertical rules can.
    let fits = near_best(fits, |f| f.1);
    choose_by_table(fits.into_iter().map(|(s, _, r)| (s, r)).collect(), two)
}

/// Keeps the candidates whose `key` (a share of probes found) is within 0.25 of the best one's.
fn near_best<T>(fits: Vec<T>, key: impl Fn(&T) -> f64) -> Vec<T> {
    let best = fits.iter().map(&key).fold(0.0, f64::max);
    fits.into_iter().filter(|f| key(f) >= best - 0.25).collect()
}

/// The fit under which a known table is found best, unless it is too weak or a fit that disagrees with it
/// (another rotation, layout or place) scores within the margin.
fn choose_by_table(
    mut fits: Vec<(f64, Registration)>,
    two: &TwoMarkerOptions,
) -> Option<Registration> {
    fits.sort_by(|x, y| y.0.total_cmp(&x.0));
    let (best, rest) = fits.split_first()?;
    if best.0 < two.min_layout {
        return None;
    }
    let centre = |r: &Registration| {
        let c = r.layout.center();
        let p = r.h.apply(c);
        [p[0] / r.px_per_mm, p[1] / r.px_per_mm]
    };
    let rival = rest.iter().any(|(score, r)| {
        *score > best.0 - two.margin
            && (r.rotation != best.1.rotation
                || r.layout != best.1.layout
                || dist(centre(r), centre(&best.1)) > two.same_fit_mm)
    });
    (!rival).then(|| best.1.clone())
}

/// Registration from the ruled table alone, for a page that lost every marker (a landscape scan cut to a fax's
/// width, all four corners folded or trimmed). The table is the largest ruled grid on the page (at least
/// [`TABLE_MIN_MM`] on its short side, enclosing cells); its four outer corners, taken in each of the four
/// quarter turns, are fitted to each known template's table, and the fit kept is chosen as for two markers
/// ([`register_two_markers`]). [`verify`] then checks and refines it against every rule, so a wrong corner
/// leaves the page unverified, to a person.
pub fn register_from_table(
    img: &GrayImage,
    templates: &[Template],
    opts: &RegisterOptions,
) -> Option<Registration> {
    let layouts = MarkerLayout::distinct(templates);
    let short_mm = smallest_short_side(&layouts)?;
    let fine = RegisterOptions {
        work_px_per_mm: 4.0,
        ..opts.clone()
    };
    let work = work_image(img, short_mm, &fine);
    let (mask, _) = ink_mask(&work, &fine);
    let corners = table_corners(&work, &mask)?;
    let f = work.factor as f64;
    let dst = corners.map(|c| [(c[0] + 0.5) * f, (c[1] + 0.5) * f]);
    // Paper from the page, ink from its darkest print (no marker to sample).
    let mut values: Vec<u8> = work.img.as_raw().clone();
    values.sort_unstable();
    let ink = values[values.len() / 200] as f32;
    let mut bg = work.bg.clone();
    bg.sort_by(|a, b| a.total_cmp(b));
    let levels = Levels {
        paper: bg.get(bg.len() / 2).copied().unwrap_or(255.0),
        ink,
    };
    let mut fits = vec![];
    for t in templates {
        let Some(layout) = MarkerLayout::of(t) else {
            continue;
        };
        let ys = t.table_rules_y();
        let y0 = ys.iter().copied().fold(f64::MAX, f64::min);
        let y1 = ys.iter().copied().fold(f64::MIN, f64::max);
        // The page may have lost the table's first or last column with its corners: the grid found then ends
        // at the next rule in.
        let xs = column_rules_x(t);
        let (Some(&first), Some(&last)) = (xs.first(), xs.last()) else {
            continue;
        };
        let lefts = [first, xs.get(1).copied().unwrap_or(first)];
        let rights = [last, xs.len().checked_sub(2).map_or(last, |i| xs[i])];
        for (x0, x1) in lefts
            .iter()
            .flat_map(|&a| rights.iter().map(move |&b| (a, b)))
        {
            // Clockwise from top left, as the image corners are.
            let table = [[x0, y0], [x1, y0], [x1, y1], [x0, y1]];
            for turn in 0..4 {
                let src: [Pt; 4] = std::array::from_fn(|k| table[(k + turn) % 4]);
                // All four corners, or two of one side when the page's edge cut through the other (a
                // turned page cut along one side leaves the table's corners there anywhere along the cut).
                let sides = (0..4).filter_map(|k| {
                    let n = (k + 1) % 4;
                    Homography::similarity_from_2(&[src[k], src[n]], &[dst[k], dst[n]])
                });
                for h in Homography::from_4(&src, &dst).into_iter().chain(sides) {
                    if scan_shape_cost(&h, &layout, opts).is_none() {
                        continue;
                    }
                    let mut reg =
                        Registration::unverified(&layout, h, vec![], FitKind::Table, levels, false);
                    // A corner cut by the image's edge is only roughly the table's: one pass of the rules'
                    // refinement first, so that the scores judge the place, not the corners' precision.
                    verify_looks(img, &mut reg, t, opts, false);
                    let reg = Registration::unverified(
                        &layout,
                        reg.h,
                        vec![],
                        FitKind::Table,
                        levels,
                        false,
                    );
                    // Forms can share a table and differ above it: the field boxes say which form (and so where
                    // the page is) the table belongs to; the vertical rules say where along the rows it is.
                    let field = field_score(img, &reg, t);
                    let score = layout_score(img, &reg, t).min(field);
                    fits.push((score, column_score(img, &reg, t), field, reg));
                }
            }
        }
    }
    // Two forms with the same table sit at different heights on the page: the rows match under both fits, the
    // field boxes only under the right one. As with the columns (see `register_two_markers`), only fits whose
    // field boxes and vertical rules are found about as well as the best one's compete.
    let fits = near_best(near_best(fits, |f| f.2), |f| f.1);
    choose_by_table(
        fits.into_iter().map(|(s, _, _, r)| (s, r)).collect(),
        &opts.two_markers,
    )
}

/// How far a transform is from a plausible scan of the page at its centre: `None` when mirrored, at an
/// implausible scale, or with pixels far from square or axes far from right angles; otherwise the cost of its
/// anisotropy and shear (0 for a similarity).
fn scan_shape_cost(h: &Homography, layout: &MarkerLayout, opts: &RegisterOptions) -> Option<f64> {
    let c = layout.center();
    let p = h.apply(c);
    let px = h.apply([c[0] + 1.0, c[1]]);
    let py = h.apply([c[0], c[1] + 1.0]);
    let ex = [px[0] - p[0], px[1] - p[1]];
    let ey = [py[0] - p[0], py[1] - p[1]];
    let (sx, sy) = (ex[0].hypot(ex[1]), ey[0].hypot(ey[1]));
    if ex[0] * ey[1] - ex[1] * ey[0] <= 0.0 {
        return None; // mirrored
    }
    let s = (sx * sy).sqrt();
    if s < opts.scale_range.0 || s > opts.scale_range.1 || (sx / sy - 1.0).abs() > 0.12 {
        return None;
    }
    let cosang = (ex[0] * ey[0] + ex[1] * ey[1]) / (sx * sy);
    if cosang.abs() > 0.1 {
        return None;
    }
    Some((sx / sy - 1.0).abs() * 5.0 + cosang.abs() * 5.0)
}

/// The outer corners (working px, clockwise from the image's top left) of the largest ruled table on the page.
fn table_corners(work: &Work, mask: &GrayImage) -> Option<[Pt; 4]> {
    use imageproc::region_labelling::{connected_components, Connectivity};
    let labels = connected_components(mask, Connectivity::Eight, Luma([0u8]));
    let ppm = work_px_per_mm(work);
    let mut boxes: Vec<[u32; 4]> = vec![];
    for (x, y, p) in labels.enumerate_pixels() {
        let l = p.0[0] as usize;
        if l == 0 {
            continue;
        }
        if l >= boxes.len() {
            boxes.resize(l + 1, [u32::MAX, u32::MAX, 0, 0]);
        }
        let b = &mut boxes[l];
        b[0] = b[0].min(x);
        b[1] = b[1].min(y);
        b[2] = b[2].max(x);
        b[3] = b[3].max(y);
    }
    let min_cell = (MIN_CELL_MM2 * ppm * ppm).max(4.0) as u32;
    let (label, _) = boxes
        .iter()
        .enumerate()
        .filter(|(_, b)| b[0] != u32::MAX)
        .map(|(l, b)| (l, ((b[2] - b[0] + 1).min(b[3] - b[1] + 1)) as f64 / ppm))
        .filter(|&(l, side)| {
            side >= TABLE_MIN_MM
                && enclosed_cells(&labels, l as u32, boxes[l], min_cell) >= MIN_CELLS
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    // Extreme points along the diagonals: the corners of a rectangle turned by less than 45°.
    let mut best = [(f64::MAX, [0.0; 2]); 4];
    let b = boxes[label];
    for y in b[1]..=b[3] {
        for x in b[0]..=b[2] {
            if labels.get_pixel(x, y).0[0] as usize != label {
                continue;
            }
            let (fx, fy) = (x as f64, y as f64);
            for (k, key) in [fx + fy, fy - fx, -fx - fy, fx - fy]
                .into_iter()
                .enumerate()
            {
                if key < best[k].0 {
                    best[k] = (key, [fx, fy]);
                }
            }
        }
    }
    // tl = min(x+y), tr = min(y-x), br = max(x+y), bl = max(y-x).
    Some([best[0].1, best[1].1, best[2].1, best[3].1])
}

/// Ink mask of the working image and the number of pixels in its inner area (borders excluded).
fn ink_mask(work: &Work, opts: &RegisterOptions) -> (GrayImage, usize) {
    let (w, h) = work.img.dimensions();
    let raw = work.img.as_raw();
    let mut mask = vec![0u8; (w * h) as usize];
    let (mx, my) = (w / 25, h / 25);
    let inner = (w.saturating_sub(2 * mx) * h.saturating_sub(2 * my)) as usize;
    let ratio = opts.dark_ratio as f32;
    let block = work.bg_block as usize;
    for (y, (row, mrow)) in raw
        .chunks_exact(w as usize)
        .zip(mask.chunks_exact_mut(w as usize))
        .enumerate()
    {
        let brow = &work.bg[(y / block) * work.bw as usize..][..work.bw as usize];
        for ((px, m), thr) in row
            .chunks(block)
            .zip(mrow.chunks_mut(block))
            .zip(brow.iter().map(|&p| p * ratio))
        {
            for (&v, o) in px.iter().zip(m) {
                if (v as f32) < thr {
                    *o = 255;
                }
            }
        }
    }
    (GrayImage::from_raw(w, h, mask).expect("size"), inner)
}

fn registration_from(
    img: &GrayImage,
    work: &Work,
    fitted: Option<(Fit, &MarkerLayout)>,
    n_blobs: usize,
    grid_mm: f64,
    ink_fraction: f64,
    gaps_closed: bool,
) -> RegisterOutcome {
    match fitted {
        Some(((hm, ids, fit, _), layout)) => {
            let levels = page_levels(img, work, &hm, &ids, layout);
            RegisterOutcome::Registered(Box::new(Registration::unverified(
                layout,
                hm,
                ids,
                fit,
                levels,
                gaps_closed,
            )))
        }
        None if grid_mm >= TABLE_MIN_MM => RegisterOutcome::MarkersMissing {
            reason: format!(
                "corner markers not found, but a ruled table of {grid_mm:.0} mm is on the page ({n_blobs} marker-like blobs)"
            ),
        },
        None => RegisterOutcome::NotAForm {
            reason: format!(
                "no corner-marker configuration found ({n_blobs} marker-like blobs, ink {:.1}%)",
                ink_fraction * 100.0
            ),
        },
    }
}

/// Marker candidates, and the ink area (work px) of components that are neither dust nor scanner background.
fn find_blobs(work: &Work, mask: &GrayImage) -> (Vec<Blob>, usize, f64) {
    use imageproc::region_labelling::{connected_components, Connectivity};
    let labels = connected_components(mask, Connectivity::Eight, image::Luma([0u8]));
    let (w, h) = mask.dimensions();
    #[derive(Clone, Default)]
    struct S {
        n: f64,
        sx: f64,
        sy: f64,
        sxx: f64,
        syy: f64,
        sxy: f64,
        x0: u32,
        y0: u32,
        x1: u32,
        y1: u32,
    }
    let mut stats: Vec<S> = vec![];
    for y in 0..h {
        for x in 0..w {
            let l = labels.get_pixel(x, y).0[0] as usize;
            if l == 0 {
                continue;
            }
            if l >= stats.len() {
                stats.resize(
                    l + 1,
                    S {
                        x0: u32::MAX,
                        y0: u32::MAX,
                        ..Default::default()
                    },
                );
            }
            let s = &mut stats[l];
            let (fx, fy) = (x as f64, y as f64);
            s.n += 1.0;
            s.sx += fx;
            s.sy += fy;
            s.sxx += fx * fx;
            s.syy += fy * fy;
            s.sxy += fx * fy;
            s.x0 = s.x0.min(x);
            s.y0 = s.y0.min(y);
            s.x1 = s.x1.max(x);
            s.y1 = s.y1.max(y);
        }
    }
    let f = work.factor as f64;
    let mut out = vec![];
    let min_dim = (2.5 * work_px_per_mm(work)).max(2.0) as u32;
    let content: usize = stats
        .iter()
        .filter(|s| s.n > 0.0)
        .filter(|s| s.x0 > 0 && s.y0 > 0 && s.x1 + 1 < w && s.y1 + 1 < h)
        .filter(|s| (s.x1 - s.x0 + 1).max(s.y1 - s.y0 + 1) >= min_dim)
        .map(|s| s.n as usize)
        .sum();
    // The rating table is one connected grid of rules, far larger than any glyph, word or logo: its extent (mm)
    // tells a form whose corners are missing from a page of text.
    let ppm = work_px_per_mm(work);
    // A table cut by the image edge still counts: it is a sparse grid of thin rules, where the scanner's dark
    // background (the other thing touching the edge) is a dense fill.
    // A table also has cells: a scanner's dark frame or a page border is as large and as sparse, but encloses
    // one region at most.
    let min_cell = (MIN_CELL_MM2 * ppm * ppm).max(4.0) as u32;
    let grid_mm = stats
        .iter()
        .enumerate()
        .filter(|(_, s)| s.n > 0.0)
        .filter(|(_, s)| {
            let inside = s.x0 > 0 && s.y0 > 0 && s.x1 + 1 < w && s.y1 + 1 < h;
            let area = ((s.x1 - s.x0 + 1) * (s.y1 - s.y0 + 1)) as f64;
            inside || s.n < 0.2 * area
        })
        .map(|(l, s)| (l, s, ((s.x1 - s.x0 + 1).min(s.y1 - s.y0 + 1)) as f64 / ppm))
        .filter(|&(l, s, side)| {
            side >= TABLE_MIN_MM
                && enclosed_cells(&labels, l as u32, [s.x0, s.y0, s.x1, s.y1], min_cell)
                    >= MIN_CELLS
        })
        .map(|(_, _, side)| side)
        .fold(0.0, f64::max);
    for (l, s) in stats.iter().enumerate() {
        if s.n < 9.0 {
            continue;
        }
        let bw = (s.x1 - s.x0 + 1) as f64;
        let bh = (s.y1 - s.y0 + 1) as f64;
        if bw < 3.0 || bh < 3.0 || bw / bh > 1.7 || bh / bw > 1.7 || s.n / (bw * bh) < 0.42 {
            continue;
        }
        let cx = s.sx / s.n;
        let cy = s.sy / s.n;
        let mu20 = s.sxx / s.n - cx * cx;
        let mu02 = s.syy / s.n - cy * cy;
        let mu11 = s.sxy / s.n - cx * cy;
        // Solid compact shapes: (mu20+mu02)/A = 1/6 for a square, 1/(2π) for a disc; rings and strokes are larger.
        let compact = (mu20 + mu02) / s.n;
        if compact > 0.2 {
            continue;
        }
        let tr = mu20 + mu02;
        let det = mu20 * mu02 - mu11 * mu11;
        let disc = (tr * tr / 4.0 - det).max(0.0).sqrt();
        let (l1, l2) = (tr / 2.0 + disc, (tr / 2.0 - disc).max(1e-9));
        if l1 / l2 > 1.6 {
            continue;
        }
        let mut rmax2: f64 = 0.0;
        for y in s.y0..=s.y1 {
            for x in s.x0..=s.x1 {
                if labels.get_pixel(x, y).0[0] as usize == l {
                    rmax2 = rmax2.max((x as f64 - cx).powi(2) + (y as f64 - cy).powi(2));
                }
            }
        }
        let r = rmax2.sqrt() + 0.5;
        let roundness = s.n / (std::f64::consts::PI * r * r);
        let coarse = [(cx + 0.5) * f, (cy + 0.5) * f];
        let size = s.n.sqrt() * f;
        out.push(Blob {
            c: coarse,
            size,
            area: s.n * f * f,
            roundness,
            clipped: s.x0 == 0 || s.y0 == 0 || s.x1 + 1 >= w || s.y1 + 1 >= h,
        });
    }
    out.sort_by(|a, b| b.area.total_cmp(&a.area));
    out.truncate(14);
    (out, content, grid_mm)
}

/// Smallest side of a ruled table that counts as evidence of our form, mm.
const TABLE_MIN_MM: f64 = 100.0;
/// Cells a ruled table must enclose (the smallest rating table, three criteria and the overall row, has 20).
const MIN_CELLS: usize = 12;
/// Smallest enclosed region that counts as a cell, mm² (a header cell of the built-in forms is 64 mm²).
const MIN_CELL_MM2: f64 = 10.0;

/// Regions of paper that component `label` of `labels` encloses within its bounding box `b` (x0, y0, x1, y1,
/// inclusive), counting those of at least `min_px` pixels.
fn enclosed_cells(
    labels: &ImageBuffer<Luma<u32>, Vec<u32>>,
    label: u32,
    b: [u32; 4],
    min_px: u32,
) -> usize {
    use imageproc::region_labelling::{connected_components, Connectivity};
    let (w, h) = (b[2] - b[0] + 1, b[3] - b[1] + 1);
    let free = GrayImage::from_fn(w, h, |x, y| {
        let on = labels.get_pixel(b[0] + x, b[1] + y).0[0] == label;
        Luma([if on { 0 } else { 255 }])
    });
    let regions = connected_components(&free, Connectivity::Four, Luma([0u8]));
    let mut area: Vec<u32> = vec![];
    let mut open: Vec<bool> = vec![];
    for (x, y, p) in regions.enumerate_pixels() {
        let r = p.0[0] as usize;
        if r == 0 {
            continue;
        }
        if r >= area.len() {
            area.resize(r + 1, 0);
            open.resize(r + 1, false);
        }
        area[r] += 1;
        open[r] |= x == 0 || y == 0 || x + 1 == w || y + 1 == h;
    }
    area.iter()
        .zip(&open)
        .filter(|&(&a, &o)| !o && a >= min_px)
        .count()
}

/// Working resolution, px/mm, assuming the short side spans about an A4 width.
fn work_px_per_mm(work: &Work) -> f64 {
    work.img.width().min(work.img.height()) as f64 / work.short_mm
}

/// Sub-pixel centre from grey-weighted ink in a window around a coarse centre.
fn refine_centroid(img: &GrayImage, c: Pt, size: f64) -> Pt {
    let r = (size * 0.85).max(3.0);
    let x0 = (c[0] - r).floor().max(0.0) as u32;
    let y0 = (c[1] - r).floor().max(0.0) as u32;
    let x1 = ((c[0] + r).ceil() as u32).min(img.width().saturating_sub(1));
    let y1 = ((c[1] + r).ceil() as u32).min(img.height().saturating_sub(1));
    if x1 <= x0 || y1 <= y0 {
        return c;
    }
    let mut lo = 255u8;
    let mut hi = 0u8;
    for y in y0..=y1 {
        for x in x0..=x1 {
            let v = img.get_pixel(x, y).0[0];
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    if hi <= lo + 20 {
        return c;
    }
    let (lo, hi) = (lo as f64, hi as f64);
    let (mut sw, mut sx, mut sy) = (0.0, 0.0, 0.0);
    for y in y0..=y1 {
        for x in x0..=x1 {
            let v = img.get_pixel(x, y).0[0] as f64;
            let wgt = ((hi - v) / (hi - lo) - 0.2).clamp(0.0, 0.6) / 0.6;
            if wgt > 0.0 {
                sw += wgt;
                sx += wgt * (x as f64 + 0.5);
                sy += wgt * (y as f64 + 0.5);
            }
        }
    }
    if sw == 0.0 {
        c
    } else {
        [sx / sw, sy / sw]
    }
}

/// Refines the chosen markers' centres at full resolution and fits again from them.
fn refit(img: &GrayImage, blobs: &[Blob], fit: Fit, layout: &MarkerLayout) -> Option<Fit> {
    let (_, names, kind, chosen) = fit;
    let mut ids = [0usize; 4];
    for (k, n) in names.iter().take(4).enumerate() {
        ids[k] = MARKER_IDS.iter().position(|m| m == n).unwrap_or(0);
    }
    let pts: Vec<Pt> = chosen
        .iter()
        .map(|&i| refine_centroid(img, blobs[i].c, blobs[i].size))
        .collect();
    let h = match kind {
        FitKind::Homography4 => {
            let src = ids.map(|i| layout.centers[i]);
            Homography::from_4(&src, &[pts[0], pts[1], pts[2], pts[3]])?
        }
        FitKind::Affine3 => {
            let src = [ids[0], ids[1], ids[2]].map(|i| layout.centers[i]);
            Homography::affine_from_3(&src, &[pts[0], pts[1], pts[2]])?
        }
        FitKind::Similarity2 => {
            let src = [ids[0], ids[1]].map(|i| layout.centers[i]);
            Homography::similarity_from_2(&src, &[pts[0], pts[1]])?
        }
        FitKind::Table => return None,
    };
    Some((h, names, kind, chosen))
}

const MARKER_IDS: [&str; 4] = ["tl", "tr", "bl", "br"];

/// Checks that a fitted transform is a plausible scan of the page and the blobs are the right markers.
fn plausibility(
    h: &Homography,
    blobs: &[&Blob],
    ids: &[usize],
    layout: &MarkerLayout,
    opts: &RegisterOptions,
) -> Option<f64> {
    let mut cost = scan_shape_cost(h, layout, opts)?;
    let mut round_br = None;
    let mut disc_clipped = false;
    let mut round_sq: f64 = 0.0;
    for (b, &id) in blobs.iter().zip(ids) {
        let ls = h.local_scale(layout.centers[id]);
        let side = b.area.sqrt() / ls;
        let expect = if id == layout.disc {
            layout.size * (std::f64::consts::PI / 4.0).sqrt()
        } else {
            layout.size
        };
        let ratio = side / expect;
        if !(0.72..=1.35).contains(&ratio) {
            return None;
        }
        cost += (ratio - 1.0).abs();
        if id == layout.disc {
            round_br = Some(b.roundness);
            disc_clipped = b.clipped;
        } else {
            round_sq = round_sq.max(b.roundness);
        }
    }
    // The disc must be clearly rounder than the squares (0.64 ideal vs 1.0; blur, low resolution and clipping at
    // the image edge pull both towards the middle, so the test is relative; a disc cut by the image's edge may
    // fall under the absolute floor).
    if let Some(rb) = round_br {
        if (rb < 0.7 && !disc_clipped) || rb < round_sq + 0.04 {
            return None;
        }
    }
    if round_sq > 0.86 {
        return None;
    }
    Some(cost)
}

type Fit = (Homography, Vec<String>, FitKind, Vec<usize>);

/// The best marker fit of one layout, with its cost.
fn fit_markers(
    blobs: &[Blob],
    layout: &MarkerLayout,
    opts: &RegisterOptions,
) -> Option<(f64, Fit)> {
    let n = blobs.len();
    let mut best: Option<(f64, Fit)> = None;
    // Four markers: order by angle around their centroid; the clockwise cyclic order tl, tr, br, bl fixes the
    // rotation up to four shifts.
    for a in 0..n {
        for b in a + 1..n {
            for c in b + 1..n {
                for d in c + 1..n {
                    let q = [&blobs[a], &blobs[b], &blobs[c], &blobs[d]];
                    // Markers are alike in size (the disc is 0.79 of a square); skip mixed sets early.
                    let amax = q.iter().map(|b| b.area).fold(0.0, f64::max);
                    let amin = q.iter().map(|b| b.area).fold(f64::MAX, f64::min);
                    if amax > 2.0 * amin {
                        continue;
                    }
                    let idx = [a, b, c, d];
                    let cx = q.iter().map(|b| b.c[0]).sum::<f64>() / 4.0;
                    let cy = q.iter().map(|b| b.c[1]).sum::<f64>() / 4.0;
                    let mut order: Vec<usize> = (0..4).collect();
                    order.sort_by(|&i, &j| {
                        let ai = (q[i].c[1] - cy).atan2(q[i].c[0] - cx);
                        let aj = (q[j].c[1] - cy).atan2(q[j].c[0] - cx);
                        ai.total_cmp(&aj)
                    });
                    // In y-down images increasing atan2 is clockwise: tl → tr → br → bl.
                    let cyc = [0usize, 1, 3, 2];
                    for shift in 0..4 {
                        let mut src = [[0.0; 2]; 4];
                        let mut dst = [[0.0; 2]; 4];
                        let mut ids = [0usize; 4];
                        let mut bl = vec![];
                        let mut chosen = vec![];
                        for k in 0..4 {
                            let id = cyc[k];
                            let blob = q[order[(k + shift) % 4]];
                            chosen.push(idx[order[(k + shift) % 4]]);
                            src[k] = layout.centers[id];
                            dst[k] = blob.c;
                            ids[k] = id;
                            bl.push(blob);
                        }
                        let Some(h) = Homography::from_4(&src, &dst) else {
                            continue;
                        };
                        if let Some(cost) = plausibility(&h, &bl, &ids, layout, opts) {
                            if best.as_ref().is_none_or(|(bc, _)| cost < *bc) {
                                let names =
                                    ids.iter().map(|&i| MARKER_IDS[i].to_string()).collect();
                                best = Some((cost, (h, names, FitKind::Homography4, chosen)));
                            }
                        }
                    }
                }
            }
        }
    }
    if best.is_some() {
        return best;
    }
    // Three markers: any injective assignment, affine fit.
    for a in 0..n {
        for b in 0..n {
            for c in 0..n {
                if a == b || b == c || a == c {
                    continue;
                }
                for missing in 0..4 {
                    let ids: Vec<usize> = (0..4).filter(|&i| i != missing).collect();
                    let q = [&blobs[a], &blobs[b], &blobs[c]];
                    let amax = q.iter().map(|b| b.area).fold(0.0, f64::max);
                    let amin = q.iter().map(|b| b.area).fold(f64::MAX, f64::min);
                    if amax > 2.0 * amin {
                        continue;
                    }
                    let src = [ids[0], ids[1], ids[2]].map(|i| layout.centers[i]);
                    let dst = [q[0].c, q[1].c, q[2].c];
                    let Some(h) = Homography::affine_from_3(&src, &dst) else {
                        continue;
                    };
                    if let Some(cost) = plausibility(&h, &q, &ids, layout, opts) {
                        let cost = cost + 0.5;
                        if best.as_ref().is_none_or(|(bc, _)| cost < *bc) {
                            let names = ids.iter().map(|&i| MARKER_IDS[i].to_string()).collect();
                            best = Some((cost, (h, names, FitKind::Affine3, vec![a, b, c])));
                        }
                    }
                }
            }
        }
    }
    best
}

fn rotation_of(h: &Homography, layout: &MarkerLayout) -> (u32, f64) {
    let c = layout.center();
    let a = h.apply(c);
    let b = h.apply([c[0] + 1.0, c[1]]);
    let ang = (b[1] - a[1]).atan2(b[0] - a[0]).to_degrees();
    let rot = ((ang / 90.0).round() as i64).rem_euclid(4) as u32 * 90;
    // The residual angle after the quarter turn, in (-180, 180]: a page turned 180° with +2.4° of skew is
    // (180, 2.4), not (180, -357.6).
    let skew = 180.0 - (180.0 - (ang - rot as f64)).rem_euclid(360.0);
    (rot, skew)
}

fn page_levels(
    img: &GrayImage,
    work: &Work,
    h: &Homography,
    ids: &[String],
    layout: &MarkerLayout,
) -> Levels {
    let mut inks = vec![];
    for id in ids {
        let i = MARKER_IDS.iter().position(|m| m == id).unwrap_or(0);
        let c = layout.centers[i];
        for dy in [-1.5, 0.0, 1.5] {
            for dx in [-1.5, 0.0, 1.5] {
                inks.push(sample(img, h.apply([c[0] + dx, c[1] + dy])));
            }
        }
    }
    inks.sort_by(|a, b| a.total_cmp(b));
    let ink = inks.get(inks.len() / 2).copied().unwrap_or(0.0);
    let mut bg = work.bg.clone();
    bg.sort_by(|a, b| a.total_cmp(b));
    let paper = bg.get(bg.len() / 2).copied().unwrap_or(255.0);
    Levels { paper, ink }
}

/// One probe across a printed rule: where along the normal the rule actually is.
#[derive(Debug, Clone, Copy)]
struct Probe {
    at: Pt,
    /// true: horizontal rule (offset along y); false: vertical line (offset along x).
    horizontal: bool,
    offset: Option<f64>,
}

/// Looks for a thin dark line crossing `at` (template mm) along the normal, within ±`radius` mm.
fn probe_line(
    img: &GrayImage,
    h: &Homography,
    at: Pt,
    horizontal: bool,
    radius: f64,
    along: f64,
    levels: &Levels,
) -> Option<f64> {
    let step = 0.1;
    let n = (2.0 * radius / step).round() as usize + 1;
    // Profiles across the rule, averaged over ±`along` mm along it: a printed rule stays dark over that length,
    // letter strokes and halftone dots average out.
    let m = (along / 0.5).round() as usize;
    let mut prof = vec![0.0f32; n];
    for k in 0..=2 * m {
        let s = (k as f64 - m as f64) * 0.5;
        for (i, v) in prof.iter_mut().enumerate() {
            let t = -radius + i as f64 * step;
            let p = if horizontal {
                [at[0] + s, at[1] + t]
            } else {
                [at[0] + t, at[1] + s]
            };
            *v += sample(img, h.apply(p));
        }
    }
    for v in prof.iter_mut() {
        *v /= (2 * m + 1) as f32;
    }
    let paper = prof.iter().cloned().fold(f32::MIN, f32::max);
    let (imin, &vmin) = prof.iter().enumerate().min_by(|a, b| a.1.total_cmp(b.1))?;
    let range = (levels.paper - levels.ink).max(30.0);
    let contrast = (paper - vmin) / range;
    if contrast < levels.rule_contrast() {
        return None;
    }
    let half = paper - (paper - vmin) / 2.0;
    // The line must be thin: a mark or a filled area is wider than a printed rule.
    let mut lo = imin;
    while lo > 0 && prof[lo - 1] < half {
        lo -= 1;
    }
    let mut hi = imin;
    while hi + 1 < n && prof[hi + 1] < half {
        hi += 1;
    }
    if (hi - lo + 1) as f64 * step > 1.1 || lo == 0 || hi == n - 1 {
        return None;
    }
    let (mut sw, mut st) = (0.0, 0.0);
    for (i, &v) in prof.iter().enumerate().take(hi + 1).skip(lo) {
        let wgt = (half - v).max(0.0) as f64 + 1e-3;
        sw += wgt;
        st += wgt * (-radius + i as f64 * step);
    }
    Some(st / sw)
}

/// [`rule_probes`], and the horizontal rules across the option columns too: on a keystoned page the rows' drift
/// differs from one end of the table to the other, and probes in the criterion column alone leave the option
/// boxes, where the marks are read, to extrapolation. Only for the refinement of a fit from fewer than four
/// markers: the layout scores keep their probes.
fn rule_probes_wide(t: &Template) -> Vec<Probe> {
    let mut out = rule_probes(t);
    let opts = &t.table.columns.options;
    if let (Some(first), Some(last)) = (opts.first(), opts.last()) {
        horizontal_probes(&mut out, t, first[0] + 4.5, last[1] - 2.0);
    }
    out
}

/// Probes on every horizontal table rule, 9 mm apart from `x` to before `end`.
fn horizontal_probes(out: &mut Vec<Probe>, t: &Template, from: f64, end: f64) {
    for &y in &t.table_rules_y() {
        let mut x = from;
        while x < end {
            out.push(Probe {
                at: [x, y],
                horizontal: true,
                offset: None,
            });
            x += 9.0;
        }
    }
}

fn rule_probes(t: &Template) -> Vec<Probe> {
    let mut out = vec![];
    let crit = t.table.columns.criterion;
    horizontal_probes(&mut out, t, crit[0] + 4.0, crit[1] - 2.0);
    for r in &t.rows {
        // Between the boxes' bottom and the row's: a probe level with a box would take a box's side, 2.5 mm
        // from an option boundary, for the boundary.
        let boxes_bottom = r
            .options
            .iter()
            .map(|o| o.bbox[3])
            .fold(r.band[1], f64::max);
        let y = (boxes_bottom + r.band[3]) / 2.0;
        for x in column_rules_x(t) {
            out.push(Probe {
                at: [x, y],
                horizontal: false,
                offset: None,
            });
        }
    }
    out
}

/// The template's vertical table rules, mm: the outer edges, both sides of the criterion column and every
/// boundary between options. Each one is evidence for the fit across the page: a fit that maps one rule onto
/// its neighbour (a table whose first column was cut off, taken for the whole) finds the outer rules and misses
/// the rest.
fn column_rules_x(t: &Template) -> Vec<f64> {
    let cols = &t.table.columns;
    let mut xs = vec![cols.stt[0], cols.criterion[0], cols.criterion[1]];
    xs.extend(cols.options.iter().map(|o| o[1]));
    xs.dedup_by(|a, b| (*a - *b).abs() < 0.5);
    xs
}

/// How much of template `t`'s table is printed where the fit says: fraction of horizontal-rule probes found.
pub fn layout_score(img: &GrayImage, reg: &Registration, t: &Template) -> f64 {
    rules_found(img, reg, t, true)
}

/// How much of template `t`'s vertical table rules is printed where the fit says: fraction of their probes
/// found. The horizontal rules cannot tell a fit from one shifted along the rows.
pub fn column_score(img: &GrayImage, reg: &Registration, t: &Template) -> f64 {
    rules_found(img, reg, t, false)
}

/// The share of `t`'s horizontal (or vertical) rule probes that find a rule under the marker fit, each probe
/// averaged over 3 mm along the rule.
fn rules_found(img: &GrayImage, reg: &Registration, t: &Template, horizontal: bool) -> f64 {
    let at: Vec<Pt> = rule_probes(t)
        .into_iter()
        .filter(|p| p.horizontal == horizontal)
        .map(|p| p.at)
        .collect();
    lines_found(img, reg, &at, horizontal, 1.2)
}

/// The share of the points `at` (template mm) where a thin line crosses within ±`radius` mm under the marker fit
/// (horizontal lines, or vertical ones), each probe averaged over 3 mm along the line; 0 without points.
fn lines_found(
    img: &GrayImage,
    reg: &Registration,
    at: &[Pt],
    horizontal: bool,
    radius: f64,
) -> f64 {
    let found = at
        .iter()
        .filter(|&&p| {
            probe_line(img, &reg.h_markers, p, horizontal, radius, 1.5, &reg.levels).is_some()
        })
        .count();
    found as f64 / at.len().max(1) as f64
}

/// How much of `t`'s field boxes is printed where the fit says: fraction of probes along their top and bottom
/// edges that find a rule (1 for a form without fields).
pub fn field_score(img: &GrayImage, reg: &Registration, t: &Template) -> f64 {
    let mut probes = vec![];
    for f in &t.fields {
        let b = f.bbox;
        let mut x = b[0] + 2.0;
        while x < b[2] - 1.0 {
            probes.push([x, b[1]]);
            probes.push([x, b[3]]);
            x += 6.0;
        }
    }
    if probes.is_empty() {
        return 1.0;
    }
    lines_found(img, reg, &probes, true, 1.2)
}

/// How much of `t`'s option boxes is printed where the fit says: fraction of probes on their top and bottom
/// edges that find a line. A copy thresholded too light keeps the boxes' heavier outlines after its table's thin
/// rules have broken up, so the boxes are evidence of the form where the rules are not.
pub fn box_score(img: &GrayImage, reg: &Registration, t: &Template) -> f64 {
    let probes: Vec<Pt> = t
        .boxes()
        .flat_map(|(_, _, b)| {
            let cx = (b[0] + b[2]) / 2.0;
            [[cx, b[1]], [cx, b[3]]]
        })
        .collect();
    lines_found(img, reg, &probes, true, 1.0)
}

/// Checks the fit against the printed table rules of `t` and refines it with a correction fitted to them
/// (robust to outliers): affine first; then, for a fit from fewer than four markers (which cannot follow a
/// keystone), a projective one from a second look with the affine fit. Sets `reg.h` and `reg.check`.
pub fn verify(img: &GrayImage, reg: &mut Registration, t: &Template, opts: &RegisterOptions) {
    verify_looks(img, reg, t, opts, true)
}

/// [`verify`], with or without the projective second look. Candidate fits are compared after the affine
/// look only: the projective one has the freedom to pull a wrong candidate part of the way to the table.
fn verify_looks(
    img: &GrayImage,
    reg: &mut Registration,
    t: &Template,
    opts: &RegisterOptions,
    second_look: bool,
) {
    // Four markers follow a keystone themselves; the rules across the option columns and the second look are
    // for the fits that do not (the wide probes move the boxes of a well-registered page a little, for no gain).
    let wide = reg.fit != FitKind::Homography4;
    let (found, total) = probe_rules(img, &reg.h_markers, t, &reg.levels, wide);
    let mut check = FitCheck {
        probes_found: found.len(),
        probes_total: total,
        ..Default::default()
    };
    let Some(mut best) = rule_fit(&found, false) else {
        reg.check = check;
        return;
    };
    let mut best_found = found;
    let mut limit = 2.0;
    if second_look && wide {
        let h1 = reg.h_markers.then_after(&best.corr);
        let (found2, _) = probe_rules(img, &h1, t, &reg.levels, wide);
        if let Some(mut second) = rule_fit(&found2, true) {
            second.corr = best.corr.then_after(&second.corr);
            // Each look may move the boxes by up to 2 mm; two looks, by up to twice that.
            let (a, b) = (
                judge(reg.fit, &best, &best_found, t, opts, 2.0),
                judge(reg.fit, &second, &found2, t, opts, 4.0),
            );
            // The second look wins when it verifies and the first does not, or both agree and it fits closer.
            if (b.ok, -b.max_mm) > (a.ok, -a.max_mm) {
                best = second;
                best_found = found2;
                limit = 4.0;
            }
        }
    }
    let judged = judge(reg.fit, &best, &best_found, t, opts, limit);
    check = FitCheck {
        probes_found: best_found.len(),
        probes_total: total,
        ..judged
    };
    reg.h = reg.h_markers.then_after(&best.corr);
    reg.check = check;
}

/// The table rules found near where `h` puts them (offsets in template mm), and how many were looked for.
fn probe_rules(
    img: &GrayImage,
    h: &Homography,
    t: &Template,
    levels: &Levels,
    wide: bool,
) -> (Vec<Probe>, usize) {
    let mut probes = if wide {
        rule_probes_wide(t)
    } else {
        rule_probes(t)
    };
    let total = probes.len();
    for p in probes.iter_mut() {
        p.offset = probe_line(img, h, p.at, p.horizontal, 1.2, 0.0, levels);
    }
    probes.retain(|p| p.offset.is_some());
    (probes, total)
}

/// A correction fitted to the rules found, with each inlier's residual (mm) by direction.
struct RuleFit {
    corr: Homography,
    /// Residuals of the horizontal rules' inliers.
    ry: Vec<f64>,
    /// Residuals of the vertical rules' inliers.
    rx: Vec<f64>,
}

/// Fits the correction to the rules found, three rounds that drop probes beyond three median residuals:
/// two independent 3-parameter fits (dy = b0 + b1 x + b2 y from horizontal rules, dx likewise from verticals),
/// or with `projective` one 8-parameter projective correction. `None` with fewer than 6 probes a direction.
fn rule_fit(found: &[Probe], projective: bool) -> Option<RuleFit> {
    let hs: Vec<Probe> = found.iter().copied().filter(|p| p.horizontal).collect();
    let vs: Vec<Probe> = found.iter().copied().filter(|p| !p.horizontal).collect();
    if hs.len() < 6 || vs.len() < 6 {
        return None;
    }
    let off = |p: &Probe| p.offset.unwrap_or(0.0);
    let residual = |c: &Homography, p: &Probe| {
        let q = c.apply(p.at);
        if p.horizontal {
            (off(p) - (q[1] - p.at[1])).abs()
        } else {
            (off(p) - (q[0] - p.at[0])).abs()
        }
    };
    let (mut use_h, mut use_v) = (vec![true; hs.len()], vec![true; vs.len()]);
    let mut corr = Homography::identity();
    for _round in 0..3 {
        let pick = |ps: &[Probe], u: &[bool]| -> Vec<Probe> {
            ps.iter()
                .zip(u)
                .filter(|(_, k)| **k)
                .map(|(p, _)| *p)
                .collect()
        };
        let (h_in, v_in) = (pick(&hs, &use_h), pick(&vs, &use_v));
        if h_in.len() < 6 || v_in.len() < 6 {
            return None;
        }
        corr = if projective {
            let xs: Vec<(Pt, f64)> = v_in.iter().map(|p| (p.at, off(p))).collect();
            let ys: Vec<(Pt, f64)> = h_in.iter().map(|p| (p.at, off(p))).collect();
            Homography::correction_lsq(&xs, &ys, [105.0, 148.5], 100.0)?
        } else {
            let axis = |ps: &[Probe]| -> [f64; 3] {
                let src: Vec<Pt> = ps.iter().map(|p| p.at).collect();
                let dst: Vec<Pt> = ps.iter().map(|p| [off(p), 0.0]).collect();
                match Homography::affine_lsq(&src, &dst) {
                    Some(a) => a.0[0],
                    None => {
                        // Degenerate spread (e.g. all probes on one line): a pure offset.
                        let m = dst.iter().map(|d| d[0]).sum::<f64>() / dst.len() as f64;
                        [0.0, 0.0, m]
                    }
                }
            };
            let (cx, cy) = (axis(&v_in), axis(&h_in));
            Homography([
                [1.0 + cx[0], cx[1], cx[2]],
                [cy[0], 1.0 + cy[1], cy[2]],
                [0.0, 0.0, 1.0],
            ])
        };
        // Each direction keeps its own inliers (within three of its median residuals).
        let keep = |ps: &[Probe]| -> Vec<bool> {
            let res: Vec<f64> = ps.iter().map(|p| residual(&corr, p)).collect();
            let mut sorted = res.clone();
            sorted.sort_by(|a, b| a.total_cmp(b));
            let cut = (sorted[sorted.len() / 2] * 3.0).max(0.25);
            res.iter().map(|&r| r <= cut).collect()
        };
        use_h = keep(&hs);
        use_v = keep(&vs);
    }
    let inl = |ps: &[Probe], u: &[bool]| -> Vec<f64> {
        ps.iter()
            .zip(u)
            .filter(|(_, k)| **k)
            .map(|(p, _)| residual(&corr, p))
            .collect()
    };
    let (ry, rx) = (inl(&hs, &use_h), inl(&vs, &use_v));
    Some(RuleFit { corr, ry, rx })
}

/// Whether a rule fit verifies the registration: enough rules found in both directions, the vertical ones
/// spread over most of the table's columns, most of them inliers, small residuals and a small correction.
fn judge(
    kind: FitKind,
    fit: &RuleFit,
    found: &[Probe],
    t: &Template,
    opts: &RegisterOptions,
    max_correction_mm: f64,
) -> FitCheck {
    let mut check = FitCheck::default();
    let hs = found.iter().filter(|p| p.horizontal).count();
    let vs: Vec<&Probe> = found.iter().filter(|p| !p.horizontal).collect();
    let all: Vec<f64> = fit.ry.iter().chain(&fit.rx).copied().collect();
    check.inliers = all.len();
    check.rms_mm = (all.iter().map(|r| r * r).sum::<f64>() / all.len().max(1) as f64).sqrt();
    check.max_mm = all.iter().cloned().fold(0.0, f64::max);
    let mut worst: f64 = 0.0;
    for (_, _, b) in t.boxes() {
        for p in [[b[0], b[1]], [b[2], b[3]]] {
            worst = worst.max(dist(fit.corr.apply(p), p));
        }
    }
    check.correction_mm = worst;
    // The vertical rules found must be spread over most of the table's columns, not stacked on two of them.
    let xs = column_rules_x(t);
    let rows = t.rows.len().max(1);
    check.columns_total = xs.len();
    check.columns_found = xs
        .iter()
        .filter(|&&x| {
            let n = vs.iter().filter(|p| (p.at[0] - x).abs() < 0.01).count();
            n >= 2 && n * 10 >= rows * 3
        })
        .count();
    // Only where the rules placed the page along the rows: three or four markers fix it themselves, and a
    // photocopy may keep only some of the vertical rules.
    let placed_by_rules = matches!(kind, FitKind::Similarity2 | FitKind::Table);
    let spread = !placed_by_rules || check.columns_found + 2 >= check.columns_total;
    let enough = hs >= 20 && vs.len() >= 12 && check.inliers * 10 >= found.len() * 7;
    check.ok =
        enough && spread && check.max_mm <= opts.max_residual_mm && worst <= max_correction_mm;
    check
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forms::render::{render_form, Canvas, Fonts, Prefill};

    /// A page of 30 lines of receipt text at `dpi`, the first at `at` (mm), `step` mm apart.
    fn text_page(dpi: f64, at: Pt, step: f64) -> GrayImage {
        let mut c = Canvas::new(210.0, 297.0, dpi);
        let f = Fonts::new();
        for i in 0..30 {
            let y = at[1] + i as f64 * step;
            c.text(&f.regular, "Giấy tiếp nhận hồ sơ", at[0], y, 12.0, [0; 3]);
        }
        image::DynamicImage::ImageRgb8(c.img).to_luma8()
    }

    fn page(t: &Template, dpi: f64) -> GrayImage {
        let mut c = Canvas::new(210.0, 297.0, dpi);
        render_form(&mut c, t, &Prefill::default(), &Fonts::new()).unwrap();
        image::DynamicImage::ImageRgb8(c.img).to_luma8()
    }

    #[test]
    fn clean_page_registers_with_small_residual() {
        let t = Template::builtin("gtvt").unwrap();
        let img = page(&t, 100.0);
        let RegisterOutcome::Registered(mut r) = register(&img, &[], &RegisterOptions::default())
        else {
            panic!("not registered")
        };
        assert_eq!(r.rotation, 0);
        assert_eq!(r.fit, FitKind::Homography4);
        let s = 100.0 / 25.4;
        let p = r.h.apply([102.5, 83.0]);
        assert!(dist(p, [102.5 * s, 83.0 * s]) < 0.3 * s, "{p:?}");
        verify(&img, &mut r, &t, &RegisterOptions::default());
        assert!(r.check.ok, "{:?}", r.check);
        assert!(layout_score(&img, &r, &t) > 0.9);
        let k = Template::builtin("khdt").unwrap();
        assert!(layout_score(&img, &r, &k) < 0.3);
    }

    #[test]
    fn skew_of_a_turned_page_is_the_small_residual_angle() {
        for (turn, skew) in [
            (0.0, 2.39),
            (90.0, -1.5),
            (180.0, 2.39),
            (270.0, 3.0),
            (180.0, -2.0),
        ] {
            let a = f64::to_radians(turn + skew);
            let h = Homography([
                [a.cos(), -a.sin(), 0.0],
                [a.sin(), a.cos(), 0.0],
                [0.0, 0.0, 1.0],
            ]);
            let (rot, got) = rotation_of(&h, &MarkerLayout::default());
            assert_eq!(rot as f64, turn);
            assert!((got - skew).abs() < 1e-9, "{turn} {skew}: {got}");
        }
    }

    #[test]
    fn upside_down_page_is_found_rotated_180() {
        let t = Template::builtin("khdt").unwrap();
        let img = image::imageops::rotate180(&page(&t, 80.0));
        let RegisterOutcome::Registered(r) = register(&img, &[], &RegisterOptions::default())
        else {
            panic!("not registered")
        };
        assert_eq!(r.rotation, 180);
    }

    #[test]
    fn form_with_three_corners_cut_off_goes_to_review_not_rejection() {
        let t = Template::builtin("gtvt").unwrap();
        let mut img = page(&t, 100.0);
        cut_markers(
            &mut img,
            100.0,
            &[[14.0, 14.0], [196.0, 14.0], [196.0, 283.0]],
        );
        let out = register(&img, &[], &RegisterOptions::default());
        assert!(
            matches!(out, RegisterOutcome::MarkersMissing { .. }),
            "{out:?}"
        );
    }

    #[test]
    fn white_page_is_blank_and_text_page_is_not_a_form() {
        let img = GrayImage::from_pixel(400, 560, image::Luma([250]));
        assert!(matches!(
            register(&img, &[], &RegisterOptions::default()),
            RegisterOutcome::Blank { .. }
        ));
        let mut c = Canvas::new(210.0, 297.0, 60.0);
        let f = Fonts::new();
        for i in 0..40 {
            c.text(
                &f.regular,
                "Biên nhận hồ sơ và hẹn trả kết quả",
                20.0,
                20.0 + i as f64 * 6.0,
                12.0,
                [0, 0, 0],
            );
        }
        let img = image::DynamicImage::ImageRgb8(c.img).to_luma8();
        assert!(matches!(
            register(&img, &[], &RegisterOptions::default()),
            RegisterOutcome::NotAForm { .. }
        ));
    }

    /// Paints white over the markers at `centres` (template mm) on a page rendered at `dpi`.
    fn cut_markers(img: &mut GrayImage, dpi: f64, centres: &[Pt]) {
        let s = dpi / 25.4;
        for c in centres {
            for y in ((c[1] - 6.0) * s) as u32..((c[1] + 6.0) * s) as u32 {
                for x in ((c[0] - 6.0) * s) as u32..((c[0] + 6.0) * s) as u32 {
                    img.put_pixel(x, y, image::Luma([255]));
                }
            }
        }
    }

    #[test]
    fn form_with_two_corners_lost_registers_from_the_other_two_and_its_table() {
        let t = Template::builtin("gtvt").unwrap();
        let templates = Template::builtins();
        for (lost, turn) in [
            ([[196.0, 14.0], [14.0, 283.0]], false),
            ([[14.0, 283.0], [196.0, 283.0]], true),
        ] {
            let mut img = page(&t, 100.0);
            cut_markers(&mut img, 100.0, &lost);
            if turn {
                img = image::imageops::rotate180(&img);
            }
            let out = register(&img, &[], &RegisterOptions::default());
            assert!(!matches!(out, RegisterOutcome::Registered(_)), "{out:?}");
            let mut r = register_two_markers(&img, &templates, &RegisterOptions::default())
                .expect("two markers and the table");
            assert_eq!(r.fit, FitKind::Similarity2);
            assert_eq!(r.rotation, if turn { 180 } else { 0 });
            verify(&img, &mut r, &t, &RegisterOptions::default());
            assert!(r.check.ok, "{:?}", r.check);
        }
    }

    #[test]
    fn two_marker_fallback_finds_nothing_on_a_page_without_our_table() {
        let mut img = text_page(100.0, [20.0, 30.0], 8.0);
        // Two solid squares where our markers would be: marker-like, but no table behind them.
        let s = 100.0 / 25.4;
        for cc in [[14.0f64, 14.0], [14.0, 283.0]] {
            for y in ((cc[1] - 3.5) * s) as u32..((cc[1] + 3.5) * s) as u32 {
                for x in ((cc[0] - 3.5) * s) as u32..((cc[0] + 3.5) * s) as u32 {
                    img.put_pixel(x, y, image::Luma([0]));
                }
            }
        }
        let templates = Template::builtins();
        assert!(register_two_markers(&img, &templates, &RegisterOptions::default()).is_none());
    }

    #[test]
    fn scanner_frame_around_a_text_page_is_no_ruled_table() {
        let mut img = text_page(60.0, [30.0, 40.0], 7.0);
        let (w, h) = img.dimensions();
        // The scanner's dark lid along the top and left edges: large and sparse like a table cut by the edge,
        // but without a single cell.
        for y in 0..h {
            for x in 0..w {
                if y < 12 || x < 12 {
                    img.put_pixel(x, y, image::Luma([20]));
                }
            }
        }
        let out = register(&img, &[], &RegisterOptions::default());
        assert!(matches!(out, RegisterOutcome::NotAForm { .. }), "{out:?}");
    }

    #[test]
    fn dotted_rules_of_a_1bit_threshold_still_show_the_table() {
        let t = Template::builtin("gtvt").unwrap();
        let img = page(&t, 150.0);
        let s = 150.0 / 25.4;
        let near_marker = |x: u32, y: u32| {
            MarkerLayout::default()
                .centers
                .iter()
                .any(|c| (x as f64 / s - c[0]).abs() < 5.0 && (y as f64 / s - c[1]).abs() < 5.0)
        };
        // A light threshold keeps only some pixels of every thin print: one in four, in a scattered pattern.
        let dotted = GrayImage::from_fn(img.width(), img.height(), |x, y| {
            let ink = img.get_pixel(x, y).0[0] < 128;
            let kept = near_marker(x, y) || (x * 7 + y * 13) % 4 < 1;
            image::Luma([if ink && kept { 0 } else { 255 }])
        });
        let RegisterOutcome::Registered(r) = register(&dotted, &[], &RegisterOptions::default())
        else {
            panic!("not registered")
        };
        assert!(r.levels.bilevel(), "{:?}", r.levels);
        let score = layout_score(&dotted, &r, &t);
        assert!(score > 0.8, "{score}");
    }

    #[test]
    fn option_boxes_are_evidence_of_the_form_when_its_rules_are_gone() {
        let t = Template::builtin("gtvt").unwrap();
        let dpi = 150.0;
        let img = page(&t, dpi);
        let s = dpi / 25.4;
        let near_marker = |x: u32, y: u32| {
            MarkerLayout::default()
                .centers
                .iter()
                .any(|c| (x as f64 / s - c[0]).abs() < 5.0 && (y as f64 / s - c[1]).abs() < 5.0)
        };
        let on_box = |x: u32, y: u32| {
            let p = [x as f64 / s, y as f64 / s];
            t.boxes().any(|(_, _, b)| {
                p[0] > b[0] - 0.6 && p[0] < b[2] + 0.6 && p[1] > b[1] - 0.6 && p[1] < b[3] + 0.6
            })
        };
        // A copy thresholded too light: the markers and the boxes' outlines survive, the thin rules do not.
        let keep = |with_boxes: bool| {
            GrayImage::from_fn(img.width(), img.height(), |x, y| {
                let kept = near_marker(x, y) || (with_boxes && on_box(x, y));
                image::Luma([if kept { img.get_pixel(x, y).0[0] } else { 255 }])
            })
        };
        let boxes_only = keep(true);
        let RegisterOutcome::Registered(r) =
            register(&boxes_only, &[], &RegisterOptions::default())
        else {
            panic!("not registered")
        };
        assert!(layout_score(&boxes_only, &r, &t) < 0.25);
        let score = box_score(&boxes_only, &r, &t);
        assert!(score > 0.9, "{score}");
        // Markers alone are no evidence.
        let markers_only = keep(false);
        assert!(box_score(&markers_only, &r, &t) < 0.1);
    }

    #[test]
    fn form_without_any_marker_registers_from_its_table_and_fields() {
        let templates = Template::builtins();
        for id in ["gtvt", "khdt"] {
            let t = Template::builtin(id).unwrap();
            let mut img = page(&t, 100.0);
            cut_markers(&mut img, 100.0, &MarkerLayout::default().centers);
            // Fed landscape, as a fax of a turned page.
            let img = image::imageops::rotate90(&img);
            let out = register(&img, &[], &RegisterOptions::default());
            assert!(
                matches!(out, RegisterOutcome::MarkersMissing { .. }),
                "{out:?}"
            );
            let mut r = register_from_table(&img, &templates, &RegisterOptions::default())
                .expect("the table and the field boxes");
            assert_eq!((r.fit, r.rotation), (FitKind::Table, 90));
            // The two forms share the table's shape; the field boxes place it.
            assert!(field_score(&img, &r, &t) > 0.9, "{id}");
            verify(&img, &mut r, &t, &RegisterOptions::default());
            assert!(r.check.ok, "{id}: {:?}", r.check);
        }
    }

    #[test]
    fn a_fit_that_takes_the_second_rule_for_the_first_does_not_verify() {
        // A table whose first column was cut off: its outer rule (x = 22) taken where the next one is (x = 30).
        let t = Template::builtin("gtvt").unwrap();
        let img = page(&t, 100.0);
        let s = 100.0 / 25.4;
        let levels = Levels {
            paper: 255.0,
            ink: 0.0,
        };
        let layout = MarkerLayout::of(&t).unwrap();
        let k = (188.0 - 30.0) / (188.0 - 22.0);
        let wrong = Homography([
            [k * s, 0.0, (30.0 - 22.0 * k) * s],
            [0.0, s, 0.0],
            [0.0, 0.0, 1.0],
        ]);
        let right = Homography([[s, 0.0, 0.0], [0.0, s, 0.0], [0.0, 0.0, 1.0]]);
        for (h, ok) in [(wrong, false), (right, true)] {
            let mut r = Registration::unverified(&layout, h, vec![], FitKind::Table, levels, false);
            verify(&img, &mut r, &t, &RegisterOptions::default());
            assert_eq!(r.check.ok, ok, "{:?}", r.check);
        }
        // The horizontal rules alone cannot tell the two apart; the vertical ones can.
        let wrong = Registration::unverified(&layout, wrong, vec![], FitKind::Table, levels, false);
        assert!(layout_score(&img, &wrong, &t) > 0.9);
        assert!(column_score(&img, &wrong, &t) < 0.5);
    }

    #[test]
    fn a_keystoned_page_that_lost_a_marker_is_fitted_to_its_rules() {
        use imageproc::geometric_transformations::{warp, Interpolation, Projection};
        let t = Template::builtin("khdt").unwrap();
        let dpi = 100.0;
        let s = dpi / 25.4;
        let flat = page(&t, dpi);
        // Template mm -> image px of a page photographed at a slant: the far corners move by about 4 mm.
        let key =
            Homography([[s, 0.0, 0.0], [0.0, s, 0.0], [0.0, 0.0, 1.0]]).then_after(&Homography([
                [1.0, 0.02, 0.0],
                [0.0, 1.0, 0.0],
                [9e-5, 6e-5, 1.0],
            ]));
        let px = Homography([[1.0 / s, 0.0, 0.0], [0.0, 1.0 / s, 0.0], [0.0, 0.0, 1.0]]);
        let m = key.then_after(&px);
        let proj = Projection::from_matrix(m.to_f32()).unwrap();
        let mut img = warp(&flat, &proj, Interpolation::Bilinear, image::Luma([255]));
        let br = key.apply([196.0, 283.0]);
        cut_markers(&mut img, dpi, &[[br[0] / s, br[1] / s]]);
        let RegisterOutcome::Registered(mut r) = register(&img, &[], &RegisterOptions::default())
        else {
            panic!("not registered")
        };
        assert_eq!(r.fit, FitKind::Affine3);
        let off = |r: &Registration| {
            t.boxes()
                .map(|(_, _, b)| dist(r.h.apply([b[2], b[3]]), key.apply([b[2], b[3]])) / s)
                .fold(0.0, f64::max)
        };
        // Three markers fix an affine map, which cannot follow the slant.
        assert!(off(&r) > 1.0, "{}", off(&r));
        verify(&img, &mut r, &t, &RegisterOptions::default());
        assert!(r.check.ok, "{:?}", r.check);
        assert!(off(&r) < 0.3, "{}", off(&r));
    }
}
