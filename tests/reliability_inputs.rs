//! Adversarial inputs (issue 17), by class: each is refused with one line naming the file and
//! the problem (exit 1, never a panic or an allocation abort, under `ulimit -v` of 4 GiB) or
//! works, and none changes an existing checkpoint.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_deeptrain");

/// Virtual memory allowed to the command, in KiB (4 GiB).
const ULIMIT_KB: u64 = 4 << 20;

/// Runs the command under `ulimit -v`, in `cwd`.
fn run_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {ULIMIT_KB} && exec \"$0\" \"$@\""))
        .arg(BIN)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

fn run(args: &[&str]) -> Output {
    run_in(Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

/// Asserts a clean refusal: exit 1, one line on stderr holding every `expected` piece.
fn refused(o: &Output, expected: &[&str]) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "status {:?}: {err}", o.status);
    assert!(
        !err.contains("panicked") && !err.contains("memory allocation"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    for e in expected {
        assert!(err.contains(e), "`{e}` not in: {err}");
    }
    err
}

fn ok(o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "failed: {err}");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.to_str().unwrap().to_string()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A tiny digits model: one epoch takes a fraction of a second.
const TINY: &str = r#"
seed = 3
[data]
dataset = "digits"
validation_split = 0.1
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
units = 12
activation = "relu"
[[layers]]
type = "dense"
units = 10
activation = "softmax"
[optimizer]
name = "adam"
learning_rate = 0.01
[fit]
epochs = 1
batch_size = 64
"#;

/// A spec over a CSV file with label column `y`.
fn csv_spec(csv: &str, extra: &str) -> String {
    format!(
        "[data]\ndataset = \"{csv}\"\nlabel_column = \"y\"\n{extra}\n[[layers]]\ntype = \"dense\"\nunits = 3\nactivation = \"softmax\"\n[fit]\nepochs = 1\n"
    )
}

/// Every file of a checkpoint directory, to check that a refusal changed nothing.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    out.sort();
    out
}

/// An edit of a parsed `training_state.json`.
type Edit = Box<dyn Fn(&mut serde_json::Value)>;

/// A run of [`TINY`] in `dir/run` with a checkpoint after its one epoch.
fn trained_run(dir: &Path) -> (String, PathBuf) {
    let spec = write(dir, "tiny.toml", TINY);
    let run = dir.join("run");
    ok(&run_in(dir, &["train", &spec, "--out", s(&run)]));
    (spec, run)
}

fn resume(spec: &str, dir: &Path, epochs: &str) -> Output {
    run(&[
        "train",
        spec,
        "--out",
        s(dir),
        "--resume",
        s(dir),
        "--epochs",
        epochs,
    ])
}

// ---------------------------------------------------------------------------------- panics

#[test]
fn duplicate_layer_names_are_refused_when_the_spec_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let twice = TINY
        .replace("units = 12", "units = 12\nname = \"a\"")
        .replace("units = 10", "units = 10\nname = \"a\"");
    let spec = write(dir.path(), "dup.toml", twice);
    refused(
        &run(&["train", &spec, "--out", s(&dir.path().join("o"))]),
        &["dup.toml", "`a`", "unique"],
    );
    assert!(!dir.path().join("o").exists(), "a refused spec wrote a run");
    // A name given inside a block and again outside it.
    let block = TINY.replacen(
        "[[layers]]\ntype = \"flatten\"",
        "[[layers]]\ntype = \"block\"\nlayers = [{ type = \"flatten\", name = \"f\" }]\n[[layers]]\ntype = \"activation\"\nactivation = \"relu\"\nname = \"f\"",
        1,
    );
    let spec = write(dir.path(), "dup2.toml", block);
    refused(&run(&["summary", &spec]), &["dup2.toml", "`f`", "unique"]);
}

#[test]
fn checkpoint_indices_are_validated_and_the_checkpoint_is_left_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let (spec, run) = trained_run(dir.path());
    let state_path = run.join("resume/training_state.json");
    let good = std::fs::read_to_string(&state_path).unwrap();
    let state: serde_json::Value = serde_json::from_str(&good).unwrap();
    let n = state["shuffle_order"].as_array().unwrap().len();
    assert!(n > 100);
    let cases: Vec<(&str, Edit)> = vec![
        (
            "shuffle_order",
            Box::new(move |v| v["shuffle_order"] = serde_json::json!(vec![0; n])),
        ),
        (
            "shuffle_order",
            Box::new(move |v| v["shuffle_order"][0] = serde_json::json!(n + 5)),
        ),
        (
            "random-stream",
            Box::new(|v| v["shuffle_rng"]["seed"] = serde_json::json!("é".repeat(32))),
        ),
        (
            "epoch",
            Box::new(|v| v["history"][0]["epoch"] = serde_json::json!(7)),
        ),
        (
            "does not fit",
            Box::new(|v| v["layer_rngs"] = serde_json::json!([])),
        ),
    ];
    for (expected, edit) in cases {
        let mut v = state.clone();
        edit(&mut v);
        std::fs::write(&state_path, serde_json::to_string(&v).unwrap()).unwrap();
        let before = snapshot(&run.join("resume"));
        refused(
            &resume(&spec, &run, "3"),
            &["training_state.json", expected],
        );
        assert!(
            before == snapshot(&run.join("resume")),
            "{expected}: checkpoint changed"
        );
    }
    // Put back, it resumes.
    std::fs::write(&state_path, good).unwrap();
    ok(&resume(&spec, &run, "2"));
}

// ------------------------------------------------------------------------ allocation aborts

#[test]
fn absurd_sizes_are_refused_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = d.join("o");
    let train = |spec: &str| run(&["train", spec, "--out", s(&out)]);
    // NPY of shape (2^40, 0).
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    let mut header =
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 0), }".to_string();
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    npy.extend((header.len() as u16).to_le_bytes());
    npy.extend(header.as_bytes());
    let x = write(d, "x.npy", &npy);
    let spec = write(
        d,
        "npy.toml",
        format!("[data]\ndataset = \"{x}\"\nlabels = \"{x}\"\n[[layers]]\ntype = \"dense\"\nunits = 2\n"),
    );
    refused(&train(&spec), &["x.npy", "no values"]);
    // A repeated block of a repeated layer: 10^8 layers once expanded.
    let spec = write(
        d,
        "nested.toml",
        "[[layers]]\ntype = \"block\"\nrepeat = 10000\nlayers = [{ type = \"dense\", units = 2, repeat = 10000 }]\n",
    );
    refused(&train(&spec), &["nested.toml", "more than 10000 layers"]);
    // Each layer under the per-layer cap, the model over the whole-model cap.
    let spec = write(
        d,
        "big.toml",
        "[[layers]]\ntype = \"flatten\"\n[[layers]]\ntype = \"dense\"\nunits = 10000\nrepeat = 4\n",
    );
    refused(&train(&spec), &["parameters", "GiB", "limit"]);
    // IDX headers: one over the per-array limit (20 GiB as f32), one under it whose gzip
    // stream holds almost nothing.
    for (name, dims) in [
        ("huge", [5_000_000u32, 1000, 1000]),
        ("short", [100_000, 1000, 5]),
    ] {
        let idx = d.join(name);
        std::fs::create_dir_all(&idx).unwrap();
        let mut images = vec![0u8, 0, 8, 3];
        for v in dims {
            images.extend(v.to_be_bytes());
        }
        images.extend([0u8; 100]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &images).unwrap();
        write(&idx, "train-images-idx3-ubyte.gz", gz.finish().unwrap());
        let mut labels = vec![0u8, 0, 8, 1];
        labels.extend(dims[0].to_be_bytes());
        write(&idx, "train-labels-idx1-ubyte", labels);
        let spec = write(
            d,
            &format!("{name}.toml"),
            format!(
                "[data]\ndataset = \"{}\"\n[[layers]]\ntype = \"dense\"\nunits = 2\n",
                idx.display()
            ),
        );
        let expected = if name == "huge" {
            "over the limit"
        } else {
            "truncated"
        };
        refused(&train(&spec), &["train-", expected]);
    }
    // A .csv.gz that inflates past the budget: the same 64 MiB member, 40 times.
    let member = {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let row = b"1,2,0\n".repeat((64 << 20) / 6);
        std::io::Write::write_all(&mut gz, &row).unwrap();
        gz.finish().unwrap()
    };
    let csv = s(&d.join("bomb.csv.gz")).to_string();
    let mut bytes = {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, b"a,b,y\n").unwrap();
        gz.finish().unwrap()
    };
    for _ in 0..40 {
        bytes.extend(&member);
    }
    std::fs::write(&csv, &bytes).unwrap();
    let spec = write(d, "gz.toml", csv_spec(&csv, ""));
    let err = refused(&train(&spec), &["bomb.csv.gz"]);
    assert!(
        err.contains("decompressed size is over the limit")
            || err.contains("more than is available"),
        "{err}"
    );
}

#[test]
fn lr_find_steps_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write(dir.path(), "tiny.toml", TINY);
    let out = dir.path().join("lr");
    for steps in ["0", "1", "1000000000000000"] {
        refused(
            &run(&["lr-find", &spec, "--steps", steps, "--out", s(&out)]),
            &["--steps", steps],
        );
    }
}

#[cfg(unix)]
#[test]
fn devices_and_fifos_are_refused_as_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    refused(
        &run(&["summary", "/dev/zero"]),
        &["/dev/zero", "not a regular file"],
    );
    let fifo = d.join("spec.toml");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    refused(
        &run(&["summary", s(&fifo)]),
        &["spec.toml", "not a regular file"],
    );
    // A CSV that is a link to /dev/zero.
    std::os::unix::fs::symlink("/dev/zero", d.join("zero.csv")).unwrap();
    let spec = write(d, "z.toml", csv_spec(s(&d.join("zero.csv")), ""));
    refused(
        &run(&["train", &spec, "--out", s(&d.join("o"))]),
        &["zero.csv", "not a regular file"],
    );
    // Weights that are /dev/zero.
    let (_, run_dir) = trained_run(d);
    let weights = run_dir.join("model/weights.safetensors");
    std::fs::remove_file(&weights).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &weights).unwrap();
    refused(
        &run(&["evaluate", s(&run_dir)]),
        &["weights.safetensors", "not a regular file"],
    );
}

// -------------------------------------------------------------------------------------- time

#[test]
fn ten_thousand_layers_build_in_linear_time() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write(
        dir.path(),
        "deep.toml",
        "[[layers]]\ntype = \"flatten\"\n[[layers]]\ntype = \"block\"\nrepeat = 4999\nlayers = [{ type = \"dense\", units = 4 }, { type = \"activation\", activation = \"relu\" }]\n[[layers]]\ntype = \"dense\"\nunits = 10\nactivation = \"softmax\"\n",
    );
    let started = Instant::now();
    let out = ok(&run(&["summary", &spec]));
    assert!(out.contains("dense_4999"), "{}", &out[out.len() - 500..]);
    // Quadratic name search took over a minute here; linear takes well under a second.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

// ------------------------------------------------------------------------ silent wrong results

#[test]
fn empty_validation_and_test_parts_are_absent_not_zero() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write(
        dir.path(),
        "e.toml",
        TINY.replace(
            "validation_split = 0.1",
            "validation_split = 0.0001\ntest_split = 0.0001",
        ),
    );
    let out = dir.path().join("o");
    ok(&run(&["train", &spec, "--out", s(&out)]));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert!(summary["validation"].is_null(), "{summary}");
    assert!(summary["test"].is_null(), "{summary}");
}

#[test]
fn class_selection_refuses_labels_that_are_not_class_indices() {
    let dir = tempfile::tempdir().unwrap();
    for (label, key) in [
        ("-1", "classes"),
        ("1.5", "drop_classes"),
        ("nan", "classes"),
    ] {
        let csv = write(
            dir.path(),
            "c.csv",
            format!("a,b,y\n0.1,0.2,0\n\n0.3,0.1,{label}\n0.5,0.5,1\n"),
        );
        let spec = write(
            dir.path(),
            "c.toml",
            csv_spec(&csv, &format!("{key} = [0, 1]")),
        );
        refused(
            &run(&["train", &spec, "--out", s(&dir.path().join("o"))]),
            &["c.csv", "line 4", "not a class index"],
        );
    }
}

#[test]
fn resume_refuses_a_different_spec_and_allows_more_epochs() {
    let dir = tempfile::tempdir().unwrap();
    let (spec, run_dir) = trained_run(dir.path());
    let before = snapshot(&run_dir.join("resume"));
    for (from, to, key) in [
        (
            "learning_rate = 0.01",
            "learning_rate = 0.02",
            "optimizer.learning_rate",
        ),
        ("units = 12", "units = 13", "layers #2.units"),
        ("name = \"adam\"", "name = \"sgd\"", "optimizer.name"),
        (
            "validation_split = 0.1",
            "validation_split = 0.2",
            "data.validation_split",
        ),
        ("seed = 3", "seed = 4", "seed"),
    ] {
        let changed = write(dir.path(), "changed.toml", TINY.replace(from, to));
        refused(
            &resume(&changed, &run_dir, "2"),
            &["resume", key, "differs"],
        );
        assert!(
            before == snapshot(&run_dir.join("resume")),
            "{key}: checkpoint changed"
        );
    }
    // A checkpoint without its optimizer state is refused, not resumed with a fresh optimizer.
    let opt = run_dir.join("resume/optimizer.safetensors");
    let saved = std::fs::read(&opt).unwrap();
    std::fs::remove_file(&opt).unwrap();
    refused(
        &resume(&spec, &run_dir, "2"),
        &["optimizer.safetensors", "missing"],
    );
    std::fs::write(&opt, saved).unwrap();
    // Only more epochs: it resumes.
    let out = ok(&resume(&spec, &run_dir, "2"));
    assert!(out.contains("Resuming"), "{out}");
}

#[test]
fn a_reused_out_holds_no_stale_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o");
    let bn = TINY.replace(
        "units = 12\nactivation = \"relu\"",
        "units = 12\n[[layers]]\ntype = \"batch_normalization\"\n[[layers]]\ntype = \"activation\"\nactivation = \"relu\"",
    );
    let spec = write(dir.path(), "bn.toml", bn);
    ok(&run(&["train", &spec, "--out", s(&out)]));
    assert!(out.join("inference_model").exists());
    let spec = write(dir.path(), "plain.toml", TINY);
    // Without --overwrite the earlier run's checkpoint is refused and left as it is.
    let checkpoint = out.join("resume/training_state.json");
    let before = std::fs::read(&checkpoint).unwrap();
    refused(
        &run(&["train", &spec, "--out", s(&out)]),
        &[
            "holds the checkpoint of an earlier run",
            "--resume",
            "--overwrite",
        ],
    );
    assert_eq!(std::fs::read(&checkpoint).unwrap(), before);
    ok(&run(&[
        "train",
        &spec,
        "--out",
        s(&out),
        "--overwrite",
        "--diagnostics-every",
        "0",
    ]));
    assert!(
        !out.join("inference_model").exists(),
        "stale inference_model/"
    );
    assert!(
        !out.join("diagnostics.csv").exists(),
        "stale diagnostics.csv"
    );
}

#[test]
fn the_recorded_data_path_does_not_depend_on_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("proj")).unwrap();
    write(
        &d.join("proj"),
        "d.csv",
        "a,b,y\n0.1,0.2,0\n0.3,0.1,1\n0.5,0.5,2\n0.2,0.9,1\n",
    );
    write(&d.join("proj"), "s.toml", csv_spec("d.csv", ""));
    ok(&run_in(
        &d.join("proj"),
        &["train", "s.toml", "--out", "../run"],
    ));
    // The run's metadata, beside the model, records the data.
    let metadata = std::fs::read_to_string(d.join("run/model/run.toml")).unwrap();
    let recorded = d.join("proj/d.csv");
    assert!(metadata.contains(s(&recorded)), "{metadata}");
    // `evaluate` from elsewhere finds the data.
    ok(&run_in(Path::new("/"), &["evaluate", s(&d.join("run"))]));
}

#[test]
fn duplicate_csv_headers_and_non_finite_weights_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(dir.path(), "dup.csv", "a,y,y\n0.1,0,0\n0.3,1,1\n");
    let spec = write(dir.path(), "s.toml", csv_spec(&csv, ""));
    refused(
        &run(&["train", &spec, "--out", s(&dir.path().join("o"))]),
        &["dup.csv", "`y` appears twice"],
    );
    // A NaN in the weights: the first value of the data section.
    let (_, run_dir) = trained_run(dir.path());
    let path = run_dir.join("model/weights.safetensors");
    let mut bytes = std::fs::read(&path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    bytes[8 + n..8 + n + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(&path, bytes).unwrap();
    refused(
        &run(&["evaluate", s(&run_dir)]),
        &["weights.safetensors", "non-finite"],
    );
}

// --------------------------------------------------------------------------- clearer messages

#[test]
fn evaluate_takes_flat_csv_rows_for_an_image_model() {
    let dir = tempfile::tempdir().unwrap();
    let (_, run_dir) = trained_run(dir.path());
    let mut csv: String = (0..64).map(|i| format!("p{i},")).collect::<String>() + "y\n";
    for r in 0..5 {
        csv += &(0..64)
            .map(|i| format!("{},", (i * r) % 17))
            .collect::<String>();
        csv += &format!("{}\n", r % 10);
    }
    let csv = write(dir.path(), "flat.csv", csv);
    let out = ok(&run(&[
        "evaluate",
        s(&run_dir),
        "--data",
        &csv,
        "--label-column",
        "y",
    ]));
    assert!(
        out.contains("5 samples") && out.contains("accuracy"),
        "{out}"
    );
}

#[test]
fn data_errors_name_the_file_and_the_physical_line() {
    let dir = tempfile::tempdir().unwrap();
    // The bad label is on physical line 6 (blank lines counted), row 3 before any split.
    let csv = write(
        dir.path(),
        "l.csv",
        "a,b,y\n\n0.1,0.2,0\n0.3,0.1,1\n\n0.3,0.1,7\n0.5,0.5,2\n0.2,0.2,1\n",
    );
    let spec = write(
        dir.path(),
        "s.toml",
        csv_spec(&csv, "validation_split = 0.3"),
    );
    refused(
        &run(&["train", &spec, "--out", s(&dir.path().join("o"))]),
        &["l.csv: line 6", "label 7", "out of range"],
    );
    let csv = write(dir.path(), "n.csv", "a,b,y\n0.1,0.2,0\n\n0.3,inf,1\n");
    let spec = write(dir.path(), "n.toml", csv_spec(&csv, ""));
    refused(
        &run(&["train", &spec, "--out", s(&dir.path().join("o"))]),
        &["n.csv: line 4", "not a finite number"],
    );
}

#[test]
fn npy_idx_and_scaling_messages_say_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = d.join("o");
    let train = |spec: &str| run(&["train", spec, "--out", s(&out)]);
    let npy = |name: &str, descr: &str, shape: &str, data: &[u8]| {
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        let mut header =
            format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        bytes.extend((header.len() as u16).to_le_bytes());
        bytes.extend(header.as_bytes());
        bytes.extend(data);
        write(d, name, bytes)
    };
    let labels = npy("y.npy", "<f4", "(4,)", &[0u8; 16]);
    let x1 = npy("x1.npy", "<f4", "(4,)", &[0u8; 16]);
    let spec = write(
        d,
        "one.toml",
        format!("[data]\ndataset = \"{x1}\"\nlabels = \"{labels}\"\n[[layers]]\ntype = \"dense\"\nunits = 2\n"),
    );
    refused(&train(&spec), &["x1.npy", "1-D", "(N, F)"]);
    let xo = npy("xo.npy", "|O", "(4, 2)", &[0u8; 64]);
    let spec = write(
        d,
        "obj.toml",
        format!("[data]\ndataset = \"{xo}\"\nlabels = \"{labels}\"\n[[layers]]\ntype = \"dense\"\nunits = 2\n"),
    );
    refused(&train(&spec), &["xo.npy", "object arrays"]);
    // A custom IDX directory without labels: no Fashion-MNIST install hint.
    let idx = d.join("idx");
    std::fs::create_dir_all(&idx).unwrap();
    let mut images = vec![0u8, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2];
    images.extend([1u8, 2, 3, 4]);
    write(&idx, "train-images-idx3-ubyte", images);
    let spec = write(
        d,
        "idx.toml",
        format!(
            "[data]\ndataset = \"{}\"\n[[layers]]\ntype = \"dense\"\nunits = 2\n",
            idx.display()
        ),
    );
    let err = refused(&train(&spec), &["idx", "train-labels-idx1-ubyte"]);
    assert!(!err.contains("apt-get"), "{err}");
    // Finite values that overflow once scaled.
    let csv = write(d, "wide.csv", "a,y\n3e38,0\n-3e38,1\n0,1\n");
    let spec = write(d, "wide.toml", csv_spec(&csv, ""));
    refused(&train(&spec), &["wide.csv", "overflow"]);
    let csv = write(d, "far.csv", "a,y\n0,0\n0.001,1\n0.0005,1\n3e38,0\n");
    // The far value in the test part (file order), outside the range fitted on training.
    let spec = write(
        d,
        "far.toml",
        csv_spec(&csv, "test_split = 0.25\nshuffle = false"),
    );
    refused(
        &train(&spec),
        &["far.csv: line 5", "overflows f32 when scaled"],
    );
}
