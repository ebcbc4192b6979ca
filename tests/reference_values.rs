//! deeptrain against the reference values in tests/reference (PyTorch 2.15 / Keras 3.15,
//! float64; the files name the framework and every setting).

mod common;

use common::{assert_close, floats, matrix, reference};
use deeptrain::activations::{softmax_row, Activation};
use deeptrain::layers::BatchNormSpec;
use deeptrain::{DenseSpec, LayerSpec, Loss, Metric, Mode, Sequential, Sgd, Targets};

/// f(x) and f'(x) on the grid of activations.json (torch 2.15 autograd, float64) for every
/// element-wise activation; the derivative is computed from x or y as the layers do.
#[test]
fn activations_match_torch_values_and_derivatives() {
    let r = reference("activations.json");
    let x: Vec<f32> = floats(&r["x"]).into_iter().map(|v| v as f32).collect();
    for (name, act) in [
        ("sigmoid", Activation::Sigmoid),
        ("tanh", Activation::Tanh),
        ("relu", Activation::Relu),
        ("leaky_relu_0.2", Activation::LeakyRelu { alpha: 0.2 }),
        ("elu_1.0", Activation::Elu { alpha: 1.0 }),
        ("selu", Activation::Selu),
        ("gelu_exact", Activation::Gelu),
        ("gelu_tanh", Activation::GeluTanh),
        ("swish_silu", Activation::Swish),
        ("mish", Activation::Mish),
        ("softplus", Activation::Softplus),
        ("softsign", Activation::Softsign),
        ("hard_sigmoid_keras", Activation::HardSigmoid),
    ] {
        let f = floats(&r["activations"][name]["f"]);
        let df = floats(&r["activations"][name]["df"]);
        let mut y = x.clone();
        act.forward_in_place(&mut y, 1);
        assert_close(&y, &f, 2e-6, 1e-7, name);
        let mut grad = vec![1.0; x.len()];
        act.backward_in_place(&x, &y, &mut grad, 1);
        // Derivatives from y (ELU, SELU, softplus) lose a few ulps of y near saturation.
        assert_close(&grad, &df, 1e-5, 2e-7, &format!("{name}'"));
    }
}

/// The SELU constants against the reference's (Klambauer et al., as torch has them).
#[test]
fn selu_constants_match_torch() {
    let r = reference("activations.json");
    let alpha = r["selu_constants"]["alpha"].as_f64().unwrap();
    let scale = r["selu_constants"]["scale"].as_f64().unwrap();
    assert!((deeptrain::activations::SELU_ALPHA as f64 - alpha).abs() < 1e-7);
    assert!((deeptrain::activations::SELU_SCALE as f64 - scale).abs() < 1e-7);
}

#[test]
fn softmax_rows_match_torch_including_a_1000_logit() {
    let r = reference("activations.json");
    let z = matrix(&r["softmax_rows"]["z"]);
    let expected = matrix(&r["softmax_rows"]["softmax"]);
    for i in 0..z.rows() {
        let mut y = vec![0.0; z.row_len()];
        softmax_row(z.row(i), &mut y);
        let e: Vec<f64> = expected.row(i).iter().map(|&v| v as f64).collect();
        assert_close(&y, &e, 1e-6, 1e-7, "softmax");
        assert!(y.iter().all(|v| v.is_finite()));
    }
}

/// losses.json: MSE and binary cross-entropy with logits (torch).
#[test]
fn losses_match_torch() {
    let r = reference("losses.json");
    let y_true = matrix(&r["y_true"]);
    let y_pred = matrix(&r["y_pred"]);
    let targets = Targets::Values(y_true.clone());
    let mse = Loss::MeanSquaredError.compute(&y_pred, None, &targets, None);
    assert!((mse - r["mse"].as_f64().unwrap()).abs() < 1e-6, "mse {mse}");
    let mae = Metric::MeanAbsoluteError.batch_sum(&y_pred, &targets) / y_pred.rows() as f64;
    assert!((mae - r["mae"].as_f64().unwrap()).abs() < 1e-6, "mae {mae}");
    // With logits: y_pred holds logits here, and the probabilities are their sigmoids.
    let mut probs = y_pred.clone();
    Activation::Sigmoid.forward_in_place(probs.data_mut(), 2);
    let bce = Loss::BinaryCrossentropy.compute(&probs, Some(&y_pred), &targets, None);
    assert!(
        (bce - r["bce_with_logits"].as_f64().unwrap()).abs() < 1e-6,
        "bce {bce}"
    );
    // From probabilities (Keras' path, clipped at 1e-7) the value is the same for these inputs.
    let bce_probs = Loss::BinaryCrossentropy.compute(&probs, None, &targets, None);
    assert!(
        (bce_probs - r["bce_with_logits"].as_f64().unwrap()).abs() < 1e-5,
        "bce {bce_probs}"
    );
}

fn flat(v: &serde_json::Value) -> Vec<f64> {
    match v.as_array() {
        Some(rows) if rows.first().is_some_and(|r| r.is_array()) => {
            rows.iter().flat_map(floats).collect()
        }
        _ => floats(v),
    }
}

/// The whole of dense_bn_elu_net.json (torch 2.15, float64): Dense -> BatchNormalization
/// (training mode, biased batch variance, eps 1e-3) -> ELU -> Dense -> softmax cross-entropy.
/// Logits, loss, every parameter gradient (W1, b1, gamma, beta, W2, b2) and the moving
/// statistics after one training pass with Keras' momentum 0.99 must match.
#[test]
fn dense_batch_norm_elu_network_matches_torch() {
    let r = reference("dense_bn_elu_net.json");
    let x = matrix(&r["X"]);
    let labels: Vec<u32> = floats(&r["y"]).iter().map(|&v| v as u32).collect();
    let mut model = Sequential::new(&[5])
        .add(DenseSpec::new(4))
        .add(LayerSpec::new(BatchNormSpec {
            momentum: 0.99,
            epsilon: 1e-3,
            ..BatchNormSpec::default()
        }))
        .add(LayerSpec::activation(Activation::Elu { alpha: 1.0 }))
        .add(DenseSpec::new(3).activation(Activation::Softmax))
        .build(0)
        .unwrap();
    let set = |model: &mut Sequential, layer: usize, param: usize, key: &str| {
        let p = &mut model.layers_mut()[layer].params_mut()[param];
        let values: Vec<f32> = flat(&r[key]).into_iter().map(|v| v as f32).collect();
        assert_eq!(values.len(), p.value.len(), "{key}");
        p.value.data_mut().copy_from_slice(&values);
    };
    for (layer, param, key) in [
        (0, 0, "W1"),
        (0, 1, "b1"),
        (1, 0, "gamma"),
        (1, 1, "beta"),
        (3, 0, "W2"),
        (3, 1, "b2"),
    ] {
        set(&mut model, layer, param, key);
    }
    model
        .compile(
            Box::new(Sgd::new(0.1).unwrap()),
            Loss::SparseCategoricalCrossentropy,
            &[],
        )
        .unwrap();
    let (loss, _) = model
        .compute_gradients(&x, &Targets::Classes(labels), Mode::Train)
        .unwrap();
    assert!(
        (loss - r["loss"].as_f64().unwrap()).abs() < 1e-5,
        "loss {loss}"
    );
    let logits = model.layers()[3].logits().unwrap();
    assert_close(logits.data(), &flat(&r["logits"]), 1e-5, 1e-5, "logits");
    for (layer, param, key) in [
        (0, 0, "W1"),
        (0, 1, "b1"),
        (1, 0, "gamma"),
        (1, 1, "beta"),
        (3, 0, "W2"),
        (3, 1, "b2"),
    ] {
        let grad = model.layers()[layer].params()[param]
            .grad()
            .expect("a stored gradient")
            .data();
        assert_close(
            grad,
            &flat(&r["grads"][key]),
            1e-4,
            1e-6,
            &format!("dL/d{key}"),
        );
    }
    let stats = &r["running_stats_after_one_step_keras_momentum_0.99"];
    let bn = &model.layers()[1];
    assert_close(
        bn.state()[0].value.data(),
        &floats(&stats["moving_mean"]),
        1e-5,
        1e-7,
        "moving_mean",
    );
    assert_close(
        bn.state()[1].value.data(),
        &floats(&stats["moving_var_keras_biased"]),
        1e-6,
        1e-7,
        "moving_variance",
    );
}

/// The whole of conv_net.json (torch 2.15, float64, stored channels last): conv 3×3 "same" →
/// batch norm over channels (training mode) → ReLU → max pool 2 → conv 2×2 "valid" → flatten
/// → Dense → softmax cross-entropy. Every stage's output, the logits, the loss, and the
/// gradients of every parameter and of the input must match.
#[test]
fn conv_batch_norm_pool_network_matches_torch() {
    use deeptrain::layers::{Conv2dSpec, Padding};
    let r = reference("conv_net.json");
    let as_f32 = |key: &serde_json::Value| -> Vec<f32> {
        nested(key).into_iter().map(|v| v as f32).collect()
    };
    let x = deeptrain::Tensor::from_vec(as_f32(&r["X"]), &[3, 6, 6, 2]);
    let labels: Vec<u32> = floats(&r["y"]).iter().map(|&v| v as u32).collect();
    let mut model = Sequential::new(&[6, 6, 2])
        .add(Conv2dSpec::new(3, 3).padding(Padding::Same))
        .add(BatchNormSpec::default().epsilon(1e-3))
        .add(LayerSpec::activation(Activation::Relu))
        .add(LayerSpec::max_pooling2d(2))
        .add(Conv2dSpec::new(4, 2))
        .add(LayerSpec::flatten())
        .add(DenseSpec::new(3).activation(Activation::Softmax))
        .build(0)
        .unwrap();
    let params = [
        (0, 0, "K1"),
        (0, 1, "b1"),
        (1, 0, "gamma"),
        (1, 1, "beta"),
        (4, 0, "K2"),
        (4, 1, "b2"),
        (6, 0, "W3"),
        (6, 1, "b3"),
    ];
    for (layer, param, key) in params {
        let p = &mut model.layers_mut()[layer].params_mut()[param];
        let values = as_f32(&r[key]);
        assert_eq!(values.len(), p.value.len(), "{key}");
        p.value.data_mut().copy_from_slice(&values);
    }
    model
        .compile(
            Box::new(Sgd::new(0.1).unwrap()),
            Loss::SparseCategoricalCrossentropy,
            &[],
        )
        .unwrap();
    let (loss, dx) = model
        .compute_gradients(&x, &Targets::Classes(labels), Mode::Train)
        .unwrap();
    assert!(
        (loss - r["loss"].as_f64().unwrap()).abs() < 1e-5,
        "loss {loss} against {}",
        r["loss"]
    );
    for (layer, key) in [(0, "conv1_output"), (3, "pool_output"), (4, "conv2_output")] {
        let output = &model.last_outputs()[layer];
        assert_close(output.data(), &nested(&r[key]), 1e-4, 1e-5, key);
    }
    let logits = model.layers()[6].logits().unwrap();
    assert_close(logits.data(), &nested(&r["logits"]), 1e-4, 1e-5, "logits");
    for (layer, param, key) in params {
        let grad = model.layers()[layer].params()[param]
            .grad()
            .expect("a stored gradient")
            .data();
        assert_close(
            grad,
            &nested(&r["grads"][key]),
            1e-3,
            1e-5,
            &format!("dL/d{key}"),
        );
    }
    assert_close(dx.data(), &nested(&r["grads"]["X"]), 1e-3, 1e-5, "dL/dX");
}

/// Every number of a nested JSON array, in row-major order (any depth).
fn nested(v: &serde_json::Value) -> Vec<f64> {
    match v.as_array() {
        Some(items) => items.iter().flat_map(nested).collect(),
        None => vec![v.as_f64().expect("a number")],
    }
}

/// layer_norm.json "layer" (torch 2.15 F.layer_norm over the last axis, eps 1e-3 as Keras,
/// float64): y and, for L = Σ y·w, dL/dx, dL/dγ, dL/dβ on a (2, 3, 4) input.
#[test]
fn layer_norm_forward_and_gradients_match_torch() {
    use deeptrain::layers::{Layer, LayerNormSpec, LayerNormalization};
    let r = &reference("layer_norm.json")["layer"];
    let tensor = |key: &str| {
        let v: Vec<f32> = nested(&r[key]).into_iter().map(|v| v as f32).collect();
        let shape = if v.len() == 4 { vec![4] } else { vec![2, 3, 4] };
        deeptrain::Tensor::from_vec(v, &shape)
    };
    let mut layer = LayerNormalization::from_spec(LayerNormSpec::default());
    let mut rng = <deeptrain::Rng as rand::SeedableRng>::seed_from_u64(0);
    layer.build(&[3, 4], &mut rng).unwrap();
    layer.params_mut()[0].value = tensor("gamma");
    layer.params_mut()[1].value = tensor("beta");
    let x = tensor("x");
    let mut y = deeptrain::Tensor::default();
    layer.forward(&x, &mut y, Mode::Train);
    assert_close(y.data(), &nested(&r["y"]), 1e-5, 1e-6, "y");
    let mut dx = deeptrain::Tensor::default();
    layer.backward(&x, &y, &tensor("w"), Some(&mut dx));
    assert_close(dx.data(), &nested(&r["dx"]), 1e-4, 1e-5, "dL/dx");
    let grad = |i: usize| {
        layer.params()[i]
            .grad()
            .expect("a stored gradient")
            .data()
            .to_vec()
    };
    assert_close(&grad(0), &nested(&r["dgamma"]), 1e-5, 1e-6, "dL/dgamma");
    assert_close(&grad(1), &nested(&r["dbeta"]), 1e-5, 1e-6, "dL/dbeta");
}

/// layer_norm.json "network" (torch 2.15, float64): Dense -> LayerNormalization (eps 1e-3) ->
/// ELU -> Dense -> softmax cross-entropy; logits, loss and every parameter gradient.
#[test]
fn dense_layer_norm_elu_network_matches_torch() {
    use deeptrain::layers::LayerNormSpec;
    let r = &reference("layer_norm.json")["network"];
    let x = matrix(&r["X"]);
    let labels: Vec<u32> = floats(&r["y"]).iter().map(|&v| v as u32).collect();
    let mut model = Sequential::new(&[5])
        .add(DenseSpec::new(4))
        .add(LayerNormSpec::default())
        .add(LayerSpec::activation(Activation::Elu { alpha: 1.0 }))
        .add(DenseSpec::new(3).activation(Activation::Softmax))
        .build(0)
        .unwrap();
    let keys = [
        (0, 0, "W1"),
        (0, 1, "b1"),
        (1, 0, "gamma"),
        (1, 1, "beta"),
        (3, 0, "W2"),
        (3, 1, "b2"),
    ];
    for (layer, param, key) in keys {
        let p = &mut model.layers_mut()[layer].params_mut()[param];
        let values: Vec<f32> = flat(&r[key]).into_iter().map(|v| v as f32).collect();
        assert_eq!(values.len(), p.value.len(), "{key}");
        p.value.data_mut().copy_from_slice(&values);
    }
    model
        .compile(
            Box::new(Sgd::new(0.1).unwrap()),
            Loss::SparseCategoricalCrossentropy,
            &[],
        )
        .unwrap();
    let (loss, _) = model
        .compute_gradients(&x, &Targets::Classes(labels), Mode::Train)
        .unwrap();
    assert!(
        (loss - r["loss"].as_f64().unwrap()).abs() < 1e-5,
        "loss {loss}"
    );
    let logits = model.layers()[3].logits().unwrap();
    assert_close(logits.data(), &flat(&r["logits"]), 1e-5, 1e-5, "logits");
    for (layer, param, key) in keys {
        let grad = model.layers()[layer].params()[param]
            .grad()
            .expect("a stored gradient")
            .data();
        assert_close(
            grad,
            &flat(&r["grads"][key]),
            1e-4,
            1e-6,
            &format!("dL/d{key}"),
        );
    }
}
