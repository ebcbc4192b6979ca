//! `deeptrain doctor` (src/doctor.rs): it repairs a constructed broken spec, and claims nothing
//! that its trials did not show.

use std::path::{Path, PathBuf};

use deeptrain::doctor::{self, DoctorOptions};

fn write_spec(dir: &Path, name: &str, text: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("deeptrain-doctor-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Glorot & Bengio's failing setup, small: eight sigmoid layers with N(0, 1) weights and plain
/// SGD, on the digits.
const SIGMOID_SGD: &str = r#"
seed = 7

[data]
dataset = "digits"
scale = "unit"
validation_split = 0.2

[[layers]]
type = "flatten"

[[layers]]
type = "dense"
units = 32
activation = "sigmoid"
kernel_initializer = { name = "random_normal", stddev = 1.0 }
repeat = 8

[[layers]]
type = "dense"
units = 10
activation = "softmax"

[compile]
loss = "sparse_categorical_crossentropy"
metrics = ["accuracy"]

[optimizer]
name = "sgd"
learning_rate = 0.01

[fit]
epochs = 10
batch_size = 32
"#;

#[test]
fn doctor_repairs_a_deep_sigmoid_stack_under_sgd() {
    let dir = temp_dir("sigmoid");
    let spec = write_spec(&dir, "broken.toml", SIGMOID_SGD);
    let options = DoctorOptions::default();
    let report = doctor::doctor(&spec, &options).unwrap();
    assert!(!report.problems.is_empty(), "{:?}", report.findings);
    // The baseline stalls, so `diagnose`'s gate lets its problem through as a verdict.
    assert!(
        report.findings.iter().any(|f| f.starts_with("verdict ")),
        "{:?}",
        report.findings
    );
    let before = report.baseline.value;
    let after = report.best().value;
    assert!(before < 0.5, "the broken spec already learns: {before}");
    assert!(
        after > 0.85,
        "doctor reached {after} from {before}:\n{}",
        report.table()
    );

    // Every kept trial beat the trial it started from; nothing else is in the repaired spec.
    for &i in &report.kept {
        let t = &report.trials[i];
        assert!(t.score.beats(&t.before), "{:?}", t);
    }
    // The repaired spec, written and read back, trains to the same score as the kept trial
    // (same seed, same budget): the table shows what the spec does.
    let out = dir.join("out");
    report.write(&out).unwrap();
    for f in ["repaired.toml", "doctor.md", "doctor.json"] {
        assert!(out.join(f).is_file(), "{f}");
    }
    let repaired = out.join("repaired.toml");
    let text = std::fs::read_to_string(&repaired).unwrap();
    assert!(
        text.starts_with("# Repaired by `deeptrain doctor`"),
        "{text}"
    );
    let again = doctor::doctor(
        &repaired,
        &DoctorOptions {
            rounds: 0,
            ..options
        },
    )
    .unwrap();
    assert_eq!(again.baseline.value, after, "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn doctor_keeps_nothing_that_did_not_beat_the_baseline() {
    // A spec that trains well: whatever the doctor tries, only a clear gain may be kept.
    let dir = temp_dir("healthy");
    let healthy = SIGMOID_SGD
        .replace("activation = \"sigmoid\"", "activation = \"relu\"")
        .replace(
            "kernel_initializer = { name = \"random_normal\", stddev = 1.0 }",
            "kernel_initializer = \"he_normal\"",
        )
        .replace("repeat = 8", "repeat = 2")
        .replace("name = \"sgd\"", "name = \"adam\"")
        .replace("learning_rate = 0.01", "learning_rate = 0.001");
    let spec = write_spec(&dir, "healthy.toml", &healthy);
    let report = doctor::doctor(&spec, &DoctorOptions::default()).unwrap();
    assert!(report.baseline.value > 0.85, "{}", report.table());
    let mut current = report.baseline.clone();
    for &i in &report.kept {
        assert!(report.trials[i].score.beats(&current), "{}", report.table());
        current = report.trials[i].score.clone();
    }
    if report.kept.is_empty() {
        let text = report.repaired_toml().unwrap();
        assert!(
            text.contains("No remedy beat the spec as written"),
            "{text}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn doctor_reports_a_bad_spec_in_one_line() {
    let dir = temp_dir("bad");
    let spec = write_spec(&dir, "bad.toml", "seed = [\n");
    let err = doctor::doctor(&spec, &DoctorOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("bad.toml") && !err.contains('\n'), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
