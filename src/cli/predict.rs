//! `deeptrain evaluate` and `deeptrain predict` on a saved model.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::Args;

use deeptrain::data::{load_csv_features, read_npy};
use deeptrain::model::RunMetadata;
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
    /// MC dropout: average this many stochastic passes (dropout on, batch norm in inference).
    #[arg(long)]
    mc_samples: Option<usize>,
    /// Seed of the MC dropout passes.
    #[arg(long, default_value_t = 42)]
    mc_seed: u64,
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
    /// MC dropout: the mean of this many stochastic passes, with a `std_` column per output.
    #[arg(long)]
    mc_samples: Option<usize>,
    /// Seed of the MC dropout passes.
    #[arg(long, default_value_t = 42)]
    mc_seed: u64,
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
    let dir = model_dir(&args.dir);
    let (mut model, _) = Sequential::load(&dir)?;
    let RunMetadata { scaler, data, .. } = RunMetadata::load(&dir)?;
    let mut spec = match (&args.data, &data) {
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
    if let (Some(layout), Some(encoding)) = (&splits.table, &scaler.table) {
        encoding.apply(layout, &mut data);
    }
    refuse_non_finite(&data.x, Path::new(&spec.dataset))?;
    scaler.apply(&mut data.x);
    // Flat rows (a CSV) for a model with (H, W) inputs take its shape, as in `predict`.
    let features: usize = model.input_shape().iter().product();
    if data.feature_shape() != model.input_shape() && data.x.row_len() == features {
        let shape: Vec<usize> = std::iter::once(data.len())
            .chain(model.input_shape().iter().copied())
            .collect();
        data.x.resize(&shape);
    }
    if let Some(samples) = args.mc_samples {
        return evaluate_mc(
            &mut model,
            &data,
            samples,
            args.mc_seed,
            which,
            &spec.dataset,
        );
    }
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

/// Accuracy and log loss of the MC-dropout mean probabilities, and their mean spread. The loss
/// includes the weight penalties, as `evaluate`'s does (Keras' convention).
fn evaluate_mc(
    model: &mut Sequential,
    data: &deeptrain::Dataset,
    samples: usize,
    seed: u64,
    which: &str,
    dataset: &str,
) -> Result<()> {
    if data.labels.row_len() != 1 || !model.loss().is_some_and(|l| l.wants_classes()) {
        return Err(Error::Config(
            "--mc-samples evaluates classifiers trained on class labels".into(),
        ));
    }
    let (mean, std) = model.predict_mc(&data.x, samples, 256, seed)?;
    let (mut correct, mut nll, mut spread) = (0usize, 0.0f64, 0.0f64);
    for i in 0..mean.rows() {
        let label = data.labels.data()[i] as usize;
        let row = mean.row(i);
        let predicted = argmax(row);
        correct += usize::from(predicted == label);
        nll -= (row.get(label).copied().unwrap_or(0.0).max(1e-7) as f64).ln();
        spread += std.row(i)[predicted] as f64;
    }
    let n = mean.rows().max(1) as f64;
    println!(
        "MC dropout ({samples} samples) on the {which} set of `{dataset}` ({} samples): loss: {:.4} - accuracy: {:.4} - mean std of the predicted class: {:.4}",
        data.len(),
        nll / n + model.weight_penalty(),
        correct as f64 / n,
        spread / n
    );
    Ok(())
}

pub fn predict(args: PredictArgs) -> Result<()> {
    let dir = model_dir(&args.dir);
    let (mut model, _) = Sequential::load(&dir)?;
    let RunMetadata {
        scaler,
        class_names,
        ..
    } = RunMetadata::load(&dir)?;
    let mut x = match (
        &scaler.table,
        args.input.extension().and_then(|e| e.to_str()),
    ) {
        // A table model encodes the columns it was trained on, by name (others are ignored).
        (Some(table), Some("csv" | "gz")) => {
            let bytes = deeptrain::data::read_csv_bytes(&args.input)?;
            deeptrain::data::tabular::encode_csv(&bytes, &args.input, table)?
        }
        _ => read_features(&args.input, args.label_column.as_deref())?,
    };
    refuse_non_finite(&x, &args.input)?;
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
    let (y, spread) = match args.mc_samples {
        Some(samples) => {
            let (mean, std) = model.predict_mc(&x, samples, 256, args.mc_seed)?;
            (mean, Some(std))
        }
        None => (model.predict(&x, 1024)?, None),
    };
    let units = y.row_len();
    let decision = Decision::for_model(&model);
    let mut out = String::new();
    let names: Vec<String> = match &class_names {
        Some(n) if n.len() == units => n.iter().map(|c| c.replace(',', " ")).collect(),
        _ => (0..units).map(|k| k.to_string()).collect(),
    };
    let header: Vec<String> = names.iter().map(|n| format!("p_{n}")).collect();
    out.push_str(&header.join(","));
    if spread.is_some() {
        for name in &names {
            let _ = write!(out, ",std_{name}");
        }
    }
    decision.write_header(&mut out, &names);
    out.push('\n');
    for i in 0..y.rows() {
        let row = y.row(i);
        out.push_str(
            &row.iter()
                .map(|v| format!("{v:.6}"))
                .collect::<Vec<_>>()
                .join(","),
        );
        if let Some(std) = &spread {
            for v in std.row(i) {
                let _ = write!(out, ",{v:.6}");
            }
        }
        decision.write_row(&mut out, row, class_names.as_deref());
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

/// How the predicted class is read from a row of outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decision {
    /// Regression: no class column.
    None,
    /// Softmax outputs: one `predicted` column, the argmax.
    Argmax,
    /// One sigmoid output: `predicted` is 1 when p >= 0.5 (Keras' binary threshold).
    Binary,
    /// Several sigmoid outputs (multi-label): one 0/1 `predicted_<name>` column each.
    MultiLabel,
}

impl Decision {
    fn for_model(model: &Sequential) -> Decision {
        use deeptrain::activations::Activation;
        match model.loss().and_then(|l| l.fusable_activation()) {
            Some(Activation::Softmax) => Decision::Argmax,
            Some(Activation::Sigmoid) if model.output_units() == 1 => Decision::Binary,
            Some(Activation::Sigmoid) => Decision::MultiLabel,
            _ => Decision::None,
        }
    }

    fn write_header(self, out: &mut String, names: &[String]) {
        match self {
            Decision::None => {}
            Decision::Argmax | Decision::Binary => out.push_str(",predicted"),
            Decision::MultiLabel => {
                for name in names {
                    let _ = write!(out, ",predicted_{name}");
                }
            }
        }
    }

    /// Writes the row's decision; for an argmax, the class name when the data had names
    /// (string labels), else the index.
    fn write_row(self, out: &mut String, row: &[f32], names: Option<&[String]>) {
        match self {
            Decision::None => {}
            Decision::Argmax => {
                let k = argmax(row);
                match names.filter(|n| n.len() == row.len()) {
                    Some(names) => {
                        let _ = write!(out, ",{}", names[k].replace(',', " "));
                    }
                    None => {
                        let _ = write!(out, ",{k}");
                    }
                }
            }
            Decision::Binary | Decision::MultiLabel => {
                for &p in row {
                    let _ = write!(out, ",{}", u8::from(p >= 0.5));
                }
            }
        }
    }
}

/// A NaN or infinite feature, named by row and column, as `train` refuses it.
fn refuse_non_finite(x: &Tensor, source: &Path) -> Result<()> {
    match deeptrain::data::first_non_finite(x) {
        Some((row, col)) => Err(Error::format(
            source,
            format!("feature {col} of row {row} is not a finite number"),
        )),
        None => Ok(()),
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
