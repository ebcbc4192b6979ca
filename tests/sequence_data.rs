//! Sequences through the data path: (N, T, F) NPY features and (N, T) token ids give the model
//! its input shape from the file; an image (H, W) is H steps of W features to the 1-D layers
//! (Fashion-MNIST read row by row); bad shapes are refused in one line naming the file.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{pseudo_random, write_npy};
use deeptrain::layers::Conv1dSpec;
use deeptrain::{Initializer, Sequential};

fn deeptrain(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_deeptrain"))
        .args(args)
        .output()
        .expect("run deeptrain")
}

/// Writes `[data]` + `layers` + a one-epoch `[fit]` as a spec in `dir`.
fn write_spec(dir: &Path, data: &str, layers: &str) -> PathBuf {
    let path = dir.join("spec.toml");
    let text = format!("seed = 5\n[data]\n{data}\n{layers}\n[fit]\nepochs = 1\nbatch_size = 32\n");
    std::fs::write(&path, text).unwrap();
    path
}

fn train(spec: &Path, out: &Path) -> Output {
    deeptrain(&[
        "train",
        spec.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
}

/// A one-line error (exit 1, no panic) containing every `expected` piece.
fn assert_refused(o: &Output, expected: &[&str]) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    for e in expected {
        assert!(err.contains(e), "no {e} in {err}");
    }
}

const CONV1D_NET: &str = r#"[[layers]]
type = "conv1d"
filters = 4
kernel_size = 3
activation = "relu"
[[layers]]
type = "global_max_pooling1d"
[[layers]]
type = "dense"
units = 2
activation = "softmax""#;

/// An image (H, W) is H steps of W features to a 1-D layer: a width-1 convolution with a
/// kernel of ones gives, at step t, the sum of row t.
#[test]
fn an_image_is_read_row_by_row_by_one_dimensional_layers() {
    let mut model = Sequential::new(&[4, 5])
        .add(
            Conv1dSpec::new(1, 1)
                .use_bias(false)
                .kernel_initializer(Initializer::Ones),
        )
        .build(1)
        .unwrap();
    assert_eq!(model.output_shapes(), vec![vec![4, 1]]);
    let x = pseudo_random(&[2, 4, 5], 3, 1.0);
    let y = model.predict(&x, 2).unwrap();
    let row_sums: Vec<f32> = x.data().chunks(5).map(|r| r.iter().sum()).collect();
    for (a, b) in y.data().iter().zip(&row_sums) {
        assert!((a - b).abs() < 1e-5, "{:?} vs {row_sums:?}", y.data());
    }
}

/// Fashion-MNIST in a spec with a `conv1d` first layer: each image is 28 steps (rows) of 28
/// features, with no option to set; trains one epoch on a slice.
#[test]
fn fashion_mnist_trains_as_sequences_of_rows() {
    let dir = tempfile::tempdir().unwrap();
    let data = "dataset = \"fashion-mnist\"\nmax_train_samples = 256\nvalidation_split = 0.25";
    let spec = write_spec(
        dir.path(),
        data,
        &CONV1D_NET.replace("units = 2", "units = 10"),
    );
    let out = dir.path().join("run");
    let o = train(&spec, &out);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let text = String::from_utf8_lossy(&o.stdout);
    // 28 steps of 28 channels: conv1d (3 taps) gives 26 steps, 3·28·4 + 4 = 340 parameters.
    assert!(
        text.contains("(None, 26, 4)") && text.contains("340"),
        "{text}"
    );
    assert!(text.contains("Epoch 1/1"), "{text}");
}

/// (N, T) integer token ids: embedding → conv1d → global max pooling → dense, the text CNN,
/// with the input shape (T) from the file.
#[test]
fn token_sequences_train_through_embedding_and_conv1d() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ids: Vec<f32> = (0..96 * 12)
        .map(|i| ((i * 5 + i / 7) % 20) as f32)
        .collect();
    let labels: Vec<f32> = ids
        .chunks(12)
        .map(|s| f32::from(u8::from(s.windows(2).any(|w| w == [3.0, 8.0]))))
        .collect();
    let (x, y) = (d.join("ids.npy"), d.join("labels.npy"));
    write_npy(&x, &[96, 12], &ids);
    write_npy(&y, &[96], &labels);
    let data = format!(
        "dataset = \"{}\"\nlabels = \"{}\"\nscale = \"none\"",
        x.display(),
        y.display()
    );
    let layers =
        format!("[[layers]]\ntype = \"embedding\"\ninput_dim = 20\noutput_dim = 6\n{CONV1D_NET}");
    let spec = write_spec(d, &data, &layers);
    let o = train(&spec, &d.join("run"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("(None, 12, 6)") && text.contains("(None, 10, 4)"),
        "{text}"
    );
}

/// Bad sequence files are refused in one line naming the file: a shape the layers cannot
/// take ((N, T, F, G) for conv1d), an empty axis, labels for another number of sequences, and
/// a header that claims more values than the file holds (refused before allocating).
#[test]
fn bad_sequence_files_are_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let labels = d.join("labels.npy");
    write_npy(&labels, &[8], &[0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0]);
    let data = |x: &Path, y: &Path| {
        format!(
            "dataset = \"{}\"\nlabels = \"{}\"\nscale = \"none\"",
            x.display(),
            y.display()
        )
    };
    let x4 = d.join("x4.npy");
    write_npy(&x4, &[8, 5, 2, 2], &[0.5; 160]);
    let spec = write_spec(d, &data(&x4, &labels), CONV1D_NET);
    let o = train(&spec, &d.join("a"));
    assert_refused(&o, &["Conv1D", "(steps, channels)", "x4.npy", "[5, 2, 2]"]);

    let empty = d.join("empty.npy");
    write_npy(&empty, &[8, 0, 3], &[]);
    let spec = write_spec(d, &data(&empty, &labels), CONV1D_NET);
    assert_refused(&train(&spec, &d.join("b")), &["empty.npy", "no values"]);

    let x = d.join("x.npy");
    write_npy(&x, &[6, 5, 2], &[0.5; 60]);
    let spec = write_spec(d, &data(&x, &labels), CONV1D_NET);
    assert_refused(
        &train(&spec, &d.join("c")),
        &["labels.npy", "8 labels for 6 samples"],
    );

    // A header for (2^20, 2^20, 8) float32 values over 80 bytes of data.
    let huge = d.join("huge.npy");
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1048576, 1048576, 8), }";
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    let padded = format!("{header:<117}\n");
    bytes.extend((padded.len() as u16).to_le_bytes());
    bytes.extend(padded.as_bytes());
    bytes.extend([0u8; 80]);
    std::fs::write(&huge, bytes).unwrap();
    let spec = write_spec(d, &data(&huge, &labels), CONV1D_NET);
    assert_refused(&train(&spec, &d.join("d")), &["huge.npy", "truncated"]);
}
