//! 2-D convolution (Keras' `Conv2D`), channels last: y = f(conv(x, W) + b).
//!
//! Shapes: x (N, H, W, C) (a sample of shape (H, W) is one channel), W (kh, kw, C, F) as Keras,
//! b (F), y (N, OH, OW, F), OH × OW from [`Window2`] (Keras/TensorFlow padding and strides).
//! With P = N·OH·OW output positions and K = kh·kw·C taps:
//! - forward: im2col gathers every window into cols (P, K), zeros in the padding; then one
//!   product z = cols·W, W read as (K, F), is already (N, OH, OW, F); y = f(z + b).
//! - backward, with dz = dy ⊙ f'(z): dW = colsᵀ·dz, db = Σ_P dz, dcols = dz·Wᵀ, and col2im adds
//!   each window's column back onto the input positions it read (dx).
//!
//! A 1×1 kernel with stride 1 reads the input itself as cols. Buffers live in the layer and only
//! grow, so a steady-state training step allocates nothing; im2col and col2im run over the
//! batch on the engine's threads. Under plain SGD the kernel's update runs inside the dW product
//! as in [`super::Dense`].

use serde::{Deserialize, Serialize};

use super::affine::{self, AffineKeys, FusedDescent};
use super::affine::{
    activation_backward, bias_and_activation, bias_and_activation_keeping_z, bias_gradient,
};
use super::dense::{glorot_uniform, yes, zeros};
use super::im2col::{col2im, im2col};
use super::{image_shape, Layer, LayerConfig, LayerSpec, Mode, Padding, Param, Size2, Window2};
use crate::activations::Activation;
use crate::dtype_policy::{DtypePolicy, Products};
use crate::init::Initializer;
use crate::linalg::Mat;
use crate::regularizers::{Constraint, Regularizer};
use crate::tensor::Tensor;
use crate::{Error, Result, Rng};

const KERNEL: usize = 0;
const BIAS: usize = 1;

/// Settings of a [`Conv2d`] layer: Keras' `Conv2D` arguments and defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conv2dSpec {
    /// Number of output channels F.
    pub filters: usize,
    /// Window (kh, kw): `3` or `[3, 5]`.
    pub kernel_size: Size2,
    /// Step between windows (default 1).
    #[serde(default = "one")]
    pub strides: Size2,
    /// `"valid"` (default: no padding) or `"same"` (zeros so that OH = ⌈H / stride⌉).
    #[serde(default)]
    pub padding: Padding,
    /// Spacing between taps (default 1; Keras refuses it above 1 together with strides > 1).
    #[serde(default = "one")]
    pub dilation_rate: Size2,
    /// Activation applied after the convolution (default linear).
    #[serde(default)]
    pub activation: Activation,
    /// Whether to add a bias per filter.
    #[serde(default = "yes")]
    pub use_bias: bool,
    /// Kernel initializer (default `glorot_uniform`, with Keras' fans: receptive field ×
    /// channels).
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
    /// Constraint on each filter's weights (kh·kw·C of them): `{ max_norm = 1.0 }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_constraint: Option<Constraint>,
    /// Whether the parameters are trained (default true).
    #[serde(default = "yes")]
    pub trainable: bool,
}

fn one() -> Size2 {
    Size2::square(1)
}

impl Conv2dSpec {
    /// A convolution of `filters` output channels over `kernel_size` windows, with Keras'
    /// defaults (stride 1, `valid`, linear, bias, Glorot uniform).
    ///
    /// ```
    /// use deeptrain::layers::{Conv2dSpec, Padding};
    /// use deeptrain::{Activation, DenseSpec, Initializer, LayerSpec, Sequential};
    /// let model = Sequential::new(&[28, 28])
    ///     .add(
    ///         Conv2dSpec::new(8, 3)
    ///             .padding(Padding::Same)
    ///             .strides(2)
    ///             .activation(Activation::Relu)
    ///             .kernel_initializer(Initializer::HE_NORMAL),
    ///     )
    ///     .add(LayerSpec::flatten())
    ///     .add(DenseSpec::new(10).activation(Activation::Softmax))
    ///     .build(42)
    ///     .unwrap();
    /// assert_eq!(model.output_shapes()[0], vec![14, 14, 8]);
    /// assert_eq!(model.layers()[0].params()[0].value.shape(), &[3, 3, 1, 8]);
    /// ```
    pub fn new(filters: usize, kernel_size: impl Into<Size2>) -> Self {
        Conv2dSpec {
            filters,
            kernel_size: kernel_size.into(),
            strides: one(),
            padding: Padding::Valid,
            dilation_rate: one(),
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

    /// Sets the strides (an int or a pair).
    pub fn strides(mut self, strides: impl Into<Size2>) -> Self {
        self.strides = strides.into();
        self
    }

    /// Sets the dilation rate (an int or a pair).
    pub fn dilation_rate(mut self, dilation: impl Into<Size2>) -> Self {
        self.dilation_rate = dilation.into();
        self
    }

    /// [`LayerConfig::validate`] but for the padding, which a [`super::Conv1dSpec`]'s twin
    /// may set to `causal`.
    fn check_window(&self) -> Result<()> {
        const LAYER: &str = "conv2d layer";
        let keys = AffineKeys {
            layer: "conv2d",
            outputs_key: "filters",
            outputs: self.filters,
            kernel_initializer: self.kernel_initializer,
            bias_initializer: self.bias_initializer,
            regularizers: [self.kernel_regularizer, self.bias_regularizer],
            kernel_constraint: self.kernel_constraint,
        };
        if self.filters == 0 {
            return keys.validate();
        }
        self.kernel_size.check_positive(LAYER, "`kernel_size`")?;
        self.strides.check_positive(LAYER, "`strides`")?;
        self.dilation_rate
            .check_positive(LAYER, "`dilation_rate`")?;
        let strided = self.strides.rows > 1 || self.strides.cols > 1;
        let dilated = self.dilation_rate.rows > 1 || self.dilation_rate.cols > 1;
        if strided && dilated {
            return Err(Error::Config(format!(
                "{LAYER}: `strides` > 1 together with `dilation_rate` > 1 is not supported (as in Keras), got strides {} and dilation_rate {}",
                self.strides, self.dilation_rate
            )));
        }
        keys.validate()
    }

    /// kh·kw·C·F, the kernel size on `input_shape` ((H, W) is one channel).
    fn kernel_len(&self, input_shape: &[usize]) -> u64 {
        let channels = match input_shape {
            [_, _, c] => *c as u64,
            _ => 1,
        };
        (self.kernel_size.rows as u64)
            .saturating_mul(self.kernel_size.cols as u64)
            .saturating_mul(channels)
            .saturating_mul(self.filters as u64)
    }
}

impl LayerConfig for Conv2dSpec {
    fn type_name(&self) -> &str {
        "conv2d"
    }
    /// Checks what the types cannot: `filters` in 1..=[`crate::limits::MAX_UNITS`], positive
    /// sizes, not strides > 1 with dilation > 1 (which Keras refuses), and not `causal`
    /// padding (Keras' `Conv1D` only).
    fn validate(&self) -> Result<()> {
        self.padding.check_not_causal("conv2d layer")?;
        self.check_window()
    }
    fn largest_param_tensor(&self, input_shape: &[usize]) -> u64 {
        self.kernel_len(input_shape)
    }
    fn build(&self) -> Result<Box<dyn Layer>> {
        Ok(Box::new(Conv2d::from_spec(self.clone())))
    }
    affine::affine_config_methods!("conv2d", filters, |s| s.padding == Padding::Valid);
}

crate::builder::layer_setters!(Conv2dSpec);
crate::builder::setters!(Conv2dSpec {
    padding: Padding,
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

/// A 2-D convolution layer with an optional built-in activation (see the module docs).
pub struct Conv2d {
    spec: Conv2dSpec,
    name: String,
    params: Vec<Param>,
    /// Per-sample input (H, W, C), set by build.
    input: (usize, usize, usize),
    /// The window over the input, set by build.
    window: Option<Window2>,
    /// im2col of the last forward pass, (P, K).
    cols: Vec<f32>,
    /// dL/dcols, (P, K).
    dcols: Vec<f32>,
    /// When true, backward receives dL/dz (the loss has taken the activation's place).
    fused_output: bool,
    /// Pre-activation z, kept when the output is fused or the activation needs it.
    z: Tensor,
    /// Scratch for dz.
    dz: Tensor,
    /// Scratch for max-norm's per-filter norms.
    norms: Vec<f32>,
    /// Plain gradient descent applied within backward (see [`Layer::set_fused_descent`]).
    fused_descent: Option<FusedDescent>,
    /// The matrix products under the dtype policy (with their bf16 buffers).
    products: Products,
    /// Whether it is a [`super::Conv1dSpec`]'s twin, run over sequences as images of height 1
    /// (which may be `causal`).
    on_sequence: bool,
}

impl Conv2d {
    /// An unbuilt convolution layer.
    pub fn from_spec(spec: Conv2dSpec) -> Self {
        Conv2d {
            on_sequence: false,
            name: String::new(),
            spec,
            params: Vec::new(),
            input: (0, 0, 0),
            window: None,
            cols: Vec::new(),
            dcols: Vec::new(),
            fused_output: false,
            z: Tensor::default(),
            dz: Tensor::default(),
            norms: Vec::new(),
            fused_descent: None,
            products: Products::default(),
        }
    }

    /// The twin of a 1-D convolution: `spec` has a kernel of height 1 and may be `causal`.
    pub(super) fn on_sequence(spec: Conv2dSpec) -> Self {
        Conv2d {
            on_sequence: true,
            ..Conv2d::from_spec(spec)
        }
    }

    /// The kernel W, (kh, kw, C, F).
    pub fn kernel(&self) -> &Tensor {
        &self.params[KERNEL].value
    }

    fn window(&self) -> Window2 {
        self.window.expect("a Conv2D layer is built before it runs")
    }

    /// K = kh·kw·C, the length of one window.
    fn patch_len(&self) -> usize {
        self.spec.kernel_size.area() * self.input.2
    }

    /// A 1×1 kernel with stride 1: the input is its own im2col.
    fn reads_input_as_cols(&self) -> bool {
        self.spec.kernel_size == Size2::square(1) && self.spec.strides == Size2::square(1)
    }

    /// Samples per piece of the batch that im2col and the products work on: enough that a
    /// piece's cols fill about [`CHUNK_FLOATS`] values (so that they stay in cache between
    /// im2col and the product), at least one.
    fn chunk_samples(&self, batch: usize) -> usize {
        let (oh, ow) = self.window().output();
        let per_sample = (oh * ow * self.patch_len()).max(1);
        (CHUNK_FLOATS / per_sample).clamp(1, batch.max(1))
    }
}

/// Makes `buffer` at least `len` long (never shorter: a smaller last piece keeps it).
fn grow(buffer: &mut Vec<f32>, len: usize) {
    if buffer.len() < len {
        buffer.resize(len, 0.0);
    }
}

/// The size of the im2col buffer a piece of the batch fills: 1 Mi values (4 MiB), which the
/// 2-core machines' caches hold.
const CHUNK_FLOATS: usize = 1 << 18;

impl Layer for Conv2d {
    fn name(&self) -> &str {
        &self.name
    }

    fn set_name(&mut self, name: String) {
        self.name = name;
    }

    fn class_name(&self) -> &'static str {
        "Conv2D"
    }

    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let what = format!("layer `{}` (Conv2D)", self.name);
        let checked = match self.on_sequence {
            true => self.spec.check_window(),
            false => self.spec.validate(),
        };
        checked.map_err(|e| Error::Config(format!("{what}: {}", e.detail())))?;
        let (h, w, channels) = image_shape(&what, input_shape)?;
        let spec = &self.spec;
        let window = Window2::checked(
            &what,
            (h, w),
            spec.kernel_size,
            spec.strides,
            spec.dilation_rate,
            spec.padding,
        )?;
        let (oh, ow) = window.output();
        if oh == 0 || ow == 0 {
            let span = |k: usize, d: usize| (k - 1) * d + 1;
            return Err(Error::Shape(format!(
                "{what}: its {} window (spanning {}×{} with dilation {}) does not fit in an input of {h}×{w} with padding \"valid\"; use a smaller kernel or padding \"same\"",
                spec.kernel_size,
                span(spec.kernel_size.rows, spec.dilation_rate.rows),
                span(spec.kernel_size.cols, spec.dilation_rate.cols),
                spec.dilation_rate,
            )));
        }
        let (kh, kw, filters) = (spec.kernel_size.rows, spec.kernel_size.cols, spec.filters);
        let shape = [kh, kw, channels, filters];
        let mut kernel = Param::new("kernel", &shape);
        spec.kernel_initializer
            .fill(kernel.value.data_mut(), &shape, rng);
        self.params = vec![kernel];
        if spec.use_bias {
            let mut bias = Param::new("bias", &[filters]);
            spec.bias_initializer
                .fill(bias.value.data_mut(), &[filters], rng);
            self.params.push(bias);
        }
        self.set_trainable(self.spec.trainable);
        self.products.weights_changed();
        self.input = (h, w, channels);
        self.window = Some(window);
        Ok(vec![oh, ow, filters])
    }

    fn forward(&mut self, input: &Tensor, output: &mut Tensor, _mode: Mode) {
        let window = self.window();
        let batch = input.rows();
        let (oh, ow) = window.output();
        let (k, filters) = (self.patch_len(), self.spec.filters);
        output.resize(&[batch, oh, ow, filters]);
        let keeps_z = affine::keeps_z(self.fused_output, self.spec.activation);
        if keeps_z {
            self.z.resize(&[batch, oh, ow, filters]);
        }
        let sample_in = input.row_len();
        let sample_out = oh * ow * filters;
        let step = self.chunk_samples(batch);
        for start in (0..batch).step_by(step.max(1)) {
            let end = (start + step).min(batch);
            let positions = (end - start) * oh * ow;
            let x_part = &input.data()[start * sample_in..end * sample_in];
            let cols = if self.reads_input_as_cols() {
                x_part
            } else {
                grow(&mut self.cols, positions * k);
                im2col(
                    x_part,
                    &mut self.cols[..positions * k],
                    window,
                    self.input.2,
                );
                &self.cols[..positions * k]
            };
            let x = Mat::new(cols, positions, k);
            let w = Mat::new(self.params[KERNEL].value.data(), k, filters);
            let z = if keeps_z {
                &mut self.z.data_mut()[start * sample_out..end * sample_out]
            } else {
                &mut output.data_mut()[start * sample_out..end * sample_out]
            };
            self.products.matmul_weights(x, w, z, false);
        }
        let bias = self.params.get(BIAS).map(|p| p.value.data());
        if keeps_z {
            bias_and_activation_keeping_z(
                self.z.data_mut(),
                output.data_mut(),
                bias,
                self.spec.activation,
                filters,
            );
        } else {
            bias_and_activation(output.data_mut(), bias, self.spec.activation, filters);
        }
    }

    fn backward(
        &mut self,
        input: &Tensor,
        output: &Tensor,
        grad_output: &Tensor,
        grad_input: Option<&mut Tensor>,
    ) {
        let window = self.window();
        let batch = input.rows();
        let (oh, ow) = window.output();
        let (k, filters) = (self.patch_len(), self.spec.filters);
        let direct = self.reads_input_as_cols();
        let dz: &Tensor = if self.fused_output || self.spec.activation == Activation::Linear {
            grad_output
        } else {
            activation_backward(
                self.spec.activation,
                self.z.data(),
                output,
                grad_output,
                &mut self.dz,
                filters,
            );
            &self.dz
        };
        // Piece by piece over the batch (see `chunk_samples`): im2col again for the piece (its
        // cols were overwritten by later pieces in forward), then dx and the kernel's part.
        // With fused descent the kernel changes below, so all of dx (which needs the old one)
        // comes first; the kernel's gradient does not depend on the kernel.
        let sample_in = input.row_len();
        let sample_out = oh * ow * filters;
        let step = self.chunk_samples(batch).max(1);
        let whole = step >= batch;
        let mut grad_input = grad_input;
        if let Some(dx) = grad_input.as_deref_mut() {
            dx.resize(input.shape());
        }
        let trainable = self.params[KERNEL].trainable;
        for start in (0..batch).step_by(step) {
            let end = (start + step).min(batch);
            let positions = (end - start) * oh * ow;
            let dz_mat = Mat::new(
                &dz.data()[start * sample_out..end * sample_out],
                positions,
                filters,
            );
            let x_part = &input.data()[start * sample_in..end * sample_in];
            if !direct && !whole {
                im2col(
                    x_part,
                    &mut self.cols[..positions * k],
                    window,
                    self.input.2,
                );
            }
            if let Some(dx) = grad_input.as_deref_mut() {
                let w_t = Mat::new(self.params[KERNEL].value.data(), k, filters).t();
                let dx_part = &mut dx.data_mut()[start * sample_in..end * sample_in];
                if direct {
                    self.products.matmul_weights(dz_mat, w_t, dx_part, false);
                } else {
                    grow(&mut self.dcols, positions * k);
                    self.products.matmul_weights(
                        dz_mat,
                        w_t,
                        &mut self.dcols[..positions * k],
                        false,
                    );
                    col2im(&self.dcols[..positions * k], dx_part, window, self.input.2);
                }
            }
            // In one piece under fused descent the kernel moves in one product below (g is
            // then computed only when asked to keep it); else the pieces' gradients add up in
            // the kernel's gradient.
            let one_product = whole && self.fused_descent.is_some_and(|d| !d.keep_gradient);
            if trainable && !one_product {
                let cols = if direct {
                    x_part
                } else {
                    &self.cols[..positions * k]
                };
                let cols_t = Mat::new(cols, positions, k).t();
                let grad = self.params[KERNEL].grad.data_mut();
                self.products.matmul(cols_t, dz_mat, grad, start > 0);
            }
        }
        if let (true, Some(FusedDescent { rate, .. })) = (trainable, self.fused_descent) {
            // After every dx (which needs the old kernel): W ← W − η·colsᵀ·dz.
            let kernel = &mut self.params[KERNEL];
            if whole {
                let positions = batch * oh * ow;
                let cols = if direct {
                    input.data()
                } else {
                    &self.cols[..positions * k]
                };
                let dz_mat = Mat::new(dz.data(), positions, filters);
                let cols_t = Mat::new(cols, positions, k).t();
                self.products
                    .matmul_add_scaled(cols_t, dz_mat, kernel.value.data_mut(), -rate);
            } else {
                affine::descend(kernel.value.data_mut(), kernel.grad.data(), rate);
            }
            self.products.weights_changed();
        }
        if let Some(bias) = self.params.get_mut(BIAS).filter(|b| b.trainable) {
            // db = Σ over every output position of dz.
            bias_gradient(dz.data(), filters, bias.grad.data_mut());
            if let Some(d) = self.fused_descent {
                affine::descend(bias.value.data_mut(), bias.grad.data(), d.rate);
            }
        }
    }

    /// The im2col buffers: the cols of a piece of the batch, and their gradient.
    fn scratch_values(&self, batch: usize) -> usize {
        if self.reads_input_as_cols() || self.window.is_none() {
            return 0;
        }
        let (oh, ow) = self.window().output();
        2usize
            .saturating_mul(self.chunk_samples(batch))
            .saturating_mul(oh * ow * self.patch_len())
    }

    super::affine::affine_layer_methods!();

    fn set_dtype_policy(&mut self, policy: DtypePolicy) {
        self.products.set_policy(policy);
    }

    fn apply_constraints(&mut self) {
        if let Some(c) = self.spec.kernel_constraint {
            // Each filter's kh·kw·C weights are one column of W read as (K, F), as Keras'
            // MaxNorm over axes (0, 1, 2).
            let filters = self.spec.filters;
            c.apply(
                self.params[KERNEL].value.data_mut(),
                filters,
                &mut self.norms,
            );
            self.products.weights_changed();
        }
    }

    fn describe(&self) -> String {
        let s = &self.spec;
        let mut text = format!("{} {}", s.kernel_size, s.padding.name());
        if s.strides != Size2::square(1) {
            text += &format!(" /{}", s.strides);
        }
        if s.dilation_rate != Size2::square(1) {
            text += &format!(" dilated {}", s.dilation_rate);
        }
        format!("{text}, {}, {}", s.activation, s.kernel_initializer)
    }

    fn spec(&self) -> LayerSpec {
        let mut spec = self.spec.clone();
        spec.trainable = self.params.iter().all(|p| p.trainable);
        LayerSpec::new(spec).named(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn keras_fans_for_a_conv_kernel() {
        // Keras compute_fans((3, 3, 4, 8)): receptive field 9, fan_in 36, fan_out 72.
        assert_eq!(Initializer::fans(&[3, 3, 4, 8]), (36, 72));
        let mut layer =
            Conv2d::from_spec(Conv2dSpec::new(8, 3).kernel_initializer(Initializer::HE_UNIFORM));
        let mut rng = Rng::seed_from_u64(1);
        layer.build(&[10, 10, 4], &mut rng).unwrap();
        // He uniform: limit sqrt(6 / fan_in) = sqrt(6 / 36).
        let limit = (6.0f32 / 36.0).sqrt();
        let w = layer.kernel().data();
        assert!(w.iter().all(|v| v.abs() <= limit));
        assert!(
            w.iter().any(|v| v.abs() > 0.9 * limit),
            "drawn with fan_in 36, not 4"
        );
    }

    #[test]
    fn im2col_and_col2im_are_adjoint() {
        // ⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩ for every geometry, padding included.
        let (h, w, ch) = (5, 4, 2);
        for (k, s, d, padding) in [
            (
                Size2::new(3, 2),
                Size2::square(1),
                Size2::square(1),
                Padding::Same,
            ),
            (
                Size2::square(3),
                Size2::new(2, 1),
                Size2::square(1),
                Padding::Valid,
            ),
            (
                Size2::square(2),
                Size2::square(1),
                Size2::square(2),
                Padding::Same,
            ),
        ] {
            let window = Window2::new(h, w, k, s, d, padding);
            let (oh, ow) = window.output();
            let n = 2;
            let x: Vec<f32> = (0..n * h * w * ch)
                .map(|i| ((i * 7) % 11) as f32 - 5.0)
                .collect();
            let len = n * oh * ow * k.area() * ch;
            let c: Vec<f32> = (0..len).map(|i| ((i * 5) % 13) as f32 - 6.0).collect();
            let mut cols = vec![0.0; len];
            im2col(&x, &mut cols, window, ch);
            let mut dx = vec![1.0; x.len()];
            col2im(&c, &mut dx, window, ch);
            let left: f32 = cols.iter().zip(&c).map(|(a, b)| a * b).sum();
            let right: f32 = x.iter().zip(&dx).map(|(a, b)| a * b).sum();
            assert_eq!(left, right, "{k} {s} {d} {padding:?}");
        }
    }
}
