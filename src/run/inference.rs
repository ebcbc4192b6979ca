//! The inference copy of a model: batch normalization folded into the layer before it, checked
//! against the original's outputs and timed. `train` writes it as `inference_model/`; `deeptrain
//! fold` makes it from a saved model.

use std::time::Instant;

use crate::{Result, Sequential, Tensor};

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

/// Folds `model`; when some batch-norm layer folded, compares the two models' outputs on
/// `inputs` and times inference on them. `None` when nothing folds.
pub fn fold_and_check(model: &mut Sequential, inputs: &Tensor) -> Result<Option<FoldReport>> {
    if !model.has_foldable_layers() {
        return Ok(None);
    }
    let (mut folded_model, folded) = model.fold_batch_norm()?;
    if folded == 0 {
        return Ok(None);
    }
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
    Ok(Some(FoldReport {
        model: folded_model,
        folded,
        max_difference,
        speed,
    }))
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
