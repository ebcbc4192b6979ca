//! Randomized leaky ReLU (Xu et al. 2015, "Empirical Evaluation of Rectified Activations in
//! Convolutional Network"), with PyTorch's `RReLU` semantics.
//!
//! Shapes: x, y (B, F). Training: for every element a slope a ~ U(lower, upper) is drawn and
//! y = x if x ≥ 0, a·x otherwise; dx = dy or a·dy with the same slopes. Inference: the mean
//! slope (lower + upper) / 2 for every element.

use rand::{Rng as _, SeedableRng};

use serde::{Deserialize, Serialize};

use super::{Layer, LayerConfig, LayerSpec, Mode};
use crate::activations::{Activation, LEAKY_RELU_ALPHA};
use crate::tensor::Tensor;
use crate::{Error, Result, Rng};

/// Settings of an [`RRelu`] layer (Xu et al. 2015; PyTorch's `RReLU` defaults 1/8 and 1/3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RreluSpec {
    /// Smallest slope drawn in training.
    pub lower: f32,
    /// Largest slope drawn in training.
    pub upper: f32,
}

impl Default for RreluSpec {
    /// PyTorch's `RReLU()`: slopes drawn from [1/8, 1/3].
    fn default() -> Self {
        RreluSpec {
            lower: 1.0 / 8.0,
            upper: 1.0 / 3.0,
        }
    }
}

crate::builder::layer_setters!(RreluSpec);
crate::builder::setters!(RreluSpec {
    lower: f32,
    upper: f32,
});

impl LayerConfig for RreluSpec {
    fn type_name(&self) -> &str {
        "rrelu"
    }
    fn validate(&self) -> Result<()> {
        if !(self.lower.is_finite()
            && self.upper.is_finite()
            && 0.0 <= self.lower
            && self.lower <= self.upper)
        {
            return Err(Error::Config(format!(
                "rrelu layer: need 0 ≤ lower ≤ upper, got lower = {}, upper = {}",
                self.lower, self.upper
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
    /// A leaky ReLU, for `auto` and the checks.
    fn applied_activation(&self) -> Option<Activation> {
        Some(Activation::LeakyRelu {
            alpha: LEAKY_RELU_ALPHA,
        })
    }
    fn build(&self) -> Result<Box<dyn Layer>> {
        Ok(Box::new(RRelu::from_spec(self.clone())))
    }
}

/// A leaky ReLU with a random slope per element in training.
pub struct RRelu {
    spec: RreluSpec,
    name: String,
    rng: Rng,
    /// The slopes of the last training pass, one per element.
    slopes: Tensor,
    last_mode: Mode,
}

impl RRelu {
    /// An unbuilt RReLU layer.
    pub fn from_spec(spec: RreluSpec) -> Self {
        RRelu {
            name: String::new(),
            spec,
            rng: Rng::seed_from_u64(0),
            slopes: Tensor::default(),
            last_mode: Mode::Infer,
        }
    }

    fn mean_slope(&self) -> f32 {
        0.5 * (self.spec.lower + self.spec.upper)
    }

    /// The slopes drawn in the last training pass.
    pub fn slopes(&self) -> &Tensor {
        &self.slopes
    }
}

impl Layer for RRelu {
    fn name(&self) -> &str {
        &self.name
    }

    fn set_name(&mut self, name: String) {
        self.name = name;
    }

    fn class_name(&self) -> &'static str {
        "RReLU"
    }

    super::random_stream!(rng);

    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        // The layer's own stream, seeded from the model's, so runs are reproducible.
        self.rng = Rng::seed_from_u64(rng.random());
        Ok(input_shape.to_vec())
    }

    fn forward(&mut self, input: &Tensor, output: &mut Tensor, mode: Mode) {
        output.resize(input.shape());
        self.last_mode = mode;
        match mode {
            Mode::Train | Mode::Sample => {
                self.slopes.resize(input.shape());
                let (lower, upper) = (self.spec.lower, self.spec.upper);
                for ((y, &x), a) in output
                    .data_mut()
                    .iter_mut()
                    .zip(input.data())
                    .zip(self.slopes.data_mut())
                {
                    *a = if lower < upper {
                        self.rng.random_range(lower..upper)
                    } else {
                        lower
                    };
                    *y = if x >= 0.0 { x } else { *a * x };
                }
            }
            Mode::Infer => {
                let a = self.mean_slope();
                for (y, &x) in output.data_mut().iter_mut().zip(input.data()) {
                    *y = if x >= 0.0 { x } else { a * x };
                }
            }
        }
    }

    fn backward(
        &mut self,
        input: &Tensor,
        _output: &Tensor,
        grad_output: &Tensor,
        grad_input: Option<&mut Tensor>,
    ) {
        let Some(dx) = grad_input else { return };
        dx.resize(input.shape());
        let values = dx
            .data_mut()
            .iter_mut()
            .zip(input.data())
            .zip(grad_output.data());
        match self.last_mode {
            Mode::Train | Mode::Sample => {
                for (((d, &x), &g), &a) in values.zip(self.slopes.data()) {
                    *d = if x >= 0.0 { g } else { a * g };
                }
            }
            Mode::Infer => {
                let a = self.mean_slope();
                for ((d, &x), &g) in values {
                    *d = if x >= 0.0 { g } else { a * g };
                }
            }
        }
    }

    fn spec(&self) -> LayerSpec {
        LayerSpec::new(self.spec.clone()).named(&self.name)
    }

    fn describe(&self) -> String {
        format!("slope ~ U({}, {})", self.spec.lower, self.spec.upper)
    }
}
