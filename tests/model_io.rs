//! Spec and model round trips: what is saved loads back to the same predictions.

mod common;

use common::pseudo_random;
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
    let scaler = Scaler::fit(Scale::Standard, &x);
    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path(), &scaler, None, None).unwrap();
    let (mut loaded, file, loaded_scaler) = Sequential::load(dir.path()).unwrap();
    assert_eq!(loaded_scaler, scaler);
    assert_eq!(file.layers, model.layer_specs());
    assert_eq!(loaded.summary(), model.summary());
    assert_eq!(
        loaded.predict(&x, 2).unwrap(),
        model.predict(&x, 2).unwrap()
    );
    assert_eq!(loaded.optimizer().unwrap().learning_rate(), 0.05);
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
    model
        .save(
            dir.path(),
            &Scaler::fit(Scale::None, &pseudo_random(&[1, 3], 1, 1.0)),
            None,
            None,
        )
        .unwrap();
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
