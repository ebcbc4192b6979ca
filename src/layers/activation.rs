//! Activation as a layer of its own: y = f(x); dx = dy ⊙ f'(x).

use super::{ActivationSpec, Layer, LayerSpec, Mode};
use crate::activations::Activation;
use crate::tensor::Tensor;
use crate::{Result, Rng};

/// Applies an activation to its input.
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
        "Activation"
    }

    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        // Row-wise activations (softmax) act over the last axis.
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
        _input: &Tensor,
        output: &Tensor,
        grad_output: &Tensor,
        grad_input: Option<&mut Tensor>,
    ) {
        if let Some(dx) = grad_input {
            dx.copy_from(grad_output);
            if !self.fused_output {
                self.activation
                    .backward_in_place(output.data(), dx.data_mut(), self.features);
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
        LayerSpec::Activation(ActivationSpec {
            activation: self.activation,
            name: Some(self.name.clone()),
        })
    }
}
