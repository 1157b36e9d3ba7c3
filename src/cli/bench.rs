//! `phieu bench` (developer tool, `tools` feature): per-stage time of the real pipeline on one thread.

use super::ModelArg;
use anyhow::Result;
use phieu::read::page::Reader;
use std::path::PathBuf;

/// Time each stage per page.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// Scanned files or folders.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// At most this many pages.
    #[arg(long, default_value_t = 200)]
    limit: usize,
    #[command(flatten)]
    model: ModelArg,
}

/// Prints per-stage milliseconds per page.
pub fn run(a: BenchArgs) -> Result<i32> {
    let reader = Reader {
        opts: Default::default(),
        templates: phieu::forms::template::Template::builtins(),
        recognizer: a
            .model
            .load()
            .ok()
            .map(|r| Box::new(r) as Box<dyn phieu::read::codes::LineRecognizer>),
    };
    print!(
        "{}",
        phieu::tools::bench::bench(&reader, &a.inputs, a.limit)
    );
    Ok(0)
}
