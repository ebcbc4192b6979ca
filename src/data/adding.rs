//! The adding problem, a synthetic test of long memory (Hochreiter & Schmidhuber 1997, §5.4;
//! the form of Le, Jaitly & Hinton 2015, "A Simple Way to Initialize Recurrent Networks of
//! Rectified Linear Units", §4.1), generated from a fixed seed.
//!
//! Each sample is a sequence of T steps of two features: a value drawn from U[0, 1), and a
//! marker that is 1 at exactly two steps and 0 elsewhere; the target is the sum of the two
//! marked values. One marker is drawn uniformly in the first half of the sequence and one in
//! the second half (the placement in the code of Arjovsky, Shah & Bengio 2016, "Unitary
//! Evolution Recurrent Neural Networks": github.com/amarshah/complex_RNN, adding_problem.py),
//! so that the first marked value must be remembered for at least one step and up to T - 1. Predicting the mean, 1, for every sample has an
//! expected squared error of Var(U₁ + U₂) = 2/12 ≈ 0.167: the baseline a model must beat.
//!
//! The dataset is named `adding-T` (e.g. `adding-100`): 10,000 training and 1,000 test
//! sequences, the same ones on every machine and for every `seed`.

use rand::{Rng as _, SeedableRng};

use super::{Dataset, Splits};
use crate::tensor::Tensor;
use crate::{Error, Result, Rng};

/// Training sequences of `adding-T`.
pub const ADDING_TRAIN: usize = 10_000;
/// Test sequences of `adding-T`.
pub const ADDING_TEST: usize = 1_000;
/// The longest T accepted (the training set then holds 10,000 × T × 2 values).
pub const ADDING_MAX_STEPS: usize = 5_000;

/// The seeds of the training and test sequences (fixed: the dataset is part of its name).
const TRAIN_SEED: u64 = 1997;
const TEST_SEED: u64 = 2015;

/// The sequence length T of a dataset name `adding-T`; `None` for other names, an error for
/// an `adding-` name with a bad T.
pub fn adding_steps(name: &str) -> Result<Option<usize>> {
    let Some(t) = name.strip_prefix("adding-") else {
        return Ok(None);
    };
    match t.parse::<usize>() {
        Ok(t) if (2..=ADDING_MAX_STEPS).contains(&t) => Ok(Some(t)),
        _ => Err(Error::Config(format!(
            "[data] dataset `{name}`: the adding problem takes a sequence length from 2 to {ADDING_MAX_STEPS}, as in `adding-100`"
        ))),
    }
}

/// The adding problem with sequences of `steps` steps: (10,000 training, 1,000 test)
/// sequences of shape (steps, 2), targets of shape (1,).
///
/// ```
/// # fn main() -> deeptrain::Result<()> {
/// let splits = deeptrain::data::adding_problem(100)?;
/// assert_eq!(splits.train.x.shape(), &[10_000, 100, 2]);
/// assert_eq!(splits.test.unwrap().labels.shape(), &[1_000, 1]);
/// # Ok(())
/// # }
/// ```
pub fn adding_problem(steps: usize) -> Result<Splits> {
    if !(2..=ADDING_MAX_STEPS).contains(&steps) {
        return Err(Error::Config(format!(
            "the adding problem takes a sequence length from 2 to {ADDING_MAX_STEPS}, not {steps}"
        )));
    }
    Ok(Splits {
        train: adding_sequences(ADDING_TRAIN, steps, TRAIN_SEED),
        test: Some(adding_sequences(ADDING_TEST, steps, TEST_SEED)),
        class_names: None,
        table: None,
    })
}

/// `n` sequences of `steps` steps drawn from a generator seeded with `seed`.
fn adding_sequences(n: usize, steps: usize, seed: u64) -> Dataset {
    let mut rng = Rng::seed_from_u64(seed);
    let half = steps / 2;
    let mut x = vec![0.0f32; n * steps * 2];
    let mut y = Vec::with_capacity(n);
    for sample in x.chunks_exact_mut(steps * 2) {
        for step in sample.chunks_exact_mut(2) {
            step[0] = rng.random::<f32>();
        }
        let first = rng.random_range(0..half);
        let second = rng.random_range(half..steps);
        sample[first * 2 + 1] = 1.0;
        sample[second * 2 + 1] = 1.0;
        y.push(sample[first * 2] + sample[second * 2]);
    }
    Dataset {
        x: Tensor::from_vec(x, &[n, steps, 2]),
        labels: Tensor::from_vec(y, &[n, 1]),
        weights: None,
        origin: None,
        stream: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_markers_one_per_half_and_the_target_is_their_sum() {
        let d = adding_sequences(200, 10, 7);
        for (i, sample) in d.x.data().chunks_exact(20).enumerate() {
            let marked: Vec<usize> = (0..10).filter(|&t| sample[t * 2 + 1] == 1.0).collect();
            assert_eq!(marked.len(), 2, "sample {i}");
            assert!(marked[0] < 5 && marked[1] >= 5, "sample {i}: {marked:?}");
            assert!(sample.iter().step_by(2).all(|v| (0.0..1.0).contains(v)));
            let sum = sample[marked[0] * 2] + sample[marked[1] * 2];
            assert_eq!(d.labels.data()[i], sum);
        }
    }

    #[test]
    fn predicting_one_scores_the_published_baseline() {
        let s = adding_problem(100).unwrap();
        let y = s.test.unwrap().labels.into_vec();
        let mse = y
            .iter()
            .map(|v| (v - 1.0) as f64 * (v - 1.0) as f64)
            .sum::<f64>()
            / y.len() as f64;
        assert!((mse - 2.0 / 12.0).abs() < 0.015, "{mse}");
        // The same name gives the same sequences.
        assert_eq!(adding_problem(100).unwrap().train, s.train);
    }

    #[test]
    fn names_parse_and_bad_lengths_are_refused() {
        assert_eq!(adding_steps("adding-400").unwrap(), Some(400));
        assert_eq!(adding_steps("digits").unwrap(), None);
        for bad in ["adding-", "adding-1", "adding-x", "adding-999999999"] {
            let e = adding_steps(bad).unwrap_err().to_string();
            assert!(e.contains(bad) && !e.contains('\n'), "{e}");
        }
    }
}
