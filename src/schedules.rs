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

use serde::{Deserialize, Serialize};

use crate::callbacks::EpochLogs;
use crate::optimizers::Optimizer;

/// Which schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleName {
    /// Power scheduling (inverse-time decay).
    Power,
    /// Exponential decay.
    Exponential,
    /// Piecewise-constant rates.
    PiecewiseConstant,
    /// Cosine decay with optional linear warm-up.
    Cosine,
    /// The 1cycle policy.
    OneCycle,
    /// Performance scheduling: reduce when a metric stops improving.
    ReduceOnPlateau,
}

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

/// Whether the monitored metric should go down or up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MonitorMode {
    /// `max` for accuracies, `min` otherwise (Keras' rule).
    #[default]
    Auto,
    /// Lower is better.
    Min,
    /// Higher is better.
    Max,
}

/// `[schedule]` in a spec: the name plus that schedule's keys (others are an error).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    /// Which schedule.
    pub name: ScheduleName,
    /// Count steps (default) or epochs (decays and piecewise constant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per: Option<Per>,
    /// Overrides the optimizer's learning rate as η₀.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_learning_rate: Option<f64>,
    /// s in the decays; the length of the cosine decay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decay_steps: Option<f64>,
    /// r in the decays (exponential: required; power: default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decay_rate: Option<f64>,
    /// c in power scheduling (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power: Option<f64>,
    /// Floor t/s (step-wise decay).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staircase: Option<bool>,
    /// Piecewise constant: increasing boundaries (steps or epochs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boundaries: Option<Vec<f64>>,
    /// Piecewise constant: one more value than boundaries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<f64>>,
    /// Cosine: final rate as a fraction of the target (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f64>,
    /// Cosine: steps of linear warm-up (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup_steps: Option<f64>,
    /// Cosine: the rate reached after warm-up (default η₀, i.e. no warm-up ramp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup_target: Option<f64>,
    /// 1cycle: the peak rate (default 10·η₀).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_learning_rate: Option<f64>,
    /// 1cycle: steps in the cycle (default: the whole run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_steps: Option<u64>,
    /// 1cycle: fraction of the cycle spent increasing (default 0.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pct_start: Option<f64>,
    /// 1cycle: initial rate = max / div_factor (default 25).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub div_factor: Option<f64>,
    /// 1cycle: final rate = initial / final_div_factor (default 1e4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_div_factor: Option<f64>,
    /// 1cycle: linear (default) or cosine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anneal: Option<Anneal>,
    /// 1cycle: cycle the optimizer's momentum (or Adam's β₁) inversely (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cycle_momentum: Option<bool>,
    /// 1cycle: momentum at the peak rate (default 0.85).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_momentum: Option<f64>,
    /// 1cycle: momentum at the start and end (default 0.95).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_momentum: Option<f64>,
    /// On plateau: the metric watched (default `val_loss`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor: Option<String>,
    /// On plateau: min, max or auto (default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<MonitorMode>,
    /// On plateau: multiplier of the rate (default 0.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<f64>,
    /// On plateau: epochs without improvement tolerated (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patience: Option<u32>,
    /// On plateau: the smallest change that counts as improvement (default 1e-4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_delta: Option<f64>,
    /// On plateau: `min_delta` relative to the best value (`rel`, PyTorch's default) or absolute
    /// (`abs`, Keras').
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold_mode: Option<ThresholdMode>,
    /// On plateau: epochs to wait after a reduction (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown: Option<u32>,
    /// On plateau: the floor of the rate (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_lr: Option<f64>,
}

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

impl ScheduleSpec {
    /// A schedule with every setting at its default.
    pub fn new(name: ScheduleName) -> Self {
        ScheduleSpec {
            name,
            per: None,
            initial_learning_rate: None,
            decay_steps: None,
            decay_rate: None,
            power: None,
            staircase: None,
            boundaries: None,
            values: None,
            alpha: None,
            warmup_steps: None,
            warmup_target: None,
            max_learning_rate: None,
            total_steps: None,
            pct_start: None,
            div_factor: None,
            final_div_factor: None,
            anneal: None,
            cycle_momentum: None,
            base_momentum: None,
            max_momentum: None,
            monitor: None,
            mode: None,
            factor: None,
            patience: None,
            min_delta: None,
            threshold_mode: None,
            cooldown: None,
            min_lr: None,
        }
    }

    fn allowed(&self) -> &'static [&'static str] {
        match self.name {
            ScheduleName::Power => &[
                "per",
                "initial_learning_rate",
                "decay_steps",
                "decay_rate",
                "power",
                "staircase",
            ],
            ScheduleName::Exponential => &[
                "per",
                "initial_learning_rate",
                "decay_steps",
                "decay_rate",
                "staircase",
            ],
            ScheduleName::PiecewiseConstant => &["per", "boundaries", "values"],
            ScheduleName::Cosine => &[
                "per",
                "initial_learning_rate",
                "decay_steps",
                "alpha",
                "warmup_steps",
                "warmup_target",
            ],
            ScheduleName::OneCycle => &[
                "initial_learning_rate",
                "max_learning_rate",
                "total_steps",
                "pct_start",
                "div_factor",
                "final_div_factor",
                "anneal",
                "cycle_momentum",
                "base_momentum",
                "max_momentum",
            ],
            ScheduleName::ReduceOnPlateau => &[
                "initial_learning_rate",
                "monitor",
                "mode",
                "factor",
                "patience",
                "min_delta",
                "threshold_mode",
                "cooldown",
                "min_lr",
            ],
        }
    }

    fn given(&self) -> Vec<&'static str> {
        [
            ("per", self.per.is_some()),
            (
                "initial_learning_rate",
                self.initial_learning_rate.is_some(),
            ),
            ("decay_steps", self.decay_steps.is_some()),
            ("decay_rate", self.decay_rate.is_some()),
            ("power", self.power.is_some()),
            ("staircase", self.staircase.is_some()),
            ("boundaries", self.boundaries.is_some()),
            ("values", self.values.is_some()),
            ("alpha", self.alpha.is_some()),
            ("warmup_steps", self.warmup_steps.is_some()),
            ("warmup_target", self.warmup_target.is_some()),
            ("max_learning_rate", self.max_learning_rate.is_some()),
            ("total_steps", self.total_steps.is_some()),
            ("pct_start", self.pct_start.is_some()),
            ("div_factor", self.div_factor.is_some()),
            ("final_div_factor", self.final_div_factor.is_some()),
            ("anneal", self.anneal.is_some()),
            ("cycle_momentum", self.cycle_momentum.is_some()),
            ("base_momentum", self.base_momentum.is_some()),
            ("max_momentum", self.max_momentum.is_some()),
            ("monitor", self.monitor.is_some()),
            ("mode", self.mode.is_some()),
            ("factor", self.factor.is_some()),
            ("patience", self.patience.is_some()),
            ("min_delta", self.min_delta.is_some()),
            ("threshold_mode", self.threshold_mode.is_some()),
            ("cooldown", self.cooldown.is_some()),
            ("min_lr", self.min_lr.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, g)| g.then_some(k))
        .collect()
    }

    /// Checks the keys and values; `name` for messages.
    pub fn validate(&self) -> Result<(), String> {
        let name = serde_json::to_value(self.name)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        let allowed = self.allowed();
        if let Some(key) = self.given().into_iter().find(|k| !allowed.contains(k)) {
            return Err(format!(
                "schedule {name} has no setting `{key}`; it takes {}",
                allowed.join(", ")
            ));
        }
        let positive = |key: &str, v: Option<f64>| match v {
            Some(x) if !(x.is_finite() && x > 0.0) => Err(format!(
                "schedule {name}: `{key}` must be a positive number, got {x}"
            )),
            _ => Ok(()),
        };
        if let Some(x) = self.initial_learning_rate {
            if !(x.is_finite() && x >= 0.0) {
                return Err(format!(
                    "schedule {name}: `initial_learning_rate` must be a number ≥ 0, got {x}"
                ));
            }
        }
        positive("decay_steps", self.decay_steps)?;
        positive("power", self.power)?;
        positive("max_learning_rate", self.max_learning_rate)?;
        positive("div_factor", self.div_factor)?;
        positive("final_div_factor", self.final_div_factor)?;
        match self.name {
            ScheduleName::Power | ScheduleName::Exponential if self.decay_steps.is_none() => {
                return Err(format!("schedule {name} needs `decay_steps`"))
            }
            ScheduleName::Exponential => match self.decay_rate {
                Some(r) if r.is_finite() && r > 0.0 => {}
                _ => return Err("schedule exponential needs `decay_rate` > 0".into()),
            },
            ScheduleName::Power => positive("decay_rate", self.decay_rate)?,
            ScheduleName::Cosine if self.decay_steps.is_none() => {
                return Err("schedule cosine needs `decay_steps`".into())
            }
            ScheduleName::PiecewiseConstant => {
                let (Some(b), Some(v)) = (&self.boundaries, &self.values) else {
                    return Err(
                        "schedule piecewise_constant needs `boundaries` and `values`".into(),
                    );
                };
                if v.len() != b.len() + 1 {
                    return Err(format!(
                        "schedule piecewise_constant needs one more value than boundaries, got {} values and {} boundaries",
                        v.len(),
                        b.len()
                    ));
                }
                if b.windows(2).any(|w| w[0] >= w[1])
                    || v.iter().any(|x| !(x.is_finite() && *x > 0.0))
                {
                    return Err("schedule piecewise_constant needs increasing boundaries and positive values".into());
                }
            }
            ScheduleName::OneCycle => {
                if let Some(p) = self.pct_start {
                    if !(p > 0.0 && p < 1.0) {
                        return Err(format!(
                            "schedule one_cycle: `pct_start` must be in (0, 1), got {p}"
                        ));
                    }
                }
                if self.total_steps == Some(0) {
                    return Err("schedule one_cycle: `total_steps` must be at least 1".into());
                }
            }
            ScheduleName::ReduceOnPlateau => {
                if let Some(f) = self.factor {
                    if !(f > 0.0 && f < 1.0) {
                        return Err(format!(
                            "schedule reduce_on_plateau: `factor` must be in (0, 1), got {f}"
                        ));
                    }
                }
            }
            _ => {}
        }
        Ok(())
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
    pub fn new(mut spec: ScheduleSpec, optimizer_lr: f64) -> Result<Scheduler, String> {
        spec.validate()?;
        let lr0 = spec.initial_learning_rate.unwrap_or(optimizer_lr);
        // Keep η₀ in the spec, so that a saved model resumes from the same schedule even though
        // its optimizer's rate has since moved.
        if spec.allowed().contains(&"initial_learning_rate") {
            spec.initial_learning_rate = Some(lr0);
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
        let s = &self.spec;
        let t = match s.per.unwrap_or_default() {
            Per::Step => step as f64,
            Per::Epoch => epoch as f64,
        };
        let lr = match s.name {
            ScheduleName::Exponential => exponential(
                self.lr0,
                s.decay_steps.unwrap_or(1.0),
                s.decay_rate.unwrap_or(1.0),
                s.staircase.unwrap_or(false),
                t,
            ),
            ScheduleName::Power => power(
                self.lr0,
                s.decay_steps.unwrap_or(1.0),
                s.decay_rate.unwrap_or(1.0),
                s.power.unwrap_or(1.0),
                s.staircase.unwrap_or(false),
                t,
            ),
            ScheduleName::PiecewiseConstant => piecewise_constant(
                s.boundaries.as_deref().unwrap_or_default(),
                s.values.as_deref().unwrap_or(&[self.lr0]),
                t,
            ),
            ScheduleName::Cosine => cosine(
                self.lr0,
                s.decay_steps.unwrap_or(1.0),
                s.alpha.unwrap_or(0.0),
                s.warmup_steps.unwrap_or(0.0),
                s.warmup_target.unwrap_or(self.lr0),
                t,
            ),
            ScheduleName::OneCycle => {
                let total = s
                    .total_steps
                    .unwrap_or((self.epochs * self.steps_per_epoch) as u64);
                let (lr, m) = one_cycle(
                    s.max_learning_rate.unwrap_or(10.0 * self.lr0),
                    total,
                    s.pct_start.unwrap_or(0.3),
                    s.div_factor.unwrap_or(25.0),
                    s.final_div_factor.unwrap_or(1e4),
                    s.anneal.unwrap_or_default(),
                    (
                        s.base_momentum.unwrap_or(0.85),
                        s.max_momentum.unwrap_or(0.95),
                    ),
                    step,
                );
                let cycle = s.cycle_momentum.unwrap_or(true);
                return (lr, cycle.then_some(m));
            }
            ScheduleName::ReduceOnPlateau => self.plateau.lr,
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

    /// After an epoch: the on-plateau rule (other schedules ignore it). Errors when the
    /// monitored metric is not in the logs.
    pub fn after_epoch(&mut self, logs: &EpochLogs) -> Result<(), String> {
        if self.spec.name != ScheduleName::ReduceOnPlateau {
            return Ok(());
        }
        let monitor = self.spec.monitor.as_deref().unwrap_or("val_loss");
        let value = logs.get(monitor).ok_or_else(|| {
            format!("reduce_on_plateau monitors `{monitor}`, which this run does not compute (no validation data?)")
        })?;
        let mode = match self.spec.mode.unwrap_or_default() {
            MonitorMode::Auto if monitor.contains("acc") => MonitorMode::Max,
            MonitorMode::Auto => MonitorMode::Min,
            m => m,
        };
        self.plateau_step(value, mode);
        Ok(())
    }

    /// One epoch of PyTorch's rule with the monitored `value`.
    pub fn plateau_step(&mut self, value: f64, mode: MonitorMode) {
        let s = &self.spec;
        let delta = s.min_delta.unwrap_or(1e-4);
        let better = match self.plateau.best {
            None => true,
            Some(best) => match (mode, s.threshold_mode.unwrap_or_default()) {
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
        if p.bad_epochs > s.patience.unwrap_or(10) {
            let reduced = (p.lr * s.factor.unwrap_or(0.1)).max(s.min_lr.unwrap_or(0.0));
            if p.lr - reduced > 1e-8 {
                p.lr = reduced;
            }
            p.cooldown_left = s.cooldown.unwrap_or(0);
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
