//! The Conv2D layer: finite-difference gradients for every padding, stride and dilation, the
//! forward pass against a direct convolution written here (no im2col), batch normalization over
//! channels and its folding, specs in TOML, save/load and the summary.

mod common;

use common::{check_gradients, pseudo_random};
use deeptrain::init::Initializer;
use deeptrain::layers::{BatchNormSpec, Conv2dSpec, Padding, Size2};
use deeptrain::spec::{Spec, DEFAULT_SPEC};
use deeptrain::{
    Activation, DenseSpec, LayerSpec, Loss, Metric, Mode, Sequential, Sgd, Targets, Tensor,
};

fn compiled(input: &[usize], layers: &[LayerSpec], loss: Loss) -> Sequential {
    let mut model = Sequential::from_specs(input, layers, 7).unwrap();
    model
        .compile(Box::new(Sgd::new(0.05).unwrap()), loss, &[])
        .unwrap();
    model
}

/// A conv with a nonzero bias (so that its gradient is checked against a non-trivial value).
fn conv(filters: usize, kernel: impl Into<Size2>) -> Conv2dSpec {
    Conv2dSpec::new(filters, kernel).bias_initializer(Initializer::Constant { value: 0.1 })
}

/// conv → flatten → dense(3) under MSE: the kernel, bias and input gradients of the conv, on a
/// batch of 2.
fn check_conv(input: &[usize], spec: Conv2dSpec, what: &str) {
    let layers = [spec.into(), LayerSpec::flatten(), DenseSpec::new(3).into()];
    let model = compiled(input, &layers, Loss::MeanSquaredError);
    let x_shape: Vec<usize> = std::iter::once(2).chain(input.iter().copied()).collect();
    let x = pseudo_random(&x_shape, 3, 1.0);
    let y = Targets::Values(pseudo_random(&[2, 3], 4, 1.0));
    check_gradients(Mode::Train, model, x, y, what);
}

#[test]
fn gradients_with_valid_and_same_padding() {
    check_conv(&[5, 6, 2], conv(3, 3), "valid 3x3");
    check_conv(&[5, 6, 2], conv(3, 3).padding(Padding::Same), "same 3x3");
}

#[test]
fn gradients_with_strides() {
    for padding in [Padding::Valid, Padding::Same] {
        check_conv(
            &[7, 6, 2],
            conv(2, 3).strides(2).padding(padding),
            &format!("strides 2 {padding:?}"),
        );
        check_conv(
            &[6, 5, 2],
            conv(2, 3).strides((2, 1)).padding(padding),
            &format!("strides (2, 1) {padding:?}"),
        );
    }
}

#[test]
fn gradients_with_dilation() {
    check_conv(&[7, 7, 2], conv(2, 3).dilation_rate(2), "dilation 2 valid");
    check_conv(
        &[6, 5, 1],
        conv(2, (2, 3)).dilation_rate((2, 1)).padding(Padding::Same),
        "dilation (2, 1) same",
    );
}

#[test]
fn gradients_with_an_even_kernel_and_asymmetric_same_padding() {
    // A 2×4 kernel with `same` pads 0 rows before and 1 after, 1 column before and 2 after.
    check_conv(
        &[4, 5, 2],
        conv(3, (2, 4)).padding(Padding::Same),
        "2x4 same",
    );
    check_conv(
        &[5, 5, 1],
        conv(2, 4).padding(Padding::Same).strides(2),
        "4x4 same /2",
    );
}

#[test]
fn gradients_without_bias_on_one_channel_and_many() {
    check_conv(&[5, 5], conv(2, 3).use_bias(false), "(H, W) input, no bias");
    check_conv(&[4, 4, 5], conv(3, 2), "5 channels");
    check_conv(
        &[4, 3, 3],
        conv(4, 1),
        "1x1 kernel (the input is its own im2col)",
    );
    check_conv(&[5, 4, 3], conv(2, 1).strides(2), "1x1 kernel, strides 2");
}

#[test]
fn gradients_with_a_fused_activation_and_a_stack_of_convs() {
    check_conv(
        &[5, 5, 2],
        conv(3, 3)
            .activation(Activation::Tanh)
            .padding(Padding::Same),
        "tanh",
    );
    check_conv(&[5, 5, 2], conv(3, 3).activation(Activation::Gelu), "gelu");
    // Two convs: the second's input gradient flows through col2im into the first.
    let layers = [
        conv(3, 3)
            .padding(Padding::Same)
            .activation(Activation::Elu { alpha: 1.0 })
            .into(),
        conv(2, 2).strides(2).into(),
        LayerSpec::flatten(),
        DenseSpec::new(2).into(),
    ];
    let model = compiled(&[6, 6, 2], &layers, Loss::MeanSquaredError);
    let x = pseudo_random(&[2, 6, 6, 2], 5, 1.0);
    let y = Targets::Values(pseudo_random(&[2, 2], 6, 1.0));
    check_gradients(Mode::Train, model, x, y, "conv → conv");
}

/// conv → batch_normalization → activation: batch norm on (N, H, W, C) normalizes each
/// channel over N·H·W positions, and its gradients agree with finite differences. The
/// activation is ELU (α = 1, smooth at 0): batch norm centres values on ReLU's kink, where a
/// difference quotient with ε = 1e-3 straddles it (a ReLU run fails at an input by 4%, for the
/// kink, not the rule).
#[test]
fn batch_norm_after_a_conv_normalizes_channels_and_has_correct_gradients() {
    for activation in [Activation::Elu { alpha: 1.0 }] {
        let layers = [
            conv(3, 3).padding(Padding::Same).into(),
            LayerSpec::new(BatchNormSpec {
                momentum: 0.0,
                ..BatchNormSpec::default()
            }),
            LayerSpec::activation(activation),
            LayerSpec::flatten(),
            DenseSpec::new(3).into(),
        ];
        let mut model = compiled(&[3, 4, 2], &layers, Loss::MeanSquaredError);
        let x = pseudo_random(&[2, 3, 4, 2], 8, 1.0);
        // Targets far from the outputs keep dL/dx well above the loss's f32 rounding.
        let y = Targets::Values(pseudo_random(&[2, 3], 9, 4.0));
        model.compute_gradients(&x, &y, Mode::Train).unwrap();
        // With momentum 0 the moving mean is the batch mean of the conv's output, per channel.
        let z = model.last_outputs()[0].data().to_vec();
        let moving_mean = model.layers()[1].state()[0].value.data().to_vec();
        assert_eq!(moving_mean.len(), 3);
        for (c, &m) in moving_mean.iter().enumerate() {
            let values: Vec<f64> = z.iter().skip(c).step_by(3).map(|&v| v as f64).collect();
            assert_eq!(values.len(), 2 * 3 * 4);
            let mean = values.iter().sum::<f64>() / values.len() as f64;
            assert!((m as f64 - mean).abs() < 1e-5, "channel {c}: {m} vs {mean}");
        }
        check_gradients(
            Mode::Train,
            model,
            x,
            y,
            &format!("conv → bn → {activation}"),
        );
    }
}

/// y[n, oy, ox, f] = b_f + Σ_{ky, kx, c} x[n, oy·s + ky·d − pad, ox·s + kx·d − pad, c]·W[ky, kx, c, f],
/// the padding from TensorFlow's rule (⌊total / 2⌋ before), written out directly.
#[allow(clippy::too_many_arguments)]
fn direct_conv(
    x: &[f32],
    (n, h, w, c): (usize, usize, usize, usize),
    kernel: &[f32],
    bias: &[f32],
    (kh, kw, f): (usize, usize, usize),
    (sh, sw): (usize, usize),
    (dh, dw): (usize, usize),
    same: bool,
) -> (Vec<f64>, usize, usize) {
    let axis = |len: usize, k: usize, s: usize, d: usize| -> (usize, i64) {
        let span = (k - 1) * d + 1;
        if same {
            let out = len.div_ceil(s);
            let total = ((out - 1) * s + span).saturating_sub(len);
            (out, (total / 2) as i64)
        } else {
            ((len - span) / s + 1, 0)
        }
    };
    let (oh, pad_h) = axis(h, kh, sh, dh);
    let (ow, pad_w) = axis(w, kw, sw, dw);
    let mut y = vec![0.0f64; n * oh * ow * f];
    for s in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                for o in 0..f {
                    let mut acc = bias.get(o).copied().unwrap_or(0.0) as f64;
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let iy = (oy * sh + ky * dh) as i64 - pad_h;
                            let ix = (ox * sw + kx * dw) as i64 - pad_w;
                            if iy < 0 || ix < 0 || iy >= h as i64 || ix >= w as i64 {
                                continue;
                            }
                            for ci in 0..c {
                                let xv = x[((s * h + iy as usize) * w + ix as usize) * c + ci];
                                let wv = kernel[((ky * kw + kx) * c + ci) * f + o];
                                acc += xv as f64 * wv as f64;
                            }
                        }
                    }
                    y[((s * oh + oy) * ow + ox) * f + o] = acc;
                }
            }
        }
    }
    (y, oh, ow)
}

#[test]
fn forward_matches_a_direct_convolution() {
    let cases = [
        ((7, 6, 3), (3, 3), (1, 1), (1, 1), false),
        ((7, 6, 3), (3, 3), (1, 1), (1, 1), true),
        ((8, 7, 2), (2, 4), (1, 1), (1, 1), true),
        ((9, 8, 2), (3, 2), (2, 3), (1, 1), true),
        ((9, 8, 2), (3, 3), (2, 1), (1, 1), false),
        ((9, 9, 1), (3, 2), (1, 1), (2, 3), false),
        ((9, 9, 2), (3, 3), (1, 1), (2, 2), true),
        ((5, 4, 4), (1, 1), (1, 1), (1, 1), false),
    ];
    let f = 5;
    for (i, ((h, w, c), (kh, kw), (sh, sw), (dh, dw), same)) in cases.into_iter().enumerate() {
        let padding = if same { Padding::Same } else { Padding::Valid };
        let spec = conv(f, (kh, kw))
            .strides((sh, sw))
            .dilation_rate((dh, dw))
            .padding(padding)
            .bias_initializer(Initializer::RandomUniform {
                minval: -1.0,
                maxval: 1.0,
            });
        let mut model = Sequential::from_specs(&[h, w, c], &[spec.into()], 11).unwrap();
        let n = 3;
        let x = pseudo_random(&[n, h, w, c], 20 + i as u64, 1.0);
        let y = model.predict(&x, n).unwrap();
        assert_eq!(model.output_shapes()[0].len(), 3, "case {i}");
        let params = model.layers()[0].params();
        let (expected, oh, ow) = direct_conv(
            x.data(),
            (n, h, w, c),
            params[0].value.data(),
            params[1].value.data(),
            (kh, kw, f),
            (sh, sw),
            (dh, dw),
            same,
        );
        assert_eq!(model.output_shapes()[0], [oh, ow, f], "case {i}");
        assert_eq!(y.len(), n * oh * ow * f, "case {i}");
        common::assert_close(y.data(), &expected, 1e-5, 1e-5, &format!("case {i}"));
    }
}

#[test]
fn a_batch_larger_than_the_threshold_runs_on_threads_the_same() {
    // im2col and col2im split the batch over threads; the result must not depend on it.
    let layers: [LayerSpec; 3] = [
        conv(8, 3)
            .padding(Padding::Same)
            .activation(Activation::Relu)
            .into(),
        LayerSpec::flatten(),
        DenseSpec::new(2).into(),
    ];
    let x = pseudo_random(&[64, 12, 12, 3], 30, 1.0);
    let y = Targets::Values(pseudo_random(&[64, 2], 31, 1.0));
    let mut runs = Vec::new();
    for threads in [1, 2] {
        deeptrain::linalg::set_num_threads(threads);
        let mut model = compiled(&[12, 12, 3], &layers, Loss::MeanSquaredError);
        let (_, dx) = model.compute_gradients(&x, &y, Mode::Train).unwrap();
        let grads: Vec<Vec<f32>> = model.layers()[0]
            .params()
            .iter()
            .map(|p| p.grad().expect("a stored gradient").data().to_vec())
            .collect();
        runs.push((dx.data().to_vec(), grads));
    }
    deeptrain::linalg::set_num_threads(0);
    assert_eq!(runs[0].0, runs[1].0, "input gradient");
    for (a, b) in runs[0].1.iter().zip(&runs[1].1) {
        for (u, v) in a.iter().zip(b) {
            assert!((u - v).abs() <= 1e-4 * u.abs().max(1.0), "{u} vs {v}");
        }
    }
}

/// A trained conv net with three batch norms: `bn_a` folds into the linear conv before it,
/// `bn_b` into the `valid` conv after it; `bn_c` stays (the conv after it pads with zeros,
/// which would not carry the shift).
#[test]
fn folding_batch_norm_into_convolutions_keeps_predictions() {
    let bn = |name: &str| LayerSpec::new(BatchNormSpec::default()).named(name);
    let layers = [
        conv(4, 3)
            .padding(Padding::Same)
            .use_bias(false)
            .named("conv_a"),
        bn("bn_a"),
        LayerSpec::activation(Activation::Relu),
        bn("bn_b"),
        conv(4, 3).activation(Activation::Relu).named("conv_b"),
        bn("bn_c"),
        conv(3, 3).padding(Padding::Same).named("conv_c"),
        LayerSpec::flatten(),
        DenseSpec::new(3).activation(Activation::Softmax).into(),
    ];
    let mut model = Sequential::from_specs(&[8, 8, 2], &layers, 5).unwrap();
    model
        .compile(
            Box::new(Sgd::new(0.05).unwrap()),
            Loss::SparseCategoricalCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap();
    // Inputs off centre, so that the moving statistics move far from 0 and 1.
    let mut x = pseudo_random(&[16, 8, 8, 2], 40, 2.0);
    x.data_mut().iter_mut().for_each(|v| *v += 1.0);
    let y = Targets::Classes((0..16).map(|i| (i % 3) as u32).collect());
    for _ in 0..100 {
        model.train_step(&x, &y, &mut [0.0]).unwrap();
    }
    let moving_mean = model.layers()[1].state()[0].value.data().to_vec();
    assert!(
        moving_mean.iter().any(|m| m.abs() > 0.05),
        "{moving_mean:?}"
    );
    let (mut folded, count) = model.fold_batch_norm().unwrap();
    let names: Vec<&str> = folded.layers().iter().map(|l| l.name()).collect();
    assert_eq!(count, 2, "{names:?}");
    assert_eq!(
        names[..5],
        ["conv_a", "activation", "conv_b", "bn_c", "conv_c"]
    );
    let before = model.predict(&x, 16).unwrap();
    let after = folded.predict(&x, 16).unwrap();
    let worst = before
        .data()
        .iter()
        .zip(after.data())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-5, "largest probability difference {worst}");
}

fn spec_with_layers(layers: &str) -> std::result::Result<Spec, String> {
    let start = DEFAULT_SPEC.find("[[layers]]").unwrap();
    let end = DEFAULT_SPEC.find("[compile]").unwrap();
    let text = format!(
        "{}{layers}\n{}",
        &DEFAULT_SPEC[..start],
        &DEFAULT_SPEC[end..]
    );
    Spec::parse(&text, std::path::Path::new("cnn.toml")).map_err(|e| e.to_string())
}

#[test]
fn a_toml_spec_with_conv_layers_builds() {
    let spec = spec_with_layers(
        r#"
[[layers]]
type = "conv2d"
filters = 4
kernel_size = [3, 3]
padding = "same"
activation = "relu"
kernel_initializer = "auto"
[[layers]]
type = "Conv2D"
filters = 6
kernel_size = [2, 3]
strides = 2
kernel_regularizer = { l2 = 0.01 }
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
units = 10
activation = "softmax"
"#,
    )
    .unwrap();
    let model = spec.build_model(&[8, 8], None).unwrap();
    assert_eq!(model.output_shapes()[0], vec![8, 8, 4]);
    assert_eq!(model.output_shapes()[1], vec![4, 3, 6]);
    assert_eq!(model.layers()[1].params()[0].value.shape(), &[2, 3, 4, 6]);
    assert_eq!(model.layers()[0].name(), "conv2d");
    assert_eq!(model.layers()[1].name(), "conv2d_1");
    // `auto` before a ReLU is He normal, as for Dense.
    let specs = model.layer_specs();
    let first = specs[0].config_as::<Conv2dSpec>().expect("a conv");
    assert_eq!(first.kernel_initializer, Initializer::HE_NORMAL);
    // The specs round-trip through TOML.
    let text = toml::to_string(&spec).unwrap();
    assert_eq!(
        Spec::parse(&text, std::path::Path::new("again")).unwrap(),
        spec
    );
}

#[test]
fn bad_conv_specs_give_one_line_errors() {
    let layer = |keys: &str| format!("[[layers]]\ntype = \"conv2d\"\n{keys}");
    let refused = [
        (
            layer("filters = 4\nkernel_size = 3\nkernal = 2"),
            "unknown field `kernal`",
        ),
        (
            layer("filters = 0\nkernel_size = 3"),
            "`filters` must be at least 1",
        ),
        (
            layer("filters = 4\nkernel_size = [0, 3]"),
            "`kernel_size` must be positive",
        ),
        (
            layer("filters = 4\nkernel_size = [3, 3, 3]"),
            "invalid length 3",
        ),
        (
            layer("filters = 4\nkernel_size = 3\npadding = \"full\""),
            "unknown variant `full`",
        ),
        (
            layer("filters = 4\nkernel_size = 3\nstrides = 0"),
            "`strides` must be positive",
        ),
        (
            layer("filters = 4\nkernel_size = 3\nstrides = 2\ndilation_rate = 2"),
            "together with `dilation_rate`",
        ),
        (layer("kernel_size = 3"), "missing field `filters`"),
    ];
    for (text, expected) in refused {
        let err = spec_with_layers(&text).expect_err(&text);
        assert!(err.contains(expected), "{text}: {err}");
        assert!(!err.contains('\n'), "{text}: more than one line: {err}");
    }
    // Shapes the layer cannot take, named in the error.
    let build = |input: &[usize], spec: Conv2dSpec| {
        Sequential::from_specs(input, &[spec.named("c1")], 1)
            .err()
            .expect("refused")
            .to_string()
    };
    let err = build(&[4, 4, 1], Conv2dSpec::new(2, 5));
    assert!(
        err.contains("`c1`") && err.contains("does not fit"),
        "{err}"
    );
    let err = build(&[9, 9], Conv2dSpec::new(2, 3).dilation_rate(5));
    assert!(
        err.contains("`c1`") && err.contains("does not fit"),
        "{err}"
    );
    let err = build(&[16], Conv2dSpec::new(2, 3));
    assert!(
        err.contains("`c1`") && err.contains("(height, width)"),
        "{err}"
    );
    let err = build(&[2, 4, 4, 1], Conv2dSpec::new(2, 3));
    assert!(err.contains("`c1`") && !err.contains('\n'), "{err}");
    // `same` fits any input.
    assert!(Sequential::from_specs(
        &[2, 2],
        &[Conv2dSpec::new(2, 5).padding(Padding::Same).into()],
        1
    )
    .is_ok());
}

#[test]
fn saved_conv_model_loads_back_with_identical_predictions() {
    let layers = [
        conv(4, 3)
            .activation(Activation::Relu)
            .padding(Padding::Same)
            .into(),
        LayerSpec::new(BatchNormSpec::default()),
        conv(3, (2, 3)).strides((2, 1)).dilation_rate(1).into(),
        LayerSpec::flatten(),
        DenseSpec::new(3).activation(Activation::Softmax).into(),
    ];
    let mut model = compiled(&[6, 7], &layers, Loss::SparseCategoricalCrossentropy);
    let x = pseudo_random(&[5, 6, 7], 50, 1.0);
    let y = Targets::Classes(vec![0, 1, 2, 1, 0]);
    for _ in 0..5 {
        model.train_step(&x, &y, &mut []).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path()).unwrap();
    let (mut loaded, file) = Sequential::load(dir.path()).unwrap();
    assert_eq!(file.layers, model.layer_specs());
    assert_eq!(loaded.summary(), model.summary());
    let expected: Tensor = model.predict(&x, 2).unwrap();
    assert_eq!(loaded.predict(&x, 2).unwrap(), expected);
}

#[test]
fn summary_shows_image_shapes_and_conv_parameters() {
    let layers = [
        Conv2dSpec::new(4, 3).named("c1"),
        Conv2dSpec::new(8, (3, 2))
            .strides(2)
            .padding(Padding::Same)
            .named("c2"),
        LayerSpec::flatten(),
        DenseSpec::new(10).into(),
    ];
    let model = Sequential::from_specs(&[8, 8], &layers, 1).unwrap();
    let summary = model.summary();
    let line = |name: &str| {
        summary
            .lines()
            .find(|l| l.contains(name))
            .unwrap()
            .to_string()
    };
    // c1: 3·3·1·4 + 4 = 40 on 8×8 → 6×6; c2: 3·2·4·8 + 8 = 200, ⌈6 / 2⌉ = 3.
    assert!(line("c1 (Conv2D)").contains("(None, 6, 6, 4)"), "{summary}");
    assert!(line("c1 (Conv2D)").contains(" 40 "), "{summary}");
    assert!(line("c2 (Conv2D)").contains("(None, 3, 3, 8)"), "{summary}");
    assert!(line("c2 (Conv2D)").contains(" 200 "), "{summary}");
    assert!(line("c2 (Conv2D)").contains("3×2 same /2"), "{summary}");
}

/// The configuration checks see convolutions as they see Dense layers: a SELU conv with Glorot
/// weights is named in `selu_init`; with LeCun normal (or `auto`, which picks it) it is not.
#[test]
fn configuration_checks_cover_conv_layers() {
    let warnings = |init: &str| {
        let spec = spec_with_layers(&format!(
            r#"
[[layers]]
type = "conv2d"
name = "c1"
filters = 4
kernel_size = 3
activation = "selu"
kernel_initializer = "{init}"
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
units = 10
activation = "softmax"
kernel_initializer = "lecun_normal"
"#
        ))
        .unwrap();
        let model = spec.build_model(&[8, 8], None).unwrap();
        deeptrain::checks::check(&model, deeptrain::Scale::Standard, &spec.optimizer)
    };
    let found = warnings("glorot_uniform");
    let ids: Vec<&str> = found.iter().map(|w| w.id).collect();
    assert!(ids.contains(&"selu_init"), "{found:?}");
    let selu = found.iter().find(|w| w.id == "selu_init").unwrap();
    assert!(selu.message.contains("c1"), "{selu}");
    for init in ["lecun_normal", "auto"] {
        assert!(
            warnings(init).iter().all(|w| w.id != "selu_init"),
            "{init}: {:?}",
            warnings(init)
        );
    }
}

/// A batch whose im2col would not fit the layer's piece size (16 samples of 30×30×8 with a
/// 3×3 kernel fill it) runs in pieces: 40 samples give 3 pieces. The kernel, bias and input
/// gradients must be those of each sample on its own, summed (the loss is a mean, hence the
/// 1/N), and one fused SGD step must move the kernel by exactly −η times that gradient.
#[test]
fn a_batch_run_in_pieces_gives_the_gradients_of_each_sample() {
    let layers: [LayerSpec; 3] = [
        conv(16, 3).padding(Padding::Same).into(),
        LayerSpec::flatten(),
        DenseSpec::new(2).into(),
    ];
    let n = 40;
    let x = pseudo_random(&[n, 30, 30, 8], 40, 1.0);
    let y = pseudo_random(&[n, 2], 41, 1.0);
    let mut model = compiled(&[30, 30, 8], &layers, Loss::MeanSquaredError);
    let (_, dx) = model
        .compute_gradients(&x, &Targets::Values(y.clone()), Mode::Train)
        .unwrap();
    let batch_grads: Vec<Vec<f32>> = model.layers()[0]
        .params()
        .iter()
        .map(|p| p.grad().expect("a stored gradient").data().to_vec())
        .collect();
    let sample_len = 30 * 30 * 8;
    let mut summed: Vec<Vec<f64>> = batch_grads.iter().map(|g| vec![0.0; g.len()]).collect();
    for i in 0..n {
        let xi = Tensor::from_vec(
            x.data()[i * sample_len..(i + 1) * sample_len].to_vec(),
            &[1, 30, 30, 8],
        );
        let yi = Targets::Values(Tensor::from_vec(
            y.data()[i * 2..i * 2 + 2].to_vec(),
            &[1, 2],
        ));
        let (_, dxi) = model.compute_gradients(&xi, &yi, Mode::Train).unwrap();
        for (a, b) in dx.data()[i * sample_len..(i + 1) * sample_len]
            .iter()
            .zip(dxi.data())
        {
            let expected = b / n as f32;
            assert!(
                (a - expected).abs() <= 1e-4 * expected.abs() + 1e-7,
                "dx {a} vs {expected}"
            );
        }
        for (sum, p) in summed.iter_mut().zip(model.layers()[0].params()) {
            for (s, g) in sum
                .iter_mut()
                .zip(p.grad().expect("a stored gradient").data())
            {
                *s += *g as f64 / n as f64;
            }
        }
    }
    for (batch, sum) in batch_grads.iter().zip(&summed) {
        for (a, b) in batch.iter().zip(sum) {
            assert!((*a as f64 - b).abs() <= 1e-4 * b.abs() + 1e-6, "{a} vs {b}");
        }
    }
    // Fused descent (plain SGD) over the same pieces: W ← W − η·dW.
    let before = model.layers()[0].params()[0].value.data().to_vec();
    model.train_step(&x, &Targets::Values(y), &mut []).unwrap();
    let after = model.layers()[0].params()[0].value.data();
    for ((w0, w1), g) in before.iter().zip(after).zip(&batch_grads[0]) {
        let expected = w0 - 0.05 * g;
        assert!(
            (w1 - expected).abs() <= 1e-5 * w0.abs().max(1.0),
            "{w1} vs {expected}"
        );
    }
}
