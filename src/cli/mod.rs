//! The command line: one file per subcommand, each with its flags (`*Args`) and a `run` that returns the exit
//! status. Only this layer uses `anyhow`; the library's errors carry the file and page.

use anyhow::Result;
use clap::{Parser, Subcommand};
use phieu::forms::template::Template;
use phieu::read::codes::OcrsRecognizer;
use std::path::{Path, PathBuf};

#[cfg(feature = "tools")]
mod bench;
#[cfg(feature = "tools")]
mod eval;
mod export;
mod form;
mod import;
mod render;
mod report;
mod review;
mod scan;
#[cfg(feature = "tools")]
mod synth;

/// `eprintln!` that never panics: a closed stderr (`phieu scan ... 2>&1 | head -1`) silences the messages but
/// never stops or changes the batch.
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}
pub(crate) use say;

/// `--model`: the recognition model compiled into the binary unless a file is given.
#[derive(clap::Args, Clone)]
pub struct ModelArg {
    /// Recognition model for the code fields (ONNX with its .json beside it; default: the built-in model).
    #[arg(long)]
    model: Option<PathBuf>,
}

impl ModelArg {
    fn load(&self) -> Result<OcrsRecognizer> {
        Ok(match &self.model {
            Some(p) => OcrsRecognizer::load(p)?,
            None => OcrsRecognizer::builtin()?,
        })
    }

    /// SHA-256 of the model's bytes (resume fingerprint and manifest).
    fn sha256(&self) -> Option<String> {
        match &self.model {
            Some(p) => phieu::batch::file_sha256(p).ok(),
            None => Some(phieu::batch::bytes_sha256(
                phieu::read::codes::BUILTIN_MODEL,
            )),
        }
    }

    /// The model's name and version from its metadata.
    fn version(&self) -> String {
        let meta = match &self.model {
            Some(p) => std::fs::read_to_string(p.with_extension("json")).ok(),
            None => Some(phieu::read::codes::BUILTIN_MODEL_META.to_string()),
        };
        meta.and_then(|s| serde_json::from_str::<phieu::read::codes::ModelMeta>(&s).ok())
            .map(|m| format!("{} {}", m.name, m.version))
            .unwrap_or_else(|| "none found".into())
    }
}

fn long_version() -> &'static str {
    Box::leak(
        format!(
            "{}\ntemplates: gtvt v{}, khdt v{} (phieu-form/1)\nmodel: {} (built in)\nresults schema: {}",
            phieu::VERSION,
            Template::builtin("gtvt").map(|t| t.version).unwrap_or(0),
            Template::builtin("khdt").map(|t| t.version).unwrap_or(0),
            ModelArg { model: None }.version(),
            phieu::results::SCHEMA
        )
        .into_boxed_str(),
    )
}

/// Reads scanned satisfaction-rating forms into reviewed, importable ratings.
#[derive(Parser)]
#[command(name = "phieu", version, long_version = long_version(), about)]
pub struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Read scanned pages (files or folders) into OUT/results.jsonl, results.csv and review crops.
    Scan(scan::ScanArgs),
    /// Draw a form as the center prints it (vector PDF at true A4, or PNG).
    Render(render::RenderArgs),
    /// Author a form from a short description, or check a template file.
    Form(form::FormArgs),
    /// Generate filled, scan-degraded pages with truth.jsonl (test, training and benchmark data).
    #[cfg(feature = "tools")]
    Synth(synth::SynthArgs),
    /// Measure results against a truth file: registration error, confusion and calibration tables, fields.
    #[cfg(feature = "tools")]
    Eval(eval::EvalArgs),
    /// Time each stage per page on one thread (decoding excluded from the stage figures).
    #[cfg(feature = "tools")]
    Bench(bench::BenchArgs),
    /// Code-reader accuracy per variant on labelled crops from `phieu synth --field-crops`.
    #[cfg(feature = "tools")]
    EvalCodes(eval::EvalCodesArgs),
    /// Merge a scan's results with the review decisions into final records (JSON lines or CSV).
    Export(export::ExportArgs),
    /// Serve the operator's review page for a scan folder (decisions go to DIR/review.jsonl).
    Review(review::ReviewArgs),
    /// Load paper ratings (final.jsonl) or tablet/website ratings (CSV) into the database, exactly once; list and
    /// resolve conflicts.
    Import(import::ImportArgs),
    /// Coverage, satisfaction and scores across channels per department, counter, officer and week or month.
    Report(report::ReportArgs),
}

impl Cli {
    /// Parses the command line. A long option written with one dash (`-out DIR`) is refused: clap would read it
    /// as `-o ut` and write somewhere the clerk never asked for.
    pub fn parse_checked() -> Result<Cli, String> {
        use clap::CommandFactory;
        let args: Vec<String> = std::env::args().collect();
        let cmd = Cli::command();
        let sub = args
            .get(1)
            .and_then(|s| cmd.get_subcommands().find(|c| c.get_name() == s));
        if let Some(sub) = sub {
            for a in args.iter().skip(2).take_while(|a| *a != "--") {
                let Some(name) = a
                    .strip_prefix('-')
                    .filter(|n| !n.starts_with('-') && n.len() > 1)
                else {
                    continue;
                };
                let name = name.split('=').next().unwrap_or(name);
                if sub.get_arguments().any(|x| x.get_long() == Some(name)) {
                    return Err(format!(
                        "`{a}`: long options take two dashes (did you mean `--{}`?)",
                        &a[1..]
                    ));
                }
            }
        }
        Ok(Cli::parse())
    }

    /// Runs the subcommand and returns the process exit status.
    pub fn run(self) -> Result<i32> {
        match self.cmd {
            Cmd::Scan(a) => scan::run(a),
            Cmd::Render(a) => render::run(a),
            Cmd::Form(a) => form::run(a),
            #[cfg(feature = "tools")]
            Cmd::Synth(a) => synth::run(a),
            #[cfg(feature = "tools")]
            Cmd::Eval(a) => eval::run(a),
            #[cfg(feature = "tools")]
            Cmd::Bench(a) => bench::run(a),
            #[cfg(feature = "tools")]
            Cmd::EvalCodes(a) => eval::run_codes(a),
            Cmd::Export(a) => export::run(a),
            Cmd::Review(a) => review::run(a),
            Cmd::Import(a) => import::run(a),
            Cmd::Report(a) => report::run(a),
        }
    }
}

/// On Ctrl-C, says what is kept and how to go on, then exits 130. Finished pages are in the resume journal and
/// every output is written atomically, so stopping at any moment loses nothing.
fn on_interrupt(out: &Path) {
    let out = out.to_path_buf();
    let _ = ctrlc::set_handler(move || {
        say!(
            "\nphieu: interrupted. Finished pages are kept in {}; run the same command again to resume from \
             where it stopped.",
            out.join(".phieu").display()
        );
        std::process::exit(130);
    });
}

/// A template id (`gtvt`, `khdt`) or a template file.
fn load_template(s: &str) -> Result<Template> {
    // A name that looks like a file is read as one, so a mistyped path says "cannot read", not "unknown id".
    if Path::new(s).exists() || s.contains(['/', '\\']) || s.ends_with(".json") {
        Ok(Template::load(Path::new(s))?)
    } else {
        Ok(Template::builtin(s)?)
    }
}

/// The dossier codes of a returned-dossiers export (`--returned`).
fn returned_codes(p: &Path) -> Result<Vec<String>> {
    use anyhow::Context;
    let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
    Ok(phieu::returned::read_returned_codes(p, &text)?)
}
