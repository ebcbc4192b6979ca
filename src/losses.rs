//! Losses (Keras' names and reductions: mean over the batch) and the targets they compare against.
//!
//! Shapes: predictions (B, K). Targets are class indices (B) for the sparse loss, or values (B, K).
//! When the model's last activation is softmax (for the cross-entropies) or sigmoid (for binary
//! cross-entropy), the loss works from the logits z instead of the probabilities: the value is
//! `logsumexp(z) - z_y` (or `max(z,0) - z·t + log(1 + e^-|z|)`), exact for large logits, and the
//! gradient with respect to z is simply `(p - t) / B` (PyTorch's CrossEntropyLoss and
//! BCEWithLogitsLoss do the same).

use serde::{Deserialize, Serialize};

use crate::activations::sigmoid;
use crate::tensor::Tensor;

/// Keras' clipping epsilon for losses computed from probabilities (`keras.config.epsilon()`).
pub const EPSILON: f32 = 1e-7;

/// What a model is trained to predict, one entry per sample.
#[derive(Clone, Debug, PartialEq)]
pub enum Targets {
    /// Class indices (for sparse categorical cross-entropy and accuracy).
    Classes(Vec<u32>),
    /// Target values, (N, K): one-hot or soft labels, binary labels, regression targets.
    Values(Tensor),
}

impl Default for Targets {
    fn default() -> Self {
        Targets::Classes(Vec::new())
    }
}

impl Targets {
    /// Number of samples.
    pub fn len(&self) -> usize {
        match self {
            Targets::Classes(c) => c.len(),
            Targets::Values(v) => v.rows(),
        }
    }

    /// True when there is no sample.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies the samples `indices` into `out`, reusing its buffers.
    pub fn gather(&self, indices: &[usize], out: &mut Targets) {
        match (self, out) {
            (Targets::Classes(src), Targets::Classes(dst)) => {
                dst.clear();
                dst.extend(indices.iter().map(|&i| src[i]));
            }
            (Targets::Values(src), Targets::Values(dst)) => dst.gather_rows(src, indices),
            (src, out) => {
                *out = match src {
                    Targets::Classes(_) => Targets::Classes(Vec::with_capacity(indices.len())),
                    Targets::Values(_) => Targets::Values(Tensor::default()),
                };
                src.gather(indices, out);
            }
        }
    }
}

/// A loss function, by its Keras name. In a spec, `loss = "huber"` (or Keras' class name,
/// `"Huber"`), or a table `loss = { name = "huber", delta = 2.0 }` for a parameter.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "LossRepr", into = "LossRepr")]
///
/// ```
/// # fn main() -> deeptrain::Result<()> {
/// use deeptrain::Loss;
/// #[derive(serde::Deserialize)]
/// struct Spec { loss: Loss }
/// let spec: Spec = toml::from_str("loss = { name = \"huber\", delta = 2.0 }").expect("a loss");
/// assert_eq!(spec.loss.name(), "huber");
/// assert_eq!(Loss::SparseCategoricalCrossentropy.name(), "sparse_categorical_crossentropy");
/// # Ok(())
/// # }
/// ```
pub enum Loss {
    /// -log p_y, labels as class indices. On outputs that are not softmax, as Keras
    /// (`keras/src/backend/tensorflow/nn.py` `sparse_categorical_crossentropy`): each output
    /// clipped to [ε, 1 - ε], the loss -log(c_y / Σ_k c_k), so the outputs are normalized as
    /// the categorical loss normalizes them.
    SparseCategoricalCrossentropy,
    /// -Σ_k t_k log p_k, labels one-hot (or soft). On outputs that are not softmax the
    /// outputs are first divided by their sum over the classes and clipped to [ε, 1 - ε], as
    /// Keras does (`keras/src/backend/*/nn.py` `categorical_crossentropy`), so that a sigmoid
    /// or ReLU output trains as it would in Keras (`deeptrain diagnose` still reports the
    /// mismatch); a row of zeros reads as ε where Keras gets NaN.
    CategoricalCrossentropy,
    /// -(t log p + (1 - t) log(1 - p)), averaged over outputs.
    BinaryCrossentropy,
    /// (p - t)², averaged over outputs.
    MeanSquaredError,
    /// |p - t|, averaged over outputs (Keras' `mean_absolute_error`).
    MeanAbsoluteError,
    /// Huber (1964), averaged over outputs: ½d² for |d| ≤ δ, else δ(|d| - ½δ), d = p - t
    /// (Keras' `Huber(delta)`, default δ = 1).
    Huber {
        /// δ, where the loss turns from quadratic to linear (positive).
        delta: f32,
    },
    /// log cosh(p - t), averaged over outputs, computed as Keras does:
    /// x + softplus(-2x) - log 2, x = p - t.
    LogCosh,
    /// p - t log(p + ε), averaged over outputs (Keras' `poisson`, ε = 1e-7).
    Poisson,
    /// Σ_k t_k log(t_k / p_k), both clipped to [ε, 1] (Keras' `kl_divergence`; summed over
    /// outputs, not averaged).
    KlDivergence,
    /// max(1 - t·p, 0), averaged over outputs; 0/1 labels become -1/1 first, as in Keras.
    Hinge,
    /// A loss registered by user code ([`register_loss`]), written in a spec by its name.
    Custom(CustomLossId),
}

// Huber's δ is validated finite, so equality is an equivalence.
impl Eq for Loss {}

pub use crate::custom_loss::{register_loss, CustomLoss, CustomLossId};

/// Every loss id accepted in a spec: snake_case ids, Keras' short aliases and class names.
const LOSS_NAMES: &[(&str, Loss)] = &[
    (
        "sparse_categorical_crossentropy",
        Loss::SparseCategoricalCrossentropy,
    ),
    (
        "SparseCategoricalCrossentropy",
        Loss::SparseCategoricalCrossentropy,
    ),
    ("categorical_crossentropy", Loss::CategoricalCrossentropy),
    ("CategoricalCrossentropy", Loss::CategoricalCrossentropy),
    ("binary_crossentropy", Loss::BinaryCrossentropy),
    ("BinaryCrossentropy", Loss::BinaryCrossentropy),
    ("mean_squared_error", Loss::MeanSquaredError),
    ("mse", Loss::MeanSquaredError),
    ("MeanSquaredError", Loss::MeanSquaredError),
    ("mean_absolute_error", Loss::MeanAbsoluteError),
    ("mae", Loss::MeanAbsoluteError),
    ("MeanAbsoluteError", Loss::MeanAbsoluteError),
    ("huber", Loss::Huber { delta: 1.0 }),
    ("Huber", Loss::Huber { delta: 1.0 }),
    ("log_cosh", Loss::LogCosh),
    ("logcosh", Loss::LogCosh),
    ("LogCosh", Loss::LogCosh),
    ("poisson", Loss::Poisson),
    ("Poisson", Loss::Poisson),
    ("kl_divergence", Loss::KlDivergence),
    ("kld", Loss::KlDivergence),
    ("KLDivergence", Loss::KlDivergence),
    ("hinge", Loss::Hinge),
    ("Hinge", Loss::Hinge),
];

/// How a loss is written in a spec: a name, or a table with its parameters.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
enum LossRepr {
    Name(String),
    Table {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        delta: Option<f32>,
    },
}

/// The keys of a loss written as a table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LossTable {
    name: String,
    #[serde(default)]
    delta: Option<f32>,
}

impl<'de> Deserialize<'de> for LossRepr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match crate::forms::NameOrTable::deserialize(
            d,
            "a loss: a name (\"mse\") or a table { name = \"huber\", delta = 1.5 }",
        )? {
            crate::forms::NameOrTable::Name(name) => Ok(LossRepr::Name(name)),
            crate::forms::NameOrTable::Table(table) => {
                let t: LossTable = crate::forms::table(table, "a loss table { name, delta }")?;
                Ok(LossRepr::Table {
                    name: t.name,
                    delta: t.delta,
                })
            }
        }
    }
}

impl TryFrom<LossRepr> for Loss {
    type Error = String;
    fn try_from(repr: LossRepr) -> Result<Self, String> {
        let (name, delta) = match repr {
            LossRepr::Name(n) => (n, None),
            LossRepr::Table { name, delta } => (name, delta),
        };
        let loss = Loss::from_name(&name).ok_or_else(|| {
            let ids: Vec<&str> = LOSS_NAMES
                .iter()
                .map(|(n, _)| *n)
                .filter(|n| n.starts_with(char::is_lowercase))
                .collect();
            format!(
                "unknown loss `{name}`; expected one of {} (or Keras' class names)",
                ids.join(", ")
            )
        })?;
        match (loss, delta) {
            (Loss::Huber { .. }, Some(d)) if d.is_finite() && d > 0.0 => {
                Ok(Loss::Huber { delta: d })
            }
            (Loss::Huber { .. }, Some(d)) => {
                Err(format!("huber's delta must be positive, got {d}"))
            }
            (_, Some(_)) => Err(format!("loss `{name}` takes no `delta`")),
            (loss, None) => Ok(loss),
        }
    }
}

impl From<Loss> for LossRepr {
    fn from(loss: Loss) -> Self {
        match loss {
            Loss::Huber { delta } if delta != 1.0 => LossRepr::Table {
                name: "huber".into(),
                delta: Some(delta),
            },
            other => LossRepr::Name(other.name().into()),
        }
    }
}

impl Loss {
    /// Keras' name.
    pub fn name(self) -> &'static str {
        match self {
            Loss::SparseCategoricalCrossentropy => "sparse_categorical_crossentropy",
            Loss::CategoricalCrossentropy => "categorical_crossentropy",
            Loss::BinaryCrossentropy => "binary_crossentropy",
            Loss::MeanSquaredError => "mean_squared_error",
            Loss::MeanAbsoluteError => "mean_absolute_error",
            Loss::Huber { .. } => "huber",
            Loss::LogCosh => "log_cosh",
            Loss::Poisson => "poisson",
            Loss::KlDivergence => "kl_divergence",
            Loss::Hinge => "hinge",
            Loss::Custom(id) => crate::custom_loss::name(id),
        }
    }

    /// The loss a spec id names (`"mae"`, `"MeanAbsoluteError"`, ...), with default parameters,
    /// or the registered loss of that name.
    pub fn from_name(name: &str) -> Option<Loss> {
        builtin_loss(name).or_else(|| crate::custom_loss::find(name))
    }

    /// True when the targets are class indices.
    pub fn wants_classes(self) -> bool {
        self == Loss::SparseCategoricalCrossentropy
    }

    /// The output activation this loss can absorb (softmax or sigmoid), if any.
    pub fn fusable_activation(self) -> Option<crate::activations::Activation> {
        use crate::activations::Activation;
        match self {
            Loss::SparseCategoricalCrossentropy | Loss::CategoricalCrossentropy => {
                Some(Activation::Softmax)
            }
            Loss::BinaryCrossentropy => Some(Activation::Sigmoid),
            _ => None,
        }
    }

    /// The mean loss over the batch. With `logits` (fused output), `y_pred` holds the activated
    /// outputs and the gradient is taken with respect to the logits; otherwise with respect to
    /// `y_pred`. The gradient, when asked for, is written to `grad` (resized to `y_pred`'s shape).
    pub fn compute(
        &self,
        y_pred: &Tensor,
        logits: Option<&Tensor>,
        targets: &Targets,
        grad: Option<&mut Tensor>,
    ) -> f64 {
        self.compute_weighted(y_pred, logits, targets, None, grad)
    }

    /// [`Loss::compute`] with per-sample weights: Keras' `sum_over_batch_size` reduction,
    /// Σ_i w_i·loss_i / B (not divided by Σ w), and each sample's gradient scaled by w_i.
    /// `None` is all ones (bit for bit the unweighted loss: x·1.0 = x).
    pub fn compute_weighted(
        &self,
        y_pred: &Tensor,
        logits: Option<&Tensor>,
        targets: &Targets,
        weights: Option<&[f32]>,
        grad: Option<&mut Tensor>,
    ) -> f64 {
        let batch = y_pred.rows();
        let k = y_pred.row_len();
        let mut grad = grad;
        if let Some(g) = grad.as_deref_mut() {
            g.resize(y_pred.shape());
        }
        let w = |i: usize| weights.map_or(1.0, |w| w[i]);
        let inv_batch = 1.0 / batch.max(1) as f32;
        let mut total = 0.0f64;
        match (self, targets, logits) {
            (Loss::SparseCategoricalCrossentropy, Targets::Classes(classes), Some(z)) => {
                for (i, &c) in classes.iter().enumerate() {
                    let (zr, pr) = (z.row(i), y_pred.row(i));
                    let wi = w(i);
                    total += (log_sum_exp(zr) - zr[c as usize]) as f64 * wi as f64;
                    if let Some(g) = grad.as_deref_mut() {
                        let gr = &mut g.data_mut()[i * k..(i + 1) * k];
                        for (j, (gv, &p)) in gr.iter_mut().zip(pr).enumerate() {
                            *gv = (p - if j == c as usize { 1.0 } else { 0.0 }) * inv_batch * wi;
                        }
                    }
                }
            }
            (Loss::SparseCategoricalCrossentropy, Targets::Classes(classes), None) => {
                // As Keras (`keras/src/backend/tensorflow/nn.py`): each output clipped to
                // [ε, 1 - ε], then read as logits log c_j, so the loss is -ln(c_c / Σ_j c_j):
                // outputs that are not a distribution are normalized, as the categorical loss
                // does. ∂/∂p_m = (1/Σc - [m = c]/c_c) for unclipped p_m, 0 for clipped ones.
                for (i, &c) in classes.iter().enumerate() {
                    let pr = y_pred.row(i);
                    let clip = |p: f32| p.clamp(EPSILON, 1.0 - EPSILON);
                    let sum: f64 = pr.iter().map(|&p| clip(p) as f64).sum();
                    let own = clip(pr[c as usize]) as f64;
                    total += (sum.ln() - own.ln()) * w(i) as f64;
                    if let Some(g) = grad.as_deref_mut() {
                        let gr = &mut g.data_mut()[i * k..(i + 1) * k];
                        for (j, (gv, &p)) in gr.iter_mut().zip(pr).enumerate() {
                            *gv = if p == clip(p) {
                                let target = if j == c as usize { 1.0 / own } else { 0.0 };
                                ((1.0 / sum - target) as f32) * inv_batch * w(i)
                            } else {
                                0.0
                            };
                        }
                    }
                }
            }
            (Loss::CategoricalCrossentropy, Targets::Values(t), Some(z)) => {
                for i in 0..batch {
                    let (zr, pr, tr) = (z.row(i), y_pred.row(i), t.row(i));
                    let lse = log_sum_exp(zr);
                    let wi = w(i);
                    total += tr
                        .iter()
                        .zip(zr)
                        .map(|(&tv, &zv)| (tv * (lse - zv)) as f64)
                        .sum::<f64>()
                        * wi as f64;
                    if let Some(g) = grad.as_deref_mut() {
                        let t_sum: f32 = tr.iter().sum();
                        let gr = &mut g.data_mut()[i * k..(i + 1) * k];
                        for ((gv, &p), &tv) in gr.iter_mut().zip(pr).zip(tr) {
                            *gv = (t_sum * p - tv) * inv_batch * wi;
                        }
                    }
                }
            }
            (Loss::CategoricalCrossentropy, Targets::Values(t), None) => {
                // As Keras: q = p / Σp per row, clipped to [ε, 1 - ε]; -Σ t log q. With
                // unclipped set U, ∂/∂p_m = (Σ_(j∈U) t_j - [m∈U]·t_m / q_m) / Σp.
                for i in 0..batch {
                    let (pr, tr) = (y_pred.row(i), t.row(i));
                    let sum: f32 = pr.iter().sum();
                    // A row of zeros (Keras: 0/0 = NaN) reads as q = 0, clipped to ε.
                    let sum = if sum == 0.0 { 1.0 } else { sum };
                    let wi = w(i);
                    let mut t_unclipped = 0.0f32;
                    for (&p, &tv) in pr.iter().zip(tr) {
                        let q = p / sum;
                        let clipped = q.clamp(EPSILON, 1.0 - EPSILON);
                        total -= (tv as f64) * (clipped as f64).ln() * wi as f64;
                        if q == clipped {
                            t_unclipped += tv;
                        }
                    }
                    if let Some(g) = grad.as_deref_mut() {
                        let gr = &mut g.data_mut()[i * k..(i + 1) * k];
                        for ((gv, &p), &tv) in gr.iter_mut().zip(pr).zip(tr) {
                            let q = p / sum;
                            let own = if q == q.clamp(EPSILON, 1.0 - EPSILON) {
                                tv / q
                            } else {
                                0.0
                            };
                            *gv = (t_unclipped - own) / sum * inv_batch * wi;
                        }
                    }
                }
            }
            (Loss::BinaryCrossentropy, Targets::Values(t), Some(z)) => {
                let scale = inv_batch / k as f32;
                for (j, (&zv, &tv)) in z.data().iter().zip(t.data()).enumerate() {
                    let wi = w(j / k.max(1));
                    total += (zv.max(0.0) - zv * tv + (-zv.abs()).exp().ln_1p()) as f64 / k as f64
                        * wi as f64;
                    if let Some(g) = grad.as_deref_mut() {
                        g.data_mut()[j] = (sigmoid(zv) - tv) * scale * wi;
                    }
                }
            }
            (Loss::BinaryCrossentropy, Targets::Values(t), None) => {
                let scale = inv_batch / k as f32;
                for (j, (&p, &tv)) in y_pred.data().iter().zip(t.data()).enumerate() {
                    let pc = p.clamp(EPSILON, 1.0 - EPSILON);
                    let wi = w(j / k.max(1));
                    total -= (tv as f64 * (pc as f64).ln()
                        + (1.0 - tv as f64) * (1.0 - pc as f64).ln())
                        / k as f64
                        * wi as f64;
                    if let Some(g) = grad.as_deref_mut() {
                        g.data_mut()[j] = if p == pc {
                            (p - tv) / (p * (1.0 - p)) * scale * wi
                        } else {
                            0.0
                        };
                    }
                }
            }
            (Loss::MeanSquaredError, Targets::Values(t), _) => {
                let scale = 2.0 * inv_batch / k as f32;
                for (j, (&p, &tv)) in y_pred.data().iter().zip(t.data()).enumerate() {
                    let d = p - tv;
                    let wi = w(j / k.max(1));
                    total += (d as f64) * (d as f64) / k as f64 * wi as f64;
                    if let Some(g) = grad.as_deref_mut() {
                        g.data_mut()[j] = d * scale * wi;
                    }
                }
            }
            (Loss::KlDivergence, Targets::Values(t), _) => {
                // Σ_k t log(t/p), t and p clipped to [ε, 1]; d/dp = -t/p where p is not clipped.
                for (j, (&p, &tv)) in y_pred.data().iter().zip(t.data()).enumerate() {
                    let (pc, tc) = (p.clamp(EPSILON, 1.0), tv.clamp(EPSILON, 1.0));
                    let wi = w(j / k.max(1));
                    total += tc as f64 * (tc as f64 / pc as f64).ln() * wi as f64;
                    if let Some(g) = grad.as_deref_mut() {
                        g.data_mut()[j] = if p == pc {
                            -tc / p * inv_batch * wi
                        } else {
                            0.0
                        };
                    }
                }
            }
            (Loss::Hinge, Targets::Values(t), _) => {
                // Keras converts the batch's labels to ±1 when they are all 0 or 1.
                let binary = t.data().iter().all(|&v| v == 0.0 || v == 1.0);
                let scale = inv_batch / k as f32;
                for (j, (&p, &tv)) in y_pred.data().iter().zip(t.data()).enumerate() {
                    let tv = if binary { 2.0 * tv - 1.0 } else { tv };
                    let margin = 1.0 - tv * p;
                    let wi = w(j / k.max(1));
                    total += margin.max(0.0) as f64 / k as f64 * wi as f64;
                    if let Some(g) = grad.as_deref_mut() {
                        g.data_mut()[j] = if margin > 0.0 { -tv * scale * wi } else { 0.0 };
                    }
                }
            }
            (Loss::Custom(id), Targets::Values(t), _) => {
                return crate::custom_loss::compute(
                    *id,
                    y_pred.data(),
                    t.data(),
                    k,
                    weights,
                    grad.map(|g| g.data_mut()),
                );
            }
            (loss, Targets::Values(t), _) if loss.elementwise().is_some() => {
                let f = loss.elementwise().unwrap_or(|_, _, _| (0.0, 0.0));
                let delta = match loss {
                    Loss::Huber { delta } => *delta,
                    _ => 0.0,
                };
                let scale = inv_batch / k as f32;
                for (j, (&p, &tv)) in y_pred.data().iter().zip(t.data()).enumerate() {
                    let (value, slope) = f(p, tv, delta);
                    let wi = w(j / k.max(1));
                    total += value / k as f64 * wi as f64;
                    if let Some(g) = grad.as_deref_mut() {
                        g.data_mut()[j] = slope * scale * wi;
                    }
                }
            }
            (loss, targets, _) => panic!(
                "{} got {} targets; the model prepares targets to fit the loss",
                loss.name(),
                if matches!(targets, Targets::Classes(_)) {
                    "class"
                } else {
                    "value"
                }
            ),
        }
        total / batch.max(1) as f64
    }

    /// For the losses that are a mean over outputs of a function of (p, t): that function,
    /// returning (value, d value / dp); the third argument is Huber's δ.
    #[allow(clippy::type_complexity)]
    fn elementwise(self) -> Option<fn(f32, f32, f32) -> (f64, f32)> {
        match self {
            Loss::MeanAbsoluteError => Some(|p, t, _| {
                let d = p - t;
                (d.abs() as f64, sign(d))
            }),
            Loss::Huber { .. } => Some(|p, t, delta| {
                let d = p - t;
                if d.abs() <= delta {
                    (0.5 * (d as f64) * (d as f64), d)
                } else {
                    (
                        delta as f64 * d.abs() as f64 - 0.5 * (delta as f64) * (delta as f64),
                        delta * sign(d),
                    )
                }
            }),
            Loss::LogCosh => Some(|p, t, _| {
                // x + softplus(-2x) - log 2 = log cosh x, stable for large |x|; d/dx = tanh x.
                let x = (p - t) as f64;
                let softplus = (-2.0 * x).max(0.0) + (-(2.0 * x).abs()).exp().ln_1p();
                (x + softplus - std::f64::consts::LN_2, x.tanh() as f32)
            }),
            Loss::Poisson => Some(|p, t, _| {
                (
                    p as f64 - t as f64 * (p as f64 + EPSILON as f64).ln(),
                    1.0 - t / (p + EPSILON),
                )
            }),
            _ => None,
        }
    }
}

/// The built-in loss a spec id names.
pub(crate) fn builtin_loss(name: &str) -> Option<Loss> {
    LOSS_NAMES.iter().find(|(n, _)| *n == name).map(|&(_, l)| l)
}

/// sign(x), 0 at 0 (the subgradient PyTorch and TensorFlow use for |x|).
fn sign(x: f32) -> f32 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// log Σ e^x, computed as max + log Σ e^(x - max).
pub fn log_sum_exp(x: &[f32]) -> f32 {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    max + x.iter().map(|&v| (v - max).exp()).sum::<f32>().ln()
}
