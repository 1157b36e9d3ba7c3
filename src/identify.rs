//! Template identification: reads the QR (template id and, on prefilled forms, the dossier code) and scores the
//! printed layout of every known template; disagreement is reported, never guessed away.

use crate::register::{layout_score, warp_region, Registration};
use crate::template::Template;
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

/// Decoded QR payload `PDG1;T=GTVT[;HS=code]`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct QrInfo {
    /// Raw content.
    pub content: String,
    /// Template id (lower case) when the payload is ours.
    pub template: Option<String>,
    /// Prefilled dossier code.
    pub dossier: Option<String>,
}

/// Parses our QR payload.
pub fn parse_qr(content: &str) -> QrInfo {
    let mut template = None;
    let mut dossier = None;
    let mut parts = content.split(';');
    if parts.next() == Some("PDG1") {
        for p in parts {
            if let Some(t) = p.strip_prefix("T=") {
                template = Some(t.to_ascii_lowercase());
            } else if let Some(h) = p.strip_prefix("HS=") {
                dossier = Some(h.to_string());
            }
        }
    }
    QrInfo {
        content: content.to_string(),
        template,
        dossier,
    }
}

/// Reads the QR in its template place (the box is the same on all our forms).
pub fn read_qr(
    img: &GrayImage,
    reg: &Registration,
    t: &Template,
    opts: &IdentifyOptions,
) -> Option<QrInfo> {
    let b = t.qr.bbox;
    let m = 4.0;
    let region = warp_region(
        img,
        &reg.h_markers,
        [b[0] - m, b[1] - m, b[2] + m, b[3] + m],
        opts.qr_px_per_mm,
    );
    decode_qr(&region).map(|c| parse_qr(&c))
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
pub fn find_qr_anywhere(img: &GrayImage) -> Option<QrInfo> {
    // At least 4.5 px/mm keeps QR modules (0.76 mm) at 3.4 px or more; an integer box filter bounds the work
    // without the cost of a general resampler.
    let f = (img.width().min(img.height()) as f64 / 210.0 / 4.5)
        .floor()
        .max(1.0) as u32;
    let small = if f > 1 {
        crate::register::downsample(img, f)
    } else {
        img.clone()
    };
    decode_qr(&small)
        .map(|c| parse_qr(&c))
        .filter(|q| q.template.is_some())
}

/// The identification verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Identification {
    /// Chosen template id, if any.
    pub template: Option<String>,
    /// What the layout says.
    pub layout: Option<String>,
    /// Layout score per template id.
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
    let mut scores: Vec<(String, f64)> = templates
        .iter()
        .map(|t| (t.template_id.clone(), layout_score(img, reg, t)))
        .collect();
    let qr = templates.first().and_then(|t| read_qr(img, reg, t, opts));
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
        .and_then(|q| q.template.clone())
        .filter(|id| templates.iter().any(|t| &t.template_id == id));
    let conflict = matches!((&layout, &qr_t), (Some(a), Some(b)) if a != b);
    let template = if conflict {
        None
    } else {
        layout.clone().or(qr_t)
    };
    Identification {
        template,
        layout,
        layout_scores: scores,
        qr,
        conflict,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qr_payload_parses_template_and_dossier() {
        let q = parse_qr("PDG1;T=KHDT;HS=000.00.30.H48-210707-7064");
        assert_eq!(q.template.as_deref(), Some("khdt"));
        assert_eq!(q.dossier.as_deref(), Some("000.00.30.H48-210707-7064"));
        assert_eq!(parse_qr("hello").template, None);
    }
}
