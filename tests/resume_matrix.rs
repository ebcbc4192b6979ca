//! Resuming is bit-exact for every optimizer, with diagnostics on or off, whether the run was
//! interrupted mid-epoch (Ctrl-C / SIGTERM set `FitOptions::stop`, training stops between two
//! steps and the last epoch's checkpoint stays) or at an epoch's end (killed after the
//! checkpoint): the weights, the optimizer's state, the history and the diagnostics rows equal
//! those of a run that never stopped. Plain SGD on a Fashion-MNIST-sized model (784-300-100-10)
//! is in the matrix: there, layers update their kernels within backward, and steps that
//! diagnostics sample store the gradients as well; runs with diagnostics on and off end alike.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use deeptrain::callbacks::{BatchEnd, Control, EpochLogs};
use deeptrain::diagnostics::Diagnostics;
use deeptrain::model::RunMetadata;
use deeptrain::{
    data, Activation, Callback, Dataset, DenseSpec, Error, FitOptions, History, LayerSpec, Loss,
    Metric, OptimizerSpec, Scale, Scaler, Sequential, Tensor,
};

const EPOCHS: usize = 3;
const BATCH: usize = 32;

/// Where a run stops before it is resumed.
#[derive(Clone, Copy, Debug)]
enum Stop {
    /// Killed right after the checkpoint of epoch 2.
    EpochEnd,
    /// Ctrl-C during epoch 2, after `step` of its steps.
    MidEpoch { step: usize },
}

/// Writes the checkpoint at every epoch's end (as the CLI's writer does) and raises the stop
/// flag after a given step of epoch 2 (index 1), as a signal handler would.
struct Checkpointer<'a> {
    dir: &'a Path,
    history: History,
    metadata: RunMetadata,
    stop_after: Option<usize>,
    flag: Arc<AtomicBool>,
}

impl Callback for Checkpointer<'_> {
    fn on_batch_end(&mut self, logs: &BatchEnd) {
        if logs.epoch == 1 && Some(logs.step) == self.stop_after {
            self.flag.store(true, Ordering::Relaxed);
        }
    }

    fn on_epoch_end(
        &mut self,
        logs: &EpochLogs,
        model: &mut Sequential,
    ) -> deeptrain::Result<Control> {
        self.history.epochs.push(logs.clone());
        model.save_checkpoint(self.dir, &self.metadata, &self.history)?;
        Ok(Control::Continue)
    }
}

/// An epoch's number, values and learning rate.
type Epoch = (usize, Vec<(String, f64)>, f64);

/// Everything that must match: weights, optimizer state (the saved files' bytes), history
/// without the wall times, and the diagnostics rows.
#[derive(Debug, PartialEq)]
struct Outcome {
    weights: Vec<u8>,
    optimizer: Vec<u8>,
    history: Vec<Epoch>,
    diagnostics: Option<String>,
}

fn outcome(model: &Sequential, history: &History, diagnostics: Option<&Diagnostics>) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path()).unwrap();
    let read = |name: &str| std::fs::read(dir.path().join(name)).unwrap();
    Outcome {
        weights: read("weights.safetensors"),
        optimizer: read("optimizer.safetensors"),
        history: history
            .epochs
            .iter()
            .map(|e| (e.epoch, e.values.clone(), e.learning_rate))
            .collect(),
        diagnostics: diagnostics.map(Diagnostics::to_csv),
    }
}

fn model(input: usize, hidden: &[usize], optimizer: &OptimizerSpec) -> Sequential {
    let mut spec = Sequential::new(&[input]);
    for &units in hidden {
        spec = spec.add(DenseSpec::new(units).activation(Activation::Relu));
    }
    let mut model = spec
        .add(LayerSpec::dropout(0.1))
        .add(DenseSpec::new(10).activation(Activation::Softmax))
        .build(7)
        .unwrap();
    model
        .compile(
            optimizer.build().unwrap(),
            Loss::SparseCategoricalCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap();
    model
}

fn options(epochs: usize, initial_epoch: usize, stop: &Arc<AtomicBool>) -> FitOptions {
    FitOptions {
        epochs,
        batch_size: BATCH,
        validation_split: 0.0,
        initial_epoch,
        stop: Some(stop.clone()),
        ..FitOptions::default()
    }
}

/// Diagnostics sampling every 3rd step (and each epoch's first), when on: not a divisor of
/// the steps per epoch, so that a step counter restarted at a resume samples other steps.
fn install(model: &mut Sequential, diagnostics: bool) -> Option<Diagnostics> {
    let d = diagnostics.then(|| Diagnostics::new(3));
    if let Some(d) = &d {
        model.install_observer(Box::new(d.clone())).unwrap();
    }
    d
}

/// Trains straight for [`EPOCHS`], and again stopped at `stop` then resumed from the
/// checkpoint; asserts that both end alike, and returns how.
fn assert_bit_exact(
    make: &dyn Fn() -> Sequential,
    train: &Dataset,
    validation: &Dataset,
    diagnostics: bool,
    stop: Stop,
    case: &str,
) -> Outcome {
    let flag = Arc::new(AtomicBool::new(false));
    let mut straight = make();
    let d = install(&mut straight, diagnostics);
    let history = straight
        .fit(train, Some(validation), &options(EPOCHS, 0, &flag), &mut [])
        .unwrap();
    let expected = outcome(&straight, &history, d.as_ref());

    let dir = tempfile::tempdir().unwrap();
    let checkpoint = dir.path().join("resume");
    let metadata = RunMetadata {
        scaler: Scaler::fit(Scale::None, &train.x),
        data: None,
        class_names: None,
    };
    let mut writer = Checkpointer {
        dir: &checkpoint,
        history: History::default(),
        metadata,
        stop_after: match stop {
            Stop::EpochEnd => None,
            Stop::MidEpoch { step } => Some(step),
        },
        flag: flag.clone(),
    };
    let mut first = make();
    let _d = install(&mut first, diagnostics);
    let result = first.fit(
        train,
        Some(validation),
        &options(2, 0, &flag),
        &mut [&mut writer],
    );
    match (stop, result) {
        (Stop::EpochEnd, Ok(h)) => assert_eq!(h.epochs.len(), 2),
        (Stop::MidEpoch { step }, Err(Error::Interrupted { epoch, step: s })) => {
            assert_eq!((epoch, s), (2, step + 1), "{case}");
        }
        (_, other) => panic!("{case}: the first run ended with {other:?}"),
    }
    drop(first);

    let flag = Arc::new(AtomicBool::new(false));
    let (mut resumed, _, _, prior) = Sequential::load_checkpoint(&checkpoint).unwrap();
    let d = install(&mut resumed, diagnostics);
    let rest = resumed
        .fit(
            train,
            Some(validation),
            &options(EPOCHS, prior.epochs.len(), &flag),
            &mut [],
        )
        .unwrap();
    let mut history = prior;
    history.epochs.extend(rest.epochs);
    let got = outcome(&resumed, &history, d.as_ref());
    assert!(
        got.weights == expected.weights,
        "{case}: the weights differ from the uninterrupted run's"
    );
    assert!(
        got.optimizer == expected.optimizer,
        "{case}: the optimizer state differs from the uninterrupted run's"
    );
    assert_eq!(got.history, expected.history, "{case}: history");
    assert_eq!(
        got.diagnostics, expected.diagnostics,
        "{case}: diagnostics rows"
    );
    got
}

fn optimizers() -> Vec<(&'static str, OptimizerSpec)> {
    [
        ("sgd", r#"name = "sgd""#),
        (
            "momentum",
            r#"name = "sgd"
momentum = 0.9"#,
        ),
        (
            "nesterov",
            r#"name = "sgd"
momentum = 0.9
nesterov = true"#,
        ),
        (
            "sgd_weight_decay",
            r#"name = "sgd"
weight_decay = 0.001"#,
        ),
        (
            "sgd_clipnorm",
            r#"name = "sgd"
clipnorm = 1.0"#,
        ),
        ("adagrad", r#"name = "adagrad""#),
        ("rmsprop", r#"name = "rmsprop""#),
        (
            "rmsprop_centered_momentum",
            r#"name = "rmsprop"
centered = true
momentum = 0.5"#,
        ),
        ("adam", r#"name = "adam""#),
        (
            "adam_amsgrad",
            r#"name = "adam"
amsgrad = true"#,
        ),
        ("adamw", r#"name = "adamw""#),
        ("adamax", r#"name = "adamax""#),
        ("nadam", r#"name = "nadam""#),
    ]
    .into_iter()
    .map(|(name, text)| {
        let spec: OptimizerSpec =
            toml::from_str(text).unwrap_or_else(|e| panic!("optimizer {name}: {e}"));
        (name, spec)
    })
    .collect()
}

/// 320 training and 64 validation digits (8×8, 10 steps an epoch).
fn digits() -> (Dataset, Dataset) {
    let all = data::digits().unwrap().train;
    let flat = |d: Dataset| {
        let n = d.len();
        let x = Tensor::from_vec(d.x.data().to_vec(), &[n, 64]);
        Dataset::new(x, d.labels.clone()).unwrap()
    };
    (flat(all.slice(0..320)), flat(all.slice(320..384)))
}

#[test]
fn every_optimizer_resumes_bit_exactly_with_and_without_diagnostics() {
    let (train, validation) = digits();
    for (name, optimizer) in optimizers() {
        let make = || model(64, &[16], &optimizer);
        for stop in [Stop::EpochEnd, Stop::MidEpoch { step: 5 }] {
            let mut ends = Vec::new();
            for diagnostics in [false, true] {
                let case = format!("{name}, diagnostics {diagnostics}, stopped {stop:?}");
                ends.push(assert_bit_exact(
                    &make,
                    &train,
                    &validation,
                    diagnostics,
                    stop,
                    &case,
                ));
            }
            // Watching a run never changes it.
            assert!(
                ends[0].weights == ends[1].weights && ends[0].optimizer == ends[1].optimizer,
                "{name}, stopped {stop:?}: diagnostics on and off end with different weights"
            );
            assert_eq!(
                ends[0].history, ends[1].history,
                "{name}, {stop:?}: history"
            );
        }
    }
}

#[test]
fn plain_sgd_on_a_fashion_mnist_sized_model_resumes_bit_exactly() {
    let all = data::digits().unwrap().train;
    let train = common::digits_at_28(&all.slice(0..352), &[784]);
    let validation = common::digits_at_28(&all.slice(352..416), &[784]);
    let sgd: OptimizerSpec = toml::from_str("name = \"sgd\"\nlearning_rate = 0.05").unwrap();
    let make = || model(784, &[300, 100], &sgd);
    for stop in [Stop::EpochEnd, Stop::MidEpoch { step: 6 }] {
        let mut ends = Vec::new();
        for diagnostics in [true, false] {
            let case = format!("784-300-100-10 sgd, diagnostics {diagnostics}, stopped {stop:?}");
            ends.push(assert_bit_exact(
                &make,
                &train,
                &validation,
                diagnostics,
                stop,
                &case,
            ));
        }
        // Watching a run never changes it: the sampled steps update the weights as the others.
        assert!(
            ends[0].weights == ends[1].weights,
            "stopped {stop:?}: diagnostics on and off end with different weights"
        );
        assert_eq!(
            ends[0].history, ends[1].history,
            "stopped {stop:?}: history"
        );
    }
}
