//! Tables as users bring them, weights, and Keras' names and habits, end to end through the
//! `deeptrain` command on the shipped Palmer penguins table (data/penguins.csv.gz) and small
//! tables written here.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn deeptrain(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_deeptrain"))
        .args(args)
        .output()
        .expect("run deeptrain")
}

fn example(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
        .display()
        .to_string()
}

fn train(spec: &str, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["train", spec, "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    deeptrain(&args)
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn summary(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap()
}

/// History rows without the wall-clock `seconds` column.
fn history(out: &Path) -> Vec<String> {
    std::fs::read_to_string(out.join("history.csv"))
        .unwrap()
        .lines()
        .map(|l| l.rsplit_once(',').unwrap().0.to_string())
        .collect()
}

#[test]
fn penguins_with_string_labels_and_categories_train_and_predict_names() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    ok(&train(&example("penguins.toml"), &out, &[]));
    // Measured 0.986 test accuracy (seed 42); without the categorical and string-label support
    // the table is refused (`Adelie` is not a number).
    let accuracy = summary(&out)["test"]["accuracy"].as_f64().unwrap();
    assert!(accuracy > 0.9, "test accuracy {accuracy}");
    // The class names and the table's encoding are in the run's metadata, beside the model.
    let metadata = std::fs::read_to_string(out.join("model/run.toml")).unwrap();
    assert!(
        metadata.contains(r#"class_names = ["Adelie", "Chinstrap", "Gentoo"]"#),
        "{metadata}"
    );
    assert!(
        metadata.contains(r#"vocabulary = ["Biscoe", "Dream", "Torgersen"]"#),
        "{metadata}"
    );
    assert!(metadata.contains("fill = "), "{metadata}");
    let header =
        "species,island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex,year\n";
    let rows = "Gentoo,Biscoe,47.5,14.2,209,4600,female,2008\n\
                Adelie,Torgersen,39.1,18.7,181,3750,male,2007\n\
                Chinstrap,Dream,50.9,19.1,196,3550,male,2008\n\
                Adelie,Dream,NA,NA,NA,NA,NA,2009\n\
                Gentoo,Atlantis,46.1,13.2,211,4500,female,2007\n";
    let input = dir.path().join("new.csv");
    std::fs::write(&input, format!("{header}{rows}")).unwrap();
    let o = deeptrain(&[
        "predict",
        out.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
    ]);
    let text = ok(&o);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("p_Adelie,p_Chinstrap,p_Gentoo,predicted")
    );
    let predicted: Vec<&str> = lines.map(|l| l.rsplit(',').next().unwrap()).collect();
    // The fourth row is all imputed; the fifth has an unseen island (an all-zero one-hot row).
    assert_eq!(predicted[..3], ["Gentoo", "Adelie", "Chinstrap"], "{text}");
    assert_eq!(predicted[4], "Gentoo", "{text}");
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// A small two-class table with a categorical column and a weight column.
fn small_table(dir: &Path, weights: impl Fn(usize) -> f32) -> String {
    let mut csv = String::from("x1,colour,x2,kind,w\n");
    for i in 0..120 {
        let a = (i % 7) as f32 / 7.0;
        let b = (i % 5) as f32 / 5.0;
        let colour = ["red", "green", "blue"][i % 3];
        let kind = if a + b + if colour == "red" { 0.3 } else { 0.0 } > 0.9 {
            "yes"
        } else {
            "no"
        };
        csv.push_str(&format!("{a},{colour},{b},{kind},{}\n", weights(i)));
    }
    write(dir, "table.csv", &csv)
}

fn small_spec(dir: &Path, table: &str, data_extra: &str, fit_extra: &str) -> String {
    write(
        dir,
        "spec.toml",
        &format!(
            "seed = 3\n[data]\ndataset = \"{table}\"\nlabel_column = \"kind\"\ncategorical = [\"colour\"]\nfeatures = [\"x1\", \"colour\", \"x2\"]\nvalidation_split = 0.25\nscale = \"none\"\n{data_extra}\n\
             [[layers]]\ntype = \"dense\"\nunits = 8\nactivation = \"relu\"\n[[layers]]\ntype = \"dense\"\nunits = 2\nactivation = \"softmax\"\n\
             [compile]\nmetrics = [\"accuracy\", \"precision\", \"recall\", \"f1\", \"auc\"]\nweighted_metrics = [\"accuracy\"]\n\
             [optimizer]\nname = \"adam\"\nlearning_rate = 0.01\n[fit]\nepochs = 5\nbatch_size = 16\n{fit_extra}\n"
        ),
    )
}

#[test]
fn class_and_sample_weights_act_as_in_keras() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = |name: &str, table: &str, data_extra: &str, fit_extra: &str| -> Vec<String> {
        let spec = small_spec(d, table, data_extra, fit_extra);
        let out = d.join(name);
        ok(&train(&spec, &out, &[]));
        history(&out)
    };
    let ones = small_table(d, |_| 1.0);
    let plain = run("plain", &ones, "", "");
    assert!(
        plain[0].starts_with("epoch,loss,accuracy,precision,recall,f1,auc,weighted_accuracy,val_loss,val_accuracy,val_precision,val_recall,val_f1,val_auc,val_weighted_accuracy"),
        "{}",
        plain[0]
    );
    // Weights of one, from the column or from a class table, are the unweighted run, bit for bit.
    let column = "sample_weight_column = \"w\"";
    assert_eq!(run("ones", &ones, column, ""), plain);
    assert_eq!(
        run(
            "table1",
            &ones,
            "",
            "class_weight = { no = 1.0, yes = 1.0 }"
        ),
        plain
    );
    // Balanced class weights and uneven sample weights change training; unweighted metrics of
    // the first epoch's validation are computed the same way, weighted ones are not.
    assert_ne!(
        run("balanced", &ones, "", "class_weight = \"balanced\""),
        plain
    );
    let uneven = small_table(d, |i| (i % 4) as f32);
    let weighted = run("uneven", &uneven, column, "");
    assert_ne!(weighted, plain);
    let by_index = run("index", &ones, "", "class_weight = { 0 = 1.0, 1 = 4.0 }");
    let by_name = run("name", &ones, "", "class_weight = { no = 1.0, yes = 4.0 }");
    assert_eq!(by_index, by_name);
    assert_ne!(by_index, plain);
    // A class the data does not have is named in a one-line error.
    let spec = small_spec(d, &ones, "", "class_weight = { maybe = 2.0 }");
    let o = train(&spec, &d.join("bad"), &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("`maybe` is not a class (no, yes)"),
        "{err}"
    );
}

#[test]
fn missing_values_are_refused_with_line_and_column_or_imputed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut csv = std::fs::read_to_string(small_table(d, |_| 1.0)).unwrap();
    csv = csv.replacen("\n0.42857143,", "\nNA,", 1);
    let missing_line = csv.lines().position(|l| l.starts_with("NA,")).unwrap() + 1;
    let table = write(d, "holes.csv", &csv);
    let spec = small_spec(d, &table, "", "");
    let o = train(&spec, &d.join("refused"), &[]);
    let err = String::from_utf8_lossy(&o.stderr).trim().to_string();
    assert!(!o.status.success());
    assert!(
        err.contains(&format!(
            "holes.csv: line {missing_line}, column 1 (`x1`): missing value"
        )),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    for rule in ["mean", "median"] {
        let spec = small_spec(d, &table, &format!("impute = \"{rule}\""), "");
        ok(&train(&spec, &d.join(rule), &[]));
    }
}

#[test]
fn keras_literal_spec_trains_with_keras_names_and_callbacks() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    ok(&train(&example("keras_literal.toml"), &out, &[]));
    let accuracy = summary(&out)["test"]["accuracy"].as_f64().unwrap();
    assert!(accuracy > 0.9, "test accuracy {accuracy}");
    // CSVLogger: Keras' columns (epoch from 0, names sorted, learning_rate among them).
    let log = std::fs::read_to_string(out.join("log.csv")).unwrap();
    assert!(
        log.starts_with("epoch,accuracy,learning_rate,loss,top_k_accuracy,val_accuracy,val_loss,val_top_k_accuracy\n0,"),
        "{log}"
    );
    // ReduceLROnPlateau (factor 0.5) lowers the rate from Adam's 0.005 once val_loss stops
    // improving by min_delta: with min_delta 1.0 that is after the first epoch of patience.
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/penguins.csv.gz");
    let text = std::fs::read_to_string(example("keras_literal.toml"))
        .unwrap()
        .replace(
            "\"../data/penguins.csv.gz\"",
            &format!("{:?}", data.display().to_string()),
        )
        .replace(
            "factor = 0.5\npatience = 3",
            "factor = 0.5\npatience = 1\nmin_delta = 1.0",
        );
    assert!(text.contains("min_delta = 1.0"));
    let plateau = write(dir.path(), "plateau.toml", &text);
    let out = dir.path().join("plateau");
    ok(&train(&plateau, &out, &[]));
    let h = std::fs::read_to_string(out.join("history.csv")).unwrap();
    let last_lr: f64 = h
        .lines()
        .last()
        .unwrap()
        .split(',')
        .rev()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(last_lr < 0.005, "{h}");
}

#[test]
fn fit_validation_split_is_the_data_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let table = small_table(d, |_| 1.0);
    let under_data = small_spec(d, &table, "", "");
    let a = d.join("a");
    ok(&train(&under_data, &a, &[]));
    let text = std::fs::read_to_string(&under_data)
        .unwrap()
        .replace("validation_split = 0.25\n", "")
        .replace("epochs = 5\n", "epochs = 5\nvalidation_split = 0.25\n");
    let under_fit = write(d, "fit.toml", &text);
    let b = d.join("b");
    ok(&train(&under_fit, &b, &[]));
    assert_eq!(history(&a), history(&b));
    assert!(history(&b)[0].contains("val_loss"));
}
