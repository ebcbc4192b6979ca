//! 1-D convolution over time (Keras' `Conv1D`), channels last: y = f(conv(x, W) + b).
//!
//! Shapes: x (N, T, C), W (k, C, F) as Keras, b (F), y (N, T', F) with T' from the padding:
//! `valid` ⌊(T − k_eff) / s⌋ + 1, `same` ⌈T / s⌉ (TensorFlow's split of the zeros), `causal`
//! ⌈T / s⌉ with (k − 1)·d zeros before the sequence only, so that y[t] reads x up to t·s
//! (k_eff = (k − 1)·d + 1; [`super::Window2`]):
//! ```text
//! y[n, t, f] = f( Σ_{j<k, c} x[n, t·s + j·d − pad, c] · W[j, c, f] + b[f] )   (0 in the padding)
//! ```
//! It runs as a [`super::Conv2d`] with a 1×k kernel on x read as (N, 1, T, C)
//! ([`super::on_sequence`]): the same im2col product, backward and fused descent.
//!
//! Source: Keras 3 `keras.layers.Conv1D` (arguments, defaults, causal padding); checked against
//! PyTorch's `F.conv1d` in tests/reference/gen_conv1d.py.

use serde::{Deserialize, Serialize};

use super::affine::{self, AffineKeys};
use super::dense::{glorot_uniform, yes, zeros};
use super::geometry::{reach_fits, span};
use super::on_sequence::{ImageTwin, OnSequence};
use super::{Conv2d, Conv2dSpec, Layer, LayerConfig, Padding, Size2};
use crate::activations::Activation;
use crate::init::Initializer;
use crate::regularizers::{Constraint, Regularizer};
use crate::{Error, Result};

/// Settings of a 1-D convolution: Keras' `Conv1D` arguments and defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conv1dSpec {
    /// Number of output channels F.
    pub filters: usize,
    /// Taps in the window, k.
    pub kernel_size: usize,
    /// Step between windows (default 1).
    #[serde(default = "one")]
    pub strides: usize,
    /// `"valid"` (default), `"same"` or `"causal"` (zeros before the sequence only).
    #[serde(default)]
    pub padding: Padding,
    /// Spacing between taps (default 1; Keras refuses it above 1 together with strides > 1).
    #[serde(default = "one")]
    pub dilation_rate: usize,
    /// Activation applied after the convolution (default linear).
    #[serde(default)]
    pub activation: Activation,
    /// Whether to add a bias per filter.
    #[serde(default = "yes")]
    pub use_bias: bool,
    /// Kernel initializer (default `glorot_uniform`, with Keras' fans: k·C in, k·F out).
    #[serde(default = "glorot_uniform")]
    pub kernel_initializer: Initializer,
    /// Bias initializer (default `zeros`).
    #[serde(default = "zeros")]
    pub bias_initializer: Initializer,
    /// Penalty on the kernel: `{ l2 = 0.01 }`, `{ l1 = ... }` or both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_regularizer: Option<Regularizer>,
    /// Penalty on the bias.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bias_regularizer: Option<Regularizer>,
    /// Constraint on each filter's k·C weights: `{ max_norm = 1.0 }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_constraint: Option<Constraint>,
    /// Whether the parameters are trained (default true).
    #[serde(default = "yes")]
    pub trainable: bool,
}

fn one() -> usize {
    1
}

impl Conv1dSpec {
    /// A convolution of `filters` output channels over windows of `kernel_size` steps, with
    /// Keras' defaults (stride 1, `valid`, linear, bias, Glorot uniform).
    ///
    /// ```
    /// use deeptrain::layers::{Conv1dSpec, Padding};
    /// use deeptrain::{Activation, Sequential};
    /// let model = Sequential::new(&[28, 28])
    ///     .add(Conv1dSpec::new(16, 3).padding(Padding::Causal).activation(Activation::Relu))
    ///     .add(Conv1dSpec::new(8, 5).strides(2))
    ///     .build(42)
    ///     .unwrap();
    /// assert_eq!(model.output_shapes(), vec![vec![28, 16], vec![12, 8]]);
    /// assert_eq!(model.layers()[0].params()[0].value.shape(), &[3, 28, 16]);
    /// ```
    pub fn new(filters: usize, kernel_size: usize) -> Self {
        Conv1dSpec {
            filters,
            kernel_size,
            strides: 1,
            padding: Padding::Valid,
            dilation_rate: 1,
            activation: Activation::Linear,
            use_bias: yes(),
            kernel_initializer: glorot_uniform(),
            bias_initializer: zeros(),
            kernel_regularizer: None,
            bias_regularizer: None,
            kernel_constraint: None,
            trainable: yes(),
        }
    }

    /// k·C·F, the kernel's size on an input of `input_shape` (T, C).
    fn kernel_len(&self, input_shape: &[usize]) -> u64 {
        let channels = input_shape.get(1).copied().unwrap_or(1) as u64;
        (self.kernel_size as u64)
            .saturating_mul(channels)
            .saturating_mul(self.filters as u64)
    }
}

crate::builder::layer_setters!(Conv1dSpec);
crate::builder::setters!(Conv1dSpec {
    strides: usize,
    padding: Padding,
    dilation_rate: usize,
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

impl LayerConfig for Conv1dSpec {
    fn type_name(&self) -> &str {
        "conv1d"
    }
    /// `filters` in 1..=[`crate::limits::MAX_UNITS`], positive sizes, not strides > 1 with
    /// dilation > 1 (which Keras refuses), then the initializers, regularizers and constraint.
    fn validate(&self) -> Result<()> {
        const LAYER: &str = "conv1d layer";
        for (key, value) in [
            ("kernel_size", self.kernel_size),
            ("strides", self.strides),
            ("dilation_rate", self.dilation_rate),
        ] {
            if value == 0 {
                return Err(Error::Config(format!(
                    "{LAYER}: `{key}` must be positive, got 0"
                )));
            }
        }
        if self.strides > 1 && self.dilation_rate > 1 {
            return Err(Error::Config(format!(
                "{LAYER}: `strides` > 1 together with `dilation_rate` > 1 is not supported (as in Keras), got strides {} and dilation_rate {}",
                self.strides, self.dilation_rate
            )));
        }
        AffineKeys {
            layer: "conv1d",
            outputs_key: "filters",
            outputs: self.filters,
            kernel_initializer: self.kernel_initializer,
            bias_initializer: self.bias_initializer,
            regularizers: [self.kernel_regularizer, self.bias_regularizer],
            kernel_constraint: self.kernel_constraint,
        }
        .validate()
    }
    fn largest_param_tensor(&self, input_shape: &[usize]) -> u64 {
        self.kernel_len(input_shape)
    }
    fn build(&self) -> Result<Box<dyn Layer>> {
        Ok(Box::new(OnSequence::new(self.clone())))
    }
    affine::affine_config_methods!("conv1d", filters, |s| s.padding == Padding::Valid);
}

impl ImageTwin for Conv1dSpec {
    fn class_name(&self) -> &'static str {
        "Conv1D"
    }

    fn check_steps(&self, layer: &str, steps: usize) -> Result<()> {
        if !reach_fits(steps, self.kernel_size, self.strides, self.dilation_rate) {
            return Err(Error::Config(format!(
                "{layer}: a window of {} taps with dilation_rate {} spans more steps than a machine word counts; use a smaller kernel_size or dilation_rate",
                self.kernel_size, self.dilation_rate
            )));
        }
        let reach = span(self.kernel_size, self.dilation_rate);
        if self.padding == Padding::Valid && reach > steps {
            return Err(Error::Shape(format!(
                "{layer}: its window of {} taps (dilation {}, spanning {reach} steps) does not fit in {steps} steps with padding \"valid\"; use a smaller kernel or padding \"same\" or \"causal\"",
                self.kernel_size, self.dilation_rate
            )));
        }
        Ok(())
    }

    fn twin(&self) -> Box<dyn Layer> {
        let s = self.clone();
        Box::new(Conv2d::on_sequence(Conv2dSpec {
            filters: s.filters,
            kernel_size: Size2::new(1, s.kernel_size),
            strides: Size2::new(1, s.strides),
            padding: s.padding,
            dilation_rate: Size2::new(1, s.dilation_rate),
            activation: s.activation,
            use_bias: s.use_bias,
            kernel_initializer: s.kernel_initializer,
            bias_initializer: s.bias_initializer,
            kernel_regularizer: s.kernel_regularizer,
            bias_regularizer: s.bias_regularizer,
            kernel_constraint: s.kernel_constraint,
            trainable: s.trainable,
        }))
    }

    fn describe(&self) -> String {
        let mut text = format!("{} {}", self.kernel_size, self.padding.name());
        if self.strides != 1 {
            text += &format!(" /{}", self.strides);
        }
        if self.dilation_rate != 1 {
            text += &format!(" dilated {}", self.dilation_rate);
        }
        format!("{text}, {}, {}", self.activation, self.kernel_initializer)
    }

    fn with_trainable(&self, trainable: bool) -> Self {
        Conv1dSpec {
            trainable,
            ..self.clone()
        }
    }
}
