//! The model's graph: which layer reads which (Keras' functional API), resolved from layer
//! specs that name their `inputs`, checked, and put in topological order.
//!
//! A chain is the graph whose every layer reads the one before it (the model input for the
//! first): a spec entry without `inputs` means exactly that, so every sequential spec is a graph.
//! The executor (`forward`/`backward` in the model) runs the nodes in topological order and
//! backward in reverse, summing the gradients of a node read by several (fan-out).

use serde::{Deserialize, Serialize};

use crate::layers::LayerSpec;
use crate::{Error, Result};

/// The most inputs one layer may read (merge layers).
pub use crate::limits::MAX_LAYER_INPUTS;

/// The model input's name when there is one input and the spec does not name it.
pub const DEFAULT_INPUT: &str = "input";

/// Where a node reads one of its inputs from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Model input k.
    Input(usize),
    /// The output of node k.
    Node(usize),
}

/// A model input: its name and, optionally, the features of each sample it selects (a wide
/// and a deep part of one table, say). Without `columns` it is the whole sample.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelInput {
    /// The name layers use in `inputs = [...]`.
    pub name: String,
    /// Indices of the features it takes from each (flattened) sample, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<usize>>,
}

impl ModelInput {
    /// The whole sample, under `name`.
    pub fn whole(name: &str) -> Self {
        ModelInput {
            name: name.to_string(),
            columns: None,
        }
    }

    /// Features `columns` of each sample, under `name`.
    pub fn columns(name: &str, columns: Vec<usize>) -> Self {
        ModelInput {
            name: name.to_string(),
            columns: Some(columns),
        }
    }
}

/// A model output: the layer whose output it is and the weight of its loss in the total
/// (Keras' `loss_weights`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelOutput {
    /// The layer's name.
    pub layer: String,
    /// Weight of this output's loss in the training loss (default 1).
    #[serde(default = "one")]
    pub loss_weight: f32,
}

fn one() -> f32 {
    1.0
}

/// The graph resolved: layer specs in execution order, each node's sources, the outputs.
#[derive(Clone, Debug)]
pub struct Topology {
    /// Layer specs in execution (topological) order, each with its resolved name.
    pub specs: Vec<LayerSpec>,
    /// Per node, where each of its inputs comes from.
    pub sources: Vec<Vec<Source>>,
    /// Per node, how many node inputs read its output.
    pub consumers: Vec<usize>,
    /// Per model input, how many node inputs read it.
    pub input_consumers: Vec<usize>,
    /// The output nodes, main output first.
    pub outputs: Vec<usize>,
    /// Per output, the weight of its loss.
    pub loss_weights: Vec<f32>,
}

impl Topology {
    /// Whether it is a plain chain: one input (the whole sample), every node reading the one
    /// before, one output (the last node).
    pub fn is_chain(&self, inputs: &[ModelInput]) -> bool {
        inputs.len() == 1
            && inputs[0].columns.is_none()
            && self.outputs == [self.specs.len() - 1]
            && self.sources.iter().enumerate().all(|(i, s)| {
                s.len() == 1
                    && s[0]
                        == if i == 0 {
                            Source::Input(0)
                        } else {
                            Source::Node(i - 1)
                        }
            })
    }

    /// Whether node `i` is a model output.
    pub fn is_output(&self, i: usize) -> bool {
        self.outputs.contains(&i)
    }

    /// The names each node reads, as a spec writes them.
    pub fn input_names(&self, inputs: &[ModelInput]) -> Vec<Vec<String>> {
        self.sources
            .iter()
            .map(|sources| {
                sources
                    .iter()
                    .map(|s| match *s {
                        Source::Input(k) => inputs[k].name.clone(),
                        Source::Node(j) => self.specs[j].name().unwrap_or_default().to_string(),
                    })
                    .collect()
            })
            .collect()
    }
}

/// Resolves named layer specs (every one named) into a topology: sources by name, a spec
/// without `inputs` reading the previous spec (the model input for the first), then a
/// topological order (stable: a chain keeps its order). Refuses, naming the layers, unknown
/// names, cycles, unused layers and inputs, and clashing names.
pub fn resolve(
    specs: &[LayerSpec],
    inputs: &[ModelInput],
    outputs: &[ModelOutput],
) -> Result<Topology> {
    let n = specs.len();
    let name_of = |i: usize| specs[i].name().unwrap_or_default().to_string();
    let mut index = std::collections::HashMap::new();
    for (k, input) in inputs.iter().enumerate() {
        if index.insert(input.name.clone(), Source::Input(k)).is_some() {
            return Err(Error::Config(format!(
                "two model inputs are named `{}`",
                input.name
            )));
        }
    }
    for i in 0..n {
        if index.insert(name_of(i), Source::Node(i)).is_some() {
            return Err(Error::Config(format!(
                "layer `{}` has the name of a model input or of another layer: names must be unique",
                name_of(i)
            )));
        }
    }
    // Sources in spec order.
    let mut sources = Vec::with_capacity(n);
    for (i, spec) in specs.iter().enumerate() {
        let list = match spec.inputs() {
            Some([]) => {
                return Err(Error::Config(format!(
                    "layer `{}` has `inputs = []`: name at least one layer or model input",
                    name_of(i)
                )))
            }
            Some(names) => names
                .iter()
                .map(|name| {
                    index.get(name).copied().ok_or_else(|| {
                        Error::Config(format!(
                            "layer `{}` reads `{name}`, which is neither a layer nor a model input (model inputs: {})",
                            name_of(i),
                            inputs.iter().map(|x| x.name.as_str()).collect::<Vec<_>>().join(", ")
                        ))
                    })
                })
                .collect::<Result<Vec<_>>>()?,
            None if i == 0 && inputs.len() == 1 => vec![Source::Input(0)],
            None if i == 0 => {
                return Err(Error::Config(format!(
                    "layer `{}` must name its `inputs`: the model has several ({})",
                    name_of(i),
                    inputs.iter().map(|x| x.name.as_str()).collect::<Vec<_>>().join(", ")
                )))
            }
            None => vec![Source::Node(i - 1)],
        };
        if list.len() > MAX_LAYER_INPUTS {
            return Err(Error::Config(format!(
                "layer `{}` reads {} inputs, more than the limit of {MAX_LAYER_INPUTS}",
                name_of(i),
                list.len()
            )));
        }
        if list.contains(&Source::Node(i)) {
            return Err(Error::Config(format!(
                "layer `{}` reads its own output (a cycle)",
                name_of(i)
            )));
        }
        sources.push(list);
    }
    // Outputs (default: the last layer).
    let output_nodes: Vec<usize> = if outputs.is_empty() {
        vec![n - 1]
    } else {
        outputs
            .iter()
            .map(|o| match index.get(&o.layer) {
                Some(Source::Node(j)) => Ok(*j),
                Some(Source::Input(_)) => Err(Error::Config(format!(
                    "model output `{}` is a model input, not a layer",
                    o.layer
                ))),
                None => Err(Error::Config(format!(
                    "model output `{}` is not the name of a layer",
                    o.layer
                ))),
            })
            .collect::<Result<_>>()?
    };
    for (a, &o) in output_nodes.iter().enumerate() {
        if output_nodes[..a].contains(&o) {
            return Err(Error::Config(format!(
                "layer `{}` is listed twice as a model output",
                name_of(o)
            )));
        }
    }
    // Kahn's algorithm, always taking the earliest ready node in spec order.
    let mut pending: Vec<usize> = sources
        .iter()
        .map(|s| s.iter().filter(|s| matches!(s, Source::Node(_))).count())
        .collect();
    let mut readers: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, list) in sources.iter().enumerate() {
        for s in list {
            if let Source::Node(j) = *s {
                readers[j].push(i);
            }
        }
    }
    let mut ready: std::collections::BTreeSet<usize> =
        (0..n).filter(|&i| pending[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for &r in &readers[i] {
            pending[r] -= 1;
            if pending[r] == 0 {
                ready.insert(r);
            }
        }
    }
    if order.len() < n {
        let stuck: Vec<String> = (0..n)
            .filter(|&i| pending[i] > 0)
            .map(|i| format!("`{}`", name_of(i)))
            .collect();
        return Err(Error::Config(format!(
            "the layers {} read each other in a cycle",
            stuck.join(", ")
        )));
    }
    // Renumber into execution order.
    let mut position = vec![0; n];
    for (p, &i) in order.iter().enumerate() {
        position[i] = p;
    }
    let remap = |s: Source| match s {
        Source::Node(j) => Source::Node(position[j]),
        input => input,
    };
    let specs_sorted: Vec<LayerSpec> = order.iter().map(|&i| specs[i].clone()).collect();
    let sources_sorted: Vec<Vec<Source>> = order
        .iter()
        .map(|&i| sources[i].iter().map(|&s| remap(s)).collect())
        .collect();
    let outputs_sorted: Vec<usize> = output_nodes.iter().map(|&o| position[o]).collect();
    let mut consumers = vec![0; n];
    let mut input_consumers = vec![0; inputs.len()];
    for list in &sources_sorted {
        for s in list {
            match *s {
                Source::Node(j) => consumers[j] += 1,
                Source::Input(k) => input_consumers[k] += 1,
            }
        }
    }
    for i in 0..n {
        if consumers[i] == 0 && !outputs_sorted.contains(&i) {
            return Err(Error::Config(format!(
                "layer `{}` is not used: no layer reads it and it is not a model output",
                specs_sorted[i].name().unwrap_or_default()
            )));
        }
    }
    if let Some(k) = input_consumers.iter().position(|&c| c == 0) {
        return Err(Error::Config(format!(
            "model input `{}` is not used: no layer reads it",
            inputs[k].name
        )));
    }
    let loss_weights = if outputs.is_empty() {
        vec![1.0]
    } else {
        outputs.iter().map(|o| o.loss_weight).collect()
    };
    if let Some(w) = loss_weights.iter().find(|w| !(w.is_finite() && **w >= 0.0)) {
        return Err(Error::Config(format!(
            "a loss weight must be a number ≥ 0, got {w}"
        )));
    }
    Ok(Topology {
        specs: specs_sorted,
        sources: sources_sorted,
        consumers,
        input_consumers,
        outputs: outputs_sorted,
        loss_weights,
    })
}
