//! `phieu scan`: reads a batch into OUT (results.jsonl, results.csv, manifest.json, review crops), resumable
//! from its journal, and refuses an OUT that holds another batch unless told.

use super::{say, ModelArg};
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use phieu::batch::manifest::{
    FileRef, InputFile, Manifest, ManifestOptions, ModelRef, PageCounts, TemplateRef,
};
use phieu::batch::{run as run_batch, Journal, Unit};
use phieu::forms::template::Template;
use phieu::read::page::{Reader, ScanOptions, StageTimes};
use phieu::results::{to_csv, to_jsonl, write_atomic, PageRecord, PageStatus};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

/// Read scanned pages into results.
#[derive(clap::Args)]
pub struct ScanArgs {
    /// Scanned files or folders (PNG, JPEG, TIFF, PDF); folders are searched recursively.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Output folder.
    #[arg(short, long)]
    out: PathBuf,
    /// Extra template files (phieu-form/1 JSON), in addition to the built-in gtvt and khdt.
    #[arg(long = "template")]
    templates: Vec<PathBuf>,
    #[command(flatten)]
    model: ModelArg,
    /// Worker threads (default: all cores).
    #[arg(short, long)]
    jobs: Option<usize>,
    /// Do not write review crops.
    #[arg(long)]
    no_crops: bool,
    /// The one-stop system's export of returned dossiers (CSV with a header row naming a `code` column): codes
    /// are decoded against it, and a read code not in it goes to review with its nearest listed neighbour.
    #[arg(long)]
    returned: Option<PathBuf>,
    /// Allowed agency prefix of dossier codes (`ddd.dd.dd.Ldd`, repeatable); others go to review.
    #[arg(long = "agency")]
    agencies: Vec<String>,
    /// The day dossier dates may not be after (`YYYY-MM-DD`, default: today). For re-runs and tests; it is not
    /// part of the resume fingerprint, so a batch resumed after midnight keeps its finished pages.
    #[arg(long, value_parser = parse_day)]
    today: Option<(u32, u32, u32)>,
    /// Write into an OUT that holds another batch's results: they are moved aside to OUT/.phieu/replaced-ID/
    /// (never deleted), and the new batch starts with no old crops or review decisions.
    #[arg(long)]
    force: bool,
    /// Hide the progress bar.
    #[arg(short, long)]
    quiet: bool,
    /// Largest page in pixels (width x height), checked from the file header before decoding; larger pages are
    /// rejected as `too_large` (default: 120 million, A3 at 600 dpi).
    #[arg(long, default_value_t = phieu::read::load::LoadOptions::default().max_pixels)]
    max_pixels: u64,
    /// Pages read from one file; the rest of a longer file gets one `too_many_pages` record.
    #[arg(long, default_value_t = phieu::read::load::LoadOptions::default().max_pages_per_file)]
    max_pages_per_file: u32,
    /// Wall time per page in ms, checked between stages; a slower page goes to review (`time_budget_exceeded`).
    #[arg(long, default_value_t = phieu::read::load::LoadOptions::default().page_time_budget.as_millis() as u64)]
    page_time_budget_ms: u64,
}

/// Reads the batch; exit 0 when every page was read automatically, 1 when some need review, 3 when some input
/// could not be read.
pub fn run(a: ScanArgs) -> Result<i32> {
    // Usage errors come before anything is written: a typo in a path or an option leaves no output folder.
    for p in &a.inputs {
        if !p.exists() {
            bail!("{}: no such file or folder", p.display());
        }
    }
    for ag in &a.agencies {
        let ok =
            phieu::read::validate::CodePattern::from_regex(r"^\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}$")
                .is_ok_and(|p| p.matches(ag));
        if !ok {
            bail!("--agency {ag}: not an agency prefix of the form ddd.dd.dd.Ldd (e.g. 000.00.17.H48)");
        }
    }
    let reader = reader(&a)?;
    let start = std::time::Instant::now();
    let plan = phieu::batch::plan_with(&a.inputs, &reader.opts.load);
    for p in &plan.skipped {
        say!(
            "phieu: skipped {}: not a scan (reads .png .jpg .jpeg .bmp .jp2 .j2k .tif .tiff .pdf)",
            p.display()
        );
    }
    let (mut units, bad) = (plan.units, plan.bad);
    if units.is_empty() && bad.is_empty() {
        bail!(
            "no scans found in {} (looked for .png .jpg .jpeg .bmp .jp2 .j2k .tif .tiff .pdf files)",
            a.inputs
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    // Never read our own outputs (review crops) back in when OUT lies inside an input folder.
    if let Ok(out_abs) = a.out.canonicalize() {
        units.retain(|u| {
            u.source
                .path
                .canonicalize()
                .map(|p| !p.starts_with(&out_abs))
                .unwrap_or(true)
        });
    }
    let inputs = input_files(&units);
    let batch_id = Manifest::batch_id_of(&inputs);
    claim_out(&a.out, &batch_id, a.force)?;
    for b in &bad {
        say!(
            "phieu: {}",
            b.error.as_deref().unwrap_or("unreadable input")
        );
    }
    let pb = progress_bar(units.len() as u64, a.quiet);
    let times = StageTimes::default();
    let plain = !std::io::stderr().is_terminal();
    let on_done = |r: &PageRecord| {
        pb.inc(1);
        if let Some(e) = &r.error {
            if r.reasons.iter().any(|x| x == "unreadable") {
                say!("phieu: {e}");
            }
        }
        if plain && !a.quiet && pb.position().is_multiple_of(50) {
            say!(
                "phieu: {}/{} pages",
                pb.position(),
                pb.length().unwrap_or(0)
            );
        }
    };
    let fingerprint = fingerprint(&reader, &a.model);
    let journal_path = a
        .out
        .join(".phieu")
        .join(format!("journal-{fingerprint}.jsonl"));
    let journal = Journal::open(&journal_path)
        .with_context(|| format!("opening {}", journal_path.display()))?;
    let resumed = units
        .iter()
        .filter(|u| journal.finished(u).is_some())
        .count();
    super::on_interrupt(&a.out);
    let mut records = run_batch(
        &reader,
        &units,
        Some(&a.out),
        &times,
        Some(&journal),
        &on_done,
    );
    pb.finish_and_clear();
    records.extend(bad);
    records.sort_by(|x, y| (&x.source.path, x.source.page).cmp(&(&y.source.path, y.source.page)));
    let duplicates = phieu::results::flag_duplicates(&mut records, &reader.templates);
    write_atomic(&a.out.join("results.jsonl"), to_jsonl(&records).as_bytes())?;
    let (field_ids, row_ids) = columns(&reader.templates);
    write_atomic(
        &a.out.join("results.csv"),
        to_csv(&records, &field_ids, &row_ids).as_bytes(),
    )?;
    let manifest = Manifest {
        batch_id,
        program: format!("phieu {}", phieu::VERSION),
        results_schema: phieu::results::SCHEMA.into(),
        templates: reader
            .templates
            .iter()
            .map(|t| TemplateRef {
                id: t.template_id.clone(),
                version: t.version,
            })
            .collect(),
        model: ModelRef {
            version: a.model.version(),
            sha256: a.model.sha256(),
            loaded: reader.recognizer.is_some(),
        },
        options: ManifestOptions {
            review_crops: !a.no_crops,
            extra_templates: a.templates.clone(),
            agencies: a.agencies.clone(),
            returned: a.returned.as_ref().map(|p| FileRef {
                path: p.clone(),
                sha256: phieu::batch::file_sha256(p).ok(),
            }),
        },
        inputs,
        pages: PageCounts::of(&records),
        forms: reader.templates.clone(),
    };
    write_atomic(
        &a.out.join("manifest.json"),
        (serde_json::to_string_pretty(&manifest)? + "\n").as_bytes(),
    )?;
    let count = |s: PageStatus| records.iter().filter(|r| r.status == s).count();
    if !a.quiet {
        let secs = start.elapsed().as_secs_f64();
        let n = units.len();
        let ms = |v: &std::sync::atomic::AtomicUsize| {
            v.load(Ordering::Relaxed) as f64 / 1000.0 / n.max(1) as f64
        };
        say!(
            "phieu: {} pages in {secs:.1}s ({:.1} pages/s): {} accepted, {} needs review, {} rejected, {} blank, \
             {duplicates} duplicates, {resumed} resumed from an earlier run\n\
             phieu: per page (CPU ms): load {:.1}, register {:.1}, identify+verify {:.1}, marks {:.1}, codes {:.1}\n\
             phieu: wrote {}",
            records.len(),
            n as f64 / secs.max(1e-9),
            count(PageStatus::Accepted),
            count(PageStatus::NeedsReview),
            count(PageStatus::Rejected),
            count(PageStatus::Blank),
            ms(&times.load),
            ms(&times.register),
            ms(&times.identify),
            ms(&times.marks),
            ms(&times.ocr),
            a.out.join("results.jsonl").display()
        );
    }
    let unreadable = records
        .iter()
        .filter(|r| r.reasons.iter().any(|x| x == "unreadable"))
        .count();
    if unreadable > 0 {
        // Each was named above with its file and page; say once what to do about them.
        say!(
            "phieu: {unreadable} page{} could not be read (rejected, `unreadable`): check or rescan those files; \
             every other page was read",
            if unreadable == 1 { "" } else { "s" }
        );
    }
    Ok(if unreadable > 0 {
        3
    } else if count(PageStatus::NeedsReview) > 0 {
        1
    } else {
        0
    })
}

/// The reader for this batch: templates, model and options from the flags.
fn reader(a: &ScanArgs) -> Result<Reader> {
    // Deep stacks for the workers: some third-party image routines recurse on large dark regions.
    let mut pool = rayon::ThreadPoolBuilder::new().stack_size(64 << 20);
    if let Some(j) = a.jobs {
        pool = pool.num_threads(j.max(1));
    }
    pool.build_global().ok();
    let mut templates = Template::builtins();
    for p in &a.templates {
        let t = Template::load(p)?;
        // Two forms with one id and version could not be told apart in the results or the database.
        if let Some(same) = templates.iter().find(|x| x.key() == t.key()) {
            anyhow::bail!(
                "{}: form `{}` version {} is already known ({}); a changed form needs a new version number",
                p.display(),
                t.template_id,
                t.version,
                same.form_code
            );
        }
        templates.push(t);
    }
    let recognizer: Option<Box<dyn phieu::read::codes::LineRecognizer>> = match a.model.load() {
        Ok(r) => Some(Box::new(r)),
        Err(e) => {
            say!("phieu: warning: {e:#}; code fields will go to review");
            None
        }
    };
    let returned = match &a.returned {
        Some(p) => super::returned_codes(p)?,
        None => vec![],
    };
    Ok(Reader {
        opts: ScanOptions {
            review_crops: !a.no_crops,
            validate: phieu::read::validate::ValidateOptions {
                returned,
                agencies: a.agencies.clone(),
                today: Some(a.today.unwrap_or_else(phieu::read::validate::today_yymmdd)),
            },
            load: phieu::read::load::LoadOptions {
                max_pixels: a.max_pixels,
                max_pages_per_file: a.max_pages_per_file,
                page_time_budget: std::time::Duration::from_millis(a.page_time_budget_ms),
                ..Default::default()
            },
            ..Default::default()
        },
        templates,
        recognizer,
    })
}

/// The input files of the units, with their hashes and page counts, sorted by path.
fn input_files(units: &[Unit]) -> Vec<InputFile> {
    let mut inputs: std::collections::BTreeMap<String, (String, u32)> = Default::default();
    for u in units {
        let e = inputs
            .entry(u.source.path.to_string_lossy().into_owned())
            .or_insert((u.file_sha256.clone(), 0));
        e.1 += 1;
    }
    inputs
        .into_iter()
        .map(|(path, (sha256, pages))| InputFile {
            path,
            sha256,
            pages,
        })
        .collect()
}

/// Finished pages are reused only by the same program, model, templates and options: a new build or setting
/// reads everything again instead of mixing old and new results.
fn fingerprint(reader: &Reader, model: &ModelArg) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    // The program is known by its version, size and modification time, not its bytes: a release build with line
    // tables is 200 MB, and hashing it took longer than reading 40 pages. Every build writes a new file, so a new
    // build still reads everything again; a copy that loses the time only costs a re-read.
    h.update(env!("CARGO_PKG_VERSION"));
    if let Ok(meta) = std::env::current_exe().and_then(std::fs::metadata) {
        h.update(meta.len().to_le_bytes());
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        h.update(mtime.to_le_bytes());
    }
    h.update(model.sha256().unwrap_or_default());
    for t in &reader.templates {
        h.update(serde_json::to_vec(t).unwrap_or_default());
    }
    let mut opts = reader.opts.clone();
    opts.validate.today = None;
    h.update(format!("{opts:?}"));
    phieu::util::hex(&h.finalize()[..8])
}

/// OUT may hold this batch (a re-run or a resume) or nothing of ours. Another batch's results are refused, or
/// with `--force` moved aside whole to `OUT/.phieu/replaced-ID/`: operators' decisions are never deleted, and
/// old crops never mix with new ones.
fn claim_out(out: &Path, batch_id: &str, force: bool) -> Result<()> {
    let mpath = out.join("manifest.json");
    let old = std::fs::read_to_string(&mpath)
        .ok()
        .and_then(|t| serde_json::from_str::<Manifest>(&t).ok());
    if let Some(old) = old.filter(|m| m.batch_id != batch_id) {
        if !force {
            bail!(
                "{} holds the results of another batch ({}); choose another --out, or add --force to move \
                 those results aside to {}",
                out.display(),
                old.batch_id,
                out.join(".phieu").join(format!("replaced-{}", old.batch_id)).display()
            );
        }
        let aside = out
            .join(".phieu")
            .join(format!("replaced-{}", old.batch_id));
        std::fs::create_dir_all(&aside).with_context(|| format!("creating {}", aside.display()))?;
        for name in [
            "results.jsonl",
            "results.csv",
            "manifest.json",
            "review.jsonl",
            "review",
            "final.jsonl",
        ] {
            let p = out.join(name);
            if p.exists() {
                std::fs::rename(&p, aside.join(name))
                    .with_context(|| format!("moving {} aside", p.display()))?;
            }
        }
        say!(
            "phieu: moved the results of batch {} aside to {}",
            old.batch_id,
            aside.display()
        );
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))
}

/// Field and row columns of the results CSV: every template's, in template order, each once.
fn columns(templates: &[Template]) -> (Vec<String>, Vec<String>) {
    let (mut fields, mut rows) = (Vec::<String>::new(), Vec::<String>::new());
    for t in templates {
        for f in &t.fields {
            if !fields.contains(&f.id) {
                fields.push(f.id.clone());
            }
        }
        for r in &t.rows {
            if !rows.contains(&r.id) {
                rows.push(r.id.clone());
            }
        }
    }
    (fields, rows)
}

fn progress_bar(len: u64, quiet: bool) -> ProgressBar {
    let pb = ProgressBar::new(len);
    if quiet || !std::io::stderr().is_terminal() {
        pb.set_draw_target(ProgressDrawTarget::hidden());
    } else {
        pb.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} pages  {rate}  ETA {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .with_key(
                    "rate",
                    |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = write!(w, "{:.1} pages/s", s.per_sec());
                    },
                ),
        );
    }
    pb
}

/// `YYYY-MM-DD` (a real day from 2018) to the (yy, mm, dd) the validator uses.
fn parse_day(s: &str) -> Result<(u32, u32, u32), String> {
    let bad = || format!("'{s}' is not a day as YYYY-MM-DD");
    let mut it = s.split('-').map(|p| p.parse::<u32>().map_err(|_| bad()));
    let (Some(y), Some(m), Some(d), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return Err(bad());
    };
    let (y, m, d) = (y?, m?, d?);
    let day = phieu::forms::template::DateSpec {
        separator: "-".into(),
        segment: 0,
        format: "yyyymmdd".into(),
    };
    if !(2018..2100).contains(&y) || day.date_of(&format!("{y:04}{m:02}{d:02}")).is_none() {
        return Err(bad());
    }
    Ok((y % 100, m, d))
}
