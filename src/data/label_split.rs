//! The splits of an NPY dataset made before any feature is read: the test, class and
//! validation selections see only the labels and the row numbers, so that streaming
//! ([`super::prepare_streamed`]) and sharding ([`super::prepare_shard`]) make exactly the
//! selections of the in-memory run and then read only the rows they need.

use std::path::Path;

use super::npy::{check_features_shape, read_labels, NpyRows};
use super::prepare::split_warnings_for;
use super::{DataSpec, Dataset, RowOrigin, Splits};
use crate::{Result, Tensor};

/// An NPY features file, opened, and its rows split: every part holds its labels and file row
/// numbers, and no features (its `x` has no columns).
pub(super) struct LabelSplit {
    /// The features file (its shape checked).
    pub features: NpyRows,
    pub train: Dataset,
    /// `None` when empty.
    pub validation: Option<Dataset>,
    /// `None` when empty.
    pub test: Option<Dataset>,
    pub class_names: Option<Vec<String>>,
    /// What the splits would warn about in memory (a part too small, a class missing).
    pub warnings: Vec<String>,
}

/// Opens the features file `path`, reads the labels file `labels` whole (one per row), and
/// makes the spec's test, class and validation selections on the labels and row numbers.
pub(super) fn split_on_labels(spec: &DataSpec, path: &Path, labels: &Path) -> Result<LabelSplit> {
    let features = NpyRows::open(path)?;
    check_features_shape(path, features.shape())?;
    let n = features.shape()[0];
    let rows = Dataset {
        x: Tensor::zeros(&[n, 0]),
        labels: read_labels(labels, n, path)?,
        weights: None,
        origin: RowOrigin::rows(path, n),
        stream: None,
    };
    let source = Splits {
        train: rows,
        test: None,
        class_names: None,
        table: None,
    };
    let splits = spec.split_test_and_select(source, spec.test_split)?;
    let (train, validation) = spec.split_validation(splits.train);
    let validation = validation.filter(|v| !v.is_empty());
    let test = splits.test.filter(|t| !t.is_empty());
    let warnings = split_warnings_for(spec, &train, validation.as_ref(), test.as_ref());
    Ok(LabelSplit {
        features,
        train,
        validation,
        test,
        class_names: splits.class_names,
        warnings,
    })
}
