//! Flatten: (B, d1, d2, ...) → (B, d1·d2·...). Backward reshapes the gradient back.

use serde::{Deserialize, Serialize};

use super::{Layer, LayerConfig, LayerSpec, Mode};
use crate::tensor::Tensor;
use crate::{Result, Rng};

/// Settings of a [`Flatten`] layer: none.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlattenSpec {}

impl LayerConfig for FlattenSpec {
    fn type_name(&self) -> &str {
        "flatten"
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
    fn build(&self) -> Result<Box<dyn Layer>> {
        Ok(Box::new(Flatten::new(None)))
    }
}

/// Flattens each sample to one axis.
pub struct Flatten {
    name: String,
    input_shape: Vec<usize>,
    grad_shape: Vec<usize>,
}

impl Flatten {
    /// An unbuilt Flatten layer.
    pub fn new(name: Option<String>) -> Self {
        Flatten {
            name: name.unwrap_or_default(),
            input_shape: Vec::new(),
            grad_shape: Vec::new(),
        }
    }
}

impl Layer for Flatten {
    fn name(&self) -> &str {
        &self.name
    }

    fn set_name(&mut self, name: String) {
        self.name = name;
    }

    fn class_name(&self) -> &'static str {
        "Flatten"
    }

    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        self.input_shape = input_shape.to_vec();
        self.grad_shape = std::iter::once(0)
            .chain(input_shape.iter().copied())
            .collect();
        Ok(vec![input_shape.iter().product()])
    }

    fn forward(&mut self, input: &Tensor, output: &mut Tensor, _mode: Mode) {
        output.resize(&[input.rows(), input.row_len()]);
        output.data_mut().copy_from_slice(input.data());
    }

    fn backward(
        &mut self,
        input: &Tensor,
        _output: &Tensor,
        grad_output: &Tensor,
        grad_input: Option<&mut Tensor>,
    ) {
        if let Some(dx) = grad_input {
            self.grad_shape[0] = input.rows();
            dx.resize(&self.grad_shape);
            dx.data_mut().copy_from_slice(grad_output.data());
        }
    }

    fn spec(&self) -> LayerSpec {
        LayerSpec::new(FlattenSpec {}).named(&self.name)
    }
}
