//! Loading and preparing the data a spec names: split, fit the scaler on the training part only.

use deeptrain::data::Splits;
use deeptrain::spec::{DataSpec, TargetKind};
use deeptrain::{Dataset, Result, Scaler, Tensor};

/// Training, validation and test sets, scaled with training-set statistics.
pub struct Prepared {
    pub train: Dataset,
    pub validation: Option<Dataset>,
    pub test: Option<Dataset>,
    pub scaler: Scaler,
    pub class_names: Option<Vec<String>>,
}

/// Loads the spec's data, holds out the validation split and scales everything.
pub fn prepare(spec: &DataSpec) -> Result<Prepared> {
    prepare_with(spec, None)
}

/// As [`prepare`], with a given scaler (a transferred model's) instead of fitting one.
pub fn prepare_with(spec: &DataSpec, scaler: Option<Scaler>) -> Result<Prepared> {
    let Splits {
        train,
        test,
        class_names,
    } = spec.load()?;
    let (mut train, validation) = if spec.validation_split > 0.0 {
        let (t, v) = train.split_tail(spec.validation_split);
        (t, Some(v))
    } else {
        (train, None)
    };
    // An empty part is absent, not a part scored `loss 0`.
    let mut validation = validation.filter(|v| !v.is_empty());
    let mut test = test.filter(|t| !t.is_empty());
    if let Some((row, col)) = train.first_non_finite() {
        return Err(train.row_error(row, format!("feature {col} is not a finite number")));
    }
    let scaler = match scaler {
        Some(s) => s,
        None => Scaler::fit(spec.scale, &train.x)
            .checked()
            .map_err(|m| train.error(m))?,
    };
    for d in std::iter::once(&mut train)
        .chain(validation.as_mut())
        .chain(test.as_mut())
    {
        scaler.apply_checked(d)?;
        if spec.targets == TargetKind::Inputs {
            // An autoencoder learns to output its (scaled) input.
            let n = d.len();
            d.labels = Tensor::from_vec(d.x.data().to_vec(), &[n, d.x.row_len()]);
        }
    }
    Ok(Prepared {
        train,
        validation,
        test,
        scaler,
        class_names,
    })
}

/// The per-sample input shape of the spec's data (without loading the built-in datasets).
pub fn input_shape(spec: &DataSpec) -> Result<Vec<usize>> {
    match spec.dataset.as_str() {
        "digits" => Ok(vec![8, 8]),
        "fashion-mnist" | "fashion_mnist" => Ok(vec![28, 28]),
        _ => Ok(spec.load()?.train.feature_shape().to_vec()),
    }
}
