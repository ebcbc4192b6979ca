//! Spec and model round trips: what is saved loads back to the same predictions.

mod common;

use common::pseudo_random;
use deeptrain::model::RunMetadata;
use deeptrain::spec::{Spec, DEFAULT_SPEC};
use deeptrain::{Activation, DenseSpec, LayerSpec, Loss, Metric, Scale, Scaler, Sequential, Sgd};

#[test]
fn saved_model_loads_back_with_identical_predictions() {
    let mut model = Sequential::new(&[2, 3])
        .add(LayerSpec::flatten())
        .add(DenseSpec::new(7).activation(Activation::Tanh))
        .add(DenseSpec::new(4).activation(Activation::Softmax))
        .build(3)
        .unwrap();
    model
        .compile(
            Box::new(Sgd::new(0.05).unwrap()),
            Loss::SparseCategoricalCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap();
    let x = pseudo_random(&[5, 2, 3], 11, 2.0);
    let metadata = RunMetadata {
        scaler: Scaler::fit(Scale::Standard, &x),
        data: None,
        class_names: Some(vec!["a".into(), "b".into(), "c".into(), "d".into()]),
    };
    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path()).unwrap();
    metadata.save(dir.path()).unwrap();
    let (mut loaded, file) = Sequential::load(dir.path()).unwrap();
    assert_eq!(RunMetadata::load(dir.path()).unwrap(), metadata);
    assert_eq!(file.layers, model.layer_specs());
    assert_eq!(loaded.summary(), model.summary());
    assert_eq!(
        loaded.predict(&x, 2).unwrap(),
        model.predict(&x, 2).unwrap()
    );
    assert_eq!(loaded.optimizer().unwrap().learning_rate(), 0.05);
}

/// A model never compiled saves with no loss, metrics or optimizer, and loads uncompiled
/// (Keras' `model.save` of an uncompiled model), with the same predictions.
#[test]
fn uncompiled_model_saves_without_compile_settings_and_loads_uncompiled() {
    let mut model = Sequential::new(&[3])
        .add(DenseSpec::new(2).activation(Activation::Tanh))
        .build(5)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path()).unwrap();
    let text = std::fs::read_to_string(dir.path().join("model.toml")).unwrap();
    assert!(
        !text.contains("loss") && !text.contains("[optimizer]"),
        "{text}"
    );
    assert!(!dir.path().join("optimizer.safetensors").exists());
    let (mut loaded, file) = Sequential::load(dir.path()).unwrap();
    assert_eq!((file.loss, file.optimizer), (None, None));
    assert!(loaded.loss().is_none() && loaded.optimizer().is_none());
    let x = pseudo_random(&[4, 3], 2, 1.0);
    assert_eq!(
        loaded.predict(&x, 4).unwrap(),
        model.predict(&x, 4).unwrap()
    );
}

#[test]
fn loading_checks_names_and_shapes() {
    let mut model = Sequential::new(&[3])
        .add(DenseSpec::new(2))
        .build(1)
        .unwrap();
    model
        .compile(
            Box::new(Sgd::new(0.1).unwrap()),
            Loss::MeanSquaredError,
            &[],
        )
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path()).unwrap();
    // Change the architecture so that the saved kernel no longer fits.
    let toml_path = dir.path().join("model.toml");
    let text = std::fs::read_to_string(&toml_path)
        .unwrap()
        .replace("units = 2", "units = 5");
    std::fs::write(&toml_path, text).unwrap();
    let err = Sequential::load(dir.path()).err().unwrap().to_string();
    assert!(
        err.contains("dense.kernel") && err.contains("[3, 2]") && err.contains("[3, 5]"),
        "{err}"
    );
}

#[test]
fn spec_round_trips_through_toml() {
    let spec = Spec::parse(DEFAULT_SPEC, std::path::Path::new("default")).unwrap();
    let text = toml::to_string(&spec).unwrap();
    let again = Spec::parse(&text, std::path::Path::new("again")).unwrap();
    assert_eq!(spec, again);
}

/// Training, saving (weights and optimizer state), loading and training on ends with the same
/// weights, bit for bit, as training straight through: for a stateful optimizer (Nadam keeps
/// two moments and a momentum product) with clipping.
#[test]
fn optimizer_state_is_saved_and_training_resumes_exactly() {
    use deeptrain::optimizers::{NadamSpec, OptimizerSpec};
    use deeptrain::Targets;
    let spec = OptimizerSpec::Nadam(NadamSpec {
        learning_rate: 0.01,
        global_clipnorm: Some(1.0),
        ..NadamSpec::default()
    });
    let build = || {
        let mut model = Sequential::new(&[4])
            .add(DenseSpec::new(6).activation(Activation::Selu))
            .add(DenseSpec::new(3).activation(Activation::Softmax))
            .build(5)
            .unwrap();
        model
            .compile(
                spec.build().unwrap(),
                Loss::SparseCategoricalCrossentropy,
                &[],
            )
            .unwrap();
        model
    };
    let x = pseudo_random(&[8, 4], 21, 1.0);
    let targets = Targets::Classes(vec![0, 1, 2, 0, 1, 2, 0, 1]);
    let steps = |model: &mut Sequential, n: usize| {
        for _ in 0..n {
            model.train_step(&x, &targets, &mut []).unwrap();
        }
    };
    let mut straight = build();
    steps(&mut straight, 10);

    let mut first = build();
    steps(&mut first, 4);
    let dir = tempfile::tempdir().unwrap();
    first.save(dir.path()).unwrap();
    let (mut resumed, file) = Sequential::load(dir.path()).unwrap();
    assert_eq!(file.optimizer, Some(first.optimizer().unwrap().spec()));
    assert_eq!(resumed.optimizer().unwrap().iterations(), 4);
    steps(&mut resumed, 6);
    for (a, b) in straight.layers().iter().zip(resumed.layers()) {
        for (pa, pb) in a.params().iter().zip(b.params()) {
            assert_eq!(pa.value.data(), pb.value.data(), "{}", a.name());
        }
    }
}
