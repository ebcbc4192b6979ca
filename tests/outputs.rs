//! No lost work: every path a run writes is checked before the first epoch (a callback's file
//! on the checkpoint or on the run's own files is refused, the checkpoint left as it was), and
//! only regular files are written (a FIFO, device node or directory at a target is refused and
//! left in place).

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_deeptrain");

fn deeptrain(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("run deeptrain")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A small digits model with `callbacks` (TOML `[[callbacks]]` tables) appended.
fn spec(dir: &Path, name: &str, callbacks: &str) -> PathBuf {
    let text = format!(
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
[fit]
epochs = 1
batch_size = 64
{callbacks}
"#
    );
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Every file under `dir` with its bytes, sorted, to compare a directory before and after.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// A refusal: non-zero exit, one line naming `key`, and no epoch trained.
fn assert_refused(o: &Output, key: &str) {
    let err = stderr(o);
    assert!(!o.status.success(), "accepted: {}", stdout(o));
    assert!(err.contains(key), "`{key}` not named: {err}");
    assert_eq!(err.trim().lines().count(), 1, "not one line: {err}");
    assert!(!stdout(o).contains("Epoch 1/"), "trained before refusing");
}

#[test]
fn callbacks_writing_over_the_checkpoint_or_the_runs_files_are_refused_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let plain = spec(dir.path(), "plain.toml", "");
    let o = deeptrain(&[
        "train",
        plain.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let before = snapshot(&run.join("resume"));
    assert!(!before.is_empty());
    for (name, callbacks, key) in [
        (
            "csv_in_resume.toml",
            "[[callbacks]]\nname = \"csv_logger\"\nfilename = \"resume/log.csv\"",
            "filename",
        ),
        (
            "tb_in_resume.toml",
            "[[callbacks]]\nname = \"tensorboard\"\nlog_dir = \"resume\"",
            "log_dir",
        ),
        (
            "tb_on_history.toml",
            "[[callbacks]]\nname = \"tensorboard\"\nlog_dir = \"history.csv\"",
            "log_dir",
        ),
        (
            "csv_on_model.toml",
            "[[callbacks]]\nname = \"csv_logger\"\nfilename = \"model\"",
            "filename",
        ),
        (
            "two_on_one.toml",
            "[[callbacks]]\nname = \"csv_logger\"\nfilename = \"a.csv\"\n[[callbacks]]\nname = \"CSVLogger\"\nfilename = \"./a.csv\"",
            "filename",
        ),
    ] {
        let s = spec(dir.path(), name, callbacks);
        for resume in [false, true] {
            let mut args = vec!["train", s.to_str().unwrap(), "--out", run.to_str().unwrap()];
            if resume {
                args.extend(["--resume", run.to_str().unwrap(), "--epochs", "2"]);
            } else {
                // A fresh start over the run: the callback is refused before anything changes.
                args.push("--overwrite");
            }
            let o = deeptrain(&args);
            assert_refused(&o, key);
            assert_eq!(snapshot(&run.join("resume")), before, "{name}: checkpoint changed");
        }
    }
    // The history was the run's own and is still a file.
    assert!(run.join("history.csv").is_file());
}

#[test]
fn fifos_device_nodes_and_directories_at_a_target_are_refused_and_left_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    // A device node of our own (the null device's numbers) where the system lets us make one.
    let device = dir.path().join("null");
    let have_device = Command::new("mknod")
        .arg(&device)
        .args(["c", "1", "3"])
        .output()
        .is_ok_and(|o| o.status.success());
    let folder = dir.path().join("folder");
    std::fs::create_dir(&folder).unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&fifo, &link).unwrap();

    let mut targets = vec![&fifo, &folder, &link];
    if have_device {
        targets.push(&device);
    }
    let run = dir.path().join("run");
    for (i, target) in targets.iter().enumerate() {
        let s = spec(
            dir.path(),
            &format!("csv{i}.toml"),
            &format!(
                "[[callbacks]]\nname = \"csv_logger\"\nfilename = \"{}\"",
                target.display()
            ),
        );
        let o = deeptrain(&["train", s.to_str().unwrap(), "--out", run.to_str().unwrap()]);
        assert_refused(&o, "filename");
    }

    // predict --output, after a run that trains.
    let plain = spec(dir.path(), "plain.toml", "");
    let o = deeptrain(&[
        "train",
        plain.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut csv = (0..64)
        .map(|i| format!("p{i}"))
        .collect::<Vec<_>>()
        .join(",");
    csv.push('\n');
    csv.push_str(&vec!["0"; 64].join(","));
    csv.push('\n');
    let input = dir.path().join("rows.csv");
    std::fs::write(&input, csv).unwrap();
    for target in &targets {
        let o = deeptrain(&[
            "predict",
            run.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--output",
            target.to_str().unwrap(),
        ]);
        let err = stderr(&o);
        assert!(!o.status.success(), "{}: accepted", target.display());
        assert!(err.contains(target.to_str().unwrap()), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(folder.is_dir());
    if have_device {
        assert!(std::fs::metadata(&device)
            .unwrap()
            .file_type()
            .is_char_device());
    }
}

#[test]
fn run_files_of_the_wrong_kind_are_refused_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    std::fs::create_dir_all(run.join("history.csv")).unwrap();
    let plain = spec(dir.path(), "plain.toml", "");
    let o = deeptrain(&[
        "train",
        plain.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
    ]);
    assert_refused(&o, "history.csv");
}
