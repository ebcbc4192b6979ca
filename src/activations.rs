//! Activation functions, each value beside its derivative, in one table.
//!
//! Element-wise activations give `f(x)` and `f'(x)`. Where the derivative can be written in terms
//! of the output `y = f(x)` it is (sigmoid, tanh, the ReLU family, ELU/SELU, softplus, softsign),
//! so layers need not keep `x`; GELU, Swish and Mish need `x` ([`Activation::needs_input`]).
//! Softmax acts on whole rows; its backward is the Jacobian-vector product
//! `dx_i = y_i (dy_i - Σ_j dy_j y_j)`.
//!
//! Conventions at kinks follow PyTorch (tests/reference/activations.json): relu'(0) = 0,
//! leaky_relu'(0) = alpha, elu'(0) = alpha, selu'(0) = scale·alpha, hard_sigmoid'(±3) = 0.
//! Every formula is written so that neither value nor derivative overflows for large |x|.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::init::Initializer;

/// SELU's α (Klambauer et al. 2017, "Self-Normalizing Neural Networks", eq. 14).
pub const SELU_ALPHA: f32 = 1.673_263_2;
/// SELU's λ (scale), same source.
pub const SELU_SCALE: f32 = 1.050_701;
/// Default negative slope of `"leaky_relu"` as an activation string (keras.activations.leaky_relu).
pub const LEAKY_RELU_ALPHA: f32 = 0.2;

const SQRT_2_OVER_PI: f32 = 0.797_884_6;
const GELU_TANH_COEF: f32 = 0.044_715;
const INV_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
/// 1 / sqrt(2π), the standard normal density at 0.
const INV_SQRT_2PI: f32 = 0.398_942_3;

/// An activation, by its Keras name.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
///
/// ```
/// # fn main() -> deeptrain::Result<()> {
/// use deeptrain::Activation;
/// let swish: Activation = "silu".parse()?; // Keras' other name for Swish
/// assert_eq!(swish, Activation::Swish);
/// let leaky: Activation = "leaky_relu(0.2)".parse()?;
/// assert_eq!(leaky, Activation::LeakyRelu { alpha: 0.2 });
/// assert!("rellu".parse::<Activation>().is_err());
/// # Ok(())
/// # }
/// ```
pub enum Activation {
    /// f(x) = x.
    #[default]
    Linear,
    /// f(x) = 1 / (1 + e^-x); f' = y (1 - y).
    Sigmoid,
    /// f(x) = tanh x; f' = 1 - y².
    Tanh,
    /// f(x) = max(0, x); f' = `[x > 0]`.
    Relu,
    /// f(x) = x for x > 0, αx otherwise; f' = 1 or α.
    LeakyRelu {
        /// The negative slope α ≥ 0.
        alpha: f32,
    },
    /// f(x) = x for x > 0, α(e^x - 1) otherwise (Clevert et al. 2015); f' = 1 or y + α.
    Elu {
        /// The saturation value -α for x → -∞ (α ≥ 0).
        alpha: f32,
    },
    /// f(x) = λ x for x > 0, λα(e^x - 1) otherwise; f' = λ or y + λα.
    Selu,
    /// Exact GELU: f(x) = x Φ(x); f' = Φ(x) + x φ(x) (Hendrycks & Gimpel 2016).
    Gelu,
    /// GELU's tanh approximation: 0.5 x (1 + tanh(√(2/π)(x + 0.044715 x³))).
    GeluTanh,
    /// Swish / SiLU: f(x) = x σ(x); f' = σ(x) (1 + x (1 - σ(x))) (Ramachandran et al. 2017).
    Swish,
    /// Mish: f(x) = x tanh(softplus(x)); f' = tanh(sp) + x σ(x) (1 - tanh²(sp)) (Misra 2019).
    Mish,
    /// f(x) = ln(1 + e^x); f' = σ(x) = 1 - e^-y.
    Softplus,
    /// f(x) = x / (1 + |x|); f' = 1 / (1 + |x|)² = (1 - |y|)².
    Softsign,
    /// Keras 3's hard sigmoid: relu6(x + 3) / 6; f' = 1/6 on (-3, 3), else 0.
    HardSigmoid,
    /// f(x) = e^x; f' = y.
    Exponential,
    /// Row-wise e^x_i / Σ_j e^x_j, computed after subtracting the row maximum.
    Softmax,
}

/// Every activation id that parses, with the activation it gives (aliases included).
const IDS: [(&str, Activation); 18] = [
    ("linear", Activation::Linear),
    ("sigmoid", Activation::Sigmoid),
    ("tanh", Activation::Tanh),
    ("relu", Activation::Relu),
    (
        "leaky_relu",
        Activation::LeakyRelu {
            alpha: LEAKY_RELU_ALPHA,
        },
    ),
    ("elu", Activation::Elu { alpha: 1.0 }),
    ("selu", Activation::Selu),
    ("gelu", Activation::Gelu),
    ("gelu_tanh", Activation::GeluTanh),
    ("swish", Activation::Swish),
    ("silu", Activation::Swish),
    ("mish", Activation::Mish),
    ("softplus", Activation::Softplus),
    ("softsign", Activation::Softsign),
    ("hard_sigmoid", Activation::HardSigmoid),
    ("exponential", Activation::Exponential),
    ("softmax", Activation::Softmax),
    ("none", Activation::Linear),
];

impl Activation {
    /// One of each activation (default parameters), for tests and messages.
    pub const ALL: [Activation; 16] = [
        Activation::Linear,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Relu,
        Activation::LeakyRelu {
            alpha: LEAKY_RELU_ALPHA,
        },
        Activation::Elu { alpha: 1.0 },
        Activation::Selu,
        Activation::Gelu,
        Activation::GeluTanh,
        Activation::Swish,
        Activation::Mish,
        Activation::Softplus,
        Activation::Softsign,
        Activation::HardSigmoid,
        Activation::Exponential,
        Activation::Softmax,
    ];

    /// Keras' name (without parameters).
    pub fn name(self) -> &'static str {
        match self {
            Activation::Linear => "linear",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
            Activation::LeakyRelu { .. } => "leaky_relu",
            Activation::Elu { .. } => "elu",
            Activation::Selu => "selu",
            Activation::Gelu => "gelu",
            Activation::GeluTanh => "gelu_tanh",
            Activation::Swish => "swish",
            Activation::Mish => "mish",
            Activation::Softplus => "softplus",
            Activation::Softsign => "softsign",
            Activation::HardSigmoid => "hard_sigmoid",
            Activation::Exponential => "exponential",
            Activation::Softmax => "softmax",
        }
    }

    /// Checks the parameters (slopes must be finite and non-negative).
    pub fn validate(self) -> crate::Result<()> {
        match self {
            Activation::LeakyRelu { alpha } | Activation::Elu { alpha }
                if !(alpha.is_finite() && alpha >= 0.0) =>
            {
                Err(crate::Error::Config(format!(
                    "{}: alpha must be a finite number ≥ 0, got {alpha}",
                    self.name()
                )))
            }
            _ => Ok(()),
        }
    }

    /// True for activations that act on a whole row (softmax) rather than element by element.
    pub fn is_row_wise(self) -> bool {
        self == Activation::Softmax
    }

    /// Below this many values, applying the activation (or its derivative) stays on one thread:
    /// a memory-bound pass for the piecewise-linear ones, about 8× fewer for those that
    /// evaluate an exponential or a division per value.
    pub fn parallel_min_elements(self) -> usize {
        match self {
            Activation::Linear
            | Activation::Relu
            | Activation::LeakyRelu { .. }
            | Activation::HardSigmoid => crate::parallel::PARALLEL_MIN_ELEMENTS,
            _ => crate::parallel::PARALLEL_MIN_ELEMENTS / 8,
        }
    }

    /// Whether the derivative needs the input `x` (otherwise the output `y` suffices).
    pub fn needs_input(self) -> bool {
        matches!(
            self,
            Activation::Gelu | Activation::GeluTanh | Activation::Swish | Activation::Mish
        )
    }

    /// True for ReLU and the non-saturating activations that the textbook pairs with He
    /// initialization (leaky ReLU, ELU, GELU, Swish, Mish).
    pub fn is_relu_family(self) -> bool {
        matches!(
            self,
            Activation::Relu
                | Activation::LeakyRelu { .. }
                | Activation::Elu { .. }
                | Activation::Gelu
                | Activation::GeluTanh
                | Activation::Swish
                | Activation::Mish
        )
    }

    /// The initializer the textbook's table pairs with this activation (Géron, *Hands-On
    /// Machine Learning*, ch. 11, table 11-1): He for the ReLU family, LeCun for SELU, Glorot
    /// otherwise. This is what `kernel_initializer = "auto"` resolves to.
    pub fn recommended_initializer(self) -> Initializer {
        if self.is_relu_family() {
            Initializer::HE_NORMAL
        } else if self == Activation::Selu {
            Initializer::LECUN_NORMAL
        } else {
            Initializer::GLOROT_UNIFORM
        }
    }

    /// f(x) for an element-wise activation (softmax of a single element is 1).
    #[inline]
    pub fn value(self, x: f32) -> f32 {
        match self {
            Activation::Linear => x,
            Activation::Sigmoid => sigmoid(x),
            Activation::Tanh => x.tanh(),
            Activation::Relu => relu(x),
            Activation::LeakyRelu { alpha } => {
                if x > 0.0 {
                    x
                } else {
                    alpha * x
                }
            }
            Activation::Elu { alpha } => {
                let negative = alpha * expm1_nonpositive(x);
                if x > 0.0 {
                    x
                } else {
                    negative
                }
            }
            Activation::Selu => {
                let negative = SELU_SCALE * SELU_ALPHA * expm1_nonpositive(x);
                if x > 0.0 {
                    SELU_SCALE * x
                } else {
                    negative
                }
            }
            Activation::Gelu => 0.5 * x * (1.0 + libm::erff(x * INV_SQRT_2)),
            // 0.5 (1 + tanh u) = σ(2u), which keeps precision where tanh u rounds to ±1.
            Activation::GeluTanh => x * sigmoid(2.0 * gelu_tanh_inner(x)),
            Activation::Swish => x * sigmoid(x),
            Activation::Mish => x * softplus(x).tanh(),
            Activation::Softplus => softplus(x),
            Activation::Softsign => x / (1.0 + x.abs()),
            Activation::HardSigmoid => ((x + 3.0) / 6.0).clamp(0.0, 1.0),
            Activation::Exponential => x.exp(),
            Activation::Softmax => 1.0,
        }
    }

    /// f'(x), given x and y = f(x), for an element-wise activation. `x` is read only when
    /// [`Activation::needs_input`] is true.
    #[inline]
    pub fn derivative(self, x: f32, y: f32) -> f32 {
        match self {
            Activation::Linear => 1.0,
            Activation::Sigmoid => y * (1.0 - y),
            Activation::Tanh => 1.0 - y * y,
            Activation::Relu => step(y),
            Activation::LeakyRelu { alpha } => {
                if y > 0.0 {
                    1.0
                } else {
                    alpha
                }
            }
            Activation::Elu { alpha } => {
                if y > 0.0 {
                    1.0
                } else {
                    y + alpha
                }
            }
            Activation::Selu => {
                if y > 0.0 {
                    SELU_SCALE
                } else {
                    y + SELU_SCALE * SELU_ALPHA
                }
            }
            Activation::Gelu => {
                let cdf = 0.5 * (1.0 + libm::erff(x * INV_SQRT_2));
                let pdf = INV_SQRT_2PI * (-0.5 * x * x).exp();
                cdf + x * pdf
            }
            // Beyond |x| = 10, tanh(...) is ±1 in f32 and the cubic would overflow for huge x.
            Activation::GeluTanh if x.abs() > 10.0 => step(x),
            Activation::GeluTanh => {
                // d/dx [x σ(2u)] = σ(2u) + x · ½ sech²(u) · u', sech² written with e^-2|u|.
                let u = gelu_tanh_inner(x);
                let e = (-2.0 * u.abs()).exp();
                let sech2 = 4.0 * e / ((1.0 + e) * (1.0 + e));
                let du = SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_TANH_COEF * x * x);
                sigmoid(2.0 * u) + 0.5 * x * sech2 * du
            }
            Activation::Swish => {
                let s = sigmoid(x);
                s * (1.0 + x * (1.0 - s))
            }
            Activation::Mish => {
                let t = softplus(x).tanh();
                t + x * sigmoid(x) * (1.0 - t * t)
            }
            Activation::Softplus => -(-y).exp_m1(),
            Activation::Softsign => {
                let d = 1.0 - y.abs();
                d * d
            }
            Activation::HardSigmoid => {
                if y > 0.0 && y < 1.0 {
                    1.0 / 6.0
                } else {
                    0.0
                }
            }
            Activation::Exponential => y,
            Activation::Softmax => 0.0,
        }
    }

    /// Applies f in place to rows of `features` values.
    ///
    /// On x86-64 CPUs with AVX2 and FMA (checked once, at run time) the loops run in a copy
    /// compiled for them: twice the vector width of the baseline SSE2 build. Rust does not fuse
    /// multiply-adds on its own, so both copies give the same bits.
    pub fn forward_in_place(self, values: &mut [f32], features: usize) {
        #[cfg(target_arch = "x86_64")]
        if has_avx2_fma() {
            // SAFETY: the CPU supports AVX2 and FMA.
            return unsafe { self.forward_in_place_avx2(values, features) };
        }
        self.forward_in_place_portable(values, features);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn forward_in_place_avx2(self, values: &mut [f32], features: usize) {
        if self == Activation::Relu {
            // Written out: the compiler turns `v = if v < 0 { 0 } else { v }` into a masked
            // store of the zeros (`vmaskmovps`), microcoded and slow on AMD processors.
            use std::arch::x86_64::*;
            let mut chunks = values.chunks_exact_mut(8);
            for chunk in &mut chunks {
                // SAFETY: the chunk holds 8 values; the CPU supports AVX2.
                unsafe {
                    let v = _mm256_loadu_ps(chunk.as_ptr());
                    // Ordered less-than, as Rust's `<`: a NaN is kept, -0 stays -0.
                    let negative = _mm256_cmp_ps::<_CMP_LT_OQ>(v, _mm256_setzero_ps());
                    _mm256_storeu_ps(chunk.as_mut_ptr(), _mm256_andnot_ps(negative, v));
                }
            }
            return map(chunks.into_remainder(), relu);
        }
        self.forward_in_place_portable(values, features);
    }

    /// dz = dy ⊙ f'(·) into `dz` (as long as dy): [`Activation::backward_in_place`] on a copy
    /// of dy, or for ReLU one pass, `dz = dy·[y > 0]` (the same bits).
    pub fn backward_into(self, x: &[f32], y: &[f32], dy: &[f32], dz: &mut [f32], features: usize) {
        if self == Activation::Relu {
            #[cfg(target_arch = "x86_64")]
            if has_avx2_fma() {
                // SAFETY: the CPU supports AVX2 and FMA.
                return unsafe { relu_backward_into_avx2(y, dy, dz) };
            }
            return relu_backward_into(y, dy, dz);
        }
        dz.copy_from_slice(dy);
        self.backward_in_place(x, y, dz, features);
    }

    /// Multiplies `grad` in place by f'(x). `y` is the output; `x` the input, read only when
    /// [`Activation::needs_input`] (pass an empty slice otherwise). Softmax applies its
    /// row-wise Jacobian. Dispatches like [`Activation::forward_in_place`].
    pub fn backward_in_place(self, x: &[f32], y: &[f32], grad: &mut [f32], features: usize) {
        #[cfg(target_arch = "x86_64")]
        if has_avx2_fma() {
            // SAFETY: the CPU supports AVX2 and FMA.
            return unsafe { self.backward_in_place_avx2(x, y, grad, features) };
        }
        self.backward_in_place_portable(x, y, grad, features);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn backward_in_place_avx2(
        self,
        x: &[f32],
        y: &[f32],
        grad: &mut [f32],
        features: usize,
    ) {
        self.backward_in_place_portable(x, y, grad, features);
    }

    #[inline(always)]
    fn forward_in_place_portable(self, values: &mut [f32], features: usize) {
        match self {
            Activation::Linear => {}
            Activation::Softmax => {
                for row in values.chunks_exact_mut(features) {
                    softmax_row_in_place(row);
                }
            }
            // One loop per variant, so that each is compiled (and vectorized) on its own.
            Activation::Relu => map(values, relu),
            Activation::Sigmoid => map(values, sigmoid),
            Activation::Tanh => map(values, f32::tanh),
            act @ Activation::LeakyRelu { .. } => map(values, |x| act.value(x)),
            Activation::Elu { alpha } => map(values, |x| {
                let negative = alpha * expm1_nonpositive(x);
                if x > 0.0 {
                    x
                } else {
                    negative
                }
            }),
            Activation::Selu => map(values, |x| {
                let negative = SELU_SCALE * SELU_ALPHA * expm1_nonpositive(x);
                if x > 0.0 {
                    SELU_SCALE * x
                } else {
                    negative
                }
            }),
            act => map(values, |x| act.value(x)),
        }
    }

    #[inline(always)]
    fn backward_in_place_portable(self, x: &[f32], y: &[f32], grad: &mut [f32], features: usize) {
        match self {
            Activation::Linear => {}
            Activation::Relu => {
                for (g, &yv) in grad.iter_mut().zip(y) {
                    *g *= step(yv);
                }
            }
            Activation::Softmax => {
                for (yr, gr) in y
                    .chunks_exact(features)
                    .zip(grad.chunks_exact_mut(features))
                {
                    let dot: f32 = yr.iter().zip(gr.iter()).map(|(a, b)| a * b).sum();
                    for (g, &yv) in gr.iter_mut().zip(yr) {
                        *g = yv * (*g - dot);
                    }
                }
            }
            // The common ones get their own loops (vectorizable, no per-element dispatch).
            Activation::Selu => {
                for (g, &yv) in grad.iter_mut().zip(y) {
                    *g *= if yv > 0.0 {
                        SELU_SCALE
                    } else {
                        yv + SELU_SCALE * SELU_ALPHA
                    };
                }
            }
            Activation::Elu { alpha } => {
                for (g, &yv) in grad.iter_mut().zip(y) {
                    *g *= if yv > 0.0 { 1.0 } else { yv + alpha };
                }
            }
            Activation::Sigmoid => {
                for (g, &yv) in grad.iter_mut().zip(y) {
                    *g *= yv * (1.0 - yv);
                }
            }
            Activation::Tanh => {
                for (g, &yv) in grad.iter_mut().zip(y) {
                    *g *= 1.0 - yv * yv;
                }
            }
            act if act.needs_input() => {
                assert_eq!(x.len(), grad.len(), "{} needs its input", act.name());
                for (g, &xv) in grad.iter_mut().zip(x) {
                    *g *= act.derivative(xv, 0.0);
                }
            }
            act => {
                for (g, &yv) in grad.iter_mut().zip(y) {
                    *g *= act.derivative(0.0, yv);
                }
            }
        }
    }
}

/// Whether this x86-64 CPU has AVX2 and FMA (cached by the standard library).
#[cfg(target_arch = "x86_64")]
#[inline]
fn has_avx2_fma() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}

/// `dz = dy·[y > 0]`, ReLU's backward from its output.
#[inline(always)]
fn relu_backward_into(y: &[f32], dy: &[f32], dz: &mut [f32]) {
    assert!(
        y.len() == dz.len() && dy.len() == dz.len(),
        "y, dy and dz differ in length"
    );
    for ((d, &g), &yv) in dz.iter_mut().zip(dy).zip(y) {
        *d = g * step(yv);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn relu_backward_into_avx2(y: &[f32], dy: &[f32], dz: &mut [f32]) {
    relu_backward_into(y, dy, dz);
}

/// values ← f(values), through a copy of each block of 64 on the stack: written in place, a
/// select that keeps some values (`if x > 0 { x } else { ... }`) is compiled to a masked
/// store of the others (`vmaskmovps`), which AMD processors run in microcode; from the copy
/// every value is stored.
#[inline(always)]
fn map(values: &mut [f32], f: impl Fn(f32) -> f32) {
    let mut copy = [0.0f32; 64];
    for block in values.chunks_mut(64) {
        let copy = &mut copy[..block.len()];
        copy.copy_from_slice(block);
        for (v, &x) in block.iter_mut().zip(copy.iter()) {
            *v = f(x);
        }
    }
}

/// u = √(2/π) (x + 0.044715 x³), GELU's tanh argument.
#[inline]
fn gelu_tanh_inner(x: f32) -> f32 {
    SQRT_2_OVER_PI * (x + GELU_TANH_COEF * x * x * x)
}

#[inline]
fn step(y: f32) -> f32 {
    if y > 0.0 {
        1.0
    } else {
        0.0
    }
}

impl FromStr for Activation {
    type Err = crate::Error;

    /// Parses a Keras id (`"relu"`, `"silu"`), or a parameterized one (`"leaky_relu(0.3)"`,
    /// `"elu(0.5)"`).
    fn from_str(id: &str) -> Result<Self, crate::Error> {
        Self::parse_id(id).map_err(crate::Error::Config)
    }
}

impl Activation {
    /// [`FromStr`] with the message alone.
    fn parse_id(id: &str) -> Result<Self, String> {
        let id = id.trim();
        if let Some((name, rest)) = id.split_once('(') {
            let arg = rest
                .strip_suffix(')')
                .and_then(|a| a.trim().parse::<f32>().ok())
                .ok_or_else(|| format!("activation `{id}`: expected NAME(NUMBER)"))?;
            let act = match name.trim() {
                "leaky_relu" => Activation::LeakyRelu { alpha: arg },
                "elu" => Activation::Elu { alpha: arg },
                other => return Err(format!("activation `{other}` takes no parameter")),
            };
            act.validate().map_err(|e| e.detail())?;
            return Ok(act);
        }
        IDS.iter()
            .find(|(name, _)| *name == id)
            .map(|&(_, act)| act)
            .ok_or_else(|| {
                let names: Vec<&str> = IDS.iter().map(|p| p.0).collect();
                format!(
                    "unknown activation `{id}`, expected one of {}",
                    names.join(", ")
                )
            })
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Activation::LeakyRelu { alpha } if alpha != LEAKY_RELU_ALPHA => {
                write!(f, "leaky_relu({alpha})")
            }
            Activation::Elu { alpha } if alpha != 1.0 => write!(f, "elu({alpha})"),
            act => f.write_str(act.name()),
        }
    }
}

impl Serialize for Activation {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Activation {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let id = String::deserialize(d)?;
        Activation::parse_id(&id).map_err(serde::de::Error::custom)
    }
}

/// e^x - 1 for x ≤ 0 (ELU and SELU's negative branch), branch-free so that loops over it
/// vectorize. For x ≥ -0.5 a degree-9 Taylor polynomial (relative error < 1e-8 there, no
/// cancellation near 0); below, e^x by range reduction x = n·ln2 + r, |r| ≤ ln2/2, and Cephes'
/// degree-6 polynomial for e^r (1-2 ulp), minus 1. Inputs below -87 give -1.
#[inline]
pub fn expm1_nonpositive(x: f32) -> f32 {
    let x = x.clamp(-87.0, 0.0);
    // Near 0: x + x²/2! + ... + x⁹/9!, Horner.
    let small = x
        * (1.0
            + x * (1.0 / 2.0
                + x * (1.0 / 6.0
                    + x * (1.0 / 24.0
                        + x * (1.0 / 120.0
                            + x * (1.0 / 720.0
                                + x * (1.0 / 5040.0
                                    + x * (1.0 / 40320.0 + x * (1.0 / 362880.0)))))))));
    // Far from 0: e^x - 1.
    // Round to nearest by adding and removing 1.5·2²³ (exact for |v| < 2²²): unlike `round`,
    // which is a libm call on baseline x86-64, this keeps the loop vectorized.
    const ROUNDER: f32 = 12_582_912.0;
    let n = (x * std::f32::consts::LOG2_E + ROUNDER) - ROUNDER;
    let r = (x - n * 0.693_359_4) + n * 2.121_944_4e-4;
    let p = 1.987_569_1e-4;
    let p = p * r + 1.398_2e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let er = p * r * r + r + 1.0;
    let scale = f32::from_bits((((n as i32) + 127).max(1) as u32) << 23);
    let large = er * scale - 1.0;
    if x >= -0.5 {
        small
    } else {
        large
    }
}

/// max(x, 0) that keeps a NaN (as PyTorch's `relu` does): `f32::max` would turn NaN into 0 and
/// hide a network whose weights have diverged behind a finite, flat loss.
#[inline]
pub fn relu(x: f32) -> f32 {
    if x < 0.0 {
        0.0
    } else {
        x
    }
}

/// Logistic sigmoid, stable for large |x| (no overflow of e^-x).
#[inline]
pub fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// ln(1 + e^x), written as max(x, 0) + ln(1 + e^-|x|) so that it never overflows.
#[inline]
pub fn softplus(x: f32) -> f32 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// Softmax of one row, computed as e^(x - max) / Σ e^(x - max).
pub fn softmax_row(x: &[f32], y: &mut [f32]) {
    y.copy_from_slice(x);
    softmax_row_in_place(y);
}

/// Softmax of one row, in place.
pub fn softmax_row_in_place(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in row.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    let inv = 1.0 / sum;
    row.iter_mut().for_each(|v| *v *= inv);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_aliases_parse() {
        for act in Activation::ALL {
            let parsed: Activation = act.to_string().parse().unwrap();
            assert_eq!(parsed, act);
        }
        assert_eq!("silu".parse::<Activation>().unwrap(), Activation::Swish);
        let leaky: Activation = "leaky_relu(0.3)".parse().unwrap();
        assert_eq!(leaky, Activation::LeakyRelu { alpha: 0.3 });
        assert_eq!(leaky.to_string(), "leaky_relu(0.3)");
        assert!("relu(2)".parse::<Activation>().is_err());
        assert!("elu(-1)".parse::<Activation>().is_err());
        let err = "rellu".parse::<Activation>().unwrap_err().detail();
        assert!(err.contains("leaky_relu"), "{err}");
    }

    #[test]
    fn in_place_and_one_pass_paths_give_the_bits_of_the_definition() {
        // 150 values: two blocks of 64 (`map`) and a remainder of 22, two AVX2 vectors and 6;
        // signed zeros, NaN and infinities.
        let specials = [
            -0.0,
            0.0,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            -1e-40,
            1e-40,
        ];
        let x: Vec<f32> = (0..150)
            .map(|i| {
                specials
                    .get(i % 9)
                    .copied()
                    .unwrap_or(i as f32 * 0.37 - 3.0)
            })
            .collect();
        let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        for act in [
            Activation::Relu,
            Activation::LeakyRelu { alpha: 0.2 },
            Activation::Elu { alpha: 1.0 },
            Activation::Selu,
            Activation::Sigmoid,
        ] {
            let mut y = x.clone();
            act.forward_in_place(&mut y, 150);
            let want: Vec<f32> = x.iter().map(|&v| act.value(v)).collect();
            assert_eq!(bits(&y), bits(&want), "{act} forward");
            let dy: Vec<f32> = (0..150).map(|i| 1.5 - i as f32 * 0.25).collect();
            let mut dz = vec![7.0; 150];
            act.backward_into(&x, &y, &dy, &mut dz, 150);
            let mut want = dy.clone();
            act.backward_in_place_portable(&x, &y, &mut want, 150);
            assert_eq!(bits(&dz), bits(&want), "{act} backward");
        }
    }

    #[test]
    fn values_and_derivatives_stay_finite_for_huge_inputs() {
        for act in Activation::ALL {
            if act.is_row_wise() || act == Activation::Exponential {
                continue;
            }
            for x in [-1e30f32, -100.0, -30.0, 30.0, 100.0, 1e30] {
                let y = act.value(x);
                let d = act.derivative(x, y);
                assert!(
                    y.is_finite() || act == Activation::Exponential,
                    "{act} f({x}) = {y}"
                );
                assert!(d.is_finite(), "{act} f'({x}) = {d}");
            }
        }
    }

    /// The vectorizable e^x - 1 against f64 over [-90, 0]: within 2 ulp of the result (or
    /// 1e-7 absolute near -1).
    #[test]
    fn fast_expm1_is_accurate() {
        let mut worst: f64 = 0.0;
        for i in 0..=900_000 {
            let x = -(i as f32) * 1e-4;
            let exact = (x as f64).exp_m1();
            let got = expm1_nonpositive(x) as f64;
            let err = (got - exact).abs() / exact.abs().max(1e-30);
            worst = worst.max(err.min((got - exact).abs() / 1e-7));
        }
        assert!(worst < 2.5e-7, "worst relative error {worst}");
        assert_eq!(expm1_nonpositive(0.0), 0.0);
        assert_eq!(expm1_nonpositive(-1e30), -1.0);
    }

    #[test]
    fn auto_initializer_follows_the_textbook_table() {
        assert_eq!(
            Activation::Relu.recommended_initializer(),
            Initializer::HE_NORMAL
        );
        assert_eq!(
            Activation::Selu.recommended_initializer(),
            Initializer::LECUN_NORMAL
        );
        assert_eq!(
            Activation::Tanh.recommended_initializer(),
            Initializer::GLOROT_UNIFORM
        );
    }
}
