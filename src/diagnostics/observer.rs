//! [`Diagnostics`], the observer that samples per-layer statistics during training.
//!
//! Installed on a model, it samples every `every`-th training step (and the first step of each
//! epoch) and records, per layer: the activations' mean and standard deviation, the fraction of
//! non-finite outputs, the fraction of saturated units among the finite outputs (sigmoid, tanh,
//! hard sigmoid outputs within 0.02 of a bound; NaN and infinity are counted as non-finite,
//! never as saturated), the fraction of dead units (ReLU units that output 0 for every sample
//! of a window of at least [`DEAD_WINDOW`] samples, gathered over the sampled step and the
//! steps after it when its batch is smaller; on images (N, H, W, C) a unit is a channel, so for
//! a convolution these are its dead filters), the kernel gradient's L2 norm, mean, standard
//! deviation and fraction of exact zeros, the kernel's norm, and the update-to-weight ratio
//! ‖Δw‖/‖w‖ of that step, and a recurrent layer's gradient norms through time. Sampled steps copy one kernel per layer; other steps cost a counter, and a comparison per
//! ReLU output while a dead-unit window is open.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use super::saved;
use crate::activations::Activation;
use crate::layers::{Layer, Mode};
use crate::model::Observer;
use crate::tensor::Tensor;
use crate::{io, Result};

/// The fewest samples a dead-unit judgement covers: a unit silent on one sample is not dead.
pub const DEAD_WINDOW: usize = 64;

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
    /// Whether the layer has a kernel ([`Layer::kernel_param`]).
    pub has_kernel: bool,
    /// Fraction of outputs that are NaN or infinite.
    pub non_finite: f64,
    /// Fraction of the finite outputs near a bound (sigmoid-like and tanh layers).
    pub saturated: Option<f64>,
    /// Fraction of units (the last axis: a convolution's filters) that output 0 for every
    /// sample of the latest window of at least [`DEAD_WINDOW`] samples, at every position (ReLU
    /// layers); `None` until a window has closed.
    pub dead: Option<f64>,
    /// L2 norm of the kernel gradient.
    pub grad_norm: Option<f64>,
    /// Mean of the kernel gradient.
    pub grad_mean: Option<f64>,
    /// Standard deviation of the kernel gradient.
    pub grad_std: Option<f64>,
    /// L2 norm of the kernel (before the step's update).
    pub weight_norm: Option<f64>,
    /// Fraction of the kernel gradient's entries that are exactly 0.
    pub grad_zero: Option<f64>,
    /// ‖Δw‖ / ‖w‖ of the kernel in this step.
    pub update_ratio: Option<f64>,
    /// A recurrent layer's gradient norms through time, ‖∂L/∂h_s‖ per processing step s
    /// ([`Layer::time_gradient_norms`]); empty for other layers.
    pub time_grad_norms: Vec<f64>,
}

/// A ReLU layer's open dead-unit window: which units fired, over how many samples.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct DeadWindow {
    pub(super) alive: Vec<bool>,
    pub(super) samples: usize,
    pub(super) open: bool,
    /// The fraction dead in the last closed window.
    pub(super) last: Option<f64>,
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
    /// Dead-unit windows, by layer.
    dead: Vec<DeadWindow>,
    /// The activation each layer is judged by ([`judged_activation`]), by layer, read once.
    activations: Vec<Option<Activation>>,
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
        Diagnostics::csv_of(&self.state().rows)
    }

    /// `rows` as CSV, one line per layer and sampled step.
    pub fn csv_of(rows: &[LayerStats]) -> String {
        let mut out = String::from(
            "step,epoch,layer,name,class,activation,act_mean,act_std,non_finite,saturated,dead,grad_norm,grad_mean,grad_std,weight_norm,grad_zero,update_ratio\n",
        );
        let opt = |v: Option<f64>| v.map_or(String::new(), |x| format!("{x:.6e}"));
        for r in rows {
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{:.6e},{:.6e},{:.6e},{},{},{},{},{},{},{},{}",
                r.step,
                r.epoch,
                r.layer,
                r.name,
                r.class,
                r.activation,
                r.act_mean,
                r.act_std,
                r.non_finite,
                opt(r.saturated),
                opt(r.dead),
                opt(r.grad_norm),
                opt(r.grad_mean),
                opt(r.grad_std),
                opt(r.weight_norm),
                opt(r.grad_zero),
                opt(r.update_ratio)
            );
        }
        out
    }

    /// Opens a dead-unit window for ReLU layer `index` at a sampled step, or continues the open
    /// one; closes it once it has seen [`DEAD_WINDOW`] samples.
    fn track_dead(&self, s: &mut State, index: usize, output: &Tensor) {
        if s.dead.len() <= index {
            s.dead.resize(index + 1, DeadWindow::default());
        }
        let sampling = s.sampling;
        let window = &mut s.dead[index];
        if !window.open && !sampling {
            return;
        }
        let units = output.shape().last().copied().unwrap_or(1).max(1);
        if !window.open || window.alive.len() != units {
            window.alive.clear();
            window.alive.resize(units, false);
            window.samples = 0;
            window.open = true;
        }
        let samples = output.shape().first().copied().unwrap_or(1);
        window.samples += mark_alive(&mut window.alive, output.data(), samples);
        if window.samples >= DEAD_WINDOW {
            let dead = window.alive.iter().filter(|a| !**a).count();
            window.last = Some(dead as f64 / units as f64);
            window.open = false;
        }
    }

    /// Writes [`Diagnostics::to_csv`].
    pub fn write_csv(&self, path: &Path) -> Result<()> {
        io::write_atomic(path, self.to_csv().as_bytes())
    }
}

/// The activation that bounds a layer's outputs, for saturation and dead units: the one it
/// applies last ([`Layer::output_activation`]), or, for a layer that reports none (linear), the
/// activation its spec applies. A recurrent layer's output h is its state activation's value
/// (SimpleRNN: h = tanh(·)), or one scaled by gates in (0, 1) (LSTM: h = o ⊙ tanh(c); GRU: a
/// convex mix of such values), so h within 0.02 of ±1 means saturated units, as for a tanh
/// layer. `output_activation` itself stays linear there: it decides which output the loss
/// fuses with, and a recurrent output is never a plain sigmoid or softmax of logits.
fn judged_activation(layer: &dyn Layer) -> Activation {
    match layer.output_activation() {
        Activation::Linear => layer
            .spec()
            .applied_activation()
            .unwrap_or(Activation::Linear),
        applied => applied,
    }
}

/// Mean and standard deviation of the finite values.
fn moments(values: &[f32]) -> (f64, f64) {
    let finite = || values.iter().filter(|v| v.is_finite()).map(|&v| v as f64);
    let n = finite().count().max(1) as f64;
    let mean = finite().sum::<f64>() / n;
    let var = finite().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// The fraction of `values` near a bound of `activation`'s range, among the finite ones.
fn saturation(activation: Activation, values: &[f32]) -> Option<f64> {
    let near_bound: fn(f32) -> bool = match activation {
        Activation::Sigmoid | Activation::HardSigmoid => |v| !(0.02..=0.98).contains(&v),
        Activation::Tanh => |v| v.abs() > 0.98,
        _ => return None,
    };
    let finite = values.iter().filter(|v| v.is_finite()).count();
    let saturated = values
        .iter()
        .filter(|v| v.is_finite() && near_bound(**v))
        .count();
    Some(saturated as f64 / finite.max(1) as f64)
}

/// Marks the units (the last axis) of `values` that fired; returns the samples seen.
fn mark_alive(alive: &mut [bool], values: &[f32], samples: usize) -> usize {
    let units = alive.len().max(1);
    for row in values.chunks_exact(units) {
        alive.iter_mut().zip(row).for_each(|(a, &v)| *a |= v > 0.0);
    }
    samples
}

fn norm(values: &[f32]) -> f64 {
    values
        .iter()
        .map(|&v| (v as f64).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// ‖a - b‖.
fn distance(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| ((x - y) as f64).powi(2))
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
        if s.activations.len() <= index {
            s.activations.resize(index + 1, None);
        }
        let activation = *s.activations[index].get_or_insert_with(|| judged_activation(layer));
        let values = output.data();
        if activation == Activation::Relu {
            self.track_dead(&mut s, index, output);
        }
        if !s.sampling {
            return;
        }
        let (act_mean, act_std) = moments(values);
        let non_finite =
            values.iter().filter(|v| !v.is_finite()).count() as f64 / values.len().max(1) as f64;
        let dead = s.dead.get(index).and_then(|d| d.last);
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
            has_kernel: layer.kernel_param().is_some(),
            non_finite,
            saturated: saturation(activation, values),
            dead,
            ..LayerStats::default()
        });
        // The weights this step starts from, read here: under plain SGD backward updates them
        // in place (the same bits whether or not this step is observed).
        if let Some(p) = layer.kernel_param().filter(|p| p.trainable) {
            let w = p.value.data();
            let row = s.rows.len() - 1;
            s.rows[row].weight_norm = Some(norm(w));
            if s.before.len() <= index {
                s.before.resize(index + 1, None);
            }
            s.before[index] = Some((w.to_vec(), row));
        }
    }

    fn after_backward(&mut self, index: usize, layer: &dyn Layer, _grad_output: &Tensor) {
        let mut s = self.state();
        if !s.sampling {
            return;
        }
        let step = s.step;
        let Some(row) = s
            .rows
            .iter()
            .rposition(|r| r.step == step && r.layer == index)
        else {
            return;
        };
        if let Some(norms) = layer.time_gradient_norms() {
            s.rows[row].time_grad_norms = norms.iter().map(|&g| g as f64).collect();
        }
        let Some(p) = layer.kernel_param().filter(|p| p.trainable) else {
            return;
        };
        let Some(g) = p.grad().map(Tensor::data) else {
            return;
        };
        let (mean, std) = moments(g);
        let r = &mut s.rows[row];
        r.grad_norm = Some(norm(g));
        r.grad_mean = Some(mean);
        r.grad_std = Some(std);
        r.grad_zero = Some(g.iter().filter(|&&v| v == 0.0).count() as f64 / g.len().max(1) as f64);
    }

    /// Completes the sampled step's update ratio: this layer's kernel has been updated.
    fn after_update(&mut self, index: usize, layer: &dyn Layer) {
        let mut s = self.state();
        if let Some(Some((before, row))) = s.before.get_mut(index).map(Option::take) {
            if let Some(after) = kernel(layer) {
                let delta = distance(after, &before);
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
        let s = self.state();
        Some(saved::save(&s.rows, &s.dead))
    }

    fn restore_state(&mut self, state: &serde_json::Value) -> Result<()> {
        let (rows, dead) = saved::restore(state)?;
        let mut s = self.state();
        s.rows = rows;
        s.dead = dead;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saturation_counts_finite_values_near_a_bound_only() {
        let sigmoid = [0.01, 0.5, 0.99, 0.3, f32::NAN, f32::INFINITY];
        // 2 of the 4 finite values sit near 0 or 1; NaN and infinity are not "saturated".
        assert_eq!(saturation(Activation::Sigmoid, &sigmoid), Some(0.5));
        assert_eq!(
            saturation(Activation::Tanh, &[-0.99, 0.1, 0.5, 0.999]),
            Some(0.5)
        );
        assert_eq!(saturation(Activation::Tanh, &[f32::NAN; 3]), Some(0.0));
        // ReLU has no upper bound: saturation does not apply.
        assert_eq!(saturation(Activation::Relu, &[0.0, 5.0]), None);
    }

    #[test]
    fn recurrent_units_are_judged_by_their_state_activation() {
        use crate::layers::RecurrentSpec;
        use crate::Sequential;
        // A recurrent layer applies no separate output activation (output_activation() is
        // linear, so the loss never fuses with it), but its outputs are tanh values: a batch
        // at ±0.99 is saturated, a batch near 0 is not.
        for spec in [RecurrentSpec::simple_rnn(2), RecurrentSpec::lstm(2)] {
            let model = Sequential::new(&[3, 1]).add(spec).build(1).unwrap();
            let layer = model.layers()[0].as_ref();
            assert_eq!(layer.output_activation(), Activation::Linear);
            let mut d = Diagnostics::new(1);
            let saturated = Tensor::from_vec(vec![0.99, -0.995, 0.999, -0.99], &[2, 2]);
            d.after_forward(0, layer, &saturated, Mode::Train);
            let calm = Tensor::from_vec(vec![0.1, -0.2, 0.99, 0.0], &[2, 2]);
            d.after_forward(0, layer, &calm, Mode::Train);
            let rows = d.rows();
            assert_eq!(rows[0].activation, "tanh");
            assert_eq!(rows[0].saturated, Some(1.0));
            assert_eq!(rows[1].saturated, Some(0.25));
        }
    }

    #[test]
    fn a_unit_is_alive_when_it_fires_for_any_sample() {
        // 3 samples × 4 units: unit 1 fires for the second sample only, unit 3 never.
        let values = [0.0, 0.0, 2.0, 0.0, -1.0, 0.3, 1.0, 0.0, 0.0, 0.0, 0.5, -2.0];
        let mut alive = vec![false; 4];
        assert_eq!(mark_alive(&mut alive, &values, 3), 3);
        assert_eq!(alive, [false, true, true, false]);
        // The next batch revives unit 0; unit 3 stays dead over all the samples seen.
        mark_alive(&mut alive, &[0.1, 0.0, 0.0, 0.0], 1);
        assert_eq!(alive, [true, true, true, false]);
    }

    #[test]
    fn norms_distances_and_moments() {
        assert!((norm(&[3.0, 4.0]) - 5.0).abs() < 1e-12);
        // Distance from initialization: ‖w - w0‖.
        assert!((distance(&[1.0, 2.0, 2.0], &[0.0, 0.0, 0.0]) - 3.0).abs() < 1e-12);
        assert_eq!(distance(&[1.0, 2.0], &[1.0, 2.0]), 0.0);
        // Moments of the finite values: NaN is left out.
        let (mean, std) = moments(&[1.0, 3.0, f32::NAN]);
        assert!((mean - 2.0).abs() < 1e-12 && (std - 1.0).abs() < 1e-12);
    }
}
