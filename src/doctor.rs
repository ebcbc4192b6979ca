//! The doctor: diagnose a spec, try the chapter's remedies for what it finds in short trials,
//! and keep only what the trials show.
//!
//! 1. A baseline trial of the spec as written, with [`Diagnostics`] installed: its verdicts (by
//!    [`diagnostics::run_verdicts`], the rules `deeptrain diagnose` applies: a layer's problem
//!    only when the loss curve shows harm) and the configuration warnings are the problems
//!    found. The layer findings the gate holds back are treated too, listed as findings, not
//!    verdicts: a trial measures the held-out score, which a problem can cost without
//!    stalling the training loss, and only a trial that shows a gain keeps a remedy. The
//!    doctor adds its own finding when the
//!    trial diverges (`divergence`) or does not learn ([`NOT_LEARNING`]: accuracy within 5 points
//!    of chance, or a training loss that falls by less than 10%); for that one it tries every
//!    remedy.
//! 2. For each problem, the chapter's remedies ([`remedies::for_problem`]) each run as a trial:
//!    the same seed and the same short budget (the spec's epochs, cut to at most
//!    [`DoctorOptions::trial_steps`] steps). A trial's score is the held-out accuracy (the
//!    validation part, else the test part, else the training rows), or the loss when the spec
//!    has no accuracy metric.
//! 3. The best remedy is kept when it beats the baseline by more than [`MIN_GAIN`]; then the
//!    others are tried on top of it, for [`DoctorOptions::rounds`] rounds (greedy).
//!
//! Remedies are edits of the spec's TOML table, so the repaired spec reads like the original,
//! with a comment per change saying what its trial measured. Nothing is claimed without a trial:
//! a change is in the repaired spec only if a trial with it beat the trial without it.

pub mod remedies;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use toml::{Table, Value};

use crate::callbacks::{BatchEnd, Callback};
use crate::diagnostics::{self, Diagnostics};
use crate::model::{FitOptions, LrFindOptions};
use crate::spec::Spec;
use crate::{checks, io, Error, Experiment, Result};

pub use remedies::{Context, Remedy, REMEDIES};

/// The smallest improvement a remedy must show to be kept: one accuracy point, or 5% of the
/// loss.
pub const MIN_GAIN: f64 = 0.01;

/// The doctor's own problem id for a baseline trial that does not learn (accuracy near chance,
/// or a training loss that falls by less than 10%): every remedy is tried.
pub const NOT_LEARNING: &str = "not_learning";

/// Settings of [`doctor`].
#[derive(Clone, Debug, PartialEq)]
pub struct DoctorOptions {
    /// The most training steps of a trial (the spec's own epochs when they are fewer).
    pub trial_steps: usize,
    /// Rounds of the greedy search (each tries the remaining remedies on top of the best so
    /// far); 0 runs the baseline trial and its diagnosis only.
    pub rounds: usize,
}

impl Default for DoctorOptions {
    fn default() -> Self {
        DoctorOptions {
            trial_steps: 300,
            rounds: 3,
        }
    }
}

/// How a trial ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Score {
    /// `accuracy` (higher is better) or `loss` (lower is better).
    pub metric: &'static str,
    /// Its held-out value; NaN when training diverged.
    pub value: f64,
    /// The held-out loss (NaN when training diverged).
    pub loss: f64,
    /// The mean training loss of the first and the last tenth of the steps.
    pub train_loss: (f64, f64),
    /// Whether training stopped on a non-finite loss.
    pub diverged: bool,
}

impl Score {
    /// Whether `self` beats `other` by more than [`MIN_GAIN`].
    pub fn beats(&self, other: &Score) -> bool {
        if self.diverged || !self.value.is_finite() {
            return false;
        }
        if other.diverged || !other.value.is_finite() {
            return true;
        }
        match self.metric {
            "accuracy" => self.value > other.value + MIN_GAIN,
            _ => self.value < other.value * (1.0 - 5.0 * MIN_GAIN),
        }
    }

    fn show(&self) -> String {
        if self.diverged {
            "diverged".into()
        } else if self.metric == "accuracy" {
            format!("{:.1}%", 100.0 * self.value)
        } else {
            format!("loss {:.4}", self.value)
        }
    }
}

/// One trial: the remedies applied (in order), the changes they made, and the score.
#[derive(Clone, Debug, PartialEq)]
pub struct Trial {
    /// Remedy names, the kept ones first.
    pub remedies: Vec<&'static str>,
    /// What the last remedy changed in the spec.
    pub changes: Vec<String>,
    /// The score of the trial.
    pub score: Score,
    /// The score of the spec it started from.
    pub before: Score,
}

/// What the doctor found and tried.
#[derive(Clone, Debug)]
pub struct Report {
    /// The spec file.
    pub spec: PathBuf,
    /// The problems it set out to treat (verdict and warning ids).
    pub problems: Vec<String>,
    /// Every warning and verdict of the baseline, as text.
    pub findings: Vec<String>,
    /// The spec as written.
    pub baseline: Score,
    /// Every trial, in order.
    pub trials: Vec<Trial>,
    /// The trials kept, in order (indices into `trials`); empty when nothing helped.
    pub kept: Vec<usize>,
    /// The spec's table with the kept remedies applied.
    pub repaired: Table,
    /// The budget of every trial, in steps.
    pub steps: usize,
}

impl Report {
    /// The best score: the last kept trial's, else the baseline.
    pub fn best(&self) -> &Score {
        self.kept
            .last()
            .map_or(&self.baseline, |&i| &self.trials[i].score)
    }

    /// The table of trials as Markdown: remedy, metric before, metric after, kept.
    pub fn table(&self) -> String {
        let mut out = String::from(
            "| remedy | changes | before | after | kept |\n| --- | --- | --- | --- | --- |\n",
        );
        let _ = writeln!(
            out,
            "| (the spec as written) | - | - | {} | - |",
            self.baseline.show()
        );
        for (i, t) in self.trials.iter().enumerate() {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                t.remedies.join(" + "),
                t.changes.join("; "),
                t.before.show(),
                t.score.show(),
                if self.kept.contains(&i) { "yes" } else { "" }
            );
        }
        out
    }

    /// `doctor.md`: the findings, the table and the verdict, for people.
    pub fn markdown(&self) -> String {
        let mut out = format!("# deeptrain doctor: {}\n\n", self.spec.display());
        let _ = writeln!(
            out,
            "Every trial: seed and data of the spec, at most {} training steps; the score is {} on held-out data.\n",
            self.steps,
            if self.baseline.metric == "accuracy" { "accuracy" } else { "the loss" }
        );
        out.push_str("## Findings\n\n");
        if self.findings.is_empty() {
            out.push_str("- none\n");
        }
        for f in &self.findings {
            let _ = writeln!(out, "- {f}");
        }
        out.push_str("\n## Trials\n\n");
        out.push_str(&self.table());
        out.push_str("\n## Result\n\n");
        out.push_str(&self.conclusion());
        out.push('\n');
        out
    }

    fn conclusion(&self) -> String {
        if self.problems.is_empty() {
            return "Nothing to repair: the diagnosis found no problem and the baseline trial learns.".into();
        }
        match self.kept.last() {
            None => format!(
                "No remedy beat the spec as written ({}) in its trial; repaired.toml is the original.",
                self.baseline.show()
            ),
            Some(&i) => format!(
                "{} -> {} with {} (repaired.toml).",
                self.baseline.show(),
                self.trials[i].score.show(),
                self.trials[i].remedies.join(" + ")
            ),
        }
    }

    /// `repaired.toml`: the repaired spec, its header saying what changed and why.
    pub fn repaired_toml(&self) -> Result<String> {
        let mut out = format!(
            "# Repaired by `deeptrain doctor` from {}.\n",
            self.spec.display()
        );
        if self.kept.is_empty() {
            out.push_str("# No remedy beat the spec as written in its trial: unchanged.\n");
        }
        let mut before = self.baseline.show();
        for &i in &self.kept {
            let t = &self.trials[i];
            let name = t.remedies.last().copied().unwrap_or_default();
            let why = remedies::remedy(name).map_or("", |r| r.why);
            let _ = writeln!(
                out,
                "# - {name}: {} ({before} -> {} in a {}-step trial). Why: {why}.",
                t.changes.join("; "),
                t.score.show(),
                self.steps
            );
            before = t.score.show();
        }
        let body = toml::to_string(&self.repaired)
            .map_err(|e| Error::Config(format!("cannot write the repaired spec: {e}")))?;
        out.push('\n');
        out.push_str(&body);
        Ok(out)
    }

    /// `doctor.json`, for scripts (bench/diagnosis/score.py --doctor).
    pub fn json(&self) -> String {
        let score = |s: &Score| {
            format!(
                "{{\"metric\": \"{}\", \"value\": {}, \"loss\": {}, \"diverged\": {}}}",
                s.metric,
                json_number(s.value),
                json_number(s.loss),
                s.diverged
            )
        };
        let strings = |v: &[String]| {
            v.iter()
                .map(|s| json_string(s))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let trials: Vec<String> = self
            .trials
            .iter()
            .enumerate()
            .map(|(i, t)| {
                format!(
                    "{{\"remedies\": [{}], \"changes\": [{}], \"before\": {}, \"after\": {}, \"kept\": {}}}",
                    t.remedies.iter().map(|r| json_string(r)).collect::<Vec<_>>().join(", "),
                    strings(&t.changes),
                    score(&t.before),
                    score(&t.score),
                    self.kept.contains(&i)
                )
            })
            .collect();
        let best_remedy = self.kept.last().map_or("null".into(), |&i| {
            json_string(&self.trials[i].remedies.join(" + "))
        });
        format!(
            "{{\"spec\": {}, \"steps\": {}, \"problems\": [{}], \"baseline\": {}, \"best\": {}, \"best_remedy\": {}, \"trials\": [{}]}}\n",
            json_string(&self.spec.display().to_string()),
            self.steps,
            strings(&self.problems),
            score(&self.baseline),
            score(self.best()),
            best_remedy,
            trials.join(", ")
        )
    }

    /// Writes `repaired.toml`, `doctor.md` and `doctor.json` into `dir` (created if needed).
    pub fn write(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        io::write_atomic(&dir.join("repaired.toml"), self.repaired_toml()?.as_bytes())?;
        io::write_atomic(&dir.join("doctor.md"), self.markdown().as_bytes())?;
        io::write_atomic(&dir.join("doctor.json"), self.json().as_bytes())
    }
}

fn json_number(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        "null".into()
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Runs the doctor on the spec file at `path` (see the module docs).
pub fn doctor(path: &Path, options: &DoctorOptions) -> Result<Report> {
    if options.trial_steps == 0 {
        return Err(Error::Config(
            "the doctor's trials need at least 1 step".into(),
        ));
    }
    let text = io::read_to_string(path)?;
    let mut original: Table = toml::from_str(&text)
        .map_err(|e| Error::spec(path, e.message().trim().replace('\n', " ")))?;
    if original.contains_key("transfer") || original.contains_key("graph") {
        return Err(Error::spec(
            path,
            "the doctor edits [[layers]] specs; this one has [transfer] or [graph]",
        ));
    }
    absolute_data_paths(&mut original, path);
    let trials = Trials::new(path, options);
    let (baseline, findings, problems, context) = trials.baseline(&original)?;
    let mut report = Report {
        spec: path.to_path_buf(),
        problems: problems.clone(),
        findings,
        baseline: baseline.clone(),
        trials: Vec::new(),
        kept: Vec::new(),
        repaired: original.clone(),
        steps: options.trial_steps,
    };
    let mut candidates: Vec<&'static str> = Vec::new();
    for p in &problems {
        let list: Vec<&'static str> = if p == NOT_LEARNING {
            REMEDIES.iter().map(|r| r.name).collect()
        } else {
            remedies::for_problem(p).to_vec()
        };
        for r in list {
            if !candidates.contains(&r) {
                candidates.push(r);
            }
        }
    }
    let mut current = original;
    let mut current_score = baseline;
    let mut applied: Vec<&'static str> = Vec::new();
    for _ in 0..options.rounds {
        let mut best: Option<usize> = None;
        let mut best_table = None;
        for &name in &candidates {
            if applied.contains(&name) {
                continue;
            }
            let Some(remedy) = remedies::remedy(name) else {
                continue;
            };
            let mut table = current.clone();
            let Some(changes) = remedy.apply(&mut table, &context) else {
                continue;
            };
            let score = trials.run(&table)?;
            let mut names = applied.clone();
            names.push(name);
            report.trials.push(Trial {
                remedies: names,
                changes,
                score,
                before: current_score.clone(),
            });
            let i = report.trials.len() - 1;
            let better = match best {
                None => report.trials[i].score.beats(&current_score),
                Some(b) => {
                    report.trials[i].score.beats(&report.trials[b].score)
                        || better_tie(&report.trials[i].score, &report.trials[b].score)
                }
            };
            if better && report.trials[i].score.beats(&current_score) {
                best = Some(i);
                best_table = Some(table);
            }
        }
        let (Some(b), Some(table)) = (best, best_table) else {
            break;
        };
        report.kept.push(b);
        applied = report.trials[b].remedies.clone();
        current_score = report.trials[b].score.clone();
        current = table;
    }
    report.repaired = current;
    Ok(report)
}

/// Between two trials that both beat the baseline: the higher accuracy (or lower loss).
fn better_tie(a: &Score, b: &Score) -> bool {
    match a.metric {
        "accuracy" => a.value > b.value || (a.value == b.value && a.loss < b.loss),
        _ => a.value < b.value,
    }
}

/// Makes `[data]`'s file paths absolute (relative to the spec's folder), so that the repaired
/// spec reads the same files from wherever it is written.
fn absolute_data_paths(table: &mut Table, spec: &Path) {
    let base = spec.parent().unwrap_or(Path::new("."));
    let Some(data) = table.get_mut("data").and_then(Value::as_table_mut) else {
        return;
    };
    for key in ["dataset", "labels"] {
        if let Some(Value::String(p)) = data.get_mut(key) {
            let candidate = base.join(&*p);
            if Path::new(p.as_str()).is_relative() && candidate.exists() {
                let absolute = std::fs::canonicalize(&candidate).unwrap_or(candidate);
                *p = absolute.display().to_string();
            }
        }
    }
}

/// Runs trials of edited specs: the same seed, the same budget.
struct Trials<'a> {
    path: &'a Path,
    options: &'a DoctorOptions,
}

impl<'a> Trials<'a> {
    fn new(path: &'a Path, options: &'a DoctorOptions) -> Self {
        Trials { path, options }
    }

    fn spec(&self, table: &Table) -> Result<Spec> {
        let text = toml::to_string(table)
            .map_err(|e| Error::Config(format!("cannot write the edited spec: {e}")))?;
        let mut spec = Spec::parse(&text, self.path)?;
        spec.data
            .resolve_paths(self.path.parent().unwrap_or(Path::new(".")));
        Ok(spec)
    }

    /// The baseline trial with diagnostics: its score, the findings as text, the problem ids
    /// and what the remedies need to know.
    fn baseline(&self, table: &Table) -> Result<(Score, Vec<String>, Vec<String>, Context)> {
        let spec = self.spec(table)?;
        let experiment = Experiment::from_spec(&spec)?;
        let (mut model, data, _) = experiment.into_parts();
        let mut findings = Vec::new();
        let mut problems = Vec::new();
        let mut warnings = checks::check(&model, spec.data.scale, &spec.optimizer);
        warnings.extend(checks::check_setup(&model, &data.train, spec.data.scale));
        let steps = self.steps(&spec, data.train.len());
        let diagnostics = Diagnostics::new((steps as u64 / 30).max(1));
        model.set_observer(Some(Box::new(diagnostics.clone())));
        let curve = diagnostics::Curve::new();
        // Watching a run never changes it (tests/observed_steps.rs: an observed plain-SGD step
        // updates by the same fused product), so the observed trial is scored as it is, with
        // the same numbers as an unobserved trial of the same spec.
        let (score, diverged) =
            self.fit_and_score(&mut model, &spec, &data, Some(curve.clone()))?;
        // The verdicts `diagnose` gives, by the same rules: a layer's problem only when the
        // loss curve shows harm.
        let mut losses = curve.losses();
        if diverged.is_some() {
            losses.push(f64::NAN);
        }
        let chance = match model.loss() {
            Some(loss) => {
                diagnostics::Chance::of(loss, &data.train.targets(loss, model.output_units())?)
            }
            None => diagnostics::Chance::default(),
        };
        let report = diagnostics::CurveReport::new(&losses, &curve.accuracies(), chance);
        let gated =
            diagnostics::run_verdicts(diagnostics.rows(), report, warnings, &spec.optimizer);
        for v in gated.verdicts.iter().filter(|v| !v.is_healthy()) {
            findings.push(format!("verdict {}: {}", v.kind, v.finding));
            push_unique(&mut problems, v.kind);
        }
        for w in &gated.warnings {
            findings.push(format!("warning ({}): {}", w.id, w.message));
            push_unique(&mut problems, w.id);
        }
        // The layer findings the gate held back (the baseline's loss curve shows no harm from
        // them) are treated too: the trials, not the gate, decide what is kept, and a problem
        // that does not stall this run's training loss can still cost held-out accuracy.
        let mut held_back = gated.findings;
        if let Some(message) = diverged {
            held_back = diagnostics::with_divergence(held_back, &message);
        }
        for v in held_back.iter().filter(|v| !v.is_healthy()) {
            if !problems.iter().any(|p| p == v.kind) {
                findings.push(format!(
                    "finding {} (not a verdict: the loss curve shows no harm from it): {}",
                    v.kind, v.finding
                ));
                push_unique(&mut problems, v.kind);
            }
        }
        // The doctor's own finding: a baseline that does not learn.
        let (first, last) = score.train_loss;
        let chance = chance_accuracy(&held_out(&data).labels);
        if score.diverged {
            findings.push("the baseline trial diverged".into());
            push_unique(&mut problems, "divergence");
        } else if score.metric == "accuracy" && score.value <= chance + 0.05 {
            findings.push(format!(
                "the baseline trial's accuracy ({:.1}%) is within 5 points of chance ({:.1}%): it does not learn",
                100.0 * score.value,
                100.0 * chance
            ));
            push_unique(&mut problems, NOT_LEARNING);
        } else if last.partial_cmp(&(0.9 * first)) != Some(std::cmp::Ordering::Less) {
            findings.push(format!(
                "the baseline trial's training loss fell by less than 10% ({first:.4} -> {last:.4})"
            ));
            push_unique(&mut problems, NOT_LEARNING);
        }
        let mut context = label_context(data.train_labels());
        if problems
            .iter()
            .any(|p| p == NOT_LEARNING || remedies::for_problem(p).contains(&"lr_range_test"))
        {
            context.suggested_lr = self.range_test(table)?;
        }
        Ok((score, findings, problems, context))
    }

    /// The range test's suggestion on a fresh model of `table` (None when it cannot tell).
    fn range_test(&self, table: &Table) -> Result<Option<f64>> {
        let spec = self.spec(table)?;
        let (mut model, data, _) = Experiment::from_spec(&spec)?.into_parts();
        let batch = spec.fit.batch_size.max(1);
        let steps = data.train.len().div_ceil(batch).clamp(100, 300);
        let options = LrFindOptions {
            steps: Some(steps),
            batch_size: batch,
            ..LrFindOptions::default()
        };
        Ok(match model.lr_range_test(&data.train, &options) {
            Ok(r) if r.suggested_lr.is_finite() && r.suggested_lr > 0.0 => Some(r.suggested_lr),
            Ok(_) | Err(Error::Diverged(_)) => None,
            Err(e) => return Err(e),
        })
    }

    fn steps(&self, spec: &Spec, train_rows: usize) -> usize {
        let per_epoch = train_rows.div_ceil(spec.fit.batch_size.max(1)).max(1);
        (spec.fit.epochs.max(1) * per_epoch).min(self.options.trial_steps)
    }

    /// A trial of `table`: train for the budget, score on held-out data.
    fn run(&self, table: &Table) -> Result<Score> {
        let spec = self.spec(table)?;
        let (mut model, data, _) = Experiment::from_spec(&spec)?.into_parts();
        Ok(self.fit_and_score(&mut model, &spec, &data, None)?.0)
    }

    /// Trains `model` for the trial's budget (recording every step's loss and accuracy in
    /// `curve`, when given) and scores it on held-out data.
    fn fit_and_score(
        &self,
        model: &mut crate::Sequential,
        spec: &Spec,
        data: &crate::data::Prepared,
        curve: Option<diagnostics::Curve>,
    ) -> Result<(Score, Option<String>)> {
        let batch = spec.fit.batch_size.max(1);
        let per_epoch = data.train.len().div_ceil(batch).max(1);
        let steps = self.steps(spec, data.train.len());
        // Whole epochs, then the remainder as a slice of the last one.
        let epochs = steps.div_ceil(per_epoch);
        let options = FitOptions {
            epochs,
            batch_size: batch,
            shuffle: spec.fit.shuffle,
            ..FitOptions::default()
        };
        let train = if epochs == 1 {
            data.train.slice(0..(steps * batch).min(data.train.len()))
        } else {
            data.train.clone()
        };
        let metric = if model.metric_names().iter().any(|m| m.contains("accuracy")) {
            "accuracy"
        } else {
            "loss"
        };
        let mut losses = LossCurve::default();
        let mut steps_curve = curve;
        let mut callbacks: Vec<&mut dyn Callback> = vec![&mut losses];
        if let Some(c) = steps_curve.as_mut() {
            callbacks.push(c);
        }
        match model.fit(&train, None, &options, &mut callbacks) {
            Ok(_) => {}
            Err(Error::Diverged(message)) => {
                let score = Score {
                    metric,
                    value: f64::NAN,
                    loss: f64::NAN,
                    train_loss: (f64::NAN, f64::NAN),
                    diverged: true,
                };
                return Ok((score, Some(message)));
            }
            Err(e) => return Err(e),
        };
        let train_loss = losses.first_and_last();
        let held = held_out(data);
        let results = model.evaluate(held, 1024)?;
        let get = |name: &str| results.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
        let loss = get("loss").unwrap_or(f64::NAN);
        let value = if metric == "accuracy" {
            results
                .iter()
                .find(|(n, _)| n.contains("accuracy"))
                .map_or(f64::NAN, |(_, v)| *v)
        } else {
            loss
        };
        let diverged = !loss.is_finite();
        Ok((
            Score {
                metric,
                value: if diverged { f64::NAN } else { value },
                loss,
                train_loss,
                diverged,
            },
            diverged.then(|| "the held-out loss is not finite".to_string()),
        ))
    }
}

/// The training loss of every step (recovered from the running means), for the first and
/// last tenth of a trial.
#[derive(Default)]
struct LossCurve {
    losses: Vec<f64>,
    previous_mean: f64,
}

impl Callback for LossCurve {
    fn on_batch_end(&mut self, batch: &BatchEnd) {
        let Some(mean) = batch.values.first().copied() else {
            return;
        };
        let k = batch.step as f64;
        let previous = if batch.step <= 1 {
            0.0
        } else {
            self.previous_mean
        };
        self.losses.push(k * mean - (k - 1.0) * previous);
        self.previous_mean = mean;
    }
}

impl LossCurve {
    /// The mean loss of the first and of the last tenth of the steps.
    fn first_and_last(&self) -> (f64, f64) {
        let n = self.losses.len();
        if n == 0 {
            return (f64::NAN, f64::NAN);
        }
        let tenth = (n / 10).max(1);
        let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
        (mean(&self.losses[..tenth]), mean(&self.losses[n - tenth..]))
    }
}

/// The data a trial is scored on: validation, else test, else the training rows.
fn held_out(data: &crate::data::Prepared) -> &crate::Dataset {
    data.validation
        .as_ref()
        .or(data.test.as_ref())
        .unwrap_or(&data.train)
}

/// The accuracy of always predicting the most frequent class of `labels` (class indices or
/// one-hot rows); 0.5 for anything else.
fn chance_accuracy(labels: &crate::Tensor) -> f64 {
    let width = labels.row_len().max(1);
    let values = labels.data();
    let n = values.len() / width;
    if n == 0 {
        return 0.0;
    }
    let mut counts = std::collections::HashMap::new();
    for row in values.chunks(width) {
        let class = if width == 1 {
            if row[0].fract() != 0.0 {
                return 0.5;
            }
            row[0] as i64
        } else {
            row.iter()
                .enumerate()
                .fold(
                    (0, f32::MIN),
                    |best, (i, &v)| if v > best.1 { (i, v) } else { best },
                )
                .0 as i64
        };
        *counts.entry(class).or_insert(0usize) += 1;
    }
    counts.values().copied().max().unwrap_or(0) as f64 / n as f64
}

fn push_unique(list: &mut Vec<String>, id: &str) {
    if !list.iter().any(|p| p == id) {
        list.push(id.to_string());
    }
}

/// What the labels are like (for the output remedy).
fn label_context(labels: &crate::Tensor) -> Context {
    let width = labels.row_len().max(1);
    let values = labels.data();
    let binary = values.iter().all(|&v| v == 0.0 || v == 1.0);
    let one_hot = width > 1
        && binary
        && values
            .chunks(width)
            .all(|row| row.iter().sum::<f32>() == 1.0);
    let integer = width == 1 && values.iter().all(|v| v.fract() == 0.0 && *v >= 0.0);
    Context {
        label_width: width,
        labels_binary: binary,
        labels_one_hot: one_hot,
        labels_integer: integer,
        suggested_lr: None,
    }
}

#[cfg(test)]
mod tests;
