//! The recurrent layers' step on one thread and on two give the same bits. On two threads a
//! batch of 40 sequences through 64 units is large enough that each thread takes its rows
//! through the step's recurrent product and the cell in one job (`layers/recurrent_rows.rs`);
//! on one thread the step runs whole. Every cell, with padded steps (an embedding with
//! `mask_zero`), dropout and recurrent dropout, returning sequences and the last state, read
//! forwards and backwards: three SGD steps give the same weights, loss and predictions.

use deeptrain::layers::{CellKind, EmbeddingSpec, RecurrentSpec};
use deeptrain::{Activation, DenseSpec, Loss, Metric, Sequential, Sgd, Targets, Tensor};

const BATCH: usize = 40;
const STEPS: usize = 6;

fn net(cell: CellKind, reset_before: bool, sequences: bool, backwards: bool) -> Sequential {
    let layer = |units: usize| {
        let spec = RecurrentSpec::new(cell, units)
            .dropout(0.2)
            .recurrent_dropout(0.3);
        if reset_before {
            spec.reset_after(false)
        } else {
            spec
        }
    };
    let mut net = Sequential::new(&[STEPS])
        .add(EmbeddingSpec::new(9, 5).mask_zero(true))
        .add(
            layer(64)
                .return_sequences(sequences)
                .go_backwards(backwards),
        );
    if sequences {
        net = net.add(layer(48).go_backwards(!backwards));
    }
    let mut net = net
        .add(DenseSpec::new(3).activation(Activation::Softmax))
        .build(5)
        .unwrap();
    net.compile(
        Box::new(Sgd::new(0.5).unwrap()),
        Loss::SparseCategoricalCrossentropy,
        &[Metric::Accuracy],
    )
    .unwrap();
    net
}

/// Ids 1..=8 with padding (0) at the end, the start or in the middle of some rows.
fn ids() -> Tensor {
    let values = (0..BATCH * STEPS)
        .map(|i| {
            let (row, t) = (i / STEPS, i % STEPS);
            let padded = match row % 4 {
                1 => t >= STEPS - 2,
                2 => t < 3,
                3 => t == 2,
                _ => false,
            };
            if padded {
                0.0
            } else {
                (1 + (i * 7 + row) % 8) as f32
            }
        })
        .collect();
    Tensor::from_vec(values, &[BATCH, STEPS])
}

/// Weights after three steps, the losses, and the predictions, all as bits.
fn trained(threads: usize, cell: CellKind, reset_before: bool, flags: (bool, bool)) -> Vec<u32> {
    deeptrain::linalg::set_num_threads(threads);
    let mut model = net(cell, reset_before, flags.0, flags.1);
    let (x, targets) = (
        ids(),
        Targets::Classes((0..BATCH as u32).map(|i| i % 3).collect()),
    );
    let mut bits = Vec::new();
    for _ in 0..3 {
        let mut sums = [0.0];
        let loss = model.train_step(&x, &targets, &mut sums).unwrap();
        let loss = loss.to_bits();
        bits.extend([loss as u32, (loss >> 32) as u32]);
    }
    for layer in model.layers() {
        for p in layer.params() {
            bits.extend(p.value.data().iter().map(|v| v.to_bits()));
        }
    }
    let predictions = model.predict(&x, BATCH).unwrap();
    bits.extend(predictions.data().iter().map(|v| v.to_bits()));
    bits
}

#[test]
fn one_thread_and_two_give_the_same_bits() {
    let cells = [
        (CellKind::SimpleRnn, false),
        (CellKind::Lstm, false),
        (CellKind::Gru, false),
        (CellKind::Gru, true),
    ];
    for (cell, reset_before) in cells {
        for flags in [(false, false), (true, false), (false, true), (true, true)] {
            let one = trained(1, cell, reset_before, flags);
            let two = trained(2, cell, reset_before, flags);
            let differ = one.iter().zip(&two).filter(|(a, b)| a != b).count();
            assert_eq!(
                differ,
                0,
                "{cell:?} reset_before={reset_before} (sequences, backwards)={flags:?}: \
                 {differ} of {} values differ",
                one.len()
            );
        }
    }
    deeptrain::linalg::set_num_threads(0);
}
