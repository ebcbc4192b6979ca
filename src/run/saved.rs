//! A saved run: the model directory `deeptrain train` writes (`model/`, `inference_model/`, a
//! pruned or folded copy), opened with what turns rows into the model's inputs. The one path by
//! which `evaluate`, `predict`, `prune`, `fold` and `summary` read a saved model:
//! - the saved table encoding is applied to CSV columns found **by name** (their order in the
//!   file does not matter), string labels are read through the saved class names, and the
//!   saved scaler is applied, as in training;
//! - what does not fit the model (feature counts, class names, a damaged `run.toml`) is refused
//!   with one line naming the file at fault: the run's own, or the user's.
//!
//! ```no_run
//! use deeptrain::run::SavedRun;
//! let mut run = SavedRun::open("runs/penguins".as_ref())?;
//! let x = run.features("new_penguins.csv".as_ref(), None)?;
//! let probabilities = run.model_mut().predict(&x, 256)?;
//! # Ok::<(), deeptrain::Error>(())
//! ```

use std::path::{Path, PathBuf};

use crate::activations::Activation;
use crate::data::{self, tabular, Dataset};
use crate::data::{DataSpec, TargetKind};
use crate::model::{ModelFile, RunMetadata};
use crate::{Error, Result, Sequential, Tensor};

/// The model directory's files that name it: a path to one of them opens the directory.
const MODEL_FILES: [&str; 2] = ["model.toml", "run.toml"];

/// A saved model with its run's metadata (scaler, table encoding, class names, data).
pub struct SavedRun {
    dir: PathBuf,
    model: Sequential,
    file: ModelFile,
    metadata: RunMetadata,
}

/// Rows prepared for a saved model: encoded, scaled and shaped as its input, with labels (the
/// scaled inputs for an autoencoder).
pub struct Rows {
    /// The rows.
    pub data: Dataset,
    /// Where they came from: a dataset name or a file.
    pub source: String,
    /// Which part of the source: `test` (its test part) or `whole`.
    pub part: &'static str,
}

/// Labelled data named by the user (`deeptrain evaluate --data`).
#[derive(Clone, Copy, Debug)]
pub struct DataSource<'a> {
    /// `digits`, `fashion-mnist`, a .csv or .npy file, or an IDX directory.
    pub dataset: &'a str,
    /// For CSV: the label column (default: the one the model was trained on, for a table).
    pub label_column: Option<&'a str>,
    /// For NPY: the labels file.
    pub labels: Option<&'a Path>,
}

impl SavedRun {
    /// The model directory `path` names: a run directory (its `model/`), a model directory, or
    /// the `model.toml` or `run.toml` file in one.
    pub fn model_dir(path: &Path) -> PathBuf {
        let is_model_file = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| MODEL_FILES.contains(&n));
        if is_model_file && path.is_file() {
            return path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .to_path_buf();
        }
        if path.join(MODEL_FILES[0]).is_file() {
            path.to_path_buf()
        } else {
            path.join("model")
        }
    }

    /// Whether `path` names a saved model (see [`SavedRun::model_dir`]) rather than a spec.
    pub fn is_saved(path: &Path) -> bool {
        path.is_dir() || {
            let dir = SavedRun::model_dir(path);
            dir.as_path() != path && dir.join(MODEL_FILES[0]).is_file() && {
                path.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| MODEL_FILES.contains(&n))
            }
        }
    }

    /// Opens the saved model `path` names (see [`SavedRun::model_dir`]) with its metadata,
    /// and checks that they fit each other: the class names match the outputs, and a table's
    /// encoding gives as many features as the model takes.
    pub fn open(path: &Path) -> Result<SavedRun> {
        let dir = SavedRun::model_dir(path);
        if !dir.join(MODEL_FILES[0]).is_file() {
            return Err(Error::Config(format!(
                "{}: not a saved model (no model.toml there, nor in its model/ folder)",
                path.display()
            )));
        }
        let (model, file) = Sequential::load(&dir)?;
        let metadata = RunMetadata::load(&dir)?;
        let run = SavedRun {
            dir,
            model,
            file,
            metadata,
        };
        run.check()?;
        Ok(run)
    }

    /// Refuses metadata that does not fit the model, naming `run.toml`.
    fn check(&self) -> Result<()> {
        let path = self.dir.join(MODEL_FILES[1]);
        let units = self.model.output_units();
        if let (Some(names), Some(kind)) = (&self.metadata.class_names, self.output_kind()) {
            let fits = match kind {
                Activation::Sigmoid if units == 1 => names.len() == 2,
                _ => names.len() == units,
            };
            if !fits {
                return Err(Error::format(
                    &path,
                    format!(
                        "{} class names for a model with {units} output(s){}: the run's files do not belong together",
                        names.len(),
                        if units == 1 { " (a binary classifier has 2)" } else { "" }
                    ),
                ));
            }
        }
        if let Some(table) = &self.metadata.scaler.table {
            let features = self.features_in();
            if table.width() != features {
                return Err(Error::format(
                    &path,
                    format!(
                        "the table encoding gives {} features but the model takes {features}: the run's files do not belong together",
                        table.width()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The output activation of a classifier (softmax or sigmoid, from its loss); `None` for
    /// other models.
    fn output_kind(&self) -> Option<Activation> {
        self.model
            .loss()
            .and_then(|l| l.fusable_activation())
            .filter(|a| matches!(a, Activation::Softmax | Activation::Sigmoid))
    }

    /// Features per sample the model takes.
    fn features_in(&self) -> usize {
        self.model.input_shape().iter().product()
    }

    /// The model directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The model.
    pub fn model(&self) -> &Sequential {
        &self.model
    }

    /// The model, mutable (to predict, evaluate, prune).
    pub fn model_mut(&mut self) -> &mut Sequential {
        &mut self.model
    }

    /// The model file (`model.toml`) as read.
    pub fn file(&self) -> &ModelFile {
        &self.file
    }

    /// The run's metadata: scaler, table encoding, data, class names.
    pub fn metadata(&self) -> &RunMetadata {
        &self.metadata
    }

    /// The class names, when the data had them (checked against the outputs).
    pub fn class_names(&self) -> Option<&[String]> {
        self.metadata.class_names.as_deref()
    }

    /// The rows the run recorded for evaluation: the test part of the data it was trained on,
    /// else the whole of it. `None` when the model does not record its data.
    pub fn recorded_rows(&self) -> Result<Option<Rows>> {
        let Some(spec) = &self.metadata.data else {
            return Ok(None);
        };
        let mut spec = spec.clone();
        spec.validation_split = 0.0;
        let splits = spec.load()?;
        let (mut data, part) = match splits.test {
            Some(test) => (test, "test"),
            None => (splits.train, "whole"),
        };
        match (&splits.table, &self.metadata.scaler.table) {
            (Some(layout), Some(encoding)) => {
                if layout.columns.len() != encoding.columns.len() {
                    return Err(self.run_error(
                        "its [table] encoding does not list the columns of the data it records",
                    ));
                }
                encoding.apply(layout, &mut data)?
            }
            (None, None) => {}
            (Some(_), None) => {
                return Err(self
                    .run_error("the data it records is a table, but it has no [table] encoding"))
            }
            (None, Some(_)) => {
                return Err(self.run_error(
                    "it has a [table] encoding, but the data it records is not a table",
                ))
            }
        }
        let source = spec.dataset.clone();
        self.finish(data, &source, part, spec.targets).map(Some)
    }

    /// The labelled rows of `source`, prepared as in training: a CSV for a table model is read
    /// by column name, its string labels through the model's class names.
    pub fn rows(&self, source: &DataSource) -> Result<Rows> {
        let path = Path::new(source.dataset);
        let targets = self
            .metadata
            .data
            .as_ref()
            .map_or(TargetKind::Labels, |d| d.targets);
        if let (Some(encoding), true) = (&self.metadata.scaler.table, is_csv(path)) {
            let bytes = data::read_csv_bytes(path)?;
            refuse_headerless(&bytes, path, "evaluate")?;
            let x = tabular::encode_csv(&bytes, path, encoding)?;
            let label = source.label_column.unwrap_or(&encoding.label);
            let labels = self.read_labels(&bytes, path, label)?;
            let n = labels.len();
            let data = Dataset::new(x, Tensor::from_vec(labels, &[n, 1]))?;
            return self.finish(data, source.dataset, "whole", targets);
        }
        let spec = DataSpec {
            dataset: source.dataset.to_string(),
            label_column: source.label_column.map(str::to_string),
            labels: source.labels.map(Path::to_path_buf),
            targets,
            ..DataSpec::default()
        };
        let splits = spec.load()?;
        if splits.table.is_some() {
            return Err(Error::format(
                path,
                "the file is a table (string labels or categories), but the model was not trained on one: give it rows of numbers",
            ));
        }
        let (data, part) = match splits.test {
            Some(test) => (test, "test"),
            None => (splits.train, "whole"),
        };
        self.finish(data, source.dataset, part, targets)
    }

    /// The feature rows of the CSV (with a header) or NPY file `path`, prepared as in
    /// training: for a table model, the columns it was trained on, found by name (others are
    /// ignored); otherwise every column but `ignore_column`, in order.
    pub fn features(&self, path: &Path, ignore_column: Option<&str>) -> Result<Tensor> {
        let csv = is_csv(path);
        let mut x = if csv {
            let bytes = data::read_csv_bytes(path)?;
            refuse_headerless(&bytes, path, "predict")?;
            match &self.metadata.scaler.table {
                Some(table) => tabular::encode_csv(&bytes, path, table)?,
                None => data::load_csv_features(path, ignore_column)?.x,
            }
        } else if path.extension().and_then(|e| e.to_str()) == Some("npy") {
            data::read_npy(path)?
        } else {
            return Err(Error::format(path, "the input must be a .csv or .npy file"));
        };
        refuse_non_finite(&x, path)?;
        let features = self.features_in();
        if x.row_len() != features {
            return Err(Error::format(
                path,
                format!(
                    "rows have {} features but the model expects {features} (input shape {:?})",
                    x.row_len(),
                    self.model.input_shape()
                ),
            ));
        }
        self.metadata.scaler.apply(&mut x);
        let shape: Vec<usize> = std::iter::once(x.rows())
            .chain(self.model.input_shape().iter().copied())
            .collect();
        x.resize(&shape);
        Ok(x)
    }

    /// Scales `data`, takes the model's input shape for flat rows, and makes an autoencoder's
    /// targets its scaled inputs.
    fn finish(
        &self,
        mut data: Dataset,
        source: &str,
        part: &'static str,
        targets: TargetKind,
    ) -> Result<Rows> {
        refuse_non_finite(&data.x, Path::new(source))?;
        self.metadata.scaler.apply(&mut data.x);
        // Flat rows (a CSV) for a model with (H, W) inputs take its shape.
        if data.feature_shape() != self.model.input_shape()
            && data.x.row_len() == self.features_in()
        {
            let shape: Vec<usize> = std::iter::once(data.len())
                .chain(self.model.input_shape().iter().copied())
                .collect();
            data.x.resize(&shape);
        }
        if targets == TargetKind::Inputs {
            let n = data.len();
            data.labels = Tensor::from_vec(data.x.data().to_vec(), &[n, data.x.row_len()]);
        }
        Ok(Rows {
            data,
            source: source.to_string(),
            part,
        })
    }

    /// The label column `label` of a table CSV: class names looked up in the model's, numbers
    /// as they are.
    fn read_labels(&self, bytes: &[u8], path: &Path, label: &str) -> Result<Vec<f32>> {
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(bytes);
        let headers = reader
            .headers()
            .map_err(|e| Error::format(path, format!("cannot read the header: {e}")))?
            .clone();
        let column = headers.iter().position(|h| h == label).ok_or_else(|| {
            let names: Vec<&str> = headers.iter().collect();
            Error::format(
                path,
                format!(
                    "no label column `{label}` in the header (columns: {}); name it with --label-column",
                    names.join(", ")
                ),
            )
        })?;
        let names = self.class_names();
        let mut labels = Vec::new();
        for (i, record) in reader.records().enumerate() {
            let line = i + 2;
            let record = record.map_err(|e| Error::format(path, format!("line {line}: {e}")))?;
            let field = record.get(column).unwrap_or("");
            let value = match names.and_then(|n| n.iter().position(|c| c == field)) {
                Some(k) => k as f32,
                None => match (names, field.parse::<f32>()) {
                    (None, Ok(v)) => v,
                    (Some(names), _) => {
                        return Err(Error::format(
                            path,
                            format!(
                                "line {line}, column `{label}`: class `{field}` is not one of the model's classes ({})",
                                names.join(", ")
                            ),
                        ))
                    }
                    (None, Err(_)) => {
                        return Err(Error::format(
                            path,
                            format!("line {line}, column `{label}`: `{field}` is not a number"),
                        ))
                    }
                },
            };
            labels.push(value);
        }
        Ok(labels)
    }

    /// An error about the saved run's own files (its `run.toml`).
    fn run_error(&self, message: &str) -> Error {
        Error::format(
            &self.dir.join(MODEL_FILES[1]),
            format!("{message}: the run's files do not belong together"),
        )
    }

    /// The model, the model file and the metadata.
    pub fn into_parts(self) -> (Sequential, ModelFile, RunMetadata) {
        (self.model, self.file, self.metadata)
    }
}

/// Whether `path` is read as a CSV file (`.csv`, or gzipped `.gz`).
fn is_csv(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("csv" | "gz")
    )
}

/// A CSV whose first line is data, not a header, is refused with a line saying that `command`
/// reads columns by their header names. The first line is data when every field is a number
/// and some repeat (header names are unique) or some are not plain column numbers (`0`, `1`,
/// ... may name columns; `5.1` or `-2` does not).
fn refuse_headerless(bytes: &[u8], path: &Path, command: &str) -> Result<()> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let Some(first) = reader.records().next().and_then(|r| r.ok()) else {
        return Ok(());
    };
    let fields: Vec<&str> = first.iter().collect();
    let numbers = !fields.is_empty() && fields.iter().all(|f| f.parse::<f64>().is_ok());
    let mut unique = fields.clone();
    unique.sort_unstable();
    unique.dedup();
    let repeats = unique.len() < fields.len();
    let plain = fields.iter().all(|f| f.bytes().all(|b| b.is_ascii_digit()));
    if numbers && (repeats || !plain) {
        return Err(Error::format(
            path,
            format!(
                "the first line holds numbers, not column names: `{command}` expects a CSV whose first line is a header naming the columns"
            ),
        ));
    }
    Ok(())
}

/// A NaN or infinite feature, named by row and column, as `train` refuses it.
fn refuse_non_finite(x: &Tensor, source: &Path) -> Result<()> {
    match data::first_non_finite(x) {
        Some((row, col)) => Err(Error::format(
            source,
            format!("feature {col} of row {row} is not a finite number"),
        )),
        None => Ok(()),
    }
}
