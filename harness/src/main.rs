//! `nas`: one-shot architecture search end to end (Bender et al., ICML 2018), any
//! registered strategy on any compiled backend.
//!
//! ```text
//! nas run --quick                      # every phase on the embedded data, about a minute
//! nas run --out runs/a --config my.toml --set supernet.epochs=10 --backend cuda:0
//! nas compare --out runs/a --strategies random,evolution --seeds 5
//! ```

fn main() -> std::process::ExitCode {
    nas_harness::main()
}
