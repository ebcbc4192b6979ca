//! GlobalAveragePooling2D and GlobalMaxPooling2D (Keras' names), channels last.
//!
//! Shapes: x (B, H, W, C) or (B, H, W) taken as one channel; y (B, C), or (B, 1, 1, C) with
//! `keepdims`. Average: y = Σ_{h,w} x / (H·W), dx = dy / (H·W). Max: y = max_{h,w} x; backward
//! routes dy to the first arg-max recorded in forward.
//!
//! Source: Keras `GlobalAveragePooling2D` / `GlobalMaxPooling2D` (`tf.reduce_mean` / `tf.reduce_max`
//! over axes 1 and 2).

use serde::{Deserialize, Serialize};

use super::geometry::image_shape;
use super::{Layer, LayerConfig, LayerSpec, Mode, PoolKind};
use crate::tensor::Tensor;
use crate::{Error, Result, Rng};

crate::builder::setters!(GlobalPoolingSpec { keepdims: bool });

/// Settings of a [`GlobalPooling2D`] layer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalPoolingSpec {
    /// Keep the spatial axes as (1, 1, C) instead of (C) (Keras' `keepdims`, default false).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keepdims: bool,
    /// Max or average (from the `type`).
    #[serde(skip)]
    pub kind: PoolKind,
}

impl GlobalPoolingSpec {
    /// Sets the kind (max or average).
    #[must_use]
    pub fn kind(mut self, kind: PoolKind) -> Self {
        self.kind = kind;
        self
    }
}

crate::builder::layer_setters!(GlobalPoolingSpec);

impl LayerConfig for GlobalPoolingSpec {
    fn type_name(&self) -> &str {
        match self.kind {
            PoolKind::Max => "global_max_pooling2d",
            PoolKind::Average => "global_average_pooling2d",
        }
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
        Ok(Box::new(GlobalPooling2D::new(self.kind, self.clone())))
    }
}

impl LayerSpec {
    /// A GlobalAveragePooling2D layer: (H, W, C) → (C), the mean of each channel.
    ///
    /// ```
    /// use deeptrain::{LayerSpec, Sequential};
    /// let model = Sequential::new(&[5, 4, 3])
    ///     .add(LayerSpec::global_average_pooling2d())
    ///     .build(1)
    ///     .unwrap();
    /// assert_eq!(model.output_shapes().last().unwrap(), &[3]);
    /// ```
    pub fn global_average_pooling2d() -> Self {
        LayerSpec::new(GlobalPoolingSpec::default().kind(PoolKind::Average))
    }

    /// A GlobalMaxPooling2D layer: (H, W, C) → (C), the largest value of each channel.
    pub fn global_max_pooling2d() -> Self {
        LayerSpec::new(GlobalPoolingSpec::default().kind(PoolKind::Max))
    }
}

/// Pooling over the whole (H, W) grid, per channel.
pub struct GlobalPooling2D {
    kind: PoolKind,
    spec: GlobalPoolingSpec,
    name: String,
    /// H·W.
    positions: usize,
    channels: usize,
    /// (0, C) or (0, 1, 1, C): the output shape with the batch written in forward.
    output_shape: Vec<usize>,
    /// Max: per output value, the flat index into the input of its arg-max (reused buffer).
    argmax: Vec<usize>,
}

impl GlobalPooling2D {
    /// An unbuilt global pooling layer.
    pub fn new(kind: PoolKind, spec: GlobalPoolingSpec) -> Self {
        GlobalPooling2D {
            kind,
            name: String::new(),
            spec,
            positions: 0,
            channels: 0,
            output_shape: Vec::new(),
            argmax: Vec::new(),
        }
    }
}

impl Layer for GlobalPooling2D {
    fn name(&self) -> &str {
        &self.name
    }

    fn set_name(&mut self, name: String) {
        self.name = name;
    }

    fn class_name(&self) -> &'static str {
        match self.kind {
            PoolKind::Max => "GlobalMaxPooling2D",
            PoolKind::Average => "GlobalAveragePooling2D",
        }
    }

    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        let base = match self.kind {
            PoolKind::Max => "global_max_pooling2d",
            PoolKind::Average => "global_average_pooling2d",
        };
        let label = format!("{base} layer `{}`", self.name);
        let (h, w, c) = image_shape(&label, input_shape)?;
        if input_shape.contains(&0) {
            return Err(Error::Shape(format!(
                "{label}: expects a non-empty image, got {input_shape:?}"
            )));
        }
        self.positions = h * w;
        self.channels = c;
        let shape = if self.spec.keepdims {
            vec![1, 1, c]
        } else {
            vec![c]
        };
        self.output_shape = std::iter::once(0).chain(shape.iter().copied()).collect();
        Ok(shape)
    }

    fn forward(&mut self, input: &Tensor, output: &mut Tensor, _mode: Mode) {
        let batch = input.rows();
        self.output_shape[0] = batch;
        output.resize(&self.output_shape);
        let c = self.channels;
        let in_len = input.row_len();
        let x = input.data();
        let y = output.data_mut();
        if self.kind == PoolKind::Max {
            self.argmax.resize(batch * c, 0);
        }
        for n in 0..batch {
            let out = &mut y[n * c..(n + 1) * c];
            let sample = &x[n * in_len..(n + 1) * in_len];
            match self.kind {
                PoolKind::Max => {
                    let idx = &mut self.argmax[n * c..(n + 1) * c];
                    out.copy_from_slice(&sample[..c]);
                    idx.iter_mut()
                        .enumerate()
                        .for_each(|(k, i)| *i = n * in_len + k);
                    for (p, src) in sample.chunks_exact(c).enumerate().skip(1) {
                        for k in 0..c {
                            // Strict: the first maximum wins a tie.
                            if src[k] > out[k] {
                                out[k] = src[k];
                                idx[k] = n * in_len + p * c + k;
                            }
                        }
                    }
                }
                PoolKind::Average => {
                    out.fill(0.0);
                    for src in sample.chunks_exact(c) {
                        out.iter_mut().zip(src).for_each(|(o, v)| *o += v);
                    }
                    let count = self.positions as f32;
                    out.iter_mut().for_each(|o| *o /= count);
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
        let dy = grad_output.data();
        let c = self.channels;
        match self.kind {
            PoolKind::Max => {
                dx.resize_zeroed(input.shape());
                let d = dx.data_mut();
                for (&i, &g) in self.argmax.iter().zip(dy) {
                    d[i] += g;
                }
            }
            PoolKind::Average => {
                dx.resize(input.shape());
                let in_len = input.row_len();
                let count = self.positions as f32;
                for (n, sample) in dx.data_mut().chunks_exact_mut(in_len).enumerate() {
                    let g = &dy[n * c..(n + 1) * c];
                    for dst in sample.chunks_exact_mut(c) {
                        dst.iter_mut().zip(g).for_each(|(o, g)| *o = g / count);
                    }
                }
            }
        }
    }

    fn spec(&self) -> LayerSpec {
        LayerSpec::new(self.spec.clone().kind(self.kind)).named(&self.name)
    }
}
