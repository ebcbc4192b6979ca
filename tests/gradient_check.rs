//! Finite-difference gradient checks of every layer, activation and loss.
//!
//! Central differences (f(θ+ε) - f(θ-ε)) / 2ε in f32 with ε = 1e-3 on smooth, well-scaled
//! problems; analytic and numeric gradients must agree to a relative 2e-2 (f32 rounding in the
//! loss dominates the difference).

mod common;

use common::pseudo_random;
use deeptrain::activations::Activation;
use deeptrain::init::Initializer;
use deeptrain::{DenseSpec, LayerSpec, Loss, Mode, Sequential, Sgd, Targets, Tensor};

const EPS: f32 = 1e-3;

fn close(analytic: f32, numeric: f32) -> bool {
    (analytic - numeric).abs() <= 2e-2 * numeric.abs().max(analytic.abs()) + 2e-4
}

/// Checks every parameter and the input gradient of `model` on (x, targets).
fn check_model(mut model: Sequential, x: Tensor, targets: Targets, what: &str) {
    let (_, dx) = model.compute_gradients(&x, &targets, Mode::Train).unwrap();
    let analytic: Vec<Vec<Vec<f32>>> = model
        .layers()
        .iter()
        .map(|l| l.params().iter().map(|p| p.grad.data().to_vec()).collect())
        .collect();
    let loss_at = |model: &mut Sequential, x: &Tensor| {
        model.compute_gradients(x, &targets, Mode::Train).unwrap().0 as f32
    };
    for (li, layer_grads) in analytic.iter().enumerate() {
        for (pi, grads) in layer_grads.iter().enumerate() {
            for (k, &g) in grads.iter().enumerate() {
                let original = model.layers()[li].params()[pi].value.data()[k];
                model.layers_mut()[li].params_mut()[pi].value.data_mut()[k] = original + EPS;
                let plus = loss_at(&mut model, &x);
                model.layers_mut()[li].params_mut()[pi].value.data_mut()[k] = original - EPS;
                let minus = loss_at(&mut model, &x);
                model.layers_mut()[li].params_mut()[pi].value.data_mut()[k] = original;
                let numeric = (plus - minus) / (2.0 * EPS);
                assert!(
                    close(g, numeric),
                    "{what}: layer {li} param {pi}[{k}]: analytic {g}, numeric {numeric}"
                );
            }
        }
    }
    let mut x_var = x.clone();
    for k in 0..x.len() {
        let original = x.data()[k];
        x_var.data_mut()[k] = original + EPS;
        let plus = loss_at(&mut model, &x_var);
        x_var.data_mut()[k] = original - EPS;
        let minus = loss_at(&mut model, &x_var);
        x_var.data_mut()[k] = original;
        let numeric = (plus - minus) / (2.0 * EPS);
        assert!(
            close(dx.data()[k], numeric),
            "{what}: input[{k}]: analytic {}, numeric {numeric}",
            dx.data()[k]
        );
    }
}

fn build(input: &[usize], layers: Vec<LayerSpec>, loss: Loss) -> Sequential {
    let mut model = Sequential::from_specs(input, &layers, 7).unwrap();
    model
        .compile(Box::new(Sgd::new(0.1).unwrap()), loss, &[])
        .unwrap();
    model
}

fn dense(units: usize, activation: Activation) -> LayerSpec {
    // Glorot weights keep pre-activations away from ReLU's kink at this scale; a nonzero bias
    // checks the bias gradient against a non-trivial value.
    LayerSpec::Dense(DenseSpec {
        bias_initializer: Initializer::Ones,
        ..DenseSpec::new(units).activation(activation)
    })
}

#[test]
fn dense_with_each_activation_and_softmax_cross_entropy() {
    for act in [
        Activation::Linear,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Relu,
        Activation::Softmax,
    ] {
        let model = build(
            &[3, 2],
            vec![
                LayerSpec::flatten(),
                dense(5, act),
                dense(4, Activation::Softmax),
            ],
            Loss::SparseCategoricalCrossentropy,
        );
        let x = pseudo_random(&[6, 3, 2], 1, 1.0);
        check_model(
            model,
            x,
            Targets::Classes(vec![0, 3, 1, 2, 3, 0]),
            act.name(),
        );
    }
}

#[test]
fn activation_layers_on_their_own() {
    for act in Activation::ALL {
        let layers = vec![
            dense(5, Activation::Linear),
            LayerSpec::activation(act),
            dense(3, Activation::Linear),
        ];
        let model = build(&[4], layers, Loss::MeanSquaredError);
        let x = pseudo_random(&[5, 4], 2, 1.0);
        let y = pseudo_random(&[5, 3], 3, 1.0);
        check_model(model, x, Targets::Values(y), act.name());
    }
}

#[test]
fn every_loss_fused_and_unfused() {
    let x = pseudo_random(&[6, 4], 4, 1.0);
    let one_hot = {
        let mut t = Tensor::zeros(&[6, 3]);
        for (i, c) in [0, 2, 1, 1, 0, 2].into_iter().enumerate() {
            t.data_mut()[i * 3 + c] = 1.0;
        }
        t
    };
    let binary = Tensor::from_vec(
        (0..18).map(|i| ((i * 7) % 3 == 0) as u8 as f32).collect(),
        &[6, 3],
    );
    let cases: Vec<(Loss, Vec<LayerSpec>, Targets, &str)> = vec![
        (
            Loss::SparseCategoricalCrossentropy,
            vec![dense(3, Activation::Softmax)],
            Targets::Classes(vec![0, 2, 1, 1, 0, 2]),
            "sparse CE fused",
        ),
        (
            Loss::SparseCategoricalCrossentropy,
            vec![
                dense(3, Activation::Linear),
                LayerSpec::activation(Activation::Softmax),
            ],
            Targets::Classes(vec![0, 2, 1, 1, 0, 2]),
            "sparse CE fused through an Activation layer",
        ),
        (
            Loss::CategoricalCrossentropy,
            vec![dense(3, Activation::Softmax)],
            Targets::Values(one_hot.clone()),
            "CE fused",
        ),
        (
            Loss::BinaryCrossentropy,
            vec![dense(3, Activation::Sigmoid)],
            Targets::Values(binary.clone()),
            "BCE fused",
        ),
        (
            Loss::MeanSquaredError,
            vec![dense(3, Activation::Tanh)],
            Targets::Values(pseudo_random(&[6, 3], 5, 1.0)),
            "MSE",
        ),
        // Unfused: the probabilities come out of an activation the loss cannot absorb.
        (
            Loss::CategoricalCrossentropy,
            vec![
                dense(3, Activation::Softmax),
                LayerSpec::activation(Activation::Linear),
            ],
            Targets::Values(one_hot),
            "CE from probabilities",
        ),
        (
            Loss::SparseCategoricalCrossentropy,
            vec![
                dense(3, Activation::Softmax),
                LayerSpec::activation(Activation::Linear),
            ],
            Targets::Classes(vec![0, 2, 1, 1, 0, 2]),
            "sparse CE from probabilities",
        ),
        (
            Loss::BinaryCrossentropy,
            vec![
                dense(3, Activation::Sigmoid),
                LayerSpec::activation(Activation::Linear),
            ],
            Targets::Values(binary),
            "BCE from probabilities",
        ),
    ];
    for (loss, layers, targets, what) in cases {
        check_model(build(&[4], layers, loss), x.clone(), targets, what);
    }
}

#[test]
fn deep_relu_stack_with_he_init() {
    let layers = (0..4)
        .map(|_| {
            LayerSpec::Dense(
                DenseSpec::new(6)
                    .activation(Activation::Relu)
                    .kernel_initializer(Initializer::HE_NORMAL),
            )
        })
        .chain(std::iter::once(dense(3, Activation::Softmax)))
        .collect();
    let model = build(&[5], layers, Loss::SparseCategoricalCrossentropy);
    check_model(
        model,
        pseudo_random(&[4, 5], 8, 1.0),
        Targets::Classes(vec![2, 0, 1, 2]),
        "deep relu",
    );
}
