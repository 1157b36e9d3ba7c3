//! Code fields: finds the text line inside a field, runs our recognition model through `ocrs`, and decodes
//! under the field's grammar (each position allows only its class of characters) with per-character
//! probabilities, so the result carries a confidence and is sent to review when the model and grammar disagree.

use crate::geom::Homography;
use crate::raster::{percentile, percentile_of_counts, warp_region};
use crate::read::register::Levels;
use crate::read::validate::{CharClass, CodePattern};
pub use crate::results::ValueStatus;
use image::GrayImage;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Errors from the recognizer.
#[derive(Debug, thiserror::Error)]
pub enum OcrError {
    /// The model file could not be loaded.
    #[error("{path}: cannot load recognition model: {reason}")]
    Load {
        /// Model file.
        path: PathBuf,
        /// Cause.
        reason: String,
    },
    /// Running the model failed.
    #[error("recognition failed: {0}")]
    Run(String),
}

/// A text-line recognizer: per-frame log-probabilities over `[blank] + alphabet`.
pub trait LineRecognizer: Send + Sync {
    /// Log-probabilities `[frames][classes]` for a grey line image (dark text on light).
    fn log_probs(&self, line: &GrayImage) -> Result<Vec<Vec<f32>>, OcrError>;
    /// The characters of classes 1.. (class 0 is the CTC blank).
    fn alphabet(&self) -> &[char];
}

/// Model metadata stored beside the ONNX file (`codes.json`).
#[derive(Debug, Clone, serde::Deserialize, Serialize)]
pub struct ModelMeta {
    /// Model name.
    pub name: String,
    /// Model version.
    pub version: String,
    /// Alphabet (class i+1 = alphabet\[i\]).
    pub alphabet: String,
    /// Fixed input height.
    pub input_height: u32,
    /// Padding multiple of the input width.
    #[serde(default = "default_pad")]
    pub pad_multiple: u32,
}

fn default_pad() -> u32 {
    50
}

/// Our shipped model, run through `ocrs` for line preprocessing and `rten` for inference.
pub struct OcrsRecognizer {
    engine: ocrs::OcrEngine,
    model: rten::Model,
    alphabet: Vec<char>,
    meta: ModelMeta,
}

/// The shipped recognition model, compiled into the binary so an installed `phieu` works anywhere.
pub const BUILTIN_MODEL: &[u8] = include_bytes!("../../models/codes.onnx");
/// The shipped model's metadata (`models/codes.json`).
pub const BUILTIN_MODEL_META: &str = include_str!("../../models/codes.json");

impl OcrsRecognizer {
    /// The model compiled into the binary (`models/codes.onnx` at build time).
    pub fn builtin() -> Result<OcrsRecognizer, OcrError> {
        let err = |reason: String| OcrError::Load {
            path: "(built-in model)".into(),
            reason,
        };
        let meta: ModelMeta =
            serde_json::from_str(BUILTIN_MODEL_META).map_err(|e| err(e.to_string()))?;
        let load = || rten::Model::load_static_slice(BUILTIN_MODEL).map_err(|e| err(e.to_string()));
        Self::from_models(meta, load()?, load()?).map_err(err)
    }

    /// Loads an ONNX model file and its `.json` metadata beside it (`--model`).
    pub fn load(onnx: &Path) -> Result<OcrsRecognizer, OcrError> {
        let err = |reason: String| OcrError::Load {
            path: onnx.to_path_buf(),
            reason,
        };
        let meta_path = onnx.with_extension("json");
        let meta: ModelMeta = serde_json::from_str(
            &std::fs::read_to_string(&meta_path)
                .map_err(|e| err(format!("{}: {e}", meta_path.display())))?,
        )
        .map_err(|e| err(e.to_string()))?;
        let load = || rten::Model::load_file(onnx).map_err(|e| err(e.to_string()));
        Self::from_models(meta, load()?, load()?).map_err(err)
    }

    /// `ocrs` owns its copy of the model, and the CTC scores come from running ours directly.
    fn from_models(
        meta: ModelMeta,
        for_engine: rten::Model,
        model: rten::Model,
    ) -> Result<OcrsRecognizer, String> {
        let engine = ocrs::OcrEngine::new(ocrs::OcrEngineParams {
            recognition_model: Some(for_engine),
            alphabet: Some(meta.alphabet.clone()),
            ..Default::default()
        })
        .map_err(|e| e.to_string())?;
        Ok(OcrsRecognizer {
            engine,
            model,
            alphabet: meta.alphabet.chars().collect(),
            meta,
        })
    }

    /// Model metadata.
    pub fn meta(&self) -> &ModelMeta {
        &self.meta
    }
}

thread_local! {
    /// This thread's inference pool: one thread. `phieu scan` already keeps every core busy with one page per
    /// worker; rten's default pool (one thread per core, shared by all workers) split each small line over the
    /// cores and its idle threads spun, which cost about 8% of a batch's CPU time and gave no throughput.
    static INFERENCE_POOL: std::sync::Arc<rten::ThreadPool> =
        std::sync::Arc::new(rten::ThreadPool::with_num_threads(1));
}

/// Run options that keep a model run on the calling worker's own one-thread pool.
fn run_options() -> rten::RunOptions {
    rten::RunOptions::default().with_thread_pool(Some(INFERENCE_POOL.with(|p| p.clone())))
}

impl LineRecognizer for OcrsRecognizer {
    fn log_probs(&self, line: &GrayImage) -> Result<Vec<Vec<f32>>, OcrError> {
        use rten_tensor::prelude::*;
        use rten_tensor::NdTensor;
        let (w, h) = line.dimensions();
        let src = ocrs::ImageSource::from_bytes(line.as_raw(), (w, h))
            .map_err(|e| OcrError::Run(e.to_string()))?;
        let input = self
            .engine
            .prepare_input(src)
            .map_err(|e| OcrError::Run(e.to_string()))?;
        let rect = rten_imageproc::RotatedRect::new(
            rten_imageproc::PointF::from_yx(h as f32 / 2.0, w as f32 / 2.0),
            rten_imageproc::Vec2::from_yx(-1.0, 0.0),
            w as f32,
            h as f32,
        );
        let prepared = self
            .engine
            .prepare_recognition_input(&input, &[rect])
            .map_err(|e| OcrError::Run(e.to_string()))?;
        let [ph, pw] = prepared.shape();
        let m = self.meta.pad_multiple.max(1) as usize;
        let padded_w = pw.div_ceil(m) * m;
        // Pad exactly as ocrs does (and as the model was trained): black (-0.5) on the right.
        let mut t = NdTensor::full([1, 1, ph, padded_w], -0.5f32);
        t.slice_mut((0, 0, .., ..pw)).copy_from(&prepared);
        let out = self
            .model
            .run_one(t.view().into(), Some(run_options()))
            .map_err(|e| OcrError::Run(e.to_string()))?;
        let out: NdTensor<f32, 3> = out
            .try_into()
            .map_err(|_| OcrError::Run("unexpected output".into()))?;
        let [seq, _, classes] = out.shape();
        Ok((0..seq)
            .map(|s| (0..classes).map(|c| out[[s, 0, c]]).collect())
            .collect())
    }

    fn alphabet(&self) -> &[char] {
        &self.alphabet
    }
}

/// What a field is: where it is printed, its grammar, and the codes it may hold when they are known (the day's
/// returned dossiers; empty when not).
#[derive(Clone, Copy)]
pub struct FieldTarget<'a> {
    /// Field outline, template mm.
    pub bbox: [f64; 4],
    /// The value's pattern.
    pub pattern: &'a CodePattern,
    /// Known codes to decode against, sorted (empty: grammar only).
    pub lexicon: &'a [String],
    /// Whether a value of the pattern can exist at all (a real date, a known agency); `None`: every value of the
    /// pattern can. Only codes that can exist compete with the listed ones.
    pub admissible: Option<&'a dyn Fn(&str) -> bool>,
    /// The value an error-corrected copy on the page already gives (the QR's `HS=`), if any. A first reading
    /// that equals it needs no second look: two independent readings already agree.
    pub carried: Option<&'a str>,
}

impl std::fmt::Debug for FieldTarget<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FieldTarget")
            .field("bbox", &self.bbox)
            .field("pattern", self.pattern)
            .field("lexicon", &self.lexicon.len())
            .field("admissible", &self.admissible.is_some())
            .field("carried", &self.carried)
            .finish()
    }
}

/// A grammar-constrained decoding.
#[derive(Debug, Clone, Serialize)]
pub struct Decoded {
    /// The text.
    pub text: String,
    /// Per-character peak probability.
    pub char_probs: Vec<f32>,
    /// Path log-probability.
    pub score: f32,
}

/// Greedy (best-path) CTC decoding with its path log-probability.
pub fn greedy(lp: &[Vec<f32>], alphabet: &[char]) -> (String, f32) {
    let mut out = String::new();
    let mut prev = 0usize;
    let mut score = 0.0;
    for f in lp {
        let (k, &v) = f
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap_or((0, &0.0));
        score += v;
        if k != 0 && k != prev {
            if let Some(&c) = alphabet.get(k - 1) {
                out.push(c);
            }
        }
        prev = k;
    }
    (out, score)
}

/// Best and runner-up (score, candidate) of one label position.
type Top2 = (Option<(f32, usize)>, Option<(f32, usize)>);

/// Best CTC path whose label is one fixed-length sequence of character classes (Viterbi over
/// (position, character) states).
pub fn decode_constrained(
    lp: &[Vec<f32>],
    alphabet: &[char],
    classes: &[CharClass],
) -> Option<Decoded> {
    let t_len = lp.len();
    let l = classes.len();
    if t_len < l || l == 0 {
        return None;
    }
    let idx: Vec<Vec<usize>> = classes
        .iter()
        .map(|c| {
            c.0.iter()
                .filter_map(|ch| alphabet.iter().position(|a| a == ch).map(|i| i + 1))
                .collect()
        })
        .collect();
    if idx.iter().any(|v| v.is_empty()) {
        return None;
    }
    const NEG: f32 = f32::NEG_INFINITY;
    // blank[i]: having emitted i labels, currently on a blank. ch[i][k]: on label i using candidate k.
    let mut blank = vec![NEG; l + 1];
    let mut ch: Vec<Vec<f32>> = idx.iter().map(|v| vec![NEG; v.len()]).collect();
    // Back-pointers: for each t, each state, the previous state encoded.
    #[derive(Clone, Copy)]
    enum Bp {
        Start,
        Blank(usize),
        Ch(usize, usize),
    }
    let mut bp_blank = vec![vec![Bp::Start; l + 1]; t_len];
    let mut bp_ch: Vec<Vec<Vec<Bp>>> = (0..t_len)
        .map(|_| idx.iter().map(|v| vec![Bp::Start; v.len()]).collect())
        .collect();
    blank[0] = lp[0][0];
    for (k, &c) in idx[0].iter().enumerate() {
        ch[0][k] = lp[0][c];
    }
    for t in 1..t_len {
        let f = &lp[t];
        let mut nb = vec![NEG; l + 1];
        let mut nc: Vec<Vec<f32>> = idx.iter().map(|v| vec![NEG; v.len()]).collect();
        for i in 0..=l {
            // Stay on blank i, or come from label i-1.
            let mut best = (blank[i], Bp::Blank(i));
            if i > 0 {
                for (k, &v) in ch[i - 1].iter().enumerate() {
                    if v > best.0 {
                        best = (v, Bp::Ch(i - 1, k));
                    }
                }
            }
            nb[i] = best.0 + f[0];
            bp_blank[t][i] = best.1;
        }
        let top2: Vec<Top2> = ch
            .iter()
            .map(|v| {
                let mut a: Option<(f32, usize)> = None;
                let mut b: Option<(f32, usize)> = None;
                for (k, &x) in v.iter().enumerate() {
                    if a.is_none_or(|(av, _)| x > av) {
                        b = a;
                        a = Some((x, k));
                    } else if b.is_none_or(|(bv, _)| x > bv) {
                        b = Some((x, k));
                    }
                }
                (a, b)
            })
            .collect();
        for i in 0..l {
            for (k, &c) in idx[i].iter().enumerate() {
                let mut best = (ch[i][k], Bp::Ch(i, k));
                if blank[i] > best.0 {
                    best = (blank[i], Bp::Blank(i));
                }
                if i > 0 {
                    // Best previous label with a different character: the best, or the runner-up if it clashes.
                    let (b1, b2) = top2[i - 1];
                    for cand in [b1, b2].into_iter().flatten() {
                        let (v, k2) = cand;
                        if idx[i - 1][k2] != c {
                            if v > best.0 {
                                best = (v, Bp::Ch(i - 1, k2));
                            }
                            break;
                        }
                    }
                }
                nc[i][k] = best.0 + f[c];
                bp_ch[t][i][k] = best.1;
            }
        }
        blank = nb;
        ch = nc;
    }
    let mut end = (blank[l], Bp::Blank(l));
    for (k, &v) in ch[l - 1].iter().enumerate() {
        if v > end.0 {
            end = (v, Bp::Ch(l - 1, k));
        }
    }
    if !end.0.is_finite() {
        return None;
    }
    let mut labels = vec![(0usize, 0.0f32); l];
    let mut state = end.1;
    for t in (0..t_len).rev() {
        let prev = match state {
            Bp::Blank(i) => bp_blank[t][i],
            Bp::Ch(i, k) => {
                let c = idx[i][k];
                let p = lp[t][c].exp();
                if p > labels[i].1 || labels[i].0 != c {
                    labels[i] = (c, labels[i].1.max(p));
                }
                bp_ch[t][i][k]
            }
            Bp::Start => break,
        };
        state = prev;
    }
    Some(Decoded {
        text: labels.iter().map(|(c, _)| alphabet[c - 1]).collect(),
        char_probs: labels.iter().map(|(_, p)| *p).collect(),
        score: end.0,
    })
}

/// The reading of one code field.
#[derive(Debug, Clone, Serialize)]
pub struct FieldReading {
    /// The value (grammar-valid proposal), if any.
    pub value: Option<String>,
    /// The model's unconstrained reading.
    pub raw: Option<String>,
    /// Confidence in [0,1].
    pub confidence: f64,
    /// Outcome.
    pub status: ValueStatus,
    /// Why review is needed.
    pub reasons: Vec<String>,
}

/// Tunables for field reading.
#[derive(Debug, Clone)]
pub struct FieldOptions {
    /// Inset from the field outline, mm.
    pub inset_mm: f64,
    /// Fraction of ink pixels below which the field is empty.
    pub empty_ink: f64,
    /// Minimum per-character probability for automatic acceptance.
    pub min_char_prob: f32,
    /// Largest log-probability gap between the free and the grammar-constrained path.
    pub max_gap: f32,
    /// Resampling resolution, px/mm.
    pub px_per_mm: f64,
    /// Log-likelihood margin (nats) by which a code of the returned list must beat both the next listed code and
    /// the best reading outside the list to be the reading (4.6: a hundred times as likely).
    pub lexicon_margin: f32,
    /// Characters in which a listed code may differ from the grammar's reading to be scored at all.
    pub lexicon_max_distance: usize,
    /// Share of a field's crop that may be dark for the QR's code to outvote an unsure reading of it: more ink
    /// than one printed line means the field was written over.
    pub max_line_ink: f64,
    /// Darkness below the local paper, as a share of the page's paper-to-ink range, from which a pixel counts as
    /// faint ink when a field is judged empty (pencil, a pale pen, a stroke a 1-bit threshold thinned).
    pub faint_level: f32,
    /// Faint ink, in mm², that a field may hold and still be empty (dust and scanner specks are smaller).
    pub faint_area_mm2: f64,
    /// Scan resolution, px per mm along the field's coarser axis as scanned, under which a code the OCR read goes
    /// to a person (`low_resolution`). 4.7 px/mm is 120 dpi: office scans are 150 dpi or finer, a fax's
    /// "normal" rows are 98 dpi, and on a held-out fax page the model read a 7 as a 1 at 0.999.
    pub min_px_per_mm: f64,
    /// Paper added around the line, as a share of its height, for the second reading that an accepted code
    /// must agree with (`unstable_reading` otherwise); 0 turns the check off.
    pub recheck_margin: f64,
}

impl Default for FieldOptions {
    fn default() -> Self {
        FieldOptions {
            inset_mm: 0.8,
            empty_ink: 0.004,
            min_char_prob: 0.95,
            max_gap: 1.0,
            px_per_mm: 10.0,
            max_line_ink: 0.12,
            lexicon_margin: 4.6,
            lexicon_max_distance: 4,
            faint_level: 0.15,
            faint_area_mm2: 1.0,
            min_px_per_mm: 4.7,
            recheck_margin: 0.25,
        }
    }
}

/// Whether a field with no text line is truly empty: no faint ink either. An empty dossier field is accepted (the
/// rating counts for the department), so a code written too faintly to find must never pass for one. The crop is
/// averaged over 2 × 2 pixels first so that single-pixel noise never counts.
pub fn field_is_clean(field: &GrayImage, levels: &Levels, opts: &FieldOptions) -> bool {
    let (w, h) = (field.width() / 2, field.height() / 2);
    if w == 0 || h == 0 {
        return true;
    }
    let mut means: Vec<f32> = Vec::with_capacity((w * h) as usize);
    for y in 0..h {
        for x in 0..w {
            let s: u32 = [(0, 0), (1, 0), (0, 1), (1, 1)]
                .iter()
                .map(|(dx, dy)| field.get_pixel(2 * x + dx, 2 * y + dy).0[0] as u32)
                .sum();
            means.push(s as f32 / 4.0);
        }
    }
    let mut sorted = means.clone();
    sorted.sort_unstable_by(f32::total_cmp);
    let paper = sorted[sorted.len() * 9 / 10];
    let range = (levels.paper - levels.ink).max(40.0);
    let thr = paper - opts.faint_level * range;
    let faint = means.iter().filter(|&&v| v < thr).count() as f64;
    let px_per_mm = opts.px_per_mm / 2.0;
    faint < opts.faint_area_mm2 * px_per_mm * px_per_mm
}

/// Cuts the text line out of an upright field image: the rows and columns that hold ink, with a margin.
/// Returns `None` when the field holds (almost) no ink.
pub fn find_line(field: &GrayImage, levels: &Levels, empty_ink: f64) -> Option<GrayImage> {
    let (w, h) = field.dimensions();
    let range = (levels.paper - levels.ink).max(40.0);
    // One histogram of the field gives its paper, its darkest print and how much lies under each threshold.
    let mut counts = [0usize; 256];
    for &v in field.as_raw() {
        counts[v as usize] += 1;
    }
    let under = |thr: f32| -> usize {
        (0..256)
            .filter(|&v| (v as f32) < thr)
            .map(|v| counts[v])
            .sum()
    };
    let paper = percentile_of_counts(&counts, 90) as f32;
    let page_thr = paper - 0.4 * range;
    if (under(page_thr) as f64) < empty_ink * (w * h) as f64 {
        return None;
    }
    // A print lighter than the page's markers (grey toner, a thin print resampled) has only its cores under the
    // page's threshold, so its band and its gaps come out too narrow and too wide: the line was cut to its middle
    // rows and `-4203` was left off as another run. The field's own darkest ink sets the threshold, never darker
    // than the page's.
    let field_ink = percentile_of_counts(&counts, 1) as f32;
    let local_thr = paper - 0.5 * (paper - field_ink).max(40.0);
    // A shaded paper (darker towards one side) passes the field's own threshold across its darker part: the whole
    // field came out as the line. A code covers far less than a fifth of its field, so past that the page's
    // threshold stands.
    let thr = if (under(local_thr) as f64) < 0.2 * (w * h) as f64 {
        page_thr.max(local_thr)
    } else {
        page_thr
    };
    let ink = |x: u32, y: u32| (field.get_pixel(x, y).0[0] as f32) < thr;
    // A thin print (FreeMono) resampled to the field's scale leaves only faint vertical strokes between the
    // glyphs' bars, so rows in the middle of the line can fall under the ink threshold and cut the band in two;
    // the heavier half alone read `7464567481` as `7161567487`. A short gap whose every row still holds faint
    // ink is bridged: the line goes on through it. Paper between the line and a stray mark holds none.
    let faint_thr = paper - 0.15 * range;
    let (mut rows, mut faint_rows) = (vec![0u32; h as usize], vec![0u32; h as usize]);
    for (y, row) in field.as_raw().chunks_exact(w as usize).enumerate() {
        for &v in row {
            rows[y] += ((v as f32) < thr) as u32;
            faint_rows[y] += ((v as f32) < faint_thr) as u32;
        }
    }
    // The densest band of rows is the text line.
    let min_row = (w as f64 * 0.004).max(2.0) as u32;
    let max_gap = (h as usize / 12).max(2);
    let mut best = (0usize, 0usize, 0u32);
    let mut y = 0;
    while y < h as usize {
        if rows[y] >= min_row {
            let start = y;
            let mut mass = 0;
            loop {
                while y < h as usize && rows[y] >= min_row {
                    mass += rows[y];
                    y += 1;
                }
                let mut g = y;
                while g < h as usize
                    && g - y < max_gap
                    && rows[g] < min_row
                    && faint_rows[g] >= min_row
                {
                    g += 1;
                }
                if g > y && g < h as usize && rows[g] >= min_row {
                    mass += rows[y..g].iter().sum::<u32>();
                    y = g;
                } else {
                    break;
                }
            }
            if mass > best.2 {
                best = (start, y, mass);
            }
        } else {
            y += 1;
        }
    }
    let (y0, y1, _) = best;
    if y1 <= y0 + 2 {
        return None;
    }
    // Columns with ink in the band, grouped into runs separated by gaps wider than the line height; the code is
    // the heaviest run (a sticker edge, a hole punch or a stray stroke beside it stays out).
    let lh0 = (y1 - y0) as u32;
    let mut cols = vec![0u32; w as usize];
    for yy in y0..y1 {
        for x in 0..w {
            if ink(x, yy as u32) {
                cols[x as usize] += 1;
            }
        }
    }
    let gap_max = lh0.max(4);
    let mut runs: Vec<(u32, u32, u32)> = vec![];
    let mut cur: Option<(u32, u32, u32)> = None;
    for x in 0..w {
        let c = cols[x as usize];
        if c == 0 {
            continue;
        }
        cur = match cur {
            Some((a, b, m)) if x - b <= gap_max => Some((a, x, m + c)),
            Some(run) => {
                runs.push(run);
                Some((x, x, c))
            }
            None => Some((x, x, c)),
        };
    }
    runs.extend(cur);
    let &(mut x0, mut x1, _) = runs.iter().max_by_key(|r| r.2)?;
    let lh = (y1 - y0) as u32;
    // A sticker's or a box's edge beside the code is a thin stroke much taller than the text: the model reads it
    // as a 1 (`1000.00.26.H48-240810-32101`). No character of the line is that tall, so it is left out.
    let (mut lo, mut hi) = (0, w);
    let band = (y0 as u32, y1 as u32);
    if let Some(x) = edge_stroke(field, &ink, &cols, (x0, x1), band, true) {
        lo = x.0 + 1;
        x0 = x.1;
    }
    if let Some(x) = edge_stroke(field, &ink, &cols, (x0, x1), band, false) {
        hi = x.0;
        x1 = x.1;
    }
    let my = (lh as f64 * 0.25).round() as u32;
    let mx = (lh as f64 * 0.3).round() as u32;
    let cx0 = x0.saturating_sub(mx).max(lo);
    let cy0 = (y0 as u32).saturating_sub(my);
    let cx1 = (x1 + 1 + mx).min(hi);
    let cy1 = (y1 as u32 + my).min(h);
    Some(image::imageops::crop_imm(field, cx0, cy0, cx1 - cx0, cy1 - cy0).to_image())
}

/// The edge stroke at one end of the ink run `(x0, x1)` (the left end when `left`), if there is one: a few
/// columns of ink, apart from the rest of the run, whose ink runs unbroken across the whole text band `band`
/// and at least a fifth of its height beyond it (a sticker's or a box's edge). No character of the line leaves
/// the band: the band is where the line's characters are. Returns the stroke's column beside the text and the
/// run's new end.
fn edge_stroke(
    field: &GrayImage,
    ink: &dyn Fn(u32, u32) -> bool,
    cols: &[u32],
    (x0, x1): (u32, u32),
    band: (u32, u32),
    left: bool,
) -> Option<(u32, u32)> {
    let lh = band.1 - band.0;
    let max_width = (lh / 4).max(2);
    let min_gap = (lh / 10).max(2);
    let step = |x: u32| if left { x + 1 } else { x.wrapping_sub(1) };
    let inside = |x: u32| x >= x0 && x <= x1;
    let start = if left { x0 } else { x1 };
    let mut x = start;
    let mut width = 0;
    while inside(x) && cols[x as usize] > 0 {
        width += 1;
        x = step(x);
    }
    if width == 0 || width > max_width {
        return None;
    }
    let stroke_end = if left { x - 1 } else { x + 1 };
    let mut gap = 0;
    while inside(x) && cols[x as usize] == 0 {
        gap += 1;
        x = step(x);
    }
    if !inside(x) || gap < min_gap {
        return None;
    }
    // A thin stroke set off from the rest by half the line's height of paper, and by half as much again as the
    // widest space inside the rest, is no character of the code (a sticker's edge broken into dashes by a 1-bit
    // threshold): a code has no spaces, and a hand that spaces its groups widely keeps its strokes. A character
    // written that far off is lost with it, and the code then reads too short and goes to a person.
    let (r0, r1) = if left { (x, x1) } else { (x0, x) };
    let mut widest = 0;
    let mut run = 0;
    for xx in r0..=r1 {
        run = if cols[xx as usize] == 0 { run + 1 } else { 0 };
        widest = widest.max(run);
    }
    if gap >= lh / 2 && 2 * gap >= 3 * widest {
        return Some((stroke_end, x));
    }
    // The stroke's ink followed down the field across gaps of a few rows (a halftone or a thin print breaks it).
    let (a, b) = if left {
        (start, stroke_end)
    } else {
        (stroke_end, start)
    };
    let max_skip = (lh / 5).max(3);
    let (mut best, mut from, mut last) = ((0, 0), None, 0);
    for y in 0..field.height() {
        if (a..=b).any(|xx| ink(xx, y)) {
            let f = match from {
                Some(f) if y - last <= max_skip + 1 => f,
                _ => y,
            };
            from = Some(f);
            last = y;
            if y + 1 - f > best.1 - best.0 {
                best = (f, y + 1);
            }
        }
    }
    let (top, bottom) = best;
    let tol = (lh / 10).max(1);
    let beyond = (lh / 5).max(2);
    let covers = top <= band.0 + tol && bottom + tol >= band.1;
    let leaves = band.0.saturating_sub(top) >= beyond || bottom.saturating_sub(band.1) >= beyond;
    (covers && leaves).then_some((stroke_end, x))
}

/// Skew of the text in a line image, degrees (positive: the line descends to the right), or `None` when it is
/// within `min_deg` of level. Found as the shear that makes the row profile of the ink sharpest, the usual
/// projection-profile method; stickers are stuck on by hand and lean by several degrees.
pub fn line_skew_deg(line: &GrayImage, levels: &Levels, min_deg: f64, max_deg: f64) -> Option<f64> {
    let (w, h) = line.dimensions();
    let range = (levels.paper - levels.ink).max(40.0);
    let thr = percentile(line.as_raw(), 90) as f32 - 0.4 * range;
    let mut pts: Vec<(f32, f32)> = vec![];
    for (i, &v) in line.as_raw().iter().enumerate() {
        if (v as f32) < thr {
            pts.push(((i as u32 % w) as f32, (i as u32 / w) as f32));
        }
    }
    if pts.len() < 50 {
        return None;
    }
    // Bound the work on heavy ink: every k-th pixel keeps the profile's shape.
    let k = (pts.len() / 20_000).max(1);
    let margin = (w as f64 * max_deg.to_radians().tan()).ceil() as i64 + 1;
    let bins = (h as i64 + 2 * margin) as usize;
    let mut hist = vec![0u32; bins];
    let score = |deg: f64, hist: &mut Vec<u32>| -> u64 {
        hist.iter_mut().for_each(|v| *v = 0);
        let t = deg.to_radians().tan() as f32;
        for &(x, y) in pts.iter().step_by(k) {
            let b = (y - x * t) as i64 + margin;
            hist[b.clamp(0, bins as i64 - 1) as usize] += 1;
        }
        hist.iter().map(|&c| c as u64 * c as u64).sum()
    };
    let level = score(0.0, &mut hist);
    let (mut best, mut best_s) = (0.0, level);
    let steps = (max_deg / 0.25).round() as i64;
    for i in -steps..=steps {
        let deg = i as f64 * 0.25;
        let s = score(deg, &mut hist);
        if s > best_s {
            (best, best_s) = (deg, s);
        }
    }
    // A clear gain over level is required, so noise on a straight line does not rotate it.
    (best.abs() >= min_deg && best_s as f64 > level as f64 * 1.15).then_some(best)
}

/// Rotates an image by `deg` about its centre (bilinear), filling with `fill`.
pub fn rotate_about_centre(img: &GrayImage, deg: f64, fill: u8) -> GrayImage {
    let (w, h) = img.dimensions();
    let (s, c) = deg.to_radians().sin_cos();
    let (cx, cy) = (w as f64 / 2.0, h as f64 / 2.0);
    GrayImage::from_fn(w, h, |x, y| {
        let (dx, dy) = (x as f64 + 0.5 - cx, y as f64 + 0.5 - cy);
        let p = [cx + c * dx - s * dy, cy + s * dx + c * dy];
        let inside = p[0] >= 0.0 && p[1] >= 0.0 && p[0] < w as f64 && p[1] < h as f64;
        let v = if inside {
            crate::raster::sample(img, p) + 0.5
        } else {
            fill as f32
        };
        image::Luma([v as u8])
    })
}

/// The text line of a field, levelled: [`find_line`], and when the line leans (a sticker stuck on askew) the
/// field is rotated level and the line found again, so the recognizer sees a straight, tight line.
pub fn straight_line(field: &GrayImage, levels: &Levels, empty_ink: f64) -> Option<GrayImage> {
    let line = find_line(field, levels, empty_ink)?;
    let Some(deg) = line_skew_deg(&line, levels, 0.75, 8.0) else {
        return Some(line);
    };
    let paper = levels.paper.clamp(0.0, 255.0) as u8;
    find_line(&rotate_about_centre(field, deg, paper), levels, empty_ink).or(Some(line))
}

/// The line with paper added on every side, `share` of its height on each.
pub fn with_margin(line: &GrayImage, share: f64) -> GrayImage {
    let (w, h) = line.dimensions();
    let m = (h as f64 * share).round().max(1.0) as u32;
    let paper = percentile(line.as_raw(), 90);
    let mut out = GrayImage::from_pixel(w + 2 * m, h + 2 * m, image::Luma([paper]));
    image::imageops::replace(&mut out, line, m as i64, m as i64);
    out
}

/// Reads one field: crop, recognize, decode under `pattern`, decide.
pub fn read_field(
    img: &GrayImage,
    h: &Homography,
    target: &FieldTarget<'_>,
    levels: &Levels,
    rec: Option<&dyn LineRecognizer>,
    opts: &FieldOptions,
) -> (FieldReading, Option<GrayImage>) {
    let (bbox, pattern, lexicon) = (target.bbox, target.pattern, target.lexicon);
    let inner = [
        bbox[0] + opts.inset_mm,
        bbox[1] + opts.inset_mm,
        bbox[2] - opts.inset_mm,
        bbox[3] - opts.inset_mm,
    ];
    let field = warp_region(img, h, inner, opts.px_per_mm);
    let Some(line) = straight_line(&field, levels, opts.empty_ink) else {
        if field_is_clean(&field, levels, opts) {
            return (
                FieldReading {
                    value: None,
                    raw: None,
                    confidence: 0.95,
                    status: ValueStatus::Missing,
                    reasons: vec![],
                },
                None,
            );
        }
        // Ink too faint or too scattered to be a line: an empty field must be certain.
        return (
            FieldReading {
                value: None,
                raw: None,
                confidence: 0.5,
                status: ValueStatus::NeedsReview,
                reasons: vec!["faint_field".into()],
            },
            Some(field),
        );
    };
    let review =
        |reason: &str, value: Option<String>, raw: Option<String>, conf: f64| FieldReading {
            value,
            raw,
            confidence: conf,
            status: ValueStatus::NeedsReview,
            reasons: vec![reason.to_string()],
        };
    let Some(rec) = rec else {
        return (review("no_recognition_model", None, None, 0.0), Some(field));
    };
    let lp = match rec.log_probs(&line) {
        Ok(lp) => lp,
        Err(e) => {
            return (
                review(&format!("recognition_failed: {e}"), None, None, 0.0),
                Some(field),
            )
        }
    };
    let (mut fr, t0) = decide_field_from(&lp, rec.alphabet(), pattern, opts);
    if fr.status == ValueStatus::Accepted
        && opts.recheck_margin > 0.0
        && target
            .carried
            .is_none_or(|c| fr.value.as_deref() != Some(c))
    {
        // A second look at the same line with a wider margin (the model sees the characters about a fifth
        // smaller). A reading the model is sure of only at one scale is a guess: on held-out handwriting the
        // fine-tuned model read a 5 as a 6 at 0.985 while the other scale disagreed. The looks agree on the
        // same grammar reading, or when the second reads the code character for character at the end of its
        // line (a sticker's label before it may read differently).
        let agrees = rec
            .log_probs(&with_margin(&line, opts.recheck_margin))
            .is_ok_and(|lp2| {
                let again = decide_field(&lp2, rec.alphabet(), pattern, opts);
                again.value == fr.value
                    || fr
                        .value
                        .as_deref()
                        .zip(again.raw.as_deref())
                        .is_some_and(|(v, raw)| raw.ends_with(v))
            });
        if !agrees {
            fr.status = ValueStatus::NeedsReview;
            fr.reasons.push("unstable_reading".into());
        }
    }
    if !lexicon.is_empty() {
        // Past a sticker's printed label, the listed codes are scored on the frames of the code alone.
        let lp = &lp[t0..];
        let code_raw = (t0 > 0).then(|| greedy(lp, rec.alphabet()).0);
        // Only a code that can exist competes with the list: a reading off the grammar, with an impossible date
        // or an unknown agency is no code at all (a hand-written 0 read as a 9 in the month). In its place, every
        // code that can exist, is not listed and is one character from the winner competes with it below.
        let admissible = |v: &str| pattern.matches(v) && target.admissible.is_none_or(|f| f(v));
        let off: Vec<&str> = fr
            .value
            .iter()
            .chain(if t0 > 0 {
                code_raw.iter()
            } else {
                fr.raw.iter()
            })
            .map(|s| s.as_str())
            .filter(|s| admissible(s))
            .collect();
        // Only listed codes near the grammar's reading are scored: one farther off is far less likely than
        // the neighbours, and scoring every code of a day's list would cost a second a field.
        let near: Vec<String> = fr.value.as_deref().map_or(vec![], |v| {
            lexicon
                .iter()
                .filter(|c| {
                    c.len() == v.len()
                        && c.chars().zip(v.chars()).filter(|(a, b)| a != b).count()
                            <= opts.lexicon_max_distance
                })
                .cloned()
                .collect()
        });
        if let Some(l) = read_with_lexicon(lp, rec.alphabet(), &near, &off) {
            // A listed code is the reading only when it clearly beats the next listed code (neighbours one
            // digit apart are normal), every admissible reading outside the list, and every admissible code one
            // character away that is not listed: the dossier of a form whose code is missing from the list is
            // such a neighbour, and it must never be forced onto the listed one.
            let listed = |v: &str| lexicon.binary_search_by(|c| c.as_str().cmp(v)).is_ok();
            let unlisted = best_one_char_neighbour(lp, rec.alphabet(), pattern, &l.code, &|v| {
                !listed(v) && admissible(v)
            })
            .map_or(f32::NEG_INFINITY, |n| n.0);
            let margin_unlisted = l.log_likelihood - unlisted;
            if l.margin_listed >= opts.lexicon_margin
                && l.margin_off_list >= opts.lexicon_margin
                && margin_unlisted >= opts.lexicon_margin
            {
                let posterior =
                    1.0 / (1.0 / l.posterior + ((unlisted - l.log_likelihood) as f64).exp());
                fr = FieldReading {
                    value: Some(l.code),
                    raw: fr.raw,
                    confidence: posterior,
                    status: ValueStatus::Accepted,
                    reasons: vec![],
                };
            } else if fr.value.as_deref() == Some(l.code.as_str())
                && fr.status == ValueStatus::Accepted
            {
                // The plain reading is a listed code, but a listed neighbour is nearly as likely.
                fr.status = ValueStatus::NeedsReview;
                fr.reasons.push("close_listed_neighbour".into());
            }
        }
    }
    (fr, Some(field))
}

/// The model's class of `c` (1-based: class 0 is the CTC blank), or `None` outside the alphabet.
fn class_of(alphabet: &[char], c: char) -> Option<usize> {
    alphabet.iter().position(|&a| a == c).map(|i| i + 1)
}

/// The CTC states of a label sequence: blank, l1, blank, l2, ..., blank.
fn extended(labels: &[usize]) -> Vec<usize> {
    (0..2 * labels.len() + 1)
        .map(|s| if s % 2 == 0 { 0 } else { labels[s / 2] })
        .collect()
}

/// Log-likelihood of `text` under CTC output `lp` (the forward algorithm summed over every alignment), or `None`
/// when a character is not in the alphabet or the text is longer than the frames allow.
pub fn ctc_log_likelihood(lp: &[Vec<f32>], alphabet: &[char], text: &str) -> Option<f32> {
    ctc_log_likelihood_in(&FrameProbs::new(lp), alphabet, text)
}

/// Model output as probabilities, computed once for the many texts a list scores against one line.
struct FrameProbs(Vec<Vec<f64>>);

impl FrameProbs {
    fn new(lp: &[Vec<f32>]) -> Self {
        FrameProbs(
            lp.iter()
                .map(|f| f.iter().map(|&v| (v as f64).exp()).collect())
                .collect(),
        )
    }
}

/// [`ctc_log_likelihood`] on probabilities: the forward variables are rescaled to sum to one at every frame and
/// the scales' logarithms summed, so no cell needs a logarithm or an exponential (a day's list scores thousands
/// of texts per field; in log space each cost about 0.3 ms).
fn ctc_log_likelihood_in(p: &FrameProbs, alphabet: &[char], text: &str) -> Option<f32> {
    let p = &p.0;
    let labels: Vec<usize> = text
        .chars()
        .map(|c| class_of(alphabet, c))
        .collect::<Option<_>>()?;
    let t_len = p.len();
    if labels.is_empty() || t_len < labels.len() {
        return None;
    }
    let ext = extended(&labels);
    let s_len = ext.len();
    let mut log_scale = 0.0f64;
    let rescale = |a: &mut [f64], log_scale: &mut f64| {
        let c: f64 = a.iter().sum();
        if c > 0.0 {
            a.iter_mut().for_each(|v| *v /= c);
            *log_scale += c.ln();
        }
        c > 0.0
    };
    let mut alpha = vec![0.0f64; s_len];
    alpha[0] = p[0][0];
    alpha[1] = p[0][ext[1]];
    if !rescale(&mut alpha, &mut log_scale) {
        return Some(f32::NEG_INFINITY);
    }
    let mut next = vec![0.0f64; s_len];
    for frame in &p[1..] {
        for s in 0..s_len {
            let mut a = alpha[s];
            if s >= 1 {
                a += alpha[s - 1];
            }
            if s >= 2 && s % 2 == 1 && ext[s] != ext[s - 2] {
                a += alpha[s - 2];
            }
            next[s] = a * frame[ext[s]];
        }
        std::mem::swap(&mut alpha, &mut next);
        if !rescale(&mut alpha, &mut log_scale) {
            return Some(f32::NEG_INFINITY);
        }
    }
    Some((log_scale + (alpha[s_len - 1] + alpha[s_len - 2]).ln()) as f32)
}

fn log_add(a: f32, b: f32) -> f32 {
    if a == f32::NEG_INFINITY {
        b
    } else if b == f32::NEG_INFINITY {
        a
    } else {
        let m = a.max(b);
        m + ((a - m).exp() + (b - m).exp()).ln()
    }
}

/// The CTC forward and backward variables of one text under one model output. From them the likelihood of each
/// text that differs in one character follows in one pass over the frames, instead of a forward pass per
/// variant: a code's one-character neighbours (a few hundred) cost about as much as the code itself.
struct CtcLattice<'a> {
    lp: &'a [Vec<f32>],
    /// Extended labels: blank, l1, blank, l2, ..., blank.
    ext: Vec<usize>,
    /// `alpha[t][s]`: log-probability of the frames up to `t` ending in state `s`.
    alpha: Vec<Vec<f32>>,
    /// `beta[t][s]`: log-probability of the frames from `t` on, starting in state `s` at `t`.
    beta: Vec<Vec<f32>>,
}

impl<'a> CtcLattice<'a> {
    fn new(lp: &'a [Vec<f32>], labels: &[usize]) -> Option<Self> {
        let t_len = lp.len();
        if labels.is_empty() || t_len < labels.len() {
            return None;
        }
        let ext = extended(labels);
        let s_len = ext.len();
        let skip = |s: usize| s >= 2 && s % 2 == 1 && ext[s] != ext[s - 2];
        let mut alpha = vec![vec![f32::NEG_INFINITY; s_len]; t_len];
        alpha[0][0] = lp[0][0];
        alpha[0][1] = lp[0][ext[1]];
        for t in 1..t_len {
            for s in 0..s_len {
                let mut a = alpha[t - 1][s];
                if s >= 1 {
                    a = log_add(a, alpha[t - 1][s - 1]);
                }
                if skip(s) {
                    a = log_add(a, alpha[t - 1][s - 2]);
                }
                alpha[t][s] = a + lp[t][ext[s]];
            }
        }
        let mut beta = vec![vec![f32::NEG_INFINITY; s_len]; t_len];
        beta[t_len - 1][s_len - 1] = lp[t_len - 1][0];
        beta[t_len - 1][s_len - 2] = lp[t_len - 1][ext[s_len - 2]];
        for t in (0..t_len - 1).rev() {
            for s in 0..s_len {
                let mut b = beta[t + 1][s];
                if s + 1 < s_len {
                    b = log_add(b, beta[t + 1][s + 1]);
                }
                if s + 2 < s_len && skip(s + 2) {
                    b = log_add(b, beta[t + 1][s + 2]);
                }
                beta[t][s] = b + lp[t][ext[s]];
            }
        }
        Some(CtcLattice {
            lp,
            ext,
            alpha,
            beta,
        })
    }

    /// Log-likelihood of the text itself (what `ctc_log_likelihood` gives).
    #[cfg(test)]
    fn total(&self) -> f32 {
        let (t, s) = (self.lp.len() - 1, self.ext.len());
        log_add(self.alpha[t][s - 1], self.alpha[t][s - 2])
    }

    /// Log-likelihood of the text with its `i`-th character replaced by class `c` (1-based, as in `lp`). Every
    /// path of the variant passes through the replaced state: its prefix is the text's own forward variables,
    /// its suffix the text's own backward variables, so only that state's run is computed anew.
    fn substituted(&self, i: usize, c: usize) -> f32 {
        let (t_len, s_len) = (self.lp.len(), self.ext.len());
        let s = 2 * i + 1;
        let skip_in = s >= 2 && c != self.ext[s - 2];
        let skip_out = s + 2 < s_len && c != self.ext[s + 2];
        let mut run = f32::NEG_INFINITY;
        let mut total = f32::NEG_INFINITY;
        for t in 0..t_len {
            let entered = if t == 0 {
                if s == 1 {
                    0.0
                } else {
                    f32::NEG_INFINITY
                }
            } else {
                let mut a = self.alpha[t - 1][s - 1];
                if skip_in {
                    a = log_add(a, self.alpha[t - 1][s - 2]);
                }
                log_add(a, run)
            };
            run = entered + self.lp[t][c];
            let leave = if t + 1 < t_len {
                let mut b = self.beta[t + 1][s + 1];
                if skip_out {
                    b = log_add(b, self.beta[t + 1][s + 2]);
                }
                b
            } else if s == s_len - 2 {
                0.0
            } else {
                f32::NEG_INFINITY
            };
            total = log_add(total, run + leave);
        }
        total
    }
}

/// The best log-likelihood among the codes one character from `code` that `keep` accepts (in the pattern's
/// class at that position), with that code; `None` when there is none.
pub fn best_one_char_neighbour(
    lp: &[Vec<f32>],
    alphabet: &[char],
    pattern: &CodePattern,
    code: &str,
    keep: &dyn Fn(&str) -> bool,
) -> Option<(f32, String)> {
    let chars: Vec<char> = code.chars().collect();
    let labels: Vec<usize> = chars
        .iter()
        .map(|&c| class_of(alphabet, c))
        .collect::<Option<_>>()?;
    let lattice = CtcLattice::new(lp, &labels)?;
    let mut best: Option<(f32, String)> = None;
    for i in 0..chars.len() {
        let mut allowed: Vec<char> = pattern
            .alternatives
            .iter()
            .filter(|a| a.len() == chars.len())
            .flat_map(|a| a[i].0.iter().copied())
            .collect();
        allowed.sort_unstable();
        allowed.dedup();
        for c in allowed.into_iter().filter(|&c| c != chars[i]) {
            let Some(label) = class_of(alphabet, c) else {
                continue;
            };
            let mut v = chars.clone();
            v[i] = c;
            let v: String = v.into_iter().collect();
            if !keep(&v) {
                continue;
            }
            let ll = lattice.substituted(i, label);
            if best.as_ref().is_none_or(|b| ll > b.0) {
                best = Some((ll, v));
            }
        }
    }
    best
}

/// What decoding against a list of known codes (the day's returned dossiers) found.
#[derive(Debug, Clone, PartialEq)]
pub struct LexiconRead {
    /// The most likely listed code.
    pub code: String,
    /// Its log-likelihood under the model output.
    pub log_likelihood: f32,
    /// Its log-likelihood minus the next listed code's (infinite with a one-code list).
    pub margin_listed: f32,
    /// Its log-likelihood minus that of the best reading outside the list (the grammar's and the free one).
    pub margin_off_list: f32,
    /// Its posterior among the listed codes and the best off-list reading.
    pub posterior: f64,
}

/// Scores every code of `lexicon` under the model output and compares the best with the next listed code and
/// with the best reading that is not listed (`off_list`: the grammar-constrained and free readings), so that a
/// code missing from the list is never forced onto a listed neighbour.
pub fn read_with_lexicon(
    lp: &[Vec<f32>],
    alphabet: &[char],
    lexicon: &[String],
    off_list: &[&str],
) -> Option<LexiconRead> {
    let probs = FrameProbs::new(lp);
    let mut scored: Vec<(f32, &String)> = lexicon
        .iter()
        .filter_map(|c| Some((ctc_log_likelihood_in(&probs, alphabet, c)?, c)))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let &(best, code) = scored.first()?;
    let next = scored.get(1).map_or(f32::NEG_INFINITY, |s| s.0);
    let off = off_list
        .iter()
        .filter(|t| !lexicon.iter().any(|c| c == *t))
        .filter_map(|t| ctc_log_likelihood_in(&probs, alphabet, t))
        .fold(f32::NEG_INFINITY, f32::max);
    let z: f64 = scored
        .iter()
        .map(|s| ((s.0 - best) as f64).exp())
        .sum::<f64>()
        + ((off - best) as f64).exp();
    Some(LexiconRead {
        code: code.clone(),
        log_likelihood: best,
        margin_listed: best - next,
        margin_off_list: best - off,
        posterior: 1.0 / z,
    })
}

/// Decides a field from model output: best grammar alternative, its agreement with the free reading, and the
/// weakest character. A line that does not read as a code but starts with a short label ending in a separator
/// (a sticker's `HS:`, which the model, having no colon, reads as `HS.` or `49.`) is read again from where the
/// code begins; only a clean reading of the rest is taken.
pub fn decide_field(
    lp: &[Vec<f32>],
    alphabet: &[char],
    pattern: &CodePattern,
    opts: &FieldOptions,
) -> FieldReading {
    decide_field_from(lp, alphabet, pattern, opts).0
}

/// [`decide_field`], with the frame where the accepted code begins (0, or the frame after a label).
pub fn decide_field_from(
    lp: &[Vec<f32>],
    alphabet: &[char],
    pattern: &CodePattern,
    opts: &FieldOptions,
) -> (FieldReading, usize) {
    let whole = decide_line(lp, alphabet, pattern, opts);
    if whole.status == ValueStatus::Accepted {
        return (whole, 0);
    }
    let Some(t0) = after_label(lp, alphabet, pattern) else {
        return (whole, 0);
    };
    let code = decide_line(&lp[t0..], alphabet, pattern, opts);
    if code.status == ValueStatus::Accepted {
        (
            FieldReading {
                raw: whole.raw,
                ..code
            },
            t0,
        )
    } else {
        (whole, 0)
    }
}

/// The frame where the code begins on a line that reads as 2–3 characters more than one of the grammar's
/// lengths: a label printed before the code (`HS:` has no colon in the alphabet, so it reads as `HS.`, `49.` or
/// `45`). Before a code of bare digits the label must end in `.` or `-`. A reading with a single stray leading
/// digit is not a label (a code's own first digit may have been doubled), so it is left alone.
fn after_label(lp: &[Vec<f32>], alphabet: &[char], pattern: &CodePattern) -> Option<usize> {
    let mut chars: Vec<(char, usize)> = vec![];
    let mut prev = 0usize;
    for (t, f) in lp.iter().enumerate() {
        let k = f
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or(0, |(k, _)| k);
        if k != 0 && k != prev {
            if let Some(&c) = alphabet.get(k - 1) {
                chars.push((c, t));
            }
        }
        prev = k;
    }
    pattern.alternatives.iter().find_map(|a| {
        let extra = chars.len().checked_sub(a.len())?;
        // A code with literal separators (`ddd.dd.dd.…`) only reads cleanly from the right frame, so extra
        // characters anywhere but before it fail the grammar. A code of bare digits has no such check: a label
        // before it must end in a separator, or two stray digits after it could be taken for one.
        let structured = a.iter().any(|c| c.0.len() == 1 && !c.0[0].is_ascii_digit());
        let label_ok =
            (2..=3).contains(&extra) && (structured || matches!(chars[extra - 1].0, '.' | '-'));
        // Start in the blank frames between the label's last character and the code's first.
        label_ok.then(|| (chars[extra - 1].1 + chars[extra].1).div_ceil(2))
    })
}

/// [`decide_field`] on one line taken whole.
fn decide_line(
    lp: &[Vec<f32>],
    alphabet: &[char],
    pattern: &CodePattern,
    opts: &FieldOptions,
) -> FieldReading {
    let (raw, free_score) = greedy(lp, alphabet);
    let mut alts: Vec<Decoded> = pattern
        .alternatives
        .iter()
        .filter_map(|a| decode_constrained(lp, alphabet, a))
        .collect();
    alts.sort_by(|a, b| b.score.total_cmp(&a.score));
    let Some(best) = alts.first().cloned() else {
        return FieldReading {
            value: None,
            raw: Some(raw),
            confidence: 0.0,
            status: ValueStatus::NeedsReview,
            reasons: vec!["unreadable".into()],
        };
    };
    let min_p = best.char_probs.iter().cloned().fold(1.0f32, f32::min);
    let gap = free_score - best.score;
    let mut reasons = vec![];
    if raw != best.text {
        reasons.push("grammar_disagreement".to_string());
    }
    if gap > opts.max_gap {
        reasons.push("off_grammar".to_string());
    }
    if min_p < opts.min_char_prob {
        reasons.push("low_char_confidence".to_string());
    }
    if let Some(second) = alts.get(1) {
        if best.score - second.score < 2.0 {
            reasons.push("ambiguous_length".to_string());
        }
    }
    let confidence = (min_p as f64) * (-(gap.max(0.0) as f64)).exp();
    reasons.dedup();
    FieldReading {
        value: Some(best.text),
        raw: Some(raw),
        confidence,
        status: if reasons.is_empty() {
            ValueStatus::Accepted
        } else {
            ValueStatus::NeedsReview
        },
        reasons,
    }
}

/// A fake recognizer for tests: emits a fixed text as a confident CTC path.
pub struct FakeRecognizer {
    /// Text to emit.
    pub text: String,
    /// Alphabet.
    pub alphabet: Vec<char>,
    /// Probability given to each emitted character.
    pub p: f32,
}

impl LineRecognizer for FakeRecognizer {
    fn log_probs(&self, _line: &GrayImage) -> Result<Vec<Vec<f32>>, OcrError> {
        let c = self.alphabet.len() + 1;
        let mut out = vec![];
        let rest = ((1.0 - self.p) / (c - 1) as f32).ln();
        for ch in self.text.chars() {
            let k = self
                .alphabet
                .iter()
                .position(|&a| a == ch)
                .map(|i| i + 1)
                .unwrap_or(0);
            let mut f = vec![rest; c];
            f[k] = self.p.ln();
            out.push(f.clone());
            let mut b = vec![rest; c];
            b[0] = self.p.ln();
            out.push(b);
        }
        Ok(out)
    }
    fn alphabet(&self) -> &[char] {
        &self.alphabet
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`alpha`] for fake recognisers, which lend their alphabet out.
    fn static_alpha() -> &'static [char] {
        static A: std::sync::OnceLock<Vec<char>> = std::sync::OnceLock::new();
        A.get_or_init(alpha)
    }

    fn alpha() -> Vec<char> {
        "0123456789.-ABCDEFGHIJKLMNOPQRSTUVWXYZ".chars().collect()
    }

    fn dossier() -> CodePattern {
        CodePattern::from_regex(r"^\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}-\d{6}-\d{4}$").unwrap()
    }

    /// A row of glyph-like blocks whose baseline descends `deg` degrees to the right.
    fn leaning_line(deg: f64) -> GrayImage {
        let mut img = GrayImage::from_pixel(600, 120, image::Luma([245]));
        let t = deg.to_radians().tan();
        for k in 0..25 {
            let x0 = 30 + k * 21;
            for x in x0..x0 + 12 {
                let base = 60.0 + (x as f64 - 300.0) * t;
                for y in (base as i64 - 16)..(base as i64) {
                    img.put_pixel(x, y as u32, image::Luma([20]));
                }
            }
        }
        img
    }

    #[test]
    fn askew_sticker_line_is_measured_and_levelled() {
        let levels = Levels {
            paper: 245.0,
            ink: 20.0,
        };
        let deg = line_skew_deg(&leaning_line(4.0), &levels, 0.75, 8.0).unwrap();
        assert!((deg - 4.0).abs() <= 0.5, "{deg}");
        let deg = line_skew_deg(&leaning_line(-3.0), &levels, 0.75, 8.0).unwrap();
        assert!((deg + 3.0).abs() <= 0.5, "{deg}");
        assert_eq!(line_skew_deg(&leaning_line(0.0), &levels, 0.75, 8.0), None);
        // Levelled, the line is about as tall as a glyph (16 px plus margins), not the 16 + 35 px it spans askew.
        let tilted = find_line(&leaning_line(4.0), &levels, 0.004).unwrap();
        let level = straight_line(&leaning_line(4.0), &levels, 0.004).unwrap();
        assert!(tilted.height() > 45, "{}", tilted.height());
        assert!(level.height() < 30, "{}", level.height());
    }

    #[test]
    fn confident_valid_reading_is_accepted() {
        let f = FakeRecognizer {
            text: "000.00.17.H48-210426-0001".into(),
            alphabet: alpha(),
            p: 0.99,
        };
        let lp = f.log_probs(&GrayImage::new(1, 1)).unwrap();
        let r = decide_field(&lp, &alpha(), &dossier(), &FieldOptions::default());
        assert_eq!(r.value.as_deref(), Some("000.00.17.H48-210426-0001"));
        assert_eq!(r.status, ValueStatus::Accepted, "{r:?}");
    }

    fn read(text: &str) -> FieldReading {
        let f = FakeRecognizer {
            text: text.into(),
            alphabet: alpha(),
            p: 0.99,
        };
        let lp = f.log_probs(&GrayImage::new(1, 1)).unwrap();
        decide_field(&lp, &alpha(), &dossier(), &FieldOptions::default())
    }

    #[test]
    fn sticker_label_before_the_code_is_not_read_as_the_code() {
        for line in [
            "HS.000.00.17.H48-210426-0001",
            "49.000.00.17.H48-210426-0001",
        ] {
            let r = read(line);
            assert_eq!(
                r.value.as_deref(),
                Some("000.00.17.H48-210426-0001"),
                "{line}"
            );
            assert_eq!(r.status, ValueStatus::Accepted, "{line}: {r:?}");
            assert_eq!(r.raw.as_deref(), Some(line));
        }
    }

    /// Reads one code from the line the first time and another on every later look (the wider margin).
    struct ScaleDependent(std::sync::atomic::AtomicU32);

    impl LineRecognizer for ScaleDependent {
        fn log_probs(&self, line: &GrayImage) -> Result<Vec<Vec<f32>>, OcrError> {
            let seen = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let digit = if seen == 0 { '5' } else { '6' };
            FakeRecognizer {
                text: format!("000.00.17.H48-210426-000{digit}"),
                alphabet: alpha(),
                p: 0.99,
            }
            .log_probs(line)
        }
        fn alphabet(&self) -> &[char] {
            static_alpha()
        }
    }

    #[test]
    fn a_code_read_differently_with_a_wider_margin_goes_to_review() {
        let levels = Levels {
            paper: 245.0,
            ink: 20.0,
        };
        let pattern = dossier();
        let target = FieldTarget {
            bbox: [0.0, 0.0, 60.0, 12.0],
            pattern: &pattern,
            lexicon: &[],
            admissible: None,
            carried: None,
        };
        let read_with = |rec: &dyn LineRecognizer, opts: &FieldOptions, target: &FieldTarget| {
            read_field(
                &leaning_line(0.0),
                &Homography::scale(10.0),
                target,
                &levels,
                Some(rec),
                opts,
            )
            .0
        };
        let read = |rec: &dyn LineRecognizer, opts: &FieldOptions| read_with(rec, opts, &target);
        let unsure = || ScaleDependent(std::sync::atomic::AtomicU32::new(0));
        let r = read(&unsure(), &FieldOptions::default());
        assert_eq!(r.status, ValueStatus::NeedsReview, "{r:?}");
        assert!(r.reasons.contains(&"unstable_reading".to_string()));
        let off = FieldOptions {
            recheck_margin: 0.0,
            ..FieldOptions::default()
        };
        assert_eq!(read(&unsure(), &off).status, ValueStatus::Accepted);
        let steady = FakeRecognizer {
            text: "000.00.17.H48-210426-0005".into(),
            alphabet: alpha(),
            p: 0.99,
        };
        let r = read(&steady, &FieldOptions::default());
        assert_eq!(r.status, ValueStatus::Accepted, "{r:?}");
        // The QR's copy already agrees with the first reading: the model is not run a second time.
        let mut confirmed = target;
        confirmed.carried = Some("000.00.17.H48-210426-0005");
        let rec = unsure();
        let r = read_with(&rec, &FieldOptions::default(), &confirmed);
        assert_eq!(r.status, ValueStatus::Accepted, "{r:?}");
        assert_eq!(rec.0.load(std::sync::atomic::Ordering::Relaxed), 1);
        // A QR copy of another code does not spare the second look.
        confirmed.carried = Some("000.00.17.H48-210426-0009");
        let r = read_with(&unsure(), &FieldOptions::default(), &confirmed);
        assert!(r.reasons.contains(&"unstable_reading".to_string()), "{r:?}");
    }

    #[test]
    fn a_listed_code_after_a_sticker_label_is_read_against_the_list() {
        let levels = Levels {
            paper: 245.0,
            ink: 20.0,
        };
        let code = "000.00.17.H48-210426-0001";
        let rec = FakeRecognizer {
            text: format!("HS.{code}"),
            alphabet: alpha(),
            p: 0.99,
        };
        // Same-day neighbours one digit apart, as a real returned list has them.
        let lexicon: Vec<String> = ["0000", "0001", "0002"]
            .iter()
            .map(|n| format!("000.00.17.H48-210426-{n}"))
            .collect();
        let pattern = dossier();
        let target = FieldTarget {
            bbox: [0.0, 0.0, 60.0, 12.0],
            pattern: &pattern,
            lexicon: &lexicon,
            admissible: None,
            carried: None,
        };
        let (r, _) = read_field(
            &leaning_line(0.0),
            &Homography::scale(10.0),
            &target,
            &levels,
            Some(&rec),
            &FieldOptions::default(),
        );
        assert_eq!(r.value.as_deref(), Some(code));
        assert_eq!(r.status, ValueStatus::Accepted, "{r:?}");
    }

    /// The fake reader's output with the `i`-th character split between two readings.
    struct Torn {
        text: String,
        i: usize,
        a: (char, f32),
        b: (char, f32),
    }

    impl LineRecognizer for Torn {
        fn log_probs(&self, line: &GrayImage) -> Result<Vec<Vec<f32>>, OcrError> {
            let alphabet = alpha();
            let mut lp = FakeRecognizer {
                text: self.text.clone(),
                alphabet: alphabet.clone(),
                p: 0.99,
            }
            .log_probs(line)?;
            let class = |c: char| alphabet.iter().position(|&x| x == c).unwrap() + 1;
            let frame = &mut lp[2 * self.i];
            frame.iter_mut().for_each(|v| *v = (1e-4f32).ln());
            frame[class(self.a.0)] = self.a.1.ln();
            frame[class(self.b.0)] = self.b.1.ln();
            Ok(lp)
        }
        fn alphabet(&self) -> &[char] {
            static_alpha()
        }
    }

    #[test]
    fn a_listed_code_beats_impossible_readings_but_never_an_unlisted_neighbour() {
        let levels = Levels {
            paper: 245.0,
            ink: 20.0,
        };
        // A hand-written 0 in the month that the model reads as a 9 more than as a 0: month 19 cannot be.
        let rec = |seq: &str| Torn {
            text: format!("000.00.17.H48-211026-{seq}"),
            i: 17,
            a: ('9', 0.6),
            b: ('0', 0.39),
        };
        let month_ok = |v: &str| {
            v[16..18]
                .parse::<u32>()
                .is_ok_and(|m| (1..=12).contains(&m))
        };
        let pattern = dossier();
        let read = |rec: &Torn, lexicon: &[String], admissible: Option<&dyn Fn(&str) -> bool>| {
            let target = FieldTarget {
                bbox: [0.0, 0.0, 60.0, 12.0],
                pattern: &pattern,
                lexicon,
                admissible,
                carried: None,
            };
            read_field(
                &leaning_line(0.0),
                &Homography::scale(10.0),
                &target,
                &levels,
                Some(rec),
                &FieldOptions::default(),
            )
            .0
        };
        let list = |seqs: &[&str]| -> Vec<String> {
            seqs.iter()
                .map(|n| format!("000.00.17.H48-211026-{n}"))
                .collect()
        };
        let day = list(&["0237", "0238", "0239"]);
        let r = read(&rec("0238"), &day, Some(&month_ok));
        assert_eq!(r.value.as_deref(), Some("000.00.17.H48-211026-0238"));
        assert_eq!(r.status, ValueStatus::Accepted, "{r:?}");
        // Without knowing that month 19 cannot be, the reading off the list outweighs the listed code.
        let r = read(&rec("0238"), &day, None);
        assert_ne!(r.status, ValueStatus::Accepted, "{r:?}");
        // The form's code is missing from the list and one same-day neighbour is listed: that neighbour beats
        // every reading that can exist except the missing code itself, which must keep it off the form.
        let r = read(&rec("0238"), &list(&["0239"]), Some(&month_ok));
        assert_ne!(r.status, ValueStatus::Accepted, "{r:?}");
        assert_ne!(r.value.as_deref(), Some("000.00.17.H48-211026-0239"));
    }

    #[test]
    fn a_stray_digit_is_no_label_and_a_label_before_bare_digits_needs_a_separator() {
        // "1000.…" may be "100.…" with a doubled digit.
        assert_eq!(
            read("1000.00.17.H48-210426-0001").status,
            ValueStatus::NeedsReview
        );
        // A label that lost its colon still stands before a code whose separators fix where it begins.
        let r = read("45000.00.17.H48-210426-0001");
        assert_eq!(r.value.as_deref(), Some("000.00.17.H48-210426-0001"));
        assert_eq!(r.status, ValueStatus::Accepted, "{r:?}");
        // Twelve digits for a ten-digit code: the two extra may be at either end, so nothing is accepted.
        let f = FakeRecognizer {
            text: "494301665392".into(),
            alphabet: alpha(),
            p: 0.99,
        };
        let lp = f.log_probs(&GrayImage::new(1, 1)).unwrap();
        let enterprise = CodePattern::from_regex(r"^\d{10}(-\d{3})?$").unwrap();
        let r = decide_field(&lp, &alpha(), &enterprise, &FieldOptions::default());
        assert_eq!(r.status, ValueStatus::NeedsReview, "{r:?}");
    }

    #[test]
    fn letter_o_in_a_digit_position_is_corrected_but_reviewed() {
        let f = FakeRecognizer {
            text: "000.00.17.H48-210426-O001".into(),
            alphabet: alpha(),
            p: 0.99,
        };
        let lp = f.log_probs(&GrayImage::new(1, 1)).unwrap();
        let r = decide_field(&lp, &alpha(), &dossier(), &FieldOptions::default());
        assert_eq!(r.status, ValueStatus::NeedsReview);
        assert!(
            r.value.unwrap().ends_with("-0001") || r.reasons.contains(&"off_grammar".to_string())
        );
    }

    #[test]
    fn doubled_characters_need_a_blank_between() {
        let f = FakeRecognizer {
            text: "4300861234".into(),
            alphabet: alpha(),
            p: 0.98,
        };
        let lp = f.log_probs(&GrayImage::new(1, 1)).unwrap();
        let p = CodePattern::from_regex(r"^\d{10}(-\d{3})?$").unwrap();
        let r = decide_field(&lp, &alpha(), &p, &FieldOptions::default());
        assert_eq!(r.value.as_deref(), Some("4300861234"));
        assert_eq!(r.status, ValueStatus::Accepted, "{r:?}");
    }

    #[test]
    fn one_character_neighbours_score_as_their_own_forward_pass() {
        // Random frames over a small alphabet; texts with repeated characters exercise the CTC rule that a
        // doubled character needs a blank between.
        let alphabet: Vec<char> = "0123".chars().collect();
        let mut seed = 12345u64;
        let mut rnd = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as f32) / (1u64 << 31) as f32
        };
        for text in ["0123", "1121", "3", "2200", "0101010"] {
            let frames = 3 * text.len() + 2;
            let lp: Vec<Vec<f32>> = (0..frames)
                .map(|_| {
                    let raw: Vec<f32> = (0..5).map(|_| rnd() + 0.05).collect();
                    let z: f32 = raw.iter().sum();
                    raw.iter().map(|v| (v / z).ln()).collect()
                })
                .collect();
            let labels: Vec<usize> = text
                .chars()
                .map(|c| alphabet.iter().position(|&a| a == c).unwrap() + 1)
                .collect();
            let lattice = CtcLattice::new(&lp, &labels).unwrap();
            let own = ctc_log_likelihood(&lp, &alphabet, text).unwrap();
            assert!((lattice.total() - own).abs() < 1e-4, "{text}");
            for i in 0..text.len() {
                for (k, &c) in alphabet.iter().enumerate() {
                    let mut v: Vec<char> = text.chars().collect();
                    v[i] = c;
                    let v: String = v.into_iter().collect();
                    let want = ctc_log_likelihood(&lp, &alphabet, &v).unwrap();
                    let got = lattice.substituted(i, k + 1);
                    assert!((got - want).abs() < 1e-3, "{text} -> {v}: {got} vs {want}");
                }
            }
        }
    }

    #[test]
    fn ctc_likelihood_sums_every_alignment() {
        // Two frames, classes [blank, A]: "A" is A-A, A-blank or blank-A.
        let (pb, pa) = (0.4f32, 0.6f32);
        let lp = vec![vec![pb.ln(), pa.ln()], vec![pb.ln(), pa.ln()]];
        let ll = ctc_log_likelihood(&lp, &['A'], "A").unwrap();
        let want = pa * pa + pa * pb + pb * pa;
        assert!((ll.exp() - want).abs() < 1e-5, "{} vs {want}", ll.exp());
        assert!(
            ctc_log_likelihood(&lp, &['A'], "AA").is_none()
                || ctc_log_likelihood(&lp, &['A'], "AA").unwrap() < ll
        );
    }

    #[test]
    fn listed_code_is_read_and_a_missing_one_is_not_forced_onto_its_neighbour() {
        let code = "000.00.17.H48-210426-0238";
        let next = "000.00.17.H48-210426-0239";
        let f = FakeRecognizer {
            text: code.into(),
            alphabet: alpha(),
            p: 0.9,
        };
        let lp = f.log_probs(&GrayImage::new(1, 1)).unwrap();
        let lex = vec![code.to_string(), next.to_string()];
        let r = read_with_lexicon(&lp, &alpha(), &lex, &[code]).unwrap();
        assert_eq!(r.code, code);
        assert!(r.margin_listed > 4.6 && r.posterior > 0.99);
        // The code on the page is not in the list: its listed neighbour must not win over it.
        let only_next = vec![next.to_string()];
        let r = read_with_lexicon(&lp, &alpha(), &only_next, &[code]).unwrap();
        assert!(r.margin_off_list < 0.0, "{r:?}");
    }

    #[test]
    fn a_sticker_edge_beside_the_code_is_left_out_of_the_line_but_a_one_is_not() {
        let levels = Levels {
            paper: 245.0,
            ink: 20.0,
        };
        // Eight 8 × 20 px characters on rows 20..40, 6 px apart, with a 2 px stroke 15 px before them: an edge that
        // runs from row 4 to row 56 (a sticker's), or one as tall as the characters.
        let field = |edge_rows: std::ops::Range<u32>| {
            // As wide as a real field crop: a row crossed by the edge alone is not text.
            let mut img = GrayImage::from_pixel(1000, 60, image::Luma([245]));
            for k in 0..8 {
                for y in 20..40 {
                    for x in 50 + 14 * k..58 + 14 * k {
                        img.put_pixel(x, y, image::Luma([20]));
                    }
                }
            }
            for y in edge_rows {
                for x in 33..35 {
                    img.put_pixel(x, y, image::Luma([20]));
                }
            }
            img
        };
        let dark_columns = |line: &GrayImage| {
            (0..line.width())
                .filter(|&x| (0..line.height()).any(|y| line.get_pixel(x, y).0[0] < 128))
                .count()
        };
        let edged = find_line(&field(4..56), &levels, 0.004).unwrap();
        assert_eq!(dark_columns(&edged), 8 * 8, "{}", edged.width());
        // A band-high stroke as far off is left out too (see below); one at the line's spacing is a 1.
        let far_one = find_line(&field(20..40), &levels, 0.004).unwrap();
        assert_eq!(dark_columns(&far_one), 8 * 8, "{}", far_one.width());
        let mut near = field(0..0);
        for y in 20..40 {
            for x in 42..44 {
                near.put_pixel(x, y, image::Luma([20]));
            }
        }
        let one = find_line(&near, &levels, 0.004).unwrap();
        assert_eq!(dark_columns(&one), 8 * 8 + 2, "{}", one.width());

        // After the last character (columns 148..156): a 2 px stroke in dashes 12 px off (more than half the
        // line's height, twice the 6 px spacing) is an edge; a band-high 1 at the line's own spacing is not.
        let after = |x: u32, rows: &[(u32, u32)]| {
            let mut img = field(0..0);
            for &(top, bottom) in rows {
                for y in top..bottom {
                    img.put_pixel(x, y, image::Luma([20]));
                    img.put_pixel(x + 1, y, image::Luma([20]));
                }
            }
            img
        };
        let dashed = after(168, &[(18, 24), (28, 33), (38, 46)]);
        let line = find_line(&dashed, &levels, 0.004).unwrap();
        assert_eq!(dark_columns(&line), 8 * 8, "{}", line.width());
        let last_one = find_line(&after(162, &[(20, 40)]), &levels, 0.004).unwrap();
        assert_eq!(dark_columns(&last_one), 8 * 8 + 2, "{}", last_one.width());
    }

    #[test]
    fn thin_print_whose_middle_rows_are_faint_is_cut_as_one_line() {
        let levels = Levels {
            paper: 245.0,
            ink: 20.0,
        };
        // Eight characters with dark bars on rows 20..26 and 32..40, joined only by faint stems on rows 26..32
        // (a thin print resampled), and a dark stroke 2 px under the line across paper: the line is rows 20..40.
        let mut img = GrayImage::from_pixel(1000, 74, image::Luma([245]));
        for k in 0..8 {
            let x0 = 50 + 14 * k;
            for x in x0..x0 + 8 {
                for y in (20..26).chain(32..40) {
                    img.put_pixel(x, y, image::Luma([20]));
                }
            }
            for y in 26..32 {
                img.put_pixel(x0, y, image::Luma([170]));
                img.put_pixel(x0 + 7, y, image::Luma([170]));
            }
        }
        let whole = find_line(&img, &levels, 0.004).unwrap();
        // Band 20..40, margin a quarter of its height on each side.
        assert_eq!(whole.height(), 20 + 2 * 5, "{}", whole.height());
        // A stroke below the line, past a gap of paper, stays out of it even when it is as near.
        for x in 40..200 {
            for y in 42..44 {
                img.put_pixel(x, y, image::Luma([20]));
            }
        }
        let line = find_line(&img, &levels, 0.004).unwrap();
        assert_eq!(line.height(), 20 + 2 * 5, "{}", line.height());
    }

    #[test]
    fn a_print_lighter_than_the_markers_is_cut_to_its_whole_height() {
        // Markers print at 20; the code at 130 in its strokes' cores (rows 24..36) and 175 at their ends (rows
        // 20..24 and 36..40), as a grey toner resampled. The page's threshold (155) sees the cores only.
        let levels = Levels {
            paper: 245.0,
            ink: 20.0,
        };
        let mut img = GrayImage::from_pixel(1000, 74, image::Luma([245]));
        for k in 0..8 {
            for x in 50 + 14 * k..58 + 14 * k {
                for y in 20..40 {
                    let v = if (24..36).contains(&y) { 130 } else { 175 };
                    img.put_pixel(x, y, image::Luma([v]));
                }
            }
        }
        let line = find_line(&img, &levels, 0.004).unwrap();
        assert_eq!(line.height(), 20 + 2 * 5, "{}", line.height());
        // The same code in the markers' black is cut the same.
        let dark = GrayImage::from_fn(1000, 74, |x, y| {
            image::Luma([if img.get_pixel(x, y).0[0] < 245 {
                20
            } else {
                245
            }])
        });
        assert_eq!(find_line(&dark, &levels, 0.004).unwrap().height(), 30);
    }

    #[test]
    fn a_light_print_on_shaded_paper_is_cut_to_its_text() {
        // Grey print (130) on paper that darkens from 245 to 150 towards the right, as a sheet's shading: the
        // field's own threshold (about 183) would take the darker third of the paper for ink.
        let levels = Levels {
            paper: 245.0,
            ink: 20.0,
        };
        let img = GrayImage::from_fn(1000, 74, |x, y| {
            let text = (20..40).contains(&y) && (50..200).contains(&x) && (x - 50) % 14 < 8;
            let paper = 245.0 - 95.0 * (x as f32 / 999.0);
            image::Luma([if text { 130 } else { paper as u8 }])
        });
        let line = find_line(&img, &levels, 0.004).unwrap();
        assert!(line.width() < 250, "{}", line.width());
        assert!(line.height() < 40, "{}", line.height());
    }

    #[test]
    fn empty_field_is_missing() {
        let img = GrayImage::from_pixel(300, 60, image::Luma([245]));
        let levels = Levels {
            paper: 245.0,
            ink: 10.0,
        };
        assert!(find_line(&img, &levels, 0.004).is_none());
        assert!(field_is_clean(&img, &levels, &FieldOptions::default()));
    }

    /// A code written in pencil is too pale for the text line, yet the field is not empty.
    #[test]
    fn pale_pencil_code_is_not_an_empty_field() {
        let mut img = GrayImage::from_pixel(300, 60, image::Luma([235]));
        // Ten pale "digits": 3 px strokes, 25 levels under the paper on a 225-level range.
        for d in 0..10u32 {
            for y in 15..45 {
                for x in 0..3 {
                    img.put_pixel(20 + d * 25 + x, y, image::Luma([200]));
                }
            }
        }
        let levels = Levels {
            paper: 235.0,
            ink: 10.0,
        };
        let opts = FieldOptions::default();
        assert!(find_line(&img, &levels, opts.empty_ink).is_none());
        assert!(!field_is_clean(&img, &levels, &opts));
    }

    /// Scanner noise and a dust speck do not make a field written in.
    #[test]
    fn noise_and_a_speck_leave_a_field_empty() {
        let mut img = GrayImage::from_fn(300, 60, |x, y| {
            image::Luma([(236 + ((x * 7 + y * 13) % 9) as i32 - 4) as u8])
        });
        for y in 30..33 {
            for x in 100..103 {
                img.put_pixel(x, y, image::Luma([60]));
            }
        }
        let levels = Levels {
            paper: 235.0,
            ink: 10.0,
        };
        assert!(field_is_clean(&img, &levels, &FieldOptions::default()));
    }
}
