//! Dense (fully connected) layer: y = f(x·W + b).
//!
//! Shapes: x (B, I), W (I, U), b (U), y (B, U). On an input of higher rank the map applies to
//! the last axis, as Keras' `Dense` (a `tensordot` over it): x (B, T, I) → y (B, T, U), every
//! position t sharing W and b; below, B then counts every leading position (B·T rows). Backward,
//! with dz = dy ⊙ f'(z):
//! dW = xᵀ·dz, db = Σ_B dz, dx = dz·Wᵀ. Under plain SGD the kernel's update W ← W − η·dW runs
//! inside the dW product (see [`Layer::set_fused_descent`]).

use serde::{Deserialize, Serialize};

use super::affine::{
    self, activation_backward, bias_and_activation, bias_and_activation_keeping_z, bias_gradient,
    AffineKeys,
};
use super::config::elements;
use super::{Layer, LayerConfig, LayerSpec, Mode, Param};
use crate::activations::Activation;
use crate::dtype_policy::{DtypePolicy, Products};
use crate::init::Initializer;
use crate::linalg::Mat;
use crate::regularizers::{Constraint, Regularizer};
use crate::tensor::Tensor;
use crate::{Error, Result, Rng};

const KERNEL: usize = 0;
const BIAS: usize = 1;

/// Settings of a [`Dense`] layer (Keras' names and defaults).
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

pub(super) fn yes() -> bool {
    true
}
pub(super) fn glorot_uniform() -> Initializer {
    Initializer::GLOROT_UNIFORM
}
pub(super) fn zeros() -> Initializer {
    Initializer::Zeros
}

impl DenseSpec {
    /// A Dense layer of `units` with Keras' defaults.
    pub fn new(units: usize) -> Self {
        DenseSpec {
            units,
            activation: Activation::Linear,
            use_bias: yes(),
            kernel_initializer: glorot_uniform(),
            bias_initializer: zeros(),
            trainable: yes(),
            kernel_regularizer: None,
            bias_regularizer: None,
            kernel_constraint: None,
        }
    }
}

crate::builder::layer_setters!(DenseSpec);
crate::builder::setters!(DenseSpec {
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

impl LayerConfig for DenseSpec {
    fn type_name(&self) -> &str {
        "dense"
    }
    fn validate(&self) -> Result<()> {
        AffineKeys {
            layer: "dense",
            outputs_key: "units",
            outputs: self.units,
            kernel_initializer: self.kernel_initializer,
            bias_initializer: self.bias_initializer,
            regularizers: [self.kernel_regularizer, self.bias_regularizer],
            kernel_constraint: self.kernel_constraint,
        }
        .validate()
    }
    /// Inputs × units, inputs being the last axis.
    fn largest_param_tensor(&self, input_shape: &[usize]) -> u64 {
        elements(&input_shape[input_shape.len().saturating_sub(1)..])
            .saturating_mul(self.units as u64)
    }
    fn build(&self) -> Result<Box<dyn Layer>> {
        Ok(Box::new(Dense::from_spec(self.clone())))
    }
    affine::affine_config_methods!("dense", units, |_| true);
}

/// A fully connected layer with an optional built-in activation.
pub struct Dense {
    spec: DenseSpec,
    name: String,
    params: Vec<Param>,
    inputs: usize,
    /// When true, backward receives dL/dz (the loss has taken the activation's place).
    fused_output: bool,
    /// Pre-activation z, kept when the output is fused.
    z: Tensor,
    /// Scratch for dz.
    dz: Tensor,
    /// Scratch for max-norm's column norms.
    norms: Vec<f32>,
    /// Plain gradient descent applied within backward (see [`Layer::set_fused_descent`]);
    /// the kernel's gradient is then stored only when asked.
    fused_descent: Option<affine::FusedDescent>,
    /// The matrix products under the dtype policy (with their bf16 buffers).
    products: Products,
    /// The time-step mask passed through on a sequence (B, T); empty without one.
    step_mask: Vec<f32>,
}

impl Dense {
    /// An unbuilt Dense layer.
    pub fn from_spec(spec: DenseSpec) -> Self {
        Dense {
            name: String::new(),
            spec,
            params: Vec::new(),
            inputs: 0,
            fused_output: false,
            z: Tensor::default(),
            dz: Tensor::default(),
            norms: Vec::new(),
            fused_descent: None,
            products: Products::default(),
            step_mask: Vec::new(),
        }
    }

    /// The kernel W, (inputs, units).
    pub fn kernel(&self) -> &Tensor {
        &self.params[KERNEL].value
    }
}

/// Sizes `y` for `x`: x's shape with the last axis `units` when that axis holds the `inputs`
/// features, else (rows, units) (a model input of shape (I) fed samples of another shape with
/// I values, which the model reads flat).
fn resize_output(y: &mut Tensor, x: &Tensor, inputs: usize, units: usize) {
    if x.shape().last() == Some(&inputs) {
        y.resize_last_axis(x.shape(), units);
    } else {
        y.resize(&[x.len() / inputs, units]);
    }
}

impl Layer for Dense {
    fn name(&self) -> &str {
        &self.name
    }

    fn set_name(&mut self, name: String) {
        self.name = name;
    }

    fn class_name(&self) -> &'static str {
        "Dense"
    }

    super::mask_pass_through!(step_mask);

    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let Some(&inputs) = input_shape.last().filter(|&&i| i > 0) else {
            return Err(Error::Shape(format!(
                "layer `{}` (Dense) needs inputs with a non-empty last axis, got shape {input_shape:?}",
                self.name
            )));
        };
        let units = self.spec.units;
        let mut kernel = Param::new("kernel", &[inputs, units]);
        self.spec
            .kernel_initializer
            .fill(kernel.value.data_mut(), &[inputs, units], rng);
        self.params = vec![kernel];
        if self.spec.use_bias {
            let mut bias = Param::new("bias", &[units]);
            self.spec
                .bias_initializer
                .fill(bias.value.data_mut(), &[units], rng);
            self.params.push(bias);
        }
        self.set_trainable(self.spec.trainable);
        self.products.weights_changed();
        self.inputs = inputs;
        let mut output = input_shape.to_vec();
        output.pop();
        output.push(units);
        Ok(output)
    }

    fn forward(&mut self, input: &Tensor, output: &mut Tensor, _mode: Mode) {
        // Every position before the last axis is a row (the batch, and the time steps of a
        // sequence).
        let batch = input.len() / self.inputs;
        let units = self.spec.units;
        let x = Mat::new(input.data(), batch, self.inputs);
        let w = Mat::new(self.params[KERNEL].value.data(), self.inputs, units);
        resize_output(output, input, self.inputs, units);
        if affine::keeps_z(self.fused_output, self.spec.activation) {
            // Keep z: the logits for a fused loss, or the input of an activation whose
            // derivative needs it (GELU, Swish, Mish); y = f(z).
            resize_output(&mut self.z, input, self.inputs, units);
            self.products.matmul_weights(x, w, self.z.data_mut(), false);
            let bias = self.params.get(BIAS).map(|p| p.value.data());
            bias_and_activation_keeping_z(
                self.z.data_mut(),
                output.data_mut(),
                bias,
                self.spec.activation,
                units,
            );
        } else {
            self.products.matmul_weights(x, w, output.data_mut(), false);
            let bias = self.params.get(BIAS).map(|p| p.value.data());
            bias_and_activation(output.data_mut(), bias, self.spec.activation, units);
        }
    }

    fn backward(
        &mut self,
        input: &Tensor,
        output: &Tensor,
        grad_output: &Tensor,
        grad_input: Option<&mut Tensor>,
    ) {
        let batch = input.len() / self.inputs;
        let units = self.spec.units;
        let dz: &Tensor = if self.fused_output || self.spec.activation == Activation::Linear {
            grad_output
        } else {
            activation_backward(
                self.spec.activation,
                self.z.data(),
                output,
                grad_output,
                &mut self.dz,
                units,
            );
            &self.dz
        };
        let dz_mat = Mat::new(dz.data(), batch, units);
        // With fused descent the kernel changes below, so dx (which needs the old one) comes
        // first.
        if let Some(dx) = grad_input {
            dx.resize(input.shape());
            let w = Mat::new(self.params[KERNEL].value.data(), self.inputs, units);
            self.products
                .matmul_weights(dz_mat, w.t(), dx.data_mut(), false);
        }
        let x_t = Mat::new(input.data(), batch, self.inputs).t();
        if self.params[KERNEL].trainable {
            let kernel = &mut self.params[KERNEL];
            let descent = self.fused_descent;
            if descent.is_none_or(|d| d.keep_gradient) {
                self.products
                    .matmul(x_t, dz_mat, kernel.grad.data_mut(), false);
            }
            if let Some(d) = descent {
                // W ← W − η·xᵀ·dz, in the product itself: no pass over a gradient buffer (the
                // same product whether or not g was stored above, so the same bits).
                self.products
                    .matmul_add_scaled(x_t, dz_mat, kernel.value.data_mut(), -d.rate);
                self.products.weights_changed();
            }
        }
        if let Some(bias) = self.params.get_mut(BIAS).filter(|b| b.trainable) {
            // db = Σ_B dz.
            bias_gradient(dz.data(), units, bias.grad.data_mut());
            if let Some(d) = self.fused_descent {
                affine::descend(bias.value.data_mut(), bias.grad.data(), d.rate);
            }
        }
    }

    super::affine::affine_layer_methods!();

    fn set_dtype_policy(&mut self, policy: DtypePolicy) {
        self.products.set_policy(policy);
    }

    fn apply_constraints(&mut self) {
        if let Some(c) = self.spec.kernel_constraint {
            let units = self.spec.units;
            c.apply(self.params[KERNEL].value.data_mut(), units, &mut self.norms);
            self.products.weights_changed();
        }
    }

    fn describe(&self) -> String {
        format!("{}, {}", self.spec.activation, self.spec.kernel_initializer)
    }

    fn spec(&self) -> LayerSpec {
        let mut spec = self.spec.clone();
        spec.trainable = self.params.iter().all(|p| p.trainable);
        LayerSpec::new(spec).named(&self.name)
    }
}
