//! Bounded fuzzing of every parser (proptest): spec, CSV, tables (string labels, categorical
//! columns, missing values), NPY, IDX, the model files and a checkpoint's
//! `training_state.json`. Each
//! case mutates a valid input from `tests/fuzz_corpus/` (byte flips, insertions, deletions,
//! truncation); the parser must return a value or a one-line error, never panic or hang.
//! PROPTEST_CASES raises the number of cases for a longer run (default 256 per parser).

use std::path::{Path, PathBuf};

use proptest::prelude::*;

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_corpus")
        .join(name)
}

/// Applies edits (position, operation, byte) to `base`.
fn mutate(base: &[u8], edits: &[(usize, u8, u8)]) -> Vec<u8> {
    let mut out = base.to_vec();
    for &(pos, op, byte) in edits {
        if out.is_empty() {
            out.push(byte);
            continue;
        }
        let at = pos % out.len();
        match op % 4 {
            0 => out[at] ^= byte | 1,
            1 => out.insert(at, byte),
            2 => {
                out.remove(at);
            }
            _ => out.truncate(at),
        }
    }
    out
}

fn edits() -> impl Strategy<Value = Vec<(usize, u8, u8)>> {
    prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..6)
}

fn one_line(err: &deeptrain::Error) {
    let text = err.to_string();
    assert!(!text.contains('\n'), "multi-line error: {text}");
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn spec_parser(e in edits()) {
        let base = std::fs::read(corpus("spec.toml")).unwrap();
        let text = String::from_utf8_lossy(&mutate(&base, &e)).into_owned();
        if let Err(err) = deeptrain::spec::Spec::parse(&text, Path::new("fuzz.toml")) {
            one_line(&err);
        }
    }

    #[test]
    fn csv_parser(e in edits()) {
        let base = std::fs::read(corpus("data.csv")).unwrap();
        let bytes = mutate(&base, &e);
        let label = deeptrain::data::LabelColumn::Named("label");
        if let Err(err) = deeptrain::data::parse_csv(&bytes, Path::new("fuzz.csv"), label) {
            one_line(&err);
        }
    }

    /// A table with string labels, categorical columns and imputation: read, encoding fitted
    /// and applied, and a mutated file encoded for prediction with the original's encoding.
    #[test]
    fn table_parser(e in edits(), impute in any::<bool>()) {
        use deeptrain::data::tabular::{encode_csv, read_table, TableOptions};
        use deeptrain::data::{Impute, TableEncoding};
        let base = std::fs::read(corpus("table.csv")).unwrap();
        let bytes = mutate(&base, &e);
        let categorical = ["island".to_string(), "sex".to_string()];
        let options = TableOptions {
            label: "species",
            features: None,
            categorical: &categorical,
            impute: impute.then_some(Impute::Median),
            sample_weight_column: None,
        };
        let path = Path::new("fuzz.csv");
        match read_table(&bytes, path, &options) {
            Ok((mut data, layout, _)) => {
                if let Ok(encoding) = TableEncoding::fit(&layout, &data, "species") {
                    if let Err(err) = encoding.apply(&layout, &mut data) {
                        one_line(&err);
                    }
                }
            }
            Err(err) => one_line(&err),
        }
        let options = TableOptions { impute: Some(Impute::Mean), ..options };
        let (data, layout, _) = read_table(&base, path, &options).unwrap();
        let encoding = TableEncoding::fit(&layout, &data, "species").unwrap();
        if let Err(err) = encode_csv(&bytes, path, &encoding) {
            one_line(&err);
        }
    }

    #[test]
    fn npy_and_idx_parsers(e in edits()) {
        let dir = tempfile::tempdir().unwrap();
        for (name, reader) in [
            ("data.npy", 0),
            ("images.idx", 1),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, mutate(&std::fs::read(corpus(name)).unwrap(), &e)).unwrap();
            let result = if reader == 0 {
                deeptrain::data::read_npy(&path).map(|_| ())
            } else {
                deeptrain::data::read_idx(&path).map(|_| ())
            };
            if let Err(err) = result {
                one_line(&err);
            }
        }
    }

    #[test]
    fn model_files(e in edits(), which in 0usize..3) {
        let dir = tempfile::tempdir().unwrap();
        let files = ["model.toml", "weights.safetensors", "optimizer.safetensors"];
        for (i, f) in files.iter().enumerate() {
            let bytes = std::fs::read(corpus("model").join(f)).unwrap();
            let bytes = if i == which { mutate(&bytes, &e) } else { bytes };
            std::fs::write(dir.path().join(f), bytes).unwrap();
        }
        if let Err(err) = deeptrain::Sequential::load(dir.path()) {
            one_line(&err);
        }
    }

    #[test]
    fn training_state_bytes(e in edits()) {
        let dir = checkpoint_copy();
        let path = dir.path().join("resume/training_state.json");
        std::fs::write(&path, mutate(&std::fs::read(&path).unwrap(), &e)).unwrap();
        if let Err(err) = deeptrain::Sequential::load_checkpoint(&dir.path().join("resume")) {
            one_line(&err);
        }
    }

    /// Well-formed JSON with one count or index replaced: what a byte flip rarely reaches.
    #[test]
    fn training_state_values(field in 0usize..5, at in any::<usize>(), value in any::<u32>()) {
        let dir = checkpoint_copy();
        let path = dir.path().join("resume/training_state.json");
        let mut state: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let order = state["shuffle_order"].as_array().unwrap().len();
        let v = serde_json::json!(value % 64);
        match field {
            0 => state["shuffle_order"][at % order] = v,
            1 => state["epochs_done"] = v,
            2 => state["history"][0]["epoch"] = v,
            3 => state["shuffle_rng"]["stream"] = v,
            _ => state["shuffle_order"] = serde_json::json!(vec![value % 64; order]),
        }
        std::fs::write(&path, serde_json::to_string(&state).unwrap()).unwrap();
        if let Err(err) = deeptrain::Sequential::load_checkpoint(&dir.path().join("resume")) {
            one_line(&err);
        }
    }
}

/// A temporary copy of the corpus checkpoint, as `DIR/resume`.
fn checkpoint_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let resume = dir.path().join("resume");
    std::fs::create_dir_all(&resume).unwrap();
    for entry in std::fs::read_dir(corpus("checkpoint")).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, resume.join(p.file_name().unwrap())).unwrap();
    }
    dir
}
