//! `phieu render`.

use super::say;
use anyhow::{bail, Context, Result};
use phieu::forms::render::{render_form, Canvas, Fonts, Prefill};
use phieu::results::write_atomic;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct RenderArgs {
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

pub fn run(a: RenderArgs) -> Result<i32> {
    let t = super::load_template(&a.template)?;
    // What is printed (and put in the QR) must be a value the form's own field accepts.
    for (id, flag, v) in [
        ("dossier_code", "--dossier", &a.dossier),
        ("enterprise_code", "--enterprise", &a.enterprise),
    ] {
        let Some(v) = v else { continue };
        let Some(f) = t.field(id) else {
            bail!("{flag}: the {} form has no {id} field", t.template_id);
        };
        let ok =
            phieu::read::validate::CodePattern::from_regex(&f.pattern).is_ok_and(|p| p.matches(v));
        if !ok {
            bail!(
                "{flag} {v:?}: does not match the {id} pattern {}",
                f.pattern
            );
        }
    }
    let mut prefill = Prefill::default();
    for (id, v) in [
        ("dossier_code", &a.dossier),
        ("enterprise_code", &a.enterprise),
    ] {
        if let Some(v) = v {
            prefill = prefill.with(id, v);
        }
    }
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
            let bytes = phieu::forms::pdf::render_pdf(&t, &prefill)?;
            write_atomic(&a.out, &bytes).with_context(|| format!("writing {}", a.out.display()))?;
        }
        _ => bail!("{}: output must end in .png or .pdf", a.out.display()),
    }
    say!("wrote {}", a.out.display());
    Ok(0)
}
