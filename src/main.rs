//! The `phieu` command: parses flags, runs the subcommand (`src/cli/`), and turns its outcome into an exit
//! status (the table is in the README).

mod cli;

fn main() {
    let cli = match cli::Cli::parse_checked() {
        Ok(c) => c,
        Err(e) => {
            cli::say!("phieu: error: {e}");
            std::process::exit(2)
        }
    };
    let code = match cli.run() {
        Ok(c) => c,
        Err(e) => {
            cli::say!("phieu: error: {e:#}");
            2
        }
    };
    std::process::exit(code)
}
