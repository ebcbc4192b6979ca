//! Batch normalization as a user meets it: deterministic inference, frozen layers, the summary's
//! non-trainable count, and folding into Dense layers for inference.

mod common;

use common::pseudo_random;
use deeptrain::layers::BatchNormSpec;
use deeptrain::{Activation, DenseSpec, LayerSpec, Loss, Metric, Sequential, Sgd, Targets, Tensor};

fn bn() -> LayerSpec {
    LayerSpec::new(BatchNormSpec::default())
}

/// Input BN, Dense without bias -> BN -> ELU, Dense(relu) -> BN -> Dense(softmax): trained a few
/// steps so that the moving statistics are far from their initial 0 and 1.
fn trained_model() -> (Sequential, Tensor) {
    let mut model = Sequential::new(&[6])
        .add(bn())
        .add(DenseSpec {
            use_bias: false,
            ..DenseSpec::new(8)
        })
        .add(bn())
        .add(LayerSpec::activation(Activation::Elu { alpha: 1.0 }))
        .add(DenseSpec::new(8).activation(Activation::Relu))
        .add(bn())
        .add(DenseSpec::new(3).activation(Activation::Softmax))
        .build(4)
        .unwrap();
    model
        .compile(
            Box::new(Sgd::new(0.05).unwrap()),
            Loss::SparseCategoricalCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap();
    let x = pseudo_random(&[32, 6], 31, 3.0);
    let y = Targets::Classes((0..32).map(|i| (i % 3) as u32).collect());
    for _ in 0..200 {
        model.train_step(&x, &y, &mut [0.0]).unwrap();
    }
    (model, x)
}

#[test]
fn folding_removes_every_batch_norm_and_keeps_predictions() {
    let (mut model, x) = trained_model();
    let moving_mean = model.layers()[0].state()[0].value.data().to_vec();
    assert!(
        moving_mean.iter().any(|m| m.abs() > 0.05),
        "{moving_mean:?}"
    );
    let (mut folded, count) = model.fold_batch_norm().unwrap();
    assert_eq!(count, 3);
    assert_eq!(folded.layers().len(), model.layers().len() - 3);
    assert!(folded
        .layer_specs()
        .iter()
        .all(|s| s.config_as::<BatchNormSpec>().is_none()));
    let before = model.predict(&x, 32).unwrap();
    let after = folded.predict(&x, 32).unwrap();
    let worst = before
        .data()
        .iter()
        .zip(after.data())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-5, "largest probability difference {worst}");
}

/// In a graph a batch norm folds where the graph allows: `bn_a` into the linear `a` it reads
/// (nothing else reads `a`), `bn_b` into `d`, its only reader; `bn_c` stays, since both `cat`
/// and the skip connection read it, and so does `bn_d`: it reads a merge layer.
#[test]
fn folding_a_graph_folds_where_the_graph_allows_and_keeps_predictions() {
    let mut model = Sequential::graph(&[6])
        .layer(DenseSpec::new(8).named("a"))
        .layer(bn().named("bn_a"))
        .layer(DenseSpec::new(8).activation(Activation::Relu).named("b"))
        .layer(bn().named("bn_b"))
        .layer(DenseSpec::new(3).activation(Activation::Tanh).named("d"))
        .layer(
            DenseSpec::new(3)
                .activation(Activation::Tanh)
                .named("c")
                .reads(&["input"]),
        )
        .layer(bn().named("bn_c"))
        .layer(LayerSpec::concatenate(&["d", "bn_c"]).named("cat"))
        .layer(
            DenseSpec::new(3)
                .activation(Activation::Softmax)
                .named("out"),
        )
        .layer(LayerSpec::add(&["bn_c", "c"]).named("skip"))
        .layer(bn().named("bn_d"))
        .output("out", 1.0)
        .output("bn_d", 0.5)
        .build(4)
        .unwrap();
    model
        .compile(
            Box::new(Sgd::new(0.05).unwrap()),
            Loss::MeanSquaredError,
            &[],
        )
        .unwrap();
    let x = pseudo_random(&[32, 6], 31, 3.0);
    let y = Targets::Values(pseudo_random(&[32, 3], 5, 1.0));
    for _ in 0..100 {
        model.train_step(&x, &y, &mut []).unwrap();
    }
    let (mut folded, count) = model.fold_batch_norm().unwrap();
    let names: Vec<String> = folded
        .layers()
        .iter()
        .map(|l| l.name().to_string())
        .collect();
    assert_eq!(count, 2, "{names:?}");
    assert_eq!(
        names,
        ["a", "b", "d", "c", "bn_c", "cat", "out", "skip", "bn_d"]
    );
    assert_eq!(
        folded.layer_inputs()[1],
        ["a"],
        "b reads a, which absorbed bn_a"
    );
    assert_eq!(
        folded.layer_inputs()[2],
        ["b"],
        "d absorbed bn_b and reads b"
    );
    // Both outputs, from a forward pass over the whole batch.
    let outputs = |model: &mut Sequential| -> Vec<Vec<f32>> {
        model.predict(&x, 32).unwrap();
        ["out", "bn_d"]
            .iter()
            .map(|name| {
                let i = model
                    .layers()
                    .iter()
                    .position(|l| l.name() == *name)
                    .unwrap();
                model.last_outputs()[i].data().to_vec()
            })
            .collect()
    };
    let before = outputs(&mut model);
    for (k, (b, a)) in before.iter().zip(outputs(&mut folded)).enumerate() {
        let worst = b
            .iter()
            .zip(&a)
            .map(|(p, q)| (p - q).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "output {k}: largest difference {worst}");
    }
}

#[test]
fn inference_does_not_depend_on_the_batch() {
    let (mut model, x) = trained_model();
    let whole = model.predict(&x, 32).unwrap();
    for i in [0, 7, 31] {
        let one = Tensor::from_vec(x.row(i).to_vec(), &[1, 6]);
        let alone = model.predict(&one, 1).unwrap();
        assert_eq!(alone.data(), whole.row(i), "sample {i}");
    }
}

#[test]
fn a_frozen_batch_norm_runs_in_inference_mode() {
    let (mut model, x) = trained_model();
    model.layers_mut()[2].set_trainable(false);
    let stats = model.layers()[2].state()[1].value.clone();
    let gamma = model.layers()[2].params()[0].value.clone();
    let y = Targets::Classes((0..32).map(|i| (i % 3) as u32).collect());
    model.train_step(&x, &y, &mut [0.0]).unwrap();
    assert_eq!(model.layers()[2].state()[1].value, stats);
    assert_eq!(model.layers()[2].params()[0].value, gamma);
    assert!(model.layer_specs()[2]
        .config_as::<BatchNormSpec>()
        .is_some_and(|s| !s.trainable));
}

#[test]
fn summary_counts_moving_statistics_as_non_trainable() {
    let (model, _) = trained_model();
    // BN on 6, 8 and 8 features: γ, β trainable; moving mean and variance not.
    let (trainable, frozen) = model.count_params();
    assert_eq!(frozen, 2 * (6 + 8 + 8));
    assert_eq!(
        trainable,
        2 * 6 + 6 * 8 + 2 * 8 + (8 * 8 + 8) + 2 * 8 + (8 * 3 + 3)
    );
    let summary = model.summary();
    assert!(summary.contains("Non-trainable params: 44"), "{summary}");
}

/// A batch norm that cannot fold (a dropout layer stands between it and the next Dense layer)
/// is kept as itself after an earlier one was folded away: it is taken by its own index among
/// the model's layers, not by its place in the folded model.
#[test]
fn an_unfoldable_batch_norm_after_a_folded_one_is_kept_as_it_is() {
    let mut model = Sequential::new(&[6])
        .add(DenseSpec::new(8))
        .add(bn())
        .add(LayerSpec::activation(Activation::Relu))
        .add(bn())
        .add(LayerSpec::dropout(0.1))
        .add(DenseSpec::new(3).activation(Activation::Softmax))
        .build(4)
        .unwrap();
    model
        .compile(
            Box::new(Sgd::new(0.05).unwrap()),
            Loss::SparseCategoricalCrossentropy,
            &[],
        )
        .unwrap();
    let mut x = pseudo_random(&[32, 6], 31, 3.0);
    x.data_mut().iter_mut().for_each(|v| *v += 1.0);
    let y = Targets::Classes((0..32).map(|i| (i % 3) as u32).collect());
    for _ in 0..100 {
        model.train_step(&x, &y, &mut []).unwrap();
    }
    let (mut folded, count) = model.fold_batch_norm().unwrap();
    assert_eq!(count, 1);
    let classes: Vec<&str> = folded.layers().iter().map(|l| l.class_name()).collect();
    assert_eq!(
        classes,
        [
            "Dense",
            "Activation",
            "BatchNormalization",
            "Dropout",
            "Dense"
        ]
    );
    let before = model.predict(&x, 32).unwrap();
    let after = folded.predict(&x, 32).unwrap();
    let worst = before
        .data()
        .iter()
        .zip(after.data())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-5, "largest probability difference {worst}");
}
