//! RMSprop (Hinton, Coursera lecture 6e; centered form: Graves 2013), Keras 3 `RMSprop`:
//! ```text
//! v ← ρ v + (1 - ρ) g²
//! centered: ḡ ← ρ ḡ + (1 - ρ) g;  d = v - ḡ² + ε   otherwise d = v + ε
//! Δ = η g / sqrt(d)
//! momentum μ > 0: b ← μ b + Δ; θ ← θ - b      otherwise θ ← θ - Δ
//! ```
//! PyTorch (`alpha` for ρ) divides by sqrt(v - ḡ²) + ε (ε outside the root) and applies η after
//! the momentum buffer, θ ← θ - η b with b ← μ b + g / (sqrt(·) + ε): the same while η is
//! constant, up to the placement of ε.

use super::slots::Slots;
use super::{
    check_learning_rate, check_positive, check_unit_interval, Optimizer, OptimizerSpec,
    OptimizerState, RmsPropSpec,
};
use crate::parallel::zip_pieces;
use crate::Result;

/// RMSprop: steps scaled by a running RMS of recent gradients.
#[derive(Clone, Debug)]
pub struct RmsProp {
    learning_rate: f32,
    rho: f32,
    momentum: f32,
    epsilon: f32,
    centered: bool,
    iterations: u64,
    slots: Slots,
}

impl RmsProp {
    /// RMSprop with Keras' hyperparameters.
    pub fn new(
        learning_rate: f32,
        rho: f32,
        momentum: f32,
        epsilon: f32,
        centered: bool,
    ) -> Result<Self> {
        check_learning_rate(learning_rate)?;
        check_unit_interval("rho", rho)?;
        check_unit_interval("momentum", momentum)?;
        check_positive("epsilon", epsilon)?;
        Ok(RmsProp {
            learning_rate,
            rho,
            momentum,
            epsilon,
            centered,
            iterations: 0,
            // Only the buffers this configuration uses.
            slots: Slots::new(
                &[
                    Some(("velocity", 0.0)),
                    centered.then_some(("average_gradient", 0.0)),
                    (momentum > 0.0).then_some(("momentum", 0.0)),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>(),
            ),
        })
    }
}

impl Optimizer for RmsProp {
    fn name(&self) -> &'static str {
        "rmsprop"
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

    fn update(&mut self, slot: usize, value: &mut [f32], grad: &[f32]) {
        let (lr, rho, mu, eps) = (self.learning_rate, self.rho, self.momentum, self.epsilon);
        let centered = self.centered;
        let buffers = self.slots.get(slot, value.len());
        // Buffers: the velocity, then the average gradient when centered, then the momentum.
        let momentum_at = if mu > 0.0 {
            Some(buffers.len() - 1)
        } else {
            None
        };
        let c = 1.0 - rho;
        zip_pieces(value, grad, buffers, &|value, grad, buffers| {
            let (velocity, rest) = buffers.split_at_mut(1);
            let params = value.iter_mut().zip(grad).zip(velocity[0].iter_mut());
            let (average, momentum) = match (centered, momentum_at) {
                (true, Some(_)) => {
                    let (a, b) = rest.split_at_mut(1);
                    (Some(&mut a[0]), Some(&mut b[0]))
                }
                (true, None) => (rest.first_mut(), None),
                (false, _) => (None, rest.first_mut()),
            };
            // One loop per configuration, each a single vectorizable pass.
            match (average, momentum) {
                (None, None) => {
                    for ((p, &g), v) in params {
                        *v = rho * *v + c * g * g;
                        *p -= lr * g / (*v + eps).sqrt();
                    }
                }
                (None, Some(b)) => {
                    for (((p, &g), v), b) in params.zip(b.iter_mut()) {
                        *v = rho * *v + c * g * g;
                        *b = mu * *b + lr * g / (*v + eps).sqrt();
                        *p -= *b;
                    }
                }
                (Some(a), None) => {
                    for (((p, &g), v), a) in params.zip(a.iter_mut()) {
                        *v = rho * *v + c * g * g;
                        *a = rho * *a + c * g;
                        *p -= lr * g / (*v + eps - *a * *a).sqrt();
                    }
                }
                (Some(a), Some(b)) => {
                    for ((((p, &g), v), a), b) in params.zip(a.iter_mut()).zip(b.iter_mut()) {
                        *v = rho * *v + c * g * g;
                        *a = rho * *a + c * g;
                        *b = mu * *b + lr * g / (*v + eps - *a * *a).sqrt();
                        *p -= *b;
                    }
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
        OptimizerSpec::RmsProp(RmsPropSpec {
            learning_rate: self.learning_rate,
            rho: self.rho,
            momentum: self.momentum,
            epsilon: self.epsilon,
            centered: self.centered,
            ..RmsPropSpec::default()
        })
    }

    fn state(&self) -> OptimizerState {
        self.slots.state(self.iterations)
    }

    fn load_state(&mut self, state: &OptimizerState) -> Result<()> {
        self.iterations = state.iterations;
        self.slots.import(&state.buffers)
    }
}
