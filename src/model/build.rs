//! Building a model: the chain builder ([`SequentialBuilder`]), the graph builder
//! ([`GraphBuilder`]), and `from_graph`, which names, checks, sizes and initializes every
//! layer; and back, the specs a built model is saved or cloned from.

use rand::SeedableRng;

use super::graph::{self, ModelInput, ModelOutput, Source, Topology};
use super::{Model, MAX_PARAMS_PER_LAYER};
use crate::activations::Activation;
use crate::layers::{Layer, LayerSpec};
use crate::tensor::Tensor;
use crate::{Error, Result, Rng};

/// The activation that follows node `i` in the graph, for `auto` initialization: following its
/// only reader through layers without an activation of their own (batch norm, dropout,
/// flatten), up to the next Dense or merge layer, a fan-out or an output. Through a chain, the
/// first activation layer after a linear Dense layer.
fn following_activation(topology: &Topology, readers: &[usize], i: usize) -> Option<Activation> {
    let mut node = i;
    loop {
        if topology.consumers[node] != 1 || topology.is_output(node) {
            return None;
        }
        let reader = readers[node];
        let spec = &topology.specs[reader];
        if spec.ends_auto_search() {
            return None;
        }
        if let Some(activation) = spec.applied_activation() {
            return Some(activation);
        }
        node = reader;
    }
}

/// Per node, the last node reading it (the only one where `auto` looks).
fn last_readers(topology: &Topology) -> Vec<usize> {
    let mut readers = vec![0; topology.specs.len()];
    for (r, sources) in topology.sources.iter().enumerate() {
        for s in sources {
            if let Source::Node(j) = *s {
                readers[j] = r;
            }
        }
    }
    readers
}

/// A chain of layers being assembled (Keras' `Sequential`) into a [`Model`].
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
    pub fn build(self, seed: u64) -> Result<Model> {
        Model::from_specs(&self.input_shape, &self.layers, seed)
    }
}

/// A graph model being assembled (Keras' functional API): inputs, layers that name what they
/// read, outputs.
///
/// ```
/// use deeptrain::{Activation, DenseSpec, LayerSpec, Sequential};
/// // A residual block: y = relu(x + Dense(relu(Dense(x)))).
/// let model = Sequential::graph(&[16])
///     .layer(DenseSpec::new(16).activation(Activation::Relu).named("d1").reads(&["input"]))
///     .layer(DenseSpec::new(16).named("d2"))
///     .layer(LayerSpec::add(&["input", "d2"]).named("skip"))
///     .layer(LayerSpec::activation(Activation::Relu))
///     .build(42)
///     .unwrap();
/// assert!(!model.is_sequential());
/// ```
#[derive(Clone, Debug)]
pub struct GraphBuilder {
    input_shape: Vec<usize>,
    inputs: Vec<ModelInput>,
    layers: Vec<LayerSpec>,
    outputs: Vec<ModelOutput>,
}

impl GraphBuilder {
    /// Adds a model input that takes the whole sample (without any, the model has one,
    /// `input`).
    pub fn input(mut self, name: &str) -> Self {
        self.inputs.push(ModelInput::whole(name));
        self
    }

    /// Adds a model input that takes features `columns` of each sample.
    pub fn input_columns(mut self, name: &str, columns: Vec<usize>) -> Self {
        self.inputs.push(ModelInput::columns(name, columns));
        self
    }

    /// Adds a layer (reading the one before it unless its spec names its `inputs`).
    pub fn layer(mut self, layer: impl Into<LayerSpec>) -> Self {
        self.layers.push(layer.into());
        self
    }

    /// Marks layer `name` as a model output whose loss counts `loss_weight` times (Keras'
    /// `loss_weights`); without any, the last layer is the output.
    pub fn output(mut self, name: &str, loss_weight: f32) -> Self {
        self.outputs.push(ModelOutput {
            layer: name.to_string(),
            loss_weight,
        });
        self
    }

    /// Checks the graph, creates and initializes every layer, seeded.
    pub fn build(self, seed: u64) -> Result<Model> {
        let inputs = if self.inputs.is_empty() {
            vec![ModelInput::whole(graph::DEFAULT_INPUT)]
        } else {
            self.inputs
        };
        Model::from_graph(
            &self.input_shape,
            &inputs,
            &self.layers,
            &self.outputs,
            seed,
        )
    }
}

impl Model {
    /// Starts a model whose samples have `input_shape` (without the batch axis).
    #[allow(clippy::new_ret_no_self)]
    pub fn new(input_shape: &[usize]) -> SequentialBuilder {
        SequentialBuilder {
            input_shape: input_shape.to_vec(),
            layers: Vec::new(),
        }
    }

    /// Starts a graph model (Keras' functional API) whose samples have `input_shape`.
    pub fn graph(input_shape: &[usize]) -> GraphBuilder {
        GraphBuilder {
            input_shape: input_shape.to_vec(),
            inputs: Vec::new(),
            layers: Vec::new(),
            outputs: Vec::new(),
        }
    }

    /// Builds a model from layer specs, initializing weights from `seed`. Layers without a name
    /// get Keras-style ones (`dense`, `dense_1`, ...). A spec without `inputs` reads the layer
    /// before it; one with `inputs` names the layers it reads (see [`Model::from_graph`]).
    pub fn from_specs(input_shape: &[usize], specs: &[LayerSpec], seed: u64) -> Result<Self> {
        Self::from_graph(
            input_shape,
            &[ModelInput::whole(graph::DEFAULT_INPUT)],
            specs,
            &[],
            seed,
        )
    }

    /// Builds a graph model (Keras' functional API): samples of `input_shape` feed the model
    /// `inputs` (the whole sample or a selection of its features each); each layer reads the
    /// layers or inputs its spec names in `inputs` (default: the previous layer); `outputs`
    /// name the output layers and their loss weights (default: the last layer, weight 1).
    ///
    /// ```
    /// use deeptrain::{Activation, DenseSpec, LayerSpec, Sequential};
    /// use deeptrain::model::ModelInput;
    /// // Wide & Deep: features 0..2 go straight to the output, all four through a hidden layer.
    /// let layers = [
    ///     DenseSpec::new(8).activation(Activation::Relu).named("hidden").reads(&["deep"]).into(),
    ///     LayerSpec::concatenate(&["wide", "hidden"]).named("concat"),
    ///     DenseSpec::new(1).named("output").into(),
    /// ];
    /// let inputs = [ModelInput::columns("wide", vec![0, 1]), ModelInput::whole("deep")];
    /// let model = Sequential::from_graph(&[4], &inputs, &layers, &[], 42).unwrap();
    /// assert_eq!(model.count_params().0, 4 * 8 + 8 + (2 + 8) + 1);
    /// ```
    pub fn from_graph(
        input_shape: &[usize],
        inputs: &[ModelInput],
        specs: &[LayerSpec],
        outputs: &[ModelOutput],
        seed: u64,
    ) -> Result<Self> {
        if specs.is_empty() {
            return Err(Error::Config("a model needs at least one layer".into()));
        }
        if inputs.is_empty() || inputs.len() > graph::MAX_LAYER_INPUTS {
            return Err(Error::Config(format!(
                "a model needs 1 to {} inputs, not {}",
                graph::MAX_LAYER_INPUTS,
                inputs.len()
            )));
        }
        if specs.len() > crate::limits::MAX_REPEAT as usize {
            return Err(Error::Config(format!(
                "{} layers, more than the limit of {}",
                specs.len(),
                crate::limits::MAX_REPEAT
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
        let features: usize = input_shape.iter().product();
        let mut input_shapes = Vec::with_capacity(inputs.len());
        for input in inputs {
            input_shapes.push(match &input.columns {
                None => input_shape.to_vec(),
                Some(cols) if cols.is_empty() => {
                    return Err(Error::Config(format!(
                        "model input `{}` selects no columns",
                        input.name
                    )))
                }
                Some(cols) => {
                    if let Some(&c) = cols.iter().find(|&&c| c >= features) {
                        return Err(Error::Config(format!(
                            "model input `{}` selects feature {c}, but samples have {features}",
                            input.name
                        )));
                    }
                    vec![cols.len()]
                }
            });
        }
        let mut names = Names::new(specs)?;
        let mut named = Vec::with_capacity(specs.len());
        for (index, spec) in specs.iter().enumerate() {
            spec.validate()
                .map_err(|e| Error::Config(format!("layer {}: {}", index + 1, e.detail())))?;
            let mut spec = spec.clone();
            if spec.name().is_none() {
                let name = names.fresh(spec.auto_name_base());
                spec.set_name(Some(name));
            }
            named.push(spec);
        }
        let topology = graph::resolve(&named, inputs, outputs)?;
        let mut rng = Rng::seed_from_u64(seed);
        let n = topology.specs.len();
        let mut layers: Vec<Box<dyn Layer>> = Vec::with_capacity(n);
        let mut output_shapes: Vec<Vec<usize>> = Vec::with_capacity(n);
        let mut masked: Vec<bool> = Vec::with_capacity(n);
        let mut total_params = 0u64;
        let readers = last_readers(&topology);
        for i in 0..n {
            let mut spec = topology.specs[i].clone();
            let name = spec.name().unwrap_or_default().to_string();
            spec.resolve_auto_initializer(following_activation(&topology, &readers, i))
                .map_err(|e| Error::Config(format!("layer `{name}`: {}", e.detail())))?;
            let shapes: Vec<&[usize]> = topology.sources[i]
                .iter()
                .map(|s| match *s {
                    Source::Input(k) => input_shapes[k].as_slice(),
                    Source::Node(j) => output_shapes[j].as_slice(),
                })
                .collect();
            let mut layer = spec.instantiate()?;
            layer.set_name(name.clone());
            for shape in &shapes {
                let largest = spec.largest_param_tensor(shape);
                if largest > MAX_PARAMS_PER_LAYER as u64 {
                    return Err(Error::Config(format!(
                        "layer `{name}` would need {largest} weights in one tensor on inputs of shape {shape:?}, more than the limit of {MAX_PARAMS_PER_LAYER}"
                    )));
                }
                total_params = total_params.saturating_add(spec.param_count(shape));
            }
            if total_params > crate::limits::MAX_MODEL_PARAMS {
                return Err(Error::Config(format!(
                    "the model would have over {total_params} parameters by layer `{name}` ({} as f32, before gradients and optimizer state), more than the limit of {} ({})",
                    crate::limits::human_bytes(total_params.saturating_mul(4)),
                    crate::limits::MAX_MODEL_PARAMS,
                    crate::limits::human_bytes(crate::limits::MAX_MODEL_PARAMS * 4)
                )));
            }
            let shape = layer.build_many(&shapes, &mut rng).map_err(|e| match e {
                Error::Shape(m) if !m.contains(&format!("`{name}`")) => {
                    Error::Shape(format!("layer `{name}`: {m}"))
                }
                other => other,
            })?;
            // Keras' time-step mask: which outputs carry one (the layer refuses one it cannot use).
            let input_masked = topology.sources[i]
                .iter()
                .any(|s| matches!(*s, Source::Node(j) if masked[j]));
            let output_masked = layer.mask_flow(input_masked)?;
            if output_masked && topology.is_output(i) {
                return Err(Error::Config(format!(
                    "layer `{name}` is a model output and carries the time-step mask of `mask_zero`; a masked loss is not supported: end the sequence with a recurrent layer without return_sequences"
                )));
            }
            masked.push(output_masked);
            output_shapes.push(shape);
            layers.push(layer);
        }
        let mut shuffle_rng = Rng::seed_from_u64(seed);
        shuffle_rng.set_stream(1);
        let mut augment_rng = Rng::seed_from_u64(seed);
        augment_rng.set_stream(2);
        let scratch = topology
            .sources
            .iter()
            .map(|s| vec![Tensor::default(); s.len()])
            .collect();
        Ok(Model {
            input_shape: input_shape.to_vec(),
            layers,
            output_shapes,
            compiled: None,
            outputs: vec![Tensor::default(); n],
            grads: vec![Tensor::default(); n],
            observer: None,
            observer_state: None,
            fused: Vec::new(),
            callbacks_need_gradients: false,
            seed,
            shuffle_rng,
            augment_rng,
            shuffle_order: Vec::new(),
            last_penalty: 0.0,
            input_values: vec![Tensor::default(); inputs.len()],
            input_grads: vec![Tensor::default(); inputs.len()],
            model_inputs: inputs.to_vec(),
            output_losses: vec![0.0; topology.outputs.len()],
            scratch,
            flows: vec![false; n],
            written: vec![false; n],
            masked,
            topology,
        })
    }

    /// Every layer's spec (with resolved names), for saving or cloning.
    pub fn layer_specs(&self) -> Vec<LayerSpec> {
        let chain = self.is_sequential();
        let names = self.layer_inputs();
        self.layers
            .iter()
            .zip(names)
            .map(|(l, inputs)| {
                let mut spec = l.spec();
                spec.set_inputs(if chain { None } else { Some(inputs) });
                spec
            })
            .collect()
    }

    /// The model outputs with their loss weights, main first,
    /// when the model has several or its output is not its last layer; empty otherwise.
    pub fn output_specs(&self) -> Vec<ModelOutput> {
        let n = self.layers.len();
        if self.topology.outputs == [n - 1] && self.topology.loss_weights == [1.0] {
            return Vec::new();
        }
        self.topology
            .outputs
            .iter()
            .zip(&self.topology.loss_weights)
            .map(|(&o, &w)| ModelOutput {
                layer: self.layers[o].name().to_string(),
                loss_weight: w,
            })
            .collect()
    }

    /// The activation that follows layer `i` in the graph, the one `auto` initialization pairs
    /// with a linear kernel layer: through its only reader and layers without an activation of
    /// their own, up to the next layer with weights, a merge, a fan-out or an output.
    pub fn activation_after(&self, i: usize) -> Option<Activation> {
        following_activation(&self.topology, &last_readers(&self.topology), i)
    }
}

/// Layer names in use, and the next free suffix per base: unique names in linear time.
struct Names {
    used: std::collections::HashSet<String>,
    next: std::collections::HashMap<String, usize>,
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
    fn fresh(&mut self, base: &str) -> String {
        let k = self.next.entry(base.to_string()).or_insert(0);
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
