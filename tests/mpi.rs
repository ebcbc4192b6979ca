//! Data-parallel training over MPI, run for real with Open MPI's `mpirun` on this machine:
//! equivalence with one process, a killed rank, a signal to one rank, resuming with another
//! number of ranks, and ranks that disagree at start-up.
//!
//! Needs the `mpi` feature and `mpirun` (Debian: openmpi-bin, libopenmpi-dev); `scripts/test`
//! turns the feature on where they are installed.
#![cfg(feature = "mpi")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const EXE: &str = env!("CARGO_BIN_EXE_deeptrain");

/// A small network on the embedded digits, without dropout or batch norm, so that N ranks and
/// one process compute the same thing up to the order of the sums.
fn spec(epochs: usize, learning_rate: f64, optimizer: &str) -> String {
    format!(
        r#"seed = 7
[data]
dataset = "digits"
validation_split = 0.2
scale = "unit"
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
units = 48
activation = "relu"
kernel_initializer = "he_normal"
[[layers]]
type = "dense"
units = 10
activation = "softmax"
[compile]
loss = "sparse_categorical_crossentropy"
metrics = ["accuracy"]
[optimizer]
name = "{optimizer}"
learning_rate = {learning_rate}
[fit]
epochs = {epochs}
batch_size = 32
"#
    )
}

fn mpirun(ranks: usize) -> Command {
    let mut cmd = Command::new("mpirun");
    cmd.args(["--oversubscribe", "-n", &ranks.to_string()]);
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        cmd.arg("--allow-run-as-root");
    }
    cmd
}

fn train(ranks: Option<usize>, spec: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut cmd = match ranks {
        Some(n) => {
            let mut c = mpirun(n);
            c.arg(EXE);
            c
        }
        None => Command::new(EXE),
    };
    cmd.args(["--threads", "1", "train"])
        .arg(spec)
        .arg("--out")
        .arg(out)
        .args(extra);
    cmd.output().expect("mpirun runs")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn weights(dir: &Path) -> Vec<(String, Vec<f32>)> {
    tensors(&dir.join("weights.safetensors"))
}

/// The f32 tensors of a safetensors file, by name.
fn tensors(path: &Path) -> Vec<(String, Vec<f32>)> {
    let bytes = std::fs::read(path).unwrap();
    let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut out: Vec<(String, Vec<f32>)> = tensors
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let values = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect();
            (name, values)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn summary(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap()
}

fn write_spec(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The largest |a - b| / max(|a|, |b|, 1e-2) over every weight.
fn max_relative_difference(a: &[(String, Vec<f32>)], b: &[(String, Vec<f32>)]) -> f64 {
    assert_eq!(a.len(), b.len());
    let mut worst = 0.0f64;
    for ((na, va), (nb, vb)) in a.iter().zip(b) {
        assert_eq!(na, nb);
        for (&x, &y) in va.iter().zip(vb) {
            let scale = x.abs().max(y.abs()).max(1e-2) as f64;
            worst = worst.max((x - y).abs() as f64 / scale);
        }
    }
    worst
}

#[test]
fn two_and_three_ranks_train_as_one_process_with_the_global_batch() {
    let dir = tempfile::tempdir().unwrap();
    for optimizer in ["sgd", "adam"] {
        let lr = if optimizer == "sgd" { 0.05 } else { 0.002 };
        // Weights after the first epoch.
        let one_epoch = write_spec(dir.path(), "one.toml", &spec(1, lr, optimizer));
        let alone = dir.path().join(format!("{optimizer}-alone-1"));
        let out = train(None, &one_epoch, &alone, &[]);
        assert!(out.status.success(), "{}", text(&out));
        for ranks in [2, 3] {
            let shared = dir.path().join(format!("{optimizer}-{ranks}-1"));
            let out = train(Some(ranks), &one_epoch, &shared, &[]);
            assert!(out.status.success(), "{}", text(&out));
            assert!(
                text(&out).contains(&format!("Data-parallel over {ranks} MPI ranks")),
                "{}",
                text(&out)
            );
            let worst = max_relative_difference(
                &weights(&alone.join("model")),
                &weights(&shared.join("model")),
            );
            assert!(
                worst < 1e-4,
                "{optimizer}, {ranks} ranks: weights after one epoch differ by {worst} relative"
            );
        }
        // Final metrics after ten epochs, to half a percentage point.
        let ten = write_spec(dir.path(), "ten.toml", &spec(10, lr, optimizer));
        let alone = dir.path().join(format!("{optimizer}-alone-10"));
        let out = train(None, &ten, &alone, &[]);
        assert!(out.status.success(), "{}", text(&out));
        let shared = dir.path().join(format!("{optimizer}-2-10"));
        let out = train(Some(2), &ten, &shared, &[]);
        assert!(out.status.success(), "{}", text(&out));
        let (a, b) = (summary(&alone), summary(&shared));
        for set in ["train", "validation", "test"] {
            let (x, y) = (
                a[set]["accuracy"].as_f64().unwrap(),
                b[set]["accuracy"].as_f64().unwrap(),
            );
            assert!(
                (x - y).abs() <= 0.005,
                "{optimizer}: {set} accuracy {x} alone, {y} on two ranks"
            );
            assert!(
                x > 0.8,
                "{optimizer}: {set} accuracy {x} (the run did not learn)"
            );
        }
        // Rank 0 alone writes: one history, with every epoch once.
        let history = std::fs::read_to_string(shared.join("history.csv")).unwrap();
        assert_eq!(history.lines().count(), 11, "{history}");
    }
}

/// The processes mpirun started (its direct children).
fn ranks_of(mpirun: &Child, expected: usize) -> Vec<u32> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut children = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'.
            let after = &stat[stat.rfind(')').unwrap() + 2..];
            let ppid: u32 = after.split(' ').nth(1).unwrap().parse().unwrap();
            let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
            if ppid == mpirun.id() && exe.to_string_lossy().contains("deeptrain") {
                children.push(pid);
            }
        }
        if children.len() == expected {
            children.sort();
            return children;
        }
        assert!(
            Instant::now() < deadline,
            "mpirun did not start {expected} ranks"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_for(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits for `child` to exit, at most `limit`; returns its output and the time it took.
fn finish(mut child: Child, limit: Duration) -> (Output, Duration) {
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return (child.wait_with_output().unwrap(), started.elapsed());
        }
        if started.elapsed() > limit {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!("still running after {limit:?}: {}", text(&out));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn start(ranks: usize, spec: &Path, out: &Path) -> Child {
    mpirun(ranks)
        .args([EXE, "--threads", "1", "train"])
        .arg(spec)
        .arg("--out")
        .arg(out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Starts a long run on two ranks writing to `out`, and sends `signal` to rank 1 once the first
/// epoch's checkpoint is written.
fn signal_rank_1_after_an_epoch(dir: &Path, out: &Path, signal: i32) -> Child {
    let long = write_spec(dir, "long.toml", &spec(100_000, 0.05, "sgd"));
    let child = start(2, &long, out);
    let ranks = ranks_of(&child, 2);
    wait_for(&out.join("resume").join("training_state.json"));
    // SAFETY: kill has no memory preconditions.
    unsafe { libc::kill(ranks[1] as i32, signal) };
    child
}

#[test]
fn a_killed_rank_ends_the_run_within_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let child = signal_rank_1_after_an_epoch(dir.path(), &out, libc::SIGKILL);
    let (output, took) = finish(child, Duration::from_secs(10));
    assert!(!output.status.success());
    assert!(
        took < Duration::from_secs(5),
        "the run took {took:?} to end"
    );
    let said = text(&output);
    assert!(said.contains("signal 9"), "{said}");
    // The last checkpoint is whole: it resumes.
    assert!(deeptrain::experiment::has_checkpoint(&out));
}

#[test]
fn a_signal_to_one_rank_stops_every_rank_and_the_run_resumes_with_another_count() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    // SIGTERM to rank 1 only: it tells the others in the next step's sum.
    let child = signal_rank_1_after_an_epoch(dir.path(), &out, libc::SIGTERM);
    let (output, _) = finish(child, Duration::from_secs(20));
    assert!(!output.status.success());
    let said = text(&output);
    assert!(said.contains("interrupted at epoch"), "{said}");
    assert!(said.contains("--resume"), "{said}");
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("resume").join("training_state.json")).unwrap(),
    )
    .unwrap();
    let done = state["epochs_done"]
        .as_u64()
        .or_else(|| state["history"].as_array().map(|h| h.len() as u64))
        .expect("the checkpoint counts its epochs");
    assert!(done >= 1);
    // Resume with three ranks, then with one process, a few epochs further each.
    let further = write_spec(
        dir.path(),
        "further.toml",
        &spec(done as usize + 2, 0.05, "sgd"),
    );
    let output = train(
        Some(3),
        &further,
        &out,
        &["--resume", out.to_str().unwrap()],
    );
    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("Resuming"), "{}", text(&output));
    let further = write_spec(
        dir.path(),
        "further.toml",
        &spec(done as usize + 4, 0.05, "sgd"),
    );
    let output = train(None, &further, &out, &["--resume", out.to_str().unwrap()]);
    assert!(output.status.success(), "{}", text(&output));
    let history = std::fs::read_to_string(out.join("history.csv")).unwrap();
    assert_eq!(history.lines().count(), done as usize + 5, "{history}");
    assert!(summary(&out)["validation"]["accuracy"].as_f64().unwrap() > 0.8);
}

/// Runs rank 0 on spec `a` and rank 1 on spec `b` (MPMD), both into `out`; asserts that they
/// refuse to start, within 30 seconds, for their different specs.
fn refuse_different_specs(a: &Path, b: &Path, out: &Path) {
    let mut cmd = mpirun(1);
    cmd.args([EXE, "train"])
        .arg(a)
        .arg("--out")
        .arg(out)
        .args([":", "-n", "1", EXE, "train"])
        .arg(b)
        .arg("--out")
        .arg(out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let (output, _) = finish(cmd.spawn().unwrap(), Duration::from_secs(30));
    assert!(!output.status.success());
    let said = text(&output);
    assert!(
        said.contains("1 of the 2 MPI ranks have a different spec"),
        "{said}"
    );
    assert!(!out.join("history.csv").exists());
}

#[test]
fn ranks_that_disagree_on_the_spec_refuse_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let a = write_spec(dir.path(), "a.toml", &spec(2, 0.05, "sgd"));
    let b = write_spec(dir.path(), "b.toml", &spec(2, 0.01, "sgd"));
    let out = dir.path().join("run");
    refuse_different_specs(&a, &b, &out);
    // Sharded, the scaler is fitted collectively, in sums whose count depends on the spec: the
    // specs are compared before, so the ranks refuse instead of waiting on each other.
    let sharded = sharded_digits(dir.path(), 2);
    let text_of = |scale: &str| {
        std::fs::read_to_string(&sharded)
            .unwrap()
            .replace("scale = \"unit\"", &format!("scale = \"{scale}\""))
    };
    let a = write_spec(dir.path(), "standard.toml", &text_of("standard"));
    let b = write_spec(dir.path(), "none.toml", &text_of("none"));
    refuse_different_specs(&a, &b, &out);
}

#[test]
fn dropout_and_batch_norm_train_on_two_ranks_with_replicas_alike() {
    let dir = tempfile::tempdir().unwrap();
    let text_spec = spec(6, 0.05, "sgd").replace(
        "[[layers]]\ntype = \"dense\"\nunits = 10",
        "[[layers]]\ntype = \"batch_normalization\"\n[[layers]]\ntype = \"dropout\"\nrate = 0.2\n[[layers]]\ntype = \"dense\"\nunits = 10",
    );
    assert!(text_spec.contains("dropout"));
    let path = write_spec(dir.path(), "bn.toml", &text_spec);
    let out = dir.path().join("run");
    // Every epoch ends with the replicas' fingerprints compared: a rank whose weights went
    // apart would stop the run with an error.
    let output = train(Some(2), &path, &out, &[]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(summary(&out)["validation"]["accuracy"].as_f64().unwrap() > 0.8);
    // The moving statistics were averaged over the ranks: they are not the initial ones.
    let w = weights(&out.join("model"));
    let mean = w
        .iter()
        .find(|(name, _)| name.contains("moving_mean"))
        .expect("batch norm's moving mean is saved");
    assert!(mean.1.iter().any(|&v| v != 0.0));
}

#[test]
fn early_stopping_is_announced_once_by_rank_0() {
    let dir = tempfile::tempdir().unwrap();
    // The loss falls, so "max" sees no improvement after epoch 1: stop after epoch 2 and put
    // back epoch 1's weights, on every rank alike.
    let text_spec = format!(
        "{}[[callbacks]]\nname = \"early_stopping\"\nmonitor = \"loss\"\nmode = \"max\"\npatience = 1\nrestore_best_weights = true\n",
        spec(4, 0.05, "sgd")
    );
    let path = write_spec(dir.path(), "stop.toml", &text_spec);
    let output = train(Some(2), &path, &dir.path().join("run"), &[]);
    let all = text(&output);
    assert!(output.status.success(), "{all}");
    for line in [
        "Epoch 2: early stopping",
        "Restoring model weights from the end of the best epoch: 1.",
    ] {
        assert_eq!(all.matches(line).count(), 1, "{all}");
    }
}

/// The embedded digits as features x.npy (N, 8, 8) and labels y.npy, and `spec(epochs)` on
/// them with `[data] shard = true`.
fn sharded_digits(dir: &Path, epochs: usize) -> PathBuf {
    let digits = deeptrain::data::digits_all().unwrap();
    let n = digits.len();
    common::write_npy(&dir.join("x.npy"), &[n as u64, 8, 8], digits.x.data());
    common::write_npy(&dir.join("y.npy"), &[n as u64], digits.labels.data());
    let data = format!(
        "[data]\ndataset = \"{}\"\nlabels = \"{}\"\ntest_split = 0.2\nshard = true\n",
        dir.join("x.npy").display(),
        dir.join("y.npy").display()
    );
    let sharded = spec(epochs, 0.05, "sgd").replace("[data]\ndataset = \"digits\"\n", &data);
    assert!(sharded.contains("shard = true"));
    write_spec(dir, "sharded.toml", &sharded)
}

#[test]
fn sharded_npy_data_trains_on_two_ranks_each_reading_its_block() {
    let dir = tempfile::tempdir().unwrap();
    let spec = sharded_digits(dir.path(), 10);
    // One process ignores `shard`: the reference run.
    let alone = dir.path().join("alone");
    let out = train(None, &spec, &alone, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let shared = dir.path().join("shared");
    let out = train(Some(2), &spec, &shared, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let (a, b) = (summary(&alone), summary(&shared));
    // Rank 0 read its block of the training rows: its shares of every batch of 32.
    let rows = a["train_samples"].as_u64().unwrap() as usize;
    assert_eq!(b["train_samples"].as_u64().unwrap() as usize, rows);
    let block = deeptrain::distributed::shard(rows, 32, 0, 2).len();
    assert!(block < rows);
    let said = text(&out);
    assert!(
        said.contains(&format!(
            "each rank read only its block of the {rows} training rows ({block} on rank 0)"
        )),
        "{said}"
    );
    // Every rank scaled with the whole training part's statistics, as one process.
    let scaler = |run: &Path| tensors(&run.join("model/scaler.safetensors"));
    assert_eq!(scaler(&alone), scaler(&shared));
    // Not the same run (each rank shuffles its own block), but one like it: the training
    // accuracy is over both ranks' blocks, the validation and test accuracy on the same rows.
    for set in ["train", "validation", "test"] {
        let (x, y) = (
            a[set]["accuracy"].as_f64().unwrap(),
            b[set]["accuracy"].as_f64().unwrap(),
        );
        assert!(
            (x - y).abs() <= 0.03 && y > 0.85,
            "{set} accuracy {x} alone, {y} on two ranks with sharded data"
        );
    }
    let history = std::fs::read_to_string(shared.join("history.csv")).unwrap();
    assert_eq!(history.lines().count(), 11, "{history}");
    // Each rank's order is reproducible: stopped after 4 epochs and resumed, the run is the
    // same, bit for bit.
    let resumed = dir.path().join("resumed");
    let out = train(Some(2), &spec, &resumed, &["--epochs", "4"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = train(
        Some(2),
        &spec,
        &resumed,
        &["--resume", resumed.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out));
    // Every column but the epoch's seconds.
    let values = |text: &str| -> Vec<String> {
        text.lines()
            .map(|l| l.rsplit_once(',').map_or(l, |(kept, _)| kept).to_string())
            .collect()
    };
    let again = std::fs::read_to_string(resumed.join("history.csv")).unwrap();
    assert_eq!(values(&again), values(&history));
    assert_eq!(
        weights(&resumed.join("model")),
        weights(&shared.join("model"))
    );
}

#[test]
fn sharding_data_other_than_npy_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let digits = spec(1, 0.05, "sgd").replace("scale = \"unit\"", "scale = \"unit\"\nshard = true");
    let path = write_spec(dir.path(), "digits.toml", &digits);
    let output = train(None, &path, &dir.path().join("run"), &[]);
    assert!(!output.status.success());
    let said = text(&output);
    assert!(
        said.contains("shard = true reads rows by position from a .npy features file"),
        "{said}"
    );
}
