//! The `tensorboard` callback's event files, read back by the real TensorBoard (the PyPI
//! `tensorboard` package) through tests/scripts/check_tensorboard.py; and the same run's
//! verdicts in summary.json.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn tensorboard_reads_the_scalars_and_histograms() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("spec.toml");
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/penguins.csv.gz");
    std::fs::write(
        &spec,
        format!(
            "seed = 1\n[data]\ndataset = \"{}\"\nlabel_column = \"species\"\ncategorical = [\"island\", \"sex\"]\nimpute = \"median\"\nscale = \"standard\"\nvalidation_split = 0.2\n\
             [[layers]]\ntype = \"Dense\"\nunits = 8\nactivation = \"relu\"\n[[layers]]\ntype = \"Dense\"\nunits = 3\nactivation = \"softmax\"\n\
             [compile]\nmetrics = [\"accuracy\"]\n[optimizer]\nname = \"Adam\"\nlearning_rate = 0.01\n[fit]\nepochs = 4\nbatch_size = 32\n\
             [[callbacks]]\nname = \"TensorBoard\"\nlog_dir = \"tb\"\n",
            data.display()
        ),
    )
    .unwrap();
    let out = dir.path().join("run");
    let o = Command::new(env!("CARGO_BIN_EXE_deeptrain"))
        .args([
            "train",
            spec.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let files: Vec<_> = std::fs::read_dir(out.join("tb/train"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        files.iter().any(|f| f.starts_with("events.out.tfevents.")),
        "{files:?}"
    );
    // summary.json lists the run's verdicts, gated on its loss curve as `diagnose` gates them.
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let verdicts = summary["verdicts"]
        .as_array()
        .expect("verdicts in summary.json");
    assert!(!verdicts.is_empty(), "{summary}");
    for v in verdicts {
        for key in ["id", "layer", "evidence", "fix"] {
            assert!(v.get(key).is_some(), "{key} in {v}");
        }
    }
    if std::env::var("DEEPTRAIN_SKIP_TENSORBOARD").is_ok_and(|v| v == "1") {
        return;
    }
    // 10 features (3 islands, 4 measurements, 2 sexes, the year) into 8 units, then 3;
    // the activations are of the last batch seen, the 69 validation rows.
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/check_tensorboard.py");
    // scripts/test points DEEPTRAIN_PYTHON at a virtual environment holding tensorboard.
    let python = std::env::var("DEEPTRAIN_PYTHON").unwrap_or_else(|_| "python3".into());
    let run = Command::new(&python)
        .arg(&script)
        .arg(out.join("tb"))
        .arg(out.join("history.csv"))
        .args([
            "dense/kernel=80",
            "dense/kernel/gradient=80",
            "dense/bias=8",
            "dense_1/kernel=24",
            "dense/activation=552",
            "dense_1/activation=207",
        ])
        .output()
        .expect("python3 is needed for this test");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        !text.contains("No module named 'tensorboard'"),
        "the tensorboard package is needed for this test: pip install tensorboard==2.21.0, or run scripts/test (or set DEEPTRAIN_SKIP_TENSORBOARD=1)"
    );
    assert!(run.status.success(), "{text}");
    assert!(text.contains("ok update ratios"), "{text}");
    assert!(text.contains("ok instruments"), "{text}");
}
