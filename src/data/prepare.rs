//! Loading and preparing the data a spec names: split, fit the scaler (and a table's encoding)
//! on the training part only, scale every part.

use super::{split_warnings, Dataset, Scaler, SplitOrder, Splits, TableEncoding};
use super::{DataSpec, TargetKind};
use crate::{Result, Tensor};

/// Training, validation and test sets, scaled with training-set statistics.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// The training part (the validation split held out).
    pub train: Dataset,
    /// The validation part, if any (absent rather than empty).
    pub validation: Option<Dataset>,
    /// The test part, if any (absent rather than empty).
    pub test: Option<Dataset>,
    /// The scaler fitted on the training part (or given), with a table's encoding.
    pub scaler: Scaler,
    /// Class names, when the labels were strings or the dataset names its classes.
    pub class_names: Option<Vec<String>>,
    /// Problems with the split (classes missing from a part), shown before training.
    pub warnings: Vec<String>,
    /// When this rank holds only its block of the training rows (sharded data, see
    /// [`super::prepare_shard`]): what it knows of the whole set.
    pub shard: Option<super::Shard>,
}

impl Prepared {
    /// The number of training rows: this rank's and every other's when the data is sharded.
    pub fn train_rows(&self) -> usize {
        self.shard
            .as_ref()
            .map_or(self.train.len(), |s| s.train_rows)
    }

    /// The labels of every training row (over all ranks when the data is sharded).
    pub fn train_labels(&self) -> &Tensor {
        self.shard
            .as_ref()
            .map_or(&self.train.labels, |s| &s.train_labels)
    }

    /// The names of the encoded feature columns, for a table.
    pub fn feature_names(&self) -> Option<Vec<String>> {
        self.scaler.table.as_ref().map(|t| t.feature_names())
    }
}

/// Loads the spec's data, holds out the validation split and scales everything: with the
/// given `scaler` (a transferred or resumed model's), else one fitted on the training part.
pub fn prepare(spec: &DataSpec, scaler: Option<Scaler>) -> Result<Prepared> {
    let Splits {
        train,
        test,
        class_names,
        table,
    } = spec.load()?;
    let (mut train, validation) = spec.split_validation(train);
    // An empty part is absent, not a part scored `loss 0`.
    let mut validation = validation.filter(|v| !v.is_empty());
    let mut test = test.filter(|t| !t.is_empty());
    let warnings = split_warnings_for(spec, &train, validation.as_ref(), test.as_ref());
    // A table's one-hot vocabularies and fill values, fitted on the training part only (or
    // those of the given scaler's model).
    let encoding = match &table {
        Some(layout) => {
            let encoding = match scaler.as_ref().and_then(|s| s.table.clone()) {
                Some(e) => e,
                None => {
                    TableEncoding::fit(layout, &train, spec.label_column.as_deref().unwrap_or(""))?
                }
            };
            for d in std::iter::once(&mut train)
                .chain(validation.as_mut())
                .chain(test.as_mut())
            {
                encoding.apply(layout, d)?;
            }
            Some(encoding)
        }
        None => None,
    };
    if let Some((row, col)) = train.first_non_finite() {
        return Err(train.row_error(row, format!("feature {col} is not a finite number")));
    }
    let mut scaler = match scaler {
        Some(s) => s,
        None => Scaler::fit(spec.scale, &train.x)
            .checked()
            .map_err(|e| train.error(e.detail()))?,
    };
    if encoding.is_some() {
        scaler.table = encoding;
    }
    scale_parts(
        spec,
        &scaler,
        std::iter::once(&mut train)
            .chain(validation.as_mut())
            .chain(test.as_mut()),
    )?;
    Ok(Prepared {
        train,
        validation,
        test,
        scaler,
        class_names,
        warnings,
        shard: None,
    })
}

/// A split in file order may leave classes out of a part: the warnings that say so before
/// training (none for a shuffled, stratified split).
pub(super) fn split_warnings_for(
    spec: &DataSpec,
    train: &Dataset,
    validation: Option<&Dataset>,
    test: Option<&Dataset>,
) -> Vec<String> {
    let mut warnings = Vec::new();
    if spec.split_order() == SplitOrder::Tail {
        for (part, name) in [(validation, "validation"), (test, "test")] {
            if let Some(part) = part {
                warnings.extend(split_warnings(train, part, name));
            }
        }
    }
    warnings
}

/// Scales each part's features with `scaler` (an error for a value that overflows); an
/// autoencoder's targets become its scaled inputs.
pub(super) fn scale_parts<'a>(
    spec: &DataSpec,
    scaler: &Scaler,
    parts: impl Iterator<Item = &'a mut Dataset>,
) -> Result<()> {
    for d in parts {
        scaler.apply_checked(d)?;
        if spec.targets == TargetKind::Inputs {
            // An autoencoder learns to output its (scaled) input.
            let n = d.len();
            d.labels = Tensor::from_vec(d.x.data().to_vec(), &[n, d.x.row_len()]);
        }
    }
    Ok(())
}

/// The per-sample input shape of the spec's data (without loading the built-in datasets).
pub fn input_shape(spec: &DataSpec) -> Result<Vec<usize>> {
    match spec.dataset.as_str() {
        "digits" => Ok(vec![8, 8]),
        "fashion-mnist" | "fashion_mnist" => Ok(vec![28, 28]),
        other => match super::adding_steps(other)? {
            Some(steps) => Ok(vec![steps, 2]),
            None => Ok(spec.load()?.train.feature_shape().to_vec()),
        },
    }
}
