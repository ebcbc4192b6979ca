//! Metrics, by Keras' names, summed over samples so that epochs average them exactly.

use serde::{Deserialize, Serialize};

use crate::losses::{Loss, Targets};
use crate::tensor::{argmax, Tensor};

/// A metric. `accuracy` resolves to the variant that fits the loss, as in Keras.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Resolved at compile time to one of the accuracies below.
    Accuracy,
    /// argmax(p) == label.
    SparseCategoricalAccuracy,
    /// argmax(p) == argmax(t).
    CategoricalAccuracy,
    /// (p > 0.5) == t, averaged over outputs.
    BinaryAccuracy,
    /// |p - t|, averaged over outputs.
    #[serde(alias = "mae")]
    MeanAbsoluteError,
}

impl Metric {
    /// The name logged in the history (Keras keeps the name the user wrote for `accuracy`).
    pub fn name(self) -> &'static str {
        match self {
            Metric::Accuracy => "accuracy",
            Metric::SparseCategoricalAccuracy => "sparse_categorical_accuracy",
            Metric::CategoricalAccuracy => "categorical_accuracy",
            Metric::BinaryAccuracy => "binary_accuracy",
            Metric::MeanAbsoluteError => "mae",
        }
    }

    /// The concrete metric computed for `accuracy` under `loss`.
    pub fn resolve(self, loss: Loss) -> Metric {
        match (self, loss) {
            (Metric::Accuracy, Loss::SparseCategoricalCrossentropy) => {
                Metric::SparseCategoricalAccuracy
            }
            (Metric::Accuracy, Loss::BinaryCrossentropy) => Metric::BinaryAccuracy,
            (Metric::Accuracy, _) => Metric::CategoricalAccuracy,
            (m, _) => m,
        }
    }

    /// Whether the metric needs class-index targets.
    pub fn wants_classes(self) -> bool {
        self == Metric::SparseCategoricalAccuracy
    }

    /// The metric summed over the batch's samples (divide by the sample count for the mean).
    /// `self` must be resolved (not `Accuracy`).
    pub fn batch_sum(self, y_pred: &Tensor, targets: &Targets) -> f64 {
        let k = y_pred.row_len();
        match (self, targets) {
            (Metric::SparseCategoricalAccuracy, Targets::Classes(c)) => y_pred
                .argmax_rows()
                .zip(c)
                .filter(|(p, &c)| *p == c as usize)
                .count()
                as f64,
            (Metric::CategoricalAccuracy, Targets::Values(t)) => y_pred
                .argmax_rows()
                .enumerate()
                .filter(|&(i, p)| p == argmax(t.row(i)))
                .count() as f64,
            (Metric::BinaryAccuracy, Targets::Values(t)) => {
                let hits = y_pred
                    .data()
                    .iter()
                    .zip(t.data())
                    .filter(|(&p, &t)| (p > 0.5) == (t > 0.5))
                    .count();
                hits as f64 / k as f64
            }
            (Metric::MeanAbsoluteError, Targets::Values(t)) => {
                y_pred
                    .data()
                    .iter()
                    .zip(t.data())
                    .map(|(&p, &t)| (p - t).abs() as f64)
                    .sum::<f64>()
                    / k as f64
            }
            (metric, _) => panic!("metric {} got targets of the wrong kind", metric.name()),
        }
    }
}
