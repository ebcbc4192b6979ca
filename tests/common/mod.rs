//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use deeptrain::{Dataset, Mode, Sequential, Targets, Tensor};

/// `tests/reference/NAME`, parsed; the reference values are computed by PyTorch 2.15 and
/// Keras 3.15 in float64 by `tests/reference/generate.py` (see tests/reference/README.md).
pub fn reference(name: &str) -> serde_json::Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/reference")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("reference JSON")
}

/// Every number of a nested JSON array, in row-major order (any depth).
pub fn nested(v: &serde_json::Value) -> Vec<f64> {
    match v.as_array() {
        Some(items) => items.iter().flat_map(nested).collect(),
        None => vec![v.as_f64().expect("a number")],
    }
}

/// [`nested`] as f32.
pub fn f32s(v: &serde_json::Value) -> Vec<f32> {
    nested(v).into_iter().map(|v| v as f32).collect()
}

/// Runs the `deeptrain` command with `args`.
pub fn deeptrain(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_deeptrain"))
        .args(args)
        .output()
        .expect("run deeptrain")
}

/// A JSON array of numbers as f64.
pub fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

/// A JSON matrix as a (rows, cols) tensor.
pub fn matrix(v: &serde_json::Value) -> Tensor {
    let rows = v.as_array().expect("rows");
    let data: Vec<f32> = rows
        .iter()
        .flat_map(|r| floats(r).into_iter().map(|x| x as f32))
        .collect();
    let cols = data.len() / rows.len();
    Tensor::from_vec(data, &[rows.len(), cols])
}

/// Asserts |a - b| <= atol + rtol·|b| elementwise.
pub fn assert_close(actual: &[f32], expected: &[f64], rtol: f64, atol: f64, what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: lengths differ");
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        let tol = atol + rtol * e.abs();
        assert!(
            (a as f64 - e).abs() <= tol,
            "{what}[{i}]: got {a}, expected {e} (tolerance {tol})"
        );
    }
}

/// A deterministic pseudo-random tensor with values in [-scale, scale].
pub fn pseudo_random(shape: &[usize], seed: u64, scale: f32) -> Tensor {
    let n: usize = shape.iter().product();
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let data = (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) as f32 / (1u64 << 31) as f32 * 2.0 - 1.0) * scale
        })
        .collect();
    Tensor::from_vec(data, shape)
}

const EPS: f32 = 1e-3;

fn close(analytic: f32, numeric: f32) -> bool {
    (analytic - numeric).abs() <= 2e-2 * numeric.abs().max(analytic.abs()) + 2e-4
}

/// Finite-difference check of every parameter gradient and of the input gradient of `model`
/// on (x, targets) in `mode`: central differences (f(θ+ε) − f(θ−ε)) / 2ε in f32 with ε = 1e-3;
/// analytic and numeric must agree to a relative 2e-2 (f32 rounding in the loss dominates).
pub fn check_gradients(mode: Mode, mut model: Sequential, x: Tensor, targets: Targets, what: &str) {
    let dx = check_param_gradients(mode, &mut model, &x, &targets, what);
    let loss_at = |model: &mut Sequential, x: &Tensor| {
        model.compute_gradients(x, &targets, mode).unwrap().0 as f32
    };
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

/// The parameter half of [`check_gradients`] (for inputs that are not differentiable, such as
/// an embedding's ids); returns the analytic input gradient.
pub fn check_param_gradients(
    mode: Mode,
    model: &mut Sequential,
    x: &Tensor,
    targets: &Targets,
    what: &str,
) -> Tensor {
    let (_, dx) = model.compute_gradients(x, targets, mode).unwrap();
    let analytic: Vec<Vec<Vec<f32>>> = model
        .layers()
        .iter()
        .map(|l| {
            l.params()
                .iter()
                .map(|p| p.grad().expect("a stored gradient").data().to_vec())
                .collect()
        })
        .collect();
    let loss_at = |model: &mut Sequential, x: &Tensor| {
        model.compute_gradients(x, targets, mode).unwrap().0 as f32
    };
    for (li, layer_grads) in analytic.iter().enumerate() {
        for (pi, grads) in layer_grads.iter().enumerate() {
            for (k, &g) in grads.iter().enumerate() {
                let original = model.layers()[li].params()[pi].value.data()[k];
                model.layers_mut()[li].params_mut()[pi].value.data_mut()[k] = original + EPS;
                let plus = loss_at(model, x);
                model.layers_mut()[li].params_mut()[pi].value.data_mut()[k] = original - EPS;
                let minus = loss_at(model, x);
                model.layers_mut()[li].params_mut()[pi].value.data_mut()[k] = original;
                let numeric = (plus - minus) / (2.0 * EPS);
                assert!(
                    close(g, numeric),
                    "{what}: layer {li} param {pi}[{k}]: analytic {g}, numeric {numeric}"
                );
            }
        }
    }
    dx
}

/// Writes `values` as a little-endian f32 `.npy` array of `shape` (with npyz's writer).
pub fn write_npy(path: &Path, shape: &[u64], values: &[f32]) {
    use npyz::WriterBuilder;
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut writer = npyz::WriteOptions::new()
        .default_dtype()
        .shape(shape)
        .writer(file)
        .begin_nd()
        .unwrap();
    writer.extend(values.iter().copied()).unwrap();
    writer.finish().unwrap();
}

/// Digits scaled up to 28×28 (each 8×8 pixel a 3×3 block, centred with a 2-pixel border), with
/// the feature shape `shape` (`[784]` or `[28, 28, 1]`): real images at Fashion-MNIST's size.
pub fn digits_at_28(d: &Dataset, shape: &[usize]) -> Dataset {
    let n = d.len();
    let mut x = vec![0.0f32; n * 784];
    for (i, image) in d.x.data().chunks_exact(64).enumerate() {
        for r in 0..28usize {
            for c in 0..28usize {
                let (sr, sc) = (r.wrapping_sub(2) / 3, c.wrapping_sub(2) / 3);
                if sr < 8 && sc < 8 {
                    x[i * 784 + r * 28 + c] = image[sr * 8 + sc] / 16.0;
                }
            }
        }
    }
    let shape: Vec<usize> = std::iter::once(n).chain(shape.iter().copied()).collect();
    Dataset::new(Tensor::from_vec(x, &shape), d.labels.clone()).unwrap()
}
