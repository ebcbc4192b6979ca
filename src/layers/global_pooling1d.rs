//! GlobalAveragePooling1D and GlobalMaxPooling1D (Keras' names) over time, channels last.
//!
//! Shapes: x (N, T, C); y (N, C), or (N, 1, C) with `keepdims`. Average: y = Σ_t x / T,
//! dx = dy / T. Max: y = max_t x; backward routes dy to the first arg-max.
//!
//! It runs as a [`super::GlobalPooling2D`] on x read as (N, 1, T, C)
//! ([`super::on_sequence`]).
//!
//! Source: Keras 3 `keras.layers.GlobalAveragePooling1D` / `GlobalMaxPooling1D`
//! (`ops.mean` / `ops.max` over the steps axis).

use serde::{Deserialize, Serialize};

use super::on_sequence::{ImageTwin, OnSequence};
use super::{GlobalPooling2D, GlobalPoolingSpec, Layer, LayerConfig, LayerSpec, PoolKind};
use crate::Result;

/// Settings of a 1-D global pooling layer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalPooling1dSpec {
    /// Keep the steps axis as (1, C) instead of (C) (Keras' `keepdims`, default false).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keepdims: bool,
    /// Max or average (from the `type`).
    #[serde(skip)]
    pub kind: PoolKind,
}

impl GlobalPooling1dSpec {
    /// Sets the kind (max or average).
    #[must_use]
    pub fn kind(mut self, kind: PoolKind) -> Self {
        self.kind = kind;
        self
    }
}

crate::builder::setters!(GlobalPooling1dSpec { keepdims: bool });
crate::builder::layer_setters!(GlobalPooling1dSpec);

impl LayerSpec {
    /// A GlobalAveragePooling1D layer: (T, C) → (C), the mean of each channel over time.
    ///
    /// ```
    /// use deeptrain::{LayerSpec, Sequential};
    /// let model = Sequential::new(&[7, 3])
    ///     .add(LayerSpec::global_average_pooling1d())
    ///     .build(1)
    ///     .unwrap();
    /// assert_eq!(model.output_shapes().last().unwrap(), &[3]);
    /// ```
    pub fn global_average_pooling1d() -> Self {
        LayerSpec::new(GlobalPooling1dSpec::default().kind(PoolKind::Average))
    }

    /// A GlobalMaxPooling1D layer: (T, C) → (C), the largest value of each channel.
    pub fn global_max_pooling1d() -> Self {
        LayerSpec::new(GlobalPooling1dSpec::default().kind(PoolKind::Max))
    }
}

impl LayerConfig for GlobalPooling1dSpec {
    fn type_name(&self) -> &str {
        match self.kind {
            PoolKind::Max => "global_max_pooling1d",
            PoolKind::Average => "global_average_pooling1d",
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
        Ok(Box::new(OnSequence::new(self.clone())))
    }
}

impl ImageTwin for GlobalPooling1dSpec {
    fn class_name(&self) -> &'static str {
        match self.kind {
            PoolKind::Max => "GlobalMaxPooling1D",
            PoolKind::Average => "GlobalAveragePooling1D",
        }
    }

    fn check_steps(&self, _layer: &str, _steps: usize) -> Result<()> {
        Ok(())
    }

    fn twin(&self) -> Box<dyn Layer> {
        let spec = GlobalPoolingSpec {
            keepdims: self.keepdims,
            kind: self.kind,
        };
        Box::new(GlobalPooling2D::new(self.kind, spec))
    }

    fn describe(&self) -> String {
        String::new()
    }
}
