//! Open losses and metrics: a loss and a metric defined here, registered, checked against
//! finite differences and against the built-in they reimplement, used by name in a spec,
//! reported in the history, and kept through save and load.

mod common;

use common::{check_gradients, pseudo_random};
use deeptrain::losses::{register_loss, CustomLoss};
use deeptrain::metrics::{register_metric, CustomMetric};
use deeptrain::{Activation, DenseSpec, Experiment, Loss, Metric, Mode, Sequential, Sgd, Targets};

/// ℓ = Σ_k (p_k − t_k)⁴ / K.
struct Quartic;
impl CustomLoss for Quartic {
    fn sample(&self, p: &[f32], t: &[f32], grad: &mut [f32]) -> f64 {
        let k = p.len() as f32;
        let mut total = 0.0;
        for ((g, &p), &t) in grad.iter_mut().zip(p).zip(t) {
            let d = p - t;
            total += (d.powi(4) / k) as f64;
            *g = 4.0 * d.powi(3) / k;
        }
        total
    }
}

/// ℓ = Σ_k (p_k − t_k)² / K: the built-in mean squared error, written again.
struct Squared;
impl CustomLoss for Squared {
    fn sample(&self, p: &[f32], t: &[f32], grad: &mut [f32]) -> f64 {
        let k = p.len() as f32;
        let mut total = 0.0;
        for ((g, &p), &t) in grad.iter_mut().zip(p).zip(t) {
            let d = p - t;
            total += (d as f64) * (d as f64) / k as f64;
            *g = 2.0 * d / k;
        }
        total
    }
}

/// The probability the model gives the true class (targets are class indices).
struct ProbabilityOfLabel;
impl CustomMetric for ProbabilityOfLabel {
    fn sample(&self, p: &[f32], t: &[f32]) -> f64 {
        p[t[0] as usize] as f64
    }
}

fn model(loss: Loss, seed: u64) -> Sequential {
    let mut model = Sequential::new(&[3])
        .add(DenseSpec::new(4).activation(Activation::Tanh))
        .add(DenseSpec::new(2))
        .build(seed)
        .unwrap();
    model
        .compile(Box::new(Sgd::new(0.1).unwrap()), loss, &[])
        .unwrap();
    model
}

#[test]
fn a_custom_loss_gradient_matches_finite_differences() {
    let quartic = register_loss("quartic", Box::new(Quartic)).unwrap();
    let targets = Targets::Values(pseudo_random(&[5, 2], 4, 1.0));
    check_gradients(
        Mode::Train,
        model(quartic, 3),
        pseudo_random(&[5, 3], 2, 1.0),
        targets,
        "quartic loss",
    );
}

#[test]
fn a_custom_loss_that_is_the_mean_squared_error_trains_as_the_built_in_one() {
    let squared = register_loss("squared_again", Box::new(Squared)).unwrap();
    let (mut mine, mut builtin) = (model(squared, 5), model(Loss::MeanSquaredError, 5));
    let x = pseudo_random(&[8, 3], 7, 1.0);
    let t = Targets::Values(pseudo_random(&[8, 2], 8, 1.0));
    for _ in 0..20 {
        let (a, b) = (
            mine.train_step(&x, &t, &mut []).unwrap(),
            builtin.train_step(&x, &t, &mut []).unwrap(),
        );
        assert!((a - b).abs() <= 1e-6 * b.abs(), "loss {a} against {b}");
    }
    let (a, b) = (mine.weights(), builtin.weights());
    let values = |w: &deeptrain::model::Weights| -> Vec<f32> {
        w.0.iter()
            .flatten()
            .flat_map(|t| t.data().to_vec())
            .collect()
    };
    for (x, y) in values(&a).iter().zip(&values(&b)) {
        assert!((x - y).abs() < 1e-5, "{x} against {y}");
    }
}

#[test]
fn registering_a_built_in_name_is_refused() {
    let e = register_loss("mse", Box::new(Squared))
        .unwrap_err()
        .to_string();
    assert!(e.contains("built-in loss"), "{e}");
    let e = register_metric("accuracy", Box::new(ProbabilityOfLabel))
        .unwrap_err()
        .to_string();
    assert!(e.contains("built-in metric"), "{e}");
}

/// In a spec by name: the history has the metric and its `val_` twin; `evaluate` gives the mean
/// probability of the true class, as computed here from `predict`; the saved model keeps the
/// loss and metric names and reloads them.
#[test]
fn a_custom_metric_and_loss_work_by_name_in_a_spec_and_through_save_and_load() {
    register_loss("quartic_spec", Box::new(Quartic)).unwrap();
    let metric = register_metric("probability_of_label", Box::new(ProbabilityOfLabel)).unwrap();
    let text = r#"
seed = 3
[data]
dataset = "digits"
validation_split = 0.1
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
units = 10
activation = "softmax"
[compile]
loss = "sparse_categorical_crossentropy"
metrics = ["accuracy", "probability_of_label"]
[fit]
epochs = 2
"#;
    let spec = deeptrain::spec::Spec::parse(text, "custom.toml".as_ref()).unwrap();
    let mut experiment = Experiment::from_spec(&spec).unwrap();
    let history = experiment.fit(&mut [], None).unwrap();
    let train = history.series("probability_of_label");
    let val = history.series("val_probability_of_label");
    assert_eq!(
        (train.len(), val.len()),
        (2, 2),
        "{:?}",
        history.epochs[0].values
    );
    assert!(train.iter().chain(&val).all(|v| (0.0..1.0).contains(v)));
    let (mut model, data, _) = experiment.into_parts();
    assert!(model.metrics().contains(&metric));
    let test = data.test.unwrap();
    let by_hand = {
        let p = model.predict(&test.x, 64).unwrap();
        let labels = test.labels.data();
        (0..test.len())
            .map(|i| p.row(i)[labels[i] as usize] as f64)
            .sum::<f64>()
            / test.len() as f64
    };
    let evaluated = model.evaluate(&test, 64).unwrap();
    let value = evaluated
        .iter()
        .find(|(n, _)| n == "probability_of_label")
        .unwrap()
        .1;
    assert!((value - by_hand).abs() < 1e-9, "{value} against {by_hand}");

    // A model compiled with the custom loss saves and reloads it by name.
    let quartic = Loss::from_name("quartic_spec").unwrap();
    let model = model_with(quartic, metric);
    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path()).unwrap();
    let (loaded, _) = Sequential::load(dir.path()).unwrap();
    assert_eq!(loaded.loss(), Some(quartic));
    assert_eq!(loaded.metrics(), [metric]);
}

fn model_with(loss: Loss, metric: Metric) -> Sequential {
    let mut model = Sequential::new(&[3])
        .add(DenseSpec::new(2).activation(Activation::Softmax))
        .build(1)
        .unwrap();
    model
        .compile(Box::new(Sgd::new(0.1).unwrap()), loss, &[metric])
        .unwrap();
    model
}
