//! The run configuration: one TOML document for every knob, built from the defaults, an
//! optional preset, an optional file and `--set key=value` overrides, in that order.

use std::path::Path;

use anyhow::{Context, Result, bail};
use nas_core::data::DataConfig;
use nas_core::ops::LayerConfig;
use nas_core::space::SearchSpace;
use nas_core::train::{OptimConfig, StandaloneTrainConfig, SupernetTrainConfig};
use serde::{Deserialize, Serialize};
use toml::{Table, Value};

/// Everything a run does. Unknown keys anywhere are errors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Master seed: model initialisation, the search strategy, the random architectures
    /// retrained for the correlation. (Data order and masks use `supernet.seed` and
    /// `retrain.train.seed`; the validation split uses `data.seed`.)
    pub seed: u64,
    /// The data set and its splits.
    pub data: DataConfig,
    /// The search space (`input_shape` and `classes` come from the data).
    pub space: SearchSpace,
    /// Normalisation settings of every layer.
    pub layers: Layers,
    /// Supernet training (`augment` comes from `data.augment`).
    pub supernet: SupernetTrainConfig,
    /// The search.
    pub search: Search,
    /// Stand-alone retraining.
    pub retrain: Retrain,
    /// Strategy comparison (`nas compare`).
    pub compare: Compare,
}

/// Normalisation settings (see `nas_core::ops::LayerConfig`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Layers {
    /// Learnable scale and shift in the normalisation layers.
    pub learnable_norm: bool,
    /// Added to the variance.
    pub norm_epsilon: f64,
    /// Weight of the newest batch in running averages (stand-alone models).
    pub norm_momentum: f64,
}

impl Default for Layers {
    fn default() -> Self {
        let l = LayerConfig::new();
        Layers {
            learnable_norm: l.learnable_norm,
            norm_epsilon: l.norm_epsilon,
            norm_momentum: l.norm_momentum,
        }
    }
}

impl Layers {
    /// As nas-core's type.
    pub fn to_core(&self) -> LayerConfig {
        LayerConfig::new()
            .with_learnable_norm(self.learnable_norm)
            .with_norm_epsilon(self.norm_epsilon)
            .with_norm_momentum(self.norm_momentum)
    }
}

/// Search settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Search {
    /// The strategy's registered name (`nas strategies` lists them).
    pub strategy: String,
    /// One-shot evaluations (distinct or not) the strategy may ask for.
    pub budget: usize,
    /// Images per one-shot evaluation batch; normalisation uses each batch's statistics,
    /// so this is part of the scoring protocol.
    pub eval_batch: usize,
    /// Settings of the strategy, overriding its defaults (`nas strategies` shows them).
    pub strategy_config: Table,
}

impl Default for Search {
    fn default() -> Self {
        Search {
            strategy: "evolution".into(),
            budget: 60,
            eval_batch: 250,
            strategy_config: Table::new(),
        }
    }
}

/// Stand-alone retraining settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Retrain {
    /// The best architectures by one-shot accuracy to retrain.
    pub top_k: usize,
    /// Random architectures of the space to retrain as well (for the correlation).
    pub random_k: usize,
    /// Images per evaluation batch of stand-alone models.
    pub eval_batch: usize,
    /// Training of each stand-alone model (`augment` comes from `data.augment`).
    pub train: StandaloneTrainConfig,
}

impl Default for Retrain {
    fn default() -> Self {
        Retrain {
            top_k: 3,
            random_k: 3,
            eval_batch: 250,
            train: StandaloneTrainConfig {
                epochs: 2,
                optim: OptimConfig {
                    lr: 0.1,
                    ..OptimConfig::default()
                },
                ..StandaloneTrainConfig::default()
            },
        }
    }
}

/// Strategy comparison settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Compare {
    /// Strategies to compare (empty: every registered one).
    pub strategies: Vec<String>,
    /// Seeds per strategy: `seed`, `seed + 1`, ...
    pub seeds: usize,
    /// Also retrain each run's winner stand-alone.
    pub retrain_winners: bool,
}

impl Default for Compare {
    fn default() -> Self {
        Compare {
            strategies: Vec::new(),
            seeds: 3,
            retrain_winners: false,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: 0,
            // Sized for about 10 minutes on 2 CPU cores: 14x14 images, F = 8.
            data: DataConfig {
                train_limit: Some(3000),
                validation_limit: Some(500),
                test_limit: Some(2000),
                downsample: 2,
                ..DataConfig::default()
            },
            space: SearchSpace {
                filters: 8,
                ..SearchSpace::default()
            },
            layers: Layers::default(),
            supernet: SupernetTrainConfig {
                epochs: 4,
                optim: OptimConfig {
                    lr: 0.2,
                    ..OptimConfig::default()
                },
                ..SupernetTrainConfig::default()
            },
            search: Search::default(),
            retrain: Retrain::default(),
            compare: Compare::default(),
        }
    }
}

/// The `--quick` preset: a smoke test of every phase in about a minute on 2 cores.
pub const QUICK: &str = r#"
[data]
train_limit = 512
validation_limit = 200
test_limit = 200

[space]
filters = 4

[supernet]
epochs = 2
batch_size = 32

[search]
budget = 12
eval_batch = 200

[retrain]
top_k = 2
random_k = 2
eval_batch = 200

[retrain.train]
epochs = 1
batch_size = 32

[compare]
seeds = 2
"#;

/// Keys a user may not set: the harness derives them.
const DERIVED: [(&str, &str); 4] = [
    ("space.input_shape", "it is taken from the data set"),
    ("space.classes", "it is taken from the data set"),
    ("supernet.augment", "set data.augment instead"),
    ("retrain.train.augment", "set data.augment instead"),
];

/// Merges `over` into `base`, table by table.
fn merge(base: &mut Table, over: Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(Value::Table(b)), Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// Parses one `key.path=value` override; the value is TOML (`0.1`, `true`, `"text"`,
/// `[1, 2]`); a bare word is taken as a string.
fn parse_override(text: &str) -> Result<Table> {
    let (key, raw) = text.split_once('=').with_context(|| {
        format!("override '{text}': expected key=value, e.g. supernet.epochs=3")
    })?;
    let key = key.trim();
    if key.is_empty() || key.split('.').any(|p| p.trim().is_empty()) {
        bail!("override '{text}': empty key");
    }
    let raw = raw.trim();
    let value = match toml::from_str::<Table>(&format!("v = {raw}")) {
        Ok(mut t) => t.remove("v").unwrap_or(Value::String(raw.into())),
        Err(_) => Value::String(raw.to_string()),
    };
    let mut table = Table::new();
    let mut parts: Vec<&str> = key.split('.').map(str::trim).collect();
    let last = parts.pop().unwrap_or(key);
    let mut inner = Table::new();
    inner.insert(last.to_string(), value);
    while let Some(p) = parts.pop() {
        let mut outer = Table::new();
        outer.insert(p.to_string(), Value::Table(inner));
        inner = outer;
    }
    merge(&mut table, inner);
    Ok(table)
}

fn remove_path(t: &mut Table, path: &[&str]) {
    match path {
        [] => {}
        [last] => {
            t.remove(*last);
        }
        [first, rest @ ..] => {
            if let Some(Value::Table(inner)) = t.get_mut(*first) {
                remove_path(inner, rest);
            }
        }
    }
}

fn has_key(t: &Table, path: &str) -> bool {
    let mut cur = t;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, p) in parts.iter().enumerate() {
        match cur.get(*p) {
            Some(Value::Table(next)) if i + 1 < parts.len() => cur = next,
            Some(_) if i + 1 == parts.len() => return true,
            _ => return false,
        }
    }
    false
}

/// Where the layers of a configuration came from.
#[derive(Debug, Default)]
pub struct Sources<'a> {
    /// Apply [`QUICK`].
    pub quick: bool,
    /// A TOML file.
    pub file: Option<&'a Path>,
    /// `key=value` overrides, applied last.
    pub overrides: &'a [String],
}

impl Config {
    /// Builds the configuration: defaults, then the preset, the file, the overrides.
    pub fn resolve(src: &Sources<'_>) -> Result<Config> {
        let mut table = Table::try_from(Config::default()).context("encoding the defaults")?;
        let mut user = Table::new();
        if src.quick {
            merge(
                &mut user,
                toml::from_str(QUICK).context("the --quick preset")?,
            );
        }
        if let Some(path) = src.file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading config file {}", path.display()))?;
            let t: Table = toml::from_str(&text)
                .with_context(|| format!("config file {} is not valid TOML", path.display()))?;
            merge(&mut user, t);
        }
        for o in src.overrides {
            merge(&mut user, parse_override(o)?);
        }
        for (key, why) in DERIVED {
            if has_key(&user, key) {
                bail!("configuration key '{key}' cannot be set: {why}");
            }
        }
        merge(&mut table, user);
        Config::from_table(table)
    }

    /// Reads a resolved configuration (as saved in a run directory).
    pub fn from_table(table: Table) -> Result<Config> {
        let cfg: Config = serde_path_to_error::deserialize(Value::Table(table)).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            anyhow::anyhow!(
                "invalid configuration at '{path}': {}",
                inner.message().trim()
            )
        })?;
        cfg.check()?;
        Ok(cfg)
    }

    /// Reads a configuration file written by [`Config::to_toml`].
    pub fn load(path: &Path) -> Result<Config> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let table: Table = toml::from_str(&text)
            .with_context(|| format!("{} is not valid TOML", path.display()))?;
        Config::from_table(table).with_context(|| format!("in {}", path.display()))
    }

    /// The resolved configuration as TOML text.
    /// The keys the harness derives (input shape, classes, augmentation) are left out,
    /// so the text is also a valid `--config` file.
    pub fn to_toml(&self) -> Result<String> {
        let mut table = Table::try_from(self).context("encoding the configuration")?;
        for (key, _) in DERIVED {
            remove_path(&mut table, &key.split('.').collect::<Vec<_>>());
        }
        toml::to_string_pretty(&table).context("encoding the configuration as TOML")
    }

    /// Checks the settings the harness itself uses (nas-core checks its own).
    fn check(&self) -> Result<()> {
        if self.search.budget == 0 {
            bail!("search.budget must be at least 1");
        }
        if self.search.eval_batch == 0 || self.retrain.eval_batch == 0 {
            bail!("search.eval_batch and retrain.eval_batch must be at least 1");
        }
        if self.compare.seeds == 0 {
            bail!("compare.seeds must be at least 1");
        }
        nas_core::strategy::lookup(&self.search.strategy)?;
        for s in &self.compare.strategies {
            nas_core::strategy::lookup(s)?;
        }
        Ok(())
    }

    /// The strategy settings as the JSON object strategies take.
    pub fn strategy_json(&self) -> Result<serde_json::Value> {
        serde_json::to_value(&self.search.strategy_config)
            .context("search.strategy_config cannot be read as JSON")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(overrides: &[&str]) -> Result<Config> {
        let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        Config::resolve(&Sources {
            quick: false,
            file: None,
            overrides: &o,
        })
    }

    #[test]
    fn the_shipped_default_file_is_the_defaults() {
        let text = include_str!("../../configs/default.toml");
        let table: Table = toml::from_str(text).unwrap();
        let from_file = Config::from_table(table.clone()).unwrap();
        assert_eq!(from_file, Config::default());
        // And it is accepted as a user file (no derived keys in it).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("default.toml");
        std::fs::write(&path, text).unwrap();
        let c = Config::resolve(&Sources {
            quick: false,
            file: Some(&path),
            overrides: &[],
        })
        .unwrap();
        assert_eq!(c, Config::default());
    }

    #[test]
    fn defaults_round_trip_through_toml() {
        let c = Config::default();
        let text = c.to_toml().unwrap();
        let back = Config::from_table(toml::from_str(&text).unwrap()).unwrap();
        assert_eq!(c, back);
    }

    #[test]
    fn overrides_set_nested_keys() {
        let c = resolve(&[
            "supernet.epochs=7",
            "supernet.optim.lr = 0.3",
            "search.strategy=random",
            "data.source.kind=\"embedded\"",
            "search.strategy_config.no_repeats=true",
        ])
        .unwrap();
        assert_eq!(c.supernet.epochs, 7);
        assert!((c.supernet.optim.lr - 0.3).abs() < 1e-12);
        assert_eq!(c.search.strategy, "random");
        assert_eq!(
            c.strategy_json().unwrap(),
            serde_json::json!({"no_repeats": true})
        );
        // Untouched neighbours keep their defaults.
        assert_eq!(c.supernet.batch_size, Config::default().supernet.batch_size);
    }

    #[test]
    fn unknown_keys_are_errors_naming_the_key() {
        let e = format!("{:#}", resolve(&["supernet.epoch=3"]).unwrap_err());
        assert!(e.contains("epoch"), "{e}");
        let e = format!("{:#}", resolve(&["nonsense=1"]).unwrap_err());
        assert!(e.contains("nonsense"), "{e}");
    }

    #[test]
    fn bad_values_and_derived_keys_are_errors() {
        let e = format!("{:#}", resolve(&["supernet.epochs=-1"]).unwrap_err());
        assert!(e.contains("epochs"), "{e}");
        let e = format!("{:#}", resolve(&["space.classes=3"]).unwrap_err());
        assert!(e.contains("taken from the data"), "{e}");
        let e = format!("{:#}", resolve(&["search.strategy=nope"]).unwrap_err());
        assert!(e.contains("nope"), "{e}");
        let e = format!("{:#}", resolve(&["no equals sign"]).unwrap_err());
        assert!(e.contains("key=value"), "{e}");
        let e = format!("{:#}", resolve(&["search.budget=0"]).unwrap_err());
        assert!(e.contains("budget"), "{e}");
    }

    #[test]
    fn file_then_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "seed = 4\n[supernet]\nepochs = 9\nbatch_size = 16\n").unwrap();
        let o = vec!["supernet.epochs=2".to_string()];
        let c = Config::resolve(&Sources {
            quick: true,
            file: Some(&path),
            overrides: &o,
        })
        .unwrap();
        assert_eq!(
            (c.seed, c.supernet.epochs, c.supernet.batch_size),
            (4, 2, 16)
        );
        assert_eq!(c.space.filters, 4, "the preset applies below the file");
        std::fs::write(&path, "seed = [").unwrap();
        let e = format!(
            "{:#}",
            Config::resolve(&Sources {
                quick: false,
                file: Some(&path),
                overrides: &[],
            })
            .unwrap_err()
        );
        assert!(e.contains("c.toml") && e.contains("not valid TOML"), "{e}");
    }
}
