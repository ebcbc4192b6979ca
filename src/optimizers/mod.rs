//! Optimizers: a thin stateful shell over a pure per-tensor update.
//!
//! The model calls [`Optimizer::update`] once per trainable parameter tensor per step, with a
//! stable `slot` index per tensor, so that an optimizer keeps per-tensor state (moments) without
//! allocating after the first step.

mod sgd;

pub use sgd::Sgd;

use serde::{Deserialize, Serialize};

/// A gradient-descent optimizer.
pub trait Optimizer: Send {
    /// Keras' name (`sgd`).
    fn name(&self) -> &'static str;
    /// The current learning rate.
    fn learning_rate(&self) -> f32;
    /// Sets the learning rate (for schedules).
    fn set_learning_rate(&mut self, lr: f32);
    /// Updates `value` in place from `grad`; `slot` identifies the tensor's state.
    fn update(&mut self, slot: usize, value: &mut [f32], grad: &[f32]);
    /// Called after all tensors of a step are updated.
    fn finish_step(&mut self) {}
    /// The spec that recreates this optimizer.
    fn spec(&self) -> OptimizerSpec;
}

/// An optimizer as written in a spec (`[optimizer] name = "sgd"`), with Keras' names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum OptimizerSpec {
    /// Stochastic gradient descent.
    Sgd(SgdSpec),
}

impl Default for OptimizerSpec {
    fn default() -> Self {
        OptimizerSpec::Sgd(SgdSpec::default())
    }
}

/// Settings of [`Sgd`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SgdSpec {
    /// Step size (Keras default 0.01).
    #[serde(default = "default_sgd_lr")]
    pub learning_rate: f32,
}

fn default_sgd_lr() -> f32 {
    0.01
}

impl Default for SgdSpec {
    fn default() -> Self {
        SgdSpec {
            learning_rate: default_sgd_lr(),
        }
    }
}

impl OptimizerSpec {
    /// Checks the hyperparameters and creates the optimizer.
    pub fn build(&self) -> Result<Box<dyn Optimizer>, String> {
        match self {
            OptimizerSpec::Sgd(s) => Ok(Box::new(Sgd::new(s.learning_rate)?)),
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
