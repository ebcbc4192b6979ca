//! Metrics, by Keras' names. Each metric keeps a small state of sums (a fixed number of f64
//! slots, allocated once before training) that batches add to, and its value is computed from
//! the state, so an epoch's value is exact over all its samples, as Keras' stateful metrics.
//!
//! With sample weights, every sum is weighted: Keras' `weighted_metrics`. The metrics under
//! `metrics` ignore the weights, as in Keras 3.

mod confusion;
mod custom;
pub mod per_class;
mod regression;

use serde::{Deserialize, Serialize};

use crate::losses::{Loss, Targets};
use crate::tensor::{argmax, Tensor};

pub use confusion::{auc_threshold, AUC_THRESHOLDS};
pub use custom::{register_metric, CustomMetric, CustomMetricId};

/// A metric. `accuracy` resolves to the variant that fits the loss, as in Keras. In a spec,
/// a name (`"precision"`, or Keras' class name `"Precision"`), or a table for a parameter:
/// `{ name = "top_k_accuracy", k = 3 }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "MetricRepr", into = "MetricRepr")]
///
/// ```
/// # fn main() -> deeptrain::Result<()> {
/// use deeptrain::Metric;
/// #[derive(serde::Deserialize)]
/// struct Spec { metrics: Vec<Metric> }
/// let spec: Spec = toml::from_str("metrics = [\"accuracy\", \"Precision\"]").expect("metrics");
/// assert_eq!(spec.metrics[0], Metric::Accuracy);
/// # Ok(())
/// # }
/// ```
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
    MeanAbsoluteError,
    /// (p - t)², averaged over outputs.
    MeanSquaredError,
    /// √(Σ (p - t)² / count), over every output of every sample (Keras'
    /// `RootMeanSquaredError`).
    RootMeanSquaredError,
    /// The coefficient of determination per output, 1 - Σ(t - p)² / Σ(t - t̄)², averaged
    /// uniformly over outputs (Keras' `R2Score`, scikit-learn's `r2_score`).
    R2Score,
    /// TP / (TP + FP), with p > 0.5 positive, over every output (Keras' `Precision`; class
    /// labels count as one-hot rows).
    Precision,
    /// TP / (TP + FN), as [`Metric::Precision`] (Keras' `Recall`).
    Recall,
    /// 2TP / (2TP + FP + FN), the harmonic mean of precision and recall above (Keras'
    /// `F1Score(average="micro", threshold=0.5)`).
    F1Score,
    /// Area under the ROC curve, Keras' `AUC()`: 200 thresholds, trapezoids (see
    /// [`auc_threshold`]).
    Auc,
    /// The label is among the k highest outputs (ties count for the label, as TensorFlow's
    /// `in_top_k`); Keras' `TopKCategoricalAccuracy`, k = 5 by default.
    TopKAccuracy {
        /// How many of the highest outputs count.
        k: u32,
    },
    /// A metric registered by user code ([`register_metric`]), written in a spec by its name.
    Custom(CustomMetricId),
}

/// Every metric id accepted in a spec: snake_case ids, Keras' aliases and class names.
const METRIC_NAMES: &[(&str, Metric)] = &[
    ("accuracy", Metric::Accuracy),
    ("acc", Metric::Accuracy),
    ("Accuracy", Metric::Accuracy),
    (
        "sparse_categorical_accuracy",
        Metric::SparseCategoricalAccuracy,
    ),
    (
        "SparseCategoricalAccuracy",
        Metric::SparseCategoricalAccuracy,
    ),
    ("categorical_accuracy", Metric::CategoricalAccuracy),
    ("CategoricalAccuracy", Metric::CategoricalAccuracy),
    ("binary_accuracy", Metric::BinaryAccuracy),
    ("BinaryAccuracy", Metric::BinaryAccuracy),
    ("mean_absolute_error", Metric::MeanAbsoluteError),
    ("mae", Metric::MeanAbsoluteError),
    ("MeanAbsoluteError", Metric::MeanAbsoluteError),
    ("mean_squared_error", Metric::MeanSquaredError),
    ("mse", Metric::MeanSquaredError),
    ("MeanSquaredError", Metric::MeanSquaredError),
    ("root_mean_squared_error", Metric::RootMeanSquaredError),
    ("rmse", Metric::RootMeanSquaredError),
    ("RootMeanSquaredError", Metric::RootMeanSquaredError),
    ("r2", Metric::R2Score),
    ("r2_score", Metric::R2Score),
    ("R2Score", Metric::R2Score),
    ("precision", Metric::Precision),
    ("Precision", Metric::Precision),
    ("recall", Metric::Recall),
    ("Recall", Metric::Recall),
    ("f1", Metric::F1Score),
    ("f1_score", Metric::F1Score),
    ("F1Score", Metric::F1Score),
    ("auc", Metric::Auc),
    ("AUC", Metric::Auc),
    ("top_k_accuracy", Metric::TopKAccuracy { k: 5 }),
    ("top_k_categorical_accuracy", Metric::TopKAccuracy { k: 5 }),
    (
        "sparse_top_k_categorical_accuracy",
        Metric::TopKAccuracy { k: 5 },
    ),
    ("TopKCategoricalAccuracy", Metric::TopKAccuracy { k: 5 }),
    (
        "SparseTopKCategoricalAccuracy",
        Metric::TopKAccuracy { k: 5 },
    ),
];

/// How a metric is written in a spec: a name, or a table with its parameter.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
enum MetricRepr {
    Name(String),
    Table {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        k: Option<u32>,
    },
}

/// The keys of a metric written as a table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricTable {
    name: String,
    #[serde(default)]
    k: Option<i64>,
}

impl<'de> Deserialize<'de> for MetricRepr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        match crate::forms::NameOrTable::deserialize(
            d,
            "a metric: a name (\"accuracy\") or a table { name = \"top_k_accuracy\", k = 3 }",
        )? {
            crate::forms::NameOrTable::Name(name) => Ok(MetricRepr::Name(name)),
            crate::forms::NameOrTable::Table(table) => {
                let t: MetricTable = crate::forms::table(table, "a metric table { name, k }")?;
                let k = match t.k {
                    Some(k) => {
                        Some(u32::try_from(k).ok().filter(|&k| k >= 1).ok_or_else(|| {
                            D::Error::custom(format!(
                                "metric `{}`: `k` must be a whole number >= 1, got {k}",
                                t.name
                            ))
                        })?)
                    }
                    None => None,
                };
                Ok(MetricRepr::Table { name: t.name, k })
            }
        }
    }
}

impl TryFrom<MetricRepr> for Metric {
    type Error = String;
    fn try_from(repr: MetricRepr) -> Result<Self, String> {
        let (name, k) = match repr {
            MetricRepr::Name(n) => (n, None),
            MetricRepr::Table { name, k } => (name, k),
        };
        let metric = Metric::from_name(&name).ok_or_else(|| {
            let ids: Vec<&str> = METRIC_NAMES
                .iter()
                .map(|(n, _)| *n)
                .filter(|n| n.starts_with(char::is_lowercase))
                .collect();
            format!(
                "unknown metric `{name}`; expected one of {} (or Keras' class names)",
                ids.join(", ")
            )
        })?;
        match (metric, k) {
            (Metric::TopKAccuracy { .. }, Some(k)) if k >= 1 => Ok(Metric::TopKAccuracy { k }),
            (Metric::TopKAccuracy { .. }, Some(_)) => Err("top_k_accuracy needs k >= 1".into()),
            (_, Some(_)) => Err(format!("metric `{name}` takes no `k`")),
            (m, None) => Ok(m),
        }
    }
}

impl From<Metric> for MetricRepr {
    fn from(m: Metric) -> Self {
        match m {
            Metric::TopKAccuracy { k } if k != 5 => MetricRepr::Table {
                name: "top_k_accuracy".into(),
                k: Some(k),
            },
            other => MetricRepr::Name(other.name().into()),
        }
    }
}

/// Σ of row weights (or the row count).
fn weight_sum(rows: usize, weights: Option<&[f32]>) -> f64 {
    match weights {
        Some(w) => w[..rows].iter().map(|&v| v as f64).sum(),
        None => rows as f64,
    }
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
            Metric::MeanSquaredError => "mse",
            Metric::RootMeanSquaredError => "rmse",
            Metric::R2Score => "r2",
            Metric::Precision => "precision",
            Metric::Recall => "recall",
            Metric::F1Score => "f1",
            Metric::Auc => "auc",
            Metric::TopKAccuracy { .. } => "top_k_accuracy",
            Metric::Custom(id) => custom::name(id),
        }
    }

    /// The metric a spec id names (`"auc"`, `"AUC"`, ...), with default parameters, or the
    /// registered metric of that name.
    pub fn from_name(name: &str) -> Option<Metric> {
        builtin_metric(name).or_else(|| custom::find(name))
    }

    /// The concrete metric computed for `accuracy` under `loss`.
    pub fn resolve(self, loss: Loss) -> Metric {
        match (self, loss) {
            (Metric::Accuracy, Loss::SparseCategoricalCrossentropy) => {
                Metric::SparseCategoricalAccuracy
            }
            (Metric::Accuracy, Loss::BinaryCrossentropy | Loss::Hinge) => Metric::BinaryAccuracy,
            (Metric::Accuracy, _) => Metric::CategoricalAccuracy,
            (m, _) => m,
        }
    }

    /// Whether the metric needs class-index targets.
    pub fn wants_classes(self) -> bool {
        self == Metric::SparseCategoricalAccuracy
    }

    /// Whether the (resolved) metric can be computed against `loss`'s targets.
    pub fn accepts(self, loss: Loss) -> bool {
        match self {
            Metric::Precision
            | Metric::Recall
            | Metric::F1Score
            | Metric::Auc
            | Metric::TopKAccuracy { .. }
            | Metric::Custom(_) => true,
            m => m.wants_classes() == loss.wants_classes(),
        }
    }

    /// The number of f64 slots of state for a model with `units` outputs.
    pub fn state_len(self, units: usize) -> usize {
        match self {
            Metric::R2Score => regression::r2_state_len(units),
            Metric::Precision | Metric::Recall | Metric::F1Score => 3,
            Metric::Auc => confusion::AUC_STATE_LEN,
            _ => 2,
        }
    }

    /// Adds a batch to the state (`state_len` slots, zeroed at the start of an epoch).
    /// `weights`, when given, weigh each sample (row). `self` must be resolved.
    pub fn update(
        self,
        state: &mut [f64],
        y_pred: &Tensor,
        targets: &Targets,
        weights: Option<&[f32]>,
    ) {
        let rows = y_pred.rows();
        match self {
            Metric::Precision | Metric::Recall | Metric::F1Score => {
                confusion::update_counts(state, y_pred, targets, weights)
            }
            Metric::Auc => confusion::update_auc(state, y_pred, targets, weights),
            Metric::R2Score => regression::update_r2(state, y_pred, targets, weights),
            Metric::RootMeanSquaredError => {
                regression::update_rmse(state, y_pred, targets, weights)
            }
            _ => {
                state[0] += match weights {
                    None => self.batch_sum(y_pred, targets),
                    Some(w) => (0..rows)
                        .map(|i| w[i] as f64 * self.row_value(y_pred, targets, i))
                        .sum(),
                };
                state[1] += weight_sum(rows, weights);
            }
        }
    }

    /// The metric's value from its state.
    pub fn result(self, state: &[f64]) -> f64 {
        match self {
            Metric::Precision | Metric::Recall | Metric::F1Score => {
                confusion::counts_result(self, state)
            }
            Metric::Auc => confusion::auc_result(state),
            Metric::R2Score => regression::r2_result(state),
            Metric::RootMeanSquaredError => (state[0] / state[1]).sqrt(),
            _ => state[0] / state[1],
        }
    }

    /// For the metrics that are a mean over samples: the value of sample `i`.
    fn row_value(self, y_pred: &Tensor, targets: &Targets, i: usize) -> f64 {
        let p = y_pred.row(i);
        let k = p.len() as f64;
        match (self, targets) {
            (Metric::SparseCategoricalAccuracy, Targets::Classes(c)) => {
                f64::from(u8::from(argmax(p) == c[i] as usize))
            }
            (Metric::CategoricalAccuracy, Targets::Values(t)) => {
                f64::from(u8::from(argmax(p) == argmax(t.row(i))))
            }
            (Metric::BinaryAccuracy, Targets::Values(t)) => {
                p.iter()
                    .zip(t.row(i))
                    .filter(|(&p, &t)| (p > 0.5) == (t > 0.5))
                    .count() as f64
                    / k
            }
            (Metric::MeanAbsoluteError, Targets::Values(t)) => {
                p.iter()
                    .zip(t.row(i))
                    .map(|(&p, &t)| (p - t).abs() as f64)
                    .sum::<f64>()
                    / k
            }
            (Metric::MeanSquaredError, Targets::Values(t)) => {
                p.iter()
                    .zip(t.row(i))
                    .map(|(&p, &t)| ((p - t) as f64).powi(2))
                    .sum::<f64>()
                    / k
            }
            (Metric::TopKAccuracy { k }, _) => {
                let label = match targets {
                    Targets::Classes(c) => c[i] as usize,
                    Targets::Values(t) => argmax(t.row(i)),
                };
                let target = p[label.min(p.len() - 1)];
                let above = p.iter().filter(|&&v| v > target).count();
                f64::from(u8::from(above < k as usize))
            }
            (Metric::Custom(id), Targets::Values(t)) => custom::sample(id, p, t.row(i)),
            (Metric::Custom(id), Targets::Classes(c)) => custom::sample(id, p, &[c[i] as f32]),
            (metric, _) => panic!("metric {} got targets of the wrong kind", metric.name()),
        }
    }

    /// For the metrics that are a mean over samples: their unweighted sum over the batch
    /// (divide by the sample count for the mean).
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
            (metric, targets) => (0..y_pred.rows())
                .map(|i| metric.row_value(y_pred, targets, i))
                .sum(),
        }
    }
}

/// The built-in metric a spec id names.
fn builtin_metric(name: &str) -> Option<Metric> {
    METRIC_NAMES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, m)| m)
}

/// Per-metric states laid out one after another in one buffer.
pub fn state_len(metrics: &[Metric], units: usize) -> usize {
    metrics.iter().map(|m| m.state_len(units)).sum()
}
