//! A 1-D window layer (Keras' `Conv1D`, `MaxPooling1D`, `GlobalAveragePooling1D`, ...) run as
//! its 2-D twin on each sequence read as an image of height 1.
//!
//! Shapes: x (N, T, C), channels last as Keras, holds the same values in the same order as an
//! image (N, 1, T, C); a twin whose kernel (or pool) and stride are 1 along the height computes
//! exactly the 1-D layer over T, with the same padding and dilation rules ([`super::Window2`]).
//! So the twin runs on the input as it is, and only the shapes it writes are read back:
//! output (N, 1, T', F) → (N, T', F), a kernel (1, k, C, F) → (k, C, F), Keras' layout. The
//! forward, backward, buffers (none allocated per step) and threading are the twin's.

use super::{Layer, LayerConfig, LayerSpec, Mode, Param, State};
use crate::activations::Activation;
use crate::tensor::Tensor;
use crate::{Error, Result, Rng};

/// Settings of a 1-D window layer that runs as a 2-D twin.
pub(super) trait ImageTwin: LayerConfig + Clone {
    /// Keras' class name (`Conv1D`).
    fn class_name(&self) -> &'static str;
    /// Checks the settings on sequences of `steps` steps (a window that does not fit),
    /// naming `layer`, so that an error speaks of steps rather than of a 1×T image.
    fn check_steps(&self, layer: &str, steps: usize) -> Result<()>;
    /// The unbuilt twin: a 2-D layer whose window and strides are 1 along the height.
    fn twin(&self) -> Box<dyn Layer>;
    /// The summary's short description of the settings.
    fn describe(&self) -> String;
    /// The settings with `trainable` set as the twin's parameters are (for saving); settings
    /// without parameters return themselves.
    fn with_trainable(&self, _trainable: bool) -> Self {
        self.clone()
    }
}

/// A 1-D layer of settings `S`, computed by their 2-D twin (see the module docs).
pub(super) struct OnSequence<S> {
    spec: S,
    twin: Box<dyn Layer>,
    /// (0, ...): the output shape, with the batch written in forward.
    output_shape: Vec<usize>,
}

impl<S: ImageTwin> OnSequence<S> {
    /// An unbuilt layer.
    pub fn new(spec: S) -> Self {
        OnSequence {
            twin: spec.twin(),
            spec,
            output_shape: Vec::new(),
        }
    }
}

/// `tensor` (1, rest...) as (rest...), same values.
fn drop_height(tensor: &mut Tensor) {
    let shape = tensor.shape()[1..].to_vec();
    *tensor = Tensor::from_vec(std::mem::take(tensor).into_vec(), &shape);
}

impl<S: ImageTwin + 'static> Layer for OnSequence<S> {
    fn name(&self) -> &str {
        self.twin.name()
    }

    fn set_name(&mut self, name: String) {
        self.twin.set_name(name);
    }

    fn class_name(&self) -> &'static str {
        self.spec.class_name()
    }

    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let label = format!("layer `{}` ({})", self.name(), self.class_name());
        let &[steps, channels] = input_shape else {
            return Err(Error::Shape(format!(
                "{label} expects sequences of shape (steps, channels), got {input_shape:?}; for one channel, add a reshape layer with `target_shape = [-1, 1]` before it"
            )));
        };
        if steps == 0 || channels == 0 {
            return Err(Error::Shape(format!(
                "{label} expects non-empty sequences, got shape {input_shape:?}"
            )));
        }
        self.spec.check_steps(&label, steps)?;
        let image = self.twin.build(&[1, steps, channels], rng)?;
        for p in self.twin.params_mut() {
            if p.value.shape().len() == 4 && p.value.shape()[0] == 1 {
                drop_height(&mut p.value);
                drop_height(p.grad_mut());
            }
        }
        let shape = match image.as_slice() {
            [1, rest @ ..] if image.len() == 3 => rest.to_vec(),
            _ => image,
        };
        self.output_shape = std::iter::once(0).chain(shape.iter().copied()).collect();
        Ok(shape)
    }

    fn forward(&mut self, input: &Tensor, output: &mut Tensor, mode: Mode) {
        self.twin.forward(input, output, mode);
        // (N, 1, T', F) → (N, T', F): the same values, a shorter shape (no allocation).
        self.output_shape[0] = input.rows();
        output.resize(&self.output_shape);
    }

    fn backward(
        &mut self,
        input: &Tensor,
        output: &Tensor,
        grad_output: &Tensor,
        grad_input: Option<&mut Tensor>,
    ) {
        self.twin.backward(input, output, grad_output, grad_input);
    }

    fn scratch_values(&self, batch: usize) -> usize {
        self.twin.scratch_values(batch)
    }

    fn kernel_param(&self) -> Option<&Param> {
        self.twin.kernel_param()
    }

    fn kernel_param_mut(&mut self) -> Option<&mut Param> {
        self.twin.kernel_param_mut()
    }

    fn has_penalty(&self) -> bool {
        self.twin.has_penalty()
    }

    fn params(&self) -> &[Param] {
        self.twin.params()
    }

    fn params_mut(&mut self) -> &mut [Param] {
        self.twin.params_mut()
    }

    fn state(&self) -> &[State] {
        self.twin.state()
    }

    fn state_mut(&mut self) -> &mut [State] {
        self.twin.state_mut()
    }

    fn output_activation(&self) -> Activation {
        self.twin.output_activation()
    }

    fn set_fused_descent(&mut self, rate: Option<f32>, keep_gradient: bool) -> bool {
        self.twin.set_fused_descent(rate, keep_gradient)
    }

    fn set_dtype_policy(&mut self, policy: crate::DtypePolicy) {
        self.twin.set_dtype_policy(policy)
    }

    fn set_fused_output(&mut self, fused: bool) -> bool {
        self.twin.set_fused_output(fused)
    }

    fn logits(&self) -> Option<&Tensor> {
        self.twin.logits()
    }

    fn spec(&self) -> LayerSpec {
        let trainable = self.params().iter().all(|p| p.trainable);
        LayerSpec::new(self.spec.with_trainable(trainable)).named(self.name())
    }

    fn penalty(&self) -> f64 {
        self.twin.penalty()
    }

    fn add_penalty_gradients(&mut self) {
        self.twin.add_penalty_gradients()
    }

    fn apply_constraints(&mut self) {
        self.twin.apply_constraints()
    }

    fn describe(&self) -> String {
        self.spec.describe()
    }

    fn set_trainable(&mut self, trainable: bool) {
        self.twin.set_trainable(trainable)
    }
}
