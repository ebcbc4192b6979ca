//! Configuration checks before training: setups the chapter says are known to fail, each with
//! the rule it applies.

use crate::activations::Activation;
use crate::data::Scale;
use crate::init::Initializer;
use crate::layers::LayerSpec;
use crate::optimizers::OptimizerSpec;

/// A warning: the rule broken and what was found.
#[derive(Clone, Debug, PartialEq)]
pub struct Warning {
    /// Short id (`selu_init`, `selu_dropout`, ...).
    pub id: &'static str,
    /// What was found, naming the layers.
    pub message: String,
    /// The rule and its source.
    pub rule: &'static str,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (rule: {})", self.message, self.rule)
    }
}

/// A layer with a kernel of its own (Dense, Conv2D): its activation and kernel initializer.
fn weighted(spec: &LayerSpec) -> Option<(Activation, Initializer)> {
    match spec {
        LayerSpec::Dense(d) => Some((d.activation, d.kernel_initializer)),
        LayerSpec::Conv2d(c) => Some((c.activation, c.kernel_initializer)),
        _ => None,
    }
}

/// The activation each Dense or Conv2D layer feeds: its own, or for a linear one the next
/// activation layer's before the next such layer.
fn dense_activations(layers: &[LayerSpec]) -> Vec<(usize, Activation)> {
    layers
        .iter()
        .enumerate()
        .filter_map(|(i, l)| match weighted(l)? {
            (activation, _) if activation != Activation::Linear => Some((i, activation)),
            _ => {
                let next = layers[i + 1..]
                    .iter()
                    .take_while(|s| weighted(s).is_none())
                    .find_map(|s| s.applied_activation())
                    .unwrap_or(Activation::Linear);
                Some((i, next))
            }
        })
        .collect()
}

fn name(layers: &[LayerSpec], i: usize) -> String {
    layers[i]
        .name()
        .map_or_else(|| format!("layer {}", i + 1), String::from)
}

/// Checks a model's layers (as built: `auto` initializers resolved), its input scaling and its
/// optimizer.
pub fn check(layers: &[LayerSpec], scale: Scale, optimizer: &OptimizerSpec) -> Vec<Warning> {
    let mut out = Vec::new();
    let acts = dense_activations(layers);
    let hidden: Vec<(usize, Activation)> = acts[..acts.len().saturating_sub(1)].to_vec();
    let selu: Vec<usize> = hidden
        .iter()
        .filter(|(_, a)| *a == Activation::Selu)
        .map(|&(i, _)| i)
        .collect();
    let init_of = |i: usize| weighted(&layers[i]).map_or(Initializer::Auto, |(_, init)| init);
    if !selu.is_empty() {
        let wrong: Vec<String> = selu
            .iter()
            .filter(|&&i| init_of(i) != Initializer::LECUN_NORMAL)
            .map(|&i| format!("{} ({})", name(layers, i), init_of(i)))
            .collect();
        if !wrong.is_empty() {
            out.push(Warning {
                id: "selu_init",
                message: format!("SELU without LeCun normal initialization: {}", wrong.join(", ")),
                rule: "SELU self-normalizes only with lecun_normal weights (Klambauer et al. 2017; Géron ch. 11)",
            });
        }
        if layers.iter().any(|l| matches!(l, LayerSpec::Dropout(_))) {
            out.push(Warning {
                id: "selu_dropout",
                message: "SELU network with ordinary dropout".into(),
                rule: "plain dropout breaks self-normalization; use alpha_dropout with SELU (Klambauer et al. 2017)",
            });
        }
        if scale != Scale::Standard {
            out.push(Warning {
                id: "selu_inputs",
                message: format!("SELU network on inputs scaled `{scale:?}`, not standardized"),
                rule: "self-normalization assumes inputs with mean 0 and standard deviation 1: use scale = \"standard\" (Géron ch. 11)",
            });
        }
        let merges: Vec<String> = (0..layers.len())
            .filter(|&i| layers[i].merge_op().is_some())
            .map(|i| name(layers, i))
            .collect();
        if !merges.is_empty() {
            out.push(Warning {
                id: "selu_skip_connections",
                message: format!(
                    "SELU network with skip connections or merged branches: {}",
                    merges.join(", ")
                ),
                rule: "self-normalization is only guaranteed for plain sequential dense stacks: a sum or concatenation of branches no longer keeps mean 0 and variance 1 (Klambauer et al. 2017; Géron ch. 11: \"the network's architecture must be sequential\")",
            });
        }
        if layers
            .iter()
            .any(|l| matches!(l, LayerSpec::BatchNormalization(_)))
        {
            out.push(Warning {
                id: "selu_batch_norm",
                message: "SELU network with batch normalization".into(),
                rule: "self-normalization is only guaranteed for plain sequential dense stacks (no batch norm, no skip connections)",
            });
        }
    }
    let saturating: Vec<usize> = hidden
        .iter()
        .filter(|(_, a)| matches!(a, Activation::Sigmoid | Activation::Tanh))
        .map(|&(i, _)| i)
        .collect();
    if saturating.len() >= 5 {
        let large: Vec<usize> = saturating
            .iter()
            .copied()
            .filter(|&i| {
                let (fan_in, units) = kernel_shape(layers, i);
                let glorot = 2.0 / (fan_in + units).max(1) as f64;
                init_of(i).variance(&[fan_in, units]) > 4.0 * glorot
            })
            .collect();
        if !large.is_empty() {
            out.push(Warning {
                id: "saturating_large_init",
                message: format!(
                    "a deep sigmoid/tanh stack ({} layers) with large-variance initialization in {} of them",
                    saturating.len(),
                    large.len()
                ),
                rule: "large weights saturate sigmoid/tanh units and gradients vanish; use glorot initialization (Glorot & Bengio 2010)",
            });
        }
    }
    let relu_glorot: Vec<usize> = hidden
        .iter()
        .filter(|(i, a)| a.is_relu_family() && is_glorot(init_of(*i)))
        .map(|&(i, _)| i)
        .collect();
    if hidden.len() >= 10 && relu_glorot.len() * 2 >= hidden.len() {
        out.push(Warning {
            id: "relu_glorot",
            message: format!(
                "{} of {} hidden layers use a ReLU-family activation with Glorot initialization",
                relu_glorot.len(),
                hidden.len()
            ),
            rule: "ReLU-family activations keep the signal's variance with He initialization (He et al. 2015; Géron table 11-1)",
        });
    }
    let lr = optimizer.learning_rate() as f64;
    let (low, high) = match optimizer {
        OptimizerSpec::Sgd(_) | OptimizerSpec::Adagrad(_) => (1e-5, 1.0),
        _ => (1e-6, 0.1),
    };
    if lr < low || lr > high {
        out.push(Warning {
            id: "learning_rate",
            message: format!(
                "learning rate {lr} is far outside the usual range for {} ([{low}, {high}])",
                optimizer.name()
            ),
            rule: "too large diverges, too small barely moves; find the rate with `deeptrain lr-find` (Géron ch. 11)",
        });
    }
    out
}

fn is_glorot(init: Initializer) -> bool {
    matches!(init, Initializer::VarianceScaling { scale, mode: crate::init::FanMode::FanAvg, .. } if scale == 1.0)
}

/// (inputs, units) of Dense or Conv2D layer `i` (a conv's units are its filters), the inputs
/// from the previous such layer's units (or its own for the first, which only matters for the
/// variance comparison).
fn kernel_shape(layers: &[LayerSpec], i: usize) -> (usize, usize) {
    let units_of = |l: &LayerSpec| match l {
        LayerSpec::Dense(d) => Some(d.units),
        LayerSpec::Conv2d(c) => Some(c.filters),
        _ => None,
    };
    let units = units_of(&layers[i]).unwrap_or(0);
    let fan_in = layers[..i].iter().rev().find_map(units_of).unwrap_or(units);
    (fan_in, units)
}
