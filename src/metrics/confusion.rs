//! Metrics built on confusion counts: precision, recall, F1 and ROC AUC, with Keras' rules.
//!
//! Every output of every sample is one binary decision, as Keras flattens `y_true` and `y_pred`
//! (`multi_label=False`); a label is positive when nonzero (Keras casts it to bool). Class-index
//! targets count as one-hot rows (what Keras computes given `one_hot(labels)`).

use crate::losses::Targets;
use crate::tensor::Tensor;

use super::Metric;

/// Keras' default number of AUC thresholds.
pub const AUC_THRESHOLDS: usize = 200;

/// Slots of the AUC state: per bucket (0..=200, how many thresholds lie below the prediction),
/// the weight of positives, then of negatives.
pub(super) const AUC_STATE_LEN: usize = 2 * (AUC_THRESHOLDS + 1);

/// Threshold `j` of Keras' `AUC(num_thresholds=200)`: -ε, then i/199 for i = 1..198, then 1 + ε
/// (ε = 1e-7), in float32; a prediction p counts as positive at threshold j when p > t_j.
pub fn auc_threshold(j: usize) -> f32 {
    match j {
        0 => -1e-7,
        j if j >= AUC_THRESHOLDS - 1 => 1.0 + 1e-7,
        j => (j as f64 / (AUC_THRESHOLDS - 1) as f64) as f32,
    }
}

/// Calls `f(i, prediction, positive)` for every output of every sample.
fn for_each_decision(y_pred: &Tensor, targets: &Targets, mut f: impl FnMut(usize, f32, bool)) {
    let k = y_pred.row_len();
    for (j, &p) in y_pred.data().iter().enumerate() {
        let i = j / k.max(1);
        let positive = match targets {
            Targets::Classes(c) => c[i] as usize == j % k,
            Targets::Values(t) => t.data()[j] != 0.0,
        };
        f(i, p, positive);
    }
}

/// Adds (TP, FP, FN) at threshold 0.5 to `state`.
pub(super) fn update_counts(
    state: &mut [f64],
    y_pred: &Tensor,
    targets: &Targets,
    weights: Option<&[f32]>,
) {
    for_each_decision(y_pred, targets, |i, p, positive| {
        let w = weights.map_or(1.0, |w| w[i] as f64);
        match (p > 0.5, positive) {
            (true, true) => state[0] += w,
            (true, false) => state[1] += w,
            (false, true) => state[2] += w,
            (false, false) => {}
        }
    });
}

/// Precision, recall or F1 from (TP, FP, FN); 0 where the denominator is 0 (Keras'
/// `divide_no_nan`).
pub(super) fn counts_result(metric: Metric, state: &[f64]) -> f64 {
    let (tp, fp, fn_) = (state[0], state[1], state[2]);
    let (num, den) = match metric {
        Metric::Precision => (tp, tp + fp),
        Metric::Recall => (tp, tp + fn_),
        _ => (2.0 * tp, 2.0 * tp + fp + fn_),
    };
    if den == 0.0 {
        0.0
    } else {
        num / den
    }
}

/// Adds each decision's weight to its bucket: the number of thresholds strictly below p.
pub(super) fn update_auc(
    state: &mut [f64],
    y_pred: &Tensor,
    targets: &Targets,
    weights: Option<&[f32]>,
) {
    for_each_decision(y_pred, targets, |i, p, positive| {
        let w = weights.map_or(1.0, |w| w[i] as f64);
        // Thresholds increase with j: binary search for the first one not below p.
        let (mut lo, mut hi) = (0usize, AUC_THRESHOLDS);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if auc_threshold(mid) < p {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let offset = if positive { 0 } else { AUC_THRESHOLDS + 1 };
        state[offset + lo] += w;
    });
}

/// Keras' ROC AUC with `summation_method="interpolation"`:
/// Σ_{j<199} (FPR_j - FPR_{j+1}) · (TPR_j + TPR_{j+1}) / 2, with TPR_j = TP_j / (TP + FN) and
/// FPR_j = FP_j / (FP + TN) at threshold j (0 where a denominator is 0).
pub(super) fn auc_result(state: &[f64]) -> f64 {
    let (pos, neg) = state.split_at(AUC_THRESHOLDS + 1);
    let total_pos: f64 = pos.iter().sum();
    let total_neg: f64 = neg.iter().sum();
    let ratio = |a: f64, b: f64| if b == 0.0 { 0.0 } else { a / b };
    // Decisions above threshold j are those in buckets > j.
    let (mut tp, mut fp) = (total_pos - pos[0], total_neg - neg[0]);
    let mut previous = (ratio(fp, total_neg), ratio(tp, total_pos));
    let mut area = 0.0;
    for j in 1..AUC_THRESHOLDS {
        tp -= pos[j];
        fp -= neg[j];
        let current = (ratio(fp, total_neg), ratio(tp, total_pos));
        area += (previous.0 - current.0) * (previous.1 + current.1) / 2.0;
        previous = current;
    }
    area
}
