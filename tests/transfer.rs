//! Reusing layers: clone, transfer (weights copied, not shared), freeze and unfreeze, dataset
//! class selection, and a transfer run from a spec.

use std::process::Command;

use deeptrain::activations::Activation;
use deeptrain::spec::{DataSpec, Spec};
use deeptrain::{DenseSpec, FitOptions, LayerSpec, Loss, Metric, Scale, Scaler, Sequential, Sgd};

fn digits_model() -> (Sequential, deeptrain::Dataset) {
    let mut train = deeptrain::data::digits().unwrap().train.slice(0..400);
    Scaler::fit(Scale::Unit, &train.x).apply(&mut train.x);
    let mut model = Sequential::new(&[8, 8])
        .add(LayerSpec::flatten())
        .add(DenseSpec::new(24).activation(Activation::Relu))
        .add(DenseSpec::new(10).activation(Activation::Softmax))
        .build(1)
        .unwrap();
    model
        .compile(
            Box::new(Sgd::new(0.1).unwrap()),
            Loss::SparseCategoricalCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap();
    (model, train)
}

fn kernel(model: &Sequential, layer: usize) -> Vec<f32> {
    model.layers()[layer].params()[0].value.data().to_vec()
}

#[test]
fn clone_and_transfer_copy_weights_without_sharing_them() {
    let (mut source, train) = digits_model();
    let options = FitOptions {
        epochs: 2,
        ..FitOptions::default()
    };
    source.fit(&train, None, &options, &mut []).unwrap();
    let clone = source.clone_model().unwrap();
    assert_eq!(clone.weights(), source.weights());
    let head = [DenseSpec::new(3).activation(Activation::Softmax).into()];
    let mut transferred = source.transfer(2, &head, 9).unwrap();
    assert_eq!(kernel(&transferred, 1), kernel(&source, 1));
    assert_eq!(transferred.layers()[2].params()[0].value.shape(), &[24, 3]);
    // Training the copy leaves the source alone.
    transferred
        .compile(
            Box::new(Sgd::new(0.5).unwrap()),
            Loss::SparseCategoricalCrossentropy,
            &[],
        )
        .unwrap();
    let before = kernel(&source, 1);
    let three = train.select_classes(&[0, 1, 2]).unwrap();
    transferred.fit(&three, None, &options, &mut []).unwrap();
    assert_eq!(kernel(&source, 1), before);
    assert_ne!(kernel(&transferred, 1), before);
}

#[test]
fn frozen_layers_keep_their_weights_until_unfrozen() {
    let (mut model, train) = digits_model();
    model.set_trainable(0..2, false);
    let frozen = kernel(&model, 1);
    let head = kernel(&model, 2);
    let options = FitOptions {
        epochs: 1,
        ..FitOptions::default()
    };
    model.fit(&train, None, &options, &mut []).unwrap();
    assert_eq!(kernel(&model, 1), frozen);
    assert_ne!(kernel(&model, 2), head);
    assert_eq!(model.count_params().1, 64 * 24 + 24);
    model.set_trainable(0..2, true);
    model.fit(&train, None, &options, &mut []).unwrap();
    assert_ne!(kernel(&model, 1), frozen);
}

#[test]
fn class_selection_relabels_in_sorted_order() {
    let train = deeptrain::data::digits().unwrap().train;
    let picked = train.select_classes(&[7, 3]).unwrap();
    let original: Vec<f32> = (0..train.len())
        .map(|i| train.labels.data()[i])
        .filter(|&l| l == 3.0 || l == 7.0)
        .collect();
    assert_eq!(picked.len(), original.len());
    for (new, old) in picked.labels.data().iter().zip(&original) {
        assert_eq!(*new, if *old == 3.0 { 0.0 } else { 1.0 });
    }
    let spec = DataSpec {
        drop_classes: Some(vec![0, 9]),
        max_train_samples: Some(100),
        ..DataSpec::default()
    };
    let splits = spec.load().unwrap();
    assert_eq!(splits.train.len(), 100);
    assert!(splits.train.labels.data().iter().all(|&l| l < 8.0));
    assert!(splits.test.unwrap().labels.data().iter().all(|&l| l < 8.0));
}

/// A spec with `[transfer]`: reuses a saved digits model's hidden layer (frozen for one epoch,
/// then unfrozen) under a new 2-class head.
#[test]
fn transfer_from_a_spec_reuses_freezes_and_unfreezes() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_deeptrain"))
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let source = dir.path().join("source");
    let spec_a = dir.path().join("a.toml");
    std::fs::write(
        &spec_a,
        deeptrain::spec::DEFAULT_SPEC
            .replace("epochs = 30", "epochs = 3")
            .replace(
                "validation_split = 0.1",
                "validation_split = 0.1\ndrop_classes = [8, 9]",
            )
            .replace("units = 10", "units = 8"),
    )
    .unwrap();
    run(&[
        "train",
        spec_a.to_str().unwrap(),
        "--out",
        source.to_str().unwrap(),
    ]);
    let spec_b = dir.path().join("b.toml");
    let text = format!(
        r#"
[transfer]
from = "{}"
layers = 3
unfreeze_after = 1
unfreeze_learning_rate = 0.01
[data]
dataset = "digits"
classes = [8, 9]
max_train_samples = 60
[[layers]]
type = "dense"
units = 2
activation = "softmax"
[optimizer]
name = "sgd"
learning_rate = 0.05
[fit]
epochs = 3
"#,
        source.join("model").display()
    );
    std::fs::write(&spec_b, text).unwrap();
    let spec = Spec::from_file(&spec_b).unwrap();
    assert_eq!(spec.transfer.as_ref().unwrap().layers, 3);
    let out = dir.path().join("b");
    let stdout = run(&[
        "train",
        spec_b.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(stdout.contains("Reusing the first 3 layers"), "{stdout}");
    assert!(
        stdout.contains("Unfroze the 3 transferred layers after epoch 1"),
        "{stdout}"
    );
    assert!(stdout.contains("Epoch 3/3"), "{stdout}");
    let (model, file) = Sequential::load(&out.join("model")).unwrap();
    assert_eq!(model.layers().len(), 4);
    assert_eq!(file.layers[1].name(), Some("dense"));
    assert!(model
        .layers()
        .iter()
        .all(|l| l.params().iter().all(|p| p.trainable)));
}
