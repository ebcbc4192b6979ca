//! `deeptrain evaluate` and `deeptrain predict` on a saved model.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Args;

use deeptrain::run::{DataSource, Rows, SavedRun};
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

pub fn evaluate(args: EvaluateArgs) -> Result<()> {
    let mut run = SavedRun::open(&args.dir)?;
    let rows = match &args.data {
        Some(dataset) => run.rows(&DataSource {
            dataset,
            label_column: args.label_column.as_deref(),
            labels: args.labels.as_deref(),
        })?,
        None => run.recorded_rows()?.ok_or_else(|| {
            Error::Config("the model does not record its data: pass --data".into())
        })?,
    };
    let Rows { data, source, part } = rows;
    let model = run.model_mut();
    if let Some(samples) = args.mc_samples {
        return evaluate_mc(model, &data, samples, args.mc_seed, part, &source);
    }
    let results = model.evaluate(&data, 1024)?;
    println!(
        "Evaluated on the {part} set of `{source}` ({} samples): {}",
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
    warn_if_deterministic(&std, samples);
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
    let mut run = SavedRun::open(&args.dir)?;
    let x = run.features(&args.input, args.label_column.as_deref())?;
    let class_names = run.class_names().map(<[String]>::to_vec);
    let model = run.model_mut();
    let (y, spread) = match args.mc_samples {
        Some(samples) => {
            let (mean, std) = model.predict_mc(&x, samples, 256, args.mc_seed)?;
            warn_if_deterministic(&std, samples);
            (mean, Some(std))
        }
        None => (model.predict(&x, 1024)?, None),
    };
    let units = y.row_len();
    let decision = Decision::for_model(model);
    let mut out = String::new();
    // Class names were checked against the outputs when the run was opened.
    let names: Vec<String> = match &class_names {
        Some(n) if n.len() == units => n.clone(),
        _ => (0..units).map(|k| k.to_string()).collect(),
    };
    let header: Vec<String> = names.iter().map(|n| csv_field(&format!("p_{n}"))).collect();
    out.push_str(&header.join(","));
    if spread.is_some() {
        for name in &names {
            let _ = write!(out, ",{}", csv_field(&format!("std_{name}")));
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

/// A CSV field as RFC 4180 writes it: quoted, with quotes doubled, when it holds a comma, a
/// quote or a line break (a class name may), else as it is.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// MC dropout on a model whose passes are all alike (no dropout or other random layer at
/// inference): every spread is 0, which says nothing of the model's uncertainty.
fn warn_if_deterministic(std: &Tensor, samples: usize) {
    if samples > 1 && std.data().iter().all(|&s| s == 0.0) {
        eprintln!(
            "warning: --mc-samples: the {samples} passes gave identical outputs (the model has no dropout active at inference), so every spread is 0"
        );
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
                    let _ = write!(out, ",{}", csv_field(&format!("predicted_{name}")));
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
                        let _ = write!(out, ",{}", csv_field(&names[k]));
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
