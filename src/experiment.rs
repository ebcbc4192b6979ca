//! An experiment: a spec made runnable. The one pipeline spec → data → model → callbacks that
//! every subcommand (`train`, `summary`, `diagnose`, `lr-find`) and a Rust program share, so that
//! none forgets a section (`[transfer]`, `[schedule]`, `[[callbacks]]`).
//!
//! [`Experiment::from_spec`] prepares the data (the scaler fitted on the training part, or the
//! transferred model's), builds the model (from the spec's layers, or the first layers of a
//! saved model plus new ones, frozen as `[transfer]` says), compiles it with the spec's
//! optimizer, loss and metrics and attaches its schedule. [`Experiment::fit`] trains it, in two
//! phases when `[transfer] unfreeze_after` unfreezes the reused layers.
//!
//! ```no_run
//! let spec = deeptrain::spec::Spec::from_file("examples/penguins.toml".as_ref())?;
//! let mut experiment = deeptrain::Experiment::from_spec(&spec)?;
//! let history = experiment.fit(&mut [], None)?;
//! println!("{} epochs", history.epochs.len());
//! experiment.save("runs/penguins/model".as_ref())?;
//! # Ok::<(), deeptrain::Error>(())
//! ```

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::callbacks::{
    Callback, CallbackSpec, Control, CsvLogger, EarlyStopping, EpochLogs, History, ModelCheckpoint,
    Monitor, TensorBoard, TerminateOnNan,
};
use crate::data::{Augmentation, Prepared};
use crate::diagnostics::Diagnostics;
use crate::distributed::Communicator;
use crate::model::{FitOptions, RunMetadata};
use crate::spec::{Spec, TransferSpec};
use crate::{checks, data, Error, Result, Sequential};

/// Where a run keeps its checkpoint (written at every epoch's end), inside the run directory.
pub const CHECKPOINT_DIR: &str = "resume";

/// Whether the run directory `run` holds a checkpoint (or the previous one, when a write was
/// interrupted).
pub fn has_checkpoint(run: &Path) -> bool {
    ["", ".old"].iter().any(|suffix| {
        run.join(format!("{CHECKPOINT_DIR}{suffix}"))
            .join("training_state.json")
            .is_file()
    })
}

/// Where the model's starting weights came from.
#[derive(Clone, Debug, PartialEq)]
pub enum Origin {
    /// Initialized from the spec's seed.
    Spec,
    /// The first `layers` layers of the saved model `from` (`[transfer]`), frozen or not.
    Transfer {
        /// The saved model directory.
        from: PathBuf,
        /// How many layers were reused.
        layers: usize,
        /// Whether they are frozen.
        frozen: bool,
    },
    /// The checkpoint of the run directory `run`, after `epochs` epochs.
    Checkpoint {
        /// The run directory.
        run: PathBuf,
        /// Epochs already done.
        epochs: usize,
    },
}

impl Origin {
    /// The line the command prints about it (none for a model built from the spec alone).
    pub fn describe(&self) -> Option<String> {
        match self {
            Origin::Spec => None,
            Origin::Transfer {
                from,
                layers,
                frozen,
            } => Some(format!(
                "Reusing the first {layers} layers of {}{}",
                from.display(),
                if *frozen { ", frozen" } else { "" }
            )),
            Origin::Checkpoint { run, epochs } => {
                Some(format!("Resuming {} after epoch {epochs}", run.display()))
            }
        }
    }
}

/// One stretch of training: its epochs, and the unfreezing that starts it, if any.
#[derive(Clone, Debug, PartialEq)]
pub struct Phase {
    /// Epoch numbers, from 0 (the `initial_epoch` to the `epochs` of [`FitOptions`]).
    pub epochs: Range<usize>,
    /// The reused layers unfrozen before this phase (`[transfer] unfreeze_after`).
    pub unfreeze: Option<Unfreeze>,
}

/// `[transfer] unfreeze_after`: make the reused layers trainable again.
#[derive(Clone, Debug, PartialEq)]
pub struct Unfreeze {
    /// After this many epochs.
    pub after: usize,
    /// The first this many layers.
    pub layers: usize,
    /// The learning rate from then on (default: unchanged).
    pub learning_rate: Option<f32>,
}

/// A spec's prepared data and compiled model, with the epochs done so far.
pub struct Experiment {
    spec: Spec,
    data: Prepared,
    model: Sequential,
    origin: Origin,
    history: History,
    communicator: Option<Arc<dyn Communicator>>,
    /// Whether [`Experiment::fit`] runs the spec's `[[callbacks]]` itself, and the directory
    /// the writing ones write under (see [`Experiment::run_spec_callbacks`]).
    spec_callbacks: Option<Option<PathBuf>>,
    /// Whether those callbacks print their lines (early stopping's).
    spec_callbacks_verbose: bool,
}

impl Experiment {
    /// Prepares the spec's data and builds and compiles its model (see the module docs).
    pub fn from_spec(spec: &Spec) -> Result<Experiment> {
        Experiment::from_spec_over(spec, None)
    }

    /// [`Experiment::from_spec`] for data-parallel training with the ranks of `communicator`
    /// (see [`crate::distributed`]); with `[data] shard = true` each rank loads only its block
    /// of the training rows ([`data::prepare_shard`]). Every rank must call it.
    pub fn from_spec_over(
        spec: &Spec,
        communicator: Option<Arc<dyn Communicator>>,
    ) -> Result<Experiment> {
        let comm = communicator.as_deref();
        let (model, data, origin) = match &spec.transfer {
            Some(t) => {
                let (source, _) = Sequential::load(&t.from)?;
                let scaler = RunMetadata::load(&t.from)?.scaler;
                let data = prepare_data(spec, Some(scaler), comm)?;
                let (model, origin) = transferred(spec, t, &source)?;
                (model, data, origin)
            }
            None => {
                let data = prepare_data(spec, None, comm)?;
                let names = data.feature_names();
                let model = spec.build_model(data.train.feature_shape(), names.as_deref())?;
                (model, data, Origin::Spec)
            }
        };
        let mut experiment = Experiment {
            spec: spec.clone(),
            data,
            model,
            origin,
            history: History::default(),
            communicator,
            spec_callbacks: None,
            spec_callbacks_verbose: true,
        };
        experiment.compile()?;
        Ok(experiment)
    }

    /// [`Experiment::from_spec`] on the spec file at `path`.
    pub fn from_file(path: &Path) -> Result<Experiment> {
        Experiment::from_spec(&Spec::from_file(path)?)
    }

    /// Continues the run in directory `run` from its checkpoint (`run/resume`): the model with
    /// its optimizer, schedule and random streams, the history so far, and the data prepared with
    /// the checkpoint's scaler. The spec may differ from the checkpoint in `[fit]` and
    /// `[[callbacks]]` only.
    pub fn resume(spec: &Spec, run: &Path) -> Result<Experiment> {
        Experiment::resume_over(spec, run, None)
    }

    /// [`Experiment::resume`] for data-parallel training with the ranks of `communicator`, the
    /// data sharded as in [`Experiment::from_spec_over`]. Every rank must call it.
    pub fn resume_over(
        spec: &Spec,
        run: &Path,
        communicator: Option<Arc<dyn Communicator>>,
    ) -> Result<Experiment> {
        let dir = run.join(CHECKPOINT_DIR);
        let (mut model, file, metadata, history) = Sequential::load_checkpoint(&dir)?;
        let conflicts = spec.resume_conflicts(&file, metadata.data.as_ref())?;
        if !conflicts.is_empty() {
            return Err(Error::spec(
                &dir,
                format!(
                    "the spec differs from this checkpoint in {}; only [fit] and [[callbacks]] may change on --resume (start a new run with another --out)",
                    conflicts.join(", ")
                ),
            ));
        }
        model.set_weighted_metrics(&spec.compile.weighted_metrics)?;
        model.set_dtype_policy(spec.compile.dtype_policy)?;
        let data = prepare_data(spec, Some(metadata.scaler), communicator.as_deref())?;
        Ok(Experiment {
            spec: spec.clone(),
            data,
            origin: Origin::Checkpoint {
                run: run.to_path_buf(),
                epochs: history.epochs.len(),
            },
            model,
            history,
            communicator,
            spec_callbacks: None,
            spec_callbacks_verbose: true,
        })
    }

    /// The spec's model alone, as [`Experiment::from_spec`] builds it (`[transfer]` honoured)
    /// but not compiled, loading the data only where its shape depends on it (named columns):
    /// what `summary` shows.
    pub fn build_model(spec: &Spec) -> Result<Sequential> {
        if let Some(t) = &spec.transfer {
            let (source, _) = Sequential::load(&t.from)?;
            return Ok(transferred(spec, t, &source)?.0);
        }
        if spec.data.inputs.is_empty() {
            spec.build_model(&data::input_shape(&spec.data)?, None)
        } else {
            // Named columns need the table's encoding: prepare the data.
            let data = data::prepare(&spec.data, None)?;
            let names = data.feature_names();
            spec.build_model(data.train.feature_shape(), names.as_deref())
        }
    }

    /// Compiles the model with the spec's optimizer, loss and metrics, and its schedule.
    fn compile(&mut self) -> Result<()> {
        let spec = &self.spec;
        let optimizer = spec.optimizer.build()?;
        self.model
            .compile(optimizer, spec.compile.loss, &spec.compile.metrics)?;
        self.model
            .set_weighted_metrics(&spec.compile.weighted_metrics)?;
        self.model.set_dtype_policy(spec.compile.dtype_policy)?;
        self.model.set_schedule(spec.schedule.clone())
    }

    /// Trains data-parallel with the ranks of `communicator` from now on (see
    /// [`crate::distributed`]); `None` trains alone.
    pub fn set_communicator(&mut self, communicator: Option<Arc<dyn Communicator>>) {
        self.communicator = communicator;
    }

    /// The spec (with any overrides applied before building).
    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    /// The prepared data.
    pub fn data(&self) -> &Prepared {
        &self.data
    }

    /// The compiled model.
    pub fn model(&self) -> &Sequential {
        &self.model
    }

    /// The compiled model, mutable (to attach an observer, fold, evaluate).
    pub fn model_mut(&mut self) -> &mut Sequential {
        &mut self.model
    }

    /// Where the model's starting weights came from.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The epochs trained so far (those of the checkpoint, when resumed).
    pub fn history(&self) -> &History {
        &self.history
    }

    /// The run's metadata saved beside the model: the scaler, the data spec, the class names.
    pub fn metadata(&self) -> RunMetadata {
        RunMetadata {
            scaler: self.data.scaler.clone(),
            data: Some(self.spec.data.clone()),
            class_names: self.data.class_names.clone(),
        }
    }

    /// The spec's warnings ([`checks::check`]) and the split's, to show before training.
    pub fn warnings(&self) -> Vec<String> {
        checks::check(&self.model, self.spec.data.scale, &self.spec.optimizer)
            .iter()
            .map(|w| w.to_string())
            .chain(self.data.warnings.iter().cloned())
            .collect()
    }

    /// The spec's `[augmentation]`, its shifted-in pixels black in the scaled space.
    pub fn augmentation(&self) -> Option<Augmentation> {
        self.spec.augmentation.clone().map(|a| {
            let features = self.data.train.x.row_len();
            a.with_background(&self.data.scaler, features)
        })
    }

    /// The spec's `[[callbacks]]`, writing under the run directory `out`; TensorBoard's
    /// histograms read `diagnostics` when given. (`reduce_lr_on_plateau` became the schedule.)
    pub fn callbacks(
        &self,
        out: &Path,
        diagnostics: Option<&Diagnostics>,
    ) -> Result<Vec<Box<dyn Callback>>> {
        // Before anything is written: no callback may land on the run's files or another's.
        crate::output_paths::check(&self.spec.callbacks, out)?;
        let mut callbacks: Vec<Box<dyn Callback>> = Vec::new();
        for c in &self.spec.callbacks {
            if let Some(callback) = model_callback(c) {
                callbacks.push(callback);
                continue;
            }
            match c {
                CallbackSpec::EarlyStopping { .. } | CallbackSpec::TerminateOnNan {} => {}
                CallbackSpec::ModelCheckpoint {
                    monitor,
                    mode,
                    save_best_only,
                    path,
                } => callbacks.push(Box::new(ModelCheckpoint::new(
                    path.clone().unwrap_or_else(|| out.join("checkpoint")),
                    save_best_only.then(|| Monitor::new(monitor, *mode, 0.0)),
                    Some(self.metadata()),
                ))),
                // Turned into the `[schedule]` when the spec was read.
                CallbackSpec::ReduceLrOnPlateau(_) => {}
                CallbackSpec::Tensorboard {
                    log_dir,
                    histogram_freq,
                } => callbacks.push(Box::new(TensorBoard::new(
                    &out.join(log_dir.as_deref().unwrap_or(Path::new("logs"))),
                    *histogram_freq,
                    diagnostics.cloned(),
                )?)),
                CallbackSpec::CsvLogger { filename, append } => {
                    callbacks.push(Box::new(CsvLogger::new(
                        // Relative to the run directory.
                        out.join(filename.as_deref().unwrap_or(Path::new("log.csv"))),
                        *append,
                    )))
                }
            }
        }
        Ok(callbacks)
    }

    /// Makes [`Experiment::fit`] run the spec's `[[callbacks]]` beside the caller's, for a
    /// subcommand that does not build them itself (`diagnose`): every one, writing under `out`,
    /// when given (created if missing, its paths checked now); else those that write nothing
    /// (early stopping, terminate on NaN). `verbose` false keeps them from printing (Keras'
    /// `verbose`; `diagnose --json` prints one JSON object). Returns the names of the callbacks
    /// left out for want of `out`.
    pub fn run_spec_callbacks(&mut self, out: Option<&Path>, verbose: bool) -> Result<Vec<String>> {
        let mut skipped = Vec::new();
        match out {
            Some(dir) => {
                crate::output_paths::check(&self.spec.callbacks, dir)?;
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            }
            None => {
                for c in &self.spec.callbacks {
                    let writes = model_callback(c).is_none()
                        && !matches!(c, CallbackSpec::ReduceLrOnPlateau(_));
                    if writes {
                        let json = serde_json::to_value(c).unwrap_or_default();
                        skipped.push(json["name"].as_str().unwrap_or("callback").to_string());
                    }
                }
            }
        }
        self.spec_callbacks = Some(out.map(Path::to_path_buf));
        self.spec_callbacks_verbose = verbose;
        Ok(skipped)
    }

    /// The spec's callbacks a rank other than the lead runs under data-parallel training:
    /// those that change the model or stop training (early stopping, terminate on NaN), none
    /// that writes. They see the same logs as the lead's and so decide alike.
    pub fn replica_callbacks(&self) -> Vec<Box<dyn Callback>> {
        self.spec
            .callbacks
            .iter()
            .filter_map(model_callback)
            .collect()
    }

    /// A callback that writes the checkpoint `--resume` continues from into `run/resume` at
    /// every epoch's end.
    pub fn checkpoint_writer(&self, run: &Path) -> CheckpointWriter {
        CheckpointWriter {
            dir: run.join(CHECKPOINT_DIR),
            metadata: self.metadata(),
            history: self.history.clone(),
        }
    }

    /// The stretches of training left: one, or two when `[transfer] unfreeze_after` falls
    /// inside them. Empty when every epoch is done.
    pub fn phases(&self) -> Vec<Phase> {
        let (done, epochs) = (self.history.epochs.len(), self.spec.fit.epochs);
        let unfreeze = self
            .spec
            .transfer
            .as_ref()
            .and_then(|t| {
                t.unfreeze_after.map(|after| Unfreeze {
                    after,
                    layers: t.layers,
                    learning_rate: t.unfreeze_learning_rate,
                })
            })
            .filter(|u| u.after > done && u.after < epochs);
        let phases = match unfreeze {
            Some(u) => vec![
                Phase {
                    epochs: done..u.after,
                    unfreeze: None,
                },
                Phase {
                    epochs: u.after..epochs,
                    unfreeze: Some(u),
                },
            ],
            None => vec![Phase {
                epochs: done..epochs,
                unfreeze: None,
            }],
        };
        phases
            .into_iter()
            .filter(|p| !p.epochs.is_empty())
            .collect()
    }

    /// Trains one phase (unfreezing first if it says so) with the spec's `[fit]`, appending its
    /// epochs to the history; returns them. `stop`, when set, interrupts between two steps.
    pub fn fit_phase(
        &mut self,
        phase: &Phase,
        callbacks: &mut [&mut dyn Callback],
        stop: Option<Arc<AtomicBool>>,
    ) -> Result<History> {
        if let Some(u) = &phase.unfreeze {
            self.model.set_trainable(0..u.layers, true);
            if let (Some(lr), Some(o)) = (u.learning_rate, self.model.optimizer_mut()) {
                o.set_learning_rate(lr);
            }
        }
        let fit = &self.spec.fit;
        let class_weight = match &fit.class_weight {
            Some(cw) => Some(cw.resolve(
                self.data.train_labels(),
                self.data.class_names.as_deref(),
                self.model.output_units(),
            )?),
            None => None,
        };
        let options = FitOptions {
            stop,
            epochs: phase.epochs.end,
            batch_size: fit.batch_size,
            validation_split: 0.0,
            shuffle: fit.shuffle,
            augmentation: self.augmentation(),
            initial_epoch: phase.epochs.start,
            class_weight,
            communicator: self.communicator.clone(),
            sharded: self.data.shard.is_some(),
        };
        let part = self.model.fit(
            &self.data.train,
            self.data.validation.as_ref(),
            &options,
            callbacks,
        )?;
        self.history.epochs.extend(part.epochs.iter().cloned());
        Ok(part)
    }

    /// Trains every phase left, stopping early when a callback stops a phase; returns the whole
    /// history (the checkpoint's epochs included).
    pub fn fit(
        &mut self,
        callbacks: &mut [&mut dyn Callback],
        stop: Option<Arc<AtomicBool>>,
    ) -> Result<&History> {
        let mut own = match &self.spec_callbacks {
            None => Vec::new(),
            Some(None) => self.replica_callbacks(),
            Some(Some(dir)) => self.callbacks(dir, None)?,
        };
        let mut all: Vec<&mut dyn Callback> = Vec::with_capacity(callbacks.len() + own.len());
        for c in callbacks.iter_mut() {
            all.push(&mut **c);
        }
        for c in own.iter_mut() {
            c.set_verbose(self.spec_callbacks_verbose);
            all.push(c.as_mut());
        }
        for phase in self.phases() {
            let part = self.fit_phase(&phase, &mut all, stop.clone())?;
            if part.epochs.len() < phase.epochs.len() {
                break;
            }
        }
        Ok(&self.history)
    }

    /// Limits what is left to train to `steps` steps of the spec's batch over the first
    /// training rows, without validation: the short run `deeptrain diagnose` makes, with every
    /// other part of the spec (class weights, augmentation, `[transfer]`) as `train` has it.
    /// Returns (training rows kept, epochs over them).
    pub fn limit_to_steps(&mut self, steps: usize) -> (usize, usize) {
        let batch = self.spec.fit.batch_size.max(1);
        let samples = steps.saturating_mul(batch).min(self.data.train.len());
        self.data.train = self.data.train.slice(0..samples);
        self.data.validation = None;
        let epochs = steps.saturating_mul(batch).div_ceil(samples.max(1));
        self.spec.fit.epochs = self.history.epochs.len() + epochs;
        (samples, epochs)
    }

    /// The loss and metrics of the model on the training rows of every rank together (each
    /// evaluating its own, the sums reduced over `comm`), as [`Sequential::evaluate_over`].
    pub fn evaluate_train_over(&mut self, comm: &dyn Communicator) -> Result<Vec<(String, f64)>> {
        self.model.evaluate_over(&self.data.train, 1024, Some(comm))
    }

    /// The model, the prepared data and the history, for what follows training.
    pub fn into_parts(self) -> (Sequential, Prepared, History) {
        (self.model, self.data, self.history)
    }

    /// Saves the model and, beside it, the run's metadata into directory `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        self.model.save(dir)?;
        self.metadata().save(dir)
    }
}

/// The spec's data: this rank's shard when `[data] shard` is set and `comm` has several
/// ranks, else the whole set (`shard` is checked even then, so that a spec that cannot be
/// sharded fails in one process too).
fn prepare_data(
    spec: &Spec,
    scaler: Option<data::Scaler>,
    comm: Option<&dyn Communicator>,
) -> Result<Prepared> {
    match comm.filter(|c| c.size() > 1 && spec.data.shard) {
        Some(comm) => data::prepare_shard(&spec.data, scaler, spec.fit.batch_size, comm),
        None => {
            if spec.data.shard {
                data::check_shardable(&spec.data)?;
            }
            if spec.data.stream {
                return data::prepare_streamed(&spec.data, scaler);
            }
            data::prepare(&spec.data, scaler)
        }
    }
}

/// The callback of `c` when it changes the model or stops training and writes nothing (early
/// stopping, terminate on NaN).
fn model_callback(c: &CallbackSpec) -> Option<Box<dyn Callback>> {
    match c {
        CallbackSpec::EarlyStopping {
            monitor,
            mode,
            min_delta,
            patience,
            restore_best_weights,
        } => Some(Box::new(EarlyStopping::new(
            Monitor::new(monitor, *mode, *min_delta),
            *patience,
            *restore_best_weights,
        ))),
        CallbackSpec::TerminateOnNan {} => Some(Box::new(TerminateOnNan::default())),
        _ => None,
    }
}

/// The first `[transfer] layers` layers of `source` and the spec's new ones, frozen as asked.
fn transferred(spec: &Spec, t: &TransferSpec, source: &Sequential) -> Result<(Sequential, Origin)> {
    let mut model = source.transfer(t.layers, &spec.layers, spec.seed)?;
    if t.freeze {
        model.set_trainable(0..t.layers, false);
    }
    let origin = Origin::Transfer {
        from: t.from.clone(),
        layers: t.layers,
        frozen: t.freeze,
    };
    Ok((model, origin))
}

/// Writes a checkpoint (model, optimizer, schedule, random streams, history, the run's metadata)
/// at every epoch's end, so that [`Experiment::resume`] can continue the run.
pub struct CheckpointWriter {
    dir: PathBuf,
    metadata: RunMetadata,
    history: History,
}

impl Callback for CheckpointWriter {
    fn on_epoch_end(&mut self, logs: &EpochLogs, model: &mut Sequential) -> Result<Control> {
        self.history.epochs.push(logs.clone());
        model.save_checkpoint(&self.dir, &self.metadata, &self.history)?;
        Ok(Control::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn movable<T: Send>() {}

    #[test]
    fn an_experiment_may_move_to_another_thread() {
        // What a Python binding holds must be `Send` (the communicator is an `Arc`).
        movable::<Experiment>();
        movable::<FitOptions>();
        movable::<Option<Arc<dyn Communicator>>>();
    }
}
