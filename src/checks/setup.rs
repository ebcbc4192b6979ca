//! Checks of the whole setup before training: the output activation against the loss, the
//! labels against the outputs, and the scale of the input features and regression targets.
//! Each finding is a [`Warning`] with a stable id; `deeptrain diagnose` reports them as
//! verdicts when the loss curve shows that training suffers.

use super::Warning;
use crate::activations::Activation;
use crate::data::{Dataset, Scale};
use crate::layers::SelfNormalization;
use crate::losses::{Loss, Targets};
use crate::{Sequential, Tensor};

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

/// A softmax output against target rows (the loss's targets, one row of `units` values per
/// sample) that do not sum to 1 (several labels per sample, or none): the outputs always sum
/// to 1, so the model can never reach them.
fn softmax_against_targets(
    activation: Activation,
    units: usize,
    loss: Loss,
    targets: &Tensor,
) -> Option<String> {
    if activation != Activation::Softmax || units < 2 || loss.wants_classes() {
        return None;
    }
    if targets.is_empty() || targets.len() % units != 0 {
        return None;
    }
    let rows = targets.len() / units;
    let off = targets
        .data()
        .chunks_exact(units)
        .filter(|row| (row.iter().map(|&t| t as f64).sum::<f64>() - 1.0).abs() > 1e-3)
        .count();
    (off > 0).then(|| format!(
        "{off} of {rows} target rows do not sum to 1 (several labels per sample, or none), but the softmax output always sums to 1: use sigmoid outputs with binary_crossentropy for independent labels"
    ))
}

/// Whether `activation`'s outputs are always above 0 (in exact arithmetic), so that dividing
/// them by their sum gives a distribution.
fn strictly_positive(activation: Activation) -> bool {
    matches!(
        activation,
        Activation::Sigmoid | Activation::Softplus | Activation::Exponential
    )
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
        // Categorical cross-entropy, sparse or not, divides outputs that are not softmax by
        // their sum, as Keras does: strictly positive outputs (sigmoid, softplus, exponential)
        // then read as a distribution and the model can still learn, so that one is reported
        // when training suffers. Outputs that can be zero or negative (ReLU, linear, tanh...)
        // cannot: a zero or negative output on the true class is clipped to ε, and the clip
        // passes no gradient, so the mismatch is always reported.
        let normalized = matches!(
            loss,
            Loss::CategoricalCrossentropy | Loss::SparseCategoricalCrossentropy
        ) && units > 1
            && strictly_positive(activation);
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
    let targets = train.targets(loss, units).ok();
    let target_values = match &targets {
        Some(Targets::Values(t)) => Some(t),
        _ => None,
    };
    if let Some(message) =
        target_values.and_then(|t| softmax_against_targets(activation, units, loss, t))
    {
        out.push(Warning {
            id: "output_loss_mismatch",
            message,
            rule: "softmax is for exclusive classes (its outputs sum to 1); labels that are not one per sample need one sigmoid per label with binary cross-entropy (Géron ch. 10, table 10-2)",
        });
    }
    let specs = model.layer_specs();
    let first_kernel = (0..specs.len())
        .find(|&i| model.layers()[i].kernel_param().is_some())
        .unwrap_or(specs.len());
    let normalized_inside = specs[..first_kernel]
        .iter()
        .any(|s| s.config.self_normalization() == SelfNormalization::BatchStatistics);
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
        // Normalized into a distribution only when every output is positive.
        assert!(strictly_positive(Sigmoid) && strictly_positive(Softplus));
        assert!(!strictly_positive(Relu) && !strictly_positive(Linear));
        assert!(!strictly_positive(Tanh) && !strictly_positive(HardSigmoid));
    }

    #[test]
    fn softmax_against_multi_label_targets() {
        let mse = Loss::MeanSquaredError;
        let multi = Tensor::from_vec(vec![1.0, 1.0, 0.0, 0.0, 1.0, 0.0], &[2, 3]);
        let one_hot = Tensor::from_vec(vec![0.0, 1.0, 0.0, 0.2, 0.0, 0.8], &[2, 3]);
        let found = softmax_against_targets(Activation::Softmax, 3, mse, &multi).unwrap();
        assert!(found.contains("1 of 2 target rows"), "{found}");
        assert!(softmax_against_targets(Activation::Softmax, 3, mse, &one_hot).is_none());
        assert!(softmax_against_targets(Activation::Sigmoid, 3, mse, &multi).is_none());
        let classes = Tensor::from_vec(vec![2.0, 1.0], &[2, 1]);
        let sparse = Loss::SparseCategoricalCrossentropy;
        assert!(softmax_against_targets(Activation::Softmax, 3, sparse, &classes).is_none());
    }

    /// A model of 2 inputs and one `output` unit under `loss`, and 4 rows of features `x`
    /// (times `x_scale`) with targets `y`.
    fn setup(output: Activation, loss: Loss, x_scale: f32, y: [f32; 4]) -> Vec<&'static str> {
        let sgd: crate::OptimizerSpec = toml::from_str("name = \"sgd\"").unwrap();
        let mut model = Sequential::new(&[2])
            .add(crate::DenseSpec::new(1).activation(output))
            .build(1)
            .unwrap();
        model.compile(sgd.build().unwrap(), loss, &[]).unwrap();
        let x = [0.5, -1.0, 1.0, 0.2, -0.3, 0.8, 1.2, -0.7].map(|v| v * x_scale);
        let train = Dataset {
            x: Tensor::from_vec(x.to_vec(), &[4, 2]),
            labels: Tensor::from_vec(y.to_vec(), &[4, 1]),
            weights: None,
            origin: None,
            stream: None,
        };
        check_setup(&model, &train, Scale::None)
            .iter()
            .map(|w| w.id)
            .collect()
    }

    #[test]
    fn feature_and_target_scales_and_ranges() {
        use Activation::*;
        let mse = Loss::MeanSquaredError;
        // Unit-scale features and targets: nothing to say.
        assert!(setup(Linear, mse, 1.0, [0.5, -1.0, 1.2, 0.1]).is_empty());
        // Raw 0-255-like features (root mean square ~ 150): unscaled inputs.
        assert_eq!(
            setup(Linear, mse, 200.0, [0.5, -1.0, 1.2, 0.1]),
            ["unscaled_inputs"]
        );
        // House prices in dollars as regression targets: unscaled targets.
        assert_eq!(
            setup(Linear, mse, 1.0, [2e5, 3e5, 1.5e5, 4e5]),
            ["unscaled_targets"]
        );
        // The same targets under a classification loss are labels, not a scale problem.
        assert!(
            !setup(Sigmoid, Loss::BinaryCrossentropy, 1.0, [0.0, 1.0, 1.0, 0.0])
                .contains(&"unscaled_targets")
        );
        // A sigmoid output cannot reach targets above 1.
        assert_eq!(
            setup(Sigmoid, mse, 1.0, [0.5, 2.0, 0.1, 0.3]),
            ["output_loss_mismatch"]
        );
    }
}
