//! Configuration checks before training: setups the chapter says are known to fail, each with
//! the rule it applies.

use crate::activations::Activation;
use crate::data::Scale;
use crate::init::Initializer;
use crate::layers::{LayerSpec, SelfNormalization};
use crate::optimizers::OptimizerSpec;
use crate::Sequential;

mod setup;
pub use setup::{check_setup, INPUT_RMS_LIMIT, TARGET_RMS_LIMIT};

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

/// A layer with a kernel, as the checks see it: its index, the activation its output feeds
/// (its own, or for a linear layer the next activation before the next layer with a kernel),
/// its kernel initializer when the spec names one, and the kernel's (fan_in, fan_out).
struct Weighted {
    index: usize,
    activation: Activation,
    init: Option<Initializer>,
    fans: (usize, usize),
}

/// Every layer with a kernel ([`crate::Layer::kernel_param`]), in order.
fn weighted_layers(model: &Sequential, specs: &[LayerSpec]) -> Vec<Weighted> {
    (0..specs.len())
        .filter_map(|i| {
            let kernel = model.layers()[i].kernel_param()?;
            // Its own, else the one after it in the graph (the rule `auto` follows).
            let activation = match specs[i].applied_activation() {
                Some(own) if own != Activation::Linear => own,
                _ => model.activation_after(i).unwrap_or(Activation::Linear),
            };
            Some(Weighted {
                index: i,
                activation,
                init: specs[i].kernel_initializer(),
                fans: Initializer::fans(kernel.value.shape()),
            })
        })
        .collect()
}

fn name(layers: &[LayerSpec], i: usize) -> String {
    layers[i]
        .name()
        .map_or_else(|| format!("layer {}", i + 1), String::from)
}

/// Checks a built model (`auto` initializers resolved), its input scaling and its optimizer.
/// Layers are asked through the [`crate::Layer`] trait whether they hold a kernel, so the
/// checks cover every layer type with one; the rules on initializers apply where the spec
/// names the initializer.
pub fn check(model: &Sequential, scale: Scale, optimizer: &OptimizerSpec) -> Vec<Warning> {
    let specs = model.layer_specs();
    let layers = specs.as_slice();
    let mut out = Vec::new();
    let weighted = weighted_layers(model, layers);
    let hidden = &weighted[..weighted.len().saturating_sub(1)];
    let selu: Vec<&Weighted> = hidden
        .iter()
        .filter(|w| w.activation == Activation::Selu)
        .collect();
    if !selu.is_empty() {
        let wrong: Vec<String> = selu
            .iter()
            .filter_map(|w| match w.init {
                Some(init) if init != Initializer::LECUN_NORMAL => {
                    Some(format!("{} ({init})", name(layers, w.index)))
                }
                _ => None,
            })
            .collect();
        if !wrong.is_empty() {
            out.push(Warning {
                id: "selu_init",
                message: format!("SELU without LeCun normal initialization: {}", wrong.join(", ")),
                rule: "SELU self-normalizes only with lecun_normal weights (Klambauer et al. 2017; Géron ch. 11)",
            });
        }
        let breaks = |how: SelfNormalization| {
            (0..layers.len()).filter(move |&i| layers[i].self_normalization() == how)
        };
        if breaks(SelfNormalization::Drops).next().is_some() {
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
        let merges: Vec<String> = breaks(SelfNormalization::MergesBranches)
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
        let recurrent: Vec<String> = breaks(SelfNormalization::Recurrent)
            .map(|i| name(layers, i))
            .collect();
        if !recurrent.is_empty() {
            out.push(Warning {
                id: "selu_recurrent",
                message: format!("SELU network with recurrent layers: {}", recurrent.join(", ")),
                rule: "SELU self-normalizes only in plain feed-forward dense stacks, not through the time steps of a recurrent layer (Klambauer et al. 2017; Géron ch. 11); use tanh in recurrent layers, and layer normalization or gradient clipping against unstable gradients",
            });
        }
        if breaks(SelfNormalization::BatchStatistics).next().is_some() {
            out.push(Warning {
                id: "selu_batch_norm",
                message: "SELU network with batch normalization".into(),
                rule: "self-normalization is only guaranteed for plain sequential dense stacks (no batch norm, no skip connections)",
            });
        }
    }
    let saturating: Vec<&Weighted> = hidden
        .iter()
        .filter(|w| matches!(w.activation, Activation::Sigmoid | Activation::Tanh))
        .collect();
    if saturating.len() >= 5 {
        let large: Vec<&&Weighted> = saturating
            .iter()
            .filter(|w| {
                let (fan_in, fan_out) = w.fans;
                let glorot = 2.0 / (fan_in + fan_out).max(1) as f64;
                w.init
                    .is_some_and(|init| init.variance(&[fan_in, fan_out]) > 4.0 * glorot)
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
    let relu_glorot: Vec<&Weighted> = hidden
        .iter()
        .filter(|w| w.activation.is_relu_family() && w.init.is_some_and(is_glorot))
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
            id: if lr > high {
                "learning_rate_too_high"
            } else {
                "learning_rate_too_low"
            },
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The ids `check` gives a standardized SELU stack with `extra` between its two hidden
    /// layers.
    fn selu_warnings(extra: &str) -> Vec<&'static str> {
        let text = format!(
            "[data]\ndataset = \"digits\"\nscale = \"standard\"\n\
             [[layers]]\ntype = \"flatten\"\n\
             [[layers]]\ntype = \"dense\"\nunits = 16\nactivation = \"selu\"\nkernel_initializer = \"lecun_normal\"\n\
             {extra}\n\
             [[layers]]\ntype = \"dense\"\nunits = 16\nactivation = \"selu\"\nkernel_initializer = \"lecun_normal\"\n\
             [[layers]]\ntype = \"dense\"\nunits = 10\nactivation = \"softmax\"\n"
        );
        let spec = crate::spec::Spec::parse(&text, std::path::Path::new("selu.toml")).unwrap();
        let model = spec.build_model(&[8, 8], None).unwrap();
        check(&model, spec.data.scale, &spec.optimizer)
            .iter()
            .map(|w| w.id)
            .collect()
    }

    /// The layers answer what they do to self-normalization: ordinary dropout and batch
    /// normalization are warned about, alpha dropout and a plain stack are not.
    #[test]
    fn selu_rules_ask_the_layer_settings() {
        assert!(selu_warnings("").is_empty());
        let dropout = "[[layers]]\ntype = \"dropout\"\nrate = 0.2";
        assert_eq!(selu_warnings(dropout), ["selu_dropout"]);
        let alpha = "[[layers]]\ntype = \"alpha_dropout\"\nrate = 0.2";
        assert!(selu_warnings(alpha).is_empty());
        let batch_norm = "[[layers]]\ntype = \"batch_normalization\"";
        assert_eq!(selu_warnings(batch_norm), ["selu_batch_norm"]);
    }
}
