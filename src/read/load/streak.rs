//! Scanner streaks: dust on a feeder scanner's glass, or a dead sensor cell, draws one straight dark line along
//! the whole page, through every checkbox it crosses (a silent tick in every row of that column). A streak is
//! found as a narrow band of image columns (or rows) that is dark over nearly the page's whole length with paper
//! on both sides, and painted over from its two sides, as scanner drivers' streak removal does.

use image::GrayImage;

/// One streak painted over: image columns (vertical) or rows `from..=to`, over `along` (rows or columns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Streak {
    /// A vertical line (image columns); otherwise a horizontal one (image rows).
    pub vertical: bool,
    /// First column or row of the band.
    pub from: u32,
    /// Last column or row of the band.
    pub to: u32,
    /// The stretch of the page's length it covers: the whole length, or from one edge when the dust came or
    /// went during the scan.
    pub along: (u32, u32),
}

/// Share of the page's length a line crossing it end to end must be dark over. The form's longest printed
/// lines, the table's horizontal rules, span 79% of the page's width and reach neither margin.
const MIN_DARK_SHARE: f64 = 0.85;
/// Share of an end of the line (the first or last [`END_PART`] of the page's length) it must be dark over: a
/// streak crosses the margins, where nothing is printed.
const MIN_END_SHARE: f64 = 0.6;
/// See [`MIN_END_SHARE`].
const END_PART: f64 = 0.08;
/// A streak that reaches only one end (dust that came or went during the scan) must run unbroken from it over
/// this share of the length.
const MIN_PARTIAL_SHARE: f64 = 0.5;
/// Share of an end part by which a streak must be darker there than the lines beside it.
const MIN_END_CONTRAST: f64 = 0.4;
/// Share of the length the lines beside a streak may be dark over (paper on both sides).
const MAX_SIDE_SHARE: f64 = 0.4;

/// What one line (a column or a row) shows along the page's length.
#[derive(Clone, Copy, Default)]
struct Line {
    /// Dark pixels over the whole length (counted only near candidates).
    all: u32,
    /// Dark pixels in the first and last end parts.
    first: u32,
    last: u32,
    /// The stretch it would be a streak over, if any.
    streak: Option<(u32, u32)>,
}

/// How far a dark run from position 0 of `dark` reaches, bridging gaps of up to `gap` positions.
fn reach(dark: impl Iterator<Item = bool>, gap: usize) -> usize {
    let (mut last, mut since) = (0, 0);
    for (t, d) in dark.enumerate() {
        if d {
            last = t + 1;
            since = 0;
        } else {
            since += 1;
            if since > gap {
                break;
            }
        }
    }
    last
}

/// Bands of adjacent streak lines, at most `max_w` wide, away from the page's edges, with paper beside them
/// (over the length, and in the end parts the band reaches).
fn find_bands(lines: &[Line], len: u32, max_w: usize) -> Vec<(usize, usize, (u32, u32))> {
    let n = lines.len();
    let side = |i: usize| lines[i].all as f64 / len.max(1) as f64;
    // The scanner's shadow or background along an edge is no streak.
    let margin = (n / 40).max(3);
    let mut out = vec![];
    let mut i = margin;
    while i + margin < n {
        let Some(first) = lines[i].streak else {
            i += 1;
            continue;
        };
        let start = i;
        let mut along = first;
        while i + margin < n {
            let Some(s) = lines[i].streak else { break };
            along = (along.0.min(s.0), along.1.max(s.1));
            i += 1;
        }
        let end = i - 1;
        // Paper beside it over the length and in the end parts it reaches: a scanner's shadow along the page's
        // edge, or a halftone's rows of dots, is dark beside the line too.
        // In an end part only the difference counts: where a rotated page leaves the scanner's black background
        // in a corner, the line and its sides are dark there alike.
        let end_len = end_part(len as usize) as f64;
        let (line_first, line_last) = (lines[start].first as f64, lines[start].last as f64);
        let light = |i: usize| {
            side(i) < MAX_SIDE_SHARE
                && (along.0 > 0 || line_first - lines[i].first as f64 >= MIN_END_CONTRAST * end_len)
                && (along.1 < len || line_last - lines[i].last as f64 >= MIN_END_CONTRAST * end_len)
        };
        let sides = (1..=3).all(|k| {
            let left = start.checked_sub(1 + k);
            let right = end + 1 + k;
            left.is_some_and(light) && right < n && light(right)
        });
        if end - start < max_w && sides {
            out.push((start, end, along));
        }
    }
    out
}

/// The length of an end part of a line `len` long.
fn end_part(len: usize) -> usize {
    ((len as f64 * END_PART) as usize).max(1)
}

/// Measures the lines of one direction, whose end parts are already counted: `dark(i, t)` is whether line `i`
/// is dark at position `t` along it. Lines dark across an end part (and those beside them, for the
/// paper-on-both-sides check) are followed over their whole length.
fn measure(mut lines: Vec<Line>, len: usize, dark: impl Fn(usize, usize) -> bool) -> Vec<Line> {
    let n = lines.len();
    let end = end_part(len);
    let min_end = (MIN_END_SHARE * end as f64).ceil() as u32;
    let mut keep = vec![false; n];
    for (i, l) in lines.iter().enumerate() {
        if l.first >= min_end || l.last >= min_end {
            keep[i.saturating_sub(5)..(i + 6).min(n)].fill(true);
        }
    }
    let gap = (len / 100).max(3);
    for i in (0..n).filter(|&i| keep[i]) {
        let l = &mut lines[i];
        l.all = (0..len).map(|t| dark(i, t) as u32).sum();
        let (head, tail) = (l.first >= min_end, l.last >= min_end);
        l.streak = if head && tail && l.all as f64 >= MIN_DARK_SHARE * len as f64 {
            Some((0, len as u32))
        } else {
            let partial = (MIN_PARTIAL_SHARE * len as f64) as usize;
            let down = if head {
                reach((0..len).map(|t| dark(i, t)), gap)
            } else {
                0
            };
            let up = if tail {
                reach((0..len).rev().map(|t| dark(i, t)), gap)
            } else {
                0
            };
            if down >= partial && down >= up {
                Some((0, down as u32))
            } else if up >= partial {
                Some(((len - up) as u32, len as u32))
            } else {
                None
            }
        };
    }
    lines
}

/// Finds streaks on `img` and paints each over, position by position along it, by interpolating between the
/// paper just outside it. Returns what it painted over.
pub fn remove_streaks(img: &mut GrayImage) -> Vec<Streak> {
    let (w, h) = img.dimensions();
    if w < 64 || h < 64 {
        return vec![];
    }
    let raw = img.as_raw();
    // The paper level from a sample of the page (every 4th pixel of every 16th row).
    let mut hist = [0usize; 256];
    for row in raw.chunks_exact(w as usize).step_by(16) {
        for &v in row.iter().step_by(4) {
            hist[v as usize] += 1;
        }
    }
    let paper = crate::raster::percentile_of_counts(&hist, 90);
    if paper < 100 {
        return vec![];
    }
    let thr = (paper as u32 * 3 / 4) as u8;
    let (wu, hu) = (w as usize, h as usize);
    // The end parts, counted row by row (the pass a page without streaks costs: 2 x 8% of its pixels).
    let (end_w, end_h) = (end_part(wu), end_part(hu));
    // Byte counters, flushed every 255 rows (or summed 255 bytes at a time), keep the counting in SIMD lanes.
    let count = |s: &[u8]| -> u32 {
        s.chunks(255)
            .map(|c| c.iter().fold(0u8, |a, &v| a + (v < thr) as u8) as u32)
            .sum()
    };
    let column_counts = |rows: &[u8]| -> Vec<u32> {
        let mut total = vec![0u32; wu];
        let mut acc = vec![0u8; wu];
        for block in rows.chunks(wu * 255) {
            acc.fill(0);
            for row in block.chunks_exact(wu) {
                acc.iter_mut()
                    .zip(row)
                    .for_each(|(c, &v)| *c += (v < thr) as u8);
            }
            total
                .iter_mut()
                .zip(&acc)
                .for_each(|(t, &c)| *t += c as u32);
        }
        total
    };
    let top = column_counts(&raw[..end_h * wu]);
    let bottom = column_counts(&raw[(hu - end_h) * wu..]);
    let mut rows = vec![Line::default(); hu];
    for (y, row) in raw.chunks_exact(wu).enumerate() {
        rows[y].first = count(&row[..end_w]);
        rows[y].last = count(&row[wu - end_w..]);
    }
    let cols = top
        .into_iter()
        .zip(bottom)
        .map(|(first, last)| Line {
            first,
            last,
            ..Line::default()
        })
        .collect();
    let cols = measure(cols, hu, |x, y| raw[y * wu + x] < thr);
    let rows = measure(rows, wu, |y, x| raw[y * wu + x] < thr);
    let found: Vec<Streak> = [(true, &cols, h, wu), (false, &rows, w, hu)]
        .into_iter()
        .flat_map(|(vertical, lines, len, across)| {
            find_bands(lines, len, (across / 120).max(3))
                .into_iter()
                .map(move |(a, b, along)| Streak {
                    vertical,
                    from: a as u32,
                    to: b as u32,
                    along,
                })
        })
        .collect();
    for s in &found {
        // One line beyond each side is painted too (the streak's blurred edge); the paper two lines out is the
        // reference.
        let (lo, hi) = (s.from.saturating_sub(2), s.to + 2);
        let span = (hi - lo) as f32;
        for t in s.along.0..s.along.1 {
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
                    to: 210,
                    along: (0, 600)
                },
                Streak {
                    vertical: false,
                    from: 500,
                    to: 500,
                    along: (0, 400)
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
    fn a_streak_from_one_edge_is_painted_over_where_it_runs() {
        // Dust that fell on the glass a third of the way down the page.
        let clean = page();
        let mut g = clean.clone();
        for y in 200..600 {
            for x in 208..210 {
                g.put_pixel(x, y, [60].into());
            }
        }
        let found = remove_streaks(&mut g);
        assert_eq!(
            found,
            vec![Streak {
                vertical: true,
                from: 208,
                to: 209,
                along: (200, 600)
            }]
        );
        assert_eq!(g.get_pixel(209, 310).0[0], 245);
        // Only from one edge: the same line in the middle of the page only (like a rule) is left alone.
        let mut m = clean.clone();
        for y in 150..450 {
            m.put_pixel(300, y, [60].into());
        }
        assert!(remove_streaks(&mut m).is_empty());
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
