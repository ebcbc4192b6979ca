//! Optimizers: a thin stateful shell over a pure per-tensor update.
//!
//! The model calls [`Optimizer::update`] once per trainable parameter tensor per step, with a
//! stable `slot` index per tensor, so that an optimizer keeps per-tensor state (moments) without
//! allocating after the first step. Each update is one pass over the parameter buffer.
//!
//! Names, hyperparameters and defaults follow Keras 3 (the textbook's library); where PyTorch's
//! formula differs, the optimizer's doc comment says how. Gradient clipping (`clipvalue`,
//! `clipnorm`, `global_clipnorm`) is applied by the model to the gradients before the update,
//! as Keras does ([`Clipping`]).

mod adagrad;
mod adam;
mod builders;
mod clipping;
mod rmsprop;
pub(crate) mod sgd;
mod slots;
mod weight_decay;

pub use adagrad::Adagrad;
pub use adam::{Adam, AdamVariant};
pub use clipping::Clipping;
pub use rmsprop::RmsProp;
pub use sgd::Sgd;
pub use slots::OptimizerState;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A gradient-descent optimizer.
pub trait Optimizer: Send {
    /// Keras' name (`sgd`, `adam`).
    fn name(&self) -> &'static str;
    /// The current learning rate.
    fn learning_rate(&self) -> f32;
    /// Sets the learning rate (for schedules).
    fn set_learning_rate(&mut self, lr: f32);
    /// The momentum-like coefficient that 1cycle cycles (SGD's momentum, Adam's β₁), if any.
    fn momentum(&self) -> Option<f32> {
        None
    }
    /// Sets that coefficient (ignored by optimizers without one).
    fn set_momentum(&mut self, _momentum: f32) {}
    /// The gradient clipping the model applies before [`Optimizer::update`].
    fn clipping(&self) -> Clipping {
        Clipping::None
    }
    /// The learning rate η when a step is plain gradient descent θ ← θ − η·g (no state, no
    /// decay, no clipping), which a layer may then fuse with the product that computes g;
    /// `None` otherwise.
    fn plain_descent_rate(&self) -> Option<f32> {
        None
    }
    /// Updates `value` in place from `grad`; `slot` identifies the tensor's state.
    fn update(&mut self, slot: usize, value: &mut [f32], grad: &[f32]);
    /// Called after all tensors of a step are updated (advances the step count).
    fn finish_step(&mut self);
    /// Steps taken so far.
    fn iterations(&self) -> u64;
    /// The spec that recreates this optimizer (hyperparameters, not state).
    fn spec(&self) -> OptimizerSpec;
    /// The state (step count, moments) needed to resume exactly.
    fn state(&self) -> OptimizerState;
    /// Restores a state taken by [`Optimizer::state`] from an optimizer of the same spec.
    fn load_state(&mut self, state: &OptimizerState) -> Result<()>;
}

/// The same expression on the settings of whichever optimizer a spec holds (`$s` binds them).
macro_rules! each_optimizer {
    ($spec:expr, $s:ident => $body:expr) => {
        match $spec {
            OptimizerSpec::Sgd($s) => $body,
            OptimizerSpec::Adagrad($s) => $body,
            OptimizerSpec::RmsProp($s) => $body,
            OptimizerSpec::Adam($s) => $body,
            OptimizerSpec::Adamax($s) => $body,
            OptimizerSpec::Nadam($s) => $body,
            OptimizerSpec::AdamW($s) => $body,
        }
    };
}

/// An optimizer as written in a spec: `[optimizer] name = "nadam"` (snake_case ids, or Keras'
/// class names `SGD`, `Adam`, ...) and that optimizer's own keys, under Keras' names with
/// Keras' defaults; a key it does not take is an error. Every optimizer also takes
/// `learning_rate` and one of `clipvalue`, `clipnorm`, `global_clipnorm` ([`Clipping`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum OptimizerSpec {
    /// Stochastic gradient descent, with optional momentum, Nesterov and weight decay.
    #[serde(alias = "SGD")]
    Sgd(SgdSpec),
    /// Adagrad (Duchi et al. 2011).
    #[serde(alias = "Adagrad")]
    Adagrad(AdagradSpec),
    /// RMSprop (Hinton, lecture 6e), optionally centered and with momentum.
    #[serde(rename = "rmsprop", alias = "RMSprop")]
    RmsProp(RmsPropSpec),
    /// Adam (Kingma & Ba 2015), optionally AMSGrad.
    #[serde(alias = "Adam")]
    Adam(AdamSpec),
    /// AdaMax, Adam with the infinity norm (same paper).
    #[serde(alias = "Adamax")]
    Adamax(AdamaxSpec),
    /// Nadam, Adam with Nesterov momentum (Dozat 2016).
    #[serde(alias = "Nadam")]
    Nadam(NadamSpec),
    /// AdamW, Adam with decoupled weight decay (Loshchilov & Hutter 2019).
    #[serde(rename = "adamw", alias = "AdamW")]
    AdamW(AdamWSpec),
}

/// `[optimizer] name = "sgd"` (Keras 3 `SGD`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SgdSpec {
    /// Step size η (Keras' 0.01).
    #[serde(default = "sgd_learning_rate")]
    pub learning_rate: f32,
    /// Momentum μ in [0, 1) (default 0: plain SGD).
    #[serde(default)]
    pub momentum: f32,
    /// Nesterov momentum (default false; needs `momentum` > 0).
    #[serde(default)]
    pub nesterov: bool,
    /// L2 penalty λ ≥ 0 added to the gradient, g ← g + λθ (PyTorch's coupled form; default 0).
    #[serde(default)]
    pub weight_decay: f32,
    /// Clip each gradient value to [-clipvalue, clipvalue].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clipvalue: Option<f32>,
    /// Rescale each gradient tensor whose L2 norm exceeds `clipnorm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clipnorm: Option<f32>,
    /// Rescale all gradients together when their global L2 norm exceeds `global_clipnorm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global_clipnorm: Option<f32>,
}

/// `[optimizer] name = "adagrad"` (Keras 3 `Adagrad`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdagradSpec {
    /// Step size η (Keras' 0.001).
    #[serde(default = "adaptive_learning_rate")]
    pub learning_rate: f32,
    /// Starting value ≥ 0 of the squared-gradient accumulator (default 0.1).
    #[serde(default = "tenth")]
    pub initial_accumulator_value: f32,
    /// Numerical-stability constant > 0 (default 1e-7).
    #[serde(default = "epsilon")]
    pub epsilon: f32,
    /// Keras 3's decoupled decay λ ≥ 0: θ ← θ - η·λ·θ before each update (default 0).
    #[serde(default)]
    pub weight_decay: f32,
    /// Clip each gradient value to [-clipvalue, clipvalue].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clipvalue: Option<f32>,
    /// Rescale each gradient tensor whose L2 norm exceeds `clipnorm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clipnorm: Option<f32>,
    /// Rescale all gradients together when their global L2 norm exceeds `global_clipnorm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global_clipnorm: Option<f32>,
}

/// `[optimizer] name = "rmsprop"` (Keras 3 `RMSprop`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RmsPropSpec {
    /// Step size η (Keras' 0.001).
    #[serde(default = "adaptive_learning_rate")]
    pub learning_rate: f32,
    /// Decay ρ in [0, 1) of the squared-gradient average (default 0.9).
    #[serde(default = "nine_tenths")]
    pub rho: f32,
    /// Momentum μ in [0, 1) of the increments (default 0).
    #[serde(default)]
    pub momentum: f32,
    /// Numerical-stability constant > 0 (default 1e-7).
    #[serde(default = "epsilon")]
    pub epsilon: f32,
    /// Normalize by the estimated variance instead of the second moment (default false).
    #[serde(default)]
    pub centered: bool,
    /// Keras 3's decoupled decay λ ≥ 0: θ ← θ - η·λ·θ before each update (default 0).
    #[serde(default)]
    pub weight_decay: f32,
    /// Clip each gradient value to [-clipvalue, clipvalue].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clipvalue: Option<f32>,
    /// Rescale each gradient tensor whose L2 norm exceeds `clipnorm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clipnorm: Option<f32>,
    /// Rescale all gradients together when their global L2 norm exceeds `global_clipnorm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global_clipnorm: Option<f32>,
}

/// `[optimizer] name = "adam"` (Keras 3 `Adam`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdamSpec {
    /// Step size η (Keras' 0.001).
    #[serde(default = "adaptive_learning_rate")]
    pub learning_rate: f32,
    /// Decay β₁ in [0, 1) of the first moment (default 0.9).
    #[serde(default = "nine_tenths")]
    pub beta_1: f32,
    /// Decay β₂ in [0, 1) of the second moment (default 0.999).
    #[serde(default = "beta_2")]
    pub beta_2: f32,
    /// Numerical-stability constant > 0 (default 1e-7).
    #[serde(default = "epsilon")]
    pub epsilon: f32,
    /// Use the running maximum of the second moment (Reddi et al. 2018; default false).
    #[serde(default)]
    pub amsgrad: bool,
    /// Keras 3's decoupled decay λ ≥ 0: θ ← θ - η·λ·θ before each update (default 0).
    #[serde(default)]
    pub weight_decay: f32,
    /// Clip each gradient value to [-clipvalue, clipvalue].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clipvalue: Option<f32>,
    /// Rescale each gradient tensor whose L2 norm exceeds `clipnorm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clipnorm: Option<f32>,
    /// Rescale all gradients together when their global L2 norm exceeds `global_clipnorm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global_clipnorm: Option<f32>,
}

/// `[optimizer] name = "adamax"` (Keras 3 `Adamax`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdamaxSpec {
    /// Step size η (Keras' 0.001).
    #[serde(default = "adaptive_learning_rate")]
    pub learning_rate: f32,
    /// Decay β₁ in [0, 1) of the first moment (default 0.9).
    #[serde(default = "nine_tenths")]
    pub beta_1: f32,
    /// Decay β₂ in [0, 1) of the infinity norm (default 0.999).
    #[serde(default = "beta_2")]
    pub beta_2: f32,
    /// Numerical-stability constant > 0 (default 1e-7).
    #[serde(default = "epsilon")]
    pub epsilon: f32,
    /// Keras 3's decoupled decay λ ≥ 0: θ ← θ - η·λ·θ before each update (default 0).
    #[serde(default)]
    pub weight_decay: f32,
    /// Clip each gradient value to [-clipvalue, clipvalue].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clipvalue: Option<f32>,
    /// Rescale each gradient tensor whose L2 norm exceeds `clipnorm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clipnorm: Option<f32>,
    /// Rescale all gradients together when their global L2 norm exceeds `global_clipnorm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global_clipnorm: Option<f32>,
}

/// `[optimizer] name = "nadam"` (Keras 3 `Nadam`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NadamSpec {
    /// Step size η (Keras' 0.001).
    #[serde(default = "adaptive_learning_rate")]
    pub learning_rate: f32,
    /// Decay β₁ in [0, 1) of the first moment (default 0.9).
    #[serde(default = "nine_tenths")]
    pub beta_1: f32,
    /// Decay β₂ in [0, 1) of the second moment (default 0.999).
    #[serde(default = "beta_2")]
    pub beta_2: f32,
    /// Numerical-stability constant > 0 (default 1e-7).
    #[serde(default = "epsilon")]
    pub epsilon: f32,
    /// Exponent ψ > 0 of the momentum schedule μₜ = β₁(1 - ½·0.96^(ψt)); Keras 3 uses 1
    /// (the default), PyTorch's `NAdam` 0.004.
    #[serde(default = "nadam_momentum_decay")]
    pub momentum_decay: f32,
    /// Keras 3's decoupled decay λ ≥ 0: θ ← θ - η·λ·θ before each update (default 0).
    #[serde(default)]
    pub weight_decay: f32,
    /// Clip each gradient value to [-clipvalue, clipvalue].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clipvalue: Option<f32>,
    /// Rescale each gradient tensor whose L2 norm exceeds `clipnorm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clipnorm: Option<f32>,
    /// Rescale all gradients together when their global L2 norm exceeds `global_clipnorm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global_clipnorm: Option<f32>,
}

/// `[optimizer] name = "adamw"` (Keras 3 `AdamW`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdamWSpec {
    /// Step size η (Keras' 0.001).
    #[serde(default = "adaptive_learning_rate")]
    pub learning_rate: f32,
    /// Decay β₁ in [0, 1) of the first moment (default 0.9).
    #[serde(default = "nine_tenths")]
    pub beta_1: f32,
    /// Decay β₂ in [0, 1) of the second moment (default 0.999).
    #[serde(default = "beta_2")]
    pub beta_2: f32,
    /// Numerical-stability constant > 0 (default 1e-7).
    #[serde(default = "epsilon")]
    pub epsilon: f32,
    /// Use the running maximum of the second moment (Reddi et al. 2018; default false).
    #[serde(default)]
    pub amsgrad: bool,
    /// Decoupled decay λ ≥ 0: θ ← θ - η·λ·θ before each update (Keras' 0.004).
    #[serde(default = "adamw_weight_decay")]
    pub weight_decay: f32,
    /// Clip each gradient value to [-clipvalue, clipvalue].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clipvalue: Option<f32>,
    /// Rescale each gradient tensor whose L2 norm exceeds `clipnorm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clipnorm: Option<f32>,
    /// Rescale all gradients together when their global L2 norm exceeds `global_clipnorm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global_clipnorm: Option<f32>,
}

fn sgd_learning_rate() -> f32 {
    0.01
}
fn adaptive_learning_rate() -> f32 {
    0.001
}
fn epsilon() -> f32 {
    1e-7
}
fn tenth() -> f32 {
    0.1
}
fn nine_tenths() -> f32 {
    0.9
}
fn beta_2() -> f32 {
    0.999
}
fn nadam_momentum_decay() -> f32 {
    adam::KERAS_NADAM_MOMENTUM_DECAY as f32
}
fn adamw_weight_decay() -> f32 {
    0.004
}

/// Each settings struct's `Default` is its serde defaults (an empty table).
macro_rules! default_from_empty_table {
    ($($t:ty),*) => {$(
        impl Default for $t {
            fn default() -> Self {
                serde_json::from_value(serde_json::json!({}))
                    .expect("every optimizer key has a default")
            }
        }
    )*};
}
default_from_empty_table!(
    SgdSpec,
    AdagradSpec,
    RmsPropSpec,
    AdamSpec,
    AdamaxSpec,
    NadamSpec,
    AdamWSpec
);

impl SgdSpec {
    /// Checks the ranges and creates the optimizer.
    pub fn build(&self) -> Result<Box<dyn Optimizer>> {
        Ok(Box::new(Sgd::with_momentum(
            self.learning_rate,
            self.momentum,
            self.nesterov,
            self.weight_decay,
        )?))
    }
}

impl AdagradSpec {
    /// Checks the ranges and creates the optimizer.
    pub fn build(&self) -> Result<Box<dyn Optimizer>> {
        let adagrad = Adagrad::new(
            self.learning_rate,
            self.initial_accumulator_value,
            self.epsilon,
        )?;
        decoupled(Box::new(adagrad), self.weight_decay)
    }
}

impl RmsPropSpec {
    /// Checks the ranges and creates the optimizer.
    pub fn build(&self) -> Result<Box<dyn Optimizer>> {
        let rmsprop = RmsProp::new(
            self.learning_rate,
            self.rho,
            self.momentum,
            self.epsilon,
            self.centered,
        )?;
        decoupled(Box::new(rmsprop), self.weight_decay)
    }
}

impl AdamSpec {
    /// Checks the ranges and creates the optimizer.
    pub fn build(&self) -> Result<Box<dyn Optimizer>> {
        let adam = adam_family(
            AdamVariant::Adam,
            self.learning_rate,
            (self.beta_1, self.beta_2),
            self.epsilon,
            self.amsgrad,
        )?;
        decoupled(Box::new(adam), self.weight_decay)
    }
}

impl AdamaxSpec {
    /// Checks the ranges and creates the optimizer.
    pub fn build(&self) -> Result<Box<dyn Optimizer>> {
        let adamax = adam_family(
            AdamVariant::Adamax,
            self.learning_rate,
            (self.beta_1, self.beta_2),
            self.epsilon,
            false,
        )?;
        decoupled(Box::new(adamax), self.weight_decay)
    }
}

impl NadamSpec {
    /// Checks the ranges and creates the optimizer.
    pub fn build(&self) -> Result<Box<dyn Optimizer>> {
        check_positive("momentum_decay", self.momentum_decay)?;
        let nadam = adam_family(
            AdamVariant::Nadam,
            self.learning_rate,
            (self.beta_1, self.beta_2),
            self.epsilon,
            false,
        )?
        .with_momentum_decay(self.momentum_decay as f64);
        decoupled(Box::new(nadam), self.weight_decay)
    }
}

impl AdamWSpec {
    /// Checks the ranges and creates the optimizer.
    pub fn build(&self) -> Result<Box<dyn Optimizer>> {
        let variant = AdamVariant::AdamW {
            weight_decay: self.weight_decay,
        };
        let adamw = adam_family(
            variant,
            self.learning_rate,
            (self.beta_1, self.beta_2),
            self.epsilon,
            self.amsgrad,
        )?;
        Ok(Box::new(adamw))
    }
}

/// A member of the Adam family, its ε and β ranges checked first.
fn adam_family(
    variant: AdamVariant,
    learning_rate: f32,
    (beta_1, beta_2): (f32, f32),
    epsilon: f32,
    amsgrad: bool,
) -> Result<Adam> {
    check_learning_rate(learning_rate)?;
    check_positive("epsilon", epsilon)?;
    check_unit_interval("beta_1", beta_1)?;
    check_unit_interval("beta_2", beta_2)?;
    Adam::new(variant, learning_rate, beta_1, beta_2, epsilon, amsgrad)
}

/// Keras 3's decoupled weight decay λ ≥ 0 around `optimizer` (none when λ = 0).
fn decoupled(optimizer: Box<dyn Optimizer>, weight_decay: f32) -> Result<Box<dyn Optimizer>> {
    check_non_negative("weight_decay", weight_decay)?;
    Ok(if weight_decay > 0.0 {
        Box::new(weight_decay::Decayed::new(optimizer, weight_decay))
    } else {
        optimizer
    })
}

impl Default for OptimizerSpec {
    fn default() -> Self {
        OptimizerSpec::Sgd(SgdSpec::default())
    }
}

impl OptimizerSpec {
    /// The spec name (`sgd`, `rmsprop`, `adamw`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            OptimizerSpec::Sgd(_) => "sgd",
            OptimizerSpec::Adagrad(_) => "adagrad",
            OptimizerSpec::RmsProp(_) => "rmsprop",
            OptimizerSpec::Adam(_) => "adam",
            OptimizerSpec::Adamax(_) => "adamax",
            OptimizerSpec::Nadam(_) => "nadam",
            OptimizerSpec::AdamW(_) => "adamw",
        }
    }

    /// The learning rate (the optimizer's default unless set).
    pub fn learning_rate(&self) -> f32 {
        each_optimizer!(self, s => s.learning_rate)
    }

    /// Sets the learning rate.
    pub fn with_learning_rate(mut self, lr: f32) -> Self {
        each_optimizer!(&mut self, s => s.learning_rate = lr);
        self
    }

    /// The weight decay λ (coupled for SGD, decoupled for the others).
    pub fn weight_decay(&self) -> f32 {
        each_optimizer!(self, s => s.weight_decay)
    }

    /// Sets the weight decay λ.
    pub(crate) fn set_weight_decay(&mut self, weight_decay: f32) {
        each_optimizer!(self, s => s.weight_decay = weight_decay)
    }

    /// The clipping settings (at most one of the three).
    pub fn clipping(&self) -> Result<Clipping> {
        each_optimizer!(self, s => Clipping::new(s.clipvalue, s.clipnorm, s.global_clipnorm))
    }

    /// Writes `clipping` into the three clipping keys.
    pub(crate) fn set_clipping(&mut self, clipping: Clipping) {
        let keys = match clipping {
            Clipping::None => (None, None, None),
            Clipping::Value(c) => (Some(c), None, None),
            Clipping::Norm(c) => (None, Some(c), None),
            Clipping::GlobalNorm(c) => (None, None, Some(c)),
        };
        each_optimizer!(self, s => (s.clipvalue, s.clipnorm, s.global_clipnorm) = keys)
    }

    /// Checks the hyperparameters and creates the optimizer.
    pub fn build(&self) -> Result<Box<dyn Optimizer>> {
        check_learning_rate(self.learning_rate())?;
        let clipping = self.clipping()?;
        let optimizer = each_optimizer!(self, s => s.build()?);
        Ok(optimizer.with_clipping(clipping))
    }
}

/// Attaches clipping settings to a built optimizer (kept in its spec for the model to apply).
trait WithClipping {
    fn with_clipping(self, clipping: Clipping) -> Box<dyn Optimizer>;
}

impl WithClipping for Box<dyn Optimizer> {
    fn with_clipping(self, clipping: Clipping) -> Box<dyn Optimizer> {
        if clipping == Clipping::None {
            self
        } else {
            Box::new(clipping::Clipped::new(self, clipping))
        }
    }
}

/// Checks that a learning rate is positive and finite.
pub(crate) fn check_learning_rate(lr: f32) -> Result<()> {
    check_positive("learning_rate", lr)
}

pub(crate) fn check_positive(key: &str, v: f32) -> Result<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "`{key}` must be a positive number, got {v}"
        )))
    }
}

pub(crate) fn check_non_negative(key: &str, v: f32) -> Result<()> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "`{key}` must be a number ≥ 0, got {v}"
        )))
    }
}

/// A decay or momentum coefficient in [0, 1).
pub(crate) fn check_unit_interval(key: &str, v: f32) -> Result<()> {
    if (0.0..1.0).contains(&v) {
        Ok(())
    } else {
        Err(Error::Config(format!("`{key}` must be in [0, 1), got {v}")))
    }
}
