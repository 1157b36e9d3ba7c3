//! The scan simulator: fills forms the way citizens and staff do (ticks, crosses, dots, scribbles, fills,
//! cancellations, pencil, overruns, stray marks, printed / sticker / handwritten / empty codes), then degrades
//! them the way feeders and copiers do (rotation, skew, scale, perspective, noise, blur, JPEG, 1-bit, colour,
//! illumination, photocopy), and writes the pages with a `truth.jsonl` (incl. the page transform).
//! Deterministic by seed: page `i` depends only on `(seed, i)`.

use crate::forms::render::{render_form, text_width_mm, Canvas, Fonts, Prefill};
use crate::forms::template::{BoxMm, FieldRole, FieldSpec, Template};
use crate::geom::Homography;
use crate::raster::warp_region;
use crate::read::validate::CodePattern;
use image::{GrayImage, Rgb, RgbImage};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Errors from the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// Writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Encoding an image failed.
    #[error("{path}: {reason}")]
    Encode {
        /// File.
        path: PathBuf,
        /// Cause.
        reason: String,
    },
}

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SynthOptions {
    /// Random seed.
    pub seed: u64,
    /// Degradations on (noise, blur, JPEG, 1-bit, illumination, photocopy, perspective).
    pub degrade: bool,
    /// Fraction of pages that are blank backs.
    pub blank_fraction: f64,
    /// Fraction of pages that are not forms.
    pub other_fraction: f64,
    /// Handwriting glyph atlas (10 rows of 28×28 digits); `None` uses a jittered font.
    pub hand_atlas: Option<PathBuf>,
    /// Also write labelled crops of the code fields to `crops/`.
    pub field_crops: bool,
    /// Fixed resolution instead of the 150/200/300 dpi mix.
    pub dpi: Option<f64>,
    /// Write every page as JPEG (small files, e.g. for bundled samples).
    pub jpeg_only: bool,
    /// Write every page in greyscale (no colour scans), as a feeder set to grey mode does.
    pub gray_only: bool,
    /// Draw every text of the page (printed and sticker codes included) in this font instead of the bundled
    /// DejaVu Sans, to measure the reader on fonts it was not trained on.
    pub font: Option<PathBuf>,
    /// The forms pages are drawn from; empty = the built-in forms.
    pub templates: Vec<Template>,
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions {
            seed: 1,
            degrade: true,
            blank_fraction: 0.04,
            other_fraction: 0.03,
            hand_atlas: None,
            field_crops: false,
            dpi: None,
            jpeg_only: false,
            gray_only: false,
            font: None,
            templates: vec![],
        }
    }
}

/// A generated page: image bytes, its file name and truth line.
pub struct SynthPage {
    /// File name.
    pub name: String,
    /// Encoded file.
    pub bytes: Vec<u8>,
    /// Truth record.
    pub truth: Value,
    /// Labelled field crops (file name, PNG bytes, label record).
    pub crops: Vec<(String, Vec<u8>, Value)>,
}

const PENS: [(&str, [u8; 3]); 3] = [
    ("blue", [25, 50, 170]),
    ("black", [20, 20, 25]),
    ("red", [190, 30, 35]),
];

fn jit(rng: &mut ChaCha8Rng, s: f64) -> f64 {
    rng.gen_range(-s..=s)
}

struct Pen {
    ink: [u8; 3],
    width: f64,
    alpha: f64,
    name: &'static str,
}

fn draw_mark(
    c: &mut Canvas,
    rng: &mut ChaCha8Rng,
    b: BoxMm,
    style: &str,
    pen: &Pen,
    overrun: bool,
) {
    let (x0, y0, x1, y1) = (b[0], b[1], b[2], b[3]);
    let w = x1 - x0;
    let o = if overrun {
        rng.gen_range(0.8..1.8)
    } else {
        0.0
    };
    let j = |rng: &mut ChaCha8Rng| jit(rng, 0.35);
    match style {
        "tick" => {
            let p = [
                [x0 + 0.9 + j(rng), y0 + w * 0.55 + j(rng)],
                [x0 + w * 0.42 + j(rng), y1 - 0.8 + j(rng)],
                [x1 - 0.5 + o + j(rng), y0 + 0.5 - o + j(rng)],
            ];
            c.stroke(&p, pen.width, pen.ink, pen.alpha);
        }
        "x" => {
            c.stroke(
                &[
                    [x0 + 0.7 - o + j(rng), y0 + 0.7 - o + j(rng)],
                    [x1 - 0.7 + o + j(rng), y1 - 0.7 + j(rng)],
                ],
                pen.width,
                pen.ink,
                pen.alpha,
            );
            c.stroke(
                &[
                    [x1 - 0.7 + j(rng), y0 + 0.7 + j(rng)],
                    [x0 + 0.7 + j(rng), y1 - 0.7 + o + j(rng)],
                ],
                pen.width,
                pen.ink,
                pen.alpha,
            );
        }
        "slash" => {
            c.stroke(
                &[
                    [x0 + 0.8 + j(rng), y1 - 0.8 + o + j(rng)],
                    [x1 - 0.8 + o + j(rng), y0 + 0.8 + j(rng)],
                ],
                pen.width,
                pen.ink,
                pen.alpha,
            );
        }
        "dot" => {
            let r = rng.gen_range(0.55..1.0);
            c.fill_disc([x0 + w / 2.0 + j(rng), y0 + w / 2.0 + j(rng)], r, pen.ink);
        }
        "scribble" => {
            let mut pts = vec![];
            let n = rng.gen_range(6..10);
            for i in 0..n {
                let t = i as f64 / (n - 1) as f64;
                let y = y0 + 0.6 + t * (w - 1.2) + j(rng) * 0.5;
                let x = if i % 2 == 0 {
                    x0 + 0.5 + j(rng)
                } else {
                    x1 - 0.5 + j(rng)
                };
                pts.push([x, y]);
            }
            c.stroke(&pts, pen.width * 1.6, pen.ink, pen.alpha);
        }
        _ => {
            // "fill" / "cancel": the box inked solid, slightly untidy.
            let m = rng.gen_range(-0.1..0.25);
            c.fill_rect([x0 + m, y0 + m, x1 - m, y1 - m], pen.ink);
            c.stroke(
                &[[x0, y0 + 1.0], [x1, y0 + 1.5], [x0, y1 - 1.0]],
                pen.width,
                pen.ink,
                1.0,
            );
        }
    }
}

fn rand_dossier(rng: &mut ChaCha8Rng) -> String {
    let agency = [
        "000.00.17",
        "000.00.20",
        "000.00.30",
        "000.00.35",
        "000.20.31",
        "000.00.12",
    ]
    .choose(rng)
    .unwrap();
    let y = rng.gen_range(18..=26);
    let m = rng.gen_range(1..=12);
    let d = rng.gen_range(1..=28);
    format!(
        "{agency}.H48-{y:02}{m:02}{d:02}-{:04}",
        rng.gen_range(0..10000)
    )
}

fn rand_enterprise(rng: &mut ChaCha8Rng) -> String {
    let mut s: String = (0..10)
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect();
    if rng.gen_bool(0.2) {
        s.push_str(&format!("-{:03}", rng.gen_range(1..30)));
    }
    s
}

/// A value for a field: the center's own grammars (dossier, enterprise code) get their realistic generators;
/// any other pattern is drawn class by class, with the date piece its template names made a real day.
fn rand_value(rng: &mut ChaCha8Rng, f: &FieldSpec) -> String {
    let Ok(pattern) = CodePattern::from_regex(&f.pattern) else {
        return f.example.clone();
    };
    let known = match f.role() {
        FieldRole::DossierCode => Some(rand_dossier(rng)),
        FieldRole::EnterpriseCode => Some(rand_enterprise(rng)),
        FieldRole::Code => None,
    };
    if let Some(v) = known.filter(|v| pattern.matches(v)) {
        return v;
    }
    let alt = pattern
        .alternatives
        .choose(rng)
        .expect("a pattern has alternatives");
    let mut v: String = alt
        .iter()
        .map(|c| *c.0.choose(rng).expect("a class has characters"))
        .collect();
    if let Some(d) = &f.date {
        let (y, m, day) = (
            rng.gen_range(2018..=2026),
            rng.gen_range(1..=12),
            rng.gen_range(1..=28),
        );
        let text = match d.format.as_str() {
            "yyyymmdd" => format!("{y:04}{m:02}{day:02}"),
            "ddmmyy" => format!("{day:02}{m:02}{:02}", y % 100),
            _ => format!("{:02}{m:02}{day:02}", y % 100),
        };
        let mut pieces: Vec<String> = v.split(d.separator.as_str()).map(String::from).collect();
        if let Some(p) = pieces.get_mut(d.segment) {
            if p.len() == text.len() {
                *p = text;
            }
        }
        let dated = pieces.join(&d.separator);
        if pattern.matches(&dated) {
            v = dated;
        }
    }
    v
}

struct Atlas {
    img: GrayImage,
}

impl Atlas {
    fn glyph(&self, d: u32, k: u32) -> GrayImage {
        image::imageops::crop_imm(&self.img, k * 28, d * 28, 28, 28).to_image()
    }
}

#[allow(clippy::too_many_arguments)]
fn draw_hand(
    c: &mut Canvas,
    rng: &mut ChaCha8Rng,
    text: &str,
    x: f64,
    base: f64,
    cap: f64,
    pen: &Pen,
    atlas: Option<&Atlas>,
    fonts: &Fonts,
) {
    let mut pen_x = x;
    let slant = jit(rng, 0.15);
    for ch in text.chars() {
        let h = cap * rng.gen_range(0.85..1.12);
        let by = base + jit(rng, 0.35);
        match (ch, atlas) {
            (d @ '0'..='9', Some(a)) => {
                let g = a.glyph(d as u32 - '0' as u32, rng.gen_range(0..40));
                // MNIST digits fill ~20 of 28 px in height.
                let s = h / 20.0;
                let gx = pen_x - 4.0 * s;
                let gy = by - 24.0 * s;
                let n = (28.0 * s * c.px_per_mm).ceil() as i64;
                for py in 0..n {
                    for px in 0..n {
                        let u = px as f64 / (s * c.px_per_mm);
                        let v = py as f64 / (s * c.px_per_mm);
                        let uu = u + slant * (28.0 - v);
                        if !(0.0..27.0).contains(&uu) || v >= 27.0 {
                            continue;
                        }
                        let val = bilinear_gray(&g, uu, v);
                        let a = (1.0 - val / 255.0).clamp(0.0, 1.0);
                        if a > 0.02 {
                            let xx = (gx * c.px_per_mm) as i64 + px;
                            let yy = (gy * c.px_per_mm) as i64 + py;
                            c.blend(xx, yy, pen.ink, a * pen.alpha);
                        }
                    }
                }
                pen_x += h * rng.gen_range(0.55..0.7);
            }
            ('.', _) => {
                c.fill_disc([pen_x + 0.3, by - 0.3], pen.width * 0.8, pen.ink);
                pen_x += h * 0.35;
            }
            ('-', _) => {
                c.stroke(
                    &[
                        [pen_x + 0.2, by - h * 0.45],
                        [pen_x + h * 0.45, by - h * 0.48 + jit(rng, 0.2)],
                    ],
                    pen.width,
                    pen.ink,
                    pen.alpha,
                );
                pen_x += h * 0.6;
            }
            ('H', _) => {
                let w = h * 0.6;
                c.stroke(
                    &[[pen_x + jit(rng, 0.2), by - h], [pen_x, by]],
                    pen.width,
                    pen.ink,
                    pen.alpha,
                );
                c.stroke(
                    &[[pen_x + w + jit(rng, 0.2), by - h], [pen_x + w, by]],
                    pen.width,
                    pen.ink,
                    pen.alpha,
                );
                c.stroke(
                    &[
                        [pen_x, by - h * 0.5 + jit(rng, 0.3)],
                        [pen_x + w, by - h * 0.5 + jit(rng, 0.3)],
                    ],
                    pen.width,
                    pen.ink,
                    pen.alpha,
                );
                pen_x += w + h * 0.3;
            }
            (other, _) => {
                let s = other.to_string();
                let pt = h / 0.26;
                c.text(&fonts.italic, &s, pen_x, by, pt, pen.ink);
                pen_x += text_width_mm(&fonts.italic, &s, pt) * rng.gen_range(0.95..1.15);
            }
        }
        pen_x += jit(rng, 0.15).abs() + 0.1;
    }
}

fn bilinear_gray(g: &GrayImage, x: f64, y: f64) -> f64 {
    let x0 = x.floor() as u32;
    let y0 = y.floor() as u32;
    let fx = x - x0 as f64;
    let fy = y - y0 as f64;
    let at =
        |xx: u32, yy: u32| g.get_pixel(xx.min(g.width() - 1), yy.min(g.height() - 1)).0[0] as f64;
    (at(x0, y0) * (1.0 - fx) + at(x0 + 1, y0) * fx) * (1.0 - fy)
        + (at(x0, y0 + 1) * (1.0 - fx) + at(x0 + 1, y0 + 1) * fx) * fy
}

fn draw_sticker(
    c: &mut Canvas,
    rng: &mut ChaCha8Rng,
    text: &str,
    field: BoxMm,
    pt: f64,
    fonts: &Fonts,
) {
    let tw = text_width_mm(&fonts.regular, text, pt);
    let (sw, sh) = (tw + rng.gen_range(3.0..6.0), rng.gen_range(6.5..8.0));
    let mut st = Canvas::new(sw, sh, c.px_per_mm * 25.4);
    let tone = rng.gen_range(235..=255u8);
    for p in st.img.pixels_mut() {
        *p = Rgb([tone, tone, tone.saturating_sub(rng.gen_range(0..8))]);
    }
    st.stroke_rect([0.1, 0.1, sw - 0.1, sh - 0.1], 0.15, [170, 170, 170]);
    st.text(
        &fonts.regular,
        text,
        (sw - tw) / 2.0,
        sh / 2.0 + pt * 0.35 * 25.4 / 72.0,
        pt,
        [15, 15, 15],
    );
    let ang = jit(rng, 4.0).to_radians();
    let cx = (field[0] + field[2]) / 2.0 + jit(rng, 3.0);
    let cy = (field[1] + field[3]) / 2.0 + jit(rng, 0.8);
    let s = c.px_per_mm;
    let (sn, cs) = ang.sin_cos();
    let r = (sw.hypot(sh) / 2.0 + 1.0) * s;
    for py in ((cy * s - r) as i64)..((cy * s + r) as i64) {
        for px in ((cx * s - r) as i64)..((cx * s + r) as i64) {
            let dx = (px as f64 + 0.5) / s - cx;
            let dy = (py as f64 + 0.5) / s - cy;
            let u = cs * dx + sn * dy + sw / 2.0;
            let v = -sn * dx + cs * dy + sh / 2.0;
            if u < 0.0 || v < 0.0 || u >= sw || v >= sh || px < 0 || py < 0 {
                continue;
            }
            let (ux, vy) = ((u * s) as u32, (v * s) as u32);
            if ux >= st.img.width()
                || vy >= st.img.height()
                || px as u32 >= c.img.width()
                || py as u32 >= c.img.height()
            {
                continue;
            }
            let v = *st.img.get_pixel(ux, vy);
            c.img.put_pixel(px as u32, py as u32, v);
        }
    }
}

fn warp_rgb(src: &RgbImage, h_inv: &Homography, w: u32, hgt: u32, bg: [u8; 3]) -> RgbImage {
    let mut out = RgbImage::from_pixel(w, hgt, Rgb(bg));
    let (sw, sh) = (src.width() as i64, src.height() as i64);
    let raw = src.as_raw();
    for y in 0..hgt {
        for x in 0..w {
            let p = h_inv.apply([x as f64 + 0.5, y as f64 + 0.5]);
            let fx = p[0] - 0.5;
            let fy = p[1] - 0.5;
            let x0 = fx.floor() as i64;
            let y0 = fy.floor() as i64;
            if x0 < -1 || y0 < -1 || x0 >= sw || y0 >= sh {
                continue;
            }
            let ax = (fx - x0 as f64) as f32;
            let ay = (fy - y0 as f64) as f32;
            let mut acc = [0f32; 3];
            for (dx, dy, wgt) in [
                (0, 0, (1.0 - ax) * (1.0 - ay)),
                (1, 0, ax * (1.0 - ay)),
                (0, 1, (1.0 - ax) * ay),
                (1, 1, ax * ay),
            ] {
                let (xx, yy) = (x0 + dx, y0 + dy);
                let px = if xx < 0 || yy < 0 || xx >= sw || yy >= sh {
                    bg
                } else {
                    let i = ((yy * sw + xx) * 3) as usize;
                    [raw[i], raw[i + 1], raw[i + 2]]
                };
                for c in 0..3 {
                    acc[c] += wgt * px[c] as f32;
                }
            }
            out.put_pixel(x, y, Rgb([acc[0] as u8, acc[1] as u8, acc[2] as u8]));
        }
    }
    out
}

/// Generates page `index` of a set.
pub fn synth_page(
    t_all: &[Template],
    index: u64,
    opts: &SynthOptions,
    fonts: &Fonts,
    atlas: Option<&GrayImage>,
) -> SynthPage {
    let mut rng = ChaCha8Rng::seed_from_u64(
        opts.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03),
    );
    let dpi_mix: f64 = *[150.0, 200.0, 200.0, 300.0].choose(&mut rng).unwrap();
    let dpi = opts.dpi.unwrap_or(dpi_mix);
    let atlas = atlas.map(|a| Atlas { img: a.clone() });
    let u: f64 = rng.gen();
    let kind = if u < opts.blank_fraction {
        "blank"
    } else if u < opts.blank_fraction + opts.other_fraction {
        "other"
    } else {
        "form"
    };
    let mut page_mm = [210.0, 297.0];
    let mut c = Canvas::new(page_mm[0], page_mm[1], dpi);
    let mut truth = json!({"page": 1, "kind": kind});
    let mut crops_spec: Vec<(String, BoxMm, String, String)> = vec![];
    match kind {
        "blank" => {
            if rng.gen_bool(0.5) {
                // Show-through of the front.
                let t = &t_all[0];
                let mut front = Canvas::new(210.0, 297.0, dpi);
                render_form(&mut front, t, &Prefill::default(), fonts).ok();
                let flipped = image::imageops::flip_horizontal(&front.img);
                let a = rng.gen_range(0.03..0.08);
                for (p, q) in c.img.pixels_mut().zip(flipped.pixels()) {
                    for k in 0..3 {
                        p.0[k] = (p.0[k] as f64 * (1.0 - a * (1.0 - q.0[k] as f64 / 255.0))) as u8;
                    }
                }
            }
        }
        "other" => {
            let lines = [
                "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ",
                "Trung tâm Phục vụ hành chính công tỉnh Quảng Ngãi",
                "Tiếp nhận hồ sơ của: Ông/Bà Nguyễn Văn An",
                "Nội dung yêu cầu giải quyết: cấp đổi giấy phép lái xe",
                "Thời gian nhận hồ sơ: 08 giờ 30 phút, ngày 21/04/2026",
                "Thời gian trả kết quả giải quyết hồ sơ: ngày 28/04/2026",
            ];
            let mut y = 30.0;
            while y < 270.0 {
                let l = lines.choose(&mut rng).unwrap();
                c.text(
                    &fonts.regular,
                    l,
                    20.0,
                    y,
                    rng.gen_range(9.0..12.0),
                    [0, 0, 0],
                );
                y += rng.gen_range(6.0..9.0);
            }
            if rng.gen_bool(0.5) {
                // Some receipts carry a QR or a logo square.
                c.fill_rect([160.0, 20.0, 180.0, 40.0], [0, 0, 0]);
            }
        }
        _ => {
            let t = &t_all[rng.gen_range(0..t_all.len())];
            if t.page_mm != page_mm {
                page_mm = t.page_mm;
                c = Canvas::new(page_mm[0], page_mm[1], dpi);
            }
            let variants = ["printed", "printed", "sticker", "handwritten", "empty"];
            let mut fields = serde_json::Map::new();
            let mut prefill = Prefill::default();
            let mut field_values = vec![];
            for f in &t.fields {
                let v = *variants.choose(&mut rng).unwrap();
                let value = match v {
                    "empty" => None,
                    _ => Some(rand_value(&mut rng, f)),
                };
                if let (Some(value), "printed") = (&value, v) {
                    prefill.values.insert(f.id.clone(), value.clone());
                }
                fields.insert(f.id.clone(), json!({"value": value, "variant": v}));
                field_values.push((f.clone(), v, value));
            }
            let qr_obscured = opts.degrade && rng.gen_bool(0.08);
            render_form(&mut c, t, &prefill, fonts).ok();
            let (pen_name, ink) = *PENS.choose(&mut rng).unwrap();
            let pencil = rng.gen_bool(0.07);
            let pen = Pen {
                ink: if pencil { [95, 95, 100] } else { ink },
                width: rng.gen_range(0.3..0.8),
                alpha: if pencil {
                    rng.gen_range(0.45..0.75)
                } else {
                    1.0
                },
                name: if pencil { "pencil" } else { pen_name },
            };
            for (f, v, value) in &field_values {
                let Some(val) = value else { continue };
                let p = &f.printed_text;
                match *v {
                    "sticker" => draw_sticker(&mut c, &mut rng, val, f.bbox, p.pt, fonts),
                    "handwritten" => {
                        let staff = Pen {
                            ink: PENS[rng.gen_range(0..2)].1,
                            width: rng.gen_range(0.3..0.55),
                            alpha: 1.0,
                            name: "staff",
                        };
                        let avail = f.bbox[2] - f.bbox[0] - 6.0;
                        let cap = rng
                            .gen_range(3.0..4.2f64)
                            .min(avail / (val.len() as f64 * 0.82));
                        let hx = f.bbox[0] + rng.gen_range(1.5..5.0);
                        let hy = f.bbox[3] - rng.gen_range(1.8..2.8);
                        draw_hand(
                            &mut c,
                            &mut rng,
                            val,
                            hx,
                            hy,
                            cap,
                            &staff,
                            atlas.as_ref(),
                            fonts,
                        );
                    }
                    _ => {}
                }
                crops_spec.push((f.id.clone(), f.bbox, val.clone(), v.to_string()));
            }
            let styles = [
                "tick", "tick", "tick", "x", "x", "dot", "slash", "scribble", "fill",
            ];
            let mut answers = serde_json::Map::new();
            let mut marks = serde_json::Map::new();
            let mut ambiguous = vec![];
            let mut cancelled = vec![];
            let person_fills = rng.gen_bool(0.06);
            for r in &t.rows {
                let u: f64 = rng.gen();
                let n = r.options.len();
                let mut row_marks = serde_json::Map::new();
                let pick = rng.gen_range(0..n);
                let overrun = rng.gen_bool(0.1);
                let mut style = if person_fills {
                    "fill"
                } else {
                    *styles.choose(&mut rng).unwrap()
                };
                if pencil && (style == "fill" || style == "scribble") {
                    style = "tick";
                }
                let sname = if overrun {
                    format!("{style}+overrun")
                } else {
                    style.to_string()
                };
                if u < 0.05 {
                    answers.insert(r.id.clone(), Value::Null);
                } else if u < 0.09 {
                    // Two live marks.
                    let other = (pick + rng.gen_range(1..n)) % n;
                    for k in [pick, other] {
                        let s = ["tick", "x"].choose(&mut rng).unwrap();
                        draw_mark(&mut c, &mut rng, r.options[k].bbox, s, &pen, false);
                        row_marks.insert(r.options[k].id.clone(), json!(s));
                    }
                    answers.insert(r.id.clone(), Value::Null);
                    ambiguous.push(r.id.clone());
                } else if u < 0.14 {
                    let other = (pick + rng.gen_range(1..n)) % n;
                    let cpen = Pen {
                        alpha: 1.0,
                        ink: if pencil { [60, 60, 60] } else { pen.ink },
                        ..pen
                    };
                    draw_mark(
                        &mut c,
                        &mut rng,
                        r.options[other].bbox,
                        "cancel",
                        &cpen,
                        false,
                    );
                    let s = *["tick", "x", "dot", "slash"].choose(&mut rng).unwrap();
                    draw_mark(&mut c, &mut rng, r.options[pick].bbox, s, &pen, false);
                    row_marks.insert(r.options[other].id.clone(), json!("cancel"));
                    row_marks.insert(r.options[pick].id.clone(), json!(s));
                    answers.insert(r.id.clone(), json!(r.options[pick].id));
                    cancelled.push(r.id.clone());
                } else {
                    draw_mark(&mut c, &mut rng, r.options[pick].bbox, style, &pen, overrun);
                    row_marks.insert(r.options[pick].id.clone(), json!(sname));
                    answers.insert(r.id.clone(), json!(r.options[pick].id));
                }
                marks.insert(r.id.clone(), Value::Object(row_marks));
            }
            let mut strays = vec![];
            if rng.gen_bool(0.25) {
                for _ in 0..rng.gen_range(1..4) {
                    // Stray ink in the criterion column or margins, never inside a checkbox.
                    let crit = t.table.columns.criterion;
                    let x = rng.gen_range(crit[0] + 2.0..crit[1] - 4.0);
                    let y = rng.gen_range(t.table.top + 10.0..t.comment_box[1]);
                    c.stroke(
                        &[
                            [x, y],
                            [x + rng.gen_range(-6.0..6.0), y + rng.gen_range(-3.0..3.0)],
                        ],
                        pen.width,
                        pen.ink,
                        pen.alpha,
                    );
                    strays.push(json!([x, y]));
                }
            }
            if qr_obscured {
                let q = t.qr.bbox;
                c.fill_rect(
                    [q[0] + 2.0, q[1] + 3.0, q[2] - 3.0, q[3] - 2.0],
                    [120, 110, 90],
                );
            }
            truth["template"] = json!(t.template_id);
            truth["form_version"] = json!(t.version);
            truth["fields"] = Value::Object(fields);
            truth["answers"] = Value::Object(answers);
            truth["ambiguous_rows"] = json!(ambiguous);
            truth["cancelled_rows"] = json!(cancelled);
            truth["marks"] = Value::Object(marks);
            truth["stray_marks"] = json!(strays);
            truth["pen"] =
                json!({"color": pen.name, "width_mm": (pen.width * 100.0).round() / 100.0});
            truth["qr"] = json!({"content": crate::forms::render::qr_payload(t, &prefill), "prefilled": !prefill.values.is_empty(), "obscured": qr_obscured});
        }
    }

    // Page transform: page mm → image px.
    let mut degr = vec![];
    let page_rotation = if opts.degrade {
        *[0u32, 0, 0, 0, 0, 90, 180, 270].choose(&mut rng).unwrap()
    } else {
        0
    };
    let skew = if opts.degrade {
        if rng.gen_bool(0.1) {
            jit(&mut rng, 15.0)
        } else {
            jit(&mut rng, 3.0)
        }
    } else {
        0.0
    };
    let scale = if opts.degrade {
        rng.gen_range(0.9..1.05)
    } else {
        1.0
    };
    let s = dpi / 25.4;
    let [pw, ph] = page_mm;
    let (iw, ih) = if page_rotation % 180 == 0 {
        (pw * s, ph * s)
    } else {
        (ph * s, pw * s)
    };
    let (iw, ih) = (iw.round() as u32, ih.round() as u32);
    let tx = jit(&mut rng, 3.0);
    let ty = jit(&mut rng, 3.0);
    let centre_mm = Homography::translate(-pw / 2.0, -ph / 2.0);
    let rot = Homography::rotate_deg(page_rotation as f64 + skew);
    let h_mm_to_px = Homography::translate(iw as f64 / 2.0 + tx * s, ih as f64 / 2.0 + ty * s)
        .then_after(&Homography::scale(s * scale))
        .then_after(&rot)
        .then_after(&centre_mm);
    let mut h_mm_to_px = h_mm_to_px;
    let perspective = opts.degrade && rng.gen_bool(0.15);
    if perspective {
        let mut m = h_mm_to_px.0;
        let k = 2e-5;
        m[2][0] = jit(&mut rng, k);
        m[2][1] = jit(&mut rng, k);
        // Re-centre so the page stays in frame.
        let hh = Homography(m);
        let c0 = hh.apply([pw / 2.0, ph / 2.0]);
        h_mm_to_px = Homography::translate(
            iw as f64 / 2.0 + tx * s - c0[0],
            ih as f64 / 2.0 + ty * s - c0[1],
        )
        .then_after(&hh);
    }
    // canvas px → mm → image px
    let h_canvas_to_img = h_mm_to_px.then_after(&Homography::scale(1.0 / s));
    let inv = h_canvas_to_img.inverse().expect("invertible");
    let bg = if opts.degrade && rng.gen_bool(0.2) {
        [
            rng.gen_range(230..250),
            rng.gen_range(225..245),
            rng.gen_range(200..235),
        ]
    } else {
        [255, 255, 255]
    };
    if bg != [255, 255, 255] {
        degr.push("color_paper".to_string());
        for p in c.img.pixels_mut() {
            for (ch, &b) in p.0.iter_mut().zip(bg.iter()) {
                *ch = (*ch as u32 * b as u32 / 255) as u8;
            }
        }
    }
    let mut img = warp_rgb(&c.img, &inv, iw, ih, bg);
    drop(c);

    // Drawn even when grey is forced, so the rest of the page's random stream stays the same.
    let color = rng.gen_bool(0.35) && !opts.gray_only;
    let bilevel = opts.degrade && rng.gen_bool(0.15) && !opts.jpeg_only;
    if opts.degrade {
        if rng.gen_bool(0.3) {
            let amp = rng.gen_range(0.05..0.2);
            degr.push(format!("illumination:amp={amp:.2}"));
            let (w, h) = img.dimensions();
            for (x, y, p) in img.enumerate_pixels_mut() {
                let f = 1.0 - amp * (x as f64 / w as f64 * 0.6 + y as f64 / h as f64 * 0.4);
                for k in 0..3 {
                    p.0[k] = (p.0[k] as f64 * f) as u8;
                }
            }
        }
        if rng.gen_bool(0.15) {
            let sdark = rng.gen_range(0.5..0.95);
            degr.push(format!("photocopy:s={sdark:.2}"));
            for p in img.pixels_mut() {
                for k in 0..3 {
                    let v = p.0[k] as f64 / 255.0;
                    p.0[k] = ((v.powf(1.0 + sdark)) * 235.0 + 5.0) as u8;
                }
            }
        }
        if rng.gen_bool(0.1) {
            // Punched holes near the left edge (dark, as against a dark scanner lid).
            for yy in [100.0, 180.0] {
                let p = h_mm_to_px.apply([8.0, yy]);
                let r = 3.0 * s;
                for y in (p[1] - r) as i64..(p[1] + r) as i64 {
                    for x in (p[0] - r) as i64..(p[0] + r) as i64 {
                        if ((x as f64 - p[0]).powi(2) + (y as f64 - p[1]).powi(2)).sqrt() < r
                            && x >= 0
                            && y >= 0
                            && (x as u32) < iw
                            && (y as u32) < ih
                        {
                            img.put_pixel(x as u32, y as u32, Rgb([40, 40, 40]));
                        }
                    }
                }
            }
            degr.push("hole_punch".into());
        }
        if rng.gen_bool(0.35) {
            let sigma = rng.gen_range(0.5..1.1) * dpi / 200.0;
            degr.push(format!("blur:sigma={sigma:.2}"));
            img = imageproc::filter::gaussian_blur_f32(&img, sigma as f32);
        }
        if rng.gen_bool(0.5) {
            let sigma = rng.gen_range(1.0..5.0);
            degr.push(format!("noise:sigma={sigma:.2}"));
            let n = Normal::new(0.0, sigma).unwrap();
            for p in img.pixels_mut() {
                let d = n.sample(&mut rng);
                for k in 0..3 {
                    p.0[k] = (p.0[k] as f64 + d).clamp(0.0, 255.0) as u8;
                }
            }
        }
    }
    let (bytes, ext, color_name) = if bilevel {
        let thr = rng.gen_range(135..185u8);
        degr.push(format!("bw:threshold={thr}"));
        let g = image::DynamicImage::ImageRgb8(img).to_luma8();
        let b = GrayImage::from_fn(g.width(), g.height(), |x, y| {
            image::Luma([if g.get_pixel(x, y).0[0] < thr { 0 } else { 255 }])
        });
        (encode_png_gray(&b), "png", "bw")
    } else {
        let jpeg = !opts.degrade || rng.gen_bool(0.7) || opts.jpeg_only;
        let q = rng.gen_range(40..92u8);
        let (page, color_name) = if color {
            (image::DynamicImage::ImageRgb8(img), "rgb")
        } else {
            let g = image::DynamicImage::ImageRgb8(img).to_luma8();
            (image::DynamicImage::ImageLuma8(g), "gray")
        };
        if jpeg {
            degr.push(format!("jpeg:q={q}"));
            (encode_jpeg(&page, q), "jpg", color_name)
        } else {
            (encode_png(&page), "png", color_name)
        }
    };
    let name = format!("synth_{index:05}.{ext}");
    let markers_px: serde_json::Map<String, Value> = [
        ("tl", [14.0, 14.0]),
        ("tr", [196.0, 14.0]),
        ("bl", [14.0, 283.0]),
        ("br", [196.0, 283.0]),
    ]
    .iter()
    .map(|(k, p)| {
        let q = h_mm_to_px.apply(*p);
        (
            k.to_string(),
            json!([(q[0] * 10.0).round() / 10.0, (q[1] * 10.0).round() / 10.0]),
        )
    })
    .collect();
    truth["path"] = json!(name);
    truth["transform"] = json!({
        "dpi": dpi, "image_size": [iw, ih], "page_rotation": page_rotation, "rotation_deg": (skew * 1000.0).round() / 1000.0,
        "scale": (scale * 10000.0).round() / 10000.0, "perspective": perspective, "homography": h_mm_to_px.0, "markers_px": markers_px,
    });
    truth["degradations"] = json!(degr);
    truth["format"] =
        json!({"container": ext, "color": color_name, "dpi": dpi, "pages_in_file": 1});

    let mut crops = vec![];
    if opts.field_crops && !crops_spec.is_empty() {
        let decoded = image::load_from_memory(&bytes)
            .map(|d| crate::read::load::to_gray(d).0)
            .ok();
        if let Some(g) = decoded {
            for (fid, b, val, variant) in crops_spec {
                let field = warp_region(
                    &g,
                    &h_mm_to_px,
                    [b[0] + 0.8, b[1] + 0.8, b[2] - 0.8, b[3] - 0.8],
                    10.0,
                );
                let levels = crate::read::register::Levels {
                    paper: 240.0,
                    ink: 20.0,
                };
                if let Some(line) = crate::read::codes::find_line(&field, &levels, 0.004) {
                    let cname = format!("crops/synth_{index:05}_{fid}.png");
                    crops.push((
                        cname.clone(),
                        encode_png(&image::DynamicImage::ImageLuma8(line)),
                        json!({"file": cname, "text": val, "variant": variant, "field": fid}),
                    ));
                }
            }
        }
    }
    SynthPage {
        name,
        bytes,
        truth,
        crops,
    }
}

fn encode_png(img: &image::DynamicImage) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    img.write_to(&mut buf, image::ImageFormat::Png)
        .expect("png encodes");
    buf.into_inner()
}

fn encode_png_gray(img: &GrayImage) -> Vec<u8> {
    encode_png(&image::DynamicImage::ImageLuma8(img.clone()))
}

fn encode_jpeg(img: &image::DynamicImage, q: u8) -> Vec<u8> {
    let mut buf = Vec::new();
    let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, q);
    img.write_with_encoder(enc).expect("jpeg encodes");
    buf
}

/// Loads a handwriting atlas if present.
pub fn load_atlas(path: &Path) -> Option<GrayImage> {
    image::open(path).ok().map(|i| i.to_luma8())
}

/// Writes `count` pages to `out` (files + `truth.jsonl`, and `crops/` + `crops/labels.jsonl` when asked).
pub fn write_set(
    out: &Path,
    count: u64,
    opts: &SynthOptions,
    on_page: &(dyn Fn() + Sync),
) -> Result<(), SynthError> {
    use rayon::prelude::*;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SynthError::Io { path, source }
    };
    std::fs::create_dir_all(out).map_err(io(out))?;
    if opts.field_crops {
        std::fs::create_dir_all(out.join("crops")).map_err(io(out))?;
    }
    let templates = if opts.templates.is_empty() {
        Template::builtins()
    } else {
        opts.templates.clone()
    };
    let fonts = match &opts.font {
        Some(p) => {
            let bytes = std::fs::read(p).map_err(io(p))?;
            // The font lives as long as the command; FontRef needs 'static data.
            let data: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            let face = ab_glyph::FontRef::try_from_slice(data).map_err(|e| SynthError::Encode {
                path: p.clone(),
                reason: format!("not a usable font: {e}"),
            })?;
            Fonts {
                regular: face.clone(),
                bold: face.clone(),
                italic: face,
            }
        }
        None => Fonts::new(),
    };
    let atlas = opts.hand_atlas.as_deref().and_then(load_atlas);
    let results: Vec<Result<(Value, Vec<Value>), SynthError>> = (0..count)
        .into_par_iter()
        .map(|i| {
            let p = synth_page(&templates, i, opts, &fonts, atlas.as_ref());
            let path = out.join(&p.name);
            crate::results::write_atomic(&path, &p.bytes).map_err(io(&path))?;
            let mut labels = vec![];
            for (name, bytes, label) in p.crops {
                let cp = out.join(&name);
                crate::results::write_atomic(&cp, &bytes).map_err(io(&cp))?;
                labels.push(label);
            }
            on_page();
            Ok((p.truth, labels))
        })
        .collect();
    let mut truth = String::new();
    let mut labels = String::new();
    for r in results {
        let (t, ls) = r?;
        truth.push_str(&t.to_string());
        truth.push('\n');
        for l in ls {
            labels.push_str(&l.to_string());
            labels.push('\n');
        }
    }
    let tp = out.join("truth.jsonl");
    crate::results::write_atomic(&tp, truth.as_bytes()).map_err(io(&tp))?;
    if opts.field_crops {
        let lp = out.join("crops/labels.jsonl");
        crate::results::write_atomic(&lp, labels.as_bytes()).map_err(io(&lp))?;
    }
    Ok(())
}

/// Options for the simulated returned-dossiers export that goes with a synth set (`phieu synth --returned-csv`).
#[derive(Debug, Clone)]
pub struct ReturnedCsvOptions {
    /// Seed (the synth seed); drawn from a separate stream, so the pages themselves do not change.
    pub seed: u64,
    /// Share of a counter's returned dossiers that get a rating, per counter of a department (in order); the
    /// rest are returned dossiers nobody rated.
    pub counter_coverage: Vec<f64>,
}

impl Default for ReturnedCsvOptions {
    fn default() -> Self {
        ReturnedCsvOptions {
            seed: 1,
            counter_coverage: vec![0.85, 0.6, 0.3],
        }
    }
}

/// A counter and its two officers.
type Desk = (&'static str, [&'static str; 2]);

/// Counters and officers of the simulated one-stop desks, per template.
const DESKS: [(&str, [Desk; 3]); 2] = [
    (
        "gtvt",
        [
            ("Quầy 1", ["Nguyễn Văn An", "Trần Thị Bình"]),
            ("Quầy 2", ["Lê Văn Cường", "Phạm Thị Dung"]),
            ("Quầy 3", ["Hoàng Văn Em", "Võ Thị Giang"]),
        ],
    ),
    (
        "khdt",
        [
            ("Quầy 4", ["Đặng Văn Hải", "Bùi Thị Hoa"]),
            ("Quầy 5", ["Đỗ Văn Khánh", "Huỳnh Thị Lan"]),
            ("Quầy 6", ["Phan Văn Minh", "Ngô Thị Nga"]),
        ],
    ),
];

const PROCEDURES: [(&str, [&str; 2]); 2] = [
    (
        "gtvt",
        ["Cấp đổi giấy phép lái xe", "Cấp giấy phép xe tập lái"],
    ),
    (
        "khdt",
        [
            "Đăng ký thành lập doanh nghiệp",
            "Đăng ký thay đổi nội dung đăng ký doanh nghiệp",
        ],
    ),
];

/// Days since 1970-01-01 of a civil date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD` of a day number since 1970-01-01.
fn civil_string(days: i64) -> String {
    let (y, m, d) = crate::util::civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Received day of a dossier code `ddd.dd.dd.Ldd-yymmdd-nnnn`, when its date part parses.
fn code_day(code: &str) -> Option<i64> {
    let d = code.split('-').nth(1)?;
    if d.len() != 6 || !d.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| d[r].parse::<i64>().ok();
    Some(days_from_civil(2000 + n(0..2)?, n(2..4)?, n(4..6)?))
}

/// The one-stop system's returned-dossiers export for a synth set (`truth.jsonl` text): header
/// `code,procedure,department,counter,officer,received,returned`, one row for every form's dossier code (counter
/// and officer drawn from [`DESKS`], received = the code's date, returned 1–10 days later), plus returned
/// dossiers nobody rated, so that each counter's share of rated dossiers is about its `counter_coverage`.
/// Rows are sorted by code; the same truth and seed give the same file.
pub fn returned_csv(truth_jsonl: &str, opts: &ReturnedCsvOptions) -> String {
    let templates = Template::builtins();
    let department = |tid: &str| {
        templates
            .iter()
            .find(|t| t.template_id == tid)
            .map(|t| t.department.clone())
            .unwrap_or_else(|| tid.to_string())
    };
    // A stream of its own: the page stream (seeded per page in `synth_page`) stays untouched.
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed ^ 0x5245_5455_524E_4544);
    let mut rated: Vec<(String, String)> = truth_jsonl
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["kind"] == "form")
        .filter_map(|v| {
            let code = v["fields"]["dossier_code"]["value"].as_str()?.to_string();
            Some((v["template"].as_str()?.to_string(), code))
        })
        .collect();
    rated.sort();
    rated.dedup();
    let mut taken: std::collections::BTreeSet<String> =
        rated.iter().map(|(_, c)| c.clone()).collect();
    let mut rows: Vec<(String, String)> = vec![];
    for (tid, code) in &rated {
        let Some((_, desks)) = DESKS.iter().find(|(t, _)| t == tid) else {
            continue;
        };
        let procs = PROCEDURES
            .iter()
            .find(|(t, _)| t == tid)
            .map(|(_, p)| *p)
            .unwrap_or(["", ""]);
        let k = rng.gen_range(0..desks.len());
        let (counter, officers) = desks[k];
        let cov = opts
            .counter_coverage
            .get(k)
            .copied()
            .unwrap_or(1.0)
            .clamp(0.05, 1.0);
        let extra = (1.0 - cov) / cov;
        let n_extra = extra.floor() as usize + usize::from(rng.gen_bool(extra.fract()));
        let dept = department(tid);
        let Some(day) = code_day(code) else {
            continue;
        };
        let prefix = code.split('-').next().unwrap_or("000.00.17.H48");
        let mut row = |code: &str, day: i64, rng: &mut ChaCha8Rng| {
            let officer = officers[rng.gen_range(0..officers.len())];
            let procedure = procs[rng.gen_range(0..procs.len())];
            let returned = day + rng.gen_range(1..=10);
            rows.push((
                code.to_string(),
                format!(
                    "{},{},{},{},{},{},{}",
                    code,
                    procedure,
                    dept,
                    counter,
                    officer,
                    civil_string(day),
                    civil_string(returned)
                ),
            ));
        };
        row(code, day, &mut rng);
        for _ in 0..n_extra {
            // An unrated dossier received at the same desk within a few days of the rated one.
            let d = day - rng.gen_range(0..5);
            let ymd = civil_string(d);
            let c = format!(
                "{prefix}-{}{}{}-{:04}",
                &ymd[2..4],
                &ymd[5..7],
                &ymd[8..10],
                rng.gen_range(0..10000)
            );
            if taken.insert(c.clone()) {
                row(&c, d, &mut rng);
            }
        }
    }
    rows.sort();
    let mut out = String::from("code,procedure,department,counter,officer,received,returned\n");
    for (_, r) in rows {
        out.push_str(&r);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_page() {
        let t = Template::builtins();
        let f = Fonts::new();
        let o = SynthOptions {
            seed: 7,
            ..Default::default()
        };
        let a = synth_page(&t, 3, &o, &f, None);
        let b = synth_page(&t, 3, &o, &f, None);
        assert_eq!(a.bytes, b.bytes);
        assert_eq!(a.truth, b.truth);
    }

    #[test]
    fn returned_csv_lists_every_rated_code_and_extra_unrated_ones() {
        let truth = [
            r#"{"kind":"form","template":"gtvt","fields":{"dossier_code":{"value":"000.00.17.H48-210426-0001"}}}"#,
            r#"{"kind":"form","template":"khdt","fields":{"dossier_code":{"value":"000.00.30.H48-241231-0042"}}}"#,
            r#"{"kind":"form","template":"gtvt","fields":{"dossier_code":{"value":null}}}"#,
            r#"{"kind":"blank"}"#,
        ]
        .join("\n");
        let o = ReturnedCsvOptions {
            seed: 3,
            counter_coverage: vec![0.25, 0.25, 0.25],
        };
        let csv = returned_csv(&truth, &o);
        assert_eq!(csv, returned_csv(&truth, &o));
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "code,procedure,department,counter,officer,received,returned"
        );
        // Coverage 0.25: each rated dossier comes with three unrated ones.
        assert_eq!(lines.len(), 1 + 2 * 4);
        let row = lines
            .iter()
            .find(|l| l.starts_with("000.00.30.H48-241231-0042,"))
            .unwrap();
        let cols: Vec<&str> = row.split(',').collect();
        assert_eq!(cols[2], "Sở Kế hoạch và Đầu tư");
        assert_eq!(cols[5], "2024-12-31");
        assert!(
            cols[6] > "2024-12-31" && cols[6] <= "2025-01-10",
            "{}",
            cols[6]
        );
    }
}
