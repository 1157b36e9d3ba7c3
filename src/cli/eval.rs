//! `phieu eval` and `phieu eval-codes` (developer tools, `tools` feature).

use super::ModelArg;
use anyhow::Result;
use std::path::PathBuf;

/// Measure results against a truth file.
#[derive(clap::Args)]
pub struct EvalArgs {
    /// truth.jsonl (from `phieu synth` or the shared examples).
    #[arg(long)]
    truth: PathBuf,
    /// results.jsonl from `phieu scan`.
    #[arg(long)]
    results: PathBuf,
}

/// Prints registration error, confusion and calibration tables, and field accuracy.
pub fn run(a: EvalArgs) -> Result<i32> {
    print!("{}", phieu::tools::eval::evaluate(&a.truth, &a.results)?);
    Ok(0)
}

/// Code-reader accuracy on labelled crops.
#[derive(clap::Args)]
pub struct EvalCodesArgs {
    /// The crops folder (holding labels.jsonl).
    crops: PathBuf,
    #[command(flatten)]
    model: ModelArg,
}

/// Prints the code reader's accuracy per variant.
pub fn run_codes(a: EvalCodesArgs) -> Result<i32> {
    let m = a.model.load()?;
    let r = phieu::tools::bench::eval_codes(
        &m,
        &a.crops,
        &phieu::forms::template::Template::builtins(),
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    print!("{r}");
    Ok(0)
}
