//! Form templates as data: the `phieu-form/1` geometry (millimetres, A4, origin top-left) of each form we read.
//!
//! The two forms the center prints are compiled in (`gtvt`, `khdt`); `--template FILE` loads another file of
//! the same format. Every later stage works in template millimetres; dpi is only a property of a scan.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Errors loading or validating a template.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The file could not be read.
    #[error("{path}: cannot read template: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The JSON did not parse as `phieu-form/1`.
    #[error("{path}: not a phieu-form/1 template: {source}")]
    Parse {
        /// File.
        path: PathBuf,
        /// Cause.
        source: serde_json::Error,
    },
    /// The geometry is inconsistent.
    #[error("{path}: invalid template: {reason}")]
    Invalid {
        /// File.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// No template with that id.
    #[error("unknown template id `{0}` (built in: gtvt, khdt)")]
    UnknownId(String),
}

/// A box `[x0, y0, x1, y1]` in mm.
pub type BoxMm = [f64; 4];

/// One corner marker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Marker {
    /// `tl`, `tr`, `bl` or `br`.
    pub id: String,
    /// `square` or `disc`.
    pub shape: String,
    /// Centre, mm.
    pub center: [f64; 2],
    /// Side or diameter, mm.
    pub size: f64,
}

/// The QR code's place and content.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QrSpec {
    /// Where the QR is printed.
    #[serde(rename = "box")]
    pub bbox: BoxMm,
    /// Content of a blank form.
    pub content: String,
    /// Content of a prefilled form: literal text with `<field_id>` where a field's value goes
    /// (`PDG1;T=GTVT;HS=<dossier_code>`).
    #[serde(default)]
    pub content_when_prefilled: Option<String>,
}

impl QrSpec {
    /// The payload printed for these field values: the prefilled form when every placeholder has a value,
    /// else the blank form's.
    pub fn payload(&self, values: &std::collections::BTreeMap<String, String>) -> String {
        let Some(p) = &self.content_when_prefilled else {
            return self.content.clone();
        };
        let mut out = String::new();
        for (lit, field) in split_placeholders(p) {
            out.push_str(lit);
            if let Some(f) = field {
                match values.get(f) {
                    Some(v) => out.push_str(v),
                    None => return self.content.clone(),
                }
            }
        }
        out
    }

    /// The field values a payload carries, when it is this form's (blank or prefilled); `None` otherwise.
    pub fn parse(&self, content: &str) -> Option<std::collections::BTreeMap<String, String>> {
        let mut values = std::collections::BTreeMap::new();
        if content == self.content {
            return Some(values);
        }
        let parts = split_placeholders(self.content_when_prefilled.as_deref()?);
        let mut rest = content;
        for (i, (lit, field)) in parts.iter().enumerate() {
            rest = rest.strip_prefix(lit)?;
            let Some(f) = field else { continue };
            // A value runs to the next literal (or the end); values never contain the separator after them.
            let next = parts.get(i + 1).map(|p| p.0).filter(|l| !l.is_empty());
            let end = match next {
                Some(l) => rest.find(l)?,
                None => rest.len(),
            };
            if end == 0 {
                return None;
            }
            values.insert(f.to_string(), rest[..end].to_string());
            rest = &rest[end..];
        }
        rest.is_empty().then_some(values)
    }

    /// The field ids a prefilled payload carries.
    pub fn fields(&self) -> Vec<&str> {
        self.content_when_prefilled
            .as_deref()
            .map(|p| {
                split_placeholders(p)
                    .into_iter()
                    .filter_map(|(_, f)| f)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// `lit<a>lit<b>lit` → [(lit, Some(a)), (lit, Some(b)), (lit, None)].
fn split_placeholders(p: &str) -> Vec<(&str, Option<&str>)> {
    let mut out = vec![];
    let mut rest = p;
    while let Some(i) = rest.find('<') {
        match rest[i..].find('>') {
            Some(j) => {
                out.push((&rest[..i], Some(&rest[i + 1..i + j])));
                rest = &rest[i + j + 1..];
            }
            None => break,
        }
    }
    out.push((rest, None));
    out
}

/// A printed text.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TextSpec {
    /// The text (Vietnamese, NFC).
    pub text: String,
    /// Left x (or centre x when `align` is `center`), mm.
    pub x: f64,
    /// Baseline y, mm.
    pub y: f64,
    /// Size in points.
    pub pt: f64,
    /// Bold face.
    #[serde(default)]
    pub bold: bool,
    /// Italic face.
    #[serde(default)]
    pub italic: bool,
    /// `left` (default) or `center`.
    #[serde(default)]
    pub align: Option<String>,
}

/// Where prefilled field text is printed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PrintedText {
    /// Left x, mm.
    pub x: f64,
    /// Baseline y, mm.
    pub y: f64,
    /// Size in points.
    pub pt: f64,
}

/// What a code field means to the center, which decides how it is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldRole {
    /// The dossier code: ties the rating to an officer; checked against the QR's `HS=`, its date, the agency
    /// list and the returned-dossiers list.
    DossierCode,
    /// The enterprise (business registration) code.
    EnterpriseCode,
    /// Any other code: checked against its pattern only.
    Code,
}

/// Where a code carries a date (the dossier code's day of receipt): the code split on `separator`, piece
/// `segment` (from 0), written as `format` (`yymmdd`, `yyyymmdd` or `ddmmyy`). The date is checked (a real day,
/// not after the scan) and reports group ratings by it when the returned list does not give the day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DateSpec {
    /// What the code is split on.
    pub separator: String,
    /// Which piece holds the date, from 0.
    pub segment: usize,
    /// `yymmdd`, `yyyymmdd` or `ddmmyy`.
    pub format: String,
}

impl DateSpec {
    /// The date in `code` as (year, month, day) when that piece is a real calendar day; years are 2000-based
    /// for two-digit formats.
    pub fn date_of(&self, code: &str) -> Option<(i32, u32, u32)> {
        if self.separator.is_empty() {
            return None;
        }
        let piece = code.split(self.separator.as_str()).nth(self.segment)?;
        if !piece.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let num = |r: std::ops::Range<usize>| piece.get(r)?.parse::<u32>().ok();
        let (y, m, d) = match (self.format.as_str(), piece.len()) {
            ("yymmdd", 6) => (2000 + num(0..2)? as i32, num(2..4)?, num(4..6)?),
            ("ddmmyy", 6) => (2000 + num(4..6)? as i32, num(2..4)?, num(0..2)?),
            ("yyyymmdd", 8) => (num(0..4)? as i32, num(4..6)?, num(6..8)?),
            _ => return None,
        };
        let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let dim = match m {
            2 if leap => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            1..=12 => 31,
            _ => return None,
        };
        (1..=dim).contains(&d).then_some((y, m, d))
    }
}

/// A text field (dossier code, enterprise code).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FieldSpec {
    /// Field id, e.g. `dossier_code`.
    pub id: String,
    /// What the field means (default: from the id for the two known fields, else a plain code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<FieldRole>,
    /// Printed label.
    pub label: String,
    /// The field's outline, mm.
    #[serde(rename = "box")]
    pub bbox: BoxMm,
    /// Regex the value must match.
    pub pattern: String,
    /// Where the value carries a date, if it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<DateSpec>,
    /// An example value.
    pub example: String,
    /// Where the one-stop system prints the value.
    pub printed_text: PrintedText,
}

/// The rating table's frame.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableSpec {
    /// Top line, mm.
    pub top: f64,
    /// Header row height, mm.
    pub header_height: f64,
    /// Rating row height, mm.
    pub row_height: f64,
    /// Column x-ranges.
    pub columns: TableColumns,
    /// Header texts.
    pub header: Vec<String>,
    /// Line width, mm.
    pub line_mm: f64,
}

/// Column x-ranges of the table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableColumns {
    /// Row number column.
    pub stt: [f64; 2],
    /// Criterion text column.
    pub criterion: [f64; 2],
    /// The three option columns.
    pub options: Vec<[f64; 2]>,
}

/// Checkbox drawing parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckboxSpec {
    /// Side, mm.
    pub size: f64,
    /// Outline width, mm.
    pub line_mm: f64,
}

/// One option (checkbox) of a row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OptionSpec {
    /// `a`, `b` or `c`.
    pub id: String,
    /// Printed label.
    pub label: String,
    /// Points.
    pub score: i32,
    /// Checkbox outline, mm.
    #[serde(rename = "box")]
    pub bbox: BoxMm,
    /// Label anchor (left, baseline), mm.
    pub label_at: [f64; 2],
}

/// One rating row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RowSpec {
    /// `c1`..`c9` or `overall`.
    pub id: String,
    /// Printed number, if any.
    pub number: Option<u32>,
    /// Criterion text.
    pub label: String,
    /// The row's band, mm.
    pub band: BoxMm,
    /// The options, in printed order.
    pub options: Vec<OptionSpec>,
}

impl FieldSpec {
    /// The field's role: as written, or for files that predate roles, from the two ids they used.
    pub fn role(&self) -> FieldRole {
        self.role.unwrap_or(match self.id.as_str() {
            "dossier_code" => FieldRole::DossierCode,
            "enterprise_code" => FieldRole::EnterpriseCode,
            _ => FieldRole::Code,
        })
    }
}

/// A whole form template (`phieu-form/1`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Template {
    /// Format tag, `phieu-form/1`.
    pub spec: String,
    /// Template id (`gtvt`, `khdt`).
    pub template_id: String,
    /// Printed form code.
    pub form_code: String,
    /// Layout version.
    pub version: u32,
    /// Department name.
    pub department: String,
    /// Page size, mm.
    pub page_mm: [f64; 2],
    /// Corner markers.
    pub markers: Vec<Marker>,
    /// Quiet zone around each marker, mm.
    pub marker_quiet_zone_mm: f64,
    /// QR code.
    pub qr: QrSpec,
    /// Printed texts.
    pub texts: Vec<TextSpec>,
    /// Code fields.
    pub fields: Vec<FieldSpec>,
    /// Rating table.
    pub table: TableSpec,
    /// Checkbox style.
    pub checkbox: CheckboxSpec,
    /// Rating rows.
    pub rows: Vec<RowSpec>,
    /// Which row's answers say whether the citizen is satisfied, and which of its options count as satisfied
    /// (the report's satisfaction rate); a form without it has no satisfaction figure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub satisfaction: Option<SatisfactionSpec>,
    /// Free comment box.
    pub comment_box: BoxMm,
}

/// The satisfaction rule of a form.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SatisfactionSpec {
    /// The row (`overall` on the center's forms).
    pub row: String,
    /// Its options that count as satisfied (`a` very satisfied, `b` satisfied).
    pub satisfied: Vec<String>,
}

const GTVT: &str = include_str!("templates/gtvt.json");
const KHDT: &str = include_str!("templates/khdt.json");

impl Template {
    /// Parses and validates a template from JSON text; `origin` names it in errors.
    pub fn from_json(text: &str, origin: &Path) -> Result<Template, TemplateError> {
        let t: Template = serde_json::from_str(text).map_err(|source| TemplateError::Parse {
            path: origin.to_path_buf(),
            source,
        })?;
        t.validate(origin)?;
        Ok(t)
    }

    /// Loads a template file.
    pub fn load(path: &Path) -> Result<Template, TemplateError> {
        let text = std::fs::read_to_string(path).map_err(|source| TemplateError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json(&text, path)
    }

    /// A built-in template by id.
    pub fn builtin(id: &str) -> Result<Template, TemplateError> {
        let text = match id {
            "gtvt" => GTVT,
            "khdt" => KHDT,
            _ => return Err(TemplateError::UnknownId(id.to_string())),
        };
        Self::from_json(text, Path::new(&format!("<builtin {id}>")))
    }

    /// Both built-in templates.
    pub fn builtins() -> Vec<Template> {
        ["gtvt", "khdt"]
            .iter()
            .map(|id| Self::builtin(id).expect("built-in templates are valid"))
            .collect()
    }

    fn validate(&self, origin: &Path) -> Result<(), TemplateError> {
        let bad = |reason: String| TemplateError::Invalid {
            path: origin.to_path_buf(),
            reason,
        };
        if self.spec != "phieu-form/1" {
            return Err(bad(format!(
                "spec is `{}`, expected phieu-form/1",
                self.spec
            )));
        }
        let [pw, ph] = self.page_mm;
        if !(pw > 0.0 && ph > 0.0) {
            return Err(bad(format!("page size {pw} x {ph} mm")));
        }
        let inside = |b: &BoxMm| b[0] >= 0.0 && b[1] >= 0.0 && b[2] <= pw && b[3] <= ph;
        let nonempty = |b: &BoxMm| b[2] > b[0] && b[3] > b[1];
        for id in ["tl", "tr", "bl", "br"] {
            if self.markers.iter().filter(|m| m.id == id).count() != 1 {
                return Err(bad(format!("marker `{id}` must appear exactly once")));
            }
        }
        if self.markers.len() != 4 {
            return Err(bad(format!(
                "{} markers; a form has the four corners",
                self.markers.len()
            )));
        }
        if self.markers.iter().filter(|m| m.shape == "disc").count() != 1
            || self
                .markers
                .iter()
                .any(|m| m.shape != "disc" && m.shape != "square")
        {
            return Err(bad(
                "markers must be three squares and one disc (the disc tells the orientation)"
                    .into(),
            ));
        }
        if crate::read::register::MarkerLayout::of(self).is_none() {
            return Err(bad("markers must all have the same size".into()));
        }
        for m in &self.markers {
            let h = m.size / 2.0;
            let b = [
                m.center[0] - h,
                m.center[1] - h,
                m.center[0] + h,
                m.center[1] + h,
            ];
            if m.size <= 0.0 || !inside(&b) {
                return Err(bad(format!("marker `{}` lies off the page", m.id)));
            }
        }
        if !nonempty(&self.qr.bbox) || !inside(&self.qr.bbox) {
            return Err(bad("the QR box is empty or off the page".into()));
        }
        if self.rows.is_empty() {
            return Err(bad("no rating rows".into()));
        }
        let mut row_ids = std::collections::BTreeSet::new();
        for r in &self.rows {
            if !row_ids.insert(r.id.as_str()) {
                return Err(bad(format!("row id `{}` is used twice", r.id)));
            }
            if r.options.is_empty() {
                return Err(bad(format!("row `{}` has no options", r.id)));
            }
            if r.options.len() != self.table.columns.options.len() {
                return Err(bad(format!(
                    "row `{}` has {} options but the table has {} option columns",
                    r.id,
                    r.options.len(),
                    self.table.columns.options.len()
                )));
            }
            let mut option_ids = std::collections::BTreeSet::new();
            for o in &r.options {
                if !option_ids.insert(o.id.as_str()) {
                    return Err(bad(format!(
                        "row `{}`: option id `{}` is used twice",
                        r.id, o.id
                    )));
                }
                if !nonempty(&o.bbox) {
                    return Err(bad(format!(
                        "row `{}` option `{}` has an empty box",
                        r.id, o.id
                    )));
                }
                let b = o.bbox;
                let band = r.band;
                if !inside(&b)
                    || b[0] < band[0]
                    || b[2] > band[2]
                    || b[1] < band[1]
                    || b[3] > band[3]
                {
                    return Err(bad(format!(
                        "row `{}` option `{}`: the box is not inside the row's band",
                        r.id, o.id
                    )));
                }
                if o.score < 0 {
                    return Err(bad(format!(
                        "row `{}` option `{}`: negative points",
                        r.id, o.id
                    )));
                }
            }
        }
        let mut field_ids = std::collections::BTreeSet::new();
        for f in &self.fields {
            if !field_ids.insert(f.id.as_str()) {
                return Err(bad(format!("field id `{}` is used twice", f.id)));
            }
            if !nonempty(&f.bbox) || !inside(&f.bbox) {
                return Err(bad(format!(
                    "field `{}`: the box is empty or off the page",
                    f.id
                )));
            }
            regex_lite_check(&f.pattern).map_err(|e| bad(format!("field `{}`: {e}", f.id)))?;
            let p = crate::read::validate::CodePattern::from_regex(&f.pattern)
                .map_err(|e| bad(format!("field `{}`: {e}", f.id)))?;
            if !p.matches(&f.example) {
                return Err(bad(format!(
                    "field `{}`: the example `{}` does not match its own pattern",
                    f.id, f.example
                )));
            }
            if let Some(d) = &f.date {
                if !["yymmdd", "yyyymmdd", "ddmmyy"].contains(&d.format.as_str()) {
                    return Err(bad(format!(
                        "field `{}`: date format `{}`; use yymmdd, yyyymmdd or ddmmyy",
                        f.id, d.format
                    )));
                }
                if d.date_of(&f.example).is_none() {
                    return Err(bad(format!(
                        "field `{}`: the example `{}` has no {} date in piece {} after splitting on `{}`",
                        f.id, f.example, d.format, d.segment, d.separator
                    )));
                }
            }
        }
        for role in [FieldRole::DossierCode, FieldRole::EnterpriseCode] {
            if self.fields.iter().filter(|f| f.role() == role).count() > 1 {
                return Err(bad(format!("two fields have the role {role:?}")));
            }
        }
        if let Some(sat) = &self.satisfaction {
            let Some(row) = self.rows.iter().find(|r| r.id == sat.row) else {
                return Err(bad(format!(
                    "satisfaction row `{}` is not a row of the form",
                    sat.row
                )));
            };
            for o in &sat.satisfied {
                if !row.options.iter().any(|x| &x.id == o) {
                    return Err(bad(format!(
                        "satisfaction option `{o}` is not an option of row `{}`",
                        row.id
                    )));
                }
            }
        }
        for id in self.qr.fields() {
            if !field_ids.contains(id) {
                return Err(bad(format!(
                    "the QR format names `<{id}>`, which is no field of the form"
                )));
            }
        }
        Ok(())
    }

    /// The form's identity among the known forms: id and version (version 1 and 2 of a form are read side by
    /// side, each with its own layout and QR).
    pub fn key(&self) -> (String, u32) {
        (self.template_id.clone(), self.version)
    }

    /// How a person names the form (review's `keep:NAME`): its id, with `@VERSION` from version 2 on.
    pub fn reference(&self) -> String {
        if self.version == 1 {
            self.template_id.clone()
        } else {
            format!("{}@{}", self.template_id, self.version)
        }
    }

    /// The form a [`Template::reference`] names (`gtvt`, `gtvt@2`) among `forms`.
    pub fn by_reference<'a>(forms: &'a [Template], name: &str) -> Option<&'a Template> {
        match name.split_once('@') {
            Some((id, v)) => Self::find(forms, id, Some(v.parse().ok()?)),
            None => Self::find(forms, name, None),
        }
    }

    /// The form `id` in `version` among `forms`; with no version (a record that predates versions), the
    /// lowest version of that id.
    pub fn find<'a>(forms: &'a [Template], id: &str, version: Option<u32>) -> Option<&'a Template> {
        forms
            .iter()
            .filter(|t| t.template_id == id && version.is_none_or(|v| t.version == v))
            .min_by_key(|t| t.version)
    }

    /// The marker with id `id` (`tl`, `tr`, `bl`, `br`).
    pub fn marker(&self, id: &str) -> &Marker {
        self.markers.iter().find(|m| m.id == id).expect("validated")
    }

    /// Marker centres in the order tl, tr, bl, br.
    pub fn marker_centers(&self) -> [[f64; 2]; 4] {
        ["tl", "tr", "bl", "br"].map(|id| self.marker(id).center)
    }

    /// The y positions (mm) of the horizontal table rules: top, below the header, and below each row.
    pub fn table_rules_y(&self) -> Vec<f64> {
        let mut ys = vec![self.table.top, self.table.top + self.table.header_height];
        ys.extend(self.rows.iter().map(|r| r.band[3]));
        ys
    }

    /// The field with `role`, if the form has one.
    pub fn field_with_role(&self, role: FieldRole) -> Option<&FieldSpec> {
        self.fields.iter().find(|f| f.role() == role)
    }

    /// The rows that are criteria (the numbered rows): their points sum to the form's score.
    pub fn criteria(&self) -> impl Iterator<Item = &RowSpec> {
        self.rows.iter().filter(|r| r.number.is_some())
    }

    /// The score: the sum of the chosen options' points over every criterion, defined only when every
    /// criterion has an accepted answer (`choice(row_id)`); a skipped criterion leaves it undefined. One rule
    /// for the results and the final records.
    pub fn score<'a>(&self, choice: impl Fn(&str) -> Option<&'a str>) -> Option<i32> {
        self.criteria()
            .map(|r| {
                let c = choice(&r.id)?;
                r.options.iter().find(|o| o.id == c).map(|o| o.score)
            })
            .sum()
    }

    /// The highest score the form allows (the best option of every criterion).
    pub fn max_score(&self) -> i32 {
        self.criteria()
            .map(|r| r.options.iter().map(|o| o.score).max().unwrap_or(0))
            .sum()
    }

    /// The field with id `id`.
    pub fn field(&self, id: &str) -> Option<&FieldSpec> {
        self.fields.iter().find(|f| f.id == id)
    }

    /// Every checkbox as (row id, option id, box).
    pub fn boxes(&self) -> impl Iterator<Item = (&str, &str, BoxMm)> {
        self.rows.iter().flat_map(|r| {
            r.options
                .iter()
                .map(move |o| (r.id.as_str(), o.id.as_str(), o.bbox))
        })
    }
}

/// Only the regex subset our patterns use is needed downstream; check it compiles there.
fn regex_lite_check(p: &str) -> Result<(), String> {
    crate::read::validate::CodePattern::from_regex(p).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_match_the_shared_spec_geometry() {
        let g = Template::builtin("gtvt").unwrap();
        let k = Template::builtin("khdt").unwrap();
        assert_eq!(g.rows.len(), 10);
        assert_eq!(g.boxes().count(), 30);
        assert_eq!(g.table.top, 70.0);
        assert_eq!(k.table.top, 81.0);
        assert_eq!(k.fields.len(), 2);
        assert_eq!(g.marker("br").shape, "disc");
        assert_eq!(g.table_rules_y().len(), 12);
    }

    #[test]
    fn invalid_template_is_an_error_naming_the_file() {
        let mut v: serde_json::Value = serde_json::from_str(GTVT).unwrap();
        v["markers"].as_array_mut().unwrap().pop();
        let err = Template::from_json(&v.to_string(), Path::new("x.json")).unwrap_err();
        assert!(err.to_string().contains("x.json"));
        assert!(Template::builtin("nope").is_err());
    }

    fn invalid(edit: impl Fn(&mut serde_json::Value)) -> String {
        let mut v: serde_json::Value = serde_json::from_str(GTVT).unwrap();
        edit(&mut v);
        match Template::from_json(&v.to_string(), Path::new("t.json")) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("accepted"),
        }
    }

    #[test]
    fn validation_names_what_is_wrong() {
        assert!(invalid(|v| v["rows"][1]["id"] = "c1".into()).contains("row id `c1` is used twice"));
        assert!(invalid(|v| v["rows"][0]["options"][1]["id"] = "a".into()).contains("used twice"));
        assert!(invalid(|v| {
            v["rows"][0]["options"].as_array_mut().unwrap().pop();
        })
        .contains("option columns"));
        assert!(
            invalid(|v| v["rows"][0]["options"][0]["score"] = (-1).into()).contains("negative")
        );
        assert!(invalid(|v| v["rows"][0]["options"][0]["box"][1] = 0.into()).contains("band"));
        assert!(invalid(|v| v["markers"][0]["shape"] = "disc".into()).contains("one disc"));
        assert!(invalid(|v| v["markers"][0]["size"] = 9.into()).contains("same size"));
        assert!(invalid(|v| v["fields"][0]["example"] = "x".into()).contains("does not match"));
        assert!(
            invalid(|v| v["qr"]["content_when_prefilled"] = "P;HS=<nope>".into())
                .contains("<nope>")
        );
        assert!(invalid(|v| v["qr"]["box"][2] = 400.into()).contains("QR box"));
    }

    #[test]
    fn qr_formats_round_trip_field_values() {
        let t = Template::builtin("gtvt").unwrap();
        let mut v = std::collections::BTreeMap::new();
        assert_eq!(t.qr.payload(&v), "PDG1;T=GTVT");
        v.insert(
            "dossier_code".to_string(),
            "000.00.17.H48-210426-0001".to_string(),
        );
        let p = t.qr.payload(&v);
        assert_eq!(p, "PDG1;T=GTVT;HS=000.00.17.H48-210426-0001");
        assert_eq!(t.qr.parse(&p), Some(v));
        assert_eq!(t.qr.parse("PDG1;T=KHDT"), None);
        assert_eq!(t.qr.parse("PDG1;T=GTVT;HS="), None);
    }
}
