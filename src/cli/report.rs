//! `phieu report`: every flag is checked (dates, range, output extensions) before the database is opened.

use super::say;
use anyhow::{bail, Context, Result};
use phieu::report::{Lang, PeriodKind};
use phieu::results::write_atomic;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct ReportArgs {
    /// Database: sqlite:PATH (must exist) or postgres://... (see `phieu import --help`).
    #[arg(long, default_value = "sqlite:phieu.db")]
    db: String,
    /// First day (YYYY-MM-DD, on the returned date; the rating's own date when not in the returned file).
    #[arg(long)]
    from: Option<String>,
    /// Last day (YYYY-MM-DD), included.
    #[arg(long)]
    to: Option<String>,
    /// The one-stop system's returned-dossiers export (code,procedure,department,counter,officer,received,returned).
    #[arg(long)]
    returned: Option<PathBuf>,
    /// Flag counters and officers whose coverage is below this share.
    #[arg(long, default_value_t = 0.5)]
    coverage_threshold: f64,
    /// Flag counters and officers whose coverage fell by at least this share from one period to the next.
    #[arg(long, default_value_t = 0.10)]
    drop_threshold: f64,
    /// Reward candidates: officers with at least this coverage …
    #[arg(long, default_value_t = 0.8)]
    reward_coverage: f64,
    /// … and at least this satisfaction …
    #[arg(long, default_value_t = 0.9)]
    reward_satisfaction: f64,
    /// … over at least this many returned dossiers.
    #[arg(long, default_value_t = 10)]
    reward_min_returned: u64,
    /// Figures over time by week, month, or auto (weeks up to 92 days, months beyond).
    #[arg(long, default_value = "auto", value_parser = ["auto", "week", "month"])]
    by: String,
    /// Leave out every rating that still has unchecked machine readings (imported with --allow-unreviewed).
    #[arg(long)]
    reviewed_only: bool,
    /// Labels and numbers: vi (Vietnamese, 99,8%) or en (English, 99.8%).
    #[arg(long, default_value = "vi", value_parser = ["vi", "en"])]
    lang: String,
    /// Output file(s) by extension: .html (printable page with charts), .csv, .xlsx (repeatable).
    #[arg(short, long)]
    out: Vec<PathBuf>,
    /// Also write the CSV here.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Write the follow-up list (returned dossiers nobody rated, per counter and day) as CSV here.
    #[arg(long)]
    followup: Option<PathBuf>,
}

/// The output kinds, chosen by extension.
enum Kind {
    Html,
    Csv,
    Xlsx,
}

pub fn run(a: ReportArgs) -> Result<i32> {
    let from = a
        .from
        .as_deref()
        .map(phieu::report::parse_date)
        .transpose()?;
    let to = a.to.as_deref().map(phieu::report::parse_date).transpose()?;
    phieu::report::check_range(from.as_deref(), to.as_deref())?;
    for (name, v) in [
        ("--coverage-threshold", a.coverage_threshold),
        ("--drop-threshold", a.drop_threshold),
        ("--reward-coverage", a.reward_coverage),
        ("--reward-satisfaction", a.reward_satisfaction),
    ] {
        if !(0.0..=1.0).contains(&v) {
            bail!("{name} {v}: give a share between 0 and 1 (0.5 = 50%)");
        }
    }
    // Every output is checked before any work, so a typo costs nothing.
    let mut outs: Vec<(PathBuf, Kind)> = vec![];
    for p in a.out.iter().chain(a.csv.iter()) {
        let ext = p
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        let kind = match ext.as_str() {
            "html" | "htm" => Kind::Html,
            "csv" => Kind::Csv,
            "xlsx" => Kind::Xlsx,
            _ => bail!(
                "{}: report output must end in .html, .csv or .xlsx (nothing was done)",
                p.display()
            ),
        };
        outs.push((p.clone(), kind));
    }
    if let Some(p) = &a.followup {
        if !p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
        {
            bail!(
                "{}: --followup writes a .csv file (nothing was done)",
                p.display()
            );
        }
    }
    let opts = phieu::report::ReportOptions {
        from,
        to,
        coverage_threshold: a.coverage_threshold,
        drop_threshold: a.drop_threshold,
        reward_coverage: a.reward_coverage,
        reward_satisfaction: a.reward_satisfaction,
        reward_min_returned: a.reward_min_returned,
        period: match a.by.as_str() {
            "week" => PeriodKind::Week,
            "month" => PeriodKind::Month,
            _ => PeriodKind::Auto,
        },
        reviewed_only: a.reviewed_only,
        lang: if a.lang == "en" { Lang::En } else { Lang::Vi },
    };
    let returned = match &a.returned {
        Some(p) => Some(phieu::returned::read_returned(
            p,
            &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
            &phieu::returned::REPORT_COLUMNS,
        )?),
        None => None,
    };
    let mut store = phieu::store::db::open_existing(&a.db)?;
    phieu::store::db::migrate(store.as_mut())?;
    let ds = phieu::store::ratings::load_dataset(store.as_mut())?;
    let forms = phieu::store::db::load_forms(store.as_mut())?;
    let r = phieu::report::build(&ds, &forms, returned.as_deref(), &opts);
    {
        // A closed stdout (`phieu report … | head`) must not stop the files being written.
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), "{}", phieu::report::to_text(&r));
    }
    for (p, kind) in outs {
        let body = match kind {
            Kind::Html => phieu::report::to_html(&r).into_bytes(),
            Kind::Csv => phieu::report::to_csv(&r).into_bytes(),
            Kind::Xlsx => phieu::report::to_xlsx(&r)?,
        };
        write_atomic(&p, &body).with_context(|| format!("writing {}", p.display()))?;
        say!("phieu: wrote {}", p.display());
    }
    if let Some(p) = &a.followup {
        write_atomic(p, phieu::report::followup_csv(&r).as_bytes())
            .with_context(|| format!("writing {}", p.display()))?;
        say!("phieu: wrote {}", p.display());
    }
    Ok(0)
}
