//! The TOML experiment spec read by `deeptrain train`: data, layers, compile, optimizer, fit.
//! Keys follow Keras' names; unknown keys and invalid values are rejected before training, with
//! a message naming the file, the line and what is allowed.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::callbacks::CallbackSpec;
use crate::data::Augmentation;
use crate::dtype_policy::DtypePolicy;
// `[data]` lives beside the loaders it drives (data/source.rs); re-exported for old paths.
pub use crate::data::{ColumnRef, DataSpec, InputSpec, TargetKind};
use crate::layers::LayerSpec;
use crate::losses::Loss;
use crate::metrics::Metric;
use crate::model::{ModelInput, ModelOutput};
use crate::one_line;
use crate::optimizers::OptimizerSpec;
use crate::schedules::ScheduleSpec;
use crate::{io, Error, Result};

mod class_weight;
mod layers;
mod resume;

pub use class_weight::{ClassWeight, ClassWeightRule};
use layers::{deserialize_layers, line_of_key};

/// The largest `repeat` of one layer entry (kept here for old paths; see [`crate::limits`]).
pub use crate::limits::MAX_REPEAT;

/// A whole experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Seed for weights, shuffling and every random choice.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Where the data comes from and how it is prepared.
    #[serde(default)]
    pub data: DataSpec,
    /// The layers, first to last. In the file, a layer table may carry `repeat = N` to stand
    /// for N identical layers (a 100-layer stack in one entry), and `type = "block"` groups
    /// layers (`residual = true`: each copy of the group adds its input to its output).
    /// A layer with `inputs = [...]` reads the layers or model inputs it names (a graph,
    /// Keras' functional API); without, the layer before it.
    #[serde(
        deserialize_with = "deserialize_layers",
        serialize_with = "crate::layers::serde_layers::serialize"
    )]
    pub layers: Vec<LayerSpec>,
    /// `[[outputs]]`: the model outputs and their loss weights (default: the last layer).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<ModelOutput>,
    /// Loss and metrics.
    #[serde(default)]
    pub compile: CompileSpec,
    /// The optimizer.
    #[serde(default)]
    pub optimizer: OptimizerSpec,
    /// Training loop settings.
    #[serde(default)]
    pub fit: FitSpec,
    /// Learning-rate schedule (none: the optimizer's constant rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleSpec>,
    /// `[[callbacks]]`: early stopping, model checkpoints.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub callbacks: Vec<CallbackSpec>,
    /// `[augmentation]`: image augmentation of every training batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub augmentation: Option<Augmentation>,
    /// `[transfer]`: start from a saved model's first layers; `[[layers]]` go on top.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer: Option<TransferSpec>,
}

/// `[transfer]`: reuse the first `layers` layers of a saved model (weights copied), optionally
/// frozen, and unfreeze them after `unfreeze_after` epochs with a new learning rate (the
/// textbook's two-phase fine-tuning, in one run). The saved model's input scaling is reused.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferSpec {
    /// A saved model directory (a run's `model/`).
    pub from: PathBuf,
    /// How many of its layers to reuse, from the input.
    pub layers: usize,
    /// Freeze the reused layers (default true).
    #[serde(default = "yes")]
    pub freeze: bool,
    /// Unfreeze them after this many epochs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unfreeze_after: Option<usize>,
    /// The learning rate from the unfreezing on (default: unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unfreeze_learning_rate: Option<f32>,
}

/// `[compile]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "CompileSpecRepr")]
pub struct CompileSpec {
    /// The loss.
    pub loss: Loss,
    /// Metrics reported each epoch (unweighted, as Keras 3's `metrics`). Left out of a spec, it
    /// is `["accuracy"]` under a classification loss and empty under a regression one
    /// ([`default_metrics`]): an accuracy of regression outputs means nothing.
    pub metrics: Vec<Metric>,
    /// Metrics computed with the sample and class weights, logged as `weighted_NAME`
    /// (Keras' `weighted_metrics`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weighted_metrics: Vec<Metric>,
    /// Keras' dtype policy: `"float32"` (default) or `"mixed_bfloat16"` (matrix products in
    /// bf16 with f32 accumulation; needs AVX-512 BF16).
    #[serde(default, skip_serializing_if = "DtypePolicy::is_float32")]
    pub dtype_policy: DtypePolicy,
}

/// `[fit]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FitSpec {
    /// Passes over the training data.
    #[serde(default = "default_epochs")]
    pub epochs: usize,
    /// Samples per step.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Reshuffle before each epoch.
    #[serde(default = "yes")]
    pub shuffle: bool,
    /// Keras' `validation_split`: the same as `validation_split` under `[data]` (give one).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub validation_split: f64,
    /// Keras' `class_weight`: a table of class weights, or `"balanced"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_weight: Option<ClassWeight>,
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

fn default_seed() -> u64 {
    42
}
fn default_loss() -> Loss {
    Loss::SparseCategoricalCrossentropy
}
/// The metrics a spec without `metrics` reports: accuracy under the classification losses
/// (cross-entropies, hinge) and a user's loss, nothing under the regression ones (MSE, MAE,
/// Huber, log-cosh, Poisson, KL divergence), whose outputs have no classes.
pub fn default_metrics(loss: &Loss) -> Vec<Metric> {
    match loss {
        Loss::SparseCategoricalCrossentropy
        | Loss::CategoricalCrossentropy
        | Loss::BinaryCrossentropy
        | Loss::Hinge
        | Loss::Custom(_) => vec![Metric::Accuracy],
        Loss::MeanSquaredError
        | Loss::MeanAbsoluteError
        | Loss::Huber { .. }
        | Loss::LogCosh
        | Loss::Poisson
        | Loss::KlDivergence => Vec::new(),
    }
}

/// `[compile]` as written: `metrics` may be left out, and its default depends on the loss.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CompileSpecRepr {
    #[serde(default = "default_loss")]
    loss: Loss,
    #[serde(default)]
    metrics: Option<Vec<Metric>>,
    #[serde(default)]
    weighted_metrics: Vec<Metric>,
    #[serde(default)]
    dtype_policy: DtypePolicy,
}

impl From<CompileSpecRepr> for CompileSpec {
    fn from(repr: CompileSpecRepr) -> Self {
        CompileSpec {
            metrics: repr.metrics.unwrap_or_else(|| default_metrics(&repr.loss)),
            loss: repr.loss,
            weighted_metrics: repr.weighted_metrics,
            dtype_policy: repr.dtype_policy,
        }
    }
}
fn default_epochs() -> usize {
    10
}
fn default_batch_size() -> usize {
    32
}
fn yes() -> bool {
    true
}

impl Default for CompileSpec {
    fn default() -> Self {
        CompileSpec {
            loss: default_loss(),
            metrics: default_metrics(&default_loss()),
            weighted_metrics: Vec::new(),
            dtype_policy: DtypePolicy::default(),
        }
    }
}

impl Default for FitSpec {
    fn default() -> Self {
        FitSpec {
            epochs: default_epochs(),
            batch_size: default_batch_size(),
            shuffle: true,
            validation_split: 0.0,
            class_weight: None,
        }
    }
}

/// The spec `deeptrain train` uses without a file: a 64-128-64-10 ReLU network on the embedded
/// digits, offline.
pub const DEFAULT_SPEC: &str = r#"
seed = 42
[data]
dataset = "digits"
validation_split = 0.1
scale = "unit"
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
units = 128
activation = "relu"
kernel_initializer = "he_normal"
[[layers]]
type = "dense"
units = 64
activation = "relu"
kernel_initializer = "he_normal"
[[layers]]
type = "dense"
units = 10
activation = "softmax"
[compile]
loss = "sparse_categorical_crossentropy"
metrics = ["accuracy"]
[optimizer]
name = "sgd"
learning_rate = 0.05
[fit]
epochs = 30
batch_size = 32
"#;

impl Spec {
    /// Reads and validates a spec file.
    pub fn from_file(path: &Path) -> Result<Spec> {
        let text = io::read_to_string(path)?;
        let mut spec = Spec::parse(&text, path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        spec.data.resolve_paths(base);
        if let Some(t) = &mut spec.transfer {
            let candidate = base.join(&t.from);
            if t.from.is_relative() && !t.from.exists() && candidate.exists() {
                t.from = candidate;
            }
        }
        Ok(spec)
    }

    /// Parses and validates spec text; `path` names the source in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Spec> {
        let spec: Spec = toml::from_str(text).map_err(|e| {
            let message = one_line(e.message());
            let line = layers::layer_error_line(text, &message).or_else(|| {
                e.span().map(|s| {
                    let start = s.start.min(text.len());
                    line_of_key(text, start, &message)
                        .unwrap_or_else(|| text[..start].matches('\n').count() + 1)
                })
            });
            match line {
                Some(line) => Error::spec(path, format!("line {line}: {message}")),
                None => Error::spec(path, message),
            }
        })?;
        let mut spec = spec;
        spec.validate().map_err(|m| Error::spec(path, m))?;
        if spec.fit.validation_split > 0.0 {
            spec.data.validation_split = spec.fit.validation_split;
        }
        // Keras' ReduceLROnPlateau callback is this crate's on-plateau schedule.
        for c in &spec.callbacks {
            if let Some(schedule) = c.plateau_schedule() {
                let schedule = schedule.map_err(|e| Error::spec(path, e.detail()))?;
                schedule
                    .validate()
                    .map_err(|e| Error::spec(path, format!("ReduceLROnPlateau: {}", e.detail())))?;
                if spec.schedule.is_some() {
                    return Err(Error::spec(
                        path,
                        "a ReduceLROnPlateau callback and a [schedule] both set the learning rate: keep one",
                    ));
                }
                spec.schedule = Some(schedule);
            }
        }
        Ok(spec)
    }

    /// The model inputs `[data] inputs` name, with table column names resolved against
    /// `feature_names` (the encoded table's, `name` or `name=category`).
    pub fn model_inputs(&self, feature_names: Option<&[String]>) -> Result<Vec<ModelInput>> {
        if self.data.inputs.is_empty() {
            return Ok(vec![ModelInput::whole(crate::model::graph::DEFAULT_INPUT)]);
        }
        self.data
            .inputs
            .iter()
            .map(|input| {
                let Some(columns) = &input.columns else {
                    return Ok(ModelInput::whole(&input.name));
                };
                let mut indices = Vec::new();
                for column in columns {
                    match column {
                        ColumnRef::Index(i) => indices.push(*i),
                        ColumnRef::Name(name) => {
                            let names = feature_names.ok_or_else(|| {
                                Error::Config(format!(
                                    "[data] input `{}` names column `{name}`, but the data is not a table: give feature indices",
                                    input.name
                                ))
                            })?;
                            let before = indices.len();
                            indices.extend(names.iter().enumerate().filter_map(|(i, f)| {
                                let base = f.split_once('=').map_or(f.as_str(), |(b, _)| b);
                                (f == name || base == name).then_some(i)
                            }));
                            if indices.len() == before {
                                return Err(Error::Config(format!(
                                    "[data] input `{}` names column `{name}`, which is not a feature (features: {})",
                                    input.name,
                                    names.join(", ")
                                )));
                            }
                        }
                    }
                }
                Ok(ModelInput::columns(&input.name, indices))
            })
            .collect()
    }

    /// Builds the model the spec describes on samples of `input_shape` (weights from `seed`),
    /// its inputs resolved as [`Spec::model_inputs`] does.
    pub fn build_model(
        &self,
        input_shape: &[usize],
        feature_names: Option<&[String]>,
    ) -> Result<crate::Sequential> {
        crate::Sequential::from_graph(
            input_shape,
            &self.model_inputs(feature_names)?,
            &self.layers,
            &self.outputs,
            self.seed,
        )
        .map_err(|e| match e {
            // Say where the input shape came from: the data file's samples.
            Error::Shape(message) => Error::Shape(format!(
                "{message} (the samples of [data] `{}` have shape {input_shape:?})",
                self.data.dataset
            )),
            other => other,
        })
    }

    fn validate(&self) -> std::result::Result<(), String> {
        if self.layers.is_empty() {
            return Err("the spec needs at least one [[layers]] entry".into());
        }
        let mut names = std::collections::HashMap::new();
        for (i, layer) in self.layers.iter().enumerate() {
            layer
                .validate()
                .map_err(|e| format!("[[layers]] #{}: {}", i + 1, e.detail()))?;
            if let Some(first) = layer.name().and_then(|n| names.insert(n, i)) {
                return Err(format!(
                    "[[layers]] #{} and #{} are both named `{}`: layer names must be unique",
                    first + 1,
                    i + 1,
                    layer.name().unwrap_or_default()
                ));
            }
        }
        if self.fit.epochs == 0 {
            return Err("[fit] epochs must be at least 1".into());
        }
        if self.fit.batch_size == 0 {
            return Err("[fit] batch_size must be at least 1".into());
        }
        for (key, v) in [
            ("[data] validation_split", self.data.validation_split),
            ("[data] test_split", self.data.test_split),
            ("[fit] validation_split", self.fit.validation_split),
        ] {
            if !(0.0..1.0).contains(&v) {
                return Err(format!("{key} must be in [0, 1), got {v}"));
            }
        }
        if self.fit.validation_split > 0.0
            && self.data.validation_split > 0.0
            && self.fit.validation_split != self.data.validation_split
        {
            return Err(
                "give validation_split under [fit] (as Keras) or under [data], not both".into(),
            );
        }
        if let Some(a) = &self.augmentation {
            a.validate().map_err(|e| e.detail())?;
        }
        if let Some(schedule) = &self.schedule {
            schedule
                .validate()
                .map_err(|e| format!("[schedule] {}", e.detail()))?;
        }
        self.optimizer
            .build()
            .map(|_| ())
            .map_err(|e| format!("[optimizer] {}", e.detail()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_spec_parses() {
        let spec = Spec::parse(DEFAULT_SPEC, Path::new("default")).unwrap();
        assert_eq!(spec.layers.len(), 4);
        assert_eq!(spec.fit.epochs, 30);
    }

    #[test]
    fn metrics_left_out_default_to_accuracy_only_under_a_classification_loss() {
        let without = DEFAULT_SPEC.replace("metrics = [\"accuracy\"]\n", "");
        let spec = Spec::parse(&without, Path::new("x.toml")).unwrap();
        assert_eq!(spec.compile.metrics, vec![Metric::Accuracy]);
        let regression = without.replace("\"sparse_categorical_crossentropy\"", "\"mse\"");
        let spec = Spec::parse(&regression, Path::new("x.toml")).unwrap();
        assert!(
            spec.compile.metrics.is_empty(),
            "{:?}",
            spec.compile.metrics
        );
        // Written out (as a run's run.toml), the choice stays what it was.
        let again = toml::to_string(&spec.compile).unwrap();
        let back: CompileSpec = toml::from_str(&again).unwrap();
        assert_eq!(back, spec.compile);
        let explicit = DEFAULT_SPEC.replace("\"sparse_categorical_crossentropy\"", "\"mse\"");
        let spec = Spec::parse(&explicit, Path::new("x.toml")).unwrap();
        assert_eq!(spec.compile.metrics, vec![Metric::Accuracy]);
        let typo = DEFAULT_SPEC.replace("metrics = ", "metric = ");
        let err = Spec::parse(&typo, Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("metric"), "{err}");
    }

    #[test]
    fn repeat_expands_a_layer_entry() {
        let text = DEFAULT_SPEC.replace("units = 64", "units = 64\nrepeat = 3");
        let spec = Spec::parse(&text, Path::new("x.toml")).unwrap();
        assert_eq!(spec.layers.len(), 6);
        assert_eq!(spec.layers[2], spec.layers[4]);
        let block = "[[layers]]\ntype = \"block\"\nrepeat = 4\nlayers = [{ type = \"dense\", units = 5 }, { type = \"batch_normalization\" }]\n[[layers]]\ntype = \"flatten\"\n[[layers]]";
        let text = DEFAULT_SPEC.replacen("[[layers]]", block, 1);
        let spec = Spec::parse(&text, Path::new("x.toml")).unwrap();
        assert_eq!(spec.layers.len(), 13);
        assert_eq!(spec.layers[7].type_name(), "batch_normalization");
        let text = DEFAULT_SPEC.replace("units = 64", "units = 64\nrepeat = 0");
        let err = Spec::parse(&text, Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("repeat"), "{err}");
    }

    #[test]
    fn a_residual_block_adds_its_input_to_each_copy() {
        let block = "[[layers]]\nname = \"stem\"\ntype = \"dense\"\nunits = 8\n[[layers]]\ntype = \"block\"\nresidual = true\nrepeat = 2\nlayers = [{ type = \"dense\", units = 8, activation = \"relu\" }, { type = \"dense\", units = 8 }]\n[[layers]]";
        let text = DEFAULT_SPEC.replacen(
            "[[layers]]\ntype = \"dense\"",
            &format!("{block}\ntype = \"dense\""),
            1,
        );
        let spec = Spec::parse(&text, Path::new("x.toml")).unwrap();
        // flatten, stem, then per copy: dense, dense (the branch), add.
        let names: Vec<Option<&str>> = spec.layers[..8].iter().map(|l| l.name()).collect();
        assert_eq!(
            names,
            [
                None,
                Some("stem"),
                None,
                Some("residual_1_branch"),
                Some("residual_1"),
                None,
                Some("residual_2_branch"),
                Some("residual_2")
            ]
        );
        let inputs = |i: usize| spec.layers[i].inputs().unwrap().to_vec();
        assert_eq!(inputs(4), ["stem", "residual_1_branch"]);
        assert_eq!(inputs(7), ["residual_1", "residual_2_branch"]);
        assert_eq!(spec.layers[5].inputs(), None, "reads the add before it");
        // The model builds: shapes fit and every name resolves.
        let model = spec.build_model(&[8, 8], None).unwrap();
        assert!(!model.is_sequential());
        // A block input without a name cannot be read.
        let text = text.replacen("name = \"stem\"\n", "", 1);
        let err = Spec::parse(&text, Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("give the layer before it a `name`"), "{err}");
    }

    #[test]
    fn unknown_keys_and_values_are_named() {
        let text = DEFAULT_SPEC.replace("units = 64", "units = 64\nunit = 3");
        let err = Spec::parse(&text, Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("x.toml: line "), "{err}");
        assert!(err.contains("unknown field `unit`"), "{err}");
        assert!(!err.contains('\n'), "{err}");
        let text = DEFAULT_SPEC.replace("activation = \"softmax\"", "activation = \"softmaxx\"");
        let err = Spec::parse(&text, Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("softmaxx") && err.contains("relu"), "{err}");
        let text = DEFAULT_SPEC.replace("learning_rate = 0.05", "learning_rate = -1.0");
        let err = Spec::parse(&text, Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("learning_rate"), "{err}");
        let text = DEFAULT_SPEC.replace("epochs = 30", "epochs = 0");
        assert!(Spec::parse(&text, Path::new("x.toml"))
            .unwrap_err()
            .to_string()
            .contains("epochs"));
    }
}
