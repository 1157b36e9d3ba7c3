//! `phieu review`.

use super::say;
use anyhow::{Context, Result};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct ReviewArgs {
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
pub fn run(a: ReviewArgs) -> Result<i32> {
    use std::net::{IpAddr, SocketAddr};
    if !a.dir.join("results.jsonl").is_file() {
        anyhow::bail!(
            "{}: not a scan folder (no results.jsonl); give the folder `phieu scan … --out` wrote, or scan first",
            a.dir.display()
        );
    }
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
        Some(p) => super::returned_codes(p)?,
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
            .filter(|o| !o.trim().is_empty())
            .map_or_else(ask_operator, Ok)?,
        returned,
        ..Default::default()
    };
    phieu::review::server::serve(&a.dir, opts, |url| {
        use std::io::Write;
        // The URL on stdout alone (scripts and tests read it); the hint on stderr. A closed stdout is no reason
        // to stop serving: the hint carries the URL too.
        let mut stdout = std::io::stdout();
        let _ = writeln!(stdout, "{url}").and_then(|_| stdout.flush());
        say!("phieu: review page at {url} (Ctrl-C to stop; every decision is already saved)");
    })?;
    Ok(0)
}

/// Every decision names a person: with no `--operator` and no login name, ask once on the terminal, or stop.
fn ask_operator() -> Result<String> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "no operator name: pass --operator NAME (every decision is recorded with it)"
        );
    }
    eprint!("phieu: operator name (recorded with every decision): ");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let name = line.trim().to_string();
    if name.is_empty() {
        anyhow::bail!("no operator name given");
    }
    Ok(name)
}
