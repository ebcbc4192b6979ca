//! Model checkpointing (Keras' `ModelCheckpoint`): save the model, with its optimizer state,
//! after every epoch or only when the monitored metric improves. Files are written atomically,
//! so an interruption leaves the previous checkpoint readable.

use std::path::PathBuf;

use super::{Callback, Control, EpochLogs};
use crate::model::RunMetadata;
use crate::monitor::Monitor;
use crate::{Result, Sequential};

/// Saves the model as training goes.
///
/// ```
/// use deeptrain::callbacks::{ModelCheckpoint, Monitor};
///
/// // Keras: ModelCheckpoint("best", monitor="val_accuracy", save_best_only=True)
/// let checkpoint = ModelCheckpoint::to("best").save_best_only(Monitor::on("val_accuracy"));
/// assert_eq!(checkpoint.saved(), 0);
/// ```
pub struct ModelCheckpoint {
    dir: PathBuf,
    monitor: Option<Monitor>,
    metadata: Option<RunMetadata>,
    saved: usize,
}

impl ModelCheckpoint {
    /// Saves into `dir` every epoch, or, with a `monitor`, only when it improves; with the
    /// run's `metadata` (scaler, data, class names) beside the model when given.
    pub fn new(dir: PathBuf, monitor: Option<Monitor>, metadata: Option<RunMetadata>) -> Self {
        ModelCheckpoint {
            dir,
            monitor,
            metadata,
            saved: 0,
        }
    }

    /// Saves into `dir` after every epoch.
    pub fn to(dir: impl Into<PathBuf>) -> Self {
        ModelCheckpoint::new(dir.into(), None, None)
    }

    /// Saves only when `monitor` improves (Keras' `save_best_only`).
    #[must_use]
    pub fn save_best_only(mut self, monitor: Monitor) -> Self {
        self.monitor = Some(monitor);
        self
    }

    /// Writes the run's metadata (scaler, data, class names) beside each saved model.
    #[must_use]
    pub fn metadata(mut self, metadata: RunMetadata) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// How many times the model was saved.
    pub fn saved(&self) -> usize {
        self.saved
    }
}

impl Callback for ModelCheckpoint {
    fn on_epoch_end(&mut self, logs: &EpochLogs, model: &mut Sequential) -> Result<Control> {
        let save = match &mut self.monitor {
            Some(monitor) => monitor.improved(&logs.values)?,
            None => true,
        };
        if save {
            model.save(&self.dir)?;
            if let Some(metadata) = &self.metadata {
                metadata.save(&self.dir)?;
            }
            self.saved += 1;
        }
        Ok(Control::Continue)
    }
}
