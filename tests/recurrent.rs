//! The recurrent layers (simple_rnn, lstm, gru): an embedding → LSTM → GRU → dense network and
//! a backwards SimpleRNN against PyTorch, finite differences of every cell in every direction,
//! dropout masks fixed per sequence, refused settings, save/load and bit-exact resume.

mod common;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use common::{assert_close, check_gradients, f32s, nested, pseudo_random, reference};
use deeptrain::callbacks::{Control, EpochLogs};
use deeptrain::layers::{CellKind, EmbeddingSpec, RecurrentSpec};
use deeptrain::model::RunMetadata;
use deeptrain::regularizers::Regularizer;
use deeptrain::{
    Activation, Callback, Dataset, DenseSpec, FitOptions, History, LayerSpec, Loss, Metric, Mode,
    Scale, Scaler, Sequential, Sgd, Targets, Tensor,
};

fn compiled(mut model: Sequential) -> Sequential {
    model
        .compile(
            Box::new(Sgd::new(0.1).unwrap()),
            Loss::SparseCategoricalCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap();
    model
}

/// Sets parameter `k` of layer `layer` from a JSON array, keeping its shape.
fn set(model: &mut Sequential, layer: usize, k: usize, values: &serde_json::Value) {
    let p = &mut model.layers_mut()[layer].params_mut()[k];
    let shape = p.value.shape().to_vec();
    p.value = Tensor::from_vec(f32s(values), &shape);
}

/// recurrent.json, "network" (torch 2.15, float64, tests/reference/gen_recurrent.py, whose
/// header writes down the Keras ↔ PyTorch weight layouts): ids (3, 5) → Embedding(7, 4) →
/// LSTM(6, return_sequences) → GRU(5) → Dense(3, softmax), mean cross-entropy; the loss, the
/// probabilities and the gradient of every weight.
#[test]
fn embedding_lstm_gru_dense_network_matches_torch() {
    let r = &reference("recurrent.json")["network"];
    let model = Sequential::new(&[5])
        .add(EmbeddingSpec::new(7, 4))
        .add(RecurrentSpec::lstm(6).return_sequences(true))
        .add(RecurrentSpec::gru(5))
        .add(DenseSpec::new(3).activation(Activation::Softmax))
        .build(1)
        .unwrap();
    let mut model = compiled(model);
    let w = &r["weights"];
    set(&mut model, 0, 0, &w["embedding"]);
    for (layer, key) in [(1, "lstm"), (2, "gru")] {
        for (k, name) in ["kernel", "recurrent_kernel", "bias"].iter().enumerate() {
            set(&mut model, layer, k, &w[key][name]);
        }
    }
    set(&mut model, 3, 0, &w["dense_kernel"]);
    set(&mut model, 3, 1, &w["dense_bias"]);
    let x = Tensor::from_vec(f32s(&r["ids"]), &[3, 5]);
    let labels: Vec<u32> = nested(&r["labels"]).iter().map(|&v| v as u32).collect();
    let (loss, _) = model
        .compute_gradients(&x, &Targets::Classes(labels), Mode::Train)
        .unwrap();
    assert_close(
        &[loss as f32],
        &[r["loss"].as_f64().unwrap()],
        1e-5,
        1e-6,
        "loss",
    );
    let g = &r["grads"];
    let param = |model: &Sequential, layer: usize, k: usize| {
        model.layers()[layer].params()[k]
            .grad()
            .unwrap()
            .data()
            .to_vec()
    };
    assert_close(
        &param(&model, 0, 0),
        &nested(&g["embedding"]),
        1e-4,
        1e-6,
        "dE",
    );
    for (layer, key) in [(1, "lstm"), (2, "gru")] {
        for (k, name) in ["kernel", "recurrent_kernel", "bias"].iter().enumerate() {
            let what = format!("{key} {name}");
            assert_close(
                &param(&model, layer, k),
                &nested(&g[key][name]),
                1e-4,
                1e-6,
                &what,
            );
        }
    }
    assert_close(
        &param(&model, 3, 0),
        &nested(&g["dense_kernel"]),
        1e-4,
        1e-6,
        "dense dW",
    );
    assert_close(
        &param(&model, 3, 1),
        &nested(&g["dense_bias"]),
        1e-4,
        1e-6,
        "dense db",
    );
    let p = model.predict(&x, 3).unwrap();
    assert_close(
        p.data(),
        &nested(&r["probabilities"]),
        1e-5,
        1e-6,
        "probabilities",
    );
}

/// recurrent.json, "simple_rnn": SimpleRNN(5, return_sequences, go_backwards) on x (2, 4, 3)
/// is torch's nn.RNN on x flipped in time; y, dL/dx and the weight gradients of L = Σ y ⊙ w.
#[test]
fn backwards_simple_rnn_sequence_matches_torch() {
    let r = &reference("recurrent.json")["simple_rnn"];
    let spec = RecurrentSpec::simple_rnn(5)
        .return_sequences(true)
        .go_backwards(true);
    let mut model = Sequential::new(&[4, 3]).add(spec).build(1).unwrap();
    for (k, name) in ["kernel", "recurrent_kernel", "bias"].iter().enumerate() {
        set(&mut model, 0, k, &r["weights"][name]);
    }
    let layer = &mut model.layers_mut()[0];
    let x = Tensor::from_vec(f32s(&r["x"]), &[2, 4, 3]);
    let mut y = Tensor::default();
    layer.forward(&x, &mut y, Mode::Train);
    assert_eq!(y.shape(), &[2, 4, 5]);
    assert_close(y.data(), &nested(&r["y"]), 1e-5, 1e-6, "y");
    let w = Tensor::from_vec(f32s(&r["w"]), &[2, 4, 5]);
    let mut dx = Tensor::default();
    layer.backward(&x, &y, &w, Some(&mut dx));
    assert_close(dx.data(), &nested(&r["dx"]), 1e-4, 1e-6, "dx");
    for (k, name) in ["kernel", "recurrent_kernel", "bias"].iter().enumerate() {
        let grad = layer.params()[k].grad().unwrap().data();
        assert_close(grad, &nested(&r["grads"][name]), 1e-4, 1e-6, name);
    }
}

/// recurrent_keras.json, "gru_reset_before" and "gru_reset_before_masked" (Keras 3.15.1 on
/// TensorFlow 2.21, float64, tests/reference/gen_recurrent_keras.py; PyTorch has no such GRU):
/// GRU(4, reset_after=False, return_sequences) on x (2, 4, 3), and GRU(3, reset_after=False,
/// go_backwards) on x (3, 5, 3) with padding at the end, in the middle and at the start; y, and
/// for L = Σ y ⊙ w, dL/dx and the gradients of the kernel, recurrent kernel and single bias.
#[test]
fn gru_with_reset_before_the_product_matches_keras() {
    for (case, spec, x_shape, y_shape) in [
        (
            "gru_reset_before",
            RecurrentSpec::gru(4)
                .reset_after(false)
                .return_sequences(true),
            [2, 4, 3],
            vec![2, 4, 4],
        ),
        (
            "gru_reset_before_masked",
            RecurrentSpec::gru(3).reset_after(false).go_backwards(true),
            [3, 5, 3],
            vec![3, 3],
        ),
    ] {
        let r = &reference("recurrent_keras.json")[case];
        let mut model = Sequential::new(&x_shape[1..]).add(spec).build(1).unwrap();
        // One bias (3·U), not reset_after's (2, 3·U).
        let units = y_shape[y_shape.len() - 1];
        assert_eq!(model.layers()[0].params()[2].value.shape(), &[3 * units]);
        for k in 0..3 {
            set(&mut model, 0, k, &r["weights"][k]);
        }
        let layer = &mut model.layers_mut()[0];
        if !r["mask"].is_null() {
            layer.set_input_mask(&f32s(&r["mask"]));
        }
        let x = Tensor::from_vec(f32s(&r["x"]), &x_shape);
        let mut y = Tensor::default();
        layer.forward(&x, &mut y, Mode::Train);
        assert_eq!(y.shape(), &y_shape[..], "{case}");
        assert_close(y.data(), &nested(&r["y"]), 1e-5, 1e-6, case);
        let w = Tensor::from_vec(f32s(&r["w"]), &y_shape);
        let mut dx = Tensor::default();
        layer.backward(&x, &y, &w, Some(&mut dx));
        assert_close(dx.data(), &nested(&r["dx"]), 1e-4, 1e-6, case);
        for (k, name) in ["kernel", "recurrent_kernel", "bias"].iter().enumerate() {
            let grad = layer.params()[k].grad().unwrap().data();
            let what = format!("{case} {name}");
            assert_close(grad, &nested(&r["grads"][k]), 1e-4, 1e-6, &what);
        }
    }
}

/// A recurrent layer of `cell` (a GRU with `reset_after = false` when `reset_before`).
fn recurrent(cell: CellKind, reset_before: bool, units: usize) -> RecurrentSpec {
    let spec = RecurrentSpec::new(cell, units);
    if reset_before {
        spec.reset_after(false)
    } else {
        spec
    }
}

/// The cells the finite-difference checks cover: each kind, and the GRU both ways.
const CELLS: [(CellKind, bool); 4] = [
    (CellKind::SimpleRnn, false),
    (CellKind::Lstm, false),
    (CellKind::Gru, false),
    (CellKind::Gru, true),
];

/// x (3, 4, 3) → the layer (with a flatten after a sequence) → dense softmax.
fn cell_net(spec: RecurrentSpec) -> Sequential {
    let sequences = spec.return_sequences;
    let mut net = Sequential::new(&[4, 3]).add(spec);
    if sequences {
        net = net.add(LayerSpec::flatten());
    }
    compiled(
        net.add(DenseSpec::new(3).activation(Activation::Softmax))
            .build(9)
            .unwrap(),
    )
}

/// Central differences of the loss with respect to every weight and every input value, for
/// each cell, forwards and backwards, last state and whole sequence, with and without bias,
/// with another activation, and with every regularizer (dropout off: masks are random).
#[test]
fn every_recurrent_layer_matches_finite_differences() {
    let x = pseudo_random(&[3, 4, 3], 5, 1.0);
    let targets = Targets::Classes(vec![0, 2, 1]);
    // Larger weights than the defaults, so that the gates do not sit in their linear middle.
    let big = deeptrain::Initializer::RandomNormal {
        mean: 0.0,
        stddev: 0.6,
    };
    for (cell, reset_before) in CELLS {
        let cell_name = format!("{cell:?} reset_before={reset_before}");
        for (sequences, backwards) in [(false, false), (true, false), (false, true), (true, true)] {
            let spec = recurrent(cell, reset_before, 4)
                .kernel_initializer(big)
                .recurrent_initializer(big)
                .bias_initializer(big)
                .return_sequences(sequences)
                .go_backwards(backwards);
            let what = format!("{cell_name} sequences={sequences} backwards={backwards}");
            check_gradients(
                Mode::Train,
                cell_net(spec),
                x.clone(),
                targets.clone(),
                &what,
            );
        }
        let spec = recurrent(cell, reset_before, 3)
            .kernel_initializer(big)
            .recurrent_initializer(big)
            .use_bias(false)
            .activation(Activation::Softsign)
            .recurrent_activation(Activation::HardSigmoid);
        let what = format!("{cell_name} without bias, softsign");
        check_gradients(
            Mode::Train,
            cell_net(spec),
            x.clone(),
            targets.clone(),
            &what,
        );
        let spec = recurrent(cell, reset_before, 3)
            .kernel_regularizer(Regularizer::l2(0.05))
            .recurrent_regularizer(Regularizer::l1_l2(0.01, 0.05))
            .bias_regularizer(Regularizer::l2(0.1));
        let model = cell_net(spec);
        let what = format!("{cell_name} with regularizers");
        check_gradients(Mode::Train, model, x.clone(), targets.clone(), &what);
    }
}

/// With `dropout`, an input feature a sample drops is dropped at every step (one mask per
/// sequence, Keras' semantics): its input gradient is zero at all T steps or at none. With
/// `recurrent_dropout` as well the layer still trains; inference is deterministic.
#[test]
fn dropout_masks_are_fixed_per_sequence() {
    let (n, t, f) = (16, 6, 5);
    let x = pseudo_random(&[n, t, f], 3, 1.0);
    let targets = Targets::Classes((0..n as u32).map(|i| i % 3).collect());
    for (cell, reset_before) in CELLS {
        let spec = recurrent(cell, reset_before, 4)
            .dropout(0.5)
            .recurrent_dropout(0.3);
        let mut model = cell_net_on(spec, &[t, f]);
        let (_, dx) = model.compute_gradients(&x, &targets, Mode::Train).unwrap();
        let mut dropped = 0;
        for s in 0..n {
            for k in 0..f {
                let zero: Vec<bool> = (0..t)
                    .map(|step| dx.data()[(s * t + step) * f + k] == 0.0)
                    .collect();
                assert!(
                    zero.iter().all(|&z| z) || zero.iter().all(|&z| !z),
                    "{cell:?}: sample {s} feature {k} dropped at some steps only: {zero:?}"
                );
                dropped += usize::from(zero[0]);
            }
        }
        // About half of the 80 (sample, feature) pairs are dropped.
        assert!((20..60).contains(&dropped), "{cell:?}: {dropped} dropped");
        let a = model.predict(&x, n).unwrap();
        let b = model.predict(&x, n).unwrap();
        assert_eq!(a, b, "{cell:?}: inference is deterministic");
    }
}

/// With `dropout` and `recurrent_dropout` on, every weight's and input's gradient matches
/// central differences of L = Σ y ⊙ w when each pass draws the same masks (the layer's random
/// stream restored before it), for each cell, forwards and backwards.
#[test]
fn recurrent_dropout_gradients_match_finite_differences() {
    let x = pseudo_random(&[3, 4, 3], 6, 1.0);
    let big = deeptrain::Initializer::RandomNormal {
        mean: 0.0,
        stddev: 0.6,
    };
    for (cell, reset_before) in CELLS {
        for backwards in [false, true] {
            let spec = recurrent(cell, reset_before, 4)
                .kernel_initializer(big)
                .recurrent_initializer(big)
                .bias_initializer(big)
                .return_sequences(true)
                .go_backwards(backwards)
                .dropout(0.3)
                .recurrent_dropout(0.4);
            let mut model = Sequential::new(&[4, 3]).add(spec).build(2).unwrap();
            let layer = &mut model.layers_mut()[0];
            let stream = layer.rng().unwrap().clone();
            let w = pseudo_random(&[3, 4, 4], 7, 1.0);
            let loss = |layer: &mut Box<dyn deeptrain::layers::Layer>, x: &Tensor| {
                layer.set_rng(stream.clone());
                let mut y = Tensor::default();
                layer.forward(x, &mut y, Mode::Train);
                let l: f64 = y
                    .data()
                    .iter()
                    .zip(w.data())
                    .map(|(&a, &b)| f64::from(a * b))
                    .sum();
                (l, y)
            };
            let (_, y) = loss(layer, &x);
            let mut dx = Tensor::default();
            layer.backward(&x, &y, &w, Some(&mut dx));
            let what = format!("{cell:?} reset_before={reset_before} backwards={backwards}");
            let eps = 1e-2f32;
            let numeric =
                |l_plus: f64, l_minus: f64| ((l_plus - l_minus) / (2.0 * f64::from(eps))) as f32;
            let agree = |a: f32, n: f32| (a - n).abs() <= 1e-2 * a.abs().max(n.abs()) + 1e-3;
            for k in 0..layer.params().len() {
                let analytic = layer.params()[k].grad().unwrap().data().to_vec();
                for (i, &a) in analytic.iter().enumerate() {
                    let original = layer.params()[k].value.data()[i];
                    layer.params_mut()[k].value.data_mut()[i] = original + eps;
                    let plus = loss(layer, &x).0;
                    layer.params_mut()[k].value.data_mut()[i] = original - eps;
                    let minus = loss(layer, &x).0;
                    layer.params_mut()[k].value.data_mut()[i] = original;
                    let n = numeric(plus, minus);
                    assert!(
                        agree(a, n),
                        "{what}: param {k}[{i}]: analytic {}, numeric {n}",
                        a
                    );
                }
            }
            let mut x_var = x.clone();
            for i in 0..x.len() {
                x_var.data_mut()[i] = x.data()[i] + eps;
                let plus = loss(layer, &x_var).0;
                x_var.data_mut()[i] = x.data()[i] - eps;
                let minus = loss(layer, &x_var).0;
                x_var.data_mut()[i] = x.data()[i];
                let n = numeric(plus, minus);
                assert!(
                    agree(dx.data()[i], n),
                    "{what}: x[{i}]: analytic {}, numeric {n}",
                    dx.data()[i]
                );
            }
        }
    }
}

fn cell_net_on(spec: RecurrentSpec, shape: &[usize]) -> Sequential {
    compiled(
        Sequential::new(shape)
            .add(spec)
            .add(DenseSpec::new(3).activation(Activation::Softmax))
            .build(4)
            .unwrap(),
    )
}

/// Keras' initial values: glorot_uniform kernel, orthogonal recurrent kernel (orthonormal
/// rows: R·Rᵀ = I for the (U, G·U) matrix), zero bias but an LSTM's forget gate at 1 (and at 0
/// with `unit_forget_bias = false`), a GRU bias (2, 3U).
#[test]
fn initial_weights_follow_keras() {
    let u = 5;
    let build = |spec: RecurrentSpec| Sequential::new(&[7, 3]).add(spec).build(2).unwrap();
    let lstm = build(RecurrentSpec::lstm(u));
    let p = lstm.layers()[0].params();
    assert_eq!(p[0].value.shape(), &[3, 4 * u]);
    assert_eq!(p[1].value.shape(), &[u, 4 * u]);
    let r = p[1].value.data();
    for i in 0..u {
        for j in 0..u {
            let dot: f32 = (0..4 * u)
                .map(|k| r[i * 4 * u + k] * r[j * 4 * u + k])
                .sum();
            let expected = f32::from(u8::from(i == j));
            assert!((dot - expected).abs() < 1e-5, "R·Rᵀ[{i}][{j}] = {dot}");
        }
    }
    let bias = p[2].value.data();
    assert!(bias[..u].iter().all(|&b| b == 0.0));
    assert!(bias[u..2 * u].iter().all(|&b| b == 1.0));
    assert!(bias[2 * u..].iter().all(|&b| b == 0.0));
    let plain = build(RecurrentSpec::lstm(u).unit_forget_bias(false));
    assert!(plain.layers()[0].params()[2]
        .value
        .data()
        .iter()
        .all(|&b| b == 0.0));
    let gru = build(RecurrentSpec::gru(u));
    assert_eq!(gru.layers()[0].params()[2].value.shape(), &[2, 3 * u]);
    let rnn = build(RecurrentSpec::simple_rnn(u).return_sequences(true));
    assert_eq!(rnn.layers()[0].params()[2].value.shape(), &[u]);
    // The glorot_uniform limit √(6 / (F + G·U)).
    let limit = (6.0f32 / (3 + 4 * u) as f32).sqrt();
    assert!(p[0].value.data().iter().all(|&w| w.abs() <= limit));
}

/// Settings a recurrent layer refuses, in one line naming the key.
#[test]
fn bad_recurrent_settings_are_refused() {
    let refuse = |spec: RecurrentSpec, shape: &[usize], key: &str| {
        let err = Sequential::new(shape)
            .add(spec)
            .build(1)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains(key) && err.lines().count() == 1, "{err}");
    };
    refuse(RecurrentSpec::lstm(0), &[3, 2], "units");
    refuse(RecurrentSpec::gru(3).dropout(1.0), &[3, 2], "dropout");
    refuse(
        RecurrentSpec::gru(3).recurrent_dropout(-0.1),
        &[3, 2],
        "recurrent_dropout",
    );
    refuse(
        RecurrentSpec::gru(3).unit_forget_bias(true),
        &[3, 2],
        "unit_forget_bias",
    );
    refuse(
        RecurrentSpec::lstm(3).reset_after(true),
        &[3, 2],
        "reset_after",
    );
    refuse(
        RecurrentSpec::lstm(3).activation(Activation::Gelu),
        &[3, 2],
        "activation",
    );
    refuse(RecurrentSpec::simple_rnn(3), &[6], "expects sequences");
    refuse(
        RecurrentSpec::simple_rnn(3),
        &[2, 3, 2],
        "expects sequences",
    );
    // The size guard refuses a 2^24-unit LSTM before allocating its 2^50-value kernel.
    refuse(RecurrentSpec::lstm(1 << 24), &[3, 2], "limit");
    // In a spec, an unknown key and a key of another cell are refused by name.
    for (text, key) in [
        (
            "type = \"lstm\"\nunits = 3\nreset_after = true",
            "reset_after",
        ),
        (
            "type = \"gru\"\nunits = 3\nreturn_sequence = true",
            "return_sequence",
        ),
    ] {
        let table: toml::Table = text.parse().unwrap();
        let err = match deeptrain::layers::layer_spec_from_table(table) {
            Err(e) => e.to_string(),
            Ok(spec) => Sequential::new(&[3, 2])
                .add(spec)
                .build(1)
                .err()
                .unwrap()
                .to_string(),
        };
        assert!(err.contains(key), "{err}");
    }
}

fn sequence_model(seed: u64) -> Sequential {
    compiled(
        Sequential::new(&[6])
            .add(EmbeddingSpec::new(10, 4))
            .add(
                RecurrentSpec::lstm(5)
                    .return_sequences(true)
                    .dropout(0.2)
                    .recurrent_dropout(0.2),
            )
            .add(
                RecurrentSpec::gru(4)
                    .reset_after(false)
                    .return_sequences(true)
                    .recurrent_dropout(0.2),
            )
            .add(
                RecurrentSpec::gru(4)
                    .go_backwards(true)
                    .kernel_regularizer(Regularizer::l2(0.01)),
            )
            .add(DenseSpec::new(3).activation(Activation::Softmax))
            .build(seed)
            .unwrap(),
    )
}

/// Saved and loaded, the model gives the same predictions, summary and settings; the file
/// names the layers by their Keras types.
#[test]
fn recurrent_model_saves_and_loads() {
    let mut model = sequence_model(4);
    let x = Tensor::from_vec((0..12).map(|i| (i * 7 % 10) as f32).collect(), &[2, 6]);
    model
        .compute_gradients(&x, &Targets::Classes(vec![1, 2]), Mode::Train)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path()).unwrap();
    let (mut loaded, file) = Sequential::load(dir.path()).unwrap();
    assert_eq!(file.layers, model.layer_specs());
    assert_eq!(loaded.summary(), model.summary());
    assert_eq!(
        loaded.predict(&x, 2).unwrap(),
        model.predict(&x, 2).unwrap()
    );
    let text = std::fs::read_to_string(dir.path().join("model.toml")).unwrap();
    for needle in [
        "type = \"lstm\"",
        "type = \"gru\"",
        "go_backwards = true",
        "recurrent_dropout",
        "reset_after = false",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
}

/// Writes the checkpoint at every epoch's end, as the CLI does.
struct Checkpointer<'a> {
    dir: &'a std::path::Path,
    history: History,
    metadata: RunMetadata,
}

impl Callback for Checkpointer<'_> {
    fn on_epoch_end(
        &mut self,
        logs: &EpochLogs,
        model: &mut Sequential,
    ) -> deeptrain::Result<Control> {
        self.history.epochs.push(logs.clone());
        model.save_checkpoint(self.dir, &self.metadata, &self.history)?;
        Ok(Control::Continue)
    }
}

/// Three epochs straight, or two then a resume from the checkpoint, give the same weight and
/// optimizer bytes and the same history: the layers' dropout streams are saved and restored.
#[test]
fn recurrent_model_resumes_bit_exactly() {
    let n = 40;
    let ids: Vec<f32> = (0..n * 6).map(|i| ((i * 7 + i / 3) % 10) as f32).collect();
    let labels: Vec<f32> = (0..n).map(|i| (i % 3) as f32).collect();
    let data = Dataset::new(
        Tensor::from_vec(ids, &[n, 6]),
        Tensor::from_vec(labels, &[n, 1]),
    )
    .unwrap();
    let options = |epochs: usize, initial_epoch: usize| FitOptions {
        epochs,
        batch_size: 8,
        validation_split: 0.0,
        initial_epoch,
        stop: Some(Arc::new(AtomicBool::new(false))),
        ..FitOptions::default()
    };
    let bytes = |model: &Sequential| {
        let dir = tempfile::tempdir().unwrap();
        model.save(dir.path()).unwrap();
        let read = |name: &str| std::fs::read(dir.path().join(name)).unwrap();
        (read("weights.safetensors"), read("optimizer.safetensors"))
    };
    let values = |h: &History| -> Vec<Vec<(String, f64)>> {
        h.epochs.iter().map(|e| e.values.clone()).collect()
    };
    let mut straight = sequence_model(11);
    let full = straight.fit(&data, None, &options(3, 0), &mut []).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let checkpoint = dir.path().join("resume");
    let mut writer = Checkpointer {
        dir: &checkpoint,
        history: History::default(),
        metadata: RunMetadata {
            scaler: Scaler::fit(Scale::None, &data.x),
            data: None,
            class_names: None,
        },
    };
    let mut first = sequence_model(11);
    first
        .fit(&data, None, &options(2, 0), &mut [&mut writer])
        .unwrap();
    drop(first);
    let (mut resumed, _, _, prior) = Sequential::load_checkpoint(&checkpoint).unwrap();
    let rest = resumed
        .fit(&data, None, &options(3, prior.epochs.len()), &mut [])
        .unwrap();
    let mut history = prior;
    history.epochs.extend(rest.epochs);
    assert!(
        bytes(&resumed) == bytes(&straight),
        "weights or optimizer differ"
    );
    assert_eq!(values(&history), values(&full));
    assert_eq!(full.epochs.len(), 3);
}

/// The SELU precondition check names the recurrent layers of a SELU network (SELU does not
/// self-normalize through time, Géron ch. 11); the same network without them gets no such
/// warning.
#[test]
fn selu_check_names_recurrent_layers() {
    let selu = || {
        DenseSpec::new(16)
            .activation(Activation::Selu)
            .kernel_initializer(deeptrain::Initializer::LECUN_NORMAL)
    };
    let warnings = |recurrent: bool| {
        let mut net = Sequential::new(&[5, 3]);
        if recurrent {
            net = net.add(
                RecurrentSpec::simple_rnn(8)
                    .return_sequences(true)
                    .named("rnn"),
            );
        }
        let model = net
            .add(LayerSpec::flatten())
            .add(selu())
            .add(selu())
            .add(DenseSpec::new(3).activation(Activation::Softmax))
            .build(1)
            .unwrap();
        let optimizer = deeptrain::OptimizerSpec::default();
        deeptrain::checks::check(&model, Scale::Standard, &optimizer)
    };
    let found = warnings(true);
    let ids: Vec<&str> = found.iter().map(|w| w.id).collect();
    assert_eq!(ids, ["selu_recurrent"], "{found:?}");
    assert!(found[0].message.contains("rnn"), "{}", found[0].message);
    assert!(warnings(false).is_empty());
}

/// A spec with `[[layers]] type = "embedding"`, `"lstm"` and `"gru"` (Keras' names) trains one
/// epoch from an NPY of token ids through `deeptrain train`, and its summary names the layers;
/// `reset_after = false` is refused in one line naming the key.
#[test]
fn spec_with_recurrent_layers_trains() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ids: Vec<f32> = (0..48 * 6).map(|i| ((i * 7 + i / 5) % 10) as f32).collect();
    let labels: Vec<f32> = ids
        .chunks(6)
        .map(|s| f32::from(u8::from(s.contains(&3.0))))
        .collect();
    let (x, y) = (d.join("x.npy"), d.join("y.npy"));
    common::write_npy(&x, &[48, 6], &ids);
    common::write_npy(&y, &[48], &labels);
    let spec = |extra: &str| {
        format!(
            r#"seed = 2
[data]
dataset = "{}"
labels = "{}"
scale = "none"
validation_split = 0.25
[[layers]]
type = "embedding"
input_dim = 10
output_dim = 4
[[layers]]
type = "lstm"
units = 5
return_sequences = true
[[layers]]
type = "GRU"
units = 4
{extra}
[[layers]]
type = "dense"
units = 2
activation = "softmax"
[fit]
epochs = 1
batch_size = 8
"#,
            x.display(),
            y.display()
        )
    };
    let run = |text: String, name: &str| {
        let path = d.join(format!("{name}.toml"));
        std::fs::write(&path, text).unwrap();
        let out = d.join(name);
        std::process::Command::new(env!("CARGO_BIN_EXE_deeptrain"))
            .args([
                "train",
                path.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ])
            .output()
            .unwrap()
    };
    let o = run(spec("go_backwards = true\nreset_after = false"), "ok");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let text = String::from_utf8_lossy(&o.stdout);
    for needle in ["Epoch 1/1", "LSTM", "GRU"] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
    let o = run(spec("reset_after = \"no\""), "bad");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    assert!(
        err.contains("reset_after") && !err.contains("panicked"),
        "{err}"
    );
}

/// The built-in adding problem (`dataset = "adding-T"`) feeds (T, 2) sequences and one target
/// to a spec: an LSTM trains a few steps on `adding-20` through `deeptrain train`, with the
/// test part scored; a length the generator refuses is one line naming the dataset.
#[test]
fn adding_problem_spec_trains_and_bad_lengths_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let spec = |dataset: &str| {
        format!(
            r#"seed = 3
[data]
dataset = "{dataset}"
scale = "none"
max_train_samples = 64
[[layers]]
type = "lstm"
units = 4
[[layers]]
type = "dense"
units = 1
[compile]
loss = "mse"
[fit]
epochs = 1
batch_size = 16
"#
        )
    };
    let run = |text: String, name: &str| {
        let path = d.join(format!("{name}.toml"));
        std::fs::write(&path, text).unwrap();
        let out = d.join(name);
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_deeptrain"))
            .args(["train", path.to_str().unwrap(), "--out"])
            .arg(&out)
            .output()
            .unwrap();
        (o, out)
    };
    let (o, out) = run(spec("adding-20"), "ok");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("Training on 64 samples"), "{text}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let test_loss = summary.pointer("/test/loss").and_then(|v| v.as_f64());
    assert!(test_loss.is_some_and(f64::is_finite), "{summary}");
    for bad in ["adding-1", "adding-twenty"] {
        let (o, _) = run(spec(bad), "bad");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
        assert!(err.contains(bad) && !err.contains("panicked"), "{err}");
    }
}

/// Gradient norms through time: a linear SimpleRNN whose recurrent kernel is 0.1 times an
/// orthogonal matrix scales ∂L/∂h by exactly 0.1 per step back (∂L/∂h_{s-1} = ∂L/∂h_s · Rᵀ,
/// and an orthogonal map keeps norms), so ‖∂L/∂h_s‖ decays geometrically from the last step to
/// the first. The layer reports these norms after backward, the diagnostics record them on
/// sampled steps, and the rule calls the decay (1e-5 over 6 steps) vanishing through time.
#[test]
fn gradient_norms_through_time_decay_geometrically_with_a_small_recurrent_kernel() {
    use deeptrain::diagnostics::{gradients_through_time, verdicts, Diagnostics};
    let spec = RecurrentSpec::new(CellKind::SimpleRnn, 3)
        .activation(Activation::Linear)
        .use_bias(false)
        .recurrent_initializer(deeptrain::Initializer::Orthogonal { gain: 0.1 });
    let mut model = Sequential::new(&[6, 2])
        .add(spec)
        .add(DenseSpec::new(1))
        .build(4)
        .unwrap();
    model
        .compile(
            Box::new(Sgd::new(1e-6).unwrap()),
            Loss::MeanSquaredError,
            &[],
        )
        .unwrap();
    let data = Dataset::new(
        pseudo_random(&[8, 6, 2], 3, 1.0),
        Tensor::from_vec(vec![1.0; 8], &[8, 1]),
    )
    .unwrap();
    let diagnostics = Diagnostics::new(1);
    model.set_observer(Some(Box::new(diagnostics.clone())));
    let options = FitOptions {
        epochs: 2,
        batch_size: 8,
        ..FitOptions::default()
    };
    model.fit(&data, None, &options, &mut []).unwrap();

    let norms = model.layers()[0].time_gradient_norms().unwrap();
    assert_eq!(norms.len(), 6);
    for s in 0..5 {
        let factor = norms[s] / norms[s + 1];
        assert!(
            (factor - 0.1).abs() < 1e-4,
            "step {s}: {factor} ({norms:?})"
        );
    }
    assert!(model.layers()[1].time_gradient_norms().is_none());

    let rows = diagnostics.rows();
    let recorded: Vec<_> = rows.iter().filter(|r| r.layer == 0).collect();
    assert_eq!(recorded.len(), 2, "one row per sampled step");
    assert!(recorded.iter().all(|r| r.time_grad_norms.len() == 6));
    assert!(rows
        .iter()
        .filter(|r| r.layer == 1)
        .all(|r| r.time_grad_norms.is_empty()));
    let flows = gradients_through_time(&rows);
    assert_eq!(flows.len(), 1);
    assert!((flows[0].per_step - 0.1).abs() < 1e-4, "{:?}", flows[0]);
    let through_time = verdicts(&rows)
        .into_iter()
        .find(|v| v.finding.starts_with("through time"))
        .unwrap();
    assert_eq!(through_time.kind, "vanishing_gradients");
    assert_eq!(
        through_time.layer.as_deref(),
        Some(model.layers()[0].name())
    );
}

/// The norms through time cost a pass over ∂L/∂h per step: a training step nobody observes
/// skips them (the layer still reports the last observed ones), a gradient check computes them.
#[test]
fn gradient_norms_through_time_are_computed_on_observed_steps_only() {
    let mut model = Sequential::new(&[6, 2])
        .add(RecurrentSpec::gru(3))
        .add(DenseSpec::new(1))
        .build(4)
        .unwrap();
    model
        .compile(
            Box::new(Sgd::new(0.01).unwrap()),
            Loss::MeanSquaredError,
            &[],
        )
        .unwrap();
    let x = pseudo_random(&[8, 6, 2], 3, 1.0);
    let y = Tensor::from_vec(vec![1.0; 8], &[8, 1]);
    let data = Dataset::new(x.clone(), y.clone()).unwrap();
    let options = FitOptions {
        epochs: 2,
        batch_size: 4,
        ..FitOptions::default()
    };
    model.fit(&data, None, &options, &mut []).unwrap();
    assert_eq!(model.layers()[0].time_gradient_norms(), Some(&[][..]));
    model
        .compute_gradients(&x, &Targets::Values(y), Mode::Train)
        .unwrap();
    let norms = model.layers()[0].time_gradient_norms().unwrap().to_vec();
    assert_eq!(norms.len(), 6);
    assert!(norms.iter().all(|&g| g > 0.0), "{norms:?}");
    model.fit(&data, None, &options, &mut []).unwrap();
    assert_eq!(model.layers()[0].time_gradient_norms().unwrap(), norms);
}
