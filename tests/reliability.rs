//! Faults: SIGKILL at random moments (every resume succeeds, and the run ends with the same
//! weights as one never interrupted), SIGTERM (a clean stop that names the checkpoint), and
//! divergence (a message with the epoch, step and layer; earlier checkpoints stay intact).

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use rand::{Rng as _, SeedableRng};

const BIN: &str = env!("CARGO_BIN_EXE_deeptrain");

const SPEC: &str = r#"
seed = 11
[data]
dataset = "digits"
validation_split = 0.1
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
units = 48
activation = "relu"
[[layers]]
type = "dropout"
rate = 0.2
[[layers]]
type = "dense"
units = 10
activation = "softmax"
[optimizer]
name = "adam"
learning_rate = 0.003
[fit]
epochs = 400
batch_size = 16
"#;

fn train(spec: &Path, out: &Path, resume: bool) -> Command {
    let mut c = Command::new(BIN);
    c.args([
        "train",
        spec.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    if resume {
        c.args(["--resume", out.to_str().unwrap()]);
    }
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    c
}

fn finished(o: &Output) -> bool {
    o.status.success()
}

#[test]
fn sigkill_at_random_moments_loses_nothing_but_the_current_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("s.toml");
    std::fs::write(&spec, SPEC).unwrap();
    let straight = dir.path().join("straight");
    let started = std::time::Instant::now();
    assert!(finished(&train(&spec, &straight, false).output().unwrap()));
    // Kill moments scale with how long a whole run takes on this machine: six kills of at most
    // 15% each leave a quarter of the run, so every one lands before the run can end.
    let whole_run = started.elapsed();

    let run = dir.path().join("killed");
    let mut rng = deeptrain::Rng::seed_from_u64(2026);
    let mut kills = 0;
    let mut epochs_seen = Vec::new();
    let mut done = false;
    for _ in 0..6 {
        let mut child = train(&spec, &run, true).spawn().unwrap();
        std::thread::sleep(whole_run.mul_f64(rng.random_range(0.02..0.15)));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        let status = child.wait().unwrap();
        if status.success() {
            done = true;
            break;
        }
        // Whatever the moment, a checkpoint (if one was written yet) loads.
        let checkpoint = run.join("resume");
        if checkpoint.exists() || run.join("resume.old").exists() {
            let (_, _, _, history) = deeptrain::Sequential::load_checkpoint(&checkpoint)
                .unwrap_or_else(|e| panic!("checkpoint after kill {kills}: {e}"));
            epochs_seen.push(history.epochs.len());
        }
    }
    assert!(kills >= 3, "only {kills} kills landed");
    assert!(
        epochs_seen.windows(2).all(|w| w[0] <= w[1]),
        "progress went backwards: {epochs_seen:?}"
    );
    // Finish the run.
    if !done {
        let o = train(&spec, &run, true).output().unwrap();
        assert!(finished(&o), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let same = std::fs::read(straight.join("model/weights.safetensors")).unwrap()
        == std::fs::read(run.join("model/weights.safetensors")).unwrap();
    assert!(
        same,
        "the killed-and-resumed run ended with different weights ({epochs_seen:?})"
    );
}

#[test]
fn sigterm_stops_cleanly_and_names_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("s.toml");
    std::fs::write(&spec, SPEC.replace("epochs = 150", "epochs = 5000")).unwrap();
    let run = dir.path().join("run");
    let child = train(&spec, &run, false).spawn().unwrap();
    // Wait for the first checkpoint, then ask politely.
    for _ in 0..200 {
        if run.join("resume/training_state.json").exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    unsafe_kill_term(child.id());
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("interrupted at epoch") && err.contains("--resume"),
        "{err}"
    );
    // An interruption, with the command that continues it; not a configuration error.
    assert!(!err.contains("invalid configuration"), "{err}");
    assert!(
        err.contains(&format!(
            "continue with: deeptrain train {}",
            spec.display()
        )),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(!err.contains("panicked"));
    deeptrain::Sequential::load_checkpoint(&run.join("resume")).unwrap();
}

fn unsafe_kill_term(pid: u32) {
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn divergence_names_epoch_step_and_layer_and_keeps_the_last_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("s.toml");
    // Two good epochs, then a learning rate that blows the weights up.
    let text = SPEC.replace("name = \"adam\"\nlearning_rate = 0.003", "name = \"sgd\"\nlearning_rate = 0.05")
        + "[schedule]\nname = \"piecewise_constant\"\nper = \"epoch\"\nboundaries = [1]\nvalues = [0.05, 1e30]\n";
    std::fs::write(&spec, text).unwrap();
    let run = dir.path().join("run");
    let o = train(&spec, &run, false).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("training diverged") && err.contains("epoch 3, step"),
        "{err}"
    );
    assert!(err.contains("first non-finite values in layer"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    let (_, _, _, history) = deeptrain::Sequential::load_checkpoint(&run.join("resume")).unwrap();
    assert_eq!(history.epochs.len(), 2);
}

/// Inputs that would need absurd memory, or that are inconsistent, are refused before anything
/// is allocated or trained, with one line naming the file and the problem.
#[test]
fn resource_bombs_and_inconsistent_data_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let check = |name: &str, text: &str, expected: &[&str]| {
        let spec = dir.path().join(name);
        std::fs::write(&spec, text).unwrap();
        let o = Command::new(BIN)
            .args([
                "train",
                spec.to_str().unwrap(),
                "--out",
                dir.path().join("o").to_str().unwrap(),
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{name} was accepted");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(!err.contains("panicked"), "{err}");
        for e in expected {
            assert!(err.contains(e), "`{e}` not in {err}");
        }
    };
    check(
        "huge.toml",
        "[[layers]]\ntype = \"dense\"\nunits = 1000000000000\n",
        &["huge.toml", "units", "limit"],
    );
    check(
        "deep.toml",
        "[[layers]]\ntype = \"dense\"\nunits = 10\nrepeat = 100000000\n",
        &["deep.toml", "repeat"],
    );
    check(
        "wide.toml",
        "[data]\ndataset = \"digits\"\n[[layers]]\ntype = \"flatten\"\n[[layers]]\ntype = \"dense\"\nunits = 16000000\n[[layers]]\ntype = \"dense\"\nunits = 16000000\n",
        &["limit"],
    );
    // An IDX header claiming 10^12 images.
    let idx_dir = dir.path().join("idx");
    std::fs::create_dir_all(&idx_dir).unwrap();
    let mut header = vec![0u8, 0, 8, 3];
    for d in [1_000_000_000u32, 1000, 1000] {
        header.extend(d.to_be_bytes());
    }
    std::fs::write(idx_dir.join("train-images-idx3-ubyte"), &header).unwrap();
    let mut labels = vec![0u8, 0, 8, 1];
    labels.extend(1_000_000_000u32.to_be_bytes());
    std::fs::write(idx_dir.join("train-labels-idx1-ubyte"), &labels).unwrap();
    check(
        "bomb.toml",
        &format!(
            "[data]\ndataset = \"{}\"\n[[layers]]\ntype = \"dense\"\nunits = 10\n",
            idx_dir.display()
        ),
        &["train-images-idx3-ubyte", "over the limit"],
    );
    // A NaN feature, named by row and column.
    let csv = dir.path().join("nan.csv");
    std::fs::write(&csv, "a,b,y\n0.1,0.2,0\n0.3,nan,1\n").unwrap();
    check(
        "nan.toml",
        &format!(
            "[data]\ndataset = \"{}\"\nlabel_column = \"y\"\n[[layers]]\ntype = \"dense\"\nunits = 2\nactivation = \"softmax\"\n",
            csv.display()
        ),
        &["nan.csv: line 3", "not a finite number"],
    );
}
