//! Drawing in template millimetres: a [`Canvas`] with anti-aliased shapes and text, and [`render_form`], which
//! draws a template as the center prints it (markers, QR, texts, table, boxes, prefilled codes).
//!
//! The same drawing code makes the printable PNG (`phieu render`) and the clean pages the scan simulator
//! degrades (`phieu synth`). The PDF output lives in [`crate::forms::pdf`].

use crate::forms::template::{BoxMm, Template, TextSpec};
use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
use image::{Rgb, RgbImage};

/// Errors from rendering.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The QR payload could not be encoded.
    #[error("cannot encode QR `{content}`: {reason}")]
    Qr {
        /// Payload.
        content: String,
        /// Cause.
        reason: String,
    },
}

/// The fonts shipped with the build (DejaVu Sans, Bitstream Vera licence; full Vietnamese coverage).
pub struct Fonts {
    /// Regular face.
    pub regular: FontRef<'static>,
    /// Bold face.
    pub bold: FontRef<'static>,
    /// Oblique face.
    pub italic: FontRef<'static>,
}

/// Font files, also embedded into PDFs.
pub const FONT_REGULAR: &[u8] = include_bytes!("fonts/DejaVuSans.ttf");
/// Bold font file.
pub const FONT_BOLD: &[u8] = include_bytes!("fonts/DejaVuSans-Bold.ttf");
/// Oblique font file.
pub const FONT_ITALIC: &[u8] = include_bytes!("fonts/DejaVuSans-Oblique.ttf");

impl Fonts {
    /// Loads the embedded fonts.
    pub fn new() -> Fonts {
        Fonts {
            regular: FontRef::try_from_slice(FONT_REGULAR).expect("embedded font"),
            bold: FontRef::try_from_slice(FONT_BOLD).expect("embedded font"),
            italic: FontRef::try_from_slice(FONT_ITALIC).expect("embedded font"),
        }
    }

    /// The face for a style.
    pub fn face(&self, bold: bool, italic: bool) -> &FontRef<'static> {
        if bold {
            &self.bold
        } else if italic {
            &self.italic
        } else {
            &self.regular
        }
    }
}

impl Default for Fonts {
    fn default() -> Self {
        Self::new()
    }
}

/// Width of `text` in mm at `pt` points.
pub fn text_width_mm(font: &FontRef<'_>, text: &str, pt: f64) -> f64 {
    let em_mm = pt * 25.4 / 72.0;
    let upem = font.units_per_em().unwrap_or(1000.0) as f64;
    let mut w = 0.0;
    let mut prev = None;
    for ch in text.chars() {
        let id = font.glyph_id(ch);
        if let Some(p) = prev {
            w += font.kern_unscaled(p, id) as f64;
        }
        w += font.h_advance_unscaled(id) as f64;
        prev = Some(id);
    }
    w / upem * em_mm
}

/// The size a text is printed at: our shipped font runs wider than the center's, so a label that would run into
/// the field beside it is shrunk rather than overlap it.
pub fn fitted_pt(t: &Template, tx: &TextSpec, font: &FontRef<'_>) -> f64 {
    let mut pt = tx.pt;
    for fl in &t.fields {
        if fl.bbox[1] <= tx.y && tx.y <= fl.bbox[3] && fl.bbox[0] > tx.x {
            let room = fl.bbox[0] - 1.5 - tx.x;
            let w = text_width_mm(font, &tx.text, pt);
            if w > room {
                pt *= room / w;
            }
        }
    }
    pt
}

/// Greedy word wrap to lines no wider than `max_mm`.
pub fn wrap(font: &FontRef<'_>, text: &str, pt: f64, max_mm: f64) -> Vec<String> {
    let mut lines = vec![];
    let mut cur = String::new();
    for word in text.split_whitespace() {
        let cand = if cur.is_empty() {
            word.to_string()
        } else {
            format!("{cur} {word}")
        };
        if !cur.is_empty() && text_width_mm(font, &cand, pt) > max_mm {
            lines.push(std::mem::take(&mut cur));
            cur = word.to_string();
        } else {
            cur = cand;
        }
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

/// An RGB raster addressed in millimetres; all drawing multiplies ink onto what is there (like ink on paper).
pub struct Canvas {
    /// The pixels.
    pub img: RgbImage,
    /// Resolution.
    pub px_per_mm: f64,
}

impl Canvas {
    /// A white page of `w_mm × h_mm` at `dpi`.
    pub fn new(w_mm: f64, h_mm: f64, dpi: f64) -> Canvas {
        let px_per_mm = dpi / 25.4;
        let w = (w_mm * px_per_mm).round() as u32;
        let h = (h_mm * px_per_mm).round() as u32;
        Canvas {
            img: RgbImage::from_pixel(w, h, Rgb([255, 255, 255])),
            px_per_mm,
        }
    }

    /// Blends `ink` at pixel (x, y) with coverage `a` in [0,1].
    #[inline]
    pub fn blend(&mut self, x: i64, y: i64, ink: [u8; 3], a: f64) {
        if x < 0
            || y < 0
            || x >= self.img.width() as i64
            || y >= self.img.height() as i64
            || a <= 0.0
        {
            return;
        }
        let a = a.min(1.0);
        let p = self.img.get_pixel_mut(x as u32, y as u32);
        for (ch, &k) in p.0.iter_mut().zip(ink.iter()) {
            let m = 1.0 - a * (1.0 - k as f64 / 255.0);
            *ch = (*ch as f64 * m).round().clamp(0.0, 255.0) as u8;
        }
    }

    /// Fills an axis-aligned box (mm) with exact edge coverage.
    pub fn fill_rect(&mut self, b: BoxMm, ink: [u8; 3]) {
        let s = self.px_per_mm;
        let (x0, y0, x1, y1) = (b[0] * s, b[1] * s, b[2] * s, b[3] * s);
        let cov = |lo: f64, hi: f64, p: i64| -> f64 {
            let a = (p as f64).max(lo);
            let b = ((p + 1) as f64).min(hi);
            (b - a).max(0.0)
        };
        for py in y0.floor() as i64..y1.ceil() as i64 {
            let cy = cov(y0, y1, py);
            for px in x0.floor() as i64..x1.ceil() as i64 {
                self.blend(px, py, ink, cy * cov(x0, x1, px));
            }
        }
    }

    /// Strokes a box outline of width `w` mm centred on the box edges.
    pub fn stroke_rect(&mut self, b: BoxMm, w: f64, ink: [u8; 3]) {
        let h = w / 2.0;
        self.fill_rect([b[0] - h, b[1] - h, b[2] + h, b[1] + h], ink);
        self.fill_rect([b[0] - h, b[3] - h, b[2] + h, b[3] + h], ink);
        self.fill_rect([b[0] - h, b[1] + h, b[0] + h, b[3] - h], ink);
        self.fill_rect([b[2] - h, b[1] + h, b[2] + h, b[3] - h], ink);
    }

    /// Fills a disc (mm).
    pub fn fill_disc(&mut self, c: [f64; 2], r: f64, ink: [u8; 3]) {
        let s = self.px_per_mm;
        let (cx, cy, rp) = (c[0] * s, c[1] * s, r * s);
        for py in (cy - rp - 1.0).floor() as i64..=(cy + rp + 1.0).ceil() as i64 {
            for px in (cx - rp - 1.0).floor() as i64..=(cx + rp + 1.0).ceil() as i64 {
                let d = ((px as f64 + 0.5 - cx).powi(2) + (py as f64 + 0.5 - cy).powi(2)).sqrt();
                self.blend(px, py, ink, (rp - d + 0.5).clamp(0.0, 1.0));
            }
        }
    }

    /// Strokes a polyline (mm) of width `w` mm with round joins, coverage `alpha` (for pencil and faint pens).
    pub fn stroke(&mut self, pts: &[[f64; 2]], w: f64, ink: [u8; 3], alpha: f64) {
        if pts.is_empty() {
            return;
        }
        let s = self.px_per_mm;
        let r = (w * s / 2.0).max(0.5);
        let p: Vec<[f64; 2]> = pts.iter().map(|q| [q[0] * s, q[1] * s]).collect();
        let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for q in &p {
            x0 = x0.min(q[0]);
            y0 = y0.min(q[1]);
            x1 = x1.max(q[0]);
            y1 = y1.max(q[1]);
        }
        for py in (y0 - r - 1.0).floor() as i64..=(y1 + r + 1.0).ceil() as i64 {
            for px in (x0 - r - 1.0).floor() as i64..=(x1 + r + 1.0).ceil() as i64 {
                let c = [px as f64 + 0.5, py as f64 + 0.5];
                let mut d = f64::MAX;
                if p.len() == 1 {
                    d = crate::geom::dist(c, p[0]);
                }
                for seg in p.windows(2) {
                    d = d.min(seg_dist(c, seg[0], seg[1]));
                }
                let a = (r - d + 0.5).clamp(0.0, 1.0);
                if a > 0.0 {
                    self.blend(px, py, ink, a * alpha);
                }
            }
        }
    }

    /// Draws `text` with its baseline at (x, y) mm, left-aligned; returns the advance in mm.
    pub fn text(
        &mut self,
        font: &FontRef<'_>,
        text: &str,
        x: f64,
        y: f64,
        pt: f64,
        ink: [u8; 3],
    ) -> f64 {
        let s = self.px_per_mm;
        let em_px = pt * 25.4 / 72.0 * s;
        let upem = font.units_per_em().unwrap_or(1000.0);
        let scale = PxScale::from((em_px as f32) * font.height_unscaled() / upem);
        let sf = font.as_scaled(scale);
        let mut pen = x * s;
        let base = y * s;
        let mut prev = None;
        for ch in text.chars() {
            let id = sf.glyph_id(ch);
            if let Some(pv) = prev {
                pen += sf.kern(pv, id) as f64;
            }
            let g = id.with_scale_and_position(scale, ab_glyph::point(pen as f32, base as f32));
            if let Some(og) = font.outline_glyph(g) {
                let bb = og.px_bounds();
                let (bx, by) = (bb.min.x as i64, bb.min.y as i64);
                let mut hits = vec![];
                og.draw(|gx, gy, c| hits.push((bx + gx as i64, by + gy as i64, c as f64)));
                for (px, py, c) in hits {
                    self.blend(px, py, ink, c);
                }
            }
            pen += sf.h_advance(id) as f64;
            prev = Some(id);
        }
        pen / s - x
    }
}

fn seg_dist(p: [f64; 2], a: [f64; 2], b: [f64; 2]) -> f64 {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let l2 = dx * dx + dy * dy;
    let t = if l2 == 0.0 {
        0.0
    } else {
        (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / l2).clamp(0.0, 1.0)
    };
    crate::geom::dist(p, [a[0] + t * dx, a[1] + t * dy])
}

/// A font face of the shipped family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Face {
    /// Regular.
    Regular,
    /// Bold.
    Bold,
    /// Oblique.
    Italic,
}

impl Fonts {
    /// The font for a face.
    pub fn of(&self, f: Face) -> &FontRef<'static> {
        match f {
            Face::Regular => &self.regular,
            Face::Bold => &self.bold,
            Face::Italic => &self.italic,
        }
    }
}

/// Something the printed form can be drawn on, in template mm (raster [`Canvas`] or vector PDF).
pub trait Surface {
    /// Fills an axis-aligned box.
    fn fill_rect(&mut self, b: BoxMm, ink: [u8; 3]);
    /// Fills a disc.
    fn fill_disc(&mut self, c: [f64; 2], r: f64, ink: [u8; 3]);
    /// Draws text with its baseline at (x, y).
    fn text(&mut self, face: Face, text: &str, x: f64, y: f64, pt: f64, ink: [u8; 3]);
    /// Strokes a box outline of width `w` centred on the box edges.
    fn stroke_rect(&mut self, b: BoxMm, w: f64, ink: [u8; 3]) {
        let h = w / 2.0;
        self.fill_rect([b[0] - h, b[1] - h, b[2] + h, b[1] + h], ink);
        self.fill_rect([b[0] - h, b[3] - h, b[2] + h, b[3] + h], ink);
        self.fill_rect([b[0] - h, b[1] + h, b[0] + h, b[3] - h], ink);
        self.fill_rect([b[2] - h, b[1] + h, b[2] + h, b[3] - h], ink);
    }
}

/// A [`Canvas`] with the fonts it draws text in.
pub struct RasterSurface<'a> {
    /// The canvas.
    pub canvas: &'a mut Canvas,
    /// Fonts.
    pub fonts: &'a Fonts,
}

impl Surface for RasterSurface<'_> {
    fn fill_rect(&mut self, b: BoxMm, ink: [u8; 3]) {
        self.canvas.fill_rect(b, ink);
    }
    fn fill_disc(&mut self, c: [f64; 2], r: f64, ink: [u8; 3]) {
        self.canvas.fill_disc(c, r, ink);
    }
    fn text(&mut self, face: Face, text: &str, x: f64, y: f64, pt: f64, ink: [u8; 3]) {
        self.canvas.text(self.fonts.of(face), text, x, y, pt, ink);
    }
}

/// Values printed into a form's fields by the one-stop system, by field id; those the template's QR format
/// names are carried in the QR too.
#[derive(Debug, Clone, Default)]
pub struct Prefill {
    /// Field id → printed value.
    pub values: std::collections::BTreeMap<String, String>,
}

impl Prefill {
    /// A prefill with one more value.
    pub fn with(mut self, field: &str, value: &str) -> Prefill {
        self.values.insert(field.into(), value.into());
        self
    }
}

/// The QR payload for a template and prefill.
pub fn qr_payload(t: &Template, prefill: &Prefill) -> String {
    t.qr.payload(&prefill.values)
}

/// QR modules (true = dark) for a payload, with quiet zone excluded.
pub fn qr_modules(content: &str) -> Result<Vec<Vec<bool>>, RenderError> {
    let code = qrcode::QrCode::with_error_correction_level(content.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| RenderError::Qr {
            content: content.to_string(),
            reason: e.to_string(),
        })?;
    let w = code.width();
    let colors = code.to_colors();
    Ok((0..w)
        .map(|y| {
            (0..w)
                .map(|x| colors[y * w + x] == qrcode::Color::Dark)
                .collect()
        })
        .collect())
}

const BLACK: [u8; 3] = [0, 0, 0];

/// Draws the printed form (everything the center's printer puts on paper) onto a raster canvas.
pub fn render_form(
    c: &mut Canvas,
    t: &Template,
    prefill: &Prefill,
    fonts: &Fonts,
) -> Result<(), RenderError> {
    draw_form(&mut RasterSurface { canvas: c, fonts }, t, prefill, fonts)
}

/// Draws the printed form onto any surface; `fonts` measures text for centring and wrapping.
pub fn draw_form(
    c: &mut dyn Surface,
    t: &Template,
    prefill: &Prefill,
    fonts: &Fonts,
) -> Result<(), RenderError> {
    for m in &t.markers {
        if m.shape == "disc" {
            c.fill_disc(m.center, m.size / 2.0, BLACK);
        } else {
            let h = m.size / 2.0;
            c.fill_rect(
                [
                    m.center[0] - h,
                    m.center[1] - h,
                    m.center[0] + h,
                    m.center[1] + h,
                ],
                BLACK,
            );
        }
    }
    let mods = qr_modules(&qr_payload(t, prefill))?;
    let n = mods.len() as f64;
    let q = t.qr.bbox;
    let cell = (q[2] - q[0]).min(q[3] - q[1]) / n;
    for (y, row) in mods.iter().enumerate() {
        for (x, &dark) in row.iter().enumerate() {
            if dark {
                let x0 = q[0] + x as f64 * cell;
                let y0 = q[1] + y as f64 * cell;
                c.fill_rect([x0, y0, x0 + cell, y0 + cell], BLACK);
            }
        }
    }
    for tx in &t.texts {
        let face = if tx.bold {
            Face::Bold
        } else if tx.italic {
            Face::Italic
        } else {
            Face::Regular
        };
        let f = fonts.of(face);
        let pt = fitted_pt(t, tx, f);
        let x = if tx.align.as_deref() == Some("center") {
            tx.x - text_width_mm(f, &tx.text, pt) / 2.0
        } else {
            tx.x
        };
        c.text(face, &tx.text, x, tx.y, pt, BLACK);
    }
    let lw = t.table.line_mm;
    for f in &t.fields {
        c.stroke_rect(f.bbox, lw, BLACK);
        let value = prefill.values.get(&f.id);
        if let Some(v) = value {
            let p = &f.printed_text;
            c.text(Face::Regular, v, p.x, p.y, p.pt, BLACK);
        }
    }
    draw_table(c, t, fonts);
    c.stroke_rect(t.comment_box, lw, BLACK);
    Ok(())
}

fn draw_table(c: &mut dyn Surface, t: &Template, fonts: &Fonts) {
    let tb = &t.table;
    let lw = tb.line_mm;
    let h = lw / 2.0;
    let x_left = tb.columns.stt[0];
    let x_right = tb
        .columns
        .options
        .last()
        .map(|o| o[1])
        .unwrap_or(tb.columns.criterion[1]);
    let ys = t.table_rules_y();
    let (top, head_bottom, bottom) = (ys[0], ys[1], *ys.last().unwrap());
    for &y in &ys {
        c.fill_rect([x_left - h, y - h, x_right + h, y + h], BLACK);
    }
    for x in [
        x_left,
        tb.columns.criterion[0],
        tb.columns.criterion[1],
        x_right,
    ] {
        c.fill_rect([x - h, top - h, x + h, bottom + h], BLACK);
    }
    for o in tb.columns.options.iter().skip(1) {
        c.fill_rect([o[0] - h, head_bottom - h, o[0] + h, bottom + h], BLACK);
    }
    let hy = top + tb.header_height * 0.65;
    let opt_span = [tb.columns.options[0][0], x_right];
    for (text, span) in tb
        .header
        .iter()
        .zip([tb.columns.stt, tb.columns.criterion, opt_span])
    {
        let w = text_width_mm(&fonts.bold, text, 9.0);
        c.text(
            Face::Bold,
            text,
            (span[0] + span[1] - w) / 2.0,
            hy,
            9.0,
            BLACK,
        );
    }
    for r in &t.rows {
        let mid = (r.band[1] + r.band[3]) / 2.0;
        if let Some(n) = r.number {
            let s = n.to_string();
            let w = text_width_mm(&fonts.regular, &s, 9.5);
            c.text(
                Face::Regular,
                &s,
                (tb.columns.stt[0] + tb.columns.stt[1] - w) / 2.0,
                mid + 1.2,
                9.5,
                BLACK,
            );
        }
        let rface = if r.number.is_none() {
            Face::Bold
        } else {
            Face::Regular
        };
        let face = fonts.of(rface);
        let lines = wrap(
            face,
            &r.label,
            9.0,
            tb.columns.criterion[1] - tb.columns.criterion[0] - 3.0,
        );
        let lh = 4.0;
        let y0 = mid + 1.2 - (lines.len() as f64 - 1.0) * lh / 2.0;
        for (i, l) in lines.iter().enumerate() {
            c.text(
                rface,
                l,
                tb.columns.criterion[0] + 1.5,
                y0 + i as f64 * lh,
                9.0,
                BLACK,
            );
        }
        for (o, col) in r.options.iter().zip(&tb.columns.options) {
            c.stroke_rect(o.bbox, t.checkbox.line_mm, BLACK);
            let lines = wrap(&fonts.regular, &o.label, 7.0, col[1] - o.label_at[0] - 0.8);
            for (i, l) in lines.iter().enumerate() {
                c.text(
                    Face::Regular,
                    l,
                    o.label_at[0],
                    o.label_at[1] + i as f64 * 3.0,
                    7.0,
                    BLACK,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_land_where_the_template_says() {
        let t = Template::builtin("gtvt").unwrap();
        let mut c = Canvas::new(210.0, 297.0, 100.0);
        render_form(&mut c, &t, &Prefill::default(), &Fonts::new()).unwrap();
        let s = c.px_per_mm;
        let at = |x: f64, y: f64| c.img.get_pixel((x * s) as u32, (y * s) as u32).0[0];
        assert_eq!(at(14.0, 14.0), 0, "tl marker centre is ink");
        assert_eq!(at(196.0, 283.0), 0, "br disc centre is ink");
        assert_eq!(at(199.3, 286.3), 255, "disc corner is paper (not a square)");
        assert_eq!(at(105.0, 85.5), 255, "checkbox interior is paper");
        assert!(at(102.5, 85.5) < 128, "checkbox outline is ink");
    }

    #[test]
    fn prefilled_qr_carries_the_dossier_code() {
        let t = Template::builtin("gtvt").unwrap();
        let p = Prefill::default().with("dossier_code", "000.00.17.H48-210426-0001");
        assert_eq!(
            qr_payload(&t, &p),
            "PDG1;T=GTVT;HS=000.00.17.H48-210426-0001"
        );
        assert!(qr_modules(&qr_payload(&t, &p)).unwrap().len() >= 21);
    }
}
