//! The diagnosis benchmark's manifest and specs (bench/diagnosis/), and its scorer's unit tests.
//! The benchmark itself is run by `python3 bench/diagnosis/score.py`, not here.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use deeptrain::spec::Spec;
use deeptrain::Experiment;

fn bench_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/diagnosis")
}

/// The rows of cases.csv as column -> value maps (quoted fields with commas and "" escapes).
fn manifest() -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(bench_dir().join("cases.csv")).expect("cases.csv");
    let mut rows = text.lines().map(split_csv);
    let header = rows.next().expect("a header");
    rows.map(|r| header.iter().cloned().zip(r).collect())
        .collect()
}

fn split_csv(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                out.last_mut().unwrap().push('"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(String::new()),
            c => out.last_mut().unwrap().push(c),
        }
    }
    out
}

/// The verdict ids a label may name (`deeptrain diagnose --json`'s stable ids).
const IDS: &[&str] = &[
    "vanishing_gradients",
    "exploding_gradients",
    "divergence",
    "dead_relus",
    "saturation",
    "oscillating_loss",
    "slow_convergence",
    "output_loss_mismatch",
    "unscaled_inputs",
    "unscaled_targets",
    "learning_rate_too_high",
    "learning_rate_too_low",
    "overfitting",
    "healthy",
];

#[test]
fn manifest_has_the_cases_and_their_provenance() {
    let rows = manifest();
    let kind = |k: &str| rows.iter().filter(|r| r["kind"] == k).count();
    assert!(kind("broken") >= 60, "{} broken cases", kind("broken"));
    assert!(
        kind("healthy") >= 20,
        "{} healthy controls",
        kind("healthy")
    );
    let by_id: HashMap<&str, &HashMap<String, String>> =
        rows.iter().map(|r| (r["id"].as_str(), r)).collect();
    assert_eq!(by_id.len(), rows.len(), "duplicate case ids");
    for r in &rows {
        let id = &r["id"];
        for key in ["source", "path", "commit"] {
            assert!(!r[key].is_empty(), "{id}: no {key}");
        }
        assert_eq!(r["commit"].len(), 40, "{id}: commit {}", r["commit"]);
        match r["kind"].as_str() {
            "skipped" => assert!(!r["note"].is_empty(), "{id}: a skip without its reason"),
            k @ ("broken" | "healthy") => {
                assert!(!r["label_source"].is_empty(), "{id}: no label source");
                for label in r["labels"].split(';') {
                    assert!(IDS.contains(&label), "{id}: unknown label {label}");
                }
                if k == "broken" {
                    assert!(r["labels"] != "healthy", "{id}");
                    // A repair needs a target: a healthy control, or a fixed loss.
                    let control = &r["control"];
                    if control.is_empty() {
                        assert!(
                            r["target"].starts_with("loss "),
                            "{id}: no control, no fixed loss"
                        );
                    } else {
                        assert_eq!(
                            by_id[control.as_str()]["kind"],
                            "healthy",
                            "{id}: control {control}"
                        );
                    }
                }
                assert!(
                    bench_dir()
                        .join("cases")
                        .join(format!("{id}.toml"))
                        .is_file(),
                    "{id}: no spec"
                );
            }
            other => panic!("{id}: kind {other}"),
        }
    }
}

#[test]
fn every_case_spec_builds_its_model() {
    for r in manifest().iter().filter(|r| r["kind"] != "skipped") {
        let path = bench_dir().join("cases").join(format!("{}.toml", r["id"]));
        let spec = Spec::from_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Experiment::build_model(&spec).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

#[test]
fn the_scorer_passes_its_unit_tests() {
    let Ok(out) = Command::new("python3")
        .arg(bench_dir().join("test_score.py"))
        .output()
    else {
        eprintln!("python3 not found: score.py's unit tests not run");
        return;
    };
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
