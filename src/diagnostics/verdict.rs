//! [`Verdict`]: one finding with a stable id, the layer, the evidence and the fix; and the
//! catalogue of ids ([`IDS`]) that `deeptrain diagnose --json` prints.

/// Every id a verdict or warning can carry, with what it means (the README's table).
pub const IDS: &[(&str, &str)] = &[
    ("healthy", "nothing fired: the loss falls and no layer shows a problem"),
    ("vanishing_gradients", "gradients shrink toward the input: the first layers' gradient norms are orders of magnitude below the output layer's, or the first layers barely move"),
    ("exploding_gradients", "gradients grow toward the input, or become non-finite"),
    ("divergence", "the loss became non-finite or grew far above its start"),
    ("dead_relus", "most ReLU units output 0 for every sample of a window of 64 samples, or every gradient is exactly 0; or (reported even while the loss falls) more than half the units of most ReLU layers, two or more"),
    ("saturation", "most units of a sigmoid/tanh hidden layer sit within 0.02 of a bound"),
    ("non_finite_outputs", "a layer outputs NaN or infinity"),
    ("oscillating_loss", "the smoothed loss swings up and down by more than its noise with little net progress, or a minibatch gradient is mostly noise (norm test) while the loss stalls"),
    ("slow_convergence", "the loss falls too little over the run, or stays at the loss of predicting the class frequencies (accuracy at chance)"),
    ("output_loss_mismatch", "the output activation does not fit the loss (softmax over one unit; sigmoid, ReLU or linear outputs under categorical cross-entropy; a linear output under binary cross-entropy), or the targets lie outside a bounded output's range, and training stalls"),
    ("unscaled_inputs", "input features far from unit scale (e.g. raw 0-255 pixels) while training stalls"),
    ("unscaled_targets", "regression targets far from unit scale while training stalls"),
    ("learning_rate_too_high", "(a warning before training when the rate is far above the optimizer's usual range) the rate is above 2/λmax (the top Hessian eigenvalue) or far above the optimizer's usual range, and the loss oscillates or diverges; or training killed at least half of a ReLU layer's units (alive in its first window, dead in its last), reported even while the loss falls"),
    ("learning_rate_too_low", "(a warning before training when the rate is far below the optimizer's usual range) the rate is far below the optimizer's usual range, or the weights barely move, and the loss stalls"),
    ("not_self_normalizing", "SELU layers drift far from mean 0 / standard deviation 1"),
    ("self_normalizing", "SELU layers keep mean 0 / standard deviation 1 (a healthy finding)"),
    ("healthy_gradients", "the first layers learn at a rate comparable to the output layer (a healthy finding)"),
    ("selu_init", "warning: SELU without LeCun normal initialization"),
    ("selu_dropout", "warning: SELU with ordinary dropout (use alpha dropout)"),
    ("selu_inputs", "warning: SELU on inputs that are not standardized"),
    ("selu_skip_connections", "warning: SELU with skip connections or merged branches"),
    ("selu_batch_norm", "warning: SELU with batch normalization"),
    ("selu_recurrent", "warning: SELU with recurrent layers (it does not self-normalize through time)"),
    ("saturating_large_init", "warning: a deep sigmoid/tanh stack with large-variance initialization"),
    ("relu_glorot", "warning: a deep ReLU stack with Glorot initialization"),
    ("categorical_crossentropy_normalized", "warning: categorical cross-entropy on outputs that are not softmax: the loss divides them by their sum, as Keras does (an output_loss_mismatch verdict when training stalls and nothing else explains it)"),
];

/// A plain-language finding: what, where, the evidence, why, and what to do.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Verdict {
    /// Stable id, one of [`IDS`] (`vanishing_gradients`, `dead_relus`, ...).
    pub kind: &'static str,
    /// The layer it concerns, when one does.
    pub layer: Option<String>,
    /// What was seen, with the numbers.
    pub finding: String,
    /// Why it matters / the rule applied.
    pub reason: String,
    /// What to do.
    pub fix: String,
}

impl Verdict {
    /// True for the verdicts that report something working (healthy gradients, a
    /// self-normalizing network, `healthy`), as opposed to a problem.
    pub fn is_healthy(&self) -> bool {
        matches!(
            self.kind,
            "healthy_gradients" | "self_normalizing" | "healthy"
        )
    }
}

/// `verdicts` of a run that diverged: the divergence first, and none of the healthy verdicts
/// (statistics sampled before the blow-up do not make a diverged run healthy).
pub fn with_divergence(verdicts: Vec<Verdict>, message: &str) -> Vec<Verdict> {
    std::iter::once(divergence(message))
        .chain(
            verdicts
                .into_iter()
                .filter(|v| !v.is_healthy() && v.kind != "divergence"),
        )
        .collect()
}

/// The divergence verdict, for a run whose loss became non-finite.
pub fn divergence(message: &str) -> Verdict {
    Verdict {
        kind: "divergence",
        finding: message.to_string(),
        reason: "the updates overshoot: the loss grows until it overflows".into(),
        fix: "lower the learning rate (try `deeptrain lr-find`), clip gradients, or check the data for extreme values".into(),
        ..Verdict::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_snake_case() {
        let mut ids: Vec<&str> = IDS.iter().map(|(id, _)| *id).collect();
        assert!(ids
            .iter()
            .all(|id| id.chars().all(|c| c.is_ascii_lowercase() || c == '_')));
        ids.sort_unstable();
        let n = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), n);
    }

    #[test]
    fn divergence_replaces_healthy_findings() {
        let healthy = Verdict {
            kind: "healthy_gradients",
            ..Verdict::default()
        };
        let merged = with_divergence(vec![healthy], "NaN");
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].kind, "divergence");
    }
}
