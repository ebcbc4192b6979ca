//! Merge layers: several inputs of one shape combined element-wise (add, subtract, multiply,
//! average), or joined along the last axis (concatenate). As Keras' `keras.layers.Add` etc.,
//! without broadcasting: the shapes must agree.
//!
//! Shapes: inputs x_k (B, ..., C_k), output y. Element-wise: all x_k (B, ..., C), y (B, ..., C);
//! concatenate: y (B, ..., Σ C_k).
//! Forward / backward, with dy = dL/dy:
//! - add: y = Σ x_k, dx_k = dy; average: y = Σ x_k / n, dx_k = dy / n
//! - subtract: y = x_1 − x_2, dx_1 = dy, dx_2 = −dy
//! - multiply: y = Π x_k, dx_k = dy · Π_{j≠k} x_j
//! - concatenate: y's last axis holds x_1's values, then x_2's, ...; dx_k is dy's slice.

use serde::{Deserialize, Serialize};

use super::{Layer, LayerConfig, LayerSpec, Mode, SelfNormalization};
use crate::tensor::Tensor;
use crate::{Error, Result, Rng};

/// Settings of a merge layer ([`Merge`]): only its operation, given by its `type` (`add`,
/// `subtract`, `multiply`, `average`, `concatenate`); no keys of its own.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergeSpec {
    /// The operation (from the `type`).
    #[serde(skip)]
    pub op: MergeOp,
}

impl MergeSpec {
    /// The settings of a merge by `op`.
    #[must_use]
    pub fn op(mut self, op: MergeOp) -> Self {
        self.op = op;
        self
    }
}

impl LayerConfig for MergeSpec {
    fn type_name(&self) -> &str {
        self.op.type_name()
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
        Ok(Box::new(Merge::new(self.op, None)))
    }
    /// A merge joins branches: `auto` does not look past it.
    fn ends_auto_search(&self) -> bool {
        true
    }
    fn self_normalization(&self) -> SelfNormalization {
        SelfNormalization::MergesBranches
    }
}

/// The operation a [`Merge`] layer applies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MergeOp {
    /// Σ x_k.
    #[default]
    Add,
    /// x_1 − x_2.
    Subtract,
    /// Π x_k.
    Multiply,
    /// Σ x_k / n.
    Average,
    /// The inputs side by side along the last axis.
    Concatenate,
}

impl MergeOp {
    /// The `type` name in a spec.
    pub fn type_name(self) -> &'static str {
        match self {
            MergeOp::Add => "add",
            MergeOp::Subtract => "subtract",
            MergeOp::Multiply => "multiply",
            MergeOp::Average => "average",
            MergeOp::Concatenate => "concatenate",
        }
    }

    fn class_name(self) -> &'static str {
        match self {
            MergeOp::Add => "Add",
            MergeOp::Subtract => "Subtract",
            MergeOp::Multiply => "Multiply",
            MergeOp::Average => "Average",
            MergeOp::Concatenate => "Concatenate",
        }
    }
}

/// A parameter-free layer that merges its inputs.
pub struct Merge {
    op: MergeOp,
    name: String,
    /// Per input, the size of its last axis (concatenate).
    widths: Vec<usize>,
    /// Per sample, the output shape.
    output_shape: Vec<usize>,
}

impl Merge {
    /// An unbuilt merge layer.
    pub fn new(op: MergeOp, name: Option<String>) -> Self {
        Merge {
            op,
            name: name.unwrap_or_default(),
            widths: Vec::new(),
            output_shape: Vec::new(),
        }
    }

    /// The operation.
    pub fn op(&self) -> MergeOp {
        self.op
    }
}

impl Layer for Merge {
    fn name(&self) -> &str {
        &self.name
    }

    fn set_name(&mut self, name: String) {
        self.name = name;
    }

    fn class_name(&self) -> &'static str {
        self.op.class_name()
    }

    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        self.build_many(&[input_shape], rng)
    }

    fn build_many(&mut self, shapes: &[&[usize]], _rng: &mut Rng) -> Result<Vec<usize>> {
        let wanted = if self.op == MergeOp::Subtract {
            "exactly 2"
        } else {
            "at least 2"
        };
        if shapes.len() < 2 || (self.op == MergeOp::Subtract && shapes.len() != 2) {
            return Err(Error::Shape(format!(
                "merge layer `{}` ({}) takes {wanted} inputs, got {}",
                self.name,
                self.op.class_name(),
                shapes.len()
            )));
        }
        let first = shapes[0];
        let agree = |s: &[usize]| match self.op {
            MergeOp::Concatenate => {
                s.len() == first.len()
                    && !s.is_empty()
                    && s[..s.len() - 1] == first[..first.len() - 1]
            }
            _ => s == first,
        };
        if let Some(bad) = shapes.iter().find(|s| !agree(s)) {
            let what = if self.op == MergeOp::Concatenate {
                "all axes but the last must agree"
            } else {
                "the shapes must be equal"
            };
            return Err(Error::Shape(format!(
                "merge layer `{}` ({}): inputs of shapes {first:?} and {bad:?} do not fit ({what})",
                self.name,
                self.op.class_name()
            )));
        }
        self.widths = shapes.iter().map(|s| *s.last().unwrap_or(&1)).collect();
        let mut out = first.to_vec();
        if self.op == MergeOp::Concatenate {
            if let Some(last) = out.last_mut() {
                *last = self.widths.iter().sum();
            }
        }
        self.output_shape = out.clone();
        Ok(out)
    }

    fn forward(&mut self, input: &Tensor, output: &mut Tensor, mode: Mode) {
        self.forward_many(&[input], output, mode)
    }

    fn forward_many(&mut self, inputs: &[&Tensor], output: &mut Tensor, _mode: Mode) {
        let first = inputs[0];
        match self.op {
            MergeOp::Concatenate => {
                let width: usize = self.widths.iter().sum();
                let rows = first.len() / self.widths[0].max(1);
                output.resize_last_axis(first.shape(), width);
                let out = output.data_mut();
                let mut offset = 0;
                for (x, &w) in inputs.iter().zip(&self.widths) {
                    for r in 0..rows {
                        out[r * width + offset..r * width + offset + w]
                            .copy_from_slice(&x.data()[r * w..(r + 1) * w]);
                    }
                    offset += w;
                }
            }
            op => {
                output.resize(first.shape());
                let out = output.data_mut();
                out.copy_from_slice(first.data());
                for x in &inputs[1..] {
                    let x = x.data();
                    match op {
                        MergeOp::Add | MergeOp::Average => {
                            out.iter_mut().zip(x).for_each(|(o, v)| *o += v)
                        }
                        MergeOp::Subtract => out.iter_mut().zip(x).for_each(|(o, v)| *o -= v),
                        MergeOp::Multiply => out.iter_mut().zip(x).for_each(|(o, v)| *o *= v),
                        MergeOp::Concatenate => unreachable!("handled above"),
                    }
                }
                if op == MergeOp::Average {
                    let scale = 1.0 / inputs.len() as f32;
                    out.iter_mut().for_each(|o| *o *= scale);
                }
            }
        }
    }

    fn backward(
        &mut self,
        input: &Tensor,
        output: &Tensor,
        grad_output: &Tensor,
        grad_input: Option<&mut Tensor>,
    ) {
        self.backward_many(&[input], output, grad_output, &mut [grad_input])
    }

    fn backward_many(
        &mut self,
        inputs: &[&Tensor],
        _output: &Tensor,
        grad_output: &Tensor,
        grad_inputs: &mut [Option<&mut Tensor>],
    ) {
        let dy = grad_output.data();
        let n = inputs.len();
        let width: usize = self.widths.iter().sum();
        let mut offset = 0;
        for k in 0..n {
            let w = self.widths.get(k).copied().unwrap_or(0);
            let Some(dx) = grad_inputs[k].as_deref_mut() else {
                offset += w;
                continue;
            };
            dx.resize(inputs[k].shape());
            let out = dx.data_mut();
            match self.op {
                MergeOp::Add => out.copy_from_slice(dy),
                MergeOp::Average => {
                    let scale = 1.0 / n as f32;
                    out.iter_mut().zip(dy).for_each(|(o, g)| *o = g * scale);
                }
                MergeOp::Subtract => {
                    if k == 0 {
                        out.copy_from_slice(dy)
                    } else {
                        out.iter_mut().zip(dy).for_each(|(o, g)| *o = -g)
                    }
                }
                MergeOp::Multiply => {
                    out.copy_from_slice(dy);
                    let others = inputs.iter().enumerate().filter(|&(j, _)| j != k);
                    for (_, x) in others {
                        out.iter_mut().zip(x.data()).for_each(|(o, v)| *o *= v);
                    }
                }
                MergeOp::Concatenate => {
                    let rows = out.len() / w.max(1);
                    for r in 0..rows {
                        out[r * w..(r + 1) * w]
                            .copy_from_slice(&dy[r * width + offset..r * width + offset + w]);
                    }
                }
            }
            offset += w;
        }
    }

    fn spec(&self) -> LayerSpec {
        LayerSpec::new(MergeSpec { op: self.op }).named(&self.name)
    }
}
