//! `phieu import`: loads final records (paper forms) or the one-stop system's CSV export of tablet and website
//! ratings into the ratings database, exactly once per rating; lists conflicting ratings and records which one
//! a person keeps. The forms come from the scan's manifest beside the records, `--template` files, and the
//! built-in forms.

use super::say;
use anyhow::{bail, Context, Result};
use phieu::store::db::{self, DbError};
use phieu::store::ratings;
use std::path::{Path, PathBuf};

/// `println!` that never panics: `phieu import --conflicts | head` stops the listing, not the program.
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

#[derive(clap::Args)]
pub struct ImportArgs {
    /// final.jsonl (or a folder holding it), or a .csv export of tablet and website ratings.
    path: Option<PathBuf>,
    /// Database: sqlite:PATH (embedded, created when missing) or
    /// postgres://USER[:PASSWORD]@HOST:PORT/DB[?sslmode=require&sslrootcert=CA.pem].
    #[arg(long, default_value = "sqlite:phieu.db")]
    db: String,
    /// Import records that still have unresolved review items (their machine proposals, marked unreviewed).
    #[arg(long)]
    allow_unreviewed: bool,
    /// A template file of a form the records use (when the scan's manifest.json is not beside them).
    #[arg(long = "template")]
    templates: Vec<PathBuf>,
    /// Column mapping of the electronic ratings export (phieu-channel-map/1 JSON; see the README).
    #[arg(long)]
    map: Option<PathBuf>,
    /// List the dossiers whose ratings disagree, with the id of each rating, and exit.
    #[arg(long)]
    conflicts: bool,
    /// Choose which rating of this dossier counts (with --keep ID, an id from --conflicts).
    #[arg(long, value_name = "DOSSIER", requires = "keep")]
    resolve: Option<String>,
    /// The id of the rating to keep (with --resolve).
    #[arg(long, value_name = "ID", requires = "resolve")]
    keep: Option<String>,
    /// Who chose (with --resolve; default: the login name).
    #[arg(long)]
    operator: Option<String>,
}

/// Exit status: 0 imported, 1 a person is needed (conflicts open, or records refused as unreviewed), 3 some rows
/// were bad (named on stderr) and the rest imported, 2 other errors.
pub fn run(a: ImportArgs) -> Result<i32> {
    if a.conflicts || a.resolve.is_some() {
        if a.path.is_some() {
            bail!("--conflicts and --resolve work on the database alone; give no file to import with them");
        }
        return conflicts(&a);
    }
    let Some(path) = a.path.clone() else {
        bail!(
            "give final.jsonl (or its folder) or a .csv export of tablet/website ratings to import, or \
             --conflicts to list conflicting ratings"
        );
    };
    if !path.exists() {
        bail!("{}: no such file or folder", path.display());
    }
    // A refused import must not leave a new, empty database file behind.
    let created = db::sqlite_path(&a.db).filter(|p| !p.exists());
    let result = import(&a, &path);
    if let Some(p) = created {
        if !matches!(result, Ok(Imported::Done(_))) {
            for suffix in ["", "-journal", "-wal", "-shm"] {
                let f = PathBuf::from(format!("{}{suffix}", p.display()));
                std::fs::remove_file(f).ok();
            }
        }
    }
    match result? {
        Imported::Done(code) => Ok(code),
        Imported::Refused => Ok(1),
    }
}

/// How an import ended: the exit status, or refused before writing anything.
enum Imported {
    Done(i32),
    Refused,
}

fn import(a: &ImportArgs, path: &Path) -> Result<Imported> {
    let mut templates = phieu::forms::template::Template::builtins();
    for p in &a.templates {
        templates.push(phieu::forms::template::Template::load(p)?);
    }
    let is_csv = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    if is_csv {
        return import_csv(a, path, &templates);
    }
    if a.map.is_some() {
        bail!("--map is for a .csv export of tablet/website ratings, not for final records");
    }
    let opts = db::ImportOptions {
        allow_unreviewed: a.allow_unreviewed,
    };
    let file = db::final_records_path(path);
    let manifest = file.parent().map(|d| d.join("manifest.json"));
    if let Some(m) = manifest.and_then(|m| std::fs::read_to_string(m).ok()) {
        if let Ok(m) = serde_json::from_str::<phieu::batch::manifest::Manifest>(&m) {
            templates.extend(m.forms);
        }
    }
    // The file is read and checked before the database is opened, so a wrong file changes nothing.
    db::read_final_records(path)?;
    let mut store = db::open(&a.db)?;
    let outcomes = match db::import_path(store.as_mut(), path, &templates, &opts) {
        Err(e @ DbError::Unreviewed { .. }) => {
            say!("phieu: {e}");
            return Ok(Imported::Refused);
        }
        r => r?,
    };
    for o in &outcomes {
        out!("{o}");
    }
    let sum = |f: fn(&db::BatchOutcome) -> usize| outcomes.iter().map(f).sum::<usize>();
    out!(
        "total: {} new ({} without a dossier code, at department level), {} already present, {} conflicts kept \
         aside, {} without a form (not imported)",
        sum(|o| o.new),
        sum(|o| o.no_code),
        sum(|o| o.already_present),
        sum(|o| o.conflicts + o.conflicts_known),
        sum(|o| o.skipped_no_form)
    );
    after_import(store.as_mut(), &a.db, false).map(Imported::Done)
}

fn import_csv(
    a: &ImportArgs,
    path: &Path,
    templates: &[phieu::forms::template::Template],
) -> Result<Imported> {
    let map = match &a.map {
        Some(p) => phieu::store::channel::ChannelMap::load(p)?,
        None => phieu::store::channel::ChannelMap::default(),
    };
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(400)]).to_ascii_lowercase();
    if head.trim_start_matches('\u{feff}').starts_with("code,")
        && head.contains("returned")
        && !head.contains("rated_at")
    {
        bail!(
            "{}: line 1: this looks like the returned-dossiers export; give it to `phieu report --returned {}`, \
             not to import",
            path.display(),
            path.display()
        );
    }
    let file = phieu::store::channel::read_channel_csv(path, &bytes, &map, templates)?;
    for e in &file.errors {
        say!("phieu: {e}");
    }
    let sha = phieu::batch::bytes_sha256(&bytes);
    let mut store = db::open(&a.db)?;
    db::migrate(store.as_mut())?;
    let o = db::import_channel_ratings(store.as_mut(), &path.to_string_lossy(), &sha, &file)?;
    out!("{}: {o}", path.display());
    after_import(store.as_mut(), &a.db, !file.errors.is_empty()).map(Imported::Done)
}

/// Names the dossiers whose conflicts need a person, and gives the exit status.
fn after_import(store: &mut dyn db::Store, url: &str, bad_rows: bool) -> Result<i32> {
    let ds = ratings::load_dataset(store)?;
    let open: Vec<ratings::Conflict> = ds
        .conflicts()
        .into_iter()
        .filter(|c| c.same_channel && c.resolved.is_none())
        .collect();
    if !open.is_empty() {
        let names: Vec<&str> = open
            .iter()
            .take(5)
            .map(|c| c.dossier_code.as_str())
            .collect();
        say!(
            "phieu: {} dossier(s) have two different paper ratings ({}{}); the first imported counts until a \
             person chooses. List them with `phieu import --conflicts --db {url}`, keep one with `phieu import \
             --resolve DOSSIER --keep ID --db {url}`",
            open.len(),
            names.join(", "),
            if open.len() > names.len() { ", …" } else { "" }
        );
    }
    Ok(if bad_rows {
        3
    } else if open.is_empty() {
        0
    } else {
        1
    })
}

fn conflicts(a: &ImportArgs) -> Result<i32> {
    let mut store = db::open_existing(&a.db)?;
    db::migrate(store.as_mut())?;
    if let (Some(dossier), Some(keep)) = (&a.resolve, &a.keep) {
        let operator = a
            .operator
            .clone()
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "unknown".into());
        ratings::resolve(store.as_mut(), dossier, keep, &operator)?;
        say!("phieu: dossier {dossier}: rating {keep} counts (chosen by {operator})");
        return Ok(0);
    }
    let ds = ratings::load_dataset(store.as_mut())?;
    let mut all = ds.conflicts();
    // The ones that need a person first.
    all.sort_by_key(|c| {
        (
            !(c.same_channel && c.resolved.is_none()),
            c.resolved.is_some(),
        )
    });
    if all.is_empty() {
        out!("no conflicting ratings");
        return Ok(0);
    }
    for c in &all {
        let state = match (&c.resolved, c.same_channel) {
            (Some(k), _) => format!("resolved: {k} counts"),
            (None, true) => {
                "open: two paper ratings, the first imported counts until you choose".into()
            }
            (None, false) => "channels disagree: the first listed counts (paper, else tablet, else website) unless you \
                 choose"
                .into(),
        };
        out!("{} ({state})", c.dossier_code);
        for (n, &i) in c.ratings.iter().enumerate() {
            out!(
                "  {} {}",
                if n == 0 { "counted:" } else { "        " },
                ratings::describe(&ds.ratings[i])
            );
        }
    }
    let open = all
        .iter()
        .filter(|c| c.same_channel && c.resolved.is_none())
        .count();
    out!(
        "{} dossier(s) listed, {open} open. Keep one rating: phieu import --resolve DOSSIER --keep ID --db {}",
        all.len(),
        a.db
    );
    Ok(if open > 0 { 1 } else { 0 })
}
