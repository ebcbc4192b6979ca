//! [`Chance`]: what a constant predictor scores on the training targets, the yardstick of a
//! model that has not started to learn. Predicting the class frequencies p_k gives
//! cross-entropy H(p) = -Σ p_k ln p_k and accuracy max_k p_k; predicting each output's mean
//! gives mean squared error equal to the targets' variance; its median gives mean absolute
//! error equal to the mean absolute deviation from the median.

use crate::losses::{Loss, Targets};

/// The constant predictor's loss and accuracy.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Chance {
    /// The loss of predicting the targets' frequencies (or mean, or median), when the loss
    /// has such a constant optimum.
    pub loss: Option<f64>,
    /// The majority class's share (for binary outputs, the mean over outputs), for classifiers.
    pub accuracy: Option<f64>,
}

fn entropy(p: &[f64]) -> f64 {
    -p.iter()
        .filter(|&&v| v > 0.0)
        .map(|&v| v * v.ln())
        .sum::<f64>()
}

/// Each column's values of the (N, K) targets.
fn columns(t: &crate::tensor::Tensor) -> Vec<Vec<f64>> {
    let k = t.row_len().max(1);
    (0..k)
        .map(|j| {
            t.data()
                .iter()
                .skip(j)
                .step_by(k)
                .map(|&v| v as f64)
                .collect()
        })
        .collect()
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

impl Chance {
    /// The constant predictor of `loss` on `targets`.
    pub fn of(loss: Loss, targets: &Targets) -> Chance {
        match (loss, targets) {
            (Loss::SparseCategoricalCrossentropy, Targets::Classes(classes)) => {
                let k = classes.iter().max().map_or(0, |&c| c as usize + 1);
                let mut counts = vec![0.0; k];
                classes.iter().for_each(|&c| counts[c as usize] += 1.0);
                let p: Vec<f64> = counts
                    .iter()
                    .map(|c| c / classes.len().max(1) as f64)
                    .collect();
                Chance {
                    loss: Some(entropy(&p)),
                    accuracy: p.iter().copied().reduce(f64::max),
                }
            }
            (Loss::CategoricalCrossentropy, Targets::Values(t)) => {
                let p: Vec<f64> = columns(t).iter().map(|c| mean(c)).collect();
                Chance {
                    loss: Some(entropy(&p)),
                    accuracy: p.iter().copied().reduce(f64::max),
                }
            }
            (Loss::BinaryCrossentropy, Targets::Values(t)) => {
                let p: Vec<f64> = columns(t).iter().map(|c| mean(c)).collect();
                Chance {
                    loss: Some(mean(
                        &p.iter()
                            .map(|&q| entropy(&[q, 1.0 - q]))
                            .collect::<Vec<_>>(),
                    )),
                    accuracy: Some(mean(&p.iter().map(|&q| q.max(1.0 - q)).collect::<Vec<_>>())),
                }
            }
            (Loss::MeanSquaredError, Targets::Values(t)) => {
                let variances: Vec<f64> = columns(t)
                    .iter()
                    .map(|c| {
                        let m = mean(c);
                        mean(&c.iter().map(|v| (v - m).powi(2)).collect::<Vec<_>>())
                    })
                    .collect();
                Chance {
                    loss: Some(mean(&variances)),
                    accuracy: None,
                }
            }
            (Loss::MeanAbsoluteError, Targets::Values(t)) => {
                let deviations: Vec<f64> = columns(t)
                    .into_iter()
                    .map(|mut c| {
                        c.sort_by(f64::total_cmp);
                        let median = c.get(c.len() / 2).copied().unwrap_or(0.0);
                        mean(&c.iter().map(|v| (v - median).abs()).collect::<Vec<_>>())
                    })
                    .collect();
                Chance {
                    loss: Some(mean(&deviations)),
                    accuracy: None,
                }
            }
            _ => Chance::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::Tensor;

    #[test]
    fn constant_predictors() {
        let c = Chance::of(
            Loss::SparseCategoricalCrossentropy,
            &Targets::Classes(vec![0, 1, 2, 3]),
        );
        assert!((c.loss.unwrap() - 4f64.ln()).abs() < 1e-12);
        assert_eq!(c.accuracy, Some(0.25));
        let t = Tensor::from_vec(vec![1.0, 1.0, 0.0, 0.0], &[4, 1]);
        let c = Chance::of(Loss::BinaryCrossentropy, &Targets::Values(t.clone()));
        assert!((c.loss.unwrap() - 2f64.ln()).abs() < 1e-12);
        assert_eq!(c.accuracy, Some(0.5));
        let c = Chance::of(Loss::MeanSquaredError, &Targets::Values(t));
        assert_eq!(c.loss, Some(0.25));
        assert_eq!(
            Chance::of(Loss::Hinge, &Targets::Classes(vec![])),
            Chance::default()
        );
    }
}
