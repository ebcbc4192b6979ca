//! `deeptrain fold`: fold batch normalization into Dense layers for inference, check that the
//! predictions are unchanged and measure the inference speed before and after. `train` does the
//! same after training any model that has batch normalization.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;

use deeptrain::model::RunMetadata;
use deeptrain::{Error, Result, Sequential, Tensor};

#[derive(Debug, Args)]
pub struct FoldArgs {
    /// A saved model directory (a run's `model/`).
    model: PathBuf,
    /// Where to write the folded model (default: MODEL-folded beside it).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// The outcome of folding one model.
pub struct FoldReport {
    /// The folded model.
    pub model: Sequential,
    /// Batch-norm layers folded.
    pub folded: usize,
    /// Largest absolute difference between the two models' outputs.
    pub max_difference: f32,
    /// Inference samples per second before and after.
    pub speed: (f64, f64),
}

impl FoldReport {
    /// One line for the user.
    pub fn line(&self) -> String {
        format!(
            "folded {} batch-norm layer(s): largest output difference {:.1e}; inference {:.0} -> {:.0} samples/s ({:.2}x)",
            self.folded,
            self.max_difference,
            self.speed.0,
            self.speed.1,
            self.speed.1 / self.speed.0.max(1e-9)
        )
    }
}

/// Folds `model`, compares outputs on `inputs` and times inference on them.
pub fn fold_and_check(model: &mut Sequential, inputs: &Tensor) -> Result<FoldReport> {
    let (mut folded_model, folded) = model.fold_batch_norm()?;
    let before = model.predict(inputs, 256)?;
    let after = folded_model.predict(inputs, 256)?;
    let max_difference = before
        .data()
        .iter()
        .zip(after.data())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    let speed = (
        inference_speed(model, inputs)?,
        inference_speed(&mut folded_model, inputs)?,
    );
    Ok(FoldReport {
        model: folded_model,
        folded,
        max_difference,
        speed,
    })
}

/// Samples per second of `predict` at batch 256, over at least half a second.
fn inference_speed(model: &mut Sequential, inputs: &Tensor) -> Result<f64> {
    let started = Instant::now();
    let mut samples = 0;
    while samples == 0 || started.elapsed().as_secs_f64() < 0.5 {
        model.predict(inputs, 256)?;
        samples += inputs.rows();
    }
    Ok(samples as f64 / started.elapsed().as_secs_f64())
}

/// Deterministic standard-normal-like inputs of a model's input shape (inference speed does
/// not depend on the values).
fn probe_inputs(input_shape: &[usize], rows: usize) -> Tensor {
    let features: usize = input_shape.iter().product();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let data = (0..rows * features)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 3.4
        })
        .collect();
    let mut shape = vec![rows];
    shape.extend_from_slice(input_shape);
    Tensor::from_vec(data, &shape)
}

pub fn run(args: FoldArgs) -> Result<()> {
    let (mut model, file) = Sequential::load(&args.model)?;
    let metadata = RunMetadata::load(&args.model)?;
    let inputs = probe_inputs(&file.input_shape, 4096);
    let report = fold_and_check(&mut model, &inputs)?;
    if report.folded == 0 {
        return Err(Error::Config(format!(
            "{}: no batch-normalization layer next to a Dense layer, nothing to fold",
            args.model.display()
        )));
    }
    let out = args.out.unwrap_or_else(|| folded_dir(&args.model));
    report.model.save(&out)?;
    metadata.save(&out)?;
    println!("{}; wrote {}", report.line(), out.display());
    Ok(())
}

fn folded_dir(model: &Path) -> PathBuf {
    let name = model
        .file_name()
        .map_or("model".into(), |n| n.to_string_lossy().into_owned());
    model.with_file_name(format!("{name}-folded"))
}
