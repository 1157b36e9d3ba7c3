//! PDF scanner pages as the spec draws them: the page's content stream (and the Form XObjects it calls) is
//! followed for `q`/`Q`/`cm`/`Do`, every image XObject is decoded (filters, predictors, CCITT parameters,
//! `/Decode`, `/ImageMask`, colour spaces) and painted at its place, and the page's `/Rotate` is applied, so a
//! page reads as poppler shows it whatever program wrote the file.

use super::ccitt::{self, FaxParams};
use super::jbig2::decode_jbig2;
use super::jpx::decode_jpx;
use super::pdf_inline::{lift_inline_images, INLINE_OPERATOR};
use super::{bounded_inflate, check_pixels, decode_raster, Fail, MAX_PDF_NESTING};
use image::{DynamicImage, GrayImage};
use lopdf::{Dictionary, Document, Object, ObjectId, Stream};
use std::borrow::Cow;

/// Affine map [a b c d e f]: (x, y) → (a x + c y + e, b x + d y + f).
type Matrix = [f64; 6];

const IDENTITY: Matrix = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0];

/// `m` first, then `n`.
fn concat(m: &Matrix, n: &Matrix) -> Matrix {
    [
        m[0] * n[0] + m[1] * n[2],
        m[0] * n[1] + m[1] * n[3],
        m[2] * n[0] + m[3] * n[2],
        m[2] * n[1] + m[3] * n[3],
        m[4] * n[0] + m[5] * n[2] + n[4],
        m[4] * n[1] + m[5] * n[3] + n[5],
    ]
}

fn apply(m: &Matrix, x: f64, y: f64) -> (f64, f64) {
    (m[0] * x + m[2] * y + m[4], m[1] * x + m[3] * y + m[5])
}

fn invert(m: &Matrix) -> Option<Matrix> {
    let det = m[0] * m[3] - m[1] * m[2];
    if det.abs() < 1e-12 || !det.is_finite() {
        return None;
    }
    let (a, b, c, d) = (m[3] / det, -m[1] / det, -m[2] / det, m[0] / det);
    Some([a, b, c, d, -(m[4] * a + m[5] * c), -(m[4] * b + m[5] * d)])
}

/// Images drawn on one page beyond this are ignored (a scanner page has one, a strip-wise page a few dozen).
const MAX_DRAWS: usize = 4096;

/// One image drawn on the page: which stream, the matrix that maps its unit square to user space, and the
/// fill colour a stencil mask paints with (as grey: the darkest channel, like every page).
struct Draw<'a> {
    /// The document's image XObject, or an inline image lifted out of the content stream.
    stream: Cow<'a, Stream>,
    ctm: Matrix,
    fill: u8,
    /// The image's own mask: `/SMask` (soft, a grey image of alpha) or `/Mask` (a stencil image). A mixed
    /// raster content (MRC) page paints its ink as one colour through a full-resolution mask over a
    /// low-resolution background; without the mask the ink colour would cover the page.
    mask: Option<(&'a Stream, MaskKind)>,
}

#[derive(Clone, Copy, PartialEq)]
enum MaskKind {
    Soft,
    Stencil,
}

/// A stream's declared size in samples (0 when missing; decoding then reports the error).
fn stream_size(s: &Stream) -> (f64, f64) {
    let dim = |k: &[u8]| s.dict.get(k).ok().and_then(num).unwrap_or(0.0);
    (dim(b"Width"), dim(b"Height"))
}

impl Draw<'_> {
    /// The image's declared size in samples.
    fn size(&self) -> (f64, f64) {
        stream_size(&self.stream)
    }

    /// The finer of the image's and its mask's sizes: the resolution at which the draw shows detail.
    fn detail_size(&self) -> (f64, f64) {
        let (w, h) = self.size();
        self.mask.map_or((w, h), |(m, _)| {
            let (mw, mh) = stream_size(m);
            (w.max(mw), h.max(mh))
        })
    }
}

/// The grey (darkest channel) of a fill colour given as 1 (grey), 3 (RGB) or 4 (CMYK) components in 0..1.
fn fill_grey(c: &[f64]) -> Option<u8> {
    let q = |v: f64| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    match *c {
        [g] => Some(q(g)),
        [r, g, b] => Some(q(r.min(g).min(b))),
        [c, m, y, k] => Some(q((1.0 - c.max(m).max(y)) * (1.0 - k))),
        _ => None,
    }
}

fn num(o: &Object) -> Option<f64> {
    match o {
        Object::Integer(i) => Some(*i as f64),
        Object::Real(r) => Some(*r as f64),
        _ => None,
    }
}

fn deref<'a>(doc: &'a Document, o: &'a Object) -> &'a Object {
    match o {
        Object::Reference(id) => doc.get_object(*id).unwrap_or(o),
        _ => o,
    }
}

fn dict_get<'a>(doc: &'a Document, d: &'a Dictionary, k: &[u8]) -> Option<&'a Object> {
    d.get(k).ok().map(|o| deref(doc, o))
}

/// An inheritable page attribute (`/MediaBox`, `/CropBox`, `/Rotate`, `/Resources`), looked up the page tree.
fn inherited<'a>(doc: &'a Document, pid: ObjectId, key: &[u8]) -> Option<&'a Object> {
    let mut node = pid;
    for _ in 0..=MAX_PDF_NESTING {
        let d = doc.get_dictionary(node).ok()?;
        if let Some(v) = dict_get(doc, d, key) {
            return Some(v);
        }
        node = d.get(b"Parent").ok()?.as_reference().ok()?;
    }
    None
}

fn rect(doc: &Document, o: &Object) -> Option<[f64; 4]> {
    let a = o.as_array().ok()?;
    if a.len() != 4 {
        return None;
    }
    let v: Vec<f64> = a.iter().filter_map(|x| num(deref(doc, x))).collect();
    (v.len() == 4).then(|| {
        [
            v[0].min(v[2]),
            v[1].min(v[3]),
            v[0].max(v[2]),
            v[1].max(v[3]),
        ]
    })
}

/// Follows a content stream, collecting image draws (recursing into Form XObjects up to a small depth).
fn collect<'a>(
    doc: &'a Document,
    content: &[u8],
    resources: Option<&'a Dictionary>,
    base: Matrix,
    depth: usize,
    out: &mut Vec<Draw<'a>>,
) {
    let lifted = lift_inline_images(content);
    let (content, mut inline) = match lifted {
        Some(l) => (
            Cow::Owned(l.content),
            l.images.into_iter().map(Some).collect(),
        ),
        None => (Cow::Borrowed(content), vec![]),
    };
    let Ok(ops) = lopdf::content::Content::decode(&content) else {
        return;
    };
    let xobjects = resources
        .and_then(|r| dict_get(doc, r, b"XObject"))
        .and_then(|o| o.as_dict().ok());
    let mut ctm = base;
    // The fill colour starts black in every content stream (a form's own is not inherited here: forms in scans
    // hold images, not stencils painted in the caller's colour).
    let mut fill = 0u8;
    // Whether `sc`/`scn` operands are device components (grey, RGB, CMYK); a Separation's tint is not.
    let mut device_space = true;
    let mut stack: Vec<(Matrix, u8)> = vec![];
    for op in &ops.operations {
        match op.operator.as_str() {
            "q" if stack.len() < 1024 => stack.push((ctm, fill)),
            "Q" => (ctm, fill) = stack.pop().unwrap_or((base, 0)),
            // A new fill colour space starts at its initial colour, black for the device spaces.
            "cs" => {
                fill = 0;
                device_space = matches!(
                    op.operands.first().and_then(|o| o.as_name().ok()),
                    Some(b"DeviceGray" | b"DeviceRGB" | b"DeviceCMYK")
                );
            }
            "g" | "rg" | "k" | "sc" | "scn" => {
                let v: Vec<f64> = op.operands.iter().filter_map(num).collect();
                let device = device_space || !matches!(op.operator.as_str(), "sc" | "scn");
                // A pattern (a name operand) or another space's tints: the stencil shows as ink.
                fill = if device && v.len() == op.operands.len() {
                    fill_grey(&v).unwrap_or(0)
                } else {
                    0
                };
            }
            "cm" => {
                let v: Vec<f64> = op.operands.iter().filter_map(num).collect();
                if let [a, b, c, d, e, f] = v[..] {
                    ctm = concat(&[a, b, c, d, e, f], &ctm);
                }
            }
            INLINE_OPERATOR if out.len() < MAX_DRAWS => {
                let Some(mut s) = op
                    .operands
                    .first()
                    .and_then(|o| o.as_i64().ok())
                    .and_then(|n| inline.get_mut(usize::try_from(n).ok()?))
                    .and_then(Option::take)
                else {
                    continue;
                };
                // An inline image may name a colour space of the page's resources.
                let named = match s.dict.get(b"ColorSpace") {
                    Ok(Object::Name(n))
                        if !matches!(
                            n.as_slice(),
                            b"G" | b"RGB" | b"CMYK" | b"DeviceGray" | b"DeviceRGB" | b"DeviceCMYK"
                        ) =>
                    {
                        resources
                            .and_then(|r| dict_get(doc, r, b"ColorSpace"))
                            .and_then(|o| o.as_dict().ok())
                            .and_then(|cs| dict_get(doc, cs, n))
                            .cloned()
                    }
                    _ => None,
                };
                if let Some(cs) = named {
                    s.dict.set("ColorSpace", cs);
                }
                out.push(Draw {
                    stream: Cow::Owned(s),
                    ctm,
                    fill,
                    mask: None,
                });
            }
            "Do" => {
                let Some(name) = op.operands.first().and_then(|o| o.as_name().ok()) else {
                    continue;
                };
                let Some(Object::Stream(s)) = xobjects.and_then(|x| dict_get(doc, x, name)) else {
                    continue;
                };
                match s.dict.get(b"Subtype").and_then(|o| o.as_name()).ok() {
                    Some(b"Image") if out.len() < MAX_DRAWS => {
                        let mask = match dict_get(doc, &s.dict, b"SMask") {
                            Some(Object::Stream(m)) => Some((m, MaskKind::Soft)),
                            _ => match dict_get(doc, &s.dict, b"Mask") {
                                Some(Object::Stream(m)) => Some((m, MaskKind::Stencil)),
                                // A colour-key mask (an array of sample ranges) is not applied: the image
                                // is painted whole, as before.
                                _ => None,
                            },
                        };
                        out.push(Draw {
                            stream: Cow::Borrowed(s),
                            ctm,
                            fill,
                            mask,
                        })
                    }
                    Some(b"Form") if depth < 8 => {
                        let m = s
                            .dict
                            .get(b"Matrix")
                            .ok()
                            .and_then(|o| o.as_array().ok())
                            .map(|a| a.iter().filter_map(num).collect::<Vec<_>>())
                            .and_then(|v| <[f64; 6]>::try_from(v).ok())
                            .unwrap_or(IDENTITY);
                        let res = dict_get(doc, &s.dict, b"Resources")
                            .and_then(|o| o.as_dict().ok())
                            .or(resources);
                        let Ok(body) = filtered(doc, s, 64 << 20) else {
                            continue;
                        };
                        collect(doc, &body, res, concat(&m, &ctm), depth + 1, out);
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
}

/// Decodes page `pid` of `doc` to what it shows: every image at its place on the page's crop box, at the
/// resolution of the finest image, with `/Rotate` applied.
pub(super) fn decode_pdf_page(
    doc: &Document,
    pid: ObjectId,
    max_pixels: u64,
) -> Result<(DynamicImage, f64), Fail> {
    // Resources are inherited through /Parent: bound the chain before anything follows it.
    let mut node = pid;
    for depth in 0.. {
        if depth > MAX_PDF_NESTING {
            return Err(format!("page tree deeper than {MAX_PDF_NESTING} levels").into());
        }
        match doc
            .get_dictionary(node)
            .and_then(|d| d.get(b"Parent"))
            .and_then(|p| p.as_reference())
        {
            Ok(parent) => node = parent,
            Err(_) => break,
        }
    }
    let resources = inherited(doc, pid, b"Resources").and_then(|o| o.as_dict().ok());
    let content = doc.get_page_content(pid).unwrap_or_default();
    let mut draws = vec![];
    collect(doc, &content, resources, IDENTITY, 0, &mut draws);
    let rotate = inherited(doc, pid, b"Rotate")
        .and_then(num)
        .map_or(0, |r| (r as i64).rem_euclid(360) / 90 * 90);
    let (img, stretch) = if draws.is_empty() {
        // No drawing found (an unreadable content stream): the page's largest image, upright.
        let s = largest_image(doc, resources).ok_or(Fail::NoImage)?;
        (decode_image(doc, s, max_pixels)?.into_image(), 1.0)
    } else {
        let page_box = inherited(doc, pid, b"CropBox")
            .and_then(|o| rect(doc, o))
            .or_else(|| inherited(doc, pid, b"MediaBox").and_then(|o| rect(doc, o)));
        composite(doc, &draws, page_box, max_pixels)?
    };
    let img = match rotate {
        90 => img.rotate90(),
        180 => img.rotate180(),
        270 => img.rotate270(),
        _ => img,
    };
    Ok((img, stretch))
}

fn largest_image<'a>(doc: &'a Document, resources: Option<&'a Dictionary>) -> Option<&'a Stream> {
    let xo = resources
        .and_then(|r| dict_get(doc, r, b"XObject"))
        .and_then(|o| o.as_dict().ok())?;
    let mut best: Option<(u64, &Stream)> = None;
    for (_, v) in xo.iter() {
        let Object::Stream(s) = deref(doc, v) else {
            continue;
        };
        if s.dict.get(b"Subtype").and_then(|o| o.as_name()).ok() != Some(b"Image") {
            continue;
        }
        let dim = |k: &[u8]| s.dict.get(k).and_then(|o| o.as_i64()).unwrap_or(0).max(0) as u64;
        let area = dim(b"Width").saturating_mul(dim(b"Height"));
        if best.as_ref().is_none_or(|(a, _)| area > *a) {
            best = Some((area, s));
        }
    }
    best.map(|(_, s)| s)
}

/// Paints the draws onto a white raster of the crop box (or of the images' extent) at the finest image's
/// resolution, by nearest sample: an image placed 1:1 comes out pixel for pixel. Returns the raster and the
/// stretch of the largest image along its coarser axis (see [`super::Page::stretch`]).
fn composite(
    doc: &Document,
    draws: &[Draw<'_>],
    page_box: Option<[f64; 4]>,
    max_pixels: u64,
) -> Result<(DynamicImage, f64), Fail> {
    let mut res: f64 = 0.0;
    let mut extent = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
    for d in draws {
        let (w, h) = d.detail_size();
        let m = &d.ctm;
        let (lx, ly) = (m[0].hypot(m[1]), m[2].hypot(m[3]));
        if lx > 0.0 && ly > 0.0 {
            res = res.max(w / lx).max(h / ly);
        }
        for (u, v) in [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)] {
            let (x, y) = apply(m, u, v);
            extent = [
                extent[0].min(x),
                extent[1].min(y),
                extent[2].max(x),
                extent[3].max(y),
            ];
        }
    }
    if !(res.is_finite() && res > 0.0) {
        return Err("the page's images have no size".into());
    }
    // The crop box bounds what is shown; the images' own extent when the box is missing.
    let b = page_box.unwrap_or(extent);
    // An image placed much smaller than the page would make a vast, mostly white canvas at its resolution: the
    // canvas is kept within a few times the images' own pixels (the form then reads at a lower resolution).
    let pixels: f64 = draws
        .iter()
        .map(|d| {
            let (w, h) = d.detail_size();
            w * h
        })
        .sum();
    let area = (b[2] - b[0]) * (b[3] - b[1]) * res * res;
    let cap = (4.0 * pixels).max(1e6);
    if area > cap {
        res *= (cap / area).sqrt();
    }
    // A page sized to its image in points (595.2 pt for 620 px at 75 dpi) gives the image's size up to float
    // error, which must not add a column.
    let cw = ((b[2] - b[0]) * res - 1e-3).ceil().max(1.0);
    let ch = ((b[3] - b[1]) * res - 1e-3).ceil().max(1.0);
    if cw * ch > max_pixels as f64 || cw > u32::MAX as f64 || ch > u32::MAX as f64 {
        return Err(Fail::TooLarge(cw as u64, ch as u64));
    }
    let (cw, ch) = (cw as u32, ch as u32);
    // A fax image placed on its page at 204 × 98 dpi is painted at 204 dpi both ways: its rows are stretched.
    let stretch = draws
        .iter()
        .max_by(|a, b| {
            let (aw, ah) = a.size();
            let (bw, bh) = b.size();
            (aw * ah).total_cmp(&(bw * bh))
        })
        .map_or(1.0, |d| {
            let (w, h) = d.size();
            let m = &d.ctm;
            let coarse = (w / m[0].hypot(m[1])).min(h / m[2].hypot(m[3]));
            if coarse.is_finite() && coarse > 0.0 {
                (res / coarse).max(1.0)
            } else {
                1.0
            }
        });
    // The usual scanner page: one upright image that fills the box exactly. It is returned as decoded.
    if let [d @ Draw {
        mask: None,
        fill: 0,
        ..
    }] = draws
    {
        let (w, h) = d.size();
        let m = &d.ctm;
        let fills = m[1].abs() < 1e-9
            && m[2].abs() < 1e-9
            && m[0] > 0.0
            && m[3] > 0.0
            && w as u32 == cw
            && h as u32 == ch
            && (m[4] - b[0]).abs() * res < 0.5
            && (m[5] - b[1]).abs() * res < 0.5;
        if fills {
            return Ok((
                decode_image(doc, &d.stream, max_pixels)?.into_image(),
                stretch,
            ));
        }
    }
    let mut canvas = GrayImage::from_pixel(cw, ch, [255u8].into());
    for d in draws {
        let Some(inv) = invert(&d.ctm) else { continue };
        let img = decode_image(doc, &d.stream, max_pixels)?.into_paint(d.fill);
        let (iw, ih) = img.size();
        let alpha = match d.mask {
            Some((m, kind)) => Some(alpha_of(doc, m, kind, max_pixels)?),
            None => None,
        };
        // Only the canvas pixels inside the image's bounding box are visited.
        let mut bb = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
        for (u, v) in [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)] {
            let (x, y) = apply(&d.ctm, u, v);
            let (px, py) = ((x - b[0]) * res, (b[3] - y) * res);
            bb = [bb[0].min(px), bb[1].min(py), bb[2].max(px), bb[3].max(py)];
        }
        let x0 = bb[0].floor().max(0.0) as u32;
        let y0 = bb[1].floor().max(0.0) as u32;
        let x1 = (bb[2].ceil().max(0.0) as u32).min(cw);
        let y1 = (bb[3].ceil().max(0.0) as u32).min(ch);
        for py in y0..y1 {
            let uy = b[3] - (py as f64 + 0.5) / res;
            for px in x0..x1 {
                let ux = b[0] + (px as f64 + 0.5) / res;
                let (u, v) = apply(&inv, ux, uy);
                if !(0.0..1.0).contains(&u) || !(0.0..1.0).contains(&v) {
                    continue;
                }
                // Image space: the first sample row is at the top of the unit square (v = 1).
                let sample = |w: u32, h: u32| {
                    (
                        ((u * w as f64) as u32).min(w - 1),
                        (((1.0 - v) * h as f64) as u32).min(h - 1),
                    )
                };
                // The mask covers the same unit square at its own resolution.
                let a = alpha.as_ref().map_or(255, |m| {
                    let (mx, my) = sample(m.width(), m.height());
                    m.get_pixel(mx, my).0[0]
                });
                if a == 0 {
                    continue;
                }
                let (sx, sy) = sample(iw, ih);
                if let Some(g) = img.gray_at(sx, sy) {
                    let out = if a == 255 {
                        g
                    } else {
                        let under = canvas.get_pixel(px, py).0[0] as u32;
                        ((a as u32 * g as u32 + (255 - a as u32) * under + 127) / 255) as u8
                    };
                    canvas.put_pixel(px, py, [out].into());
                }
            }
        }
    }
    Ok((DynamicImage::ImageLuma8(canvas), stretch))
}

/// An image's mask as coverage, 0 (not painted) to 255 (painted): a soft mask's grey as it is, a stencil's
/// painting samples as 255.
fn alpha_of(
    doc: &Document,
    m: &Stream,
    kind: MaskKind,
    max_pixels: u64,
) -> Result<GrayImage, Fail> {
    Ok(match (decode_image(doc, m, max_pixels)?, kind) {
        (Decoded::Mask(w, h, bits), _) => GrayImage::from_raw(
            w,
            h,
            bits.iter().map(|&p| if p { 255 } else { 0 }).collect(),
        )
        .ok_or("mask size")?,
        (Decoded::Pixels(img), MaskKind::Soft) => img.into_luma8(),
        // A stencil written without /ImageMask: its 0 samples paint, as in an image mask.
        (Decoded::Pixels(img), MaskKind::Stencil) => {
            let mut g = img.into_luma8();
            g.pixels_mut()
                .for_each(|p| p.0[0] = if p.0[0] < 128 { 255 } else { 0 });
            g
        }
    })
}

/// A decoded image XObject: grey or colour pixels, or a stencil mask (true = paint).
pub(super) enum Decoded {
    Pixels(DynamicImage),
    Mask(u32, u32, Vec<bool>),
}

/// A decoded image as the compositor samples it: grey (the darkest channel, as every page), or a stencil mask
/// with the grey of its fill colour.
enum Paint {
    Gray(GrayImage),
    Mask(u32, u32, Vec<bool>, u8),
}

impl Paint {
    fn size(&self) -> (u32, u32) {
        match self {
            Paint::Gray(g) => g.dimensions(),
            Paint::Mask(w, h, ..) => (*w, *h),
        }
    }

    /// The grey a sample shows (None: a stencil mask's transparent sample).
    fn gray_at(&self, x: u32, y: u32) -> Option<u8> {
        match self {
            Paint::Gray(g) => Some(g.get_pixel(x, y).0[0]),
            Paint::Mask(w, _, m, fill) => m[(y * w + x) as usize].then_some(*fill),
        }
    }
}

impl Decoded {
    fn into_paint(self, fill: u8) -> Paint {
        match self {
            Decoded::Pixels(img) => Paint::Gray(super::to_gray(img).0),
            Decoded::Mask(w, h, m) => Paint::Mask(w, h, m, fill),
        }
    }

    fn into_image(self) -> DynamicImage {
        match self {
            Decoded::Pixels(img) => img,
            Decoded::Mask(w, h, m) => DynamicImage::ImageLuma8(
                GrayImage::from_raw(w, h, m.iter().map(|&p| if p { 0 } else { 255 }).collect())
                    .expect("size"),
            ),
        }
    }
}

fn filter_list(doc: &Document, d: &Dictionary) -> Vec<(Vec<u8>, Option<Dictionary>)> {
    let names: Vec<Vec<u8>> = match dict_get(doc, d, b"Filter") {
        Some(Object::Name(n)) => vec![n.clone()],
        Some(Object::Array(a)) => a
            .iter()
            .filter_map(|o| deref(doc, o).as_name().ok().map(|n| n.to_vec()))
            .collect(),
        _ => vec![],
    };
    let parms: Vec<Option<Dictionary>> =
        match dict_get(doc, d, b"DecodeParms").or(dict_get(doc, d, b"DP")) {
            Some(Object::Dictionary(p)) => vec![Some(p.clone())],
            Some(Object::Array(a)) => a
                .iter()
                .map(|o| deref(doc, o).as_dict().ok().cloned())
                .collect(),
            _ => vec![],
        };
    names
        .into_iter()
        .enumerate()
        .map(|(i, n)| {
            // Abbreviations of inline images are accepted in XObjects too.
            let n = match n.as_slice() {
                b"Fl" => b"FlateDecode".to_vec(),
                b"LZW" => b"LZWDecode".to_vec(),
                b"AHx" => b"ASCIIHexDecode".to_vec(),
                b"A85" => b"ASCII85Decode".to_vec(),
                b"RL" => b"RunLengthDecode".to_vec(),
                b"CCF" => b"CCITTFaxDecode".to_vec(),
                b"DCT" => b"DCTDecode".to_vec(),
                _ => n,
            };
            (n, parms.get(i).cloned().flatten())
        })
        .collect()
}

fn parm_i64(p: Option<&Dictionary>, k: &[u8], default: i64) -> i64 {
    p.and_then(|p| p.get(k).ok()?.as_i64().ok())
        .unwrap_or(default)
}

fn parm_bool(p: Option<&Dictionary>, k: &[u8], default: bool) -> bool {
    p.and_then(|p| p.get(k).ok()?.as_bool().ok())
        .unwrap_or(default)
}

/// Applies the general-purpose filters in order, stopping before an image codec (DCT, CCITT, JBIG2, JPX).
/// Returns the bytes and the codec still to apply, with its parameters.
/// An image codec still to apply after the general filters, with its parameters.
type Codec = (Vec<u8>, Option<Dictionary>);

fn general_filters(
    doc: &Document,
    s: &Stream,
    limit: u64,
) -> Result<(Vec<u8>, Option<Codec>), Fail> {
    let mut data = s.content.clone();
    for (name, parms) in filter_list(doc, &s.dict) {
        data = match name.as_slice() {
            b"FlateDecode" => predict(bounded_inflate(&data, limit)?, parms.as_ref())?,
            b"LZWDecode" => {
                let early = parm_i64(parms.as_ref(), b"EarlyChange", 1) != 0;
                let mut dec = if early {
                    weezl::decode::Decoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8)
                } else {
                    weezl::decode::Decoder::new(weezl::BitOrder::Msb, 8)
                };
                let mut out = vec![];
                let r = dec.into_vec(&mut out).decode(&data);
                if out.len() as u64 > limit {
                    return Err(format!("LZW data decodes past {limit} bytes").into());
                }
                r.status.map_err(|e| format!("bad LZW data: {e}"))?;
                predict(out, parms.as_ref())?
            }
            b"ASCIIHexDecode" => ascii_hex(&data)?,
            b"ASCII85Decode" => ascii85(&data)?,
            b"RunLengthDecode" => run_length(&data, limit)?,
            b"DCTDecode" | b"CCITTFaxDecode" | b"JBIG2Decode" | b"JPXDecode" => {
                return Ok((data, Some((name, parms))))
            }
            other => {
                return Err(
                    format!("unsupported PDF filter {}", String::from_utf8_lossy(other)).into(),
                )
            }
        };
    }
    Ok((data, None))
}

/// A stream's data through all its filters, for content streams (no image codec allowed).
fn filtered(doc: &Document, s: &Stream, limit: u64) -> Result<Vec<u8>, Fail> {
    match general_filters(doc, s, limit)? {
        (d, None) => Ok(d),
        (_, Some(_)) => Err("image codec on a content stream".into()),
    }
}

/// PNG (10–15) and TIFF (2) predictors of Flate and LZW.
fn predict(data: Vec<u8>, p: Option<&Dictionary>) -> Result<Vec<u8>, Fail> {
    let pred = parm_i64(p, b"Predictor", 1);
    if pred <= 1 {
        return Ok(data);
    }
    let colors = parm_i64(p, b"Colors", 1).clamp(1, 32) as usize;
    let bpc = parm_i64(p, b"BitsPerComponent", 8).clamp(1, 16) as usize;
    let columns = parm_i64(p, b"Columns", 1).clamp(1, 1 << 24) as usize;
    let bpp = (colors * bpc).div_ceil(8).max(1);
    let row = (colors * bpc * columns).div_ceil(8);
    if pred == 2 {
        if bpc != 8 {
            return Err("TIFF predictor on samples other than 8-bit".into());
        }
        let mut out = data;
        for r in out.chunks_mut(row) {
            for i in bpp..r.len() {
                r[i] = r[i].wrapping_add(r[i - bpp]);
            }
        }
        return Ok(out);
    }
    // PNG: each row is preceded by its filter type byte.
    let mut out = Vec::with_capacity(data.len());
    let mut prev = vec![0u8; row];
    for chunk in data.chunks(row + 1) {
        let (&ft, src) = chunk.split_first().ok_or("empty predictor row")?;
        let mut cur = src.to_vec();
        cur.resize(row, 0);
        for i in 0..row {
            let a = if i >= bpp { cur[i - bpp] as i16 } else { 0 };
            let b = prev[i] as i16;
            let c = if i >= bpp { prev[i - bpp] as i16 } else { 0 };
            let add = match ft {
                0 => 0,
                1 => a,
                2 => b,
                3 => (a + b) / 2,
                4 => {
                    let p = a + b - c;
                    let (pa, pb, pc) = ((p - a).abs(), (p - b).abs(), (p - c).abs());
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                _ => return Err(format!("bad PNG predictor type {ft}").into()),
            };
            cur[i] = (cur[i] as i16 + add) as u8;
        }
        out.extend_from_slice(&cur);
        prev = cur;
    }
    Ok(out)
}

fn ascii_hex(data: &[u8]) -> Result<Vec<u8>, Fail> {
    let mut out = vec![];
    let mut hi: Option<u8> = None;
    for &c in data {
        let v = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            b'>' => break,
            c if c.is_ascii_whitespace() => continue,
            _ => return Err("bad ASCIIHex data".into()),
        };
        match hi.take() {
            Some(h) => out.push(h << 4 | v),
            None => hi = Some(v),
        }
    }
    if let Some(h) = hi {
        out.push(h << 4);
    }
    Ok(out)
}

fn ascii85(data: &[u8]) -> Result<Vec<u8>, Fail> {
    let mut out = vec![];
    let mut group = [0u32; 5];
    let mut n = 0;
    let body = data.strip_prefix(b"<~").unwrap_or(data);
    for &c in body {
        match c {
            b'~' => break,
            b'z' if n == 0 => out.extend_from_slice(&[0; 4]),
            b'!'..=b'u' => {
                group[n] = (c - b'!') as u32;
                n += 1;
                if n == 5 {
                    let v = group.iter().fold(0u64, |a, &d| a * 85 + d as u64);
                    out.extend_from_slice(&(v as u32).to_be_bytes());
                    n = 0;
                }
            }
            c if c.is_ascii_whitespace() => {}
            _ => return Err("bad ASCII85 data".into()),
        }
    }
    if n > 1 {
        for g in group.iter_mut().skip(n) {
            *g = 84;
        }
        let v = group.iter().fold(0u64, |a, &d| a * 85 + d as u64);
        out.extend_from_slice(&(v as u32).to_be_bytes()[..n - 1]);
    }
    Ok(out)
}

fn run_length(data: &[u8], limit: u64) -> Result<Vec<u8>, Fail> {
    let mut out = vec![];
    let mut i = 0;
    while i < data.len() {
        let l = data[i] as usize;
        i += 1;
        match l {
            128 => break,
            0..=127 => {
                let end = (i + l + 1).min(data.len());
                out.extend_from_slice(&data[i..end]);
                i = end;
            }
            _ => {
                if let Some(&b) = data.get(i) {
                    out.extend(std::iter::repeat_n(b, 257 - l));
                }
                i += 1;
            }
        }
        if out.len() as u64 > limit {
            return Err(format!("RunLength data decodes past {limit} bytes").into());
        }
    }
    Ok(out)
}

/// A colour space reduced to what a scan needs: how many components, and how to turn them into RGB.
enum Space {
    Gray,
    Rgb,
    Cmyk,
    /// A palette over a base space (components of the base, one entry per index).
    Indexed(Box<Space>, Vec<u8>, usize),
    /// Separation / DeviceN with `n` tints: darker with more tint.
    Tint(usize),
}

impl Space {
    fn components(&self) -> usize {
        match self {
            Space::Gray => 1,
            Space::Rgb => 3,
            Space::Cmyk => 4,
            Space::Indexed(..) => 1,
            Space::Tint(n) => *n,
        }
    }
}

fn colour_space(doc: &Document, o: Option<&Object>, depth: usize) -> Result<Space, Fail> {
    if depth > 8 {
        return Err("colour space nested too deep".into());
    }
    let Some(o) = o.map(|o| deref(doc, o)) else {
        return Ok(Space::Gray);
    };
    let (name, arr): (&[u8], &[Object]) = match o {
        Object::Name(n) => (n, &[]),
        Object::Array(a) => (
            a.first()
                .and_then(|x| deref(doc, x).as_name().ok())
                .unwrap_or(b""),
            &a[1..],
        ),
        _ => return Err("bad colour space".into()),
    };
    Ok(match name {
        b"DeviceGray" | b"CalGray" | b"G" => Space::Gray,
        b"DeviceRGB" | b"CalRGB" | b"RGB" | b"Lab" => Space::Rgb,
        b"DeviceCMYK" | b"CMYK" => Space::Cmyk,
        b"ICCBased" => {
            let n = match arr.first().map(|x| deref(doc, x)) {
                Some(Object::Stream(s)) => s.dict.get(b"N").and_then(|n| n.as_i64()).unwrap_or(3),
                _ => 3,
            };
            match n {
                1 => Space::Gray,
                4 => Space::Cmyk,
                _ => Space::Rgb,
            }
        }
        b"Indexed" | b"I" => {
            let base = colour_space(doc, arr.first(), depth + 1)?;
            let hival = arr
                .get(1)
                .and_then(|x| deref(doc, x).as_i64().ok())
                .unwrap_or(255);
            let lookup = match arr.get(2).map(|x| deref(doc, x)) {
                Some(Object::String(s, _)) => s.clone(),
                Some(Object::Stream(s)) => filtered(doc, s, 1 << 20)?,
                _ => return Err("Indexed colour space without a lookup table".into()),
            };
            let entries = (hival.clamp(0, 255) + 1) as usize;
            Space::Indexed(Box::new(base), lookup, entries)
        }
        b"Separation" => Space::Tint(1),
        b"DeviceN" => Space::Tint(
            arr.first()
                .and_then(|a| a.as_array().ok())
                .map_or(1, |a| a.len().max(1)),
        ),
        other => {
            return Err(format!(
                "unsupported PDF colour space {}",
                String::from_utf8_lossy(other)
            )
            .into())
        }
    })
}

/// Components in 0..1 to RGB 0..255.
fn to_rgb(space: &Space, c: &[f64]) -> [u8; 3] {
    let q = |v: f64| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    match space {
        Space::Gray => [q(c[0]); 3],
        Space::Rgb => [q(c[0]), q(c[1]), q(c[2])],
        Space::Cmyk => {
            let k = 1.0 - c[3];
            [
                q((1.0 - c[0]) * k),
                q((1.0 - c[1]) * k),
                q((1.0 - c[2]) * k),
            ]
        }
        Space::Tint(_) => [q(1.0 - c.iter().cloned().fold(0.0, f64::max)); 3],
        Space::Indexed(base, lut, entries) => {
            let n = base.components();
            let i = (c[0].round().max(0.0) as usize).min(entries - 1);
            let comps: Vec<f64> = (0..n)
                .map(|k| lut.get(i * n + k).copied().unwrap_or(0) as f64 / 255.0)
                .collect();
            to_rgb(base, &comps)
        }
    }
}

/// Decodes one image XObject to pixels (or a stencil mask), applying its `/Decode` array.
pub(super) fn decode_image(doc: &Document, s: &Stream, max_pixels: u64) -> Result<Decoded, Fail> {
    let d = &s.dict;
    let dim = |k: &[u8]| -> Result<u64, Fail> {
        let v = dict_get(doc, d, k)
            .and_then(|o| o.as_i64().ok())
            .ok_or_else(|| format!("image without /{}", String::from_utf8_lossy(k)))?;
        u64::try_from(v).map_err(|_| Fail::Decode(format!("negative image size {v}")))
    };
    let (w, h) = (dim(b"Width")?, dim(b"Height")?);
    // Refuse from the declared size, before any decompression.
    check_pixels(w, h, max_pixels)?;
    if w == 0 || h == 0 {
        return Err("image of size 0".into());
    }
    let (w, h) = (w as u32, h as u32);
    let n_pixels = w as usize * h as usize;
    let mask = dict_get(doc, d, b"ImageMask")
        .and_then(|o| o.as_bool().ok())
        .unwrap_or(false);
    let decode_arr: Option<Vec<f64>> = dict_get(doc, d, b"Decode")
        .and_then(|o| o.as_array().ok())
        .map(|a| a.iter().filter_map(|x| num(deref(doc, x))).collect());
    // More than 4 bytes a pixel is never meaningful: anything beyond is not inflated.
    let limit = (n_pixels as u64).saturating_mul(4).saturating_add(1 << 16);
    let (data, codec) = general_filters(doc, s, limit)?;
    if codec
        .as_ref()
        .is_some_and(|(n, _)| n.as_slice() == b"JPXDecode")
    {
        if mask {
            return Err("JPEG 2000-coded image mask: not supported".into());
        }
        // The codestream carries its own colour space and depth, and PDF ignores /Decode for JPX images.
        return Ok(Decoded::Pixels(decode_jpx(&data, max_pixels)?));
    }
    let space = if mask {
        Space::Gray
    } else {
        colour_space(doc, dict_get(doc, d, b"ColorSpace"), 0)?
    };
    let mut bpc = dict_get(doc, d, b"BitsPerComponent")
        .and_then(|o| o.as_i64().ok())
        .unwrap_or(8);
    let samples: Vec<u8> = match codec {
        Some((name, parms)) => match name.as_slice() {
            b"DCTDecode" => {
                let img = decode_raster(&data, max_pixels)?;
                if mask {
                    return Err("DCT-coded image mask".into());
                }
                // The JPEG decoder has already turned YCbCr/YCCK into RGB/CMYK-as-RGB; a /Decode array that
                // inverts (Adobe's inverted CMYK, as Photoshop and many scanners write) is undone here.
                // For a 4-component JPEG the decoder already undoes the Adobe inversion that such a /Decode
                // array compensates for; only grey and RGB JPEGs under an inverting /Decode are negatives.
                let inverted = decode_arr
                    .as_ref()
                    .is_some_and(|a| a.len() >= 2 && a[0] > a[1])
                    && jpeg_components(&data).is_some_and(|n| n != 4);
                let mut img = img;
                if inverted {
                    img.invert();
                }
                return Ok(Decoded::Pixels(img));
            }
            b"CCITTFaxDecode" => {
                let p = parms.as_ref();
                let columns = parm_i64(p, b"Columns", 1728).clamp(1, u16::MAX as i64 * 4) as u32;
                let rows = parm_i64(p, b"Rows", h as i64).max(0) as u32;
                let fax = FaxParams::pdf(
                    parm_i64(p, b"K", 0),
                    columns,
                    rows,
                    parm_bool(p, b"EncodedByteAlign", false),
                    parm_bool(p, b"EndOfLine", false),
                    parm_bool(p, b"EndOfBlock", true),
                );
                let black_is_1 = parm_bool(p, b"BlackIs1", false);
                let rows_out = ccitt::decode(&data, fax, h as usize)?;
                // Filter output bits: with BlackIs1 false (the default) black is 0, as in DeviceGray.
                let mut bits: Vec<u8> = Vec::with_capacity(n_pixels);
                for y in 0..h as usize {
                    let row = rows_out.get(y * columns as usize..(y + 1) * columns as usize);
                    for x in 0..w as usize {
                        // Rows the stream did not deliver are white, as poppler shows them.
                        let black = row.and_then(|r| r.get(x)).is_some_and(|&b| b == 1);
                        bits.push(if black == black_is_1 { 1 } else { 0 });
                    }
                }
                bpc = 1;
                bits
            }
            b"JBIG2Decode" => {
                let globals = match parms.as_ref().and_then(|p| p.get(b"JBIG2Globals").ok()) {
                    Some(o) => {
                        let g = deref(doc, o)
                            .as_stream()
                            .map_err(|_| "JBIG2Globals is not a stream")?;
                        Some(general_filters(doc, g, limit)?.0)
                    }
                    None => None,
                };
                // The filter's output, like CCITT's without BlackIs1, has black as 0 (DeviceGray).
                bpc = 1;
                decode_jbig2(&data, globals.as_deref(), w, h)?
                    .into_iter()
                    .map(|black| u8::from(!black))
                    .collect()
            }
            other => {
                return Err(
                    format!("{} image: not supported", String::from_utf8_lossy(other)).into(),
                )
            }
        },
        None => unpack(&data, w, h, if mask { 1 } else { space.components() }, bpc)?,
    };
    if ![1, 2, 4, 8, 16].contains(&bpc) {
        return Err(format!("unsupported {bpc}-bit PDF image").into());
    }
    let max = ((1u32 << bpc.min(8)) - 1) as f64;
    if mask {
        // Stencil: with the default /Decode [0 1], a 0 sample paints.
        let paint_zero = decode_arr
            .as_ref()
            .is_none_or(|a| a.first().is_none_or(|&v| v < 0.5));
        let m = samples.iter().map(|&v| (v == 0) == paint_zero).collect();
        return Ok(Decoded::Mask(w, h, m));
    }
    let n = space.components();
    let indexed = matches!(space, Space::Indexed(..));
    let ranges: Vec<(f64, f64)> = (0..n)
        .map(|k| {
            let default = if indexed { (0.0, max) } else { (0.0, 1.0) };
            decode_arr
                .as_ref()
                .and_then(|a| Some((*a.get(2 * k)?, *a.get(2 * k + 1)?)))
                .unwrap_or(default)
        })
        .collect();
    // One lookup per component and sample value: the images are at most 8-bit after unpacking.
    let luts: Vec<Vec<f64>> = ranges
        .iter()
        .map(|&(lo, hi)| {
            (0..=max as usize)
                .map(|v| lo + v as f64 * (hi - lo) / max)
                .collect()
        })
        .collect();
    // Grey spaces stay one channel; everything else becomes RGB, reduced to grey later with every page.
    let gray_only = matches!(space, Space::Gray);
    let mut out = Vec::with_capacity(n_pixels * if gray_only { 1 } else { 3 });
    let mut c = vec![0.0; n];
    for px in samples.chunks_exact(n).take(n_pixels) {
        for k in 0..n {
            c[k] = luts[k][px[k] as usize];
        }
        let v = to_rgb(&space, &c);
        if gray_only {
            out.push(v[0]);
        } else {
            out.extend_from_slice(&v);
        }
    }
    let short = || Fail::from("pixel data shorter than the image size");
    let img = if gray_only {
        DynamicImage::ImageLuma8(GrayImage::from_raw(w, h, out).ok_or_else(short)?)
    } else {
        DynamicImage::ImageRgb8(image::RgbImage::from_raw(w, h, out).ok_or_else(short)?)
    };
    Ok(Decoded::Pixels(img))
}

/// The component count in a JPEG's frame header (SOF), if one is found.
fn jpeg_components(data: &[u8]) -> Option<u8> {
    let mut i = 2;
    while i + 9 < data.len() {
        if data[i] != 0xFF {
            i += 1;
            continue;
        }
        let m = data[i + 1];
        if matches!(m, 0xC0..=0xCF) && !matches!(m, 0xC4 | 0xC8 | 0xCC) {
            return data.get(i + 9).copied();
        }
        if m == 0xD8 || m == 0x01 || (0xD0..=0xD7).contains(&m) || m == 0xFF {
            i += if m == 0xFF { 1 } else { 2 };
            continue;
        }
        let len = u16::from_be_bytes([data[i + 2], data[i + 3]]) as usize;
        i += 2 + len;
    }
    None
}

/// Unpacks rows of `comps` components of `bpc` bits (rows padded to a byte) to one byte per component; 16-bit
/// samples keep their high byte.
fn unpack(data: &[u8], w: u32, h: u32, comps: usize, bpc: i64) -> Result<Vec<u8>, Fail> {
    let (w, h) = (w as usize, h as usize);
    let per_row = w * comps;
    let out_len = per_row * h;
    match bpc {
        8 => {
            if data.len() < out_len {
                return Err("pixel data shorter than the image size".into());
            }
            Ok(data[..out_len].to_vec())
        }
        16 => {
            if data.len() < out_len * 2 {
                return Err("pixel data shorter than the image size".into());
            }
            Ok(data.chunks_exact(2).take(out_len).map(|p| p[0]).collect())
        }
        1 | 2 | 4 => {
            let bits = bpc as usize;
            let row_bytes = (per_row * bits).div_ceil(8);
            if data.len() < row_bytes * h {
                return Err(format!("short {bits}-bit data").into());
            }
            let mask = (1u16 << bits) - 1;
            let mut out = Vec::with_capacity(out_len);
            for y in 0..h {
                let r = &data[y * row_bytes..(y + 1) * row_bytes];
                for i in 0..per_row {
                    let bit = i * bits;
                    out.push(((r[bit / 8] >> (8 - bits - bit % 8)) as u16 & mask) as u8);
                }
            }
            Ok(out)
        }
        b => Err(format!("unsupported {b}-bit PDF image").into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_up_predictor_adds_the_row_above() {
        let mut p = Dictionary::new();
        p.set("Predictor", 12);
        p.set("Columns", 2);
        let out = predict(vec![0, 10, 20, 2, 1, 1], Some(&p)).unwrap();
        assert_eq!(out, vec![10, 20, 11, 21]);
    }

    #[test]
    fn ascii_filters_decode() {
        assert_eq!(ascii_hex(b"48 65 6c6C6f>").unwrap(), b"Hello");
        assert_eq!(ascii85(b"<~87cURDZ~>").unwrap(), b"Hello");
        assert_eq!(
            run_length(&[1, 7, 8, 254, 9, 128], 100).unwrap(),
            vec![7, 8, 9, 9, 9]
        );
    }

    #[test]
    fn a_cm_after_another_applies_inside_it() {
        // Scale then translate, as `1 0 0 1 10 20 cm 2 0 0 3 0 0 cm` leaves it.
        let outer = [1.0, 0.0, 0.0, 1.0, 10.0, 20.0];
        let ctm = concat(&[2.0, 0.0, 0.0, 3.0, 0.0, 0.0], &outer);
        assert_eq!(apply(&ctm, 1.0, 1.0), (12.0, 23.0));
        let inv = invert(&ctm).unwrap();
        let (u, v) = apply(&inv, 12.0, 23.0);
        assert!((u - 1.0).abs() < 1e-12 && (v - 1.0).abs() < 1e-12);
    }

    #[test]
    fn indexed_palette_and_cmyk_give_rgb() {
        let idx = Space::Indexed(Box::new(Space::Rgb), vec![255, 255, 255, 0, 0, 128], 2);
        assert_eq!(to_rgb(&idx, &[1.0]), [0, 0, 128]);
        assert_eq!(to_rgb(&Space::Cmyk, &[0.0, 0.0, 0.0, 1.0]), [0, 0, 0]);
        assert_eq!(to_rgb(&Space::Cmyk, &[0.0, 0.0, 0.0, 0.0]), [255, 255, 255]);
    }
}
