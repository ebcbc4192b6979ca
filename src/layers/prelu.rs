//! Parametric ReLU (He et al. 2015, "Delving Deep into Rectifiers"): a learned negative slope
//! per unit.
//!
//! Shapes: x, y (B, F) where F is the number of values per sample; α (F).
//! Forward y = x if x > 0, α_j x otherwise. Backward: dα_j += Σ_B dy·x over x ≤ 0;
//! dx = dy if x > 0, α_j dy otherwise.

use super::{Layer, LayerSpec, Mode, Param, PreluSpec};
use crate::tensor::Tensor;
use crate::{Result, Rng};

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
            name: spec.name.clone().unwrap_or_default(),
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
        spec.name = Some(self.name.clone());
        spec.trainable = self.params.iter().all(|p| p.trainable);
        LayerSpec::Prelu(spec)
    }

    fn describe(&self) -> String {
        format!("alpha: {}", self.spec.alpha_initializer)
    }
}
