//! No silently wrong result: binary predictions, weights that diverge behind a finite loss,
//! splits that hide the data's order, MC dropout's loss, diagnose's verdicts, and resuming runs
//! without losing work.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use deeptrain::spec::DataSpec;
use deeptrain::{Activation, DenseSpec, FitOptions, LayerSpec, Loss, Metric, Sequential, Sgd};

const BIN: &str = env!("CARGO_BIN_EXE_deeptrain");

fn deeptrain(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("run deeptrain")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// `deeptrain train SPEC --out OUT`, which must succeed.
fn train_ok(spec: &Path, out: &Path) -> Output {
    let o = Command::new(BIN)
        .arg("train")
        .arg(spec)
        .arg("--out")
        .arg(out)
        .output()
        .expect("run deeptrain");
    assert!(o.status.success(), "{}", text(&o).1);
    o
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Zeros against ones of the digits, one sigmoid output.
const BINARY: &str = r#"
[data]
dataset = "digits"
classes = [0, 1]
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
units = 8
activation = "relu"
[[layers]]
type = "dense"
units = 1
activation = "sigmoid"
[compile]
loss = "binary_crossentropy"
metrics = ["accuracy"]
[optimizer]
name = "sgd"
learning_rate = 0.1
[fit]
epochs = 3
"#;

/// Three labels per image (is it a 0, a 1, a 2?), three sigmoid outputs.
#[test]
fn predict_thresholds_sigmoid_outputs_instead_of_an_argmax() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write(dir.path(), "binary.toml", BINARY);
    let run = dir.path().join("run");
    train_ok(&spec, &run);
    // Ten zeros and ten ones from the digits, as a CSV of 64 features.
    let all = deeptrain::data::digits_all().unwrap();
    let mut csv = (0..64)
        .map(|i| format!("f{i}"))
        .collect::<Vec<_>>()
        .join(",")
        + "\n";
    let mut truth = Vec::new();
    for i in 0..all.len() {
        let label = all.labels.data()[i];
        if (label == 0.0 && truth.iter().filter(|&&t| t == 0).count() < 10)
            || (label == 1.0 && truth.iter().filter(|&&t| t == 1).count() < 10)
        {
            truth.push(label as u8);
            let row: Vec<String> = all.x.row(i).iter().map(|v| v.to_string()).collect();
            csv += &(row.join(",") + "\n");
        }
    }
    let input = write(dir.path(), "rows.csv", &csv);
    let o = deeptrain(&[
        "predict",
        run.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("p_0,predicted"));
    let predicted: Vec<u8> = lines
        .map(|l| {
            let (p, class) = l.split_once(',').unwrap();
            let (p, class): (f32, u8) = (p.parse().unwrap(), class.parse().unwrap());
            assert_eq!(class, u8::from(p >= 0.5), "{l}");
            class
        })
        .collect();
    let correct = predicted.iter().zip(&truth).filter(|(a, b)| a == b).count();
    assert!(correct >= 18, "{correct} of 20: {predicted:?} vs {truth:?}");
}

#[test]
fn several_sigmoid_outputs_get_one_decision_column_each() {
    let dir = tempfile::tempdir().unwrap();
    // Features: the 64 pixels; labels: three 0/1 columns from an NPY file.
    let all = deeptrain::data::digits_all().unwrap();
    let n = 300;
    let x: Vec<f32> = all.x.data()[..n * 64].to_vec();
    let y: Vec<f32> = all.labels.data()[..n]
        .iter()
        .flat_map(|&c| (0..3).map(move |k| f32::from(c == k as f32)))
        .collect();
    let npy = |name: &str, data: &[f32], shape: &[u64]| {
        let path = dir.path().join(name);
        use npyz::WriterBuilder;
        let mut out = npyz::WriteOptions::new()
            .default_dtype()
            .shape(shape)
            .writer(std::fs::File::create(&path).unwrap())
            .begin_nd()
            .unwrap();
        out.extend(data.iter().copied()).unwrap();
        out.finish().unwrap();
        path
    };
    let xs = npy("x.npy", &x, &[n as u64, 64]);
    let ys = npy("y.npy", &y, &[n as u64, 3]);
    let spec = BINARY
        .replace(
            "dataset = \"digits\"\nclasses = [0, 1]",
            &format!(
                "dataset = {:?}\nlabels = {:?}",
                xs.to_str().unwrap(),
                ys.to_str().unwrap()
            ),
        )
        .replace("type = \"flatten\"\n[[layers]]\n", "")
        .replace("units = 1\n", "units = 3\n");
    let spec = write(dir.path(), "multi.toml", &spec);
    let run = dir.path().join("run");
    train_ok(&spec, &run);
    let o = deeptrain(&[
        "predict",
        run.to_str().unwrap(),
        "--input",
        xs.to_str().unwrap(),
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some("p_0,p_1,p_2,predicted_0,predicted_1,predicted_2")
    );
    for line in lines {
        let f: Vec<f32> = line.split(',').map(|v| v.parse().unwrap()).collect();
        for k in 0..3 {
            assert_eq!(f[3 + k], f32::from(f[k] >= 0.5), "{line}");
        }
    }
}

fn small_relu_model() -> Sequential {
    let mut model = Sequential::new(&[8, 8])
        .add(LayerSpec::flatten())
        .add(DenseSpec::new(16).activation(Activation::Relu))
        .add(DenseSpec::new(10).activation(Activation::Softmax))
        .build(1)
        .unwrap();
    model
        .compile(
            Box::new(Sgd::new(0.05).unwrap()),
            Loss::SparseCategoricalCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap();
    model
}

/// NaN weights under a ReLU used to give a finite, flat loss (max(NaN, 0) = 0): training ended
/// with success and saved NaN weights.
#[test]
fn nan_weights_behind_a_relu_are_divergence_and_are_never_saved() {
    assert!(deeptrain::activations::relu(f32::NAN).is_nan());
    assert_eq!(deeptrain::activations::relu(-2.0), 0.0);
    let train = deeptrain::data::digits().unwrap().train.slice(0..128);
    let mut model = small_relu_model();
    model.layers_mut()[1].params_mut()[0].value.data_mut()[5] = f32::NAN;
    let err = model
        .fit(&train, None, &FitOptions::default(), &mut [])
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("training diverged"), "{err}");
    assert!(err.contains("epoch 1"), "{err}");
    assert!(err.contains("dense"), "{err}");

    // The weights themselves are checked too: a NaN in the output bias, which no forward pass
    // of this batch has to show.
    let mut model = small_relu_model();
    model.layers_mut()[2].params_mut()[1].value.data_mut()[3] = f32::INFINITY;
    assert_eq!(
        model.first_non_finite_parameter().as_deref(),
        Some(&*format!("{}.bias", model.layers()[2].name()))
    );
    let dir = tempfile::tempdir().unwrap();
    let err = model.save(&dir.path().join("m")).unwrap_err().to_string();
    assert!(err.contains("non-finite") && err.contains(".bias"), "{err}");
    assert!(!dir.path().join("m/weights.safetensors").exists());
}

#[test]
fn predict_and_evaluate_refuse_non_finite_inputs() {
    let mut model = small_relu_model();
    let mut x = deeptrain::Tensor::zeros(&[3, 8, 8]);
    x.data_mut()[64 + 7] = f32::NAN;
    let err = model.predict(&x, 32).unwrap_err().to_string();
    assert!(err.contains("feature 7 of row 1"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let spec = write(
        dir.path(),
        "s.toml",
        &BINARY.replace("epochs = 3", "epochs = 1"),
    );
    train_ok(&spec, &run);
    let header = (0..64)
        .map(|i| format!("f{i}"))
        .collect::<Vec<_>>()
        .join(",");
    let row = |v: &str| {
        (0..64)
            .map(|i| if i == 9 { v.to_string() } else { "1".into() })
            .collect::<Vec<_>>()
            .join(",")
    };
    let csv = write(
        dir.path(),
        "bad.csv",
        &format!("{header}\n{}\n{}\n", row("1"), row("inf")),
    );
    let o = deeptrain(&[
        "predict",
        run.to_str().unwrap(),
        "--input",
        csv.to_str().unwrap(),
    ]);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("bad.csv") && err.contains("feature 9 of row 1"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

/// The digits file is in scikit-learn's order: its tail is written by other people than its
/// head. The default split shuffles (seeded, stratified); `shuffle = false` keeps the file's
/// order, as Keras' validation_split does.
#[test]
fn splits_shuffle_by_default_and_keep_the_file_order_on_request() {
    let all = deeptrain::data::digits_all().unwrap();
    let spec = DataSpec::default();
    let splits = spec.load().unwrap();
    let test = splits.test.unwrap();
    assert_eq!((splits.train.len(), test.len()), (1438, 359));
    let tail = all.split_tail(0.2).1;
    assert_ne!(test.x, tail.x, "the test set is still the file's tail");
    // Stratified: every class keeps its share (each is about 10% of the digits).
    for class in 0..10 {
        let share = |d: &deeptrain::Dataset| {
            d.labels
                .data()
                .iter()
                .filter(|&&v| v == class as f32)
                .count() as f64
                / d.len() as f64
        };
        assert!(
            (share(&test) - share(&all)).abs() < 0.005,
            "class {class}: {} vs {}",
            share(&test),
            share(&all)
        );
    }
    // The same rows for every run, whatever its `seed`.
    assert_eq!(spec.load().unwrap().test.unwrap(), test);
    let kept = DataSpec {
        shuffle: Some(false),
        ..DataSpec::default()
    };
    assert_eq!(kept.load().unwrap().test.unwrap().x, tail.x);
    // Fashion-MNIST keeps its canonical test set, and its published order.
    let fashion = DataSpec {
        dataset: "fashion-mnist".into(),
        ..DataSpec::default()
    };
    assert!(fashion.has_canonical_test_set());
    assert_eq!(fashion.split_order(), deeptrain::data::SplitOrder::Tail);
}

/// A file-order split of sorted data warns before training.
#[test]
fn a_file_order_split_that_loses_a_class_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("a,b,y\n");
    // Classes 0 and 1 alternate; class 2 only in the last ten rows.
    for i in 0..90 {
        let class = if i >= 80 { 2 } else { i % 2 };
        csv += &format!("{},{},{class}\n", i % 7, i % 5);
    }
    let data = write(dir.path(), "sorted.csv", &csv);
    let spec = format!(
        "[data]\ndataset = {:?}\nlabel_column = \"y\"\ntest_split = 0.2\nshuffle = false\n[[layers]]\ntype = \"dense\"\nunits = 3\nactivation = \"softmax\"\n[fit]\nepochs = 1\n",
        data.to_str().unwrap()
    );
    let spec = write(dir.path(), "s.toml", &spec);
    let o = train_ok(&spec, &dir.path().join("run"));
    let (out, _) = text(&o);
    assert!(
        out.contains("warning: class 2 is in the test part but not in the training part"),
        "{out}"
    );
    let shuffled = write(
        dir.path(),
        "t.toml",
        &std::fs::read_to_string(&spec)
            .unwrap()
            .replace("shuffle = false\n", ""),
    );
    let o = train_ok(&shuffled, &dir.path().join("run2"));
    assert!(!text(&o).0.contains("training part"), "{}", text(&o).0);
}

/// `evaluate --mc-samples` and `evaluate` report the loss on the same basis (data loss plus the
/// weight penalty, as Keras): without dropout the MC passes are deterministic, so the two agree.
#[test]
fn mc_dropout_loss_includes_the_weight_penalty_as_evaluate_does() {
    let dir = tempfile::tempdir().unwrap();
    let spec = r#"
[data]
dataset = "digits"
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
units = 32
activation = "relu"
kernel_regularizer = { l2 = 0.01 }
[[layers]]
type = "dense"
units = 10
activation = "softmax"
[fit]
epochs = 2
"#;
    let spec = write(dir.path(), "l2.toml", spec);
    let run = dir.path().join("run");
    train_ok(&spec, &run);
    let loss_of = |args: &[&str]| -> f64 {
        let o = deeptrain(args);
        let (out, err) = text(&o);
        assert!(o.status.success(), "{err}");
        let after = out.split("loss: ").nth(1).expect(&out);
        after[..after.find(' ').unwrap()].parse().unwrap()
    };
    let plain = loss_of(&["evaluate", run.to_str().unwrap()]);
    let mc = loss_of(&["evaluate", run.to_str().unwrap(), "--mc-samples", "2"]);
    assert!((plain - mc).abs() < 2e-4, "evaluate {plain} vs MC {mc}");
}

/// A diverged run is never also "healthy", and the verdicts say how many steps they saw.
#[test]
fn diagnose_never_calls_a_diverged_run_healthy() {
    let verdicts = vec![deeptrain::diagnostics::Verdict {
        kind: "healthy_gradients",
        ..Default::default()
    }];
    let merged = deeptrain::diagnostics::with_divergence(verdicts, "the loss became NaN");
    assert_eq!(
        merged.iter().map(|v| v.kind).collect::<Vec<_>>(),
        ["divergence"]
    );
    let dir = tempfile::tempdir().unwrap();
    let spec = BINARY
        .replace("classes = [0, 1]\n", "")
        .replace("units = 1\n", "units = 10\n")
        .replace("\"sigmoid\"", "\"softmax\"")
        .replace("binary_crossentropy", "sparse_categorical_crossentropy")
        .replace("learning_rate = 0.1", "learning_rate = 1e30");
    let spec = write(dir.path(), "diverge.toml", &spec);
    let o = deeptrain(&["diagnose", spec.to_str().unwrap(), "--steps", "60"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("- divergence"), "{out}");
    assert!(!out.contains("healthy_gradients"), "{out}");
    assert!(out.contains("Verdicts (after "), "{out}");
    assert!(out.contains("of 60 steps; then training diverged"), "{out}");
}

const RESUMABLE: &str = r#"
[data]
dataset = "digits"
validation_split = 0.1
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
[fit]
epochs = 3
"#;

/// `--resume DIR` writes into DIR (it used to write to runs/<spec name>), and a run killed after
/// its last checkpoint but before `model/` was written is finished by `--resume`.
#[test]
fn resume_continues_in_its_directory_and_finishes_a_run_killed_before_its_model() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write(dir.path(), "r.toml", RESUMABLE);
    let run = dir.path().join("run");
    train_ok(&spec, &run);
    let weights = std::fs::read(run.join("model/weights.safetensors")).unwrap();
    // As if killed between the last checkpoint and the model.
    std::fs::remove_dir_all(run.join("model")).unwrap();
    std::fs::remove_file(run.join("summary.json")).unwrap();
    let o = Command::new(BIN)
        .args(["train", spec.to_str().unwrap(), "--resume"])
        .arg(&run)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("writing the model"), "{out}");
    assert!(!dir.path().join("runs").exists(), "wrote outside --resume");
    assert_eq!(
        std::fs::read(run.join("model/weights.safetensors")).unwrap(),
        weights
    );
    assert!(run.join("summary.json").is_file());
}

/// A --resume path without a checkpoint, while --out holds one, is an error that leaves the
/// checkpoint alone (it used to start afresh and overwrite it).
#[test]
fn resume_from_an_empty_path_never_overwrites_the_out_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write(
        dir.path(),
        "r.toml",
        &RESUMABLE.replace("epochs = 3", "epochs = 2"),
    );
    let run = dir.path().join("run");
    train_ok(&spec, &run);
    let state = std::fs::read(run.join("resume/training_state.json")).unwrap();
    let typo = dir.path().join("rnu");
    let o = deeptrain(&[
        "train",
        spec.to_str().unwrap(),
        "--epochs",
        "4",
        "--out",
        run.to_str().unwrap(),
        "--resume",
        typo.to_str().unwrap(),
    ]);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("rnu has no checkpoint") && err.contains("--resume"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(run.join("resume/training_state.json")).unwrap(),
        state
    );
}

/// Two processes never train into one directory: the second names the first's pid. A lock left
/// by a process that has ended is taken over.
#[test]
fn a_run_directory_is_locked_while_a_process_trains_into_it() {
    use std::os::fd::AsRawFd;
    let dir = tempfile::tempdir().unwrap();
    let spec = write(
        dir.path(),
        "r.toml",
        &RESUMABLE.replace("epochs = 3", "epochs = 1"),
    );
    let run = dir.path().join("run");
    std::fs::create_dir_all(&run).unwrap();
    // This test process holds the lock, as a running `deeptrain train` would.
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(run.join(".lock"))
        .unwrap();
    std::fs::write(run.join(".lock"), format!("{}\n", std::process::id())).unwrap();
    // SAFETY: flock on a descriptor this test owns.
    assert_eq!(
        unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
        0
    );
    let args = [
        "train",
        spec.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
    ];
    let o = deeptrain(&args);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(
        err.contains(&format!(
            "another deeptrain process (pid {})",
            std::process::id()
        )),
        "{err}"
    );
    assert!(!run.join("history.csv").exists());
    // The holder ends (its lock goes with it); the pid it left behind is stale.
    drop(lock);
    let o = deeptrain(&args);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("Took over the stale lock"), "{out}");
}
