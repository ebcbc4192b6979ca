//! The library's Experiment: every subcommand builds the spec's model through it, so that
//! `[transfer]` holds in `summary`, `diagnose` and `lr-find` as in `train`; an Experiment built in
//! Rust trains to the same history as `deeptrain train`; models save without the data spec, their
//! run's metadata beside them, and format-1 directories still load.

use std::path::{Path, PathBuf};
use std::process::Command;

use deeptrain::model::RunMetadata;
use deeptrain::spec::Spec;
use deeptrain::{Experiment, Sequential};

/// Runs the binary; returns its standard output (the run must succeed).
fn deeptrain(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_deeptrain"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A digits model (flatten, dense 24 relu, dense 8 softmax) trained for one epoch through an
/// Experiment and saved with its metadata into `dir/source`; returns that directory.
fn source_model(dir: &Path) -> PathBuf {
    let spec_path = dir.join("source.toml");
    std::fs::write(
        &spec_path,
        r#"
seed = 3
[data]
dataset = "digits"
drop_classes = [8, 9]
max_train_samples = 300
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
units = 24
activation = "relu"
[[layers]]
type = "dense"
units = 8
activation = "softmax"
[optimizer]
name = "sgd"
learning_rate = 0.1
[fit]
epochs = 1
"#,
    )
    .unwrap();
    let mut experiment = Experiment::from_file(&spec_path).unwrap();
    experiment.fit(&mut [], None).unwrap();
    let out = dir.join("source");
    experiment.save(&out).unwrap();
    out
}

/// A spec reusing the source's flatten and dense layers (frozen, unfrozen after one epoch)
/// under a new 2-class head.
fn transfer_spec(dir: &Path, source: &Path) -> PathBuf {
    let path = dir.join("transfer.toml");
    std::fs::write(
        &path,
        format!(
            r#"
seed = 5
[transfer]
from = "{}"
layers = 2
unfreeze_after = 1
unfreeze_learning_rate = 0.02
[data]
dataset = "digits"
classes = [8, 9]
max_train_samples = 80
[[layers]]
type = "dense"
units = 2
activation = "softmax"
[optimizer]
name = "sgd"
learning_rate = 0.05
[fit]
epochs = 3
batch_size = 16
"#,
            source.display()
        ),
    )
    .unwrap();
    path
}

/// The transferred kernel of the source's hidden Dense layer.
fn hidden_kernel(model: &Sequential) -> Vec<f32> {
    model.layers()[1].params()[0].value.data().to_vec()
}

#[test]
fn an_experiment_transfers_and_freezes_the_source_layers() {
    let dir = tempfile::tempdir().unwrap();
    let source = source_model(dir.path());
    let spec = Spec::from_file(&transfer_spec(dir.path(), &source)).unwrap();
    let (saved, _) = Sequential::load(&source).unwrap();
    let experiment = Experiment::from_spec(&spec).unwrap();
    let model = experiment.model();
    assert_eq!(model.layers().len(), 3);
    assert_eq!(hidden_kernel(model), hidden_kernel(&saved));
    assert_eq!(model.count_params(), (24 * 2 + 2, 64 * 24 + 24));
    // The data is scaled with the source's scaler, not one fitted anew.
    assert_eq!(
        experiment.data().scaler,
        RunMetadata::load(&source).unwrap().scaler
    );
    let phases = experiment.phases();
    assert_eq!(phases.len(), 2);
    assert_eq!(
        (phases[0].epochs.clone(), phases[1].epochs.clone()),
        (0..1, 1..3)
    );
    // The model alone (what `summary` shows) is the same.
    let alone = Experiment::build_model(&spec).unwrap();
    assert_eq!(alone.count_params(), model.count_params());
    assert_eq!(hidden_kernel(&alone), hidden_kernel(model));
}

#[test]
fn summary_diagnose_and_lr_find_honour_transfer() {
    let dir = tempfile::tempdir().unwrap();
    let source = source_model(dir.path());
    let spec = transfer_spec(dir.path(), &source);
    let spec = spec.to_str().unwrap();

    let summary = deeptrain(&["summary", spec]);
    assert!(summary.contains("Trainable params: 50\n"), "{summary}");
    assert!(
        summary.contains("Non-trainable params: 1,560\n"),
        "{summary}"
    );
    assert!(summary.contains("(None, 24)"), "{summary}");

    let reusing = format!("Reusing the first 2 layers of {}, frozen", source.display());
    let diagnose = deeptrain(&["diagnose", spec, "--steps", "20"]);
    assert!(diagnose.contains(&reusing), "{diagnose}");
    assert!(
        diagnose.contains("Verdicts (after all 20 steps)"),
        "{diagnose}"
    );

    let out = dir.path().join("lr");
    let lr_find = deeptrain(&[
        "lr-find",
        spec,
        "--steps",
        "20",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(lr_find.contains(&reusing), "{lr_find}");
    assert!(lr_find.contains("Suggested learning rate"), "{lr_find}");
    let csv = std::fs::read_to_string(out.join("lr_find.csv")).unwrap();
    assert_eq!(csv.lines().count(), 21, "{csv}");
}

/// `history.csv` without its `seconds` column.
fn history_values(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let seconds = header.iter().position(|c| *c == "seconds").unwrap();
    text.lines()
        .map(|line| {
            line.split(',')
                .enumerate()
                .filter(|&(i, _)| i != seconds)
                .map(|(_, v)| v)
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}

/// The same history from `deeptrain train` and from an Experiment in Rust: for a spec with
/// `[transfer]` and unfreezing (two phases) and for the built-in default spec, without and with
/// per-layer statistics (the observer `train` attaches moves the losses in their last bits, so
/// both sides attach the same one).
#[test]
fn an_experiment_trains_to_the_same_history_as_the_train_command() {
    deeptrain::linalg::set_num_threads(1);
    let dir = tempfile::tempdir().unwrap();
    let source = source_model(dir.path());
    let default = dir.path().join("default.toml");
    std::fs::write(
        &default,
        deeptrain::spec::DEFAULT_SPEC.replace("epochs = 30", "epochs = 2"),
    )
    .unwrap();
    for (spec_path, every) in [
        (transfer_spec(dir.path(), &source), 0),
        (transfer_spec(dir.path(), &source), 2),
        (default, 0),
    ] {
        let out = dir.path().join("run");
        let stdout = deeptrain(&[
            "train",
            spec_path.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--threads",
            "1",
            "--diagnostics-every",
            &every.to_string(),
        ]);
        let mut experiment = Experiment::from_file(&spec_path).unwrap();
        if every > 0 {
            let observer = deeptrain::diagnostics::Diagnostics::new(every);
            experiment
                .model_mut()
                .set_observer(Some(Box::new(observer)));
        }
        let history = experiment.fit(&mut [], None).unwrap();
        let csv = dir.path().join("history.csv");
        history.write_csv(&csv).unwrap();
        let cli = history_values(&out.join("history.csv"));
        assert!(cli.len() >= 3, "{stdout}");
        assert_eq!(
            history_values(&csv),
            cli,
            "{} every {every}",
            spec_path.display()
        );
        // The run's checkpoint resumes with every epoch done, and is refused without its scaler.
        let spec = Spec::from_file(&spec_path).unwrap();
        let resumed = Experiment::resume(&spec, &out).unwrap();
        assert_eq!(resumed.history().epochs.len(), cli.len() - 1);
        assert!(resumed.phases().is_empty());
        assert_eq!(resumed.data().scaler, experiment.data().scaler);
        std::fs::remove_file(out.join("resume/run.toml")).unwrap();
        let err = Experiment::resume(&spec, &out).err().unwrap().to_string();
        assert!(
            err.contains("run.toml") && err.contains("cannot be resumed"),
            "{err}"
        );
        std::fs::remove_dir_all(&out).unwrap();
    }
}

#[test]
fn a_model_saves_alone_and_its_metadata_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let source = source_model(dir.path());
    let metadata = RunMetadata::load(&source).unwrap();
    assert_eq!(metadata.data.as_ref().unwrap().dataset, "digits");
    assert_eq!(metadata.class_names.as_ref().map(Vec::len), Some(8));
    // The model alone: no data, no scaler, and it loads with no preprocessing.
    let (model, file) = Sequential::load(&source).unwrap();
    assert_eq!(file.format_version, deeptrain::model::MODEL_FORMAT_VERSION);
    let alone = dir.path().join("alone");
    model.save(&alone).unwrap();
    let text = std::fs::read_to_string(alone.join("model.toml")).unwrap();
    assert!(
        !text.contains("[data]") && !text.contains("class_names"),
        "{text}"
    );
    assert!(!alone.join("run.toml").exists());
    assert_eq!(RunMetadata::load(&alone).unwrap(), RunMetadata::none());
    Sequential::load(&alone).unwrap();
}

/// A model directory written by the previous build (format 1: the metadata inside model.toml,
/// the scaler's statistics in the weights) loads, and `evaluate` and `predict` still use it.
#[test]
fn format_one_model_directories_still_load() {
    let old = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_corpus/model");
    let text = std::fs::read_to_string(old.join("model.toml")).unwrap();
    assert!(text.starts_with("format_version = 1"), "{text}");
    let (model, file) = Sequential::load(&old).unwrap();
    assert_eq!(file.format_version, 1);
    let metadata = RunMetadata::load(&old).unwrap();
    assert_eq!(metadata.data.as_ref().unwrap().dataset, "digits");
    assert_eq!(metadata.class_names.as_ref().map(Vec::len), Some(10));
    assert!(metadata.scaler.fits(64));
    assert_eq!(model.input_shape(), &[8, 8]);
    let evaluated = deeptrain(&["evaluate", old.to_str().unwrap()]);
    assert!(
        evaluated.contains("Evaluated on the test set of `digits` (359 samples)"),
        "{evaluated}"
    );
    // Saving it again writes format 2 with the same metadata beside it.
    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path()).unwrap();
    metadata.save(dir.path()).unwrap();
    assert_eq!(RunMetadata::load(dir.path()).unwrap(), metadata);
    let again = deeptrain(&["evaluate", dir.path().to_str().unwrap()]);
    assert_eq!(again, evaluated);
}
