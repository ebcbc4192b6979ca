//! Early stopping (Keras' `EarlyStopping`): stop when the monitored metric has not improved by
//! more than `min_delta` for `patience` epochs, optionally putting back the best epoch's weights.

use super::{Callback, Control, EpochLogs, History};
use crate::model::Weights;
use crate::monitor::{Monitor, MonitorMode};
use crate::{Result, Sequential};

/// Stops training when the monitored metric stops improving.
///
/// ```
/// use deeptrain::callbacks::EarlyStopping;
/// use deeptrain::{data, Activation, DenseSpec, FitOptions, LayerSpec, Loss, Sequential, Sgd};
///
/// # fn main() -> deeptrain::Result<()> {
/// let train = data::digits()?.train;
/// let mut model = Sequential::new(&[8, 8])
///     .add(LayerSpec::flatten())
///     .add(DenseSpec::new(10).activation(Activation::Softmax))
///     .build(1)?;
/// model.compile(Box::new(Sgd::new(0.01)?), Loss::SparseCategoricalCrossentropy, &[])?;
/// // Keras: EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
/// let mut stop = EarlyStopping::monitoring("val_loss").patience(2).restore_best_weights(true);
/// let options = FitOptions { epochs: 3, validation_split: 0.2, ..Default::default() };
/// model.fit(&train, None, &options, &mut [&mut stop])?;
/// assert!(stop.best_epoch().is_some());
/// # Ok(())
/// # }
/// ```
pub struct EarlyStopping {
    monitor: Monitor,
    patience: usize,
    restore_best_weights: bool,
    wait: usize,
    best_epoch: Option<usize>,
    best_weights: Option<Weights>,
    stopped_epoch: Option<usize>,
    verbose: bool,
}

impl EarlyStopping {
    /// Watches `monitor`, waiting `patience` epochs.
    pub fn new(monitor: Monitor, patience: usize, restore_best_weights: bool) -> Self {
        EarlyStopping {
            monitor,
            patience,
            restore_best_weights,
            wait: 0,
            best_epoch: None,
            best_weights: None,
            stopped_epoch: None,
            verbose: true,
        }
    }

    /// Keras' `EarlyStopping(monitor=name)`: patience 0, the last weights kept.
    pub fn monitoring(name: &str) -> Self {
        EarlyStopping::new(Monitor::on(name), 0, false)
    }

    /// Sets the direction in which the metric improves.
    #[must_use]
    pub fn mode(mut self, mode: MonitorMode) -> Self {
        self.monitor = self.monitor.mode(mode);
        self
    }

    /// Sets the smallest change that counts as improvement.
    #[must_use]
    pub fn min_delta(mut self, min_delta: f64) -> Self {
        self.monitor = self.monitor.min_delta(min_delta);
        self
    }

    /// Sets the epochs without improvement tolerated before stopping.
    #[must_use]
    pub fn patience(mut self, patience: usize) -> Self {
        self.patience = patience;
        self
    }

    /// Puts back the best epoch's weights when training ends.
    #[must_use]
    pub fn restore_best_weights(mut self, restore: bool) -> Self {
        self.restore_best_weights = restore;
        self
    }

    /// The epoch (from 0) with the best value, if any.
    pub fn best_epoch(&self) -> Option<usize> {
        self.best_epoch
    }

    /// The epoch (from 0) after which training stopped, if it stopped early.
    pub fn stopped_epoch(&self) -> Option<usize> {
        self.stopped_epoch
    }
}

impl Callback for EarlyStopping {
    fn on_epoch_end(&mut self, logs: &EpochLogs, model: &mut Sequential) -> Result<Control> {
        if self.monitor.improved(&logs.values)? {
            self.best_epoch = Some(logs.epoch);
            self.wait = 0;
            if self.restore_best_weights {
                self.best_weights = Some(model.weights());
            }
            return Ok(Control::Continue);
        }
        self.wait += 1;
        if self.wait >= self.patience {
            self.stopped_epoch = Some(logs.epoch);
            return Ok(Control::Stop);
        }
        Ok(Control::Continue)
    }

    /// Says, as Keras does, that training stopped early and whose weights were put back.
    fn on_train_end(&mut self, _history: &History, model: &mut Sequential) {
        if let Some(epoch) = self.stopped_epoch.filter(|_| self.verbose) {
            println!("Epoch {}: early stopping", epoch + 1);
        }
        if let Some(weights) = self.best_weights.take() {
            if let Some(best) = self.best_epoch.filter(|_| self.verbose) {
                println!(
                    "Restoring model weights from the end of the best epoch: {}.",
                    best + 1
                );
            }
            model.set_weights(&weights);
        }
    }

    fn set_verbose(&mut self, verbose: bool) {
        self.verbose = verbose;
    }
}
