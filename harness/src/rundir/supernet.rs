//! A supernet's folder: its setup, per-epoch checkpoints and progress.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use nas_core::train::EpochInfo;
use serde::{Deserialize, Serialize};

use super::{read_json, write_atomic, write_json};

/// Supernet training progress, saved after every epoch.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SupernetProgress {
    /// Epochs completed.
    pub epochs_done: usize,
    /// Epochs of the run.
    pub epochs: usize,
    /// Model checkpoint file (in the supernet's folder).
    pub model_file: String,
    /// Optimizer checkpoint file.
    pub optimizer_file: String,
    /// Per-epoch figures so far.
    pub history: Vec<EpochInfo>,
    /// Seconds spent training, over all sessions.
    pub seconds: f64,
}

/// The folder of one supernet.
#[derive(Debug, Clone)]
pub struct SupernetDir {
    dir: PathBuf,
}

impl SupernetDir {
    pub(super) fn new(dir: PathBuf) -> Self {
        SupernetDir { dir }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Records what the supernet depends on (once, when training starts).
    pub fn write_setup<T: Serialize>(&self, setup: &T) -> Result<()> {
        write_json(&self.dir.join("setup.json"), setup)
    }

    /// The progress saved after the last finished epoch, if any.
    pub fn progress(&self) -> Result<Option<SupernetProgress>> {
        read_json(&self.dir.join("progress.json"))
    }

    /// The weights named by `progress`.
    pub fn model_bytes(&self, progress: &SupernetProgress) -> Result<Vec<u8>> {
        let p = self.dir.join(&progress.model_file);
        std::fs::read(&p).with_context(|| format!("reading {}", p.display()))
    }

    /// The optimizer state named by `progress`.
    pub fn optimizer_bytes(&self, progress: &SupernetProgress) -> Result<Vec<u8>> {
        let p = self.dir.join(&progress.optimizer_file);
        std::fs::read(&p).with_context(|| format!("reading {}", p.display()))
    }

    /// Saves the checkpoint after `progress.epochs_done` epochs: weights and optimizer
    /// state first, then the progress file that names them (atomically), then the
    /// previous checkpoint's files are removed. A kill at any point leaves a progress
    /// file that names complete checkpoint files.
    pub fn save_checkpoint(
        &self,
        progress: &mut SupernetProgress,
        model: &[u8],
        optimizer: &[u8],
    ) -> Result<()> {
        let model_file = format!("model-e{:04}.mpk", progress.epochs_done);
        let optimizer_file = format!("optim-e{:04}.mpk", progress.epochs_done);
        write_atomic(&self.dir.join(&model_file), model)?;
        write_atomic(&self.dir.join(&optimizer_file), optimizer)?;
        let old = [
            std::mem::replace(&mut progress.model_file, model_file),
            std::mem::replace(&mut progress.optimizer_file, optimizer_file),
        ];
        write_json(&self.dir.join("progress.json"), progress)?;
        for f in old.iter().filter(|f| !f.is_empty()) {
            if *f != progress.model_file && *f != progress.optimizer_file {
                let _ = std::fs::remove_file(self.dir.join(f));
            }
        }
        Ok(())
    }
}
