//! Dropout (Srivastava et al. 2014) and AlphaDropout (Klambauer et al. 2017), each with its own
//! seeded random stream.
//!
//! Shapes: x, y (B, ...). Dropout is inverted: in training each value is kept with probability
//! 1 - rate and scaled by 1/(1 - rate), so inference is the identity. AlphaDropout sets dropped
//! values to SELU's saturation α' = -λα and applies the affine a·x + b that restores mean 0 and
//! variance 1 (Keras' formula): a = ((1 - rate)(1 + rate·α'²))^-½, b = -a·α'·rate.
//! Both are active in `Mode::Train` and `Mode::Sample` (MC dropout), and in every mode with
//! `always = true` (a Keras `Dropout` subclass whose `call` passes `training=True`: MC dropout
//! at `predict`, Gal & Ghahramani 2016); backward is dx = dy·mask.

use rand::{Rng as _, SeedableRng};

use serde::{Deserialize, Serialize};

use super::{Layer, LayerConfig, LayerSpec, Mode, SelfNormalization};
use crate::activations::{SELU_ALPHA, SELU_SCALE};
use crate::tensor::Tensor;
use crate::{Error, Result, Rng};

/// Settings of a [`Dropout`] layer (standard or alpha, from its `type`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropoutSpec {
    /// Fraction of values dropped in training, in [0, 1).
    pub rate: f32,
    /// Active at inference too (`predict`, `evaluate`): Monte Carlo dropout.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub always: bool,
    /// Standard or alpha (from the `type`: `dropout`, `alpha_dropout`).
    #[serde(skip)]
    pub kind: DropoutKind,
}

impl DropoutSpec {
    /// Dropout of a fraction `rate`.
    pub fn new(rate: f32) -> Self {
        DropoutSpec {
            rate,
            always: false,
            kind: DropoutKind::Standard,
        }
    }

    /// Active in every mode (MC dropout) when `always`.
    #[must_use]
    pub fn always(mut self, always: bool) -> Self {
        self.always = always;
        self
    }

    /// Sets the kind.
    #[must_use]
    pub fn kind(mut self, kind: DropoutKind) -> Self {
        self.kind = kind;
        self
    }
}

crate::builder::layer_setters!(DropoutSpec);

impl LayerConfig for DropoutSpec {
    fn type_name(&self) -> &str {
        match self.kind {
            DropoutKind::Standard => "dropout",
            DropoutKind::Alpha => "alpha_dropout",
        }
    }
    fn validate(&self) -> Result<()> {
        if !(0.0..1.0).contains(&self.rate) {
            return Err(Error::Config(format!(
                "dropout layer: `rate` must be in [0, 1), got {}",
                self.rate
            )));
        }
        Ok(())
    }
    fn param_count(&self, _input_shape: &[usize]) -> u64 {
        0
    }
    fn largest_param_tensor(&self, _input_shape: &[usize]) -> u64 {
        0
    }
    fn build(&self) -> Result<Box<dyn Layer>> {
        let mut layer = Dropout::new(self.kind, self.rate, None);
        layer.always = self.always;
        Ok(Box::new(layer))
    }
    fn self_normalization(&self) -> SelfNormalization {
        match self.kind {
            DropoutKind::Standard => SelfNormalization::Drops,
            DropoutKind::Alpha => SelfNormalization::Keeps,
        }
    }
}

/// Settings of a [`GaussianNoise`] layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GaussianNoiseSpec {
    /// Standard deviation of the noise (≥ 0).
    pub stddev: f32,
}

crate::builder::layer_setters!(GaussianNoiseSpec);

impl LayerConfig for GaussianNoiseSpec {
    fn type_name(&self) -> &str {
        "gaussian_noise"
    }
    fn validate(&self) -> Result<()> {
        if !(self.stddev.is_finite() && self.stddev >= 0.0) {
            return Err(Error::Config(format!(
                "gaussian_noise layer: `stddev` must be a number ≥ 0, got {}",
                self.stddev
            )));
        }
        Ok(())
    }
    fn param_count(&self, _input_shape: &[usize]) -> u64 {
        0
    }
    fn largest_param_tensor(&self, _input_shape: &[usize]) -> u64 {
        0
    }
    fn build(&self) -> Result<Box<dyn Layer>> {
        Ok(Box::new(GaussianNoise::new(self.stddev, None)))
    }
}

/// Which kind of dropout.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum DropoutKind {
    /// Inverted dropout.
    #[default]
    Standard,
    /// SELU-preserving dropout.
    Alpha,
}

/// A dropout layer (standard or alpha).
pub struct Dropout {
    kind: DropoutKind,
    rate: f32,
    name: String,
    rng: Rng,
    /// The factor each value was multiplied by in the last stochastic pass (0 when dropped).
    mask: Tensor,
    active: bool,
    /// Active in every mode (MC dropout).
    always: bool,
    /// The time-step mask passed through (B, T); empty without one.
    step_mask: Vec<f32>,
}

impl Dropout {
    /// An unbuilt dropout layer dropping a fraction `rate` ∈ [0, 1).
    pub fn new(kind: DropoutKind, rate: f32, name: Option<String>) -> Self {
        Dropout {
            kind,
            rate,
            name: name.unwrap_or_default(),
            rng: Rng::seed_from_u64(0),
            mask: Tensor::default(),
            active: false,
            always: false,
            step_mask: Vec::new(),
        }
    }

    /// AlphaDropout's (a, b, α').
    fn alpha_affine(&self) -> (f32, f32, f32) {
        let alpha_p = -SELU_ALPHA * SELU_SCALE;
        let q = 1.0 - self.rate;
        let a = (q * (1.0 + self.rate * alpha_p * alpha_p)).powf(-0.5);
        (a, -a * alpha_p * self.rate, alpha_p)
    }
}

impl Layer for Dropout {
    fn name(&self) -> &str {
        &self.name
    }

    fn set_name(&mut self, name: String) {
        self.name = name;
    }

    fn class_name(&self) -> &'static str {
        match self.kind {
            DropoutKind::Standard => "Dropout",
            DropoutKind::Alpha => "AlphaDropout",
        }
    }

    super::random_stream!(rng);
    super::mask_pass_through!(step_mask);

    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        self.rng = Rng::seed_from_u64(rng.random());
        Ok(input_shape.to_vec())
    }

    fn forward(&mut self, input: &Tensor, output: &mut Tensor, mode: Mode) {
        output.copy_from(input);
        self.active =
            (self.always || matches!(mode, Mode::Train | Mode::Sample)) && self.rate > 0.0;
        if !self.active {
            return;
        }
        let keep = 1.0 - self.rate;
        self.mask.resize(input.shape());
        match self.kind {
            DropoutKind::Standard => {
                let scale = 1.0 / keep;
                for (y, m) in output.data_mut().iter_mut().zip(self.mask.data_mut()) {
                    *m = if self.rng.random::<f32>() < keep {
                        scale
                    } else {
                        0.0
                    };
                    *y *= *m;
                }
            }
            DropoutKind::Alpha => {
                let (a, b, alpha_p) = self.alpha_affine();
                for (y, m) in output.data_mut().iter_mut().zip(self.mask.data_mut()) {
                    let kept = self.rng.random::<f32>() < keep;
                    *m = if kept { a } else { 0.0 };
                    *y = if kept { a * *y + b } else { a * alpha_p + b };
                }
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
        let Some(dx) = grad_input else { return };
        dx.copy_from(grad_output);
        if self.active {
            dx.data_mut()
                .iter_mut()
                .zip(self.mask.data())
                .for_each(|(g, &m)| *g *= m);
        }
    }

    fn spec(&self) -> LayerSpec {
        LayerSpec::new(
            DropoutSpec::new(self.rate)
                .kind(self.kind)
                .always(self.always),
        )
        .named(&self.name)
    }

    fn describe(&self) -> String {
        if self.always {
            format!("rate {}, always on", self.rate)
        } else {
            format!("rate {}", self.rate)
        }
    }
}

/// Additive Gaussian noise in training (`Mode::Train` only): y = x + N(0, stddev²); dx = dy.
pub struct GaussianNoise {
    stddev: f32,
    name: String,
    rng: Rng,
}

impl GaussianNoise {
    /// An unbuilt noise layer.
    pub fn new(stddev: f32, name: Option<String>) -> Self {
        GaussianNoise {
            stddev,
            name: name.unwrap_or_default(),
            rng: Rng::seed_from_u64(0),
        }
    }
}

impl Layer for GaussianNoise {
    fn name(&self) -> &str {
        &self.name
    }

    fn set_name(&mut self, name: String) {
        self.name = name;
    }

    fn class_name(&self) -> &'static str {
        "GaussianNoise"
    }

    super::random_stream!(rng);

    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        self.rng = Rng::seed_from_u64(rng.random());
        Ok(input_shape.to_vec())
    }

    fn forward(&mut self, input: &Tensor, output: &mut Tensor, mode: Mode) {
        output.copy_from(input);
        if mode == Mode::Train && self.stddev > 0.0 {
            let normal = rand_distr::Normal::new(0.0f32, self.stddev).expect("validated stddev");
            for y in output.data_mut() {
                *y += self.rng.sample(normal);
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
        if let Some(dx) = grad_input {
            dx.copy_from(grad_output);
        }
    }

    fn spec(&self) -> LayerSpec {
        LayerSpec::new(GaussianNoiseSpec {
            stddev: self.stddev,
        })
        .named(&self.name)
    }

    fn describe(&self) -> String {
        format!("stddev {}", self.stddev)
    }
}
