//! `phieu report`.

use super::say;
use anyhow::{bail, Context, Result};
use phieu::results::write_atomic;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct ReportArgs {
    /// Database: sqlite:PATH or postgres://...
    #[arg(long, default_value = "sqlite:phieu.db")]
    db: String,
    /// First day (YYYY-MM-DD, on the returned date; the code's received date when not in the returned file).
    #[arg(long)]
    from: Option<String>,
    /// Last day (YYYY-MM-DD), included.
    #[arg(long)]
    to: Option<String>,
    /// The one-stop system's returned-dossiers export (code,procedure,department,counter,officer,received,returned).
    #[arg(long)]
    returned: Option<PathBuf>,
    /// List counters and officers whose coverage is below this share.
    #[arg(long, default_value_t = 0.5)]
    coverage_threshold: f64,
    /// Output file(s): .html (page with charts) or .csv, by extension (repeatable).
    #[arg(short, long)]
    out: Vec<PathBuf>,
    /// Also write the CSV here.
    #[arg(long)]
    csv: Option<PathBuf>,
}

pub fn run(a: ReportArgs) -> Result<i32> {
    let opts = phieu::report::ReportOptions {
        from: a
            .from
            .as_deref()
            .map(phieu::report::parse_date)
            .transpose()?,
        to: a.to.as_deref().map(phieu::report::parse_date).transpose()?,
        coverage_threshold: a.coverage_threshold,
    };
    let returned = match &a.returned {
        Some(p) => Some(phieu::returned::read_returned(
            p,
            &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
            &phieu::returned::REPORT_COLUMNS,
        )?),
        None => None,
    };
    let mut store = phieu::store::db::open(&a.db)?;
    phieu::store::db::migrate(store.as_mut())?;
    let (ratings, conflicts) = phieu::store::db::load_ratings(store.as_mut())?;
    let forms = phieu::store::db::load_forms(store.as_mut())?;
    let r = phieu::report::build(&ratings, &forms, returned.as_deref(), conflicts, &opts);
    print!("{}", phieu::report::to_text(&r));
    let mut outs: Vec<PathBuf> = a.out.clone();
    outs.extend(a.csv.clone());
    for p in outs {
        let ext = p
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        let body = match ext.as_str() {
            "html" | "htm" => phieu::report::to_html(&r),
            "csv" => phieu::report::to_csv(&r),
            _ => bail!("{}: report output must end in .html or .csv", p.display()),
        };
        write_atomic(&p, body.as_bytes()).with_context(|| format!("writing {}", p.display()))?;
        say!("phieu: wrote {}", p.display());
    }
    Ok(0)
}
