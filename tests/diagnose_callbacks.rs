//! `deeptrain diagnose` trains through the same runner as `train`, so the spec's
//! `[[callbacks]]` apply: early stopping ends the diagnosis run, a CSV logger writes under
//! `--out`, and without `--out` a callback that writes is named and left out.

use std::path::Path;
use std::process::Command;

/// Runs `deeptrain diagnose ARGS` in `dir`; returns stdout (the command must succeed).
fn diagnose(dir: &Path, args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_deeptrain"))
        .current_dir(dir)
        .arg("diagnose")
        .args(args)
        .output()
        .expect("run deeptrain");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A digits MLP with a CSV logger and an early stopping no epoch can satisfy (`min_delta` 10
/// on the training loss, patience 0): it stops at the second epoch.
const SPEC: &str = r#"
[data]
dataset = "digits"
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
units = 16
activation = "relu"
[[layers]]
type = "dense"
units = 10
activation = "softmax"
[[callbacks]]
name = "csv_logger"
[[callbacks]]
name = "early_stopping"
monitor = "loss"
min_delta = 10.0
patience = 0
"#;

#[test]
fn diagnose_runs_the_specs_callbacks() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("spec.toml"), SPEC).unwrap();
    // 200 steps of 32 rows over the 1,437 training digits are 5 epochs; early stopping ends
    // the run after 2 (45 steps each).
    let out = diagnose(dir.path(), &["spec.toml", "--steps", "200", "--out", "run"]);
    assert!(out.contains("Epoch 2: early stopping"), "{out}");
    assert!(out.contains("Step 90:"), "{out}");
    assert!(
        out.contains(
            "Verdicts (after 90 of 200 steps; a callback (such as early stopping) ended training)"
        ),
        "{out}"
    );
    let log = std::fs::read_to_string(dir.path().join("run/log.csv")).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert!(lines[0].starts_with("epoch,"), "{log}");
    assert_eq!(lines.len(), 3, "a header and 2 epochs: {log}");
    // Without --out the logger is named and left out; nothing is written.
    let out = diagnose(dir.path(), &["spec.toml", "--steps", "60"]);
    assert!(
        out.contains("note: the csv_logger callback writes files: give --out to run it"),
        "{out}"
    );
    assert!(!dir.path().join("log.csv").exists());
    // With --json, stdout is the one JSON object: early stopping says nothing there.
    let out = diagnose(dir.path(), &["spec.toml", "--steps", "200", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&out).expect(&out);
    assert_eq!(json["steps"], 90, "{out}");
}
