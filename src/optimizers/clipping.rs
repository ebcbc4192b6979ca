//! Gradient clipping, with Keras' three options (applied to the gradients before the update):
//! - `clipvalue = c`: g ← clip(g, -c, c), element by element;
//! - `clipnorm = c`: g ← g · c / max(‖g‖, c), for each tensor on its own;
//! - `global_clipnorm = c`: every g ← g · c / max(‖G‖, c), with ‖G‖ the L2 norm of all
//!   gradients together (`tf.clip_by_global_norm`), which keeps their direction.

use super::{check_positive, Optimizer, OptimizerSpec, OptimizerState};
use crate::{Error, Result};

/// Which clipping applies (at most one, as Keras requires).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Clipping {
    /// No clipping.
    #[default]
    None,
    /// Clip each value.
    Value(f32),
    /// Rescale each tensor by its norm.
    Norm(f32),
    /// Rescale all tensors by their global norm.
    GlobalNorm(f32),
}

impl Clipping {
    /// From the three spec keys; at most one may be set, and it must be positive.
    pub fn new(
        clipvalue: Option<f32>,
        clipnorm: Option<f32>,
        global_clipnorm: Option<f32>,
    ) -> Result<Clipping> {
        let set = [
            ("clipvalue", clipvalue),
            ("clipnorm", clipnorm),
            ("global_clipnorm", global_clipnorm),
        ];
        let given: Vec<(&str, f32)> = set.iter().filter_map(|&(k, v)| v.map(|v| (k, v))).collect();
        match given.as_slice() {
            [] => Ok(Clipping::None),
            [(key, v)] => {
                check_positive(key, *v)?;
                Ok(match *key {
                    "clipvalue" => Clipping::Value(*v),
                    "clipnorm" => Clipping::Norm(*v),
                    _ => Clipping::GlobalNorm(*v),
                })
            }
            _ => Err(Error::Config(
                "set at most one of clipvalue, clipnorm and global_clipnorm".into(),
            )),
        }
    }

    /// The factor every gradient is multiplied by under global-norm clipping, given the sum of
    /// squares of all gradients (1 for the other kinds).
    pub fn global_scale(self, sum_of_squares: f64) -> f32 {
        match self {
            Clipping::GlobalNorm(c) => {
                let c = c as f64;
                (c / sum_of_squares.sqrt().max(c)) as f32
            }
            _ => 1.0,
        }
    }

    /// Clips one gradient tensor in place; `global_scale` comes from [`Clipping::global_scale`].
    pub fn apply(self, grad: &mut [f32], global_scale: f32) {
        match self {
            Clipping::None => {}
            Clipping::Value(c) => grad.iter_mut().for_each(|g| *g = g.clamp(-c, c)),
            Clipping::Norm(c) => {
                let norm = grad.iter().map(|&g| (g as f64).powi(2)).sum::<f64>().sqrt();
                let c = c as f64;
                if norm > c {
                    let scale = (c / norm) as f32;
                    grad.iter_mut().for_each(|g| *g *= scale);
                }
            }
            Clipping::GlobalNorm(_) => {
                if global_scale != 1.0 {
                    grad.iter_mut().for_each(|g| *g *= global_scale);
                }
            }
        }
    }
}

/// An optimizer with clipping settings attached; the update itself is the inner optimizer's.
pub(super) struct Clipped {
    inner: Box<dyn Optimizer>,
    clipping: Clipping,
}

impl Clipped {
    pub(super) fn new(inner: Box<dyn Optimizer>, clipping: Clipping) -> Self {
        Clipped { inner, clipping }
    }
}

impl Optimizer for Clipped {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn learning_rate(&self) -> f32 {
        self.inner.learning_rate()
    }
    fn set_learning_rate(&mut self, lr: f32) {
        self.inner.set_learning_rate(lr)
    }
    fn momentum(&self) -> Option<f32> {
        self.inner.momentum()
    }
    fn set_momentum(&mut self, momentum: f32) {
        self.inner.set_momentum(momentum)
    }
    fn clipping(&self) -> Clipping {
        self.clipping
    }
    fn update(&mut self, slot: usize, value: &mut [f32], grad: &[f32]) {
        self.inner.update(slot, value, grad)
    }
    fn finish_step(&mut self) {
        self.inner.finish_step()
    }
    fn iterations(&self) -> u64 {
        self.inner.iterations()
    }
    fn spec(&self) -> OptimizerSpec {
        let mut spec = self.inner.spec();
        spec.set_clipping(self.clipping);
        spec
    }
    fn state(&self) -> OptimizerState {
        self.inner.state()
    }
    fn load_state(&mut self, state: &OptimizerState) -> Result<()> {
        self.inner.load_state(state)
    }
}
