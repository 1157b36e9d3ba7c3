//! The director's report (`phieu report`): every stored rating (paper, tablet, website) joined on the dossier code
//! to the one-stop system's returned-dossiers export, one counted rating per dossier, summed per department,
//! counter and officer, over the whole period and per week or month: returned, rated (by channel), coverage,
//! satisfaction, mean score, answer breakdown, and how many ratings each figure rests on that a person has not
//! checked. Flags low and falling coverage, lists reward candidates, cross-channel disagreements and the
//! returned dossiers nobody rated. Written as terminal tables, CSV (UTF-8 with BOM), a printable A4 HTML page
//! with inline SVG charts, and an .xlsx workbook, in Vietnamese (default) or English.

mod fmt;
mod html;
mod text;
mod xlsx;

pub use fmt::Lang;
pub use html::to_html;
pub use text::{followup_csv, to_csv, to_text};
pub use xlsx::to_xlsx;

use crate::forms::template::Template;
pub use crate::returned::ReturnedDossier;
use crate::store::channel::Channel;
use crate::store::ratings::{Dataset, StoredRating};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Errors building a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The returned-dossiers file is malformed.
    #[error(transparent)]
    Returned(#[from] crate::returned::ReturnedError),
    /// A `--from` / `--to` date is not `YYYY-MM-DD`.
    #[error("bad date `{0}` (expected YYYY-MM-DD, a real day)")]
    Date(String),
    /// `--from` is after `--to`.
    #[error("--from {from} is after --to {to}")]
    Range {
        /// First day.
        from: String,
        /// Last day.
        to: String,
    },
    /// The workbook could not be built.
    #[error("building the workbook: {0}")]
    Xlsx(String),
}

/// How the figures over time are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PeriodKind {
    /// Weeks for up to 92 days, months beyond.
    #[default]
    Auto,
    /// ISO weeks (Monday to Sunday).
    Week,
    /// Calendar months.
    Month,
}

/// What to report.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// First day included (`YYYY-MM-DD`), on the returned date.
    pub from: Option<String>,
    /// Last day included (`YYYY-MM-DD`).
    pub to: Option<String>,
    /// Counters and officers whose coverage is below this share are flagged.
    pub coverage_threshold: f64,
    /// Counters and officers whose coverage fell by at least this much from one period to the next are flagged.
    pub drop_threshold: f64,
    /// Reward candidates: officers with at least this coverage…
    pub reward_coverage: f64,
    /// …and at least this satisfaction…
    pub reward_satisfaction: f64,
    /// …over at least this many returned dossiers.
    pub reward_min_returned: u64,
    /// Weeks or months.
    pub period: PeriodKind,
    /// Leave out every rating that still has review items open (machine proposals nobody checked).
    pub reviewed_only: bool,
    /// Labels and number format.
    pub lang: Lang,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            from: None,
            to: None,
            coverage_threshold: 0.5,
            drop_threshold: 0.10,
            reward_coverage: 0.8,
            reward_satisfaction: 0.9,
            reward_min_returned: 10,
            period: PeriodKind::Auto,
            reviewed_only: false,
            lang: Lang::Vi,
        }
    }
}

/// Checks a `YYYY-MM-DD` date (a real day).
pub fn parse_date(s: &str) -> Result<String, ReportError> {
    if crate::util::is_iso_day(s) {
        Ok(s.to_string())
    } else {
        Err(ReportError::Date(s.to_string()))
    }
}

/// Checks `--from` and `--to` together.
pub fn check_range(from: Option<&str>, to: Option<&str>) -> Result<(), ReportError> {
    if let (Some(f), Some(t)) = (from, to) {
        if f > t {
            return Err(ReportError::Range {
                from: f.into(),
                to: t.into(),
            });
        }
    }
    Ok(())
}

/// A form and version: answers are only ever counted together within one.
pub type FormKey = (String, u32);

/// Figures of one group of ratings and returned dossiers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Counted ratings (one per dossier, plus ratings without a dossier code).
    pub forms: u64,
    /// Of those, ratings with review items still open (their open values are not counted as answers).
    pub unreviewed: u64,
    /// Counted ratings per channel (paper, tablet, web).
    pub by_channel: [u64; 3],
    /// Counted ratings with every criterion answered and checked (the ones with a score).
    pub scored: u64,
    /// Sum of their scores.
    pub score_sum: i64,
    /// The highest possible scores of the scored ratings (one value when every form has the same scale).
    pub score_max: BTreeSet<i64>,
    /// Checked answers to the satisfaction row (the form's rule).
    pub satisfaction_answered: u64,
    /// Satisfied answers among them.
    pub satisfied: u64,
    /// Per form version: per row (the form's order), the count of each option (the form's order), then blank,
    /// then unchecked (a machine proposal nobody confirmed, not counted as an answer).
    pub dist: BTreeMap<FormKey, Vec<Vec<u64>>>,
    /// Returned dossiers.
    pub returned: u64,
    /// Returned dossiers with a counted rating (once, whatever the channels).
    pub rated_returned: u64,
    /// Returned dossiers with a rating on each channel (a dossier rated on two channels is in both).
    pub rated_by_channel: [u64; 3],
}

impl Stats {
    /// Mean score over the scored ratings.
    pub fn mean_score(&self) -> Option<f64> {
        (self.scored > 0).then(|| self.score_sum as f64 / self.scored as f64)
    }
    /// The highest score, when every scored rating has the same one (18 on the center's forms).
    pub fn score_scale(&self) -> Option<i64> {
        (self.score_max.len() == 1).then(|| *self.score_max.first().unwrap_or(&0))
    }
    /// Satisfied answers over checked answers to the satisfaction row.
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
}

impl Level {
    /// Name used in the CSV.
    pub fn name(self) -> &'static str {
        match self {
            Level::Total => "total",
            Level::Department => "department",
            Level::Counter => "counter",
            Level::Officer => "officer",
        }
    }
}

/// One report row: a group over the whole period (`period` empty) or over one week or month.
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
    /// `YYYY-MM`, `YYYY-Www`, [`UNKNOWN`] (no date), or empty for the whole period.
    pub period: String,
    /// Figures.
    pub stats: Stats,
}

impl ReportRow {
    /// `department / counter[ / officer]`, as the flag lists name a row.
    pub fn who(&self) -> String {
        match self.level {
            Level::Total => String::new(),
            Level::Department => self.department.clone(),
            Level::Counter => format!("{} / {}", self.department, self.counter),
            Level::Officer => format!("{} / {} / {}", self.department, self.counter, self.officer),
        }
    }
}

/// A counter or officer whose coverage fell from one period to the next.
#[derive(Debug, Clone, PartialEq)]
pub struct Drop {
    /// The group (counter or officer row over the whole period).
    pub level: Level,
    /// Department.
    pub department: String,
    /// Counter.
    pub counter: String,
    /// Officer (empty for a counter).
    pub officer: String,
    /// The earlier period and its coverage.
    pub from: (String, f64),
    /// The later period and its coverage.
    pub to: (String, f64),
}

/// One rating of a listed disagreement.
#[derive(Debug, Clone, PartialEq)]
pub struct ConflictRating {
    /// Its id (`--keep` takes it).
    pub id: String,
    /// Channel.
    pub channel: Channel,
    /// `c1=a c2=b …`.
    pub answers: String,
    /// Where it came from.
    pub source: String,
    /// Whether it is the counted one.
    pub counted: bool,
}

/// A dossier whose ratings disagree.
#[derive(Debug, Clone, PartialEq)]
pub struct ConflictView {
    /// The dossier.
    pub dossier_code: String,
    /// Two paper ratings (a person must choose), or channels that disagree.
    pub same_channel: bool,
    /// The rating a person kept.
    pub resolved: Option<String>,
    /// Its ratings, the counted one first.
    pub ratings: Vec<ConflictRating>,
}

/// A computed report.
#[derive(Debug, Clone)]
pub struct Report {
    /// Rows, sorted by level, keys, then period.
    pub rows: Vec<ReportRow>,
    /// Whether a returned-dossiers file was given (counters, officers and coverage need it).
    pub has_returned: bool,
    /// Counted ratings whose dossier is not in the returned file (counted under counter and officer
    /// [`UNKNOWN`]).
    pub unmatched: u64,
    /// Counted ratings without a dossier code (department level only).
    pub no_code: u64,
    /// Ratings left out because they have open review items (`reviewed_only`).
    pub excluded_unreviewed: u64,
    /// Ratings stored but not counted: a second rating of a dossier (another channel, or kept aside).
    pub not_counted: u64,
    /// Dossiers whose ratings disagree: open paper conflicts first, then resolved ones and channels that
    /// disagree.
    pub conflicts: Vec<ConflictView>,
    /// Returned dossiers (in the period) with no rating on any channel, by department, counter, day, code.
    pub followup: Vec<ReturnedDossier>,
    /// The periods with figures, in order.
    pub periods: Vec<String>,
    /// Weeks or months (never `Auto`).
    pub period_kind: PeriodKind,
    /// Counters and officers whose coverage fell.
    pub drops: Vec<Drop>,
    /// The options used.
    pub opts: ReportOptions,
    /// The forms the ratings were made on (labels, points and the satisfaction rule come from them).
    pub forms: Vec<Template>,
}

/// Shown for a rating with no returned row, or no date.
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

/// Days since 1970-01-01 of `YYYY-MM-DD` (Howard Hinnant's days-from-civil).
pub fn day_number(date: &str) -> i64 {
    let y: i64 = date[..4].parse().unwrap_or(1970);
    let m: i64 = date[5..7].parse().unwrap_or(1);
    let d: i64 = date[8..10].parse().unwrap_or(1);
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// ISO week of a day: `YYYY-Www`.
pub fn iso_week(date: &str) -> String {
    let n = day_number(date);
    let wd = (n + 3).rem_euclid(7); // 0 = Monday
    let thursday = n - wd + 3;
    let (y, _, _) = crate::util::civil_from_days(thursday);
    let jan1 = day_number(&format!("{y:04}-01-01"));
    format!("{y:04}-W{:02}", (thursday - jan1) / 7 + 1)
}

fn period_of(kind: PeriodKind, date: &str) -> String {
    match kind {
        PeriodKind::Week => iso_week(date),
        _ => date[..7].to_string(),
    }
}

/// The form a rating was made on, among the stored forms (then the built-in ones).
fn form_of<'a>(forms: &'a [Template], r: &StoredRating) -> Option<&'a Template> {
    forms
        .iter()
        .find(|t| t.template_id == r.template && t.version == r.form_version)
}

type Key = (Level, String, String, String, String);

/// Adds one counted rating to a group.
fn add_rating(s: &mut Stats, r: &StoredRating, form: Option<&Template>) {
    s.forms += 1;
    s.unreviewed += u64::from(r.unreviewed());
    s.by_channel[r.channel.index()] += 1;
    let open = |row: &str| r.unresolved.iter().any(|k| k == row);
    let Some(t) = form else {
        if let Some(sc) = r.score {
            s.scored += 1;
            s.score_sum += sc;
        }
        return;
    };
    // A value still waiting for review is a proposal, never an answer: no score rests on it.
    let score_ok = !t.criteria().any(|c| open(&c.id));
    if let (Some(sc), true) = (r.score, score_ok) {
        s.scored += 1;
        s.score_sum += sc;
        s.score_max.insert(t.max_score().into());
    }
    if let Some(sat) = &t.satisfaction {
        if let Some(Some(a)) = r.answers.get(&sat.row).filter(|_| !open(&sat.row)) {
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
                .map(|row| vec![0; row.options.len() + 2])
                .collect()
        });
    for (row, c) in t.rows.iter().zip(counts.iter_mut()) {
        let k = if open(&row.id) {
            row.options.len() + 1
        } else {
            match r.answers.get(&row.id) {
                // A row the channel never asked (a tablet with only the overall level) is not a blank answer.
                None => continue,
                Some(a) => a
                    .as_deref()
                    .and_then(|a| row.options.iter().position(|o| o.id == a))
                    .unwrap_or(row.options.len()),
            }
        };
        c[k] += 1;
    }
}

/// Sums the ratings (and the returned dossiers, when given) into report rows. `forms` are the forms the
/// ratings were made on (`db::load_forms`); a rating of a form not among them counts without answers.
pub fn build(
    ds: &Dataset,
    forms: &[Template],
    returned: Option<&[ReturnedDossier]>,
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
    let usable = |r: &StoredRating| !(opts.reviewed_only && r.unreviewed());
    let excluded_unreviewed = ds.ratings.iter().filter(|r| !r.aside && !usable(r)).count() as u64;

    // One counted rating per dossier; the channels each dossier was rated on.
    let by_dossier = ds.by_dossier();
    let mut counted: Vec<(usize, Option<&str>)> = vec![];
    let mut channels: HashMap<&str, [bool; 3]> = HashMap::new();
    for (code, idx) in &by_dossier {
        let cands: Vec<usize> = idx
            .iter()
            .copied()
            .filter(|&i| usable(&ds.ratings[i]))
            .collect();
        if let Some(i) = ds.counted(code, &cands) {
            counted.push((i, Some(code)));
            let mut ch = [false; 3];
            for &j in &cands {
                if !ds.ratings[j].aside || Some(&ds.ratings[j].id) == ds.resolutions.get(*code) {
                    ch[ds.ratings[j].channel.index()] = true;
                }
            }
            channels.insert(code, ch);
        }
    }
    let mut no_code = 0;
    for (i, r) in ds.ratings.iter().enumerate() {
        if r.dossier_code.is_none() && !r.aside && usable(r) {
            counted.push((i, None));
        }
    }
    let usable_total = ds.ratings.iter().filter(|r| usable(r)).count() as u64;
    let not_counted = usable_total - counted.len() as u64;

    // The dates, to choose weeks or months.
    let date_of = |r: &StoredRating, code: Option<&str>| -> Option<String> {
        let ret = code.and_then(|c| by_code.get(c));
        match ret {
            Some(d) => Some(d.returned.clone()),
            None => r
                .rated_on
                .clone()
                .or_else(|| code.and_then(|c| code_date(form_of(&forms, r), c))),
        }
    };
    let period_kind = match opts.period {
        PeriodKind::Auto => {
            let mut dates: Vec<String> = returned
                .unwrap_or(&[])
                .iter()
                .map(|d| d.returned.clone())
                .chain(
                    counted
                        .iter()
                        .filter_map(|&(i, c)| date_of(&ds.ratings[i], c)),
                )
                .filter(|d| in_range(Some(d)))
                .collect();
            dates.sort();
            let first = opts.from.clone().or_else(|| dates.first().cloned());
            let last = opts.to.clone().or_else(|| dates.last().cloned());
            match (first, last) {
                (Some(f), Some(l)) if day_number(&l) - day_number(&f) > 92 => PeriodKind::Month,
                _ => PeriodKind::Week,
            }
        }
        k => k,
    };

    let mut groups: BTreeMap<Key, Stats> = BTreeMap::new();
    let keys = |dept: &str, counter: Option<(&str, &str)>, period: &str| {
        let s = |x: &str| x.to_string();
        let mut k = vec![];
        for p in ["", period] {
            k.push((Level::Total, s(""), s(""), s(""), s(p)));
            k.push((Level::Department, s(dept), s(""), s(""), s(p)));
            if let Some((c, o)) = counter {
                k.push((Level::Counter, s(dept), s(c), s(""), s(p)));
                k.push((Level::Officer, s(dept), s(c), s(o), s(p)));
            }
        }
        k
    };
    let mut unmatched = 0;
    for &(i, code) in &counted {
        let r = &ds.ratings[i];
        let date = date_of(r, code);
        if !in_range(date.as_deref()) {
            continue;
        }
        let period = date
            .as_deref()
            .map_or(UNKNOWN.to_string(), |d| period_of(period_kind, d));
        let form = form_of(&forms, r);
        let ret = code.and_then(|c| by_code.get(c));
        let dept = match ret {
            Some(d) => d.department.clone(),
            None => r
                .department
                .clone()
                .or_else(|| form.map(|t| t.department.clone()))
                .unwrap_or_else(|| r.template.clone()),
        };
        let counter = match (code, ret) {
            (None, _) => {
                no_code += 1;
                None
            }
            (Some(_), Some(d)) => Some((d.counter.as_str(), d.officer.as_str())),
            (Some(_), None) => {
                unmatched += 1;
                has_returned.then_some((UNKNOWN, UNKNOWN))
            }
        };
        let counter = counter.filter(|_| has_returned);
        for k in keys(&dept, counter, &period) {
            add_rating(groups.entry(k).or_default(), r, form);
        }
    }
    let mut followup = vec![];
    for d in returned.unwrap_or(&[]) {
        if !in_range(Some(&d.returned)) {
            continue;
        }
        let ch = channels.get(d.code.as_str()).copied();
        if !by_dossier.contains_key(d.code.as_str()) {
            followup.push(d.clone());
        }
        let period = period_of(period_kind, &d.returned);
        for k in keys(
            &d.department,
            Some((d.counter.as_str(), d.officer.as_str())),
            &period,
        ) {
            let s = groups.entry(k).or_default();
            s.returned += 1;
            if let Some(ch) = ch {
                s.rated_returned += 1;
                for c in Channel::ALL {
                    s.rated_by_channel[c.index()] += u64::from(ch[c.index()]);
                }
            }
        }
    }
    followup.sort_by(|a, b| {
        (&a.department, &a.counter, &a.returned, &a.officer, &a.code).cmp(&(
            &b.department,
            &b.counter,
            &b.returned,
            &b.officer,
            &b.code,
        ))
    });
    let rows: Vec<ReportRow> = groups
        .into_iter()
        .map(
            |((level, department, counter, officer, period), stats)| ReportRow {
                level,
                department,
                counter,
                officer,
                period,
                stats,
            },
        )
        .collect();
    let periods: Vec<String> = rows
        .iter()
        .filter(|r| r.level == Level::Total && !r.period.is_empty() && r.period != UNKNOWN)
        .map(|r| r.period.clone())
        .collect();
    let drops = find_drops(&rows, opts.drop_threshold);
    let mut conflicts = ds.conflicts();
    // The ones that need a person first.
    conflicts.sort_by_key(|c| {
        (
            !(c.same_channel && c.resolved.is_none()),
            c.resolved.is_some(),
        )
    });
    let conflicts = conflicts
        .into_iter()
        .map(|c| ConflictView {
            dossier_code: c.dossier_code.clone(),
            same_channel: c.same_channel,
            resolved: c.resolved.clone(),
            ratings: c
                .ratings
                .iter()
                .enumerate()
                .map(|(n, &i)| {
                    let r = &ds.ratings[i];
                    ConflictRating {
                        id: r.id.clone(),
                        channel: r.channel,
                        answers: r
                            .answers
                            .iter()
                            .map(|(k, v)| format!("{k}={}", v.as_deref().unwrap_or("-")))
                            .collect::<Vec<_>>()
                            .join(" "),
                        source: r.source.clone(),
                        counted: n == 0 && !(r.aside && c.resolved.as_deref() != Some(&r.id)),
                    }
                })
                .collect(),
        })
        .collect();
    Report {
        rows,
        has_returned,
        unmatched,
        no_code,
        excluded_unreviewed,
        not_counted,
        conflicts,
        followup,
        periods,
        period_kind,
        drops,
        opts: opts.clone(),
        forms,
    }
}

/// Counters and officers whose coverage in their last period with returned dossiers is at least `threshold`
/// below the period before.
fn find_drops(rows: &[ReportRow], threshold: f64) -> Vec<Drop> {
    type Group<'a> = (Level, &'a str, &'a str, &'a str);
    let mut series: BTreeMap<Group, Vec<(&str, f64)>> = BTreeMap::new();
    for r in rows {
        if !matches!(r.level, Level::Counter | Level::Officer)
            || r.period.is_empty()
            || r.period == UNKNOWN
        {
            continue;
        }
        if let Some(c) = r.stats.coverage() {
            series
                .entry((r.level, &r.department, &r.counter, &r.officer))
                .or_default()
                .push((&r.period, c));
        }
    }
    let mut out = vec![];
    for ((level, d, c, o), s) in series {
        if let [.., (p1, c1), (p2, c2)] = s.as_slice() {
            if c1 - c2 >= threshold - 1e-12 {
                out.push(Drop {
                    level,
                    department: d.into(),
                    counter: c.into(),
                    officer: o.into(),
                    from: (p1.to_string(), *c1),
                    to: (p2.to_string(), *c2),
                });
            }
        }
    }
    out
}

impl Report {
    /// Rows of one level over the whole period.
    pub fn level(&self, level: Level) -> impl Iterator<Item = &ReportRow> {
        self.rows
            .iter()
            .filter(move |r| r.level == level && r.period.is_empty())
    }

    /// Rows of one level per period (in period order within each group).
    pub fn level_by_period(&self, level: Level) -> impl Iterator<Item = &ReportRow> {
        self.rows
            .iter()
            .filter(move |r| r.level == level && !r.period.is_empty())
    }

    /// Counters and officers over the whole period, each counter followed by its officers.
    pub fn counter_rows(&self) -> Vec<&ReportRow> {
        let mut v: Vec<&ReportRow> = self
            .rows
            .iter()
            .filter(|x| matches!(x.level, Level::Counter | Level::Officer) && x.period.is_empty())
            .collect();
        v.sort_by(|a, b| {
            (&a.department, &a.counter, &a.officer).cmp(&(&b.department, &b.counter, &b.officer))
        });
        v
    }

    /// The row of a group, if it has figures.
    pub fn find(
        &self,
        level: Level,
        department: &str,
        counter: &str,
        officer: &str,
        period: &str,
    ) -> Option<&Stats> {
        self.rows
            .iter()
            .find(|x| {
                x.level == level
                    && x.department == department
                    && x.counter == counter
                    && x.officer == officer
                    && x.period == period
            })
            .map(|x| &x.stats)
    }

    /// The total over the whole period (all zero when nothing was rated or returned).
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
            .filter(|r| matches!(r.level, Level::Counter | Level::Officer) && r.period.is_empty())
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
                .then(a.who().cmp(&b.who()))
        });
        v
    }

    /// Officers with high coverage and satisfaction over enough returned dossiers, best first.
    pub fn reward_candidates(&self) -> Vec<&ReportRow> {
        let o = &self.opts;
        let mut v: Vec<&ReportRow> = self
            .level(Level::Officer)
            .filter(|r| r.officer != UNKNOWN)
            .filter(|r| {
                r.stats.returned >= o.reward_min_returned
                    && r.stats.coverage().is_some_and(|c| c >= o.reward_coverage)
                    && r.stats
                        .satisfaction()
                        .is_some_and(|s| s >= o.reward_satisfaction)
            })
            .collect();
        v.sort_by(|a, b| {
            let k = |r: &ReportRow| {
                r.stats.satisfaction().unwrap_or(0.0) * r.stats.coverage().unwrap_or(0.0)
            };
            k(b).partial_cmp(&k(a))
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(a.who().cmp(&b.who()))
        });
        v
    }

    /// The form of a distribution key.
    pub fn form(&self, key: &FormKey) -> Option<&Template> {
        self.forms
            .iter()
            .find(|t| t.template_id == key.0 && t.version == key.1)
    }

    /// Dossiers with two paper ratings that nobody has chosen between yet.
    pub fn open_conflicts(&self) -> usize {
        self.conflicts
            .iter()
            .filter(|c| c.same_channel && c.resolved.is_none())
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_weeks() {
        let mut stored = Template::builtin("gtvt").unwrap();
        // A form stored before its fields said where their date is.
        stored.fields[0].date = None;
        let gtvt = Some(stored);
        assert!(parse_date("2024-02-29").is_ok());
        assert!(parse_date("2023-02-29").is_err());
        assert!(parse_date("2024-2-29").is_err());
        assert!(parse_date("2024-00-10").is_err());
        assert_eq!(
            code_date(gtvt.as_ref(), "000.00.17.H48-210426-0001").as_deref(),
            Some("2021-04-26")
        );
        assert_eq!(code_date(gtvt.as_ref(), "nonsense"), None);
        assert_eq!(day_number("1970-01-01"), 0);
        assert_eq!(day_number("2021-04-26"), 18743);
        assert_eq!(iso_week("2021-04-26"), "2021-W17");
        assert_eq!(iso_week("2021-01-03"), "2020-W53");
        assert_eq!(iso_week("2019-12-30"), "2020-W01");
        assert!(check_range(Some("2021-05-01"), Some("2021-04-01")).is_err());
        assert!(check_range(Some("2021-04-01"), Some("2021-04-01")).is_ok());
    }
}
