//! The training loop: epochs of shuffled mini-batches, validation, history and callbacks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use rand::seq::SliceRandom;
use rand::{RngCore, SeedableRng};

use super::{Model, SharedStep};
use crate::callbacks::{BatchEnd, Callback, Control, EpochLogs, History, TrainBegin};
use crate::data::{Augmentation, Dataset};
use crate::distributed::{self, Communicator};
use crate::losses::Targets;
use crate::tensor::Tensor;
use crate::{Error, Result};

/// Settings of [`Model::fit`], with Keras' defaults.
#[derive(Clone, Debug)]
pub struct FitOptions {
    /// Passes over the training data.
    pub epochs: usize,
    /// Samples per gradient step.
    pub batch_size: usize,
    /// Fraction of the training data, taken from its end before shuffling, held out for
    /// validation (ignored when validation data is given).
    pub validation_split: f64,
    /// Reshuffle the training data before each epoch (seeded by the model's seed).
    pub shuffle: bool,
    /// Image augmentation applied to every training batch (seeded by the model's seed).
    pub augmentation: Option<Augmentation>,
    /// When set (by a signal handler), training stops before the next step with
    /// [`Error::Interrupted`]; checkpoints written at earlier epoch ends stay as they were.
    pub stop: Option<Arc<AtomicBool>>,
    /// The epoch to start at (Keras' `initial_epoch`): epochs before it were done in an earlier
    /// run (resuming from a checkpoint).
    pub initial_epoch: usize,
    /// Keras' `class_weight`: the weight of each class index, multiplying each training
    /// sample's weight (the dataset's `weights`, else 1). Not applied to validation, as Keras.
    pub class_weight: Option<Vec<f32>>,
    /// Train data-parallel with the other ranks of this communicator (see
    /// [`crate::distributed`]): `batch_size` is the global batch, of which this rank trains its
    /// share. `None`, or one rank, trains alone.
    pub communicator: Option<Arc<dyn Communicator>>,
    /// With a communicator: `train` is this rank's block of the training rows, not the whole
    /// set (sharded data, [`crate::data::prepare_shard`]). Each epoch the rank shuffles its
    /// block (seeded from the model's shuffle stream, the epoch and the rank) and takes its
    /// share of every global batch from it.
    pub sharded: bool,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            epochs: 1,
            batch_size: 32,
            validation_split: 0.0,
            shuffle: true,
            augmentation: None,
            stop: None,
            initial_epoch: 0,
            class_weight: None,
            communicator: None,
            sharded: false,
        }
    }
}

/// Rows evaluated at once during validation (the result does not depend on it).
const EVAL_BATCH: usize = 1024;

/// What one `fit` call trains on, and the buffers its steps reuse (allocated once, before
/// the first epoch).
struct FitState<'a> {
    options: &'a FitOptions,
    train: &'a Dataset,
    targets: Targets,
    /// Each training sample's weight (`sample_weight` times `class_weight`), if any.
    sample_weights: Option<Vec<f32>>,
    validation: Option<(&'a Dataset, Targets)>,
    /// History names: `loss`, `penalty` (when the model has a weight penalty), the metrics.
    names: Vec<String>,
    /// Where the metrics start in `names` and `means`.
    first_metric: usize,
    /// Rows per epoch: over every rank when each holds only its block.
    rows: usize,
    steps: usize,
    epoch: usize,
    batch_x: Tensor,
    batch_targets: Targets,
    batch_weights: Vec<f32>,
    /// Augmentation's scratch buffer.
    scratch: Vec<f32>,
    /// The epoch's loss (and penalty) summed over its rows, and the rows seen.
    sums: Vec<f64>,
    seen: usize,
    metric_state: Vec<f64>,
    /// The running means logged after every step: `sums / seen`, then the metrics.
    means: Vec<f64>,
    /// The buffer the rank's gradients are summed in (data-parallel only).
    shared: Vec<f32>,
    /// The reader of the training rows when they stay on disk ([`Dataset::stream`]).
    prefetch: Option<crate::data::Prefetch>,
}

impl FitState<'_> {
    /// The global batch of `step`: `batch_size` rows, fewer at the epoch's end.
    fn global_batch(&self, step: usize) -> usize {
        self.options
            .batch_size
            .min(self.rows - step * self.options.batch_size)
    }

    /// Whether a signal asked to stop.
    fn interrupted(&self) -> bool {
        self.options
            .stop
            .as_ref()
            .is_some_and(|s| s.load(Ordering::Relaxed))
    }

    /// Starts `epoch`'s sums afresh.
    fn begin_epoch(&mut self, epoch: usize) {
        self.epoch = epoch;
        self.sums.fill(0.0);
        self.metric_state.fill(0.0);
        self.seen = 0;
    }

    /// Gathers the training rows `chunk` (features, targets, weights) into the batch buffers
    /// and augments them.
    fn load_batch(&mut self, chunk: &[usize], augment_rng: &mut crate::Rng) -> Result<()> {
        match &mut self.prefetch {
            Some(reader) => reader.next_into(chunk.len(), &mut self.batch_x)?,
            None => self.batch_x.gather_rows(&self.train.x, chunk),
        }
        self.targets.gather(chunk, &mut self.batch_targets);
        if let Some(w) = &self.sample_weights {
            self.batch_weights.clear();
            self.batch_weights.extend(chunk.iter().map(|&i| w[i]));
        }
        if let Some(a) = &self.options.augmentation {
            a.apply(&mut self.batch_x, augment_rng, &mut self.scratch)?;
        }
        Ok(())
    }
}

impl Model {
    /// Trains the model; returns the history of every metric per epoch.
    ///
    /// Validation uses `validation` when given, else the last `validation_split` of `train`.
    /// Training-set metrics are running means over each epoch's batches, as Keras reports them.
    /// Alone, data-parallel over whole copies of the data, or data-parallel over shards
    /// ([`FitOptions::communicator`], [`FitOptions::sharded`]): each has its own loop below.
    ///
    /// ```
    /// # fn main() -> deeptrain::Result<()> {
    /// # use deeptrain::{data, Activation, DenseSpec, FitOptions, LayerSpec, Loss, Metric, Sequential, Sgd};
    /// # let train = data::digits()?.train;
    /// # let mut model = Sequential::new(&[8, 8])
    /// #     .add(LayerSpec::flatten())
    /// #     .add(DenseSpec::new(10).activation(Activation::Softmax))
    /// #     .build(1)?;
    /// # model.compile(Box::new(Sgd::new(0.01)?), Loss::SparseCategoricalCrossentropy, &[Metric::Accuracy])?;
    /// let options = FitOptions { epochs: 2, batch_size: 64, validation_split: 0.2, ..Default::default() };
    /// let history = model.fit(&train, None, &options, &mut [])?;
    /// assert_eq!(history.series("val_accuracy").len(), 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn fit(
        &mut self,
        train: &Dataset,
        validation: Option<&Dataset>,
        options: &FitOptions,
        callbacks: &mut [&mut dyn Callback],
    ) -> Result<History> {
        let loss = self
            .loss()
            .ok_or_else(|| Error::Config("compile the model before training it".into()))?;
        if options.batch_size == 0 {
            return Err(Error::Config("batch_size must be at least 1".into()));
        }
        if !(0.0..1.0).contains(&options.validation_split) {
            return Err(Error::Config(format!(
                "validation_split must be in [0, 1), got {}",
                options.validation_split
            )));
        }
        // Data-parallel: the rank's communicator; sharded, each rank holds its own rows.
        let ranks = options.communicator.as_deref().filter(|c| c.size() > 1);
        let sharded = options.sharded && ranks.is_some();
        if train.stream.is_some() {
            check_streamed(ranks, options, validation)?;
        }
        if sharded && options.validation_split > 0.0 && validation.is_none() {
            return Err(Error::Config(
                "validation_split takes each rank's own tail when the data is sharded: give rank 0 the validation set instead".into(),
            ));
        }
        let split;
        let (train, validation) = match validation {
            Some(v) => (train, Some(v)),
            None if options.validation_split > 0.0 => {
                split = train.split_tail(options.validation_split);
                (&split.0, Some(&split.1))
            }
            None => (train, None),
        };
        if train.is_empty() && !sharded {
            return Err(Error::Data("the training set is empty".into()));
        }
        let mut state = self.begin_fit(train, validation, loss, options, ranks)?;
        let info = TrainBegin {
            epochs: options.epochs,
            steps_per_epoch: state.steps,
            train_samples: state.rows,
            validation_samples: state.validation.as_ref().map_or(0, |v| v.0.len()),
        };
        callbacks.iter_mut().for_each(|c| c.on_train_begin(&info));
        // Every step stores every gradient while a callback reads them
        // (`Callback::needs_gradients`).
        self.callbacks_need_gradients = callbacks.iter().any(|c| c.needs_gradients());
        if let Some(schedule) = self.schedule_mut() {
            schedule.begin(options.epochs, state.steps);
        }
        let history = match ranks {
            None => self.fit_alone(&mut state, callbacks),
            Some(comm) if sharded => self.fit_sharded(&mut state, comm, callbacks),
            Some(comm) => self.fit_replicated(&mut state, comm, callbacks),
        };
        self.callbacks_need_gradients = false;
        let history = history?;
        for c in callbacks.iter_mut() {
            c.on_train_end(&history, self);
        }
        Ok(history)
    }

    /// One process. Each epoch shuffles the previous epoch's order (kept in the model, and
    /// in checkpoints, so that a resumed run continues the same sequence).
    fn fit_alone(
        &mut self,
        state: &mut FitState,
        callbacks: &mut [&mut dyn Callback],
    ) -> Result<History> {
        let mut history = History::default();
        let mut order = self.resumed_order(state);
        for epoch in state.options.initial_epoch..state.options.epochs {
            let start = self.begin_epoch(epoch, callbacks);
            if state.options.shuffle {
                order.shuffle(&mut self.shuffle_rng);
            }
            if let Some(reader) = &mut state.prefetch {
                reader.begin_epoch(&order)?;
            }
            state.begin_epoch(epoch);
            let mut stopped = false;
            for step in 0..state.steps {
                let global = state.global_batch(step);
                let first = step * state.options.batch_size;
                let chunk = &order[first..first + global];
                state.load_batch(chunk, &mut self.augment_rng)?;
                if state.prefetch.is_some() {
                    // Streamed rows meet the layers' input checks (token ids) batch by batch.
                    self.check_input_values(&state.batch_x)?;
                }
                self.schedule_before_step(epoch);
                for c in callbacks.iter_mut() {
                    c.on_batch_begin(epoch, step, self)?;
                }
                let weights = state
                    .sample_weights
                    .as_ref()
                    .map(|_| &state.batch_weights[..]);
                let loss = self.train_step_weighted(
                    &state.batch_x,
                    &state.batch_targets,
                    weights,
                    &mut state.metric_state,
                )?;
                let outcome = SharedStep {
                    loss,
                    stop: state.interrupted(),
                    non_finite: !loss.is_finite(),
                };
                self.end_step(state, callbacks, step, chunk.len(), outcome)?;
                if callbacks.iter_mut().any(|c| c.stop_after_batch()) {
                    stopped = true;
                    break;
                }
            }
            if self.end_epoch(state, &mut history, start, Some(&order), None, callbacks)? || stopped
            {
                break;
            }
        }
        Ok(history)
    }

    /// Data-parallel, every rank holding the whole training set: every rank draws the same
    /// order from the shuffle stream and trains its share of each global batch; the
    /// gradients are summed over the ranks ([`Model::train_step_shared`]).
    fn fit_replicated(
        &mut self,
        state: &mut FitState,
        comm: &dyn Communicator,
        callbacks: &mut [&mut dyn Callback],
    ) -> Result<History> {
        let mut history = History::default();
        let mut order = self.resumed_order(state);
        for epoch in state.options.initial_epoch..state.options.epochs {
            let start = self.begin_epoch(epoch, callbacks);
            if state.options.shuffle {
                order.shuffle(&mut self.shuffle_rng);
            }
            self.reseed_streams(epoch, comm.rank());
            state.begin_epoch(epoch);
            for step in 0..state.steps {
                let global = state.global_batch(step);
                let first = step * state.options.batch_size;
                let chunk = &order[first..first + global]
                    [distributed::share(global, comm.rank(), comm.size())];
                self.shared_step(state, comm, callbacks, step, chunk, global)?;
            }
            self.agree_after_epoch(state, comm)?;
            if self.end_epoch(
                state,
                &mut history,
                start,
                Some(&order),
                Some(comm),
                callbacks,
            )? {
                break;
            }
        }
        Ok(history)
    }

    /// Data-parallel, each rank holding its own block of the rows
    /// ([`crate::data::prepare_shard`]): each epoch the rank orders its block afresh (seeded
    /// from the shuffle stream, the epoch and the rank) and takes its share of every global
    /// batch from it in turn.
    fn fit_sharded(
        &mut self,
        state: &mut FitState,
        comm: &dyn Communicator,
        callbacks: &mut [&mut dyn Callback],
    ) -> Result<History> {
        let mut history = History::default();
        let mut order: Vec<usize> = (0..state.train.len()).collect();
        for epoch in state.options.initial_epoch..state.options.epochs {
            let start = self.begin_epoch(epoch, callbacks);
            if state.options.shuffle {
                let seed = self.shuffle_rng.next_u64();
                order.iter_mut().enumerate().for_each(|(i, o)| *o = i);
                let mut rng =
                    crate::Rng::seed_from_u64(distributed::stream_seed(seed, epoch, comm.rank()));
                order.shuffle(&mut rng);
            }
            self.reseed_streams(epoch, comm.rank());
            state.begin_epoch(epoch);
            // Where this rank's next share starts in its block.
            let mut cursor = 0;
            for step in 0..state.steps {
                let global = state.global_batch(step);
                let size = distributed::share(global, comm.rank(), comm.size()).len();
                cursor += size;
                let chunk = &order[cursor - size..cursor];
                self.shared_step(state, comm, callbacks, step, chunk, global)?;
            }
            self.agree_after_epoch(state, comm)?;
            if self.end_epoch(state, &mut history, start, None, Some(comm), callbacks)? {
                break;
            }
        }
        Ok(history)
    }

    /// Checks the data against the model and prepares what every epoch reuses: targets,
    /// sample weights, names, the epoch's rows and steps, and the batch buffers. The memory
    /// is estimated once, before the first batch is allocated.
    fn begin_fit<'a>(
        &self,
        train: &'a Dataset,
        validation: Option<&'a Dataset>,
        loss: crate::Loss,
        options: &'a FitOptions,
        ranks: Option<&dyn Communicator>,
    ) -> Result<FitState<'a>> {
        let shard_ranks = ranks.filter(|_| options.sharded);
        let validation = validation.filter(|v| !v.is_empty());
        let checked = self.training_targets(train, validation, loss, options);
        // Sharded, an error in one rank's rows stops every rank (none waits for it).
        let (targets, sample_weights, validation_targets) = match shard_ranks {
            Some(comm) => distributed::all_ok(comm, checked)?,
            None => checked?,
        };
        let validation = validation.zip(validation_targets);
        // `penalty`, the weight penalties' share of the loss, when the model has any.
        let penalty = self.has_penalty();
        let names: Vec<String> = std::iter::once("loss".to_string())
            .chain(penalty.then(|| "penalty".to_string()))
            .chain(self.metric_names())
            .collect();
        let first_metric = 1 + usize::from(penalty);
        let rows = match shard_ranks {
            Some(comm) => check_shard(comm, train.len(), options.batch_size)?,
            None => train.len(),
        };
        if rows == 0 {
            return Err(Error::Data(
                "the training set is empty on every rank".into(),
            ));
        }
        crate::budget::check(self, options.batch_size.min(rows), true, "training")?;
        if let Some((data, _)) = &validation {
            crate::budget::check(self, EVAL_BATCH.min(data.len()), false, "validation")?;
        }
        if let Some(a) = &options.augmentation {
            a.validate()?;
            Augmentation::image_shape(train.feature_shape())?;
        }
        let prefetch = match &train.stream {
            Some(rows) => Some(crate::data::Prefetch::start(
                rows.clone(),
                options.batch_size,
            )?),
            None => None,
        };
        // A batch never holds more rows than the set (batch_size may be any size).
        let largest_batch = options.batch_size.min(train.len());
        Ok(FitState {
            options,
            train,
            targets,
            sample_weights,
            validation,
            first_metric,
            rows,
            steps: rows.div_ceil(options.batch_size),
            epoch: options.initial_epoch,
            batch_x: Tensor::default(),
            batch_targets: Targets::default(),
            batch_weights: Vec::with_capacity(largest_batch),
            scratch: Vec::new(),
            sums: vec![0.0; first_metric],
            seen: 0,
            metric_state: vec![0.0; self.metric_state_len()],
            means: vec![0.0; names.len()],
            names,
            shared: vec![0.0; ranks.map_or(0, |_| self.shared_buffer_len())],
            prefetch,
        })
    }

    /// The order the first epoch shuffles: the checkpoint's when resuming the same rows,
    /// else the rows in turn.
    fn resumed_order(&self, state: &FitState) -> Vec<usize> {
        let n = state.train.len();
        if self.shuffle_order.len() == n && state.options.initial_epoch > 0 {
            self.shuffle_order.clone()
        } else {
            (0..n).collect()
        }
    }

    /// Tells the callbacks and the observer that `epoch` begins; returns its start time.
    fn begin_epoch(&mut self, epoch: usize, callbacks: &mut [&mut dyn Callback]) -> Instant {
        let start = Instant::now();
        callbacks.iter_mut().for_each(|c| c.on_epoch_begin(epoch));
        if let Some(observer) = self.observer_mut() {
            observer.on_epoch_begin(epoch);
        }
        start
    }

    /// A data-parallel step on this rank's rows `chunk` of a global batch of `global` rows.
    fn shared_step(
        &mut self,
        state: &mut FitState,
        comm: &dyn Communicator,
        callbacks: &mut [&mut dyn Callback],
        step: usize,
        chunk: &[usize],
        global: usize,
    ) -> Result<()> {
        state.load_batch(chunk, &mut self.augment_rng)?;
        self.schedule_before_step(state.epoch);
        for c in callbacks.iter_mut() {
            c.on_batch_begin(state.epoch, step, self)?;
        }
        let stop = state.interrupted();
        let weights = state
            .sample_weights
            .as_ref()
            .map(|_| &state.batch_weights[..]);
        let outcome = self.train_step_shared(
            comm,
            &state.batch_x,
            &state.batch_targets,
            weights,
            &mut state.metric_state,
            global,
            stop,
            &mut state.shared,
        )?;
        self.end_step(state, callbacks, step, chunk.len(), outcome)
    }

    /// After a step over `rows` rows: stops on a non-finite loss or a signal, else adds the
    /// step to the epoch's running means and shows them to the callbacks.
    fn end_step(
        &self,
        state: &mut FitState,
        callbacks: &mut [&mut dyn Callback],
        step: usize,
        rows: usize,
        outcome: SharedStep,
    ) -> Result<()> {
        if state.first_metric > 1 {
            state.sums[1] += self.last_penalty() * rows as f64;
        }
        if outcome.non_finite {
            let culprit = self.first_non_finite_layer().map_or(String::new(), |name| {
                format!(" (first non-finite values in layer `{name}`)")
            });
            return Err(Error::Diverged(format!(
                "the loss became {} at epoch {}, step {}{culprit}; lower the learning rate or check the data",
                outcome.loss,
                state.epoch + 1,
                step + 1
            )));
        }
        if outcome.stop {
            return Err(Error::Interrupted {
                epoch: state.epoch + 1,
                step: step + 1,
            });
        }
        state.sums[0] += outcome.loss * rows as f64;
        state.seen += rows;
        for (m, s) in state.means.iter_mut().zip(&state.sums) {
            *m = s / state.seen.max(1) as f64;
        }
        self.metric_results(&state.metric_state, &mut state.means[state.first_metric..]);
        let logs = BatchEnd {
            epoch: state.epoch,
            step: step + 1,
            steps: state.steps,
            names: &state.names,
            values: &state.means,
        };
        callbacks.iter_mut().for_each(|c| c.on_batch_end(&logs));
        Ok(())
    }

    /// At a data-parallel epoch's end: the epoch's sums over every rank's shares, the
    /// replicas' moving statistics averaged, and their weights checked alike.
    fn agree_after_epoch(&mut self, state: &mut FitState, comm: &dyn Communicator) -> Result<()> {
        let mut totals: Vec<f64> = state
            .sums
            .iter()
            .copied()
            .chain([state.seen as f64])
            .collect();
        totals.extend_from_slice(&state.metric_state);
        comm.sum_f64(&mut totals);
        let seen = totals[state.sums.len()];
        for (m, s) in state.means.iter_mut().zip(&totals) {
            *m = s / seen.max(1.0);
        }
        self.metric_results(
            &totals[state.sums.len() + 1..],
            &mut state.means[state.first_metric..],
        );
        self.average_moving_statistics(comm);
        let differing = distributed::ranks_differing(comm, self.weights_fingerprint());
        if differing > 0 {
            return Err(Error::Config(format!(
                "after epoch {}, the weights of {differing} of the {} ranks differ from rank 0's: the replicas went apart (a rank with a different build or data?)",
                state.epoch + 1,
                comm.size()
            )));
        }
        Ok(())
    }

    /// Ends an epoch: checks the weights, validates (on rank 0 when data-parallel, its logs
    /// then sent to every rank so that every callback and schedule decides alike), steps the
    /// schedule, keeps the epoch's `order` for checkpoints, and asks the callbacks (rank 0's
    /// decision counts). Returns whether to stop.
    fn end_epoch(
        &mut self,
        state: &FitState,
        history: &mut History,
        start: Instant,
        order: Option<&[usize]>,
        comm: Option<&dyn Communicator>,
        callbacks: &mut [&mut dyn Callback],
    ) -> Result<bool> {
        let epoch = state.epoch;
        // Diverged weights can hide behind a finite loss (a saturated sigmoid maps an
        // infinite input to 0 or 1), so the weights themselves are checked.
        if let Some(name) = self.first_non_finite_parameter() {
            return Err(Error::Diverged(format!(
                "`{name}` became non-finite during epoch {} (by step {}); the last good checkpoint is the previous epoch's; lower the learning rate or check the data",
                epoch + 1,
                state.steps
            )));
        }
        // The rate of the epoch's last step, as Keras logs it.
        let learning_rate = self.optimizer().map_or(0.0, |o| o.learning_rate() as f64);
        let mut values: Vec<(String, f64)> = (state.names.iter().cloned())
            .zip(state.means.iter().copied())
            .collect();
        let evaluates = comm.is_none_or(|c| c.rank() == 0);
        if let Some((data, val_targets)) = state.validation.as_ref().filter(|_| evaluates) {
            let results = self.evaluate_targets(data, val_targets, EVAL_BATCH, None)?;
            values.extend(
                results
                    .into_iter()
                    .map(|(name, v)| (format!("val_{name}"), v)),
            );
        }
        if let Some(comm) = comm {
            values = broadcast_values(comm, &values)?;
        }
        let logs = EpochLogs {
            epoch,
            values,
            learning_rate,
            seconds: start.elapsed().as_secs_f64(),
        };
        if let Some(schedule) = self.schedule_mut() {
            schedule.after_epoch(&logs.values)?;
        }
        if let Some(order) = order {
            self.shuffle_order.clear();
            self.shuffle_order.extend_from_slice(order);
        }
        let mut stop = false;
        for c in callbacks.iter_mut() {
            stop |= c.on_epoch_end(&logs, self)? == Control::Stop;
        }
        if let Some(comm) = comm {
            // Rank 0 decides.
            let mut flag = vec![u8::from(stop)];
            comm.broadcast_bytes(&mut flag);
            stop = flag.first() == Some(&1);
        }
        history.epochs.push(logs);
        Ok(stop)
    }
}

/// Streamed training rows train in one process, validated on rows in memory.
fn check_streamed(
    ranks: Option<&dyn Communicator>,
    options: &FitOptions,
    validation: Option<&Dataset>,
) -> Result<()> {
    let problem = if ranks.is_some() {
        "trains in one process; remove it for data-parallel training (shard = true reads each rank's rows)"
    } else if validation.is_none() && options.validation_split > 0.0 {
        "holds out no validation_split from the streamed rows; give the validation set instead"
    } else if validation.is_some_and(|v| v.stream.is_some()) {
        "streams the training rows only; the validation set must be in memory"
    } else {
        return Ok(());
    };
    Err(Error::Config(format!("[data] stream = true {problem}")))
}

/// The training rows over every rank when each holds only its block (`rows` here); an error
/// on every rank when one's block is not the one [`distributed::shard`] gives it for `batch`.
fn check_shard(comm: &dyn Communicator, rows: usize, batch: usize) -> Result<usize> {
    let mut total = [rows as f64];
    comm.sum_f64(&mut total);
    let total = total[0] as usize;
    let expected = distributed::shard(total, batch, comm.rank(), comm.size()).len();
    let mine = if rows == expected {
        Ok(total)
    } else {
        Err(Error::Data(format!(
            "rank {} holds {rows} training rows, but its shard of the {total} rows for batches of {batch} has {expected}: prepare the data with data::prepare_shard for this batch size",
            comm.rank()
        )))
    };
    distributed::all_ok(comm, mine)
}

/// Rank 0's `values` on every rank.
fn broadcast_values(
    comm: &dyn Communicator,
    values: &[(String, f64)],
) -> Result<Vec<(String, f64)>> {
    let mut bytes = serde_json::to_vec(values).map_err(|e| Error::Config(e.to_string()))?;
    comm.broadcast_bytes(&mut bytes);
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::Config(format!("the epoch's logs from rank 0 are malformed: {e}")))
}
