//! Unit-level verdicts: dead ReLUs (judged over windows of at least
//! [`super::DEAD_WINDOW`] samples), ReLU units killed during training, saturated sigmoid/tanh
//! hidden layers (among finite outputs), and non-finite outputs, reported as such.

use super::{last_step, late, LayerStats, Verdict};

/// The layers of `rows` with their mean of `f` over the later half of the run, where above
/// `threshold`.
fn layers_above(
    rows: &[&LayerStats],
    f: impl Fn(&LayerStats) -> Option<f64>,
    threshold: f64,
) -> Vec<(String, f64)> {
    let mut layers: Vec<usize> = rows.iter().map(|r| r.layer).collect();
    layers.sort_unstable();
    layers.dedup();
    layers
        .into_iter()
        .filter_map(|layer| {
            let values: Vec<f64> = rows
                .iter()
                .filter(|r| r.layer == layer)
                .filter_map(|r| f(r))
                .collect();
            let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
            let name = rows.iter().find(|r| r.layer == layer)?.name.clone();
            (!values.is_empty() && mean > threshold).then_some((name, mean))
        })
        .collect()
}

fn list(layers: &[(String, f64)]) -> String {
    layers
        .iter()
        .map(|(n, v)| format!("{n} {:.0}%", 100.0 * v))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Each ReLU layer's latest row with a dead share (its latest window), by depth.
fn latest_dead_windows(rows: &[LayerStats]) -> Vec<&LayerStats> {
    let mut latest: Vec<&LayerStats> = Vec::new();
    for r in rows.iter().rev().filter(|r| r.dead.is_some()) {
        if !latest.iter().any(|l| l.layer == r.layer) {
            latest.push(r);
        }
    }
    latest.sort_by_key(|r| r.layer);
    latest
}

/// `dead_relus` when a ReLU layer's latest window has more than half its units dead.
pub fn dead_units(rows: &[LayerStats]) -> Option<Verdict> {
    let latest = latest_dead_windows(rows);
    let dead = layers_above(&latest, |r| r.dead, 0.5);
    let first = dead.first()?.0.clone();
    Some(Verdict {
        kind: "dead_relus",
        layer: Some(first),
        finding: format!(
            "dead ReLU units (0 for every one of at least {} samples): {}",
            super::DEAD_WINDOW,
            list(&dead)
        ),
        reason: "a ReLU whose input is negative for every sample outputs 0 and gets no gradient, so it never recovers".into(),
        fix: "lower the learning rate, or use leaky ReLU / ELU / SELU, and He initialization".into(),
    })
}

/// `dead_relus` when more than half of the ReLU layers, two or more, have more than half their
/// units dead in their latest window (each over at least [`super::DEAD_WINDOW`] samples): the
/// network works at under half its width through most of its depth. A dead unit outputs 0 for
/// every sample and gets no gradient, so the capacity does not come back, and this is reported
/// even while the loss falls, like [`killed_units`]. AUTOTRAINER's dying-ReLU problem reads the
/// network as a whole in the same way (the share of all its ReLU gradients that are 0; Zhang
/// et al., ICSE 2021); "as much as 40% of your network can be dead" is CS231n's warning
/// ("Commonly used activation functions"). One layer past half alone waits for harm
/// ([`dead_units`]).
pub fn widespread_dead_units(rows: &[LayerStats]) -> Option<Verdict> {
    let latest = latest_dead_windows(rows);
    let dead = layers_above(&latest, |r| r.dead, 0.5);
    if dead.len() < 2 || 2 * dead.len() <= latest.len() {
        return None;
    }
    Some(Verdict {
        kind: "dead_relus",
        layer: Some(dead[0].0.clone()),
        finding: format!(
            "more than half the units dead (0 for every one of at least {} samples) in {} of the {} ReLU layers: {}",
            super::DEAD_WINDOW,
            dead.len(),
            latest.len(),
            list(&dead)
        ),
        reason: "a dead ReLU outputs 0 for every sample and gets no gradient, so it never recovers: with most layers past half dead, the network trains at under half its width whether or not the loss still falls".into(),
        fix: "use leaky ReLU / ELU / SELU, which cannot die, with He initialization, or lower the learning rate".into(),
    })
}

/// The share of a ReLU layer's units that training killed, above which a rate too high is
/// the cause: more than half the layer (the same bar as [`dead_units`]).
pub const KILLED_LIMIT: f64 = 0.5;

/// `learning_rate_too_high` when training killed at least [`KILLED_LIMIT`] of a ReLU layer's
/// units: the layer's dead fraction in its last window minus its first (each over at least
/// [`super::DEAD_WINDOW`] samples, the first at the start of training). The difference is a
/// lower bound on the units alive at the start and dead at the end (a unit that revives only
/// lowers it), so units born dead (an initialization problem) do not count. Units that die
/// during training are the classic sign of a rate too high: "if the learning rate is set too
/// high ... as much as 40% of your network can be dead" (CS231n, "Commonly used activation
/// functions"); dying ReLUs happen "especially if you use a large learning rate" (Géron,
/// ch. 11). A dead unit never recovers, so the capacity lost is harm even while the loss falls.
pub fn killed_units(rows: &[LayerStats]) -> Option<Verdict> {
    let mut layers: Vec<(usize, String, f64, f64)> = Vec::new();
    for r in rows {
        let Some(dead) = r.dead else { continue };
        match layers.iter_mut().find(|l| l.0 == r.layer) {
            Some(l) => l.3 = dead,
            None => layers.push((r.layer, r.name.clone(), dead, dead)),
        }
    }
    layers.sort_by_key(|l| l.0);
    let killed: Vec<&(usize, String, f64, f64)> = layers
        .iter()
        .filter(|(_, _, first, last)| last - first >= KILLED_LIMIT)
        .collect();
    let first = killed.first()?;
    Some(Verdict {
        kind: "learning_rate_too_high",
        layer: Some(first.1.clone()),
        finding: format!(
            "training killed ReLU units (dead share in the first window of at least {} samples -> the last): {}",
            super::DEAD_WINDOW,
            killed
                .iter()
                .map(|(_, n, a, b)| format!("{n} {:.0}% -> {:.0}%", 100.0 * a, 100.0 * b))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        reason: "units alive at the start that die during training were pushed by too large a step to where their input is negative for every sample; a dead ReLU gets no gradient and never recovers (CS231n; Géron ch. 11)".into(),
        fix: "lower the learning rate (find one with `deeptrain lr-find`), or use leaky ReLU / ELU, which cannot die".into(),
    })
}

/// `saturation` when a sigmoid/tanh hidden layer (not the output layer, which saturates when
/// it is confident) has more than half its finite outputs near a bound over the later half.
pub fn saturated_units(rows: &[LayerStats]) -> Option<Verdict> {
    let output = rows.iter().map(|r| r.layer).max()?;
    let hidden: Vec<&LayerStats> = late(rows)
        .into_iter()
        .filter(|r| r.layer != output)
        .collect();
    let saturated = layers_above(&hidden, |r| r.saturated, 0.5);
    let first = saturated.first()?.0.clone();
    Some(Verdict {
        kind: "saturation",
        layer: Some(first),
        finding: format!(
            "saturated units (finite outputs within 0.02 of a bound, later half of the run): {}",
            list(&saturated)
        ),
        reason: "a saturated sigmoid or tanh has a derivative near 0, so gradients vanish through it".into(),
        fix: "use Glorot initialization for sigmoid/tanh, or a non-saturating activation, or batch normalization".into(),
    })
}

/// `non_finite_outputs` when a layer outputs NaN or infinity at the last sampled step.
pub fn non_finite_outputs(rows: &[LayerStats]) -> Option<Verdict> {
    let last: Vec<&LayerStats> = last_step(rows);
    let bad = layers_above(&last, |r| Some(r.non_finite), 0.0);
    let first = bad.first()?.0.clone();
    Some(Verdict {
        kind: "non_finite_outputs",
        layer: Some(first),
        finding: format!("non-finite outputs (NaN or infinity): {}", list(&bad)),
        reason: "a NaN or infinity spreads to everything computed from it; it is not saturation".into(),
        fix: "lower the learning rate, clip gradients, and check the inputs for extreme or missing values".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(step: u64, layer: usize) -> LayerStats {
        LayerStats {
            step,
            layer,
            name: format!("l{layer}"),
            ..LayerStats::default()
        }
    }

    #[test]
    fn dead_saturated_and_non_finite() {
        let mut rows = vec![row(1, 0), row(1, 1), row(2, 0), row(2, 1)];
        rows[0].dead = Some(0.9);
        rows[2].dead = Some(0.2); // the latest window recovered
        assert!(dead_units(&rows).is_none());
        rows[2].dead = Some(0.75);
        assert!(dead_units(&rows).unwrap().finding.contains("l0 75%"));

        // The output layer (l1) saturating is not a problem; a hidden layer is.
        rows[1].saturated = Some(1.0);
        rows[3].saturated = Some(1.0);
        assert!(saturated_units(&rows).is_none());
        rows[2].saturated = Some(0.8);
        assert_eq!(saturated_units(&rows).unwrap().layer.as_deref(), Some("l0"));

        assert!(non_finite_outputs(&rows).is_none());
        // Born dead (90% at the first window) is not killed by training.
        assert!(killed_units(&rows).is_none());
        rows[3].non_finite = 0.5;
        assert_eq!(
            non_finite_outputs(&rows).unwrap().layer.as_deref(),
            Some("l1")
        );
    }

    /// Most ReLU layers past half dead in their latest window: two of three is most, one of
    /// two is not, one of one is a single layer (left to the harm-gated rule), and a layer
    /// that recovered by its latest window does not count.
    #[test]
    fn units_dead_in_most_layers() {
        let mut rows: Vec<LayerStats> = (0..3).map(|layer| row(1, layer)).collect();
        rows.extend((0..3).map(|layer| row(2, layer)));
        for (r, dead) in rows.iter_mut().zip([0.9, 0.9, 0.1, 0.3, 0.8, 0.1]) {
            r.dead = Some(dead);
        }
        assert!(widespread_dead_units(&rows).is_none());
        rows[5].dead = Some(0.55);
        let v = widespread_dead_units(&rows).unwrap();
        assert_eq!(v.layer.as_deref(), Some("l1"));
        assert!(v
            .finding
            .contains("in 2 of the 3 ReLU layers: l1 80%, l2 55%"));
        let two: Vec<LayerStats> = rows.iter().filter(|r| r.layer < 2).cloned().collect();
        assert!(widespread_dead_units(&two).is_none());
        let one: Vec<LayerStats> = rows.iter().filter(|r| r.layer == 1).cloned().collect();
        assert!(dead_units(&one).is_some());
        assert!(widespread_dead_units(&one).is_none());
    }

    /// Units alive at the start that die during training: a layer going from 10% to 85% dead
    /// is reported with both figures; one born 80% dead that stays so is not, and neither is
    /// one that loses under half its units.
    #[test]
    fn units_killed_during_training() {
        let mut rows = Vec::new();
        for step in 1..=10u64 {
            let t = (step - 1) as f64 / 9.0;
            for (layer, first, last) in [(0, 0.1, 0.85), (1, 0.8, 0.8), (2, 0.0, 0.4)] {
                let mut r = row(step, layer);
                r.dead = Some(first + (last - first) * t);
                rows.push(r);
            }
        }
        let v = killed_units(&rows).unwrap();
        assert_eq!(v.kind, "learning_rate_too_high");
        assert_eq!(v.layer.as_deref(), Some("l0"));
        assert!(v.finding.contains("l0 10% -> 85%"), "{}", v.finding);
        assert!(!v.finding.contains("l1") && !v.finding.contains("l2"));
        // The same layer only half as far: under the bar.
        for r in rows.iter_mut().filter(|r| r.layer == 0) {
            r.dead = r.dead.map(|d| d.min(0.55));
        }
        assert!(killed_units(&rows).is_none());
    }
}
