//! Spec presets that follow the chapter's practical guidelines (Géron, ch. 11, "Summary and
//! Practical Guidelines"), written by `deeptrain new --preset NAME`, commented line by line.

/// (name, description, spec text).
pub const PRESETS: [(&str, &str, &str); 3] = [
    (
        "default",
        "He initialization, ELU, batch norm, early stopping, Nadam, 1cycle",
        DEFAULT,
    ),
    (
        "self-normalizing",
        "LeCun normal, SELU, standardized inputs, alpha dropout",
        SELF_NORMALIZING,
    ),
    (
        "fast",
        "fast inference: leaky ReLU, no batch norm, L1 for sparsity",
        FAST,
    ),
];

/// The text of a preset, by name.
pub fn preset(name: &str) -> Option<&'static str> {
    PRESETS.iter().find(|p| p.0 == name).map(|p| p.2)
}

const DEFAULT: &str = r#"# deeptrain preset "default": the chapter's default configuration for a deep network.
seed = 42

[data]
dataset = "fashion-mnist"     # or "digits", a .csv / .npy file, or an IDX directory
validation_split = 0.0833     # hold out data to watch overfitting and stop early
scale = "unit"                # pixels / 255

[[layers]]
type = "flatten"

[[layers]]
type = "block"                # Dense -> BatchNormalization -> ELU, repeated
repeat = 4
layers = [
  # No bias: batch norm's beta replaces it. He initialization suits ELU (table 11-1).
  { type = "dense", units = 100, use_bias = false, kernel_initializer = "he_normal" },
  # Batch norm before the activation, as its authors advise: fights unstable gradients.
  { type = "batch_normalization" },
  # ELU: non-saturating, smooth, with negative outputs that keep means near 0.
  { type = "elu", alpha = 1.0 },
]

[[layers]]
type = "dense"
units = 10
activation = "softmax"        # one probability per class

[compile]
loss = "sparse_categorical_crossentropy"
metrics = ["accuracy"]

[optimizer]
name = "nadam"                # Adam with Nesterov momentum: fast and robust
learning_rate = 0.001

[schedule]
name = "one_cycle"            # 1cycle: warm up to a peak rate, then anneal (Smith 2018)
max_learning_rate = 0.003     # check it with `deeptrain lr-find`

[fit]
epochs = 30
batch_size = 32

[[callbacks]]
name = "early_stopping"       # stop when validation loss stops improving...
monitor = "val_loss"
patience = 5
restore_best_weights = true   # ...and keep the best epoch's weights
"#;

const SELF_NORMALIZING: &str = r#"# deeptrain preset "self-normalizing": a plain dense stack that keeps its activations at mean 0
# and standard deviation 1 by itself (Klambauer et al. 2017; Géron ch. 11).
seed = 42

[data]
dataset = "fashion-mnist"
validation_split = 0.0833
scale = "standard"            # self-normalization needs standardized inputs

[[layers]]
type = "flatten"

[[layers]]
type = "block"
repeat = 10
layers = [
  # Alpha dropout keeps SELU's mean and variance; plain dropout would break them.
  { type = "alpha_dropout", rate = 0.05 },
  # SELU with LeCun normal initialization: the pair that self-normalizes.
  { type = "dense", units = 100, activation = "selu", kernel_initializer = "lecun_normal" },
]

[[layers]]
type = "dense"
units = 10
activation = "softmax"

[compile]
loss = "sparse_categorical_crossentropy"
metrics = ["accuracy"]

[optimizer]
name = "sgd"                  # SGD with Nesterov momentum works well with SELU
learning_rate = 0.005
momentum = 0.9
nesterov = true

[fit]
epochs = 20
batch_size = 32

[[callbacks]]
name = "early_stopping"
monitor = "val_loss"
patience = 5
restore_best_weights = true
"#;

const FAST: &str = r#"# deeptrain preset "fast": a network tuned for fast, small inference.
seed = 42

[data]
dataset = "fashion-mnist"
validation_split = 0.0833
scale = "unit"

[[layers]]
type = "flatten"

[[layers]]
type = "dense"
units = 100
activation = "leaky_relu"     # cheap, non-saturating, never dies (slope 0.2 below 0)
kernel_initializer = "he_normal"
kernel_regularizer = { l1 = 1e-5 }   # L1 pushes weights to 0: prune them afterwards

[[layers]]
type = "dense"
units = 100
activation = "leaky_relu"
kernel_initializer = "he_normal"
kernel_regularizer = { l1 = 1e-5 }

# No batch norm: it costs time at inference (or fold it: `deeptrain fold`).
[[layers]]
type = "dense"
units = 10
activation = "softmax"

[compile]
loss = "sparse_categorical_crossentropy"
metrics = ["accuracy"]

[optimizer]
name = "nadam"
learning_rate = 0.001

[fit]
epochs = 20
batch_size = 32

[[callbacks]]
name = "early_stopping"
monitor = "val_loss"
patience = 5
restore_best_weights = true
# Afterwards: deeptrain prune runs/NAME/model --threshold 0.01
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Spec;

    /// Every preset parses, builds, and passes the configuration checks without a warning.
    #[test]
    fn presets_parse_and_pass_the_checks() {
        for (name, _, text) in PRESETS {
            let spec = Spec::parse(text, std::path::Path::new(name)).unwrap();
            let model = crate::Sequential::from_specs(&[28, 28], &spec.layers, spec.seed).unwrap();
            let warnings = crate::checks::check(&model, spec.data.scale, &spec.optimizer);
            assert!(warnings.is_empty(), "{name}: {warnings:?}");
        }
    }
}
