//! Compiling a model (Keras' `compile`): optimizer, loss, metrics and weighted metrics, and
//! the learning-rate schedule; the metrics' state that a step or an evaluation fills.

use super::Model;
use crate::activations::Activation;
use crate::dtype_policy::DtypePolicy;
use crate::losses::{Loss, Targets};
use crate::metrics::Metric;
use crate::optimizers::Optimizer;
use crate::schedules::{ScheduleSpec, Scheduler};
use crate::tensor::Tensor;
use crate::{Error, Result};

/// What `compile` set: the loss, the metrics, the optimizer and its schedule.
pub(super) struct Compiled {
    pub(super) loss: Loss,
    /// Metrics as the user named them (for history names) and resolved for the loss.
    pub(super) metrics: Vec<(Metric, Metric)>,
    /// Keras' `weighted_metrics`: computed with the sample weights, logged as `weighted_NAME`.
    pub(super) weighted_metrics: Vec<(Metric, Metric)>,
    pub(super) optimizer: Box<dyn Optimizer>,
    pub(super) schedule: Option<Scheduler>,
}

impl Model {
    /// Sets the optimizer, loss and metrics. A softmax (or sigmoid) output is fused with a
    /// cross-entropy loss for numerical stability (see [`crate::losses`]).
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
    /// // Keras: model.compile(optimizer=SGD(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    /// assert_eq!(model.loss(), Some(Loss::SparseCategoricalCrossentropy));
    /// # Ok(())
    /// # }
    /// ```
    pub fn compile(
        &mut self,
        optimizer: Box<dyn Optimizer>,
        loss: Loss,
        metrics: &[Metric],
    ) -> Result<()> {
        let resolved = resolve_metrics(metrics, loss)?;
        for &o in &self.topology.outputs {
            // Class scores come as a vector: a map (a convolution's (H, W, C)) would pass for
            // H·W·C classes.
            let shape = &self.output_shapes[o];
            if loss.fusable_activation() == Some(Activation::Softmax) && shape.len() != 1 {
                return Err(Error::Shape(format!(
                    "output `{}` gives {} values per sample, shaped {shape:?}; {} needs a flat vector of class scores: add a flatten (or global pooling) and a dense layer",
                    self.layers[o].name(),
                    shape.iter().product::<usize>(),
                    loss.name()
                )));
            }
            // An output that other layers also read passes them dL/dy, so it keeps its
            // activation's own backward.
            let layer = &mut self.layers[o];
            let fuse = self.topology.consumers[o] == 0
                && loss.fusable_activation() == Some(layer.output_activation());
            layer.set_fused_output(fuse);
        }
        self.compiled = Some(Compiled {
            loss,
            metrics: resolved,
            weighted_metrics: Vec::new(),
            optimizer,
            schedule: None,
        });
        Ok(())
    }

    /// Runs the matrix products of the dense and convolution layers under `policy` (Keras'
    /// `mixed_bfloat16`: bf16 inputs, f32 accumulation, f32 weights; see
    /// [`crate::dtype_policy`]). Refuses `mixed_bfloat16` on a CPU without AVX-512 BF16.
    ///
    /// ```
    /// # fn main() -> deeptrain::Result<()> {
    /// # use deeptrain::{DenseSpec, DtypePolicy, Sequential};
    /// let mut model = Sequential::new(&[4]).add(DenseSpec::new(2)).build(1)?;
    /// // Keras: keras.mixed_precision.set_global_policy("mixed_bfloat16")
    /// if deeptrain::linalg::bf16::supported() {
    ///     model.set_dtype_policy(DtypePolicy::MixedBfloat16)?;
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_dtype_policy(&mut self, policy: DtypePolicy) -> Result<()> {
        policy.check_supported()?;
        for layer in &mut self.layers {
            layer.set_dtype_policy(policy);
        }
        Ok(())
    }

    /// Sets Keras' `weighted_metrics` (after `compile`): metrics computed with the sample
    /// weights (`sample_weight_column`, `class_weight`), logged as `weighted_NAME`.
    pub fn set_weighted_metrics(&mut self, metrics: &[Metric]) -> Result<()> {
        let Some(compiled) = self.compiled.as_mut() else {
            return Err(Error::Config(
                "compile the model before setting weighted metrics".into(),
            ));
        };
        compiled.weighted_metrics = resolve_metrics(metrics, compiled.loss)?;
        Ok(())
    }

    /// The compiled loss, if any.
    pub fn loss(&self) -> Option<Loss> {
        self.compiled.as_ref().map(|c| c.loss)
    }

    /// The metrics as given to `compile`.
    pub fn metrics(&self) -> Vec<Metric> {
        self.compiled
            .as_ref()
            .map(|c| c.metrics.iter().map(|m| m.0).collect())
            .unwrap_or_default()
    }

    /// The optimizer, if compiled.
    pub fn optimizer(&self) -> Option<&dyn Optimizer> {
        self.compiled.as_ref().map(|c| c.optimizer.as_ref())
    }

    /// The optimizer, mutable (to change the learning rate).
    pub fn optimizer_mut(&mut self) -> Option<&mut (dyn Optimizer + 'static)> {
        self.compiled.as_mut().map(|c| c.optimizer.as_mut())
    }

    /// The history names of the metrics, in the order of their state: the metrics, then
    /// `weighted_` and each weighted metric.
    pub fn metric_names(&self) -> Vec<String> {
        let Some(c) = self.compiled.as_ref() else {
            return Vec::new();
        };
        c.metrics
            .iter()
            .map(|m| m.0.name().to_string())
            .chain(
                c.weighted_metrics
                    .iter()
                    .map(|m| format!("weighted_{}", m.0.name())),
            )
            .collect()
    }

    /// The f64 slots of metric state that [`Model::train_step`] adds a batch to.
    pub fn metric_state_len(&self) -> usize {
        let units = self.output_units();
        self.compiled.as_ref().map_or(0, |c| {
            c.metrics
                .iter()
                .chain(&c.weighted_metrics)
                .map(|m| m.1.state_len(units))
                .sum()
        })
    }

    /// Each metric's value from a state filled by `train_step` (in `metric_names` order),
    /// written to `out`.
    pub fn metric_results(&self, state: &[f64], out: &mut [f64]) {
        let units = self.output_units();
        let Some(c) = self.compiled.as_ref() else {
            return;
        };
        let mut offset = 0;
        for ((_, m), o) in c.metrics.iter().chain(&c.weighted_metrics).zip(out) {
            let len = m.state_len(units);
            if let Some(s) = state.get(offset..offset + len) {
                *o = m.result(s);
            }
            offset += len;
        }
    }

    /// Attaches a learning-rate schedule (replacing any), starting from the optimizer's rate
    /// unless the schedule sets its own. `fit` applies it before every step and after every
    /// epoch.
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
    /// use deeptrain::schedules::ExponentialSpec;
    /// model.set_schedule(Some(ExponentialSpec::new(100.0, 0.5).into()))?;
    /// assert_eq!(model.schedule().map(|s| s.spec().name()), Some("exponential"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_schedule(&mut self, spec: Option<ScheduleSpec>) -> Result<()> {
        let Some(compiled) = self.compiled.as_mut() else {
            return Err(Error::Config(
                "compile the model before setting a schedule".into(),
            ));
        };
        compiled.schedule = match spec {
            Some(spec) => Some(Scheduler::new(
                spec,
                compiled.optimizer.learning_rate() as f64,
            )?),
            None => None,
        };
        Ok(())
    }

    /// The attached schedule, if any.
    pub fn schedule(&self) -> Option<&Scheduler> {
        self.compiled.as_ref().and_then(|c| c.schedule.as_ref())
    }

    /// The attached schedule, mutable (to restore its state).
    pub fn schedule_mut(&mut self) -> Option<&mut Scheduler> {
        self.compiled.as_mut().and_then(|c| c.schedule.as_mut())
    }

    /// Sets the rate (and momentum) the schedule gives for the next step of `epoch`.
    pub(super) fn schedule_before_step(&mut self, epoch: usize) {
        if let Some(Compiled {
            optimizer,
            schedule: Some(schedule),
            ..
        }) = self.compiled.as_mut()
        {
            let step = optimizer.iterations();
            schedule.before_step(optimizer.as_mut(), step, epoch);
        }
    }
}

/// Resolves `accuracy` for `loss` and checks that every metric fits it.
fn resolve_metrics(metrics: &[Metric], loss: Loss) -> Result<Vec<(Metric, Metric)>> {
    metrics
        .iter()
        .map(|&m| {
            let r = m.resolve(loss);
            if r.accepts(loss) {
                Ok((m, r))
            } else {
                Err(Error::Config(format!(
                    "metric `{}` does not fit the loss `{}`",
                    m.name(),
                    loss.name()
                )))
            }
        })
        .collect()
}

/// Adds a batch to every metric's state: the metrics unweighted, the weighted ones with
/// `weights` (Keras 3's `metrics` and `weighted_metrics`). Stops where `state` ends.
pub(super) fn update_metrics(
    compiled: &Compiled,
    units: usize,
    y_pred: &Tensor,
    targets: &Targets,
    weights: Option<&[f32]>,
    state: &mut [f64],
) {
    let all = compiled
        .metrics
        .iter()
        .map(|m| (m.1, None))
        .chain(compiled.weighted_metrics.iter().map(|m| (m.1, weights)));
    let mut offset = 0;
    for (metric, w) in all {
        let len = metric.state_len(units);
        let Some(slots) = state.get_mut(offset..offset + len) else {
            return;
        };
        metric.update(slots, y_pred, targets, w);
        offset += len;
    }
}
