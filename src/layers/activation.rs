//! Activation as a layer of its own: y = f(x); dx = dy ⊙ f'(x).
//!
//! Shapes: x and y (B, ..., F); row-wise activations (softmax) act over the last axis F.

use serde::{Deserialize, Serialize};

use super::{Layer, LayerConfig, LayerSpec, Mode};
use crate::activations::Activation;
use crate::tensor::Tensor;
use crate::{Result, Rng};

/// Settings of an [`ActivationLayer`]: `{ type = "activation", activation = "relu" }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivationSpec {
    /// The activation to apply.
    pub activation: Activation,
}

/// Settings of a leaky ReLU layer (Keras' `LeakyReLU`, default slope 0.3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LeakyReluSpec {
    /// The negative slope (Keras 3 calls it `negative_slope`).
    #[serde(alias = "negative_slope")]
    pub alpha: f32,
}

impl Default for LeakyReluSpec {
    /// Keras' `LeakyReLU()`: slope 0.3.
    fn default() -> Self {
        LeakyReluSpec { alpha: 0.3 }
    }
}

/// Settings of an ELU layer (Keras' `ELU`, default alpha 1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EluSpec {
    /// The saturation value -alpha for large negative inputs.
    pub alpha: f32,
}

impl Default for EluSpec {
    /// Keras' `ELU()`: alpha 1.
    fn default() -> Self {
        EluSpec { alpha: 1.0 }
    }
}

/// The three settings structs of an activation layer, each answering with its activation.
macro_rules! activation_config {
    ($($t:ty, $type_name:literal, |$s:ident| $activation:expr;)*) => {$(
        impl LayerConfig for $t {
            fn type_name(&self) -> &str {
                $type_name
            }
            fn validate(&self) -> Result<()> {
                Ok(())
            }
            fn param_count(&self, _input_shape: &[usize]) -> u64 {
                0
            }
            fn largest_param_tensor(&self, _input_shape: &[usize]) -> u64 {
                0
            }
            fn applied_activation(&self) -> Option<Activation> {
                let $s = self;
                Some($activation)
            }
            fn build(&self) -> Result<Box<dyn Layer>> {
                let $s = self;
                Ok(Box::new(ActivationLayer::new($activation, None)))
            }
        }
    )*};
}

activation_config! {
    ActivationSpec, "activation", |s| s.activation;
    LeakyReluSpec, "leaky_relu", |s| Activation::LeakyRelu { alpha: s.alpha };
    EluSpec, "elu", |s| Activation::Elu { alpha: s.alpha };
}

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
        let Some(dx) = grad_input else { return };
        if self.fused_output {
            dx.copy_from(grad_output);
            return;
        }
        dx.resize(grad_output.shape());
        self.activation.backward_into(
            input.data(),
            output.data(),
            grad_output.data(),
            dx.data_mut(),
            self.features,
        );
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
        let spec = match self.activation {
            Activation::LeakyRelu { alpha } => LayerSpec::new(LeakyReluSpec { alpha }),
            Activation::Elu { alpha } => LayerSpec::new(EluSpec { alpha }),
            activation => LayerSpec::new(ActivationSpec { activation }),
        };
        spec.named(&self.name)
    }

    fn describe(&self) -> String {
        self.activation.to_string()
    }
}
