//! Adagrad (Duchi, Hazan & Singer 2011), Keras 3 `Adagrad`:
//! ```text
//! a ← a + g²            (a starts at initial_accumulator_value)
//! θ ← θ - η g / sqrt(a + ε)
//! ```
//! PyTorch divides by sqrt(a) + ε instead (ε outside the root; default 1e-10 there).

use super::slots::Slots;
use super::{
    check_learning_rate, check_non_negative, check_positive, AdagradSpec, Optimizer, OptimizerSpec,
    OptimizerState,
};
use crate::parallel::zip_pieces;
use crate::Result;

/// Adagrad: per-coordinate steps shrinking with the accumulated squared gradient.
#[derive(Clone, Debug)]
pub struct Adagrad {
    learning_rate: f32,
    initial_accumulator_value: f32,
    epsilon: f32,
    iterations: u64,
    accumulators: Slots,
}

impl Adagrad {
    /// Adagrad with Keras' hyperparameters.
    pub fn new(learning_rate: f32, initial_accumulator_value: f32, epsilon: f32) -> Result<Self> {
        check_learning_rate(learning_rate)?;
        check_non_negative("initial_accumulator_value", initial_accumulator_value)?;
        check_positive("epsilon", epsilon)?;
        Ok(Adagrad {
            learning_rate,
            initial_accumulator_value,
            epsilon,
            iterations: 0,
            accumulators: Slots::new(&[("accumulator", initial_accumulator_value)]),
        })
    }
}

impl Optimizer for Adagrad {
    fn name(&self) -> &'static str {
        "adagrad"
    }

    fn learning_rate(&self) -> f32 {
        self.learning_rate
    }

    fn set_learning_rate(&mut self, lr: f32) {
        self.learning_rate = lr;
    }

    fn update(&mut self, slot: usize, value: &mut [f32], grad: &[f32]) {
        let (lr, eps) = (self.learning_rate, self.epsilon);
        let buffers = self.accumulators.get(slot, value.len());
        zip_pieces(value, grad, buffers, &|value, grad, buffers| {
            for ((p, &g), a) in value.iter_mut().zip(grad).zip(buffers[0].iter_mut()) {
                *a += g * g;
                *p -= lr * g / (*a + eps).sqrt();
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
        OptimizerSpec::Adagrad(AdagradSpec {
            learning_rate: self.learning_rate,
            initial_accumulator_value: self.initial_accumulator_value,
            epsilon: self.epsilon,
            ..AdagradSpec::default()
        })
    }

    fn state(&self) -> OptimizerState {
        self.accumulators.state(self.iterations)
    }

    fn load_state(&mut self, state: &OptimizerState) -> Result<()> {
        self.iterations = state.iterations;
        self.accumulators.import(&state.buffers)
    }
}
