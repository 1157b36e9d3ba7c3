//! Authoring a form from a short description: a clerk writes the title, the criteria with their options and the
//! code fields in a small TOML file ([`FormDescription`]); [`lay_out`] places everything on the page to the same
//! print rules as the built-in forms (corner markers with their quiet zone, the QR, the table, 5 mm boxes,
//! DejaVu fonts with Vietnamese diacritics) and returns a validated `phieu-form/1` [`Template`]. [`print_problems`]
//! is the overlap and fit check that every form, built in or authored, must pass.

use crate::forms::render::{fitted_pt, text_width_mm, wrap, Fonts};
use crate::forms::template::{
    BoxMm, CheckboxSpec, DateSpec, FieldRole, FieldSpec, Marker, OptionSpec, PrintedText, QrSpec,
    RowSpec, SatisfactionSpec, TableColumns, TableSpec, Template, TextSpec,
};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Errors authoring a form.
#[derive(Debug, thiserror::Error)]
pub enum AuthorError {
    /// The description could not be read.
    #[error("{path}: cannot read the form description: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The description is not valid TOML of the expected shape.
    #[error("{path}: not a form description: {message}")]
    Parse {
        /// File.
        path: PathBuf,
        /// What the parser said (with line and column).
        message: String,
    },
    /// The form does not fit or breaks a print rule.
    #[error("{path}: {reason}")]
    Layout {
        /// File.
        path: PathBuf,
        /// What does not fit, and what to change.
        reason: String,
    },
}

/// One answer option as the clerk writes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptionDesc {
    /// Printed label, e.g. `Rất hài lòng`.
    pub label: String,
    /// Points.
    pub score: i32,
}

/// One criterion (a numbered row).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CriterionDesc {
    /// Criterion text.
    pub label: String,
    /// Its own option labels and points (same count as the form's scale); default: the form's scale.
    #[serde(default)]
    pub options: Option<Vec<OptionDesc>>,
}

/// The overall-satisfaction row (unnumbered, printed bold, last).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverallDesc {
    /// Row text.
    pub label: String,
    /// Its options; default: the form's scale.
    #[serde(default)]
    pub options: Option<Vec<OptionDesc>>,
    /// Labels of the options that count as satisfied (the report's satisfaction rate).
    pub satisfied: Vec<String>,
}

/// One code field.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldDesc {
    /// Field id (letters, digits, `_`).
    pub id: String,
    /// Printed label.
    pub label: String,
    /// What the field means: `dossier_code`, `enterprise_code` or `code`.
    pub role: FieldRole,
    /// The pattern (the regex subset of the templates).
    pub pattern: String,
    /// An example value; it must match the pattern.
    pub example: String,
    /// Where the value carries a date (checked, and used by the report).
    #[serde(default)]
    pub date: Option<DateSpec>,
}

/// Corner markers, when not the built-in ones.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarkersDesc {
    /// Distance from the page edge to each marker's centre, mm (built-in: 14).
    pub inset_mm: f64,
    /// Side of the squares and diameter of the disc, mm (built-in: 7).
    pub size_mm: f64,
    /// The corner with the disc: `tl`, `tr`, `bl` or `br` (built-in: `br`).
    pub disc: String,
}

/// A form as a clerk describes it (`phieu-form-description/1`, TOML).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormDescription {
    /// Template id (lower case, e.g. `tnmt`).
    pub id: String,
    /// Printed form code, e.g. `PĐG-TNMT`.
    pub form_code: String,
    /// Form version (a new version is a new layout; both can be read side by side).
    #[serde(default = "one")]
    pub version: u32,
    /// Department name.
    pub department: String,
    /// Page size in mm (default A4, 210 × 297).
    #[serde(default)]
    pub page_mm: Option<[f64; 2]>,
    /// Header lines at the top left (the first is printed bold).
    pub header: Vec<String>,
    /// Title (default: `PHIẾU ĐÁNH GIÁ MỨC ĐỘ HÀI LÒNG`).
    #[serde(default)]
    pub title: Option<String>,
    /// Subtitle under the title.
    #[serde(default)]
    pub subtitle: Option<String>,
    /// How to mark (printed in italics above the table).
    #[serde(default)]
    pub instructions: Option<String>,
    /// The QR payload of a blank form (default `PDG1;T=<ID>`, with `;V=<version>` from version 2 on); the
    /// prefilled form adds `;HS=<dossier field>`.
    #[serde(default)]
    pub qr: Option<String>,
    /// The answer scale every criterion uses unless it gives its own options.
    pub scale: Vec<OptionDesc>,
    /// The code fields, top to bottom.
    #[serde(default)]
    pub fields: Vec<FieldDesc>,
    /// The criteria, in printed order.
    pub criteria: Vec<CriterionDesc>,
    /// The overall-satisfaction row.
    pub overall: OverallDesc,
    /// Corner markers (default: the built-in forms').
    #[serde(default)]
    pub markers: Option<MarkersDesc>,
}

fn one() -> u32 {
    1
}

impl FormDescription {
    /// Reads a description file.
    pub fn load(path: &Path) -> Result<FormDescription, AuthorError> {
        let text = std::fs::read_to_string(path).map_err(|source| AuthorError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| AuthorError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }
}

/// The print rules the layout follows (those of the built-in forms).
#[derive(Debug, Clone)]
pub struct LayoutOptions {
    /// Left and right margin of the content, mm.
    pub margin_mm: f64,
    /// Checkbox side, mm.
    pub box_mm: f64,
    /// Tallest rating row, mm.
    pub max_row_mm: f64,
    /// Shortest rating row that still leaves room for a mark and its label, mm.
    pub min_row_mm: f64,
    /// Narrowest option column, mm.
    pub min_option_mm: f64,
    /// Criterion column width, mm, when the options leave room for it.
    pub criterion_mm: f64,
    /// Shortest comment box, mm.
    pub min_comment_mm: f64,
}

impl Default for LayoutOptions {
    fn default() -> Self {
        LayoutOptions {
            margin_mm: 22.0,
            box_mm: 5.0,
            max_row_mm: 15.0,
            min_row_mm: 10.0,
            min_option_mm: 19.5,
            criterion_mm: 70.0,
            min_comment_mm: 18.0,
        }
    }
}

const OPTION_PT: f64 = 7.0;
const OPTION_LINE_MM: f64 = 3.0;
const LABEL_PT: f64 = 9.0;
const LABEL_LINE_MM: f64 = 4.0;
/// Cap height of DejaVu Sans as a share of the em (0.73) and the descender (0.24), for text boxes.
const CAP: f64 = 0.73;
const DESC: f64 = 0.24;

fn pt_mm(pt: f64) -> f64 {
    pt * 25.4 / 72.0
}

/// Lays a described form out on its page and returns the validated template. `origin` names the description
/// in errors.
pub fn lay_out(
    d: &FormDescription,
    origin: &Path,
    opts: &LayoutOptions,
) -> Result<Template, AuthorError> {
    let bad = |reason: String| AuthorError::Layout {
        path: origin.to_path_buf(),
        reason,
    };
    let fonts = Fonts::new();
    let [pw, ph] = d.page_mm.unwrap_or([210.0, 297.0]);
    if !(100.0..=500.0).contains(&pw) || !(140.0..=500.0).contains(&ph) {
        return Err(bad(format!(
            "page {pw} × {ph} mm: forms are laid out on pages from 100 × 140 mm to 500 × 500 mm"
        )));
    }
    if d.id.is_empty()
        || !d
            .id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(bad(format!(
            "id `{}`: use lower-case letters, digits and `_`",
            d.id
        )));
    }
    let k = d.scale.len();
    if !(2..=9).contains(&k) {
        return Err(bad(format!("the scale has {k} options; use 2 to 9")));
    }
    if d.criteria.is_empty() {
        return Err(bad("no criteria".into()));
    }
    let m = d.markers.clone().unwrap_or(MarkersDesc {
        inset_mm: 14.0,
        size_mm: 7.0,
        disc: "br".into(),
    });
    let markers: Vec<Marker> = [
        ("tl", [m.inset_mm, m.inset_mm]),
        ("tr", [pw - m.inset_mm, m.inset_mm]),
        ("bl", [m.inset_mm, ph - m.inset_mm]),
        ("br", [pw - m.inset_mm, ph - m.inset_mm]),
    ]
    .into_iter()
    .map(|(id, center)| Marker {
        id: id.into(),
        shape: if id == m.disc { "disc" } else { "square" }.into(),
        center,
        size: m.size_mm,
    })
    .collect();
    // A feeder scanner crops a few millimetres of the sheet and a copier may enlarge it by 5%: markers nearer the
    // edge, or smaller, than the built-in forms' are lost on such pages (measured on synth sets: 8 of 38 forms
    // with 12 mm went to whole-page review).
    if m.inset_mm < 14.0 || m.size_mm < 7.0 {
        return Err(bad(format!(
            "markers {} mm in and {} mm across: they must be at least 14 mm from the edges and 7 mm across",
            m.inset_mm, m.size_mm
        )));
    }
    if !markers.iter().any(|x| x.shape == "disc") {
        return Err(bad(format!(
            "markers.disc is `{}`; name a corner: tl, tr, bl or br",
            m.disc
        )));
    }
    // Content starts below the top markers' quiet zone and stays within the margins.
    let quiet = 4.0;
    let (x0, x1) = (opts.margin_mm, pw - opts.margin_mm);
    let top = m.inset_mm + m.size_mm / 2.0 + 1.0;
    let bottom = ph - m.inset_mm - m.size_mm / 2.0 - quiet;

    let mut texts = vec![];
    let mut y = top + 2.0;
    for (i, h) in d.header.iter().enumerate() {
        texts.push(TextSpec {
            text: h.clone(),
            x: x0 + 2.0,
            y,
            pt: 9.0,
            bold: i == 0,
            italic: false,
            align: None,
        });
        y += 5.0;
    }
    texts.push(TextSpec {
        text: format!("Mẫu {} (phiên bản {})", d.form_code, d.version),
        x: x0 + 2.0,
        y,
        pt: 8.0,
        bold: false,
        italic: false,
        align: None,
    });
    // The QR sits top right, under the top-right marker's quiet zone.
    let qr_side = 22.0;
    let qr_box = [x1 - 2.0 - qr_side, top + 5.0, x1 - 2.0, top + 5.0 + qr_side];
    let title_x = (x0 + qr_box[0]) / 2.0;
    y = y.max(top + 18.0) + 4.0;
    texts.push(TextSpec {
        text: d
            .title
            .clone()
            .unwrap_or_else(|| "PHIẾU ĐÁNH GIÁ MỨC ĐỘ HÀI LÒNG".into()),
        x: title_x,
        y,
        pt: 14.0,
        bold: true,
        italic: false,
        align: Some("center".into()),
    });
    if let Some(s) = &d.subtitle {
        y += 6.0;
        texts.push(TextSpec {
            text: s.clone(),
            x: title_x,
            y,
            pt: 10.0,
            bold: false,
            italic: true,
            align: Some("center".into()),
        });
    }
    y = y.max(qr_box[3]) + 6.0;

    let mut fields = vec![];
    for f in &d.fields {
        let label = format!("{}:", f.label);
        let lw = text_width_mm(&fonts.bold, &label, 10.0);
        let bx0 = x0 + 2.0 + lw + 3.0;
        let code_w = text_width_mm(&fonts.regular, &f.example, 11.0);
        let bx1 = (bx0 + (code_w * 1.3 + 6.0).max(40.0)).min(x1);
        if bx1 - bx0 < code_w + 4.0 {
            return Err(bad(format!(
                "field `{}`: its label and a code like `{}` do not fit on one line; shorten the label",
                f.id, f.example
            )));
        }
        texts.push(TextSpec {
            text: label,
            x: x0 + 2.0,
            y: y + 6.0,
            pt: 10.0,
            bold: true,
            italic: false,
            align: None,
        });
        fields.push(FieldSpec {
            id: f.id.clone(),
            role: Some(f.role),
            label: f.label.clone(),
            bbox: [bx0, y, bx1, y + 9.0],
            pattern: f.pattern.clone(),
            date: f.date.clone(),
            example: f.example.clone(),
            printed_text: PrintedText {
                x: bx0 + 2.0,
                y: y + 6.5,
                pt: 11.0,
            },
        });
        y += 11.0;
    }
    y += 5.0;
    if let Some(ins) = &d.instructions {
        for line in wrap(&fonts.italic, ins, 8.5, x1 - x0) {
            texts.push(TextSpec {
                text: line,
                x: x0,
                y,
                pt: 8.5,
                bold: false,
                italic: true,
                align: None,
            });
            y += 4.0;
        }
    }
    let table_top = y;

    // Columns: the options share what the criterion column leaves, never narrower than `min_option_mm`.
    let stt = [x0, x0 + 8.0];
    let room = x1 - stt[1];
    let opt_w = ((room - opts.criterion_mm) / k as f64).max(opts.min_option_mm);
    let crit_w = room - opt_w * k as f64;
    if crit_w < 40.0 {
        return Err(bad(format!(
            "{k} options leave {crit_w:.0} mm for the criteria; use fewer options or a wider page"
        )));
    }
    let criterion = [stt[1], stt[1] + crit_w];
    let round2 = |v: f64| (v * 100.0).round() / 100.0;
    let option_cols: Vec<[f64; 2]> = (0..k)
        .map(|i| {
            [
                round2(criterion[1] + i as f64 * opt_w),
                round2(criterion[1] + (i + 1) as f64 * opt_w),
            ]
        })
        .collect();

    // Rows share the height left above the comment box and the closing line.
    let header_h = 8.0;
    let n_rows = d.criteria.len() + 1;
    let closing = 9.0;
    let avail = bottom - closing - opts.min_comment_mm - 8.0 - table_top - header_h;
    let row_h = ((avail / n_rows as f64) * 2.0).floor() / 2.0;
    let row_h = row_h.min(opts.max_row_mm);
    if row_h < opts.min_row_mm {
        return Err(bad(format!(
            "{} rows need at least {:.0} mm of table but the page leaves {:.0} mm; use fewer criteria, \
             a taller page or shorter header",
            n_rows,
            n_rows as f64 * opts.min_row_mm,
            avail
        )));
    }
    let letters = "abcdefghi";
    let mut rows = vec![];
    let row_specs = d
        .criteria
        .iter()
        .enumerate()
        .map(|(i, c)| {
            (
                format!("c{}", i + 1),
                Some(i as u32 + 1),
                &c.label,
                &c.options,
            )
        })
        .chain(std::iter::once((
            "overall".to_string(),
            None,
            &d.overall.label,
            &d.overall.options,
        )));
    for (i, (id, number, label, own)) in row_specs.enumerate() {
        let y0 = table_top + header_h + i as f64 * row_h;
        let band = [x0, y0, x1, y0 + row_h];
        let scale = own.as_ref().unwrap_or(&d.scale);
        if scale.len() != k {
            return Err(bad(format!(
                "row {id} has {} options but the scale has {k}; every row has one box per option column",
                scale.len()
            )));
        }
        let face = if number.is_none() {
            &fonts.bold
        } else {
            &fonts.regular
        };
        let lines = wrap(face, label, LABEL_PT, crit_w - 3.0);
        if lines.len() as f64 * LABEL_LINE_MM > row_h - 1.5 {
            return Err(bad(format!(
                "row {id}: \"{label}\" needs {} lines, the {row_h} mm row holds {}; shorten it",
                lines.len(),
                ((row_h - 1.5) / LABEL_LINE_MM).floor()
            )));
        }
        let mid = y0 + row_h / 2.0;
        let bs = opts.box_mm;
        let mut options = vec![];
        for (j, (o, col)) in scale.iter().zip(&option_cols).enumerate() {
            // Box and label sit closer together than on the built-in forms' wide columns, so narrow columns
            // keep room for their labels.
            let bx = round2(col[0] + 1.5);
            let by = round2(mid - bs / 2.0);
            let lx = round2(bx + bs + 1.5);
            let width = col[1] - lx - 0.8;
            let lines = wrap(&fonts.regular, &o.label, OPTION_PT, width);
            let n = lines.len() as f64;
            // The label's lines are centred on the box.
            let em = pt_mm(OPTION_PT);
            let label_at = [
                lx,
                round2(mid + em * CAP / 2.0 - (n - 1.0) * OPTION_LINE_MM / 2.0),
            ];
            let last_baseline = label_at[1] + (n - 1.0) * OPTION_LINE_MM;
            let widest = lines
                .iter()
                .map(|l| text_width_mm(&fonts.regular, l, OPTION_PT))
                .fold(0.0, f64::max);
            if widest > width
                || label_at[1] - em * CAP < band[1] + 0.5
                || last_baseline + em * DESC > band[3] - 0.5
            {
                return Err(bad(format!(
                    "row {id}: the option label \"{}\" does not fit its {:.1} mm column; shorten it",
                    o.label,
                    col[1] - col[0]
                )));
            }
            options.push(OptionSpec {
                id: letters[j..j + 1].to_string(),
                label: o.label.clone(),
                score: o.score,
                bbox: [bx, by, round2(bx + bs), round2(by + bs)],
                label_at,
            });
        }
        rows.push(RowSpec {
            id,
            number,
            label: label.clone(),
            band,
            options,
        });
    }
    let table_bottom = table_top + header_h + n_rows as f64 * row_h;
    let overall = rows.last().expect("overall row");
    let mut satisfied = vec![];
    for s in &d.overall.satisfied {
        match overall.options.iter().find(|o| &o.label == s) {
            Some(o) => satisfied.push(o.id.clone()),
            None => {
                return Err(bad(format!(
                    "overall.satisfied names \"{s}\", which is not an option of the overall row"
                )))
            }
        }
    }
    texts.push(TextSpec {
        text: "Ý kiến góp ý khác (nếu có):".into(),
        x: x0,
        y: table_bottom + 6.0,
        pt: 9.0,
        bold: true,
        italic: false,
        align: None,
    });
    let comment_box = [x0, table_bottom + 8.0, x1, bottom - closing];
    texts.push(TextSpec {
        text: "Xin trân trọng cảm ơn Ông/Bà!".into(),
        x: pw / 2.0,
        y: bottom - 3.0,
        pt: 9.0,
        bold: false,
        italic: true,
        align: Some("center".into()),
    });
    let qr_blank = d.qr.clone().unwrap_or_else(|| {
        let mut q = format!("PDG1;T={}", d.id.to_uppercase());
        if d.version > 1 {
            q.push_str(&format!(";V={}", d.version));
        }
        q
    });
    let dossier = fields.iter().find(|f| f.role() == FieldRole::DossierCode);
    let t = Template {
        spec: "phieu-form/1".into(),
        template_id: d.id.clone(),
        form_code: d.form_code.clone(),
        version: d.version,
        department: d.department.clone(),
        page_mm: [pw, ph],
        markers,
        marker_quiet_zone_mm: quiet,
        qr: QrSpec {
            bbox: qr_box,
            content_when_prefilled: dossier.map(|f| format!("{qr_blank};HS=<{}>", f.id)),
            content: qr_blank,
        },
        texts,
        fields,
        table: TableSpec {
            top: table_top,
            header_height: header_h,
            row_height: row_h,
            columns: TableColumns {
                stt,
                criterion,
                options: option_cols,
            },
            header: vec![
                "STT".into(),
                "Tiêu chí đánh giá".into(),
                "Mức đánh giá (chọn một ô)".into(),
            ],
            line_mm: 0.3,
        },
        checkbox: CheckboxSpec {
            size: opts.box_mm,
            line_mm: 0.35,
        },
        rows,
        satisfaction: Some(SatisfactionSpec {
            row: "overall".into(),
            satisfied,
        }),
        comment_box,
    };
    // The same checks as any template file, then the print rules.
    let json = serde_json::to_string(&t).expect("a template serialises");
    let t = Template::from_json(&json, origin).map_err(|e| bad(e.to_string()))?;
    let problems = print_problems(&t, &fonts);
    if let Some(p) = problems.first() {
        return Err(bad(p.clone()));
    }
    Ok(t)
}

/// A printed thing's extent, for the overlap check.
struct Ink {
    what: String,
    b: BoxMm,
}

fn overlap(a: &BoxMm, b: &BoxMm) -> bool {
    a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3]
}

/// The print rules every form must keep, whoever wrote it: every text, field, the QR and the table stay on the
/// page, clear of the corner markers' quiet zones and of each other; texts fit beside their fields. Returns one
/// line per problem (empty when the form is printable).
pub fn print_problems(t: &Template, fonts: &Fonts) -> Vec<String> {
    let mut out = vec![];
    let [pw, ph] = t.page_mm;
    let mut inks: Vec<Ink> = vec![];
    for m in &t.markers {
        let h = m.size / 2.0 + t.marker_quiet_zone_mm;
        inks.push(Ink {
            what: format!("marker `{}` and its quiet zone", m.id),
            b: [
                m.center[0] - h,
                m.center[1] - h,
                m.center[0] + h,
                m.center[1] + h,
            ],
        });
    }
    inks.push(Ink {
        what: "the QR".into(),
        b: t.qr.bbox,
    });
    for f in &t.fields {
        inks.push(Ink {
            what: format!("field `{}`", f.id),
            b: f.bbox,
        });
    }
    let tb = &t.table;
    let table_box = [
        tb.columns.stt[0],
        tb.top,
        tb.columns
            .options
            .last()
            .map_or(tb.columns.criterion[1], |o| o[1]),
        t.table_rules_y().last().copied().unwrap_or(tb.top),
    ];
    inks.push(Ink {
        what: "the table".into(),
        b: table_box,
    });
    inks.push(Ink {
        what: "the comment box".into(),
        b: t.comment_box,
    });
    for tx in &t.texts {
        let f = fonts.face(tx.bold, tx.italic && !tx.bold);
        let pt = fitted_pt(t, tx, f);
        let w = text_width_mm(f, &tx.text, pt);
        let x = if tx.align.as_deref() == Some("center") {
            tx.x - w / 2.0
        } else {
            tx.x
        };
        let em = pt_mm(pt);
        inks.push(Ink {
            what: format!("the text \"{}\"", tx.text),
            b: [x, tx.y - em * CAP, x + w, tx.y + em * DESC],
        });
    }
    for i in &inks {
        if i.b[0] < 0.0 || i.b[1] < 0.0 || i.b[2] > pw || i.b[3] > ph {
            out.push(format!("{} runs off the page", i.what));
        }
    }
    for (n, a) in inks.iter().enumerate() {
        for b in &inks[n + 1..] {
            // Marker quiet zones may touch each other on a small page only if the markers do not.
            if overlap(&a.b, &b.b) {
                out.push(format!("{} overlaps {}", a.what, b.what));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scale(labels: &[(&str, i32)]) -> Vec<OptionDesc> {
        labels
            .iter()
            .map(|(l, s)| OptionDesc {
                label: l.to_string(),
                score: *s,
            })
            .collect()
    }

    fn desc(criteria: usize, options: usize) -> FormDescription {
        let five = [
            ("Rất tốt", 4),
            ("Tốt", 3),
            ("Bình thường", 2),
            ("Kém", 1),
            ("Rất kém", 0),
        ];
        FormDescription {
            id: "tnmt".into(),
            form_code: "PĐG-TNMT".into(),
            version: 1,
            department: "Sở Tài nguyên và Môi trường".into(),
            page_mm: None,
            header: vec![
                "TRUNG TÂM PHỤC VỤ HÀNH CHÍNH CÔNG TỈNH QUẢNG NGÃI".into(),
                "Quầy Sở Tài nguyên và Môi trường".into(),
            ],
            title: None,
            subtitle: Some("về việc giải quyết thủ tục hành chính".into()),
            instructions: Some("Ông/Bà vui lòng đánh dấu X vào MỘT ô cho mỗi tiêu chí.".into()),
            qr: None,
            scale: scale(&five[..options]),
            fields: vec![FieldDesc {
                id: "so_ho_so".into(),
                label: "Số hồ sơ".into(),
                role: FieldRole::DossierCode,
                pattern: r"^TN\d{2}-\d{6}-\d{5}$".into(),
                example: "TN51-250701-00001".into(),
                date: None,
            }],
            criteria: (0..criteria)
                .map(|i| CriterionDesc {
                    label: format!("Tiêu chí số {} về việc tiếp nhận hồ sơ", i + 1),
                    options: None,
                })
                .collect(),
            overall: OverallDesc {
                label: "Đánh giá chung".into(),
                options: None,
                satisfied: vec!["Rất tốt".into(), "Tốt".into()],
            },
            markers: None,
        }
    }

    #[test]
    fn built_in_forms_keep_the_print_rules() {
        let fonts = Fonts::new();
        for t in Template::builtins() {
            assert_eq!(
                print_problems(&t, &fonts),
                Vec::<String>::new(),
                "{}",
                t.template_id
            );
        }
    }

    #[test]
    fn twelve_criteria_with_five_options_fit_on_a4() {
        let t = lay_out(&desc(12, 5), Path::new("d.toml"), &LayoutOptions::default()).unwrap();
        assert_eq!(t.rows.len(), 13);
        assert!(t.rows.iter().all(|r| r.options.len() == 5));
        assert_eq!(t.max_score(), 48);
        assert_eq!(t.satisfaction.as_ref().unwrap().satisfied, ["a", "b"]);
        assert_eq!(t.qr.content, "PDG1;T=TNMT");
        assert_eq!(
            t.qr.content_when_prefilled.as_deref(),
            Some("PDG1;T=TNMT;HS=<so_ho_so>")
        );
        assert!(print_problems(&t, &Fonts::new()).is_empty());
    }

    #[test]
    fn a_second_version_says_so_in_its_qr() {
        let mut d = desc(9, 3);
        d.version = 2;
        let t = lay_out(&d, Path::new("d.toml"), &LayoutOptions::default()).unwrap();
        assert_eq!(t.qr.content, "PDG1;T=TNMT;V=2");
    }

    #[test]
    fn too_many_criteria_is_an_error_that_says_what_to_change() {
        let e = lay_out(&desc(30, 3), Path::new("d.toml"), &LayoutOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("d.toml: 31 rows need"), "{e}");
        assert!(e.contains("fewer criteria"), "{e}");
    }

    #[test]
    fn a_label_too_long_for_its_column_is_named() {
        let mut d = desc(5, 5);
        d.scale[2].label = "Không có ý kiến gì về tiêu chí này cả".into();
        let e = lay_out(&d, Path::new("d.toml"), &LayoutOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("Không có ý kiến"), "{e}");
    }

    #[test]
    fn markers_too_near_the_edge_are_refused() {
        let mut d = desc(5, 3);
        d.markers = Some(MarkersDesc {
            inset_mm: 10.0,
            size_mm: 7.0,
            disc: "bl".into(),
        });
        let e = lay_out(&d, Path::new("d.toml"), &LayoutOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("at least 14 mm"), "{e}");
        d.markers.as_mut().unwrap().inset_mm = 15.0;
        let t = lay_out(&d, Path::new("d.toml"), &LayoutOptions::default()).unwrap();
        assert_eq!(t.marker("bl").shape, "disc");
    }

    #[test]
    fn satisfied_must_name_an_option() {
        let mut d = desc(5, 3);
        d.overall.satisfied = vec!["Tuyệt vời".into()];
        let e = lay_out(&d, Path::new("d.toml"), &LayoutOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("Tuyệt vời"), "{e}");
    }

    #[test]
    fn overlapping_texts_are_found() {
        let mut t = Template::builtin("gtvt").unwrap();
        t.texts[1].y = t.texts[0].y;
        t.texts[1].x = t.texts[0].x;
        let p = print_problems(&t, &Fonts::new());
        assert!(p.iter().any(|p| p.contains("overlaps")), "{p:?}");
    }
}
