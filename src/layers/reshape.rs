//! Reshape (Keras' name): each sample's values, in order, laid out in `target_shape`.
//!
//! Shapes: x (B, ...), y (B, target_shape...) with one entry of `target_shape` allowed to be -1,
//! inferred so that the number of values is unchanged (as Keras and `numpy.reshape`).
//! Row-major data makes forward and backward plain copies.
//!
//! Source: Keras `Reshape(target_shape)`.

use serde::{Deserialize, Serialize};

use super::{Layer, LayerConfig, LayerSpec, Mode};
use crate::tensor::Tensor;
use crate::{Error, Result, Rng};

crate::builder::layer_setters!(ReshapeSpec);

/// Settings of a [`Reshape`] layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReshapeSpec {
    /// The per-sample output shape; one entry may be -1 (inferred).
    pub target_shape: Vec<i64>,
}

impl LayerConfig for ReshapeSpec {
    fn type_name(&self) -> &str {
        "reshape"
    }
    fn param_count(&self, _input_shape: &[usize]) -> u64 {
        0
    }
    fn largest_param_tensor(&self, _input_shape: &[usize]) -> u64 {
        0
    }
    fn build(&self) -> Result<Box<dyn Layer>> {
        Ok(Box::new(Reshape::new(self.clone())))
    }
    /// Refuses an empty shape, entries below 1 other than one -1.
    fn validate(&self) -> Result<()> {
        let unknown = self.target_shape.iter().filter(|&&d| d == -1).count();
        if self.target_shape.is_empty()
            || unknown > 1
            || self.target_shape.iter().any(|&d| d == 0 || d < -1)
        {
            return Err(Error::Config(format!(
                "reshape layer: `target_shape` must be a non-empty list of positive sizes with at most one -1, got {:?}",
                self.target_shape
            )));
        }
        Ok(())
    }
}

impl LayerSpec {
    /// A Reshape layer to `target_shape` per sample (one entry may be -1, inferred).
    ///
    /// ```
    /// use deeptrain::{LayerSpec, Sequential};
    /// let model = Sequential::new(&[12])
    ///     .add(LayerSpec::reshape(&[2, -1, 3]))
    ///     .build(1)
    ///     .unwrap();
    /// assert_eq!(model.output_shapes().last().unwrap(), &[2, 2, 3]);
    /// ```
    pub fn reshape(target_shape: &[i64]) -> Self {
        LayerSpec::new(ReshapeSpec {
            target_shape: target_shape.to_vec(),
        })
    }
}

/// Lays each sample out in a new shape.
pub struct Reshape {
    spec: ReshapeSpec,
    name: String,
    /// (0, target...): the output shape with the batch written in forward.
    output_shape: Vec<usize>,
}

impl Reshape {
    /// An unbuilt Reshape layer.
    pub fn new(spec: ReshapeSpec) -> Self {
        Reshape {
            name: String::new(),
            spec,
            output_shape: Vec::new(),
        }
    }
}

/// `target` with its -1 resolved for `values` values, or `None` when the sizes cannot match.
fn resolve(target: &[i64], values: usize) -> Option<Vec<usize>> {
    let known = target
        .iter()
        .filter(|&&d| d != -1)
        .try_fold(1usize, |a, &d| a.checked_mul(usize::try_from(d).ok()?))?;
    let shape: Vec<usize> = target
        .iter()
        .map(|&d| match d {
            -1 => (known > 0 && values % known == 0).then(|| values / known),
            d => usize::try_from(d).ok(),
        })
        .collect::<Option<_>>()?;
    (shape.iter().product::<usize>() == values).then_some(shape)
}

impl Layer for Reshape {
    fn name(&self) -> &str {
        &self.name
    }

    fn set_name(&mut self, name: String) {
        self.name = name;
    }

    fn class_name(&self) -> &'static str {
        "Reshape"
    }

    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        self.spec.validate()?;
        let values: usize = input_shape.iter().product();
        let shape = resolve(&self.spec.target_shape, values).ok_or_else(|| {
            Error::Shape(format!(
                "reshape layer `{}`: cannot reshape an input of shape {input_shape:?} ({values} values) into target_shape {:?}",
                self.name, self.spec.target_shape
            ))
        })?;
        self.output_shape = std::iter::once(0).chain(shape.iter().copied()).collect();
        Ok(shape)
    }

    fn forward(&mut self, input: &Tensor, output: &mut Tensor, _mode: Mode) {
        self.output_shape[0] = input.rows();
        output.resize(&self.output_shape);
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
            dx.resize(input.shape());
            dx.data_mut().copy_from_slice(grad_output.data());
        }
    }

    fn spec(&self) -> LayerSpec {
        LayerSpec::new(self.spec.clone()).named(&self.name)
    }

    fn describe(&self) -> String {
        format!("target_shape {:?}", self.spec.target_shape)
    }
}

#[cfg(test)]
mod tests {
    use super::resolve;

    #[test]
    fn minus_one_is_inferred_and_mismatches_are_refused() {
        assert_eq!(resolve(&[2, -1, 3], 12), Some(vec![2, 2, 3]));
        assert_eq!(resolve(&[4, 3], 12), Some(vec![4, 3]));
        assert_eq!(resolve(&[5, -1], 12), None);
        assert_eq!(resolve(&[5, 2], 12), None);
    }
}
