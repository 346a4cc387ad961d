//! `nas`: one-shot architecture search end to end (Bender et al., ICML 2018), any
//! registered strategy on any compiled backend.
//!
//! ```text
//! nas run --quick                      # every phase on the embedded data, about a minute
//! nas run --out runs/a --config my.toml --set supernet.epochs=10 --backend cuda:0
//! nas compare --out runs/a --strategies random,evolution --seeds 5
//! ```

use std::io::IsTerminal;

use clap::Parser;
use nas_harness::cli::Cli;
use nas_harness::ui::Ui;

fn init_logs(cli: &Cli) {
    let level = if cli.quiet {
        "warn"
    } else if cli.verbose > 0 {
        "debug"
    } else {
        "info"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("NAS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("nas={level},warn")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .with_timer(tracing_subscriber::fmt::time::uptime())
        .init();
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logs(&cli);
    let ui = Ui { quiet: cli.quiet };
    match nas_harness::app::run(cli.command, ui) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
