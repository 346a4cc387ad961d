//! The records a run produces: evaluations of a search, stand-alone trainings, and the
//! role a retrained architecture plays in the report.

use serde::{Deserialize, Serialize};

pub use nas_core::search::{Evaluated, Metrics, best_of};
use nas_core::stats::ModelStats;

/// Why an architecture was trained stand-alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// One of the best by one-shot accuracy.
    Top,
    /// Sampled uniformly from the space (for an unbiased correlation).
    Random,
    /// The winner of one search of a comparison.
    Winner,
    /// Asked for by the user (`nas eval --standalone`).
    User,
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Role, String> {
        [Role::Top, Role::Random, Role::Winner, Role::User]
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role '{s}': top, random, winner or user"))
    }
}

impl Role {
    /// The name used in tables and plots.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Top => "top",
            Role::Random => "random",
            Role::Winner => "winner",
            Role::User => "user",
        }
    }
}

/// One stand-alone training of one architecture: what `standalone/KEY.json` holds. It
/// depends on the architecture and the training setup only, never on a supernet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standalone {
    /// The architecture in text form.
    pub arch: String,
    /// The cache key: a hash of the architecture and everything its training depends on.
    pub key: String,
    /// Parameters and multiply-adds.
    pub stats: ModelStats,
    /// Stand-alone metrics on the validation images (running statistics).
    pub validation: Metrics,
    /// Stand-alone metrics on the test images.
    pub test: Metrics,
    /// Seed of the model's initial weights.
    pub init_seed: u64,
    /// Seconds of training.
    pub seconds: f64,
    /// Backend and device it was trained on (empty in records older than this field).
    #[serde(default)]
    pub backend: String,
    /// Version of the `nas` crate that trained it (empty in older records).
    #[serde(default)]
    pub version: String,
    /// The Slurm job that trained it (`slurm:JOB_TASK` for an array task); absent when
    /// it was trained outside Slurm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub computed_by: Option<String>,
}

/// A stand-alone training that diverged (`standalone/KEY.failed.json`): recorded, like a
/// result, so that reports list it and a rerun does not train it again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// The architecture in text form.
    pub arch: String,
    /// The key of the training (as for [`Standalone::key`]).
    pub key: String,
    /// Why it failed, e.g. `training diverged in epoch 1 of 2, at step 3 of 84: ...`.
    pub reason: String,
    /// Seconds until it failed.
    pub seconds: f64,
    /// The Slurm job it ran in, as for [`Standalone::computed_by`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub computed_by: Option<String>,
}

/// How a stand-alone training ended: its result, or why it has none.
pub type Outcome = std::result::Result<Standalone, Failure>;

/// A stand-alone result in a report: its role, and its one-shot score with this run's
/// supernet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Retrained {
    /// Why it was trained.
    pub role: Role,
    /// One-shot metrics on the validation images, with the supernet of this run.
    pub one_shot: Metrics,
    /// The stand-alone training (with `retrain.train.seed`).
    #[serde(flatten)]
    pub standalone: Standalone,
    /// Trainings with the further seeds of `retrain.seeds` (random architectures only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repeats: Vec<Standalone>,
}

impl Retrained {
    /// Stand-alone validation accuracy of every seed, the first one first.
    pub fn validation_by_seed(&self) -> Vec<f64> {
        std::iter::once(&self.standalone)
            .chain(&self.repeats)
            .map(|s| s.validation.accuracy)
            .collect()
    }

    /// Mean stand-alone validation accuracy over the seeds.
    pub fn mean_validation(&self) -> f64 {
        let v = self.validation_by_seed();
        v.iter().sum::<f64>() / v.len() as f64
    }
}
