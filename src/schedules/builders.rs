//! Builders for the schedule settings: a constructor taking the required keys where a schedule
//! has some, then one chained setter per key; `.into()` a [`ScheduleSpec`] for
//! [`Sequential::set_schedule`](crate::Sequential::set_schedule).
//!
//! ```
//! use deeptrain::schedules::{CosineSpec, ExponentialSpec, OneCycleSpec, Per, ScheduleSpec};
//!
//! // Keras: ExponentialDecay(0.01, decay_steps=20, decay_rate=0.1), counted in epochs
//! let decay: ScheduleSpec = ExponentialSpec::new(20.0, 0.1).per(Per::Epoch).into();
//! assert!(decay.validate().is_ok());
//! let cosine: ScheduleSpec = CosineSpec::new(1000.0).warmup_steps(100.0).warmup_target(0.1).into();
//! assert_eq!(cosine.name(), "cosine");
//! let one_cycle: ScheduleSpec = OneCycleSpec::default().max_learning_rate(0.1).into();
//! assert!(one_cycle.validate().is_ok());
//! ```

use super::{
    Anneal, CosineSpec, ExponentialSpec, MonitorMode, OneCycleSpec, Per, PiecewiseConstantSpec,
    PowerSpec, ReduceOnPlateauSpec, ScheduleSpec, ThresholdMode,
};
use crate::builder::setters;

impl PowerSpec {
    /// η₀ / (1 + t/s) (Keras' `InverseTimeDecay` with decay_rate 1), t in steps.
    pub fn new(decay_steps: f64) -> Self {
        PowerSpec {
            per: Per::Step,
            initial_learning_rate: None,
            decay_steps,
            decay_rate: 1.0,
            power: 1.0,
            staircase: false,
        }
    }
}

impl ExponentialSpec {
    /// η₀ · r^(t/s), t in steps (Keras' `ExponentialDecay`).
    pub fn new(decay_steps: f64, decay_rate: f64) -> Self {
        ExponentialSpec {
            per: Per::Step,
            initial_learning_rate: None,
            decay_steps,
            decay_rate,
            staircase: false,
        }
    }
}

impl PiecewiseConstantSpec {
    /// `values[i]` for `boundaries[i-1] < t ≤ boundaries[i]`, t in steps (Keras'
    /// `PiecewiseConstantDecay`).
    pub fn new(boundaries: Vec<f64>, values: Vec<f64>) -> Self {
        PiecewiseConstantSpec {
            per: Per::Step,
            boundaries,
            values,
        }
    }
}

impl CosineSpec {
    /// A cosine from η₀ down to 0 over `decay_steps` steps, no warm-up (Keras' `CosineDecay`).
    pub fn new(decay_steps: f64) -> Self {
        CosineSpec {
            per: Per::Step,
            initial_learning_rate: None,
            decay_steps,
            alpha: 0.0,
            warmup_steps: 0.0,
            warmup_target: None,
        }
    }
}

setters!(PowerSpec {
    per: Per,
    decay_steps: f64,
    decay_rate: f64,
    power: f64,
    staircase: bool,
} optional {
    initial_learning_rate: f64,
});

impl From<PowerSpec> for ScheduleSpec {
    fn from(spec: PowerSpec) -> Self {
        ScheduleSpec::Power(spec)
    }
}

setters!(ExponentialSpec {
    per: Per,
    decay_steps: f64,
    decay_rate: f64,
    staircase: bool,
} optional {
    initial_learning_rate: f64,
});

impl From<ExponentialSpec> for ScheduleSpec {
    fn from(spec: ExponentialSpec) -> Self {
        ScheduleSpec::Exponential(spec)
    }
}

setters!(PiecewiseConstantSpec {
    per: Per,
    boundaries: Vec<f64>,
    values: Vec<f64>,
});

impl From<PiecewiseConstantSpec> for ScheduleSpec {
    fn from(spec: PiecewiseConstantSpec) -> Self {
        ScheduleSpec::PiecewiseConstant(spec)
    }
}

setters!(CosineSpec {
    per: Per,
    decay_steps: f64,
    alpha: f64,
    warmup_steps: f64,
} optional {
    initial_learning_rate: f64,
    warmup_target: f64,
});

impl From<CosineSpec> for ScheduleSpec {
    fn from(spec: CosineSpec) -> Self {
        ScheduleSpec::Cosine(spec)
    }
}

setters!(OneCycleSpec {
    pct_start: f64,
    div_factor: f64,
    final_div_factor: f64,
    anneal: Anneal,
    cycle_momentum: bool,
    base_momentum: f64,
    max_momentum: f64,
} optional {
    initial_learning_rate: f64,
    max_learning_rate: f64,
    total_steps: u64,
});

impl From<OneCycleSpec> for ScheduleSpec {
    fn from(spec: OneCycleSpec) -> Self {
        ScheduleSpec::OneCycle(spec)
    }
}

setters!(ReduceOnPlateauSpec {
    monitor: String,
    mode: MonitorMode,
    factor: f64,
    patience: u32,
    min_delta: f64,
    threshold_mode: ThresholdMode,
    cooldown: u32,
    min_lr: f64,
} optional {
    initial_learning_rate: f64,
});

impl From<ReduceOnPlateauSpec> for ScheduleSpec {
    fn from(spec: ReduceOnPlateauSpec) -> Self {
        ScheduleSpec::ReduceOnPlateau(spec)
    }
}
