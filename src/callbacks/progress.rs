//! Keras-style progress: a bar per epoch (step, running loss and metrics, time left) on a
//! terminal, and a one-line result per epoch.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::{BatchEnd, Callback, Control, EpochLogs, TrainBegin};
use crate::{Result, Sequential};

/// Prints training progress as Keras' `fit(verbose=1)` does: what is trained on, a bar per epoch
/// on a terminal (hidden when output is not one), and one line of results per epoch.
///
/// ```
/// # fn main() -> deeptrain::Result<()> {
/// use deeptrain::callbacks::Progress;
/// use deeptrain::{data, Activation, DenseSpec, FitOptions, LayerSpec, Loss, Sequential, Sgd};
/// let train = data::digits()?.train;
/// let mut model = Sequential::new(&[8, 8])
///     .add(LayerSpec::flatten())
///     .add(DenseSpec::new(10).activation(Activation::Softmax))
///     .build(1)?;
/// model.compile(Box::new(Sgd::new(0.01)?), Loss::SparseCategoricalCrossentropy, &[])?;
/// let mut progress = Progress::new();
/// model.fit(&train, None, &FitOptions::default(), &mut [&mut progress])?;
/// # Ok(())
/// # }
/// ```
pub struct Progress {
    epochs: usize,
    bar: Option<ProgressBar>,
    last_message: Instant,
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}

impl Progress {
    /// A progress printer for one `fit`.
    pub fn new() -> Self {
        Progress {
            epochs: 0,
            bar: None,
            last_message: Instant::now(),
        }
    }
}

fn format_values(names: &[String], values: &[f64]) -> String {
    names
        .iter()
        .zip(values)
        .map(|(n, v)| format!("{n}: {v:.4}"))
        .collect::<Vec<_>>()
        .join(" - ")
}

impl Callback for Progress {
    fn on_train_begin(&mut self, info: &TrainBegin) {
        self.epochs = info.epochs;
        println!(
            "Training on {} samples, validating on {}, {} steps per epoch",
            info.train_samples, info.validation_samples, info.steps_per_epoch
        );
        let bar = ProgressBar::new(info.steps_per_epoch as u64);
        bar.set_style(
            ProgressStyle::with_template("{prefix} {bar:30} {pos}/{len} ETA {eta} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        self.bar = Some(bar);
    }

    fn on_epoch_begin(&mut self, epoch: usize) {
        if let Some(bar) = &self.bar {
            bar.reset();
            bar.set_prefix(format!("Epoch {}/{}", epoch + 1, self.epochs));
        }
    }

    fn on_batch_end(&mut self, logs: &BatchEnd) {
        if let Some(bar) = &self.bar {
            bar.set_position(logs.step as u64);
            if self.last_message.elapsed() > Duration::from_millis(200) {
                bar.set_message(format_values(logs.names, logs.values));
                self.last_message = Instant::now();
            }
        }
    }

    fn on_epoch_end(&mut self, logs: &EpochLogs, _model: &mut Sequential) -> Result<Control> {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        let names: Vec<String> = logs.values.iter().map(|(n, _)| n.clone()).collect();
        let values: Vec<f64> = logs.values.iter().map(|(_, v)| *v).collect();
        println!(
            "Epoch {}/{} - {:.1}s - {} - lr: {}",
            logs.epoch + 1,
            self.epochs,
            logs.seconds,
            format_values(&names, &values),
            logs.learning_rate as f32
        );
        Ok(Control::Continue)
    }
}
