//! Builders for every built-in layer: a constructor on [`LayerSpec`] per layer type (Keras'
//! class, snake_case) and chained setters on each settings struct, one per spec key.
//!
//! ```
//! use deeptrain::layers::{BatchNormSpec, PreluSpec};
//! use deeptrain::{Activation, DenseSpec, Initializer, LayerSpec, Sequential};
//! use deeptrain::regularizers::Regularizer;
//!
//! # fn main() -> deeptrain::Result<()> {
//! let model = Sequential::new(&[8, 8])
//!     .add(LayerSpec::flatten())
//!     .add(
//!         DenseSpec::new(64)
//!             .use_bias(false)
//!             .kernel_initializer(Initializer::HE_NORMAL)
//!             .kernel_regularizer(Regularizer::l2(1e-4)),
//!     )
//!     .add(BatchNormSpec::default().momentum(0.9))
//!     .add(PreluSpec::default())
//!     .add(LayerSpec::dropout(0.2))
//!     .add(DenseSpec::new(10).activation(Activation::Softmax))
//!     .build(42)?;
//! assert_eq!(model.layers().len(), 6);
//! # Ok(())
//! # }
//! ```

use super::{
    ActivationSpec, BatchNormSpec, DenseSpec, DropoutKind, DropoutSpec, EluSpec, FlattenSpec,
    GaussianNoiseSpec, LayerSpec, LeakyReluSpec, MergeOp, MergeSpec, PreluSpec, RreluSpec,
};
use crate::activations::Activation;
use crate::builder::{layer_setters, setters};

layer_setters!(FlattenSpec, ActivationSpec, LeakyReluSpec, EluSpec);
setters!(LeakyReluSpec { alpha: f32 });
setters!(EluSpec { alpha: f32 });

impl LayerSpec {
    /// A Dense layer of `units` with Keras' defaults (shorthand for [`DenseSpec::new`]).
    pub fn dense(units: usize) -> Self {
        DenseSpec::new(units).into()
    }

    /// A Flatten layer.
    pub fn flatten() -> Self {
        FlattenSpec {}.into()
    }

    /// An Activation layer.
    pub fn activation(activation: Activation) -> Self {
        ActivationSpec { activation }.into()
    }

    /// A leaky ReLU layer with negative slope `alpha`.
    pub fn leaky_relu(alpha: f32) -> Self {
        LeakyReluSpec { alpha }.into()
    }

    /// An ELU layer with saturation `-alpha`.
    pub fn elu(alpha: f32) -> Self {
        EluSpec { alpha }.into()
    }

    /// A PReLU layer with Keras' defaults.
    pub fn prelu() -> Self {
        PreluSpec::default().into()
    }

    /// A randomized leaky ReLU with slopes drawn from [`lower`, `upper`] in training.
    pub fn rrelu(lower: f32, upper: f32) -> Self {
        RreluSpec { lower, upper }.into()
    }

    /// Batch normalization with Keras' defaults (momentum 0.99, epsilon 1e-3).
    pub fn batch_normalization() -> Self {
        BatchNormSpec::default().into()
    }

    /// Inverted dropout of a fraction `rate` of the values in training.
    pub fn dropout(rate: f32) -> Self {
        DropoutSpec::new(rate).into()
    }

    /// Alpha dropout (keeps SELU's self-normalization) of a fraction `rate` in training.
    pub fn alpha_dropout(rate: f32) -> Self {
        DropoutSpec::new(rate).kind(DropoutKind::Alpha).into()
    }

    /// Additive Gaussian noise of standard deviation `stddev` in training.
    pub fn gaussian_noise(stddev: f32) -> Self {
        GaussianNoiseSpec { stddev }.into()
    }

    /// A merge layer by `op` over `inputs`.
    pub fn merge(op: MergeOp, inputs: &[&str]) -> Self {
        LayerSpec::new(MergeSpec { op }).reads(inputs)
    }

    /// An Add layer over `inputs`: their element-wise sum (a residual connection).
    pub fn add(inputs: &[&str]) -> Self {
        LayerSpec::merge(MergeOp::Add, inputs)
    }

    /// A Subtract layer: its first input minus its second.
    pub fn subtract(inputs: &[&str]) -> Self {
        LayerSpec::merge(MergeOp::Subtract, inputs)
    }

    /// A Multiply layer over `inputs`: their element-wise product.
    pub fn multiply(inputs: &[&str]) -> Self {
        LayerSpec::merge(MergeOp::Multiply, inputs)
    }

    /// An Average layer over `inputs`: their element-wise mean.
    pub fn average(inputs: &[&str]) -> Self {
        LayerSpec::merge(MergeOp::Average, inputs)
    }

    /// A Concatenate layer: `inputs` side by side along the last axis.
    pub fn concatenate(inputs: &[&str]) -> Self {
        LayerSpec::merge(MergeOp::Concatenate, inputs)
    }
}
