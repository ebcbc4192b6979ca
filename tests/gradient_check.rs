//! Finite-difference gradient checks of every layer, activation and loss.
//!
//! Central differences (f(θ+ε) - f(θ-ε)) / 2ε in f32 with ε = 1e-3 on smooth, well-scaled
//! problems; analytic and numeric gradients must agree to a relative 2e-2 (f32 rounding in the
//! loss dominates the difference).

mod common;

use common::pseudo_random;
use deeptrain::activations::Activation;
use deeptrain::init::Initializer;
use deeptrain::layers::{BatchNormSpec, Layer, PreluSpec, RRelu, RreluSpec};
use deeptrain::{DenseSpec, LayerSpec, Loss, Mode, Sequential, Sgd, Targets, Tensor};

/// Checks every parameter and the input gradient of `model` on (x, targets), in training mode.
fn check_model(model: Sequential, x: Tensor, targets: Targets, what: &str) {
    check_model_in(Mode::Train, model, x, targets, what)
}

/// The same check in a given mode (inference, for layers that are random in training).
fn check_model_in(mode: Mode, model: Sequential, x: Tensor, targets: Targets, what: &str) {
    common::check_gradients(mode, model, x, targets, what)
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
    LayerSpec::new(DenseSpec {
        bias_initializer: Initializer::Ones,
        ..DenseSpec::new(units).activation(activation)
    })
}

#[test]
fn dense_with_each_activation_and_softmax_cross_entropy() {
    let with_parameters = [
        Activation::LeakyRelu { alpha: 0.3 },
        Activation::Elu { alpha: 0.5 },
    ];
    for act in Activation::ALL.into_iter().chain(with_parameters) {
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
            &act.to_string(),
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
        // e^x would make the loss large enough for f32 rounding to swamp the difference
        // quotient; smaller inputs keep it near 1.
        let scale = if act == Activation::Exponential {
            0.3
        } else {
            1.0
        };
        let x = pseudo_random(&[5, 4], 2, scale);
        let y = pseudo_random(&[5, 3], 3, 1.0);
        check_model(model, x, Targets::Values(y), &act.to_string());
    }
}

/// Inputs spread over [-3, 3], so that every activation's curved part is exercised.
#[test]
fn activation_layers_typed_in_a_spec_on_wide_inputs() {
    let specs = [
        r#"{ type = "leaky_relu", alpha = 0.3 }"#,
        r#"{ type = "elu", alpha = 1.5 }"#,
        r#"{ type = "activation", activation = "selu" }"#,
        r#"{ type = "activation", activation = "gelu" }"#,
        r#"{ type = "activation", activation = "mish" }"#,
        r#"{ type = "activation", activation = "hard_sigmoid" }"#,
        r#"{ type = "prelu", alpha_initializer = { name = "constant", value = 0.25 } }"#,
    ];
    for text in specs {
        let layer: LayerSpec = toml::from_str(&format!("layer = {text}"))
            .map(|t: toml::Table| t["layer"].clone().try_into().unwrap())
            .unwrap();
        let layers = vec![
            dense(6, Activation::Linear),
            layer,
            dense(3, Activation::Linear),
        ];
        let model = build(&[4], layers, Loss::MeanSquaredError);
        let x = pseudo_random(&[5, 4], 12, 3.0);
        let y = pseudo_random(&[5, 3], 13, 1.0);
        check_model(model, x, Targets::Values(y), text);
    }
}

/// PReLU's slopes are parameters: their gradient is checked like any weight's, starting from
/// slopes that differ per unit.
#[test]
fn prelu_slopes_get_their_gradient() {
    let layers = vec![
        dense(6, Activation::Linear),
        LayerSpec::new(PreluSpec {
            alpha_initializer: Initializer::RandomUniform {
                minval: 0.0,
                maxval: 0.5,
            },
            trainable: true,
        }),
        dense(3, Activation::Softmax),
    ];
    let model = build(&[4], layers, Loss::SparseCategoricalCrossentropy);
    assert_eq!(model.layers()[1].params()[0].value.len(), 6);
    check_model(
        model,
        pseudo_random(&[5, 4], 14, 2.0),
        Targets::Classes(vec![0, 1, 2, 1, 0]),
        "prelu",
    );
}

/// RReLU is deterministic at inference (mean slope), where the finite-difference check applies;
/// in training its backward uses the very slopes its forward drew.
#[test]
fn rrelu_gradient_at_inference_and_with_drawn_slopes() {
    let rrelu = LayerSpec::new(RreluSpec {
        lower: 0.1,
        upper: 0.3,
    });
    let layers = vec![
        dense(6, Activation::Linear),
        rrelu,
        dense(3, Activation::Linear),
    ];
    let x = pseudo_random(&[5, 4], 15, 2.0);
    let y = pseudo_random(&[5, 3], 16, 1.0);
    let model = build(&[4], layers.clone(), Loss::MeanSquaredError);
    check_model_in(Mode::Infer, model, x.clone(), Targets::Values(y), "rrelu");

    let mut layer = RRelu::from_spec(RreluSpec {
        lower: 0.1,
        upper: 0.3,
    });
    let mut rng = <deeptrain::Rng as rand::SeedableRng>::seed_from_u64(1);
    layer.build(&[20], &mut rng).unwrap();
    let input = pseudo_random(&[4, 20], 17, 1.0);
    let mut output = Tensor::default();
    layer.forward(&input, &mut output, Mode::Train);
    let grad_out = pseudo_random(&[4, 20], 18, 1.0);
    let mut dx = Tensor::default();
    layer.backward(&input, &output, &grad_out, Some(&mut dx));
    let slopes = layer.slopes().data();
    let mut distinct = std::collections::BTreeSet::new();
    for (i, (&xv, &a)) in input.data().iter().zip(slopes).enumerate() {
        assert!((0.1..=0.3).contains(&a));
        distinct.insert(a.to_bits());
        let (y_expected, dx_expected) = if xv >= 0.0 {
            (xv, grad_out.data()[i])
        } else {
            (a * xv, a * grad_out.data()[i])
        };
        assert_eq!(output.data()[i], y_expected);
        assert_eq!(dx.data()[i], dx_expected);
    }
    assert!(distinct.len() > 70, "slopes are drawn per element");
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
            Targets::Values(one_hot.clone()),
            "CE from probabilities",
        ),
        // Not a distribution: divided by its sum over the classes first, as Keras does.
        (
            Loss::CategoricalCrossentropy,
            vec![dense(3, Activation::Sigmoid)],
            Targets::Values(one_hot),
            "CE on sigmoid outputs, normalized",
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
            LayerSpec::new(
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

fn batch_norm() -> LayerSpec {
    LayerSpec::new(BatchNormSpec::default())
}

/// Batch norm in each position the textbook uses: on the inputs, after a Dense layer's
/// activation, and between a bias-free Dense layer and its activation; on a multi-axis sample
/// (features on the last axis); and at inference (moving statistics, an affine map).
#[test]
fn batch_norm_in_every_position() {
    let no_bias = |units| {
        LayerSpec::new(DenseSpec {
            use_bias: false,
            ..DenseSpec::new(units)
        })
    };
    let cases: Vec<(&str, Vec<usize>, Vec<LayerSpec>, Mode)> = vec![
        (
            "inputs",
            vec![4],
            vec![batch_norm(), dense(3, Activation::Softmax)],
            Mode::Train,
        ),
        (
            "after the activation",
            vec![4],
            vec![
                dense(5, Activation::Elu { alpha: 1.0 }),
                batch_norm(),
                dense(3, Activation::Softmax),
            ],
            Mode::Train,
        ),
        (
            "before the activation",
            vec![4],
            vec![
                no_bias(5),
                batch_norm(),
                LayerSpec::activation(Activation::Elu { alpha: 1.0 }),
                dense(3, Activation::Softmax),
            ],
            Mode::Train,
        ),
        (
            "multi-axis sample",
            vec![3, 4],
            vec![
                batch_norm(),
                LayerSpec::flatten(),
                dense(3, Activation::Softmax),
            ],
            Mode::Train,
        ),
        (
            "inference",
            vec![4],
            vec![
                dense(5, Activation::Tanh),
                batch_norm(),
                dense(3, Activation::Softmax),
            ],
            Mode::Infer,
        ),
    ];
    for (what, shape, layers, mode) in cases {
        let mut input = vec![6];
        input.extend(&shape);
        let model = build(&shape, layers, Loss::SparseCategoricalCrossentropy);
        check_model_in(
            mode,
            model,
            pseudo_random(&input, 19, 1.5),
            Targets::Classes(vec![0, 1, 2, 1, 0, 2]),
            &format!("batch norm: {what}"),
        );
    }
}

/// L1 and L2 penalties on kernel and bias: their gradient joins the loss's.
#[test]
fn weight_penalties_have_their_gradient() {
    use deeptrain::regularizers::Regularizer;
    let penalized = LayerSpec::new(DenseSpec {
        kernel_regularizer: Some(Regularizer { l1: 0.01, l2: 0.05 }),
        bias_regularizer: Some(Regularizer { l1: 0.0, l2: 0.1 }),
        bias_initializer: Initializer::Ones,
        ..DenseSpec::new(5).activation(Activation::Tanh)
    });
    let model = build(
        &[4],
        vec![penalized, dense(3, Activation::Softmax)],
        Loss::SparseCategoricalCrossentropy,
    );
    check_model(
        model,
        pseudo_random(&[6, 4], 23, 1.0),
        Targets::Classes(vec![0, 1, 2, 1, 0, 2]),
        "penalties",
    );
}

/// Layer normalization (over the last axis) before an activation, on a multi-axis sample, with
/// γ and β moved off their initial ones and zeros (so that their gradients are not trivial),
/// and with `scale` and `center` off.
#[test]
fn layer_norm_gradients() {
    use deeptrain::layers::LayerNormSpec;
    let moved = LayerNormSpec::default()
        .gamma_initializer(Initializer::Constant { value: 1.3 })
        .beta_initializer(Initializer::Constant { value: -0.2 });
    let cases: Vec<(&str, Vec<usize>, Vec<LayerSpec>)> = vec![
        (
            "after a dense layer",
            vec![4],
            vec![
                dense(5, Activation::Linear),
                moved.clone().into(),
                LayerSpec::activation(Activation::Tanh),
                dense(3, Activation::Softmax),
            ],
        ),
        (
            "multi-axis sample",
            vec![3, 4],
            vec![
                moved.clone().into(),
                LayerSpec::flatten(),
                dense(3, Activation::Softmax),
            ],
        ),
        (
            "without scale and center",
            vec![4],
            vec![
                dense(5, Activation::Linear),
                LayerNormSpec::default().scale(false).center(false).into(),
                dense(3, Activation::Softmax),
            ],
        ),
    ];
    for (what, input, layers) in cases {
        let mut shape = vec![6];
        shape.extend(&input);
        let x = pseudo_random(&shape, 31, 1.5);
        let model = build(&input, layers, Loss::SparseCategoricalCrossentropy);
        let y = Targets::Classes(vec![0, 2, 1, 1, 0, 2]);
        check_model(model, x, y, &format!("layer_norm {what}"));
    }
}
