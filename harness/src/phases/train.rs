//! Phase 1: the supernet, trained, resumed from its last checkpoint, or loaded.

use std::ops::ControlFlow;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Recorder};
use burn::tensor::backend::Backend;
use nas_core::backend::NasAutodiffBackend;
use nas_core::supernet::Supernet;
use nas_core::train::{Checkpoint, EpochInfo, Resume, StepInfo, TrainHook, resume_supernet};

use super::{Ctx, SupernetChoice};
use crate::rundir::{SupernetDir, SupernetProgress};
use crate::ui::StepBar;

type Rec = NamedMpkBytesRecorder<FullPrecisionSettings>;

/// Saves a checkpoint after each epoch (see [`SupernetDir::save_checkpoint`]).
struct Saver {
    dir: SupernetDir,
    progress: SupernetProgress,
    started: Instant,
    seconds_before: f64,
    bar: StepBar,
    error: Option<anyhow::Error>,
}

impl Saver {
    fn save<B: NasAutodiffBackend>(&mut self, ck: Checkpoint<'_, Supernet<B>>) -> Result<()> {
        let model = Rec::new()
            .record(ck.model.clone().into_record(), ())
            .context("encoding the supernet")?;
        self.progress.epochs_done = ck.epochs_done;
        self.progress.within_epoch = ck.within_epoch;
        self.progress.seconds = self.seconds_before + self.started.elapsed().as_secs_f64();
        self.dir
            .save_checkpoint(&mut self.progress, &model, &ck.optimizer)?;
        match &self.progress.within_epoch {
            None => tracing::info!(
                "supernet checkpoint after epoch {}",
                self.progress.epochs_done
            ),
            Some(w) => tracing::info!(
                "supernet checkpoint after step {} of epoch {}",
                w.steps_done,
                self.progress.epochs_done + 1
            ),
        }
        Ok(())
    }
}

impl<B: NasAutodiffBackend> TrainHook<Supernet<B>> for Saver {
    fn on_step(&mut self, info: &StepInfo) -> ControlFlow<()> {
        <StepBar as TrainHook<Supernet<B>>>::on_step(&mut self.bar, info)
    }
    fn metrics_every(&self) -> usize {
        <StepBar as TrainHook<Supernet<B>>>::metrics_every(&self.bar)
    }
    fn on_epoch(&mut self, info: &EpochInfo, m: &Supernet<B>) -> ControlFlow<()> {
        self.progress.history.push(info.clone());
        self.progress
            .computed_by
            .push(crate::reports::provenance::computed_by());
        self.bar.on_epoch(info, m)
    }
    fn wants_checkpoint(&self) -> bool {
        true
    }
    fn stop_requested(&mut self) -> bool {
        crate::interrupt::requested().is_some()
    }
    fn on_checkpoint(&mut self, ck: Checkpoint<'_, Supernet<B>>) -> ControlFlow<()> {
        match self.save(ck) {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                self.error = Some(e);
                ControlFlow::Break(())
            }
        }
    }
}

fn load_record<B: Backend, M: Module<B>>(
    model: M,
    bytes: Vec<u8>,
    dir: &SupernetDir,
    device: &B::Device,
) -> Result<M> {
    let record = Rec::new().load(bytes, device).with_context(|| {
        format!(
            "{} does not hold a checkpoint of this supernet",
            dir.path().display()
        )
    })?;
    Ok(model.load_record(record))
}

/// The trained supernet `choice` (e.g. `&ctx.supernet`, the configured one): trained
/// now, resumed from its last checkpoint, or loaded when its training finished before.
pub fn supernet<B: NasAutodiffBackend>(
    ctx: &Ctx<B>,
    choice: &SupernetChoice,
) -> Result<Supernet<B>> {
    let key = &choice.key;
    let dir = ctx.run.supernet(key);
    let cfg = &choice.train;
    let fresh = Supernet::<B>::new(&ctx.space, &ctx.layers, choice.init_seed, &ctx.device)
        .context("building the supernet")?;
    let (model, resume, progress) = match dir.progress()? {
        Some(p) => {
            let model = load_record(fresh, dir.model_bytes(&p)?, &dir, &ctx.device)?;
            if p.epochs_done >= cfg.epochs {
                tracing::info!("supernet {key}: trained before, loaded");
                return Ok(model);
            }
            match &p.within_epoch {
                None => tracing::info!(
                    "supernet {}: resuming after epoch {} of {}",
                    key,
                    p.epochs_done,
                    cfg.epochs
                ),
                Some(w) => tracing::info!(
                    "supernet {}: resuming after step {} of epoch {} of {}",
                    key,
                    w.steps_done,
                    p.epochs_done + 1,
                    cfg.epochs
                ),
            }
            let resume = Resume {
                epochs_done: p.epochs_done,
                optimizer: dir.optimizer_bytes(&p)?,
                within_epoch: p.within_epoch.clone(),
            };
            (model, Some(resume), p)
        }
        None => {
            dir.write_setup(&ctx.supernet_setup(choice))?;
            let p = SupernetProgress {
                epochs: cfg.epochs,
                ..SupernetProgress::default()
            };
            (fresh, None, p)
        }
    };
    let steps_per_epoch = ctx.data.train.len() / cfg.batch_size.max(1);
    let bar = ctx.ui.bar(steps_per_epoch * cfg.epochs, "supernet");
    bar.set_position(progress.steps_done(steps_per_epoch) as u64);
    tracing::info!(
        "supernet {}: {} epochs of {} steps (batch {} in {} ghost batches, r_max {})",
        key,
        cfg.epochs,
        steps_per_epoch,
        cfg.batch_size,
        cfg.ghost_batches,
        cfg.drop_path.r_max
    );
    let mut saver = Saver {
        dir,
        seconds_before: progress.seconds,
        progress,
        started: Instant::now(),
        bar: StepBar { bar },
        error: None,
    };
    // Ctrl-C, SIGTERM or Slurm's warning before the time limit stops at a checkpoint.
    let armed = crate::interrupt::arm();
    let (model, report) = resume_supernet(model, &ctx.data.train, cfg, resume.as_ref(), &mut saver)
        .context("training the supernet")?;
    drop(armed);
    saver.bar.bar.finish_and_clear();
    if let Some(e) = saver.error {
        return Err(e.context("saving a supernet checkpoint"));
    }
    if report.stopped_early
        && let Some(signal) = crate::interrupt::requested()
    {
        let total = steps_per_epoch * cfg.epochs;
        return Err(crate::interrupt::Interrupted {
            signal,
            where_: format!(
                "after step {} of {total} in {}",
                saver.progress.steps_done(steps_per_epoch),
                saver.dir.path().display()
            ),
        }
        .into());
    }
    Ok(model)
}

/// The supernet `choice`, which must have finished training.
pub fn trained_supernet<B: NasAutodiffBackend>(
    ctx: &Ctx<B>,
    choice: &SupernetChoice,
) -> Result<Supernet<B>> {
    let root = ctx.run.root().display();
    match ctx.run.supernet(&choice.key).progress()? {
        Some(p) if p.epochs_done >= choice.train.epochs => supernet(ctx, choice),
        Some(p) => bail!(
            "the supernet for these settings in {root} is trained for {} of {} epochs: run `nas train` (or `nas run`) to finish it",
            p.epochs_done,
            choice.train.epochs
        ),
        None => bail!(
            "no supernet trained with these settings in {root}: run `nas train --out {root}` first"
        ),
    }
}
