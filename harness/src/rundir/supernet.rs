//! A supernet's folder: its setup, per-epoch checkpoints and progress.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use nas_core::train::{EpochInfo, WithinEpoch};
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
    /// Who trained each epoch: `local`, or the Slurm job (`slurm:JOB_TASK` for an array
    /// task); empty in progress files older than this field.
    #[serde(default)]
    pub computed_by: Vec<String>,
    /// Set when training stopped inside epoch `epochs_done + 1` (a signal): how far into
    /// it the checkpoint is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within_epoch: Option<WithinEpoch>,
}

impl SupernetProgress {
    /// Steps taken so far, of `steps_per_epoch` per epoch.
    pub fn steps_done(&self, steps_per_epoch: usize) -> usize {
        self.epochs_done * steps_per_epoch + self.within_epoch.as_ref().map_or(0, |w| w.steps_done)
    }
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

    /// Removes every checkpoint file that `progress` does not name: the previous epoch's,
    /// and any a kill left between writing a checkpoint and removing the one before.
    fn remove_old_checkpoints(&self, progress: &SupernetProgress) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let checkpoint = (name.starts_with("model-e") || name.starts_with("optim-e"))
                && name.ends_with(".mpk");
            if checkpoint && name != progress.model_file && name != progress.optimizer_file {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }

    /// Saves the checkpoint after `progress.epochs_done` epochs (and
    /// `progress.within_epoch` steps into the next): weights and optimizer state first,
    /// then the progress file that names them (atomically), then every other checkpoint
    /// file is removed. A kill at any point leaves a progress file that names complete
    /// checkpoint files.
    pub fn save_checkpoint(
        &self,
        progress: &mut SupernetProgress,
        model: &[u8],
        optimizer: &[u8],
    ) -> Result<()> {
        let at = match &progress.within_epoch {
            None => format!("e{:04}", progress.epochs_done),
            Some(w) => format!("e{:04}-s{:06}", progress.epochs_done, w.steps_done),
        };
        let model_file = format!("model-{at}.mpk");
        let optimizer_file = format!("optim-{at}.mpk");
        write_atomic(&self.dir.join(&model_file), model)?;
        write_atomic(&self.dir.join(&optimizer_file), optimizer)?;
        progress.model_file = model_file;
        progress.optimizer_file = optimizer_file;
        write_json(&self.dir.join("progress.json"), progress)?;
        self.remove_old_checkpoints(progress);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_leaves_only_itself() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = SupernetDir::new(tmp.path().join("s"));
        let mut p = SupernetProgress {
            epochs_done: 1,
            ..SupernetProgress::default()
        };
        dir.save_checkpoint(&mut p, b"m1", b"o1").unwrap();
        // A kill between writing epoch 3's weights and its progress file left them behind.
        std::fs::write(dir.path().join("model-e0003.mpk"), b"m3").unwrap();
        p.epochs_done = 2;
        dir.save_checkpoint(&mut p, b"m2", b"o2").unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["model-e0002.mpk", "optim-e0002.mpk", "progress.json"]
        );
        let back = dir.progress().unwrap().unwrap();
        assert_eq!(dir.model_bytes(&back).unwrap(), b"m2");
        assert_eq!(dir.optimizer_bytes(&back).unwrap(), b"o2");
    }
}
