//! The phases of a run: train the supernet, search, retrain, compare. Each writes its
//! results into the run directory as it goes, keyed by what they depend on, and when
//! rerun continues from what is there.
//!
//! [`Prepared`] loads the data and checks the whole configuration before anything is
//! written; [`Ctx`] adds the device the phases run on.

mod compare;
mod retrain;
mod search;
mod standalone;
mod study;
mod study_all;
mod train;
mod units;
mod workers;

use std::time::Instant;

use anyhow::{Context, Result, bail};
use nas_core::backend::NasAutodiffBackend;
use nas_core::data::Splits;
use nas_core::ops::LayerConfig;
use nas_core::space::SearchSpace;
use nas_core::train::{StandaloneTrainConfig, SupernetTrainConfig};
use serde::Serialize;

use crate::config::{Config, Layers};
use crate::rundir::{RunDir, key_of};
use crate::ui::Ui;

pub use compare::compare;
pub use retrain::{retrain, retrain_candidates, retrain_one};
pub use search::{CacheWrites, OneShot, finished_search, search};
pub use study::dropout_study;
pub use study_all::all_studies;
pub use train::{supernet, trained_supernet};
pub use units::{Phase, Unit, UnitState, UnitTask, units};
pub use workers::{Job, train_all};

/// A configuration checked as a whole, with its data loaded: what every phase needs
/// except the device.
pub struct Prepared {
    /// The resolved configuration.
    pub cfg: Config,
    /// The run directory.
    pub run: RunDir,
    /// The data splits.
    pub data: Splits,
    /// The search space, with the data's input shape and classes.
    pub space: SearchSpace,
    /// Layer settings.
    pub layers: LayerConfig,
    /// Stand-alone training, with the data's augmentation.
    pub standalone_cfg: StandaloneTrainConfig,
    /// The supernet of the configuration as written (its rate, repeat 0); the dropout
    /// study's other supernets come from [`Prepared::supernet_at`].
    pub supernet: SupernetChoice,
    /// Progress bars.
    pub ui: Ui,
    /// The backend's name, for reports.
    pub backend: String,
}

/// What a supernet depends on (hashed into its key, saved as its `setup.json`).
#[derive(Serialize)]
struct SupernetSetup<'a> {
    seed: u64,
    data: &'a nas_core::data::DataConfig,
    space: &'a SearchSpace,
    layers: &'a Layers,
    train: &'a SupernetTrainConfig,
}

impl Prepared {
    /// Loads the data and runs every check a phase would make: the space against the
    /// data, both trainings' settings, and a dry-run build of the search strategy and of
    /// every compared one with its settings. Nothing is written.
    pub fn new(cfg: Config, run: RunDir, ui: Ui, backend: String) -> Result<Self> {
        let start = Instant::now();
        let data = cfg.data.load().context("invalid [data]")?;
        let mut space = cfg.space.clone();
        space.input_shape = data.train.shape;
        space.classes = data.train.classes;
        space.validate().context("invalid [space]")?;
        let mut supernet_cfg = cfg.supernet.clone();
        supernet_cfg.augment = data.augment;
        supernet_cfg.validate().context("invalid [supernet]")?;
        let mut standalone_cfg = cfg.retrain.train.clone();
        standalone_cfg.augment = data.augment;
        standalone_cfg
            .validate()
            .context("invalid [retrain.train]")?;
        for (what, batch) in [
            ("supernet.batch_size", supernet_cfg.batch_size),
            ("retrain.train.batch_size", standalone_cfg.batch_size),
        ] {
            if data.train.len() < batch {
                bail!(
                    "{what} = {batch} is more than the {} training images: no full batch \
                     (lower it, or raise data.train_limit)",
                    data.train.len()
                );
            }
        }
        if cfg.search.finetune.enabled() {
            cfg.search
                .finetune
                .check(data.train.len(), data.augment)
                .context("invalid [search.finetune]")?;
        }
        let proxy = &cfg.study.proxy;
        if proxy.enabled() {
            if proxy.seeds == 0 {
                bail!("invalid [study.proxy]: seeds = 0 (at least 1 training per architecture)");
            }
            proxy
                .training(0)
                .check(data.train.len(), data.augment)
                .context("invalid [study.proxy]")?;
        }
        let shared = cfg.retrain.shared_dir.trim();
        if !shared.is_empty() && std::path::Path::new(shared).exists() {
            let standalone = std::path::Path::new(shared).join("standalone");
            if !std::path::Path::new(shared).is_dir()
                || (standalone.exists() && !standalone.is_dir())
            {
                bail!("retrain.shared_dir = {shared}: not a run directory (not a folder)");
            }
        }
        for warning in cfg.check_strategies(&space)? {
            tracing::warn!("{warning}");
        }
        let supernet = SupernetChoice::new(&cfg, &space, &supernet_cfg, 0);
        tracing::info!(
            "data: {} train / {} validation / {} test images of {:?} ({} classes), loaded in {:.1}s",
            data.train.len(),
            data.validation.len(),
            data.test.len(),
            space.input_shape,
            space.classes,
            start.elapsed().as_secs_f64()
        );
        Ok(Prepared {
            layers: cfg.layers.to_core(),
            cfg,
            run,
            data,
            space,
            standalone_cfg,
            supernet,
            ui,
            backend,
        })
    }

    /// The supernet at path-dropout rate `r_max`, repeat `repeat`: the configured
    /// supernet's settings with that rate, and its seeds moved by `repeat` (initial
    /// weights from `seed + repeat`, data order and masks from `supernet.seed + repeat`).
    /// Repeat 0 at the configured rate is [`Prepared::supernet`].
    pub fn supernet_at(&self, r_max: f64, repeat: u64) -> SupernetChoice {
        let mut train = self.supernet.train.clone();
        train.drop_path.r_max = r_max;
        SupernetChoice::new(&self.cfg, &self.space, &train, repeat)
    }
}

/// One supernet of a run directory, as a value: which rate and repeat it is, the
/// training settings and initial-weight seed it stands for, and its key (its folder
/// under `supernet/`).
#[derive(Debug, Clone)]
pub struct SupernetChoice {
    /// Its path-dropout rate `r_max`.
    pub rate: f64,
    /// Its repeat: its seeds are the configuration's moved by this much.
    pub repeat: u64,
    /// The seed of its initial weights.
    pub init_seed: u64,
    /// Its training settings (with the data's augmentation and the repeat's seed).
    pub train: SupernetTrainConfig,
    /// Its key.
    pub key: String,
}

impl SupernetChoice {
    /// The supernet of `train`'s settings (rate included), with seeds moved by `repeat`.
    fn new(cfg: &Config, space: &SearchSpace, train: &SupernetTrainConfig, repeat: u64) -> Self {
        let mut train = train.clone();
        train.seed = cfg.supernet.seed.wrapping_add(repeat);
        let init_seed = cfg.seed.wrapping_add(repeat);
        let key = key_of(&SupernetSetup {
            seed: init_seed,
            data: &cfg.data,
            space,
            layers: &cfg.layers,
            train: &train,
        });
        SupernetChoice {
            rate: train.drop_path.r_max,
            repeat,
            init_seed,
            train,
            key,
        }
    }
}

impl Prepared {
    /// What `choice` depends on, as saved in its `setup.json`.
    fn supernet_setup<'a>(&'a self, choice: &'a SupernetChoice) -> SupernetSetup<'a> {
        SupernetSetup {
            seed: choice.init_seed,
            data: &self.cfg.data,
            space: &self.space,
            layers: &self.cfg.layers,
            train: &choice.train,
        }
    }
}

/// A prepared run on a device.
pub struct Ctx<B: NasAutodiffBackend> {
    /// The checked configuration and data.
    pub prep: Prepared,
    /// The device.
    pub device: B::Device,
}

impl<B: NasAutodiffBackend> std::ops::Deref for Ctx<B> {
    type Target = Prepared;
    fn deref(&self) -> &Prepared {
        &self.prep
    }
}
