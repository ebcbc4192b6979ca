//! What a run writes into its directory once training is done: the final evaluation, `model/`
//! (with the run's metadata), the folded `inference_model/` when batch normalization folds,
//! `history.csv`, `diagnostics.csv`, `plots/`, `report.html` and `summary.json`.
//!
//! `deeptrain train` fills a [`RunOutputs`] while it trains and calls [`RunOutputs::write`]; a
//! Rust program that trains an [`Experiment`] may do the same to get the same run directory.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::json;

use super::inference::{fold_and_check, FoldReport};
use crate::checks;
use crate::diagnostics::{self, Chance, Curve, CurveReport, Diagnostics};
use crate::distributed::Communicator;
use crate::{io, report, Error, Experiment, Result};

/// Rows of the validation (else test, else training) part that the folded model is checked
/// and timed on.
const FOLD_PROBE_ROWS: usize = 2048;

/// Everything about a finished run that its files record besides the experiment itself.
pub struct RunOutputs<'a> {
    /// The run directory.
    pub dir: &'a Path,
    /// The run's name, in the report's title (`deeptrain run: NAME`).
    pub name: &'a str,
    /// The spec file, recorded in `summary.json` (`None` for a spec not read from a file).
    pub spec_file: Option<&'a Path>,
    /// Epochs done before this process started training (a resumed checkpoint's), not counted
    /// in its throughput.
    pub resumed_epochs: usize,
    /// The model's table, as shown before training.
    pub summary: &'a str,
    /// The warnings shown before training (the report lists them).
    pub warnings: &'a [String],
    /// The per-layer statistics recorded while training, if any.
    pub diagnostics: Option<&'a Diagnostics>,
    /// The per-step loss curve recorded while training (a [`Curve`] among `fit`'s callbacks);
    /// `None` reads the history's per-epoch training loss instead. The verdicts are reported
    /// only when this curve shows harm, as `deeptrain diagnose` reports them.
    pub curve: Option<&'a Curve>,
    /// When the run started (for `wall_seconds`).
    pub started: Instant,
    /// Seconds spent in training.
    pub fit_seconds: f64,
}

/// What [`RunOutputs::write`] found and wrote, for the lines the command prints.
pub struct Written {
    /// The final loss and metrics on the test part, if the data has one.
    pub test: Option<Vec<(String, f64)>>,
    /// The folded inference model, when batch normalization folded (its model is written
    /// to `inference_model/`).
    pub inference_model: Option<FoldReport>,
}

impl RunOutputs<'_> {
    /// Evaluates the trained model on every part of its data and writes the run's files (see
    /// the module docs). With sharded data under data-parallel training, `sharded_over` gives
    /// the ranks that hold the other blocks of the training rows: every rank must then call
    /// [`Experiment::evaluate_train_over`] while the lead calls this.
    pub fn write(
        &self,
        experiment: Experiment,
        sharded_over: Option<&dyn Communicator>,
    ) -> Result<Written> {
        let out = self.dir;
        let spec = experiment.spec().clone();
        let sharded_over = sharded_over.filter(|_| experiment.data().shard.is_some());
        let metadata = experiment.metadata();
        let (mut model, data, history) = experiment.into_parts();

        let as_json = |results: &[(String, f64)]| -> serde_json::Value {
            results
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect::<serde_json::Map<_, _>>()
                .into()
        };
        let train_metrics = as_json(&model.evaluate_over(&data.train, 1024, sharded_over)?);
        let validation_metrics = match &data.validation {
            Some(v) => as_json(&model.evaluate(v, 1024)?),
            None => serde_json::Value::Null,
        };
        let test = match &data.test {
            Some(t) => Some(model.evaluate(t, 1024)?),
            None => None,
        };
        let test_metrics = test.as_deref().map_or(serde_json::Value::Null, as_json);

        remove_stale_outputs(out, spec.augmentation.is_some())?;
        history.write_csv(&out.join("history.csv"))?;
        model.save(&out.join("model"))?;
        metadata.save(&out.join("model"))?;
        // A model with batch norm also gets an inference copy with it folded.
        let probe = data
            .validation
            .as_ref()
            .or(data.test.as_ref())
            .unwrap_or(&data.train);
        let probe = probe.slice(0..probe.len().min(FOLD_PROBE_ROWS)).loaded()?;
        let inference_model = fold_and_check(&mut model, &probe.x)?;
        if let Some(report) = &inference_model {
            let dir = out.join("inference_model");
            report.model.save(&dir)?;
            metadata.save(&dir)?;
        }

        // Diagnostics, plots and the report.
        let rows = self.diagnostics.map(|d| d.rows()).unwrap_or_default();
        if let Some(d) = self.diagnostics {
            d.write_csv(&out.join("diagnostics.csv"))?;
        }
        let plots_dir = out.join("plots");
        std::fs::create_dir_all(&plots_dir).map_err(|e| Error::io(&plots_dir, e))?;
        let mut plots: Vec<PathBuf> = report::write_plots(&plots_dir, &history, &rows)?;
        if spec.augmentation.is_some() {
            plots.push(out.join("augmentation.png"));
        }
        let mut notes: Vec<String> = self
            .warnings
            .iter()
            .map(|w| format!("warning: {w}"))
            .collect();
        // The same gate as `diagnose`: a problem only when the loss curve shows harm.
        let (losses, accuracies) = match self.curve {
            Some(curve) => (curve.losses(), curve.accuracies()),
            None => (history.series("loss"), history.series("accuracy")),
        };
        let chance = match model.loss() {
            Some(loss) => Chance::of(loss, &data.train.targets(loss, model.output_units())?),
            None => Chance::default(),
        };
        let mut warnings = checks::check(&model, spec.data.scale, &spec.optimizer);
        warnings.extend(checks::check_setup(&model, &data.train, spec.data.scale));
        let diagnosis = diagnostics::run_verdicts(
            rows.clone(),
            CurveReport::new(&losses, &accuracies, chance),
            warnings,
            &spec.optimizer,
        );
        let mut healthy = Vec::new();
        let found_healthy = diagnosis.findings.iter().filter(|v| v.is_healthy());
        for v in diagnosis.verdicts.iter().chain(found_healthy) {
            let line = format!("verdict {}: {} (fix: {})", v.kind, v.finding, v.fix);
            if v.is_healthy() {
                healthy.push(line);
            } else {
                notes.push(line);
            }
        }
        notes.extend(report::early_stopping_note(
            &spec.callbacks,
            &history,
            spec.fit.epochs,
        ));
        let spec_text = report::effective_spec(&spec);
        // Throughput over the epochs this process trained (a resumed run's earlier ones not).
        let epochs_run = history.epochs.len();
        let trained = epochs_run.saturating_sub(self.resumed_epochs);
        let fit_seconds = self.fit_seconds;
        let samples_per_second = (data.train_rows() * trained) as f64 / fit_seconds.max(1e-9);
        let run_facts = report::run_facts(epochs_run, trained, fit_seconds, samples_per_second);
        let class_set = data.test.as_ref().map(|t| ("test", t));
        let class_set = class_set.or(data.validation.as_ref().map(|v| ("validation", v)));
        let classes = match class_set {
            Some((_, set)) => {
                report::class_report(&mut model, set, metadata.class_names.as_deref())?
            }
            None => None,
        };
        let mut metric_sets = Vec::new();
        for (set, value) in [
            ("train", &train_metrics),
            ("validation", &validation_metrics),
            ("test", &test_metrics),
        ] {
            if let Some(map) = value.as_object() {
                metric_sets.push((
                    set.to_string(),
                    map.iter()
                        .filter_map(|(k, v)| v.as_f64().map(|x| (k.clone(), x)))
                        .collect(),
                ));
            }
        }
        report::write_report(
            &out.join("report.html"),
            &report::ReportContent {
                title: &format!("deeptrain run: {}", self.name),
                spec: &spec_text,
                summary: self.summary,
                metrics: metric_sets,
                history: &history,
                warnings: notes,
                healthy,
                evidence: diagnostics::evidence_charts(&diagnosis, &losses),
                plots: &plots,
                run: run_facts,
                classes: class_set.map(|s| s.0).zip(classes.as_ref()),
            },
        )?;
        let summary = json!({
            "spec": self.spec_file.map(|p| p.display().to_string()),
            "seed": spec.seed,
            "epochs": epochs_run,
            "train": train_metrics,
            "validation": validation_metrics,
            "test": test_metrics,
            "train_samples": data.train_rows(),
            "fit_seconds": fit_seconds,
            "wall_seconds": self.started.elapsed().as_secs_f64(),
            "train_samples_per_second": samples_per_second,
            "threads": crate::linalg::num_threads(),
            "verdicts": diagnosis.verdicts.iter().map(|v| json!({
                "id": v.kind,
                "layer": v.layer,
                "evidence": v.finding,
                "fix": v.fix,
            })).collect::<Vec<_>>(),
            "inference_model": inference_model.as_ref().map(|report| json!({
                "folded_batch_norm_layers": report.folded,
                "max_output_difference": report.max_difference,
                "inference_samples_per_second_before": report.speed.0,
                "inference_samples_per_second_after": report.speed.1,
            })),
        });
        let text =
            serde_json::to_string_pretty(&summary).map_err(|e| Error::Config(e.to_string()))?;
        io::write_atomic(&out.join("summary.json"), text.as_bytes())?;
        Ok(Written {
            test,
            inference_model,
        })
    }
}

/// Removes what an earlier run in `out` wrote and this one may not rewrite (an
/// `inference_model/` from a batch-norm run, diagnostics, plots), so that every file there is
/// this run's. Checkpoints are left alone.
fn remove_stale_outputs(out: &Path, augmented: bool) -> Result<()> {
    for dir in ["inference_model", "plots"] {
        let path = out.join(dir);
        if path.is_dir() {
            std::fs::remove_dir_all(&path).map_err(|e| Error::io(&path, e))?;
        }
    }
    let mut files = vec!["diagnostics.csv"];
    if !augmented {
        files.push("augmentation.png");
    }
    for file in files {
        let path = out.join(file);
        if path.is_file() {
            std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        }
    }
    Ok(())
}
