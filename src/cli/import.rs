//! `phieu import`.

use anyhow::Result;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct ImportArgs {
    /// final.jsonl, or a folder holding it.
    path: PathBuf,
    /// Database: sqlite:PATH (embedded, created when missing) or postgres://USER[:PASSWORD]@HOST:PORT/DB.
    #[arg(long, default_value = "sqlite:phieu.db")]
    db: String,
    /// Import records that still have unresolved review items (their machine proposals).
    #[arg(long)]
    allow_unreviewed: bool,
}

pub fn run(a: ImportArgs) -> Result<i32> {
    let opts = phieu::store::db::ImportOptions {
        allow_unreviewed: a.allow_unreviewed,
    };
    let mut store = phieu::store::db::open(&a.db)?;
    let outcomes = phieu::store::db::import_path(store.as_mut(), &a.path, &opts)?;
    for o in &outcomes {
        println!("{o}");
    }
    let sum =
        |f: fn(&phieu::store::db::BatchOutcome) -> usize| outcomes.iter().map(f).sum::<usize>();
    println!(
        "total: {} new, {} already present, {} conflicts kept aside, {} without a dossier code or form",
        sum(|o| o.new),
        sum(|o| o.already_present),
        sum(|o| o.conflicts + o.conflicts_known),
        sum(|o| o.skipped_no_code)
    );
    // Conflicts need a person, like review items in `scan`.
    Ok(if sum(|o| o.conflicts + o.conflicts_known) > 0 {
        1
    } else {
        0
    })
}
