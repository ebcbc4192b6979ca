//! Keras 3's decoupled weight decay for every optimizer: before each update,
//! θ ← θ - η·λ·θ (`BaseOptimizer._apply_weight_decay`, Loshchilov & Hutter 2019), then the
//! optimizer's own step with the gradient. AdamW has it built in; SGD's `weight_decay` keeps
//! PyTorch's coupled form (g ← g + λθ), the same as this one without momentum.

use super::{Clipping, Optimizer, OptimizerSpec, OptimizerState};
use crate::Result;

/// An optimizer with decoupled weight decay λ applied before its update.
pub(super) struct Decayed {
    inner: Box<dyn Optimizer>,
    weight_decay: f32,
}

impl Decayed {
    pub(super) fn new(inner: Box<dyn Optimizer>, weight_decay: f32) -> Self {
        Decayed {
            inner,
            weight_decay,
        }
    }
}

impl Optimizer for Decayed {
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
        self.inner.clipping()
    }
    fn update(&mut self, slot: usize, value: &mut [f32], grad: &[f32]) {
        let decay = self.inner.learning_rate() * self.weight_decay;
        for v in value.iter_mut() {
            *v -= *v * decay;
        }
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
        spec.set_weight_decay(self.weight_decay);
        spec
    }
    fn state(&self) -> OptimizerState {
        self.inner.state()
    }
    fn load_state(&mut self, state: &OptimizerState) -> Result<()> {
        self.inner.load_state(state)
    }
}
