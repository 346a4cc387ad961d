//! The plug-in registry: every linked strategy crate submits one [`StrategyEntry`].

use serde_json::Value;

use super::typed::default_config;
use super::{Running, SearchStrategy, Strategy, StrategyError};
use crate::space::SearchSpace;

/// Builds a strategy for a space from its configuration (a JSON table over the defaults;
/// `None` for the defaults) and a seed.
pub type BuildFn = fn(&SearchSpace, Option<Value>, u64) -> Result<Box<dyn Strategy>, StrategyError>;

/// One registered strategy. Made by [`crate::register_strategy!`], which calls
/// [`StrategyEntry::of`].
pub struct StrategyEntry {
    /// Unique name, e.g. `random`.
    pub name: &'static str,
    /// One line on what it does.
    pub description: &'static str,
    /// Its default configuration as JSON.
    pub default_config: fn() -> Value,
    /// Builds it (see [`BuildFn`]).
    pub build: BuildFn,
}

impl StrategyEntry {
    /// The entry of `S`.
    pub const fn of<S: SearchStrategy>() -> Self {
        StrategyEntry {
            name: S::NAME,
            description: S::DESCRIPTION,
            default_config: default_config::<S>,
            build: build_boxed::<S>,
        }
    }
}

fn build_boxed<S: SearchStrategy>(
    space: &SearchSpace,
    config: Option<Value>,
    seed: u64,
) -> Result<Box<dyn Strategy>, StrategyError> {
    Ok(Box::new(Running::<S>::new(space, config, seed)?))
}

inventory::collect!(StrategyEntry);

/// Registers a [`SearchStrategy`] implementation under its `NAME`:
///
/// ```ignore
/// nas_core::register_strategy!(MyStrategy);
/// ```
#[macro_export]
macro_rules! register_strategy {
    ($strategy:ty) => {
        $crate::inventory::submit! {
            $crate::strategy::StrategyEntry::of::<$strategy>()
        }
    };
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Every strategy linked into this binary, sorted by name. Two entries with the same
/// name, or a name that is not a plain identifier, are an error.
pub fn registry() -> Result<Vec<&'static StrategyEntry>, StrategyError> {
    let mut all: Vec<&'static StrategyEntry> =
        inventory::iter::<StrategyEntry>.into_iter().collect();
    all.sort_by_key(|e| e.name);
    for e in &all {
        if !valid_name(e.name) {
            return Err(StrategyError::BadName(e.name.to_string()));
        }
    }
    if let Some(w) = all.windows(2).find(|w| w[0].name == w[1].name) {
        return Err(StrategyError::Duplicate {
            name: w[0].name.to_string(),
            first: w[0].description.to_string(),
            second: w[1].description.to_string(),
        });
    }
    Ok(all)
}

/// The entry named `name`, or an error listing the known names.
pub fn lookup(name: &str) -> Result<&'static StrategyEntry, StrategyError> {
    let all = registry()?;
    all.iter()
        .find(|e| e.name == name)
        .copied()
        .ok_or_else(|| StrategyError::Unknown {
            name: name.to_string(),
            known: all.iter().map(|e| e.name.to_string()).collect(),
        })
}

/// Builds strategy `name` for `space`: `config` (a JSON table) overrides fields of its
/// default configuration; `None` takes the defaults.
pub fn build(
    name: &str,
    space: &SearchSpace,
    config: Option<Value>,
    seed: u64,
) -> Result<Box<dyn Strategy>, StrategyError> {
    (lookup(name)?.build)(space, config, seed)
}
