//! Bounded fuzzing of every parser (proptest): spec, CSV, NPY, IDX and the model files. Each
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
}
