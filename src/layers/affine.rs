//! What Dense and Conv2D share, both computing y = f(x·W + b) per output feature (Conv2D on the
//! im2col rows): the checks and `"auto"` rule of their settings, and the epilogue of the
//! product (bias, activation, and their backward).

use super::config::refuse_auto;
use crate::activations::Activation;
use crate::init::Initializer;
use crate::limits::MAX_UNITS;
use crate::parallel::{self, SharedMut, PARALLEL_MIN_ELEMENTS};
use crate::regularizers::{Constraint, Regularizer};
use crate::tensor::Tensor;
use crate::{Error, Result};

/// The settings of an affine layer that the shared checks read.
pub(super) struct AffineKeys<'a> {
    /// `dense`, `conv2d`.
    pub layer: &'a str,
    /// `units`, `filters`.
    pub outputs_key: &'a str,
    pub outputs: usize,
    pub kernel_initializer: Initializer,
    pub bias_initializer: Initializer,
    pub regularizers: [Option<Regularizer>; 2],
    pub kernel_constraint: Option<Constraint>,
}

impl AffineKeys<'_> {
    /// `units` (`filters`) in 1..=[`MAX_UNITS`], then the initializers, regularizers and
    /// constraint.
    pub fn validate(&self) -> Result<()> {
        let (layer, key) = (self.layer, self.outputs_key);
        if self.outputs == 0 {
            return Err(Error::Config(format!(
                "{layer} layer: `{key}` must be at least 1"
            )));
        }
        if self.outputs > MAX_UNITS {
            return Err(Error::Config(format!(
                "{layer} layer: `{key}` = {} is more than the limit of {MAX_UNITS}",
                self.outputs
            )));
        }
        self.kernel_initializer.validate()?;
        self.bias_initializer.validate()?;
        for r in self.regularizers.iter().flatten() {
            r.validate()?;
        }
        if let Some(c) = self.kernel_constraint {
            c.validate()?;
        }
        Ok(())
    }
}

/// `auto` for a kernel: the initializer the textbook pairs with the layer's own activation, or,
/// for a linear layer, with `following` (He for the ReLU family, LeCun for SELU, Glorot
/// otherwise). A bias left at `auto` is refused.
pub(super) fn resolve_auto(
    layer: &str,
    kernel: &mut Initializer,
    bias: Initializer,
    own: Activation,
    following: Option<Activation>,
) -> Result<()> {
    refuse_auto(layer, "bias_initializer", bias, "zeros")?;
    if *kernel == Initializer::Auto {
        let activation = match own {
            Activation::Linear => following.unwrap_or(Activation::Linear),
            own => own,
        };
        *kernel = activation.recommended_initializer();
    }
    Ok(())
}

/// Whether forward keeps z, the pre-activation: for a fused loss (its logits) or an activation
/// whose derivative needs its input (GELU, Swish, Mish).
pub(super) fn keeps_z(fused_output: bool, activation: Activation) -> bool {
    fused_output || activation.needs_input()
}

/// Plain gradient descent applied within backward ([`super::Layer::set_fused_descent`]).
#[derive(Clone, Copy, Debug)]
pub(super) struct FusedDescent {
    /// η in W ← W − η·g.
    pub rate: f32,
    /// Whether g is also stored (a step an observer or a callback reads): one more product,
    /// the update unchanged.
    pub keep_gradient: bool,
}

/// Plain SGD's update, the one function its optimizer also calls: a fused step and an unfused
/// one give the same bits.
pub(super) use crate::optimizers::sgd::descend;

/// The [`super::Layer`] methods Dense and Conv2D share, written once: fused descent and output,
/// parameters, the kernel, and the weight penalty. Expanded inside `impl Layer` of a struct
/// with the fields `spec` (with `activation`, `kernel_regularizer`, `bias_regularizer`),
/// `params` (kernel first), `fused_output`, `fused_descent`, `z` and `products` (told when
/// the kernel may change).
macro_rules! affine_layer_methods {
    () => {
        fn set_fused_descent(&mut self, rate: Option<f32>, keep_gradient: bool) -> bool {
            // A weight penalty adds to g before the update: not fusable.
            let penalized = self.has_penalty();
            self.fused_descent =
                rate.filter(|_| !penalized)
                    .map(|rate| $crate::layers::affine::FusedDescent {
                        rate,
                        keep_gradient,
                    });
            rate.is_some() && !penalized
        }

        fn params(&self) -> &[$crate::layers::Param] {
            &self.params
        }

        fn params_mut(&mut self) -> &mut [$crate::layers::Param] {
            // Whoever asks may write the kernel: its bf16 copies are made again.
            self.products.weights_changed();
            &mut self.params
        }

        fn output_activation(&self) -> $crate::activations::Activation {
            self.spec.activation
        }

        fn set_fused_output(&mut self, fused: bool) -> bool {
            if self.spec.activation == $crate::activations::Activation::Linear && fused {
                return false;
            }
            self.fused_output = fused;
            true
        }

        fn logits(&self) -> Option<&$crate::tensor::Tensor> {
            self.fused_output.then_some(&self.z)
        }

        fn kernel_param(&self) -> Option<&$crate::layers::Param> {
            self.params.first()
        }

        fn kernel_param_mut(&mut self) -> Option<&mut $crate::layers::Param> {
            self.products.weights_changed();
            self.params.first_mut()
        }

        fn has_penalty(&self) -> bool {
            self.spec.kernel_regularizer.is_some() || self.spec.bias_regularizer.is_some()
        }

        fn penalty(&self) -> f64 {
            $crate::regularizers::penalty_of(
                &self.params,
                &[self.spec.kernel_regularizer, self.spec.bias_regularizer],
            )
        }

        fn add_penalty_gradients(&mut self) {
            let regularizers = [self.spec.kernel_regularizer, self.spec.bias_regularizer];
            $crate::regularizers::add_penalty_gradients(&mut self.params, &regularizers);
        }
    };
}
pub(super) use affine_layer_methods;

/// The [`super::LayerConfig`] methods Dense, Conv2D and Conv1D share, written once: the
/// parameter count (the kernel, `largest_param_tensor`, and a bias per output), the activation
/// and kernel initializer the settings name, `"auto"` initialization ([`resolve_auto`]), and
/// the affine part (W read as (inputs, outputs), for a convolution (kh·kw·C, F)). Expanded
/// inside `impl LayerConfig` of settings with the fields `activation`, `kernel_initializer`,
/// `bias_initializer` and `use_bias`: `$layer` names the layer in messages, `$outputs` is the
/// field that counts the outputs, and `$folds` (a `fn(&Self) -> bool`) says whether a batch
/// norm on the layer's input may be folded into it (a convolution's needs `valid` padding: no
/// zeros to scale).
macro_rules! affine_config_methods {
    ($layer:literal, $outputs:ident, $folds:expr) => {
        fn param_count(&self, input_shape: &[usize]) -> u64 {
            self.largest_param_tensor(input_shape)
                .saturating_add(self.$outputs as u64)
        }

        fn applied_activation(&self) -> Option<$crate::activations::Activation> {
            Some(self.activation)
        }

        fn kernel_initializer(&self) -> Option<$crate::init::Initializer> {
            Some(self.kernel_initializer)
        }

        fn resolve_auto(
            &mut self,
            following: Option<$crate::activations::Activation>,
        ) -> $crate::Result<()> {
            let (bias, own) = (self.bias_initializer, self.activation);
            let kernel = &mut self.kernel_initializer;
            $crate::layers::affine::resolve_auto($layer, kernel, bias, own, following)
        }

        fn ends_auto_search(&self) -> bool {
            true
        }

        fn affine(&self) -> Option<$crate::layers::Affine> {
            let folds: fn(&Self) -> bool = $folds;
            Some($crate::layers::Affine {
                outputs: self.$outputs,
                activation: self.activation,
                takes_folded_input: folds(self),
            })
        }

        fn set_use_bias(&mut self, use_bias: bool) {
            self.use_bias = use_bias;
        }
    };
}
pub(super) use affine_config_methods;

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
            let z = if z.is_empty() { z } else { &z[rows.clone()] };
            activation.backward_into(z, &y[rows.clone()], &dy_data[rows], dz, units);
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
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU supports AVX2.
                return unsafe { add_bias_relu_avx2(rows, b, units) };
            }
            return add_bias_relu(rows, b, units);
        }
        add_bias(rows, b);
    }
    // One vectorizable loop per activation.
    activation.forward_in_place(rows, units);
}

/// rows ← relu(rows + b), for whole rows of `units` values.
#[inline(always)]
fn add_bias_relu(rows: &mut [f32], b: &[f32], units: usize) {
    for row in rows.chunks_exact_mut(units) {
        for (v, &bv) in row.iter_mut().zip(b) {
            *v = crate::activations::relu(*v + bv);
        }
    }
}

/// [`add_bias_relu`] compiled for AVX2 (twice the SSE2 build's vector width; the same bits).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn add_bias_relu_avx2(rows: &mut [f32], b: &[f32], units: usize) {
    add_bias_relu(rows, b, units);
}

/// rows ← rows + b, for whole rows.
fn add_bias(rows: &mut [f32], b: &[f32]) {
    for row in rows.chunks_exact_mut(b.len()) {
        row.iter_mut().zip(b).for_each(|(v, &bv)| *v += bv);
    }
}
