//! The recurrent layers split each step's cell work (gates, states, and their gradients) by
//! batch rows between the pool's threads: the output, the loss and every gradient are the same
//! bits on one thread and on two. Sizes are chosen so that every cell splits (batch × G·U at
//! least 2048 values per step, with an odd number of rows per part).

use deeptrain::layers::RecurrentSpec;
use deeptrain::linalg::set_num_threads;
use deeptrain::{Activation, DenseSpec, LayerSpec, Loss, Mode, Sequential, Sgd, Targets, Tensor};

/// (loss, dL/dx, every parameter gradient, the prediction) for one batch on `threads` threads.
fn run(layers: &[LayerSpec], threads: usize) -> (f64, Vec<f32>, Vec<Vec<f32>>, Vec<f32>) {
    set_num_threads(threads);
    let (batch, steps, features) = (70, 6, 5);
    let mut model = layers
        .iter()
        .fold(Sequential::new(&[steps, features]), |m, l| m.add(l.clone()))
        .add(DenseSpec::new(4).activation(Activation::Softmax))
        .build(7)
        .unwrap();
    model
        .compile(
            Box::new(Sgd::new(0.1).unwrap()),
            Loss::SparseCategoricalCrossentropy,
            &[],
        )
        .unwrap();
    let x: Vec<f32> = (0..batch * steps * features)
        .map(|v| ((v * 37 % 101) as f32 - 50.0) * 0.03)
        .collect();
    let x = Tensor::from_vec(x, &[batch, steps, features]);
    let targets = Targets::Classes((0..batch as u32).map(|b| b % 4).collect());
    let (loss, dx) = model.compute_gradients(&x, &targets, Mode::Train).unwrap();
    let grads = model
        .layers()
        .iter()
        .flat_map(|l| l.params().iter())
        .map(|p| p.grad().expect("a stored gradient").data().to_vec())
        .collect();
    let prediction = model.predict(&x, batch).unwrap().data().to_vec();
    (loss, dx.data().to_vec(), grads, prediction)
}

#[test]
fn recurrent_cells_give_the_same_bits_on_one_and_two_threads() {
    let sequences = RecurrentSpec::lstm(64)
        .return_sequences(true)
        .go_backwards(true)
        .dropout(0.2)
        .recurrent_dropout(0.2);
    let stacks: [(&str, Vec<LayerSpec>); 4] = [
        ("lstm", vec![RecurrentSpec::lstm(64).into()]),
        (
            "lstm (sequences, dropout, backwards) -> gru",
            vec![sequences.into(), RecurrentSpec::gru(64).into()],
        ),
        ("gru", vec![RecurrentSpec::gru(64).into()]),
        ("simple_rnn", vec![RecurrentSpec::simple_rnn(64).into()]),
    ];
    for (what, layers) in stacks {
        let one = run(&layers, 1);
        let two = run(&layers, 2);
        assert!(
            one.0.is_finite() && one.1.iter().any(|&v| v != 0.0),
            "{what}"
        );
        assert_eq!(one.0.to_bits(), two.0.to_bits(), "{what}: loss");
        for (name, a, b) in [("dx", &one.1, &two.1), ("prediction", &one.3, &two.3)] {
            let same = a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
            assert!(same && a.len() == b.len(), "{what}: {name}");
        }
        for (i, (a, b)) in one.2.iter().zip(&two.2).enumerate() {
            let same = a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
            assert!(same, "{what}: gradient of parameter {i}");
        }
    }
    set_num_threads(0);
}
