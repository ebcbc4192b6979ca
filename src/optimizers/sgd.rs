//! Stochastic gradient descent with optional momentum, Nesterov momentum and weight decay.
//!
//! Keras 3 `SGD` (Polyak 1964; Sutskever et al. 2013 for Nesterov), with g ← g + λθ first
//! when `weight_decay` λ > 0 (PyTorch's coupled form):
//! ```text
//! m ← μ m - η g
//! θ ← θ + m              (classical momentum)
//! θ ← θ + μ m - η g      (Nesterov)
//! ```
//! PyTorch keeps b ← μ b + g and steps θ ← θ - η b (Nesterov: θ ← θ - η (g + μ b)): the same
//! trajectory while η is constant; when a schedule changes η, Keras' velocity carries the old
//! rates and PyTorch's does not. Keras' own `weight_decay` is decoupled (θ ← θ - ηλθ); for
//! plain SGD the two coincide.

use super::slots::Slots;
use super::{
    check_learning_rate, check_non_negative, check_unit_interval, Optimizer, OptimizerSpec,
    OptimizerState, SgdSpec,
};
use crate::parallel::zip_pieces;
use crate::{Error, Result};

/// Stochastic gradient descent.
#[derive(Clone, Debug)]
pub struct Sgd {
    learning_rate: f32,
    momentum: f32,
    nesterov: bool,
    weight_decay: f32,
    iterations: u64,
    velocity: Slots,
}

/// θ ← θ − η·g, element by element: plain SGD's update, written once. The layers that fuse
/// it into their backward pass (`Layer::set_fused_descent`) call this same function, so a
/// fused step and an unfused one give the same bits.
pub(crate) fn descend(value: &mut [f32], grad: &[f32], rate: f32) {
    value
        .iter_mut()
        .zip(grad)
        .for_each(|(v, &g)| *v -= rate * g);
}

impl Sgd {
    /// Plain SGD with step size `learning_rate` (> 0).
    pub fn new(learning_rate: f32) -> Result<Self> {
        Sgd::with_momentum(learning_rate, 0.0, false, 0.0)
    }

    /// SGD with momentum μ ∈ [0, 1), optionally Nesterov, and weight decay λ ≥ 0.
    pub fn with_momentum(
        learning_rate: f32,
        momentum: f32,
        nesterov: bool,
        weight_decay: f32,
    ) -> Result<Self> {
        check_learning_rate(learning_rate)?;
        check_unit_interval("momentum", momentum)?;
        check_non_negative("weight_decay", weight_decay)?;
        if nesterov && momentum == 0.0 {
            return Err(Error::Config(
                "`nesterov = true` needs a momentum > 0".into(),
            ));
        }
        Ok(Sgd {
            learning_rate,
            momentum,
            nesterov,
            weight_decay,
            iterations: 0,
            velocity: Slots::new(&[("momentum", 0.0)]),
        })
    }
}

impl Optimizer for Sgd {
    fn name(&self) -> &'static str {
        "sgd"
    }

    fn learning_rate(&self) -> f32 {
        self.learning_rate
    }

    fn set_learning_rate(&mut self, lr: f32) {
        self.learning_rate = lr;
    }

    fn momentum(&self) -> Option<f32> {
        (self.momentum > 0.0).then_some(self.momentum)
    }

    fn set_momentum(&mut self, momentum: f32) {
        if self.momentum > 0.0 {
            self.momentum = momentum;
        }
    }

    fn plain_descent_rate(&self) -> Option<f32> {
        (self.momentum == 0.0 && self.weight_decay == 0.0).then_some(self.learning_rate)
    }

    fn update(&mut self, slot: usize, value: &mut [f32], grad: &[f32]) {
        let (lr, mu, wd, nesterov) = (
            self.learning_rate,
            self.momentum,
            self.weight_decay,
            self.nesterov,
        );
        if mu == 0.0 && wd == 0.0 {
            // Plain descent, in the very arithmetic of the update a layer fuses into its
            // backward (`Layer::set_fused_descent`): either path gives the same bits.
            zip_pieces(value, grad, &mut [], &|value, grad, _| {
                descend(value, grad, lr)
            });
            return;
        }
        if mu == 0.0 {
            zip_pieces(value, grad, &mut [], &|value, grad, _| {
                for (p, &g) in value.iter_mut().zip(grad) {
                    *p -= lr * (g + wd * *p);
                }
            });
            return;
        }
        let buffers = self.velocity.get(slot, value.len());
        zip_pieces(value, grad, buffers, &|value, grad, buffers| {
            let params = value.iter_mut().zip(grad).zip(buffers[0].iter_mut());
            if nesterov {
                for ((p, &g), m) in params {
                    let g = g + wd * *p;
                    *m = mu * *m - lr * g;
                    *p += mu * *m - lr * g;
                }
            } else {
                for ((p, &g), m) in params {
                    *m = mu * *m - lr * (g + wd * *p);
                    *p += *m;
                }
            }
        });
    }

    fn finish_step(&mut self) {
        self.iterations += 1;
    }

    fn iterations(&self) -> u64 {
        self.iterations
    }

    fn spec(&self) -> OptimizerSpec {
        OptimizerSpec::Sgd(SgdSpec {
            learning_rate: self.learning_rate,
            momentum: self.momentum,
            nesterov: self.nesterov,
            weight_decay: self.weight_decay,
            ..SgdSpec::default()
        })
    }

    fn state(&self) -> OptimizerState {
        self.velocity.state(self.iterations)
    }

    fn load_state(&mut self, state: &OptimizerState) -> Result<()> {
        self.iterations = state.iterations;
        self.velocity.import(&state.buffers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sgd_steps_against_the_gradient() {
        let mut sgd = Sgd::new(0.1).unwrap();
        let mut w = [1.0, -2.0];
        sgd.update(0, &mut w, &[0.5, -1.0]);
        assert_eq!(w, [0.95, -1.9]);
    }

    #[test]
    fn sgd_rejects_bad_hyperparameters() {
        for lr in [0.0, -1.0, f32::NAN, f32::INFINITY] {
            assert!(Sgd::new(lr).is_err());
        }
        assert!(Sgd::with_momentum(0.1, 1.0, false, 0.0).is_err());
        assert!(Sgd::with_momentum(0.1, 0.0, true, 0.0).is_err());
        assert!(Sgd::with_momentum(0.1, 0.9, false, -1.0).is_err());
    }
}
