//! Losses (Keras' names and reductions: mean over the batch) and the targets they compare against.
//!
//! Shapes: predictions (B, K). Targets are class indices (B) for the sparse loss, or values (B, K).
//! When the model's last activation is softmax (for the cross-entropies) or sigmoid (for binary
//! cross-entropy), the loss works from the logits z instead of the probabilities: the value is
//! `logsumexp(z) - z_y` (or `max(z,0) - z·t + log(1 + e^-|z|)`), exact for large logits, and the
//! gradient with respect to z is simply `(p - t) / B` (PyTorch's CrossEntropyLoss and
//! BCEWithLogitsLoss do the same).

use serde::{Deserialize, Serialize};

use crate::activations::sigmoid;
use crate::tensor::Tensor;

/// Keras' clipping epsilon for losses computed from probabilities (`keras.config.epsilon()`).
pub const EPSILON: f32 = 1e-7;

/// What a model is trained to predict, one entry per sample.
#[derive(Clone, Debug, PartialEq)]
pub enum Targets {
    /// Class indices (for sparse categorical cross-entropy and accuracy).
    Classes(Vec<u32>),
    /// Target values, (N, K): one-hot or soft labels, binary labels, regression targets.
    Values(Tensor),
}

impl Default for Targets {
    fn default() -> Self {
        Targets::Classes(Vec::new())
    }
}

impl Targets {
    /// Number of samples.
    pub fn len(&self) -> usize {
        match self {
            Targets::Classes(c) => c.len(),
            Targets::Values(v) => v.rows(),
        }
    }

    /// True when there is no sample.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies the samples `indices` into `out`, reusing its buffers.
    pub fn gather(&self, indices: &[usize], out: &mut Targets) {
        match (self, out) {
            (Targets::Classes(src), Targets::Classes(dst)) => {
                dst.clear();
                dst.extend(indices.iter().map(|&i| src[i]));
            }
            (Targets::Values(src), Targets::Values(dst)) => dst.gather_rows(src, indices),
            (src, out) => {
                *out = match src {
                    Targets::Classes(_) => Targets::Classes(Vec::with_capacity(indices.len())),
                    Targets::Values(_) => Targets::Values(Tensor::default()),
                };
                src.gather(indices, out);
            }
        }
    }
}

/// A loss function, by its Keras name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// -log p_y, labels as class indices.
    SparseCategoricalCrossentropy,
    /// -Σ_k t_k log p_k, labels one-hot (or soft).
    CategoricalCrossentropy,
    /// -(t log p + (1 - t) log(1 - p)), averaged over outputs.
    BinaryCrossentropy,
    /// (p - t)², averaged over outputs.
    #[serde(alias = "mse")]
    MeanSquaredError,
}

impl Loss {
    /// Keras' name.
    pub fn name(self) -> &'static str {
        match self {
            Loss::SparseCategoricalCrossentropy => "sparse_categorical_crossentropy",
            Loss::CategoricalCrossentropy => "categorical_crossentropy",
            Loss::BinaryCrossentropy => "binary_crossentropy",
            Loss::MeanSquaredError => "mean_squared_error",
        }
    }

    /// True when the targets are class indices.
    pub fn wants_classes(self) -> bool {
        self == Loss::SparseCategoricalCrossentropy
    }

    /// The output activation this loss can absorb (softmax or sigmoid), if any.
    pub fn fusable_activation(self) -> Option<crate::activations::Activation> {
        use crate::activations::Activation;
        match self {
            Loss::SparseCategoricalCrossentropy | Loss::CategoricalCrossentropy => {
                Some(Activation::Softmax)
            }
            Loss::BinaryCrossentropy => Some(Activation::Sigmoid),
            Loss::MeanSquaredError => None,
        }
    }

    /// The mean loss over the batch. With `logits` (fused output), `y_pred` holds the activated
    /// outputs and the gradient is taken with respect to the logits; otherwise with respect to
    /// `y_pred`. The gradient, when asked for, is written to `grad` (resized to `y_pred`'s shape).
    pub fn compute(
        &self,
        y_pred: &Tensor,
        logits: Option<&Tensor>,
        targets: &Targets,
        grad: Option<&mut Tensor>,
    ) -> f64 {
        let batch = y_pred.rows();
        let k = y_pred.row_len();
        let mut grad = grad;
        if let Some(g) = grad.as_deref_mut() {
            g.resize(y_pred.shape());
        }
        let inv_batch = 1.0 / batch.max(1) as f32;
        let mut total = 0.0f64;
        match (self, targets, logits) {
            (Loss::SparseCategoricalCrossentropy, Targets::Classes(classes), Some(z)) => {
                for (i, &c) in classes.iter().enumerate() {
                    let (zr, pr) = (z.row(i), y_pred.row(i));
                    total += (log_sum_exp(zr) - zr[c as usize]) as f64;
                    if let Some(g) = grad.as_deref_mut() {
                        let gr = &mut g.data_mut()[i * k..(i + 1) * k];
                        for (j, (gv, &p)) in gr.iter_mut().zip(pr).enumerate() {
                            *gv = (p - if j == c as usize { 1.0 } else { 0.0 }) * inv_batch;
                        }
                    }
                }
            }
            (Loss::SparseCategoricalCrossentropy, Targets::Classes(classes), None) => {
                if let Some(g) = grad.as_deref_mut() {
                    g.data_mut().fill(0.0);
                }
                for (i, &c) in classes.iter().enumerate() {
                    let p = y_pred.row(i)[c as usize];
                    let clipped = p.clamp(EPSILON, 1.0 - EPSILON);
                    total -= (clipped as f64).ln();
                    if let Some(g) = grad.as_deref_mut() {
                        if p == clipped {
                            g.data_mut()[i * k + c as usize] = -inv_batch / p;
                        }
                    }
                }
            }
            (Loss::CategoricalCrossentropy, Targets::Values(t), Some(z)) => {
                for i in 0..batch {
                    let (zr, pr, tr) = (z.row(i), y_pred.row(i), t.row(i));
                    let lse = log_sum_exp(zr);
                    total += tr
                        .iter()
                        .zip(zr)
                        .map(|(&tv, &zv)| (tv * (lse - zv)) as f64)
                        .sum::<f64>();
                    if let Some(g) = grad.as_deref_mut() {
                        let t_sum: f32 = tr.iter().sum();
                        let gr = &mut g.data_mut()[i * k..(i + 1) * k];
                        for ((gv, &p), &tv) in gr.iter_mut().zip(pr).zip(tr) {
                            *gv = (t_sum * p - tv) * inv_batch;
                        }
                    }
                }
            }
            (Loss::CategoricalCrossentropy, Targets::Values(t), None) => {
                for (j, (&p, &tv)) in y_pred.data().iter().zip(t.data()).enumerate() {
                    let clipped = p.clamp(EPSILON, 1.0 - EPSILON);
                    total -= (tv as f64) * (clipped as f64).ln();
                    if let Some(g) = grad.as_deref_mut() {
                        g.data_mut()[j] = if p == clipped {
                            -tv / p * inv_batch
                        } else {
                            0.0
                        };
                    }
                }
            }
            (Loss::BinaryCrossentropy, Targets::Values(t), Some(z)) => {
                let scale = inv_batch / k as f32;
                for (j, (&zv, &tv)) in z.data().iter().zip(t.data()).enumerate() {
                    total += (zv.max(0.0) - zv * tv + (-zv.abs()).exp().ln_1p()) as f64 / k as f64;
                    if let Some(g) = grad.as_deref_mut() {
                        g.data_mut()[j] = (sigmoid(zv) - tv) * scale;
                    }
                }
            }
            (Loss::BinaryCrossentropy, Targets::Values(t), None) => {
                let scale = inv_batch / k as f32;
                for (j, (&p, &tv)) in y_pred.data().iter().zip(t.data()).enumerate() {
                    let pc = p.clamp(EPSILON, 1.0 - EPSILON);
                    total -= (tv as f64 * (pc as f64).ln()
                        + (1.0 - tv as f64) * (1.0 - pc as f64).ln())
                        / k as f64;
                    if let Some(g) = grad.as_deref_mut() {
                        g.data_mut()[j] = if p == pc {
                            (p - tv) / (p * (1.0 - p)) * scale
                        } else {
                            0.0
                        };
                    }
                }
            }
            (Loss::MeanSquaredError, Targets::Values(t), _) => {
                let scale = 2.0 * inv_batch / k as f32;
                for (j, (&p, &tv)) in y_pred.data().iter().zip(t.data()).enumerate() {
                    let d = p - tv;
                    total += (d as f64) * (d as f64) / k as f64;
                    if let Some(g) = grad.as_deref_mut() {
                        g.data_mut()[j] = d * scale;
                    }
                }
            }
            (loss, targets, _) => panic!(
                "{} got {} targets; the model prepares targets to fit the loss",
                loss.name(),
                if matches!(targets, Targets::Classes(_)) {
                    "class"
                } else {
                    "value"
                }
            ),
        }
        total / batch.max(1) as f64
    }
}

/// log Σ e^x, computed as max + log Σ e^(x - max).
pub fn log_sum_exp(x: &[f32]) -> f32 {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    max + x.iter().map(|&v| (v - max).exp()).sum::<f32>().ln()
}
