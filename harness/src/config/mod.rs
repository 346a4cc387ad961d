//! The run configuration: one TOML document for every knob, built from the defaults, an
//! optional preset, an optional file and `--set key=value` overrides, in that order.

mod resolve;

use anyhow::{Context, Result, bail};
use nas_core::data::DataConfig;
use nas_core::ops::LayerConfig;
use nas_core::space::SearchSpace;
use nas_core::train::{OptimConfig, StandaloneTrainConfig, SupernetTrainConfig};
use serde::{Deserialize, Serialize};
use toml::Table;

pub use resolve::{QUICK, Sources};

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
    /// Studies of the one-shot model (`nas study`).
    pub study: Study,
}

/// Settings of the studies (`nas study`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Study {
    /// The path-dropout rates (`r_max`) of the dropout study: one supernet each.
    pub rates: Vec<f64>,
    /// Uniformly sampled architectures every study scores and trains stand-alone (each
    /// with `retrain.seeds` seeds).
    pub archs: usize,
    /// Training images (a seeded sample) on which each supernet's predictions with every
    /// path on are compared with each architecture's, by symmetric KL divergence
    /// (0: no KL analysis).
    pub kl_examples: usize,
    /// Supernets per rate, trained with seeds `supernet.seed`, `supernet.seed + 1`, ...:
    /// an architecture's one-shot score is the mean over them, and with 2 or more the
    /// report measures the one-shot noise floor (how well two supernets that differ only
    /// in their seed agree).
    pub supernet_seeds: usize,
    /// Uniformly sampled architectures, disjoint from the reported `archs` (the next ones
    /// of the same seeded sequence), trained and scored like them, on which the study
    /// chooses its rate: the reported figures are then not selected on the data they
    /// report. 0: the rate is chosen on the reported sample's validation accuracy, and the
    /// report says so.
    pub select_archs: usize,
    /// How many of the one-shot model's best architectures the top-k analysis takes (at
    /// most all but one of the reported sample).
    pub top_k: usize,
    /// A short training from scratch of every reported architecture, as a baseline the
    /// one-shot model is compared with (`steps = 0`, the default: none). Left out of the
    /// saved and printed configuration while off, as `search.finetune` is.
    #[serde(skip_serializing_if = "Proxy::is_off")]
    pub proxy: Proxy,
}

/// The dropout study's short-training baseline (`[study.proxy]`, docs/method.md,
/// section 6): each reported architecture trained from fresh seeded weights for `steps`
/// steps, `seeds` times, and scored as the one-shot model is (the validation images,
/// batch statistics, batches of `search.eval_batch`); its score is the mean over the
/// seeds. The study correlates it with the stand-alone ground truth and reports the
/// paired difference one-shot minus baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Proxy {
    /// Training steps per architecture and seed (0: no baseline).
    pub steps: usize,
    /// Trainings per architecture, with seeds `seed`, `seed + 1`, ...
    pub seeds: usize,
    /// Images per step.
    pub batch_size: usize,
    /// SGD settings; the schedule runs over the `steps`.
    pub optim: OptimConfig,
    /// The first training's seed: its initial weights, and the training images it draws
    /// (`steps * batch_size`, the same for every architecture) and their order.
    pub seed: u64,
}

impl Default for Proxy {
    fn default() -> Self {
        Proxy {
            steps: 0,
            seeds: 2,
            batch_size: 64,
            // The stand-alone training's rate: at 0.02 the baseline ranked worse in the
            // measured experiment (docs/results/fmnist-full/experiments).
            optim: OptimConfig {
                lr: 0.1,
                ..OptimConfig::default()
            },
            seed: 0,
        }
    }
}

impl Proxy {
    /// Whether the study computes the baseline.
    pub fn enabled(&self) -> bool {
        self.steps > 0
    }

    fn is_off(&self) -> bool {
        !self.enabled()
    }

    /// The training of seed number `k` (`seed + k`), as a from-scratch fine-tuning.
    pub fn training(&self, k: usize) -> nas_core::eval::FineTuneConfig {
        nas_core::eval::FineTuneConfig {
            steps: self.steps,
            batch_size: self.batch_size,
            optim: self.optim.clone(),
            seed: self.seed.wrapping_add(k as u64),
            from: nas_core::eval::FineTuneStart::Scratch,
        }
    }
}

impl Default for Study {
    fn default() -> Self {
        Study {
            rates: vec![0.0, 0.1, 0.25, 0.5, 0.75],
            archs: 30,
            kl_examples: 500,
            supernet_seeds: 1,
            select_archs: 20,
            top_k: 5,
            proxy: Proxy::default(),
        }
    }
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

/// Whether `search.finetune` is off (then it is not written out).
fn is_off(f: &nas_core::eval::FineTuneConfig) -> bool {
    !f.enabled()
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
    /// They belong to `strategy`: a command that changes `strategy` without setting
    /// these starts from an empty table.
    pub strategy_config: Table,
    /// A short training of each candidate from the supernet's weights before it is
    /// scored (`steps = 0`, the default: none, the paper's one-shot score). A
    /// diagnostic of weight sharing (docs/method.md, section 4). Left out of the saved
    /// and printed configuration while off, so that the hash of every configuration
    /// without it stays what it was.
    #[serde(skip_serializing_if = "is_off")]
    pub finetune: nas_core::eval::FineTuneConfig,
}

impl Default for Search {
    fn default() -> Self {
        Search {
            strategy: "evolution".into(),
            budget: 100,
            eval_batch: 250,
            strategy_config: Table::new(),
            finetune: Default::default(),
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
    /// Training seeds of each random architecture (`retrain.train.seed`, +1, +2, ...).
    /// With 2 or more the report measures the stand-alone noise floor (seed standard
    /// deviation, seed-to-seed rank correlation) and correlates one-shot accuracy with the
    /// mean over seeds.
    pub seeds: usize,
    /// Stand-alone trainings run side by side, each in its own worker process on an equal
    /// share of the cores (1: one at a time, in this process). The results do not depend
    /// on it.
    pub workers: usize,
    /// Another run directory whose stand-alone results are reused and extended ("": none).
    /// Results are keyed by everything a training depends on (architecture, space, layers,
    /// data settings, training settings, seed), so runs and studies that share this folder
    /// never retrain an identical model; each run still copies what it uses into its own
    /// `standalone/`.
    pub shared_dir: String,
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
            seeds: 1,
            workers: 1,
            shared_dir: String::new(),
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
    /// Also retrain each run's winner stand-alone (`nas study all` always does).
    pub retrain_winners: bool,
    /// Settings per strategy, e.g. `[compare.strategy_configs.evolution]`; a strategy
    /// without an entry takes `search.strategy_config` if it is `search.strategy`, else
    /// its defaults.
    pub strategy_configs: Table,
}

impl Default for Compare {
    fn default() -> Self {
        Compare {
            strategies: Vec::new(),
            seeds: 5,
            retrain_winners: false,
            strategy_configs: Table::new(),
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
            study: Study::default(),
        }
    }
}

impl Config {
    /// Checks the settings the harness itself uses (the phases' own checks run in
    /// [`crate::phases::Prepared::new`], before anything is written).
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
        if self.retrain.seeds == 0 {
            bail!("retrain.seeds must be at least 1");
        }
        if self.retrain.workers == 0 {
            bail!("retrain.workers must be at least 1");
        }
        if self.study.archs < 3 {
            bail!(
                "study.archs = {}: a correlation needs at least 3 architectures (30 or more to be told from noise)",
                self.study.archs
            );
        }
        if self.study.supernet_seeds == 0 {
            bail!("study.supernet_seeds = 0: each rate needs at least one supernet");
        }
        if matches!(self.study.select_archs, 1 | 2) {
            bail!(
                "study.select_archs = {}: choosing a rate needs a correlation over at least 3 \
                 architectures (0: choose on the reported sample's validation accuracy)",
                self.study.select_archs
            );
        }
        if self.study.top_k == 0 {
            bail!("study.top_k = 0: the top-k analysis needs at least 1 architecture");
        }
        if self.study.rates.is_empty() {
            bail!("study.rates is empty: give at least one path-dropout rate");
        }
        for (i, r) in self.study.rates.iter().enumerate() {
            if !(0.0..=1.0).contains(r) {
                bail!("study.rates: {r} is not a rate in [0, 1]");
            }
            if self.study.rates[..i].contains(r) {
                bail!("study.rates: {r} appears twice");
            }
        }
        nas_core::strategy::lookup(&self.search.strategy)?;
        for s in &self.compare.strategies {
            nas_core::strategy::lookup(s)?;
        }
        for (name, v) in &self.compare.strategy_configs {
            nas_core::strategy::lookup(name)
                .with_context(|| format!("compare.strategy_configs.{name}"))?;
            if !v.is_table() {
                bail!("compare.strategy_configs.{name} must be a table of settings");
            }
        }
        Ok(())
    }

    /// A dry-run build of the search strategy and of every compared one, each with its
    /// settings, on `space`: a misspelt or out-of-range setting is an error naming its table.
    /// Returns warnings: strategies whose random start takes the whole budget.
    pub fn check_strategies(&self, space: &SearchSpace) -> Result<Vec<String>> {
        let mut strategies = self.compared_strategies()?;
        strategies.push(self.search.strategy.clone());
        let mut warnings = Vec::new();
        for s in &strategies {
            let key =
                if *s == self.search.strategy && !self.compare.strategy_configs.contains_key(s) {
                    "search.strategy_config".to_string()
                } else {
                    format!("compare.strategy_configs.{s}")
                };
            let built =
                nas_core::strategy::build(s, space, Some(self.strategy_json(s)?), self.seed)
                    .with_context(|| format!("invalid [{key}]"))?;
            let random = built.random_start();
            let warning = format!(
                "search.budget = {} is not more than the {random} random samples strategy \
                 '{s}' takes before it learns: its search is random search; raise \
                 search.budget or shrink [{key}]",
                self.search.budget
            );
            if random > 0 && self.search.budget <= random && !warnings.contains(&warning) {
                warnings.push(warning);
            }
        }
        Ok(warnings)
    }

    /// The strategies `nas compare` runs: `compare.strategies`, or every registered one.
    pub fn compared_strategies(&self) -> Result<Vec<String>> {
        if !self.compare.strategies.is_empty() {
            return Ok(self.compare.strategies.clone());
        }
        Ok(nas_core::strategy::registry()?
            .iter()
            .map(|e| e.name.to_string())
            .collect())
    }

    /// The settings of strategy `name` as the JSON table strategies take (see
    /// [`Compare::strategy_configs`]).
    pub fn strategy_json(&self, name: &str) -> Result<serde_json::Value> {
        let table = match self.compare.strategy_configs.get(name) {
            Some(t) => t.clone(),
            None if name == self.search.strategy => {
                toml::Value::Table(self.search.strategy_config.clone())
            }
            None => toml::Value::Table(Table::new()),
        };
        serde_json::to_value(table).with_context(|| format!("the settings of strategy '{name}'"))
    }
}

#[cfg(test)]
mod tests;
