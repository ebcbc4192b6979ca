//! Per-layer statistics recorded during training, and the verdicts built on them: what the
//! gradients and activations are doing, in the chapter's terms (vanishing and exploding
//! gradients, dead ReLUs, saturation, self-normalization, divergence).
//!
//! [`Diagnostics`] is an [`Observer`]: installed on a model, it samples every `every`-th training
//! step (and the first step of each epoch) and records, per layer: the activations' mean and
//! standard deviation, the fraction of saturated units (sigmoid, tanh, hard sigmoid outputs
//! within 0.02 of a bound), the fraction of dead units (ReLU units that output 0 for the whole
//! batch; on images (N, H, W, C) a unit is a channel, so for a convolution these are its dead
//! filters: 0 at every position of every sample), the kernel gradient's L2 norm, mean and standard deviation, and the update-to-weight
//! ratio ‖Δw‖/‖w‖ of that step. Sampled steps copy one kernel per layer; others cost a counter.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::activations::Activation;
use crate::layers::{Layer, Mode};
use crate::model::Observer;
use crate::tensor::Tensor;
use crate::{io, Result};

/// One layer at one sampled step.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LayerStats {
    /// Global training step (from 1).
    pub step: u64,
    /// Epoch (from 1).
    pub epoch: usize,
    /// Layer index (from 0).
    pub layer: usize,
    /// Layer name.
    pub name: String,
    /// Keras class name.
    pub class: String,
    /// The activation the layer applies last.
    pub activation: String,
    /// Mean of the outputs.
    pub act_mean: f64,
    /// Standard deviation of the outputs.
    pub act_std: f64,
    /// Fraction of outputs near a bound (sigmoid-like and tanh layers).
    pub saturated: Option<f64>,
    /// Fraction of units (the last axis: a convolution's filters) that output 0 for the whole
    /// batch, at every position (ReLU layers).
    pub dead: Option<f64>,
    /// L2 norm of the kernel gradient.
    pub grad_norm: Option<f64>,
    /// Mean of the kernel gradient.
    pub grad_mean: Option<f64>,
    /// Standard deviation of the kernel gradient.
    pub grad_std: Option<f64>,
    /// ‖Δw‖ / ‖w‖ of the kernel in this step.
    pub update_ratio: Option<f64>,
}

#[derive(Default)]
struct State {
    every: u64,
    step: u64,
    /// The number of the step about to run, when the model said ([`Observer::on_step_begin`]).
    next_step: Option<u64>,
    epoch: usize,
    sampling: bool,
    sample_next: bool,
    rows: Vec<LayerStats>,
    /// Kernels before the sampled step's update, by layer, with the row index to complete.
    before: Vec<Option<(Vec<f32>, usize)>>,
}

/// Records [`LayerStats`]; clone the handle before installing it to read the rows afterwards.
#[derive(Clone)]
///
/// ```
/// # fn main() -> deeptrain::Result<()> {
/// # use deeptrain::{data, Activation, DenseSpec, FitOptions, LayerSpec, Loss, Metric, Sequential, Sgd};
/// # let train = data::digits()?.train;
/// # let mut model = Sequential::new(&[8, 8])
/// #     .add(LayerSpec::flatten())
/// #     .add(DenseSpec::new(10).activation(Activation::Softmax))
/// #     .build(1)?;
/// # model.compile(Box::new(Sgd::new(0.01)?), Loss::SparseCategoricalCrossentropy, &[Metric::Accuracy])?;
/// use deeptrain::diagnostics::{verdicts, Diagnostics};
/// let diagnostics = Diagnostics::new(10);
/// model.set_observer(Some(Box::new(diagnostics.clone())));
/// model.fit(&train, None, &FitOptions::default(), &mut [])?;
/// for verdict in verdicts(&diagnostics.rows()) {
///     println!("{verdict:?}");
/// }
/// assert!(!diagnostics.rows().is_empty());
/// # Ok(())
/// # }
/// ```
pub struct Diagnostics(Arc<Mutex<State>>);

impl Diagnostics {
    /// Samples every `every`-th training step (at least 1) and each epoch's first step.
    pub fn new(every: u64) -> Self {
        Diagnostics(Arc::new(Mutex::new(State {
            every: every.max(1),
            sample_next: true,
            ..State::default()
        })))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock can only come from a bug here; keep the data.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every row recorded so far.
    pub fn rows(&self) -> Vec<LayerStats> {
        self.state().rows.clone()
    }

    /// The rows as CSV (`diagnostics.csv`).
    pub fn to_csv(&self) -> String {
        let mut out = String::from(
            "step,epoch,layer,name,class,activation,act_mean,act_std,saturated,dead,grad_norm,grad_mean,grad_std,update_ratio\n",
        );
        let opt = |v: Option<f64>| v.map_or(String::new(), |x| format!("{x:.6e}"));
        for r in self.state().rows.iter() {
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{:.6e},{:.6e},{},{},{},{},{},{}",
                r.step,
                r.epoch,
                r.layer,
                r.name,
                r.class,
                r.activation,
                r.act_mean,
                r.act_std,
                opt(r.saturated),
                opt(r.dead),
                opt(r.grad_norm),
                opt(r.grad_mean),
                opt(r.grad_std),
                opt(r.update_ratio)
            );
        }
        out
    }

    /// Writes [`Diagnostics::to_csv`].
    pub fn write_csv(&self, path: &Path) -> Result<()> {
        io::write_atomic(path, self.to_csv().as_bytes())
    }
}

fn moments(values: &[f32]) -> (f64, f64) {
    let n = values.len().max(1) as f64;
    let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = values
        .iter()
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    (mean, var.sqrt())
}

fn norm(values: &[f32]) -> f64 {
    values
        .iter()
        .map(|&v| (v as f64).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// The weights the layer says diagnostics look at ([`Layer::kernel_param`]).
fn kernel(layer: &dyn Layer) -> Option<&[f32]> {
    layer.kernel_param().map(|p| p.value.data())
}

impl Observer for Diagnostics {
    /// Only on the steps it samples.
    fn needs_gradients(&self) -> bool {
        self.state().sampling
    }

    fn on_epoch_begin(&mut self, epoch: usize) {
        let mut s = self.state();
        s.epoch = epoch + 1;
        s.sample_next = true;
    }

    fn after_forward(&mut self, index: usize, layer: &dyn Layer, output: &Tensor, mode: Mode) {
        if mode != Mode::Train {
            return;
        }
        let mut s = self.state();
        if index == 0 {
            s.step = s.next_step.take().unwrap_or(s.step + 1);
            s.sampling = s.sample_next || s.step % s.every == 0;
            s.sample_next = false;
        }
        if !s.sampling {
            return;
        }
        let activation = layer.output_activation();
        let values = output.data();
        let (act_mean, act_std) = moments(values);
        let saturated = match activation {
            Activation::Sigmoid | Activation::HardSigmoid => Some(
                values
                    .iter()
                    .filter(|&&v| !(0.02..=0.98).contains(&v))
                    .count() as f64
                    / values.len().max(1) as f64,
            ),
            Activation::Tanh => Some(
                values.iter().filter(|&&v| v.abs() > 0.98).count() as f64
                    / values.len().max(1) as f64,
            ),
            _ => None,
        };
        let dead = (activation == Activation::Relu).then(|| {
            // Per unit of the last axis: a Dense unit, or a conv filter over every position.
            let units = output.shape().last().copied().unwrap_or(1).max(1);
            let mut alive = vec![false; units];
            for row in values.chunks_exact(units) {
                alive.iter_mut().zip(row).for_each(|(a, &v)| *a |= v > 0.0);
            }
            alive.iter().filter(|a| !**a).count() as f64 / units as f64
        });
        let (step, epoch) = (s.step, s.epoch.max(1));
        s.rows.push(LayerStats {
            step,
            epoch,
            layer: index,
            name: layer.name().to_string(),
            class: layer.class_name().to_string(),
            activation: activation.to_string(),
            act_mean,
            act_std,
            saturated,
            dead,
            ..LayerStats::default()
        });
    }

    fn after_backward(&mut self, index: usize, layer: &dyn Layer, _grad_output: &Tensor) {
        let mut s = self.state();
        if !s.sampling {
            return;
        }
        let Some(p) = layer.kernel_param().filter(|p| p.trainable) else {
            return;
        };
        let step = s.step;
        let Some(row) = s
            .rows
            .iter()
            .rposition(|r| r.step == step && r.layer == index)
        else {
            return;
        };
        let g = p.grad.data();
        let (mean, std) = moments(g);
        let r = &mut s.rows[row];
        r.grad_norm = Some(norm(g));
        r.grad_mean = Some(mean);
        r.grad_std = Some(std);
        if s.before.len() <= index {
            s.before.resize(index + 1, None);
        }
        s.before[index] = Some((p.value.data().to_vec(), row));
    }

    /// Completes the sampled step's update ratio: this layer's kernel has been updated.
    fn after_update(&mut self, index: usize, layer: &dyn Layer) {
        let mut s = self.state();
        if let Some(Some((before, row))) = s.before.get_mut(index).map(Option::take) {
            if let Some(after) = kernel(layer) {
                let delta: f64 = after
                    .iter()
                    .zip(&before)
                    .map(|(&a, &b)| ((a - b) as f64).powi(2))
                    .sum::<f64>()
                    .sqrt();
                s.rows[row].update_ratio = Some(delta / norm(&before).max(1e-12));
            }
        }
    }

    fn on_step_begin(&mut self, step: u64) {
        self.state().next_step = Some(step);
    }

    /// The rows so far, for the checkpoint (a resumed run's `diagnostics.csv` then holds every
    /// epoch's rows).
    fn save_state(&self) -> Option<serde_json::Value> {
        let rows = self.state().rows.iter().map(saved_row).collect();
        Some(serde_json::json!({ "rows": serde_json::Value::Array(rows) }))
    }

    fn restore_state(&mut self, state: &serde_json::Value) -> Result<()> {
        let rows = state
            .get("rows")
            .and_then(serde_json::Value::as_array)
            .ok_or_else(|| malformed(0))?;
        let rows = rows
            .iter()
            .enumerate()
            .map(|(i, r)| restored_row(r).ok_or_else(|| malformed(i + 1)))
            .collect::<Result<Vec<_>>>()?;
        self.state().rows = rows;
        Ok(())
    }
}

fn malformed(row: usize) -> crate::Error {
    crate::Error::Data(format!(
        "the checkpoint's diagnostics state is malformed (row {row}); resume without diagnostics (--diagnostics-every 0) or from another checkpoint"
    ))
}

/// A float as JSON: a number, or `"NaN"`, `"inf"`, `"-inf"` (exact: serde_json round-trips).
fn float(x: f64) -> serde_json::Value {
    if x.is_finite() {
        serde_json::json!(x)
    } else {
        serde_json::Value::String(x.to_string())
    }
}

fn float_of(v: &serde_json::Value) -> Option<f64> {
    v.as_f64().or_else(|| v.as_str()?.parse().ok())
}

/// A row as the JSON array of its fields, in [`Diagnostics::to_csv`]'s order.
fn saved_row(r: &LayerStats) -> serde_json::Value {
    let opt = |x: Option<f64>| x.map_or(serde_json::Value::Null, float);
    serde_json::json!([
        r.step,
        r.epoch,
        r.layer,
        r.name,
        r.class,
        r.activation,
        float(r.act_mean),
        float(r.act_std),
        opt(r.saturated),
        opt(r.dead),
        opt(r.grad_norm),
        opt(r.grad_mean),
        opt(r.grad_std),
        opt(r.update_ratio)
    ])
}

fn restored_row(v: &serde_json::Value) -> Option<LayerStats> {
    let a = v.as_array().filter(|a| a.len() == 14)?;
    let text = |i: usize| a[i].as_str().map(str::to_string);
    let opt = |i: usize| -> Option<Option<f64>> {
        if a[i].is_null() {
            Some(None)
        } else {
            float_of(&a[i]).map(Some)
        }
    };
    Some(LayerStats {
        step: a[0].as_u64()?,
        epoch: usize::try_from(a[1].as_u64()?).ok()?,
        layer: usize::try_from(a[2].as_u64()?).ok()?,
        name: text(3)?,
        class: text(4)?,
        activation: text(5)?,
        act_mean: float_of(&a[6])?,
        act_std: float_of(&a[7])?,
        saturated: opt(8)?,
        dead: opt(9)?,
        grad_norm: opt(10)?,
        grad_mean: opt(11)?,
        grad_std: opt(12)?,
        update_ratio: opt(13)?,
    })
}

/// A plain-language finding: what, why, and what to do.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// Short id (`vanishing_gradients`, `dead_relus`, ...).
    pub kind: &'static str,
    /// What was seen.
    pub finding: String,
    /// Why it matters / the rule applied.
    pub reason: String,
    /// What to do.
    pub fix: String,
}

impl Verdict {
    /// True for the verdicts that report something working (healthy gradients, a
    /// self-normalizing network), as opposed to a problem.
    pub fn is_healthy(&self) -> bool {
        matches!(self.kind, "healthy_gradients" | "self_normalizing")
    }
}

/// `verdicts` of a run that diverged: the divergence first, and none of the healthy verdicts
/// (statistics sampled before the blow-up do not make a diverged run healthy).
pub fn with_divergence(verdicts: Vec<Verdict>, message: &str) -> Vec<Verdict> {
    std::iter::once(divergence(message))
        .chain(verdicts.into_iter().filter(|v| !v.is_healthy()))
        .collect()
}

/// The rows of the last sampled step.
fn last_step(rows: &[LayerStats]) -> Vec<&LayerStats> {
    let Some(last) = rows.iter().map(|r| r.step).max() else {
        return Vec::new();
    };
    rows.iter().filter(|r| r.step == last).collect()
}

/// Verdicts from the recorded statistics (the later half of the run, to skip the first steps'
/// transients). Healthy findings are reported too (`self_normalizing`, `healthy_gradients`).
pub fn verdicts(rows: &[LayerStats]) -> Vec<Verdict> {
    let mut out = Vec::new();
    let Some(max_step) = rows.iter().map(|r| r.step).max() else {
        return out;
    };
    let late: Vec<&LayerStats> = rows.iter().filter(|r| 2 * r.step >= max_step).collect();
    let layers: Vec<usize> = {
        let mut l: Vec<usize> = late
            .iter()
            .filter(|r| r.grad_norm.is_some())
            .map(|r| r.layer)
            .collect();
        l.sort_unstable();
        l.dedup();
        l
    };
    let mean_of = |layer: usize, f: &dyn Fn(&LayerStats) -> Option<f64>| -> Option<f64> {
        // The geometric mean: the values span orders of magnitude.
        let v: Vec<f64> = late
            .iter()
            .filter(|r| r.layer == layer)
            .filter_map(|r| f(r))
            .collect();
        if v.iter().any(|x| !x.is_finite()) {
            return Some(f64::INFINITY);
        }
        (!v.is_empty())
            .then(|| (v.iter().map(|x| x.max(1e-300).ln()).sum::<f64>() / v.len() as f64).exp())
    };
    // Gradient flow: how fast the first weighted layer learns (‖Δw‖/‖w‖ per step) against the
    // output layer. Raw gradient norms mislead when weights are large (a saturated sigmoid stack
    // with N(0, 1) weights has sizeable gradients that are tiny next to its weights).
    if let (Some(&first), Some(&last)) = (layers.first(), layers.last()) {
        let u_first = mean_of(first, &|r| r.update_ratio);
        let u_last = mean_of(last, &|r| r.update_ratio);
        let g_first = mean_of(first, &|r| r.grad_norm).unwrap_or(0.0);
        let g_last = mean_of(last, &|r| r.grad_norm).unwrap_or(0.0);
        let ratio = match (u_first, u_last) {
            (Some(a), Some(b)) => a / b.max(1e-30),
            _ => g_first / g_last.max(1e-30),
        };
        let describe = format!(
            "the first layer learns {ratio:.1e} times as fast as the output layer (update/weight {} vs {}; gradient norms {g_first:.2e} vs {g_last:.2e})",
            u_first.map_or("-".into(), |u| format!("{u:.1e}")),
            u_last.map_or("-".into(), |u| format!("{u:.1e}"))
        );
        if g_last < 1e-20 && g_first < 1e-20 {
            // No gradient at all (a dead network): the dead-unit verdict says why.
        } else if !g_first.is_finite() || !g_last.is_finite() || g_first > 1e4 || ratio > 100.0 {
            out.push(Verdict {
                kind: "exploding_gradients",
                finding: describe,
                reason: "gradients grow as they flow back toward the input, so the lower layers take huge, unstable steps".into(),
                fix: "use gradient clipping (clipnorm / global_clipnorm), a smaller learning rate, batch normalization, or a variance-preserving initialization".into(),
            });
        } else if first != last && ratio < 0.01 {
            out.push(Verdict {
                kind: "vanishing_gradients",
                finding: describe,
                reason: "gradients shrink on the way back (Glorot & Bengio 2010), so the lower layers barely learn".into(),
                fix: "use a non-saturating activation (ReLU family, ELU, SELU) with its matching initialization (He, LeCun: `kernel_initializer = \"auto\"`), or batch normalization".into(),
            });
        } else if first != last {
            out.push(Verdict {
                kind: "healthy_gradients",
                finding: describe,
                reason: "the lower layers learn at a rate comparable to the upper ones: neither vanishing nor exploding".into(),
                fix: "nothing to do".into(),
            });
        }
    }
    let final_rows = last_step(rows);
    let dead: Vec<(String, f64)> = final_rows
        .iter()
        .filter_map(|r| r.dead.filter(|&d| d > 0.5).map(|d| (r.name.clone(), d)))
        .collect();
    if !dead.is_empty() {
        out.push(Verdict {
            kind: "dead_relus",
            finding: format!(
                "dead ReLU units (0 for a whole batch): {}",
                dead.iter().map(|(n, d)| format!("{n} {:.0}%", 100.0 * d)).collect::<Vec<_>>().join(", ")
            ),
            reason: "a ReLU whose input is negative for every sample outputs 0 and gets no gradient, so it never recovers".into(),
            fix: "lower the learning rate, or use leaky ReLU / ELU / SELU, and He initialization".into(),
        });
    }
    let saturated: Vec<(String, f64)> = final_rows
        .iter()
        .filter_map(|r| {
            r.saturated
                .filter(|&s| s > 0.5)
                .map(|s| (r.name.clone(), s))
        })
        .collect();
    if !saturated.is_empty() {
        out.push(Verdict {
            kind: "saturation",
            finding: format!(
                "saturated units (within 0.02 of a bound): {}",
                saturated.iter().map(|(n, s)| format!("{n} {:.0}%", 100.0 * s)).collect::<Vec<_>>().join(", ")
            ),
            reason: "a saturated sigmoid or tanh has a derivative near 0, so gradients vanish through it".into(),
            fix: "use Glorot initialization for sigmoid/tanh, or a non-saturating activation, or batch normalization".into(),
        });
    }
    let selu: Vec<&&LayerStats> = final_rows
        .iter()
        // SELU layers with a trained kernel (the layer answered `kernel_param` for grad_norm).
        .filter(|r| r.activation == "selu" && r.grad_norm.is_some())
        .collect();
    if !selu.is_empty() {
        let drifting: Vec<&&&LayerStats> = selu
            .iter()
            .filter(|r| r.act_mean.abs() > 0.5 || !(0.5..=2.0).contains(&r.act_std))
            .collect();
        let (lo, hi) = selu.iter().fold((f64::INFINITY, 0.0f64), |(a, b), r| {
            (a.min(r.act_std), b.max(r.act_std))
        });
        if drifting.len() * 10 <= selu.len() {
            out.push(Verdict {
                kind: "self_normalizing",
                finding: format!(
                    "{} of {} SELU layers keep activations near mean 0 and standard deviation 1 (standard deviations {lo:.2} to {hi:.2} from the first layer to the last)",
                    selu.len() - drifting.len(),
                    selu.len()
                ),
                reason: "self-normalization holds: the signal neither vanishes nor explodes with depth (Klambauer et al. 2017)".into(),
                fix: "nothing to do".into(),
            });
        } else {
            out.push(Verdict {
                kind: "not_self_normalizing",
                finding: format!(
                    "{} of {} SELU layers drift far from mean 0 / std 1 (e.g. {}: mean {:.2}, std {:.2})",
                    drifting.len(),
                    selu.len(),
                    drifting[0].name,
                    drifting[0].act_mean,
                    drifting[0].act_std
                ),
                reason: "SELU self-normalizes only with LeCun normal weights, standardized inputs, a plain sequential stack and alpha dropout".into(),
                fix: "check the configuration warnings; use lecun_normal, scale = \"standard\", alpha_dropout".into(),
            });
        }
    }
    out
}

/// The divergence verdict, for a run whose loss became non-finite.
pub fn divergence(message: &str) -> Verdict {
    Verdict {
        kind: "divergence",
        finding: message.to_string(),
        reason: "the updates overshoot: the loss grows until it overflows".into(),
        fix: "lower the learning rate (try `deeptrain lr-find`), clip gradients, or check the data for extreme values".into(),
    }
}
