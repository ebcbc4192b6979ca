//! Regression metrics whose state is more than a mean: RMSE and R².

use crate::losses::Targets;
use crate::tensor::Tensor;

/// R² keeps, per output column: Σw·t, Σw·t², Σw·(t - p)², Σw.
pub(super) fn r2_state_len(units: usize) -> usize {
    4 * units.max(1)
}

fn values<'a>(targets: &'a Targets, what: &str) -> &'a Tensor {
    match targets {
        Targets::Values(t) => t,
        Targets::Classes(_) => panic!("{what} got class targets"),
    }
}

/// Adds Σw(p - t)² over every output and Σw per output to the RMSE state.
pub(super) fn update_rmse(
    state: &mut [f64],
    y_pred: &Tensor,
    targets: &Targets,
    weights: Option<&[f32]>,
) {
    let t = values(targets, "rmse");
    let k = y_pred.row_len().max(1);
    for (j, (&p, &tv)) in y_pred.data().iter().zip(t.data()).enumerate() {
        let w = weights.map_or(1.0, |w| w[j / k] as f64);
        state[0] += w * ((p - tv) as f64).powi(2);
        state[1] += w;
    }
}

/// Adds the batch to the per-column R² sums.
pub(super) fn update_r2(
    state: &mut [f64],
    y_pred: &Tensor,
    targets: &Targets,
    weights: Option<&[f32]>,
) {
    let t = values(targets, "r2");
    let k = y_pred.row_len().max(1);
    for (j, (&p, &tv)) in y_pred.data().iter().zip(t.data()).enumerate() {
        let w = weights.map_or(1.0, |w| w[j / k] as f64);
        let c = 4 * (j % k);
        let tv = tv as f64;
        state[c] += w * tv;
        state[c + 1] += w * tv * tv;
        state[c + 2] += w * (tv - p as f64).powi(2);
        state[c + 3] += w;
    }
}

/// Keras' `R2Score(class_aggregation="uniform_average")`: per column
/// 1 - Σw(t - p)² / (Σw·t² - (Σw·t)²/Σw), then the mean over columns (a column whose targets
/// do not vary scores 0, as Keras replaces the infinite ratio by 0).
pub(super) fn r2_result(state: &[f64]) -> f64 {
    let columns = state.len() / 4;
    let mut total = 0.0;
    for c in state.chunks_exact(4) {
        let (sum, sum_sq, residual, count) = (c[0], c[1], c[2], c[3]);
        let ss_tot = sum_sq - sum * sum / count;
        let r2 = 1.0 - residual / ss_tot;
        total += if r2.is_finite() { r2 } else { 0.0 };
    }
    total / columns.max(1) as f64
}
