//! Callbacks: hooks into `fit` (progress display, early stopping, checkpoints), with Keras'
//! names, and the history of every metric per epoch.

mod checkpoint;
mod csv_logger;
mod early_stopping;
mod progress;
pub mod tensorboard;

pub use crate::monitor::Monitor;
pub use checkpoint::ModelCheckpoint;
pub use csv_logger::{CsvLogger, TerminateOnNan};
pub use early_stopping::EarlyStopping;
pub use progress::Progress;
pub use tensorboard::TensorBoard;

use std::fmt::Write as _;
use std::path::Path;

use crate::{Result, Sequential};

/// Whether training goes on after an epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Keep training.
    Continue,
    /// Stop after this epoch.
    Stop,
}

/// What `fit` knows before the first epoch.
#[derive(Clone, Debug)]
pub struct TrainBegin {
    /// Number of epochs.
    pub epochs: usize,
    /// Steps (batches) per epoch.
    pub steps_per_epoch: usize,
    /// Training samples (after the validation split).
    pub train_samples: usize,
    /// Validation samples (0 without validation).
    pub validation_samples: usize,
}

/// Running values after a training step (means over the epoch so far).
#[derive(Clone, Copy, Debug)]
pub struct BatchEnd<'a> {
    /// Epoch index, from 0.
    pub epoch: usize,
    /// Steps done in this epoch, from 1.
    pub step: usize,
    /// Steps in the epoch.
    pub steps: usize,
    /// Names of the values (`loss`, then each metric).
    pub names: &'a [String],
    /// Running means, in the order of `names`.
    pub values: &'a [f64],
}

/// One epoch's results: a row of the history.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochLogs {
    /// Epoch index, from 0.
    pub epoch: usize,
    /// `loss`, each metric, then `val_loss` and each `val_` metric, in history column order.
    pub values: Vec<(String, f64)>,
    /// Learning rate used in the epoch.
    pub learning_rate: f64,
    /// Wall-clock seconds of the epoch (training and validation).
    pub seconds: f64,
}

impl EpochLogs {
    /// The value of a named metric (`loss`, `val_accuracy`, ...).
    pub fn get(&self, name: &str) -> Option<f64> {
        self.values.iter().find(|(n, _)| n == name).map(|&(_, v)| v)
    }
}

/// A hook into [`crate::Sequential::fit`]. Every method has a do-nothing default.
pub trait Callback {
    /// Before the first epoch.
    fn on_train_begin(&mut self, _info: &TrainBegin) {}
    /// Before each epoch.
    fn on_epoch_begin(&mut self, _epoch: usize) {}
    /// Before each training step (after the schedule has set the step's rate), with the model:
    /// may change its learning rate (Keras' `on_train_batch_begin`, where the textbook's 1cycle
    /// callback sets the rate). `step` counts from 0 within `epoch`.
    fn on_batch_begin(
        &mut self,
        _epoch: usize,
        _step: usize,
        _model: &mut Sequential,
    ) -> Result<()> {
        Ok(())
    }
    /// After each training step.
    fn on_batch_end(&mut self, _logs: &BatchEnd) {}
    /// Asked after [`Callback::on_batch_end`]: true stops training after this step, the epoch
    /// then ending early with its validation and `on_epoch_end` (Keras' `model.stop_training`
    /// set within an epoch). Honoured when training alone; data-parallel training stops at the
    /// epoch's end instead, where rank 0's callbacks decide.
    fn stop_after_batch(&mut self) -> bool {
        false
    }
    /// After each epoch (and its validation), with the model; may stop training.
    fn on_epoch_end(&mut self, _logs: &EpochLogs, _model: &mut Sequential) -> Result<Control> {
        Ok(Control::Continue)
    }
    /// After the last epoch, with the model (e.g. to restore the best weights).
    fn on_train_end(&mut self, _history: &History, _model: &mut Sequential) {}
    /// Whether this callback reads parameter gradients ([`crate::layers::Param::grad`]) from the model.
    /// Under plain SGD, layers otherwise update their kernels within backward and never store
    /// the kernel gradient (`grad()` is then `None`: not available); a callback that says true makes
    /// every step of `fit` store every gradient (a little slower).
    fn needs_gradients(&self) -> bool {
        false
    }
    /// Whether this callback may print (Keras' `verbose`, 1 by default here): data-parallel
    /// ranks other than the lead are set quiet, so that each line is printed once, by rank 0.
    fn set_verbose(&mut self, _verbose: bool) {}
}

/// `[[callbacks]]` in a spec, with Keras' names (snake_case ids or Keras' class names).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "name", rename_all = "snake_case", deny_unknown_fields)]
pub enum CallbackSpec {
    /// Stop when the monitored metric stops improving.
    #[serde(alias = "EarlyStopping")]
    EarlyStopping {
        /// The metric watched (default `val_loss`).
        #[serde(default = "val_loss")]
        monitor: String,
        /// `min`, `max` or `auto` (max for accuracies).
        #[serde(default)]
        mode: crate::monitor::MonitorMode,
        /// The smallest change that counts as improvement.
        #[serde(default)]
        min_delta: f64,
        /// Epochs without improvement before stopping.
        #[serde(default)]
        patience: usize,
        /// Put back the best epoch's weights at the end.
        #[serde(default)]
        restore_best_weights: bool,
    },
    /// Save the model every epoch, or only when the monitored metric improves.
    #[serde(alias = "ModelCheckpoint")]
    ModelCheckpoint {
        /// The metric watched for `save_best_only` (default `val_loss`).
        #[serde(default = "val_loss")]
        monitor: String,
        /// `min`, `max` or `auto`.
        #[serde(default)]
        mode: crate::monitor::MonitorMode,
        /// Save only when the metric improves.
        #[serde(default)]
        save_best_only: bool,
        /// Directory (default: `checkpoint/` in the run directory).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<std::path::PathBuf>,
    },
    /// Keras' `ReduceLROnPlateau` callback: becomes the `reduce_on_plateau` schedule with
    /// Keras' defaults (monitor `val_loss`, factor 0.1, patience 10, absolute min_delta 1e-4);
    /// its keys are the schedule's (`monitor`, `factor`, `patience`, `min_delta`, `cooldown`,
    /// `min_lr`, `mode`).
    #[serde(rename = "reduce_lr_on_plateau", alias = "ReduceLROnPlateau")]
    ReduceLrOnPlateau(toml::Table),
    /// Stop training when the loss becomes NaN or infinite (Keras' `TerminateOnNaN`); the
    /// run ends with an error naming the epoch and step.
    #[serde(rename = "terminate_on_nan", alias = "TerminateOnNaN")]
    TerminateOnNan {},
    /// Write every epoch's logs to a CSV file as it ends (Keras' `CSVLogger`).
    #[serde(rename = "csv_logger", alias = "CSVLogger")]
    CsvLogger {
        /// The file, relative to the run directory (default `log.csv`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filename: Option<std::path::PathBuf>,
        /// Append to an existing file instead of replacing it.
        #[serde(default)]
        append: bool,
    },
    /// Event files for TensorBoard (Keras' `TensorBoard`; see [`tensorboard`]).
    #[serde(rename = "tensorboard", alias = "TensorBoard")]
    Tensorboard {
        /// The log directory, relative to the run directory (default `logs`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        log_dir: Option<std::path::PathBuf>,
        /// Histograms of weights, gradients and activations every this many epochs (0: none;
        /// default 1, where Keras' default is 0).
        #[serde(default = "one")]
        histogram_freq: usize,
    },
}

fn one() -> usize {
    1
}

impl CallbackSpec {
    /// The `[schedule]` a `ReduceLROnPlateau` callback stands for, with Keras' defaults: the
    /// schedule's own, but an absolute `min_delta` (`threshold_mode = "abs"`).
    pub fn plateau_schedule(&self) -> Option<crate::Result<crate::schedules::ScheduleSpec>> {
        let CallbackSpec::ReduceLrOnPlateau(keys) = self else {
            return None;
        };
        let mut table = keys.clone();
        table.insert("name".into(), "reduce_on_plateau".into());
        table
            .entry("threshold_mode")
            .or_insert(toml::Value::from("abs"));
        Some(
            crate::schedules::ScheduleSpec::deserialize(toml::Value::Table(table))
                .map_err(|e| crate::Error::Config(format!("ReduceLROnPlateau: {}", e.message()))),
        )
    }
}

use serde::Deserialize as _;

fn val_loss() -> String {
    "val_loss".into()
}

/// Every metric per epoch, as Keras' `History`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// One entry per completed epoch.
    pub epochs: Vec<EpochLogs>,
}

impl History {
    /// The series of one metric over the epochs.
    pub fn series(&self, name: &str) -> Vec<f64> {
        self.epochs.iter().filter_map(|e| e.get(name)).collect()
    }

    /// The last epoch's value of a metric.
    pub fn last(&self, name: &str) -> Option<f64> {
        self.epochs.last().and_then(|e| e.get(name))
    }

    /// CSV text: `epoch`, each value column, `lr`, `seconds`; epochs counted from 1.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("epoch");
        if let Some(first) = self.epochs.first() {
            for (name, _) in &first.values {
                out.push(',');
                out.push_str(name);
            }
        }
        out.push_str(",lr,seconds\n");
        for e in &self.epochs {
            let _ = write!(out, "{}", e.epoch + 1);
            for (_, v) in &e.values {
                let _ = write!(out, ",{v}");
            }
            let _ = writeln!(out, ",{},{:.3}", e.learning_rate as f32, e.seconds);
        }
        out
    }

    /// Writes [`History::to_csv`] to `path`.
    pub fn write_csv(&self, path: &Path) -> Result<()> {
        crate::io::write_atomic(path, self.to_csv().as_bytes())
    }
}
