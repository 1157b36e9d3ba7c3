//! TIFF pages as libtiff reads them: CCITT strips (modified Huffman, Group 3 1-D/2-D with `T4Options`, Group 4)
//! through our CCITT decoder, everything else (LZW, PackBits, Deflate, JPEG, tiles) through the `tiff` crate,
//! with `FillOrder` 2, `PhotometricInterpretation`, palettes and non-square pixels (fax 204 × 98 dpi) honoured.

use super::ccitt::{self, FaxParams};
use super::{check_pixels, Fail};
use hayro_ccitt::EncodingMode;
use image::{DynamicImage, GrayImage};
use std::io::Cursor;
use tiff::tags::Tag;

type TiffDecoder = tiff::decoder::Decoder<Cursor<Vec<u8>>>;

/// Unpacks 1, 2 or 4 bit grey samples (rows padded to a byte) to 8 bits, black = 0.
pub(super) fn unpack_bits(
    buf: &[u8],
    w: u32,
    h: u32,
    bits: u8,
    white_is_zero: bool,
) -> Result<GrayImage, Fail> {
    let (w, h) = (w as usize, h as usize);
    let bits = bits as usize;
    let row = (w * bits).div_ceil(8);
    if buf.len() < row * h {
        return Err(Fail::Decode(format!("short {bits}-bit data")));
    }
    let max = (1u16 << bits) - 1;
    let mut out = vec![0u8; w * h];
    for y in 0..h {
        for x in 0..w {
            let bit = x * bits;
            let byte = buf[y * row + bit / 8];
            let v = (byte >> (8 - bits - bit % 8)) as u16 & max;
            let v = (v * 255 / max) as u8;
            out[y * w + x] = if white_is_zero { 255 - v } else { v };
        }
    }
    GrayImage::from_raw(w as u32, h as u32, out).ok_or_else(|| Fail::Decode("size".into()))
}

fn tag_u32(d: &mut TiffDecoder, t: Tag, default: u32) -> u32 {
    d.find_tag_unsigned::<u32>(t)
        .ok()
        .flatten()
        .unwrap_or(default)
}

fn tag_vec(d: &mut TiffDecoder, t: Tag) -> Vec<u64> {
    d.find_tag_unsigned_vec::<u64>(t)
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Planes stored one after the other (`RRR… GGG…`) as interleaved samples (`RG RG …`).
fn interleave(planes: &[u8], n: usize) -> Vec<u8> {
    let len = planes.len() / n;
    (0..len)
        .flat_map(|i| (0..n).map(move |k| planes[k * len + i]))
        .collect()
}

/// Whether the page's alpha sample is premultiplied: every ExtraSamples value but 2 (unassociated alpha).
fn premultiplied(d: &mut TiffDecoder) -> bool {
    tag_vec(d, Tag::ExtraSamples).first() != Some(&2)
}

/// The (offset, length) of every strip or tile of the current page.
fn chunks(d: &mut TiffDecoder) -> Vec<(usize, usize)> {
    let (mut offs, mut lens) = (
        tag_vec(d, Tag::StripOffsets),
        tag_vec(d, Tag::StripByteCounts),
    );
    if offs.is_empty() {
        offs = tag_vec(d, Tag::TileOffsets);
        lens = tag_vec(d, Tag::TileByteCounts);
    }
    offs.iter()
        .zip(&lens)
        .map(|(&o, &l)| (o as usize, l as usize))
        .collect()
}

/// Decodes page `page` (from 1) of a parsed TIFF, with square pixels, and the stretch that squaring applied (see
/// [`super::Page::stretch`]).
pub(super) fn decode_tiff_page(
    d: &mut TiffDecoder,
    page: u32,
    max_pixels: u64,
) -> Result<(DynamicImage, f64), Fail> {
    let index = (page as usize)
        .checked_sub(1)
        .ok_or_else(|| Fail::Decode("no such page".into()))?;
    d.seek_to_image(index)
        .map_err(|e| format!("no such page ({e})"))?;
    let (w, h) = d.dimensions().map_err(|e| e.to_string())?;
    check_pixels(w as u64, h as u64, max_pixels)?;
    let compression = tag_u32(d, Tag::Compression, 1);
    let photometric = tag_u32(d, Tag::PhotometricInterpretation, 1);
    let fill_order = tag_u32(d, Tag::FillOrder, 1);
    let img = if let Some(name) = unsupported_compression(compression) {
        return Err(Fail::Decode(format!(
            "{name}-compressed TIFF (compression {compression}): not supported; save it again with LZW, \
             Deflate, JPEG, Zstandard or Group 4"
        )));
    } else if matches!(compression, 2..=4) {
        decode_fax(d, w, h, compression, photometric, fill_order)?
    } else if fill_order == 2 {
        // libtiff reverses the bits of the raw strips before any codec but CCITT sees them: do the same on the
        // file's bytes, decode, and put them back so the next read of the page starts from the file again.
        let parts = chunks(d);
        flip(d, &parts);
        let r = decode_plain(d, w, h, photometric, compression);
        flip(d, &parts);
        r?
    } else {
        decode_plain(d, w, h, photometric, compression)?
    };
    Ok(square_pixels(d, img))
}

/// TIFF codecs libtiff can write that we do not read, by name, so the clerk knows what to change.
fn unsupported_compression(compression: u32) -> Option<&'static str> {
    Some(match compression {
        6 => "old-style JPEG",
        34661 => "JBIG",
        34712 | 33003 | 33005 => "JPEG 2000",
        34887 => "LERC",
        34925 => "LZMA",
        _ => return None,
    })
}

fn flip(d: &mut TiffDecoder, parts: &[(usize, usize)]) {
    let bytes = d.inner().get_mut();
    for &(o, l) in parts {
        if let Some(s) = bytes.get_mut(o..o.saturating_add(l)) {
            ccitt::reverse_bits(s);
        }
    }
}

/// Bilevel CCITT pages: each strip decoded on its own (rows per strip), MinIsWhite shows codec white as white.
fn decode_fax(
    d: &mut TiffDecoder,
    w: u32,
    h: u32,
    compression: u32,
    photometric: u32,
    fill_order: u32,
) -> Result<DynamicImage, Fail> {
    if tag_u32(d, Tag::BitsPerSample, 1) != 1 {
        return Err("CCITT-compressed TIFF page with more than 1 bit per sample".into());
    }
    if d.find_tag(Tag::TileOffsets).ok().flatten().is_some() {
        return Err("tiled CCITT TIFF page: not supported".into());
    }
    let t4 = tag_u32(d, Tag::Unknown(292), 0);
    let rows_per_strip = tag_u32(d, Tag::RowsPerStrip, h).clamp(1, h.max(1));
    let parts = chunks(d);
    let (w_us, h_us) = (w as usize, h as usize);
    let mut out = Vec::with_capacity(w_us * h_us);
    let mut row = 0u32;
    for (o, l) in parts {
        if row >= h {
            break;
        }
        let rows = rows_per_strip.min(h - row);
        let bytes = d.inner().get_ref();
        let Some(raw) = bytes.get(o..o.saturating_add(l)) else {
            return Err(format!("strip at byte {o} lies outside the file").into());
        };
        let mut data = raw.to_vec();
        if fill_order == 2 {
            ccitt::reverse_bits(&mut data);
        }
        let p = FaxParams {
            columns: w,
            rows,
            encoding: match compression {
                4 => EncodingMode::Group4,
                3 if t4 & 1 == 1 => EncodingMode::Group3_2D,
                _ => EncodingMode::Group3_1D,
            },
            // Modified Huffman (compression 2) pads every row to a byte; T.4 with fill bits pads the EOLs.
            byte_aligned: compression == 2,
            end_of_line: compression == 3,
            end_of_block: compression != 2,
        };
        let mut strip = ccitt::decode(&data, p, rows as usize)?;
        // A strip that ended early is completed in white, as libtiff does after its warning.
        strip.resize(w_us * rows as usize, 0);
        out.extend_from_slice(&strip);
        row += rows;
    }
    out.resize(w_us * h_us, 0);
    // Codec black is 1; MinIsWhite (0) shows 1 as black, MinIsBlack (1) as white.
    let black = if photometric == 1 { 255 } else { 0 };
    for p in out.iter_mut() {
        *p = if *p == 1 { black } else { 255 - black };
    }
    Ok(DynamicImage::ImageLuma8(
        GrayImage::from_raw(w, h, out).ok_or("size")?,
    ))
}

fn decode_plain(
    d: &mut TiffDecoder,
    w: u32,
    h: u32,
    photometric: u32,
    compression: u32,
) -> Result<DynamicImage, Fail> {
    use tiff::decoder::DecodingResult;
    let ct = d.colortype().map_err(|e| e.to_string())?;
    // The `tiff` crate already inverts WhiteIsZero samples of up to 8 bits; 16-bit ones are left to us.
    let white_is_zero = photometric == 0 && matches!(ct, tiff::ColorType::Gray(16));
    let err = |e| match e {
        tiff::TiffError::LimitsExceeded => Fail::TooLarge(w as u64, h as u64),
        e => Fail::Decode(e.to_string()),
    };
    // Every plane of a planar (PlanarConfiguration 2: RRR… GGG… BBB…) page, one after the other.
    let mut data = DecodingResult::U8(vec![]);
    let layout = d.read_image_to_buffer(&mut data).map_err(err)?;
    let read_bytes = match &data {
        DecodingResult::U8(v) => v.len(),
        DecodingResult::U16(v) => v.len() * 2,
        _ => 0,
    };
    // The crate reads only the first plane when all of them would pass its buffer limit.
    if layout.planes > 1 && read_bytes < layout.complete_len {
        return Err(Fail::TooLarge(w as u64, h as u64));
    }
    let buf = match data {
        DecodingResult::U8(v) => v,
        DecodingResult::U16(v) => v.iter().map(|x| (x >> 8) as u8).collect(),
        _ => return Err("unsupported TIFF sample format (only 1 to 16-bit integers)".into()),
    };
    let buf = if layout.planes > 1 {
        interleave(&buf, layout.planes)
    } else {
        buf
    };
    use tiff::ColorType as C;
    let size = || Fail::Decode("pixel data shorter than the image size".into());
    let img = match ct {
        C::Gray(b @ (1 | 2 | 4)) => {
            DynamicImage::ImageLuma8(unpack_bits(&buf, w, h, b, white_is_zero)?)
        }
        C::Gray(8 | 16) => {
            let mut g = GrayImage::from_raw(w, h, buf).ok_or_else(size)?;
            if white_is_zero {
                image::imageops::invert(&mut g);
            }
            DynamicImage::ImageLuma8(g)
        }
        // Alpha: the page over white paper. ExtraSamples 2 is straight alpha; 1 (associated) and 0 (unspecified,
        // which libtiff also takes as associated) are premultiplied.
        C::GrayA(8 | 16)
        | C::Multiband {
            bit_depth: 8 | 16,
            num_samples: 2,
        } if photometric <= 1 => {
            let pre = premultiplied(d);
            // The crate inverts no WhiteIsZero sample that comes with alpha.
            let grey = |v: u8| if photometric == 0 { 255 - v } else { v };
            let g: Vec<u8> = buf
                .chunks_exact(2)
                .map(|p| super::over_white(grey(p[0]), p[1], pre))
                .collect();
            DynamicImage::ImageLuma8(GrayImage::from_raw(w, h, g).ok_or_else(size)?)
        }
        C::RGB(8 | 16) => {
            DynamicImage::ImageRgb8(image::RgbImage::from_raw(w, h, buf).ok_or_else(size)?)
        }
        // JPEG-in-TIFF stored as YCbCr comes out of the codec as YCbCr samples: BT.601 full range to RGB.
        C::YCbCr(8) if compression == 7 => {
            let q = |v: f32| v.round().clamp(0.0, 255.0) as u8;
            let rgb: Vec<u8> = buf
                .chunks_exact(3)
                .flat_map(|p| {
                    let (y, cb, cr) = (p[0] as f32, p[1] as f32 - 128.0, p[2] as f32 - 128.0);
                    [
                        q(y + 1.402 * cr),
                        q(y - 0.344_136 * cb - 0.714_136 * cr),
                        q(y + 1.772 * cb),
                    ]
                })
                .collect();
            DynamicImage::ImageRgb8(image::RgbImage::from_raw(w, h, rgb).ok_or_else(size)?)
        }
        C::RGBA(8 | 16) => {
            let pre = premultiplied(d);
            let rgb: Vec<u8> = buf
                .chunks_exact(4)
                .flat_map(|p| [0, 1, 2].map(|i| super::over_white(p[i], p[3], pre)))
                .collect();
            DynamicImage::ImageRgb8(image::RgbImage::from_raw(w, h, rgb).ok_or_else(size)?)
        }
        C::CMYK(8 | 16) => {
            let rgb: Vec<u8> = buf
                .chunks_exact(4)
                .flat_map(|p| {
                    let k = 255 - p[3] as u16;
                    [0, 1, 2].map(|i| ((255 - p[i] as u16) * k / 255) as u8)
                })
                .collect();
            DynamicImage::ImageRgb8(image::RgbImage::from_raw(w, h, rgb).ok_or_else(size)?)
        }
        C::Palette(b @ (1 | 2 | 4 | 8)) => {
            let map = tag_vec(d, Tag::ColorMap);
            let n = 1usize << b;
            if map.len() < 3 * n {
                return Err("palette TIFF page without a full ColorMap".into());
            }
            let idx = if b == 8 {
                buf
            } else {
                // Unpacked without scaling: the indices themselves.
                let g = unpack_bits(&buf, w, h, b, false)?;
                let max = (n - 1) as u32;
                g.into_raw()
                    .iter()
                    .map(|&v| ((v as u32 * max + 127) / 255) as u8)
                    .collect()
            };
            let rgb: Vec<u8> = idx
                .iter()
                .flat_map(|&i| {
                    let i = (i as usize).min(n - 1);
                    [0, 1, 2].map(|c| (map[c * n + i] >> 8) as u8)
                })
                .collect();
            DynamicImage::ImageRgb8(image::RgbImage::from_raw(w, h, rgb).ok_or_else(size)?)
        }
        other => return Err(format!("unsupported TIFF colour type {other:?}").into()),
    };
    Ok(img)
}

/// Pixels that are not square (fax "normal" resolution, 204 × 98 dpi) are resampled to the finer of the two
/// resolutions, so every later stage sees the page's true shape. Only a clear aspect difference counts: a page
/// whose tags disagree by a rounding error is left alone. Returns the image and the stretch applied (1 when none).
fn square_pixels(d: &mut TiffDecoder, img: DynamicImage) -> (DynamicImage, f64) {
    let res = |d: &mut TiffDecoder, t: Tag| match d.find_tag(t).ok().flatten() {
        Some(tiff::decoder::ifd::Value::Rational(n, m)) if m > 0 => Some(n as f64 / m as f64),
        Some(v) => v.into_f64().ok(),
        None => None,
    };
    let xr = res(d, Tag::XResolution);
    let yr = res(d, Tag::YResolution);
    let (Some(xr), Some(yr)) = (xr, yr) else {
        return (img, 1.0);
    };
    if !(xr > 0.0 && yr > 0.0) || (xr / yr - 1.0).abs() < 0.05 || !(0.2..=5.0).contains(&(xr / yr))
    {
        return (img, 1.0);
    }
    let (w, h) = (img.width(), img.height());
    let (nw, nh) = if xr > yr {
        (w, (h as f64 * xr / yr).round() as u32)
    } else {
        ((w as f64 * yr / xr).round() as u32, h)
    };
    let stretch = xr.max(yr) / xr.min(yr);
    (
        img.resize_exact(nw, nh, image::imageops::FilterType::Triangle),
        stretch,
    )
}
