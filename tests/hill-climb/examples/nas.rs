//! The `nas` command with this strategy added: everything the shipped `nas` has, plus
//! `hill-climb`. No file outside this crate changes.
//!
//! ```text
//! cargo run --release -p nas-strategy-hill-climb --example nas -- strategies
//! cargo run --release -p nas-strategy-hill-climb --example nas -- \
//!     run --quick --set search.strategy=hill-climb
//! ```

use nas_strategy_hill_climb as _;

fn main() -> std::process::ExitCode {
    nas_harness::main()
}
