//! Masking of padded steps (an embedding with `mask_zero` into simple_rnn, lstm and gru, Keras
//! 3's rule: a padded step carries the state and output through): two stacks against PyTorch
//! with the rule written out (tests/reference/gen_recurrent.py), finite differences of every
//! cell with a mask, padding that changes nothing, the mask through Dense, LayerNormalization
//! and Dropout against Keras (tests/reference/gen_recurrent_keras.py), and the layers that
//! refuse a mask.

mod common;

use common::{assert_close, check_param_gradients, f32s, nested, reference};
use deeptrain::layers::{
    BidirectionalSpec, CellKind, DropoutSpec, EmbeddingSpec, LayerNormSpec, MergeMode,
    RecurrentSpec,
};
use deeptrain::{
    Activation, DenseSpec, Initializer, LayerSpec, Loss, Metric, Mode, Sequential, Sgd, Targets,
    Tensor,
};

fn compiled(mut model: Sequential, loss: Loss) -> Sequential {
    let metrics: &[Metric] = if loss == Loss::MeanSquaredError {
        &[]
    } else {
        &[Metric::Accuracy]
    };
    model
        .compile(Box::new(Sgd::new(0.1).unwrap()), loss, metrics)
        .unwrap();
    model
}

/// Sets parameter `k` of layer `layer` from a JSON array, keeping its shape.
fn set(model: &mut Sequential, layer: usize, k: usize, values: &serde_json::Value) {
    let p = &mut model.layers_mut()[layer].params_mut()[k];
    let shape = p.value.shape().to_vec();
    p.value = Tensor::from_vec(f32s(values), &shape);
}

fn grad(model: &Sequential, layer: usize, k: usize) -> Vec<f32> {
    model.layers()[layer].params()[k]
        .grad()
        .unwrap()
        .data()
        .to_vec()
}

const NAMES: [&str; 3] = ["kernel", "recurrent_kernel", "bias"];

/// recurrent.json, "masked" (torch 2.15, float64): ids (3, 6) padded with 0 at the end, in the
/// middle and at the start → Embedding(7, 4, mask_zero) → LSTM(5, return_sequences) →
/// GRU(4, go_backwards) → Dense(3, softmax); loss, probabilities and every weight's gradient.
#[test]
fn masked_embedding_lstm_gru_network_matches_torch() {
    let r = &reference("recurrent.json")["masked"];
    let model = Sequential::new(&[6])
        .add(EmbeddingSpec::new(7, 4).mask_zero(true))
        .add(RecurrentSpec::lstm(5).return_sequences(true))
        .add(RecurrentSpec::gru(4).go_backwards(true))
        .add(DenseSpec::new(3).activation(Activation::Softmax))
        .build(1)
        .unwrap();
    let mut model = compiled(model, Loss::SparseCategoricalCrossentropy);
    let w = &r["weights"];
    set(&mut model, 0, 0, &w["embedding"]);
    for (layer, key) in [(1, "lstm"), (2, "gru")] {
        for (k, name) in NAMES.iter().enumerate() {
            set(&mut model, layer, k, &w[key][name]);
        }
    }
    set(&mut model, 3, 0, &w["dense_kernel"]);
    set(&mut model, 3, 1, &w["dense_bias"]);
    let x = Tensor::from_vec(f32s(&r["ids"]), &[3, 6]);
    let labels: Vec<u32> = nested(&r["labels"]).iter().map(|&v| v as u32).collect();
    let (loss, _) = model
        .compute_gradients(&x, &Targets::Classes(labels), Mode::Train)
        .unwrap();
    let expected = r["loss"].as_f64().unwrap();
    assert_close(&[loss as f32], &[expected], 1e-5, 1e-6, "loss");
    let g = &r["grads"];
    assert_close(
        &grad(&model, 0, 0),
        &nested(&g["embedding"]),
        1e-4,
        1e-6,
        "dE",
    );
    for (layer, key) in [(1, "lstm"), (2, "gru")] {
        for (k, name) in NAMES.iter().enumerate() {
            let what = format!("{key} {name}");
            assert_close(
                &grad(&model, layer, k),
                &nested(&g[key][name]),
                1e-4,
                1e-6,
                &what,
            );
        }
    }
    assert_close(
        &grad(&model, 3, 0),
        &nested(&g["dense_kernel"]),
        1e-4,
        1e-6,
        "dW",
    );
    assert_close(
        &grad(&model, 3, 1),
        &nested(&g["dense_bias"]),
        1e-4,
        1e-6,
        "db",
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

/// recurrent.json, "masked_rnn": the same ids → Embedding(7, 3, mask_zero) →
/// SimpleRNN(4, return_sequences) → SimpleRNN(3, go_backwards), mean squared error against w.
#[test]
fn masked_simple_rnn_stack_matches_torch() {
    let r = &reference("recurrent.json")["masked_rnn"];
    let model = Sequential::new(&[6])
        .add(EmbeddingSpec::new(7, 3).mask_zero(true))
        .add(RecurrentSpec::simple_rnn(4).return_sequences(true))
        .add(RecurrentSpec::simple_rnn(3).go_backwards(true))
        .build(1)
        .unwrap();
    let mut model = compiled(model, Loss::MeanSquaredError);
    let w = &r["weights"];
    set(&mut model, 0, 0, &w["embedding"]);
    for (layer, key) in [(1, "first"), (2, "second")] {
        for (k, name) in NAMES.iter().enumerate() {
            set(&mut model, layer, k, &w[key][name]);
        }
    }
    let x = Tensor::from_vec(f32s(&r["ids"]), &[3, 6]);
    let target = Tensor::from_vec(f32s(&r["w"]), &[3, 3]);
    let (loss, _) = model
        .compute_gradients(&x, &Targets::Values(target), Mode::Train)
        .unwrap();
    let expected = r["loss"].as_f64().unwrap();
    assert_close(&[loss as f32], &[expected], 1e-5, 1e-6, "loss");
    let y = model.predict(&x, 3).unwrap();
    assert_close(y.data(), &nested(&r["y"]), 1e-5, 1e-6, "y");
    let g = &r["grads"];
    assert_close(
        &grad(&model, 0, 0),
        &nested(&g["embedding"]),
        1e-4,
        1e-6,
        "dE",
    );
    for (layer, key) in [(1, "first"), (2, "second")] {
        for (k, name) in NAMES.iter().enumerate() {
            let what = format!("{key} {name}");
            assert_close(
                &grad(&model, layer, k),
                &nested(&g[key][name]),
                1e-4,
                1e-6,
                &what,
            );
        }
    }
}

const IDS: [f32; 15] = [
    3., 1., 4., 0., 0., //
    5., 0., 2., 6., 1., //
    0., 0., 2., 2., 6.,
];

/// Embedding(7, 3, mask_zero) → the cell (→ a second one reading the masked sequence when
/// the first returns it) → Dense(3, softmax), with larger weights than the defaults.
fn masked_net(cell: CellKind, sequences: bool, backwards: bool) -> Sequential {
    masked_net_of(cell, false, sequences, backwards)
}

/// [`masked_net`], with GRUs of `reset_after = false` when `reset_before`.
fn masked_net_of(
    cell: CellKind,
    reset_before: bool,
    sequences: bool,
    backwards: bool,
) -> Sequential {
    let big = Initializer::RandomNormal {
        mean: 0.0,
        stddev: 0.6,
    };
    let layer = |units: usize| {
        let spec = RecurrentSpec::new(cell, units);
        let spec = if reset_before {
            spec.reset_after(false)
        } else {
            spec
        };
        spec.kernel_initializer(big)
            .recurrent_initializer(big)
            .bias_initializer(big)
    };
    let mut net = Sequential::new(&[5])
        .add(
            EmbeddingSpec::new(7, 3)
                .mask_zero(true)
                .embeddings_initializer(big),
        )
        .add(layer(4).return_sequences(sequences).go_backwards(backwards));
    if sequences {
        net = net.add(layer(3).go_backwards(!backwards));
    }
    let net = net
        .add(DenseSpec::new(3).activation(Activation::Softmax))
        .build(9)
        .unwrap();
    compiled(net, Loss::SparseCategoricalCrossentropy)
}

/// Central differences of the loss with respect to every weight, with padding at the end, in
/// the middle and at the start, for each cell forwards and backwards, returning the last state
/// and a masked sequence; the padding id's embedding gets exactly no gradient.
#[test]
fn masked_recurrent_layers_match_finite_differences() {
    let x = Tensor::from_vec(IDS.to_vec(), &[3, 5]);
    let targets = Targets::Classes(vec![0, 2, 1]);
    let cells = [
        (CellKind::SimpleRnn, false),
        (CellKind::Lstm, false),
        (CellKind::Gru, false),
        (CellKind::Gru, true),
    ];
    for (cell, reset_before) in cells {
        for (sequences, backwards) in [(false, false), (true, false), (false, true), (true, true)] {
            let mut model = masked_net_of(cell, reset_before, sequences, backwards);
            let what = format!(
                "{cell:?} reset_before={reset_before} masked sequences={sequences} backwards={backwards}"
            );
            check_param_gradients(Mode::Train, &mut model, &x, &targets, &what);
            let d_embedding = grad(&model, 0, 0);
            assert!(d_embedding[..3].iter().all(|&g| g == 0.0), "{what}");
            assert!(d_embedding[3..].iter().any(|&g| g != 0.0), "{what}");
        }
    }
}

/// What a padded step holds does not matter: with the padding id's embedding changed, every
/// prediction is the same to the bit; without the mask it changes them.
#[test]
fn padded_steps_change_nothing() {
    let x = Tensor::from_vec(IDS.to_vec(), &[3, 5]);
    for cell in [CellKind::SimpleRnn, CellKind::Lstm, CellKind::Gru] {
        for (sequences, backwards) in [(false, false), (true, true)] {
            let mut model = masked_net(cell, sequences, backwards);
            let before = model.predict(&x, 3).unwrap();
            model.layers_mut()[0].params_mut()[0].value.data_mut()[..3].fill(5.0);
            let after = model.predict(&x, 3).unwrap();
            assert_eq!(before.data(), after.data(), "{cell:?}");
        }
    }
    let mut unmasked = Sequential::new(&[5])
        .add(EmbeddingSpec::new(7, 3))
        .add(RecurrentSpec::lstm(4))
        .build(9)
        .unwrap();
    let before = unmasked.predict(&x, 3).unwrap();
    unmasked.layers_mut()[0].params_mut()[0].value.data_mut()[..3].fill(5.0);
    assert_ne!(before.data(), unmasked.predict(&x, 3).unwrap().data());
}

/// Sets every weight of `model` from Keras' `model.get_weights()` list, layer by layer.
fn set_all(model: &mut Sequential, weights: &serde_json::Value) {
    let mut list = weights.as_array().unwrap().iter();
    for layer in model.layers_mut() {
        for p in layer.params_mut() {
            let shape = p.value.shape().to_vec();
            p.value = Tensor::from_vec(f32s(list.next().unwrap()), &shape);
        }
    }
    assert!(list.next().is_none(), "more Keras weights than parameters");
}

/// Loss, probabilities and every gradient of `model` against a Keras `model_case` of
/// recurrent_keras.json (ids (3, 6), mean sparse cross-entropy, inference mode).
fn assert_matches_keras_case(mut model: Sequential, r: &serde_json::Value, case: &str) {
    set_all(&mut model, &r["weights"]);
    let x = Tensor::from_vec(f32s(&r["ids"]), &[3, 6]);
    let labels: Vec<u32> = nested(&r["labels"]).iter().map(|&v| v as u32).collect();
    let (loss, _) = model
        .compute_gradients(&x, &Targets::Classes(labels), Mode::Infer)
        .unwrap();
    let what = format!("{case} loss");
    assert_close(
        &[loss as f32],
        &[r["loss"].as_f64().unwrap()],
        1e-5,
        1e-6,
        &what,
    );
    let mut grads = r["grads"].as_array().unwrap().iter();
    for layer in model.layers() {
        for p in layer.params() {
            let what = format!("{case} {} {}", layer.name(), p.name);
            let expected = nested(grads.next().unwrap());
            assert_close(p.grad().unwrap().data(), &expected, 1e-4, 1e-6, &what);
        }
    }
    let p = model.predict(&x, 3).unwrap();
    let what = format!("{case} probabilities");
    assert_close(p.data(), &nested(&r["probabilities"]), 1e-5, 1e-6, &what);
}

/// recurrent_keras.json, "mask_pass_through" (Keras 3.15.1, float64): ids (3, 6) padded with
/// 0 → Embedding(7, 4, mask_zero) → Dense(5, tanh) on the sequence → LayerNormalization →
/// Dropout(0.3) → LSTM(4) → Dense(3, softmax): Dense, LayerNormalization and Dropout pass the
/// mask on to the LSTM (Keras' supports_masking), which skips the padded steps; the loss, the
/// probabilities and every gradient agree. Without the mask the LSTM would read the padding.
#[test]
fn mask_passes_through_dense_layer_normalization_and_dropout_as_keras() {
    let r = &reference("recurrent_keras.json")["mask_pass_through"];
    let model = Sequential::new(&[6])
        .add(EmbeddingSpec::new(7, 4).mask_zero(true))
        .add(DenseSpec::new(5).activation(Activation::Tanh))
        .add(LayerNormSpec::default())
        .add(DropoutSpec::new(0.3))
        .add(RecurrentSpec::lstm(4))
        .add(DenseSpec::new(3).activation(Activation::Softmax))
        .build(1)
        .unwrap();
    assert_matches_keras_case(
        compiled(model, Loss::SparseCategoricalCrossentropy),
        r,
        "pass",
    );
}

/// recurrent_keras.json, "bidirectional_masked_sequence" (Keras 3.15.1, float64):
/// Bidirectional(LSTM(3, return_sequences), concat) on x (3, 5, 3) with padding at the end, in
/// the middle and at the start. The backward copy reads the mask reversed with the sequence;
/// the output is 0 at padded steps (Keras sets its copies' zero_output_for_mask); y, dL/dx and
/// the six weights' gradients of L = Σ y ⊙ w agree.
#[test]
fn masked_bidirectional_sequence_matches_keras() {
    let r = &reference("recurrent_keras.json")["bidirectional_masked_sequence"];
    let spec = BidirectionalSpec::new(RecurrentSpec::lstm(3).return_sequences(true));
    let mut model = Sequential::new(&[5, 3]).add(spec).build(1).unwrap();
    set_all(&mut model, &r["weights"]);
    let layer = &mut model.layers_mut()[0];
    let mask = f32s(&r["mask"]);
    assert!(layer.mask_flow(true).unwrap());
    layer.set_input_mask(&mask);
    let x = Tensor::from_vec(f32s(&r["x"]), &[3, 5, 3]);
    let mut y = Tensor::default();
    layer.forward(&x, &mut y, Mode::Train);
    assert_eq!(y.shape(), &[3, 5, 6]);
    assert_close(y.data(), &nested(&r["y"]), 1e-5, 1e-6, "y");
    assert_eq!(layer.output_mask(), &mask[..]);
    let w = Tensor::from_vec(f32s(&r["w"]), &[3, 5, 6]);
    let mut dx = Tensor::default();
    layer.backward(&x, &y, &w, Some(&mut dx));
    assert_close(dx.data(), &nested(&r["dx"]), 1e-4, 1e-6, "dx");
    for (k, expected) in r["grads"].as_array().unwrap().iter().enumerate() {
        let what = format!("gradient {k}");
        let grad = layer.params()[k].grad().unwrap().data();
        assert_close(grad, &nested(expected), 1e-4, 1e-6, &what);
    }
}

/// recurrent_keras.json, "bidirectional_masked" (Keras 3.15.1, float64): ids (3, 6) padded
/// with 0 → Embedding(7, 4, mask_zero) → Bidirectional(LSTM(3, return_sequences), concat) →
/// Bidirectional(GRU(3), sum) → Dense(3, softmax): the loss, the probabilities and every
/// gradient agree.
#[test]
fn masked_bidirectional_network_matches_keras() {
    let r = &reference("recurrent_keras.json")["bidirectional_masked"];
    let model = Sequential::new(&[6])
        .add(EmbeddingSpec::new(7, 4).mask_zero(true))
        .add(BidirectionalSpec::new(
            RecurrentSpec::lstm(3).return_sequences(true),
        ))
        .add(BidirectionalSpec::new(RecurrentSpec::gru(3)).merge_mode(MergeMode::Sum))
        .add(DenseSpec::new(3).activation(Activation::Softmax))
        .build(1)
        .unwrap();
    assert_matches_keras_case(
        compiled(model, Loss::SparseCategoricalCrossentropy),
        r,
        "bi",
    );
}

/// Central differences of every weight of a masked Embedding → Bidirectional(cell, sequences,
/// merge) → Bidirectional(cell) → Dense network, for each cell and merge mode; the padding id's
/// embedding gets exactly no gradient.
#[test]
fn masked_bidirectional_layers_match_finite_differences() {
    let x = Tensor::from_vec(IDS.to_vec(), &[3, 5]);
    let targets = Targets::Classes(vec![0, 2, 1]);
    let big = Initializer::RandomNormal {
        mean: 0.0,
        stddev: 0.6,
    };
    for cell in [CellKind::SimpleRnn, CellKind::Lstm, CellKind::Gru] {
        for mode in [
            MergeMode::Concat,
            MergeMode::Sum,
            MergeMode::Mul,
            MergeMode::Ave,
        ] {
            let inner = |units: usize| {
                RecurrentSpec::new(cell, units)
                    .kernel_initializer(big)
                    .recurrent_initializer(big)
                    .bias_initializer(big)
            };
            let net = Sequential::new(&[5])
                .add(
                    EmbeddingSpec::new(7, 3)
                        .mask_zero(true)
                        .embeddings_initializer(big),
                )
                .add(BidirectionalSpec::new(inner(3).return_sequences(true)).merge_mode(mode))
                .add(BidirectionalSpec::new(inner(2)))
                .add(DenseSpec::new(3).activation(Activation::Softmax))
                .build(9)
                .unwrap();
            let mut model = compiled(net, Loss::SparseCategoricalCrossentropy);
            let what = format!("{cell:?} bidirectional {mode:?} masked");
            check_param_gradients(Mode::Train, &mut model, &x, &targets, &what);
            let d_embedding = grad(&model, 0, 0);
            assert!(d_embedding[..3].iter().all(|&g| g == 0.0), "{what}");
        }
    }
}

/// A mask goes into simple_rnn, lstm, gru and bidirectional and through dense,
/// layer_normalization and dropout; any other layer refuses it when the model is built, in one
/// line naming the layer, and so does a masked model output (the loss would have to be
/// masked). A recurrent layer without return_sequences ends the mask: anything may follow it.
#[test]
fn layers_that_cannot_take_a_mask_refuse_it() {
    let masked = || Sequential::new(&[5]).add(EmbeddingSpec::new(7, 3).mask_zero(true));
    let refused = |model: deeptrain::model::SequentialBuilder, what: &str| {
        let err = model.build(1).err().unwrap().to_string();
        assert!(err.contains(what) && err.lines().count() == 1, "{err}");
    };
    refused(
        masked().add(LayerSpec::flatten()),
        "(Flatten) cannot take the time-step mask",
    );
    refused(
        masked()
            .add(RecurrentSpec::lstm(4).return_sequences(true))
            .add(LayerSpec::flatten()),
        "(Flatten) cannot take the time-step mask",
    );
    refused(
        masked()
            .add(RecurrentSpec::lstm(4).return_sequences(true))
            .add(DenseSpec::new(2)),
        "a masked loss is not supported",
    );
    refused(
        masked().add(RecurrentSpec::gru(4).return_sequences(true)),
        "a masked loss is not supported",
    );
    refused(masked(), "a masked loss is not supported");
    masked()
        .add(RecurrentSpec::lstm(4))
        .add(DenseSpec::new(2))
        .build(1)
        .unwrap();
}
