//! Dense on inputs of rank > 2, applied to the last axis as Keras' `Dense` (x (N, T, F) →
//! (N, T, units), every step sharing the kernel), with layer normalization, activation and
//! dropout layers on the same (N, T, F) sequences: PyTorch's values, finite differences,
//! save/load.

mod common;

use common::{assert_close, pseudo_random, reference};
use deeptrain::layers::{Dense, Layer, LayerNormSpec};
use deeptrain::{
    Activation, DenseSpec, Initializer, LayerSpec, Loss, Mode, Sequential, Sgd, Targets, Tensor,
};

/// Every number of a nested JSON array, in row-major order (any depth).
fn nested(v: &serde_json::Value) -> Vec<f64> {
    match v.as_array() {
        Some(items) => items.iter().flat_map(nested).collect(),
        None => vec![v.as_f64().expect("a number")],
    }
}

fn f32s(v: &serde_json::Value) -> Vec<f32> {
    nested(v).into_iter().map(|v| v as f32).collect()
}

/// conv1d.json "dense_3d" (torch 2.15, float64, tests/reference/gen_conv1d.py):
/// tanh(x·W + b) on x (2, 3, 4), W (4, 5), and the gradients of L = Σ y·w.
#[test]
fn dense_on_a_sequence_matches_torch() {
    let r = &reference("conv1d.json")["dense_3d"];
    let mut layer = Dense::from_spec(DenseSpec::new(5).activation(Activation::Tanh));
    let mut rng = <deeptrain::Rng as rand::SeedableRng>::seed_from_u64(0);
    assert_eq!(layer.build(&[3, 4], &mut rng).unwrap(), vec![3, 5]);
    assert_eq!(
        layer.params()[0].value.shape(),
        &[4, 5],
        "kernel (F, units)"
    );
    layer.params_mut()[0].value = Tensor::from_vec(f32s(&r["kernel"]), &[4, 5]);
    layer.params_mut()[1].value = Tensor::from_vec(f32s(&r["bias"]), &[5]);
    let x = Tensor::from_vec(f32s(&r["x"]), &[2, 3, 4]);
    let mut y = Tensor::default();
    layer.forward(&x, &mut y, Mode::Train);
    assert_eq!(y.shape(), &[2, 3, 5]);
    assert_close(y.data(), &nested(&r["y"]), 1e-5, 1e-6, "y");
    let w = Tensor::from_vec(f32s(&r["w"]), &[2, 3, 5]);
    let mut dx = Tensor::default();
    layer.backward(&x, &y, &w, Some(&mut dx));
    assert_eq!(dx.shape(), &[2, 3, 4]);
    assert_close(dx.data(), &nested(&r["dx"]), 1e-5, 1e-6, "dx");
    let grads = layer.params();
    assert_close(
        grads[0].grad().expect("a stored gradient").data(),
        &nested(&r["dkernel"]),
        1e-5,
        1e-6,
        "dW",
    );
    assert_close(
        grads[1].grad().expect("a stored gradient").data(),
        &nested(&r["dbias"]),
        1e-5,
        1e-6,
        "db",
    );
}

fn compiled(input: &[usize], layers: Vec<LayerSpec>, loss: Loss) -> Sequential {
    let mut model = Sequential::from_specs(input, &layers, 7).unwrap();
    model
        .compile(Box::new(Sgd::new(0.1).unwrap()), loss, &[])
        .unwrap();
    model
}

/// Finite differences through dense (on every step) → layer normalization over the last axis
/// (Keras' epsilon 1e-3) → ELU activation layer → dense → flatten → softmax, on (6, 4, 3)
/// sequences: every parameter and the input.
#[test]
fn dense_and_layer_norm_on_sequences_match_finite_differences() {
    let layers = vec![
        DenseSpec::new(5)
            .activation(Activation::Tanh)
            .bias_initializer(Initializer::Constant { value: 0.1 })
            .into(),
        LayerNormSpec::default()
            .gamma_initializer(Initializer::Constant { value: 1.2 })
            .beta_initializer(Initializer::Constant { value: -0.1 })
            .into(),
        LayerSpec::activation(Activation::Elu { alpha: 1.0 }),
        DenseSpec::new(2).into(),
        LayerSpec::flatten(),
        DenseSpec::new(3).activation(Activation::Softmax).into(),
    ];
    let model = compiled(&[4, 3], layers, Loss::SparseCategoricalCrossentropy);
    assert_eq!(
        model.output_shapes(),
        vec![
            vec![4, 5],
            vec![4, 5],
            vec![4, 5],
            vec![4, 2],
            vec![8],
            vec![3]
        ]
    );
    let x = pseudo_random(&[6, 4, 3], 5, 1.5);
    let y = Targets::Classes(vec![0, 2, 1, 1, 0, 2]);
    common::check_gradients(Mode::Train, model, x, y, "dense on sequences");
}

/// A sequence-to-sequence regression: dense on every step is the output, (N, T, 1) against
/// targets of T values per sample, under mean squared error.
#[test]
fn dense_on_every_step_as_the_output_matches_finite_differences() {
    let layers = vec![
        DenseSpec::new(4).activation(Activation::Tanh).into(),
        DenseSpec::new(1).into(),
    ];
    let model = compiled(&[5, 2], layers, Loss::MeanSquaredError);
    assert_eq!(model.output_shapes().last().unwrap(), &[5, 1]);
    let x = pseudo_random(&[3, 5, 2], 9, 1.0);
    let t = Targets::Values(pseudo_random(&[3, 5], 4, 1.0));
    common::check_gradients(Mode::Train, model, x, t, "dense seq2seq");
}

/// Dropout and activation layers keep an (N, T, F) shape; dropout drops single values (not
/// whole steps) and scales the rest by 1 / (1 - rate).
#[test]
fn dropout_and_activation_pass_sequences_through() {
    let mut rng = <deeptrain::Rng as rand::SeedableRng>::seed_from_u64(3);
    let mut dropout = LayerSpec::dropout(0.5).instantiate().unwrap();
    let mut relu = LayerSpec::activation(Activation::Relu)
        .instantiate()
        .unwrap();
    assert_eq!(dropout.build(&[10, 8], &mut rng).unwrap(), vec![10, 8]);
    assert_eq!(relu.build(&[10, 8], &mut rng).unwrap(), vec![10, 8]);
    let x = Tensor::from_vec(vec![1.0; 4 * 80], &[4, 10, 8]);
    let (mut dropped, mut y) = (Tensor::default(), Tensor::default());
    dropout.forward(&x, &mut dropped, Mode::Train);
    relu.forward(&dropped, &mut y, Mode::Train);
    assert_eq!(y.shape(), &[4, 10, 8]);
    assert!(y.data().iter().all(|&v| v == 0.0 || v == 2.0));
    let zeros = y.data().iter().filter(|&&v| v == 0.0).count();
    assert!((100..220).contains(&zeros), "{zeros} of 320 dropped");
    dropout.forward(&x, &mut dropped, Mode::Infer);
    assert_eq!(dropped, x);
}

/// A model with dense layers on sequences saves and loads with the same predictions and
/// the same kernel shapes.
#[test]
fn dense_on_sequences_saves_and_loads() {
    let layers = vec![
        DenseSpec::new(3).activation(Activation::Relu).into(),
        LayerNormSpec::default().into(),
        LayerSpec::flatten(),
        DenseSpec::new(2).activation(Activation::Softmax).into(),
    ];
    let model = compiled(&[6, 4], layers, Loss::SparseCategoricalCrossentropy);
    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path()).unwrap();
    let (mut loaded, file) = Sequential::load(dir.path()).unwrap();
    assert_eq!(file.layers, model.layer_specs());
    assert_eq!(loaded.layers()[0].params()[0].value.shape(), &[4, 3]);
    let x = pseudo_random(&[5, 6, 4], 2, 1.0);
    let mut model = model;
    assert_eq!(
        loaded.predict(&x, 2).unwrap(),
        model.predict(&x, 2).unwrap()
    );
}
