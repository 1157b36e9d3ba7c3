//! `phieu form`: author a form from a short description (`form new`) and check any template file (`form check`)
//! against the template rules and the print rules.

use super::say;
use anyhow::{bail, Result};
use phieu::forms::author::{lay_out, print_problems, FormDescription, LayoutOptions};
use phieu::forms::render::Fonts;
use phieu::results::write_atomic;
use std::path::PathBuf;

/// Author or check a form.
#[derive(clap::Args)]
pub struct FormArgs {
    #[command(subcommand)]
    cmd: FormCmd,
}

#[derive(clap::Subcommand)]
enum FormCmd {
    /// Lay a form out from a short TOML description (title, header lines, criteria with their options, code
    /// fields with their pattern) and write the full template (`phieu-form/1` JSON). Print it with
    /// `phieu render --template FILE.json -o form.pdf`; scan it with `phieu scan --template FILE.json`.
    New {
        /// The description (see the README, `phieu form new`).
        description: PathBuf,
        /// The template file to write (.json).
        #[arg(short, long)]
        out: PathBuf,
        /// Replace OUT if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Check a template file (id or path): the template rules and the print rules (nothing overlaps, nothing
    /// runs off the page, markers keep their quiet zone).
    Check {
        /// Template id (gtvt, khdt) or file.
        template: String,
    },
}

/// Exit 0 when the form is written or passes; 2 with the reason otherwise.
pub fn run(a: FormArgs) -> Result<i32> {
    match a.cmd {
        FormCmd::New {
            description,
            out,
            force,
        } => {
            if out.exists() && !force {
                bail!(
                    "{} exists; pass --force to replace it (a new version of a form is a new file)",
                    out.display()
                );
            }
            let d = FormDescription::load(&description)?;
            let t = lay_out(&d, &description, &LayoutOptions::default())?;
            let mut json = serde_json::to_string_pretty(&t)?;
            json.push('\n');
            write_atomic(&out, json.as_bytes())?;
            say!(
                "{}: form `{}` version {} ({} rows × {} options, {} fields) written to {}",
                description.display(),
                t.template_id,
                t.version,
                t.rows.len(),
                t.table.columns.options.len(),
                t.fields.len(),
                out.display()
            );
            Ok(0)
        }
        FormCmd::Check { template } => {
            let t = super::load_template(&template)?;
            let problems = print_problems(&t, &Fonts::new());
            for p in &problems {
                say!("{template}: {p}");
            }
            if problems.is_empty() {
                say!(
                    "{template}: form `{}` version {} is valid and printable",
                    t.template_id,
                    t.version
                );
                Ok(0)
            } else {
                Ok(2)
            }
        }
    }
}
