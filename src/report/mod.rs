//! The director's report (`phieu report`): stored ratings joined on the dossier code to the one-stop system's
//! returned-dossiers export, summed per department, counter, officer and month (forms, distribution of every
//! criterion, mean score, satisfaction rate, evaluation coverage), written as a terminal table, a CSV file and a
//! self-contained printable HTML page with inline SVG charts (no scripts, nothing fetched).

use crate::forms::template::Template;
pub use crate::returned::ReturnedDossier;
use crate::store::db::RatingRow;
use crate::util::csv_escape;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

/// Errors building a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The returned-dossiers file is malformed.
    #[error(transparent)]
    Returned(#[from] crate::returned::ReturnedError),
    /// A `--from` / `--to` date is not `YYYY-MM-DD`.
    #[error("bad date `{0}` (expected YYYY-MM-DD)")]
    Date(String),
}

/// What to report.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// First day included (`YYYY-MM-DD`), on the returned date.
    pub from: Option<String>,
    /// Last day included (`YYYY-MM-DD`).
    pub to: Option<String>,
    /// Counters and officers whose coverage is below this share are listed.
    pub coverage_threshold: f64,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            from: None,
            to: None,
            coverage_threshold: 0.5,
        }
    }
}

/// Checks a `YYYY-MM-DD` date.
pub fn parse_date(s: &str) -> Result<String, ReportError> {
    let b = s.as_bytes();
    let ok = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
        && (1..=12).contains(&s[5..7].parse::<u32>().unwrap_or(0))
        && (1..=31).contains(&s[8..10].parse::<u32>().unwrap_or(0));
    if ok {
        Ok(s.to_string())
    } else {
        Err(ReportError::Date(s.to_string()))
    }
}

/// A form and version: answers are only ever counted together within one.
pub type FormKey = (String, u32);

/// Figures of one group of forms and returned dossiers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Rated forms.
    pub forms: u64,
    /// Forms with every criterion answered (the ones with a score).
    pub scored: u64,
    /// Sum of their scores.
    pub score_sum: i64,
    /// The highest possible scores of the scored forms (one value when every form has the same scale).
    pub score_max: BTreeSet<i64>,
    /// Answers to the satisfaction row (the form's rule), and how many of them count as satisfied.
    pub satisfaction_answered: u64,
    /// Satisfied answers.
    pub satisfied: u64,
    /// Per form version: per row (the form's order), the count of each option (the form's order), then blank.
    pub dist: BTreeMap<FormKey, Vec<Vec<u64>>>,
    /// Returned dossiers.
    pub returned: u64,
    /// Returned dossiers that have a rating.
    pub rated_returned: u64,
}

impl Stats {
    /// Mean score over the scored forms.
    pub fn mean_score(&self) -> Option<f64> {
        (self.scored > 0).then(|| self.score_sum as f64 / self.scored as f64)
    }
    /// The highest score, when every scored form has the same one (18 on the center's forms).
    pub fn score_scale(&self) -> Option<i64> {
        (self.score_max.len() == 1).then(|| *self.score_max.first().unwrap_or(&0))
    }
    /// Satisfied answers over answers to the satisfaction row.
    pub fn satisfaction(&self) -> Option<f64> {
        (self.satisfaction_answered > 0)
            .then(|| self.satisfied as f64 / self.satisfaction_answered as f64)
    }
    /// Rated returned dossiers over returned dossiers.
    pub fn coverage(&self) -> Option<f64> {
        (self.returned > 0).then(|| self.rated_returned as f64 / self.returned as f64)
    }
}

/// How a report row groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Everything.
    Total,
    /// One department.
    Department,
    /// One counter of a department.
    Counter,
    /// One officer at a counter.
    Officer,
    /// One month (of one department, or of all when the department is empty).
    Month,
}

impl Level {
    /// Name used in the CSV.
    pub fn name(self) -> &'static str {
        match self {
            Level::Total => "total",
            Level::Department => "department",
            Level::Counter => "counter",
            Level::Officer => "officer",
            Level::Month => "month",
        }
    }
}

/// One report row.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportRow {
    /// Grouping.
    pub level: Level,
    /// Department (empty = all).
    pub department: String,
    /// Counter (empty = all).
    pub counter: String,
    /// Officer (empty = all).
    pub officer: String,
    /// Month `YYYY-MM` (empty = all).
    pub month: String,
    /// Figures.
    pub stats: Stats,
}

impl ReportRow {
    /// `department / counter[ / officer]`, as the below-threshold lists name a row.
    pub fn who(&self) -> String {
        if self.officer.is_empty() {
            format!("{} / {}", self.department, self.counter)
        } else {
            format!("{} / {} / {}", self.department, self.counter, self.officer)
        }
    }
}

/// A computed report.
#[derive(Debug, Clone)]
pub struct Report {
    /// Rows, sorted by level then key.
    pub rows: Vec<ReportRow>,
    /// Whether a returned-dossiers file was given (counters, officers and coverage need it).
    pub has_returned: bool,
    /// Ratings whose dossier is not in the returned file (counted under counter and officer `(unknown)`).
    pub unmatched: u64,
    /// Conflicting ratings kept aside in the database (not counted).
    pub conflicts: usize,
    /// The options used.
    pub opts: ReportOptions,
    /// The forms the ratings were made on (labels, points and the satisfaction rule come from them).
    pub forms: Vec<Template>,
}

/// Shown for a rating with no returned row.
pub const UNKNOWN: &str = "(unknown)";

/// `YYYY-MM-DD` of the day a dossier code carries, where its form's dossier field says (`...-yymmdd-nnnn` on
/// the built-in forms). A form stored before fields said where their date is falls back to the built-in form of
/// the same id and version.
fn code_date(form: Option<&Template>, code: &str) -> Option<String> {
    use crate::forms::template::{DateSpec, FieldRole};
    let form = form?;
    let spec_of = |t: &Template| -> Option<DateSpec> {
        t.field_with_role(FieldRole::DossierCode)?.date.clone()
    };
    let spec = spec_of(form).or_else(|| {
        Template::builtins()
            .iter()
            .find(|b| b.key() == form.key())
            .and_then(spec_of)
    })?;
    let (y, m, d) = spec.date_of(code)?;
    Some(format!("{y:04}-{m:02}-{d:02}"))
}

/// The form a rating was made on, among the stored forms (then the built-in ones).
fn form_of<'a>(forms: &'a [Template], r: &RatingRow) -> Option<&'a Template> {
    forms
        .iter()
        .find(|t| t.template_id == r.template && t.version == r.form_version)
}

/// Sums the ratings (and the returned dossiers, when given) into report rows. `forms` are the forms the
/// ratings were made on (`db::load_forms`); a rating of a form not among them counts as a form, without answers.
pub fn build(
    ratings: &[RatingRow],
    forms: &[Template],
    returned: Option<&[ReturnedDossier]>,
    conflicts: usize,
    opts: &ReportOptions,
) -> Report {
    let mut forms: Vec<Template> = forms.to_vec();
    for t in Template::builtins() {
        if !forms
            .iter()
            .any(|f| f.template_id == t.template_id && f.version == t.version)
        {
            forms.push(t);
        }
    }
    let in_range = |date: Option<&str>| match (date, &opts.from, &opts.to) {
        (_, None, None) => true,
        (None, _, _) => false,
        (Some(d), f, t) => {
            f.as_deref().is_none_or(|f| d >= f) && t.as_deref().is_none_or(|t| d <= t)
        }
    };
    let by_code: HashMap<&str, &ReturnedDossier> = returned
        .unwrap_or(&[])
        .iter()
        .map(|d| (d.code.as_str(), d))
        .collect();
    let has_returned = returned.is_some();
    let mut groups: BTreeMap<(Level, String, String, String, String), Stats> = BTreeMap::new();
    // Every group a dossier belongs to; counters and officers only exist with a returned file.
    let keys = |dept: &str, counter: &str, officer: &str, month: &str| {
        let s = |x: &str| x.to_string();
        let mut k = vec![
            (Level::Total, s(""), s(""), s(""), s("")),
            (Level::Department, s(dept), s(""), s(""), s("")),
            (Level::Month, s(dept), s(""), s(""), s(month)),
            (Level::Month, s(""), s(""), s(""), s(month)),
        ];
        if has_returned {
            k.push((Level::Counter, s(dept), s(counter), s(""), s("")));
            k.push((Level::Officer, s(dept), s(counter), s(officer), s("")));
        }
        k
    };
    let mut unmatched = 0;
    let mut rated: BTreeSet<&str> = BTreeSet::new();
    for r in ratings {
        rated.insert(r.dossier_code.as_str());
        let ret = by_code.get(r.dossier_code.as_str());
        let date = match ret {
            Some(d) => Some(d.returned.clone()),
            None => code_date(form_of(&forms, r), &r.dossier_code),
        };
        if !in_range(date.as_deref()) {
            continue;
        }
        let month = date
            .as_deref()
            .map_or(UNKNOWN.to_string(), |d| d[..7].to_string());
        let (dept, counter, officer) = match ret {
            Some(d) => (d.department.clone(), d.counter.as_str(), d.officer.as_str()),
            None => {
                unmatched += 1;
                let dept = form_of(&forms, r).map_or(r.template.clone(), |t| t.department.clone());
                (dept, UNKNOWN, UNKNOWN)
            }
        };
        let form = form_of(&forms, r);
        for k in keys(&dept, counter, officer, &month) {
            let s = groups.entry(k).or_default();
            s.forms += 1;
            if let Some(sc) = r.score {
                s.scored += 1;
                s.score_sum += sc;
                if let Some(t) = form {
                    s.score_max.insert(t.max_score().into());
                }
            }
            let Some(t) = form else { continue };
            if let Some(sat) = &t.satisfaction {
                if let Some(Some(a)) = r.answers.get(&sat.row) {
                    s.satisfaction_answered += 1;
                    s.satisfied += u64::from(sat.satisfied.contains(a));
                }
            }
            let counts = s
                .dist
                .entry((t.template_id.clone(), t.version))
                .or_insert_with(|| {
                    t.rows
                        .iter()
                        .map(|row| vec![0; row.options.len() + 1])
                        .collect()
                });
            for (row, c) in t.rows.iter().zip(counts.iter_mut()) {
                let chosen = r.answers.get(&row.id).cloned().flatten();
                let k = chosen
                    .and_then(|a| row.options.iter().position(|o| o.id == a))
                    .unwrap_or(row.options.len());
                c[k] += 1;
            }
        }
    }
    for d in returned.unwrap_or(&[]) {
        if !in_range(Some(&d.returned)) {
            continue;
        }
        let is_rated = rated.contains(d.code.as_str());
        for k in keys(&d.department, &d.counter, &d.officer, &d.returned[..7]) {
            let s = groups.entry(k).or_default();
            s.returned += 1;
            s.rated_returned += u64::from(is_rated);
        }
    }
    let rows = groups
        .into_iter()
        .map(
            |((level, department, counter, officer, month), stats)| ReportRow {
                level,
                department,
                counter,
                officer,
                month,
                stats,
            },
        )
        .collect();
    Report {
        rows,
        has_returned,
        unmatched,
        conflicts,
        opts: opts.clone(),
        forms,
    }
}

impl Report {
    /// Rows of one level.
    pub fn level(&self, level: Level) -> impl Iterator<Item = &ReportRow> {
        self.rows.iter().filter(move |r| r.level == level)
    }

    /// The total row (all zero when nothing was rated or returned).
    pub fn total(&self) -> Stats {
        self.level(Level::Total)
            .next()
            .map(|r| r.stats.clone())
            .unwrap_or_default()
    }

    /// Counters and officers with returned dossiers whose coverage is below the threshold, lowest first.
    pub fn below_threshold(&self) -> Vec<&ReportRow> {
        let mut v: Vec<&ReportRow> = self
            .rows
            .iter()
            .filter(|r| matches!(r.level, Level::Counter | Level::Officer))
            .filter(|r| {
                r.stats
                    .coverage()
                    .is_some_and(|c| c < self.opts.coverage_threshold)
            })
            .collect();
        v.sort_by(|a, b| {
            a.stats
                .coverage()
                .partial_cmp(&b.stats.coverage())
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(a.level.cmp(&b.level))
        });
        v
    }

    fn period(&self) -> String {
        match (&self.opts.from, &self.opts.to) {
            (None, None) => "all dates".into(),
            (f, t) => format!(
                "{} to {}",
                f.as_deref().unwrap_or("the start"),
                t.as_deref().unwrap_or("the end")
            ),
        }
    }
}

fn pct(x: Option<f64>) -> String {
    x.map_or("-".into(), |x| format!("{:.1}%", x * 100.0))
}

fn mean(x: Option<f64>) -> String {
    x.map_or("-".into(), |x| format!("{x:.2}"))
}

fn or_all(s: &str) -> &str {
    if s.is_empty() {
        "(all)"
    } else {
        s
    }
}

/// A plain text table; columns from `right` on are right-aligned.
fn text_table(header: &[&str], rows: &[Vec<String>], right: usize) -> String {
    let w: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let pad = " ".repeat(w[i] - c.chars().count());
            if i > 0 {
                s.push_str("  ");
            }
            if i >= right {
                s.push_str(&pad);
                s.push_str(c);
            } else {
                s.push_str(c);
                s.push_str(&pad);
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header.to_vec());
    out.push_str(&line(
        w.iter()
            .map(|&n| "-".repeat(n))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect(),
    ));
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

/// `13.50 / 18`, or the mean alone when the forms of the group have different scales.
fn mean_of(s: &Stats) -> String {
    match (s.mean_score(), s.score_scale()) {
        (Some(m), Some(max)) => format!("{m:.2} / {max}"),
        (m, _) => mean(m),
    }
}

fn figures(s: &Stats) -> Vec<String> {
    vec![
        s.forms.to_string(),
        mean_of(s),
        pct(s.satisfaction()),
        s.returned.to_string(),
        s.rated_returned.to_string(),
        pct(s.coverage()),
    ]
}

const FIGURE_HEADERS: [&str; 6] = [
    "forms",
    "mean score",
    "satisfied",
    "returned",
    "rated",
    "coverage",
];

impl Report {
    /// The form of a distribution key.
    fn form(&self, key: &FormKey) -> Option<&Template> {
        self.forms
            .iter()
            .find(|t| t.template_id == key.0 && t.version == key.1)
    }
}

/// A form version's name in headings: `GTVT-01 v1`.
fn form_title(t: &Template) -> String {
    format!("{} v{}", t.form_code, t.version)
}

/// The report as terminal tables.
pub fn to_text(r: &Report) -> String {
    let t = r.total();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Satisfaction report, {}: {} forms, mean score {} ({} fully answered), satisfied {}, coverage {} \
         ({} of {} returned dossiers rated)",
        r.period(),
        t.forms,
        mean_of(&t),
        t.scored,
        pct(t.satisfaction()),
        pct(t.coverage()),
        t.rated_returned,
        t.returned
    );
    if !r.has_returned {
        out.push_str("(no --returned file: no counters, officers or coverage)\n");
    }
    let mut h = vec!["department"];
    h.extend(FIGURE_HEADERS);
    let rows: Vec<Vec<String>> = r
        .level(Level::Department)
        .map(|x| [vec![x.department.clone()], figures(&x.stats)].concat())
        .collect();
    let _ = write!(out, "\nPer department\n{}", text_table(&h, &rows, 1));
    if r.has_returned {
        let mut h = vec!["department", "counter", "officer"];
        h.extend(FIGURE_HEADERS);
        h.push("");
        let rows: Vec<Vec<String>> = r
            .rows
            .iter()
            .filter(|x| matches!(x.level, Level::Counter | Level::Officer))
            .map(|x| {
                let low = x
                    .stats
                    .coverage()
                    .is_some_and(|c| c < r.opts.coverage_threshold);
                [
                    vec![
                        x.department.clone(),
                        x.counter.clone(),
                        or_all(&x.officer).to_string(),
                    ],
                    figures(&x.stats),
                    vec![if low { "LOW".into() } else { String::new() }],
                ]
                .concat()
            })
            .collect();
        let mut rows = rows;
        rows.sort();
        let _ = write!(
            out,
            "\nPer counter and officer\n{}",
            text_table(&h, &rows, 3)
        );
    }
    let mut h = vec!["month", "department"];
    h.extend(FIGURE_HEADERS);
    let mut rows: Vec<Vec<String>> = r
        .level(Level::Month)
        .map(|x| {
            [
                vec![x.month.clone(), or_all(&x.department).to_string()],
                figures(&x.stats),
            ]
            .concat()
        })
        .collect();
    rows.sort();
    let _ = write!(out, "\nPer month\n{}", text_table(&h, &rows, 2));
    for d in r.level(Level::Department) {
        for (key, counts) in &d.stats.dist {
            let Some(t) = r.form(key) else { continue };
            let mut header: Vec<String> = vec!["row".into(), "criterion".into()];
            header.extend(t.rows[0].options.iter().map(|o| o.id.clone()));
            header.push("blank".into());
            let rows: Vec<Vec<String>> = t
                .rows
                .iter()
                .zip(counts)
                .map(|(row, c)| {
                    let n: u64 = c.iter().sum();
                    let mut cells = vec![row.id.clone(), row.label.clone()];
                    cells.extend(
                        c.iter()
                            .map(|v| format!("{v} ({:.0}%)", *v as f64 * 100.0 / n.max(1) as f64)),
                    );
                    cells
                })
                .collect();
            let h: Vec<&str> = header.iter().map(String::as_str).collect();
            let _ = write!(
                out,
                "\nAnswers, {}, form {}\n{}",
                d.department,
                form_title(t),
                text_table(&h, &rows, 2)
            );
        }
    }
    if r.has_returned {
        let low = r.below_threshold();
        let _ = writeln!(
            out,
            "\nBelow the coverage threshold of {:.0}%: {}",
            r.opts.coverage_threshold * 100.0,
            if low.is_empty() { "none" } else { "" }
        );
        for x in low {
            let _ = writeln!(
                out,
                "  {}: {} ({} of {} returned dossiers rated)",
                x.who(),
                pct(x.stats.coverage()),
                x.stats.rated_returned,
                x.stats.returned
            );
        }
        if r.unmatched > 0 {
            let _ = writeln!(
                out,
                "{} rated dossier(s) are not in the returned file (counted under {UNKNOWN})",
                r.unmatched
            );
        }
    }
    if r.conflicts > 0 {
        let _ = writeln!(
            out,
            "{} conflicting second rating(s) are kept aside in the database and not counted",
            r.conflicts
        );
    }
    out
}

/// The report as CSV (UTF-8 with BOM, for Excel): one line per row of every level.
pub fn to_csv(r: &Report) -> String {
    let mut out = String::from(
        "\u{feff}level,department,counter,officer,month,forms,scored_forms,mean_score,\
        overall_answered,satisfaction_rate,returned,rated_returned,coverage,below_threshold",
    );
    // One column per (form version, row, option or blank), in the forms' order, for every form that was rated.
    let keys: BTreeSet<&FormKey> = r.rows.iter().flat_map(|x| x.stats.dist.keys()).collect();
    let mut columns: Vec<(FormKey, usize, usize)> = vec![];
    for key in keys {
        let Some(t) = r.form(key) else { continue };
        for (i, row) in t.rows.iter().enumerate() {
            for (k, o) in row
                .options
                .iter()
                .map(|o| o.id.as_str())
                .chain(["blank"])
                .enumerate()
            {
                let _ = write!(out, ",{}_v{}_{}_{o}", t.template_id, t.version, row.id);
                columns.push((key.clone(), i, k));
            }
        }
    }
    out.push('\n');
    let num = |x: Option<f64>| x.map_or(String::new(), |x| format!("{x:.4}"));
    for x in &r.rows {
        let s = &x.stats;
        let low = matches!(x.level, Level::Counter | Level::Officer)
            && s.coverage().is_some_and(|c| c < r.opts.coverage_threshold);
        let _ = write!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            x.level.name(),
            csv_escape(&x.department),
            csv_escape(&x.counter),
            csv_escape(&x.officer),
            x.month,
            s.forms,
            s.scored,
            num(s.mean_score()),
            s.satisfaction_answered,
            num(s.satisfaction()),
            s.returned,
            s.rated_returned,
            num(s.coverage()),
            low
        );
        for (key, i, k) in &columns {
            let n = s
                .dist
                .get(key)
                .and_then(|c| c.get(*i))
                .and_then(|c| c.get(*k));
            let _ = write!(out, ",{}", n.copied().unwrap_or(0));
        }
        out.push('\n');
    }
    out
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Colour of option `k` of `n` (best first, green to amber to red); `k == n` is blank (grey).
fn option_color(k: usize, n: usize) -> String {
    const SCALE: [(f64, [f64; 3]); 3] = [
        (0.0, [46.0, 125.0, 50.0]),
        (0.5, [249.0, 168.0, 37.0]),
        (1.0, [198.0, 40.0, 40.0]),
    ];
    if k >= n {
        return "#b0b0b0".into();
    }
    let t = if n <= 1 {
        0.0
    } else {
        k as f64 / (n - 1) as f64
    };
    let (lo, hi) = if t <= 0.5 {
        (SCALE[0], SCALE[1])
    } else {
        (SCALE[1], SCALE[2])
    };
    let f = (t - lo.0) / (hi.0 - lo.0);
    let c: Vec<u8> = (0..3)
        .map(|i| (lo.1[i] + (hi.1[i] - lo.1[i]) * f).round() as u8)
        .collect();
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

/// Horizontal bars of shares (0..1), with a dashed threshold line; bars under it are red.
fn svg_share_bars(items: &[(String, f64, String)], threshold: Option<f64>) -> String {
    let (label_w, bar_w, h) = (330.0, 520.0, 20.0);
    let height = items.len() as f64 * h + 30.0;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" font-family=\"sans-serif\" \
         font-size=\"12\">",
        label_w + bar_w + 110.0
    );
    for (i, (label, v, note)) in items.iter().enumerate() {
        let y = i as f64 * h + 4.0;
        let low = threshold.is_some_and(|t| *v < t);
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text><rect x=\"{label_w}\" y=\"{y}\" width=\"{:.1}\" \
             height=\"{}\" fill=\"{}\"/><text x=\"{:.1}\" y=\"{}\">{}</text>",
            label_w - 6.0,
            y + 13.0,
            esc(label),
            v.clamp(0.0, 1.0) * bar_w,
            h - 5.0,
            if low { "#c62828" } else { "#1565c0" },
            label_w + v.clamp(0.0, 1.0) * bar_w + 4.0,
            y + 13.0,
            esc(note)
        );
    }
    let axis_y = items.len() as f64 * h + 4.0;
    for k in 0..=4 {
        let x = label_w + k as f64 * bar_w / 4.0;
        let _ = write!(
            s,
            "<line x1=\"{x}\" y1=\"0\" x2=\"{x}\" y2=\"{axis_y}\" stroke=\"#ddd\"/><text x=\"{x}\" y=\"{}\" \
             text-anchor=\"middle\" fill=\"#555\">{}%</text>",
            axis_y + 14.0,
            k * 25
        );
    }
    if let Some(t) = threshold {
        let x = label_w + t.clamp(0.0, 1.0) * bar_w;
        let _ = write!(
            s,
            "<line x1=\"{x}\" y1=\"0\" x2=\"{x}\" y2=\"{axis_y}\" stroke=\"#000\" stroke-dasharray=\"4 3\"/>"
        );
    }
    s.push_str("</svg>");
    s
}

/// 100% stacked bars of a/b/c/blank per rating row.
fn svg_distribution(dist: &[Vec<u64>], t: &Template) -> String {
    let (label_w, bar_w, h) = (70.0, 640.0, 22.0);
    let height = dist.len() as f64 * h + 40.0;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" font-family=\"sans-serif\" \
         font-size=\"12\">",
        label_w + bar_w + 10.0
    );
    for (i, c) in dist.iter().enumerate() {
        let n: u64 = c.iter().sum();
        let y = i as f64 * h + 2.0;
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            label_w - 6.0,
            y + 14.0,
            esc(&t.rows[i].id)
        );
        let mut x = label_w;
        for (k, &v) in c.iter().enumerate() {
            let w = if n == 0 {
                0.0
            } else {
                v as f64 / n as f64 * bar_w
            };
            let _ = write!(
                s,
                "<rect x=\"{x:.1}\" y=\"{y}\" width=\"{w:.1}\" height=\"{}\" fill=\"{}\"/>",
                h - 4.0,
                option_color(k, c.len() - 1)
            );
            if w > 34.0 {
                let _ = write!(
                    s,
                    "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\" fill=\"#fff\">{:.0}%</text>",
                    x + w / 2.0,
                    y + 14.0,
                    v as f64 * 100.0 / n as f64
                );
            }
            x += w;
        }
    }
    let ly = dist.len() as f64 * h + 18.0;
    let options = &t.rows[0].options;
    let names: Vec<String> = options
        .iter()
        .map(|o| format!("{} ({} points)", o.id, o.score))
        .chain(["blank".to_string()])
        .collect();
    let step = bar_w / names.len() as f64;
    for (k, name) in names.iter().enumerate() {
        let x = label_w + k as f64 * step;
        let _ = write!(
            s,
            "<rect x=\"{x}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{}\" y=\"{ly}\">{}</text>",
            ly - 10.0,
            option_color(k, options.len()),
            x + 16.0,
            esc(name)
        );
    }
    s.push_str("</svg>");
    s
}

/// Forms per month (bars) with satisfaction and coverage (lines, 0–100%).
fn svg_months(months: &[&ReportRow]) -> String {
    let (left, w, h, top) = (50.0, 860.0, 220.0, 10.0);
    let n = months.len().max(1) as f64;
    // A multiple of 4, so that the four gridlines fall on whole numbers of forms.
    let max_forms = months
        .iter()
        .map(|m| m.stats.forms)
        .max()
        .unwrap_or(0)
        .max(1)
        .div_ceil(4)
        * 4;
    let max_forms = max_forms as f64;
    let step = w / n;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\" \
         font-size=\"11\">",
        left + w + 50.0,
        h + top + 60.0
    );
    let base = top + h;
    for k in 0..=4 {
        let y = base - k as f64 * h / 4.0;
        let _ = write!(
            s,
            "<line x1=\"{left}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#e0e0e0\"/><text x=\"{}\" y=\"{}\" \
             text-anchor=\"end\" fill=\"#1565c0\">{:.0}</text><text x=\"{}\" y=\"{}\" fill=\"#555\">{}%</text>",
            left + w,
            left - 4.0,
            y + 4.0,
            max_forms * k as f64 / 4.0,
            left + w + 4.0,
            y + 4.0,
            k * 25
        );
    }
    let mut sat = vec![];
    let mut cov = vec![];
    let label_every = (n / 24.0).ceil().max(1.0) as usize;
    for (i, m) in months.iter().enumerate() {
        let x = left + i as f64 * step;
        let bh = m.stats.forms as f64 / max_forms * h;
        let _ = write!(
            s,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"#90caf9\"/>",
            x + step * 0.1,
            base - bh,
            step * 0.8
        );
        if i % label_every == 0 {
            let _ = write!(
                s,
                "<text x=\"{:.1}\" y=\"{}\" transform=\"rotate(60 {:.1} {})\" fill=\"#333\">{}</text>",
                x + step / 2.0,
                base + 12.0,
                x + step / 2.0,
                base + 12.0,
                esc(&m.month)
            );
        }
        let cx = x + step / 2.0;
        if let Some(v) = m.stats.satisfaction() {
            sat.push(format!("{cx:.1},{:.1}", base - v * h));
        }
        if let Some(v) = m.stats.coverage() {
            cov.push(format!("{cx:.1},{:.1}", base - v * h));
        }
    }
    for (pts, color) in [(sat, "#2e7d32"), (cov, "#c62828")] {
        if !pts.is_empty() {
            let _ = write!(
                s,
                "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"/>",
                pts.join(" ")
            );
        }
    }
    s.push_str("</svg>");
    s
}

fn html_figures_table(
    out: &mut String,
    key_headers: &[&str],
    rows: &[(Vec<String>, &Stats)],
    threshold: Option<f64>,
) {
    out.push_str("<table><thead><tr>");
    for h in key_headers.iter().chain(FIGURE_HEADERS.iter()) {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>");
    for (keys, s) in rows {
        let low = threshold.is_some_and(|t| s.coverage().is_some_and(|c| c < t));
        let _ = write!(out, "<tr{}>", if low { " class=\"low\"" } else { "" });
        for k in keys {
            let _ = write!(out, "<td>{}</td>", esc(k));
        }
        for f in figures(s) {
            let _ = write!(out, "<td class=\"n\">{}</td>", esc(&f));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
}

/// The report as one self-contained HTML page (inline CSS and SVG), laid out for A4 printing.
pub fn to_html(r: &Report) -> String {
    let t = r.total();
    let mut o = String::from(
        "<!DOCTYPE html><html lang=\"vi\"><head><meta charset=\"utf-8\"><title>Báo cáo mức độ hài lòng</title><style>\
         body{font-family:'DejaVu Sans',Arial,sans-serif;margin:24px;color:#222;font-size:13px}\
         h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:22px 0 6px;border-bottom:1px solid #999}\
         .cards{display:flex;gap:12px;margin:12px 0}.card{border:1px solid #bbb;border-radius:6px;padding:8px 14px}\
         .card b{display:block;font-size:22px}table{border-collapse:collapse;margin:6px 0}\
         th,td{border:1px solid #ccc;padding:3px 7px}th{background:#eee}td.n{text-align:right}\
         tr.low td{background:#ffebee}.note{color:#555}section{break-inside:avoid;page-break-inside:avoid}\
         @page{size:A4;margin:12mm}@media print{body{margin:0}}</style></head><body>",
    );
    let _ = write!(
        o,
        "<h1>Báo cáo mức độ hài lòng — satisfaction report</h1><div class=\"note\">Period: {}. Mean score: a = 2, b = 1, \
         c = 0 over the nine criteria (18 max), forms with all nine answered. Satisfied: very satisfied + satisfied \
         over answered (overall row). Coverage: rated returned dossiers / returned dossiers.</div>",
        esc(&r.period())
    );
    let _ = write!(
        o,
        "<div class=\"cards\"><div class=\"card\">forms<b>{}</b></div><div class=\"card\">mean score<b>{} / 18</b></div>\
         <div class=\"card\">satisfied<b>{}</b></div><div class=\"card\">coverage<b>{}</b>{} of {} returned</div></div>",
        t.forms,
        mean(t.mean_score()),
        pct(t.satisfaction()),
        pct(t.coverage()),
        t.rated_returned,
        t.returned
    );
    o.push_str("<section><h2>Per department</h2>");
    let rows: Vec<(Vec<String>, &Stats)> = r
        .level(Level::Department)
        .map(|x| (vec![x.department.clone()], &x.stats))
        .collect();
    html_figures_table(&mut o, &["department"], &rows, None);
    o.push_str("</section>");
    if r.has_returned {
        let th = r.opts.coverage_threshold;
        let _ = write!(
            o,
            "<section><h2>Evaluation coverage per counter and officer (threshold {:.0}%)</h2>",
            th * 100.0
        );
        let mut items: Vec<(String, f64, String)> = vec![];
        let mut rows: Vec<(Vec<String>, &Stats)> = vec![];
        let mut cs: Vec<&ReportRow> = r
            .rows
            .iter()
            .filter(|x| matches!(x.level, Level::Counter | Level::Officer))
            .collect();
        cs.sort_by(|a, b| {
            (&a.department, &a.counter, &a.officer).cmp(&(&b.department, &b.counter, &b.officer))
        });
        for x in cs {
            let label = if x.officer.is_empty() {
                format!("{} · {}", x.department, x.counter)
            } else {
                format!("    {}", x.officer)
            };
            if let Some(c) = x.stats.coverage() {
                items.push((
                    label,
                    c,
                    format!(
                        "{} ({}/{})",
                        pct(Some(c)),
                        x.stats.rated_returned,
                        x.stats.returned
                    ),
                ));
            }
            rows.push((
                vec![
                    x.department.clone(),
                    x.counter.clone(),
                    or_all(&x.officer).to_string(),
                ],
                &x.stats,
            ));
        }
        o.push_str(&svg_share_bars(&items, Some(th)));
        html_figures_table(
            &mut o,
            &["department", "counter", "officer"],
            &rows,
            Some(th),
        );
        let low = r.below_threshold();
        let _ = write!(
            o,
            "<p><b>Below {:.0}%:</b> {}</p>",
            th * 100.0,
            if low.is_empty() {
                "none".to_string()
            } else {
                low.iter()
                    .map(|x| esc(&format!("{} ({})", x.who(), pct(x.stats.coverage()))))
                    .collect::<Vec<_>>()
                    .join("; ")
            }
        );
        if r.unmatched > 0 {
            let _ = write!(
                o,
                "<p class=\"note\">{} rated dossier(s) are not in the returned-dossiers file; they are counted under \
                 {UNKNOWN}.</p>",
                r.unmatched
            );
        }
        o.push_str("</section>");
    }
    let mut all_months: Vec<&ReportRow> = r
        .level(Level::Month)
        .filter(|x| x.department.is_empty() && x.month != UNKNOWN)
        .collect();
    all_months.sort_by(|a, b| a.month.cmp(&b.month));
    o.push_str(
        "<section><h2>Per month</h2><div class=\"note\">Bars: forms (left axis). Lines: satisfied \
         (<span style=\"color:#2e7d32\">green</span>) and coverage (<span style=\"color:#c62828\">red</span>), \
         right axis. Forms with no known date are in the table only.</div>",
    );
    o.push_str(&svg_months(&all_months));
    let mut rows: Vec<(Vec<String>, &Stats)> = r
        .level(Level::Month)
        .map(|x| {
            (
                vec![x.month.clone(), or_all(&x.department).to_string()],
                &x.stats,
            )
        })
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    html_figures_table(&mut o, &["month", "department"], &rows, None);
    o.push_str("</section>");
    for d in r.level(Level::Department) {
        for (key, counts) in &d.stats.dist {
            let Some(t) = r.form(key) else { continue };
            let _ = write!(
                o,
                "<section><h2>Answers per criterion — {}, form {}</h2>{}<table><thead><tr><th>row</th>\
                 <th>criterion</th>",
                esc(&d.department),
                esc(&form_title(t)),
                svg_distribution(counts, t)
            );
            for opt in &t.rows[0].options {
                let _ = write!(o, "<th>{}</th>", esc(&opt.id));
            }
            o.push_str("<th>blank</th></tr></thead><tbody>");
            for (row, c) in t.rows.iter().zip(counts) {
                let n: u64 = c.iter().sum();
                let _ = write!(
                    o,
                    "<tr><td>{}</td><td>{}</td>",
                    esc(&row.id),
                    esc(&row.label)
                );
                for (k, &v) in c.iter().enumerate() {
                    let name = row.options.get(k).map_or("blank", |x| x.label.as_str());
                    let _ = write!(
                        o,
                        "<td class=\"n\" title=\"{}\">{v} ({:.0}%)</td>",
                        esc(name),
                        v as f64 * 100.0 / n.max(1) as f64
                    );
                }
                o.push_str("</tr>");
            }
            o.push_str("</tbody></table></section>");
        }
    }
    if r.conflicts > 0 {
        let _ = write!(
            o,
            "<p class=\"note\">{} conflicting second rating(s) are kept aside in the database and not counted.</p>",
            r.conflicts
        );
    }
    o.push_str("</body></html>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_checked() {
        let mut stored = Template::builtin("gtvt").unwrap();
        // A form stored before its fields said where their date is.
        stored.fields[0].date = None;
        let gtvt = Some(stored);
        assert!(parse_date("2024-02-29").is_ok());
        assert!(parse_date("2024-2-29").is_err());
        assert!(parse_date("2024-00-10").is_err());
        assert_eq!(
            code_date(gtvt.as_ref(), "000.00.17.H48-210426-0001").as_deref(),
            Some("2021-04-26")
        );
        assert_eq!(code_date(gtvt.as_ref(), "nonsense"), None);
    }
}
