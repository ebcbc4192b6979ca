//! The sequential model: build from layer specs, compile, then `fit`, `evaluate`, `predict`.
//!
//! ```
//! use deeptrain::{Activation, DenseSpec, LayerSpec, Loss, Metric, Sequential, Sgd};
//! let mut model = Sequential::new(&[4])
//!     .add(DenseSpec::new(8).activation(Activation::Relu))
//!     .add(DenseSpec::new(3).activation(Activation::Softmax))
//!     .build(42)
//!     .unwrap();
//! model.compile(Box::new(Sgd::new(0.1).unwrap()), Loss::SparseCategoricalCrossentropy, &[Metric::Accuracy]).unwrap();
//! assert_eq!(model.count_params(), (4 * 8 + 8 + 8 * 3 + 3, 0));
//! ```

mod checkpoint;
mod fit;
mod fold;
mod lr_find;
mod save;
pub mod summary;

pub use checkpoint::{RngState, TrainingState, TRAINING_STATE_VERSION};
pub use fit::FitOptions;
pub use lr_find::{LrFindOptions, LrFindResult, SUGGESTION_RULE};
pub use save::{one_line, ModelFile, MODEL_FORMAT_VERSION};

use rand::SeedableRng;

use crate::activations::Activation;
use crate::data::Dataset;
use crate::layers::{DenseSpec, Layer, LayerSpec, Mode};
use crate::losses::{Loss, Targets};
use crate::metrics::Metric;
use crate::optimizers::{Clipping, Optimizer};
use crate::schedules::{ScheduleSpec, Scheduler};
use crate::tensor::Tensor;
use crate::{Error, Result, Rng};

/// Reads each layer's activations and gradients as they are computed (for diagnostics).
pub trait Observer: Send {
    /// Before each epoch of `fit` (from 0).
    fn on_epoch_begin(&mut self, _epoch: usize) {}
    /// After layer `index` computed `output` in a forward pass.
    fn after_forward(&mut self, _index: usize, _layer: &dyn Layer, _output: &Tensor, _mode: Mode) {}
    /// After layer `index` ran backward; `grad_output` is dL/d(its output) and the layer's
    /// parameter gradients are readable through `layer.params()`.
    fn after_backward(&mut self, _index: usize, _layer: &dyn Layer, _grad_output: &Tensor) {}
    /// Whether this training step's backward must leave every parameter gradient readable
    /// (asked after the forward pass). When false, plain SGD may update the weights within
    /// backward instead ([`Layer::set_fused_descent`]).
    fn needs_gradients(&self) -> bool {
        true
    }
}

/// The spec of layer `index` with `kernel_initializer = "auto"` replaced by the initializer
/// the textbook pairs with the activation that follows it: the Dense layer's own, or, when that
/// is linear, the first activation layer after it (before the next Dense layer).
fn resolve_auto_initializer(specs: &[LayerSpec], index: usize) -> LayerSpec {
    let mut spec = specs[index].clone();
    if let LayerSpec::Dense(dense) = &mut spec {
        if dense.kernel_initializer == crate::Initializer::Auto {
            let following = specs[index + 1..]
                .iter()
                .take_while(|s| !matches!(s, LayerSpec::Dense(_)))
                .find_map(|s| s.applied_activation());
            let activation = match dense.activation {
                Activation::Linear => following.unwrap_or(Activation::Linear),
                own => own,
            };
            dense.kernel_initializer = activation.recommended_initializer();
        }
    }
    spec
}

/// A snapshot of a model's parameters and state, per layer.
#[derive(Clone, Debug, PartialEq)]
pub struct Weights(pub Vec<Vec<Tensor>>);

/// Layers being assembled into a [`Sequential`] model.
#[derive(Clone, Debug)]
pub struct SequentialBuilder {
    input_shape: Vec<usize>,
    layers: Vec<LayerSpec>,
}

impl SequentialBuilder {
    /// Appends a layer.
    #[allow(clippy::should_implement_trait)] // Keras' name: `model.add(layer)`.
    pub fn add(mut self, layer: impl Into<LayerSpec>) -> Self {
        self.layers.push(layer.into());
        self
    }

    /// Creates and initializes every layer, seeded.
    pub fn build(self, seed: u64) -> Result<Sequential> {
        Sequential::from_specs(&self.input_shape, &self.layers, seed)
    }
}

impl From<DenseSpec> for LayerSpec {
    fn from(spec: DenseSpec) -> Self {
        LayerSpec::Dense(spec)
    }
}

impl DenseSpec {
    /// Sets the activation.
    pub fn activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }

    /// Sets the kernel initializer.
    pub fn kernel_initializer(mut self, init: crate::Initializer) -> Self {
        self.kernel_initializer = init;
        self
    }
}

impl LayerSpec {
    /// A Flatten layer.
    pub fn flatten() -> Self {
        LayerSpec::Flatten(Default::default())
    }

    /// An Activation layer.
    pub fn activation(activation: Activation) -> Self {
        LayerSpec::Activation(crate::layers::ActivationSpec {
            activation,
            name: None,
        })
    }
}

struct Compiled {
    loss: Loss,
    /// Metrics as the user named them (for history names) and resolved for the loss.
    metrics: Vec<(Metric, Metric)>,
    /// Keras' `weighted_metrics`: computed with the sample weights, logged as `weighted_NAME`.
    weighted_metrics: Vec<(Metric, Metric)>,
    optimizer: Box<dyn Optimizer>,
    schedule: Option<Scheduler>,
}

/// A stack of layers trained end to end.
pub struct Sequential {
    input_shape: Vec<usize>,
    layers: Vec<Box<dyn Layer>>,
    output_shapes: Vec<Vec<usize>>,
    compiled: Option<Compiled>,
    /// `outputs[i]`: output of layer i in the last forward pass.
    outputs: Vec<Tensor>,
    /// `grads[i]`: dL/d(output of layer i) in the last backward pass.
    grads: Vec<Tensor>,
    observer: Option<Box<dyn Observer>>,
    /// Per layer, whether the last training step's backward updated its weights itself.
    fused: Vec<bool>,
    seed: u64,
    shuffle_rng: Rng,
    /// Augmentation's stream (seed, stream 2).
    augment_rng: Rng,
    /// The sample order of the last epoch (the next shuffles it again).
    shuffle_order: Vec<usize>,
    last_penalty: f64,
}

impl Sequential {
    /// Starts a model whose samples have `input_shape` (without the batch axis).
    #[allow(clippy::new_ret_no_self)]
    pub fn new(input_shape: &[usize]) -> SequentialBuilder {
        SequentialBuilder {
            input_shape: input_shape.to_vec(),
            layers: Vec::new(),
        }
    }

    /// Builds a model from layer specs, initializing weights from `seed`. Layers without a name
    /// get Keras-style ones (`dense`, `dense_1`, ...).
    pub fn from_specs(input_shape: &[usize], specs: &[LayerSpec], seed: u64) -> Result<Self> {
        if specs.is_empty() {
            return Err(Error::Config("a model needs at least one layer".into()));
        }
        if specs.len() > crate::spec::MAX_REPEAT as usize {
            return Err(Error::Config(format!(
                "{} layers, more than the limit of {}",
                specs.len(),
                crate::spec::MAX_REPEAT
            )));
        }
        if input_shape.is_empty() || input_shape.contains(&0) {
            return Err(Error::Shape(format!(
                "input shape {input_shape:?} must have positive sizes"
            )));
        }
        if input_shape
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d as u64))
            .is_none_or(|n| n > crate::limits::MAX_ARRAY_VALUES)
        {
            return Err(Error::Shape(format!(
                "input shape {input_shape:?} has more than {} values per sample",
                crate::limits::MAX_ARRAY_VALUES
            )));
        }
        let mut rng = Rng::seed_from_u64(seed);
        let mut layers = Vec::with_capacity(specs.len());
        let mut output_shapes = Vec::with_capacity(specs.len());
        let mut shape = input_shape.to_vec();
        let mut names = Names::new(specs)?;
        let mut total_params = 0u64;
        for (index, spec) in specs.iter().enumerate() {
            spec.validate()
                .map_err(|m| Error::Config(format!("layer {}: {m}", index + 1)))?;
            let spec = &resolve_auto_initializer(specs, index);
            let mut layer = spec.instantiate();
            let name = match spec.name() {
                Some(n) => n.to_string(),
                None => names.fresh(spec.base_name()),
            };
            layer.set_name(name);
            let elements: usize = shape.iter().product::<usize>().max(1);
            if let LayerSpec::Dense(d) = spec {
                let weights = elements
                    .checked_mul(d.units)
                    .filter(|&w| w <= MAX_PARAMS_PER_LAYER);
                if weights.is_none() {
                    return Err(Error::Config(format!(
                        "layer `{}` would need {elements} x {} weights, more than the limit of {MAX_PARAMS_PER_LAYER}",
                        layer.name(),
                        d.units
                    )));
                }
            }
            total_params = total_params.saturating_add(spec.param_count(&shape));
            if total_params > crate::limits::MAX_MODEL_PARAMS {
                return Err(Error::Config(format!(
                    "the model would have over {total_params} parameters by layer `{}` ({} as f32, before gradients and optimizer state), more than the limit of {} ({})",
                    layer.name(),
                    crate::limits::human_bytes(total_params.saturating_mul(4)),
                    crate::limits::MAX_MODEL_PARAMS,
                    crate::limits::human_bytes(crate::limits::MAX_MODEL_PARAMS * 4)
                )));
            }
            shape = layer.build(&shape, &mut rng)?;
            output_shapes.push(shape.clone());
            layers.push(layer);
        }
        let n = layers.len();
        let mut shuffle_rng = Rng::seed_from_u64(seed);
        shuffle_rng.set_stream(1);
        let mut augment_rng = Rng::seed_from_u64(seed);
        augment_rng.set_stream(2);
        Ok(Sequential {
            input_shape: input_shape.to_vec(),
            layers,
            output_shapes,
            compiled: None,
            outputs: vec![Tensor::default(); n],
            grads: vec![Tensor::default(); n],
            observer: None,
            fused: Vec::new(),
            seed,
            shuffle_rng,
            augment_rng,
            shuffle_order: Vec::new(),
            last_penalty: 0.0,
        })
    }

    /// Sets the optimizer, loss and metrics. A softmax (or sigmoid) output is fused with a
    /// cross-entropy loss for numerical stability (see [`crate::losses`]).
    pub fn compile(
        &mut self,
        optimizer: Box<dyn Optimizer>,
        loss: Loss,
        metrics: &[Metric],
    ) -> Result<()> {
        let resolved = resolve_metrics(metrics, loss)?;
        let last = self.layers.last_mut().expect("a built model has layers");
        let fuse = loss.fusable_activation() == Some(last.output_activation());
        last.set_fused_output(fuse);
        if loss == Loss::SparseCategoricalCrossentropy
            && self.output_shapes.last().map(|s| s.len()) != Some(1)
        {
            return Err(Error::Shape(
                "sparse_categorical_crossentropy needs a flat (units) output".into(),
            ));
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

    /// The f64 slots of metric state that [`Sequential::train_step`] adds a batch to.
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
    pub fn set_schedule(&mut self, spec: Option<ScheduleSpec>) -> Result<()> {
        let Some(compiled) = self.compiled.as_mut() else {
            return Err(Error::Config(
                "compile the model before setting a schedule".into(),
            ));
        };
        compiled.schedule = match spec {
            Some(spec) => Some(
                Scheduler::new(spec, compiled.optimizer.learning_rate() as f64)
                    .map_err(Error::Config)?,
            ),
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
    fn schedule_before_step(&mut self, epoch: usize) {
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

    /// The layers.
    pub fn layers(&self) -> &[Box<dyn Layer>] {
        &self.layers
    }

    /// Each layer's output in the last forward pass (training, evaluation or prediction).
    pub fn last_outputs(&self) -> &[Tensor] {
        &self.outputs
    }

    /// The layers, mutable (to freeze or unfreeze, or to set weights).
    pub fn layers_mut(&mut self) -> &mut [Box<dyn Layer>] {
        &mut self.layers
    }

    /// Per-sample input shape.
    pub fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    /// Per-sample output shape of each layer.
    pub fn output_shapes(&self) -> &[Vec<usize>] {
        &self.output_shapes
    }

    /// Number of model outputs per sample.
    pub fn output_units(&self) -> usize {
        self.output_shapes
            .last()
            .map(|s| s.iter().product())
            .unwrap_or(0)
    }

    /// The seed the weights were initialized from.
    pub fn seed(&self) -> u64 {
        self.seed
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

    /// The installed observer, mutable.
    pub fn observer_mut(&mut self) -> Option<&mut (dyn Observer + 'static)> {
        self.observer.as_deref_mut()
    }

    /// Installs (or removes) an observer of activations and gradients.
    pub fn set_observer(&mut self, observer: Option<Box<dyn Observer>>) {
        self.observer = observer;
    }

    /// (trainable, non-trainable) parameter counts.
    pub fn count_params(&self) -> (usize, usize) {
        self.layers
            .iter()
            .map(|l| l.param_counts())
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    }

    /// Checks that `x` has the model's per-sample input shape.
    pub fn check_input(&self, x: &Tensor) -> Result<()> {
        self.check_input_shape(x)?;
        match crate::data::first_non_finite(x) {
            Some((row, col)) => Err(Error::Data(format!(
                "feature {col} of row {row} is not a finite number"
            ))),
            None => Ok(()),
        }
    }

    /// Checks that `x` holds samples of the model's input shape.
    pub fn check_input_shape(&self, x: &Tensor) -> Result<()> {
        let sample_shape = &x.shape()[1.min(x.shape().len())..];
        let ok = sample_shape == self.input_shape.as_slice()
            || (sample_shape.iter().product::<usize>()
                == self.input_shape.iter().product::<usize>()
                && self.input_shape.len() == 1);
        if ok {
            Ok(())
        } else {
            Err(Error::Shape(format!(
                "the data has samples of shape {sample_shape:?} but the model expects {:?}",
                self.input_shape
            )))
        }
    }

    /// Runs every layer on `x`; the result is in `self.outputs.last()`.
    fn forward(&mut self, x: &Tensor, mode: Mode) {
        for i in 0..self.layers.len() {
            let (before, rest) = self.outputs.split_at_mut(i);
            let input = if i == 0 { x } else { &before[i - 1] };
            self.layers[i].forward(input, &mut rest[0], mode);
            if let Some(obs) = self.observer.as_mut() {
                obs.after_forward(i, self.layers[i].as_ref(), &rest[0], mode);
            }
        }
    }

    /// Backward from `self.grads.last()` through every layer, writing parameter gradients;
    /// writes dL/dx into `input_grad` when given (training skips it).
    /// Layers before the first one with trainable parameters are skipped, and that layer
    /// computes no input gradient, unless `input_grad` asks for it.
    fn backward(&mut self, x: &Tensor, mut input_grad: Option<&mut Tensor>) {
        let first_needed = if input_grad.is_some() {
            0
        } else {
            self.layers
                .iter()
                .position(|l| l.params().iter().any(|p| p.trainable))
                .unwrap_or(self.layers.len())
        };
        for i in (first_needed..self.layers.len()).rev() {
            let (grads_before, grads_rest) = self.grads.split_at_mut(i);
            let input = if i == 0 { x } else { &self.outputs[i - 1] };
            let grad_input = if i == 0 {
                input_grad.take()
            } else if i == first_needed {
                None
            } else {
                Some(&mut grads_before[i - 1])
            };
            self.layers[i].backward(input, &self.outputs[i], &grads_rest[0], grad_input);
            if let Some(obs) = self.observer.as_mut() {
                obs.after_backward(i, self.layers[i].as_ref(), &grads_rest[0]);
            }
        }
    }

    /// The loss of the last forward pass against `targets`, writing dL/d(output or logits) into
    /// the last gradient buffer when `with_grad`.
    fn loss_of_last_forward(
        &mut self,
        loss: Loss,
        targets: &Targets,
        weights: Option<&[f32]>,
        with_grad: bool,
    ) -> f64 {
        let last = self.layers.len() - 1;
        let logits = self.layers[last].logits();
        let grad = if with_grad {
            Some(&mut self.grads[last])
        } else {
            None
        };
        loss.compute_weighted(&self.outputs[last], logits, targets, weights, grad)
    }

    /// One optimization step on a batch: forward (training mode), loss, backward, update.
    /// Adds each metric's batch sum to `metric_sums`; returns the mean loss.
    pub fn train_step(
        &mut self,
        x: &Tensor,
        targets: &Targets,
        metric_sums: &mut [f64],
    ) -> Result<f64> {
        self.train_step_weighted(x, targets, None, metric_sums)
    }

    /// [`Sequential::train_step`] with per-sample weights (Keras' `sample_weight`, with the
    /// class weights folded in): each sample's loss and gradient are scaled by its weight.
    /// `metric_state` holds [`Sequential::metric_state_len`] slots (fewer: metrics are skipped).
    pub fn train_step_weighted(
        &mut self,
        x: &Tensor,
        targets: &Targets,
        weights: Option<&[f32]>,
        metric_state: &mut [f64],
    ) -> Result<f64> {
        let Some(compiled) = self.compiled.take() else {
            return Err(Error::Config("compile the model before training it".into()));
        };
        self.forward(x, Mode::Train);
        let data_loss = self.loss_of_last_forward(compiled.loss, targets, weights, true);
        let y_pred = &self.outputs[self.layers.len() - 1];
        update_metrics(
            &compiled,
            self.output_units(),
            y_pred,
            targets,
            weights,
            metric_state,
        );
        // Plain SGD, and nobody reading the gradients: layers that can update their weights
        // within backward do (one pass less over every weight and gradient).
        let fused_rate = compiled
            .optimizer
            .plain_descent_rate()
            .filter(|_| self.observer.as_ref().is_none_or(|o| !o.needs_gradients()));
        self.fused.clear();
        for layer in &mut self.layers {
            self.fused
                .push(fused_rate.is_some() && layer.set_fused_descent(fused_rate));
        }
        self.backward(x, None);
        for (layer, &fused) in self.layers.iter_mut().zip(&self.fused) {
            if fused {
                layer.set_fused_descent(None);
            }
        }
        // Weight penalties join the loss and its gradient before clipping, as in Keras.
        self.last_penalty = self.add_penalties();
        let mut compiled = compiled;
        let fused = std::mem::take(&mut self.fused);
        self.update_parameters(compiled.optimizer.as_mut(), &fused);
        self.fused = fused;
        self.compiled = Some(compiled);
        Ok(data_loss + self.last_penalty)
    }

    /// The first layer whose last output holds a NaN or infinity, if any (to locate divergence).
    pub fn first_non_finite_layer(&self) -> Option<&str> {
        self.layers
            .iter()
            .zip(&self.outputs)
            .find(|(_, out)| out.data().iter().any(|v| !v.is_finite()))
            .map(|(l, _)| l.name())
    }

    /// The first parameter (or moving statistic) holding a NaN or infinity, as
    /// `layer.parameter`, if any: a ReLU network whose weights diverged can still show a finite
    /// loss, so the weights themselves are checked at every epoch's end and before every save.
    pub fn first_non_finite_parameter(&self) -> Option<String> {
        self.layers.iter().find_map(|layer| {
            layer
                .params()
                .iter()
                .map(|p| (p.name, &p.value))
                .chain(layer.state().iter().map(|s| (s.name, &s.value)))
                .find(|(_, v)| v.data().iter().any(|x| !x.is_finite()))
                .map(|(name, _)| format!("{}.{name}", layer.name()))
        })
    }

    /// The sum of every layer's weight penalty (L1/L2) at the current weights: the part of
    /// `evaluate`'s loss that is not the data loss, as in Keras.
    pub fn weight_penalty(&self) -> f64 {
        self.layers.iter().map(|l| l.penalty()).sum()
    }

    /// The weight penalty of the last training step (part of the loss it returned).
    pub fn last_penalty(&self) -> f64 {
        self.last_penalty
    }

    /// Whether any layer has a weight penalty.
    pub fn has_penalty(&self) -> bool {
        self.layer_specs().iter().any(|s| {
            matches!(s, LayerSpec::Dense(d) if d.kernel_regularizer.is_some() || d.bias_regularizer.is_some())
        })
    }

    /// Adds every layer's penalty gradient; returns the total penalty.
    fn add_penalties(&mut self) -> f64 {
        let mut total = 0.0;
        for layer in &mut self.layers {
            total += layer.penalty();
            layer.add_penalty_gradients();
        }
        total
    }

    /// Clips the gradients as the optimizer asks (see [`Clipping`]), then lets it
    /// update every trainable parameter, and advances its step.
    pub fn apply_gradients(&mut self, optimizer: &mut dyn Optimizer) {
        self.update_parameters(optimizer, &[]);
    }

    /// [`Sequential::apply_gradients`], but for the layers marked in `already_updated` (whose
    /// backward applied plain SGD itself) only the constraints.
    fn update_parameters(&mut self, optimizer: &mut dyn Optimizer, already_updated: &[bool]) {
        let clipping = optimizer.clipping();
        let trainable = || {
            self.layers
                .iter()
                .flat_map(|l| l.params())
                .filter(|p| p.trainable)
        };
        let global_scale = match clipping {
            Clipping::GlobalNorm(_) => clipping.global_scale(
                trainable()
                    .flat_map(|p| p.grad.data())
                    .map(|&g| (g as f64) * (g as f64))
                    .sum(),
            ),
            _ => 1.0,
        };
        let mut slot = 0;
        for (i, layer) in self.layers.iter_mut().enumerate() {
            let updated = already_updated.get(i).copied().unwrap_or(false);
            for p in layer.params_mut() {
                if p.trainable && !updated {
                    clipping.apply(p.grad.data_mut(), global_scale);
                    optimizer.update(slot, p.value.data_mut(), p.grad.data());
                }
                slot += 1;
            }
            layer.apply_constraints();
        }
        optimizer.finish_step();
    }

    /// The loss and gradients for a batch without updating the weights (for gradient checks and
    /// diagnostics). Parameter gradients are left in each layer's `params()[..].grad`; the
    /// gradient with respect to the input is returned.
    pub fn compute_gradients(
        &mut self,
        x: &Tensor,
        targets: &Targets,
        mode: Mode,
    ) -> Result<(f64, Tensor)> {
        let loss_fn = self
            .loss()
            .ok_or_else(|| Error::Config("compile the model first".into()))?;
        self.forward(x, mode);
        let loss = self.loss_of_last_forward(loss_fn, targets, None, true);
        let mut dx = Tensor::default();
        self.backward(x, Some(&mut dx));
        let penalty = self.add_penalties();
        Ok((loss + penalty, dx))
    }

    /// The model's outputs for `x`, in inference mode, `batch_size` rows at a time.
    pub fn predict(&mut self, x: &Tensor, batch_size: usize) -> Result<Tensor> {
        self.check_input(x)?;
        let n = x.rows();
        let units = self.output_units();
        let mut out = Tensor::zeros(&[n, units]);
        let mut batch = Tensor::default();
        let indices: Vec<usize> = (0..n).collect();
        for chunk in indices.chunks(batch_size.max(1)) {
            batch.gather_rows(x, chunk);
            self.forward(&batch, Mode::Infer);
            let y = self.outputs.last().expect("layers");
            out.data_mut()[chunk[0] * units..(chunk[0] + chunk.len()) * units]
                .copy_from_slice(y.data());
        }
        Ok(out)
    }

    /// MC dropout (Gal & Ghahramani 2016): `samples` stochastic passes over `x` with dropout
    /// active and batch norm in inference mode; returns the mean output and its standard
    /// deviation per output unit. The dropout streams are reseeded from `seed` first, so the
    /// result depends only on the weights, `x`, `samples` and `seed`.
    pub fn predict_mc(
        &mut self,
        x: &Tensor,
        samples: usize,
        batch_size: usize,
        seed: u64,
    ) -> Result<(Tensor, Tensor)> {
        self.check_input(x)?;
        if samples == 0 {
            return Err(Error::Config("MC dropout needs at least one sample".into()));
        }
        for (i, layer) in self.layers.iter_mut().enumerate() {
            layer.reseed(seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        }
        let n = x.rows();
        let units = self.output_units();
        let mut sum = vec![0.0f64; n * units];
        let mut sum_sq = vec![0.0f64; n * units];
        let mut batch = Tensor::default();
        let indices: Vec<usize> = (0..n).collect();
        for (b, chunk) in indices.chunks(batch_size.max(1)).enumerate() {
            batch.gather_rows(x, chunk);
            let offset = b * batch_size.max(1) * units;
            for _ in 0..samples {
                self.forward(&batch, Mode::Sample);
                let y = self.outputs.last().expect("layers").data();
                for (k, &v) in y.iter().enumerate() {
                    sum[offset + k] += v as f64;
                    sum_sq[offset + k] += (v as f64) * (v as f64);
                }
            }
        }
        let s = samples as f64;
        let mean: Vec<f32> = sum.iter().map(|&v| (v / s) as f32).collect();
        let std: Vec<f32> = sum
            .iter()
            .zip(&sum_sq)
            .map(|(&a, &b)| ((b / s - (a / s).powi(2)).max(0.0)).sqrt() as f32)
            .collect();
        Ok((
            Tensor::from_vec(mean, &[n, units]),
            Tensor::from_vec(std, &[n, units]),
        ))
    }

    /// Loss and metrics on a dataset, in inference mode: `[("loss", ..), (metric, ..), ...]`.
    pub fn evaluate(&mut self, data: &Dataset, batch_size: usize) -> Result<Vec<(String, f64)>> {
        let loss = self
            .loss()
            .ok_or_else(|| Error::Config("compile the model before evaluating it".into()))?;
        if data.is_empty() {
            return Err(Error::Data("no samples to evaluate".into()));
        }
        self.check_input(&data.x)?;
        let targets = data.targets(loss, self.output_units())?;
        self.evaluate_targets(&data.x, &targets, data.weights.as_deref(), batch_size)
    }

    /// Loss and metrics against prepared targets; with `weights`, the loss is weighted
    /// (Keras' evaluate with `sample_weight`), and so are the weighted metrics.
    pub(crate) fn evaluate_targets(
        &mut self,
        x: &Tensor,
        targets: &Targets,
        weights: Option<&[f32]>,
        batch_size: usize,
    ) -> Result<Vec<(String, f64)>> {
        let names = self.metric_names();
        let mut state = vec![0.0; self.metric_state_len()];
        let units = self.output_units();
        let compiled = self
            .compiled
            .take()
            .ok_or_else(|| Error::Config("compile the model first".into()))?;
        let n = x.rows();
        let mut loss_sum = 0.0;
        let mut batch = Tensor::default();
        let mut batch_targets = Targets::default();
        let mut batch_weights = Vec::new();
        let indices: Vec<usize> = (0..n).collect();
        for chunk in indices.chunks(batch_size.max(1)) {
            batch.gather_rows(x, chunk);
            targets.gather(chunk, &mut batch_targets);
            let w = weights.map(|w| {
                batch_weights.clear();
                batch_weights.extend(chunk.iter().map(|&i| w[i]));
                &batch_weights[..]
            });
            self.forward(&batch, Mode::Infer);
            loss_sum += self.loss_of_last_forward(compiled.loss, &batch_targets, w, false)
                * chunk.len() as f64;
            let y = self.outputs.last().expect("layers");
            update_metrics(&compiled, units, y, &batch_targets, w, &mut state);
        }
        let denom = n.max(1) as f64;
        // As Keras, the loss includes the weight penalties.
        let penalty = self.weight_penalty();
        self.compiled = Some(compiled);
        let mut values = vec![0.0; names.len()];
        self.metric_results(&state, &mut values);
        let mut results = vec![("loss".to_string(), loss_sum / denom + penalty)];
        results.extend(names.into_iter().zip(values));
        Ok(results)
    }

    /// A new model made of this model's first `reuse` layers, weights and state copied (not
    /// shared), with `new_layers` on top, built with `seed` (Keras' transfer-learning recipe:
    /// `Sequential(model_A.layers[:-1])` plus a new head). Not compiled.
    pub fn transfer(
        &self,
        reuse: usize,
        new_layers: &[LayerSpec],
        seed: u64,
    ) -> Result<Sequential> {
        if reuse > self.layers.len() {
            return Err(Error::Config(format!(
                "cannot reuse {reuse} layers of a model that has {}",
                self.layers.len()
            )));
        }
        let specs: Vec<LayerSpec> = self.layer_specs()[..reuse]
            .iter()
            .cloned()
            .chain(new_layers.iter().cloned())
            .collect();
        let mut model = Sequential::from_specs(&self.input_shape, &specs, seed)?;
        let weights = self.weights();
        for (layer, values) in model.layers.iter_mut().zip(&weights.0[..reuse]) {
            let n = layer.params().len();
            for (p, v) in layer.params_mut().iter_mut().zip(values) {
                p.value.copy_from(v);
            }
            for (s, v) in layer.state_mut().iter_mut().zip(&values[n..]) {
                s.value.copy_from(v);
            }
        }
        Ok(model)
    }

    /// An independent copy of the architecture and weights (Keras' `clone_model` followed by
    /// `set_weights`). Not compiled.
    pub fn clone_model(&self) -> Result<Sequential> {
        self.transfer(self.layers.len(), &[], self.seed)
    }

    /// Sets layers `range` trainable or frozen.
    pub fn set_trainable(&mut self, range: std::ops::Range<usize>, trainable: bool) {
        for layer in &mut self.layers[range] {
            layer.set_trainable(trainable);
        }
    }

    /// Per layer with a kernel: (layer name, kernel size, how many |w| < `threshold`).
    pub fn sparsity(&self, threshold: f32) -> Vec<(String, usize, usize)> {
        self.layers
            .iter()
            .filter_map(|l| {
                let kernel = l.params().iter().find(|p| p.name == "kernel")?;
                let small = kernel
                    .value
                    .data()
                    .iter()
                    .filter(|w| w.abs() < threshold)
                    .count();
                Some((l.name().to_string(), kernel.value.len(), small))
            })
            .collect()
    }

    /// Sets every kernel weight with |w| < `threshold` to zero (the textbook's recipe for a
    /// sparse model after L1 training); returns how many were zeroed.
    pub fn prune(&mut self, threshold: f32) -> usize {
        let mut zeroed = 0;
        for layer in &mut self.layers {
            for p in layer.params_mut().iter_mut().filter(|p| p.name == "kernel") {
                for w in p.value.data_mut() {
                    if w.abs() < threshold && *w != 0.0 {
                        *w = 0.0;
                        zeroed += 1;
                    }
                }
            }
        }
        zeroed
    }

    /// A copy of every parameter and non-trainable state tensor (Keras' `get_weights`).
    pub fn weights(&self) -> Weights {
        Weights(
            self.layers
                .iter()
                .map(|l| {
                    l.params()
                        .iter()
                        .map(|p| p.value.clone())
                        .chain(l.state().iter().map(|s| s.value.clone()))
                        .collect()
                })
                .collect(),
        )
    }

    /// Puts back weights taken by [`Sequential::weights`] from this model.
    pub fn set_weights(&mut self, weights: &Weights) {
        for (layer, values) in self.layers.iter_mut().zip(&weights.0) {
            let n = layer.params().len();
            for (p, v) in layer.params_mut().iter_mut().zip(values) {
                p.value.copy_from(v);
            }
            for (s, v) in layer.state_mut().iter_mut().zip(&values[n..]) {
                s.value.copy_from(v);
            }
        }
    }

    /// Every layer's spec (with resolved names), for saving or cloning.
    pub fn layer_specs(&self) -> Vec<LayerSpec> {
        self.layers.iter().map(|l| l.spec()).collect()
    }
}

/// The largest parameter tensor a layer may have, 2^28 values (1 GiB of f32): guards against
/// absurd specs before allocating.
pub const MAX_PARAMS_PER_LAYER: usize = 1 << 28;

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
fn update_metrics(
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

/// Layer names in use, and the next free suffix per base: unique names in linear time.
struct Names {
    used: std::collections::HashSet<String>,
    next: std::collections::HashMap<&'static str, usize>,
}

impl Names {
    /// The names `specs` give, refused when one is given twice.
    fn new(specs: &[LayerSpec]) -> Result<Names> {
        let mut used = std::collections::HashSet::new();
        for (i, name) in specs
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some((i, s.name()?)))
        {
            if !used.insert(name.to_string()) {
                return Err(Error::Config(format!(
                    "layer {}: the name `{name}` is already used by an earlier layer; layer names must be unique",
                    i + 1
                )));
            }
        }
        Ok(Names {
            used,
            next: Default::default(),
        })
    }

    /// Keras' next free name for `base`: `dense`, `dense_1`, `dense_2`, ...
    fn fresh(&mut self, base: &'static str) -> String {
        let k = self.next.entry(base).or_insert(0);
        loop {
            let name = if *k == 0 {
                base.to_string()
            } else {
                format!("{base}_{k}")
            };
            *k += 1;
            if self.used.insert(name.clone()) {
                return name;
            }
        }
    }
}
