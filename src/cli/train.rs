//! `deeptrain train`: train a spec's model and show its progress; the run's files are written
//! by the library ([`deeptrain::run::RunOutputs`]), data-parallel start-up too
//! ([`deeptrain::run::Replicas`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use deeptrain::callbacks::Callback;
use deeptrain::data::write_grid;
use deeptrain::diagnostics::{Curve, Diagnostics};
use deeptrain::distributed::Communicator;
use deeptrain::experiment::{has_checkpoint, CHECKPOINT_DIR};
use deeptrain::run::{Replicas, RunOutputs};
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
    /// Start over in an --out that holds an earlier run's checkpoint, replacing that run (without
    /// it, such an --out is refused and left as it is).
    #[arg(long, conflicts_with = "resume")]
    overwrite: bool,
}

impl TrainArgs {
    /// The arguments `compare` uses for one of its runs.
    pub fn for_compare(
        spec: PathBuf,
        out: PathBuf,
        epochs: Option<usize>,
        overwrite: bool,
    ) -> Self {
        TrainArgs {
            spec: Some(spec),
            out: Some(out),
            epochs,
            seed: None,
            diagnostics_every: None,
            resume: None,
            overwrite,
        }
    }
}

pub fn run(args: TrainArgs, ranks: Option<Arc<dyn Communicator>>) -> Result<()> {
    // Under MPI with several ranks, rank 0 (the lead) prints and writes; every rank trains.
    let replicas = ranks.filter(|c| c.size() > 1).map(Replicas::new);
    let lead = replicas.as_ref().is_none_or(Replicas::is_lead);
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
    // A fresh run into a directory holding another run's checkpoint would replace it at the end
    // of its first epoch: refused unless asked for (as Hugging Face's `overwrite_output_dir`).
    if args.resume.is_none() && !args.overwrite && has_checkpoint(&out) {
        let place = match args.out {
            Some(_) => format!("--out {}", out.display()),
            None => format!("{} (the default --out)", out.display()),
        };
        return Err(Error::Config(format!(
            "{place} holds the checkpoint of an earlier run: continue it with --resume {}, start it over with --overwrite, or choose another --out",
            out.display()
        )));
    }
    let _lock = if lead {
        std::fs::create_dir_all(&out).map_err(|e| Error::io(&out, e))?;
        Some(RunLock::acquire(&out)?)
    } else {
        None
    };

    let started = Instant::now();
    let resume = args.resume.as_deref();
    if let Some(run) = resume.filter(|run| lead && !has_checkpoint(run)) {
        println!(
            "No checkpoint in {} yet: starting from the beginning",
            run.display()
        );
    }
    let mut experiment = match (&replicas, resume) {
        (Some(replicas), _) => replicas.experiment(&spec, resume)?,
        (None, Some(run)) if has_checkpoint(run) => Experiment::resume(&spec, run)?,
        (None, _) => Experiment::from_spec(&spec)?,
    };
    // Ctrl-C and SIGTERM stop training between two steps (the last epoch's checkpoint stays).
    let stop = stop_on_signals()?;
    if let Some(replicas) = &replicas {
        if !lead {
            return replicas.train_follower(&mut experiment, Some(stop));
        }
        println!(
            "Data-parallel over {} MPI ranks: each trains its share of every batch of {}",
            replicas.communicator().size(),
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
        let train = &experiment.data().train;
        let shown = train.slice(0..train.len().min(8)).loaded()?;
        write_grid(&path, &shown.x, augmentation, 8, 7, &mut rng)?;
        println!("Augmented samples: {}", path.display());
    }
    let mut progress = Progress::new();
    // The per-step loss curve, for the report's verdicts (gated as `diagnose` gates them).
    let mut curve = Curve::new();
    let mut callbacks = experiment.callbacks(&out, diagnostics.as_ref())?;
    let mut checkpoint_writer = experiment.checkpoint_writer(&out);
    // Two phases when transferred layers are unfrozen after some epochs.
    let fit_started = Instant::now();
    for phase in experiment.phases() {
        if let Some(u) = &phase.unfreeze {
            println!(
                "Unfroze the {} transferred layers after epoch {}",
                u.layers, u.after
            );
        }
        let mut all: Vec<&mut dyn Callback> =
            vec![&mut progress, &mut checkpoint_writer, &mut curve];
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
    let outputs = RunOutputs {
        dir: &out,
        name: &name,
        spec_file: args.spec.as_deref(),
        resumed_epochs: done,
        summary: &summary_table,
        warnings: &warnings,
        diagnostics: diagnostics.as_ref(),
        curve: Some(&curve),
        started,
        fit_seconds,
    };
    // Sharded: every rank evaluates its block of the training rows, and the sums are reduced.
    let over = replicas.as_ref().map(|r| r.communicator().as_ref());
    let written = outputs.write(experiment, over)?;
    if let Some(results) = &written.test {
        println!(
            "Test: {}",
            results
                .iter()
                .map(|(n, v)| format!("{n}: {v:.4}"))
                .collect::<Vec<_>>()
                .join(" - ")
        );
    }
    if let Some(report) = &written.inference_model {
        println!("Inference model: {}", report.line());
    }
    println!(
        "Wrote {}/history.csv, summary.json, report.html, plots/, diagnostics.csv and model/{}",
        out.display(),
        if written.inference_model.is_some() {
            " (and inference_model/)"
        } else {
            ""
        }
    );
    Ok(())
}

/// A flag that Ctrl-C and SIGTERM set, for training to stop between two steps.
fn stop_on_signals() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone())
            .map_err(|e| Error::Config(format!("cannot install the signal handler: {e}")))?;
    }
    Ok(stop)
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
