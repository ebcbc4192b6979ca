//! Activation as a layer of its own: y = f(x); dx = dy ⊙ f'(x).
//!
//! Shapes: x and y (B, ..., F); row-wise activations (softmax) act over the last axis F.

use super::{ActivationSpec, EluSpec, Layer, LayerSpec, LeakyReluSpec, Mode};
use crate::activations::Activation;
use crate::tensor::Tensor;
use crate::{Result, Rng};

/// Applies an activation to its input (also the `leaky_relu` and `elu` layer types).
pub struct ActivationLayer {
    activation: Activation,
    name: String,
    features: usize,
    fused_output: bool,
    logits: Tensor,
}

impl ActivationLayer {
    /// An unbuilt activation layer.
    pub fn new(activation: Activation, name: Option<String>) -> Self {
        ActivationLayer {
            activation,
            name: name.unwrap_or_default(),
            features: 0,
            fused_output: false,
            logits: Tensor::default(),
        }
    }
}

impl Layer for ActivationLayer {
    fn name(&self) -> &str {
        &self.name
    }

    fn set_name(&mut self, name: String) {
        self.name = name;
    }

    fn class_name(&self) -> &'static str {
        match self.activation {
            Activation::LeakyRelu { .. } => "LeakyReLU",
            Activation::Elu { .. } => "ELU",
            _ => "Activation",
        }
    }

    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        self.features = input_shape.last().copied().unwrap_or(1);
        Ok(input_shape.to_vec())
    }

    fn forward(&mut self, input: &Tensor, output: &mut Tensor, _mode: Mode) {
        output.copy_from(input);
        if self.fused_output {
            self.logits.copy_from(input);
        }
        self.activation
            .forward_in_place(output.data_mut(), self.features);
    }

    fn backward(
        &mut self,
        input: &Tensor,
        output: &Tensor,
        grad_output: &Tensor,
        grad_input: Option<&mut Tensor>,
    ) {
        if let Some(dx) = grad_input {
            dx.copy_from(grad_output);
            if !self.fused_output {
                self.activation.backward_in_place(
                    input.data(),
                    output.data(),
                    dx.data_mut(),
                    self.features,
                );
            }
        }
    }

    fn output_activation(&self) -> Activation {
        self.activation
    }

    fn set_fused_output(&mut self, fused: bool) -> bool {
        if self.activation == Activation::Linear && fused {
            return false;
        }
        self.fused_output = fused;
        true
    }

    fn logits(&self) -> Option<&Tensor> {
        self.fused_output.then_some(&self.logits)
    }

    fn spec(&self) -> LayerSpec {
        let name = Some(self.name.clone());
        match self.activation {
            Activation::LeakyRelu { alpha } => LayerSpec::LeakyRelu(LeakyReluSpec {
                alpha,
                name,
                inputs: None,
            }),
            Activation::Elu { alpha } => LayerSpec::Elu(EluSpec {
                alpha,
                name,
                inputs: None,
            }),
            activation => LayerSpec::Activation(ActivationSpec {
                activation,
                name,
                inputs: None,
            }),
        }
    }

    fn describe(&self) -> String {
        self.activation.to_string()
    }
}
