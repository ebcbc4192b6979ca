//! The paths a training run writes, checked before the first epoch: a callback's file or
//! directory that lands on one of the run's own (history, model, the `resume/` checkpoint...)
//! or on another callback's, or a target that is something else than what will be written
//! there (a directory where a file goes, a FIFO or device), is refused with one line naming the
//! key, instead of failing or losing the checkpoint hours later.

use std::path::{Component, Path, PathBuf};

use crate::callbacks::CallbackSpec;
use crate::experiment::CHECKPOINT_DIR;
use crate::{Error, Result};

/// The files `train` writes in its run directory.
pub const RUN_FILES: [&str; 6] = [
    "history.csv",
    "summary.json",
    "report.html",
    "diagnostics.csv",
    "augmentation.png",
    ".lock",
];

/// The directories `train` writes in its run directory, besides the checkpoint's.
pub const RUN_DIRS: [&str; 3] = ["model", "inference_model", "plots"];

/// Whether an output is one file or a directory of files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
}

/// One path a run writes, with the key that chose it.
#[derive(Clone, Debug)]
struct Output {
    key: String,
    path: PathBuf,
    kind: Kind,
}

/// Checks every path a run in `run` with `callbacks` writes (see the module docs); relative
/// paths of the callbacks are resolved as they are when writing (the CSV logger's and
/// TensorBoard's against the run directory, a model checkpoint's `path` against the working
/// directory).
///
/// ```
/// use deeptrain::callbacks::CallbackSpec;
/// let logger = CallbackSpec::CsvLogger { filename: Some("resume/log.csv".into()), append: false };
/// let err = deeptrain::output_paths::check(&[logger], std::path::Path::new("runs/x")).unwrap_err();
/// assert!(err.to_string().contains("filename"), "{err}");
/// ```
pub fn check(callbacks: &[CallbackSpec], run: &Path) -> Result<()> {
    let run = absolute(run);
    let mut own = Vec::new();
    for name in RUN_FILES {
        own.push(Output {
            key: format!("the run's {name}"),
            path: run.join(name),
            kind: Kind::File,
        });
    }
    for name in RUN_DIRS {
        own.push(Output {
            key: format!("the run's {name}/"),
            path: run.join(name),
            kind: Kind::Dir,
        });
    }
    for suffix in ["", ".tmp", ".old"] {
        own.push(Output {
            key: "the run's checkpoint".into(),
            path: run.join(format!("{CHECKPOINT_DIR}{suffix}")),
            kind: Kind::Dir,
        });
    }
    let mut theirs = Vec::new();
    for c in callbacks {
        theirs.extend(callback_outputs(c, &run));
    }
    for o in own.iter().chain(&theirs) {
        check_target(o)?;
    }
    for (i, o) in theirs.iter().enumerate() {
        if let Some(r) = own.iter().find(|r| overlap(o, r)) {
            return Err(Error::Config(format!(
                "{} {} would write into {} ({}): choose a path outside the run's own files ({}, {}/, {CHECKPOINT_DIR}/)",
                o.key,
                o.path.display(),
                r.key,
                r.path.display(),
                RUN_FILES[..5].join(", "),
                RUN_DIRS.join("/, "),
            )));
        }
        if let Some(other) = theirs[..i].iter().find(|r| overlap(o, r)) {
            return Err(Error::Config(format!(
                "{} {} is also written by {}: give each callback its own path",
                o.key,
                o.path.display(),
                other.key
            )));
        }
    }
    Ok(())
}

/// The paths one callback writes.
fn callback_outputs(c: &CallbackSpec, run: &Path) -> Vec<Output> {
    match c {
        CallbackSpec::CsvLogger { filename, .. } => vec![Output {
            key: "[[callbacks]] csv_logger `filename`".into(),
            path: absolute(&run.join(filename.as_deref().unwrap_or(Path::new("log.csv")))),
            kind: Kind::File,
        }],
        CallbackSpec::Tensorboard { log_dir, .. } => {
            let dir = absolute(&run.join(log_dir.as_deref().unwrap_or(Path::new("logs"))));
            // TensorBoard writes its event files in these two.
            ["train", "validation"]
                .iter()
                .map(|sub| Output {
                    key: "[[callbacks]] tensorboard `log_dir`".into(),
                    path: dir.join(sub),
                    kind: Kind::Dir,
                })
                .collect()
        }
        CallbackSpec::ModelCheckpoint { path, .. } => vec![Output {
            key: "[[callbacks]] model_checkpoint `path`".into(),
            path: match path {
                Some(p) => absolute(p),
                None => run.join("checkpoint"),
            },
            kind: Kind::Dir,
        }],
        _ => Vec::new(),
    }
}

/// Whether one output is the other or lies inside it.
fn overlap(a: &Output, b: &Output) -> bool {
    a.path.starts_with(&b.path) || b.path.starts_with(&a.path)
}

/// Refuses a target that exists as something other than what will be written there.
fn check_target(o: &Output) -> Result<()> {
    match o.kind {
        Kind::File => {
            crate::io::check_writable(&o.path).map_err(|e| Error::Config(format!("{}: {e}", o.key)))
        }
        Kind::Dir => match std::fs::metadata(&o.path) {
            Ok(meta) if !meta.is_dir() => Err(Error::Config(format!(
                "{}: {} exists and is not a directory",
                o.key,
                o.path.display()
            ))),
            _ => Ok(()),
        },
    }
}

/// `path` made absolute against the working directory, with `.` and `..` resolved lexically,
/// so that two spellings of one path compare equal.
fn absolute(path: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .unwrap_or_else(|_| PathBuf::from("/"))
            .join(path)
    };
    let mut out = PathBuf::new();
    for part in joined.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logger(name: &str) -> CallbackSpec {
        CallbackSpec::CsvLogger {
            filename: Some(name.into()),
            append: false,
        }
    }

    fn board(dir: &str) -> CallbackSpec {
        CallbackSpec::Tensorboard {
            log_dir: Some(dir.into()),
            histogram_freq: 0,
        }
    }

    #[test]
    fn refuses_callbacks_writing_over_the_runs_files() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        for (c, key) in [
            (logger("resume/log.csv"), "csv_logger `filename`"),
            (logger("history.csv"), "csv_logger `filename`"),
            (logger("./sub/../model"), "csv_logger `filename`"),
            (logger(".lock"), "csv_logger `filename`"),
            (board("resume"), "tensorboard `log_dir`"),
            (board("history.csv"), "tensorboard `log_dir`"),
            (board("plots/tb"), "tensorboard `log_dir`"),
        ] {
            let err = check(std::slice::from_ref(&c), &run)
                .unwrap_err()
                .to_string();
            assert!(err.contains(key) && !err.contains('\n'), "{c:?}: {err}");
        }
        let into_resume = CallbackSpec::ModelCheckpoint {
            monitor: "val_loss".into(),
            mode: Default::default(),
            save_best_only: false,
            path: Some(run.join("resume.old")),
        };
        let err = check(&[into_resume], &run).unwrap_err().to_string();
        assert!(err.contains("model_checkpoint `path`"), "{err}");
    }

    #[test]
    fn refuses_two_callbacks_on_one_path_and_accepts_distinct_ones() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let err = check(&[logger("a.csv"), logger("x/../a.csv")], &run).unwrap_err();
        assert!(err.to_string().contains("also written by"), "{err}");
        let err = check(&[board("logs"), logger("logs/train")], &run).unwrap_err();
        assert!(err.to_string().contains("also written by"), "{err}");
        check(
            &[
                logger("log.csv"),
                board("."),
                logger("logs/log.csv"),
                board("logs"),
            ],
            &run,
        )
        .unwrap();
    }

    #[test]
    fn refuses_targets_of_the_wrong_kind() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        std::fs::create_dir_all(run.join("history.csv")).unwrap();
        let err = check(&[], &run).unwrap_err().to_string();
        assert!(
            err.contains("history.csv") && err.contains("directory"),
            "{err}"
        );
        std::fs::remove_dir(run.join("history.csv")).unwrap();
        std::fs::write(run.join("model"), "x").unwrap();
        let err = check(&[], &run).unwrap_err().to_string();
        assert!(
            err.contains("model") && err.contains("not a directory"),
            "{err}"
        );
        std::fs::remove_file(run.join("model")).unwrap();
        std::fs::create_dir_all(run.join("log.csv")).unwrap();
        let err = check(&[logger("log.csv")], &run).unwrap_err().to_string();
        assert!(
            err.contains("csv_logger") && err.contains("directory"),
            "{err}"
        );
    }
}
