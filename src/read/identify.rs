//! Template identification: reads the QR (template id and, on prefilled forms, the dossier code) and scores the
//! printed layout of every known template; disagreement is reported, never guessed away.

use crate::forms::template::Template;
use crate::raster::warp_region;
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
    /// Resolution the QR region is resampled to, px/mm.
    pub qr_px_per_mm: f64,
}

impl Default for IdentifyOptions {
    fn default() -> Self {
        IdentifyOptions {
            min_layout: 0.45,
            max_runner_up: 0.3,
            form_evidence: 0.25,
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
        decode_qr(&region).map(|c| parse_qr(&c, templates))
    })
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
}
