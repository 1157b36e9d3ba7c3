//! Template identification: reads the QR (template id and, on prefilled forms, the dossier code) and scores the
//! printed layout of every known template; disagreement is reported, never guessed away.

use crate::forms::template::Template;
use crate::raster::{percentile, warp_region};
use crate::read::register::{layout_score, MarkerLayout, Registration};
use image::GrayImage;
use serde::Serialize;

/// Tunables for identification.
#[derive(Debug, Clone)]
pub struct IdentifyOptions {
    /// Layout score (fraction of table rules found) a template needs.
    pub min_layout: f64,
    /// Largest layout score the runner-up may have.
    pub max_runner_up: f64,
    /// Layout score above which a registered page is taken as one of our forms even when the template is not
    /// certain: it goes to review (`layout_uncertain`), never to `not_a_form`.
    pub form_evidence: f64,
    /// Share of a template's option boxes found where the fit says above which a registered page is taken as one
    /// of our forms in the same way, when its table rules are too broken to score.
    pub box_evidence: f64,
    /// Resolution the QR region is resampled to, px/mm.
    pub qr_px_per_mm: f64,
}

impl Default for IdentifyOptions {
    fn default() -> Self {
        IdentifyOptions {
            min_layout: 0.45,
            max_runner_up: 0.3,
            form_evidence: 0.25,
            box_evidence: 0.6,
            qr_px_per_mm: 8.0,
        }
    }
}

/// A decoded QR payload, matched against the templates' QR formats.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct QrInfo {
    /// Raw content.
    pub content: String,
    /// The template whose format the payload has, if any.
    pub template: Option<String>,
    /// That template's version (forms of one id and several versions each have their own QR format).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// Field values the payload carries (field id → value), e.g. the prefilled dossier code.
    pub values: std::collections::BTreeMap<String, String>,
}

/// Matches a payload against each template's QR format (blank or prefilled); the first that fits names the form.
pub fn parse_qr(content: &str, templates: &[Template]) -> QrInfo {
    let hit = templates
        .iter()
        .find_map(|t| t.qr.parse(content).map(|v| (t, v)));
    let (template, version, values) = match hit {
        Some((t, v)) => (Some(t.template_id.clone()), Some(t.version), v),
        None => (None, None, Default::default()),
    };
    QrInfo {
        content: content.to_string(),
        template,
        version,
        values,
    }
}

/// Reads the QR in its template places (each distinct QR box of the templates with the page's marker layout).
pub fn read_qr(
    img: &GrayImage,
    reg: &Registration,
    templates: &[Template],
    opts: &IdentifyOptions,
) -> Option<QrInfo> {
    let mut boxes: Vec<[f64; 4]> = vec![];
    for t in templates {
        if !boxes.contains(&t.qr.bbox) {
            boxes.push(t.qr.bbox);
        }
    }
    let m = 4.0;
    boxes.iter().find_map(|b| {
        let region = warp_region(
            img,
            &reg.h_markers,
            [b[0] - m, b[1] - m, b[2] + m, b[3] + m],
            opts.qr_px_per_mm,
        );
        decode_qr_upright(&region)
            .or_else(|| decode_qr(&region))
            .map(|c| parse_qr(&c, templates))
    })
}

/// Decodes a QR code that stands upright and square in `region`, as it does in a registered page's QR box: the
/// three finder patterns are found by their 1:1:3:1:1 runs, the module grid is laid through their centres and the
/// bits are read at the module centres; the code's own error correction then checks them. rqrr's general search
/// fits a perspective to every candidate by trial (about 4 ms a page), which registration has already made
/// needless. `None` when the finders or the grid do not fit; the caller then runs the general search.
pub fn decode_qr_upright(region: &GrayImage) -> Option<String> {
    let (w, h) = region.dimensions();
    if w < 21 || h < 21 {
        return None;
    }
    let raw = region.as_raw();
    let (lo, hi) = (percentile(raw, 5) as f32, percentile(raw, 95) as f32);
    if hi - lo < 40.0 {
        return None;
    }
    let thr = (lo + hi) / 2.0;
    let dark = |x: u32, y: u32| (region.get_pixel(x, y).0[0] as f32) < thr;
    // Runs of one colour along a line of `len` pixels: (dark, start, length).
    let runs = |len: u32, at: &dyn Fn(u32) -> bool| {
        let mut out: Vec<(bool, u32, u32)> = vec![];
        for i in 0..len {
            let d = at(i);
            match out.last_mut() {
                Some(r) if r.0 == d => r.2 += 1,
                _ => out.push((d, i, 1)),
            }
        }
        out
    };
    // The centre (along the line) and module size of each dark-light-dark-light-dark run of 1:1:3:1:1.
    let finders_on = |rs: &[(bool, u32, u32)]| -> Vec<(f32, f32)> {
        rs.windows(5)
            .filter(|r| r[0].0)
            .filter_map(|r| {
                let total: u32 = r.iter().map(|x| x.2).sum();
                let m = total as f32 / 7.0;
                let ok =
                    |len: u32, k: f32| (len as f32 - k * m).abs() <= 0.5 * m * k.max(1.0) + 0.5;
                (m >= 1.5
                    && ok(r[0].2, 1.0)
                    && ok(r[1].2, 1.0)
                    && ok(r[2].2, 3.0)
                    && ok(r[3].2, 1.0)
                    && ok(r[4].2, 1.0))
                .then(|| (r[2].1 as f32 + r[2].2 as f32 / 2.0, m))
            })
            .collect()
    };
    // Candidates from the rows, each confirmed down its column (a finder crosses many rows at the same column,
    // so each column is scanned once): (x, y, module).
    let mut hits: Vec<(f32, f32, f32)> = vec![];
    let mut columns: std::collections::HashMap<u32, Vec<(f32, f32)>> = Default::default();
    for y in 0..h {
        for (cx, m) in finders_on(&runs(w, &|x| dark(x, y))) {
            let col = cx as u32;
            let vertical = columns
                .entry(col)
                .or_insert_with(|| finders_on(&runs(h, &|yy| dark(col, yy))));
            if let Some(&(cy, m2)) = vertical
                .iter()
                .find(|(cy, m2)| (cy - y as f32).abs() <= 1.5 * m2)
            {
                if (m2 - m).abs() <= 0.5 * m {
                    hits.push((cx, cy, (m + m2) / 2.0));
                }
            }
        }
    }
    // Clusters of hits, heaviest first.
    let mut clusters: Vec<(f32, f32, f32, usize)> = vec![];
    for (x, y, m) in hits {
        match clusters
            .iter_mut()
            .find(|c| (c.0 / c.3 as f32 - x).hypot(c.1 / c.3 as f32 - y) <= 2.0 * m)
        {
            Some(c) => *c = (c.0 + x, c.1 + y, c.2 + m, c.3 + 1),
            None => clusters.push((x, y, m, 1)),
        }
    }
    clusters.sort_by_key(|c| std::cmp::Reverse(c.3));
    let finders: Vec<(f32, f32, f32, usize)> = clusters
        .iter()
        .take(6)
        .map(|c| {
            let k = c.3 as f32;
            (c.0 / k, c.1 / k, c.2 / k, c.3)
        })
        .collect();
    // Data modules can line up as 1:1:3:1:1 too: every upright L of three clusters is tried, the most hits
    // first, and the code's error correction tells the right one.
    let mut triples = vec![];
    for a in 0..finders.len() {
        for b in a + 1..finders.len() {
            for c in b + 1..finders.len() {
                triples.push([finders[a], finders[b], finders[c]]);
            }
        }
    }
    triples.sort_by_key(|t| std::cmp::Reverse(t.iter().map(|f| f.3).sum::<usize>()));
    triples
        .into_iter()
        .find_map(|t| read_grid(region, &dark, t))
}

/// Reads the QR whose finder centres (x, y, module, hits) are `f`, if they stand as an upright L.
fn read_grid(
    region: &GrayImage,
    dark: &dyn Fn(u32, u32) -> bool,
    mut f: [(f32, f32, f32, usize); 3],
) -> Option<String> {
    let (w, h) = region.dimensions();
    // Upright: top-left has the smallest x + y, top-right the largest x - y.
    f.sort_by(|a, b| (a.0 + a.1).total_cmp(&(b.0 + b.1)));
    let tl = f[0];
    let (tr, bl) = if f[1].0 - f[1].1 > f[2].0 - f[2].1 {
        (f[1], f[2])
    } else {
        (f[2], f[1])
    };
    let m = (tl.2 + tr.2 + bl.2) / 3.0;
    if [tl.2, tr.2, bl.2]
        .iter()
        .any(|&mi| (mi - m).abs() > 0.35 * m)
    {
        return None;
    }
    let (dx, dy) = (tr.0 - tl.0, bl.1 - tl.1);
    if dx < 13.0 * m
        || (tr.1 - tl.1).abs() > 1.5 * m
        || (bl.0 - tl.0).abs() > 1.5 * m
        || (dx - dy).abs() > 2.0 * m
    {
        return None;
    }
    let est = (dx + dy) / 2.0 / m + 7.0;
    let version = ((est - 17.0) / 4.0).round().max(1.0);
    let size = 17.0 + 4.0 * version;
    if (est - size).abs() > 2.0 || version > 40.0 {
        return None;
    }
    let size = size as usize;
    let span = (size - 7) as f32;
    let (ux, uy) = ((tr.0 - tl.0) / span, (tr.1 - tl.1) / span);
    let (vx, vy) = ((bl.0 - tl.0) / span, (bl.1 - tl.1) / span);
    let grid = rqrr::SimpleGrid::from_func(size, |x, y| {
        let (j, i) = (x as f32 - 3.0, y as f32 - 3.0);
        let px = tl.0 + j * ux + i * vx;
        let py = tl.1 + j * uy + i * vy;
        px >= 0.0 && py >= 0.0 && (px as u32) < w && (py as u32) < h && dark(px as u32, py as u32)
    });
    rqrr::Grid::new(grid).decode().ok().map(|(_, s)| s)
}

/// Decodes the first QR code found in a grey image.
pub fn decode_qr(region: &GrayImage) -> Option<String> {
    let mut prepared = rqrr::PreparedImage::prepare(region.clone());
    for g in prepared.detect_grids() {
        if let Ok((_, content)) = g.decode() {
            return Some(content);
        }
    }
    None
}

/// Looks for our QR anywhere on a page whose markers were not found (corners cut off or folded): a page that is
/// one of our forms must not be dismissed as "not a form".
pub fn find_qr_anywhere(img: &GrayImage, templates: &[Template]) -> Option<QrInfo> {
    // At least 4.5 px/mm keeps QR modules (0.76 mm) at 3.4 px or more on the smallest form; an integer box
    // filter bounds the work without the cost of a general resampler.
    let short_mm = templates
        .iter()
        .map(|t| t.page_mm[0].min(t.page_mm[1]))
        .fold(210.0, f64::min);
    let f = (img.width().min(img.height()) as f64 / short_mm / 4.5)
        .floor()
        .max(1.0) as u32;
    let small = if f > 1 {
        crate::raster::downsample(img, f)
    } else {
        img.clone()
    };
    decode_qr(&small)
        .map(|c| parse_qr(&c, templates))
        .filter(|q| q.template.is_some())
}

/// A form among the known ones: its template id and version (two versions of a form are read side by side).
pub type FormKey = (String, u32);

/// The identification verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Identification {
    /// Chosen form, if any.
    pub template: Option<FormKey>,
    /// What the layout says.
    pub layout: Option<FormKey>,
    /// Layout score per form (`gtvt v1`), best first.
    pub layout_scores: Vec<(String, f64)>,
    /// What the QR says.
    pub qr: Option<QrInfo>,
    /// QR and layout disagree.
    pub conflict: bool,
}

/// Identifies the template among `templates`.
pub fn identify(
    img: &GrayImage,
    reg: &Registration,
    templates: &[Template],
    opts: &IdentifyOptions,
) -> Identification {
    // Only forms with the marker layout that fitted can be this page.
    // Templates are copied only when some have another layout (never with the built-in forms).
    let fits = |t: &Template| MarkerLayout::of(t).is_none_or(|l| l == reg.layout);
    let candidates: Vec<Template>;
    let templates = if templates.iter().all(fits) {
        templates
    } else {
        candidates = templates.iter().filter(|t| fits(t)).cloned().collect();
        &candidates[..]
    };
    let mut scores: Vec<(FormKey, f64)> = templates
        .iter()
        .map(|t| (t.key(), layout_score(img, reg, t)))
        .collect();
    let qr = read_qr(img, reg, templates, opts);
    scores.sort_by(|a, b| b.1.total_cmp(&a.1));
    let layout = match scores.as_slice() {
        [(id, s)] if *s >= opts.min_layout => Some(id.clone()),
        [(id, s), (_, s2), ..] if *s >= opts.min_layout && *s2 <= opts.max_runner_up => {
            Some(id.clone())
        }
        _ => None,
    };
    let qr_t = qr
        .as_ref()
        .and_then(|q| Some((q.template.clone()?, q.version?)))
        .filter(|k| templates.iter().any(|t| &t.key() == k));
    let conflict = matches!((&layout, &qr_t), (Some(a), Some(b)) if a != b);
    let template = if conflict {
        None
    } else {
        layout.clone().or(qr_t)
    };
    Identification {
        template,
        layout,
        layout_scores: scores
            .into_iter()
            .map(|((id, v), s)| (format!("{id} v{v}"), s))
            .collect(),
        qr,
        conflict,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qr_payload_parses_template_and_dossier() {
        let ts = Template::builtins();
        let q = parse_qr("PDG1;T=KHDT;HS=000.00.30.H48-210707-7064", &ts);
        assert_eq!(q.template.as_deref(), Some("khdt"));
        assert_eq!(
            q.values.get("dossier_code").map(String::as_str),
            Some("000.00.30.H48-210707-7064")
        );
        assert_eq!(
            parse_qr("PDG1;T=GTVT", &ts).template.as_deref(),
            Some("gtvt")
        );
        assert!(parse_qr("PDG1;T=GTVT", &ts).values.is_empty());
        assert_eq!(parse_qr("hello", &ts).template, None);
        assert_eq!(parse_qr("PDG1;T=XYZ;HS=1", &ts).template, None);
    }

    /// A QR code drawn `px` pixels a module at (`x0`, `y0`) on paper, with ink `ink`.
    fn qr_image(content: &str, px: u32, x0: u32, y0: u32, ink: u8) -> GrayImage {
        let modules = crate::forms::render::qr_modules(content).unwrap();
        let n = modules.len() as u32;
        let mut img = GrayImage::from_pixel(2 * x0 + n * px, 2 * y0 + n * px, image::Luma([235]));
        for (y, row) in (0..).zip(&modules) {
            for (x, _) in (0..).zip(row).filter(|(_, &dark)| dark) {
                for yy in 0..px {
                    for xx in 0..px {
                        img.put_pixel(x0 + x * px + xx, y0 + y * px + yy, image::Luma([ink]));
                    }
                }
            }
        }
        img
    }

    #[test]
    fn an_upright_qr_is_read_from_its_finders_and_agrees_with_the_general_search() {
        for (content, px) in [
            ("PDG1;T=GTVT", 6),
            ("PDG1;T=KHDT;HS=000.00.30.H48-210707-7064", 5),
            ("PDG1;T=KHDT;HS=000.00.30.H48-210707-7064", 3),
        ] {
            let img = qr_image(content, px, 31, 27, 30);
            assert_eq!(decode_qr_upright(&img).as_deref(), Some(content), "{px} px");
            assert_eq!(decode_qr(&img).as_deref(), Some(content));
        }
        // A grey ink, resampled to a module of 4.1 px (not a whole number), still reads.
        let grey = qr_image("PDG1;T=KHDT;HS=000.00.30.H48-210707-7064", 3, 20, 20, 90);
        let (gw, gh) = grey.dimensions();
        let odd = image::imageops::resize(
            &grey,
            gw * 41 / 30,
            gh * 41 / 30,
            image::imageops::FilterType::Triangle,
        );
        assert_eq!(
            decode_qr_upright(&odd).as_deref(),
            Some("PDG1;T=KHDT;HS=000.00.30.H48-210707-7064")
        );
    }

    #[test]
    fn no_qr_or_half_a_qr_is_none_not_a_guess() {
        assert_eq!(
            decode_qr_upright(&GrayImage::from_pixel(200, 200, image::Luma([240]))),
            None
        );
        let img = qr_image("PDG1;T=GTVT", 6, 30, 30, 30);
        let half = image::imageops::crop_imm(&img, 0, 0, img.width(), img.height() / 2).to_image();
        assert_eq!(decode_qr_upright(&half), None);
    }
}
