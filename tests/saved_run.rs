//! A saved run read back by every command that takes one: `evaluate`, `predict`, `prune`,
//! `fold` and `summary` agree on the same rows of every kind of run (MLP, CNN, graph, a table
//! with categorical columns, an autoencoder), and refuse with one line what does not fit.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use deeptrain::run::{DataSource, SavedRun};

fn deeptrain(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_deeptrain"))
        .args(args)
        .output()
        .expect("run deeptrain")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs a command that must succeed; its standard output.
fn ok(args: &[&str]) -> String {
    let o = deeptrain(args);
    assert!(o.status.success(), "{args:?} failed: {}", stderr(&o));
    stdout(&o)
}

/// Runs a command that must fail with one line; that line.
fn refused(args: &[&str]) -> String {
    let o = deeptrain(args);
    assert!(!o.status.success(), "{args:?} should fail: {}", stdout(&o));
    let err = stderr(&o);
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn penguins() -> String {
    format!("{}/data/penguins.csv.gz", env!("CARGO_MANIFEST_DIR"))
}

const DIGITS_DATA: &str = "[data]\ndataset = \"digits\"\nscale = \"unit\"\n";
const CLASSIFIER: &str = "[compile]\nloss = \"sparse_categorical_crossentropy\"\nmetrics = [\"accuracy\"]\n[optimizer]\nname = \"adam\"\nlearning_rate = 0.01\n[fit]\nepochs = 1\nbatch_size = 32\n";

/// One spec per kind of saved run; each has a batch norm after a Dense layer, so `fold` has
/// something to fold.
fn spec(kind: &str) -> String {
    let dense_bn = "[[layers]]\ntype = \"dense\"\nunits = 16\nactivation = \"relu\"\n[[layers]]\ntype = \"batch_normalization\"\n";
    let softmax = "[[layers]]\ntype = \"dense\"\nunits = 10\nactivation = \"softmax\"\n";
    let flatten = "[[layers]]\ntype = \"flatten\"\n";
    match kind {
        "mlp" => format!("seed = 1\n{DIGITS_DATA}{flatten}{dense_bn}{softmax}{CLASSIFIER}"),
        "cnn" => format!(
            "seed = 1\n{DIGITS_DATA}[[layers]]\ntype = \"conv2d\"\nfilters = 4\nkernel_size = 3\nactivation = \"relu\"\n{flatten}{dense_bn}{softmax}{CLASSIFIER}"
        ),
        "graph" => format!(
            "seed = 1\n{DIGITS_DATA}{flatten}[[layers]]\nname = \"stem\"\ntype = \"dense\"\nunits = 16\n[[layers]]\nname = \"stem_bn\"\ntype = \"batch_normalization\"\n[[layers]]\ntype = \"block\"\nresidual = true\nlayers = [{{ type = \"dense\", units = 16, activation = \"relu\" }}, {{ type = \"dense\", units = 16 }}]\n{softmax}{CLASSIFIER}"
        ),
        "table" => format!(
            "seed = 1\n[data]\ndataset = \"{}\"\nlabel_column = \"species\"\ncategorical = [\"island\", \"sex\"]\nimpute = \"median\"\ntest_split = 0.2\nscale = \"standard\"\n{dense_bn}[[layers]]\ntype = \"dense\"\nunits = 3\nactivation = \"softmax\"\n{CLASSIFIER}",
            penguins()
        ),
        "autoencoder" => format!(
            "seed = 1\n[data]\ndataset = \"digits\"\ntargets = \"inputs\"\nscale = \"unit\"\n{flatten}{dense_bn}[[layers]]\ntype = \"dense\"\nunits = 64\nactivation = \"sigmoid\"\n[compile]\nloss = \"mse\"\n[optimizer]\nname = \"adam\"\nlearning_rate = 0.01\n[fit]\nepochs = 1\nbatch_size = 32\n"
        ),
        other => panic!("no kind {other}"),
    }
}

/// Trains `spec` into `dir/run`; the run directory.
fn train(dir: &Path, spec: &str) -> PathBuf {
    let path = dir.join("spec.toml");
    std::fs::write(&path, spec).unwrap();
    let run = dir.join("run");
    ok(&["train", s(&path), "--out", s(&run)]);
    run
}

/// The first `n` digits as a CSV: 64 pixel columns (as stored, unscaled), then `label`.
fn digits_csv(path: &Path, n: usize) {
    let data = deeptrain::data::digits_all().unwrap();
    let mut text = (0..64)
        .map(|k| format!("px{k}"))
        .collect::<Vec<_>>()
        .join(",");
    text.push_str(",label\n");
    for i in 0..n {
        let row = &data.x.data()[i * 64..(i + 1) * 64];
        for v in row {
            let _ = write!(text, "{v},");
        }
        let _ = writeln!(text, "{}", data.labels.data()[i]);
    }
    std::fs::write(path, text).unwrap();
}

/// The metrics `evaluate` printed (`loss: ... - accuracy: ...`).
fn metrics(line: &str) -> String {
    line.lines()
        .find_map(|l| l.split_once("samples): ").map(|(_, m)| m.to_string()))
        .unwrap_or_else(|| panic!("no metrics in {line}"))
}

fn metric(metrics: &str, name: &str) -> f64 {
    metrics
        .split(" - ")
        .find_map(|m| m.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} in {metrics}"))
        .parse()
        .unwrap()
}

/// predict's CSV: its header and rows.
fn predictions(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header = reader.headers().unwrap().iter().map(String::from).collect();
    let rows = reader
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

/// The labels of a CSV column, as written.
fn labels(path: &Path, column: &str) -> Vec<String> {
    let bytes = deeptrain::data::read_csv_bytes(path).unwrap();
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(&bytes[..]);
    let at = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == column)
        .unwrap();
    reader
        .records()
        .map(|r| r.unwrap()[at].to_string())
        .collect()
}

/// Accuracy and log loss of a classifier's predictions against the labels (class names or
/// numbers, as `p_<name>` names the columns).
fn classifier_scores(predicted: &Path, truth: &[String]) -> (f64, f64) {
    let (header, rows) = predictions(predicted);
    let at = |name: &str| header.iter().position(|h| h == name).unwrap();
    let decided = at("predicted");
    let (mut correct, mut nll) = (0usize, 0.0f64);
    for (row, label) in rows.iter().zip(truth) {
        let label = label.trim_end_matches(".0");
        correct += usize::from(row[decided] == label);
        let p: f64 = row[at(&format!("p_{label}"))].parse().unwrap();
        nll -= p.max(1e-7).ln();
    }
    assert_eq!(rows.len(), truth.len());
    let n = rows.len() as f64;
    (correct as f64 / n, nll / n)
}

/// Every value of two predict outputs, side by side.
fn assert_same_predictions(a: &Path, b: &Path, tolerance: f64) {
    let (ha, ra) = predictions(a);
    let (hb, rb) = predictions(b);
    assert_eq!(ha, hb);
    assert_eq!(ra.len(), rb.len());
    for (x, y) in ra.iter().zip(&rb) {
        for (u, v) in x.iter().zip(y) {
            match (u.parse::<f64>(), v.parse::<f64>()) {
                (Ok(u), Ok(v)) => assert!((u - v).abs() <= tolerance, "{u} vs {v}"),
                _ => assert_eq!(u, v),
            }
        }
    }
}

/// evaluate, predict, prune and fold on one kind of run: the same rows give the same scores.
fn commands_agree(kind: &str) {
    let dir = tempfile::tempdir().unwrap();
    let run = train(dir.path(), &spec(kind));
    let model = run.join("model");
    let (rows, label) = if kind == "table" {
        (PathBuf::from(penguins()), "species")
    } else {
        let path = dir.path().join("digits.csv");
        digits_csv(&path, 300);
        (path, "label")
    };

    // evaluate on the run's recorded test rows = prune's score before pruning (nothing is
    // below 1e-30) = the same after.
    let recorded = metrics(&ok(&["evaluate", s(&run)]));
    let pruned = ok(&[
        "prune",
        s(&model),
        "--threshold",
        "1e-30",
        "--out",
        s(&dir.path().join("pruned")),
    ]);
    assert!(
        pruned.contains(&format!("Before: {recorded}\n")),
        "{kind}: evaluate gave {recorded}; prune printed {pruned}"
    );

    // evaluate --data and predict on the same file.
    let evaluated = metrics(&ok(&[
        "evaluate",
        s(&run),
        "--data",
        s(&rows),
        "--label-column",
        label,
    ]));
    let out = dir.path().join("predictions.csv");
    ok(&[
        "predict",
        s(&run),
        "--input",
        s(&rows),
        "--label-column",
        label,
        "--output",
        s(&out),
    ]);
    if kind == "autoencoder" {
        // The loss is the mean squared error against the scaled inputs.
        let saved = SavedRun::open(&run).unwrap();
        let target = saved
            .rows(&DataSource {
                dataset: s(&rows),
                label_column: Some(label),
                labels: None,
            })
            .unwrap()
            .data
            .labels;
        let (_, predicted) = predictions(&out);
        let mut sum = 0.0f64;
        for (i, row) in predicted.iter().enumerate() {
            for (j, v) in row.iter().enumerate() {
                let d = v.parse::<f64>().unwrap() - target.row(i)[j] as f64;
                sum += d * d;
            }
        }
        let mse = sum / target.data().len() as f64;
        let loss = metric(&evaluated, "loss");
        assert!(
            (mse - loss).abs() < 2e-4,
            "{kind}: predict {mse} vs evaluate {loss}"
        );
    } else {
        let (accuracy, loss) = classifier_scores(&out, &labels(&rows, label));
        assert!(
            (accuracy - metric(&evaluated, "accuracy")).abs() < 1e-4,
            "{kind}: predict {accuracy} vs evaluate {evaluated}"
        );
        assert!(
            (loss - metric(&evaluated, "loss")).abs() < 2e-3,
            "{kind}: predict {loss} vs evaluate {evaluated}"
        );
    }

    // The folded model predicts the same.
    let folded = dir.path().join("folded");
    ok(&["fold", s(&model), "--out", s(&folded)]);
    let out_folded = dir.path().join("predictions_folded.csv");
    ok(&[
        "predict",
        s(&folded),
        "--input",
        s(&rows),
        "--label-column",
        label,
        "--output",
        s(&out_folded),
    ]);
    assert_same_predictions(&out, &out_folded, 2e-4);

    // summary reads the saved model, as the run directory or its model.toml.
    let table = ok(&["summary", s(&run)]);
    assert_eq!(ok(&["summary", s(&model.join("model.toml"))]), table);
}

#[test]
fn mlp_commands_agree() {
    commands_agree("mlp");
}

#[test]
fn cnn_commands_agree() {
    commands_agree("cnn");
}

#[test]
fn graph_commands_agree() {
    commands_agree("graph");
}

#[test]
fn table_commands_agree() {
    commands_agree("table");
}

#[test]
fn autoencoder_commands_agree() {
    commands_agree("autoencoder");
}

/// The penguins with the columns in another order, only the rows of `keep` species (all when
/// empty).
fn penguins_reordered(path: &Path, keep: &[&str]) {
    let bytes = deeptrain::data::read_csv_bytes(Path::new(&penguins())).unwrap();
    let mut reader = csv::Reader::from_reader(&bytes[..]);
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let mut writer = csv::Writer::from_path(path).unwrap();
    writer
        .write_record(header.iter().rev().map(String::as_str))
        .unwrap();
    for r in reader.records() {
        let r = r.unwrap();
        if keep.is_empty() || keep.contains(&&r[0]) {
            writer.write_record(r.iter().rev()).unwrap();
        }
    }
    writer.flush().unwrap();
}

#[test]
fn evaluate_reads_a_table_by_column_name_and_class_name() {
    let dir = tempfile::tempdir().unwrap();
    let run = train(dir.path(), &spec("table"));
    let score = |rows: &Path| -> (f64, f64) {
        let evaluated = metrics(&ok(&[
            "evaluate",
            s(&run),
            "--data",
            s(rows),
            "--label-column",
            "species",
        ]));
        let out = dir.path().join("p.csv");
        ok(&["predict", s(&run), "--input", s(rows), "--output", s(&out)]);
        let (accuracy, _) = classifier_scores(&out, &labels(rows, "species"));
        (metric(&evaluated, "accuracy"), accuracy)
    };
    // The model's own training file, with its categorical columns (refused before).
    let own = PathBuf::from(penguins());
    let (evaluated, predicted) = score(&own);
    assert!(
        (evaluated - predicted).abs() < 1e-4,
        "{evaluated} vs {predicted}"
    );
    // The columns in another order (read by position before: 0.33 against 0.99).
    let reordered = dir.path().join("reordered.csv");
    penguins_reordered(&reordered, &[]);
    assert_eq!(score(&reordered), (evaluated, predicted));
    // Two of the three species (re-indexed from the file before: 0.50 against 1.00).
    let two = dir.path().join("two.csv");
    penguins_reordered(&two, &["Adelie", "Gentoo"]);
    let (evaluated, predicted) = score(&two);
    assert!(
        (evaluated - predicted).abs() < 1e-4,
        "{evaluated} vs {predicted}"
    );
    // A class the model does not know.
    let text = std::fs::read_to_string(&two)
        .unwrap()
        .replacen("Adelie", "Emperor", 1);
    std::fs::write(&two, text).unwrap();
    let err = refused(&[
        "evaluate",
        s(&run),
        "--data",
        s(&two),
        "--label-column",
        "species",
    ]);
    assert!(
        err.contains("two.csv") && err.contains("`Emperor`"),
        "{err}"
    );
}

#[test]
fn prune_on_a_table_model_encodes_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let run = train(dir.path(), &spec("table"));
    let recorded = metrics(&ok(&["evaluate", s(&run)]));
    let pruned = ok(&["prune", s(&run.join("model")), "--threshold", "1e-30"]);
    assert!(
        pruned.contains(&format!("Before: {recorded}\n")),
        "{pruned}"
    );
}

/// A table whose class names hold a line break, a comma and a quote.
#[test]
fn predict_quotes_class_names() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("odd.csv");
    let mut text = String::from("x1,x2,kind\n");
    let names = ["\"two\nlines\"", "\"a, b\"", "\"say \"\"hi\"\"\""];
    for i in 0..60 {
        let _ = writeln!(text, "{},{},{}", i % 3, (i * 7) % 5, names[i % 3]);
    }
    std::fs::write(&data, &text).unwrap();
    let spec = format!(
        "seed = 1\n[data]\ndataset = \"{}\"\nlabel_column = \"kind\"\n[[layers]]\ntype = \"dense\"\nunits = 3\nactivation = \"softmax\"\n{CLASSIFIER}",
        s(&data)
    );
    let run = train(dir.path(), &spec);
    let out = dir.path().join("p.csv");
    ok(&["predict", s(&run), "--input", s(&data), "--output", s(&out)]);
    let (header, rows) = predictions(&out);
    assert_eq!(rows.len(), 60, "one record per row");
    assert_eq!(
        header,
        ["p_a, b", "p_say \"hi\"", "p_two\nlines", "predicted"]
    );
    let known = ["a, b", "say \"hi\"", "two\nlines"];
    assert!(rows.iter().all(|r| known.contains(&r[3].as_str())));
}

#[test]
fn predict_refuses_what_does_not_fit_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let run = train(dir.path(), &spec("mlp"));
    let rows = dir.path().join("digits.csv");
    digits_csv(&rows, 20);
    // A CSV without its header row.
    let text = std::fs::read_to_string(&rows).unwrap();
    let headerless = dir.path().join("headerless.csv");
    std::fs::write(&headerless, text.split_once('\n').unwrap().1).unwrap();
    let err = refused(&["predict", s(&run), "--input", s(&headerless)]);
    assert!(
        err.contains("headerless.csv") && err.contains("header"),
        "{err}"
    );
    // MC dropout on a model without dropout: a spread of 0, said so.
    let o = deeptrain(&[
        "predict",
        s(&run),
        "--input",
        s(&rows),
        "--label-column",
        "label",
        "--mc-samples",
        "3",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("warning: --mc-samples"),
        "{}",
        stderr(&o)
    );
    // Class names in run.toml that do not match the outputs: the run's file is named.
    let run_toml = run.join("model").join("run.toml");
    let text = std::fs::read_to_string(&run_toml).unwrap();
    let tampered = text.replacen("\"9\"", "\"9\", \"10\"", 1);
    assert_ne!(tampered, text);
    std::fs::write(&run_toml, tampered).unwrap();
    let err = refused(&[
        "predict",
        s(&run),
        "--input",
        s(&rows),
        "--label-column",
        "label",
    ]);
    assert!(
        err.contains("run.toml") && err.contains("11 class names"),
        "{err}"
    );
}

#[test]
fn a_damaged_table_encoding_blames_the_run_not_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let run = train(dir.path(), &spec("table"));
    let run_toml = run.join("model").join("run.toml");
    let text = std::fs::read_to_string(&run_toml).unwrap();
    // One more island in the vocabulary: one feature more than the model takes.
    let damaged = text.replacen("\"Biscoe\",", "\"Atlantis\", \"Biscoe\",", 1);
    assert_ne!(damaged, text);
    std::fs::write(&run_toml, damaged).unwrap();
    let err = refused(&["predict", s(&run), "--input", &penguins()]);
    assert!(
        err.contains("run.toml") && !err.contains("penguins"),
        "{err}"
    );
}
