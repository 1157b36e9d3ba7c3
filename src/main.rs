//! The `phieu` command: parses flags and wires the library's stages.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use phieu::export::{to_csv, to_jsonl, write_atomic, PageStatus};
use phieu::pipeline::{run, Reader, ScanOptions, StageTimes};
use phieu::render::{render_form, Canvas, Fonts, Prefill};
use phieu::template::Template;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

/// `eprintln!` that never panics: a closed stderr (`phieu scan ... 2>&1 | head -1`) silences the messages but
/// never stops or changes the batch.
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

const DEFAULT_MODEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/codes.onnx");

fn long_version() -> &'static str {
    Box::leak(
        format!(
            "{}\ntemplates: gtvt v{}, khdt v{} (phieu-form/1)\nmodel: {}\nresults schema: {}",
            phieu::VERSION,
            Template::builtin("gtvt").map(|t| t.version).unwrap_or(0),
            Template::builtin("khdt").map(|t| t.version).unwrap_or(0),
            model_version(),
            phieu::export::SCHEMA
        )
        .into_boxed_str(),
    )
}

fn model_version() -> String {
    let meta = Path::new(DEFAULT_MODEL).with_extension("json");
    std::fs::read_to_string(meta)
        .ok()
        .and_then(|s| serde_json::from_str::<phieu::ocr::ModelMeta>(&s).ok())
        .map(|m| format!("{} {}", m.name, m.version))
        .unwrap_or_else(|| "none found".into())
}

/// Reads scanned satisfaction-rating forms into reviewed, importable ratings.
#[derive(Parser)]
#[command(name = "phieu", version, long_version = long_version(), about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Read scanned pages (files or folders) into OUT/results.jsonl, results.csv and review crops.
    Scan(ScanArgs),
    /// Draw a form as the center prints it (vector PDF at true A4, or PNG).
    Render(RenderArgs),
    /// Generate filled, scan-degraded pages with truth.jsonl (test, training and benchmark data).
    Synth(SynthArgs),
    /// Measure results against a truth file: registration error, confusion and calibration tables, fields.
    Eval(EvalArgs),
    /// Time each stage per page on one thread (decoding excluded from the stage figures).
    Bench(BenchArgs),
    /// Code-reader accuracy per variant on labelled crops from `phieu synth --field-crops`.
    EvalCodes(EvalCodesArgs),
    /// Merge a scan's results with the review decisions into final records (JSON lines or CSV).
    Export(ExportArgs),
    /// Serve the operator's review page for a scan folder (decisions go to DIR/review.jsonl).
    Review(ReviewArgs),
    /// Load final records (`phieu export`'s final.jsonl) into the ratings database, exactly once.
    Import(ImportArgs),
    /// Per department, counter, officer and month: forms, answers, mean score, satisfaction, coverage.
    Report(ReportArgs),
}

#[derive(clap::Args)]
struct ImportArgs {
    /// final.jsonl, or a folder holding it.
    path: PathBuf,
    /// Database: sqlite:PATH (embedded, created when missing) or postgres://USER[:PASSWORD]@HOST:PORT/DB.
    #[arg(long, default_value = "sqlite:phieu.db")]
    db: String,
    /// Import records that still have unresolved review items (their machine proposals).
    #[arg(long)]
    allow_unreviewed: bool,
}

#[derive(clap::Args)]
struct ReportArgs {
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

#[derive(clap::Args)]
struct EvalCodesArgs {
    /// The crops folder (holding labels.jsonl).
    crops: PathBuf,
    /// Recognition model.
    #[arg(long, default_value = DEFAULT_MODEL)]
    model: PathBuf,
}

#[derive(clap::Args)]
struct BenchArgs {
    /// Scanned files or folders.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// At most this many pages.
    #[arg(long, default_value_t = 200)]
    limit: usize,
    /// Recognition model.
    #[arg(long, default_value = DEFAULT_MODEL)]
    model: PathBuf,
}

#[derive(clap::Args)]
struct EvalArgs {
    /// truth.jsonl (from `phieu synth` or the shared examples).
    #[arg(long)]
    truth: PathBuf,
    /// results.jsonl from `phieu scan`.
    #[arg(long)]
    results: PathBuf,
}

#[derive(clap::Args)]
struct SynthArgs {
    /// Number of pages.
    #[arg(long, default_value_t = 20)]
    count: u64,
    /// Random seed (same seed, same pages).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output folder.
    #[arg(short, long)]
    out: PathBuf,
    /// Clean pages: no rotation, skew, noise or other degradations.
    #[arg(long)]
    clean: bool,
    /// Also write labelled crops of the code fields to OUT/crops/ (for training the recognizer).
    #[arg(long)]
    field_crops: bool,
    /// Handwritten digits atlas (default: the training atlas; pass models/hand/digits_test.png for held-out sets).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/models/hand/digits_train.png"))]
    hand_atlas: PathBuf,
    /// Fixed resolution (default: a 150/200/300 dpi mix).
    #[arg(long)]
    dpi: Option<f64>,
    /// Write every page as JPEG.
    #[arg(long)]
    jpeg_only: bool,
    /// Write every page in greyscale.
    #[arg(long)]
    gray_only: bool,
    /// Draw all text (printed and sticker codes included) in this TTF/OTF font instead of DejaVu Sans.
    #[arg(long)]
    font: Option<PathBuf>,
    /// Fraction of blank backs.
    #[arg(long, default_value_t = 0.04)]
    blank_fraction: f64,
    /// Fraction of non-form pages.
    #[arg(long, default_value_t = 0.03)]
    other_fraction: f64,
    /// Also write a matching returned-dossiers export (every form's dossier code with counter and officer,
    /// plus returned dossiers nobody rated) to this CSV file.
    #[arg(long)]
    returned_csv: Option<PathBuf>,
}

#[derive(clap::Args)]
struct ScanArgs {
    /// Scanned files or folders (PNG, JPEG, TIFF, PDF); folders are searched recursively.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Output folder.
    #[arg(short, long)]
    out: PathBuf,
    /// Extra template files (phieu-form/1 JSON), in addition to the built-in gtvt and khdt.
    #[arg(long = "template")]
    templates: Vec<PathBuf>,
    /// Recognition model for the code fields (ONNX; its .json beside it).
    #[arg(long, default_value = DEFAULT_MODEL)]
    model: PathBuf,
    /// Worker threads (default: all cores).
    #[arg(short, long)]
    jobs: Option<usize>,
    /// Do not write review crops.
    #[arg(long)]
    no_crops: bool,
    /// The one-stop system's export of returned dossiers (CSV, header row, first column `code`); a read code
    /// not in it goes to review, with a unique one-edit neighbour proposed to the operator.
    #[arg(long)]
    returned: Option<PathBuf>,
    /// Allowed agency prefix of dossier codes (`ddd.dd.dd.Ldd`, repeatable); others go to review.
    #[arg(long = "agency")]
    agencies: Vec<String>,
    /// The day dossier dates may not be after (`YYYY-MM-DD`, default: today). For re-runs and tests; it is not
    /// part of the resume fingerprint, so a batch resumed after midnight keeps its finished pages.
    #[arg(long, value_parser = parse_day)]
    today: Option<(u32, u32, u32)>,
    /// Hide the progress bar.
    #[arg(short, long)]
    quiet: bool,
    /// Largest page in pixels (width x height), checked from the file header before decoding; larger pages are
    /// rejected as `too_large` (default: 120 million, A3 at 600 dpi).
    #[arg(long, default_value_t = phieu::load::LoadOptions::default().max_pixels)]
    max_pixels: u64,
    /// Pages read from one file; the rest of a longer file gets one `too_many_pages` record.
    #[arg(long, default_value_t = phieu::load::LoadOptions::default().max_pages_per_file)]
    max_pages_per_file: u32,
    /// Wall time per page in ms, checked between stages; a slower page goes to review (`time_budget_exceeded`).
    #[arg(long, default_value_t = phieu::load::LoadOptions::default().page_time_budget.as_millis() as u64)]
    page_time_budget_ms: u64,
}

#[derive(clap::Args)]
struct RenderArgs {
    /// Template id (gtvt, khdt) or a template file.
    #[arg(long, default_value = "gtvt")]
    template: String,
    /// Dossier code to print (and put in the QR).
    #[arg(long)]
    dossier: Option<String>,
    /// Enterprise code to print (KHĐT form).
    #[arg(long)]
    enterprise: Option<String>,
    /// Resolution for PNG output.
    #[arg(long, default_value_t = 300)]
    dpi: u32,
    /// Output file (.pdf or .png).
    #[arg(short, long)]
    out: PathBuf,
}

fn load_template(s: &str) -> Result<Template> {
    if Path::new(s).exists() {
        Ok(Template::load(Path::new(s))?)
    } else {
        Ok(Template::builtin(s)?)
    }
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.cmd {
        Cmd::Scan(a) => scan(a),
        Cmd::Render(a) => render(a).map(|_| 0),
        Cmd::Synth(a) => synth(a).map(|_| 0),
        Cmd::Bench(a) => {
            let reader = Reader {
                opts: ScanOptions::default(),
                templates: Template::builtins(),
                recognizer: phieu::ocr::OcrsRecognizer::load(&a.model)
                    .ok()
                    .map(|r| Box::new(r) as Box<dyn phieu::ocr::LineRecognizer>),
            };
            print!("{}", phieu::bench::bench(&reader, &a.inputs, a.limit));
            Ok(0)
        }
        Cmd::EvalCodes(a) => phieu::ocr::OcrsRecognizer::load(&a.model)
            .map_err(anyhow::Error::from)
            .and_then(|m| {
                phieu::bench::eval_codes(&m, &a.crops, &Template::builtins())
                    .map_err(|e| anyhow::anyhow!(e))
            })
            .map(|r| {
                print!("{r}");
                0
            }),
        Cmd::Export(a) => export_final(a),
        Cmd::Review(a) => review(a),
        Cmd::Import(a) => import(a),
        Cmd::Report(a) => report(a).map(|_| 0),
        Cmd::Eval(a) => phieu::eval::evaluate(&a.truth, &a.results)
            .map(|r| {
                print!("{r}");
                0
            })
            .map_err(Into::into),
    };
    match code {
        Ok(c) => std::process::exit(c),
        Err(e) => {
            say!("phieu: error: {e:#}");
            std::process::exit(2)
        }
    }
}

fn render(a: RenderArgs) -> Result<()> {
    let t = load_template(&a.template)?;
    // What is printed (and put in the QR) must be a value the form's own field accepts.
    for (id, flag, v) in [
        ("dossier_code", "--dossier", &a.dossier),
        ("enterprise_code", "--enterprise", &a.enterprise),
    ] {
        let Some(v) = v else { continue };
        let Some(f) = t.field(id) else {
            bail!("{flag}: the {} form has no {id} field", t.template_id);
        };
        let ok = phieu::validate::CodePattern::from_regex(&f.pattern).is_ok_and(|p| p.matches(v));
        if !ok {
            bail!(
                "{flag} {v:?}: does not match the {id} pattern {}",
                f.pattern
            );
        }
    }
    let prefill = Prefill {
        dossier: a.dossier,
        enterprise: a.enterprise,
    };
    let ext = a
        .out
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "png" => {
            let mut c = Canvas::new(t.page_mm[0], t.page_mm[1], a.dpi as f64);
            render_form(&mut c, &t, &prefill, &Fonts::new())?;
            let g = image::DynamicImage::ImageRgb8(c.img).to_luma8();
            let mut buf = std::io::Cursor::new(Vec::new());
            g.write_to(&mut buf, image::ImageFormat::Png)?;
            write_atomic(&a.out, buf.get_ref())
                .with_context(|| format!("writing {}", a.out.display()))?;
        }
        "pdf" => {
            let bytes = phieu::pdf::render_pdf(&t, &prefill)?;
            write_atomic(&a.out, &bytes).with_context(|| format!("writing {}", a.out.display()))?;
        }
        _ => bail!("{}: output must end in .png or .pdf", a.out.display()),
    }
    say!("wrote {}", a.out.display());
    Ok(())
}

fn scan(a: ScanArgs) -> Result<i32> {
    // Usage errors come before anything is written: a typo in a path or an option leaves no output folder.
    for p in &a.inputs {
        if !p.exists() {
            anyhow::bail!("{}: no such file or folder", p.display());
        }
    }
    for ag in &a.agencies {
        let ok = phieu::validate::CodePattern::from_regex(r"^\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}$")
            .is_ok_and(|p| p.matches(ag));
        if !ok {
            anyhow::bail!("--agency {ag}: not an agency prefix of the form ddd.dd.dd.Ldd (e.g. 000.00.17.H48)");
        }
    }
    // Deep stacks for the workers: some third-party image routines recurse on large dark regions.
    let mut pool = rayon::ThreadPoolBuilder::new().stack_size(64 << 20);
    if let Some(j) = a.jobs {
        pool = pool.num_threads(j.max(1));
    }
    pool.build_global().ok();
    let mut templates = Template::builtins();
    for p in &a.templates {
        templates.push(Template::load(p)?);
    }
    let recognizer: Option<Box<dyn phieu::ocr::LineRecognizer>> =
        match phieu::ocr::OcrsRecognizer::load(&a.model) {
            Ok(r) => Some(Box::new(r)),
            Err(e) => {
                say!("phieu: warning: {e}; code fields will go to review");
                None
            }
        };
    let returned = match &a.returned {
        Some(p) => phieu::validate::read_returned_csv(
            &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        )
        .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
        None => vec![],
    };
    let reader = Reader {
        opts: ScanOptions {
            review_crops: !a.no_crops,
            validate: phieu::validate::ValidateOptions {
                returned,
                agencies: a.agencies.clone(),
                today: Some(a.today.unwrap_or_else(phieu::validate::today_yymmdd)),
            },
            load: phieu::load::LoadOptions {
                max_pixels: a.max_pixels,
                max_pages_per_file: a.max_pages_per_file,
                page_time_budget: std::time::Duration::from_millis(a.page_time_budget_ms),
                ..Default::default()
            },
            ..Default::default()
        },
        templates,
        recognizer,
    };
    let start = std::time::Instant::now();
    let (mut units, bad) = phieu::pipeline::plan_with(&a.inputs, &reader.opts.load);
    if units.is_empty() && bad.is_empty() {
        anyhow::bail!(
            "no scans found in {} (looked for .png .jpg .jpeg .tif .tiff .pdf files)",
            a.inputs
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
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
    for b in &bad {
        say!(
            "phieu: {}",
            b.error.as_deref().unwrap_or("unreadable input")
        );
    }
    let pb = ProgressBar::new(units.len() as u64);
    if a.quiet || !std::io::stderr().is_terminal() {
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
    let times = StageTimes::default();
    let quiet = a.quiet;
    let plain = !std::io::stderr().is_terminal();
    let on_done = |r: &phieu::export::PageRecord| {
        pb.inc(1);
        if let Some(e) = &r.error {
            if r.reasons.iter().any(|x| x == "unreadable") {
                say!("phieu: {e}");
            }
        }
        if plain && !quiet && pb.position().is_multiple_of(50) {
            say!(
                "phieu: {}/{} pages",
                pb.position(),
                pb.length().unwrap_or(0)
            );
        }
    };
    // Finished pages are reused only by the same program, model, templates and options: a new build or setting
    // reads everything again instead of mixing old and new results.
    let fingerprint = {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        if let Ok(exe) = std::env::current_exe().and_then(std::fs::read) {
            h.update(&exe);
        }
        h.update(phieu::pipeline::file_sha256(&a.model).unwrap_or_default());
        for t in &reader.templates {
            h.update(serde_json::to_vec(t).unwrap_or_default());
        }
        let mut opts = reader.opts.clone();
        opts.validate.today = None;
        h.update(format!("{opts:?}"));
        h.finalize()
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let journal_path = a
        .out
        .join(".phieu")
        .join(format!("journal-{fingerprint}.jsonl"));
    let journal = phieu::pipeline::Journal::open(&journal_path)
        .with_context(|| format!("opening {}", journal_path.display()))?;
    let resumed = units
        .iter()
        .filter(|u| journal.finished(u).is_some())
        .count();
    let mut records = run(
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
    let duplicates = phieu::export::flag_duplicates(&mut records);
    write_atomic(&a.out.join("results.jsonl"), to_jsonl(&records).as_bytes())?;
    let row_ids: Vec<String> = reader.templates[0]
        .rows
        .iter()
        .map(|r| r.id.clone())
        .collect();
    write_atomic(
        &a.out.join("results.csv"),
        to_csv(&records, &row_ids).as_bytes(),
    )?;
    let manifest = manifest(&a, &units, &records, &reader);
    write_atomic(
        &a.out.join("manifest.json"),
        (serde_json::to_string_pretty(&manifest)? + "\n").as_bytes(),
    )?;
    let count = |s: PageStatus| records.iter().filter(|r| r.status == s).count();
    let secs = start.elapsed().as_secs_f64();
    let n = units.len();
    if !a.quiet {
        let ms = |v: &std::sync::atomic::AtomicUsize| {
            v.load(Ordering::Relaxed) as f64 / 1000.0 / n.max(1) as f64
        };
        say!(
            "phieu: {n} pages in {secs:.1}s ({:.1} pages/s): {} accepted, {} needs review, {} rejected, {} blank, \
             {duplicates} duplicates, {resumed} resumed from an earlier run\n\
             phieu: per page (CPU ms): load {:.1}, register {:.1}, identify+verify {:.1}, marks {:.1}, codes {:.1}\n\
             phieu: wrote {}",
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
        .any(|r| r.reasons.iter().any(|x| x == "unreadable"));
    Ok(if unreadable {
        3
    } else if count(PageStatus::NeedsReview) > 0 {
        1
    } else {
        0
    })
}

fn synth(a: SynthArgs) -> Result<()> {
    let opts = phieu::synth::SynthOptions {
        seed: a.seed,
        degrade: !a.clean,
        blank_fraction: a.blank_fraction,
        other_fraction: a.other_fraction,
        hand_atlas: a.hand_atlas.exists().then_some(a.hand_atlas.clone()),
        field_crops: a.field_crops,
        dpi: a.dpi,
        jpeg_only: a.jpeg_only,
        gray_only: a.gray_only,
        font: a.font.clone(),
    };
    if opts.hand_atlas.is_none() {
        say!(
            "phieu: warning: {} not found; handwriting uses a jittered font",
            a.hand_atlas.display()
        );
    }
    let pb = ProgressBar::new(a.count);
    if !std::io::stderr().is_terminal() {
        pb.set_draw_target(ProgressDrawTarget::hidden());
    }
    phieu::synth::write_set(&a.out, a.count, &opts, &|| pb.inc(1))?;
    pb.finish_and_clear();
    say!(
        "phieu: wrote {} pages and truth.jsonl to {}",
        a.count,
        a.out.display()
    );
    if let Some(p) = &a.returned_csv {
        let truth = std::fs::read_to_string(a.out.join("truth.jsonl"))?;
        let o = phieu::synth::ReturnedCsvOptions {
            seed: a.seed,
            ..Default::default()
        };
        write_atomic(p, phieu::synth::returned_csv(&truth, &o).as_bytes())
            .with_context(|| format!("writing {}", p.display()))?;
        say!("phieu: wrote {}", p.display());
    }
    Ok(())
}

/// The batch manifest: inputs with content hashes, versions and options (no timestamps, so re-runs are identical).
fn manifest(
    a: &ScanArgs,
    units: &[phieu::pipeline::Unit],
    records: &[phieu::export::PageRecord],
    reader: &Reader,
) -> serde_json::Value {
    let mut inputs: std::collections::BTreeMap<String, (String, u32)> = Default::default();
    for u in units {
        let e = inputs
            .entry(u.source.path.to_string_lossy().into_owned())
            .or_insert((u.file_sha256.clone(), 0));
        e.1 += 1;
    }
    let model_sha = phieu::pipeline::file_sha256(&a.model).ok();
    // The batch is named by its content, so the same scans give the same id wherever they lie.
    let batch_id = {
        use sha2::Digest;
        let mut hashes: Vec<&str> = inputs.values().map(|(h, _)| h.as_str()).collect();
        hashes.sort_unstable();
        let mut h = sha2::Sha256::new();
        for x in hashes {
            h.update(x.as_bytes());
            h.update(b"\n");
        }
        h.finalize()
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let count = |s: PageStatus| records.iter().filter(|r| r.status == s).count();
    serde_json::json!({
        "batch_id": batch_id,
        "program": format!("phieu {}", phieu::VERSION),
        "results_schema": phieu::export::SCHEMA,
        "templates": reader.templates.iter().map(|t| serde_json::json!({"id": t.template_id, "version": t.version})).collect::<Vec<_>>(),
        "model": {"version": model_version(), "sha256": model_sha, "loaded": reader.recognizer.is_some()},
        "options": {"review_crops": !a.no_crops, "extra_templates": a.templates, "agencies": a.agencies,
                    "returned": a.returned.as_ref().map(|p| serde_json::json!({"path": p, "sha256": phieu::pipeline::file_sha256(p).ok()}))},
        "inputs": inputs.iter().map(|(p, (h, n))| serde_json::json!({"path": p, "sha256": h, "pages": n})).collect::<Vec<_>>(),
        "pages": {"total": records.len(), "accepted": count(PageStatus::Accepted), "needs_review": count(PageStatus::NeedsReview),
                  "rejected": count(PageStatus::Rejected), "blank": count(PageStatus::Blank)},
    })
}

#[derive(clap::Args)]
struct ExportArgs {
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
fn export_final(a: ExportArgs) -> Result<i32> {
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

#[derive(clap::Args)]
struct ReviewArgs {
    /// The scan folder (holding results.jsonl, manifest.json and the review crops).
    dir: PathBuf,
    /// Port to listen on (default: a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Address to listen on instead of loopback (`ADDR` or `ADDR:PORT`); anyone who can reach it and has the
    /// printed token can decide items.
    #[arg(long)]
    listen: Option<String>,
    /// Operator name written with every decision (default: the login name).
    #[arg(long)]
    operator: Option<String>,
    /// The one-stop system's export of returned dossiers (CSV, first column `code`): nearest codes are offered.
    #[arg(long)]
    returned: Option<PathBuf>,
}

/// `phieu review`: serves the review page until stopped (Ctrl-C).
fn review(a: ReviewArgs) -> Result<i32> {
    use std::net::{IpAddr, SocketAddr};
    let listen = match &a.listen {
        None => SocketAddr::from(([127, 0, 0, 1], a.port)),
        Some(s) => match s.parse::<SocketAddr>() {
            Ok(sa) => sa,
            Err(_) => SocketAddr::new(
                s.parse::<IpAddr>()
                    .with_context(|| format!("--listen {s}: not an address"))?,
                a.port,
            ),
        },
    };
    let returned = match &a.returned {
        Some(p) => phieu::validate::read_returned_csv(
            &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        )
        .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
        None => vec![],
    };
    let opts = phieu::review::server::ServeOptions {
        listen,
        // Every decision names a person: without --operator, the login name stands in.
        operator: a
            .operator
            .filter(|o| !o.trim().is_empty())
            .or_else(|| std::env::var("USER").ok())
            .or_else(|| std::env::var("USERNAME").ok())
            .unwrap_or_else(|| "operator".into()),
        returned,
        ..Default::default()
    };
    phieu::review::server::serve(&a.dir, opts, |url| {
        use std::io::Write;
        // The URL on stdout alone (scripts and tests read it); the hint on stderr.
        println!("{url}");
        std::io::stdout().flush().ok();
        say!("phieu: review page at {url} (Ctrl-C to stop; every decision is already saved)");
    })?;
    Ok(0)
}

fn import(a: ImportArgs) -> Result<i32> {
    let opts = phieu::db::ImportOptions {
        allow_unreviewed: a.allow_unreviewed,
    };
    let mut store = phieu::db::open(&a.db)?;
    let outcomes = phieu::db::import_path(store.as_mut(), &a.path, &opts)?;
    for o in &outcomes {
        println!("{o}");
    }
    let sum = |f: fn(&phieu::db::BatchOutcome) -> usize| outcomes.iter().map(f).sum::<usize>();
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

fn report(a: ReportArgs) -> Result<()> {
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
        Some(p) => Some(phieu::report::read_returned(
            p,
            &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        )?),
        None => None,
    };
    let mut store = phieu::db::open(&a.db)?;
    phieu::db::migrate(store.as_mut())?;
    let (ratings, conflicts) = phieu::db::load_ratings(store.as_mut())?;
    let r = phieu::report::build(&ratings, returned.as_deref(), conflicts, &opts);
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
    Ok(())
}

/// `YYYY-MM-DD` (a real day from 2018) to the (yy, mm, dd) the validator uses.
fn parse_day(s: &str) -> Result<(u32, u32, u32), String> {
    let bad = || format!("'{s}' is not a day as YYYY-MM-DD");
    let mut it = s.split('-').map(|p| p.parse::<u32>().map_err(|_| bad()));
    let (Some(y), Some(m), Some(d), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return Err(bad());
    };
    let (y, m, d) = (y?, m?, d?);
    let code = format!("{:02}{m:02}{d:02}", y % 100);
    if !(2018..2100).contains(&y)
        || !phieu::validate::dossier_date_ok(&format!("000.00.00.H00-{code}-0000"), None)
    {
        return Err(bad());
    }
    Ok((y % 100, m, d))
}
