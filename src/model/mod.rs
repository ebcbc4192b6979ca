//! The model: layers wired as a graph (a chain is the simplest one), built, compiled, then
//! `fit`, `evaluate`, `predict`. [`Sequential`] is Keras' name kept as the entry point:
//! `Sequential::new` starts a chain, `Sequential::graph` a graph, and both build a [`Model`].
//!
//! One concept per file: `build.rs` (builders, names, sizes, initialization), `compile.rs`
//! (loss, metrics, schedule), `executor.rs` (forward and backward over the [`Topology`]),
//! `step.rs` (the train step and penalties), `infer.rs` (predict, evaluate), `weights.rs`
//! (get/set, transfer, pruning), `fit.rs` (the epoch loops).
//!
//! ```
//! use deeptrain::{Activation, DenseSpec, LayerSpec, Loss, Metric, Sequential, Sgd};
//! # fn main() -> deeptrain::Result<()> {
//! let mut model = Sequential::new(&[4])
//!     .add(DenseSpec::new(8).activation(Activation::Relu))
//!     .add(DenseSpec::new(3).activation(Activation::Softmax))
//!     .build(42)?;
//! model.compile(Box::new(Sgd::new(0.1)?), Loss::SparseCategoricalCrossentropy, &[Metric::Accuracy])?;
//! assert_eq!(model.count_params(), (4 * 8 + 8 + 8 * 3 + 3, 0));
//! # Ok(())
//! # }
//! ```

mod build;
mod checkpoint;
mod compile;
mod data_parallel;
mod executor;
mod fit;
mod fold;
pub mod graph;
mod infer;
mod lr_find;
mod metadata;
mod save;
mod step;
pub mod summary;
mod targets;
mod weights;

pub use build::{GraphBuilder, SequentialBuilder};
pub use checkpoint::{RngState, TrainingState, TRAINING_STATE_VERSION};
pub use data_parallel::SharedStep;
pub use fit::FitOptions;
pub use graph::{ModelInput, ModelOutput, Source, Topology};
pub use lr_find::{LrFindOptions, LrFindResult, SUGGESTION_RULE};
pub use metadata::{RunMetadata, RUN_METADATA_VERSION};
pub use save::{ModelFile, MODEL_FORMAT_VERSION};
pub use weights::Weights;

use crate::layers::{Layer, Mode};
use crate::tensor::Tensor;
use crate::{Error, Result, Rng};
use compile::Compiled;

/// Reads each layer's activations and gradients as they are computed (for diagnostics).
pub trait Observer: Send {
    /// Before each epoch of `fit` (from 0).
    fn on_epoch_begin(&mut self, _epoch: usize) {}
    /// After layer `index` computed `output` in a forward pass.
    fn after_forward(&mut self, _index: usize, _layer: &dyn Layer, _output: &Tensor, _mode: Mode) {}
    /// After layer `index` ran backward; `grad_output` is dL/d(its output) and the layer's
    /// parameter gradients are readable through `layer.params()`. Under plain SGD its weights
    /// may already hold this step's update (applied within backward); the weights the step
    /// started from are those [`Observer::after_forward`] sees.
    fn after_backward(&mut self, _index: usize, _layer: &dyn Layer, _grad_output: &Tensor) {}
    /// Whether this training step's backward must leave every parameter gradient readable
    /// (asked after the forward pass). When false, plain SGD updates the weights within
    /// backward without storing them ([`Layer::set_fused_descent`]); either way the update's
    /// bits are the same.
    fn needs_gradients(&self) -> bool {
        true
    }
    /// Before each training step, with its number from 1 over the whole run (the optimizer's
    /// iterations + 1, which checkpoints keep), so that a resumed run counts on.
    fn on_step_begin(&mut self, _step: u64) {}
    /// After the training step updated layer `index`'s weights (and applied its constraints).
    fn after_update(&mut self, _index: usize, _layer: &dyn Layer) {}
    /// What a checkpoint keeps of this observer (diagnostics: its rows), if anything; a resumed
    /// run gives it back to [`Observer::restore_state`] ([`Model::install_observer`]).
    fn save_state(&self) -> Option<serde_json::Value> {
        None
    }
    /// Continues from a state [`Observer::save_state`] wrote; an error names what is malformed.
    fn restore_state(&mut self, _state: &serde_json::Value) -> Result<()> {
        Ok(())
    }
}

/// A model: layers run in the topological order of its graph, trained end to end (Keras'
/// functional `Model`; a chain of layers is Keras' `Sequential`).
pub struct Model {
    input_shape: Vec<usize>,
    layers: Vec<Box<dyn Layer>>,
    output_shapes: Vec<Vec<usize>>,
    compiled: Option<Compiled>,
    /// `outputs[i]`: output of layer i in the last forward pass.
    outputs: Vec<Tensor>,
    /// `grads[i]`: dL/d(output of layer i) in the last backward pass.
    grads: Vec<Tensor>,
    observer: Option<Box<dyn Observer>>,
    /// The observer's state from a loaded checkpoint, for [`Model::install_observer`].
    observer_state: Option<serde_json::Value>,
    /// Per layer, whether the last training step's backward updated its weights itself.
    fused: Vec<bool>,
    /// Set by `fit` while one of its callbacks reads gradients: no fused updates.
    callbacks_need_gradients: bool,
    seed: u64,
    shuffle_rng: Rng,
    /// Augmentation's stream (seed, stream 2).
    augment_rng: Rng,
    /// The sample order of the last epoch (the next shuffles it again).
    shuffle_order: Vec<usize>,
    last_penalty: f64,
    /// The model inputs (one, the whole sample, for a sequential model).
    model_inputs: Vec<ModelInput>,
    /// Which node reads which, in execution order.
    topology: Topology,
    /// Per model input that selects columns, its values in the last forward pass.
    input_values: Vec<Tensor>,
    /// Per model input, dL/d(input) summed over its readers (gradient checks only).
    input_grads: Vec<Tensor>,
    /// Per node and input slot, where its backward writes a gradient that must be summed into
    /// another (fan-out, or a model input read several times).
    scratch: Vec<Vec<Tensor>>,
    /// Per node, whether the current backward pass runs it.
    flows: Vec<bool>,
    /// Per node, whether its output gradient has been written in the current backward pass.
    written: Vec<bool>,
    /// Per node, whether its output carries a time-step mask ([`crate::layers::Layer::mask_flow`]).
    masked: Vec<bool>,
    /// Per model output, its data loss in the last training step.
    output_losses: Vec<f64>,
}

impl Model {
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
        self.output_shapes[self.main_output()].iter().product()
    }

    /// The node of the main (first) model output.
    fn main_output(&self) -> usize {
        self.topology.outputs[0]
    }

    /// The model inputs.
    pub fn model_inputs(&self) -> &[ModelInput] {
        &self.model_inputs
    }

    /// Which layer reads which, in execution order (the order of [`Model::layers`]).
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// Per layer, the names of the layers or model inputs it reads.
    pub fn layer_inputs(&self) -> Vec<Vec<String>> {
        self.topology.input_names(&self.model_inputs)
    }

    /// Whether the model is a plain chain of layers (Keras' Sequential).
    pub fn is_sequential(&self) -> bool {
        self.topology.is_chain(&self.model_inputs)
    }

    /// Per model output, its data loss in the last training step (without loss weights).
    pub fn output_losses(&self) -> &[f64] {
        &self.output_losses
    }

    /// The seed the weights were initialized from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The installed observer, mutable.
    pub fn observer_mut(&mut self) -> Option<&mut (dyn Observer + 'static)> {
        self.observer.as_deref_mut()
    }

    /// Installs (or removes) an observer of activations and gradients, starting afresh. After
    /// [`Model::load_checkpoint`], [`Model::install_observer`] continues the
    /// checkpoint's observer state instead.
    pub fn set_observer(&mut self, observer: Option<Box<dyn Observer>>) {
        self.observer = observer;
    }

    /// Installs an observer that continues the state the loaded checkpoint kept for the run's
    /// observer ([`Observer::save_state`]: diagnostics' rows of the epochs done), so that a
    /// resumed run records what an uninterrupted one would; without such a state, as
    /// [`Model::set_observer`].
    pub fn install_observer(&mut self, mut observer: Box<dyn Observer>) -> Result<()> {
        if let Some(state) = &self.observer_state {
            observer.restore_state(state)?;
        }
        self.observer = Some(observer);
        Ok(())
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
            None => self.check_input_values(x),
        }
    }

    /// Asks each layer that reads the whole model input whether `x`'s values suit it (an
    /// embedding's token ids).
    fn check_input_values(&self, x: &Tensor) -> Result<()> {
        for (layer, sources) in self.layers.iter().zip(&self.topology.sources) {
            for source in sources {
                if let graph::Source::Input(k) = *source {
                    if self.model_inputs[k].columns.is_none() {
                        layer.check_input(x)?;
                    }
                }
            }
        }
        Ok(())
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
}

/// Keras' name for a model, kept as the builders' entry point:
/// `Sequential::new(&[784]).add(..).build(seed)` and `Sequential::graph(..)` give a [`Model`].
pub type Sequential = Model;

pub use crate::limits::MAX_PARAMS_PER_LAYER;
