//! Checks of the whole setup before training: the output activation against the loss, the
//! labels against the outputs, and the scale of the input features and regression targets.
//! Each finding is a [`Warning`] with a stable id; `deeptrain diagnose` reports
//! `output_loss_mismatch` as a verdict always, the scale findings when the loss curve shows
//! that training suffers.

use super::Warning;
use crate::activations::Activation;
use crate::data::{Dataset, Scale};
use crate::layers::BatchNormSpec;
use crate::losses::Loss;
use crate::Sequential;

/// Input values whose root mean square exceeds this are far from unit scale (raw 0-255 pixels
/// have about 100; standardized or min-max scaled features at most 1).
pub const INPUT_RMS_LIMIT: f64 = 10.0;

/// Regression targets whose root mean square exceeds this are far from unit scale.
pub const TARGET_RMS_LIMIT: f64 = 10.0;

fn rms(values: &[f32]) -> f64 {
    (values.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / values.len().max(1) as f64).sqrt()
}

/// The activation of the main output, and its unit count.
fn output(model: &Sequential) -> (Activation, usize) {
    let node = model.topology().outputs.first().copied().unwrap_or(0);
    let activation = model
        .layers()
        .get(node)
        .map_or(Activation::Linear, |l| l.output_activation());
    (activation, model.output_units())
}

/// The output activation against the loss, with what to use instead.
fn output_against_loss(activation: Activation, units: usize, loss: Loss) -> Option<String> {
    let name = loss.name();
    match loss {
        _ if activation == Activation::Softmax && units == 1 => Some(format!(
            "softmax over one output unit always outputs 1, so {name} cannot learn: use sigmoid with binary_crossentropy, or softmax over one unit per class"
        )),
        Loss::SparseCategoricalCrossentropy | Loss::CategoricalCrossentropy
            if activation != Activation::Softmax =>
        {
            Some(format!(
                "{activation} outputs under {name}, which expects a probability distribution: use softmax on the output layer{}",
                if units == 1 { " over one unit per class (or sigmoid with binary_crossentropy for two classes)" } else { "" }
            ))
        }
        Loss::BinaryCrossentropy if activation != Activation::Sigmoid => Some(format!(
            "{activation} outputs under binary_crossentropy, which expects probabilities of independent labels: use sigmoid on the output layer (or softmax with categorical cross-entropy for exclusive classes)"
        )),
        _ => None,
    }
}

/// The range of the outputs of a bounded activation.
fn bounds(activation: Activation) -> Option<(f32, f32)> {
    match activation {
        Activation::Sigmoid | Activation::HardSigmoid | Activation::Softmax => Some((0.0, 1.0)),
        Activation::Tanh | Activation::Softsign => Some((-1.0, 1.0)),
        Activation::Relu => Some((0.0, f32::INFINITY)),
        _ => None,
    }
}

fn is_regression(loss: Loss) -> bool {
    matches!(
        loss,
        Loss::MeanSquaredError | Loss::MeanAbsoluteError | Loss::Huber { .. } | Loss::LogCosh
    )
}

/// Checks the compiled `model` against its training data `train` (already scaled by `scale`).
pub fn check_setup(model: &Sequential, train: &Dataset, scale: Scale) -> Vec<Warning> {
    let mut out = Vec::new();
    let Some(loss) = model.loss() else {
        return out;
    };
    let (activation, units) = output(model);
    if let Some(message) = output_against_loss(activation, units, loss) {
        // Categorical cross-entropy divides outputs that are not softmax by their sum, as
        // Keras does: such a model can still learn, so this one is reported when it does not.
        let normalized = loss == Loss::CategoricalCrossentropy && units > 1;
        out.push(Warning {
            id: if normalized {
                "categorical_crossentropy_normalized"
            } else {
                "output_loss_mismatch"
            },
            message,
            rule: "the output activation must produce what the loss reads: softmax for categorical cross-entropy, sigmoid for binary cross-entropy (Géron ch. 10, table 10-2)",
        });
    }
    let labels = train.labels.data();
    if let Some((lo, hi)) =
        bounds(activation).filter(|_| is_regression(loss) || loss == Loss::BinaryCrossentropy)
    {
        let outside = labels.iter().filter(|&&t| t < lo || t > hi).count();
        if outside > 0 && !labels.is_empty() {
            out.push(Warning {
                id: "output_loss_mismatch",
                message: format!(
                    "{outside} of {} targets lie outside the {activation} output's range [{lo}, {hi}]: the model can never reach them; use a linear output (or scale the targets into the range)",
                    labels.len()
                ),
                rule: "a bounded output activation must cover the targets' range (Géron ch. 10)",
            });
        }
    }
    let specs = model.layer_specs();
    let first_kernel = (0..specs.len())
        .find(|&i| model.layers()[i].kernel_param().is_some())
        .unwrap_or(specs.len());
    let normalized_inside = specs[..first_kernel]
        .iter()
        .any(|s| s.config_as::<BatchNormSpec>().is_some());
    let input_rms = rms(train.x.data());
    if input_rms > INPUT_RMS_LIMIT && !normalized_inside {
        out.push(Warning {
            id: "unscaled_inputs",
            message: format!(
                "the input features have root mean square {input_rms:.3}, far from unit scale (scale = \"{}\")",
                match scale {
                    Scale::Unit => "unit",
                    Scale::Standard => "standard",
                    Scale::None => "none",
                }
            ),
            rule: "gradient descent needs features of similar, unit scale; use scale = \"standard\" or \"unit\" (Géron ch. 2 and 11; LeCun et al. 1998, Efficient BackProp)",
        });
    }
    if is_regression(loss) {
        let target_rms = rms(labels);
        if target_rms > TARGET_RMS_LIMIT {
            out.push(Warning {
                id: "unscaled_targets",
                message: format!(
                    "the regression targets have root mean square {target_rms:.3}, far from unit scale"
                ),
                rule: "large targets make large errors and gradients, so a usual learning rate overshoots; standardize the targets (and undo it on the predictions) or lower the rate (Géron ch. 2)",
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activations_against_losses() {
        use Activation::*;
        let cce = Loss::CategoricalCrossentropy;
        assert!(output_against_loss(Softmax, 1, Loss::BinaryCrossentropy).is_some());
        assert!(output_against_loss(Softmax, 10, cce).is_none());
        assert!(output_against_loss(Sigmoid, 10, cce).is_some());
        assert!(output_against_loss(Relu, 10, Loss::SparseCategoricalCrossentropy).is_some());
        assert!(output_against_loss(Linear, 1, Loss::BinaryCrossentropy).is_some());
        assert!(output_against_loss(Sigmoid, 1, Loss::BinaryCrossentropy).is_none());
        assert!(output_against_loss(Linear, 1, Loss::MeanSquaredError).is_none());
    }
}
