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

pub mod app;
pub mod cli;
pub mod config;
pub mod export;
pub mod phases;
pub mod plots;
pub mod records;
pub mod report;
pub mod rundir;
pub mod stats;
pub mod ui;

// Every strategy the `nas` command offers registers itself when its crate is linked; a
// crate nothing names may be dropped by the linker, so each is named once here.
use nas_strategy_evolution as _;
use nas_strategy_random as _;
use nas_strategy_reinforce as _;
