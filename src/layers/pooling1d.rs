//! MaxPooling1D and AveragePooling1D (Keras' names and arguments) over time, channels last.
//!
//! Shapes: x (N, T, C), y (N, T', C) with T' = ⌊(T − p) / s⌋ + 1 (`valid`) or ⌈T / s⌉
//! (`same`, TensorFlow's split of the padding). Per window of real (non-padded) steps R:
//! max y = max_R x (backward routes dy to the first arg-max); average y = Σ_R x / |R|
//! (padding not counted, as `tf.nn.avg_pool1d`), dx = dy / |R|.
//!
//! It runs as a [`super::Pooling2D`] with a 1×p window on x read as (N, 1, T, C)
//! ([`super::on_sequence`]).
//!
//! Source: Keras 3 `keras.layers.MaxPooling1D` / `AveragePooling1D` (`pool_size = 2`, `strides`
//! defaulting to `pool_size`, `padding = "valid"`).

use serde::{Deserialize, Serialize};

use super::geometry::reach_fits;
use super::on_sequence::{ImageTwin, OnSequence};
use super::{Layer, LayerConfig, LayerSpec, Padding, PoolKind, Pooling2D, PoolingSpec, Size2};
use crate::{Error, Result};

/// Settings of a 1-D pooling layer (Keras' `pool_size`, `strides`, `padding`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pooling1dSpec {
    /// Steps per window (default 2).
    #[serde(default = "two")]
    pub pool_size: usize,
    /// Step between windows (default: `pool_size`, as Keras).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strides: Option<usize>,
    /// `valid` (default) or `same`.
    #[serde(default)]
    pub padding: Padding,
    /// Max or average (from the `type`: `max_pooling1d`, `average_pooling1d`).
    #[serde(skip)]
    pub kind: PoolKind,
}

fn two() -> usize {
    2
}

impl Pooling1dSpec {
    /// A window of `pool_size` steps moved by itself, `valid` padding (Keras' defaults).
    pub fn new(pool_size: usize) -> Self {
        Pooling1dSpec {
            pool_size,
            strides: None,
            padding: Padding::Valid,
            kind: PoolKind::Max,
        }
    }

    /// Sets the kind (max or average).
    #[must_use]
    pub fn kind(mut self, kind: PoolKind) -> Self {
        self.kind = kind;
        self
    }

    /// Sets the strides.
    #[must_use]
    pub fn strides(mut self, strides: usize) -> Self {
        self.strides = Some(strides);
        self
    }

    /// Sets the padding.
    #[must_use]
    pub fn padding(mut self, padding: Padding) -> Self {
        self.padding = padding;
        self
    }

    /// The strides in effect: `strides`, else `pool_size`.
    pub fn effective_strides(&self) -> usize {
        self.strides.unwrap_or(self.pool_size)
    }
}

impl From<usize> for Pooling1dSpec {
    fn from(pool_size: usize) -> Self {
        Pooling1dSpec::new(pool_size)
    }
}

impl LayerSpec {
    /// A MaxPooling1D layer: `LayerSpec::max_pooling1d(2)`, or a [`Pooling1dSpec`] for strides
    /// and padding.
    ///
    /// ```
    /// use deeptrain::layers::{Padding, Pooling1dSpec};
    /// use deeptrain::{LayerSpec, Sequential};
    /// let model = Sequential::new(&[9, 4])
    ///     .add(LayerSpec::max_pooling1d(2))
    ///     .add(LayerSpec::average_pooling1d(Pooling1dSpec::new(3).strides(1).padding(Padding::Same)))
    ///     .build(1)
    ///     .unwrap();
    /// assert_eq!(model.output_shapes(), vec![vec![4, 4], vec![4, 4]]);
    /// ```
    pub fn max_pooling1d(spec: impl Into<Pooling1dSpec>) -> Self {
        LayerSpec::new(spec.into().kind(PoolKind::Max))
    }

    /// An AveragePooling1D layer (see [`LayerSpec::max_pooling1d`]).
    pub fn average_pooling1d(spec: impl Into<Pooling1dSpec>) -> Self {
        LayerSpec::new(spec.into().kind(PoolKind::Average))
    }
}

impl LayerConfig for Pooling1dSpec {
    fn type_name(&self) -> &str {
        match self.kind {
            PoolKind::Max => "max_pooling1d",
            PoolKind::Average => "average_pooling1d",
        }
    }
    /// Refuses a zero pool size or stride, and `causal` padding.
    fn validate(&self) -> Result<()> {
        let layer = format!("{} layer", self.type_name());
        self.padding.check_not_causal(&layer)?;
        for (key, value) in [
            ("pool_size", self.pool_size),
            ("strides", self.effective_strides()),
        ] {
            if value == 0 {
                return Err(Error::Config(format!(
                    "{layer}: `{key}` must be positive, got 0"
                )));
            }
        }
        Ok(())
    }
    fn param_count(&self, _input_shape: &[usize]) -> u64 {
        0
    }
    fn largest_param_tensor(&self, _input_shape: &[usize]) -> u64 {
        0
    }
    fn build(&self) -> Result<Box<dyn Layer>> {
        Ok(Box::new(OnSequence::new(self.clone())))
    }
}

impl ImageTwin for Pooling1dSpec {
    fn class_name(&self) -> &'static str {
        match self.kind {
            PoolKind::Max => "MaxPooling1D",
            PoolKind::Average => "AveragePooling1D",
        }
    }

    fn check_steps(&self, layer: &str, steps: usize) -> Result<()> {
        if !reach_fits(steps, self.pool_size, self.effective_strides(), 1) {
            return Err(Error::Config(format!(
                "{layer}: pool_size {} spans more steps than a machine word counts; use a smaller pool_size",
                self.pool_size
            )));
        }
        if self.padding == Padding::Valid && self.pool_size > steps {
            return Err(Error::Shape(format!(
                "{layer}: pool_size {} does not fit in {steps} steps with padding \"valid\"; use a smaller pool or padding \"same\"",
                self.pool_size
            )));
        }
        Ok(())
    }

    fn twin(&self) -> Box<dyn Layer> {
        let spec = PoolingSpec {
            pool_size: Size2::new(1, self.pool_size),
            strides: Some(Size2::new(1, self.effective_strides())),
            padding: self.padding,
            kind: self.kind,
        };
        Box::new(Pooling2D::new(self.kind, spec))
    }

    fn describe(&self) -> String {
        format!(
            "pool {}, strides {}, {}",
            self.pool_size,
            self.effective_strides(),
            self.padding.name()
        )
    }
}
