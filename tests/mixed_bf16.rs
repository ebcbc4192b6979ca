//! `mixed_bfloat16` (bf16 products, f32 accumulation and weights): trains to f32's accuracy,
//! deterministically, and actually runs in bf16. Skipped (with a note) on a CPU without
//! AVX-512 BF16; the refusal there is tested in `bf16_refusal.rs`.

use deeptrain::layers::{Conv2dSpec, Padding};
use deeptrain::{
    data, Activation, DenseSpec, DtypePolicy, FitOptions, LayerSpec, Loss, Metric, Scale, Scaler,
    Sequential, Sgd,
};

fn supported() -> bool {
    let yes = deeptrain::linalg::bf16::supported();
    if !yes {
        eprintln!("skipped: this CPU has no AVX-512 BF16");
    }
    yes
}

/// Trains `build()` on the digits for `epochs` under `policy`; (test accuracy, kernel of the
/// first layer with parameters).
fn train(build: fn() -> Sequential, policy: DtypePolicy, epochs: usize) -> (f64, Vec<f32>) {
    let splits = data::digits().unwrap();
    let (mut train, mut test) = (splits.train, splits.test.unwrap());
    let scaler = Scaler::fit(Scale::Unit, &train.x);
    scaler.apply(&mut train.x);
    scaler.apply(&mut test.x);
    let mut model = build();
    model
        .compile(
            Box::new(Sgd::with_momentum(0.05, 0.9, false, 0.0).unwrap()),
            Loss::SparseCategoricalCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap();
    model.set_dtype_policy(policy).unwrap();
    let options = FitOptions {
        epochs,
        batch_size: 32,
        ..Default::default()
    };
    model.fit(&train, None, &options, &mut []).unwrap();
    let metrics = model.evaluate(&test, 256).unwrap();
    let accuracy = metrics.iter().find(|(n, _)| n == "accuracy").unwrap().1;
    let kernel = model
        .layers()
        .iter()
        .find(|l| !l.params().is_empty())
        .unwrap()
        .params()[0]
        .value
        .data()
        .to_vec();
    (accuracy, kernel)
}

fn mlp() -> Sequential {
    mlp_seeded(7)
}

fn mlp_seeded(seed: u64) -> Sequential {
    Sequential::new(&[8, 8])
        .add(LayerSpec::flatten())
        .add(DenseSpec::new(128).activation(Activation::Relu))
        .add(DenseSpec::new(64).activation(Activation::Relu))
        .add(DenseSpec::new(10).activation(Activation::Softmax))
        .build(seed)
        .unwrap()
}

fn cnn() -> Sequential {
    cnn_seeded(7)
}

fn cnn_seeded(seed: u64) -> Sequential {
    Sequential::new(&[8, 8])
        .add(LayerSpec::reshape(&[8, 8, 1]))
        .add(
            Conv2dSpec::new(16, (3, 3))
                .padding(Padding::Same)
                .activation(Activation::Relu),
        )
        .add(Conv2dSpec::new(16, (3, 3)).activation(Activation::Relu))
        .add(LayerSpec::flatten())
        .add(DenseSpec::new(10).activation(Activation::Softmax))
        .build(seed)
        .unwrap()
}

/// The digits' test split has 360 rows: one row is 0.28 points.
const TOLERANCE: f64 = 0.02;

#[test]
fn digits_mlp_in_bf16_reaches_f32_accuracy_deterministically() {
    if !supported() {
        return;
    }
    let (f32_accuracy, f32_kernel) = train(mlp, DtypePolicy::Float32, 10);
    let (bf16_accuracy, bf16_kernel) = train(mlp, DtypePolicy::MixedBfloat16, 10);
    eprintln!("digits MLP, 10 epochs: f32 {f32_accuracy:.4}, mixed bf16 {bf16_accuracy:.4}");
    assert!(f32_accuracy > 0.9, "{f32_accuracy}");
    assert!(
        (bf16_accuracy - f32_accuracy).abs() <= TOLERANCE,
        "bf16 {bf16_accuracy} vs f32 {f32_accuracy}"
    );
    // The products did run in bf16: the weights moved apart.
    assert_ne!(bf16_kernel, f32_kernel);
    // Same seed, same weights.
    let (again, again_kernel) = train(mlp, DtypePolicy::MixedBfloat16, 10);
    assert_eq!(again, bf16_accuracy);
    assert_eq!(again_kernel, bf16_kernel);
}

#[test]
fn digits_cnn_in_bf16_reaches_f32_accuracy() {
    if !supported() {
        return;
    }
    let (f32_accuracy, f32_kernel) = train(cnn, DtypePolicy::Float32, 5);
    let (bf16_accuracy, bf16_kernel) = train(cnn, DtypePolicy::MixedBfloat16, 5);
    eprintln!("digits CNN, 5 epochs: f32 {f32_accuracy:.4}, mixed bf16 {bf16_accuracy:.4}");
    assert!(f32_accuracy > 0.9, "{f32_accuracy}");
    assert!(
        (bf16_accuracy - f32_accuracy).abs() <= TOLERANCE,
        "bf16 {bf16_accuracy} vs f32 {f32_accuracy}"
    );
    assert_ne!(bf16_kernel, f32_kernel);
}

#[test]
fn the_spec_key_reads_and_names_its_values() {
    let spec: deeptrain::spec::CompileSpec =
        toml::from_str("dtype_policy = \"mixed_bfloat16\"").unwrap();
    assert_eq!(spec.dtype_policy, DtypePolicy::MixedBfloat16);
    let default: deeptrain::spec::CompileSpec = toml::from_str("").unwrap();
    assert_eq!(default.dtype_policy, DtypePolicy::Float32);
    let error = toml::from_str::<deeptrain::spec::CompileSpec>("dtype_policy = \"bf16\"")
        .unwrap_err()
        .to_string();
    assert!(error.contains("mixed_bfloat16"), "{error}");
}

/// The kernels' packed bf16 copies are made again whenever the weights change from outside a
/// step: a model whose weights are set to another's predicts what that one predicts, bit for
/// bit, though it had already packed its own.
#[test]
fn weights_set_from_outside_are_the_ones_bf16_products_use() {
    if !supported() {
        return;
    }
    let x = data::digits().unwrap().train.slice(0..64).x;
    for build in [mlp_seeded as fn(u64) -> Sequential, cnn_seeded] {
        let mut source = build(7);
        source.set_dtype_policy(DtypePolicy::MixedBfloat16).unwrap();
        let mut model = build(8);
        model.set_dtype_policy(DtypePolicy::MixedBfloat16).unwrap();
        let own = model.predict(&x, 32).unwrap();
        model.set_weights(&source.weights());
        let after = model.predict(&x, 32).unwrap();
        let expected = source.predict(&x, 32).unwrap();
        assert_ne!(
            own.data(),
            expected.data(),
            "the two models differed to begin with"
        );
        assert_eq!(after.data(), expected.data());
    }
}
