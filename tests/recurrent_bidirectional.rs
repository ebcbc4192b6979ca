//! The `bidirectional` wrapper: an LSTM (whole sequence, concat) and a GRU (last state, sum)
//! against PyTorch's `bidirectional=True`, finite differences of every cell in every merge
//! mode, the spec's keys, save/load, and a bit-exact resume (masks through the wrapper are in
//! tests/recurrent_mask.rs).

mod common;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use common::{assert_close, check_gradients, f32s, nested, pseudo_random, reference};
use deeptrain::callbacks::{Control, EpochLogs};
use deeptrain::layers::{BidirectionalSpec, CellKind, EmbeddingSpec, MergeMode, RecurrentSpec};
use deeptrain::model::RunMetadata;
use deeptrain::optimizers::{Adam, AdamVariant};
use deeptrain::{
    Activation, Callback, Dataset, DenseSpec, FitOptions, History, Initializer, LayerSpec, Loss,
    Metric, Mode, Scale, Scaler, Sequential, Sgd, Targets, Tensor,
};

const NAMES: [&str; 3] = ["kernel", "recurrent_kernel", "bias"];

/// recurrent.json, "bidirectional_lstm" and "bidirectional_gru" (torch 2.15, float64): y, and
/// for L = Σ y ⊙ w, dL/dx and the forward then backward copy's weight gradients.
#[test]
fn bidirectional_lstm_and_gru_match_torch() {
    for (case, spec, shape) in [
        (
            "bidirectional_lstm",
            BidirectionalSpec::new(RecurrentSpec::lstm(3).return_sequences(true)),
            vec![2, 4, 6],
        ),
        (
            "bidirectional_gru",
            BidirectionalSpec::new(RecurrentSpec::gru(3)).merge_mode(MergeMode::Sum),
            vec![2, 3],
        ),
    ] {
        let r = &reference("recurrent.json")[case];
        let mut model = Sequential::new(&[4, 3]).add(spec).build(1).unwrap();
        let layer = &mut model.layers_mut()[0];
        for (d, direction) in r["weights"].as_array().unwrap().iter().enumerate() {
            for (k, name) in NAMES.iter().enumerate() {
                let p = &mut layer.params_mut()[3 * d + k];
                let shape = p.value.shape().to_vec();
                p.value = Tensor::from_vec(f32s(&direction[name]), &shape);
            }
        }
        let x = Tensor::from_vec(f32s(&r["x"]), &[2, 4, 3]);
        let mut y = Tensor::default();
        layer.forward(&x, &mut y, Mode::Train);
        assert_eq!(y.shape(), &shape[..], "{case}");
        assert_close(y.data(), &nested(&r["y"]), 1e-5, 1e-6, case);
        let w = Tensor::from_vec(f32s(&r["w"]), &shape);
        let mut dx = Tensor::default();
        layer.backward(&x, &y, &w, Some(&mut dx));
        assert_close(dx.data(), &nested(&r["dx"]), 1e-4, 1e-6, case);
        for (d, direction) in r["grads"].as_array().unwrap().iter().enumerate() {
            for (k, name) in NAMES.iter().enumerate() {
                let grad = layer.params()[3 * d + k].grad().unwrap().data();
                let what = format!("{case} direction {d} {name}");
                assert_close(grad, &nested(&direction[name]), 1e-4, 1e-6, &what);
            }
        }
    }
}

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

/// x (3, 4, 3) → bidirectional(cell) (→ flatten after a sequence) → dense softmax.
fn net(cell: CellKind, sequences: bool, mode: MergeMode) -> Sequential {
    let big = Initializer::RandomNormal {
        mean: 0.0,
        stddev: 0.6,
    };
    let inner = RecurrentSpec::new(cell, 3)
        .kernel_initializer(big)
        .recurrent_initializer(big)
        .bias_initializer(big)
        .return_sequences(sequences);
    let mut net = Sequential::new(&[4, 3]).add(BidirectionalSpec::new(inner).merge_mode(mode));
    if sequences {
        net = net.add(LayerSpec::flatten());
    }
    compiled(
        net.add(DenseSpec::new(3).activation(Activation::Softmax))
            .build(9)
            .unwrap(),
    )
}

/// Central differences of the loss with respect to every weight of both copies and every
/// input value, for each cell and merge mode, last state and whole sequence.
#[test]
fn bidirectional_layers_match_finite_differences() {
    let x = pseudo_random(&[3, 4, 3], 5, 1.0);
    let targets = Targets::Classes(vec![0, 2, 1]);
    for cell in [CellKind::SimpleRnn, CellKind::Lstm, CellKind::Gru] {
        for mode in [
            MergeMode::Concat,
            MergeMode::Sum,
            MergeMode::Mul,
            MergeMode::Ave,
        ] {
            for sequences in [false, true] {
                let what = format!("{cell:?} {mode:?} sequences={sequences}");
                check_gradients(
                    Mode::Train,
                    net(cell, sequences, mode),
                    x.clone(),
                    targets.clone(),
                    &what,
                );
            }
        }
    }
}

/// A spec names the wrapped layer as a table with its own type; a bad merge mode or a bad key
/// of the wrapped layer is refused by name. Saved and loaded, the model predicts the same.
#[test]
fn bidirectional_spec_reads_saves_and_loads() {
    let text = "type = \"bidirectional\"\nmerge_mode = \"ave\"\nlayer = { type = \"gru\", units = 4, return_sequences = true }";
    let table: toml::Table = text.parse().unwrap();
    let spec = deeptrain::layers::layer_spec_from_table(table).unwrap();
    let mut model = compiled(
        Sequential::new(&[5, 2])
            .add(spec)
            .add(LayerSpec::flatten())
            .add(DenseSpec::new(3).activation(Activation::Softmax))
            .build(3)
            .unwrap(),
    );
    assert_eq!(model.layers()[0].params().len(), 6);
    let x = pseudo_random(&[2, 5, 2], 7, 1.0);
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
    let saved = std::fs::read_to_string(dir.path().join("model.toml")).unwrap();
    assert!(saved.contains("type = \"bidirectional\"") && saved.contains("merge_mode = \"ave\""));
    for (text, key) in [
        (
            "type = \"bidirectional\"\nmerge_mode = \"max\"\nlayer = { type = \"gru\", units = 4 }",
            "max",
        ),
        (
            "type = \"bidirectional\"\nlayer = { type = \"gru\", units = 4, unitz = 2 }",
            "unitz",
        ),
        (
            "type = \"bidirectional\"\nlayer = { type = \"dense\", units = 4 }",
            "dense",
        ),
        (
            "type = \"bidirectional\"\nlayer = { type = \"lstm\", units = 0 }",
            "units",
        ),
    ] {
        let table: toml::Table = text.parse().unwrap();
        let err = match deeptrain::layers::layer_spec_from_table(table) {
            Err(e) => e.to_string(),
            Ok(spec) => Sequential::new(&[5, 2])
                .add(spec)
                .build(1)
                .err()
                .unwrap()
                .to_string(),
        };
        assert!(err.contains(key), "{err}");
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

/// Masked ids → Bidirectional(LSTM with dropout and recurrent dropout, sequences) →
/// Bidirectional(GRU with reset_after = false, ave) → Dense(3, softmax), Adam.
fn bidirectional_model(seed: u64) -> Sequential {
    let mut model = Sequential::new(&[6])
        .add(EmbeddingSpec::new(10, 4).mask_zero(true))
        .add(BidirectionalSpec::new(
            RecurrentSpec::lstm(5)
                .return_sequences(true)
                .dropout(0.2)
                .recurrent_dropout(0.2),
        ))
        .add(
            BidirectionalSpec::new(RecurrentSpec::gru(4).reset_after(false).dropout(0.1))
                .merge_mode(MergeMode::Ave),
        )
        .add(DenseSpec::new(3).activation(Activation::Softmax))
        .build(seed)
        .unwrap();
    model
        .compile(
            Box::new(Adam::new(AdamVariant::Adam, 0.01, 0.9, 0.999, 1e-7, false).unwrap()),
            Loss::SparseCategoricalCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap();
    model
}

/// Four epochs straight, or two then a resume from the checkpoint, give the same weight and
/// optimizer bytes and the same history: both copies' dropout streams (seeded from the
/// wrapper's) are saved and restored, with a mask and a GRU of reset_after = false inside.
#[test]
fn bidirectional_model_resumes_bit_exactly() {
    let n = 40;
    let ids: Vec<f32> = (0..n * 6)
        .map(|i| {
            if (i % 6) >= 4 + (i / 6) % 3 {
                0.0
            } else {
                ((i * 7 + i / 3) % 9 + 1) as f32
            }
        })
        .collect();
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
    let mut straight = bidirectional_model(12);
    let full = straight.fit(&data, None, &options(4, 0), &mut []).unwrap();

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
    let mut first = bidirectional_model(12);
    first
        .fit(&data, None, &options(2, 0), &mut [&mut writer])
        .unwrap();
    drop(first);
    let (mut resumed, _, _, prior) = Sequential::load_checkpoint(&checkpoint).unwrap();
    let rest = resumed
        .fit(&data, None, &options(4, prior.epochs.len()), &mut [])
        .unwrap();
    let mut history = prior;
    history.epochs.extend(rest.epochs);
    assert!(
        bytes(&resumed) == bytes(&straight),
        "weights or optimizer differ"
    );
    assert_eq!(values(&history), values(&full));
    assert_eq!(full.epochs.len(), 4);
    // The run trained: the loss moved.
    let loss = |e: usize| {
        let values = &full.epochs[e].values;
        values.iter().find(|(k, _)| k == "loss").unwrap().1
    };
    assert_ne!(loss(0), loss(3));
}
