//! The layer abstraction and the layers built on it.
//!
//! Shapes: a layer sees (B, ...) tensors, B the batch; `input_shape`/`output_shape` are per
//! sample (without B). A layer owns its parameters (named, each with a trainable flag, value and
//! gradient) and its non-trainable state (e.g. batch-norm moving statistics), which is
//! saved with the parameters but never touched by an optimizer.
//!
//! Each layer's file holds its settings (a struct implementing [`LayerConfig`], with its
//! defaults), the layer, its forward and its backward. A model node is a [`LayerSpec`]
//! `{ name, inputs, config }`; one table ([`registry`]) maps every `type` name, built-in or
//! registered by user code, to its settings. The contract of forward and backward is in
//! [`Layer`].

mod activation;
mod affine;
mod batch_norm;
mod bidirectional;
mod builders;
mod config;
mod conv1d;
mod conv2d;
mod custom;
mod dense;
mod dropout;
mod embedding;
mod flatten;
mod geometry;
mod global_pooling;
mod global_pooling1d;
mod gru;
mod gru_reset_before;
mod im2col;
mod layer;
mod layer_norm;
mod lstm;
mod merge;
mod on_sequence;
mod pooling;
mod pooling1d;
mod prelu;
mod recurrent;
mod recurrent_rows;
mod recurrent_spec;
pub mod registry;
mod reshape;
mod rrelu;
mod simple_rnn;
mod spatial_dropout;
mod spec;

pub use activation::{ActivationLayer, ActivationSpec, EluSpec, LeakyReluSpec};
pub use batch_norm::{BatchNormSpec, BatchNormalization};
pub use bidirectional::{BidirectionalSpec, MergeMode, WrappedLayer};
pub use config::{Affine, ConfigObject, LayerConfig, SelfNormalization};
pub use conv1d::Conv1dSpec;
pub use conv2d::{Conv2d, Conv2dSpec};
pub use custom::{
    layer_spec_from_table, layer_spec_to_table, register_layer, serde_layers, CustomLayerSpec,
    LayerFactory,
};
pub use dense::{Dense, DenseSpec};
pub use dropout::{Dropout, DropoutKind, DropoutSpec, GaussianNoise, GaussianNoiseSpec};
pub use embedding::{Embedding, EmbeddingSpec};
pub use flatten::{Flatten, FlattenSpec};
pub use geometry::{image_shape, AxisWindow, Padding, Size2, Window2};
pub use global_pooling::{GlobalPooling2D, GlobalPoolingSpec};
pub use global_pooling1d::GlobalPooling1dSpec;
pub(crate) use layer::{mask_pass_through, random_stream};
pub use layer::{Layer, Mode, Param, State};
pub use layer_norm::{LayerNormSpec, LayerNormalization};
pub use merge::{Merge, MergeOp, MergeSpec};
pub use pooling::{PoolKind, Pooling2D, PoolingSpec};
pub use pooling1d::Pooling1dSpec;
pub use prelu::{PRelu, PreluSpec};
pub use recurrent_spec::{CellKind, RecurrentSpec};
pub use registry::{is_registered, register_layer_type};
pub use reshape::{Reshape, ReshapeSpec};
pub use rrelu::{RRelu, RreluSpec};
pub use spatial_dropout::{SpatialDropout2D, SpatialDropoutSpec};
pub use spec::LayerSpec;

/// The largest number of units a Dense layer (or filters a Conv2D layer) may have.
pub use crate::limits::MAX_UNITS;
