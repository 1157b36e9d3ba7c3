//! `phieu export`.

use super::say;
use anyhow::Result;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct ExportArgs {
    /// The scan folder (holding results.jsonl, manifest.json and review.jsonl).
    dir: PathBuf,
    /// Output file: `.csv` for one spreadsheet row per form, anything else for JSON lines (phieu-final/1).
    #[arg(short, long)]
    out: PathBuf,
    /// Write the records even while review items are undecided (listed in each record's `unresolved`).
    #[arg(long)]
    allow_unreviewed: bool,
}

/// `phieu export`: exit 0 when written, 1 when refused because items are unresolved, 2 on other errors.
pub fn run(a: ExportArgs) -> Result<i32> {
    let opts = phieu::review::ExportOptions {
        allow_unreviewed: a.allow_unreviewed,
        ..Default::default()
    };
    match phieu::review::export(&a.dir, &a.out, &opts) {
        Ok(s) => {
            say!(
                "phieu: wrote {} final records to {} ({} values decided by a person, {} items unresolved)",
                s.records,
                a.out.display(),
                s.by_person,
                s.unresolved
            );
            Ok(0)
        }
        Err(e @ phieu::review::ReviewError::Unresolved { .. }) => {
            say!("phieu: {e}");
            Ok(1)
        }
        Err(e) => Err(e.into()),
    }
}
