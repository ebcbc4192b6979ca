//! Training rows streamed from disk (`[data] stream = true`, `prepare_streamed`): the same
//! split, scaler, shuffle and so bit for bit the same weights and history as the rows in
//! memory; and one-line errors for bad files.

mod common;

use std::path::Path;

use deeptrain::data::{prepare, prepare_streamed, Prepared, Scale};
use deeptrain::optimizers::{Adam, AdamVariant};
use deeptrain::spec::DataSpec;
use deeptrain::{Activation, DenseSpec, FitOptions, LayerSpec, Loss, Metric, Sequential};

/// A `.npy` file of type `descr` and `shape` holding `data` (the values' bytes as given).
fn raw_npy(path: &Path, descr: &str, shape: &[u64], data: &[u8]) {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let mut header = format!(
        "{{'descr': '{descr}', 'fortran_order': False, 'shape': ({},), }}",
        dims.join(", ")
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    bytes.extend(data);
    std::fs::write(path, bytes).unwrap();
}

/// The embedded digits as x.npy (f32, or big-endian f64 when `f64_be`) and y.npy in `dir`, and
/// a spec over them with a test and a validation split.
fn digits_npy(dir: &Path, f64_be: bool) -> DataSpec {
    let digits = deeptrain::data::digits_all().unwrap();
    let n = digits.len() as u64;
    if f64_be {
        let bytes: Vec<u8> = (digits.x.data().iter())
            .flat_map(|&v| f64::from(v).to_be_bytes())
            .collect();
        raw_npy(&dir.join("x.npy"), ">f8", &[n, 8, 8], &bytes);
    } else {
        common::write_npy(&dir.join("x.npy"), &[n, 8, 8], digits.x.data());
    }
    common::write_npy(&dir.join("y.npy"), &[n], digits.labels.data());
    DataSpec {
        dataset: dir.join("x.npy").display().to_string(),
        labels: Some(dir.join("y.npy")),
        test_split: 0.2,
        validation_split: 0.1,
        scale: Scale::Standard,
        ..DataSpec::default()
    }
}

fn model() -> Sequential {
    let mut model = Sequential::new(&[8, 8])
        .add(LayerSpec::flatten())
        .add(DenseSpec::new(32).activation(Activation::Relu))
        .add(DenseSpec::new(10).activation(Activation::Softmax))
        .build(7)
        .unwrap();
    model
        .compile(
            Box::new(Adam::new(AdamVariant::Adam, 0.01, 0.9, 0.999, 1e-7, false).unwrap()),
            Loss::SparseCategoricalCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap();
    model
}

/// Trains `model()` on `data` for 3 epochs in batches of 50 (the last one short); returns the
/// model and each epoch's logged values (times left out).
fn train(data: &Prepared) -> (Sequential, Vec<Vec<(String, f64)>>) {
    let mut model = model();
    let options = FitOptions {
        epochs: 3,
        batch_size: 50,
        ..FitOptions::default()
    };
    let history = model
        .fit(&data.train, data.validation.as_ref(), &options, &mut [])
        .unwrap();
    let logs = history.epochs.into_iter().map(|e| e.values).collect();
    (model, logs)
}

#[test]
fn streamed_rows_train_the_weights_and_history_of_the_rows_in_memory() {
    for f64_be in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let spec = digits_npy(dir.path(), f64_be);
        let memory = prepare(&spec, None).unwrap();
        let streamed = prepare_streamed(&spec, None).unwrap();
        // The same split and scaler; the training features stay on disk.
        assert_eq!(streamed.scaler, memory.scaler);
        assert_eq!(streamed.train.labels, memory.train.labels);
        assert_eq!(streamed.train.origin, memory.train.origin);
        assert_eq!(streamed.train.x.row_len(), 0);
        assert_eq!(streamed.train.feature_shape(), &[8, 8]);
        assert_eq!(streamed.validation, memory.validation);
        assert_eq!(streamed.test, memory.test);
        let (a, history_a) = train(&memory);
        let (b, history_b) = train(&streamed);
        assert_eq!(history_a, history_b, "f64_be = {f64_be}");
        assert_eq!(a.weights().0, b.weights().0, "f64_be = {f64_be}");
        assert!(history_a[2]
            .iter()
            .any(|(k, v)| k == "val_accuracy" && *v > 0.8));
    }
}

#[test]
fn a_slice_of_streamed_rows_trains_like_the_slice_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let spec = digits_npy(dir.path(), false);
    let mut memory = prepare(&spec, None).unwrap();
    let mut streamed = prepare_streamed(&spec, None).unwrap();
    memory.train = memory.train.slice(100..400);
    streamed.train = streamed.train.slice(100..400);
    let (a, history_a) = train(&memory);
    let (b, history_b) = train(&streamed);
    assert_eq!(history_a, history_b);
    assert_eq!(a.weights().0, b.weights().0);
}

/// The error of `prepare_streamed` for `spec`, checked to be one line.
fn error(spec: &DataSpec) -> String {
    let e = prepare_streamed(spec, None).unwrap_err().to_string();
    assert!(!e.contains('\n'), "{e}");
    e
}

#[test]
fn bad_files_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let spec = digits_npy(dir.path(), false);
    let x = dir.path().join("x.npy");
    let bytes = std::fs::read(&x).unwrap();
    // Truncated.
    std::fs::write(&x, &bytes[..bytes.len() - 10]).unwrap();
    let e = error(&spec);
    assert!(e.contains("x.npy") && e.contains("truncated"), "{e}");
    // A type that is not read.
    raw_npy(&x, "<f2", &[4, 2], &[0; 16]);
    let e = error(&spec);
    assert!(
        e.contains("x.npy") && e.contains("unsupported dtype `<f2`"),
        "{e}"
    );
    // Fewer labels than rows.
    let n = deeptrain::data::digits_all().unwrap().len() as u64;
    common::write_npy(&x, &[n + 1, 8, 8], &vec![0.0; (n as usize + 1) * 64]);
    let e = error(&spec);
    assert!(
        e.contains("y.npy") && e.contains(&format!("{n} labels for {} samples", n + 1)),
        "{e}"
    );
    // Not NPY.
    let csv = DataSpec {
        dataset: "table.csv".into(),
        ..spec.clone()
    };
    let e = error(&csv);
    assert!(
        e.contains("stream = true") && e.contains("table.csv"),
        "{e}"
    );
}

#[test]
fn a_non_finite_streamed_value_stops_training_naming_its_file_row() {
    let dir = tempfile::tempdir().unwrap();
    let spec = DataSpec {
        scale: Scale::None,
        ..digits_npy(dir.path(), false)
    };
    let digits = deeptrain::data::digits_all().unwrap();
    let mut x = digits.x.data().to_vec();
    x[17 * 64 + 5] = f32::NAN;
    common::write_npy(&dir.path().join("x.npy"), &[digits.len() as u64, 8, 8], &x);
    let data = prepare_streamed(&spec, None);
    // Row 17 is in the training part (found while fitting the scaler for other scales) or in
    // the validation or test part (found when scaled): the error names it either way.
    let e = match data {
        Err(e) => e.to_string(),
        Ok(data) => {
            let mut model = model();
            let options = FitOptions {
                epochs: 1,
                ..FitOptions::default()
            };
            model
                .fit(&data.train, data.validation.as_ref(), &options, &mut [])
                .unwrap_err()
                .to_string()
        }
    };
    assert!(
        e.contains("x.npy") && e.contains("17") && e.contains("feature 5"),
        "{e}"
    );
}

#[test]
fn streamed_rows_refuse_a_validation_split_and_data_parallel_training() {
    let dir = tempfile::tempdir().unwrap();
    let spec = digits_npy(dir.path(), false);
    let data = prepare_streamed(&spec, None).unwrap();
    let mut model = model();
    let options = FitOptions {
        validation_split: 0.2,
        ..FitOptions::default()
    };
    let e = model
        .fit(&data.train, None, &options, &mut [])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("stream = true") && e.contains("validation_split"),
        "{e}"
    );
}
