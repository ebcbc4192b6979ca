//! Issue 32, the core classes: every output checked against the labels (no panic in the loss,
//! no silently wrong shapes), window geometry that cannot hang or wrap, table headers and weight
//! columns, and metric or loss tables with unknown keys. Each case is refused with one line
//! naming the key or layer and the problem (exit 1, never a panic, an allocation abort or a
//! hang, under `ulimit -v` of 4 GiB and a time limit), or works.

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_deeptrain");

/// Virtual memory allowed to the command, in KiB (4 GiB).
const ULIMIT_KB: u64 = 4 << 20;
/// Seconds before a command counts as hung (`timeout` then exits 124).
const TIME_LIMIT_S: u32 = 60;

/// Runs the command under `ulimit -v` and a time limit, in `cwd`.
fn run_in(cwd: &Path, args: &[&str]) -> Output {
    // DEEPTRAIN_BIN runs the cases against another build (an older one, to see them fail).
    let bin = std::env::var("DEEPTRAIN_BIN").unwrap_or_else(|_| BIN.to_string());
    Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v {ULIMIT_KB} && exec timeout {TIME_LIMIT_S} \"$0\" \"$@\""
        ))
        .arg(bin)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
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
    assert!(o.status.success(), "status {:?}: {err}", o.status);
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Digits with a main softmax output and an auxiliary output `aux` (its layer table given).
fn with_aux(aux: &str, loss: &str) -> String {
    format!(
        r#"
seed = 1
[data]
dataset = "digits"
validation_split = 0.1
[[layers]]
name = "flat"
type = "flatten"
[[layers]]
name = "hidden"
type = "dense"
units = 8
activation = "relu"
[[layers]]
name = "main"
type = "dense"
units = 10
activation = "softmax"
[[layers]]
name = "aux"
inputs = ["hidden"]
{aux}
[[outputs]]
layer = "main"
[[outputs]]
layer = "aux"
loss_weight = 0.3
[compile]
loss = "{loss}"
[fit]
epochs = 1
batch_size = 64
"#
    )
}

// ------------------------------------------------------------------ outputs against labels

#[test]
fn an_auxiliary_output_with_fewer_units_than_classes_is_refused_in_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write(
        dir.path(),
        "aux.toml",
        &with_aux(
            "type = \"dense\"\nunits = 3\nactivation = \"softmax\"",
            "sparse_categorical_crossentropy",
        ),
    );
    let out = dir.path().join("o");
    for args in [
        vec!["train", &spec, "--out", s(&out)],
        vec!["lr-find", &spec, "--out", s(&out), "--steps", "20"],
        vec!["diagnose", &spec, "--steps", "5"],
    ] {
        refused(
            &run_in(dir.path(), &args),
            &["output `aux` has 3 units", "class 9", "at least 10 units"],
        );
    }
    // The same model with a 10-unit auxiliary output trains.
    let spec = write(
        dir.path(),
        "aux10.toml",
        &with_aux(
            "type = \"dense\"\nunits = 10\nactivation = \"softmax\"",
            "sparse_categorical_crossentropy",
        ),
    );
    ok(&run_in(dir.path(), &["train", &spec, "--out", s(&out)]));
}

#[test]
fn an_mse_auxiliary_output_wider_than_the_targets_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // Regression on the digit's value: one target column; `aux` gives 3.
    let text = with_aux("type = \"dense\"\nunits = 3", "mse")
        .replace("units = 10\nactivation = \"softmax\"", "units = 1");
    let spec = write(dir.path(), "mse.toml", &text);
    refused(
        &run_in(
            dir.path(),
            &["train", &spec, "--out", s(&dir.path().join("o"))],
        ),
        &["output `aux` has 3 units", "1 columns"],
    );
}

#[test]
fn a_convolution_map_is_not_taken_for_class_scores() {
    let dir = tempfile::tempdir().unwrap();
    // A (6, 6, 2) map as the output of a 10-class model: 72 "classes".
    let spec = write(
        dir.path(),
        "map.toml",
        r#"
[data]
dataset = "digits"
[[layers]]
type = "reshape"
target_shape = [8, 8, 1]
[[layers]]
name = "map"
type = "conv2d"
filters = 2
kernel_size = 3
activation = "softmax"
[compile]
loss = "categorical_crossentropy"
[fit]
epochs = 1
"#,
    );
    refused(
        &run_in(
            dir.path(),
            &["train", &spec, "--out", s(&dir.path().join("o"))],
        ),
        &[
            "output `map`",
            "[6, 6, 2]",
            "categorical_crossentropy",
            "flat",
        ],
    );
}

// ------------------------------------------------------------------------- window geometry

/// An 8×8 digits model with `layer` (a TOML table body) after the reshape.
fn image_model(layer: &str) -> String {
    format!(
        r#"
[data]
dataset = "digits"
[[layers]]
type = "reshape"
target_shape = [8, 8, 1]
[[layers]]
name = "window"
{layer}
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
units = 10
activation = "softmax"
[fit]
epochs = 1
"#
    )
}

#[test]
fn a_huge_same_pool_reads_only_the_input_in_summary_and_in_evaluate_of_a_saved_model() {
    let dir = tempfile::tempdir().unwrap();
    // 10^12 taps moved by 1 over 8 positions: every window holds the whole input, and only its
    // 8 real taps are visited (Keras gives the same 8×8 map of the maximum).
    let huge =
        "type = \"max_pooling2d\"\npool_size = 1000000000000\nstrides = 1\npadding = \"same\"";
    let spec = write(dir.path(), "pool.toml", &image_model(huge));
    let summary = ok(&run_in(dir.path(), &["summary", &spec]));
    let row = summary.lines().find(|l| l.starts_with("window ")).unwrap();
    assert!(row.contains("(None, 8, 8, 1)"), "{summary}");
    // A saved model whose model.toml was given the same pool.
    let small =
        image_model("type = \"max_pooling2d\"\npool_size = 2\nstrides = 1\npadding = \"same\"");
    let spec = write(dir.path(), "small.toml", &small);
    let run = dir.path().join("run");
    ok(&run_in(dir.path(), &["train", &spec, "--out", s(&run)]));
    let model_toml = run.join("model/model.toml");
    let text = std::fs::read_to_string(&model_toml).unwrap();
    assert!(text.contains("pool_size = 2"), "{text}");
    std::fs::write(
        &model_toml,
        text.replace("pool_size = 2", "pool_size = 1000000000000"),
    )
    .unwrap();
    let scores = ok(&run_in(dir.path(), &["evaluate", s(&run.join("model"))]));
    assert!(scores.contains("accuracy"), "{scores}");
}

#[test]
fn a_dilation_that_overflows_the_window_is_refused_and_one_that_fits_is_not_wrapped() {
    let dir = tempfile::tempdir().unwrap();
    let conv = |kernel: usize, padding: &str| {
        let conv = format!(
            "type = \"conv2d\"\nfilters = 2\nkernel_size = {kernel}\ndilation_rate = 4611686018427387904\npadding = \"{padding}\""
        );
        write(dir.path(), "dilated.toml", &image_model(&conv))
    };
    // 4·2^62 wraps to 0 (a window of 1 before): refused.
    for padding in ["valid", "same"] {
        refused(
            &run_in(dir.path(), &["summary", &conv(5, padding)]),
            &[
                "layer `window`",
                "dilation 4611686018427387904",
                "machine word",
            ],
        );
    }
    // 2·2^62 fits: `valid` does not fit in 8 positions, `same` reads the center tap only.
    refused(
        &run_in(dir.path(), &["summary", &conv(3, "valid")]),
        &[
            "layer `window`",
            "dilation 4611686018427387904",
            "does not fit",
        ],
    );
    let summary = ok(&run_in(dir.path(), &["summary", &conv(3, "same")]));
    assert!(summary.contains("(None, 8, 8, 2)"), "{summary}");
}

#[test]
fn a_window_larger_than_its_input_is_valid_with_same_padding() {
    // Keras builds and trains a 5×5 `same` convolution on a 1×1 map (the digits pooled 8×8).
    let dir = tempfile::tempdir().unwrap();
    let spec = write(
        dir.path(),
        "tiny.toml",
        &image_model(
            "type = \"max_pooling2d\"\npool_size = 8\n[[layers]]\nname = \"tiny\"\ntype = \"conv2d\"\nfilters = 4\nkernel_size = 5\npadding = \"same\"",
        ),
    );
    let stdout = ok(&run_in(
        dir.path(),
        &["train", &spec, "--out", s(&dir.path().join("o"))],
    ));
    assert!(stdout.contains("(None, 1, 1, 4)"), "{stdout}");
}

// ---------------------------------------------------------------------------------- tables

#[test]
fn a_table_header_naming_a_column_twice_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("a,y,y\n");
    for i in 0..30 {
        csv += &format!("{i},{},{}\n", ["cat", "dog"][i % 2], i % 3);
    }
    write(dir.path(), "dup.csv", &csv);
    let spec = write(
        dir.path(),
        "dup.toml",
        "[data]\ndataset = \"dup.csv\"\nlabel_column = \"y\"\n[[layers]]\ntype = \"dense\"\nunits = 2\nactivation = \"softmax\"\n[fit]\nepochs = 1\n",
    );
    refused(
        &run_in(
            dir.path(),
            &["train", &spec, "--out", s(&dir.path().join("o"))],
        ),
        &["dup.csv", "column `y` appears twice", "columns 2 and 3"],
    );
}

#[test]
fn the_label_column_cannot_be_the_sample_weight_column() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("a,b,y\n");
    for i in 0..30 {
        csv += &format!("{i},{},{}\n", i % 5, i % 2);
    }
    write(dir.path(), "w.csv", &csv);
    let spec = write(
        dir.path(),
        "w.toml",
        "[data]\ndataset = \"w.csv\"\nlabel_column = \"y\"\nsample_weight_column = \"y\"\n[[layers]]\ntype = \"dense\"\nunits = 2\nactivation = \"softmax\"\n[fit]\nepochs = 1\n",
    );
    refused(
        &run_in(
            dir.path(),
            &["train", &spec, "--out", s(&dir.path().join("o"))],
        ),
        &["sample_weight_column", "the label column"],
    );
}

// ---------------------------------------------------------------------- metric, loss tables

#[test]
fn unknown_keys_in_metric_and_loss_tables_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let base = r#"
[data]
dataset = "digits"
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
units = 10
activation = "softmax"
[fit]
epochs = 1
"#;
    let out = dir.path().join("o");
    let cases: [(&str, &[&str]); 3] = [
        (
            "[compile]\nmetrics = [{ name = \"top_k_accuracy\", kk = 1 }]",
            &["`kk`"],
        ),
        (
            "[compile]\nloss = { name = \"huber\", deltta = 2.0 }",
            &["`deltta`"],
        ),
        (
            "[compile]\nloss = { name = \"sparse_categorical_crossentropy\", from_logits = true }",
            &["`from_logits`"],
        ),
    ];
    for (table, expected) in cases {
        let spec = write(dir.path(), "t.toml", &format!("{table}\n{base}"));
        refused(
            &run_in(dir.path(), &["train", &spec, "--out", s(&out)]),
            expected,
        );
    }
    // A real k is accepted.
    let spec = write(
        dir.path(),
        "t.toml",
        &format!("[compile]\nmetrics = [{{ name = \"top_k_accuracy\", k = 1 }}]\n{base}"),
    );
    let stdout = ok(&run_in(dir.path(), &["train", &spec, "--out", s(&out)]));
    assert!(stdout.contains("top_k_accuracy"), "{stdout}");
}

#[test]
fn an_error_in_a_later_layers_entry_names_its_own_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let base = "[data]\ndataset = \"digits\"\n[[layers]]\ntype = \"flatten\"\n[[layers]]\ntype = \"dense\"\nunits = 8\n[[layers]]\ntype = \"dense\"\n";
    for (last, expected) in [
        ("units = -10", ["line 10", "`units`"]),
        (
            "units = 10\nactivaton = \"relu\"",
            ["line 11", "`activaton`"],
        ),
    ] {
        let spec = write(dir.path(), "later.toml", &format!("{base}{last}\n"));
        refused(
            &run_in(dir.path(), &["summary", &spec]),
            &["later.toml", expected[0], expected[1]],
        );
    }
}

// --------------------------------------------------------- gradients under fused plain SGD

mod gradients {
    use deeptrain::callbacks::{Control, EpochLogs};
    use deeptrain::{
        data, Activation, Callback, Dataset, DenseSpec, FitOptions, LayerSpec, Loss, Sequential,
        Sgd,
    };

    /// Copies every Dense kernel's gradient at each epoch's end (`None`: not available).
    struct Reader {
        asks: bool,
        kernels: Vec<Option<Vec<f32>>>,
    }

    impl Callback for Reader {
        fn on_epoch_end(
            &mut self,
            _logs: &EpochLogs,
            model: &mut Sequential,
        ) -> deeptrain::Result<Control> {
            self.kernels = model
                .layers()
                .iter()
                .filter_map(|l| l.kernel_param())
                .map(|p| p.grad().map(|g| g.data().to_vec()))
                .collect();
            Ok(Control::Continue)
        }

        fn needs_gradients(&self) -> bool {
            self.asks
        }
    }

    fn model() -> Sequential {
        let mut model = Sequential::new(&[8, 8])
            .add(LayerSpec::flatten())
            .add(DenseSpec::new(16).activation(Activation::Relu))
            .add(DenseSpec::new(10).activation(Activation::Softmax))
            .build(3)
            .unwrap();
        model
            .compile(
                Box::new(Sgd::new(0.1).unwrap()),
                Loss::SparseCategoricalCrossentropy,
                &[],
            )
            .unwrap();
        model
    }

    fn kernels(model: &Sequential) -> Vec<Vec<f32>> {
        model
            .layers()
            .iter()
            .filter_map(|l| l.kernel_param())
            .map(|p| p.value.data().to_vec())
            .collect()
    }

    /// Under plain SGD the kernels' gradients are never stored: a callback that does not ask
    /// for them is told they are not available (`None`), never handed zeros; one that asks
    /// reads the step's gradient (one full-batch step: W1 = W0 - η·g).
    #[test]
    fn a_callback_reads_true_gradients_or_none_never_zeros() {
        let train: Dataset = data::digits().unwrap().train.slice(0..200);
        let options = FitOptions {
            epochs: 1,
            batch_size: 200,
            shuffle: false,
            ..FitOptions::default()
        };
        let mut fused = model();
        let mut reader = Reader {
            asks: false,
            kernels: Vec::new(),
        };
        fused
            .fit(&train, None, &options, &mut [&mut reader])
            .unwrap();
        assert_eq!(reader.kernels.len(), 2);
        for k in &reader.kernels {
            assert!(k.is_none(), "a fused kernel's gradient: {k:?}");
        }

        let mut stored = model();
        let before = kernels(&stored);
        let mut reader = Reader {
            asks: true,
            kernels: Vec::new(),
        };
        stored
            .fit(&train, None, &options, &mut [&mut reader])
            .unwrap();
        let after = kernels(&stored);
        for ((g, w0), w1) in reader.kernels.iter().zip(&before).zip(&after) {
            let g = g.as_ref().expect("a callback that asks reads the gradient");
            let norm: f32 = g.iter().map(|v| v * v).sum::<f32>().sqrt();
            assert!(norm > 1e-3, "gradient norm {norm}");
            for ((&g, &a), &b) in g.iter().zip(w0).zip(w1) {
                let step = (a - b) / 0.1;
                assert!((g - step).abs() <= 1e-4 + 1e-3 * g.abs(), "{g} vs {step}");
            }
        }
        // The fused and the stored runs take the same step, bit for bit: storing the
        // gradient does not change the update (tests/observed_steps.rs).
        assert_eq!(
            kernels(&fused),
            after,
            "asking for gradients changed the step"
        );
    }
}

// ------------------------------------------------------- memory, estimated before allocating

/// Digits through `layers` (TOML), trained for one epoch with `optimizer`.
fn digits_model(layers: &str, optimizer: &str) -> String {
    format!(
        "[data]\ndataset = \"digits\"\n{layers}\n[optimizer]\nname = \"{optimizer}\"\n[fit]\nepochs = 1\nbatch_size = 32\n"
    )
}

/// Trains `spec` under the 4 GiB limit and expects a one-line refusal naming the estimate.
fn refused_for_memory(dir: &Path, name: &str, spec: &str, expected: &[&str]) {
    let spec = write(dir, name, spec);
    let out = dir.join("o");
    let mut all = vec!["would need about", "this process may use"];
    all.extend_from_slice(expected);
    refused(&run_in(dir, &["train", &spec, "--out", s(&out)]), &all);
}

#[test]
fn concatenations_that_grow_a_model_without_weights_are_refused() {
    // 64 values doubled 17 times: 8.4M values per sample, no weight until the output.
    let mut layers = String::from("[[layers]]\nname = \"c0\"\ntype = \"flatten\"\n");
    for i in 1..=17 {
        layers += &format!(
            "[[layers]]\nname = \"c{i}\"\ntype = \"concatenate\"\ninputs = [\"c{}\", \"c{}\"]\n",
            i - 1,
            i - 1
        );
    }
    layers += "[[layers]]\ntype = \"dense\"\nunits = 10\nactivation = \"softmax\"\n";
    let dir = tempfile::tempdir().unwrap();
    refused_for_memory(
        dir.path(),
        "concat.toml",
        &digits_model(&layers, "sgd"),
        &["training in batches of 32", "layer `c17`"],
    );
}

/// A batch larger than the data is one batch of every row, as in Keras; nothing is reserved for
/// the rows the batch size names but the data does not have.
#[test]
fn a_batch_size_of_ten_to_the_fifteen_trains_as_one_full_batch() {
    let dir = tempfile::tempdir().unwrap();
    let spec = digits_model(
        "[[layers]]\ntype = \"flatten\"\n[[layers]]\ntype = \"dense\"\nunits = 10\nactivation = \"softmax\"\n",
        "sgd",
    )
    .replace("batch_size = 32", "batch_size = 1000000000000000");
    let spec = write(dir.path(), "huge_batch.toml", &spec);
    let out = dir.path().join("o");
    ok(&run_in(dir.path(), &["train", &spec, "--out", s(&out)]));
    let history = std::fs::read_to_string(out.join("history.csv")).unwrap();
    assert_eq!(history.lines().count(), 2, "{history}");
}

#[test]
fn a_one_by_one_convolution_with_four_million_filters_is_refused() {
    let layers = "[[layers]]\ntype = \"reshape\"\ntarget_shape = [8, 8, 1]\n[[layers]]\nname = \"wide\"\ntype = \"conv2d\"\nfilters = 4194304\nkernel_size = 1\n[[layers]]\ntype = \"global_average_pooling2d\"\n[[layers]]\ntype = \"dense\"\nunits = 10\nactivation = \"softmax\"\n";
    let dir = tempfile::tempdir().unwrap();
    refused_for_memory(
        dir.path(),
        "filters.toml",
        &digits_model(layers, "sgd"),
        &["layer `wide`"],
    );
}

#[test]
fn a_model_within_the_parameter_limit_is_refused_with_adam_state_it_cannot_hold() {
    // 225M parameters (under the 2^28 limit: 900 MB of weights), then gradients and Adam's
    // two moments: over 4 GiB.
    let layers = "[[layers]]\ntype = \"flatten\"\n[[layers]]\ntype = \"dense\"\nunits = 3000000\n[[layers]]\ntype = \"dense\"\nunits = 10\nactivation = \"softmax\"\n";
    let dir = tempfile::tempdir().unwrap();
    refused_for_memory(
        dir.path(),
        "adam.toml",
        &digits_model(layers, "adam"),
        &["adam's state"],
    );
}

#[test]
fn a_categorical_column_with_300000_values_is_refused_before_its_one_hot() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::with_capacity(300_000 * 16);
    csv += "id,x,y\n";
    for i in 0..300_000 {
        csv += &format!("k{i},{},{}\n", i % 7, i % 2);
    }
    write(dir.path(), "wide.csv", &csv);
    let spec = write(
        dir.path(),
        "wide.toml",
        "[data]\ndataset = \"wide.csv\"\nlabel_column = \"y\"\ncategorical = [\"id\"]\n[[layers]]\ntype = \"dense\"\nunits = 2\nactivation = \"softmax\"\n[fit]\nepochs = 1\n",
    );
    refused(
        &run_in(
            dir.path(),
            &["train", &spec, "--out", s(&dir.path().join("o"))],
        ),
        &["categorical column `id`", "categories", "one-hot"],
    );
}

/// An NPY file of `shape` and `descr` holding zeros, written as its header and a hole (a
/// sparse file: no disk is written for the values).
fn sparse_npy(path: &Path, descr: &str, shape: &[u64], value_bytes: u64) {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let mut header = format!(
        "{{'descr': '{descr}', 'fortran_order': False, 'shape': ({},), }}",
        dims.join(", ")
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    std::fs::write(path, &bytes).unwrap();
    let values: u64 = shape.iter().product();
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.set_len(bytes.len() as u64 + values * value_bytes)
        .unwrap();
}

#[test]
fn a_convolution_of_128_filters_on_a_3000_by_3000_image_is_refused_before_allocating() {
    // Two 3000×3000 grayscale images (18 MB, sparse): one image's 128-filter map is 4.3 GiB.
    let dir = tempfile::tempdir().unwrap();
    sparse_npy(&dir.path().join("x.npy"), "|u1", &[2, 3000, 3000], 1);
    sparse_npy(&dir.path().join("y.npy"), "<i8", &[2], 8);
    refused_for_memory(
        dir.path(),
        "big.toml",
        "[data]\ndataset = \"x.npy\"\nlabels = \"y.npy\"\ntest_split = 0\nvalidation_split = 0\n[[layers]]\nname = \"big\"\ntype = \"conv2d\"\nfilters = 128\nkernel_size = 3\npadding = \"same\"\n[[layers]]\ntype = \"global_average_pooling2d\"\n[[layers]]\ntype = \"dense\"\nunits = 2\nactivation = \"softmax\"\n[fit]\nepochs = 1\nbatch_size = 1\n",
        &["training in batches of 1", "layer `big`"],
    );
}

// ------------------------------------------------------------------- checkpoint versions

#[test]
fn a_checkpoint_of_an_older_format_is_refused_and_left_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let layers = "[[layers]]\ntype = \"flatten\"\n[[layers]]\ntype = \"dense\"\nunits = 10\nactivation = \"softmax\"\n";
    let spec = write(dir.path(), "one.toml", &digits_model(layers, "sgd"));
    let run = dir.path().join("run");
    ok(&run_in(dir.path(), &["train", &spec, "--out", s(&run)]));
    // What a build before the observer's state was kept wrote: version 1, no `observer`.
    let state_path = run.join("resume/training_state.json");
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state_path).unwrap()).unwrap();
    assert_eq!(state["format_version"], 2);
    state["format_version"] = 1.into();
    state.as_object_mut().unwrap().remove("observer");
    std::fs::write(&state_path, serde_json::to_string_pretty(&state).unwrap()).unwrap();
    let snapshot = |dir: &Path| {
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let p = e.unwrap().path();
                (p.display().to_string(), std::fs::read(&p).unwrap())
            })
            .collect();
        files.sort();
        files
    };
    let before = snapshot(&run.join("resume"));
    let two = write(
        dir.path(),
        "two.toml",
        &digits_model(layers, "sgd").replace("epochs = 1", "epochs = 2"),
    );
    refused(
        &run_in(dir.path(), &["train", &two, "--resume", s(&run)]),
        &[
            "training_state.json",
            "format_version 1",
            "this build reads 2",
        ],
    );
    assert_eq!(snapshot(&run.join("resume")), before);
}
