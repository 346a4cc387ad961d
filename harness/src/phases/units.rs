//! Units of work: the independent pieces a phase splits into. Each is identified by the
//! key of what it depends on and writes its own result file atomically into the run
//! directory, so it can run anywhere the run directory is visible (a worker process
//! here, an array task of a cluster: `nas slurm`), in any order, more than once (a
//! preempted task that reruns), and the ordinary command on the run directory merges
//! the results: it finds them done and only computes what is left.

use anyhow::{Context, Result, bail};
use nas_backends::BackendTask;
use nas_core::backend::NasAutodiffBackend;
use serde::{Deserialize, Serialize};

use super::retrain::retrain_jobs;
use super::search::search_dir;
use super::standalone::{cached_standalone, standalone_key};
use super::study::{sample_jobs, study_sample};
use super::workers::{Job, train_all};
use super::{
    CacheWrites, Ctx, OneShot, Prepared, finished_search, search, supernet, trained_supernet,
};
use crate::records::Role;

/// The phases whose work splits into units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// The stand-alone trainings of a finished search's candidates (what `nas retrain`
    /// trains): one unit per training.
    Retrain,
    /// The dropout study (`nas study dropout`): one unit per supernet (one per rate) and
    /// one per stand-alone training of the sample.
    Study,
    /// The strategy comparison (`nas compare`) on the trained supernet: one unit per
    /// (strategy, seed) search.
    Compare,
}

impl Phase {
    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Retrain => "retrain",
            Phase::Study => "study",
            Phase::Compare => "compare",
        }
    }

    /// The ordinary command that merges this phase's results into its report.
    pub fn merge_command(self) -> &'static [&'static str] {
        match self {
            Phase::Retrain => &["retrain"],
            Phase::Study => &["study", "dropout"],
            Phase::Compare => &["compare"],
        }
    }
}

/// One unit of work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Unit {
    /// One stand-alone training (`standalone/KEY.json`).
    Standalone {
        /// The architecture, in text form.
        arch: String,
        /// Why it is trained.
        role: Role,
        /// How far its training seed is moved from `retrain.train.seed`.
        seed_offset: u64,
    },
    /// The supernet at path-dropout rate `rate` (`supernet/KEY/`), trained to the end.
    Supernet {
        /// The path-dropout rate `r_max`.
        rate: f64,
        /// Which of the rate's `study.supernet_seeds` supernets (0: the configuration's
        /// own seeds; absent in units written before repeats existed).
        #[serde(default, skip_serializing_if = "is_zero")]
        repeat: u64,
    },
    /// One search of a comparison on the trained supernet
    /// (`search/STRATEGY-sSEED-KEY/`), to its whole budget.
    Search {
        /// The strategy's name.
        strategy: String,
        /// The search's seed.
        seed: u64,
    },
}

/// Where a unit stands, read from the run directory.
#[derive(Debug, Clone, PartialEq)]
pub enum UnitState {
    /// Its result is there.
    Done,
    /// It ended with a recorded failure (a diverged training): a result too, which
    /// running it again would repeat.
    Failed(String),
    /// Not done yet (never started, running, or stopped before it wrote its result).
    Pending,
}

impl Unit {
    fn from_job(job: &Job) -> Unit {
        Unit::Standalone {
            arch: job.arch.to_string(),
            role: job.role,
            seed_offset: job.seed_offset,
        }
    }

    /// The key of its result (a stand-alone result's file name, a supernet's folder).
    pub fn key(&self, prep: &Prepared) -> Result<String> {
        Ok(match self {
            Unit::Standalone {
                arch, seed_offset, ..
            } => standalone_key(prep, &parse(prep, arch)?, *seed_offset),
            Unit::Supernet { rate, repeat } => prep.supernet_at(*rate, *repeat).key,
            Unit::Search { strategy, seed } => search_dir(prep, strategy, *seed)?
                .0
                .path()
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        })
    }

    /// Where it stands in `prep`'s run directory (or `retrain.shared_dir`).
    pub fn state(&self, prep: &Prepared) -> Result<UnitState> {
        let key = self.key(prep)?;
        Ok(match self {
            Unit::Standalone { .. } => match cached_standalone(prep, &key)? {
                Some(Ok(_)) => UnitState::Done,
                Some(Err(f)) => UnitState::Failed(f.reason),
                None => UnitState::Pending,
            },
            Unit::Supernet { .. } => match prep.run.supernet(&key).progress()? {
                Some(p) if p.epochs_done >= prep.supernet.train.epochs => UnitState::Done,
                _ => UnitState::Pending,
            },
            Unit::Search { strategy, seed } => {
                let (dir, _) = search_dir(prep, strategy, *seed)?;
                match dir.checkpoint()? {
                    Some(c) if c.told >= prep.cfg.search.budget => UnitState::Done,
                    _ => UnitState::Pending,
                }
            }
        })
    }

    /// Who computed its result, as the result records it: `local`, or the Slurm job
    /// (`slurm:JOB_TASK` for an array task); for a supernet trained over several
    /// sessions, each of them in epoch order (`slurm:41_0, local`). `None` while it is not
    /// done, or for a search finished before searches recorded it.
    pub fn computed_by(&self, prep: &Prepared) -> Result<Option<String>> {
        let key = self.key(prep)?;
        Ok(match self {
            Unit::Standalone { .. } => match cached_standalone(prep, &key)? {
                Some(Ok(r)) => Some(r.computed_by.unwrap_or_else(|| "local".into())),
                Some(Err(f)) => Some(f.computed_by.unwrap_or_else(|| "local".into())),
                None => None,
            },
            Unit::Supernet { .. } => prep.run.supernet(&key).progress()?.and_then(|p| {
                let mut by: Vec<String> = p.computed_by;
                by.dedup();
                (!by.is_empty()).then(|| by.join(", "))
            }),
            Unit::Search { strategy, seed } => {
                search_dir(prep, strategy, *seed)?.0.computed_by()?
            }
        })
    }

    /// One line for logs and status.
    pub fn describe(&self) -> String {
        match self {
            Unit::Standalone {
                arch,
                role,
                seed_offset,
            } => format!(
                "stand-alone training of {arch} ({}, seed +{seed_offset})",
                role.as_str()
            ),
            Unit::Supernet { rate, repeat: 0 } => format!("supernet at path-dropout rate {rate}"),
            Unit::Supernet { rate, repeat } => {
                format!("supernet at path-dropout rate {rate}, seeds +{repeat}")
            }
            Unit::Search { strategy, seed } => format!("search of {strategy} with seed {seed}"),
        }
    }

    /// Does the work (or finds it done) on `ctx`'s device.
    pub fn run<B: NasAutodiffBackend>(&self, ctx: &Ctx<B>) -> Result<()> {
        match self {
            Unit::Standalone {
                arch,
                role,
                seed_offset,
            } => {
                let job = Job {
                    arch: parse(ctx, arch)?,
                    role: *role,
                    seed_offset: *seed_offset,
                };
                train_all(ctx, std::slice::from_ref(&job))?;
            }
            Unit::Supernet { rate, repeat } => {
                supernet(ctx, &ctx.supernet_at(*rate, *repeat))?;
            }
            Unit::Search { strategy, seed } => {
                let net = trained_supernet(ctx, &ctx.supernet)?;
                let mut oneshot = OneShot::new(ctx, &net, &ctx.supernet, CacheWrites::ReadOnly)?;
                search(ctx, &mut oneshot, strategy, *seed)?;
            }
        }
        Ok(())
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn parse(prep: &Prepared, arch: &str) -> Result<nas_core::space::Architecture> {
    prep.space
        .parse(arch)
        .with_context(|| format!("a unit's architecture {arch} is not in the search space"))
}

/// Every unit of `phase` under `prep`'s configuration, done or not, in a fixed order.
pub fn units(prep: &Prepared, phase: Phase) -> Result<Vec<Unit>> {
    let (mut units, jobs) = match phase {
        Phase::Compare => return compare_units(prep),
        Phase::Retrain => (Vec::new(), retrain_jobs(prep, &finished_search(prep)?)?.1),
        Phase::Study => (
            prep.cfg
                .study
                .rates
                .iter()
                .flat_map(|&rate| {
                    (0..prep.cfg.study.supernet_seeds as u64)
                        .map(move |repeat| Unit::Supernet { rate, repeat })
                })
                .collect(),
            sample_jobs(&study_sample(prep)?, prep.cfg.retrain.seeds),
        ),
    };
    for job in &jobs {
        let unit = Unit::from_job(job);
        if !units.contains(&unit) {
            units.push(unit);
        }
    }
    Ok(units)
}

/// The searches of a comparison, strategy by strategy, seed by seed (the seeds `nas
/// compare` uses: `seed`, `seed + 1`, ...). They share the trained supernet, which must
/// be there: in one array, each task would otherwise train it again.
fn compare_units(prep: &Prepared) -> Result<Vec<Unit>> {
    let trained = prep
        .run
        .supernet(&prep.supernet.key)
        .progress()?
        .is_some_and(|p| p.epochs_done >= prep.supernet.train.epochs);
    if !trained {
        bail!(
            "the supernet of this configuration is not trained in {}: run `nas train --out {0}` \
             first (the searches of a comparison share it)",
            prep.run.root().display()
        );
    }
    let seeds = (0..prep.cfg.compare.seeds as u64).map(|i| prep.cfg.seed + i);
    let mut units = Vec::new();
    for strategy in prep.cfg.compared_strategies()? {
        for seed in seeds.clone() {
            units.push(Unit::Search {
                strategy: strategy.clone(),
                seed,
            });
        }
    }
    Ok(units)
}

/// A unit as a backend task (for `nas slurm task`).
pub struct UnitTask {
    /// The unit.
    pub unit: Unit,
    /// Its configuration and run directory.
    pub prep: Prepared,
}

impl BackendTask for UnitTask {
    type Output = Result<()>;

    fn run<B: NasAutodiffBackend>(self, device: B::Device) -> Result<()> {
        let ctx = Ctx::<B> {
            prep: self.prep,
            device,
        };
        self.unit.run(&ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::Unit;

    #[test]
    fn a_supernet_unit_without_a_repeat_is_the_first_supernet_of_its_rate() {
        // Units written before repeats existed read back as repeat 0, and repeat 0 is
        // written as it was then.
        let old: Unit = serde_json::from_str(r#"{"kind":"supernet","rate":0.5}"#).unwrap();
        assert_eq!(
            old,
            Unit::Supernet {
                rate: 0.5,
                repeat: 0
            }
        );
        assert_eq!(
            serde_json::to_string(&old).unwrap(),
            r#"{"kind":"supernet","rate":0.5}"#
        );
        let second = Unit::Supernet {
            rate: 0.5,
            repeat: 1,
        };
        let text = serde_json::to_string(&second).unwrap();
        assert_eq!(text, r#"{"kind":"supernet","rate":0.5,"repeat":1}"#);
        assert_eq!(serde_json::from_str::<Unit>(&text).unwrap(), second);
        assert!(second.describe().contains("seeds +1"));
    }
}
