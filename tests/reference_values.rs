//! deeptrain against the reference values in ../shared/reference (PyTorch 2.15 / Keras 3.15,
//! float64; the files name the framework and every setting).

mod common;

use common::{assert_close, floats, matrix, reference};
use deeptrain::activations::{softmax_row, Activation};
use deeptrain::{DenseSpec, Loss, Metric, Mode, Sequential, Sgd, Targets, Tensor};

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

fn elu(v: f64) -> f64 {
    if v > 0.0 {
        v
    } else {
        v.exp_m1()
    }
}

/// The Dense parts of dense_bn_elu_net.json (torch, float64): the first Dense layer's output
/// feeds batch norm and ELU (computed here in f64 from the file's formula), and the top Dense
/// layer with softmax cross-entropy must reproduce the logits, the loss and the W2, b2 gradients.
#[test]
fn dense_layers_match_torch_network() {
    let r = reference("dense_bn_elu_net.json");
    let x = matrix(&r["X"]);
    let labels: Vec<u32> = floats(&r["y"]).iter().map(|&v| v as u32).collect();
    let (w1, b1, w2, b2) = (
        matrix(&r["W1"]),
        floats(&r["b1"]),
        matrix(&r["W2"]),
        floats(&r["b2"]),
    );
    let (gamma, beta) = (floats(&r["gamma"]), floats(&r["beta"]));

    // First Dense layer, linear: h = X W1 + b1.
    let mut first = Sequential::new(&[5])
        .add(DenseSpec::new(4))
        .build(0)
        .unwrap();
    first.layers_mut()[0].params_mut()[0].value = w1.clone();
    first.layers_mut()[0].params_mut()[1].value =
        Tensor::from_vec(b1.iter().map(|&v| v as f32).collect(), &[4]);
    first
        .compile(
            Box::new(Sgd::new(0.1).unwrap()),
            Loss::MeanSquaredError,
            &[],
        )
        .unwrap();
    let h = first.predict(&x, 8).unwrap();
    let batch_mean = floats(&r["batch_mean"]);
    for (j, expected_mean) in batch_mean.iter().enumerate() {
        let mean: f64 = (0..8).map(|i| h.row(i)[j] as f64).sum::<f64>() / 8.0;
        assert!((mean - expected_mean).abs() < 1e-6, "batch mean of h[{j}]");
    }
    // Batch norm (training mode, biased variance, eps = 1e-3) and ELU, in f64.
    let var = floats(&r["batch_var_biased"]);
    let mut a = Tensor::zeros(&[8, 4]);
    for i in 0..8 {
        for j in 0..4 {
            let hn = (h.row(i)[j] as f64 - batch_mean[j]) / (var[j] + 1e-3).sqrt();
            a.data_mut()[i * 4 + j] = elu(gamma[j] * hn + beta[j]) as f32;
        }
    }

    let mut top = Sequential::new(&[4])
        .add(DenseSpec::new(3).activation(Activation::Softmax))
        .build(0)
        .unwrap();
    top.layers_mut()[0].params_mut()[0].value = w2;
    top.layers_mut()[0].params_mut()[1].value =
        Tensor::from_vec(b2.iter().map(|&v| v as f32).collect(), &[3]);
    top.compile(
        Box::new(Sgd::new(0.1).unwrap()),
        Loss::SparseCategoricalCrossentropy,
        &[],
    )
    .unwrap();
    let (loss, _) = top
        .compute_gradients(&a, &Targets::Classes(labels), Mode::Train)
        .unwrap();
    assert!(
        (loss - r["loss"].as_f64().unwrap()).abs() < 1e-5,
        "loss {loss}"
    );
    let logits = top.layers()[0].logits().unwrap();
    let expected_logits: Vec<f64> = r["logits"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(floats)
        .collect();
    assert_close(logits.data(), &expected_logits, 1e-5, 1e-5, "logits");
    let params = top.layers()[0].params();
    let gw2: Vec<f64> = r["grads"]["W2"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(floats)
        .collect();
    assert_close(params[0].grad.data(), &gw2, 1e-4, 1e-6, "dL/dW2");
    assert_close(
        params[1].grad.data(),
        &floats(&r["grads"]["b2"]),
        1e-4,
        1e-6,
        "dL/db2",
    );
}
