//! `deeptrain bench --profile`: where a bench model's training step spends its time.
//!
//! The model trains as `deeptrain train` would, with the default diagnostics observer, for a
//! whole number of diagnostics intervals, with [`deeptrain::profile`]'s timers on. The
//! products and the waiting for the pool's workers are timed inside the engine; the optimizer
//! and the observer are timed here, by wrappers around them. The rest of the step is
//! element-wise work. Each phase's share is of the calling thread's wall time over those steps.

use std::time::Instant;

use serde_json::json;

use deeptrain::diagnostics::Diagnostics;
use deeptrain::model::Observer;
use deeptrain::optimizers::{Clipping, Optimizer, OptimizerSpec, OptimizerState};
use deeptrain::profile::{self, Phase};
use deeptrain::{Layer, Mode, Result, Tensor};

use super::bench::Setup;

/// An optimizer whose updates are timed as [`Phase::Optimizer`]; everything else is passed on.
pub struct TimedOptimizer(pub Box<dyn Optimizer>);

impl Optimizer for TimedOptimizer {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn learning_rate(&self) -> f32 {
        self.0.learning_rate()
    }
    fn set_learning_rate(&mut self, lr: f32) {
        self.0.set_learning_rate(lr)
    }
    fn momentum(&self) -> Option<f32> {
        self.0.momentum()
    }
    fn set_momentum(&mut self, momentum: f32) {
        self.0.set_momentum(momentum)
    }
    fn clipping(&self) -> Clipping {
        self.0.clipping()
    }
    fn plain_descent_rate(&self) -> Option<f32> {
        self.0.plain_descent_rate()
    }
    fn update(&mut self, slot: usize, value: &mut [f32], grad: &[f32]) {
        let timer = profile::start();
        self.0.update(slot, value, grad);
        timer.stop(Phase::Optimizer);
    }
    fn finish_step(&mut self) {
        let timer = profile::start();
        self.0.finish_step();
        timer.stop(Phase::Optimizer);
    }
    fn iterations(&self) -> u64 {
        self.0.iterations()
    }
    fn spec(&self) -> OptimizerSpec {
        self.0.spec()
    }
    fn state(&self) -> OptimizerState {
        self.0.state()
    }
    fn load_state(&mut self, state: &OptimizerState) -> Result<()> {
        self.0.load_state(state)
    }
}

/// An observer whose every call is timed as [`Phase::Diagnostics`].
struct TimedObserver(Box<dyn Observer>);

impl Observer for TimedObserver {
    fn on_epoch_begin(&mut self, epoch: usize) {
        self.0.on_epoch_begin(epoch)
    }
    fn after_forward(&mut self, index: usize, layer: &dyn Layer, output: &Tensor, mode: Mode) {
        let timer = profile::start();
        self.0.after_forward(index, layer, output, mode);
        timer.stop(Phase::Diagnostics);
    }
    fn after_backward(&mut self, index: usize, layer: &dyn Layer, grad_output: &Tensor) {
        let timer = profile::start();
        self.0.after_backward(index, layer, grad_output);
        timer.stop(Phase::Diagnostics);
    }
    fn needs_gradients(&self) -> bool {
        self.0.needs_gradients()
    }
    fn on_step_begin(&mut self, step: u64) {
        let timer = profile::start();
        self.0.on_step_begin(step);
        timer.stop(Phase::Diagnostics);
    }
    fn after_update(&mut self, index: usize, layer: &dyn Layer) {
        let timer = profile::start();
        self.0.after_update(index, layer);
        timer.stop(Phase::Diagnostics);
    }
    fn save_state(&self) -> Option<serde_json::Value> {
        self.0.save_state()
    }
    fn restore_state(&mut self, state: &serde_json::Value) -> Result<()> {
        self.0.restore_state(state)
    }
}

/// Profiles bench model `name` (built by `setup` with a [`TimedOptimizer`]) over at least
/// `steps` training steps: the JSON line of `deeptrain bench --profile`. `step_flops` is one
/// step's FLOP count.
pub fn run(name: &str, setup: Setup, steps: usize, step_flops: f64) -> Result<serde_json::Value> {
    let Setup {
        mut net,
        x,
        y,
        batch,
        ..
    } = setup;
    // `deeptrain train`'s default diagnostics interval on Fashion-MNIST's 60,000 rows.
    let every = (60_000usize.div_ceil(batch) / 10).max(1);
    net.set_observer(Some(Box::new(TimedObserver(Box::new(Diagnostics::new(
        every as u64,
    ))))));
    let step = |net: &mut deeptrain::Sequential, i: usize| -> Result<()> {
        net.train_step(&x[i % x.len()], &y[i % y.len()], &mut [])?;
        Ok(())
    };
    // 20 warm-up steps, then on to a whole number of diagnostics intervals, so that the
    // profiled steps hold one diagnostics sample per interval.
    let warm_up = 20usize.next_multiple_of(every);
    for i in 0..warm_up {
        step(&mut net, i)?;
    }
    let steps = steps.div_ceil(every).max(1) * every;
    profile::set_enabled(true);
    profile::take();
    let started = Instant::now();
    for i in warm_up..warm_up + steps {
        step(&mut net, i)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    profile::set_enabled(false);
    let totals = profile::take();
    let products = totals.get(Phase::Products);
    let mut line = json!({
        "model": name,
        "framework": "deeptrain",
        "threads": deeptrain::linalg::num_threads(),
        "batch": batch,
        "profile_steps": steps,
        "diagnostics_every": every,
        "step_seconds": seconds / steps as f64,
        "train_gflops": step_flops * steps as f64 / seconds / 1e9,
        "products_gflops": step_flops * steps as f64 / products.max(1e-12) / 1e9,
    });
    let recorded: f64 = Phase::ALL.iter().map(|&p| totals.get(p)).sum();
    if let Some(object) = line.as_object_mut() {
        for phase in Phase::ALL {
            object.insert(
                format!("share_{}", phase.name()),
                json!(totals.get(phase) / seconds),
            );
        }
        object.insert(
            "share_elementwise".into(),
            json!(((seconds - recorded) / seconds).max(0.0)),
        );
    }
    Ok(line)
}
