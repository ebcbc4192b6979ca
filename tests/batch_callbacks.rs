//! The per-step callback hooks: `on_batch_begin` sets the learning rate of each step (the
//! textbook's 1cycle callback, Keras' `on_train_batch_begin`), and `stop_after_batch` ends
//! training within an epoch (Keras' `model.stop_training`).

use deeptrain::callbacks::{BatchEnd, Callback, EpochLogs};
use deeptrain::{
    data, Activation, DenseSpec, FitOptions, LayerSpec, Loss, Metric, Sequential, Sgd,
};

/// Sets the rate to `0.01 * (step + 1)` before each step, records the rate each step ran
/// with, and stops after `stop_at` steps in all.
struct PerStep {
    seen: Vec<f32>,
    steps: usize,
    stop_at: usize,
    epochs_ended: usize,
}

impl Callback for PerStep {
    fn on_batch_begin(
        &mut self,
        _epoch: usize,
        step: usize,
        model: &mut Sequential,
    ) -> deeptrain::Result<()> {
        let optimizer = model.optimizer_mut().expect("compiled");
        optimizer.set_learning_rate(0.01 * (step + 1) as f32);
        self.seen.push(optimizer.learning_rate());
        Ok(())
    }
    fn on_batch_end(&mut self, _logs: &BatchEnd) {
        self.steps += 1;
    }
    fn stop_after_batch(&mut self) -> bool {
        self.steps >= self.stop_at
    }
    fn on_epoch_end(
        &mut self,
        _logs: &EpochLogs,
        _model: &mut Sequential,
    ) -> deeptrain::Result<deeptrain::callbacks::Control> {
        self.epochs_ended += 1;
        Ok(deeptrain::callbacks::Control::Continue)
    }
}

#[test]
fn a_callback_sets_each_steps_rate_and_stops_within_an_epoch() {
    let train = data::digits().unwrap().train;
    let mut model = Sequential::new(&[8, 8])
        .add(LayerSpec::flatten())
        .add(DenseSpec::new(10).activation(Activation::Softmax))
        .build(3)
        .unwrap();
    model
        .compile(
            Box::new(Sgd::new(0.5).unwrap()),
            Loss::SparseCategoricalCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap();
    let mut callback = PerStep {
        seen: Vec::new(),
        steps: 0,
        stop_at: 5,
        epochs_ended: 0,
    };
    let options = FitOptions {
        epochs: 3,
        batch_size: 64,
        validation_split: 0.2,
        ..Default::default()
    };
    let history = model
        .fit(&train, None, &options, &mut [&mut callback])
        .unwrap();
    let rates: Vec<f32> = (1..=5).map(|k| 0.01 * k as f32).collect();
    assert_eq!(callback.seen, rates);
    assert_eq!(model.optimizer().unwrap().iterations(), 5);
    // The cut epoch still ends: validated, logged, shown to on_epoch_end.
    assert_eq!(history.epochs.len(), 1);
    assert_eq!(callback.epochs_ended, 1);
    assert!(history.epochs[0]
        .get("val_loss")
        .is_some_and(f64::is_finite));
    assert_eq!(history.epochs[0].learning_rate, rates[4] as f64);
}
