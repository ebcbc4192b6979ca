//! Gradient flow by depth, independent of the optimizer: the kernel gradients' L2 norms layer
//! by layer (geometric means over the later half of the run). Update/weight ratios alone
//! mislead under Adam, RMSprop and Adagrad, which scale every parameter's step to about the
//! learning rate whatever its gradient; the gradients themselves do not.
//!
//! The means leave out the sampled steps where the output layer's gradient is exactly 0: no
//! learning signal at all (a batch the model already fits, common with batches of one sample).
//! At every other step a layer's exactly-0 gradient is kept, counted as 1e-30, so a layer that
//! is cut off while the output learns (dead units) shows; "no gradient" means no kept step had
//! one anywhere.
//!
//! The rules (AUTOTRAINER, Zhang et al. ICSE 2021, `utils/monitor.py`: vanishing when
//! ‖g_first‖/‖g_last‖ < 1e-3 and ‖g_first‖ < 1e-4, exploding when the ratio exceeds 70):
//! - every sampled gradient exactly 0 (or below 1e-30): no gradient flows at all;
//! - a non-finite gradient, a ratio above 70 or a first-layer norm above 1e4: exploding;
//! - the smallest norm below the output layer under 1e-3 of the output layer's, or the
//!   smallest relative gradient ‖g‖/‖w‖ under 1e-2 of the output layer's (large weights make
//!   a sizeable gradient tiny next to them: a saturated sigmoid stack with N(0, 1) weights):
//!   vanishing. Both are independent of the optimizer.

use super::{late, LayerStats, Verdict};

/// The gradient norms by depth.
#[derive(Clone, Debug, PartialEq)]
pub struct GradientFlow {
    /// (layer name, geometric-mean gradient norm, geometric-mean relative gradient ‖g‖/‖w‖),
    /// by depth.
    pub layers: Vec<(String, f64, Option<f64>)>,
    /// The dead fraction of the first ReLU layer judged, for the cause of an all-zero
    /// gradient: dead units where the signal enters, or a signal that faded with depth.
    pub first_relu_dead: Option<f64>,
}

/// The gradient flow of the later half of the run; `None` without two sampled gradients.
pub fn gradient_flow(rows: &[LayerStats]) -> Option<GradientFlow> {
    let late = late(rows);
    let mut indices: Vec<usize> = late
        .iter()
        .filter(|r| r.grad_norm.is_some())
        .map(|r| r.layer)
        .collect();
    indices.sort_unstable();
    indices.dedup();
    let &output = indices.last()?;
    // Steps where the output layer has no gradient carry no learning signal at all: with small
    // batches a batch the model already fits (a softmax saturated on the true class) has none,
    // and one such step would drag the geometric means to 0. They are left out, unless every
    // sampled step is one (then nothing learns, and every layer gets 0).
    let silent: Vec<u64> = late
        .iter()
        .filter(|r| r.layer == output && r.grad_norm.is_some_and(|g| g < 1e-30))
        .map(|r| r.step)
        .collect();
    let kept: Vec<&LayerStats> = late
        .iter()
        .copied()
        .filter(|r| !silent.contains(&r.step))
        .collect();
    let late = if kept.iter().any(|r| r.layer == output) {
        kept
    } else {
        late
    };
    let geometric_mean = |layer: usize, f: &dyn Fn(&LayerStats) -> Option<f64>| {
        let v: Vec<f64> = late
            .iter()
            .filter(|r| r.layer == layer)
            .filter_map(|r| f(r))
            .collect();
        if v.iter().any(|x| !x.is_finite()) {
            return Some(f64::INFINITY);
        }
        // A layer with no gradient at any kept step gets 0; one cut off at some of them counts
        // those steps as 1e-30, which drags its mean down as the steps it missed.
        if v.is_empty() || v.iter().all(|&x| x < 1e-30) {
            return (!v.is_empty()).then_some(0.0);
        }
        Some((v.iter().map(|x| x.max(1e-30).ln()).sum::<f64>() / v.len() as f64).exp())
    };
    let layers = indices
        .iter()
        .map(|&i| {
            let name = late
                .iter()
                .find(|r| r.layer == i)
                .map_or(String::new(), |r| r.name.clone());
            (
                name,
                geometric_mean(i, &|r| r.grad_norm).unwrap_or(0.0),
                geometric_mean(i, &|r| Some(r.grad_norm? / r.weight_norm?.max(1e-30))),
            )
        })
        .collect();
    let first_relu_dead = rows
        .iter()
        .filter(|r| r.dead.is_some())
        .min_by_key(|r| (r.layer, std::cmp::Reverse(r.step)))
        .and_then(|r| r.dead);
    Some(GradientFlow {
        layers,
        first_relu_dead,
    })
}

impl GradientFlow {
    /// The output layer's gradient norm (the last weighted layer).
    fn last(&self) -> f64 {
        self.layers.last().map_or(0.0, |l| l.1)
    }

    /// The layer below the output with the smallest gradient norm, with that norm.
    fn weakest(&self) -> Option<&(String, f64, Option<f64>)> {
        let below = &self.layers[..self.layers.len().saturating_sub(1)];
        below.iter().min_by(|a, b| a.1.total_cmp(&b.1))
    }

    /// The gradient norms, first to last layer, for evidence.
    fn describe(&self) -> String {
        self.layers
            .iter()
            .map(|(name, g, _)| format!("{name} {g:.1e}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The verdict: no gradient, exploding, vanishing, or healthy gradients (with two or more
    /// weighted layers).
    pub fn verdict(&self) -> Option<Verdict> {
        let norms: Vec<f64> = self.layers.iter().map(|l| l.1).collect();
        let (first, last) = (norms[0], self.last());
        if norms.iter().all(|&g| g < 1e-30) {
            let dead = self.first_relu_dead.is_some_and(|d| d > 0.5);
            return Some(Verdict {
                kind: if dead {
                    "dead_relus"
                } else {
                    "vanishing_gradients"
                },
                layer: self.layers.first().map(|l| l.0.clone()),
                finding: format!(
                    "every kernel gradient is 0 (norms by depth: {})",
                    self.describe()
                ),
                reason: if dead {
                    "no gradient reaches any weight: the ReLU units are silent for every sample, so nothing can recover".into()
                } else {
                    "no gradient reaches any weight: the units are saturated or the signal is cut, so nothing learns".into()
                },
                fix: if dead {
                    "use leaky ReLU / ELU / SELU with He or LeCun initialization, lower the learning rate, or add batch normalization".into()
                } else {
                    "use a non-saturating activation with its matching initialization (`kernel_initializer = \"auto\"`), or batch normalization".into()
                },
            });
        }
        let ratio = first / last.max(1e-300);
        if !first.is_finite() || !last.is_finite() || first > 1e4 || ratio > 70.0 {
            return Some(Verdict {
                kind: "exploding_gradients",
                layer: self.layers.first().map(|l| l.0.clone()),
                finding: format!(
                    "the first layer's gradient norm is {ratio:.1e} times the output layer's (norms by depth: {})",
                    self.describe()
                ),
                reason: "gradients grow as they flow back toward the input, so the lower layers take huge, unstable steps".into(),
                fix: "use gradient clipping (clipnorm / global_clipnorm), a smaller learning rate, batch normalization, or a variance-preserving initialization".into(),
            });
        }
        let weakest = self.weakest()?;
        let weak_ratio = weakest.1 / last.max(1e-300);
        let last_relative = self.layers.last().and_then(|l| l.2);
        let relative = self.layers[..self.layers.len() - 1]
            .iter()
            .filter_map(|l| Some((l, l.2? / last_relative?.max(1e-300))))
            .min_by(|a, b| a.1.total_cmp(&b.1));
        let vanishing = if weak_ratio < 1e-3 {
            Some((
                weakest,
                format!(
                    "the gradient norm of {} is {weak_ratio:.1e} times the output layer's",
                    weakest.0
                ),
            ))
        } else {
            relative.filter(|(_, r)| *r < 1e-2).map(|(l, r)| {
                (l, format!("the relative gradient ‖g‖/‖w‖ of {} is {r:.1e} times the output layer's ({:.1e} against {:.1e})", l.0, l.2.unwrap_or(0.0), last_relative.unwrap_or(0.0)))
            })
        };
        if let Some((layer, what)) = vanishing {
            return Some(Verdict {
                kind: "vanishing_gradients",
                layer: Some(layer.0.clone()),
                finding: format!("{what} (gradient norms by depth: {})", self.describe()),
                reason: "gradients shrink on the way back (Glorot & Bengio 2010), so the lower layers barely learn".into(),
                fix: "use a non-saturating activation (ReLU family, ELU, SELU) with its matching initialization (He, LeCun: `kernel_initializer = \"auto\"`), batch normalization, or a shallower network".into(),
            });
        }
        Some(Verdict {
            kind: "healthy_gradients",
            layer: None,
            finding: format!(
                "gradient norms by depth stay within a factor {:.0} of the output layer's ({})",
                1.0 / weak_ratio.clamp(1e-300, 1.0),
                self.describe()
            ),
            reason: "the lower layers get gradients comparable to the upper ones: neither vanishing nor exploding".into(),
            fix: "nothing to do".into(),
        })
        .filter(|_| self.layers.len() > 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row with gradient norm `grad` and kernel norm `grad / relative`.
    fn row(step: u64, layer: usize, grad: f64, relative: f64) -> LayerStats {
        LayerStats {
            step,
            layer,
            name: format!("d{layer}"),
            activation: "sigmoid".into(),
            has_kernel: true,
            grad_norm: Some(grad),
            weight_norm: Some(grad / relative.max(1e-300)),
            ..LayerStats::default()
        }
    }

    fn kind(rows: &[LayerStats]) -> &'static str {
        gradient_flow(rows).unwrap().verdict().unwrap().kind
    }

    #[test]
    fn vanishing_by_gradient_norm_even_when_updates_are_equal() {
        // Gradients 6e-7 against 3e-2, whatever the optimizer does with them.
        let rows: Vec<LayerStats> = (1..=4)
            .flat_map(|s| {
                [
                    row(s, 0, 6e-7, 1e-3),
                    row(s, 1, 1e-4, 1e-3),
                    row(s, 2, 3e-2, 1e-3),
                ]
            })
            .collect();
        assert_eq!(kind(&rows), "vanishing_gradients");
        let v = gradient_flow(&rows).unwrap().verdict().unwrap();
        assert_eq!(v.layer.as_deref(), Some("d0"));
        // Sizeable gradients next to huge weights: 1e-4 of the output layer's relative size.
        let rows: Vec<LayerStats> = (1..=4)
            .flat_map(|s| [row(s, 0, 0.3, 1e-6), row(s, 1, 1.0, 1e-2)])
            .collect();
        assert_eq!(kind(&rows), "vanishing_gradients");
    }

    #[test]
    fn exploding_zero_and_healthy() {
        let rows: Vec<LayerStats> = (1..=4)
            .flat_map(|s| [row(s, 0, 80.0, 1e-2), row(s, 1, 1.0, 1e-2)])
            .collect();
        assert_eq!(kind(&rows), "exploding_gradients");
        let rows: Vec<LayerStats> = (1..=4)
            .flat_map(|s| [row(s, 0, f64::NAN, 1e-2), row(s, 1, 1.0, 1e-2)])
            .collect();
        assert_eq!(kind(&rows), "exploding_gradients");
        let mut rows: Vec<LayerStats> = (1..=4)
            .flat_map(|s| [row(s, 0, 0.0, 0.0), row(s, 1, 0.0, 0.0)])
            .collect();
        assert_eq!(kind(&rows), "vanishing_gradients");
        // Dead where the signal enters: dead ReLUs; alive there, the signal faded: vanishing.
        rows[0].dead = Some(0.2);
        assert_eq!(kind(&rows), "vanishing_gradients");
        rows[0].dead = Some(0.9);
        assert_eq!(kind(&rows), "dead_relus");
        let rows: Vec<LayerStats> = (1..=4)
            .flat_map(|s| [row(s, 0, 0.05, 1e-3), row(s, 1, 0.2, 1e-3)])
            .collect();
        assert_eq!(kind(&rows), "healthy_gradients");
    }

    /// Batches of one sample: most sampled steps have an exactly-zero gradient (the sample is
    /// already fit), the others a sizeable one. The gradient flows; it does not vanish.
    #[test]
    fn steps_without_a_gradient_do_not_make_it_vanish() {
        let rows: Vec<LayerStats> = (1..=12)
            .flat_map(|s| {
                let g = if s % 3 == 0 { 1.0 } else { 0.0 };
                [row(s, 0, 2.0 * g, 1e-2), row(s, 1, g, 1e-2)]
            })
            .collect();
        assert_eq!(kind(&rows), "healthy_gradients");
        let flow = gradient_flow(&rows).unwrap();
        assert!((flow.layers[0].1 - 2.0).abs() < 1e-12, "{flow:?}");
    }

    /// The output layer learns at every step, the first layer gets a gradient at one step in
    /// three: cut off (dead units) at the others. That is not hidden as a sizeable gradient.
    #[test]
    fn a_layer_cut_off_while_the_output_learns_shows() {
        let rows: Vec<LayerStats> = (1..=12)
            .flat_map(|s| {
                let g = if s % 3 == 0 { 1.0 } else { 0.0 };
                [row(s, 0, g, 1e-2), row(s, 1, 1.0, 1e-2)]
            })
            .collect();
        let flow = gradient_flow(&rows).unwrap();
        assert!(flow.layers[0].1 < 1e-15, "{flow:?}");
        assert_eq!(kind(&rows), "vanishing_gradients");
    }
}
