//! Raster sampling shared by every stage: bilinear sampling with paper outside the page, box-filter
//! downsampling, warping a template-mm rectangle to an upright image through a registration's homography, and
//! grey-level percentiles.

use crate::geom::{Homography, Pt};
use image::GrayImage;

/// `floor` without a libm call: baseline x86-64 has no rounding instruction, and this runs per pixel.
#[inline(always)]
fn floor_i64(v: f64) -> i64 {
    let i = v as i64;
    if (i as f64) > v {
        i - 1
    } else {
        i
    }
}

/// The value at rank `len * pct / 100` of the sorted pixels, found by counting instead of sorting a copy; 255 for
/// no pixels.
pub fn percentile(raw: &[u8], pct: usize) -> u8 {
    let mut counts = [0usize; 256];
    for &v in raw {
        counts[v as usize] += 1;
    }
    percentile_of_counts(&counts, pct)
}

/// [`percentile`] of a histogram of grey levels (for samples that are not one slice).
pub fn percentile_of_counts(counts: &[usize; 256], pct: usize) -> u8 {
    let rank = counts.iter().sum::<usize>() * pct / 100;
    let mut seen = 0usize;
    (0..=255u8)
        .find(|&v| {
            seen += counts[v as usize];
            seen > rank
        })
        .unwrap_or(255)
}

/// Bilinear sample of a grey image at a px position; outside the image reads as paper (255).
#[inline]
pub fn sample(img: &GrayImage, p: Pt) -> f32 {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let x = p[0] - 0.5;
    let y = p[1] - 0.5;
    let x0 = floor_i64(x);
    let y0 = floor_i64(y);
    let fx = (x - x0 as f64) as f32;
    let fy = (y - y0 as f64) as f32;
    let raw = img.as_raw();
    if x0 >= 0 && y0 >= 0 && x0 + 1 < w && y0 + 1 < h {
        let i = (y0 * w + x0) as usize;
        let (a, b) = (raw[i] as f32, raw[i + 1] as f32);
        let (c, d) = (raw[i + w as usize] as f32, raw[i + w as usize + 1] as f32);
        return (a + (b - a) * fx) * (1.0 - fy) + (c + (d - c) * fx) * fy;
    }
    let at = |xx: i64, yy: i64| -> f32 {
        if xx < 0 || yy < 0 || xx >= w || yy >= h {
            255.0
        } else {
            raw[(yy * w + xx) as usize] as f32
        }
    };
    let a = at(x0, y0);
    let b = at(x0 + 1, y0);
    let c = at(x0, y0 + 1);
    let d = at(x0 + 1, y0 + 1);
    (a * (1.0 - fx) + b * fx) * (1.0 - fy) + (c * (1.0 - fx) + d * fx) * fy
}

/// Box-filter downsampling by an integer factor (cheap, and averages away noise).
pub fn downsample(img: &GrayImage, f: u32) -> GrayImage {
    if f == 1 {
        return img.clone();
    }
    let (w, h) = (img.width() / f, img.height() / f);
    let (fu, iw) = (f as usize, img.width() as usize);
    let raw = img.as_raw();
    let mut out = vec![0u8; (w * h) as usize];
    // Sum f rows column-wise first (a straight loop the compiler vectorises), then f columns of that.
    let mut acc = vec![0u32; iw];
    let n = f * f;
    for (y, orow) in out.chunks_exact_mut(w as usize).enumerate() {
        acc.iter_mut().for_each(|a| *a = 0);
        for row in raw[y * fu * iw..(y + 1) * fu * iw].chunks_exact(iw) {
            for (a, &v) in acc.iter_mut().zip(row) {
                *a += v as u32;
            }
        }
        for (o, c) in orow.iter_mut().zip(acc.chunks_exact(fu)) {
            *o = (c.iter().sum::<u32>() / n) as u8;
        }
    }
    GrayImage::from_raw(w, h, out).expect("size")
}

/// Warps a template-mm rectangle to an upright grey image at `px_per_mm` (for QR reading, OCR and crops).
pub fn warp_region(img: &GrayImage, h: &Homography, b: [f64; 4], px_per_mm: f64) -> GrayImage {
    let w = ((b[2] - b[0]) * px_per_mm).round().max(1.0) as u32;
    let hh = ((b[3] - b[1]) * px_per_mm).round().max(1.0) as u32;
    let m = &h.0;
    let step = 1.0 / px_per_mm;
    let mut out = vec![0u8; (w * hh) as usize];
    for (y, row) in out.chunks_exact_mut(w as usize).enumerate() {
        // The projective numerators and denominator are affine in x: step them along the row instead of
        // applying the full matrix per pixel.
        let (x0, y0) = (b[0] + 0.5 * step, b[1] + (y as f64 + 0.5) * step);
        let mut u = m[0][0] * x0 + m[0][1] * y0 + m[0][2];
        let mut v = m[1][0] * x0 + m[1][1] * y0 + m[1][2];
        let mut q = m[2][0] * x0 + m[2][1] * y0 + m[2][2];
        let (du, dv, dq) = (m[0][0] * step, m[1][0] * step, m[2][0] * step);
        for px in row.iter_mut() {
            // Values are in 0..=255, so adding 0.5 and truncating rounds them.
            *px = (sample(img, [u / q, v / q]) + 0.5) as u8;
            u += du;
            v += dv;
            q += dq;
        }
    }
    GrayImage::from_raw(w, hh, out).expect("buffer matches size")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_by_counting_is_the_sorted_rank() {
        // Sizes around the rank's rounding, and pixel mixes from one value to all 256.
        let mut x = 12345u32;
        for len in [1usize, 2, 9, 10, 11, 99, 100, 101, 4000] {
            for spread in [1u32, 3, 256] {
                let raw: Vec<u8> = (0..len)
                    .map(|_| {
                        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                        (255 - (x >> 16) % spread) as u8
                    })
                    .collect();
                let mut sorted = raw.clone();
                sorted.sort_unstable();
                assert_eq!(
                    percentile(&raw, 90),
                    sorted[len * 9 / 10],
                    "len {len} spread {spread}"
                );
            }
        }
    }
}
