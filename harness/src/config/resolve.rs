//! Building a configuration from its layers (defaults, preset, file, overrides) and
//! reading and writing it as TOML.

use std::path::Path;

use anyhow::{Context, Result, bail};
use toml::{Table, Value};

use super::Config;

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
# More than evolution's default population of 20, so the smoke test evolves.
budget = 24
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
    /// What the layers apply to: a run directory's saved configuration, or (`None`)
    /// the defaults.
    pub base: Option<&'a Config>,
    /// Apply [`QUICK`].
    pub quick: bool,
    /// A TOML file.
    pub file: Option<&'a Path>,
    /// `key=value` overrides, applied last.
    pub overrides: &'a [String],
}

impl Config {
    /// Builds the configuration: the base (defaults, or a saved configuration), then the
    /// preset, the file, the overrides.
    pub fn resolve(src: &Sources<'_>) -> Result<Config> {
        let base = src.base.cloned().unwrap_or_default();
        let mut table = Table::try_from(&base).context("encoding the base configuration")?;
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
        // A strategy's settings do not carry over to another strategy.
        let new_strategy = match user.get("search") {
            Some(Value::Table(t)) => t.get("strategy").and_then(Value::as_str),
            _ => None,
        };
        if new_strategy.is_some_and(|s| s != base.search.strategy)
            && !has_key(&user, "search.strategy_config")
            && let Some(Value::Table(search)) = table.get_mut("search")
        {
            search.insert("strategy_config".into(), Value::Table(Table::new()));
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
}
