//! Loading pages: expands files and folders into `(file, page)` units and decodes one page at a time to a
//! greyscale image (PNG, JPEG, multi-page TIFF incl. 1-bit Group 4, PDF with one image per page).
//!
//! Colour pages are reduced to the darkest channel, so blue and red pens keep their contrast against paper.

use image::{DynamicImage, GrayImage};
use serde::{Deserialize, Serialize};
use std::io::Cursor;
use std::path::{Path, PathBuf};

/// Errors while finding or decoding pages; each names the file and, where known, the page.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// File or folder could not be read.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The extension is not one we read.
    #[error("{path}: unsupported file type (expected png, jpg, jpeg, tif, tiff or pdf)")]
    Unsupported {
        /// File.
        path: PathBuf,
    },
    /// The page could not be decoded.
    #[error("{path} page {page}: cannot decode: {reason}")]
    Decode {
        /// File.
        path: PathBuf,
        /// Page number, from 1.
        page: u32,
        /// Cause.
        reason: String,
    },
}

/// A page's identity: file and page number (from 1).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PageRef {
    /// The input file as given (or found under a given folder).
    pub path: PathBuf,
    /// Page number within the file, from 1.
    pub page: u32,
}

/// A decoded page.
pub struct Page {
    /// Where it came from.
    pub source: PageRef,
    /// Greyscale pixels (darkest channel for colour sources).
    pub image: GrayImage,
    /// Whether the source had colour.
    pub color: bool,
}

/// File kinds we read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// PNG or JPEG: one page.
    Raster,
    /// TIFF: one or more pages.
    Tiff,
    /// PDF: one image per page.
    Pdf,
}

/// The kind of a file by extension.
pub fn file_kind(path: &Path) -> Option<FileKind> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "png" | "jpg" | "jpeg" => Some(FileKind::Raster),
        "tif" | "tiff" => Some(FileKind::Tiff),
        "pdf" => Some(FileKind::Pdf),
        _ => None,
    }
}

/// Expands inputs (files and folders, recursively) into a sorted list of readable files.
/// Files given explicitly with an unknown extension are errors; unknown files inside folders are skipped.
pub fn expand_inputs(inputs: &[PathBuf]) -> (Vec<PathBuf>, Vec<LoadError>) {
    let mut files = vec![];
    let mut errors = vec![];
    for p in inputs {
        match std::fs::metadata(p) {
            Err(source) => errors.push(LoadError::Io {
                path: p.clone(),
                source,
            }),
            Ok(m) if m.is_dir() => walk(p, &mut files, &mut errors),
            Ok(_) => {
                if file_kind(p).is_some() {
                    files.push(p.clone());
                } else {
                    errors.push(LoadError::Unsupported { path: p.clone() });
                }
            }
        }
    }
    files.sort();
    files.dedup();
    (files, errors)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>, errors: &mut Vec<LoadError>) {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(source) => {
            errors.push(LoadError::Io {
                path: dir.to_path_buf(),
                source,
            });
            return;
        }
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, files, errors);
        } else if file_kind(&p).is_some() {
            files.push(p);
        }
    }
}

/// Number of pages in a file.
pub fn page_count(path: &Path) -> Result<u32, LoadError> {
    let kind = file_kind(path).ok_or_else(|| LoadError::Unsupported {
        path: path.to_path_buf(),
    })?;
    let dec = |reason: String| LoadError::Decode {
        path: path.to_path_buf(),
        page: 1,
        reason,
    };
    match kind {
        FileKind::Raster => Ok(1),
        FileKind::Tiff => {
            let f = std::fs::File::open(path).map_err(|source| LoadError::Io {
                path: path.to_path_buf(),
                source,
            })?;
            let mut d = tiff::decoder::Decoder::new(std::io::BufReader::new(f))
                .map_err(|e| dec(e.to_string()))?;
            let mut n = 1;
            while d.more_images() {
                d.next_image().map_err(|e| dec(e.to_string()))?;
                n += 1;
            }
            Ok(n)
        }
        FileKind::Pdf => {
            let doc = lopdf::Document::load(path).map_err(|e| dec(e.to_string()))?;
            Ok(doc.get_pages().len() as u32)
        }
    }
}

/// Decodes page `page` (from 1) of `path`.
pub fn load_page(path: &Path, page: u32) -> Result<Page, LoadError> {
    let kind = file_kind(path).ok_or_else(|| LoadError::Unsupported {
        path: path.to_path_buf(),
    })?;
    let dec = |reason: String| LoadError::Decode {
        path: path.to_path_buf(),
        page,
        reason,
    };
    let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let img = match kind {
        FileKind::Raster => image::load_from_memory(&bytes).map_err(|e| dec(e.to_string()))?,
        FileKind::Tiff => load_tiff_page(&bytes, page).map_err(dec)?,
        FileKind::Pdf => load_pdf_page(&bytes, page).map_err(dec)?,
    };
    let (image, color) = to_gray(img);
    Ok(Page {
        source: PageRef {
            path: path.to_path_buf(),
            page,
        },
        image,
        color,
    })
}

/// Greyscale by darkest channel for colour images (keeps coloured ink dark), plain luma otherwise.
pub fn to_gray(img: DynamicImage) -> (GrayImage, bool) {
    match img {
        DynamicImage::ImageLuma8(g) => (g, false),
        DynamicImage::ImageLumaA8(_)
        | DynamicImage::ImageLuma16(_)
        | DynamicImage::ImageLumaA16(_) => (img.to_luma8(), false),
        other => {
            let rgb = other.to_rgb8();
            let (w, h) = rgb.dimensions();
            let raw: Vec<u8> = rgb
                .pixels()
                .map(|p| p.0[0].min(p.0[1]).min(p.0[2]))
                .collect();
            (GrayImage::from_raw(w, h, raw).expect("size"), true)
        }
    }
}

fn load_tiff_page(bytes: &[u8], page: u32) -> Result<DynamicImage, String> {
    use tiff::decoder::{Decoder, DecodingResult};
    let mut d = Decoder::new(Cursor::new(bytes)).map_err(|e| e.to_string())?;
    d.seek_to_image(page as usize - 1)
        .map_err(|e| format!("no such page ({e})"))?;
    let (w, h) = d.dimensions().map_err(|e| e.to_string())?;
    let ct = d.colortype().map_err(|e| e.to_string())?;
    let photometric_white_zero = matches!(
        d.get_tag_u32(tiff::tags::Tag::PhotometricInterpretation),
        Ok(0)
    );
    let data = d.read_image().map_err(|e| e.to_string())?;
    let buf = match data {
        DecodingResult::U8(v) => v,
        DecodingResult::U16(v) => v.iter().map(|x| (x >> 8) as u8).collect(),
        _ => return Err("unsupported TIFF sample format".into()),
    };
    use tiff::ColorType as C;
    let img = match ct {
        C::Gray(1) => {
            let row = (w as usize).div_ceil(8);
            let mut out = vec![0u8; (w * h) as usize];
            for y in 0..h as usize {
                for x in 0..w as usize {
                    let bit = (buf[y * row + x / 8] >> (7 - x % 8)) & 1;
                    let white = (bit == 1) != photometric_white_zero;
                    out[y * w as usize + x] = if white { 255 } else { 0 };
                }
            }
            DynamicImage::ImageLuma8(GrayImage::from_raw(w, h, out).ok_or("size")?)
        }
        C::Gray(8) => {
            let mut g = GrayImage::from_raw(w, h, buf).ok_or("size")?;
            if photometric_white_zero {
                image::imageops::invert(&mut g);
            }
            DynamicImage::ImageLuma8(g)
        }
        C::RGB(8) => DynamicImage::ImageRgb8(image::RgbImage::from_raw(w, h, buf).ok_or("size")?),
        C::RGBA(8) => {
            DynamicImage::ImageRgba8(image::RgbaImage::from_raw(w, h, buf).ok_or("size")?)
        }
        other => return Err(format!("unsupported TIFF colour type {other:?}")),
    };
    Ok(img)
}

fn load_pdf_page(bytes: &[u8], page: u32) -> Result<DynamicImage, String> {
    use lopdf::Object;
    let doc = lopdf::Document::load_mem(bytes).map_err(|e| e.to_string())?;
    let pages = doc.get_pages();
    let pid = *pages.get(&page).ok_or("no such page")?;
    // Scanner PDFs hold one full-page image per page; take the largest image XObject.
    let mut best: Option<(u64, lopdf::Stream)> = None;
    let (res, res_ids) = doc.get_page_resources(pid).map_err(|e| e.to_string())?;
    let mut dicts: Vec<lopdf::Dictionary> = vec![];
    if let Some(r) = res {
        dicts.push(r.clone());
    }
    for id in res_ids {
        if let Ok(d) = doc.get_dictionary(id) {
            dicts.push(d.clone());
        }
    }
    for r in dicts {
        let Ok(xo) = r.get(b"XObject") else { continue };
        let xo = match xo {
            Object::Reference(id) => doc.get_dictionary(*id).map_err(|e| e.to_string())?.clone(),
            Object::Dictionary(d) => d.clone(),
            _ => continue,
        };
        for (_, v) in xo.iter() {
            let Ok(id) = v.as_reference() else { continue };
            let Ok(Object::Stream(s)) = doc.get_object(id) else {
                continue;
            };
            if s.dict.get(b"Subtype").and_then(|o| o.as_name()).ok() != Some(b"Image") {
                continue;
            }
            let w = s.dict.get(b"Width").and_then(|o| o.as_i64()).unwrap_or(0) as u64;
            let h = s.dict.get(b"Height").and_then(|o| o.as_i64()).unwrap_or(0) as u64;
            if best.as_ref().is_none_or(|(a, _)| w * h > *a) {
                best = Some((w * h, s.clone()));
            }
        }
    }
    let (_, s) = best.ok_or("page has no image (not a scanner PDF)")?;
    decode_pdf_image(&doc, &s)
}

fn decode_pdf_image(doc: &lopdf::Document, s: &lopdf::Stream) -> Result<DynamicImage, String> {
    let d = &s.dict;
    let w = d
        .get(b"Width")
        .and_then(|o| o.as_i64())
        .map_err(|e| e.to_string())? as u32;
    let h = d
        .get(b"Height")
        .and_then(|o| o.as_i64())
        .map_err(|e| e.to_string())? as u32;
    let filters: Vec<Vec<u8>> = match d.get(b"Filter") {
        Ok(lopdf::Object::Name(n)) => vec![n.clone()],
        Ok(lopdf::Object::Array(a)) => a
            .iter()
            .filter_map(|o| o.as_name().ok().map(|n| n.to_vec()))
            .collect(),
        _ => vec![],
    };
    let last = filters.last().map(|f| f.as_slice());
    match last {
        Some(b"DCTDecode") => image::load_from_memory(&s.content).map_err(|e| e.to_string()),
        Some(b"JBIG2Decode") => {
            Err("JBIG2-compressed page: not supported, rescan without 'high compression'".into())
        }
        Some(b"JPXDecode") => Err("JPEG 2000 page: not supported".into()),
        Some(b"CCITTFaxDecode") => {
            let parms = d.get(b"DecodeParms").ok().and_then(|o| match o {
                lopdf::Object::Dictionary(p) => Some(p.clone()),
                lopdf::Object::Array(a) => a.iter().find_map(|x| x.as_dict().ok().cloned()),
                _ => None,
            });
            let k = parms
                .as_ref()
                .and_then(|p| p.get(b"K").ok()?.as_i64().ok())
                .unwrap_or(0);
            if k >= 0 {
                return Err("CCITT Group 3 page: only Group 4 is supported".into());
            }
            let mut out = Vec::with_capacity((w * h) as usize);
            fax::decoder::decode_g4(
                s.content.iter().copied(),
                w as u16,
                Some(h as u16),
                |line| {
                    let mut row = vec![255u8; w as usize];
                    for (x, c) in fax::decoder::pels(line, w as u16).enumerate() {
                        // Decoded colours are CCITT colours already; BlackIs1 only concerns raw bit output.
                        row[x] = if c == fax::Color::Black { 0 } else { 255 };
                    }
                    out.extend_from_slice(&row);
                },
            )
            .ok_or("bad CCITT data")?;
            out.resize((w * h) as usize, 255);
            Ok(DynamicImage::ImageLuma8(
                GrayImage::from_raw(w, h, out).ok_or("size")?,
            ))
        }
        _ => {
            let data = if filters.is_empty() {
                s.content.clone()
            } else {
                s.decompressed_content().map_err(|e| e.to_string())?
            };
            let bpc = d
                .get(b"BitsPerComponent")
                .and_then(|o| o.as_i64())
                .unwrap_or(8);
            let cs = match d.get(b"ColorSpace") {
                Ok(lopdf::Object::Name(n)) => n.clone(),
                Ok(lopdf::Object::Reference(id)) => doc
                    .get_object(*id)
                    .ok()
                    .and_then(|o| o.as_name().ok().map(|n| n.to_vec()))
                    .unwrap_or_default(),
                _ => b"DeviceGray".to_vec(),
            };
            match (cs.as_slice(), bpc) {
                (b"DeviceRGB", 8) => image::RgbImage::from_raw(w, h, data)
                    .map(DynamicImage::ImageRgb8)
                    .ok_or_else(|| "short RGB data".into()),
                (b"DeviceGray", 8) => GrayImage::from_raw(w, h, data)
                    .map(DynamicImage::ImageLuma8)
                    .ok_or_else(|| "short grey data".into()),
                (b"DeviceGray", 1) => {
                    let row = (w as usize).div_ceil(8);
                    if data.len() < row * h as usize {
                        return Err("short 1-bit data".into());
                    }
                    let mut out = vec![0u8; (w * h) as usize];
                    for y in 0..h as usize {
                        for x in 0..w as usize {
                            let bit = (data[y * row + x / 8] >> (7 - x % 8)) & 1;
                            out[y * w as usize + x] = if bit == 1 { 255 } else { 0 };
                        }
                    }
                    Ok(DynamicImage::ImageLuma8(
                        GrayImage::from_raw(w, h, out).ok_or("size")?,
                    ))
                }
                (c, b) => Err(format!(
                    "unsupported PDF image ({} {b}-bit)",
                    String::from_utf8_lossy(c)
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_pages_keep_blue_ink_dark() {
        let mut rgb = image::RgbImage::from_pixel(4, 1, image::Rgb([250, 248, 240]));
        rgb.put_pixel(1, 0, image::Rgb([40, 60, 200]));
        let (g, color) = to_gray(DynamicImage::ImageRgb8(rgb));
        assert!(color);
        assert!(g.get_pixel(1, 0).0[0] <= 40);
        assert!(g.get_pixel(0, 0).0[0] >= 240);
    }

    #[test]
    fn unknown_extension_is_an_error_naming_the_file() {
        let (files, errs) = expand_inputs(&[PathBuf::from("Cargo.toml")]);
        assert!(files.is_empty());
        assert!(errs[0].to_string().contains("Cargo.toml"));
    }
}
