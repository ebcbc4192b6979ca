//! [`EvidenceChart`]: the curve a verdict rests on, for the report's evidence plots. A gradient verdict
//! shows the kernel gradient norms by depth (log scale, the numbers of its evidence), or through
//! time a recurrent layer's ‖∂L/∂h_s‖ by time step; a dead or
//! saturated layer its fraction over the sampled steps; every other verdict the training loss
//! per step against the constant predictor's loss (the curve the gate reads).

use super::{gradient_flow, Diagnosis, LayerStats, Verdict};

/// Points of a step curve kept for a chart: longer curves are averaged over equal buckets.
const MAX_POINTS: usize = 400;

/// One line chart: named series of (x, y) points, an optional horizontal reference level.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EvidenceChart {
    /// The verdict id it illustrates.
    pub verdict: &'static str,
    /// What is plotted.
    pub title: String,
    /// The x axis.
    pub x_label: String,
    /// The y axis.
    pub y_label: String,
    /// Plot y on a log10 scale (gradient norms spanning orders of magnitude).
    pub log_y: bool,
    /// (name, points).
    pub series: Vec<(String, Vec<(f64, f64)>)>,
    /// A horizontal level: (what, value), e.g. the constant predictor's loss.
    pub reference: Option<(String, f64)>,
    /// Names for the x positions (the layers, for a by-depth chart); empty for steps.
    pub x_names: Vec<String>,
}

/// The evidence chart of each verdict of `d` (one per verdict id), given the run's per-step
/// training `losses`.
pub fn evidence_charts(d: &Diagnosis, losses: &[f64]) -> Vec<EvidenceChart> {
    let mut charts: Vec<EvidenceChart> = Vec::new();
    for v in &d.verdicts {
        if charts.iter().any(|c| c.verdict == v.kind) {
            continue;
        }
        let chart = match v.kind {
            "vanishing_gradients" | "exploding_gradients"
                if v.finding.starts_with("through time") =>
            {
                by_time(v, &d.rows)
            }
            "vanishing_gradients" | "exploding_gradients" => by_depth(v, &d.rows),
            "dead_relus" | "saturation" => layer_fraction(v, &d.rows),
            // Units killed during training: the layer's dead fraction climbing.
            "learning_rate_too_high" if v.finding.starts_with("training killed") => {
                layer_fraction(v, &d.rows)
            }
            _ => None,
        };
        charts.push(chart.unwrap_or_else(|| loss_chart(v.kind, d, losses)));
    }
    charts
}

/// The kernel gradient norms by depth (geometric means over the later half of the run).
fn by_depth(v: &Verdict, rows: &[LayerStats]) -> Option<EvidenceChart> {
    let flow = gradient_flow(rows)?;
    let points = flow
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| (i as f64, l.1))
        .collect();
    Some(EvidenceChart {
        verdict: v.kind,
        title: "kernel gradient norm by depth (later half of the run)".into(),
        x_label: "layer, input to output".into(),
        y_label: "‖g‖ (log scale)".into(),
        log_y: true,
        series: vec![("gradient norm".into(), points)],
        reference: None,
        x_names: flow.layers.iter().map(|l| l.0.clone()).collect(),
    })
}

/// The verdict's recurrent layer: ‖∂L/∂h_s‖ per time step at its last sampled step.
fn by_time(v: &Verdict, rows: &[LayerStats]) -> Option<EvidenceChart> {
    let flows = super::gradients_through_time(rows);
    let flow = flows
        .iter()
        .find(|f| Some(f.layer.as_str()) == v.layer.as_deref())?;
    let points = flow
        .last_norms
        .iter()
        .enumerate()
        .map(|(s, &g)| (s as f64, g))
        .collect();
    Some(EvidenceChart {
        verdict: v.kind,
        title: format!(
            "‖∂L/∂h_s‖ of {} by time step (training step {})",
            flow.layer, flow.last_step
        ),
        x_label: "time step s, first to last processed".into(),
        y_label: "‖∂L/∂h_s‖ (log scale)".into(),
        log_y: true,
        series: vec![("gradient norm".into(), points)],
        reference: None,
        x_names: Vec::new(),
    })
}

/// The dead (or saturated) fraction of the verdict's layer at every sampled step.
fn layer_fraction(v: &Verdict, rows: &[LayerStats]) -> Option<EvidenceChart> {
    let layer = v.layer.as_deref()?;
    let dead = v.kind != "saturation";
    let points: Vec<(f64, f64)> = rows
        .iter()
        .filter(|r| r.name == layer)
        .filter_map(|r| Some((r.step as f64, if dead { r.dead? } else { r.saturated? })))
        .collect();
    (!points.is_empty()).then(|| EvidenceChart {
        verdict: v.kind,
        title: format!(
            "{} units of {layer} by step",
            if dead { "dead" } else { "saturated" }
        ),
        x_label: "step".into(),
        y_label: "fraction of units".into(),
        log_y: false,
        series: vec![(layer.to_string(), points)],
        reference: Some(("half the units".into(), 0.5)),
        x_names: Vec::new(),
    })
}

/// The training loss per step (bucket means beyond [`MAX_POINTS`]) and the constant
/// predictor's loss.
fn loss_chart(verdict: &'static str, d: &Diagnosis, losses: &[f64]) -> EvidenceChart {
    let bucket = losses.len().div_ceil(MAX_POINTS).max(1);
    let points = losses
        .chunks(bucket)
        .enumerate()
        .map(|(i, c)| {
            let x = (i * bucket + c.len().div_ceil(2)) as f64;
            (x, c.iter().sum::<f64>() / c.len() as f64)
        })
        .collect();
    EvidenceChart {
        verdict,
        title: "training loss by step".into(),
        x_label: "step".into(),
        y_label: "loss".into(),
        log_y: false,
        series: vec![(
            if bucket > 1 {
                format!("loss (means of {bucket} steps)")
            } else {
                "loss".into()
            },
            points,
        )],
        reference: d
            .curve
            .chance
            .loss
            .map(|c| ("constant predictor".into(), c)),
        x_names: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::{Chance, CurveReport};

    fn verdict(kind: &'static str, layer: Option<&str>) -> Verdict {
        Verdict {
            kind,
            layer: layer.map(str::to_string),
            ..Verdict::default()
        }
    }

    /// Three weighted layers whose gradients shrink toward the input; the first is half dead.
    fn rows() -> Vec<LayerStats> {
        (1..=4)
            .flat_map(|step| {
                (0..3).map(move |layer| LayerStats {
                    step,
                    layer,
                    name: format!("d{layer}"),
                    has_kernel: true,
                    grad_norm: Some(10f64.powi(layer as i32 - 6)),
                    weight_norm: Some(1.0),
                    dead: (layer == 0).then_some(0.25 * step as f64),
                    ..LayerStats::default()
                })
            })
            .collect()
    }

    #[test]
    fn each_verdict_gets_the_curve_it_rests_on() {
        let losses: Vec<f64> = (0..1000).map(|i| 2.0 - i as f64 * 1e-3).collect();
        let chance = Chance {
            loss: Some(2.3),
            accuracy: None,
        };
        let d = Diagnosis {
            rows: rows(),
            curve: CurveReport::new(&losses, &[], chance),
            verdicts: vec![
                verdict("vanishing_gradients", Some("d0")),
                verdict("dead_relus", Some("d0")),
                verdict("slow_convergence", None),
                verdict("slow_convergence", None),
            ],
            ..Diagnosis::default()
        };
        let charts = evidence_charts(&d, &losses);
        assert_eq!(charts.len(), 3, "one chart per verdict id: {charts:?}");

        let depth = &charts[0];
        assert!(depth.log_y);
        assert_eq!(depth.x_names, ["d0", "d1", "d2"]);
        let norms: Vec<f64> = depth.series[0].1.iter().map(|p| p.1).collect();
        assert!((norms[0] - 1e-6).abs() < 1e-18 && (norms[2] - 1e-4).abs() < 1e-16);

        let dead = &charts[1];
        assert_eq!(
            dead.series[0].1,
            [(1.0, 0.25), (2.0, 0.5), (3.0, 0.75), (4.0, 1.0)]
        );

        // 1,000 steps in buckets of 3: 334 points, the first the mean of 2.0, 1.999, 1.998.
        let loss = &charts[2];
        assert_eq!(loss.series[0].1.len(), 334);
        assert!((loss.series[0].1[0].1 - 1.999).abs() < 1e-12);
        assert_eq!(loss.reference, Some(("constant predictor".into(), 2.3)));
    }

    /// A rate too high found by the units training killed draws the layer's dead share; one
    /// found otherwise (the loss bouncing) draws the loss.
    #[test]
    fn killed_units_draw_the_dead_share() {
        let losses: Vec<f64> = (0..100).map(|i| 2.0 - i as f64 * 1e-3).collect();
        let d = Diagnosis {
            rows: rows(),
            curve: CurveReport::new(&losses, &[], Chance::default()),
            verdicts: vec![Verdict {
                finding: "training killed ReLU units (...): d0 25% -> 100%".into(),
                ..verdict("learning_rate_too_high", Some("d0"))
            }],
            ..Diagnosis::default()
        };
        let charts = evidence_charts(&d, &losses);
        assert_eq!(charts[0].title, "dead units of d0 by step");
        assert_eq!(charts[0].series[0].1[3], (4.0, 1.0));
        let d = Diagnosis {
            verdicts: vec![verdict("learning_rate_too_high", None)],
            ..d
        };
        let charts = evidence_charts(&d, &losses);
        assert_eq!(charts[0].title, "training loss by step");
    }
}
