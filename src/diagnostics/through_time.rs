//! Gradient norms through time: ‖∂L/∂h_s‖ of a recurrent layer at each processing step s,
//! recorded on the sampled steps ([`crate::layers::Layer::time_gradient_norms`]).
//!
//! Backpropagation through time multiplies the gradient by one Jacobian ∂h_s/∂h_{s-1} per
//! step, so from the last step, where the loss's gradient enters, back to the first it shrinks
//! or grows geometrically: vanishing and exploding over time (Bengio, Simard & Frasconi 1994;
//! Pascanu, Mikolov & Bengio 2013, "On the difficulty of training recurrent neural networks",
//! §2, eqs. 3–5). The rule is the depth rule's ([`super::gradient_flow`], after AUTOTRAINER)
//! applied along time: with r = ‖∂L/∂h_first‖ / ‖∂L/∂h_last‖, its geometric mean over the
//! sampled steps of the later half of the run, vanishing when r < 1e-3 and exploding when
//! r > 70 or a norm is not finite. A layer that returns sequences gets a gradient at every
//! step, so there r compares the steps' total gradients rather than one path's decay.

use super::{late, LayerStats, Verdict};

/// One recurrent layer's gradient norms through time.
#[derive(Clone, Debug, PartialEq)]
pub struct TimeFlow {
    /// The layer's name.
    pub layer: String,
    /// The layer's index.
    pub index: usize,
    /// The layer's Keras class name (`SimpleRNN`, `LSTM`, `GRU`).
    pub class: String,
    /// ‖∂L/∂h_first‖ / ‖∂L/∂h_last‖: geometric mean over the later half's sampled steps.
    pub ratio: f64,
    /// The mean factor per step, r^(1/(T-1)).
    pub per_step: f64,
    /// ‖∂L/∂h_s‖ per processing step at the last sampled step.
    pub last_norms: Vec<f64>,
    /// The training step `last_norms` were sampled at.
    pub last_step: u64,
}

/// The gradient flow through time of each recurrent layer over the later half of the run
/// (layers with a sampled step whose last gradient is not 0, and at least two time steps).
pub fn gradients_through_time(rows: &[LayerStats]) -> Vec<TimeFlow> {
    let late = late(rows);
    let mut indices: Vec<usize> = late
        .iter()
        .filter(|r| r.time_grad_norms.len() >= 2)
        .map(|r| r.layer)
        .collect();
    indices.sort_unstable();
    indices.dedup();
    indices
        .into_iter()
        .filter_map(|index| {
            let sampled: Vec<&&LayerStats> = late
                .iter()
                .filter(|r| r.layer == index && r.time_grad_norms.len() >= 2)
                .collect();
            let ratios: Vec<f64> = sampled
                .iter()
                .filter_map(|r| {
                    let n = &r.time_grad_norms;
                    let (first, last) = (n[0], n[n.len() - 1]);
                    if n.iter().any(|g| !g.is_finite()) {
                        Some(f64::INFINITY)
                    } else {
                        (last >= 1e-30).then(|| first / last)
                    }
                })
                .collect();
            if ratios.is_empty() {
                return None;
            }
            let ratio = if ratios.iter().any(|r| !r.is_finite()) {
                f64::INFINITY
            } else {
                let logs = ratios.iter().map(|r| r.max(1e-300).ln());
                (logs.sum::<f64>() / ratios.len() as f64).exp()
            };
            let last = sampled.last()?;
            let steps = last.time_grad_norms.len();
            Some(TimeFlow {
                layer: last.name.clone(),
                index,
                class: last.class.clone(),
                ratio,
                per_step: ratio.powf(1.0 / (steps - 1) as f64),
                last_norms: last.time_grad_norms.clone(),
                last_step: last.step,
            })
        })
        .collect()
}

impl TimeFlow {
    /// The norms at a few steps, first to last: `s=0 1.2e-5, s=24 3.0e-3, ..., s=99 4.1e-1`.
    pub fn describe(&self) -> String {
        let n = self.last_norms.len();
        let picks: Vec<usize> = if n <= 5 {
            (0..n).collect()
        } else {
            (0..5).map(|k| k * (n - 1) / 4).collect()
        };
        picks
            .iter()
            .map(|&s| format!("s={s} {:.1e}", self.last_norms[s]))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The finding: `vanishing_gradients` or `exploding_gradients` through time, or
    /// `healthy_gradients` when r lies between the thresholds.
    pub fn verdict(&self) -> Verdict {
        let steps = self.last_norms.len();
        let evidence = if self.ratio.is_finite() {
            format!(
                "through time: ‖∂L/∂h‖ at the first of {steps} steps is {:.1e} times the last step's ({:.3} per step; at training step {}: {})",
                self.ratio,
                self.per_step,
                self.last_step,
                self.describe()
            )
        } else {
            format!(
                "through time: ‖∂L/∂h‖ is not finite at some of the {steps} steps (at training step {}: {})",
                self.last_step,
                self.describe()
            )
        };
        let (kind, reason, fix) = if !self.ratio.is_finite() || self.ratio > 70.0 {
            (
                "exploding_gradients",
                "the gradient grows as it flows back through the time steps (Pascanu et al. 2013), so the early steps' updates are huge and unstable",
                "clip the gradients (clipnorm / global_clipnorm), lower the learning rate, or use an LSTM/GRU",
            )
        } else if self.ratio < 1e-3 {
            (
                "vanishing_gradients",
                "the gradient shrinks as it flows back through the time steps (Bengio et al. 1994), so the layer cannot learn what the early steps carry",
                if self.class == "SimpleRNN" {
                    "use an LSTM or GRU (their gates keep a path along which the gradient survives), or shorter sequences"
                } else {
                    "train longer or at a higher learning rate with gradient clipping (the gradient through time grows once the gates learn to hold the state), keep the forget-gate bias at 1 (`unit_forget_bias`), or shorten the sequences"
                },
            )
        } else {
            (
                "healthy_gradients",
                "the gradient that reaches the first time step is within the rule's bounds (1e-3 to 70 times the last step's)",
                "nothing to do",
            )
        };
        Verdict {
            kind,
            layer: Some(self.layer.clone()),
            finding: evidence,
            reason: reason.into(),
            fix: fix.into(),
        }
    }
}

/// The first problem through time (exploding before vanishing), if any.
pub fn through_time_problem(rows: &[LayerStats]) -> Option<Verdict> {
    let verdicts: Vec<Verdict> = gradients_through_time(rows)
        .iter()
        .map(TimeFlow::verdict)
        .filter(|v| !v.is_healthy())
        .collect();
    verdicts
        .iter()
        .find(|v| v.kind == "exploding_gradients")
        .or_else(|| verdicts.first())
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(step: u64, layer: usize, norms: Vec<f64>) -> LayerStats {
        LayerStats {
            step,
            layer,
            name: format!("rnn{layer}"),
            time_grad_norms: norms,
            ..LayerStats::default()
        }
    }

    #[test]
    fn geometric_decay_backwards_is_vanishing_and_growth_exploding() {
        // ‖∂L/∂h_s‖ = 0.5^(T-1-s): the gradient halves at every step back.
        let decaying = |t: usize| (0..t).map(|s| 0.5f64.powi((t - 1 - s) as i32)).collect();
        let rows = vec![row(10, 0, decaying(20)), row(20, 0, decaying(20))];
        let flows = gradients_through_time(&rows);
        assert_eq!(flows.len(), 1);
        assert!((flows[0].per_step - 0.5).abs() < 1e-12, "{:?}", flows[0]);
        assert!((flows[0].ratio - 0.5f64.powi(19)).abs() < 1e-15);
        let v = through_time_problem(&rows).unwrap();
        assert_eq!(v.kind, "vanishing_gradients");
        assert_eq!(v.layer.as_deref(), Some("rnn0"));
        assert!(v.finding.contains("through time"), "{}", v.finding);

        let growing = row(20, 1, (0..10).map(|s| 3f64.powi(9 - s)).collect());
        let v = through_time_problem(&[growing]).unwrap();
        assert_eq!(v.kind, "exploding_gradients");
        let non_finite = row(20, 1, vec![f64::NAN, 1.0]);
        let v = through_time_problem(&[non_finite]).unwrap();
        assert_eq!(v.kind, "exploding_gradients");
        assert!(v.finding.contains("not finite"), "{}", v.finding);
    }

    #[test]
    fn a_steady_gradient_is_healthy_and_other_layers_are_ignored() {
        let rows = vec![
            row(10, 0, vec![0.8, 0.9, 1.0]),
            row(10, 1, Vec::new()),
            row(10, 2, vec![0.0, 0.0]),
        ];
        let flows = gradients_through_time(&rows);
        assert_eq!(flows.len(), 1, "{flows:?}");
        assert_eq!(flows[0].verdict().kind, "healthy_gradients");
        assert!(through_time_problem(&rows).is_none());
        // Only the later half of the run counts: an early vanishing sample is left out.
        let rows = vec![row(2, 0, vec![1e-9, 1.0]), row(10, 0, vec![0.5, 1.0])];
        assert!((gradients_through_time(&rows)[0].ratio - 0.5).abs() < 1e-12);
    }
}
