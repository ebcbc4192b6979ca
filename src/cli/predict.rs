//! `deeptrain evaluate` and `deeptrain predict` on a saved model.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::Args;

use deeptrain::data::{load_csv_features, read_npy};
use deeptrain::spec::DataSpec;
use deeptrain::tensor::argmax;
use deeptrain::{Error, Result, Sequential, Tensor};

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// The model directory written by `deeptrain train` (its `model/` folder or the run folder).
    dir: PathBuf,
    /// The data: `fashion-mnist`, `digits`, a .csv (with --label-column) or .npy (with --labels)
    /// file, or an IDX directory. Default: the test set of the data the model was trained on.
    #[arg(long)]
    data: Option<String>,
    /// For CSV data: the label column.
    #[arg(long)]
    label_column: Option<String>,
    /// For NPY data: the labels file.
    #[arg(long)]
    labels: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PredictArgs {
    /// The model directory written by `deeptrain train`.
    dir: PathBuf,
    /// Rows to predict: a CSV file with a header (every column a feature) or an NPY file.
    #[arg(long)]
    input: PathBuf,
    /// Write the predictions here instead of standard output.
    #[arg(long)]
    output: Option<PathBuf>,
    /// A CSV column to ignore (e.g. the label, when predicting on labelled data).
    #[arg(long)]
    label_column: Option<String>,
}

/// Accepts either the run directory or its `model/` folder.
fn model_dir(dir: &Path) -> PathBuf {
    if dir.join("model.toml").is_file() {
        dir.to_path_buf()
    } else {
        dir.join("model")
    }
}

pub fn evaluate(args: EvaluateArgs) -> Result<()> {
    let (mut model, file, scaler) = Sequential::load(&model_dir(&args.dir))?;
    let mut spec = match (&args.data, &file.data) {
        (Some(dataset), _) => DataSpec {
            dataset: dataset.clone(),
            label_column: args.label_column.clone(),
            labels: args.labels.clone(),
            ..DataSpec::default()
        },
        (None, Some(spec)) => spec.clone(),
        (None, None) => {
            return Err(Error::Config(
                "the model does not record its data: pass --data".into(),
            ))
        }
    };
    spec.validation_split = 0.0;
    let splits = spec.load()?;
    let (mut data, which) = match splits.test {
        Some(test) => (test, "test"),
        None => (splits.train, "whole"),
    };
    scaler.apply(&mut data.x);
    let results = model.evaluate(&data, 1024)?;
    println!(
        "Evaluated on the {which} set of `{}` ({} samples): {}",
        spec.dataset,
        data.len(),
        results
            .iter()
            .map(|(n, v)| format!("{n}: {v:.4}"))
            .collect::<Vec<_>>()
            .join(" - ")
    );
    Ok(())
}

pub fn predict(args: PredictArgs) -> Result<()> {
    let (mut model, file, scaler) = Sequential::load(&model_dir(&args.dir))?;
    let mut x = read_features(&args.input, args.label_column.as_deref())?;
    let features: usize = model.input_shape().iter().product();
    if x.row_len() != features {
        return Err(Error::format(
            &args.input,
            format!(
                "rows have {} features but the model expects {features} (input shape {:?})",
                x.row_len(),
                model.input_shape()
            ),
        ));
    }
    scaler.apply(&mut x);
    let shape: Vec<usize> = std::iter::once(x.rows())
        .chain(model.input_shape().iter().copied())
        .collect();
    x.resize(&shape);
    let y = model.predict(&x, 1024)?;
    let units = y.row_len();
    let classification = model
        .loss()
        .is_some_and(|l| l.fusable_activation().is_some());
    let mut out = String::new();
    let names: Vec<String> = match &file.class_names {
        Some(n) if n.len() == units => n
            .iter()
            .map(|c| format!("p_{}", c.replace(',', " ")))
            .collect(),
        _ => (0..units).map(|k| format!("p_{k}")).collect(),
    };
    out.push_str(&names.join(","));
    out.push_str(if classification { ",predicted\n" } else { "\n" });
    for i in 0..y.rows() {
        let row = y.row(i);
        out.push_str(
            &row.iter()
                .map(|v| format!("{v:.6}"))
                .collect::<Vec<_>>()
                .join(","),
        );
        if classification {
            let _ = write!(out, ",{}", argmax(row));
        }
        out.push('\n');
    }
    match &args.output {
        Some(path) => deeptrain::io::write_atomic(path, out.as_bytes()),
        None => {
            print!("{out}");
            Ok(())
        }
    }
}

/// Reads features from a CSV (header; optional column to ignore) or NPY file.
fn read_features(path: &Path, ignore_column: Option<&str>) -> Result<Tensor> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("npy") => read_npy(path),
        Some("csv") => Ok(load_csv_features(path, ignore_column)?.x),
        _ => Err(Error::format(path, "the input must be a .csv or .npy file")),
    }
}
