//! `phieu synth`.

use super::say;
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget};
use phieu::results::write_atomic;
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct SynthArgs {
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
    /// Draw the forms from these template files (repeatable) instead of the built-in forms.
    #[arg(long = "template")]
    templates: Vec<PathBuf>,
}

pub fn run(a: SynthArgs) -> Result<i32> {
    let opts = phieu::tools::synth::SynthOptions {
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
        templates: a
            .templates
            .iter()
            .map(|p| phieu::forms::template::Template::load(p))
            .collect::<Result<_, _>>()?,
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
    phieu::tools::synth::write_set(&a.out, a.count, &opts, &|| pb.inc(1))?;
    pb.finish_and_clear();
    say!(
        "phieu: wrote {} pages and truth.jsonl to {}",
        a.count,
        a.out.display()
    );
    if let Some(p) = &a.returned_csv {
        let truth = std::fs::read_to_string(a.out.join("truth.jsonl"))?;
        let o = phieu::tools::synth::ReturnedCsvOptions {
            seed: a.seed,
            ..Default::default()
        };
        write_atomic(p, phieu::tools::synth::returned_csv(&truth, &o).as_bytes())
            .with_context(|| format!("writing {}", p.display()))?;
        say!("phieu: wrote {}", p.display());
    }
    Ok(0)
}
