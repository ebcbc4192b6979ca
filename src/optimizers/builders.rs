//! Builders for the optimizer settings: one chained setter per key on each settings struct,
//! then `build()` (or `.into()` an [`OptimizerSpec`]).
//!
//! ```
//! use deeptrain::optimizers::{AdamWSpec, OptimizerSpec, SgdSpec};
//!
//! # fn main() -> deeptrain::Result<()> {
//! // Keras: SGD(learning_rate=0.02, momentum=0.9, nesterov=True, clipnorm=1.0)
//! let sgd = SgdSpec::default().learning_rate(0.02).momentum(0.9).nesterov(true).clipnorm(1.0);
//! let optimizer = sgd.build()?;
//! assert_eq!(optimizer.name(), "sgd");
//! let spec: OptimizerSpec = AdamWSpec::default().weight_decay(0.01).into();
//! assert_eq!(spec.name(), "adamw");
//! assert!(SgdSpec::default().momentum(1.5).build().is_err());
//! # Ok(())
//! # }
//! ```

use super::{
    AdagradSpec, AdamSpec, AdamWSpec, AdamaxSpec, NadamSpec, OptimizerSpec, RmsPropSpec, SgdSpec,
};
use crate::builder::setters;

setters!(SgdSpec {
    learning_rate: f32,
    momentum: f32,
    nesterov: bool,
    weight_decay: f32,
} optional {
    clipvalue: f32,
    clipnorm: f32,
    global_clipnorm: f32,
});

impl From<SgdSpec> for OptimizerSpec {
    fn from(spec: SgdSpec) -> Self {
        OptimizerSpec::Sgd(spec)
    }
}

setters!(AdagradSpec {
    learning_rate: f32,
    initial_accumulator_value: f32,
    epsilon: f32,
    weight_decay: f32,
} optional {
    clipvalue: f32,
    clipnorm: f32,
    global_clipnorm: f32,
});

impl From<AdagradSpec> for OptimizerSpec {
    fn from(spec: AdagradSpec) -> Self {
        OptimizerSpec::Adagrad(spec)
    }
}

setters!(RmsPropSpec {
    learning_rate: f32,
    rho: f32,
    momentum: f32,
    epsilon: f32,
    centered: bool,
    weight_decay: f32,
} optional {
    clipvalue: f32,
    clipnorm: f32,
    global_clipnorm: f32,
});

impl From<RmsPropSpec> for OptimizerSpec {
    fn from(spec: RmsPropSpec) -> Self {
        OptimizerSpec::RmsProp(spec)
    }
}

setters!(AdamSpec {
    learning_rate: f32,
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    amsgrad: bool,
    weight_decay: f32,
} optional {
    clipvalue: f32,
    clipnorm: f32,
    global_clipnorm: f32,
});

impl From<AdamSpec> for OptimizerSpec {
    fn from(spec: AdamSpec) -> Self {
        OptimizerSpec::Adam(spec)
    }
}

setters!(AdamaxSpec {
    learning_rate: f32,
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    weight_decay: f32,
} optional {
    clipvalue: f32,
    clipnorm: f32,
    global_clipnorm: f32,
});

impl From<AdamaxSpec> for OptimizerSpec {
    fn from(spec: AdamaxSpec) -> Self {
        OptimizerSpec::Adamax(spec)
    }
}

setters!(NadamSpec {
    learning_rate: f32,
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    momentum_decay: f32,
    weight_decay: f32,
} optional {
    clipvalue: f32,
    clipnorm: f32,
    global_clipnorm: f32,
});

impl From<NadamSpec> for OptimizerSpec {
    fn from(spec: NadamSpec) -> Self {
        OptimizerSpec::Nadam(spec)
    }
}

setters!(AdamWSpec {
    learning_rate: f32,
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    amsgrad: bool,
    weight_decay: f32,
} optional {
    clipvalue: f32,
    clipnorm: f32,
    global_clipnorm: f32,
});

impl From<AdamWSpec> for OptimizerSpec {
    fn from(spec: AdamWSpec) -> Self {
        OptimizerSpec::AdamW(spec)
    }
}
