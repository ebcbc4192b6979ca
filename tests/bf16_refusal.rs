//! On a CPU without AVX-512 BF16 (forced here), `mixed_bfloat16` is refused with one line,
//! from the Rust API and from a spec, and the products fall back to f32. In its own test
//! binary: the forcing is global to the process.

use std::process::Command;

use deeptrain::linalg::{bf16, matmul, Mat};
use deeptrain::{DenseSpec, DtypePolicy, Sequential};

#[test]
fn mixed_bfloat16_is_refused_without_avx512_bf16() {
    bf16::force_unsupported();
    assert!(!bf16::supported());
    let mut model = Sequential::new(&[4])
        .add(DenseSpec::new(2))
        .build(1)
        .unwrap();
    let error = model
        .set_dtype_policy(DtypePolicy::MixedBfloat16)
        .unwrap_err()
        .to_string();
    assert!(error.contains("AVX-512 BF16"), "{error}");
    assert!(!error.contains('\n'), "{error}");
    // float32 stays fine.
    model.set_dtype_policy(DtypePolicy::Float32).unwrap();

    // The bf16 product itself falls back to the f32 one.
    let a: Vec<f32> = (0..6).map(|v| 1.0 + v as f32 / 1000.0).collect();
    let b: Vec<f32> = (0..6).map(|v| 1.0 - v as f32 / 1000.0).collect();
    let (mut f32_out, mut fallback) = (vec![0.0; 4], vec![0.0; 4]);
    matmul(Mat::new(&a, 2, 3), Mat::new(&b, 3, 2), &mut f32_out, false);
    bf16::Bf16Buffers::default().product(
        Mat::new(&a, 2, 3),
        Mat::new(&b, 3, 2),
        &mut fallback,
        0.0,
        1.0,
    );
    assert_eq!(fallback, f32_out);
}

#[test]
fn a_spec_asking_for_mixed_bfloat16_is_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("spec.toml");
    std::fs::write(
        &spec,
        "seed = 1\n[data]\ndataset = \"digits\"\n[[layers]]\ntype = \"flatten\"\n[[layers]]\ntype = \"dense\"\nunits = 10\nactivation = \"softmax\"\n[compile]\ndtype_policy = \"mixed_bfloat16\"\n[fit]\nepochs = 1\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_deeptrain"))
        .args(["train", spec.to_str().unwrap(), "--out"])
        .arg(dir.path().join("run"))
        .env("DEEPTRAIN_NO_BF16", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("AVX-512 BF16"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}
