//! `deeptrain train`: train a spec's model, show progress, write history, summary and model.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use serde_json::json;

use deeptrain::callbacks::Callback;
use deeptrain::data::write_grid;
use deeptrain::diagnostics::Diagnostics;
use deeptrain::distributed::{self, files, Communicator};
use deeptrain::experiment::{has_checkpoint, CHECKPOINT_DIR};
use deeptrain::report;
use deeptrain::spec::Spec;
use deeptrain::{Error, Experiment, Result};

use super::run_lock::RunLock;
use deeptrain::callbacks::Progress;

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The experiment spec (TOML). Without it: a default model on the embedded digits, offline.
    spec: Option<PathBuf>,
    /// Output directory (default: the --resume directory, else runs/<spec name>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Override the spec's number of epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// Override the spec's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Record per-layer statistics every N steps into diagnostics.csv (default: about ten times
    /// per epoch; 0 turns them off).
    #[arg(long)]
    diagnostics_every: Option<u64>,
    /// Continue the run in this directory from its last checkpoint (`DIR/resume`, written at
    /// every epoch's end), writing into DIR unless --out names another place; the result is
    /// the same, bit for bit, as a run never stopped.
    #[arg(long)]
    resume: Option<PathBuf>,
}

impl TrainArgs {
    /// The arguments `compare` uses for one of its runs.
    pub fn for_compare(spec: PathBuf, out: PathBuf, epochs: Option<usize>) -> Self {
        TrainArgs {
            spec: Some(spec),
            out: Some(out),
            epochs,
            seed: None,
            diagnostics_every: None,
            resume: None,
        }
    }
}

pub fn run(args: TrainArgs, ranks: Option<Arc<dyn Communicator>>) -> Result<()> {
    // Under MPI with several ranks, rank 0 (the lead) prints and writes; every rank trains.
    let ranks = ranks.filter(|c| c.size() > 1);
    let lead = ranks.as_ref().is_none_or(|c| c.rank() == 0);
    let mut spec = super::load_spec(args.spec.as_deref())?;
    if let Some(epochs) = args.epochs {
        if epochs == 0 {
            return Err(Error::Config("--epochs must be at least 1".into()));
        }
        spec.fit.epochs = epochs;
    }
    if let Some(seed) = args.seed {
        spec.seed = seed;
    }
    let name = args
        .spec
        .as_deref()
        .and_then(|p| p.file_stem())
        .map_or("default".into(), |s| s.to_string_lossy().into_owned());
    let out = args
        .out
        .clone()
        .or_else(|| args.resume.clone())
        .unwrap_or_else(|| PathBuf::from("runs").join(&name));
    if let Some(resume) = &args.resume {
        if !has_checkpoint(resume) && resume != &out && has_checkpoint(&out) {
            return Err(Error::Config(format!(
                "{} has no checkpoint, but --out {} holds one: resume from it with --resume {}, or choose another --out",
                resume.display(),
                out.display(),
                out.display()
            )));
        }
    }
    let _lock = if lead {
        std::fs::create_dir_all(&out).map_err(|e| Error::io(&out, e))?;
        Some(RunLock::acquire(&out)?)
    } else {
        None
    };

    let started = Instant::now();
    if let Some(comm) = &ranks {
        // Before any collective whose shape depends on the spec (a sharded scaler's sums).
        agree_on_build_and_spec(comm.as_ref(), &spec)?;
    }
    let mut experiment = match &ranks {
        Some(comm) => replica(comm, &spec, args.resume.as_deref())?,
        None => match args.resume.as_deref() {
            Some(run) if has_checkpoint(run) => Experiment::resume(&spec, run)?,
            Some(run) => {
                println!(
                    "No checkpoint in {} yet: starting from the beginning",
                    run.display()
                );
                Experiment::from_spec(&spec)?
            }
            None => Experiment::from_spec(&spec)?,
        },
    };
    if let Some(comm) = &ranks {
        agree_on_data(comm.as_ref(), &experiment)?;
        if !lead {
            return train_replica(&mut experiment, comm.as_ref());
        }
        println!(
            "Data-parallel over {} MPI ranks: each trains its share of every batch of {}",
            comm.size(),
            spec.fit.batch_size
        );
        if let Some(shard) = &experiment.data().shard {
            println!(
                "Sharded data: each rank read only its block of the {} training rows ({} on rank 0)",
                shard.train_rows,
                experiment.data().train.len()
            );
        }
    }
    if let Some(line) = experiment.origin().describe() {
        println!("{line}");
    }
    let summary_table = experiment.model().summary();
    print!("{summary_table}");
    let warnings = experiment.warnings();
    for w in &warnings {
        println!("warning: {w}");
    }
    let train_len = experiment.data().train_rows();
    let steps_per_epoch = train_len.div_ceil(spec.fit.batch_size.max(1)) as u64;
    let every = args
        .diagnostics_every
        .unwrap_or((steps_per_epoch / 10).max(1));
    let diagnostics = (every > 0).then(|| Diagnostics::new(every));
    if let Some(d) = &diagnostics {
        // Resumed, diagnostics continue the checkpoint's rows.
        experiment
            .model_mut()
            .install_observer(Box::new(d.clone()))?;
    }
    if spec.fit.batch_size > train_len {
        println!(
            "warning: [fit] batch_size {} is larger than the {} training samples: every step uses the whole set",
            spec.fit.batch_size, train_len
        );
    }
    let done = experiment.history().epochs.len();
    if done > spec.fit.epochs {
        return Err(Error::Config(format!(
            "the checkpoint already has {done} epochs, more than the {} asked for; raise `epochs` (or --epochs) to continue",
            spec.fit.epochs
        )));
    }
    if args.resume.is_some() && done == spec.fit.epochs {
        // Killed after the last checkpoint but before model/ was written: finish the run.
        println!(
            "The checkpoint has all {} epochs: writing the model and the report",
            spec.fit.epochs
        );
    }
    if let Some(augmentation) = &experiment.augmentation() {
        let mut rng = <deeptrain::Rng as rand::SeedableRng>::seed_from_u64(spec.seed);
        let path = out.join("augmentation.png");
        write_grid(
            &path,
            &experiment.data().train.x,
            augmentation,
            8,
            7,
            &mut rng,
        )?;
        println!("Augmented samples: {}", path.display());
    }
    let mut progress = Progress::new();
    let mut callbacks = experiment.callbacks(&out, diagnostics.as_ref())?;
    let mut checkpoint_writer = experiment.checkpoint_writer(&out);
    // Ctrl-C and SIGTERM stop training between two steps (the last epoch's checkpoint stays).
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone())
            .map_err(|e| Error::Config(format!("cannot install the signal handler: {e}")))?;
    }
    // Two phases when transferred layers are unfrozen after some epochs.
    let fit_started = Instant::now();
    for phase in experiment.phases() {
        if let Some(u) = &phase.unfreeze {
            println!(
                "Unfroze the {} transferred layers after epoch {}",
                u.layers, u.after
            );
        }
        let mut all: Vec<&mut dyn Callback> = vec![&mut progress, &mut checkpoint_writer];
        all.extend(
            callbacks
                .iter_mut()
                .map(|c| c.as_mut() as &mut dyn Callback),
        );
        let part = match experiment.fit_phase(&phase, &mut all, Some(stop.clone())) {
            Err(Error::Interrupted { epoch, step }) => {
                return Err(Error::Stopped(format!(
                    "interrupted at epoch {epoch}, step {step}; the checkpoint of the last finished epoch is in {}; continue with: {}",
                    out.join(CHECKPOINT_DIR).display(),
                    resume_command(&args, &out)
                )))
            }
            other => other?,
        };
        if part.epochs.len() < phase.epochs.len() {
            break;
        }
    }
    let fit_seconds = fit_started.elapsed().as_secs_f64();
    // Sharded: every rank evaluates its block of the training rows, and the sums are reduced.
    let sharded_over = ranks
        .as_deref()
        .filter(|_| experiment.data().shard.is_some());
    let metadata = experiment.metadata();
    let (mut model, data, history) = experiment.into_parts();

    let as_json = |results: Vec<(String, f64)>| -> serde_json::Value {
        results
            .into_iter()
            .map(|(k, v)| (k, json!(v)))
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    let train_metrics = as_json(model.evaluate_over(&data.train, 1024, sharded_over)?);
    let validation_metrics = match &data.validation {
        Some(v) => as_json(model.evaluate(v, 1024)?),
        None => serde_json::Value::Null,
    };
    let test_metrics = match &data.test {
        Some(t) => {
            let results = model.evaluate(t, 1024)?;
            println!(
                "Test: {}",
                results
                    .iter()
                    .map(|(n, v)| format!("{n}: {v:.4}"))
                    .collect::<Vec<_>>()
                    .join(" - ")
            );
            as_json(results)
        }
        None => serde_json::Value::Null,
    };

    remove_stale_outputs(&out, spec.augmentation.is_some())?;
    history.write_csv(&out.join("history.csv"))?;
    model.save(&out.join("model"))?;
    metadata.save(&out.join("model"))?;
    // A model with batch norm also gets an inference copy with it folded into Dense layers.
    let mut inference_model = None;
    if model.has_foldable_layers() {
        let probe = data
            .validation
            .as_ref()
            .or(data.test.as_ref())
            .unwrap_or(&data.train);
        let probe = probe.slice(0..probe.len().min(2048));
        let report = super::fold::fold_and_check(&mut model, &probe.x)?;
        if report.folded > 0 {
            let dir = out.join("inference_model");
            report.model.save(&dir)?;
            metadata.save(&dir)?;
            println!("Inference model: {}", report.line());
            inference_model = Some(json!({
                "folded_batch_norm_layers": report.folded,
                "max_output_difference": report.max_difference,
                "inference_samples_per_second_before": report.speed.0,
                "inference_samples_per_second_after": report.speed.1,
            }));
        }
    }
    // Diagnostics, plots and the report.
    let rows = diagnostics.as_ref().map(|d| d.rows()).unwrap_or_default();
    if let Some(d) = &diagnostics {
        d.write_csv(&out.join("diagnostics.csv"))?;
    }
    let plots_dir = out.join("plots");
    std::fs::create_dir_all(&plots_dir).map_err(|e| Error::io(&plots_dir, e))?;
    let mut plots = report::write_plots(&plots_dir, &history, &rows)?;
    if spec.augmentation.is_some() {
        plots.push(out.join("augmentation.png"));
    }
    let mut notes: Vec<String> = warnings.iter().map(|w| format!("warning: {w}")).collect();
    let mut healthy = Vec::new();
    for v in deeptrain::diagnostics::verdicts(&rows) {
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
    let samples_per_second =
        (data.train_rows() * (epochs_run - done)) as f64 / fit_seconds.max(1e-9);
    let run_facts = report::run_facts(
        epochs_run,
        epochs_run - done,
        fit_seconds,
        samples_per_second,
    );
    let class_set = data.test.as_ref().map(|t| ("test", t));
    let class_set = class_set.or(data.validation.as_ref().map(|v| ("validation", v)));
    let classes = match class_set {
        Some((_, set)) => report::class_report(&mut model, set, metadata.class_names.as_deref())?,
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
            title: &format!("deeptrain run: {name}"),
            spec: &spec_text,
            summary: &summary_table,
            metrics: metric_sets,
            history: &history,
            warnings: notes,
            healthy,
            plots: &plots,
            run: run_facts,
            classes: class_set.map(|s| s.0).zip(classes.as_ref()),
        },
    )?;
    let summary = json!({
        "spec": args.spec.as_ref().map(|p| p.display().to_string()),
        "seed": spec.seed,
        "epochs": epochs_run,
        "train": train_metrics,
        "validation": validation_metrics,
        "test": test_metrics,
        "train_samples": data.train_rows(),
        "fit_seconds": fit_seconds,
        "wall_seconds": started.elapsed().as_secs_f64(),
        "train_samples_per_second": samples_per_second,
        "threads": deeptrain::linalg::num_threads(),
        "inference_model": inference_model,
    });
    let text = serde_json::to_string_pretty(&summary).map_err(|e| Error::Config(e.to_string()))?;
    deeptrain::io::write_atomic(&out.join("summary.json"), text.as_bytes())?;
    println!(
        "Wrote {}/history.csv, summary.json, report.html, plots/, diagnostics.csv and model/{}",
        out.display(),
        if inference_model.is_some() {
            " (and inference_model/)"
        } else {
            ""
        }
    );
    Ok(())
}

/// Removes what an earlier run in `out` wrote and this one may not rewrite (an
/// `inference_model/` from a batch-norm run, diagnostics, plots), so that every file there is
/// this run's. Checkpoints are left alone.
fn remove_stale_outputs(out: &std::path::Path, augmented: bool) -> Result<()> {
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

/// The command line that continues an interrupted run.
fn resume_command(args: &TrainArgs, out: &Path) -> String {
    let mut words = vec!["deeptrain".to_string()];
    words.push("train".into());
    if let Some(spec) = &args.spec {
        words.push(spec.display().to_string());
    }
    if let Some(epochs) = args.epochs {
        words.push(format!("--epochs {epochs}"));
    }
    if let Some(seed) = args.seed {
        words.push(format!("--seed {seed}"));
    }
    if let Some(every) = args.diagnostics_every {
        words.push(format!("--diagnostics-every {every}"));
    }
    words.push(format!("--resume {}", out.display()));
    words.join(" ")
}

/// This rank's replica: the lead builds it from the spec or loads the checkpoint in `resume`
/// and sends the checkpoint's files to the other ranks, which may not see its disk; then every
/// rank takes the lead's weights.
fn replica(comm: &Arc<dyn Communicator>, spec: &Spec, resume: Option<&Path>) -> Result<Experiment> {
    let lead = comm.rank() == 0;
    let mut packed = Vec::new();
    if lead {
        if let Some(run) = resume {
            if has_checkpoint(run) {
                let dir = run.join(CHECKPOINT_DIR);
                let dir = if dir.join("training_state.json").is_file() {
                    dir
                } else {
                    run.join(format!("{CHECKPOINT_DIR}.old"))
                };
                packed = files::pack_dir(&dir)?;
            } else {
                println!(
                    "No checkpoint in {} yet: starting from the beginning",
                    run.display()
                );
            }
        }
    }
    comm.broadcast_bytes(&mut packed);
    let over = Some(comm.clone());
    let mut experiment = match (packed.is_empty(), resume) {
        (true, _) => Experiment::from_spec_over(spec, over)?,
        (false, Some(run)) if lead => Experiment::resume_over(spec, run, over)?,
        (false, _) => {
            let run = std::env::temp_dir().join(format!(
                "deeptrain-rank{}-{}",
                comm.rank(),
                std::process::id()
            ));
            files::unpack_dir(&packed, &run.join(CHECKPOINT_DIR))?;
            let experiment = Experiment::resume_over(spec, &run, over);
            std::fs::remove_dir_all(&run).map_err(|e| Error::io(&run, e))?;
            experiment?
        }
    };
    experiment.model_mut().broadcast_weights(comm.as_ref());
    Ok(experiment)
}

/// Checks at start-up that every rank runs the same binary on the same spec, so that a stale
/// build or file on one machine is an error instead of a silently wrong run (or a hang).
fn agree_on_build_and_spec(comm: &dyn Communicator, spec: &Spec) -> Result<()> {
    let exe = std::env::current_exe().map_err(|e| Error::Config(e.to_string()))?;
    let binary = distributed::fingerprint(&std::fs::read(&exe).map_err(|e| Error::io(&exe, e))?);
    let spec_text = serde_json::to_vec(spec).map_err(|e| Error::Config(e.to_string()))?;
    agree_on(
        comm,
        &[
            ("deeptrain binary", binary),
            (
                "spec (after command-line overrides)",
                distributed::fingerprint(&spec_text),
            ),
        ],
    )
}

/// Checks that every rank prepared the same data: the same rows, or, sharded, the same deal
/// of the rows.
fn agree_on_data(comm: &dyn Communicator, experiment: &Experiment) -> Result<()> {
    let data = experiment.data();
    // Sharded, the ranks hold different rows: they compare how the rows were dealt.
    let data_hash = match &data.shard {
        Some(shard) => shard.fingerprint,
        None => {
            let mut hash = distributed::fingerprint(b"data");
            for set in std::iter::once(&data.train).chain(data.validation.as_ref()) {
                for v in set.x.data() {
                    distributed::fnv_extend(&mut hash, &v.to_bits().to_le_bytes());
                }
                for l in set.labels.data() {
                    distributed::fnv_extend(&mut hash, &l.to_bits().to_le_bytes());
                }
            }
            hash
        }
    };
    agree_on(comm, &[("training or validation data", data_hash)])
}

/// An error naming the first of `checks` (what, fingerprint) on which some rank differs from
/// rank 0.
fn agree_on(comm: &dyn Communicator, checks: &[(&str, u64)]) -> Result<()> {
    for &(what, value) in checks {
        let differing = distributed::ranks_differing(comm, value);
        if differing > 0 {
            return Err(Error::Config(format!(
                "{differing} of the {} MPI ranks have a different {what} than rank 0: every rank must run the same build on the same spec and data",
                comm.size()
            )));
        }
    }
    Ok(())
}

/// Training on a rank other than the lead: the same epochs, with the callbacks that change the
/// model or stop it (early stopping), none that writes; then, with sharded data, its part of
/// the final evaluation of the training rows.
fn train_replica(experiment: &mut Experiment, comm: &dyn Communicator) -> Result<()> {
    let mut callbacks = experiment.replica_callbacks();
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone())
            .map_err(|e| Error::Config(format!("cannot install the signal handler: {e}")))?;
    }
    for phase in experiment.phases() {
        let mut all: Vec<&mut dyn Callback> = callbacks
            .iter_mut()
            .map(|c| c.as_mut() as &mut dyn Callback)
            .collect();
        let part = experiment.fit_phase(&phase, &mut all, Some(stop.clone()))?;
        if part.epochs.len() < phase.epochs.len() {
            break;
        }
    }
    if experiment.data().shard.is_some() {
        experiment.evaluate_train_over(comm)?;
    }
    Ok(())
}
