//! The metric a callback or schedule watches (early stopping, checkpoints' `save_best_only`,
//! `reduce_on_plateau`) and the one rule for which way it improves: Keras' "auto" is `max` for
//! names with "acc" in them and `min` otherwise.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Whether the monitored metric should go down or up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MonitorMode {
    /// `max` for accuracies, `min` otherwise (Keras' rule).
    #[default]
    Auto,
    /// Lower is better.
    Min,
    /// Higher is better.
    Max,
}

impl MonitorMode {
    /// The direction for the metric `name`: `Auto` becomes `Max` when the name contains "acc"
    /// (Keras' `EarlyStopping`, `ModelCheckpoint` and `ReduceLROnPlateau`), else `Min`.
    ///
    /// ```
    /// use deeptrain::monitor::MonitorMode;
    /// assert_eq!(MonitorMode::Auto.resolve("val_accuracy"), MonitorMode::Max);
    /// assert_eq!(MonitorMode::Auto.resolve("val_loss"), MonitorMode::Min);
    /// assert_eq!(MonitorMode::Min.resolve("val_accuracy"), MonitorMode::Min);
    /// ```
    pub fn resolve(self, name: &str) -> MonitorMode {
        match self {
            MonitorMode::Auto if name.contains("acc") => MonitorMode::Max,
            MonitorMode::Auto => MonitorMode::Min,
            m => m,
        }
    }
}

/// The value of metric `name` among an epoch's `values` (`EpochLogs::values`); the error names
/// `who` watches it and the metrics the run computes.
pub fn value_of(values: &[(String, f64)], name: &str, who: &str) -> Result<f64> {
    values
        .iter()
        .find(|(n, _)| n == name)
        .map(|&(_, v)| v)
        .ok_or_else(|| {
            Error::Config(format!(
                "{who} monitors `{name}`, which this run does not compute (metrics: {}; no validation data?)",
                values
                    .iter()
                    .map(|v| v.0.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}

/// Which metric to watch and in which direction it improves, with the best value so far.
#[derive(Clone, Debug, PartialEq)]
pub struct Monitor {
    /// Metric name (`val_loss`, `val_accuracy`, ...).
    pub name: String,
    /// Lower or higher is better (resolved: never `Auto`).
    pub mode: MonitorMode,
    /// The smallest change that counts.
    pub min_delta: f64,
    best: Option<f64>,
}

impl Monitor {
    /// A monitor with no value seen yet; `Auto` is resolved by [`MonitorMode::resolve`].
    pub fn new(name: &str, mode: MonitorMode, min_delta: f64) -> Self {
        Monitor {
            name: name.to_string(),
            mode: mode.resolve(name),
            min_delta: min_delta.abs(),
            best: None,
        }
    }

    /// Watches `name` in the direction its name implies (higher for accuracies), any change
    /// counting: `Monitor::on("val_accuracy")`.
    pub fn on(name: &str) -> Self {
        Monitor::new(name, MonitorMode::Auto, 0.0)
    }

    /// Sets the direction (`Auto` resolves from the name, as in [`Monitor::new`]).
    #[must_use]
    pub fn mode(self, mode: MonitorMode) -> Self {
        Monitor::new(&self.name, mode, self.min_delta)
    }

    /// Sets the smallest change that counts as improvement.
    #[must_use]
    pub fn min_delta(mut self, min_delta: f64) -> Self {
        self.min_delta = min_delta.abs();
        self
    }

    /// Reads the metric from an epoch's `values` (`EpochLogs::values`); true when it improved
    /// on the best so far by more than `min_delta` (it then becomes the best). Errors when the
    /// values lack it.
    pub fn improved(&mut self, values: &[(String, f64)]) -> Result<bool> {
        let value = value_of(values, &self.name, "the callback")?;
        let better = match (self.best, self.mode) {
            (None, _) => value.is_finite(),
            (Some(best), MonitorMode::Max) => value - self.min_delta > best,
            (Some(best), _) => value + self.min_delta < best,
        };
        if better {
            self.best = Some(value);
        }
        Ok(better)
    }

    /// The best value seen.
    pub fn best(&self) -> Option<f64> {
        self.best
    }
}
