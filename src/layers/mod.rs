//! The layer abstraction and the layers built on it.
//!
//! Shapes: a layer sees (B, ...) tensors, B the batch; `input_shape`/`output_shape` are per
//! sample (without B). A layer owns its parameters (named, each with a trainable flag, value and
//! gradient) and its non-trainable state (e.g. batch-norm moving statistics), which is
//! saved with the parameters but never touched by an optimizer.
//!
//! Contract: `forward(x, y, mode)` writes `y` and caches what backward needs; `backward(x, y, dy,
//! dx)` *writes* the gradients of the trainable parameters (no zeroing pass is needed) and, when
//! `dx` is given, the input gradient. A layer asked to (`set_fused_descent`) applies plain SGD to
//! its parameters within backward instead of storing their gradients.

mod activation;
mod batch_norm;
mod builders;
mod conv2d;
mod custom;
mod dense;
mod dropout;
mod flatten;
mod geometry;
mod global_pooling;
mod merge;
mod pooling;
mod prelu;
mod reshape;
mod rrelu;
mod spatial_dropout;

pub use activation::ActivationLayer;
pub use batch_norm::BatchNormalization;
pub use conv2d::{Conv2d, Conv2dSpec};
pub use custom::{
    is_registered, layer_spec_from_table, layer_spec_to_table, register_layer, serde_layers,
    CustomLayerSpec, LayerFactory,
};
pub use dense::Dense;
pub use dropout::{Dropout, DropoutKind, GaussianNoise};
pub use flatten::Flatten;
pub use geometry::{image_shape, AxisWindow, Padding, Size2, Window2};
pub use global_pooling::{GlobalPooling2D, GlobalPoolingSpec};
pub use merge::{Merge, MergeOp};
pub use pooling::{PoolKind, Pooling2D, PoolingSpec};
pub use prelu::PRelu;
pub use reshape::{Reshape, ReshapeSpec};
pub use rrelu::RRelu;
pub use spatial_dropout::{SpatialDropout2D, SpatialDropoutSpec};

use serde::{Deserialize, Serialize};

use crate::activations::Activation;
use crate::init::Initializer;
use crate::regularizers::{Constraint, Regularizer};
use crate::tensor::Tensor;
use crate::{Error, Result, Rng};

/// Training or inference: passed explicitly to every forward pass, never a global.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Training: dropout active, batch statistics used and updated.
    Train,
    /// Inference: deterministic.
    Infer,
    /// Inference with dropout still active (MC dropout, Gal & Ghahramani 2016): batch norm uses
    /// its moving statistics, dropout layers keep dropping.
    Sample,
}

/// A named parameter tensor with its gradient.
#[derive(Clone, Debug)]
pub struct Param {
    /// Short name within the layer (`kernel`, `bias`).
    pub name: &'static str,
    /// Current value.
    pub value: Tensor,
    /// Gradient of the loss, written by the last `backward` (zero while frozen; left as it was
    /// on a step whose layer applied plain SGD itself, see [`Layer::set_fused_descent`]).
    pub grad: Tensor,
    /// Whether optimizers update it (change it with [`Param::set_trainable`]).
    pub trainable: bool,
}

impl Param {
    /// A trainable parameter of the given shape, zero-initialized.
    pub fn new(name: &'static str, shape: &[usize]) -> Self {
        Param {
            name,
            value: Tensor::zeros(shape),
            grad: Tensor::zeros(shape),
            trainable: true,
        }
    }

    /// Freezes (false) or unfreezes it; a frozen parameter's gradient is zero.
    pub fn set_trainable(&mut self, trainable: bool) {
        if !trainable {
            self.grad.data_mut().fill(0.0);
        }
        self.trainable = trainable;
    }
}

/// A named non-trainable tensor saved with the model (e.g. moving mean).
#[derive(Clone, Debug)]
pub struct State {
    /// Short name within the layer.
    pub name: &'static str,
    /// Current value.
    pub value: Tensor,
}

/// A network layer. See the module docs for the forward/backward contract.
pub trait Layer: Send {
    /// The unique name within the model (`dense_1`), set by the model.
    fn name(&self) -> &str;
    /// Sets the layer's name.
    fn set_name(&mut self, name: String);
    /// Keras' class name (`Dense`), shown in summaries.
    fn class_name(&self) -> &'static str;
    /// Creates weights for the given per-sample input shape; returns the output shape.
    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>>;
    /// Computes `output` from `input` (both (B, ...)), caching what backward needs.
    fn forward(&mut self, input: &Tensor, output: &mut Tensor, mode: Mode);
    /// Writes the gradients of its trainable parameters (overwriting the last ones; frozen
    /// parameters' gradients are left alone) and, when `grad_input` is given, dL/d(input).
    fn backward(
        &mut self,
        input: &Tensor,
        output: &Tensor,
        grad_output: &Tensor,
        grad_input: Option<&mut Tensor>,
    );
    /// Creates weights for the per-sample shapes of its inputs (several for a merge layer);
    /// returns the output shape. A layer that takes one input refuses several.
    fn build_many(&mut self, input_shapes: &[&[usize]], rng: &mut Rng) -> Result<Vec<usize>> {
        match input_shapes {
            [one] => self.build(one, rng),
            _ => Err(crate::Error::Shape(format!(
                "layer `{}` ({}) takes one input, not {}",
                self.name(),
                self.class_name(),
                input_shapes.len()
            ))),
        }
    }
    /// [`Layer::forward`] over several inputs (merge layers); one input by default.
    fn forward_many(&mut self, inputs: &[&Tensor], output: &mut Tensor, mode: Mode) {
        self.forward(inputs[0], output, mode)
    }
    /// [`Layer::backward`] over several inputs: writes dL/d(input k) into `grad_inputs[k]`
    /// where it is `Some`.
    fn backward_many(
        &mut self,
        inputs: &[&Tensor],
        output: &Tensor,
        grad_output: &Tensor,
        grad_inputs: &mut [Option<&mut Tensor>],
    ) {
        self.backward(
            inputs[0],
            output,
            grad_output,
            grad_inputs[0].as_deref_mut(),
        )
    }
    /// The weight matrix diagnostics, sparsity and pruning look at, if the layer has one.
    fn kernel_param(&self) -> Option<&Param> {
        None
    }
    /// [`Layer::kernel_param`], mutable (for pruning).
    fn kernel_param_mut(&mut self) -> Option<&mut Param> {
        None
    }
    /// Whether the layer adds a weight penalty (L1/L2) to the loss.
    fn has_penalty(&self) -> bool {
        false
    }
    /// Parameters (empty for parameter-free layers).
    fn params(&self) -> &[Param] {
        &[]
    }
    /// Parameters, mutable (for optimizers and loading).
    fn params_mut(&mut self) -> &mut [Param] {
        &mut []
    }
    /// Non-trainable state saved with the model.
    fn state(&self) -> &[State] {
        &[]
    }
    /// Non-trainable state, mutable (for loading).
    fn state_mut(&mut self) -> &mut [State] {
        &mut []
    }
    /// The activation this layer applies last, if any (for fusing softmax/sigmoid into the loss).
    fn output_activation(&self) -> Activation {
        Activation::Linear
    }
    /// Asks the layer to apply plain gradient descent θ ← θ − `rate`·g to its trainable
    /// parameters within the next backward passes, instead of leaving g for the optimizer
    /// (`None` turns it off). Returns whether it will; the model's optimizer updates the
    /// parameters of a layer that will not.
    fn set_fused_descent(&mut self, _rate: Option<f32>) -> bool {
        false
    }
    /// Asks the layer to treat `grad_output` in backward as the gradient with respect to its
    /// pre-activation (logits) rather than its output; the loss then works from
    /// [`Layer::logits`]. Returns false when the layer cannot (no output activation).
    fn set_fused_output(&mut self, _fused: bool) -> bool {
        false
    }
    /// The pre-activation values of the last forward pass when the output is fused.
    fn logits(&self) -> Option<&Tensor> {
        None
    }
    /// The spec that rebuilds this layer (for saving).
    fn spec(&self) -> LayerSpec;
    /// For a layer that is a fixed per-feature affine map at inference (batch norm), its
    /// scale and shift (y = s·x + t), so that it can be folded into a neighbouring layer.
    fn inference_affine(&self) -> Option<(Vec<f32>, Vec<f32>)> {
        None
    }
    /// The weight penalty this layer adds to the training loss (0 without regularizers).
    fn penalty(&self) -> f64 {
        0.0
    }
    /// Adds the penalty's gradient to the parameter gradients.
    fn add_penalty_gradients(&mut self) {}
    /// Applies weight constraints (max-norm) after an update.
    fn apply_constraints(&mut self) {}
    /// Reseeds the layer's own random stream, if it has one (dropout, noise, RReLU).
    fn reseed(&mut self, _seed: u64) {}
    /// The layer's own random stream, if it has one (for checkpoints).
    fn rng(&self) -> Option<&Rng> {
        None
    }
    /// Restores the layer's random stream.
    fn set_rng(&mut self, _rng: Rng) {}
    /// A short description of the layer's settings for the summary (`relu, he_normal`).
    fn describe(&self) -> String {
        String::new()
    }
    /// Sets whether the layer's parameters are trained; freezing zeroes their gradients (which
    /// backward then leaves alone).
    fn set_trainable(&mut self, trainable: bool) {
        for p in self.params_mut() {
            p.set_trainable(trainable);
        }
    }
    /// Number of parameter values (trainable, non-trainable including state).
    fn param_counts(&self) -> (usize, usize) {
        let mut counts = (0, 0);
        for p in self.params() {
            if p.trainable {
                counts.0 += p.value.len();
            } else {
                counts.1 += p.value.len();
            }
        }
        counts.1 += self.state().iter().map(|s| s.value.len()).sum::<usize>();
        counts
    }
}

/// A layer as written in a spec (`[[layers]] type = "dense" ...`), with Keras' names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LayerSpec {
    /// Fully connected layer.
    #[serde(alias = "Dense")]
    Dense(DenseSpec),
    /// 2-D convolution, channels last: `{ type = "conv2d", filters = 32, kernel_size = 3 }`.
    #[serde(alias = "Conv2D")]
    Conv2d(Conv2dSpec),
    /// Flattens each sample to one axis.
    #[serde(alias = "Flatten")]
    Flatten(FlattenSpec),
    /// An activation on its own.
    #[serde(alias = "Activation")]
    Activation(ActivationSpec),
    /// Leaky ReLU as a layer: `{ type = "leaky_relu", alpha = 0.3 }`.
    #[serde(alias = "LeakyReLU")]
    LeakyRelu(LeakyReluSpec),
    /// ELU as a layer: `{ type = "elu", alpha = 1.0 }`.
    #[serde(alias = "ELU")]
    Elu(EluSpec),
    /// Parametric ReLU, a learned negative slope per unit: `{ type = "prelu" }`.
    #[serde(alias = "PReLU")]
    Prelu(PreluSpec),
    /// Randomized leaky ReLU: `{ type = "rrelu", lower = 0.125, upper = 0.333 }`.
    Rrelu(RreluSpec),
    /// Batch normalization: `{ type = "batch_normalization", momentum = 0.99, epsilon = 0.001 }`.
    #[serde(alias = "BatchNormalization")]
    BatchNormalization(BatchNormSpec),
    /// Inverted dropout: `{ type = "dropout", rate = 0.2 }`.
    #[serde(alias = "Dropout")]
    Dropout(DropoutSpec),
    /// SELU-preserving dropout: `{ type = "alpha_dropout", rate = 0.2 }`.
    #[serde(alias = "AlphaDropout")]
    AlphaDropout(DropoutSpec),
    /// Additive noise in training: `{ type = "gaussian_noise", stddev = 0.1 }`.
    #[serde(alias = "GaussianNoise")]
    GaussianNoise(GaussianNoiseSpec),
    /// Element-wise sum of its inputs (a residual connection): `{ type = "add", inputs = [...] }`.
    #[serde(alias = "Add")]
    Add(MergeSpec),
    /// Element-wise difference of its two inputs, first minus second.
    #[serde(alias = "Subtract")]
    Subtract(MergeSpec),
    /// Element-wise product of its inputs.
    #[serde(alias = "Multiply")]
    Multiply(MergeSpec),
    /// Element-wise mean of its inputs.
    #[serde(alias = "Average")]
    Average(MergeSpec),
    /// Its inputs side by side along the last axis (Wide & Deep's join).
    #[serde(alias = "Concatenate")]
    Concatenate(MergeSpec),
    /// Max over each window, channels last: `{ type = "max_pooling2d", pool_size = 2 }`.
    #[serde(alias = "MaxPooling2D")]
    MaxPooling2d(PoolingSpec),
    /// Mean over each window's real inputs: `{ type = "average_pooling2d", pool_size = 2 }`.
    #[serde(alias = "AveragePooling2D")]
    AveragePooling2d(PoolingSpec),
    /// Mean of each channel over (H, W): `{ type = "global_average_pooling2d" }`.
    #[serde(alias = "GlobalAveragePooling2D")]
    GlobalAveragePooling2d(GlobalPoolingSpec),
    /// Max of each channel over (H, W): `{ type = "global_max_pooling2d" }`.
    #[serde(alias = "GlobalMaxPooling2D")]
    GlobalMaxPooling2d(GlobalPoolingSpec),
    /// Each sample laid out in a new shape: `{ type = "reshape", target_shape = [7, -1] }`.
    #[serde(alias = "Reshape")]
    Reshape(ReshapeSpec),
    /// Dropout of whole channels: `{ type = "spatial_dropout2d", rate = 0.2 }`.
    #[serde(alias = "SpatialDropout2D")]
    SpatialDropout2d(SpatialDropoutSpec),
    /// A layer type registered by user code ([`register_layer`]); written in a spec as
    /// `{ type = "my_layer", ... }` with its own keys.
    #[serde(skip)]
    Custom(CustomLayerSpec),
}

/// Settings of a merge layer ([`Merge`]): only its name and inputs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergeSpec {
    /// Layer name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The layers (or model inputs) it merges, by name (at least two; `subtract` takes two).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Vec<String>>,
}

/// Settings of a [`Dropout`] layer (standard or alpha).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropoutSpec {
    /// Fraction of values dropped in training, in [0, 1).
    pub rate: f32,
    /// Layer name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The layers (or model inputs) it reads, by name (default: the previous layer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Vec<String>>,
}

/// Settings of a [`GaussianNoise`] layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GaussianNoiseSpec {
    /// Standard deviation of the noise (≥ 0).
    pub stddev: f32,
    /// Layer name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The layers (or model inputs) it reads, by name (default: the previous layer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Vec<String>>,
}

/// Settings of a [`BatchNormalization`] layer (Keras' names and defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchNormSpec {
    /// Weight of the old value in the moving averages (Keras 0.99; PyTorch's 0.1 is 1 - this).
    #[serde(default = "bn_momentum")]
    pub momentum: f32,
    /// Added to the variance before the square root.
    #[serde(default = "bn_epsilon")]
    pub epsilon: f32,
    /// Learn an offset β.
    #[serde(default = "yes")]
    pub center: bool,
    /// Learn a scale γ.
    #[serde(default = "yes")]
    pub scale: bool,
    /// Layer name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The layers (or model inputs) it reads, by name (default: the previous layer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Vec<String>>,
    /// Whether γ and β are trained; a frozen layer also runs in inference mode (as Keras).
    #[serde(default = "yes")]
    pub trainable: bool,
}

impl Default for BatchNormSpec {
    fn default() -> Self {
        BatchNormSpec {
            momentum: bn_momentum(),
            epsilon: bn_epsilon(),
            center: true,
            scale: true,
            name: None,
            inputs: None,
            trainable: true,
        }
    }
}

fn bn_momentum() -> f32 {
    0.99
}
fn bn_epsilon() -> f32 {
    1e-3
}

/// Settings of a leaky ReLU layer (Keras' `LeakyReLU`, default slope 0.3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeakyReluSpec {
    /// The negative slope (Keras 3 calls it `negative_slope`).
    #[serde(default = "leaky_relu_layer_alpha", alias = "negative_slope")]
    pub alpha: f32,
    /// Layer name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The layers (or model inputs) it reads, by name (default: the previous layer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Vec<String>>,
}

/// Settings of an ELU layer (Keras' `ELU`, default alpha 1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EluSpec {
    /// The saturation value -alpha for large negative inputs.
    #[serde(default = "one")]
    pub alpha: f32,
    /// Layer name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The layers (or model inputs) it reads, by name (default: the previous layer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Vec<String>>,
}

/// Settings of a [`PRelu`] layer (He et al. 2015).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreluSpec {
    /// Initial slopes (Keras' default `zeros`; PyTorch starts at `{ name = "constant", value = 0.25 }`).
    #[serde(default = "zeros")]
    pub alpha_initializer: Initializer,
    /// Layer name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The layers (or model inputs) it reads, by name (default: the previous layer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Vec<String>>,
    /// Whether the slopes are trained (default true).
    #[serde(default = "yes")]
    pub trainable: bool,
}

/// Settings of an [`RRelu`] layer (Xu et al. 2015; PyTorch's `RReLU` defaults 1/8 and 1/3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RreluSpec {
    /// Smallest slope drawn in training.
    #[serde(default = "rrelu_lower")]
    pub lower: f32,
    /// Largest slope drawn in training.
    #[serde(default = "rrelu_upper")]
    pub upper: f32,
    /// Layer name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The layers (or model inputs) it reads, by name (default: the previous layer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Vec<String>>,
}

fn leaky_relu_layer_alpha() -> f32 {
    0.3
}
fn one() -> f32 {
    1.0
}
fn rrelu_lower() -> f32 {
    1.0 / 8.0
}
fn rrelu_upper() -> f32 {
    1.0 / 3.0
}

/// Settings of a [`Dense`] layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenseSpec {
    /// Number of output units.
    pub units: usize,
    /// Activation applied after the affine map.
    #[serde(default)]
    pub activation: Activation,
    /// Whether to add a bias vector.
    #[serde(default = "yes")]
    pub use_bias: bool,
    /// Kernel initializer (default `glorot_uniform`, as Keras).
    #[serde(default = "glorot_uniform")]
    pub kernel_initializer: Initializer,
    /// Bias initializer (default `zeros`).
    #[serde(default = "zeros")]
    pub bias_initializer: Initializer,
    /// Layer name (default: `dense`, `dense_1`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The layers (or model inputs) it reads, by name (default: the previous layer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Vec<String>>,
    /// Whether the parameters are trained (default true).
    #[serde(default = "yes")]
    pub trainable: bool,
    /// Penalty on the kernel: `{ l2 = 0.01 }`, `{ l1 = ... }` or both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_regularizer: Option<Regularizer>,
    /// Penalty on the bias.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bias_regularizer: Option<Regularizer>,
    /// Constraint on each unit's incoming weights: `{ max_norm = 1.0 }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_constraint: Option<Constraint>,
}

/// Settings of a [`Flatten`] layer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlattenSpec {
    /// Layer name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The layers (or model inputs) it reads, by name (default: the previous layer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Vec<String>>,
}

/// Settings of an [`ActivationLayer`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivationSpec {
    /// The activation to apply.
    pub activation: Activation,
    /// Layer name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The layers (or model inputs) it reads, by name (default: the previous layer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Vec<String>>,
}

fn yes() -> bool {
    true
}
fn glorot_uniform() -> Initializer {
    Initializer::GLOROT_UNIFORM
}
fn zeros() -> Initializer {
    Initializer::Zeros
}

impl DenseSpec {
    /// A Dense layer of `units` with Keras' defaults.
    pub fn new(units: usize) -> Self {
        DenseSpec {
            units,
            activation: Activation::Linear,
            use_bias: true,
            kernel_initializer: Initializer::GLOROT_UNIFORM,
            bias_initializer: Initializer::Zeros,
            name: None,
            inputs: None,
            trainable: true,
            kernel_regularizer: None,
            bias_regularizer: None,
            kernel_constraint: None,
        }
    }
}

impl LayerSpec {
    /// How many parameter and state values the layer will hold on an input of `input_shape`
    /// (at most; known before building, so that an absurd model is refused unallocated).
    pub fn param_count(&self, input_shape: &[usize]) -> u64 {
        let elements = input_shape
            .iter()
            .fold(1u64, |a, &d| a.saturating_mul(d as u64));
        match self {
            LayerSpec::Dense(d) => elements
                .saturating_mul(d.units as u64)
                .saturating_add(d.units as u64),
            LayerSpec::Conv2d(c) => {
                conv_kernel_len(c, input_shape).saturating_add(c.filters as u64)
            }
            LayerSpec::BatchNormalization(_) => 4 * input_shape.last().copied().unwrap_or(0) as u64,
            LayerSpec::Prelu(_) => elements,
            _ => 0,
        }
    }

    /// The largest single parameter tensor the layer will hold on an input of `input_shape`
    /// (a Dense kernel's inputs × units), checked against a per-tensor limit before building.
    pub fn largest_param_tensor(&self, input_shape: &[usize]) -> u64 {
        let elements = input_shape
            .iter()
            .fold(1u64, |a, &d| a.saturating_mul(d as u64));
        match self {
            LayerSpec::Dense(d) => elements.saturating_mul(d.units as u64),
            LayerSpec::Conv2d(c) => conv_kernel_len(c, input_shape),
            LayerSpec::Prelu(_) => elements,
            _ => 0,
        }
    }

    /// The base for automatic names (`dense` → `dense`, `dense_1`, ...).
    pub fn base_name(&self) -> &'static str {
        match self {
            LayerSpec::Dense(_) => "dense",
            LayerSpec::Conv2d(_) => "conv2d",
            LayerSpec::Flatten(_) => "flatten",
            LayerSpec::Activation(_) => "activation",
            LayerSpec::LeakyRelu(_) => "leaky_relu",
            LayerSpec::Elu(_) => "elu",
            LayerSpec::Prelu(_) => "prelu",
            LayerSpec::Rrelu(_) => "rrelu",
            LayerSpec::BatchNormalization(_) => "batch_normalization",
            LayerSpec::Dropout(_) => "dropout",
            LayerSpec::AlphaDropout(_) => "alpha_dropout",
            LayerSpec::GaussianNoise(_) => "gaussian_noise",
            LayerSpec::Add(_) => "add",
            LayerSpec::Subtract(_) => "subtract",
            LayerSpec::Multiply(_) => "multiply",
            LayerSpec::Average(_) => "average",
            LayerSpec::Concatenate(_) => "concatenate",
            LayerSpec::MaxPooling2d(_) => "max_pooling2d",
            LayerSpec::AveragePooling2d(_) => "average_pooling2d",
            LayerSpec::GlobalAveragePooling2d(_) => "global_average_pooling2d",
            LayerSpec::GlobalMaxPooling2d(_) => "global_max_pooling2d",
            LayerSpec::Reshape(_) => "reshape",
            LayerSpec::SpatialDropout2d(_) => "spatial_dropout2d",
            LayerSpec::Custom(_) => "custom",
        }
    }

    /// The name used for automatic names: the base name, or a custom layer's type.
    pub fn auto_name_base(&self) -> &str {
        match self {
            LayerSpec::Custom(c) => &c.type_name,
            other => other.base_name(),
        }
    }

    /// The explicit name, if the spec gives one.
    pub fn name(&self) -> Option<&str> {
        match self {
            LayerSpec::Dense(s) => s.name.as_deref(),
            LayerSpec::Conv2d(s) => s.name.as_deref(),
            LayerSpec::Flatten(s) => s.name.as_deref(),
            LayerSpec::Activation(s) => s.name.as_deref(),
            LayerSpec::LeakyRelu(s) => s.name.as_deref(),
            LayerSpec::Elu(s) => s.name.as_deref(),
            LayerSpec::Prelu(s) => s.name.as_deref(),
            LayerSpec::Rrelu(s) => s.name.as_deref(),
            LayerSpec::BatchNormalization(s) => s.name.as_deref(),
            LayerSpec::Dropout(s) | LayerSpec::AlphaDropout(s) => s.name.as_deref(),
            LayerSpec::GaussianNoise(s) => s.name.as_deref(),
            LayerSpec::Add(s)
            | LayerSpec::Subtract(s)
            | LayerSpec::Multiply(s)
            | LayerSpec::Average(s)
            | LayerSpec::Concatenate(s) => s.name.as_deref(),
            LayerSpec::MaxPooling2d(s) | LayerSpec::AveragePooling2d(s) => s.name.as_deref(),
            LayerSpec::GlobalAveragePooling2d(s) | LayerSpec::GlobalMaxPooling2d(s) => {
                s.name.as_deref()
            }
            LayerSpec::Reshape(s) => s.name.as_deref(),
            LayerSpec::SpatialDropout2d(s) => s.name.as_deref(),
            LayerSpec::Custom(s) => s.name.as_deref(),
        }
    }

    /// The names of the layers (or model inputs) this one reads, when the spec names them.
    pub fn inputs(&self) -> Option<&[String]> {
        self.inputs_slot().as_deref()
    }

    /// Sets the layers (or model inputs) it reads (`None`: the previous layer).
    pub fn set_inputs(&mut self, inputs: Option<Vec<String>>) {
        *self.inputs_slot_mut() = inputs;
    }

    /// Sets the layer's name.
    pub fn set_name(&mut self, name: Option<String>) {
        *self.name_slot_mut() = name;
    }

    fn inputs_slot(&self) -> &Option<Vec<String>> {
        match self {
            LayerSpec::Dense(s) => &s.inputs,
            LayerSpec::Conv2d(s) => &s.inputs,
            LayerSpec::Flatten(s) => &s.inputs,
            LayerSpec::Activation(s) => &s.inputs,
            LayerSpec::LeakyRelu(s) => &s.inputs,
            LayerSpec::Elu(s) => &s.inputs,
            LayerSpec::Prelu(s) => &s.inputs,
            LayerSpec::Rrelu(s) => &s.inputs,
            LayerSpec::BatchNormalization(s) => &s.inputs,
            LayerSpec::Dropout(s) | LayerSpec::AlphaDropout(s) => &s.inputs,
            LayerSpec::GaussianNoise(s) => &s.inputs,
            LayerSpec::Add(s)
            | LayerSpec::Subtract(s)
            | LayerSpec::Multiply(s)
            | LayerSpec::Average(s)
            | LayerSpec::Concatenate(s) => &s.inputs,
            LayerSpec::MaxPooling2d(s) | LayerSpec::AveragePooling2d(s) => &s.inputs,
            LayerSpec::GlobalAveragePooling2d(s) | LayerSpec::GlobalMaxPooling2d(s) => &s.inputs,
            LayerSpec::Reshape(s) => &s.inputs,
            LayerSpec::SpatialDropout2d(s) => &s.inputs,
            LayerSpec::Custom(s) => &s.inputs,
        }
    }

    fn inputs_slot_mut(&mut self) -> &mut Option<Vec<String>> {
        match self {
            LayerSpec::Dense(s) => &mut s.inputs,
            LayerSpec::Conv2d(s) => &mut s.inputs,
            LayerSpec::Flatten(s) => &mut s.inputs,
            LayerSpec::Activation(s) => &mut s.inputs,
            LayerSpec::LeakyRelu(s) => &mut s.inputs,
            LayerSpec::Elu(s) => &mut s.inputs,
            LayerSpec::Prelu(s) => &mut s.inputs,
            LayerSpec::Rrelu(s) => &mut s.inputs,
            LayerSpec::BatchNormalization(s) => &mut s.inputs,
            LayerSpec::Dropout(s) | LayerSpec::AlphaDropout(s) => &mut s.inputs,
            LayerSpec::GaussianNoise(s) => &mut s.inputs,
            LayerSpec::Add(s)
            | LayerSpec::Subtract(s)
            | LayerSpec::Multiply(s)
            | LayerSpec::Average(s)
            | LayerSpec::Concatenate(s) => &mut s.inputs,
            LayerSpec::MaxPooling2d(s) | LayerSpec::AveragePooling2d(s) => &mut s.inputs,
            LayerSpec::GlobalAveragePooling2d(s) | LayerSpec::GlobalMaxPooling2d(s) => {
                &mut s.inputs
            }
            LayerSpec::Reshape(s) => &mut s.inputs,
            LayerSpec::SpatialDropout2d(s) => &mut s.inputs,
            LayerSpec::Custom(s) => &mut s.inputs,
        }
    }

    fn name_slot_mut(&mut self) -> &mut Option<String> {
        match self {
            LayerSpec::Dense(s) => &mut s.name,
            LayerSpec::Conv2d(s) => &mut s.name,
            LayerSpec::Flatten(s) => &mut s.name,
            LayerSpec::Activation(s) => &mut s.name,
            LayerSpec::LeakyRelu(s) => &mut s.name,
            LayerSpec::Elu(s) => &mut s.name,
            LayerSpec::Prelu(s) => &mut s.name,
            LayerSpec::Rrelu(s) => &mut s.name,
            LayerSpec::BatchNormalization(s) => &mut s.name,
            LayerSpec::Dropout(s) | LayerSpec::AlphaDropout(s) => &mut s.name,
            LayerSpec::GaussianNoise(s) => &mut s.name,
            LayerSpec::Add(s)
            | LayerSpec::Subtract(s)
            | LayerSpec::Multiply(s)
            | LayerSpec::Average(s)
            | LayerSpec::Concatenate(s) => &mut s.name,
            LayerSpec::MaxPooling2d(s) | LayerSpec::AveragePooling2d(s) => &mut s.name,
            LayerSpec::GlobalAveragePooling2d(s) | LayerSpec::GlobalMaxPooling2d(s) => &mut s.name,
            LayerSpec::Reshape(s) => &mut s.name,
            LayerSpec::SpatialDropout2d(s) => &mut s.name,
            LayerSpec::Custom(s) => &mut s.name,
        }
    }

    /// Whether `auto` initialization, looking past a layer for the activation that follows it,
    /// stops here (a layer with weights of its own, a merge, a custom layer).
    pub fn ends_auto_search(&self) -> bool {
        matches!(
            self,
            LayerSpec::Dense(_) | LayerSpec::Conv2d(_) | LayerSpec::Custom(_)
        ) || self.merge_op().is_some()
    }

    /// The kernel initializer the spec names, for a layer type with a kernel.
    pub fn kernel_initializer(&self) -> Option<Initializer> {
        match self {
            LayerSpec::Dense(d) => Some(d.kernel_initializer),
            LayerSpec::Conv2d(c) => Some(c.kernel_initializer),
            _ => None,
        }
    }

    /// The merge operation, for a merge layer.
    pub fn merge_op(&self) -> Option<MergeOp> {
        match self {
            LayerSpec::Add(_) => Some(MergeOp::Add),
            LayerSpec::Subtract(_) => Some(MergeOp::Subtract),
            LayerSpec::Multiply(_) => Some(MergeOp::Multiply),
            LayerSpec::Average(_) => Some(MergeOp::Average),
            LayerSpec::Concatenate(_) => Some(MergeOp::Concatenate),
            _ => None,
        }
    }

    /// Replaces `"auto"` initializers by the one the textbook pairs with `following`, the
    /// activation that comes after the layer in the graph (He for the ReLU family, LeCun for
    /// SELU, Glorot otherwise). A layer for which `auto` has no meaning says so.
    pub fn resolve_auto_initializer(&mut self, following: Option<Activation>) -> Result<()> {
        match self {
            LayerSpec::Dense(dense) if dense.kernel_initializer == Initializer::Auto => {
                let activation = match dense.activation {
                    Activation::Linear => following.unwrap_or(Activation::Linear),
                    own => own,
                };
                dense.kernel_initializer = activation.recommended_initializer();
                Ok(())
            }
            LayerSpec::Dense(dense) if dense.bias_initializer == Initializer::Auto => Err(Error::Config(
                "dense layer: `bias_initializer = \"auto\"` has no meaning (auto picks a kernel initializer for the activation); use zeros".into(),
            )),
            LayerSpec::Conv2d(conv) if conv.kernel_initializer == Initializer::Auto => {
                let activation = match conv.activation {
                    Activation::Linear => following.unwrap_or(Activation::Linear),
                    own => own,
                };
                conv.kernel_initializer = activation.recommended_initializer();
                Ok(())
            }
            LayerSpec::Conv2d(conv) if conv.bias_initializer == Initializer::Auto => Err(Error::Config(
                "conv2d layer: `bias_initializer = \"auto\"` has no meaning (auto picks a kernel initializer for the activation); use zeros".into(),
            )),
            LayerSpec::Prelu(p) if p.alpha_initializer == Initializer::Auto => Err(Error::Config(
                "prelu layer: `alpha_initializer = \"auto\"` has no meaning (auto picks a kernel initializer for the activation); use zeros or a constant".into(),
            )),
            LayerSpec::Custom(c) if c.config.values().any(|v| v.as_str() == Some("auto")) => {
                Err(Error::Config(format!(
                    "layer type `{}` cannot resolve \"auto\": give its initializer by name",
                    c.type_name
                )))
            }
            _ => Ok(()),
        }
    }

    /// The activation this layer applies, if it is an activation layer (PReLU and RReLU count
    /// as leaky ReLUs), or a Dense layer's own activation.
    pub fn applied_activation(&self) -> Option<Activation> {
        match self {
            LayerSpec::Dense(s) => Some(s.activation),
            LayerSpec::Conv2d(s) => Some(s.activation),
            LayerSpec::Activation(s) => Some(s.activation),
            LayerSpec::LeakyRelu(s) => Some(Activation::LeakyRelu { alpha: s.alpha }),
            LayerSpec::Elu(s) => Some(Activation::Elu { alpha: s.alpha }),
            LayerSpec::Prelu(_) | LayerSpec::Rrelu(_) => Some(Activation::LeakyRelu {
                alpha: crate::activations::LEAKY_RELU_ALPHA,
            }),
            LayerSpec::Flatten(_)
            | LayerSpec::BatchNormalization(_)
            | LayerSpec::Dropout(_)
            | LayerSpec::AlphaDropout(_)
            | LayerSpec::GaussianNoise(_)
            | LayerSpec::Add(_)
            | LayerSpec::Subtract(_)
            | LayerSpec::Multiply(_)
            | LayerSpec::Average(_)
            | LayerSpec::Concatenate(_)
            | LayerSpec::MaxPooling2d(_)
            | LayerSpec::AveragePooling2d(_)
            | LayerSpec::GlobalAveragePooling2d(_)
            | LayerSpec::GlobalMaxPooling2d(_)
            | LayerSpec::Reshape(_)
            | LayerSpec::SpatialDropout2d(_)
            | LayerSpec::Custom(_) => None,
        }
    }

    /// Checks values a type cannot (e.g. `units > 0`), naming the problem.
    pub fn validate(&self) -> Result<()> {
        if let Some(act) = self.applied_activation() {
            act.validate()?;
        }
        match self {
            LayerSpec::Dense(s) => {
                s.kernel_initializer.validate()?;
                s.bias_initializer.validate()?;
                for r in [s.kernel_regularizer, s.bias_regularizer].into_iter().flatten() {
                    r.validate()?;
                }
                if let Some(c) = s.kernel_constraint {
                    c.validate()?;
                }
            }
            LayerSpec::Conv2d(s) => s.validate()?,
            LayerSpec::Prelu(s) => s.alpha_initializer.validate()?,
            LayerSpec::MaxPooling2d(s) => s.validate("max_pooling2d layer")?,
            LayerSpec::AveragePooling2d(s) => s.validate("average_pooling2d layer")?,
            LayerSpec::Reshape(s) => s.validate()?,
            LayerSpec::SpatialDropout2d(s) => s.validate()?,
            LayerSpec::Dropout(s) | LayerSpec::AlphaDropout(s) if !(0.0..1.0).contains(&s.rate) => {
                return Err(Error::Config(format!("dropout layer: `rate` must be in [0, 1), got {}", s.rate)))
            }
            LayerSpec::GaussianNoise(s) if !(s.stddev.is_finite() && s.stddev >= 0.0) => {
                return Err(Error::Config(format!(
                    "gaussian_noise layer: `stddev` must be a number ≥ 0, got {}",
                    s.stddev
                )))
            }
            LayerSpec::BatchNormalization(s)
                if !((0.0..1.0).contains(&s.momentum) && s.epsilon.is_finite() && s.epsilon > 0.0) =>
            {
                return Err(Error::Config(format!(
                    "batch_normalization layer: need 0 ≤ momentum < 1 and epsilon > 0, got momentum = {}, epsilon = {}",
                    s.momentum, s.epsilon
                )))
            }
            LayerSpec::Rrelu(s)
                if !(s.lower.is_finite()
                    && s.upper.is_finite()
                    && 0.0 <= s.lower
                    && s.lower <= s.upper) =>
            {
                return Err(Error::Config(format!(
                    "rrelu layer: need 0 ≤ lower ≤ upper, got lower = {}, upper = {}",
                    s.lower, s.upper
                )))
            }
            _ => {}
        }
        match self {
            LayerSpec::Dense(s) if s.units == 0 => Err(Error::Config(
                "dense layer: `units` must be at least 1".into(),
            )),
            LayerSpec::Dense(s) if s.units > MAX_UNITS => Err(Error::Config(format!(
                "dense layer: `units` = {} is more than the limit of {MAX_UNITS}",
                s.units
            ))),
            _ => Ok(()),
        }
    }

    /// Creates the (unbuilt) layer; a custom type through its registered factory.
    pub fn instantiate(&self) -> Result<Box<dyn Layer>> {
        Ok(match self {
            LayerSpec::Dense(s) => Box::new(Dense::from_spec(s.clone())),
            LayerSpec::Conv2d(s) => Box::new(Conv2d::from_spec(s.clone())),
            LayerSpec::Flatten(s) => Box::new(Flatten::new(s.name.clone())),
            LayerSpec::Activation(s) => {
                Box::new(ActivationLayer::new(s.activation, s.name.clone()))
            }
            LayerSpec::LeakyRelu(s) => Box::new(ActivationLayer::new(
                Activation::LeakyRelu { alpha: s.alpha },
                s.name.clone(),
            )),
            LayerSpec::Elu(s) => Box::new(ActivationLayer::new(
                Activation::Elu { alpha: s.alpha },
                s.name.clone(),
            )),
            LayerSpec::Prelu(s) => Box::new(PRelu::from_spec(s.clone())),
            LayerSpec::Rrelu(s) => Box::new(RRelu::from_spec(s.clone())),
            LayerSpec::BatchNormalization(s) => Box::new(BatchNormalization::from_spec(s.clone())),
            LayerSpec::Dropout(s) => {
                Box::new(Dropout::new(DropoutKind::Standard, s.rate, s.name.clone()))
            }
            LayerSpec::AlphaDropout(s) => {
                Box::new(Dropout::new(DropoutKind::Alpha, s.rate, s.name.clone()))
            }
            LayerSpec::GaussianNoise(s) => Box::new(GaussianNoise::new(s.stddev, s.name.clone())),
            LayerSpec::Add(s)
            | LayerSpec::Subtract(s)
            | LayerSpec::Multiply(s)
            | LayerSpec::Average(s)
            | LayerSpec::Concatenate(s) => Box::new(Merge::new(
                self.merge_op().expect("a merge spec has an operation"),
                s.name.clone(),
            )),
            LayerSpec::MaxPooling2d(s) => Box::new(Pooling2D::new(PoolKind::Max, s.clone())),
            LayerSpec::AveragePooling2d(s) => {
                Box::new(Pooling2D::new(PoolKind::Average, s.clone()))
            }
            LayerSpec::GlobalAveragePooling2d(s) => {
                Box::new(GlobalPooling2D::new(PoolKind::Average, s.clone()))
            }
            LayerSpec::GlobalMaxPooling2d(s) => {
                Box::new(GlobalPooling2D::new(PoolKind::Max, s.clone()))
            }
            LayerSpec::Reshape(s) => Box::new(Reshape::new(s.clone())),
            LayerSpec::SpatialDropout2d(s) => Box::new(SpatialDropout2D::new(s.clone())),
            LayerSpec::Custom(s) => custom::instantiate(s)?,
        })
    }
}

/// The largest number of units a Dense layer (or filters a Conv2D layer) may have (guards
/// against absurd specs).
pub const MAX_UNITS: usize = 1 << 24;

/// kh·kw·C·F, the kernel size of a Conv2D layer on `input_shape` ((H, W) is one channel).
fn conv_kernel_len(c: &Conv2dSpec, input_shape: &[usize]) -> u64 {
    let channels = match input_shape {
        [_, _, c] => *c as u64,
        _ => 1,
    };
    (c.kernel_size.rows as u64)
        .saturating_mul(c.kernel_size.cols as u64)
        .saturating_mul(channels)
        .saturating_mul(c.filters as u64)
}
