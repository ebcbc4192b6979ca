//! Layer normalization (Ba, Kiros & Hinton 2016) over the last axis, with Keras' names and
//! defaults (`keras.layers.LayerNormalization(axis=-1, epsilon=1e-3)`; PyTorch's `LayerNorm`
//! defaults to eps = 1e-5).
//!
//! Shapes: x, y (N, F): F features on the last axis, N every other position. Per row n:
//! ```text
//! μ = mean_j(x), σ² = mean_j((x - μ)²)   (biased)
//! x̂ = (x - μ) / sqrt(σ² + ε);  y = γ x̂ + β     (γ, β per feature j)
//! dγ = Σ_n dy·x̂;  dβ = Σ_n dy;  g = dy·γ
//! dx = 1/(F sqrt(σ² + ε)) · (F g - Σ_j g - x̂ Σ_j g·x̂)
//! ```
//! The same in training and inference: no moving statistics.

use serde::{Deserialize, Serialize};

use super::{Layer, LayerConfig, LayerSpec, Mode, Param};
use crate::init::Initializer;
use crate::tensor::Tensor;
use crate::{Error, Result, Rng};

/// Settings of a [`LayerNormalization`] layer (Keras' names and defaults; only `axis = -1`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LayerNormSpec {
    /// The axis normalized: only -1, the last (Keras' default).
    pub axis: i64,
    /// Added to the variance before the square root (Keras 1e-3).
    pub epsilon: f32,
    /// Learn an offset β.
    pub center: bool,
    /// Learn a scale γ.
    pub scale: bool,
    /// Initial β (default zeros).
    pub beta_initializer: Initializer,
    /// Initial γ (default ones).
    pub gamma_initializer: Initializer,
    /// Whether γ and β are trained.
    pub trainable: bool,
}

impl Default for LayerNormSpec {
    /// Keras' `LayerNormalization()`.
    fn default() -> Self {
        LayerNormSpec {
            axis: -1,
            epsilon: 1e-3,
            center: true,
            scale: true,
            beta_initializer: Initializer::Zeros,
            gamma_initializer: Initializer::Ones,
            trainable: true,
        }
    }
}

crate::builder::layer_setters!(LayerNormSpec);
crate::builder::setters!(LayerNormSpec {
    epsilon: f32,
    center: bool,
    scale: bool,
    beta_initializer: Initializer,
    gamma_initializer: Initializer,
    trainable: bool,
});

impl LayerConfig for LayerNormSpec {
    fn type_name(&self) -> &str {
        "layer_normalization"
    }
    fn validate(&self) -> Result<()> {
        if self.axis != -1 {
            return Err(Error::Config(format!(
                "layer_normalization layer: only `axis = -1` (the last axis) is supported, got {}",
                self.axis
            )));
        }
        if !(self.epsilon.is_finite() && self.epsilon > 0.0) {
            return Err(Error::Config(format!(
                "layer_normalization layer: `epsilon` must be > 0, got {}",
                self.epsilon
            )));
        }
        self.beta_initializer.validate()?;
        self.gamma_initializer.validate()
    }
    /// γ and β per feature (the last axis).
    fn param_count(&self, input_shape: &[usize]) -> u64 {
        2 * self.largest_param_tensor(input_shape)
    }
    fn largest_param_tensor(&self, input_shape: &[usize]) -> u64 {
        input_shape.last().copied().unwrap_or(0) as u64
    }
    fn resolve_auto(&mut self, _following: Option<crate::Activation>) -> Result<()> {
        let refuse = super::config::refuse_auto;
        refuse(
            "layer_normalization",
            "beta_initializer",
            self.beta_initializer,
            "zeros",
        )?;
        refuse(
            "layer_normalization",
            "gamma_initializer",
            self.gamma_initializer,
            "ones",
        )
    }
    fn build(&self) -> Result<Box<dyn Layer>> {
        Ok(Box::new(LayerNormalization::from_spec(self.clone())))
    }
}

/// Normalizes each sample over its last axis.
pub struct LayerNormalization {
    spec: LayerNormSpec,
    name: String,
    features: usize,
    /// γ (when `scale`) then β (when `center`).
    params: Vec<Param>,
    /// x̂ of the last forward pass, (N, F).
    normalized: Tensor,
    /// 1 / sqrt(σ² + ε) per row of the last forward pass, (N).
    inv_std: Vec<f32>,
    /// The time-step mask passed through (B, T); empty without one.
    step_mask: Vec<f32>,
}

impl LayerNormalization {
    /// An unbuilt layer-normalization layer.
    pub fn from_spec(spec: LayerNormSpec) -> Self {
        LayerNormalization {
            spec,
            name: String::new(),
            features: 0,
            params: Vec::new(),
            normalized: Tensor::default(),
            inv_std: Vec::new(),
            step_mask: Vec::new(),
        }
    }

    /// γ and β as slices (None when switched off).
    fn gamma_beta(&self) -> (Option<&[f32]>, Option<&[f32]>) {
        let gamma = self.spec.scale.then(|| self.params[0].value.data());
        let beta = self
            .spec
            .center
            .then(|| self.params[usize::from(self.spec.scale)].value.data());
        (gamma, beta)
    }
}

impl Layer for LayerNormalization {
    fn name(&self) -> &str {
        &self.name
    }

    fn set_name(&mut self, name: String) {
        self.name = name;
    }

    fn class_name(&self) -> &'static str {
        "LayerNormalization"
    }

    super::mask_pass_through!(step_mask);

    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let features = input_shape.last().copied().unwrap_or(0);
        if features == 0 {
            return Err(Error::Shape(format!(
                "layer `{}` (LayerNormalization) needs a non-empty last axis, got shape {input_shape:?}",
                self.name
            )));
        }
        self.features = features;
        self.params.clear();
        if self.spec.scale {
            let mut gamma = Param::new("gamma", &[features]);
            self.spec
                .gamma_initializer
                .fill(gamma.value.data_mut(), &[features], rng);
            self.params.push(gamma);
        }
        if self.spec.center {
            let mut beta = Param::new("beta", &[features]);
            self.spec
                .beta_initializer
                .fill(beta.value.data_mut(), &[features], rng);
            self.params.push(beta);
        }
        let trainable = self.spec.trainable;
        self.set_trainable(trainable);
        Ok(input_shape.to_vec())
    }

    fn forward(&mut self, input: &Tensor, output: &mut Tensor, _mode: Mode) {
        let f = self.features;
        let rows = input.len() / f;
        output.resize(input.shape());
        self.normalized.resize(input.shape());
        self.inv_std.resize(rows, 0.0);
        let eps = f64::from(self.spec.epsilon);
        for ((x, xhat), inv) in input
            .data()
            .chunks_exact(f)
            .zip(self.normalized.data_mut().chunks_exact_mut(f))
            .zip(self.inv_std.iter_mut())
        {
            let mean = x.iter().map(|&v| f64::from(v)).sum::<f64>() / f as f64;
            let var = x
                .iter()
                .map(|&v| (f64::from(v) - mean).powi(2))
                .sum::<f64>()
                / f as f64;
            let s = 1.0 / (var + eps).sqrt();
            *inv = s as f32;
            for (h, &v) in xhat.iter_mut().zip(x) {
                *h = ((f64::from(v) - mean) * s) as f32;
            }
        }
        let (gamma, beta) = self.gamma_beta();
        for (y, xhat) in output
            .data_mut()
            .chunks_exact_mut(f)
            .zip(self.normalized.data().chunks_exact(f))
        {
            for j in 0..f {
                let g = gamma.map_or(1.0, |g| g[j]);
                let b = beta.map_or(0.0, |b| b[j]);
                y[j] = g * xhat[j] + b;
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
        let dy = grad_output.data();
        let xhat = self.normalized.data();
        // dγ = Σ_n dy·x̂, dβ = Σ_n dy, written (not accumulated) when trainable.
        let (scale, center) = (self.spec.scale, self.spec.center);
        if scale && self.params[0].trainable {
            let dg = self.params[0].grad.data_mut();
            dg.fill(0.0);
            for (dy, xhat) in dy.chunks_exact(f).zip(xhat.chunks_exact(f)) {
                for j in 0..f {
                    dg[j] += dy[j] * xhat[j];
                }
            }
        }
        let beta = usize::from(scale);
        if center && self.params[beta].trainable {
            let db = self.params[beta].grad.data_mut();
            db.fill(0.0);
            for dy in dy.chunks_exact(f) {
                for j in 0..f {
                    db[j] += dy[j];
                }
            }
        }
        let Some(dx) = grad_input else { return };
        dx.resize(grad_output.shape());
        let gamma = scale.then(|| self.params[0].value.data());
        for (((dx, dy), xhat), &inv) in dx
            .data_mut()
            .chunks_exact_mut(f)
            .zip(dy.chunks_exact(f))
            .zip(xhat.chunks_exact(f))
            .zip(&self.inv_std)
        {
            // g = dy·γ; dx = inv/F · (F g - Σ g - x̂ Σ g·x̂).
            let (mut sum_g, mut sum_gx) = (0.0f64, 0.0f64);
            for j in 0..f {
                let g = dy[j] * gamma.map_or(1.0, |g| g[j]);
                sum_g += f64::from(g);
                sum_gx += f64::from(g * xhat[j]);
            }
            let (mean_g, mean_gx) = ((sum_g / f as f64) as f32, (sum_gx / f as f64) as f32);
            for j in 0..f {
                let g = dy[j] * gamma.map_or(1.0, |g| g[j]);
                dx[j] = inv * (g - mean_g - xhat[j] * mean_gx);
            }
        }
    }

    fn params(&self) -> &[Param] {
        &self.params
    }

    fn params_mut(&mut self) -> &mut [Param] {
        &mut self.params
    }

    fn spec(&self) -> LayerSpec {
        let mut spec = self.spec.clone();
        spec.trainable = self.params.iter().all(|p| p.trainable);
        LayerSpec::new(spec).named(&self.name)
    }

    fn describe(&self) -> String {
        format!("epsilon {}", self.spec.epsilon)
    }
}
