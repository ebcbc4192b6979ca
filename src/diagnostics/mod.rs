//! What goes wrong inside training, and how to fix it: per-layer statistics recorded during
//! training ([`Diagnostics`]), the loss curve ([`Curve`]), cheap probes after training (the
//! gradient noise and the Hessian's top eigenvalue), and the verdicts built on them, each with
//! a stable id ([`IDS`]), the layer, the evidence in numbers and the chapter's fix.
//!
//! [`diagnose`] runs it all on an [`crate::Experiment`] for exactly the steps asked; the
//! configuration checks before training live in [`crate::checks`].

mod chance;
mod curve;
mod evidence;
mod gradient_flow;
mod hessian;
mod noise;
mod observer;
mod run;
mod saved;
mod selu;
mod through_time;
mod units;
mod verdict;

pub use chance::Chance;
pub use curve::{Curve, CurveReport, CurveVerdicts};
pub use evidence::{evidence_charts, EvidenceChart};
pub use gradient_flow::{gradient_flow, GradientFlow};
pub use hessian::top_hessian_eigenvalue;
pub use noise::{gradient_noise, GradientNoise};
pub use observer::{Diagnostics, LayerStats, DEAD_WINDOW};
pub use run::{diagnose, run_verdicts, Diagnosis};
pub use selu::self_normalization;
pub use through_time::{gradients_through_time, through_time_problem, TimeFlow};
pub use units::{
    dead_units, killed_units, non_finite_outputs, saturated_units, widespread_dead_units,
    KILLED_LIMIT,
};
pub use verdict::{divergence, with_divergence, Verdict, IDS};

/// Findings from the recorded per-layer statistics alone (the later half of the run, to skip
/// the first steps' transients), whether or not the loss shows harm (for people and the
/// per-layer tables; [`run_verdicts`] and [`diagnose`] gate them on the loss curve): gradient flow by depth
/// and through time,
/// dead units, units killed during training, saturated units, non-finite outputs, self-normalization. Healthy findings are
/// reported too (`self_normalizing`, `healthy_gradients`). [`diagnose`] reports a problem only
/// when the loss curve shows it hurts.
pub fn verdicts(rows: &[LayerStats]) -> Vec<Verdict> {
    let mut out = Vec::new();
    out.extend(gradient_flow(rows).and_then(|flow| flow.verdict()));
    out.extend(gradients_through_time(rows).iter().map(TimeFlow::verdict));
    out.extend(non_finite_outputs(rows));
    out.extend(dead_units(rows));
    out.extend(killed_units(rows));
    out.extend(saturated_units(rows));
    out.extend(self_normalization(rows));
    out
}

/// The rows of the later half of the run (steps at least half the last sampled step's).
fn late(rows: &[LayerStats]) -> Vec<&LayerStats> {
    let max_step = rows.iter().map(|r| r.step).max().unwrap_or(0);
    rows.iter().filter(|r| 2 * r.step >= max_step).collect()
}

/// The rows of the last sampled step.
fn last_step(rows: &[LayerStats]) -> Vec<&LayerStats> {
    let Some(last) = rows.iter().map(|r| r.step).max() else {
        return Vec::new();
    };
    rows.iter().filter(|r| r.step == last).collect()
}
