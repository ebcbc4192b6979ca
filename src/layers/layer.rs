//! The layer contract: [`Layer`] (forward, backward, parameters), [`Param`], [`State`] and the
//! explicit [`Mode`].
//!
//! Contract: `forward(x, y, mode)` writes `y` and caches what backward needs; `backward(x, y, dy,
//! dx)` *writes* the gradients of the trainable parameters (no zeroing pass is needed) and, when
//! `dx` is given, the input gradient. A layer asked to (`set_fused_descent`) applies plain SGD to
//! its parameters within backward instead of (or, when asked, as well as) storing their gradients.

use super::LayerSpec;
use crate::activations::Activation;
use crate::tensor::Tensor;
use crate::{Result, Rng};

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
    /// Gradient buffer: see [`Param::grad`] and [`Param::grad_mut`] (the model's own steps,
    /// which know it was just written, read it directly).
    pub(crate) grad: Tensor,
    /// Whether `grad` holds the last backward's gradient (false after a fused update).
    grad_stored: bool,
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
            grad_stored: true,
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

    /// The gradient of the loss written by the last backward (zero while frozen), or `None`
    /// where the last training step did not store it: under plain SGD a layer updates its
    /// kernel within backward ([`Layer::set_fused_descent`]), so no gradient exists to read. A
    /// callback whose [`crate::Callback::needs_gradients`] is true makes `fit` store every
    /// gradient. `None` rather than a sentinel, so that nobody reads a stale or zero buffer as
    /// this step's gradient, and the unused buffer is never touched (it costs no memory).
    pub fn grad(&self) -> Option<&Tensor> {
        self.grad_stored.then_some(&self.grad)
    }

    /// The buffer a layer's backward writes this parameter's gradient into.
    pub fn grad_mut(&mut self) -> &mut Tensor {
        &mut self.grad
    }

    /// Says whether the gradient buffer holds the last backward's gradient (the model clears it
    /// for the parameters of a layer that fused its update).
    pub(crate) fn set_grad_stored(&mut self, stored: bool) {
        self.grad_stored = stored;
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
    /// A recurrent layer's gradient norms through time in its last observed backward pass
    /// ([`Layer::set_gradients_observed`]): ‖∂L/∂h_s‖ over the batch at each processing step s
    /// (step T - 1 is where the last state's gradient enters); `None` for other layers.
    fn time_gradient_norms(&self) -> Option<&[f32]> {
        None
    }
    /// Whether someone reads this step's gradients (a sampled step, a gradient check): a
    /// recurrent layer computes [`Layer::time_gradient_norms`] only then. Told before each
    /// training step's backward; a layer not told behaves as if observed.
    fn set_gradients_observed(&mut self, _observed: bool) {}
    /// Keras' masking of padded time steps, decided when the model is built: given whether its
    /// input carries a time-step mask, whether its output does. A layer that cannot honour a
    /// mask refuses it (the default), rather than dropping it silently.
    fn mask_flow(&self, input_masked: bool) -> Result<bool> {
        if input_masked {
            return Err(crate::Error::Config(format!(
                "layer `{}` ({}) cannot take the time-step mask of an embedding with `mask_zero = true`: the mask flows into simple_rnn, lstm, gru and bidirectional, and through dense, layer_normalization and dropout (a recurrent layer without return_sequences ends it)",
                self.name(),
                self.class_name()
            )));
        }
        Ok(false)
    }
    /// Before each forward, when [`Layer::mask_flow`] said its input is masked: the input's
    /// mask (B, T), 1 for a real step and 0 for padding.
    fn set_input_mask(&mut self, _mask: &[f32]) {}
    /// After forward, when [`Layer::mask_flow`] said its output is masked: the output's mask
    /// (B, T).
    fn output_mask(&self) -> &[f32] {
        &[]
    }
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
    /// Checks the values of `x`, the model input this layer reads whole (B, ...), before
    /// training or inference (an embedding's ids are integers below its `input_dim`); the
    /// error names the row and feature. Every value is accepted by default.
    fn check_input(&self, _x: &Tensor) -> Result<()> {
        Ok(())
    }
    /// The (parameter and state values, largest single tensor) the layer will hold once built
    /// on an input of `input_shape`, known before building: a layer made by a
    /// [`super::register_layer`] factory says so here, so that the size guard refuses an absurd
    /// model before anything is allocated, as it does for built-ins ([`super::LayerConfig`]
    /// answers for those). `None` (the default): the guard builds a copy once to measure it.
    fn declared_size(&self, _input_shape: &[usize]) -> Option<(u64, u64)> {
        None
    }
    /// Values of scratch the built layer allocates for a batch of `batch` rows beyond its
    /// output and a copy of it (a convolution's im2col buffers), for the memory estimate
    /// ([`crate::budget`]).
    fn scratch_values(&self, _batch: usize) -> usize {
        0
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
    /// (`None` turns it off). With `keep_gradient` (a step someone observes) it also stores
    /// g, and still updates θ by the same arithmetic, so that observing a step never changes
    /// its result. Returns whether it will; the model's optimizer updates the parameters of a
    /// layer that will not.
    fn set_fused_descent(&mut self, _rate: Option<f32>, _keep_gradient: bool) -> bool {
        false
    }
    /// Asks the layer to treat `grad_output` in backward as the gradient with respect to its
    /// pre-activation (logits) rather than its output; the loss then works from
    /// [`Layer::logits`]. Returns false when the layer cannot (no output activation).
    fn set_fused_output(&mut self, _fused: bool) -> bool {
        false
    }
    /// Runs the layer's matrix products under `policy` from now on (see
    /// [`crate::dtype_policy`]); a layer without products ignores it. The model has checked
    /// that the CPU supports the policy.
    fn set_dtype_policy(&mut self, _policy: crate::DtypePolicy) {}
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

/// The three [`Layer`] methods of a layer with its own random stream (dropout, noise, RReLU),
/// held in the field `$field`: written once here, expanded inside each `impl Layer`.
macro_rules! random_stream {
    ($field:ident) => {
        fn reseed(&mut self, seed: u64) {
            self.$field = <$crate::Rng as rand::SeedableRng>::seed_from_u64(seed);
        }

        fn rng(&self) -> Option<&$crate::Rng> {
            Some(&self.$field)
        }

        fn set_rng(&mut self, rng: $crate::Rng) {
            self.$field = rng;
        }
    };
}
pub(crate) use random_stream;

/// The mask methods of a layer that keeps the time axis and passes a time-step mask on
/// unchanged (Keras' `supports_masking` on Dense, LayerNormalization, Dropout): the mask is
/// copied into `$field` (a `Vec<f32>`, sized once) and handed to the next layer.
macro_rules! mask_pass_through {
    ($field:ident) => {
        fn mask_flow(&self, input_masked: bool) -> $crate::Result<bool> {
            Ok(input_masked)
        }

        fn set_input_mask(&mut self, mask: &[f32]) {
            self.$field.clear();
            self.$field.extend_from_slice(mask);
        }

        fn output_mask(&self) -> &[f32] {
            &self.$field
        }
    };
}
pub(crate) use mask_pass_through;
