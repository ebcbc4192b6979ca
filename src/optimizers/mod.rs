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
mod clipping;
mod rmsprop;
mod sgd;
mod slots;
mod weight_decay;

pub use adagrad::Adagrad;
pub use adam::{Adam, AdamVariant};
pub use clipping::Clipping;
pub use rmsprop::RmsProp;
pub use sgd::Sgd;
pub use slots::OptimizerState;

use serde::{Deserialize, Serialize};

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
    fn load_state(&mut self, state: &OptimizerState) -> Result<(), String>;
}

/// Which optimizer a spec names (snake_case ids, or Keras' class names: `SGD`, `Adam`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerName {
    /// Stochastic gradient descent, with optional momentum, Nesterov and weight decay.
    #[serde(alias = "SGD")]
    Sgd,
    /// Adagrad (Duchi et al. 2011).
    #[serde(alias = "Adagrad")]
    Adagrad,
    /// RMSprop (Hinton, lecture 6e), optionally centered and with momentum.
    #[serde(rename = "rmsprop", alias = "RMSprop")]
    RmsProp,
    /// Adam (Kingma & Ba 2015), optionally AMSGrad.
    #[serde(alias = "Adam")]
    Adam,
    /// AdaMax, Adam with the infinity norm (same paper).
    #[serde(alias = "Adamax")]
    Adamax,
    /// Nadam, Adam with Nesterov momentum (Dozat 2016).
    #[serde(alias = "Nadam")]
    Nadam,
    /// AdamW, Adam with decoupled weight decay (Loshchilov & Hutter 2019).
    #[serde(rename = "adamw", alias = "AdamW")]
    AdamW,
}

impl OptimizerName {
    /// The spec name.
    pub fn as_str(self) -> &'static str {
        match self {
            OptimizerName::Sgd => "sgd",
            OptimizerName::Adagrad => "adagrad",
            OptimizerName::RmsProp => "rmsprop",
            OptimizerName::Adam => "adam",
            OptimizerName::Adamax => "adamax",
            OptimizerName::Nadam => "nadam",
            OptimizerName::AdamW => "adamw",
        }
    }

    /// The hyperparameters (besides `learning_rate` and clipping) this optimizer takes.
    fn keys(self) -> &'static [&'static str] {
        match self {
            OptimizerName::Sgd => &["momentum", "nesterov", "weight_decay"],
            OptimizerName::Adagrad => &["initial_accumulator_value", "epsilon", "weight_decay"],
            OptimizerName::RmsProp => &["rho", "momentum", "epsilon", "centered", "weight_decay"],
            OptimizerName::Adam => &["beta_1", "beta_2", "epsilon", "amsgrad", "weight_decay"],
            OptimizerName::Adamax => &["beta_1", "beta_2", "epsilon", "weight_decay"],
            OptimizerName::Nadam => &[
                "beta_1",
                "beta_2",
                "epsilon",
                "momentum_decay",
                "weight_decay",
            ],
            OptimizerName::AdamW => &["beta_1", "beta_2", "epsilon", "amsgrad", "weight_decay"],
        }
    }

    /// Keras' default learning rate (0.01 for SGD, 0.001 otherwise).
    pub fn default_learning_rate(self) -> f32 {
        match self {
            OptimizerName::Sgd => 0.01,
            _ => 0.001,
        }
    }
}

/// An optimizer as written in a spec: `[optimizer] name = "nadam"`, `learning_rate = ...` and
/// the optimizer's own hyperparameters under Keras' names; a key the optimizer does not take is
/// an error. Unset values take Keras' defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimizerSpec {
    /// Which optimizer.
    pub name: OptimizerName,
    /// Step size (default 0.01 for SGD, 0.001 for the others, as Keras).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learning_rate: Option<f32>,
    /// SGD: momentum in [0, 1) (default 0). RMSprop: momentum of the increments (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub momentum: Option<f32>,
    /// SGD: Nesterov momentum (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nesterov: Option<bool>,
    /// SGD: L2 penalty added to the gradient (PyTorch's coupled form; default 0). The others:
    /// Keras 3's decoupled decay θ ← θ - η·λ·θ before each update (AdamW's default 0.004,
    /// the others' 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_decay: Option<f32>,
    /// Adagrad: starting value of the squared-gradient accumulator (default 0.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_accumulator_value: Option<f32>,
    /// Numerical-stability constant (default 1e-7, as Keras).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epsilon: Option<f32>,
    /// RMSprop: decay of the squared-gradient average (default 0.9).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rho: Option<f32>,
    /// RMSprop: normalize by the estimated variance instead of the second moment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub centered: Option<bool>,
    /// Adam family: decay of the first moment (default 0.9).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beta_1: Option<f32>,
    /// Adam family: decay of the second moment (default 0.999).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beta_2: Option<f32>,
    /// Nadam: exponent ψ of the momentum schedule μₜ = β₁(1 - ½·0.96^(ψt)); Keras 3 uses 1
    /// (the default), PyTorch's `NAdam` 0.004.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub momentum_decay: Option<f32>,
    /// Adam, AdamW: use the running maximum of the second moment (Reddi et al. 2018).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amsgrad: Option<bool>,
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

impl Default for OptimizerSpec {
    fn default() -> Self {
        OptimizerSpec::new(OptimizerName::Sgd)
    }
}

impl OptimizerSpec {
    /// The optimizer with Keras' defaults.
    pub fn new(name: OptimizerName) -> Self {
        OptimizerSpec {
            name,
            learning_rate: None,
            momentum: None,
            nesterov: None,
            weight_decay: None,
            initial_accumulator_value: None,
            epsilon: None,
            rho: None,
            centered: None,
            beta_1: None,
            beta_2: None,
            amsgrad: None,
            momentum_decay: None,
            clipvalue: None,
            clipnorm: None,
            global_clipnorm: None,
        }
    }

    /// Sets the learning rate.
    pub fn learning_rate(mut self, lr: f32) -> Self {
        self.learning_rate = Some(lr);
        self
    }

    /// The learning rate, or the optimizer's default.
    pub fn effective_learning_rate(&self) -> f32 {
        self.learning_rate
            .unwrap_or(self.name.default_learning_rate())
    }

    fn given_keys(&self) -> Vec<&'static str> {
        [
            ("momentum", self.momentum.is_some()),
            ("nesterov", self.nesterov.is_some()),
            ("weight_decay", self.weight_decay.is_some()),
            (
                "initial_accumulator_value",
                self.initial_accumulator_value.is_some(),
            ),
            ("epsilon", self.epsilon.is_some()),
            ("rho", self.rho.is_some()),
            ("centered", self.centered.is_some()),
            ("beta_1", self.beta_1.is_some()),
            ("beta_2", self.beta_2.is_some()),
            ("amsgrad", self.amsgrad.is_some()),
            ("momentum_decay", self.momentum_decay.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, given)| given.then_some(k))
        .collect()
    }

    /// The clipping settings (at most one of the three).
    pub fn clipping(&self) -> Result<Clipping, String> {
        Clipping::new(self.clipvalue, self.clipnorm, self.global_clipnorm)
    }

    /// Checks the hyperparameters and creates the optimizer.
    pub fn build(&self) -> Result<Box<dyn Optimizer>, String> {
        let name = self.name;
        let allowed = name.keys();
        if let Some(key) = self.given_keys().into_iter().find(|k| !allowed.contains(k)) {
            let hint = if key == "weight_decay" {
                " (use adamw for decoupled weight decay, or kernel_regularizer for an L2 penalty)"
            } else {
                ""
            };
            return Err(format!(
                "{} has no hyperparameter `{key}`; it takes learning_rate, {}, and clipvalue, clipnorm or global_clipnorm{hint}",
                name.as_str(),
                allowed.join(", ")
            ));
        }
        let lr = self.effective_learning_rate();
        check_learning_rate(lr)?;
        let clipping = self.clipping()?;
        let epsilon = self.epsilon.unwrap_or(1e-7);
        check_positive("epsilon", epsilon)?;
        let beta_1 = self.beta_1.unwrap_or(0.9);
        let beta_2 = self.beta_2.unwrap_or(0.999);
        check_unit_interval("beta_1", beta_1)?;
        check_unit_interval("beta_2", beta_2)?;
        let optimizer: Box<dyn Optimizer> = match name {
            OptimizerName::Sgd => Box::new(Sgd::with_momentum(
                lr,
                self.momentum.unwrap_or(0.0),
                self.nesterov.unwrap_or(false),
                self.weight_decay.unwrap_or(0.0),
            )?),
            OptimizerName::Adagrad => Box::new(Adagrad::new(
                lr,
                self.initial_accumulator_value.unwrap_or(0.1),
                epsilon,
            )?),
            OptimizerName::RmsProp => Box::new(RmsProp::new(
                lr,
                self.rho.unwrap_or(0.9),
                self.momentum.unwrap_or(0.0),
                epsilon,
                self.centered.unwrap_or(false),
            )?),
            OptimizerName::Adam
            | OptimizerName::AdamW
            | OptimizerName::Adamax
            | OptimizerName::Nadam => {
                let variant = match name {
                    OptimizerName::Adam => AdamVariant::Adam,
                    OptimizerName::AdamW => AdamVariant::AdamW {
                        weight_decay: self.weight_decay.unwrap_or(0.004),
                    },
                    OptimizerName::Adamax => AdamVariant::Adamax,
                    _ => AdamVariant::Nadam,
                };
                let momentum_decay = self.momentum_decay.unwrap_or(1.0);
                check_positive("momentum_decay", momentum_decay)?;
                Box::new(
                    Adam::new(
                        variant,
                        lr,
                        beta_1,
                        beta_2,
                        epsilon,
                        self.amsgrad.unwrap_or(false),
                    )?
                    .with_momentum_decay(momentum_decay as f64),
                )
            }
        };
        let optimizer = match self.weight_decay {
            Some(wd) if !matches!(name, OptimizerName::Sgd | OptimizerName::AdamW) => {
                check_non_negative("weight_decay", wd)?;
                if wd > 0.0 {
                    Box::new(weight_decay::Decayed::new(optimizer, wd))
                } else {
                    optimizer
                }
            }
            _ => optimizer,
        };
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
pub(crate) fn check_learning_rate(lr: f32) -> Result<(), String> {
    if lr.is_finite() && lr > 0.0 {
        Ok(())
    } else {
        Err(format!(
            "`learning_rate` must be a positive number, got {lr}"
        ))
    }
}

pub(crate) fn check_positive(key: &str, v: f32) -> Result<(), String> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(format!("`{key}` must be a positive number, got {v}"))
    }
}

pub(crate) fn check_non_negative(key: &str, v: f32) -> Result<(), String> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(format!("`{key}` must be a number ≥ 0, got {v}"))
    }
}

/// A decay or momentum coefficient in [0, 1).
pub(crate) fn check_unit_interval(key: &str, v: f32) -> Result<(), String> {
    if (0.0..1.0).contains(&v) {
        Ok(())
    } else {
        Err(format!("`{key}` must be in [0, 1), got {v}"))
    }
}
