//! Batch normalization (Ioffe & Szegedy 2015) with Keras' semantics.
//!
//! Shapes: x, y (N, F): F features on the last axis, N every other position (the batch, and
//! the leading axes of a multi-axis sample). Training mode, per feature j:
//! ```text
//! μ = mean(x), σ² = mean((x - μ)²)   (biased, as Keras)
//! x̂ = (x - μ) / sqrt(σ² + ε);  y = γ x̂ + β
//! moving_mean ← m·moving_mean + (1 - m)·μ;  moving_variance ← m·moving_variance + (1 - m)·σ²
//! dγ += Σ dy·x̂;  dβ += Σ dy;  dx = γ/(N sqrt(σ² + ε)) · (N dy - Σ dy - x̂ Σ dy·x̂)
//! ```
//! Inference mode uses the moving statistics instead of the batch's: the same affine map for
//! every sample. As in Keras, a frozen layer (`trainable = false`)
//! always runs in inference mode, so fine-tuning does not disturb its statistics.
//! PyTorch's `momentum` is Keras' 1 - m and its moving variance uses the unbiased σ².

use serde::{Deserialize, Serialize};

use super::{Layer, LayerConfig, LayerSpec, Mode, Param, SelfNormalization, State};
use crate::tensor::Tensor;
use crate::{Error, Result, Rng};

/// Settings of a [`BatchNormalization`] layer (Keras' names and defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchNormSpec {
    /// Weight of the old value in the moving averages (Keras 0.99; PyTorch's 0.1 is 1 - this).
    pub momentum: f32,
    /// Added to the variance before the square root.
    pub epsilon: f32,
    /// Learn an offset β.
    pub center: bool,
    /// Learn a scale γ.
    pub scale: bool,
    /// Whether γ and β are trained; a frozen layer also runs in inference mode (as Keras).
    pub trainable: bool,
}

impl Default for BatchNormSpec {
    /// Keras' `BatchNormalization()`.
    fn default() -> Self {
        BatchNormSpec {
            momentum: 0.99,
            epsilon: 1e-3,
            center: true,
            scale: true,
            trainable: true,
        }
    }
}

crate::builder::layer_setters!(BatchNormSpec);
crate::builder::setters!(BatchNormSpec {
    momentum: f32,
    epsilon: f32,
    center: bool,
    scale: bool,
    trainable: bool,
});

impl LayerConfig for BatchNormSpec {
    fn type_name(&self) -> &str {
        "batch_normalization"
    }
    fn validate(&self) -> Result<()> {
        if !((0.0..1.0).contains(&self.momentum) && self.epsilon.is_finite() && self.epsilon > 0.0)
        {
            return Err(Error::Config(format!(
                "batch_normalization layer: need 0 ≤ momentum < 1 and epsilon > 0, got momentum = {}, epsilon = {}",
                self.momentum, self.epsilon
            )));
        }
        Ok(())
    }
    /// γ, β, moving mean and variance per feature (the last axis).
    fn param_count(&self, input_shape: &[usize]) -> u64 {
        4 * input_shape.last().copied().unwrap_or(0) as u64
    }
    fn largest_param_tensor(&self, input_shape: &[usize]) -> u64 {
        input_shape.last().copied().unwrap_or(0) as u64
    }
    fn build(&self) -> Result<Box<dyn Layer>> {
        Ok(Box::new(BatchNormalization::from_spec(self.clone())))
    }
    fn self_normalization(&self) -> SelfNormalization {
        SelfNormalization::BatchStatistics
    }
}

const MOVING_MEAN: usize = 0;
const MOVING_VARIANCE: usize = 1;

/// γ and β as slices (None when switched off); γ comes first in `params`.
fn gamma_beta(params: &[Param], scale: bool, center: bool) -> (Option<&[f32]>, Option<&[f32]>) {
    let gamma = scale.then(|| params[0].value.data());
    let beta = center.then(|| params[usize::from(scale)].value.data());
    (gamma, beta)
}

/// Normalizes each feature over the batch.
pub struct BatchNormalization {
    spec: BatchNormSpec,
    name: String,
    features: usize,
    /// γ (when `scale`) then β (when `center`).
    params: Vec<Param>,
    /// moving_mean, moving_variance.
    state: Vec<State>,
    /// x̂ of the last training pass, (N, F).
    normalized: Tensor,
    /// 1 / sqrt(σ² + ε) of the last pass (batch or moving statistics), (F).
    inv_std: Vec<f32>,
    /// Batch mean and variance scratch, (F) each, in f64 for an accurate reduction.
    mean: Vec<f64>,
    variance: Vec<f64>,
    /// Backward scratch: Σ dy and Σ dy·x̂ per feature.
    sum_dy: Vec<f64>,
    sum_dy_xhat: Vec<f64>,
    /// Whether the last forward pass normalized with batch statistics.
    used_batch_statistics: bool,
}

impl BatchNormalization {
    /// An unbuilt batch-normalization layer.
    pub fn from_spec(spec: BatchNormSpec) -> Self {
        BatchNormalization {
            name: String::new(),
            spec,
            features: 0,
            params: Vec::new(),
            state: Vec::new(),
            normalized: Tensor::default(),
            inv_std: Vec::new(),
            mean: Vec::new(),
            variance: Vec::new(),
            sum_dy: Vec::new(),
            sum_dy_xhat: Vec::new(),
            used_batch_statistics: false,
        }
    }

    /// γ, or None when `scale = false`.
    pub fn gamma(&self) -> Option<&[f32]> {
        self.spec.scale.then(|| self.params[0].value.data())
    }

    /// β, or None when `center = false`.
    pub fn beta(&self) -> Option<&[f32]> {
        self.spec
            .center
            .then(|| self.params[usize::from(self.spec.scale)].value.data())
    }

    /// The moving mean.
    pub fn moving_mean(&self) -> &[f32] {
        self.state[MOVING_MEAN].value.data()
    }

    /// The moving variance.
    pub fn moving_variance(&self) -> &[f32] {
        self.state[MOVING_VARIANCE].value.data()
    }

    /// The inference-mode map as y = s·x + t per feature: s = γ / sqrt(moving_variance + ε),
    /// t = β - s·moving_mean (for folding into a neighbouring Dense layer).
    pub fn affine(&self) -> (Vec<f32>, Vec<f32>) {
        let eps = self.spec.epsilon;
        (0..self.features)
            .map(|j| {
                let gamma = self.gamma().map_or(1.0, |g| g[j]);
                let beta = self.beta().map_or(0.0, |b| b[j]);
                let s = gamma / (self.moving_variance()[j] + eps).sqrt();
                (s, beta - s * self.moving_mean()[j])
            })
            .unzip()
    }

    /// Batch mean and biased variance per feature (in f64), inv_std, and the moving-statistics
    /// update.
    fn batch_statistics(&mut self, input: &Tensor) {
        let f = self.features;
        let rows = (input.len() / f).max(1) as f64;
        self.mean.fill(0.0);
        self.variance.fill(0.0);
        for row in input.data().chunks_exact(f) {
            self.mean
                .iter_mut()
                .zip(row)
                .for_each(|(m, &x)| *m += x as f64);
        }
        self.mean.iter_mut().for_each(|m| *m /= rows);
        for row in input.data().chunks_exact(f) {
            for ((v, &m), &x) in self.variance.iter_mut().zip(&self.mean).zip(row) {
                let d = x as f64 - m;
                *v += d * d;
            }
        }
        self.variance.iter_mut().for_each(|v| *v /= rows);
        let (momentum, eps) = (self.spec.momentum, self.spec.epsilon as f64);
        let (moving_mean, rest) = self.state.split_at_mut(MOVING_VARIANCE);
        let moving_mean = moving_mean[0].value.data_mut();
        let moving_variance = rest[0].value.data_mut();
        for j in 0..f {
            self.inv_std[j] = (1.0 / (self.variance[j] + eps).sqrt()) as f32;
            moving_mean[j] = momentum * moving_mean[j] + (1.0 - momentum) * self.mean[j] as f32;
            moving_variance[j] =
                momentum * moving_variance[j] + (1.0 - momentum) * self.variance[j] as f32;
        }
    }

    fn trainable(&self) -> bool {
        self.spec.trainable && self.params.iter().all(|p| p.trainable)
    }
}

impl Layer for BatchNormalization {
    fn name(&self) -> &str {
        &self.name
    }

    fn set_name(&mut self, name: String) {
        self.name = name;
    }

    fn class_name(&self) -> &'static str {
        "BatchNormalization"
    }

    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        let Some(&features) = input_shape.last() else {
            return Err(Error::Shape(format!(
                "layer `{}` (BatchNormalization) needs an input with at least one axis",
                self.name
            )));
        };
        self.features = features;
        self.params.clear();
        if self.spec.scale {
            let mut gamma = Param::new("gamma", &[features]);
            gamma.value.data_mut().fill(1.0);
            self.params.push(gamma);
        }
        if self.spec.center {
            self.params.push(Param::new("beta", &[features]));
        }
        let mut moving_variance = Tensor::zeros(&[features]);
        moving_variance.data_mut().fill(1.0);
        self.state = vec![
            State {
                name: "moving_mean",
                value: Tensor::zeros(&[features]),
            },
            State {
                name: "moving_variance",
                value: moving_variance,
            },
        ];
        let trainable = self.spec.trainable;
        self.set_trainable(trainable);
        self.inv_std = vec![0.0; features];
        self.mean = vec![0.0; features];
        self.variance = vec![0.0; features];
        self.sum_dy = vec![0.0; features];
        self.sum_dy_xhat = vec![0.0; features];
        Ok(input_shape.to_vec())
    }

    fn forward(&mut self, input: &Tensor, output: &mut Tensor, mode: Mode) {
        let f = self.features;
        let eps = self.spec.epsilon;
        output.resize(input.shape());
        self.used_batch_statistics = mode == Mode::Train && self.trainable();
        if self.used_batch_statistics {
            self.batch_statistics(input);
        } else {
            let moving_variance = self.state[MOVING_VARIANCE].value.data();
            for (inv, &v) in self.inv_std.iter_mut().zip(moving_variance) {
                *inv = 1.0 / (v + eps).sqrt();
            }
            let moving_mean = self.state[MOVING_MEAN].value.data();
            self.mean
                .iter_mut()
                .zip(moving_mean)
                .for_each(|(m, &v)| *m = v as f64);
        }
        // x̂ = (x - μ)·inv_std, kept for backward; y = γ x̂ + β.
        self.normalized.resize(input.shape());
        let (gamma, beta) = gamma_beta(&self.params, self.spec.scale, self.spec.center);
        for ((xr, nr), yr) in input
            .data()
            .chunks_exact(f)
            .zip(self.normalized.data_mut().chunks_exact_mut(f))
            .zip(output.data_mut().chunks_exact_mut(f))
        {
            for j in 0..f {
                let xhat = (xr[j] - self.mean[j] as f32) * self.inv_std[j];
                nr[j] = xhat;
                yr[j] = gamma.map_or(xhat, |g| g[j] * xhat) + beta.map_or(0.0, |b| b[j]);
            }
        }
    }

    fn backward(
        &mut self,
        _input: &Tensor,
        _output: &Tensor,
        grad_output: &Tensor,
        grad_input: Option<&mut Tensor>,
    ) {
        let f = self.features;
        let rows = grad_output.len() / f;
        // Σ dy and Σ dy·x̂ per feature.
        self.sum_dy.fill(0.0);
        self.sum_dy_xhat.fill(0.0);
        for (gr, nr) in grad_output
            .data()
            .chunks_exact(f)
            .zip(self.normalized.data().chunks_exact(f))
        {
            for j in 0..f {
                self.sum_dy[j] += gr[j] as f64;
                self.sum_dy_xhat[j] += (gr[j] * nr[j]) as f64;
            }
        }
        let (scale, center) = (self.spec.scale, self.spec.center);
        for p in self.params.iter_mut().filter(|p| p.trainable) {
            let sums = if p.name == "gamma" {
                &self.sum_dy_xhat
            } else {
                &self.sum_dy
            };
            p.grad
                .data_mut()
                .iter_mut()
                .zip(sums)
                .for_each(|(g, &s)| *g = s as f32);
        }
        let Some(dx) = grad_input else { return };
        dx.resize(grad_output.shape());
        let (gamma, _) = gamma_beta(&self.params, scale, center);
        if self.used_batch_statistics {
            // dx = γ·inv_std/N · (N dy - Σ dy - x̂ Σ dy·x̂)
            let n = rows as f32;
            for ((dr, gr), nr) in dx
                .data_mut()
                .chunks_exact_mut(f)
                .zip(grad_output.data().chunks_exact(f))
                .zip(self.normalized.data().chunks_exact(f))
            {
                for j in 0..f {
                    let k = gamma.map_or(1.0, |g| g[j]) * self.inv_std[j] / n;
                    dr[j] = k
                        * (n * gr[j] - self.sum_dy[j] as f32 - nr[j] * self.sum_dy_xhat[j] as f32);
                }
            }
        } else {
            // Fixed statistics: an affine map, dx = γ·inv_std·dy.
            for (dr, gr) in dx
                .data_mut()
                .chunks_exact_mut(f)
                .zip(grad_output.data().chunks_exact(f))
            {
                for j in 0..f {
                    dr[j] = gamma.map_or(1.0, |g| g[j]) * self.inv_std[j] * gr[j];
                }
            }
        }
    }

    fn params(&self) -> &[Param] {
        &self.params
    }

    fn params_mut(&mut self) -> &mut [Param] {
        &mut self.params
    }

    fn state(&self) -> &[State] {
        &self.state
    }

    fn state_mut(&mut self) -> &mut [State] {
        &mut self.state
    }

    fn inference_affine(&self) -> Option<(Vec<f32>, Vec<f32>)> {
        Some(self.affine())
    }

    fn set_trainable(&mut self, trainable: bool) {
        self.spec.trainable = trainable;
        for p in &mut self.params {
            p.set_trainable(trainable);
        }
    }

    fn spec(&self) -> LayerSpec {
        let mut spec = self.spec.clone();
        spec.trainable = self.trainable();
        LayerSpec::new(spec).named(&self.name)
    }

    fn describe(&self) -> String {
        format!(
            "momentum {}, epsilon {}",
            self.spec.momentum, self.spec.epsilon
        )
    }
}
