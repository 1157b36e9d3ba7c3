//! `phieu render`: draws a form as the center prints it, optionally prefilled; every printed value must match
//! its field's pattern.

use super::say;
use anyhow::{bail, Context, Result};
use phieu::forms::render::{render_form, Canvas, Fonts, Prefill};
use phieu::forms::template::FieldRole;
use phieu::results::write_atomic;
use std::path::PathBuf;

/// Draw a form.
#[derive(clap::Args)]
pub struct RenderArgs {
    /// Template id (gtvt, khdt) or a template file.
    #[arg(long, default_value = "gtvt")]
    template: String,
    /// Dossier code to print in the form's dossier-code field (and in the QR when its format carries it).
    #[arg(long)]
    dossier: Option<String>,
    /// Enterprise code to print in the form's enterprise-code field.
    #[arg(long)]
    enterprise: Option<String>,
    /// Any field's value, as FIELD_ID=VALUE (repeatable).
    #[arg(long = "value", value_name = "FIELD_ID=VALUE")]
    values: Vec<String>,
    /// Resolution for PNG output.
    #[arg(long, default_value_t = 300)]
    dpi: u32,
    /// Output file (.pdf or .png).
    #[arg(short, long)]
    out: PathBuf,
}

/// Writes the form; exit 0, or 2 with the reason.
pub fn run(a: RenderArgs) -> Result<i32> {
    let t = super::load_template(&a.template)?;
    let mut wanted: Vec<(String, String, String)> = vec![];
    for (role, flag, v) in [
        (FieldRole::DossierCode, "--dossier", &a.dossier),
        (FieldRole::EnterpriseCode, "--enterprise", &a.enterprise),
    ] {
        let Some(v) = v else { continue };
        let Some(f) = t.field_with_role(role) else {
            // Say which form has the field: the clerk most likely picked the wrong form.
            let others: Vec<String> = phieu::forms::template::Template::builtins()
                .into_iter()
                .filter(|o| o.template_id != t.template_id && o.field_with_role(role).is_some())
                .map(|o| format!("--template {}", o.template_id))
                .collect();
            let what = match role {
                FieldRole::DossierCode => "dossier code",
                FieldRole::EnterpriseCode => "enterprise code",
                FieldRole::Code => "code",
            };
            bail!(
                "{flag}: the {} form has no {what} field{}",
                t.template_id,
                if others.is_empty() {
                    String::new()
                } else {
                    format!(" (it is on {})", others.join(", "))
                }
            );
        };
        wanted.push((f.id.clone(), flag.to_string(), v.clone()));
    }
    for kv in &a.values {
        let Some((id, v)) = kv.split_once('=') else {
            bail!("--value {kv:?}: expected FIELD_ID=VALUE");
        };
        wanted.push((id.to_string(), "--value".into(), v.to_string()));
    }
    // What is printed (and put in the QR) must be a value the form's own field accepts.
    let mut prefill = Prefill::default();
    for (id, flag, v) in &wanted {
        let Some(f) = t.field(id) else {
            bail!("{flag}: the {} form has no field `{id}`", t.template_id);
        };
        let ok =
            phieu::read::validate::CodePattern::from_regex(&f.pattern).is_ok_and(|p| p.matches(v));
        if !ok {
            bail!(
                "{flag} {v:?}: not a valid {} ({id}) for the {} form; write it like {} (pattern {})",
                f.label,
                t.template_id,
                f.example,
                f.pattern
            );
        }
        prefill = prefill.with(id, v);
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
