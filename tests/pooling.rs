//! The pooling, reshape and spatial-dropout layers: values by hand, finite-difference gradients
//! over paddings, strides and pool shapes, specs in TOML (snake_case and Keras' class names),
//! one-line errors, save/load and checkpoint round trips, summary shapes.

mod common;

use common::pseudo_random;
use deeptrain::init::Initializer;
use deeptrain::layers::{layer_spec_from_table, Layer, Padding, PoolingSpec};
use deeptrain::model::RunMetadata;
use deeptrain::spec::Spec;
use deeptrain::{
    Activation, DenseSpec, History, LayerSpec, Loss, Metric, Mode, Rng, Scale, Scaler, Sequential,
    Sgd, Targets, Tensor,
};
use rand::SeedableRng;
use std::path::Path;

fn build(input: &[usize], layers: Vec<LayerSpec>, loss: Loss) -> Sequential {
    let mut model = Sequential::from_specs(input, &layers, 7).unwrap();
    model
        .compile(Box::new(Sgd::new(0.1).unwrap()), loss, &[])
        .unwrap();
    model
}

/// A Dense layer with a nonzero bias, so that its gradients are not trivial.
fn dense(units: usize) -> LayerSpec {
    LayerSpec::new(DenseSpec {
        bias_initializer: Initializer::Ones,
        ..DenseSpec::new(units)
    })
}

/// Distinct values spaced 0.01 apart (in a pseudo-random order): no two inputs of a max-pooling
/// window are within the finite-difference step, so the arg-max cannot flip.
fn without_ties(shape: &[usize], seed: u64) -> Tensor {
    let noise = pseudo_random(shape, seed, 1.0);
    let mut order: Vec<usize> = (0..noise.len()).collect();
    order.sort_by(|&a, &b| noise.data()[a].total_cmp(&noise.data()[b]));
    let mut data = vec![0.0; noise.len()];
    let half = noise.len() as f32 / 2.0;
    for (rank, &i) in order.iter().enumerate() {
        data[i] = (rank as f32 - half) * 0.01;
    }
    Tensor::from_vec(data, shape)
}

/// Checks the input and Dense gradients of `layer` → flatten → dense(3), MSE, batch of 2.
fn check_layer_gradients(input: &[usize], layer: LayerSpec, seed: u64, what: &str) {
    let model = build(
        input,
        vec![layer, LayerSpec::flatten(), dense(3)],
        Loss::MeanSquaredError,
    );
    let shape: Vec<usize> = std::iter::once(2).chain(input.iter().copied()).collect();
    let x = without_ties(&shape, seed);
    let y = pseudo_random(&[2, 3], seed + 100, 1.0);
    common::check_gradients(Mode::Train, model, x, Targets::Values(y), what);
}

/// The pooling geometries checked: (input, pool, strides, padding).
fn geometries() -> Vec<(Vec<usize>, PoolingSpec)> {
    vec![
        (vec![5, 5], PoolingSpec::new(2)),
        (vec![5, 5], PoolingSpec::new(2).padding(Padding::Same)),
        (
            vec![6, 5, 3],
            PoolingSpec::new(3).strides(2).padding(Padding::Same),
        ),
        (
            vec![5, 6, 2],
            PoolingSpec::new((2, 3))
                .strides((1, 2))
                .padding(Padding::Same),
        ),
        (vec![7, 6, 2], PoolingSpec::new((3, 2)).strides((2, 1))),
        (vec![6, 6, 2], PoolingSpec::new(3).strides(1)), // overlapping windows
        (
            vec![4, 7],
            PoolingSpec::new((1, 3))
                .strides((1, 2))
                .padding(Padding::Same),
        ),
    ]
}

#[test]
fn max_pooling_gradients_over_paddings_strides_and_pool_shapes() {
    for (k, (input, spec)) in geometries().into_iter().enumerate() {
        let what = format!("max {input:?} {spec:?}");
        check_layer_gradients(&input, LayerSpec::max_pooling2d(spec), k as u64, &what);
    }
}

#[test]
fn average_pooling_gradients_over_paddings_strides_and_pool_shapes() {
    for (k, (input, spec)) in geometries().into_iter().enumerate() {
        let what = format!("average {input:?} {spec:?}");
        check_layer_gradients(&input, LayerSpec::average_pooling2d(spec), k as u64, &what);
    }
}

#[test]
fn global_pooling_gradients() {
    for input in [vec![4, 5, 3], vec![4, 4]] {
        for layer in [
            LayerSpec::global_average_pooling2d(),
            LayerSpec::global_max_pooling2d(),
        ] {
            let what = format!("{} {input:?}", layer.type_name());
            check_layer_gradients(&input, layer, 3, &what);
        }
    }
}

#[test]
fn reshape_gradients() {
    check_layer_gradients(&[12], LayerSpec::reshape(&[3, -1]), 4, "reshape [3, -1]");
    check_layer_gradients(&[2, 3, 2], LayerSpec::reshape(&[4, 3]), 5, "reshape [4, 3]");
}

/// Builds one layer on `input_shape` (per sample), runs forward on `x` in `mode`.
fn run_layer(
    spec: LayerSpec,
    input_shape: &[usize],
    x: &Tensor,
    mode: Mode,
) -> (Box<dyn Layer>, Tensor) {
    let mut layer = spec.instantiate().unwrap();
    layer.set_name("layer".into());
    layer
        .build(input_shape, &mut Rng::seed_from_u64(3))
        .unwrap();
    let mut y = Tensor::default();
    layer.forward(x, &mut y, mode);
    (layer, y)
}

/// 1..=9 as one 3×3 channel (per sample (3, 3)).
fn one_to_nine() -> Tensor {
    Tensor::from_vec((1..=9).map(|v| v as f32).collect(), &[1, 3, 3])
}

#[test]
fn pooling_values_by_hand() {
    // 4×4 of 1..=16, pool 2: the maximum of each 2×2 block.
    let x = Tensor::from_vec((1..=16).map(|v| v as f32).collect(), &[1, 4, 4]);
    let (_, y) = run_layer(LayerSpec::max_pooling2d(2), &[4, 4], &x, Mode::Infer);
    assert_eq!(y.shape(), &[1, 2, 2, 1]);
    assert_eq!(y.data(), &[6.0, 8.0, 14.0, 16.0]);
    let (_, y) = run_layer(LayerSpec::average_pooling2d(2), &[4, 4], &x, Mode::Infer);
    assert_eq!(y.data(), &[3.5, 5.5, 11.5, 13.5]);

    // 3×3 of 1..=9, pool 2, "same": out ⌈3/2⌉ = 2, one row and column of padding at the end
    // (TensorFlow). Windows {1,2,4,5}, {3,6}, {7,8}, {9}; the average divides by the number of
    // real inputs (4, 2, 2, 1), not by 4.
    let same = PoolingSpec::new(2).padding(Padding::Same);
    let x = one_to_nine();
    let (_, y) = run_layer(
        LayerSpec::max_pooling2d(same.clone()),
        &[3, 3],
        &x,
        Mode::Infer,
    );
    assert_eq!(y.data(), &[5.0, 6.0, 8.0, 9.0]);
    let (_, y) = run_layer(LayerSpec::average_pooling2d(same), &[3, 3], &x, Mode::Infer);
    assert_eq!(y.data(), &[3.0, 4.5, 7.5, 9.0]);

    // Pool (1, 3) with stride 1 on 3×3, "valid": each row's maximum and mean.
    let spec = PoolingSpec::new((1, 3)).strides(1);
    let (_, y) = run_layer(
        LayerSpec::max_pooling2d(spec.clone()),
        &[3, 3],
        &x,
        Mode::Infer,
    );
    assert_eq!(
        (y.shape(), y.data()),
        (&[1, 3, 1, 1][..], &[3.0, 6.0, 9.0][..])
    );
    let (_, y) = run_layer(LayerSpec::average_pooling2d(spec), &[3, 3], &x, Mode::Infer);
    assert_eq!(y.data(), &[2.0, 5.0, 8.0]);
}

#[test]
fn pooling_keeps_channels_apart() {
    // 2×2×2: channel 0 holds 1, 5, 3, 2; channel 1 holds -1, -4, -2, -8.
    let x = Tensor::from_vec(
        vec![1.0, -1.0, 5.0, -4.0, 3.0, -2.0, 2.0, -8.0],
        &[1, 2, 2, 2],
    );
    let (_, y) = run_layer(LayerSpec::max_pooling2d(2), &[2, 2, 2], &x, Mode::Infer);
    assert_eq!((y.shape(), y.data()), (&[1, 1, 1, 2][..], &[5.0, -1.0][..]));
    let (_, y) = run_layer(
        LayerSpec::global_max_pooling2d(),
        &[2, 2, 2],
        &x,
        Mode::Infer,
    );
    assert_eq!((y.shape(), y.data()), (&[1, 2][..], &[5.0, -1.0][..]));
    let (_, y) = run_layer(
        LayerSpec::global_average_pooling2d(),
        &[2, 2, 2],
        &x,
        Mode::Infer,
    );
    assert_eq!(y.data(), &[2.75, -3.75]);
    let keep: LayerSpec = layer(r#"{ type = "global_average_pooling2d", keepdims = true }"#);
    let (_, y) = run_layer(keep, &[2, 2, 2], &x, Mode::Infer);
    assert_eq!(
        (y.shape(), y.data()),
        (&[1, 1, 1, 2][..], &[2.75, -3.75][..])
    );
}

#[test]
fn max_pooling_routes_a_tie_to_the_first_maximum() {
    let x = Tensor::from_vec(vec![7.0, 7.0, 1.0, 7.0], &[1, 2, 2]);
    let dy = Tensor::from_vec(vec![2.5], &[1, 1, 1, 1]);
    for spec in [
        LayerSpec::max_pooling2d(2),
        LayerSpec::global_max_pooling2d(),
    ] {
        let (mut layer, y) = run_layer(spec, &[2, 2], &x, Mode::Train);
        let dy = Tensor::from_vec(dy.data().to_vec(), y.shape());
        let mut dx = Tensor::default();
        layer.backward(&x, &y, &dy, Some(&mut dx));
        assert_eq!(dx.shape(), x.shape());
        assert_eq!(dx.data(), &[2.5, 0.0, 0.0, 0.0], "{}", layer.class_name());
    }
}

#[test]
fn reshape_lays_values_out_in_order() {
    let x = Tensor::from_vec((0..12).map(|v| v as f32).collect(), &[1, 12]);
    let (_, y) = run_layer(LayerSpec::reshape(&[2, -1, 3]), &[12], &x, Mode::Infer);
    assert_eq!(y.shape(), &[1, 2, 2, 3]);
    assert_eq!(y.data(), x.data());
}

fn spatial_dropout(rate: f32, input_shape: &[usize]) -> Box<dyn Layer> {
    let mut layer = LayerSpec::spatial_dropout2d(rate).instantiate().unwrap();
    layer.set_name("sd".into());
    layer
        .build(input_shape, &mut Rng::seed_from_u64(11))
        .unwrap();
    layer
}

#[test]
fn spatial_dropout_drops_whole_channels_and_scales_the_rest() {
    let (batch, h, w, c) = (8, 4, 3, 6);
    let mut layer = spatial_dropout(0.5, &[h, w, c]);
    let x = Tensor::from_vec(
        (0..batch * h * w * c)
            .map(|i| 1.0 + (i % 7) as f32)
            .collect(),
        &[batch, h, w, c],
    );
    let mut y = Tensor::default();
    layer.forward(&x, &mut y, Mode::Train);
    let (mut dropped, mut kept) = (0, 0);
    for n in 0..batch {
        for ch in 0..c {
            let factors: Vec<f32> = (0..h * w)
                .map(|p| {
                    let i = (n * h * w + p) * c + ch;
                    y.data()[i] / x.data()[i]
                })
                .collect();
            assert!(
                factors.iter().all(|&f| f == factors[0]),
                "sample {n} channel {ch}: not one factor over the map: {factors:?}"
            );
            assert!(factors[0] == 0.0 || factors[0] == 2.0, "{factors:?}");
            if factors[0] == 0.0 {
                dropped += 1;
            } else {
                kept += 1;
            }
        }
    }
    assert!(dropped > 0 && kept > 0, "dropped {dropped}, kept {kept}");
    // Sample mode (MC dropout) drops too; inference is the identity.
    layer.forward(&x, &mut y, Mode::Sample);
    assert!(y.data().contains(&0.0));
    layer.forward(&x, &mut y, Mode::Infer);
    assert_eq!(y, x);
}

#[test]
fn spatial_dropout_drops_the_rate_over_many_draws() {
    let mut layer = spatial_dropout(0.3, &[2, 2, 10]);
    let x = Tensor::from_vec(vec![1.0; 50 * 40], &[50, 2, 2, 10]);
    let mut y = Tensor::default();
    let (mut dropped, mut total) = (0usize, 0usize);
    for _ in 0..100 {
        layer.forward(&x, &mut y, Mode::Train);
        // Every value of a channel shares its draw: count the first position of each.
        for n in 0..50 {
            for ch in 0..10 {
                total += 1;
                dropped += (y.data()[n * 40 + ch] == 0.0) as usize;
            }
        }
    }
    let fraction = dropped as f64 / total as f64;
    // 50,000 draws: the standard error is 0.002.
    assert!((fraction - 0.3).abs() < 0.01, "dropped fraction {fraction}");
}

/// Central differences of L = Σ w·y through the layer in training mode, with the mask held
/// fixed by restoring the layer's random stream before every forward pass.
#[test]
fn spatial_dropout_gradient_with_a_fixed_mask() {
    let shape = [3, 2, 3, 4];
    let mut layer = spatial_dropout(0.4, &shape[1..]);
    let x = pseudo_random(&shape, 21, 1.0);
    let w = pseudo_random(&shape, 22, 1.0);
    let stream = layer.rng().unwrap().clone();
    let loss = |layer: &mut Box<dyn Layer>, x: &Tensor| {
        layer.set_rng(stream.clone());
        let mut y = Tensor::default();
        layer.forward(x, &mut y, Mode::Train);
        y.data()
            .iter()
            .zip(w.data())
            .map(|(a, b)| (a * b) as f64)
            .sum::<f64>()
    };
    loss(&mut layer, &x);
    let mut y = Tensor::default();
    layer.set_rng(stream.clone());
    layer.forward(&x, &mut y, Mode::Train);
    assert!(y.data().contains(&0.0), "some channel is dropped");
    let mut dx = Tensor::default();
    layer.backward(&x, &y, &w, Some(&mut dx));
    let eps = 1e-2f32;
    let mut x_var = x.clone();
    for k in 0..x.len() {
        x_var.data_mut()[k] = x.data()[k] + eps;
        let plus = loss(&mut layer, &x_var);
        x_var.data_mut()[k] = x.data()[k] - eps;
        let minus = loss(&mut layer, &x_var);
        x_var.data_mut()[k] = x.data()[k];
        let numeric = (plus - minus) / (2.0 * eps as f64);
        assert!(
            (dx.data()[k] as f64 - numeric).abs() < 1e-3,
            "input[{k}]: analytic {}, numeric {numeric}",
            dx.data()[k]
        );
    }
}

#[test]
fn spatial_dropout_stream_restores_bit_exactly() {
    let mut layer = spatial_dropout(0.5, &[2, 2, 3]);
    let x = pseudo_random(&[4, 2, 2, 3], 5, 1.0);
    let mut y = Tensor::default();
    layer.forward(&x, &mut y, Mode::Train);
    let saved = layer.rng().unwrap().clone();
    let mut first = Tensor::default();
    layer.forward(&x, &mut first, Mode::Train);
    let mut other = Tensor::default();
    layer.forward(&x, &mut other, Mode::Train);
    assert_ne!(first, other, "successive masks differ");
    layer.set_rng(saved);
    layer.forward(&x, &mut other, Mode::Train);
    assert_eq!(first, other);
}

/// A layer spec from an inline TOML table, through the same reader as spec and model files.
fn layer(text: &str) -> LayerSpec {
    try_layer(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn try_layer(text: &str) -> deeptrain::Result<LayerSpec> {
    let table: toml::Table = toml::from_str(&format!("layer = {text}")).unwrap();
    let toml::Value::Table(entry) = table["layer"].clone() else {
        panic!("not a table")
    };
    layer_spec_from_table(entry)
}

#[test]
fn specs_read_snake_case_types_and_keras_class_names() {
    let pairs = [
        (
            r#"{ type = "max_pooling2d", pool_size = [2, 3], strides = 1, padding = "same" }"#,
            r#"{ type = "MaxPooling2D", pool_size = [2, 3], strides = [1, 1], padding = "same" }"#,
        ),
        (
            r#"{ type = "average_pooling2d", pool_size = 3 }"#,
            r#"{ type = "AveragePooling2D", pool_size = [3, 3] }"#,
        ),
        (
            r#"{ type = "global_average_pooling2d" }"#,
            r#"{ type = "GlobalAveragePooling2D" }"#,
        ),
        (
            r#"{ type = "global_max_pooling2d", keepdims = true }"#,
            r#"{ type = "GlobalMaxPooling2D", keepdims = true }"#,
        ),
        (
            r#"{ type = "reshape", target_shape = [4, -1] }"#,
            r#"{ type = "Reshape", target_shape = [4, -1] }"#,
        ),
        (
            r#"{ type = "spatial_dropout2d", rate = 0.25 }"#,
            r#"{ type = "SpatialDropout2D", rate = 0.25 }"#,
        ),
    ];
    for (snake, keras) in pairs {
        assert_eq!(layer(snake), layer(keras), "{snake}");
        let spec = spec_with(keras).unwrap();
        assert_eq!(spec.layers, [layer(snake)], "{keras} in a spec file");
    }
    assert_eq!(
        layer(r#"{ type = "max_pooling2d", pool_size = [2, 3], strides = 1, padding = "same" }"#),
        LayerSpec::max_pooling2d(PoolingSpec::new((2, 3)).strides(1).padding(Padding::Same))
    );
    // Keras' defaults: pool 2, strides = pool_size, valid.
    let defaults = layer(r#"{ type = "max_pooling2d" }"#);
    assert_eq!(defaults, LayerSpec::max_pooling2d(2));
    let model = Sequential::from_specs(&[7, 7, 2], &[defaults], 1).unwrap();
    assert_eq!(model.output_shapes()[0], [3, 3, 2]);
    // A spec written back reads the same.
    for (snake, _) in pairs {
        let spec = layer(snake);
        let written = toml::Table::try_from(&spec).unwrap();
        assert_eq!(layer_spec_from_table(written).unwrap(), spec, "{snake}");
    }
}

/// A spec file holding the one layer `text`, read as `deeptrain train` reads it.
fn spec_with(text: &str) -> deeptrain::Result<Spec> {
    let spec = format!("seed = 1\nlayers = [{text}]\n[data]\ndataset = \"digits\"\n");
    Spec::parse(&spec, Path::new("spec.toml"))
}

fn one_line_error(text: &str, input: &[usize], expected: &[&str]) {
    let message = match spec_with(text) {
        Err(e) => e.to_string(),
        Ok(spec) => match spec.build_model(input, None) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{text} on {input:?} was accepted"),
        },
    };
    assert!(
        !message.contains('\n'),
        "{text}: more than one line: {message}"
    );
    for part in expected {
        assert!(message.contains(part), "{text}: `{part}` not in: {message}");
    }
}

#[test]
fn unknown_keys_and_bad_values_are_one_line_errors() {
    let image = [6, 6, 2];
    one_line_error(
        r#"{ type = "max_pooling2d", pool = 2 }"#,
        &image,
        &["unknown field `pool`"],
    );
    one_line_error(
        r#"{ type = "average_pooling2d", pool_size = 0 }"#,
        &image,
        &["average_pooling2d", "pool_size", "positive"],
    );
    one_line_error(
        r#"{ type = "max_pooling2d", strides = [1, 0] }"#,
        &image,
        &["max_pooling2d", "strides", "[1, 0]"],
    );
    one_line_error(
        r#"{ type = "max_pooling2d", pool_size = [2, 2, 2] }"#,
        &image,
        &["invalid length 3", "a pair"],
    );
    one_line_error(
        r#"{ type = "max_pooling2d", padding = "full" }"#,
        &image,
        &["full"],
    );
    one_line_error(
        r#"{ type = "global_max_pooling2d", pool_size = 2 }"#,
        &image,
        &["unknown field `pool_size`"],
    );
    one_line_error(
        r#"{ type = "reshape", target_shape = [-1, -1] }"#,
        &[12],
        &["target_shape", "[-1, -1]"],
    );
    one_line_error(
        r#"{ type = "reshape", target_shape = [0, 12] }"#,
        &[12],
        &["target_shape"],
    );
    one_line_error(
        r#"{ type = "reshape", shape = [12] }"#,
        &[12],
        &["unknown field `shape`"],
    );
    one_line_error(
        r#"{ type = "spatial_dropout2d", rate = 1.0 }"#,
        &image,
        &["spatial_dropout2d", "rate", "[0, 1)"],
    );
    one_line_error(
        r#"{ type = "spatial_dropout2d", rate = 0.1, seed = 3 }"#,
        &image,
        &["unknown field `seed`"],
    );
    // Shapes that do not fit name the layer and both shapes.
    one_line_error(
        r#"{ type = "reshape", name = "r", target_shape = [5, -1] }"#,
        &[4, 6],
        &["`r`", "[4, 6]", "[5, -1]"],
    );
    one_line_error(
        r#"{ type = "max_pooling2d", name = "p", pool_size = 4 }"#,
        &[3, 5],
        &["`p`", "4×4", "3×5", "valid"],
    );
    one_line_error(
        r#"{ type = "max_pooling2d", name = "p" }"#,
        &[10],
        &["`p`", "[10]"],
    );
    one_line_error(
        r#"{ type = "global_average_pooling2d", name = "g" }"#,
        &[2, 3, 4, 5],
        &["`g`", "[2, 3, 4, 5]"],
    );
    one_line_error(
        r#"{ type = "spatial_dropout2d", name = "s", rate = 0.1 }"#,
        &[8],
        &["`s`", "[8]"],
    );
}

/// input (8, 8, 3) → spatial dropout → max pool 2 → average pool (2, 3) "same" stride 1 →
/// reshape (2, 8, 3) → global average; max pool → global max; both → concatenate → softmax.
fn image_graph(seed: u64) -> Sequential {
    let mut model = Sequential::graph(&[8, 8, 3])
        .layer(
            LayerSpec::spatial_dropout2d(0.2)
                .named("drop")
                .reads(&["input"]),
        )
        .layer(LayerSpec::max_pooling2d(2).named("max"))
        .layer(
            LayerSpec::average_pooling2d(
                PoolingSpec::new((2, 3)).strides(1).padding(Padding::Same),
            )
            .named("avg"),
        )
        .layer(LayerSpec::reshape(&[2, -1, 3]).named("reshape"))
        .layer(LayerSpec::global_average_pooling2d().named("gap"))
        .layer(
            LayerSpec::global_max_pooling2d()
                .named("gmp")
                .reads(&["max"]),
        )
        .layer(LayerSpec::concatenate(&["gap", "gmp"]).named("cat"))
        .layer(
            DenseSpec::new(4)
                .activation(Activation::Softmax)
                .named("out"),
        )
        .build(seed)
        .unwrap();
    model
        .compile(
            Box::new(Sgd::with_momentum(0.05, 0.9, false, 0.0).unwrap()),
            Loss::SparseCategoricalCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap();
    model
}

#[test]
fn saved_model_with_these_layers_loads_back_with_identical_predictions() {
    let mut model = image_graph(3);
    let x = pseudo_random(&[6, 8, 8, 3], 31, 1.0);
    let targets = Targets::Classes(vec![0, 1, 2, 3, 0, 1]);
    let mut sums = [0.0];
    for _ in 0..3 {
        model.train_step(&x, &targets, &mut sums).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path()).unwrap();
    let (mut loaded, file) = Sequential::load(dir.path()).unwrap();
    assert_eq!(file.layers, model.layer_specs());
    assert_eq!(loaded.summary(), model.summary());
    let before = model.predict(&x, 4).unwrap();
    assert_eq!(loaded.predict(&x, 4).unwrap(), before);
    let text = std::fs::read_to_string(dir.path().join("model.toml")).unwrap();
    for t in [
        "max_pooling2d",
        "average_pooling2d",
        "global_max_pooling2d",
        "reshape",
        "spatial_dropout2d",
    ] {
        assert!(
            text.contains(&format!("type = \"{t}\"")),
            "{t} not in:\n{text}"
        );
    }
}

#[test]
fn checkpoint_resume_keeps_the_spatial_dropout_stream() {
    let mut model = image_graph(5);
    let x = pseudo_random(&[6, 8, 8, 3], 41, 1.0);
    let targets = Targets::Classes(vec![3, 1, 2, 0, 0, 1]);
    let mut sums = [0.0];
    for _ in 0..2 {
        model.train_step(&x, &targets, &mut sums).unwrap();
    }
    let metadata = RunMetadata {
        scaler: Scaler::fit(Scale::None, &x),
        data: None,
        class_names: None,
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("resume");
    model
        .save_checkpoint(&path, &metadata, &History::default())
        .unwrap();
    let (mut resumed, _, _, _) = Sequential::load_checkpoint(&path).unwrap();
    for step in 0..3 {
        let (mut a, mut b) = ([0.0], [0.0]);
        model.train_step(&x, &targets, &mut a).unwrap();
        resumed.train_step(&x, &targets, &mut b).unwrap();
        assert_eq!(a, b, "step {step}: training losses differ");
    }
    assert_eq!(resumed.weights(), model.weights());
}

#[test]
fn summary_shows_the_output_shapes() {
    let model = Sequential::new(&[9, 9])
        .add(LayerSpec::spatial_dropout2d(0.1))
        .add(LayerSpec::max_pooling2d(
            PoolingSpec::new(2).padding(Padding::Same),
        ))
        .add(LayerSpec::average_pooling2d(
            PoolingSpec::new((3, 1)).strides((1, 2)),
        ))
        .add(LayerSpec::reshape(&[-1, 3, 1]))
        .add(LayerSpec::global_max_pooling2d())
        .build(1)
        .unwrap();
    let summary = model.summary();
    for row in [
        "spatial_dropout2d (SpatialDropout2D)",
        "max_pooling2d (MaxPooling2D)",
        "average_pooling2d (AveragePooling2D)",
        "reshape (Reshape)",
        "global_max_pooling2d (GlobalMaxPooling2D)",
        "(None, 9, 9)",
        "(None, 5, 5, 1)",
        "(None, 3, 3, 1)",
        "(None, 1)",
        "pool 2×2, strides 2×2, same",
    ] {
        assert!(summary.contains(row), "`{row}` not in:\n{summary}");
    }
    assert_eq!(
        model.output_shapes(),
        &[
            vec![9, 9],
            vec![5, 5, 1],
            vec![3, 3, 1],
            vec![3, 3, 1],
            vec![1]
        ]
    );
}

/// Max pooling by the definition, one value at a time: for each window and channel the first
/// real tap in scan order whose value no later tap exceeds (strict `>`, so a NaN never wins
/// and a tie keeps the earlier tap), and the gradient routed to that tap alone.
fn naive_max_pooling(
    x: &[f32],
    (h, w, c): (usize, usize, usize),
    (pool, stride): (usize, usize),
    (oh, ow, same): (usize, usize, bool),
    dy: &[f32],
) -> (Vec<f32>, Vec<f32>) {
    // TensorFlow's "same": the padding's smaller half before.
    let before = |n: usize, out: usize| match same {
        true => ((out - 1) * stride + pool).saturating_sub(n) / 2,
        false => 0,
    };
    let (top, left) = (before(h, oh), before(w, ow));
    let (mut y, mut dx) = (Vec::new(), vec![0.0; x.len()]);
    for (oy, ox, ch) in
        (0..oh).flat_map(|a| (0..ow).flat_map(move |b| (0..c).map(move |d| (a, b, d))))
    {
        let mut best: Option<(f32, usize)> = None;
        for (ky, kx) in (0..pool).flat_map(|a| (0..pool).map(move |b| (a, b))) {
            let (iy, ix) = (
                (oy * stride + ky).wrapping_sub(top),
                (ox * stride + kx).wrapping_sub(left),
            );
            if iy >= h || ix >= w {
                continue;
            }
            let at = (iy * w + ix) * c + ch;
            best = match best {
                Some((v, _)) if x[at] > v => Some((x[at], at)),
                None => Some((x[at], at)),
                kept => kept,
            };
        }
        let (v, at) = best.expect("every window has a real tap");
        dx[at] += dy[y.len()];
        y.push(v);
    }
    (y, dx)
}

#[test]
fn max_pooling_matches_the_definition_over_channels_windows_ties_and_nans() {
    // Channels below, at and above the 8 of a SIMD group; windows of 4, 9 and 25 taps (above
    // the 16 whose offsets are found once per position); padding "same" with stride 1; 2×2
    // windows that tile the input but for its last row.
    for (c, pool, stride, same) in [
        (1, 2, 2, false),
        (3, 3, 1, true),
        (8, 2, 2, false),
        (13, 3, 2, true),
        (32, 5, 1, true),
        (19, 5, 3, false),
    ] {
        let (h, w) = (7, 6);
        let shape = [1, h, w, c];
        // Few distinct values, so windows hold ties; a NaN now and then.
        let x: Vec<f32> = pseudo_random(&shape, c as u64, 1.0)
            .data()
            .iter()
            .enumerate()
            .map(|(i, v)| {
                if i % 11 == 5 {
                    f32::NAN
                } else {
                    (v * 3.0).round()
                }
            })
            .collect();
        let x = Tensor::from_vec(x, &shape);
        let mut spec = PoolingSpec::new(pool).strides(stride);
        if same {
            spec = spec.padding(Padding::Same);
        }
        let (mut layer, y) = run_layer(LayerSpec::max_pooling2d(spec), &[h, w, c], &x, Mode::Train);
        let (oh, ow) = (y.shape()[1], y.shape()[2]);
        let dy: Vec<f32> = (0..y.data().len()).map(|i| 1.0 + i as f32).collect();
        let geometry = ((pool, stride), (oh, ow, same));
        let (want_y, want_dx) = naive_max_pooling(x.data(), (h, w, c), geometry.0, geometry.1, &dy);
        let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(y.data()),
            bits(&want_y),
            "c {c}, pool {pool}, stride {stride}, same {same}"
        );
        // A stale gradient buffer (as a step reuses) must come back rewritten everywhere.
        let mut dx = Tensor::from_vec(vec![9.0; x.data().len()], x.shape());
        layer.backward(&x, &y, &Tensor::from_vec(dy, y.shape()), Some(&mut dx));
        assert_eq!(
            dx.data(),
            &want_dx[..],
            "c {c}, pool {pool}, stride {stride}, same {same}"
        );
    }
}
