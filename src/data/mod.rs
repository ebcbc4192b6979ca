//! Datasets: features and labels in memory, the loaders for each file format, and preprocessing.
//!
//! Shapes: `x` is (N, ...) (e.g. (N, 28, 28) for images, (N, F) for tables); `labels` is (N, L),
//! L = 1 for a label column. The model turns labels into the targets its loss needs.

mod adding;
mod augment;
mod csv;
mod digits;
mod fashion_mnist;
mod idx;
mod label_split;
mod npy;
mod prepare;
mod preprocess;
mod shard;
mod source;
mod split;
mod stream;
pub mod tabular;

pub use self::csv::{load_csv, load_csv_features, parse_csv, LabelColumn};
pub use adding::{adding_problem, adding_steps, ADDING_MAX_STEPS, ADDING_TEST, ADDING_TRAIN};
pub use augment::{write_grid, Augmentation};
pub use digits::{digits, digits_all, DIGITS_ATTRIBUTION, DIGITS_TEST_FRACTION};
pub use fashion_mnist::{
    fashion_mnist, fashion_mnist_dir, FASHION_MNIST_CLASSES, FASHION_MNIST_DEFAULT_DIR,
};
pub use idx::{read_idx, IdxArray};
pub use npy::{load_npy, read_npy, NpyRows};
pub use prepare::{input_shape, prepare, Prepared};
pub use preprocess::{Scale, Scaler};
pub use shard::{check_shardable, prepare_shard, Shard};
pub use source::{ColumnRef, DataSpec, InputSpec, TargetKind};
pub use split::{split_warnings, SplitOrder};
pub use stream::{prepare_streamed, Prefetch, RowReader, StreamedRows};

/// The seed of the shuffle before splitting data that has no canonical test set (`[data]
/// split_seed`): fixed, so that runs with different `seed`s are evaluated on the same rows.
pub const DEFAULT_SPLIT_SEED: u64 = 42;
pub use tabular::{Impute, TableEncoding, TableLayout};

use crate::losses::{Loss, Targets};
use crate::tensor::Tensor;
use crate::{Error, Result};

/// Features and labels, one row per sample.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dataset {
    /// Features, (N, ...).
    pub x: Tensor,
    /// Labels, (N, L).
    pub labels: Tensor,
    /// Per-sample weights (Keras' `sample_weight`; from `sample_weight_column`), if any.
    pub weights: Option<Vec<f32>>,
    /// Where each row came from, for messages (kept through splits and selections).
    pub origin: Option<RowOrigin>,
    /// When the features stay on disk (`[data] stream = true`, [`prepare_streamed`]): the
    /// rows to read, one per sample, and `x` has no columns.
    pub stream: Option<std::sync::Arc<StreamedRows>>,
}

/// The file a dataset was read from and, per row, where in it: its physical line (CSV, blank
/// lines counted) or its index (NPY, IDX).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RowOrigin {
    /// The file.
    pub path: std::path::PathBuf,
    /// `"line"` or `"row"`.
    pub unit: &'static str,
    /// Per row, its line or index in the file.
    pub numbers: Vec<u64>,
}

impl RowOrigin {
    /// Rows numbered 0, 1, ... of `path` (NPY, IDX).
    pub fn rows(path: &std::path::Path, n: usize) -> Option<RowOrigin> {
        Some(RowOrigin {
            path: path.to_path_buf(),
            unit: "row",
            numbers: (0..n as u64).collect(),
        })
    }
}

/// A training set with optional test set, as loaded from a source.
#[derive(Clone, Debug, Default)]
pub struct Splits {
    /// Training data (the validation split is taken from its end by `fit`).
    pub train: Dataset,
    /// Held-out test data, when the source has one.
    pub test: Option<Dataset>,
    /// Class names, when the source knows them.
    pub class_names: Option<Vec<String>>,
    /// For tables read by [`tabular::read_table`]: the columns, to fit the encoding on the
    /// training part once it is split off.
    pub table: Option<TableLayout>,
}

impl Dataset {
    /// A dataset; errors when the row counts differ.
    pub fn new(x: Tensor, labels: Tensor) -> Result<Self> {
        if x.rows() != labels.rows() {
            return Err(Error::Data(format!(
                "{} feature rows but {} label rows",
                x.rows(),
                labels.rows()
            )));
        }
        Ok(Dataset {
            x,
            labels,
            weights: None,
            origin: None,
            stream: None,
        })
    }

    /// An error about the whole dataset, naming its file when known.
    pub fn error(&self, message: impl Into<String>) -> Error {
        match &self.origin {
            Some(o) => Error::format(&o.path, message),
            None => Error::Data(message.into()),
        }
    }

    /// An error about row `row`, naming the file and its line (or index) there when known.
    pub fn row_error(&self, row: usize, message: impl std::fmt::Display) -> Error {
        match self
            .origin
            .as_ref()
            .and_then(|o| o.numbers.get(row).map(|n| (o, n)))
        {
            Some((o, n)) => Error::format(&o.path, format!("{} {n}: {message}", o.unit)),
            None => Error::Data(format!("row {row}: {message}")),
        }
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.x.rows()
    }

    /// True when there is no sample.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The per-sample feature shape.
    pub fn feature_shape(&self) -> &[usize] {
        match &self.stream {
            Some(s) => s.row_shape(),
            None => &self.x.shape()[1..],
        }
    }

    /// The rows with their features in memory: a streamed set's read from disk (refused,
    /// naming the file, when too large), another's copied.
    pub fn loaded(&self) -> Result<Dataset> {
        let Some(rows) = &self.stream else {
            return Ok(self.clone());
        };
        let dims: Vec<u64> = std::iter::once(self.len())
            .chain(rows.row_shape().iter().copied())
            .map(|d| d as u64)
            .collect();
        crate::limits::array_values(rows.path(), &dims)?;
        let mut x = Tensor::default();
        let all: Vec<usize> = (0..self.len()).collect();
        rows.reader().read_into(&all, &mut x)?;
        Ok(Dataset {
            x,
            stream: None,
            ..self.clone()
        })
    }

    /// The rows in `range`, copied.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Dataset {
        let indices: Vec<usize> = range.collect();
        self.gather(&indices)
    }

    /// The rows at `indices`, in that order, copied (features, labels, weights and origin).
    pub fn gather(&self, indices: &[usize]) -> Dataset {
        let mut x = Tensor::default();
        let mut labels = Tensor::default();
        x.gather_rows(&self.x, indices);
        labels.gather_rows(&self.labels, indices);
        let weights = self
            .weights
            .as_ref()
            .map(|w| indices.iter().map(|&i| w[i]).collect());
        let origin = self.origin.as_ref().map(|o| RowOrigin {
            path: o.path.clone(),
            unit: o.unit,
            numbers: indices
                .iter()
                .map(|&i| o.numbers.get(i).copied().unwrap_or(i as u64))
                .collect(),
        });
        let stream = self
            .stream
            .as_ref()
            .map(|s| std::sync::Arc::new(s.select(indices)));
        Dataset {
            x,
            labels,
            weights,
            origin,
            stream,
        }
    }

    /// Splits off the last `fraction` of the rows (Keras' `validation_split`: taken before any
    /// shuffling). Returns (first part, last part).
    pub fn split_tail(&self, fraction: f64) -> (Dataset, Dataset) {
        self.split_off(fraction, SplitOrder::Tail)
    }

    /// Keeps the samples whose (single-column) label is in `classes`, relabeled 0, 1, ... in
    /// the sorted order of `classes`.
    pub fn select_classes(&self, classes: &[u32]) -> Result<Dataset> {
        if self.labels.row_len() != 1 {
            return Err(Error::Data(
                "class selection needs one class label per sample".into(),
            ));
        }
        self.check_class_labels()?;
        let mut sorted = classes.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let keep: Vec<usize> = (0..self.len())
            .filter(|&i| {
                sorted
                    .binary_search(&(self.labels.data()[i] as u32))
                    .is_ok()
            })
            .collect();
        let mut selected = self.gather(&keep);
        for v in selected.labels.data_mut() {
            *v = sorted.binary_search(&(*v as u32)).unwrap_or(0) as f32;
        }
        Ok(selected)
    }

    /// Checks that every (single-column) label is a class index: 0, 1, 2, ... (not negative,
    /// fractional, NaN or infinite).
    pub fn check_class_labels(&self) -> Result<()> {
        match self.labels.data().iter().position(|&v| !is_class_index(v)) {
            Some(row) => Err(self.row_error(
                row,
                format!(
                    "label {} is not a class index (0, 1, 2, ...)",
                    self.labels.data()[row]
                ),
            )),
            None => Ok(()),
        }
    }

    /// Finds the first non-finite feature, as (row, column).
    pub fn first_non_finite(&self) -> Option<(usize, usize)> {
        first_non_finite(&self.x)
    }

    /// Converts the labels into the targets `loss` needs for a model with `units` outputs,
    /// checking that every label fits (a class index below `units`, the right width, ...).
    pub fn targets(&self, loss: Loss, units: usize) -> Result<Targets> {
        let width = self.labels.row_len();
        let class_of = |row: usize, v: f32| -> Result<u32> {
            if !is_class_index(v) {
                return Err(self.row_error(
                    row,
                    format!("label {v} is not a class index (0, 1, 2, ...)"),
                ));
            }
            if v as usize >= units {
                return Err(self.row_error(
                    row,
                    format!(
                        "label {v} is out of range for a model with {units} output units (classes 0..{})",
                        units.saturating_sub(1)
                    ),
                ));
            }
            Ok(v as u32)
        };
        match loss {
            Loss::SparseCategoricalCrossentropy => {
                if width != 1 {
                    return Err(Error::Data(format!(
                        "{} needs one label per sample (a class index), but labels have {width} columns",
                        loss.name()
                    )));
                }
                let classes = self
                    .labels
                    .data()
                    .iter()
                    .enumerate()
                    .map(|(row, &v)| class_of(row, v));
                Ok(Targets::Classes(classes.collect::<Result<_>>()?))
            }
            Loss::CategoricalCrossentropy | Loss::KlDivergence | Loss::Custom(_)
                if width == 1 && units > 1 =>
            {
                let mut one_hot = Tensor::zeros(&[self.len(), units]);
                for (row, &v) in self.labels.data().iter().enumerate() {
                    let class = class_of(row, v)? as usize;
                    one_hot.data_mut()[row * units + class] = 1.0;
                }
                Ok(Targets::Values(one_hot))
            }
            _ => {
                if width != units {
                    return Err(Error::Data(format!(
                        "labels have {width} columns but the model has {units} output units ({})",
                        loss.name()
                    )));
                }
                if loss == Loss::BinaryCrossentropy {
                    if let Some(i) = self
                        .labels
                        .data()
                        .iter()
                        .position(|v| !(0.0..=1.0).contains(v))
                    {
                        return Err(self.row_error(
                            i / width,
                            format!(
                                "label {} is outside [0, 1], which binary_crossentropy needs",
                                self.labels.data()[i]
                            ),
                        ));
                    }
                }
                if let Some(i) = self.labels.data().iter().position(|v| !v.is_finite()) {
                    return Err(self.row_error(i / width, "the label is not a finite number"));
                }
                let mut values = self.labels.clone();
                values.resize(&[self.len(), width]);
                Ok(Targets::Values(values))
            }
        }
    }
}

/// The first NaN or infinity in `x`, as (row, column of the flattened sample).
///
/// Every value is read (`predict` checks its whole input), so blocks of values are first
/// tested without a branch per value: a value is NaN or ±∞ exactly when its exponent bits are
/// all ones (IEEE 754 binary32), and OR-ing that test over a block vectorizes. Only a block
/// that holds one is searched for its position.
pub fn first_non_finite(x: &Tensor) -> Option<(usize, usize)> {
    const BLOCK: usize = 1024;
    const EXPONENT: u32 = 0x7f80_0000;
    let width = x.row_len().max(1);
    x.data()
        .chunks(BLOCK)
        .enumerate()
        .find(|(_, block)| {
            block
                .iter()
                .fold(false, |any, v| any | (v.to_bits() & EXPONENT == EXPONENT))
        })
        .and_then(|(k, block)| {
            let i = k * BLOCK + block.iter().position(|v| !v.is_finite())?;
            Some((i / width, i % width))
        })
}

/// The bytes of a CSV file, decompressed when gzipped.
pub fn read_csv_bytes(path: &std::path::Path) -> Result<Vec<u8>> {
    self::csv::read_maybe_gzipped(path)
}

/// Whether `v` is a class index: a non-negative whole number.
fn is_class_index(v: f32) -> bool {
    v.is_finite() && v >= 0.0 && v.fract() == 0.0
}

/// Loads an IDX directory holding `train-*` and, when present, `t10k-*` image and label files
/// (the MNIST layout).
pub fn load_idx_dir(dir: &std::path::Path) -> Result<Splits> {
    let train = fashion_mnist::load_idx_pair(dir, "train", false)?;
    let has_test = ["t10k-labels-idx1-ubyte", "t10k-labels-idx1-ubyte.gz"]
        .iter()
        .any(|f| dir.join(f).is_file());
    let test = if has_test {
        Some(fashion_mnist::load_idx_pair(dir, "t10k", false)?)
    } else {
        None
    };
    Ok(Splits {
        train,
        test,
        class_names: None,
        table: None,
    })
}

#[cfg(test)]
mod tests {
    use super::first_non_finite;
    use crate::tensor::Tensor;

    #[test]
    fn the_first_non_finite_value_is_found_in_any_block() {
        let (rows, width) = (700, 7); // 4,900 values: four whole blocks and a part
        let clean: Vec<f32> = (0..rows * width)
            .map(|i| match i % 4 {
                0 => f32::MAX,
                1 => -f32::MIN_POSITIVE / 2.0, // subnormal
                2 => 0.0,
                _ => i as f32,
            })
            .collect();
        assert_eq!(
            first_non_finite(&Tensor::from_vec(clean.clone(), &[rows, width])),
            None
        );
        for (at, bad) in [
            (0, f32::NAN),
            (1023, f32::INFINITY),
            (1024, f32::NEG_INFINITY),
            (3000, -f32::NAN),
            (rows * width - 1, f32::NAN),
        ] {
            let mut values = clean.clone();
            values[at] = bad;
            if at + 1 < values.len() {
                values[at + 1 + (at % 5)] = f32::NAN; // a later one does not hide it
            }
            let found = first_non_finite(&Tensor::from_vec(values, &[rows, width]));
            assert_eq!(found, Some((at / width, at % width)), "{bad} at {at}");
        }
    }
}
