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
    ActivationSpec, BatchNormSpec, DenseSpec, DropoutSpec, EluSpec, FlattenSpec, GaussianNoiseSpec,
    LayerSpec, LeakyReluSpec, MergeSpec, PreluSpec, RreluSpec,
};
use crate::activations::Activation;
use crate::builder::{layer_setters, setters};
use crate::init::Initializer;
use crate::regularizers::{Constraint, Regularizer};

layer_setters!(
    DenseSpec => Dense,
    FlattenSpec => Flatten,
    ActivationSpec => Activation,
    LeakyReluSpec => LeakyRelu,
    EluSpec => Elu,
    PreluSpec => Prelu,
    RreluSpec => Rrelu,
    BatchNormSpec => BatchNormalization,
    GaussianNoiseSpec => GaussianNoise,
);

setters!(DenseSpec {
    activation: Activation,
    use_bias: bool,
    kernel_initializer: Initializer,
    bias_initializer: Initializer,
    trainable: bool,
} optional {
    kernel_regularizer: Regularizer,
    bias_regularizer: Regularizer,
    kernel_constraint: Constraint,
});
setters!(BatchNormSpec {
    momentum: f32,
    epsilon: f32,
    center: bool,
    scale: bool,
    trainable: bool,
});
setters!(LeakyReluSpec { alpha: f32 });
setters!(EluSpec { alpha: f32 });
setters!(PreluSpec {
    alpha_initializer: Initializer,
    trainable: bool,
});
setters!(RreluSpec {
    lower: f32,
    upper: f32,
});

impl Default for LeakyReluSpec {
    /// Keras' `LeakyReLU()`: slope 0.3.
    fn default() -> Self {
        LeakyReluSpec {
            alpha: 0.3,
            name: None,
            inputs: None,
        }
    }
}

impl Default for EluSpec {
    /// Keras' `ELU()`: alpha 1.
    fn default() -> Self {
        EluSpec {
            alpha: 1.0,
            name: None,
            inputs: None,
        }
    }
}

impl Default for PreluSpec {
    /// Keras' `PReLU()`: slopes start at zero and are trained.
    fn default() -> Self {
        PreluSpec {
            alpha_initializer: Initializer::Zeros,
            name: None,
            inputs: None,
            trainable: true,
        }
    }
}

impl Default for RreluSpec {
    /// PyTorch's `RReLU()`: slopes drawn from [1/8, 1/3].
    fn default() -> Self {
        RreluSpec {
            lower: 1.0 / 8.0,
            upper: 1.0 / 3.0,
            name: None,
            inputs: None,
        }
    }
}

impl LayerSpec {
    /// A Dense layer of `units` with Keras' defaults (shorthand for [`DenseSpec::new`]).
    pub fn dense(units: usize) -> Self {
        DenseSpec::new(units).into()
    }

    /// A Flatten layer.
    pub fn flatten() -> Self {
        LayerSpec::Flatten(FlattenSpec::default())
    }

    /// An Activation layer.
    pub fn activation(activation: Activation) -> Self {
        LayerSpec::Activation(ActivationSpec {
            activation,
            name: None,
            inputs: None,
        })
    }

    /// A leaky ReLU layer with negative slope `alpha`.
    pub fn leaky_relu(alpha: f32) -> Self {
        LeakyReluSpec::default().alpha(alpha).into()
    }

    /// An ELU layer with saturation `-alpha`.
    pub fn elu(alpha: f32) -> Self {
        EluSpec::default().alpha(alpha).into()
    }

    /// A PReLU layer with Keras' defaults.
    pub fn prelu() -> Self {
        PreluSpec::default().into()
    }

    /// A randomized leaky ReLU with slopes drawn from [`lower`, `upper`] in training.
    pub fn rrelu(lower: f32, upper: f32) -> Self {
        RreluSpec::default().lower(lower).upper(upper).into()
    }

    /// Batch normalization with Keras' defaults (momentum 0.99, epsilon 1e-3).
    pub fn batch_normalization() -> Self {
        BatchNormSpec::default().into()
    }

    /// Inverted dropout of a fraction `rate` of the values in training.
    pub fn dropout(rate: f32) -> Self {
        LayerSpec::Dropout(DropoutSpec {
            rate,
            name: None,
            inputs: None,
        })
    }

    /// Alpha dropout (keeps SELU's self-normalization) of a fraction `rate` in training.
    pub fn alpha_dropout(rate: f32) -> Self {
        LayerSpec::AlphaDropout(DropoutSpec {
            rate,
            name: None,
            inputs: None,
        })
    }

    /// Additive Gaussian noise of standard deviation `stddev` in training.
    pub fn gaussian_noise(stddev: f32) -> Self {
        GaussianNoiseSpec {
            stddev,
            name: None,
            inputs: None,
        }
        .into()
    }

    /// An Add layer over `inputs`: their element-wise sum (a residual connection).
    pub fn add(inputs: &[&str]) -> Self {
        LayerSpec::Add(MergeSpec::default()).reads(inputs)
    }

    /// A Subtract layer: its first input minus its second.
    pub fn subtract(inputs: &[&str]) -> Self {
        LayerSpec::Subtract(MergeSpec::default()).reads(inputs)
    }

    /// A Multiply layer over `inputs`: their element-wise product.
    pub fn multiply(inputs: &[&str]) -> Self {
        LayerSpec::Multiply(MergeSpec::default()).reads(inputs)
    }

    /// An Average layer over `inputs`: their element-wise mean.
    pub fn average(inputs: &[&str]) -> Self {
        LayerSpec::Average(MergeSpec::default()).reads(inputs)
    }

    /// A Concatenate layer: `inputs` side by side along the last axis.
    pub fn concatenate(inputs: &[&str]) -> Self {
        LayerSpec::Concatenate(MergeSpec::default()).reads(inputs)
    }

    /// Sets the layer's name (which other layers read it by).
    #[must_use]
    pub fn named(mut self, name: &str) -> Self {
        self.set_name(Some(name.to_string()));
        self
    }

    /// Sets the layers or model inputs it reads (Keras' `layer(inputs)`).
    #[must_use]
    pub fn reads(mut self, inputs: &[&str]) -> Self {
        self.set_inputs(Some(inputs.iter().map(|s| s.to_string()).collect()));
        self
    }
}
