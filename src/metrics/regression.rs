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

/// Relative size below which Σw·t² - (Σw·t)²/Σw is rounding, not spread: the targets are
/// constant (the one-pass sums cancel; f64 sums of f32 values err by about n·1e-16 of Σw·t²).
const CONSTANT_TARGETS: f64 = 1e-9;

/// R² as scikit-learn's `r2_score(multioutput="uniform_average")` (and Keras' `R2Score`):
/// per column 1 - Σw(t - p)² / (Σw·t² - (Σw·t)²/Σw), then the mean over columns. A column
/// whose targets do not vary follows scikit-learn's `force_finite` convention: 1 when the
/// predictions are exact, else 0 (never the huge ratio that rounding in the denominator gives).
pub(super) fn r2_result(state: &[f64]) -> f64 {
    let columns = state.len() / 4;
    let mut total = 0.0;
    for c in state.chunks_exact(4) {
        let (sum, sum_sq, residual, count) = (c[0], c[1], c[2], c[3]);
        let ss_tot = sum_sq - sum * sum / count;
        let r2 = if ss_tot <= CONSTANT_TARGETS * sum_sq || !ss_tot.is_finite() {
            if residual == 0.0 {
                1.0
            } else {
                0.0
            }
        } else {
            1.0 - residual / ss_tot
        };
        total += if r2.is_finite() { r2 } else { 0.0 };
    }
    total / columns.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// scikit-learn 1.x: r2_score([3.3] * 4, [3.3, 3.3, 3.3, 3.4]) == 0.0 and
    /// r2_score([3.3] * 4, [3.3] * 4) == 1.0 (force_finite); constant targets in f32 whose
    /// one-pass sums leave a rounding residue must not give a huge score.
    #[test]
    fn constant_targets_follow_scikit_learn() {
        let r2 = |t: &[f32], p: &[f32]| {
            let mut state = vec![0.0; r2_state_len(1)];
            let n = t.len();
            update_r2(
                &mut state,
                &Tensor::from_vec(p.to_vec(), &[n, 1]),
                &Targets::Values(Tensor::from_vec(t.to_vec(), &[n, 1])),
                None,
            );
            r2_result(&state)
        };
        let t = [3.3f32; 1000];
        let mut p = t;
        assert_eq!(r2(&t, &p), 1.0);
        p[999] = 3.4;
        assert_eq!(r2(&t, &p), 0.0);
        // Varying targets: 1 - 0.5 / 2 (Σ(t - mean)² = 2 for 1, 2, 3; residual 0.5).
        let v = r2(&[1.0, 2.0, 3.0], &[1.5, 2.0, 2.5]);
        assert!((v - 0.75).abs() < 1e-12, "{v}");
    }
}
