//! Progress bars (hidden when stderr is not a terminal, or with `--quiet`).

use std::io::Write;
use std::ops::ControlFlow;
use std::sync::LazyLock;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use nas_core::train::{EpochInfo, StepInfo, TrainHook};

/// Makes progress bars.
#[derive(Debug, Clone, Copy)]
pub struct Ui {
    /// No bars at all.
    pub quiet: bool,
}

impl Ui {
    /// A bar of `len` units labelled `what`. indicatif draws nothing when stderr is not
    /// a terminal, so logs and CI output stay clean.
    pub fn bar(&self, len: usize, what: &str) -> ProgressBar {
        let bar = ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::hidden());
        // Shown bars live in one set, below which log lines are printed (see `LogWriter`).
        let bar = if self.quiet { bar } else { BARS.add(bar) };
        let style = ProgressStyle::with_template(
            "{prefix:>12} [{bar:30}] {pos}/{len} {msg} ({elapsed}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(what.to_string());
        bar
    }
}

/// Every shown progress bar: log lines are printed above them, not through them.
static BARS: LazyLock<MultiProgress> = LazyLock::new(MultiProgress::new);

/// stderr for the logs: the bars are cleared while a line is written and drawn again below
/// it, so a terminal shows each log line once and the bars only where they are.
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        BARS.suspend(|| std::io::stderr().write(buf))
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        BARS.suspend(|| std::io::stderr().write_all(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Advances a bar on every training step, showing the loss.
pub struct StepBar {
    /// The bar.
    pub bar: ProgressBar,
}

impl<M> TrainHook<M> for StepBar {
    fn on_step(&mut self, info: &StepInfo) -> ControlFlow<()> {
        self.bar.set_position(info.step as u64 + 1);
        if let Some(m) = &info.metrics {
            self.bar.set_message(format!("loss {:.3}", m.loss));
        }
        ControlFlow::Continue(())
    }
    fn metrics_every(&self) -> usize {
        // One read from the device per this many steps (a GPU would otherwise wait for
        // every step to finish before queueing the next).
        10
    }
    fn on_epoch(&mut self, info: &EpochInfo, _: &M) -> ControlFlow<()> {
        tracing::info!(
            "epoch {}/{}: mean loss {:.3}, train accuracy {:.3}",
            info.epoch + 1,
            info.epochs,
            info.mean_loss,
            info.train_accuracy
        );
        ControlFlow::Continue(())
    }
}
