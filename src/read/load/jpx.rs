//! JPEG 2000 (a JP2 file or a raw codestream) to pixels with `hayro-jpeg2000`: PDF's `JPXDecode` images (img2pdf
//! embeds a `.jp2` as it is, ImageMagick writes them with `-compress JPEG2000`) and `.jp2` / `.j2k` files.
//! The size is checked against the page limit from the header, before any pixel is decoded.

use super::{check_pixels, Fail};
use image::{DynamicImage, GrayImage, RgbImage};

/// Whether `bytes` begin as a JP2 file or a raw JPEG 2000 codestream.
pub(super) fn is_jpx(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x00\x00\x00\x0C\x6A\x50\x20\x20") || bytes.starts_with(b"\xFF\x4F\xFF\x51")
}

/// Decodes a JPEG 2000 image to grey (one channel) or RGB; CMYK is turned into RGB and alpha is dropped (a scan
/// has none that matters, and PDF's `SMaskInData` only composites over the page).
pub(super) fn decode_jpx(bytes: &[u8], max_pixels: u64) -> Result<DynamicImage, Fail> {
    use hayro_jpeg2000::{ColorSpace, DecodeSettings, Image};
    let img = Image::new(bytes, &DecodeSettings::default())
        .map_err(|e| Fail::Decode(format!("bad JPEG 2000 data: {e:?}")))?;
    let (w, h) = (img.width(), img.height());
    check_pixels(w as u64, h as u64, max_pixels)?;
    let n = img.color_space().num_channels() as usize;
    let stride = n + usize::from(img.has_alpha());
    let cmyk = matches!(img.color_space(), ColorSpace::CMYK);
    let px = img
        .decode()
        .map_err(|e| Fail::Decode(format!("bad JPEG 2000 data: {e:?}")))?;
    if px.len() < w as usize * h as usize * stride {
        return Err("JPEG 2000 image decoded to fewer samples than its size".into());
    }
    let pixels = px.chunks_exact(stride);
    Ok(match (n, cmyk) {
        (1 | 2, _) => DynamicImage::ImageLuma8(
            GrayImage::from_raw(w, h, pixels.map(|p| p[0]).collect())
                .ok_or("JPEG 2000 image of a bad size")?,
        ),
        (4, true) => {
            // Without the profile's own conversion, the usual naive one: each ink darkens its channel, and black
            // darkens all three.
            let rgb = pixels
                .flat_map(|p| {
                    let k = 255 - p[3] as u32;
                    [0, 1, 2].map(|i| ((255 - p[i] as u32) * k / 255) as u8)
                })
                .collect();
            DynamicImage::ImageRgb8(
                RgbImage::from_raw(w, h, rgb).ok_or("JPEG 2000 image of a bad size")?,
            )
        }
        (3.., _) => DynamicImage::ImageRgb8(
            RgbImage::from_raw(w, h, pixels.flat_map(|p| [p[0], p[1], p[2]]).collect())
                .ok_or("JPEG 2000 image of a bad size")?,
        ),
        _ => return Err("JPEG 2000 image without channels".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jpeg_2000_signatures_are_recognised_and_garbage_is_an_error_not_a_panic() {
        assert!(is_jpx(b"\x00\x00\x00\x0C\x6A\x50\x20\x20\x0d\x0a\x87\x0a"));
        assert!(is_jpx(b"\xFF\x4F\xFF\x51\x00\x2f"));
        assert!(!is_jpx(b"\xff\xd8\xff\xe0"));
        let mut junk = b"\xFF\x4F\xFF\x51".to_vec();
        junk.extend(std::iter::repeat_n(0x5a, 200));
        assert!(matches!(decode_jpx(&junk, 1 << 20), Err(Fail::Decode(_))));
    }
}
