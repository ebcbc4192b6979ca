//! [`diagnose`]: a short training run of an experiment, exactly the steps asked, with every
//! instrument on; then the verdicts. A layer's problem is reported only when the loss curve
//! shows it hurts (the loss diverges, stalls, oscillates or sits at chance); an output
//! activation that cannot express what the loss reads always is.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};

use super::{
    gradient_flow, gradient_noise, top_hessian_eigenvalue, Chance, Curve, CurveReport,
    CurveVerdicts, Diagnostics, GradientNoise, LayerStats, Verdict,
};
use crate::callbacks::{BatchEnd, Callback};
use crate::checks::{self, Warning};
use crate::optimizers::OptimizerSpec;
use crate::{Error, Experiment, Result};

/// Rows of the training set the probes after training (noise, curvature) use at most.
const PROBE_ROWS: usize = 256;

/// Everything a diagnosis found.
#[derive(Clone, Debug, Default)]
pub struct Diagnosis {
    /// Training steps run (the steps asked, unless training diverged first).
    pub steps: usize,
    /// The steps asked.
    pub requested: usize,
    /// Batch size and samples per epoch, as run.
    pub batch_size: usize,
    /// Training rows.
    pub samples: usize,
    /// Sampling interval of the per-layer statistics.
    pub every: u64,
    /// Why training stopped early, when it diverged.
    pub diverged: Option<String>,
    /// Configuration warnings that are not verdicts.
    pub warnings: Vec<Warning>,
    /// The problems found, or one `healthy` verdict.
    pub verdicts: Vec<Verdict>,
    /// Every finding from the layer statistics, healthy ones included (for people).
    pub findings: Vec<Verdict>,
    /// The per-layer statistics.
    pub rows: Vec<LayerStats>,
    /// The loss curve read against its noise.
    pub curve: CurveReport,
    /// The norm test on minibatches of the training batch size, after training.
    pub noise: Option<GradientNoise>,
    /// The Hessian's top eigenvalue after training (power iteration, 10 steps).
    pub lambda_max: Option<f64>,
    /// The learning rate.
    pub learning_rate: f64,
    /// Per layer with a kernel: ‖w - w₀‖/‖w₀‖ after the run (Cockpit's `Distance`).
    pub distances: Vec<(String, f64)>,
}

impl Diagnosis {
    /// The stable JSON form: `{"steps", "warnings": [{"id", "message"}], "verdicts": [{"id",
    /// "layer", "evidence", "fix"}]}`, plus the instruments' numbers under `"instruments"`.
    pub fn to_json(&self) -> Value {
        json!({
            "steps": self.steps,
            "warnings": self.warnings.iter().map(|w| json!({
                "id": w.id,
                "message": w.to_string(),
            })).collect::<Vec<_>>(),
            "verdicts": self.verdicts.iter().map(|v| json!({
                "id": v.kind,
                "layer": v.layer,
                "evidence": v.finding,
                "fix": v.fix,
            })).collect::<Vec<_>>(),
            "instruments": {
                "loss_start": finite(self.curve.start),
                "loss_end": finite(self.curve.end),
                "loss_noise": finite(self.curve.noise),
                "accuracy_end": self.curve.accuracy,
                "chance_loss": self.curve.chance.loss,
                "chance_accuracy": self.curve.chance.accuracy,
                "lambda_max": self.lambda_max.and_then(finite),
                "gradient_noise_ratio": self.noise.map(|n| n.ratio).and_then(finite),
                "learning_rate": self.learning_rate,
                "distance_from_init": self.distances.iter().map(|(n, d)| json!({"layer": n, "distance": finite(*d)})).collect::<Vec<_>>(),
            },
        })
    }
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// Sets the stop flag once `limit - 1` steps have ended, so that `fit` stops right after step
/// `limit` (it checks the flag after each step's update).
struct StepLimit {
    limit: usize,
    done: usize,
    stop: Arc<AtomicBool>,
}

impl Callback for StepLimit {
    fn on_batch_end(&mut self, _: &BatchEnd) {
        self.done += 1;
        if self.done + 1 >= self.limit {
            self.stop.store(true, Ordering::Relaxed);
        }
    }
}

/// Trains `experiment`'s model for exactly `steps` steps (fewer only if it diverges) with
/// per-layer statistics every `every` steps (default: about 30 samples over the run), then
/// probes the gradient noise and curvature and returns the verdicts.
pub fn diagnose(experiment: Experiment, steps: usize, every: Option<u64>) -> Result<Diagnosis> {
    if steps == 0 {
        return Err(Error::Config("--steps must be at least 1".into()));
    }
    let spec = experiment.spec().clone();
    let mut experiment = experiment;
    // The spec's whole run (class weights, augmentation, `[transfer]`) over the first
    // training rows, without validation; the stop flag cuts it to exactly `steps` steps.
    experiment.limit_to_steps(steps);
    let loss = experiment
        .model()
        .loss()
        .ok_or_else(|| Error::Config("compile the model before diagnosing it".into()))?;
    let mut warnings = checks::check(experiment.model(), spec.data.scale, &spec.optimizer);
    warnings.extend(checks::check_setup(
        experiment.model(),
        &experiment.data().train,
        spec.data.scale,
    ));
    let batch = spec.fit.batch_size.max(1);
    let every = every.unwrap_or((steps as u64 / 30).max(1));
    let diagnostics = Diagnostics::new(every);
    experiment
        .model_mut()
        .set_observer(Some(Box::new(diagnostics.clone())));
    let initial = kernels(experiment.model());
    let stop = Arc::new(AtomicBool::new(steps <= 1));
    let mut limit = StepLimit {
        limit: steps,
        done: 0,
        stop: stop.clone(),
    };
    let mut curve = Curve::new();
    let outcome = experiment
        .fit(&mut [&mut limit, &mut curve], Some(stop))
        .map(|_| ());
    let (mut model, data, _) = experiment.into_parts();
    let train = &data.train;
    model.set_observer(None);
    let (ran, diverged) = match outcome {
        Ok(_) => (limit.done, None),
        Err(Error::Interrupted { .. }) => (limit.done + 1, None),
        Err(Error::Diverged(message)) => (limit.done + 1, Some(message)),
        Err(e) => return Err(e),
    };
    let rows = diagnostics.rows();
    let distances = initial
        .into_iter()
        .zip(kernels(&model))
        .filter_map(|(before, after)| {
            let ((name, w0), (_, w)) = (before?, after?);
            let moved = w
                .iter()
                .zip(&w0)
                .map(|(&a, &b)| ((a - b) as f64).powi(2))
                .sum::<f64>()
                .sqrt();
            let size = w0.iter().map(|&a| (a as f64).powi(2)).sum::<f64>().sqrt();
            Some((name, moved / size.max(1e-12)))
        })
        .collect();
    let targets = train.targets(loss, model.output_units())?;
    let mut losses = curve.losses();
    if diverged.is_some() {
        losses.push(f64::NAN);
    }
    let report = CurveReport::new(&losses, &curve.accuracies(), Chance::of(loss, &targets));
    let probe = train.slice(0..train.len().min(PROBE_ROWS));
    let (mut noise, mut lambda_max) = (None, None);
    if diverged.is_none() {
        noise = gradient_noise(&mut model, train, batch, 8)?;
        let probe_targets = probe.targets(loss, model.output_units())?;
        lambda_max = top_hessian_eigenvalue(&mut model, &probe.x, &probe_targets, 10, spec.seed)?;
    }
    let mut diagnosis = Diagnosis {
        steps: ran,
        requested: steps,
        batch_size: batch,
        samples: train.len(),
        every,
        diverged,
        findings: super::verdicts(&rows),
        rows,
        curve: report,
        noise,
        lambda_max,
        learning_rate: spec.optimizer.learning_rate() as f64,
        distances,
        ..Diagnosis::default()
    };
    decide(&mut diagnosis, warnings, &spec.optimizer);
    Ok(diagnosis)
}

/// The verdicts of a finished training run (`deeptrain train`'s report and summary) by the
/// rules [`diagnose`] applies: a layer's problem, or a configuration warning's, is reported only
/// when the loss curve shows it hurts; otherwise one `healthy` verdict. The probes that cost
/// extra passes after training (gradient noise, curvature, distance from initialization) are
/// not run, so their verdicts do not appear. `findings` keeps every finding of the layer
/// statistics, healthy ones included.
pub fn run_verdicts(
    rows: Vec<LayerStats>,
    curve: CurveReport,
    warnings: Vec<Warning>,
    optimizer: &OptimizerSpec,
) -> Diagnosis {
    let mut diagnosis = Diagnosis {
        steps: curve.steps,
        requested: curve.steps,
        findings: super::verdicts(&rows),
        rows,
        curve,
        learning_rate: optimizer.learning_rate() as f64,
        ..Diagnosis::default()
    };
    decide(&mut diagnosis, warnings, optimizer);
    diagnosis
}

/// Each layer's kernel (name and values), `None` for layers without one.
fn kernels(model: &crate::Sequential) -> Vec<Option<(String, Vec<f32>)>> {
    model
        .layers()
        .iter()
        .map(|l| {
            Some((
                l.name().to_string(),
                l.kernel_param()?.value.data().to_vec(),
            ))
        })
        .collect()
}

/// Turns the findings, the curve and the configuration warnings into the verdicts.
///
/// An output that cannot express what the loss reads (`output_loss_mismatch` from the setup
/// checks: softmax over one unit, outputs that can be zero or negative under cross-entropy, a
/// bounded output short of the targets) is reported always, and so are ReLU units that training
/// killed (at least half a layer: `learning_rate_too_high`, [`super::killed_units`]) or, when
/// none was, more than half dead in most ReLU layers, two or more (`dead_relus`,
/// [`super::widespread_dead_units`]): a loss of capacity that does not come back even while
/// the loss falls. Nothing else is reported unless
/// the run is hurt (diverged, stalled, oscillating, at chance). Then: the divergence, if any; the configuration's certain problems (an output that does
/// not fit the loss, unscaled inputs or targets, a rate far out of range in the direction the
/// curve shows), and only when there is none, the first layer cause in the order exploding,
/// vanishing / no gradient, dead ReLUs, saturation, non-finite outputs, lost
/// self-normalization, a rate above 2/λmax, weights that do not move, gradient noise; with
/// no cause, the symptom (oscillating loss or slow convergence). One cause per run keeps the
/// verdicts precise: a vanishing gradient also saturates units and stalls the loss, and
/// naming all three says less than naming the first.
fn decide(d: &mut Diagnosis, warnings: Vec<Warning>, optimizer: &OptimizerSpec) {
    let hurt = d.diverged.is_some() || d.curve.hurts();
    let unstable = d.diverged.is_some() || d.curve.diverging || d.curve.oscillating.is_some();
    let mut configuration: Vec<Verdict> = Vec::new();
    let mut normalized = None;
    let mut kept = Vec::new();
    for w in warnings {
        // An output that cannot express what the loss reads is certain, harm or not.
        let promote = w.id == "output_loss_mismatch"
            || hurt
                && match w.id {
                    "unscaled_inputs" | "unscaled_targets" => true,
                    "learning_rate_too_high" => unstable,
                    "learning_rate_too_low" => d.curve.stalled || d.curve.at_chance,
                    _ => false,
                };
        let verdict = Verdict {
            kind: if w.id == "categorical_crossentropy_normalized" {
                "output_loss_mismatch"
            } else {
                w.id
            },
            layer: None,
            finding: format!("{}; {}", w.message, d.curve.evidence()),
            reason: w.rule.to_string(),
            fix: w.rule.to_string(),
        };
        if promote {
            if !configuration.iter().any(|v| v.kind == verdict.kind) {
                configuration.push(verdict);
            }
        } else {
            if w.id == "categorical_crossentropy_normalized" && hurt {
                normalized = Some(verdict);
            }
            kept.push(w);
        }
    }
    d.warnings = kept;
    let mut verdicts: Vec<Verdict> = Vec::new();
    if hurt {
        // After a blow-up a lower layer's gradient of 0 is the blow-up's effect, not vanishing
        // gradients (Glorot & Bengio's stall): as the activations grow toward overflow, bounded
        // units saturate exactly (in f32 tanh(x) rounds to ±1 beyond |x| ≈ 9, the sigmoid to 1 beyond x ≈ 17),
        // their derivative is exactly 0, and nothing passes below them, while the output
        // layer's gradient is huge. A diverged run's layer cause is the exploding one.
        let flow = gradient_flow(&d.rows)
            .and_then(|f| f.verdict())
            .filter(|v| !v.is_healthy())
            .filter(|v| d.diverged.is_none() || v.kind != "vanishing_gradients");
        if let Some(message) = &d.diverged {
            verdicts.push(super::divergence(message));
        }
        if !configuration.is_empty() {
            // The configuration explains it; a blow-up's gradients are evidence too.
            verdicts
                .extend(flow.filter(|f| f.kind == "exploding_gradients" && d.diverged.is_some()));
            verdicts.extend(configuration);
        } else {
            let candidates: [&dyn Fn() -> Option<Verdict>; 9] = [
                &|| flow.clone(),
                &|| {
                    super::through_time_problem(&d.rows)
                        .filter(|v| d.diverged.is_none() || v.kind != "vanishing_gradients")
                },
                &|| super::dead_units(&d.rows),
                &|| super::saturated_units(&d.rows),
                &|| super::non_finite_outputs(&d.rows).filter(|_| d.diverged.is_none()),
                &|| super::self_normalization(&d.rows).filter(|v| v.kind == "not_self_normalizing"),
                &|| curvature(d, optimizer),
                &|| frozen(d),
                &|| noisy(d),
            ];
            let cause = candidates.iter().find_map(|f| f());
            match cause {
                Some(cause) => verdicts.push(cause),
                None if d.diverged.is_none() => {
                    verdicts.extend(normalized.or_else(|| d.curve.symptom()))
                }
                None => {}
            }
        }
    } else {
        verdicts.extend(
            configuration
                .into_iter()
                .filter(|v| v.kind == "output_loss_mismatch"),
        );
        // Units that training killed name their cause; units dead in most layers otherwise.
        let lost = super::killed_units(&d.rows).or_else(|| super::widespread_dead_units(&d.rows));
        if let Some(mut lost) = lost {
            lost.finding = format!("{}; {}", lost.finding, d.curve.evidence());
            verdicts.push(lost);
        }
    }
    if verdicts.is_empty() {
        verdicts.push(Verdict {
            kind: "healthy",
            layer: None,
            finding: d.curve.evidence(),
            reason: "the loss falls and no layer shows a problem that hurts training".into(),
            fix: "nothing to do".into(),
        });
    }
    d.verdicts = verdicts;
}

/// `learning_rate_too_high` for plain SGD when the loss oscillates or diverges and the rate is
/// above 2/λmax (gradient descent on a quadratic overshoots beyond it; with momentum β the
/// bound is 2(1 + β)/λmax).
fn curvature(d: &Diagnosis, optimizer: &OptimizerSpec) -> Option<Verdict> {
    let OptimizerSpec::Sgd(sgd) = optimizer else {
        return None;
    };
    let lambda = d.lambda_max.filter(|l| l.is_finite() && *l > 0.0)?;
    let bound = 2.0 * (1.0 + sgd.momentum as f64) / lambda;
    let unstable = d.curve.oscillating.is_some() || d.curve.diverging;
    (unstable && d.learning_rate > bound).then(|| Verdict {
        kind: "learning_rate_too_high",
        layer: None,
        finding: format!(
            "learning rate {} is above 2(1 + momentum)/λmax = {bound:.3e} (top Hessian eigenvalue {lambda:.3e}); {}",
            d.learning_rate,
            d.curve.evidence()
        ),
        reason: "gradient descent overshoots along the sharpest direction when the rate exceeds 2/λmax, so the loss bounces instead of falling".into(),
        fix: format!("lower the learning rate below {bound:.1e} (try `deeptrain lr-find`), or decay it with a schedule"),
    })
}

/// `oscillating_loss` from gradient noise: a minibatch gradient is mostly noise (norm test
/// ratio above 4, batches under 32) and the loss stalls or oscillates: the steps follow the
/// noise, so the loss wanders instead of falling.
fn noisy(d: &Diagnosis) -> Option<Verdict> {
    let noise = d.noise?;
    let troubled = d.curve.oscillating.is_some() || d.curve.stalled;
    (troubled && noise.ratio > 4.0 && noise.batch < 32).then(|| Verdict {
        kind: "oscillating_loss",
        layer: None,
        finding: format!(
            "a minibatch gradient's variance is {:.1} times its mean's squared norm ({} minibatches of {}); {}",
            noise.ratio,
            noise.parts,
            noise.batch,
            d.curve.evidence()
        ),
        reason: "each step follows mostly noise, so the loss wanders instead of falling (the norm test, Byrd et al. 2012)".into(),
        fix: format!(
            "use a larger batch (at least {}), or a smaller learning rate",
            (noise.batch as f64 * noise.ratio).ceil() as usize
        ),
    })
}

/// `learning_rate_too_low` when the loss stalls and no kernel has moved 0.1% of its norm from
/// its initialization, although gradients flow (Cockpit's `Distance`).
fn frozen(d: &Diagnosis) -> Option<Verdict> {
    let moved = d.distances.iter().map(|(_, m)| *m).fold(f64::NAN, f64::max);
    let flowing = gradient_flow(&d.rows)
        .and_then(|f| f.verdict())
        .is_some_and(|v| v.kind == "healthy_gradients");
    (d.curve.stalled && flowing && moved < 1e-3).then(|| Verdict {
        kind: "learning_rate_too_low",
        layer: None,
        finding: format!(
            "no kernel moved more than {:.1e} of its norm from its initialization in {} steps at learning rate {}; {}",
            moved,
            d.steps,
            d.learning_rate,
            d.curve.evidence()
        ),
        reason: "the gradients flow, but the steps are too small to change the weights: training stalls".into(),
        fix: "raise the learning rate (find it with `deeptrain lr-find`), or use Adam".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ten sampled steps of `layers` layers named `l0`, `l1`, ..., with `dead(step, layer)`
    /// as each row's dead share.
    fn rows_with_dead(
        layers: usize,
        dead: impl Fn(u64, usize) -> Option<f64> + Copy,
    ) -> Vec<LayerStats> {
        (1..=10)
            .flat_map(|step| {
                (0..layers).map(move |layer| LayerStats {
                    step,
                    layer,
                    name: format!("l{layer}"),
                    dead: dead(step, layer),
                    ..LayerStats::default()
                })
            })
            .collect()
    }

    /// Two layers, the first with 90% dead ReLUs at every sampled step.
    fn dead_rows() -> Vec<LayerStats> {
        rows_with_dead(2, |_, layer| (layer == 0).then_some(0.9))
    }

    /// The train report's verdicts are gated as `diagnose`'s: the dead units are a finding
    /// either way, a verdict only when the loss stalls.
    #[test]
    fn run_verdicts_report_a_problem_only_when_the_curve_shows_harm() {
        let adam = OptimizerSpec::default();
        let chance = Chance {
            loss: Some(2.3),
            accuracy: None,
        };
        let falling: Vec<f64> = (0..300).map(|i| 2.3 * (-(i as f64) / 60.0).exp()).collect();
        let d = run_verdicts(
            dead_rows(),
            CurveReport::new(&falling, &[], chance),
            Vec::new(),
            &adam,
        );
        assert!(d.findings.iter().any(|v| v.kind == "dead_relus"));
        let ids: Vec<_> = d.verdicts.iter().map(|v| v.kind).collect();
        assert_eq!(ids, ["healthy"]);

        let flat = vec![2.3; 300];
        let d = run_verdicts(
            dead_rows(),
            CurveReport::new(&flat, &[], chance),
            Vec::new(),
            &adam,
        );
        let ids: Vec<_> = d.verdicts.iter().map(|v| v.kind).collect();
        assert_eq!(ids, ["dead_relus"]);
    }

    /// A run that diverged after its lower layer's gradient went to exactly 0 beside a huge
    /// output gradient (tanh units saturated by the growing activations, as on the unclipped
    /// SimpleRNN of examples/sequences at step 26 of 40): divergence and no vanishing
    /// gradients. The same rows on a stalled run that did not diverge are vanishing.
    #[test]
    fn a_diverged_run_is_not_called_vanishing() {
        let rows: Vec<LayerStats> = (1..=10)
            .flat_map(|step| {
                (0..2).map(move |layer| LayerStats {
                    step,
                    layer,
                    name: format!("l{layer}"),
                    activation: "tanh".into(),
                    has_kernel: true,
                    grad_norm: Some(if layer == 0 { 0.0 } else { 4.8e12 }),
                    weight_norm: Some(3.0),
                    ..LayerStats::default()
                })
            })
            .collect();
        let chance = Chance {
            loss: Some(0.16),
            accuracy: None,
        };
        let flat = vec![1.0; 300];
        let mut d = Diagnosis {
            rows: rows.clone(),
            curve: CurveReport::new(&[1.0, 1.0, 1.0, f64::NAN], &[], chance),
            diverged: Some("the loss became NaN at epoch 1, step 4".into()),
            ..Diagnosis::default()
        };
        decide(&mut d, Vec::new(), &OptimizerSpec::default());
        let ids: Vec<_> = d.verdicts.iter().map(|v| v.kind).collect();
        assert_eq!(ids, ["divergence"]);

        let d = run_verdicts(
            rows,
            CurveReport::new(&flat, &[], chance),
            Vec::new(),
            &OptimizerSpec::default(),
        );
        let ids: Vec<_> = d.verdicts.iter().map(|v| v.kind).collect();
        assert_eq!(ids, ["vanishing_gradients"]);
    }

    /// An output that cannot express the loss's distribution is reported on a falling curve
    /// too; a scale warning is not, and stays a warning.
    #[test]
    fn an_output_loss_mismatch_is_reported_without_harm() {
        let falling: Vec<f64> = (0..300).map(|i| 2.3 * (-(i as f64) / 60.0).exp()).collect();
        let warning = |id| Warning {
            id,
            message: id.to_string(),
            rule: "rule",
        };
        let d = run_verdicts(
            Vec::new(),
            CurveReport::new(&falling, &[], Chance::default()),
            vec![warning("output_loss_mismatch"), warning("unscaled_inputs")],
            &OptimizerSpec::default(),
        );
        let ids: Vec<_> = d.verdicts.iter().map(|v| v.kind).collect();
        assert_eq!(ids, ["output_loss_mismatch"]);
        let kept: Vec<_> = d.warnings.iter().map(|w| w.id).collect();
        assert_eq!(kept, ["unscaled_inputs"]);
    }

    /// ReLU units killed during training (a layer from 10% to 90% dead) are reported on a
    /// falling curve as a rate too high; the same share dead from the start is not.
    #[test]
    fn units_killed_during_training_are_reported_without_harm() {
        let falling: Vec<f64> = (0..300).map(|i| 2.3 * (-(i as f64) / 60.0).exp()).collect();
        let rows = |first: f64| {
            rows_with_dead(2, move |step, layer| {
                (layer == 0).then_some(if step == 1 { first } else { 0.9 })
            })
        };
        let chance = Chance::default();
        let d = run_verdicts(
            rows(0.1),
            CurveReport::new(&falling, &[], chance),
            Vec::new(),
            &OptimizerSpec::default(),
        );
        let ids: Vec<_> = d.verdicts.iter().map(|v| v.kind).collect();
        assert_eq!(ids, ["learning_rate_too_high"]);
        assert!(d.verdicts[0].finding.contains("l0 10% -> 90%"));
        let d = run_verdicts(
            rows(0.9),
            CurveReport::new(&falling, &[], chance),
            Vec::new(),
            &OptimizerSpec::default(),
        );
        let ids: Vec<_> = d.verdicts.iter().map(|v| v.kind).collect();
        assert_eq!(ids, ["healthy"]);
    }

    /// More than half the units dead in most ReLU layers is reported while the loss falls;
    /// in half of them or fewer, it waits for harm.
    #[test]
    fn units_dead_in_most_layers_are_reported_without_harm() {
        let falling: Vec<f64> = (0..300).map(|i| 2.3 * (-(i as f64) / 60.0).exp()).collect();
        let rows = |dead_layers: usize| {
            rows_with_dead(4, move |_, layer| {
                Some(if layer < dead_layers { 0.6 } else { 0.2 })
            })
        };
        let verdicts = |dead_layers| {
            run_verdicts(
                rows(dead_layers),
                CurveReport::new(&falling, &[], Chance::default()),
                Vec::new(),
                &OptimizerSpec::default(),
            )
            .verdicts
        };
        assert_eq!(verdicts(2)[0].kind, "healthy");
        let v = verdicts(3);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].kind, "dead_relus");
        assert_eq!(v[0].layer.as_deref(), Some("l0"));
        assert!(v[0]
            .finding
            .contains("in 3 of the 4 ReLU layers: l0 60%, l1 60%, l2 60%"));
    }
}
