//! Every `train` run writes its plots, diagnostics.csv and report.html; the report is checked
//! in headless Chromium (Debian's `chromium` package): it loads, every image decodes, and no
//! script error or console error occurs. `.ci/run` installs Chromium; without it this test fails
//! unless DEEPTRAIN_SKIP_BROWSER=1 says to skip the browser part.

use std::process::Command;

#[test]
fn train_writes_plots_and_a_report_that_renders_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = Command::new(env!("CARGO_BIN_EXE_deeptrain"))
        .args(["train", "--epochs", "3", "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for plot in [
        "curve_loss.png",
        "curve_accuracy.png",
        "learning_rate.png",
        "gradient_flow.png",
        "activation_std.png",
        "activation_mean.png",
    ] {
        let bytes = std::fs::read(out.join("plots").join(plot)).unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "{plot}");
    }
    let csv = std::fs::read_to_string(out.join("diagnostics.csv")).unwrap();
    assert!(csv.lines().count() > 10, "{csv}");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("data:image/png;base64,") && html.contains("<h2>History</h2>"));

    if std::env::var("DEEPTRAIN_SKIP_BROWSER").is_ok_and(|v| v == "1") {
        return;
    }
    let profile = dir.path().join("chromium-profile");
    let page = format!("file://{}", out.join("report.html").display());
    let run = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=5000",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(&page)
        .output()
        .expect("chromium is needed for this test: sudo apt-get install -y chromium, or run scripts/test (or set DEEPTRAIN_SKIP_BROWSER=1)");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let dom = String::from_utf8_lossy(&run.stdout);
    assert!(
        dom.contains("data-images=\"ok 6\""),
        "images did not all load: {}",
        &dom[..dom.len().min(500)]
    );
    assert!(
        dom.contains("data-errors=\"0\""),
        "script errors in the report"
    );
    let log = String::from_utf8_lossy(&run.stderr);
    let console_errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("CONSOLE") && (l.contains("ERROR") || l.contains("Uncaught")))
        .collect();
    assert!(console_errors.is_empty(), "{console_errors:?}");
}

/// Early stopping that stops and restores says so (Keras' two lines) and the report notes it;
/// the report shows the spec as it ran (`--epochs` applied), the run's time and throughput, and
/// a classifier's confusion matrix and per-class scores on the test set.
#[test]
fn report_shows_the_effective_spec_time_classes_and_early_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("stop.toml");
    // Watching the training loss for a maximum: epoch 1 is the best, epoch 2 stops (patience 1).
    std::fs::write(
        &spec,
        r#"
seed = 3
[data]
dataset = "digits"
validation_split = 0.2
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
units = 10
activation = "softmax"
[optimizer]
name = "adam"
learning_rate = 0.01
[fit]
epochs = 30
[[callbacks]]
name = "early_stopping"
monitor = "loss"
mode = "max"
patience = 1
restore_best_weights = true
"#,
    )
    .unwrap();
    let out = dir.path().join("run");
    let o = Command::new(env!("CARGO_BIN_EXE_deeptrain"))
        .arg("train")
        .arg(&spec)
        .args(["--epochs", "17", "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains(
            "Epoch 2: early stopping\nRestoring model weights from the end of the best epoch: 1.\n"
        ),
        "{text}"
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    for needle in [
        "Early stopping (loss) stopped training after epoch 2 of 17; the model has the weights of epoch 1",
        "epochs = 17",
        "training samples per second",
        "seconds per epoch",
        "<h2>Classes (test set)</h2>",
        "<th>true \\ predicted</th>",
        "<th>macro avg</th>",
    ] {
        assert!(html.contains(needle), "`{needle}` missing from the report");
    }
    assert!(
        !html.contains("epochs = 30"),
        "the spec file's epochs, not the run's"
    );
}
