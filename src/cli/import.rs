//! `phieu import`: loads final records into the ratings database, exactly once per form. The forms they were
//! made on come from the scan's manifest beside them, `--template` files, and the built-in forms.

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
    /// A template file of a form the records use (when the scan's manifest.json is not beside them).
    #[arg(long = "template")]
    templates: Vec<PathBuf>,
}

/// Imports; exit 0, or 1 when conflicting ratings were kept aside for a person.
pub fn run(a: ImportArgs) -> Result<i32> {
    let opts = phieu::store::db::ImportOptions {
        allow_unreviewed: a.allow_unreviewed,
    };
    let mut templates = phieu::forms::template::Template::builtins();
    for p in &a.templates {
        templates.push(phieu::forms::template::Template::load(p)?);
    }
    let file = phieu::store::db::final_records_path(&a.path);
    let manifest = file.parent().map(|d| d.join("manifest.json"));
    if let Some(m) = manifest.and_then(|m| std::fs::read_to_string(m).ok()) {
        if let Ok(m) = serde_json::from_str::<phieu::batch::manifest::Manifest>(&m) {
            templates.extend(m.forms);
        }
    }
    let mut store = phieu::store::db::open(&a.db)?;
    let outcomes = phieu::store::db::import_path(store.as_mut(), &a.path, &templates, &opts)?;
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
