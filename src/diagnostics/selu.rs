//! Self-normalization (Klambauer et al. 2017): whether the SELU layers with a kernel keep
//! their outputs near mean 0 and standard deviation 1 at the last sampled step.

use super::{last_step, LayerStats, Verdict};

/// `self_normalizing` when at most one in ten SELU layers drifts beyond |mean| 0.5 or a
/// standard deviation outside [0.5, 2]; `not_self_normalizing` otherwise; `None` without SELU.
pub fn self_normalization(rows: &[LayerStats]) -> Option<Verdict> {
    let selu: Vec<&LayerStats> = last_step(rows)
        .into_iter()
        .filter(|r| r.activation == "selu" && r.has_kernel)
        .collect();
    if selu.is_empty() {
        return None;
    }
    let drifting: Vec<&&LayerStats> = selu
        .iter()
        .filter(|r| r.act_mean.abs() > 0.5 || !(0.5..=2.0).contains(&r.act_std))
        .collect();
    let (lo, hi) = selu.iter().fold((f64::INFINITY, 0.0f64), |(a, b), r| {
        (a.min(r.act_std), b.max(r.act_std))
    });
    Some(if drifting.len() * 10 <= selu.len() {
        Verdict {
            kind: "self_normalizing",
            layer: None,
            finding: format!(
                "{} of {} SELU layers keep activations near mean 0 and standard deviation 1 (standard deviations {lo:.2} to {hi:.2} from the first layer to the last)",
                selu.len() - drifting.len(),
                selu.len()
            ),
            reason: "self-normalization holds: the signal neither vanishes nor explodes with depth (Klambauer et al. 2017)".into(),
            fix: "nothing to do".into(),
        }
    } else {
        Verdict {
            kind: "not_self_normalizing",
            layer: Some(drifting[0].name.clone()),
            finding: format!(
                "{} of {} SELU layers drift far from mean 0 / std 1 (e.g. {}: mean {:.2}, std {:.2})",
                drifting.len(),
                selu.len(),
                drifting[0].name,
                drifting[0].act_mean,
                drifting[0].act_std
            ),
            reason: "SELU self-normalizes only with LeCun normal weights, standardized inputs, a plain sequential stack and alpha dropout".into(),
            fix: "check the configuration warnings; use lecun_normal, scale = \"standard\", alpha_dropout".into(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drifting_selu_layers_are_found() {
        let row = |layer: usize, mean: f64, std: f64| LayerStats {
            step: 1,
            layer,
            name: format!("s{layer}"),
            activation: "selu".into(),
            has_kernel: true,
            act_mean: mean,
            act_std: std,
            ..LayerStats::default()
        };
        let good = vec![row(0, 0.1, 1.0), row(1, -0.1, 0.9)];
        assert_eq!(self_normalization(&good).unwrap().kind, "self_normalizing");
        let bad = vec![row(0, 0.1, 1.0), row(1, 2.0, 5.0)];
        let v = self_normalization(&bad).unwrap();
        assert_eq!(
            (v.kind, v.layer.as_deref()),
            ("not_self_normalizing", Some("s1"))
        );
        assert!(self_normalization(&[]).is_none());
    }
}
