//! Model checkpointing (Keras' `ModelCheckpoint`): save the model, with its optimizer state,
//! after every epoch or only when the monitored metric improves. Files are written atomically,
//! so an interruption leaves the previous checkpoint readable.

use std::path::PathBuf;

use super::{Callback, Control, EpochLogs, Monitor};
use crate::data::Scaler;
use crate::spec::DataSpec;
use crate::{Result, Sequential};

/// Saves the model as training goes.
pub struct ModelCheckpoint {
    dir: PathBuf,
    monitor: Option<Monitor>,
    scaler: Scaler,
    data: Option<DataSpec>,
    class_names: Option<Vec<String>>,
    saved: usize,
}

impl ModelCheckpoint {
    /// Saves into `dir` every epoch, or, with a `monitor`, only when it improves. The scaler,
    /// data spec and class names are saved with the model, as `Sequential::save` needs.
    pub fn new(
        dir: PathBuf,
        monitor: Option<Monitor>,
        scaler: Scaler,
        data: Option<DataSpec>,
        class_names: Option<Vec<String>>,
    ) -> Self {
        ModelCheckpoint {
            dir,
            monitor,
            scaler,
            data,
            class_names,
            saved: 0,
        }
    }

    /// How many times the model was saved.
    pub fn saved(&self) -> usize {
        self.saved
    }
}

impl Callback for ModelCheckpoint {
    fn on_epoch_end(&mut self, logs: &EpochLogs, model: &mut Sequential) -> Result<Control> {
        let save = match &mut self.monitor {
            Some(monitor) => monitor.improved(logs)?,
            None => true,
        };
        if save {
            model.save(
                &self.dir,
                &self.scaler,
                self.data.as_ref(),
                self.class_names.clone(),
            )?;
            self.saved += 1;
        }
        Ok(Control::Continue)
    }
}
