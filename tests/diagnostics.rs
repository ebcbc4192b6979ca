//! `deeptrain diagnose` reaches the chapter's verdicts on the chapter's setups, and the
//! configuration checks warn before training.

use std::process::Command;

fn diagnose(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_deeptrain"))
        .arg("diagnose")
        .args(args)
        .output()
        .expect("run deeptrain");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn example(name: &str) -> String {
    format!("{}/examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn deep_sigmoid_with_large_weights_has_vanishing_gradients() {
    let out = diagnose(&[&example("deep_sigmoid.toml")]);
    assert!(out.contains("- vanishing_gradients"), "{out}");
    assert!(out.contains("- saturation"), "{out}");
    assert!(out.contains("warning: a deep sigmoid/tanh stack"), "{out}");
}

#[test]
fn deep_selu_stays_self_normalizing() {
    let out = diagnose(&[&example("deep_selu_100.toml")]);
    // At most one layer in ten may drift (97 or so of 100 keep mean 0 / std 1 after 300 steps).
    assert!(out.contains("- self_normalizing: "), "{out}");
    assert!(out.contains(" of 100 SELU layers keep"), "{out}");
    assert!(out.contains("- healthy:"), "{out}");
    assert!(!out.contains("vanishing_gradients"), "{out}");
    assert!(!out.contains("warning:"), "{out}");
}

#[test]
fn relu_with_a_huge_learning_rate_dies_or_diverges_and_selu_with_dropout_warns() {
    let dir = tempfile::tempdir().unwrap();
    let spec = |activation: &str, dropout: &str, lr: &str| {
        let path = dir.path().join(format!("{activation}{dropout}{lr}.toml"));
        let text = format!(
            "[data]\ndataset = \"digits\"\n[[layers]]\ntype = \"flatten\"\n[[layers]]\ntype = \"dense\"\nunits = 64\nactivation = \"{activation}\"\nkernel_initializer = \"auto\"\n[[layers]]\ntype = \"{dropout}\"\nrate = 0.2\n[[layers]]\ntype = \"dense\"\nunits = 10\nactivation = \"softmax\"\n[optimizer]\nname = \"sgd\"\nlearning_rate = {lr}\n"
        );
        std::fs::write(&path, text).unwrap();
        path
    };
    let relu = spec("relu", "dropout", "50.0");
    let out = diagnose(&[relu.to_str().unwrap(), "--steps", "100"]);
    assert!(
        out.contains("- dead_relus") || out.contains("- divergence"),
        "{out}"
    );
    assert!(out.contains("learning rate 50 is far outside"), "{out}");
    let selu = spec("selu", "dropout", "0.01");
    let out = diagnose(&[selu.to_str().unwrap(), "--steps", "50"]);
    let warning = out
        .find("warning: SELU network with ordinary dropout")
        .expect(&out);
    assert!(
        warning < out.find("Training").unwrap(),
        "warns before training: {out}"
    );
    assert!(out.contains("not standardized"), "{out}");
    let alpha = spec("selu", "alpha_dropout", "0.01");
    let out = diagnose(&[alpha.to_str().unwrap(), "--steps", "50"]);
    assert!(!out.contains("ordinary dropout"), "{out}");
}

/// The observer records every layer at sampled steps, with gradient statistics and the
/// update-to-weight ratio, and writes them as CSV.
#[test]
fn diagnostics_record_every_layer() {
    use deeptrain::diagnostics::Diagnostics;
    use deeptrain::{
        Activation, DenseSpec, FitOptions, LayerSpec, Loss, Metric, Scale, Scaler, Sequential, Sgd,
    };
    let mut train = deeptrain::data::digits().unwrap().train.slice(0..320);
    Scaler::fit(Scale::Unit, &train.x).apply(&mut train.x);
    let mut model = Sequential::new(&[8, 8])
        .add(LayerSpec::flatten())
        .add(DenseSpec::new(16).activation(Activation::Relu))
        .add(DenseSpec::new(10).activation(Activation::Softmax))
        .build(1)
        .unwrap();
    model
        .compile(
            Box::new(Sgd::new(0.1).unwrap()),
            Loss::SparseCategoricalCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap();
    let diagnostics = Diagnostics::new(5);
    model.set_observer(Some(Box::new(diagnostics.clone())));
    let options = FitOptions {
        epochs: 2,
        ..FitOptions::default()
    };
    model.fit(&train, None, &options, &mut []).unwrap();
    let rows = diagnostics.rows();
    // 10 steps per epoch: steps 1, 5, 10 of epoch 1 and 11, 15, 20 sampled; 3 layers each.
    let steps: std::collections::BTreeSet<u64> = rows.iter().map(|r| r.step).collect();
    assert_eq!(
        steps.into_iter().collect::<Vec<_>>(),
        [1, 5, 10, 11, 15, 20]
    );
    assert_eq!(rows.len(), 18);
    let dense = rows.iter().find(|r| r.step == 5 && r.layer == 1).unwrap();
    assert!(dense.dead.is_some() && dense.grad_norm.unwrap() > 0.0);
    assert!(dense.update_ratio.unwrap() > 0.0);
    assert!(diagnostics.to_csv().starts_with("step,epoch,layer,name"));
}

/// `deeptrain new` writes each preset; `deeptrain compare` trains every combination and writes
/// the side-by-side table and plot.
#[test]
fn presets_and_compare() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_deeptrain");
    for preset in ["default", "self-normalizing", "fast"] {
        let path = dir.path().join(format!("{preset}.toml"));
        let o = Command::new(bin)
            .args(["new", "--preset", preset, path.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        deeptrain::spec::Spec::from_file(&path).unwrap();
    }
    let spec = dir.path().join("d.toml");
    std::fs::write(
        &spec,
        deeptrain::spec::DEFAULT_SPEC.replace("epochs = 30", "epochs = 2"),
    )
    .unwrap();
    let out = dir.path().join("cmp");
    let o = Command::new(bin)
        .args([
            "compare",
            spec.to_str().unwrap(),
            "--vary",
            "layers.activation=relu,elu",
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = std::fs::read_to_string(out.join("compare.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(csv.contains("activation=elu"));
    assert!(std::fs::read(out.join("compare.png"))
        .unwrap()
        .starts_with(b"\x89PNG"));
    // The varied runs really differ.
    let a = std::fs::read_to_string(out.join("activation=relu/history.csv")).unwrap();
    let b = std::fs::read_to_string(out.join("activation=elu/history.csv")).unwrap();
    assert_ne!(a.lines().nth(1), b.lines().nth(1));
}

/// On a convolution a dead unit is a filter whose ReLU output is 0 at every position of every
/// sample: three of four filters are killed by a large negative bias, and the diagnostics count
/// 3/4 and say so in the `dead_relus` verdict. The fourth is 0 on the left of every image (its
/// inputs are 0 there) but alive on the right: a filter, not a position, is the unit.
#[test]
fn dead_filters_of_a_conv_layer_are_found() {
    use deeptrain::diagnostics::{verdicts, Diagnostics};
    use deeptrain::layers::{Conv2dSpec, Padding};
    use deeptrain::{Activation, DenseSpec, LayerSpec, Loss, Sequential, Sgd, Targets, Tensor};
    let mut model = Sequential::new(&[6, 6, 2])
        .add(
            Conv2dSpec::new(4, 3)
                .padding(Padding::Same)
                .activation(Activation::Relu)
                .named("conv"),
        )
        .add(LayerSpec::flatten())
        .add(DenseSpec::new(3).activation(Activation::Softmax))
        .build(1)
        .unwrap();
    model
        .compile(
            Box::new(Sgd::new(0.01).unwrap()),
            Loss::SparseCategoricalCrossentropy,
            &[],
        )
        .unwrap();
    // Filters 0, 1 and 3 can never fire on inputs in [0, 1); filter 2 is alive.
    for f in [0, 1, 3] {
        model.layers_mut()[0].params_mut()[1].value.data_mut()[f] = -100.0;
    }
    // Filter 2 sums its window (all ones) minus 0.5.
    let kernel = model.layers_mut()[0].params_mut()[0].value.data_mut();
    for tap in 0..18 {
        kernel[tap * 4 + 2] = 1.0;
    }
    model.layers_mut()[0].params_mut()[1].value.data_mut()[2] = -0.5;
    // Columns 0..3 of every image are 0: filter 2 is 0 at output columns 0 and 1.
    let x = Tensor::from_vec(
        (0..8 * 72)
            .map(|i| {
                let column = (i / 2) % 6;
                if column < 3 {
                    0.0
                } else {
                    0.5 + (i % 7) as f32 / 14.0
                }
            })
            .collect(),
        &[8, 6, 6, 2],
    );
    let y = Targets::Classes((0..8).map(|i| i % 3).collect());
    let diagnostics = Diagnostics::new(1);
    model.set_observer(Some(Box::new(diagnostics.clone())));
    // Dead units are judged over at least 64 samples: eight batches of 8.
    for _ in 0..8 {
        model.train_step(&x, &y, &mut []).unwrap();
    }
    let rows = diagnostics.rows();
    let conv = rows.iter().rev().find(|r| r.name == "conv").unwrap();
    assert_eq!(conv.class, "Conv2D");
    assert_eq!(conv.dead, Some(0.75));
    assert!(conv.grad_norm.unwrap() > 0.0);
    let dead = verdicts(&rows)
        .into_iter()
        .find(|v| v.kind == "dead_relus")
        .expect("a dead_relus verdict");
    assert!(dead.finding.contains("conv 75%"), "{}", dead.finding);
}

/// `diagnose --steps N` runs exactly N steps, also when the data size is not a multiple of the
/// batch (the digits' 1,437 training rows in batches of 32: 45 steps an epoch, the last short),
/// and `--json` prints one object with the stable keys.
#[test]
fn diagnose_runs_exactly_the_steps_asked_and_prints_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = diagnose(&[
        "--steps",
        "100",
        "--every",
        "1",
        "--json",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    let json: serde_json::Value = serde_json::from_str(out.trim()).expect(&out);
    assert_eq!(json["steps"], 100, "{json}");
    assert!(json["warnings"].is_array());
    let verdicts = json["verdicts"].as_array().unwrap();
    assert_eq!(verdicts.len(), 1, "{json}");
    assert_eq!(verdicts[0]["id"], "healthy", "{json}");
    for key in ["layer", "evidence", "fix"] {
        assert!(verdicts[0].get(key).is_some(), "{key} in {json}");
    }
    // Every step was sampled: the CSV's last step is the 100th.
    let csv = std::fs::read_to_string(dir.path().join("diagnostics.csv")).unwrap();
    let last: u64 = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().parse::<u64>().unwrap())
        .max()
        .unwrap();
    assert_eq!(last, 100);
}
