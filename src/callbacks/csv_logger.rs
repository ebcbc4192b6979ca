//! Keras' `CSVLogger` and `TerminateOnNaN` callbacks.

use std::fmt::Write as _;
use std::path::PathBuf;

use super::{Callback, Control, EpochLogs};
use crate::{Error, Result, Sequential};

/// Appends each epoch's logs to a CSV file as the epoch ends, as Keras' `CSVLogger`: columns
/// `epoch` (from 0, as Keras writes it), then the log names sorted, `learning_rate` among them.
///
/// ```
/// use deeptrain::callbacks::CsvLogger;
/// // Keras: CSVLogger("log.csv", append=True)
/// let logger = CsvLogger::to("log.csv").append(true);
/// # let _ = logger;
/// ```
pub struct CsvLogger {
    path: PathBuf,
    append: bool,
    text: String,
}

impl CsvLogger {
    /// Logs to `path`; with `append`, rows go after an existing file's.
    pub fn new(path: PathBuf, append: bool) -> Self {
        CsvLogger {
            path,
            append,
            text: String::new(),
        }
    }
}

impl CsvLogger {
    /// Logs to `path`, replacing an existing file.
    pub fn to(path: impl Into<PathBuf>) -> Self {
        CsvLogger::new(path.into(), false)
    }

    /// With `true`, rows go after an existing file's.
    #[must_use]
    pub fn append(mut self, append: bool) -> Self {
        self.append = append;
        self
    }
}

impl Callback for CsvLogger {
    fn on_epoch_end(&mut self, logs: &EpochLogs, _model: &mut Sequential) -> Result<Control> {
        let mut values: Vec<(&str, f64)> = logs
            .values
            .iter()
            .map(|(n, v)| (n.as_str(), *v))
            .chain(std::iter::once(("learning_rate", logs.learning_rate)))
            .collect();
        values.sort_by(|a, b| a.0.cmp(b.0));
        if self.text.is_empty() {
            if self.append && self.path.exists() {
                self.text = crate::io::read_to_string(&self.path)?;
            }
            if self.text.is_empty() {
                self.text.push_str("epoch");
                for (name, _) in &values {
                    let _ = write!(self.text, ",{name}");
                }
                self.text.push('\n');
            }
        }
        let _ = write!(self.text, "{}", logs.epoch);
        for (_, v) in &values {
            let _ = write!(self.text, ",{v}");
        }
        self.text.push('\n');
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        crate::io::write_atomic(&self.path, self.text.as_bytes())?;
        Ok(Control::Continue)
    }
}

/// Stops training when an epoch's value (the loss, a validation metric) is NaN or infinite,
/// as Keras' `TerminateOnNaN`. (A non-finite training loss already stops `fit` at that step,
/// with an error naming it.)
#[derive(Default)]
pub struct TerminateOnNan {
    /// The name of the value that stopped training, if any.
    pub stopped_on: Option<String>,
    /// Set on data-parallel ranks other than the lead ([`Callback::set_verbose`]).
    quiet: bool,
}

impl Callback for TerminateOnNan {
    fn on_epoch_end(&mut self, logs: &EpochLogs, _model: &mut Sequential) -> Result<Control> {
        match logs.values.iter().find(|(_, v)| !v.is_finite()) {
            Some((name, v)) => {
                if !self.quiet {
                    println!(
                        "Epoch {}: {name} is {v}, terminating training",
                        logs.epoch + 1
                    );
                }
                self.stopped_on = Some(name.clone());
                Ok(Control::Stop)
            }
            None => Ok(Control::Continue),
        }
    }

    fn set_verbose(&mut self, verbose: bool) {
        self.quiet = !verbose;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DenseSpec;

    fn logs(epoch: usize, val_loss: f64) -> EpochLogs {
        EpochLogs {
            epoch,
            values: vec![("loss".into(), 0.5), ("val_loss".into(), val_loss)],
            learning_rate: 0.01,
            seconds: 0.0,
        }
    }

    #[test]
    fn terminate_on_nan_stops_at_a_non_finite_value_and_csv_logger_writes_keras_columns() {
        let mut model = Sequential::new(&[2])
            .add(DenseSpec::new(1))
            .build(0)
            .unwrap();
        let mut stop = TerminateOnNan::default();
        assert_eq!(
            stop.on_epoch_end(&logs(0, 0.4), &mut model).unwrap(),
            Control::Continue
        );
        assert_eq!(
            stop.on_epoch_end(&logs(1, f64::NAN), &mut model).unwrap(),
            Control::Stop
        );
        assert_eq!(stop.stopped_on.as_deref(), Some("val_loss"));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.csv");
        let mut logger = CsvLogger::new(path.clone(), false);
        logger.on_epoch_end(&logs(0, 0.4), &mut model).unwrap();
        logger.on_epoch_end(&logs(1, 0.3), &mut model).unwrap();
        let mut again = CsvLogger::new(path.clone(), true);
        again.on_epoch_end(&logs(2, 0.2), &mut model).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "epoch,learning_rate,loss,val_loss\n0,0.01,0.5,0.4\n1,0.01,0.5,0.3\n2,0.01,0.5,0.2\n"
        );
    }
}
