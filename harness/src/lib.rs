//! The `nas` command as a library: one-shot architecture search end to end (Bender et
//! al., ICML 2018), any registered strategy on any compiled backend.
//!
//! - [`cli`]: the command line; [`app`]: checks the configuration as a whole, then
//!   dispatches to a backend.
//! - [`config`]: one TOML document for every knob, layered and checked.
//! - [`phases`]: train the supernet, search, retrain, compare, generic over the backend.
//! - [`records`]: what the phases produce; [`rundir`]: the run directory's layout and
//!   file formats (the only place a file name is spelled).
//! - [`report`]: the run report; [`stats`]: rank statistics; [`plots`]: SVG plots;
//!   [`export`]: tables as Markdown, CSV and JSON; [`ui`]: progress bars.
//!
//! [`main`] is the whole command: a binary that links more strategy crates (for example
//! an example binary inside a strategy crate, see docs/writing-a-strategy.md) calls it
//! and gets `nas` with those strategies added.

pub mod app;
pub mod cli;
pub mod config;
pub mod export;
pub mod interrupt;
pub mod phases;
pub mod plots;
pub mod records;
pub mod reports;
pub mod rundir;
pub mod slurm;
pub mod stats;
pub mod ui;

// Every strategy the `nas` command offers registers itself when its crate is linked; a
// crate nothing names may be dropped by the linker, so each is named once here.
use nas_strategy_evolution as _;
use nas_strategy_random as _;
use nas_strategy_reinforce as _;

/// The `nas` command: parses the command line, sets up logging (`-v`, `-q`, `NAS_LOG`),
/// runs the command and turns an error into a message and a failure exit code.
pub fn main() -> std::process::ExitCode {
    use clap::Parser;
    let cli = cli::Cli::parse();
    init_logs(&cli);
    if let Some(path) = &cli.events
        && let Err(e) = ui::open_events(path)
    {
        eprintln!("error: opening the events file {}: {e}", path.display());
        return std::process::ExitCode::FAILURE;
    }
    let ui = ui::Ui { quiet: cli.quiet };
    match app::run(cli.command, ui) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => match e.downcast_ref::<interrupt::Interrupted>() {
            // Not a failure: the same command goes on from the checkpoint.
            Some(i) => {
                eprintln!("nas: {e:#}");
                std::process::ExitCode::from(i.exit_code())
            }
            None => {
                eprintln!("error: {e:#}");
                std::process::ExitCode::FAILURE
            }
        },
    }
}

fn init_logs(cli: &cli::Cli) {
    use std::io::IsTerminal;
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
        .with_writer(|| ui::LogWriter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .with_timer(tracing_subscriber::fmt::time::uptime())
        .init();
}
