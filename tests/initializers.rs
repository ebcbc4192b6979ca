//! Initializers as a user meets them: from a spec, with `"auto"` resolved by the activation that
//! follows, and shown in the summary.

use std::path::Path;

use deeptrain::init::Initializer;
use deeptrain::spec::Spec;
use deeptrain::{DenseSpec, Sequential};

fn kernel_initializers(model: &Sequential) -> Vec<Initializer> {
    model
        .layer_specs()
        .into_iter()
        .filter_map(|s| s.config_as::<DenseSpec>().map(|d| d.kernel_initializer))
        .collect()
}

#[test]
fn auto_resolves_by_the_activation_that_follows() {
    let text = r#"
[[layers]]
type = "dense"
units = 20
activation = "relu"
kernel_initializer = "auto"
[[layers]]
type = "dense"
units = 20
kernel_initializer = "auto"
[[layers]]
type = "activation"
activation = "selu"
[[layers]]
type = "dense"
units = 20
kernel_initializer = "auto"
[[layers]]
type = "elu"
[[layers]]
type = "dense"
units = 20
activation = "tanh"
kernel_initializer = "auto"
[[layers]]
type = "dense"
units = 3
activation = "softmax"
kernel_initializer = { name = "random_normal", stddev = 0.01 }
"#;
    let spec = Spec::parse(text, Path::new("auto.toml")).unwrap();
    let model = Sequential::from_specs(&[8], &spec.layers, 1).unwrap();
    assert_eq!(
        kernel_initializers(&model),
        [
            Initializer::HE_NORMAL,
            Initializer::LECUN_NORMAL,
            Initializer::HE_NORMAL,
            Initializer::GLOROT_UNIFORM,
            Initializer::RandomNormal {
                mean: 0.0,
                stddev: 0.01
            },
        ]
    );
    let summary = model.summary();
    assert!(summary.contains("relu, he_normal"), "{summary}");
    assert!(summary.contains("linear, lecun_normal"), "{summary}");
    assert!(
        summary.contains("softmax, random_normal(mean=0, stddev=0.01)"),
        "{summary}"
    );
}

/// A built layer's weights have the variance the formula gives: He normal on a 784 × 300 kernel
/// has variance 2 / 784 (sampling error about 0.3%).
#[test]
fn a_built_kernel_has_the_formula_variance() {
    let text = r#"
[[layers]]
type = "dense"
units = 300
activation = "relu"
kernel_initializer = "auto"
"#;
    let spec = Spec::parse(text, Path::new("he.toml")).unwrap();
    let model = Sequential::from_specs(&[784], &spec.layers, 3).unwrap();
    let w = model.layers()[0].params()[0].value.data();
    let n = w.len() as f64;
    let mean = w.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = w.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    assert!(mean.abs() < 5.0 * (2.0 / 784.0 / n).sqrt(), "mean {mean}");
    assert!((var * 784.0 / 2.0 - 1.0).abs() < 0.02, "variance {var}");
}
