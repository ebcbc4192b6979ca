//! Parametric ReLU (He et al. 2015, "Delving Deep into Rectifiers"): a learned negative slope
//! per unit.
//!
//! Shapes: x, y (B, F) where F is the number of values per sample; α (F).
//! Forward y = x if x > 0, α_j x otherwise. Backward: dα_j += Σ_B dy·x over x ≤ 0;
//! dx = dy if x > 0, α_j dy otherwise.

use serde::{Deserialize, Serialize};

use super::config::{elements, refuse_auto};
use super::{Layer, LayerConfig, LayerSpec, Mode, Param};
use crate::activations::{Activation, LEAKY_RELU_ALPHA};
use crate::init::Initializer;
use crate::tensor::Tensor;
use crate::{Result, Rng};

/// Settings of a [`PRelu`] layer (He et al. 2015).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PreluSpec {
    /// Initial slopes (Keras' default `zeros`; PyTorch starts at `{ name = "constant", value = 0.25 }`).
    pub alpha_initializer: Initializer,
    /// Whether the slopes are trained (default true).
    pub trainable: bool,
}

impl Default for PreluSpec {
    /// Keras' `PReLU()`: slopes start at zero and are trained.
    fn default() -> Self {
        PreluSpec {
            alpha_initializer: Initializer::Zeros,
            trainable: true,
        }
    }
}

crate::builder::layer_setters!(PreluSpec);
crate::builder::setters!(PreluSpec {
    alpha_initializer: Initializer,
    trainable: bool,
});

impl LayerConfig for PreluSpec {
    fn type_name(&self) -> &str {
        "prelu"
    }
    fn validate(&self) -> Result<()> {
        self.alpha_initializer.validate()
    }
    /// One slope per input value.
    fn param_count(&self, input_shape: &[usize]) -> u64 {
        elements(input_shape)
    }
    fn largest_param_tensor(&self, input_shape: &[usize]) -> u64 {
        elements(input_shape)
    }
    /// A leaky ReLU, for `auto` and the checks.
    fn applied_activation(&self) -> Option<Activation> {
        Some(Activation::LeakyRelu {
            alpha: LEAKY_RELU_ALPHA,
        })
    }
    fn resolve_auto(&mut self, _following: Option<Activation>) -> Result<()> {
        refuse_auto(
            "prelu",
            "alpha_initializer",
            self.alpha_initializer,
            "zeros or a constant",
        )
    }
    fn build(&self) -> Result<Box<dyn Layer>> {
        Ok(Box::new(PRelu::from_spec(self.clone())))
    }
}

const ALPHA: usize = 0;

/// A leaky ReLU whose slopes are trained.
pub struct PRelu {
    spec: PreluSpec,
    name: String,
    params: Vec<Param>,
}

impl PRelu {
    /// An unbuilt PReLU layer.
    pub fn from_spec(spec: PreluSpec) -> Self {
        PRelu {
            name: String::new(),
            spec,
            params: Vec::new(),
        }
    }

    /// The current slopes.
    pub fn alpha(&self) -> &Tensor {
        &self.params[ALPHA].value
    }
}

impl Layer for PRelu {
    fn name(&self) -> &str {
        &self.name
    }

    fn set_name(&mut self, name: String) {
        self.name = name;
    }

    fn class_name(&self) -> &'static str {
        "PReLU"
    }

    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let mut alpha = Param::new("alpha", input_shape);
        self.spec
            .alpha_initializer
            .fill(alpha.value.data_mut(), input_shape, rng);
        alpha.trainable = self.spec.trainable;
        self.params = vec![alpha];
        Ok(input_shape.to_vec())
    }

    fn forward(&mut self, input: &Tensor, output: &mut Tensor, _mode: Mode) {
        output.resize(input.shape());
        let alpha = self.params[ALPHA].value.data();
        let features = alpha.len();
        for (xr, yr) in input
            .data()
            .chunks_exact(features)
            .zip(output.data_mut().chunks_exact_mut(features))
        {
            for ((y, &x), &a) in yr.iter_mut().zip(xr).zip(alpha) {
                *y = if x > 0.0 { x } else { a * x };
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
        let param = &mut self.params[ALPHA];
        let features = param.value.len();
        if param.trainable {
            let da = param.grad.data_mut();
            da.fill(0.0);
            for (xr, gr) in input
                .data()
                .chunks_exact(features)
                .zip(grad_output.data().chunks_exact(features))
            {
                for ((d, &x), &g) in da.iter_mut().zip(xr).zip(gr) {
                    if x <= 0.0 {
                        *d += g * x;
                    }
                }
            }
        }
        if let Some(dx) = grad_input {
            dx.resize(input.shape());
            let alpha = param.value.data();
            for ((dxr, xr), gr) in dx
                .data_mut()
                .chunks_exact_mut(features)
                .zip(input.data().chunks_exact(features))
                .zip(grad_output.data().chunks_exact(features))
            {
                for (((d, &x), &g), &a) in dxr.iter_mut().zip(xr).zip(gr).zip(alpha) {
                    *d = if x > 0.0 { g } else { a * g };
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

    fn spec(&self) -> LayerSpec {
        let mut spec = self.spec.clone();
        spec.trainable = self.params.iter().all(|p| p.trainable);
        LayerSpec::new(spec).named(&self.name)
    }

    fn describe(&self) -> String {
        format!("alpha: {}", self.spec.alpha_initializer)
    }
}
