//! Scanner streaks: dust on a feeder scanner's glass, or a dead sensor cell, draws one straight dark line along
//! the whole page, through every checkbox it crosses (a silent tick in every row of that column). A streak is
//! found as a narrow band of image columns (or rows) that is dark over nearly the page's whole length with paper
//! on both sides, and painted over from its two sides, as scanner drivers' streak removal does.

use image::GrayImage;

/// One streak painted over: image columns (vertical) or rows, `from..=to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Streak {
    /// A vertical line (image columns); otherwise a horizontal one (image rows).
    pub vertical: bool,
    /// First column or row of the band.
    pub from: u32,
    /// Last column or row of the band.
    pub to: u32,
}

/// Share of the page's length a line must be dark over. The form's longest printed lines, the table's
/// horizontal rules, span 79% of the page's width.
const MIN_DARK_SHARE: f64 = 0.85;
/// Share of each end of the line (the first and last [`END_PART`] of the page's length) it must be dark over
/// too: a streak crosses the margins, where nothing is printed.
const MIN_END_SHARE: f64 = 0.6;
/// See [`MIN_END_SHARE`].
const END_PART: f64 = 0.08;
/// Share of the length the columns beside a streak may be dark over (paper on both sides).
const MAX_SIDE_SHARE: f64 = 0.4;

/// Dark pixel counts along each line: over its whole length and over each end part.
struct Counts {
    all: Vec<u32>,
    first: Vec<u32>,
    last: Vec<u32>,
}

/// Runs of lines dark over at least [`MIN_DARK_SHARE`] of `len` (and [`MIN_END_SHARE`] of each end), at most
/// `max_w` wide, away from the edges, with paper beside them.
fn find_bands(c: &Counts, len: u32, max_w: usize) -> Vec<(usize, usize)> {
    let n = c.all.len();
    let end_len = ((len as f64 * END_PART) as u32).max(1) as f64;
    let share = |i: usize| {
        let s = c.all[i] as f64 / len.max(1) as f64;
        let ends = (c.first[i] as f64 / end_len).min(c.last[i] as f64 / end_len);
        if ends >= MIN_END_SHARE {
            s
        } else {
            s.min(MIN_DARK_SHARE - 0.01)
        }
    };
    let side = |i: usize| c.all[i] as f64 / len.max(1) as f64;
    // The scanner's shadow or background along an edge is no streak.
    let margin = (n / 40).max(3);
    let mut out = vec![];
    let mut i = margin;
    while i + margin < n {
        if share(i) < MIN_DARK_SHARE {
            i += 1;
            continue;
        }
        let start = i;
        while i + margin < n && share(i) >= MIN_DARK_SHARE {
            i += 1;
        }
        let end = i - 1;
        let w = end - start + 1;
        let sides = (1..=3).all(|k| {
            let left = start.checked_sub(1 + k);
            let right = end + 1 + k;
            left.is_some_and(|l| side(l) < MAX_SIDE_SHARE)
                && right < n
                && side(right) < MAX_SIDE_SHARE
        });
        if w <= max_w && sides {
            out.push((start, end));
        }
    }
    out
}

/// Finds streaks on `img` and paints each over, row by row (column by column), by interpolating between the
/// paper just outside it. Returns what it painted over.
pub fn remove_streaks(img: &mut GrayImage) -> Vec<Streak> {
    let (w, h) = img.dimensions();
    if w < 64 || h < 64 {
        return vec![];
    }
    let raw = img.as_raw();
    // The paper level from a sample of the page (every 4th pixel of every 8th row).
    let mut hist = [0u32; 256];
    let mut n = 0u32;
    for row in raw.chunks_exact(w as usize).step_by(8) {
        for &v in row.iter().step_by(4) {
            hist[v as usize] += 1;
            n += 1;
        }
    }
    let mut acc = 0;
    let paper = hist
        .iter()
        .position(|&k| {
            acc += k;
            acc * 10 >= n * 9
        })
        .unwrap_or(255) as u8;
    if paper < 100 {
        return vec![];
    }
    let thr = (paper as u32 * 3 / 4) as u8;
    let (wu, hu) = (w as usize, h as usize);
    let zeros = |n: usize| Counts {
        all: vec![0; n],
        first: vec![0; n],
        last: vec![0; n],
    };
    let (mut cols, mut rows) = (zeros(wu), zeros(hu));
    let (end_w, end_h) = (
        ((w as f64 * END_PART) as usize).max(1),
        ((h as f64 * END_PART) as usize).max(1),
    );
    let dark = |v: u8| (v < thr) as u32;
    // A streak is dark across the first end part: only the lines that are (and the lines beside them, for the
    // paper-on-both-sides check) are counted over their whole length. On a page without one that is about a
    // tenth of the pixels.
    for row in raw.chunks_exact(wu).take(end_h) {
        for (c, &v) in cols.first.iter_mut().zip(row) {
            *c += dark(v);
        }
    }
    for (y, row) in raw.chunks_exact(wu).enumerate() {
        rows.first[y] = row[..end_w].iter().map(|&v| dark(v)).sum();
    }
    let near_candidates = |first: &[u32], end: usize| -> Vec<usize> {
        let min = (MIN_END_SHARE * end as f64).ceil() as u32;
        let mut keep = vec![false; first.len()];
        for (i, _) in first.iter().enumerate().filter(|(_, &c)| c >= min) {
            let hi = (i + 6).min(first.len());
            keep[i.saturating_sub(5)..hi].fill(true);
        }
        (0..first.len()).filter(|&i| keep[i]).collect()
    };
    for x in near_candidates(&cols.first, end_h) {
        for (y, row) in raw.chunks_exact(wu).enumerate() {
            let d = dark(row[x]);
            cols.all[x] += d;
            if y >= hu - end_h {
                cols.last[x] += d;
            }
        }
    }
    for y in near_candidates(&rows.first, end_w) {
        let row = &raw[y * wu..(y + 1) * wu];
        rows.all[y] = row.iter().map(|&v| dark(v)).sum();
        rows.last[y] = row[wu - end_w..].iter().map(|&v| dark(v)).sum();
    }
    let mut found = vec![];
    for (a, b) in find_bands(&cols, h, (w as usize / 120).max(3)) {
        found.push(Streak {
            vertical: true,
            from: a as u32,
            to: b as u32,
        });
    }
    for (a, b) in find_bands(&rows, w, (h as usize / 120).max(3)) {
        found.push(Streak {
            vertical: false,
            from: a as u32,
            to: b as u32,
        });
    }
    for s in &found {
        // One line beyond each side is painted too (the streak's blurred edge); the paper two lines out is the
        // reference.
        let (lo, hi) = (s.from.saturating_sub(2), s.to + 2);
        let span = (hi - lo) as f32;
        let along = if s.vertical { h } else { w };
        for t in 0..along {
            let at = |i: u32| {
                if s.vertical {
                    (i, t)
                } else {
                    (t, i)
                }
            };
            let l = img.get_pixel(at(lo).0, at(lo).1).0[0] as f32;
            let r = img.get_pixel(at(hi).0, at(hi).1).0[0] as f32;
            for i in lo + 1..hi {
                let f = (i - lo) as f32 / span;
                let (x, y) = at(i);
                img.put_pixel(x, y, [(l + f * (r - l)).round() as u8].into());
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A page: white paper, a vertical rule over half its height, a horizontal one over 79% of its width, a box.
    fn page() -> GrayImage {
        let mut g = GrayImage::from_pixel(400, 600, [245].into());
        for y in 150..450 {
            g.put_pixel(100, y, [20].into());
        }
        // A table rule across 79% of the width, as the form's are.
        for x in 42..358 {
            g.put_pixel(x, 200, [20].into());
        }
        // The box: x 200..=219, y 300..=319.
        for i in 0..20 {
            for (x, y) in [
                (200 + i, 300),
                (200 + i, 319),
                (200, 300 + i),
                (219, 300 + i),
            ] {
                g.put_pixel(x, y, [20].into());
            }
        }
        g
    }

    #[test]
    fn a_streak_through_a_box_is_painted_over_and_print_is_kept() {
        let clean = page();
        let mut g = clean.clone();
        // A 3-pixel dust line the whole length of the page, through the box, and a light one across it.
        for y in 0..600 {
            for x in 208..211 {
                g.put_pixel(x, y, [60].into());
            }
        }
        for x in 0..400 {
            g.put_pixel(x, 500, [150].into());
        }
        let found = remove_streaks(&mut g);
        assert_eq!(
            found,
            vec![
                Streak {
                    vertical: true,
                    from: 208,
                    to: 210
                },
                Streak {
                    vertical: false,
                    from: 500,
                    to: 500
                }
            ]
        );
        // Inside the box the paper is back; the box's top and bottom edges still cross the painted band.
        assert_eq!(g.get_pixel(209, 310).0[0], 245);
        assert!(g.get_pixel(209, 300).0[0] < 100);
        assert_eq!(g.get_pixel(50, 500).0[0], 245);
        // The table rule over half the page, and a page with nothing else, are left alone.
        let mut c = clean.clone();
        assert!(remove_streaks(&mut c).is_empty());
        assert_eq!(c, clean);
    }

    #[test]
    fn a_black_scanner_border_is_no_streak() {
        let mut g = page();
        for y in 0..600 {
            for x in 0..12 {
                g.put_pixel(x, y, [5].into());
            }
        }
        assert!(remove_streaks(&mut g).is_empty());
    }
}
