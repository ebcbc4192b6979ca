//! Randomized leaky ReLU (Xu et al. 2015, "Empirical Evaluation of Rectified Activations in
//! Convolutional Network"), with PyTorch's `RReLU` semantics.
//!
//! Shapes: x, y (B, F). Training: for every element a slope a ~ U(lower, upper) is drawn and
//! y = x if x ≥ 0, a·x otherwise; dx = dy or a·dy with the same slopes. Inference: the mean
//! slope (lower + upper) / 2 for every element.

use rand::{Rng as _, SeedableRng};

use super::{Layer, LayerSpec, Mode, RreluSpec};
use crate::tensor::Tensor;
use crate::{Result, Rng};

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
            name: spec.name.clone().unwrap_or_default(),
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

    fn reseed(&mut self, seed: u64) {
        self.rng = Rng::seed_from_u64(seed);
    }

    fn rng(&self) -> Option<&Rng> {
        Some(&self.rng)
    }

    fn set_rng(&mut self, rng: Rng) {
        self.rng = rng;
    }

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
        let mut spec = self.spec.clone();
        spec.name = Some(self.name.clone());
        LayerSpec::Rrelu(spec)
    }

    fn describe(&self) -> String {
        format!("slope ~ U({}, {})", self.spec.lower, self.spec.upper)
    }
}
