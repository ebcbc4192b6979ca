//! Dense (fully connected) layer: y = f(x·W + b).
//!
//! Shapes: x (B, I), W (I, U), b (U), y (B, U). Backward, with dz = dy ⊙ f'(z):
//! dW = xᵀ·dz, db = Σ_B dz, dx = dz·Wᵀ. Under plain SGD the kernel's update W ← W − η·dW runs
//! inside the dW product (see [`Layer::set_fused_descent`]).

use super::{DenseSpec, Layer, LayerSpec, Mode, Param};
use crate::activations::Activation;
use crate::linalg::{matmul, matmul_add_scaled, Mat};
use crate::parallel::{self, SharedMut, PARALLEL_MIN_ELEMENTS};
use crate::regularizers::{self, Regularizer};
use crate::tensor::Tensor;
use crate::{Error, Result, Rng};

const KERNEL: usize = 0;
const BIAS: usize = 1;

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
    /// The learning rate of plain gradient descent applied within backward (see
    /// [`Layer::set_fused_descent`]); the kernel's gradient is then not stored.
    fused_descent: Option<f32>,
}

impl Dense {
    /// The kernel's and the bias's regularizers, in parameter order.
    fn regularizers(&self) -> [Option<Regularizer>; 2] {
        [self.spec.kernel_regularizer, self.spec.bias_regularizer]
    }

    /// An unbuilt Dense layer.
    pub fn from_spec(spec: DenseSpec) -> Self {
        Dense {
            name: spec.name.clone().unwrap_or_default(),
            spec,
            params: Vec::new(),
            inputs: 0,
            fused_output: false,
            z: Tensor::default(),
            dz: Tensor::default(),
            norms: Vec::new(),
            fused_descent: None,
        }
    }

    fn keeps_z(&self) -> bool {
        self.fused_output || self.spec.activation.needs_input()
    }

    /// The kernel W, (inputs, units).
    pub fn kernel(&self) -> &Tensor {
        &self.params[KERNEL].value
    }
}

/// out ← f(out + b) in place, for rows of `units` values, in parallel (the epilogue of an
/// affine map shared with [`super::Conv2d`]).
pub(super) fn bias_and_activation(
    out: &mut [f32],
    bias: Option<&[f32]>,
    activation: Activation,
    units: usize,
) {
    parallel::chunks_mut(
        out,
        activation.parallel_min_elements(),
        units,
        &|_, rows| add_bias_and_activate(rows, bias, activation, units),
    );
}

/// z ← z + b and y = f(z), keeping z (the logits of a fused loss, or the input of an
/// activation whose derivative needs it), for rows of `units` values, in parallel.
pub(super) fn bias_and_activation_keeping_z(
    z: &mut [f32],
    output: &mut [f32],
    bias: Option<&[f32]>,
    activation: Activation,
    units: usize,
) {
    assert_eq!(z.len(), output.len(), "z and y differ in length");
    let out = SharedMut::new(output);
    let min_len = activation.parallel_min_elements();
    parallel::chunks_mut(z, min_len, units, &|at, rows| {
        if let Some(b) = bias {
            add_bias(rows, b);
        }
        // SAFETY: `output` has z's length; the chunks are disjoint.
        let y = unsafe { out.slice(at..at + rows.len()) };
        y.copy_from_slice(rows);
        activation.forward_in_place(y, units);
    });
}

/// dz = dy ⊙ f'(z) into `dz` (resized to dy's shape), for rows of `units` values; `z` is read
/// only when the activation needs its input.
pub(super) fn activation_backward(
    activation: Activation,
    z: &[f32],
    y: &Tensor,
    dy: &Tensor,
    dz: &mut Tensor,
    units: usize,
) {
    let z: &[f32] = if activation.needs_input() { z } else { &[] };
    let (y, dy_data) = (y.data(), dy.data());
    dz.resize(dy.shape());
    parallel::chunks_mut(
        dz.data_mut(),
        activation.parallel_min_elements(),
        units,
        &|at, dz| {
            let rows = at..at + dz.len();
            dz.copy_from_slice(&dy_data[rows.clone()]);
            let z = if z.is_empty() { z } else { &z[rows.clone()] };
            activation.backward_in_place(z, &y[rows], dz, units);
        },
    );
}

/// db = Σ over rows of dz (rows of `units` values), split by columns so that each sum runs in
/// the same order whatever the thread count.
pub(super) fn bias_gradient(dz: &[f32], units: usize, db: &mut [f32]) {
    let min_columns = if dz.len() >= PARALLEL_MIN_ELEMENTS {
        16
    } else {
        units
    };
    parallel::chunks_mut(db, min_columns, 16, &|at, db| {
        let columns = at..at + db.len();
        db.fill(0.0);
        for row in dz.chunks_exact(units) {
            db.iter_mut()
                .zip(&row[columns.clone()])
                .for_each(|(g, &d)| *g += d);
        }
    });
}

/// rows ← f(rows + b), for whole rows of `units` values.
fn add_bias_and_activate(
    rows: &mut [f32],
    bias: Option<&[f32]>,
    activation: Activation,
    units: usize,
) {
    if let Some(b) = bias {
        if activation == Activation::Relu {
            // ReLU fused with the bias in one pass.
            for row in rows.chunks_exact_mut(units) {
                for (v, &bv) in row.iter_mut().zip(b) {
                    *v = crate::activations::relu(*v + bv);
                }
            }
            return;
        }
        add_bias(rows, b);
    }
    // One vectorizable loop per activation.
    activation.forward_in_place(rows, units);
}

/// rows ← rows + b, for whole rows.
fn add_bias(rows: &mut [f32], b: &[f32]) {
    for row in rows.chunks_exact_mut(b.len()) {
        row.iter_mut().zip(b).for_each(|(v, &bv)| *v += bv);
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

    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let &[inputs] = input_shape else {
            return Err(Error::Shape(format!(
                "layer `{}` (Dense) expects flat inputs but receives shape {input_shape:?}; add a flatten layer before it",
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
        self.inputs = inputs;
        Ok(vec![units])
    }

    fn forward(&mut self, input: &Tensor, output: &mut Tensor, _mode: Mode) {
        let batch = input.rows();
        let units = self.spec.units;
        let x = Mat::new(input.data(), batch, self.inputs);
        let w = Mat::new(self.params[KERNEL].value.data(), self.inputs, units);
        output.resize(&[batch, units]);
        if self.keeps_z() {
            // Keep z: the logits for a fused loss, or the input of an activation whose
            // derivative needs it (GELU, Swish, Mish); y = f(z).
            self.z.resize(&[batch, units]);
            matmul(x, w, self.z.data_mut(), false);
            let bias = self.params.get(BIAS).map(|p| p.value.data());
            bias_and_activation_keeping_z(
                self.z.data_mut(),
                output.data_mut(),
                bias,
                self.spec.activation,
                units,
            );
        } else {
            matmul(x, w, output.data_mut(), false);
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
        let batch = input.rows();
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
            dx.resize(&[batch, self.inputs]);
            let w = Mat::new(self.params[KERNEL].value.data(), self.inputs, units);
            matmul(dz_mat, w.t(), dx.data_mut(), false);
        }
        let x_t = Mat::new(input.data(), batch, self.inputs).t();
        if self.params[KERNEL].trainable {
            let kernel = &mut self.params[KERNEL];
            match self.fused_descent {
                // W ← W − η·xᵀ·dz, in the product itself: no pass over a gradient buffer.
                Some(rate) => matmul_add_scaled(x_t, dz_mat, kernel.value.data_mut(), -rate),
                None => matmul(x_t, dz_mat, kernel.grad.data_mut(), false),
            }
        }
        if let Some(bias) = self.params.get_mut(BIAS).filter(|b| b.trainable) {
            // db = Σ_B dz.
            bias_gradient(dz.data(), units, bias.grad.data_mut());
            if let Some(rate) = self.fused_descent {
                bias.value
                    .data_mut()
                    .iter_mut()
                    .zip(bias.grad.data())
                    .for_each(|(b, &g)| *b -= rate * g);
            }
        }
    }

    fn set_fused_descent(&mut self, rate: Option<f32>) -> bool {
        // A weight penalty adds to g before the update: not fusable.
        let penalized = self.has_penalty();
        self.fused_descent = rate.filter(|_| !penalized);
        rate.is_some() && !penalized
    }

    fn params(&self) -> &[Param] {
        &self.params
    }

    fn params_mut(&mut self) -> &mut [Param] {
        &mut self.params
    }

    fn output_activation(&self) -> Activation {
        self.spec.activation
    }

    fn set_fused_output(&mut self, fused: bool) -> bool {
        if self.spec.activation == Activation::Linear && fused {
            return false;
        }
        self.fused_output = fused;
        true
    }

    fn logits(&self) -> Option<&Tensor> {
        self.fused_output.then_some(&self.z)
    }

    fn kernel_param(&self) -> Option<&Param> {
        self.params.get(KERNEL)
    }

    fn kernel_param_mut(&mut self) -> Option<&mut Param> {
        self.params.get_mut(KERNEL)
    }

    fn has_penalty(&self) -> bool {
        self.spec.kernel_regularizer.is_some() || self.spec.bias_regularizer.is_some()
    }

    fn penalty(&self) -> f64 {
        regularizers::penalty_of(&self.params, &self.regularizers())
    }

    fn add_penalty_gradients(&mut self) {
        let regularizers = self.regularizers();
        regularizers::add_penalty_gradients(&mut self.params, &regularizers);
    }

    fn apply_constraints(&mut self) {
        if let Some(c) = self.spec.kernel_constraint {
            let units = self.spec.units;
            c.apply(self.params[KERNEL].value.data_mut(), units, &mut self.norms);
        }
    }

    fn describe(&self) -> String {
        format!("{}, {}", self.spec.activation, self.spec.kernel_initializer)
    }

    fn spec(&self) -> LayerSpec {
        let mut spec = self.spec.clone();
        spec.name = Some(self.name.clone());
        spec.trainable = self.params.iter().all(|p| p.trainable);
        LayerSpec::Dense(spec)
    }
}
