//! The TOML experiment spec read by `deeptrain train`: data, layers, compile, optimizer, fit.
//! Keys follow Keras' names; unknown keys and invalid values are rejected before training, with
//! a message naming the file, the line and what is allowed.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::callbacks::CallbackSpec;
use crate::data::{self, tabular, Augmentation, Dataset, Impute, Scale, SplitOrder, Splits};
use crate::layers::LayerSpec;
use crate::losses::Loss;
use crate::metrics::Metric;
use crate::model::{ModelFile, ModelInput, ModelOutput};
use crate::one_line;
use crate::optimizers::OptimizerSpec;
use crate::schedules::ScheduleSpec;
use crate::{io, Error, Result};

mod layers;
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

/// `[data]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// `"fashion-mnist"`, `"digits"`, or a path to a `.csv` or `.npy` file or an IDX directory.
    #[serde(default = "default_dataset")]
    pub dataset: String,
    /// For `fashion-mnist`: the directory of its IDX files (default: `$DEEPTRAIN_FASHION_MNIST`,
    /// else /usr/share/datasets/fashion-mnist).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// For CSV: the name of the label column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_column: Option<String>,
    /// For NPY: the labels file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<PathBuf>,
    /// For sources without a test set: the fraction of rows held out as test (the embedded
    /// digits hold out 20% when this is 0).
    #[serde(default)]
    pub test_split: f64,
    /// Fraction of the training data held out for validation.
    #[serde(default)]
    pub validation_split: f64,
    /// Shuffle (seeded by `split_seed`, stratified by class) before the test and validation
    /// splits. Default: yes for sources without a canonical test set (CSV, NPY, the digits),
    /// no for those with one (Fashion-MNIST, IDX directories with `t10k-*` files), whose
    /// training part is split in the published order. `false` takes the last rows, as Keras'
    /// `validation_split` does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shuffle: Option<bool>,
    /// Seed of that shuffle; fixed by default, so that runs with different `seed`s are
    /// evaluated on the same rows.
    #[serde(default = "default_split_seed")]
    pub split_seed: u64,
    /// Feature scaling, fitted on the training part only.
    #[serde(default)]
    pub scale: Scale,
    /// Keep only these classes (training and test), relabeled 0, 1, ... in sorted order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<u32>>,
    /// Drop these classes (training and test); the rest are relabeled 0, 1, ... in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop_classes: Option<Vec<u32>>,
    /// Use only the first N training samples (after class selection), e.g. few-label runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_train_samples: Option<usize>,
    /// What the model learns to output: the `labels` (default), or its `inputs` (an
    /// autoencoder; the targets are the scaled, flattened inputs).
    #[serde(default, skip_serializing_if = "is_labels")]
    pub targets: TargetKind,
    /// For CSV: the feature columns, in order (default: all but the label and weights).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<Vec<String>>,
    /// For CSV: feature columns holding categories, one-hot encoded with a vocabulary fitted
    /// on the training part (an unseen category encodes as an all-zero row).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categorical: Vec<String>,
    /// For CSV: fill missing values with the training part's `mean` or `median` (default:
    /// a missing value is an error naming the line and column).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impute: Option<Impute>,
    /// For CSV: a column of per-sample weights (Keras' `sample_weight`), used in training
    /// and in the weighted validation and test loss.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_weight_column: Option<String>,
    /// The model inputs, when there are several: `[[data.inputs]] name = "wide"` with
    /// `columns = ["bill_length_mm", "island"]` (table columns by name, a categorical one
    /// with all its one-hot features) or feature indices; without `columns`, the whole sample.
    /// Default: one input, `input`, the whole sample.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<InputSpec>,
    /// For NPY under MPI: each rank reads only its block of the training rows from the
    /// features file (and rank 0 the validation and test rows), instead of every rank loading
    /// the whole set (see [`crate::data::prepare_shard`]). One process loads the whole set (a
    /// dataset that is not NPY is an error there too).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shard: bool,
}

/// `[[data.inputs]]`: a named model input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// The name layers read it by.
    pub name: String,
    /// The features it selects (names of table columns, or indices); default all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<ColumnRef>>,
}

/// A feature column, by table column name or by index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ColumnRef {
    /// The feature at this index of the (flattened) sample.
    Index(usize),
    /// A table column: all the features it encodes to (one per category when one-hot).
    Name(String),
}

impl<'de> Deserialize<'de> for ColumnRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = ColumnRef;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(COLUMN_FORMS)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<ColumnRef, E> {
                usize::try_from(v)
                    .map(ColumnRef::Index)
                    .map_err(|_| E::custom(format!("{COLUMN_FORMS}; {v} is too large")))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<ColumnRef, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom(format!("{COLUMN_FORMS}; got the negative index {v}")))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<ColumnRef, E> {
                Ok(ColumnRef::Name(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

const COLUMN_FORMS: &str =
    "[[data.inputs]] `columns` takes table column names (\"island\") or feature indices from 0";

/// What a spec's model is trained to output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// The dataset's labels.
    #[default]
    Labels,
    /// The inputs themselves (autoencoders, unsupervised pretraining).
    Inputs,
}

fn is_labels(t: &TargetKind) -> bool {
    *t == TargetKind::Labels
}

/// `[compile]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompileSpec {
    /// The loss.
    #[serde(default = "default_loss")]
    pub loss: Loss,
    /// Metrics reported each epoch (unweighted, as Keras 3's `metrics`).
    #[serde(default = "default_metrics")]
    pub metrics: Vec<Metric>,
    /// Metrics computed with the sample and class weights, logged as `weighted_NAME`
    /// (Keras' `weighted_metrics`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weighted_metrics: Vec<Metric>,
}

/// `class_weight` under `[fit]`: Keras' dict of class weights, or scikit-learn's `"balanced"`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ClassWeight {
    /// `"balanced"`: w_c = n / (classes · n_c) over the training part (scikit-learn's
    /// `compute_class_weight("balanced")`; `classes` counts those present).
    Rule(ClassWeightRule),
    /// `{ name-or-index = weight, ... }`; classes left out weigh 1.
    Table(std::collections::BTreeMap<String, f64>),
}

/// The named class-weight rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassWeightRule {
    /// Inverse class frequency.
    Balanced,
}

const CLASS_WEIGHT_FORMS: &str =
    "[fit] `class_weight` is \"balanced\" or a table of weights { class = weight, ... }";

impl<'de> Deserialize<'de> for ClassWeight {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ClassWeight;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(CLASS_WEIGHT_FORMS)
            }
            fn visit_str<E: serde::de::Error>(
                self,
                v: &str,
            ) -> std::result::Result<ClassWeight, E> {
                match v {
                    "balanced" => Ok(ClassWeight::Rule(ClassWeightRule::Balanced)),
                    other => Err(E::custom(format!("{CLASS_WEIGHT_FORMS}, not \"{other}\""))),
                }
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> std::result::Result<ClassWeight, A::Error> {
                use serde::de::Error as _;
                Deserialize::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(ClassWeight::Table)
                    .map_err(|e: A::Error| A::Error::custom(format!("{CLASS_WEIGHT_FORMS}: {e}")))
            }
        }
        d.deserialize_any(V)
    }
}

impl ClassWeight {
    /// The weight of each class index 0..`classes`, from the training labels (one class index
    /// per row) and the class names, when the data has them.
    pub fn resolve(
        &self,
        labels: &crate::Tensor,
        class_names: Option<&[String]>,
        classes: usize,
    ) -> Result<Vec<f32>> {
        if labels.row_len() != 1 {
            return Err(Error::Config(
                "[fit] class_weight needs one class label per sample".into(),
            ));
        }
        let classes = classes.max(2);
        let mut weights = vec![1.0f32; classes];
        match self {
            ClassWeight::Rule(ClassWeightRule::Balanced) => {
                let mut counts = vec![0usize; classes];
                for &v in labels.data() {
                    if let Some(c) = counts.get_mut(v.max(0.0) as usize) {
                        *c += 1;
                    }
                }
                let present = counts.iter().filter(|&&c| c > 0).count().max(1);
                let n = labels.rows() as f64;
                for (w, &c) in weights.iter_mut().zip(&counts) {
                    if c > 0 {
                        *w = (n / (present as f64 * c as f64)) as f32;
                    }
                }
            }
            ClassWeight::Table(table) => {
                for (key, &w) in table {
                    let index = class_names
                        .and_then(|names| names.iter().position(|n| n == key))
                        .or_else(|| key.parse::<usize>().ok())
                        .filter(|&i| i < classes)
                        .ok_or_else(|| {
                            Error::Config(format!(
                                "[fit] class_weight: `{key}` is not a class ({})",
                                class_names.map_or_else(
                                    || format!("indices 0..{}", classes - 1),
                                    |n| n.join(", ")
                                )
                            ))
                        })?;
                    if !(w.is_finite() && w >= 0.0) {
                        return Err(Error::Config(format!(
                            "[fit] class_weight of `{key}` must be a finite number >= 0, got {w}"
                        )));
                    }
                    weights[index] = w as f32;
                }
            }
        }
        Ok(weights)
    }
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
fn default_split_seed() -> u64 {
    data::DEFAULT_SPLIT_SEED
}
fn default_dataset() -> String {
    "digits".into()
}
fn default_loss() -> Loss {
    Loss::SparseCategoricalCrossentropy
}
fn default_metrics() -> Vec<Metric> {
    vec![Metric::Accuracy]
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

impl Default for DataSpec {
    fn default() -> Self {
        DataSpec {
            dataset: default_dataset(),
            path: None,
            label_column: None,
            labels: None,
            test_split: 0.0,
            validation_split: 0.0,
            shuffle: None,
            split_seed: default_split_seed(),
            scale: Scale::Unit,
            classes: None,
            drop_classes: None,
            max_train_samples: None,
            targets: TargetKind::Labels,
            features: None,
            categorical: Vec::new(),
            impute: None,
            sample_weight_column: None,
            inputs: Vec::new(),
            shard: false,
        }
    }
}

impl Default for CompileSpec {
    fn default() -> Self {
        CompileSpec {
            loss: default_loss(),
            metrics: default_metrics(),
            weighted_metrics: Vec::new(),
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

impl Spec {
    /// The keys in which this spec differs from the checkpoint whose model file is `file` and
    /// whose recorded data is `data` (`optimizer.learning_rate`, `layers #2.units`,
    /// `data.dataset`, ...): resuming is safe only when none does. `[fit]` and `[[callbacks]]`
    /// are not recorded and may change.
    pub fn resume_conflicts(
        &self,
        file: &ModelFile,
        data: Option<&DataSpec>,
    ) -> Result<Vec<String>> {
        let mut out = Vec::new();
        if self.seed != file.seed {
            out.push("seed".to_string());
        }
        diff(
            "compile.loss",
            &json(&self.compile.loss),
            &json(&file.loss),
            &mut out,
        );
        diff(
            "compile.metrics",
            &json(&self.compile.metrics),
            &json(&file.metrics),
            &mut out,
        );
        // The saved optimizer spec is normalized (defaults written out) and, under a schedule
        // or an unfreezing rate, carries the rate of the moment.
        let built = self.optimizer.build()?;
        let ours = built.spec();
        let (mut a, mut b) = (json(&ours), json(&file.optimizer));
        let rate_moves = self.schedule.is_some()
            || self
                .transfer
                .as_ref()
                .is_some_and(|t| t.unfreeze_learning_rate.is_some());
        // 1cycle also moves the momentum (SGD's, RMSprop's) or Adam's β₁.
        let momentum_moves = matches!(
            &self.schedule,
            Some(crate::schedules::ScheduleSpec::OneCycle(c)) if c.cycle_momentum
        );
        for v in [&mut a, &mut b] {
            if let Some(m) = v.as_object_mut() {
                if rate_moves {
                    m.remove("learning_rate");
                }
                if momentum_moves {
                    m.remove("momentum");
                    m.remove("beta_1");
                }
            }
        }
        diff("optimizer", &a, &b, &mut out);
        // The saved schedule is normalized too (its starting rate written out).
        let schedule = match &self.schedule {
            Some(spec) => Some(
                crate::schedules::Scheduler::new(spec.clone(), built.learning_rate() as f64)?
                    .spec()
                    .clone(),
            ),
            None => None,
        };
        diff(
            "schedule",
            &json(&schedule),
            &json(&file.schedule),
            &mut out,
        );
        if let Some(recorded) = data {
            let mut recorded = recorded.clone();
            recorded.resolve_paths(Path::new("."));
            let mut current = self.data.clone();
            current.resolve_paths(Path::new("."));
            // Which rank reads which rows does not change the data.
            current.shard = recorded.shard;
            diff("data", &json(&current), &json(&recorded), &mut out);
        }
        match &self.transfer {
            None => {
                let built = crate::Sequential::from_graph(
                    &file.input_shape,
                    &file.model_inputs(),
                    &self.layers,
                    &self.outputs,
                    self.seed,
                )
                .map(|m| m.layer_specs());
                let table = |l: &LayerSpec| crate::layers::layer_spec_to_table(l).ok();
                match built {
                    Ok(layers) if layers.len() == file.layers.len() => {
                        for (i, (a, b)) in layers.iter().zip(&file.layers).enumerate() {
                            diff(
                                &format!("layers #{}", i + 1),
                                &json(&table(a)),
                                &json(&table(b)),
                                &mut out,
                            );
                        }
                        diff(
                            "outputs",
                            &json(&self.outputs),
                            &json(&file.outputs),
                            &mut out,
                        );
                    }
                    Ok(layers) => out.push(format!(
                        "layers ({} in the spec, {} in the checkpoint)",
                        layers.len(),
                        file.layers.len()
                    )),
                    Err(_) => out.push("layers".to_string()),
                }
            }
            Some(t) => {
                if t.layers + self.layers.len() != file.layers.len() {
                    out.push("layers".to_string());
                }
            }
        }
        Ok(out)
    }
}

/// `v` as JSON, for [`diff`].
fn json<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// Pushes onto `out` the dotted keys under `prefix` whose values differ between `a` and `b`.
fn diff(prefix: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let (va, vb) = (
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                );
                diff(&format!("{prefix}.{k}"), va, vb, out);
            }
        }
        _ if a != b => out.push(prefix.to_string()),
        _ => {}
    }
}

impl DataSpec {
    /// Whether any of the table options (features, categorical, impute, weights) is set.
    fn has_table_options(&self) -> bool {
        self.features.is_some()
            || !self.categorical.is_empty()
            || self.impute.is_some()
            || self.sample_weight_column.is_some()
    }

    /// The labels file of an NPY dataset, or the error asking for it.
    pub fn npy_labels(&self) -> Result<&Path> {
        self.labels.as_deref().ok_or_else(|| {
            Error::Config(format!(
                "[data] dataset `{}` is NPY: name its labels file with `labels = \"...\"`",
                self.dataset
            ))
        })
    }

    /// Applies `classes`, `drop_classes` and `max_train_samples`.
    fn select(&self, splits: &mut Splits) -> Result<()> {
        let keep: Option<Vec<u32>> = match (&self.classes, &self.drop_classes) {
            (Some(_), Some(_)) => {
                return Err(Error::Config(
                    "[data] give `classes` or `drop_classes`, not both".into(),
                ))
            }
            (Some(k), None) => Some(k.clone()),
            (None, Some(drop)) => {
                let max = splits
                    .train
                    .labels
                    .data()
                    .iter()
                    .fold(0.0f32, |m, &v| m.max(v)) as u32;
                Some((0..=max).filter(|c| !drop.contains(c)).collect())
            }
            (None, None) => None,
        };
        if let Some(mut keep) = keep {
            splits.train.check_class_labels()?;
            keep.sort_unstable();
            keep.dedup();
            splits.train = splits.train.select_classes(&keep)?;
            if let Some(test) = &splits.test {
                splits.test = Some(test.select_classes(&keep)?);
            }
            if let Some(names) = &splits.class_names {
                splits.class_names = Some(
                    keep.iter()
                        .map(|&c| {
                            names
                                .get(c as usize)
                                .cloned()
                                .unwrap_or_else(|| c.to_string())
                        })
                        .collect(),
                );
            }
            if splits.train.is_empty() {
                return Err(Error::Config(format!(
                    "[data] no training sample has one of the classes {keep:?}"
                )));
            }
        }
        if let Some(n) = self.max_train_samples {
            if n == 0 {
                return Err(Error::Config(
                    "[data] max_train_samples must be at least 1".into(),
                ));
            }
            splits.train = splits.train.slice(0..n.min(splits.train.len()));
        }
        Ok(())
    }

    /// Resolves relative file paths against the working directory, else `base` (the spec's
    /// directory) when the file is there, and makes them absolute.
    pub fn resolve_paths(&mut self, base: &Path) {
        // Absolute, so that what a model records does not depend on where `train` ran.
        let resolve = |p: &Path| -> PathBuf {
            let candidate = base.join(p);
            let p = if p.is_relative() && !p.exists() && candidate.exists() {
                candidate
            } else {
                p.to_path_buf()
            };
            std::path::absolute(&p).unwrap_or(p)
        };
        if !matches!(
            self.dataset.as_str(),
            "digits" | "fashion-mnist" | "fashion_mnist"
        ) {
            self.dataset = resolve(Path::new(&self.dataset))
                .to_string_lossy()
                .into_owned();
        }
        self.path = self.path.as_deref().map(resolve);
        self.labels = self.labels.as_deref().map(resolve);
    }

    /// True when the source comes with its own test set (Fashion-MNIST, an IDX directory with
    /// `t10k-*` labels), published in an order that needs no shuffle.
    pub fn has_canonical_test_set(&self) -> bool {
        match self.dataset.as_str() {
            "fashion-mnist" | "fashion_mnist" => true,
            "digits" => false,
            other => {
                let dir = Path::new(other);
                dir.is_dir()
                    && ["t10k-labels-idx1-ubyte", "t10k-labels-idx1-ubyte.gz"]
                        .iter()
                        .any(|f| dir.join(f).is_file())
            }
        }
    }

    /// How the test and validation rows are picked (see `shuffle`).
    pub fn split_order(&self) -> SplitOrder {
        if self.shuffle.unwrap_or(!self.has_canonical_test_set()) {
            SplitOrder::Shuffled {
                seed: self.split_seed,
            }
        } else {
            SplitOrder::Tail
        }
    }

    /// Holds out `validation_split` of `train`: (training part, validation part), the latter
    /// `None` when the split is 0. The shuffle's seed differs from the test split's.
    pub fn split_validation(&self, train: Dataset) -> (Dataset, Option<Dataset>) {
        if self.validation_split <= 0.0 {
            return (train, None);
        }
        let order = match self.split_order() {
            SplitOrder::Shuffled { seed } => SplitOrder::Shuffled {
                seed: seed.wrapping_add(1),
            },
            tail => tail,
        };
        let (t, v) = train.split_off(self.validation_split, order);
        (t, Some(v))
    }

    /// Loads the data the spec names, with its test part (the source's own, or `test_split` of
    /// the rows, picked as `split_order` says).
    pub fn load(&self) -> Result<Splits> {
        let (splits, test_split) = self.load_source()?;
        self.split_test_and_select(splits, test_split)
    }

    /// The source's rows as read, and the test fraction to split off them.
    fn load_source(&self) -> Result<(Splits, f64)> {
        let mut test_split = self.test_split;
        let splits = match self.dataset.as_str() {
            "digits" => {
                if test_split == 0.0 {
                    test_split = data::DIGITS_TEST_FRACTION;
                }
                Splits {
                    train: data::digits_all()?,
                    test: None,
                    class_names: Some((0..10).map(|d| d.to_string()).collect()),
                    table: None,
                }
            }
            "fashion-mnist" | "fashion_mnist" => {
                data::fashion_mnist(&data::fashion_mnist_dir(self.path.as_deref()))?
            }
            other => {
                let path = Path::new(other);
                let mut table = None;
                let mut class_names = None;
                if path.is_dir() {
                    data::load_idx_dir(path)?
                } else {
                    let train = match path.extension().and_then(|e| e.to_str()) {
                        Some("npy") => {
                            data::load_npy(path, self.npy_labels()?)?
                        }
                        Some("csv") | Some("gz") => {
                            let label = self.label_column.as_deref().ok_or_else(|| {
                                Error::Config(format!("[data] dataset `{other}` is CSV: name its label column with `label_column = \"...\"`"))
                            })?;
                            let bytes = data::read_csv_bytes(path)?;
                            if tabular::needs_table(&bytes, label, self.has_table_options()) {
                                let options = tabular::TableOptions {
                                    label,
                                    features: self.features.as_deref(),
                                    categorical: &self.categorical,
                                    impute: self.impute,
                                    sample_weight_column: self.sample_weight_column.as_deref(),
                                };
                                let (data, layout, names) =
                                    tabular::read_table(&bytes, path, &options)?;
                                table = Some(layout);
                                class_names = names;
                                data
                            } else {
                                data::parse_csv(&bytes, path, data::LabelColumn::Named(label))?
                            }
                        }
                        _ => {
                            return Err(Error::Config(format!(
                                "[data] dataset `{other}` is not `digits`, `fashion-mnist`, a .csv or .npy file, or an IDX directory"
                            )))
                        }
                    };
                    Splits {
                        train,
                        test: None,
                        class_names,
                        table,
                    }
                }
            }
        };
        Ok((splits, test_split))
    }

    /// Splits `test_split` of the training rows off as the test part (unless the source has
    /// one), then applies `classes`, `drop_classes` and `max_train_samples`.
    pub(crate) fn split_test_and_select(
        &self,
        mut splits: Splits,
        test_split: f64,
    ) -> Result<Splits> {
        if test_split > 0.0 {
            let (train, test) = splits.train.split_off(test_split, self.split_order());
            splits.train = train;
            splits.test = Some(test);
        }
        self.select(&mut splits)?;
        // An empty test part is absent (too few rows for `test_split`, or no kept class).
        splits.test = splits.test.take().filter(|t| !t.is_empty());
        Ok(splits)
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
