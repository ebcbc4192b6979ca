//! The one-dimensional window layers over sequences (N, T, C): Conv1D (valid, same, causal,
//! strided, dilated), MaxPooling1D / AveragePooling1D and the global poolings, against PyTorch
//! (tests/reference/gen_conv1d.py), finite differences, refused settings, save/load and a spec
//! that trains.

mod common;

use std::path::Path;

use common::{assert_close, deeptrain, f32s, nested, pseudo_random, reference, write_npy};
use deeptrain::layers::{Conv1dSpec, GlobalPooling1dSpec, Layer, Padding, PoolKind, Pooling1dSpec};
use deeptrain::regularizers::Regularizer;
use deeptrain::{
    Activation, DenseSpec, Initializer, LayerSpec, Loss, Metric, Mode, Sequential, Sgd, Targets,
    Tensor,
};

/// The shape of a nested JSON array.
fn shape_of(v: &serde_json::Value) -> Vec<usize> {
    match v.as_array() {
        Some(items) => std::iter::once(items.len())
            .chain(shape_of(&items[0]))
            .collect(),
        None => Vec::new(),
    }
}

fn tensor(v: &serde_json::Value) -> Tensor {
    Tensor::from_vec(f32s(v), &shape_of(v))
}

fn padding(v: &serde_json::Value) -> Padding {
    serde_json::from_value(v.clone()).unwrap()
}

fn usize_of(v: &serde_json::Value) -> usize {
    v.as_u64().unwrap() as usize
}

/// Builds `layer` on the case's sample shape, runs forward and backward with L = Σ y·w, and
/// compares y, dL/dx and (when `params` names them) the parameter gradients with torch's.
fn check_case(mut layer: Box<dyn Layer>, case: &serde_json::Value, params: &[&str], what: &str) {
    let x = tensor(&case["x"]);
    let mut rng = <deeptrain::Rng as rand::SeedableRng>::seed_from_u64(0);
    let out = layer.build(&x.shape()[1..], &mut rng).unwrap();
    let y_shape = shape_of(&case["y"]);
    assert_eq!(out, y_shape[1..], "{what}: output shape");
    for (p, key) in params.iter().enumerate() {
        let value = tensor(&case[*key]);
        assert_eq!(
            layer.params()[p].value.shape(),
            value.shape(),
            "{what}: {key} layout"
        );
        layer.params_mut()[p].value = value;
    }
    let mut y = Tensor::default();
    layer.forward(&x, &mut y, Mode::Train);
    assert_eq!(y.shape(), y_shape, "{what}: y's shape");
    assert_close(
        y.data(),
        &nested(&case["y"]),
        1e-5,
        1e-6,
        &format!("{what} y"),
    );
    let w = tensor(&case["w"]);
    let mut dx = Tensor::default();
    layer.backward(&x, &y, &w, Some(&mut dx));
    assert_eq!(dx.shape(), x.shape(), "{what}: dx's shape");
    assert_close(
        dx.data(),
        &nested(&case["dx"]),
        1e-5,
        1e-6,
        &format!("{what} dx"),
    );
    for (p, key) in params.iter().enumerate() {
        let grad = format!("d{key}");
        assert_close(
            layer.params()[p].grad().expect("a stored gradient").data(),
            &nested(&case[grad.as_str()]),
            1e-5,
            1e-6,
            &format!("{what} {grad}"),
        );
    }
}

/// conv1d.json "conv1d" (torch 2.15 F.conv1d, float64): valid, same with an even kernel,
/// same and valid strided, causal, causal dilated and same dilated; y, dx, dW (k, C, F), db.
#[test]
fn conv1d_matches_torch_for_every_padding() {
    let cases = reference("conv1d.json")["conv1d"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(cases.len(), 7);
    for case in &cases {
        let spec = Conv1dSpec::new(usize_of(&case["filters"]), usize_of(&case["kernel_size"]))
            .strides(usize_of(&case["strides"]))
            .padding(padding(&case["padding"]))
            .dilation_rate(usize_of(&case["dilation_rate"]));
        let layer = LayerSpec::new(spec).instantiate().unwrap();
        let name = case["name"].as_str().unwrap();
        check_case(layer, case, &["kernel", "bias"], name);
    }
}

/// conv1d.json "pooling1d": max and average, valid and same, overlapping windows; average
/// divides by the real (non-padded) steps of each window, as TensorFlow.
#[test]
fn pooling1d_matches_torch() {
    let cases = reference("conv1d.json")["pooling1d"]
        .as_array()
        .unwrap()
        .clone();
    for case in &cases {
        let kind = match case["kind"].as_str().unwrap() {
            "max" => PoolKind::Max,
            _ => PoolKind::Average,
        };
        let spec = Pooling1dSpec::new(usize_of(&case["pool_size"]))
            .strides(usize_of(&case["strides"]))
            .padding(padding(&case["padding"]))
            .kind(kind);
        let layer = LayerSpec::new(spec).instantiate().unwrap();
        check_case(layer, case, &[], case["name"].as_str().unwrap());
    }
}

/// conv1d.json "global_pooling1d": mean and max over the steps of (3, 5, 4) sequences.
#[test]
fn global_pooling1d_matches_torch() {
    for case in reference("conv1d.json")["global_pooling1d"]
        .as_array()
        .unwrap()
    {
        let kind = match case["kind"].as_str().unwrap() {
            "max" => PoolKind::Max,
            _ => PoolKind::Average,
        };
        let layer = LayerSpec::new(GlobalPooling1dSpec::default().kind(kind))
            .instantiate()
            .unwrap();
        check_case(layer, case, &[], case["kind"].as_str().unwrap());
    }
    // keepdims keeps the steps axis as 1, as Keras: (T, C) → (1, C).
    let model = Sequential::new(&[5, 4])
        .add(
            GlobalPooling1dSpec::default()
                .keepdims(true)
                .kind(PoolKind::Max),
        )
        .build(1)
        .unwrap();
    assert_eq!(model.output_shapes(), vec![vec![1, 4]]);
}

fn compiled(input: &[usize], layers: Vec<LayerSpec>, loss: Loss) -> Sequential {
    let mut model = Sequential::from_specs(input, &layers, 7).unwrap();
    model
        .compile(Box::new(Sgd::new(0.1).unwrap()), loss, &[])
        .unwrap();
    model
}

fn conv(filters: usize, k: usize, padding: Padding) -> Conv1dSpec {
    Conv1dSpec::new(filters, k)
        .padding(padding)
        .bias_initializer(Initializer::Constant { value: 0.1 })
}

/// Finite differences of every parameter and the input through stacks of every 1-D layer:
/// causal dilated conv → max pool → same strided conv → average pool (same) → global average;
/// valid conv (tanh) → global max → dense; and a conv with an L1/L2 penalty and a sigmoid
/// output on every step under binary cross-entropy.
#[test]
fn conv1d_stacks_match_finite_differences() {
    let x = pseudo_random(&[4, 12, 3], 13, 1.2);
    let classes = Targets::Classes(vec![0, 2, 1, 2]);
    let stacks: Vec<(&str, Vec<LayerSpec>)> = vec![
        (
            "causal dilated, pools, global average",
            vec![
                conv(4, 3, Padding::Causal)
                    .dilation_rate(2)
                    .activation(Activation::Tanh)
                    .into(),
                LayerSpec::max_pooling1d(2),
                conv(3, 3, Padding::Same).strides(2).into(),
                LayerSpec::average_pooling1d(
                    Pooling1dSpec::new(2).strides(1).padding(Padding::Same),
                ),
                LayerSpec::global_average_pooling1d(),
                DenseSpec::new(3).activation(Activation::Softmax).into(),
            ],
        ),
        (
            "valid, global max, dense",
            vec![
                conv(5, 4, Padding::Valid)
                    .activation(Activation::Tanh)
                    .into(),
                LayerSpec::global_max_pooling1d(),
                DenseSpec::new(3).activation(Activation::Softmax).into(),
            ],
        ),
    ];
    for (what, layers) in stacks {
        let model = compiled(&[12, 3], layers, Loss::SparseCategoricalCrossentropy);
        common::check_gradients(Mode::Train, model, x.clone(), classes.clone(), what);
    }
    // A per-step output (12, 1) under binary cross-entropy, fused with its sigmoid, with a
    // weight penalty on the kernel and bias.
    let layers = vec![
        conv(4, 3, Padding::Same)
            .activation(Activation::Tanh)
            .into(),
        conv(1, 2, Padding::Causal)
            .activation(Activation::Sigmoid)
            .kernel_regularizer(Regularizer::l1_l2(0.01, 0.02))
            .bias_regularizer(Regularizer::l2(0.05))
            .into(),
    ];
    let model = compiled(&[12, 3], layers, Loss::BinaryCrossentropy);
    assert!(model.weight_penalty() > 0.0);
    let labels = pseudo_random(&[4, 12], 3, 1.0);
    let labels = Tensor::from_vec(
        labels
            .data()
            .iter()
            .map(|&v| f32::from(u8::from(v > 0.0)))
            .collect(),
        &[4, 12],
    );
    common::check_gradients(
        Mode::Train,
        model,
        x,
        Targets::Values(labels),
        "per-step sigmoid",
    );
}

/// Causal padding never lets an output read a later step: changing the input at step t leaves
/// every output before t unchanged.
#[test]
fn causal_outputs_do_not_read_the_future() {
    let mut model = Sequential::new(&[10, 2])
        .add(
            Conv1dSpec::new(3, 3)
                .padding(Padding::Causal)
                .dilation_rate(2),
        )
        .add(Conv1dSpec::new(2, 2).padding(Padding::Causal))
        .build(4)
        .unwrap();
    let x = pseudo_random(&[1, 10, 2], 1, 1.0);
    let before = model.predict(&x, 1).unwrap();
    let mut later = x.clone();
    later.data_mut()[6 * 2] += 5.0; // step 6, channel 0
    let after = model.predict(&later, 1).unwrap();
    assert_eq!(before.len(), 10 * 2, "(1, 10, 2), read flat by predict");
    assert_eq!(before.data()[..6 * 2], after.data()[..6 * 2]);
    assert_ne!(before.data()[6 * 2..], after.data()[6 * 2..]);
}

/// Settings and shapes that cannot work are refused in one line naming the layer and key.
#[test]
fn bad_settings_and_shapes_are_refused() {
    let refuse = |input: &[usize], spec: LayerSpec, expected: &[&str]| {
        let err = Sequential::new(input)
            .add(spec)
            .build(1)
            .err()
            .unwrap()
            .to_string();
        assert_eq!(err.lines().count(), 1, "{err}");
        for e in expected {
            assert!(err.contains(e), "{err}: no {e}");
        }
    };
    refuse(
        &[8, 2],
        Conv1dSpec::new(0, 3).into(),
        &["conv1d", "filters"],
    );
    refuse(&[8, 2], Conv1dSpec::new(2, 0).into(), &["kernel_size"]);
    refuse(
        &[8, 2],
        Conv1dSpec::new(2, 3).strides(2).dilation_rate(2).into(),
        &["strides", "dilation_rate"],
    );
    refuse(
        &[4, 2],
        Conv1dSpec::new(2, 5).into(),
        &["Conv1D", "5 taps", "4 steps"],
    );
    refuse(
        &[8, 2],
        Conv1dSpec::new(2, 3).dilation_rate(4).into(),
        &["spanning 9 steps", "8 steps"],
    );
    refuse(
        &[8],
        Conv1dSpec::new(2, 3).into(),
        &["(steps, channels)", "[8]", "reshape"],
    );
    refuse(
        &[8, 2, 2],
        Conv1dSpec::new(2, 3).into(),
        &["(steps, channels)"],
    );
    refuse(
        &[3, 2],
        LayerSpec::max_pooling1d(4),
        &["MaxPooling1D", "pool_size 4", "3 steps"],
    );
    refuse(
        &[8, 2],
        LayerSpec::average_pooling1d(Pooling1dSpec::new(2).padding(Padding::Causal)),
        &["average_pooling1d", "causal"],
    );
    refuse(
        &[8],
        LayerSpec::global_max_pooling1d(),
        &["GlobalMaxPooling1D"],
    );
    // A reach that overflows a machine word is refused in the 1-D layer's own words (not its
    // 2-D twin's: no "Conv2D", "columns" or "average_pooling2d").
    let huge = 1usize << (usize::BITS - 2);
    for (padding, name) in [(Padding::Same, "a"), (Padding::Causal, "b")] {
        let conv = Conv1dSpec::new(2, 5).padding(padding).dilation_rate(huge);
        refuse(
            &[8, 2],
            conv.named(name),
            &["Conv1D", "dilation_rate", "machine word"],
        );
    }
    let pool = Pooling1dSpec::new(usize::MAX / 2 + 1).padding(Padding::Same);
    refuse(
        &[8, 2],
        LayerSpec::average_pooling1d(pool),
        &["AveragePooling1D", "pool_size", "machine word"],
    );
    // Causal padding is Conv1D's alone, as in Keras.
    let err = deeptrain::layers::Conv2dSpec::new(2, 3)
        .padding(Padding::Causal)
        .named("c");
    refuse(&[8, 8], err, &["conv2d", "causal", "conv1d only"]);
    // The size guard: a kernel of 2^20 taps × 2^16 channels × 2^10 filters is refused before
    // anything is allocated.
    refuse(
        &[64, 1 << 16],
        Conv1dSpec::new(1 << 10, 1 << 20)
            .padding(Padding::Same)
            .into(),
        &["conv1d", "limit"],
    );
}

/// A model of every 1-D layer saves and loads with the same predictions, settings, kernel
/// layout (k, C, F) and summary; the summary names Keras' classes.
#[test]
fn conv1d_model_saves_and_loads() {
    let layers = vec![
        Conv1dSpec::new(4, 3)
            .padding(Padding::Causal)
            .dilation_rate(2)
            .activation(Activation::Relu)
            .kernel_regularizer(Regularizer::l2(0.01))
            .into(),
        LayerSpec::average_pooling1d(Pooling1dSpec::new(3).strides(2).padding(Padding::Same)),
        Conv1dSpec::new(2, 2).trainable(false).into(),
        LayerSpec::max_pooling1d(2),
        LayerSpec::global_max_pooling1d(),
        DenseSpec::new(2).activation(Activation::Softmax).into(),
    ];
    let mut model = Sequential::from_specs(&[16, 3], &layers, 4).unwrap();
    model
        .compile(
            Box::new(Sgd::new(0.1).unwrap()),
            Loss::SparseCategoricalCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap();
    let x = pseudo_random(&[3, 16, 3], 8, 1.0);
    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path()).unwrap();
    let (mut loaded, file) = Sequential::load(dir.path()).unwrap();
    assert_eq!(file.layers, model.layer_specs());
    assert_eq!(loaded.layers()[0].params()[0].value.shape(), &[3, 3, 4]);
    assert!(!loaded.layers()[2].params()[0].trainable);
    let summary = model.summary();
    assert_eq!(loaded.summary(), summary);
    for class in [
        "Conv1D",
        "AveragePooling1D",
        "MaxPooling1D",
        "GlobalMaxPooling1D",
    ] {
        assert!(summary.contains(class), "{summary}");
    }
    assert_eq!(
        loaded.predict(&x, 2).unwrap(),
        model.predict(&x, 2).unwrap()
    );
    let text = std::fs::read_to_string(dir.path().join("model.toml")).unwrap();
    assert!(
        text.contains("type = \"conv1d\"") && text.contains("padding = \"causal\""),
        "{text}"
    );
}

/// `[[layers]]` with Keras' names (`type = "conv1d"`, `"MaxPooling1D"` as an alias) train one
/// epoch on (N, T, F) sequences from NPY; the input shape comes from the file.
#[test]
fn spec_with_conv1d_layers_trains_on_npy_sequences() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 64 sequences of 20 steps × 2 features; the label says whether channel 0 rises overall.
    let x = pseudo_random(&[64, 20, 2], 21, 1.0);
    let labels: Vec<f32> = x
        .data()
        .chunks(40)
        .map(|s| f32::from(u8::from(s[38] > s[0])))
        .collect();
    let (xp, yp) = (d.join("x.npy"), d.join("y.npy"));
    write_npy(&xp, &[64, 20, 2], x.data());
    write_npy(&yp, &[64], &labels);
    let spec = d.join("conv1d.toml");
    std::fs::write(&spec, spec_text(&xp, &yp)).unwrap();
    let out = d.join("run");
    let o = deeptrain(&[
        "train",
        spec.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let text = String::from_utf8_lossy(&o.stdout);
    for expected in [
        "Epoch 1/1",
        "Conv1D",
        "MaxPooling1D",
        "GlobalAveragePooling1D",
        "(None, 20, 4)",
    ] {
        assert!(text.contains(expected), "no {expected} in {text}");
    }
    assert!(out.join("history.csv").is_file());
}

fn spec_text(x: &Path, y: &Path) -> String {
    format!(
        r#"seed = 3
[data]
dataset = "{}"
labels = "{}"
scale = "none"
validation_split = 0.25
[[layers]]
type = "conv1d"
filters = 4
kernel_size = 3
padding = "causal"
activation = "relu"
[[layers]]
type = "MaxPooling1D"
pool_size = 2
[[layers]]
type = "conv1d"
filters = 4
kernel_size = 3
padding = "same"
[[layers]]
type = "global_average_pooling1d"
[[layers]]
type = "dense"
units = 2
activation = "softmax"
[fit]
epochs = 1
batch_size = 16
"#,
        x.display(),
        y.display()
    )
}
