//! The phases of a run: train the supernet, search, retrain, compare. Each writes its
//! results into the run directory as it goes, keyed by what they depend on, and when
//! rerun continues from what is there.
//!
//! [`Prepared`] loads the data and checks the whole configuration before anything is
//! written; [`Ctx`] adds the device the phases run on.

mod compare;
mod retrain;
mod search;
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
pub use search::{OneShot, finished_search, search};
pub use study::{DropoutReport, dropout_study};
pub use study_all::{COMMIT, all_studies, command_line, cpu_extensions, version};
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
    /// Supernet training, with the data's augmentation.
    pub supernet_cfg: SupernetTrainConfig,
    /// Stand-alone training, with the data's augmentation.
    pub standalone_cfg: StandaloneTrainConfig,
    /// The key of the supernet these settings train.
    pub supernet_key: String,
    /// Which repeat of the supernet is selected (0: the configuration's own seeds; see
    /// [`Prepared::select_supernet`]).
    pub supernet_repeat: u64,
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
        let supernet_key = key_of(&SupernetSetup {
            seed: cfg.seed,
            data: &cfg.data,
            space: &space,
            layers: &cfg.layers,
            train: &supernet_cfg,
        });
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
            supernet_cfg,
            standalone_cfg,
            supernet_key,
            supernet_repeat: 0,
            ui,
            backend,
        })
    }

    /// Switches the supernet settings to path-dropout rate `r_max` and repeat `repeat`
    /// (and the supernet key with them): the phases then train, load and score that
    /// supernet. Repeat `k` moves the supernet's seeds by `k`: its initial weights are
    /// drawn from `seed + k`, its data order and masks from `supernet.seed + k`; repeat 0
    /// is the supernet of the configuration as written.
    pub fn select_supernet(&mut self, r_max: f64, repeat: u64) {
        self.supernet_cfg.drop_path.r_max = r_max;
        self.supernet_cfg.seed = self.cfg.supernet.seed.wrapping_add(repeat);
        self.supernet_repeat = repeat;
        self.supernet_key = key_of(&self.supernet_setup());
    }

    /// The key of the supernet these settings train at path-dropout rate `r_max` and
    /// repeat `repeat` (see [`Prepared::select_supernet`]).
    pub fn supernet_key_at(&self, r_max: f64, repeat: u64) -> String {
        let mut train = self.supernet_cfg.clone();
        train.drop_path.r_max = r_max;
        train.seed = self.cfg.supernet.seed.wrapping_add(repeat);
        key_of(&SupernetSetup {
            seed: self.cfg.seed.wrapping_add(repeat),
            train: &train,
            ..self.supernet_setup()
        })
    }

    /// The seed of the selected supernet's initial weights.
    pub fn supernet_init_seed(&self) -> u64 {
        self.cfg.seed.wrapping_add(self.supernet_repeat)
    }

    fn supernet_setup(&self) -> SupernetSetup<'_> {
        SupernetSetup {
            seed: self.supernet_init_seed(),
            data: &self.cfg.data,
            space: &self.space,
            layers: &self.cfg.layers,
            train: &self.supernet_cfg,
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
