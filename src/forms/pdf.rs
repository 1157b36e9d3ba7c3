//! Vector PDF output of a form: the same drawing as the raster renderer ([`crate::forms::render::draw_form`]) onto a
//! true-A4 PDF page, with the shipped DejaVu fonts embedded (so every Vietnamese diacritic prints as designed).

use crate::forms::render::{
    draw_form, Face, Fonts, Prefill, RenderError, Surface, FONT_BOLD, FONT_ITALIC, FONT_REGULAR,
};
use crate::forms::template::{BoxMm, Template};
use printpdf::{
    Color, IndirectFontRef, Mm, PdfDocument, PdfLayerReference, Point, Polygon, Rect, Rgb,
};

/// Errors writing a PDF.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    /// Drawing failed.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// The PDF library failed.
    #[error("PDF: {0}")]
    Pdf(String),
}

struct PdfSurface {
    layer: PdfLayerReference,
    fonts: [IndirectFontRef; 3],
    page_h: f64,
}

fn color(ink: [u8; 3]) -> Color {
    Color::Rgb(Rgb::new(
        ink[0] as f32 / 255.0,
        ink[1] as f32 / 255.0,
        ink[2] as f32 / 255.0,
        None,
    ))
}

impl Surface for PdfSurface {
    fn fill_rect(&mut self, b: BoxMm, ink: [u8; 3]) {
        self.layer.set_fill_color(color(ink));
        self.layer.add_rect(
            Rect::new(
                Mm(b[0] as f32),
                Mm((self.page_h - b[3]) as f32),
                Mm(b[2] as f32),
                Mm((self.page_h - b[1]) as f32),
            )
            .with_mode(printpdf::path::PaintMode::Fill),
        );
    }

    fn fill_disc(&mut self, c: [f64; 2], r: f64, ink: [u8; 3]) {
        self.layer.set_fill_color(color(ink));
        let n = 72;
        let ring: Vec<(Point, bool)> = (0..n)
            .map(|i| {
                let a = i as f64 / n as f64 * std::f64::consts::TAU;
                (
                    Point::new(
                        Mm((c[0] + r * a.cos()) as f32),
                        Mm((self.page_h - c[1] - r * a.sin()) as f32),
                    ),
                    false,
                )
            })
            .collect();
        self.layer.add_polygon(Polygon {
            rings: vec![ring],
            mode: printpdf::path::PaintMode::Fill,
            winding_order: printpdf::path::WindingOrder::NonZero,
        });
    }

    fn text(&mut self, face: Face, text: &str, x: f64, y: f64, pt: f64, ink: [u8; 3]) {
        let f = &self.fonts[face as usize];
        self.layer.set_fill_color(color(ink));
        self.layer.use_text(
            text,
            pt as f32,
            Mm(x as f32),
            Mm((self.page_h - y) as f32),
            f,
        );
    }
}

/// Renders the form `t` as a one-page vector PDF of the template's page size.
pub fn render_pdf(t: &Template, prefill: &Prefill) -> Result<Vec<u8>, PdfError> {
    let (w, h) = (t.page_mm[0], t.page_mm[1]);
    let title = format!("{} – Phiếu đánh giá mức độ hài lòng", t.form_code);
    let (doc, page, layer) = PdfDocument::new(title.clone(), Mm(w as f32), Mm(h as f32), "form");
    let font = |bytes: &[u8]| {
        doc.add_external_font_with_subsetting(bytes, true)
            .map_err(|e| PdfError::Pdf(e.to_string()))
    };
    let fonts = [font(FONT_REGULAR)?, font(FONT_BOLD)?, font(FONT_ITALIC)?];
    let mut s = PdfSurface {
        layer: doc.get_page(page).get_layer(layer),
        fonts,
        page_h: h,
    };
    draw_form(&mut s, t, prefill, &Fonts::new())?;
    let bytes = doc
        .save_to_bytes()
        .map_err(|e| PdfError::Pdf(e.to_string()))?;
    with_text_title(&bytes, &title)
}

/// Rewrites the document title as a PDF text string (UTF-16BE with its byte-order mark, PDF 32000 §7.9.2.2):
/// `printpdf` writes the UTF-8 bytes, which viewers show as mojibake (`PÄ’G-GTVT …`).
fn with_text_title(pdf: &[u8], title: &str) -> Result<Vec<u8>, PdfError> {
    let err = |e: lopdf::Error| PdfError::Pdf(e.to_string());
    let mut doc = lopdf::Document::load_mem(pdf).map_err(err)?;
    let mut text = vec![0xFE, 0xFF];
    text.extend(title.encode_utf16().flat_map(|u| u.to_be_bytes()));
    let info = doc
        .trailer
        .get(b"Info")
        .and_then(|o| o.as_reference())
        .map_err(err)?;
    doc.get_object_mut(info)
        .and_then(|o| o.as_dict_mut())
        .map_err(err)?
        .set(
            "Title",
            lopdf::Object::String(text, lopdf::StringFormat::Hexadecimal),
        );
    let mut out = Vec::new();
    doc.save_to(&mut out)
        .map_err(|e| PdfError::Pdf(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdf_is_a4_and_embeds_fonts() {
        let t = Template::builtin("gtvt").unwrap();
        let pdf = render_pdf(&t, &Prefill::default()).unwrap();
        assert!(pdf.starts_with(b"%PDF"));
        let doc = lopdf::Document::load_mem(&pdf).unwrap();
        let pages = doc.get_pages();
        assert_eq!(pages.len(), 1);
        let text = String::from_utf8_lossy(&pdf);
        assert!(text.contains("FontFile2"), "TrueType font embedded");
        assert!(
            text.contains("595.27") || text.contains("595.2"),
            "A4 width in points"
        );
    }

    #[test]
    fn the_title_is_a_utf16_text_string() {
        let t = Template::builtin("gtvt").unwrap();
        let pdf = render_pdf(&t, &Prefill::default()).unwrap();
        let doc = lopdf::Document::load_mem(&pdf).unwrap();
        let info = doc.trailer.get(b"Info").unwrap().as_reference().unwrap();
        let title = doc
            .get_object(info)
            .unwrap()
            .as_dict()
            .unwrap()
            .get(b"Title")
            .unwrap();
        let bytes = title.as_str().unwrap();
        assert_eq!(&bytes[..2], &[0xFE, 0xFF]);
        let units: Vec<u16> = bytes[2..]
            .chunks(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        let text = String::from_utf16(&units).unwrap();
        assert!(text.contains("Phiếu đánh giá mức độ hài lòng"), "{text}");
        assert!(doc.get_pages().len() == 1);
    }
}
