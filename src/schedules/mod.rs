//! Learning-rate schedules: pure functions of the step (or epoch) for the decays and 1cycle,
//! and the stateful on-plateau rule.
//!
//! | name | rate at t (t = step, or epoch with `per = "epoch"`) | source |
//! | --- | --- | --- |
//! | `power` | η₀ / (1 + r·t/s)^c (Keras `InverseTimeDecay` is c = 1) | Géron ch. 11 |
//! | `exponential` | η₀ · r^(t/s), t/s floored when `staircase` | Keras `ExponentialDecay` |
//! | `piecewise_constant` | `values[i]` for `boundaries[i-1] < t ≤ boundaries[i]` | Keras `PiecewiseConstantDecay` |
//! | `cosine` | linear warm-up to the target, then target·((1-α)·½(1+cos(π·min(t', s)/s)) + α) | Keras `CosineDecay` |
//! | `one_cycle` | linear (or cosine) from max/div to max over pct_start of the run, then down to max/(div·final_div); momentum the other way | PyTorch `OneCycleLR` (Smith 2018) |
//! | `reduce_on_plateau` | × factor after `patience` epochs without improvement of `monitor` | PyTorch `ReduceLROnPlateau` |
//!
//! η₀ is the optimizer's `learning_rate` unless the schedule sets `initial_learning_rate`.

mod builders;

use serde::{Deserialize, Serialize};

use crate::optimizers::Optimizer;
use crate::{Error, Result};

/// What the schedule's `t` counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Per {
    /// Optimizer steps (the default, as Keras' schedules).
    #[default]
    Step,
    /// Epochs.
    Epoch,
}

/// Annealing shape of 1cycle.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Anneal {
    /// Straight lines (the textbook's 1cycle).
    #[default]
    Linear,
    /// Half cosines (PyTorch's default).
    Cos,
}

pub use crate::monitor::MonitorMode;

/// `[schedule]` in a spec: `name` and that schedule's own keys, with their defaults; a key it
/// does not take is an error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum ScheduleSpec {
    /// Power scheduling (inverse-time decay).
    Power(PowerSpec),
    /// Exponential decay.
    Exponential(ExponentialSpec),
    /// Piecewise-constant rates.
    PiecewiseConstant(PiecewiseConstantSpec),
    /// Cosine decay with optional linear warm-up.
    Cosine(CosineSpec),
    /// The 1cycle policy.
    OneCycle(OneCycleSpec),
    /// Performance scheduling: reduce when a metric stops improving.
    ReduceOnPlateau(ReduceOnPlateauSpec),
}

/// `name = "power"`: η₀ / (1 + r·t/s)^c.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowerSpec {
    /// What t counts: `step` (default) or `epoch`.
    #[serde(default)]
    pub per: Per,
    /// η₀ (default: the optimizer's learning rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_learning_rate: Option<f64>,
    /// s > 0 (required).
    pub decay_steps: f64,
    /// r > 0 (default 1).
    #[serde(default = "one")]
    pub decay_rate: f64,
    /// c > 0 (default 1, Keras' `InverseTimeDecay`).
    #[serde(default = "one")]
    pub power: f64,
    /// Floor t/s (step-wise decay; default false).
    #[serde(default)]
    pub staircase: bool,
}

/// `name = "exponential"`: η₀ · r^(t/s).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExponentialSpec {
    /// What t counts: `step` (default) or `epoch`.
    #[serde(default)]
    pub per: Per,
    /// η₀ (default: the optimizer's learning rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_learning_rate: Option<f64>,
    /// s > 0 (required).
    pub decay_steps: f64,
    /// r > 0 (required).
    pub decay_rate: f64,
    /// Floor t/s (step-wise decay; default false).
    #[serde(default)]
    pub staircase: bool,
}

/// `name = "piecewise_constant"`: `values[i]` for `boundaries[i-1] < t ≤ boundaries[i]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PiecewiseConstantSpec {
    /// What t counts: `step` (default) or `epoch`.
    #[serde(default)]
    pub per: Per,
    /// Increasing boundaries (steps or epochs; required).
    pub boundaries: Vec<f64>,
    /// Positive rates, one more than boundaries (required).
    pub values: Vec<f64>,
}

/// `name = "cosine"`: linear warm-up to the target, then a cosine down to α·target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CosineSpec {
    /// What t counts: `step` (default) or `epoch`.
    #[serde(default)]
    pub per: Per,
    /// η₀ (default: the optimizer's learning rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_learning_rate: Option<f64>,
    /// Length s > 0 of the decay (required).
    pub decay_steps: f64,
    /// Final rate as a fraction of the target (default 0).
    #[serde(default)]
    pub alpha: f64,
    /// Steps of linear warm-up (default 0).
    #[serde(default)]
    pub warmup_steps: f64,
    /// The rate reached after warm-up (default η₀, i.e. no warm-up ramp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup_target: Option<f64>,
}

/// `name = "one_cycle"`: PyTorch's `OneCycleLR` (Smith 2018), by optimizer step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OneCycleSpec {
    /// η₀ (default: the optimizer's learning rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_learning_rate: Option<f64>,
    /// The peak rate > 0 (default 10·η₀).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_learning_rate: Option<f64>,
    /// Steps in the cycle, ≥ 1 (default: the whole run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_steps: Option<u64>,
    /// Fraction of the cycle spent increasing, in (0, 1) (default 0.3).
    #[serde(default = "pct_start")]
    pub pct_start: f64,
    /// Initial rate = max / div_factor (default 25).
    #[serde(default = "div_factor")]
    pub div_factor: f64,
    /// Final rate = initial / final_div_factor (default 1e4).
    #[serde(default = "final_div_factor")]
    pub final_div_factor: f64,
    /// `linear` (default) or `cos`.
    #[serde(default)]
    pub anneal: Anneal,
    /// Cycle the optimizer's momentum (or Adam's β₁) inversely (default true).
    #[serde(default = "yes")]
    pub cycle_momentum: bool,
    /// Momentum at the peak rate (default 0.85).
    #[serde(default = "base_momentum")]
    pub base_momentum: f64,
    /// Momentum at the start and end (default 0.95).
    #[serde(default = "max_momentum")]
    pub max_momentum: f64,
}

/// `name = "reduce_on_plateau"`: PyTorch's `ReduceLROnPlateau`, after each epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReduceOnPlateauSpec {
    /// η₀ (default: the optimizer's learning rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_learning_rate: Option<f64>,
    /// The metric watched (default `val_loss`).
    #[serde(default = "val_loss")]
    pub monitor: String,
    /// `min`, `max` or `auto` (default).
    #[serde(default)]
    pub mode: MonitorMode,
    /// Multiplier of the rate, in (0, 1) (default 0.1).
    #[serde(default = "tenth")]
    pub factor: f64,
    /// Epochs without improvement tolerated (default 10).
    #[serde(default = "ten")]
    pub patience: u32,
    /// The smallest change that counts as improvement (default 1e-4).
    #[serde(default = "min_delta")]
    pub min_delta: f64,
    /// `min_delta` relative to the best value (`rel`, PyTorch's default) or absolute (`abs`,
    /// Keras').
    #[serde(default)]
    pub threshold_mode: ThresholdMode,
    /// Epochs to wait after a reduction (default 0).
    #[serde(default)]
    pub cooldown: u32,
    /// The floor of the rate (default 0).
    #[serde(default)]
    pub min_lr: f64,
}

fn one() -> f64 {
    1.0
}
fn pct_start() -> f64 {
    0.3
}
fn div_factor() -> f64 {
    25.0
}
fn final_div_factor() -> f64 {
    1e4
}
fn yes() -> bool {
    true
}
fn base_momentum() -> f64 {
    0.85
}
fn max_momentum() -> f64 {
    0.95
}
fn val_loss() -> String {
    "val_loss".into()
}
fn tenth() -> f64 {
    0.1
}
fn ten() -> u32 {
    10
}
fn min_delta() -> f64 {
    1e-4
}

/// Each settings struct without required keys defaults to its serde defaults (an empty table).
macro_rules! default_from_empty_table {
    ($($t:ty),*) => {$(
        impl Default for $t {
            fn default() -> Self {
                serde_json::from_value(serde_json::json!({}))
                    .expect("every key of this schedule has a default")
            }
        }
    )*};
}
default_from_empty_table!(OneCycleSpec, ReduceOnPlateauSpec);

/// How `min_delta` compares values on a plateau.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdMode {
    /// Better means beyond best·(1 ∓ min_delta).
    #[default]
    Rel,
    /// Better means beyond best ∓ min_delta.
    Abs,
}

/// `Err` naming the schedule and the key when `v` is not a finite number > 0.
fn positive(schedule: &str, key: &str, v: f64) -> Result<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "schedule {schedule}: `{key}` must be a positive number, got {v}"
        )))
    }
}

/// `Err` naming the schedule when a given η₀ is not a finite number ≥ 0.
fn initial_rate(schedule: &str, lr0: Option<f64>) -> Result<()> {
    match lr0 {
        Some(x) if !(x.is_finite() && x >= 0.0) => Err(Error::Config(format!(
            "schedule {schedule}: `initial_learning_rate` must be a number ≥ 0, got {x}"
        ))),
        _ => Ok(()),
    }
}

impl PowerSpec {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<()> {
        initial_rate("power", self.initial_learning_rate)?;
        positive("power", "decay_steps", self.decay_steps)?;
        positive("power", "decay_rate", self.decay_rate)?;
        positive("power", "power", self.power)
    }
}

impl ExponentialSpec {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<()> {
        initial_rate("exponential", self.initial_learning_rate)?;
        positive("exponential", "decay_steps", self.decay_steps)?;
        positive("exponential", "decay_rate", self.decay_rate)
    }
}

impl PiecewiseConstantSpec {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<()> {
        let (b, v) = (&self.boundaries, &self.values);
        if v.len() != b.len() + 1 {
            return Err(Error::Config(format!(
                "schedule piecewise_constant needs one more value than boundaries, got {} values and {} boundaries",
                v.len(),
                b.len()
            )));
        }
        if b.windows(2).any(|w| w[0] >= w[1]) || v.iter().any(|x| !(x.is_finite() && *x > 0.0)) {
            return Err(Error::Config(
                "schedule piecewise_constant needs increasing boundaries and positive values"
                    .into(),
            ));
        }
        Ok(())
    }
}

impl CosineSpec {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<()> {
        initial_rate("cosine", self.initial_learning_rate)?;
        positive("cosine", "decay_steps", self.decay_steps)
    }
}

impl OneCycleSpec {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<()> {
        initial_rate("one_cycle", self.initial_learning_rate)?;
        if let Some(max) = self.max_learning_rate {
            positive("one_cycle", "max_learning_rate", max)?;
        }
        positive("one_cycle", "div_factor", self.div_factor)?;
        positive("one_cycle", "final_div_factor", self.final_div_factor)?;
        let p = self.pct_start;
        if !(p > 0.0 && p < 1.0) {
            return Err(Error::Config(format!(
                "schedule one_cycle: `pct_start` must be in (0, 1), got {p}"
            )));
        }
        if self.total_steps == Some(0) {
            return Err(Error::Config(
                "schedule one_cycle: `total_steps` must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

impl ReduceOnPlateauSpec {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<()> {
        initial_rate("reduce_on_plateau", self.initial_learning_rate)?;
        let f = self.factor;
        if !(f > 0.0 && f < 1.0) {
            return Err(Error::Config(format!(
                "schedule reduce_on_plateau: `factor` must be in (0, 1), got {f}"
            )));
        }
        Ok(())
    }
}

impl ScheduleSpec {
    /// Checks the values (the keys were checked when the spec was read).
    pub fn validate(&self) -> Result<()> {
        match self {
            ScheduleSpec::Power(s) => s.validate(),
            ScheduleSpec::Exponential(s) => s.validate(),
            ScheduleSpec::PiecewiseConstant(s) => s.validate(),
            ScheduleSpec::Cosine(s) => s.validate(),
            ScheduleSpec::OneCycle(s) => s.validate(),
            ScheduleSpec::ReduceOnPlateau(s) => s.validate(),
        }
    }

    /// The spec name (`power`, `one_cycle`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            ScheduleSpec::Power(_) => "power",
            ScheduleSpec::Exponential(_) => "exponential",
            ScheduleSpec::PiecewiseConstant(_) => "piecewise_constant",
            ScheduleSpec::Cosine(_) => "cosine",
            ScheduleSpec::OneCycle(_) => "one_cycle",
            ScheduleSpec::ReduceOnPlateau(_) => "reduce_on_plateau",
        }
    }

    /// η₀ as the spec sets it, for the schedules that take `initial_learning_rate`.
    fn initial_learning_rate_mut(&mut self) -> Option<&mut Option<f64>> {
        match self {
            ScheduleSpec::Power(s) => Some(&mut s.initial_learning_rate),
            ScheduleSpec::Exponential(s) => Some(&mut s.initial_learning_rate),
            ScheduleSpec::PiecewiseConstant(_) => None,
            ScheduleSpec::Cosine(s) => Some(&mut s.initial_learning_rate),
            ScheduleSpec::OneCycle(s) => Some(&mut s.initial_learning_rate),
            ScheduleSpec::ReduceOnPlateau(s) => Some(&mut s.initial_learning_rate),
        }
    }
}

/// Exponential decay η₀·r^(t/s) (floored exponent when `staircase`).
pub fn exponential(lr0: f64, decay_steps: f64, decay_rate: f64, staircase: bool, t: f64) -> f64 {
    let p = t / decay_steps;
    lr0 * decay_rate.powf(if staircase { p.floor() } else { p })
}

/// Power scheduling η₀ / (1 + r·t/s)^c.
pub fn power(lr0: f64, decay_steps: f64, decay_rate: f64, c: f64, staircase: bool, t: f64) -> f64 {
    let p = t / decay_steps;
    lr0 / (1.0 + decay_rate * if staircase { p.floor() } else { p }).powf(c)
}

/// Piecewise constant: `values[i]` where `boundaries[i-1] < t ≤ boundaries[i]`.
pub fn piecewise_constant(boundaries: &[f64], values: &[f64], t: f64) -> f64 {
    let i = boundaries.iter().take_while(|&&b| t > b).count();
    values[i]
}

/// Keras' `CosineDecay`: a linear warm-up from η₀ to `target` over `warmup_steps`, then a
/// cosine from `target` down to α·target over `decay_steps`.
pub fn cosine(
    lr0: f64,
    decay_steps: f64,
    alpha: f64,
    warmup_steps: f64,
    target: f64,
    t: f64,
) -> f64 {
    if t < warmup_steps {
        return lr0 + (target - lr0) * t / warmup_steps;
    }
    let done = (t - warmup_steps).min(decay_steps) / decay_steps;
    let decayed = (1.0 - alpha) * 0.5 * (1.0 + (std::f64::consts::PI * done).cos()) + alpha;
    target * decayed
}

/// The 1cycle policy at step `t` of `total` (PyTorch's `OneCycleLR`, two phases): returns the
/// rate and the momentum.
#[allow(clippy::too_many_arguments)]
pub fn one_cycle(
    max_lr: f64,
    total: u64,
    pct_start: f64,
    div_factor: f64,
    final_div_factor: f64,
    anneal: Anneal,
    momenta: (f64, f64),
    t: u64,
) -> (f64, f64) {
    let initial = max_lr / div_factor;
    let last = initial / final_div_factor;
    let (base_m, max_m) = momenta;
    let peak_step = pct_start * total as f64 - 1.0;
    let end_step = total as f64 - 1.0;
    let t = (t as f64).min(end_step);
    let shape = |start: f64, end: f64, pct: f64| match anneal {
        Anneal::Linear => start + (end - start) * pct,
        Anneal::Cos => end + (start - end) / 2.0 * ((std::f64::consts::PI * pct).cos() + 1.0),
    };
    if t <= peak_step {
        let pct = if peak_step > 0.0 { t / peak_step } else { 1.0 };
        (shape(initial, max_lr, pct), shape(max_m, base_m, pct))
    } else {
        let pct = (t - peak_step) / (end_step - peak_step);
        (shape(max_lr, last, pct), shape(base_m, max_m, pct))
    }
}

/// PyTorch's `ReduceLROnPlateau` state machine.
#[derive(Clone, Debug, PartialEq)]
pub struct Plateau {
    /// Best value seen.
    pub best: Option<f64>,
    /// Epochs since the last improvement.
    pub bad_epochs: u32,
    /// Epochs of cooldown left.
    pub cooldown_left: u32,
    /// The current rate.
    pub lr: f64,
}

/// A schedule attached to a model: sets the optimizer's rate (and momentum) before each step
/// and after each epoch.
#[derive(Clone, Debug)]
pub struct Scheduler {
    spec: ScheduleSpec,
    lr0: f64,
    epochs: usize,
    steps_per_epoch: usize,
    plateau: Plateau,
}

impl Scheduler {
    /// A scheduler starting from the optimizer's rate `optimizer_lr` (unless the spec sets
    /// `initial_learning_rate`).
    pub fn new(mut spec: ScheduleSpec, optimizer_lr: f64) -> Result<Scheduler> {
        spec.validate()?;
        let mut lr0 = optimizer_lr;
        // Keep η₀ in the spec, so that a saved model resumes from the same schedule even though
        // its optimizer's rate has since moved.
        if let Some(initial) = spec.initial_learning_rate_mut() {
            lr0 = initial.unwrap_or(optimizer_lr);
            *initial = Some(lr0);
        }
        Ok(Scheduler {
            spec,
            lr0,
            epochs: 1,
            steps_per_epoch: 1,
            plateau: Plateau {
                best: None,
                bad_epochs: 0,
                cooldown_left: 0,
                lr: lr0,
            },
        })
    }

    /// The spec.
    pub fn spec(&self) -> &ScheduleSpec {
        &self.spec
    }

    /// Tells the scheduler the run's length (for 1cycle's default `total_steps`).
    pub fn begin(&mut self, epochs: usize, steps_per_epoch: usize) {
        self.epochs = epochs;
        self.steps_per_epoch = steps_per_epoch.max(1);
    }

    /// The rate (and momentum, for 1cycle) at global step `step` in epoch `epoch`.
    pub fn at(&self, step: u64, epoch: usize) -> (f64, Option<f64>) {
        let t = |per: Per| match per {
            Per::Step => step as f64,
            Per::Epoch => epoch as f64,
        };
        let lr = match &self.spec {
            ScheduleSpec::Exponential(s) => {
                exponential(self.lr0, s.decay_steps, s.decay_rate, s.staircase, t(s.per))
            }
            ScheduleSpec::Power(s) => power(
                self.lr0,
                s.decay_steps,
                s.decay_rate,
                s.power,
                s.staircase,
                t(s.per),
            ),
            ScheduleSpec::PiecewiseConstant(s) => {
                piecewise_constant(&s.boundaries, &s.values, t(s.per))
            }
            ScheduleSpec::Cosine(s) => cosine(
                self.lr0,
                s.decay_steps,
                s.alpha,
                s.warmup_steps,
                s.warmup_target.unwrap_or(self.lr0),
                t(s.per),
            ),
            ScheduleSpec::OneCycle(s) => {
                let total = s
                    .total_steps
                    .unwrap_or((self.epochs * self.steps_per_epoch) as u64);
                let (lr, m) = one_cycle(
                    s.max_learning_rate.unwrap_or(10.0 * self.lr0),
                    total,
                    s.pct_start,
                    s.div_factor,
                    s.final_div_factor,
                    s.anneal,
                    (s.base_momentum, s.max_momentum),
                    step,
                );
                return (lr, s.cycle_momentum.then_some(m));
            }
            ScheduleSpec::ReduceOnPlateau(_) => self.plateau.lr,
        };
        (lr, None)
    }

    /// Sets the optimizer's rate (and momentum) for global step `step` of epoch `epoch`.
    pub fn before_step(&self, optimizer: &mut dyn Optimizer, step: u64, epoch: usize) {
        let (lr, momentum) = self.at(step, epoch);
        optimizer.set_learning_rate(lr as f32);
        if let (Some(m), Some(_)) = (momentum, optimizer.momentum()) {
            optimizer.set_momentum(m as f32);
        }
    }

    /// After an epoch, with its values (`EpochLogs::values`): the on-plateau rule (other
    /// schedules ignore it). Errors when the monitored metric is not among them.
    pub fn after_epoch(&mut self, values: &[(String, f64)]) -> Result<()> {
        let ScheduleSpec::ReduceOnPlateau(s) = &self.spec else {
            return Ok(());
        };
        let value = crate::monitor::value_of(values, &s.monitor, "reduce_on_plateau")?;
        let mode = s.mode.resolve(&s.monitor);
        self.plateau_step(value, mode);
        Ok(())
    }

    /// One epoch of PyTorch's rule with the monitored `value` (nothing for other schedules).
    pub fn plateau_step(&mut self, value: f64, mode: MonitorMode) {
        let ScheduleSpec::ReduceOnPlateau(s) = &self.spec else {
            return;
        };
        let delta = s.min_delta;
        let better = match self.plateau.best {
            None => true,
            Some(best) => match (mode, s.threshold_mode) {
                (MonitorMode::Max, ThresholdMode::Rel) => value > best * (1.0 + delta),
                (MonitorMode::Max, ThresholdMode::Abs) => value > best + delta,
                (_, ThresholdMode::Rel) => value < best * (1.0 - delta),
                (_, ThresholdMode::Abs) => value < best - delta,
            },
        };
        let p = &mut self.plateau;
        if better {
            p.best = Some(value);
            p.bad_epochs = 0;
        } else {
            p.bad_epochs += 1;
        }
        if p.cooldown_left > 0 {
            p.cooldown_left -= 1;
            p.bad_epochs = 0;
        }
        if p.bad_epochs > s.patience {
            let reduced = (p.lr * s.factor).max(s.min_lr);
            if p.lr - reduced > 1e-8 {
                p.lr = reduced;
            }
            p.cooldown_left = s.cooldown;
            p.bad_epochs = 0;
        }
    }

    /// The on-plateau state (saved in checkpoints).
    pub fn plateau(&self) -> &Plateau {
        &self.plateau
    }

    /// Restores the on-plateau state.
    pub fn set_plateau(&mut self, plateau: Plateau) {
        self.plateau = plateau;
    }
}
