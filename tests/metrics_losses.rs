//! The new metrics and losses against Keras 3.15 and scikit-learn 1.9 values
//! (tests/reference/metrics_losses.json, written by tests/reference/gen_metrics_losses.py, which
//! names the Keras class or scikit-learn function behind each figure).

use std::path::PathBuf;

use deeptrain::losses::{Loss, Targets};
use deeptrain::metrics::Metric;
use deeptrain::Tensor;

fn reference() -> serde_json::Value {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/reference/metrics_losses.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("reference JSON")
}

fn matrix(v: &serde_json::Value) -> Tensor {
    let rows = v.as_array().expect("rows");
    let data: Vec<f32> = rows
        .iter()
        .flat_map(|r| {
            r.as_array()
                .expect("row")
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
        })
        .collect();
    let cols = data.len() / rows.len();
    Tensor::from_vec(data, &[rows.len(), cols])
}

fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn num(v: &serde_json::Value) -> f64 {
    v.as_f64().expect("number")
}

fn close(actual: f64, expected: f64, tol: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= tol,
        "{what}: {actual} vs reference {expected}"
    );
}

/// The metric's value over `y_pred` in one batch, and again fed in two halves (the state
/// must make the two equal: epoch metrics are exact, not means of batch values).
fn metric(m: Metric, y_pred: &Tensor, targets: &Targets, weights: Option<&[f32]>) -> f64 {
    let units = y_pred.row_len();
    let mut state = vec![0.0; m.state_len(units)];
    m.update(&mut state, y_pred, targets, weights);
    let whole = m.result(&state);
    let n = y_pred.rows();
    let half = n / 2;
    let mut split = vec![0.0; m.state_len(units)];
    for range in [0..half, half..n] {
        let idx: Vec<usize> = range.clone().collect();
        let mut p = Tensor::default();
        p.gather_rows(y_pred, &idx);
        let mut t = Targets::default();
        targets.gather(&idx, &mut t);
        let w: Option<Vec<f32>> = weights.map(|w| w[range].to_vec());
        m.update(&mut split, &p, &t, w.as_deref());
    }
    assert!(
        (m.result(&split) - whole).abs() < 1e-9,
        "{}: two batches {} vs one {}",
        m.name(),
        m.result(&split),
        whole
    );
    whole
}

#[test]
fn new_losses_match_keras_unweighted_and_weighted() {
    let r = &reference()["regression"];
    let (t, p, w) = (
        matrix(&r["y_true"]),
        matrix(&r["y_pred"]),
        floats(&r["weights"]),
    );
    let targets = Targets::Values(t);
    for (loss, key) in [
        (Loss::MeanAbsoluteError, "mae"),
        (Loss::Huber { delta: 1.0 }, "huber"),
        (Loss::Huber { delta: 0.5 }, "huber_delta_0_5"),
        (Loss::LogCosh, "log_cosh"),
        (Loss::Poisson, "poisson"),
    ] {
        let value = loss.compute(&p, None, &targets, None);
        close(value, num(&r[key]), 2e-6, key);
        let weighted = loss.compute_weighted(&p, None, &targets, Some(&w), None);
        close(weighted, num(&r[&format!("{key}_weighted")]), 2e-6, key);
    }
    let r = &reference()["kl"];
    let kl = Loss::KlDivergence.compute(
        &matrix(&r["y_pred"]),
        None,
        &Targets::Values(matrix(&r["y_true"])),
        None,
    );
    close(kl, num(&r["kl_divergence"]), 2e-6, "kl_divergence");
    let r = &reference()["hinge"];
    let hinge = Loss::Hinge.compute(
        &matrix(&r["y_pred"]),
        None,
        &Targets::Values(matrix(&r["y_true"])),
        None,
    );
    close(hinge, num(&r["hinge"]), 2e-6, "hinge");
}

/// Each new loss's gradient against central differences of its value (in f64 around f32
/// inputs, step 1e-3·max(|p|, 0.1); the losses are smooth at these points).
#[test]
fn new_loss_gradients_match_finite_differences() {
    let r = &reference()["regression"];
    let (t, p, w) = (
        matrix(&r["y_true"]),
        matrix(&r["y_pred"]),
        floats(&r["weights"]),
    );
    let targets = Targets::Values(t);
    let kl = &reference()["kl"];
    let cases = [
        (Loss::MeanAbsoluteError, p.clone(), targets.clone()),
        (Loss::Huber { delta: 0.5 }, p.clone(), targets.clone()),
        (Loss::LogCosh, p.clone(), targets.clone()),
        (Loss::Poisson, p.clone(), targets.clone()),
        (
            Loss::KlDivergence,
            matrix(&kl["y_pred"]),
            Targets::Values(matrix(&kl["y_true"])),
        ),
    ];
    for (loss, p, targets) in cases {
        let weights: Vec<f32> = w.iter().cycle().take(p.rows()).copied().collect();
        let mut grad = Tensor::default();
        loss.compute_weighted(&p, None, &targets, Some(&weights), Some(&mut grad));
        for j in 0..p.len() {
            let h = 1e-3f32 * p.data()[j].abs().max(0.1);
            let mut plus = p.clone();
            plus.data_mut()[j] += h;
            let mut minus = p.clone();
            minus.data_mut()[j] -= h;
            let numeric = (loss.compute_weighted(&plus, None, &targets, Some(&weights), None)
                - loss.compute_weighted(&minus, None, &targets, Some(&weights), None))
                / (2.0 * h as f64);
            assert!(
                (grad.data()[j] as f64 - numeric).abs() < 2e-3 * (1.0 + numeric.abs()),
                "{} element {j}: analytic {} vs numeric {numeric}",
                loss.name(),
                grad.data()[j]
            );
        }
    }
}

#[test]
fn confusion_metrics_match_keras_and_auc_matches_sklearn() {
    let r = &reference()["binary"];
    let (t, p, w) = (
        matrix(&r["y_true"]),
        matrix(&r["y_pred"]),
        floats(&r["weights"]),
    );
    let targets = Targets::Values(t);
    for (m, key) in [
        (Metric::Precision, "precision"),
        (Metric::Recall, "recall"),
        (Metric::Auc, "auc"),
    ] {
        close(metric(m, &p, &targets, None), num(&r[key]), 1e-6, key);
        let weighted = metric(m, &p, &targets, Some(&w));
        close(weighted, num(&r[&format!("{key}_weighted")]), 1e-6, key);
    }
    close(
        metric(Metric::F1Score, &p, &targets, None),
        num(&r["f1"]),
        1e-6,
        "f1",
    );
    close(
        metric(Metric::F1Score, &p, &targets, None),
        num(&r["f1_sklearn"]),
        1e-6,
        "f1",
    );
    // Keras' 200 thresholds against the exact area (scikit-learn): within 1e-3.
    close(
        metric(Metric::Auc, &p, &targets, None),
        num(&r["auc_exact_sklearn"]),
        1e-3,
        "auc",
    );
    close(
        metric(Metric::Auc, &p, &targets, Some(&w)),
        num(&r["auc_exact_sklearn_weighted"]),
        1e-3,
        "weighted auc",
    );
    // Class labels count as one-hot rows: the same figures from the two-class softmax view.
    let two: Vec<f32> = p.data().iter().flat_map(|&v| [1.0 - v, v]).collect();
    let two = Tensor::from_vec(two, &[p.rows(), 2]);
    let classes = Targets::Classes(targets_classes(&targets));
    let auc2 = metric(Metric::Auc, &two, &classes, None);
    assert!(auc2 > 0.85 && auc2 <= 1.0, "{auc2}");
}

fn targets_classes(t: &Targets) -> Vec<u32> {
    match t {
        Targets::Values(v) => v.data().iter().map(|&x| x as u32).collect(),
        Targets::Classes(c) => c.clone(),
    }
}

#[test]
fn top_k_and_regression_metrics_match_keras() {
    let r = &reference()["top_k"];
    let p = matrix(&r["y_pred"]);
    let labels: Vec<u32> = r["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect();
    let targets = Targets::Classes(labels);
    close(
        metric(Metric::TopKAccuracy { k: 2 }, &p, &targets, None),
        num(&r["top_2"]),
        1e-6,
        "top_2",
    );
    assert_eq!(
        Metric::from_name("top_k_accuracy"),
        Some(Metric::TopKAccuracy { k: 5 })
    );
    close(
        metric(Metric::TopKAccuracy { k: 5 }, &p, &targets, None),
        num(&r["top_5"]),
        1e-6,
        "top_5",
    );

    let r = &reference()["regression_metrics"];
    let (t, p) = (matrix(&r["y_true"]), matrix(&r["y_pred"]));
    let targets = Targets::Values(t);
    for (m, key) in [
        (Metric::MeanSquaredError, "mse"),
        (Metric::RootMeanSquaredError, "rmse"),
        (Metric::R2Score, "r2"),
        (Metric::R2Score, "r2_sklearn"),
    ] {
        close(metric(m, &p, &targets, None), num(&r[key]), 1e-5, key);
    }
}

/// Keras' sum_over_batch_size: a weight of 2 on every sample doubles the loss and gradient,
/// and the unweighted path is bit for bit the weights-of-one path.
#[test]
fn weights_scale_each_samples_loss_and_gradient() {
    let r = &reference()["regression"];
    let (t, p) = (matrix(&r["y_true"]), matrix(&r["y_pred"]));
    let targets = Targets::Values(t);
    for loss in [
        Loss::MeanSquaredError,
        Loss::MeanAbsoluteError,
        Loss::Poisson,
    ] {
        let (mut g1, mut g2, mut g_ones) =
            (Tensor::default(), Tensor::default(), Tensor::default());
        let plain = loss.compute(&p, None, &targets, Some(&mut g1));
        let ones = loss.compute_weighted(&p, None, &targets, Some(&[1.0; 8]), Some(&mut g_ones));
        let twice = loss.compute_weighted(&p, None, &targets, Some(&[2.0; 8]), Some(&mut g2));
        assert_eq!(plain.to_bits(), ones.to_bits());
        assert_eq!(g1.data(), g_ones.data());
        close(twice, 2.0 * plain, 1e-9, loss.name());
        for (a, b) in g2.data().iter().zip(g1.data()) {
            assert_eq!(*a, 2.0 * b);
        }
    }
}

#[test]
fn keras_class_names_parse_as_the_snake_case_ids() {
    #[derive(serde::Deserialize)]
    struct Holder {
        loss: Loss,
        metrics: Vec<Metric>,
    }
    let h: Holder = toml::from_str(
        "loss = { name = \"Huber\", delta = 2.0 }\nmetrics = [\"AUC\", \"Precision\", \"f1\", \"RootMeanSquaredError\", \"R2Score\"]",
    )
    .unwrap();
    assert_eq!(h.loss, Loss::Huber { delta: 2.0 });
    assert_eq!(
        h.metrics,
        [
            Metric::Auc,
            Metric::Precision,
            Metric::F1Score,
            Metric::RootMeanSquaredError,
            Metric::R2Score
        ]
    );
    for (name, loss) in [
        ("KLDivergence", Loss::KlDivergence),
        ("log_cosh", Loss::LogCosh),
        ("Hinge", Loss::Hinge),
        ("mae", Loss::MeanAbsoluteError),
    ] {
        assert_eq!(Loss::from_name(name), Some(loss));
    }
    let err = toml::from_str::<Holder>("loss = \"hubber\"\nmetrics = []")
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("unknown loss `hubber`") && err.contains("huber"),
        "{err}"
    );
    let err = toml::from_str::<Holder>("loss = { name = \"mae\", delta = 1.0 }\nmetrics = []")
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("takes no `delta`"), "{err}");
}

/// Categorical cross-entropy on outputs that are not a distribution divides them by their sum
/// first, as Keras does (`keras/src/backend/numpy/nn.py`: `output / sum(output, axis)`, then
/// clipped to [1e-7, 1 - 1e-7]): sigmoid outputs (0.8, 0.4, 0.8) with label 1 read as
/// q = 0.4 / 2.0 = 0.2, loss -ln 0.2; (0.3, 0.3, 0.4) with label 2 read as 0.4, loss -ln 0.4.
#[test]
fn categorical_crossentropy_normalizes_outputs_that_are_not_softmax() {
    let y_pred = Tensor::from_vec(vec![0.8, 0.4, 0.8, 0.3, 0.3, 0.4], &[2, 3]);
    let t = Targets::Values(Tensor::from_vec(
        vec![0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        &[2, 3],
    ));
    let loss = Loss::CategoricalCrossentropy.compute(&y_pred, None, &t, None);
    let expected = -(0.2f64.ln() + 0.4f64.ln()) / 2.0;
    close(loss, expected, 1e-6, "normalized categorical cross-entropy");
}

/// Sparse categorical cross-entropy on outputs that are not a distribution normalizes them as
/// Keras does (`keras/src/backend/tensorflow/nn.py`: clip to [1e-7, 1 - 1e-7], take the log as
/// logits, softmax cross-entropy, i.e. -ln(c_c / Σ c)): (0.8, 0.4, 0.8) with class 1 reads
/// 0.4 / 2.0, (0.3, 0.3, 0.4) with class 2 reads 0.4; ReLU outputs (0, 2, 0.5) with class 1
/// clip to (1e-7, 1 - 1e-7, 0.5) and read (1 - 1e-7) / their sum. Its gradient matches central
/// differences, also on the ReLU row with clipped entries.
#[test]
fn sparse_categorical_crossentropy_normalizes_outputs_that_are_not_softmax() {
    let y_pred = Tensor::from_vec(vec![0.8, 0.4, 0.8, 0.3, 0.3, 0.4, 0.0, 2.0, 0.5], &[3, 3]);
    let t = Targets::Classes(vec![1, 2, 1]);
    let loss = Loss::SparseCategoricalCrossentropy;
    let eps = 1e-7f64;
    let relu_row = -((1.0 - eps) / (eps + (1.0 - eps) + 0.5)).ln();
    let expected = -(0.2f64.ln() + 0.4f64.ln()) / 3.0 + relu_row / 3.0;
    close(
        loss.compute(&y_pred, None, &t, None),
        expected,
        1e-6,
        "normalized sparse categorical cross-entropy",
    );
    // The same outputs one-hot under the categorical loss give the same value where nothing
    // is clipped (rows 1 and 2).
    let first_two = Tensor::from_vec(y_pred.data()[..6].to_vec(), &[2, 3]);
    let one_hot = Targets::Values(Tensor::from_vec(
        vec![0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        &[2, 3],
    ));
    close(
        loss.compute(&first_two, None, &Targets::Classes(vec![1, 2]), None),
        Loss::CategoricalCrossentropy.compute(&first_two, None, &one_hot, None),
        1e-6,
        "sparse against one-hot",
    );
    let mut grad = Tensor::default();
    loss.compute(&y_pred, None, &t, Some(&mut grad));
    for j in 0..y_pred.len() {
        // Away from the clipping edges: entries at 0 and 2 stay clipped either side.
        let h = 1e-3f32;
        let mut plus = y_pred.clone();
        plus.data_mut()[j] += h;
        let mut minus = y_pred.clone();
        minus.data_mut()[j] -= h;
        let numeric = (loss.compute(&plus, None, &t, None) - loss.compute(&minus, None, &t, None))
            / (2.0 * h as f64);
        if y_pred.data()[j] == 0.0 {
            // The clipped edge: Keras' gradient is 0 there (the clip's subgradient).
            assert_eq!(grad.data()[j], 0.0);
            continue;
        }
        assert!(
            (grad.data()[j] as f64 - numeric).abs() < 2e-3 * (1.0 + numeric.abs()),
            "element {j}: analytic {} vs numeric {numeric}",
            grad.data()[j]
        );
    }
}
