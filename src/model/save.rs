//! Saving and loading a trained model: `model.toml` (the architecture in the spec's own format,
//! with a format version), `weights.safetensors` (every parameter and non-trainable state,
//! named `layer.param`, readable by PyTorch and Hugging Face tools) and
//! `optimizer.safetensors`. The model is saved on its own; what a run knows beside it (the data,
//! the scaler, the class names) is [`super::RunMetadata`], written next to it.
//!
//! Format 1 (older builds) kept that metadata inside `model.toml` and the scaler's statistics in
//! the weights file; such directories still load.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use serde::{Deserialize, Serialize};

use super::{Model, ModelInput, ModelOutput};
use crate::data::{Scale, TableEncoding};
use crate::layers::LayerSpec;
use crate::losses::Loss;
use crate::metrics::Metric;
use crate::optimizers::{OptimizerSpec, OptimizerState};
use crate::schedules::ScheduleSpec;
use crate::spec::DataSpec;
use crate::tensor::Tensor;
use crate::{io, Error, Result};

/// The version of the model directory format this build writes (it also reads format 1, whose
/// `model.toml` held the run's metadata).
pub const MODEL_FORMAT_VERSION: u32 = 2;
pub(super) const ARCHITECTURE_FILE: &str = "model.toml";
pub(super) const WEIGHTS_FILE: &str = "weights.safetensors";
pub(super) const OPTIMIZER_FILE: &str = "optimizer.safetensors";
const SCALAR_PREFIX: &str = "scalar.";
const ITERATIONS: &str = "iterations";
/// The scaler's statistics: in `weights.safetensors` in format 1, in the metadata's own file now.
pub(super) const SCALER_OFFSET: &str = "preprocessing.offset";
pub(super) const SCALER_SCALE: &str = "preprocessing.scale";

/// The contents of `model.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    /// [`MODEL_FORMAT_VERSION`] at writing time.
    pub format_version: u32,
    /// Per-sample input shape.
    pub input_shape: Vec<usize>,
    /// Seed the weights were initialized from.
    pub seed: u64,
    /// Loss the model was compiled with (`None`: saved uncompiled, as Keras saves a model
    /// without a compile config; it loads uncompiled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<Loss>,
    /// Metrics the model was compiled with.
    #[serde(default)]
    pub metrics: Vec<Metric>,
    /// Optimizer settings (`None` when saved uncompiled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimizer: Option<OptimizerSpec>,
    /// Learning-rate schedule, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleSpec>,
    /// The model inputs, when they are not the one whole sample (`input`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<ModelInput>,
    /// The model outputs and their loss weights, when not the last layer alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<ModelOutput>,
    /// The layers in execution order, each naming its `inputs` in a graph model (custom
    /// layer types through their registered names).
    #[serde(with = "crate::layers::serde_layers")]
    pub layers: Vec<LayerSpec>,
}

/// The run's metadata as format 1 kept it in `model.toml` (read only, for older directories).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LegacyMetadata {
    /// Accepted but not needed: the scaler's statistics say it all.
    #[allow(dead_code)]
    pub scale: Option<Scale>,
    pub class_names: Option<Vec<String>>,
    pub table: Option<TableEncoding>,
    pub data: Option<DataSpec>,
}

const LEGACY_KEYS: [&str; 4] = ["scale", "class_names", "table", "data"];

impl ModelFile {
    /// Reads `model.toml` in `dir` (format 1 or 2), with the metadata a format-1 file holds.
    pub(super) fn read(dir: &Path) -> Result<(ModelFile, Option<LegacyMetadata>)> {
        let path = dir.join(ARCHITECTURE_FILE);
        let text = io::read_to_string(&path)?;
        let bad = |e: &dyn std::fmt::Display| Error::format(&path, crate::one_line(&e.to_string()));
        let mut table: toml::Table = toml::from_str(&text).map_err(|e| bad(&e))?;
        let version = table.get("format_version").and_then(|v| v.as_integer());
        let legacy = if version == Some(1) {
            let mut legacy = toml::Table::new();
            for key in LEGACY_KEYS {
                if let Some(value) = table.remove(key) {
                    legacy.insert(key.to_string(), value);
                }
            }
            Some(LegacyMetadata::deserialize(legacy).map_err(|e| bad(&e))?)
        } else {
            None
        };
        let file = ModelFile::deserialize(table).map_err(|e| bad(&e))?;
        if !(1..=MODEL_FORMAT_VERSION).contains(&file.format_version) {
            return Err(Error::format(
                &path,
                format!(
                    "format_version {} is not supported (this build reads 1 to {MODEL_FORMAT_VERSION})",
                    file.format_version
                ),
            ));
        }
        Ok((file, legacy))
    }

    /// The model inputs (the default one when the file names none).
    pub fn model_inputs(&self) -> Vec<ModelInput> {
        if self.inputs.is_empty() {
            vec![ModelInput::whole(super::graph::DEFAULT_INPUT)]
        } else {
            self.inputs.clone()
        }
    }

    /// Builds the model the file describes (weights freshly initialized from its seed).
    pub fn build_model(&self) -> Result<Model> {
        Model::from_graph(
            &self.input_shape,
            &self.model_inputs(),
            &self.layers,
            &self.outputs,
            self.seed,
        )
    }
}

impl Model {
    /// Saves the model (architecture, weights, and when compiled its loss, metrics and
    /// optimizer state) into directory `dir`. An uncompiled model saves no compile settings
    /// and loads uncompiled, as Keras' `model.save` of a model never compiled.
    /// The run's data, scaler and class names go beside it with [`super::RunMetadata::save`].
    ///
    /// ```
    /// # fn main() -> deeptrain::Result<()> {
    /// # use deeptrain::{data, Activation, DenseSpec, FitOptions, LayerSpec, Loss, Metric, Sequential, Sgd};
    /// # let train = data::digits()?.train;
    /// # let mut model = Sequential::new(&[8, 8])
    /// #     .add(LayerSpec::flatten())
    /// #     .add(DenseSpec::new(10).activation(Activation::Softmax))
    /// #     .build(1)?;
    /// # model.compile(Box::new(Sgd::new(0.01)?), Loss::SparseCategoricalCrossentropy, &[Metric::Accuracy])?;
    /// let dir = std::env::temp_dir().join(format!("deeptrain-doc-save-{}", std::process::id()));
    /// model.save(&dir)?;
    /// let (mut loaded, _file) = Sequential::load(&dir)?;
    /// assert_eq!(loaded.predict(&train.x, 256)?.data(), model.predict(&train.x, 256)?.data());
    /// # std::fs::remove_dir_all(&dir).ok();
    /// # Ok(())
    /// # }
    /// ```
    pub fn save(&self, dir: &Path) -> Result<()> {
        let (loss, optimizer) = match (self.loss(), self.optimizer()) {
            (Some(l), Some(o)) => (Some(l), Some(o.spec())),
            _ => (None, None),
        };
        if let Some(name) = self.first_non_finite_parameter() {
            return Err(Error::Diverged(format!(
                "`{name}` holds non-finite values: not saving the model to {}",
                dir.display()
            )));
        }
        let file = ModelFile {
            format_version: MODEL_FORMAT_VERSION,
            input_shape: self.input_shape.clone(),
            seed: self.seed,
            loss,
            metrics: if loss.is_some() {
                self.metrics()
            } else {
                Vec::new()
            },
            optimizer,
            schedule: self.schedule().map(|s| s.spec().clone()),
            inputs: if self.model_inputs == [ModelInput::whole(super::graph::DEFAULT_INPUT)] {
                Vec::new()
            } else {
                self.model_inputs.clone()
            },
            outputs: self.output_specs(),
            layers: self.layer_specs(),
        };
        for spec in &file.layers {
            if !crate::layers::registry::is_known(spec.type_name()) {
                return Err(Error::Config(format!(
                    "layer `{}` has type `{}`, which is not registered: register it with deeptrain::layers::register_layer so that the saved model can be loaded; not saving to {}",
                    spec.name().unwrap_or_default(),
                    spec.type_name(),
                    dir.display()
                )));
            }
        }
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let text = toml::to_string(&file)
            .map_err(|e| Error::format(&dir.join(ARCHITECTURE_FILE), e.to_string()))?;
        let mut tensors: Vec<(String, Vec<u8>, Vec<usize>)> = Vec::new();
        for layer in &self.layers {
            for p in layer.params() {
                tensors.push((
                    format!("{}.{}", layer.name(), p.name),
                    le_bytes(p.value.data()),
                    p.value.shape().to_vec(),
                ));
            }
            for s in layer.state() {
                tensors.push((
                    format!("{}.{}", layer.name(), s.name),
                    le_bytes(s.value.data()),
                    s.value.shape().to_vec(),
                ));
            }
        }
        write_f32_tensors(&dir.join(WEIGHTS_FILE), &tensors)?;
        if let Some(optimizer) = self.optimizer() {
            save_optimizer_state(&dir.join(OPTIMIZER_FILE), &optimizer.state())?;
        }
        io::write_atomic(&dir.join(ARCHITECTURE_FILE), text.as_bytes())
    }

    /// Loads a model saved by [`Model::save`] (or by an older build, format 1): the
    /// compiled model and its model file. Every tensor's name and shape is checked against the
    /// architecture. The run's scaler and class names are [`super::RunMetadata::load`]'s.
    pub fn load(dir: &Path) -> Result<(Model, ModelFile)> {
        let arch_path = dir.join(ARCHITECTURE_FILE);
        let (file, _) = ModelFile::read(dir)?;
        let mut model = file
            .build_model()
            .map_err(|e| Error::format(&arch_path, e.to_string()))?;
        match (&file.optimizer, file.loss) {
            (Some(optimizer), Some(loss)) => {
                let optimizer = optimizer
                    .build()
                    .map_err(|e| Error::format(&arch_path, e.detail()))?;
                model
                    .compile(optimizer, loss, &file.metrics)
                    .map_err(|e| Error::format(&arch_path, e.to_string()))?;
                model
                    .set_schedule(file.schedule.clone())
                    .map_err(|e| Error::format(&arch_path, e.to_string()))?;
            }
            (None, None) => {}
            _ => {
                return Err(Error::format(
                    &arch_path,
                    "a compiled model names both `loss` and `[optimizer]`; this file has one without the other",
                ))
            }
        }

        let weights_path = dir.join(WEIGHTS_FILE);
        let bytes = io::read(&weights_path)?;
        let st = parse_safetensors(&weights_path, &bytes)?;
        let read = |name: &str, expected: &[usize]| read_f32(&weights_path, &st, name, expected);
        // Format 1 kept the scaler's statistics here too.
        let mut expected_names = if file.format_version == 1 {
            vec![SCALER_OFFSET.to_string(), SCALER_SCALE.to_string()]
        } else {
            Vec::new()
        };
        for layer in model.layers.iter_mut() {
            let layer_name = layer.name().to_string();
            for p in layer.params_mut() {
                let name = format!("{layer_name}.{}", p.name);
                let values = read(&name, p.value.shape())?;
                p.value = Tensor::from_vec(values, p.value.shape());
                expected_names.push(name);
            }
            for s in layer.state_mut() {
                let name = format!("{layer_name}.{}", s.name);
                let values = read(&name, s.value.shape())?;
                s.value = Tensor::from_vec(values, s.value.shape());
                expected_names.push(name);
            }
        }
        if let Some(extra) = st
            .names()
            .into_iter()
            .find(|n| !expected_names.iter().any(|e| e == *n))
        {
            return Err(Error::format(
                &weights_path,
                format!(
                    "tensor `{extra}` does not belong to any layer of {}",
                    arch_path.display()
                ),
            ));
        }
        let optimizer_path = dir.join(OPTIMIZER_FILE);
        if optimizer_path.exists() {
            let state = load_optimizer_state(&optimizer_path)?;
            if let Some(optimizer) = model.optimizer_mut() {
                optimizer
                    .load_state(&state)
                    .map_err(|e| Error::format(&optimizer_path, e.detail()))?;
            }
        }
        Ok((model, file))
    }
}

/// Writes named F32 tensors `(name, little-endian bytes, shape)` as a safetensors file.
pub(super) fn write_f32_tensors(
    path: &Path,
    tensors: &[(String, Vec<u8>, Vec<usize>)],
) -> Result<()> {
    // safetensors indexes its header by name and panics on a name given twice (a user layer
    // with two weights of one name): refuse it here, naming the weight.
    let mut names = std::collections::HashSet::new();
    if let Some((name, ..)) = tensors.iter().find(|(name, ..)| !names.insert(name)) {
        return Err(Error::format(
            path,
            format!("two weights are named `{name}`: give each weight of a layer its own name"),
        ));
    }
    let views = tensors
        .iter()
        .map(|(name, bytes, shape)| {
            TensorView::new(Dtype::F32, shape.clone(), bytes).map(|v| (name.clone(), v))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::format(path, e.to_string()))?;
    let metadata = HashMap::from([("format".to_string(), "deeptrain".to_string())]);
    let bytes = safetensors::serialize(views, Some(metadata))
        .map_err(|e| Error::format(path, e.to_string()))?;
    io::write_atomic(path, &bytes)
}

/// Parses the safetensors file read from `path`.
pub(super) fn parse_safetensors<'a>(path: &Path, bytes: &'a [u8]) -> Result<SafeTensors<'a>> {
    SafeTensors::deserialize(bytes)
        .map_err(|e| Error::format(path, format!("not a valid safetensors file: {e}")))
}

/// Reads the finite F32 tensor `name` of `st` (read from `path`), checking its shape when
/// `expected` is not empty.
pub(super) fn read_f32(
    path: &Path,
    st: &SafeTensors,
    name: &str,
    expected: &[usize],
) -> Result<Vec<f32>> {
    let view = st
        .tensor(name)
        .map_err(|_| Error::format(path, format!("tensor `{name}` is missing")))?;
    if view.dtype() != Dtype::F32 {
        return Err(Error::format(
            path,
            format!("tensor `{name}` is {:?}, expected F32", view.dtype()),
        ));
    }
    if !expected.is_empty() && view.shape() != expected {
        return Err(Error::format(
            path,
            format!(
                "tensor `{name}` has shape {:?} but the architecture needs {expected:?}",
                view.shape()
            ),
        ));
    }
    let values: Vec<f32> = view
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    if let Some(v) = values.iter().find(|v| !v.is_finite()) {
        return Err(Error::format(
            path,
            format!("tensor `{name}` holds a non-finite value ({v})"),
        ));
    }
    Ok(values)
}

/// Writes an optimizer's state: buffers as F32 tensors named `"{slot}.{buffer}"`, scalars as
/// one-element F64 tensors named `"scalar.{name}"`, the step count in the metadata.
fn save_optimizer_state(path: &Path, state: &OptimizerState) -> Result<()> {
    let mut tensors: Vec<(String, Dtype, Vec<u8>, Vec<usize>)> = state
        .buffers
        .iter()
        .map(|(name, values)| {
            (
                name.clone(),
                Dtype::F32,
                le_bytes(values),
                vec![values.len()],
            )
        })
        .collect();
    for (name, value) in &state.scalars {
        tensors.push((
            format!("{SCALAR_PREFIX}{name}"),
            Dtype::F64,
            value.to_le_bytes().to_vec(),
            vec![1],
        ));
    }
    tensors.push((
        ITERATIONS.into(),
        Dtype::U64,
        state.iterations.to_le_bytes().to_vec(),
        vec![1],
    ));
    let views = tensors
        .iter()
        .map(|(name, dtype, bytes, shape)| {
            TensorView::new(*dtype, shape.clone(), bytes).map(|v| (name.clone(), v))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::format(path, e.to_string()))?;
    // One metadata key only: a map with several would serialize in a random order, and the
    // same state must give the same bytes.
    let metadata = HashMap::from([("format".to_string(), "deeptrain-optimizer".to_string())]);
    let bytes = safetensors::serialize(views, Some(metadata))
        .map_err(|e| Error::format(path, e.to_string()))?;
    io::write_atomic(path, &bytes)
}

/// Reads a state written by [`save_optimizer_state`].
fn load_optimizer_state(path: &Path) -> Result<OptimizerState> {
    let bytes = io::read(path)?;
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| Error::format(path, format!("not a valid safetensors file: {e}")))?;
    let iterations = st
        .tensor(ITERATIONS)
        .ok()
        .filter(|v| v.dtype() == Dtype::U64 && v.data().len() == 8)
        .map(|v| {
            let mut b = [0u8; 8];
            b.copy_from_slice(v.data());
            u64::from_le_bytes(b)
        })
        .ok_or_else(|| Error::format(path, "the step count (`iterations`) is missing"))?;
    let mut state = OptimizerState {
        iterations,
        ..Default::default()
    };
    for (name, view) in st.tensors() {
        if name == ITERATIONS {
            continue;
        }
        match (name.strip_prefix(SCALAR_PREFIX), view.dtype()) {
            (Some(scalar), Dtype::F64) if view.data().len() == 8 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(view.data());
                state
                    .scalars
                    .push((scalar.to_string(), f64::from_le_bytes(b)));
            }
            (None, Dtype::F32) => {
                let values: Vec<f32> = view
                    .data()
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                if values.iter().any(|v| !v.is_finite()) {
                    return Err(Error::format(
                        path,
                        format!("tensor `{name}` holds a non-finite value"),
                    ));
                }
                state.buffers.push((name.clone(), values));
            }
            _ => {
                return Err(Error::format(
                    path,
                    format!("tensor `{name}` is not optimizer state"),
                ))
            }
        }
    }
    // Slots in order, so that a reload exports the same state.
    state.buffers.sort_by_key(|b| slot_order(&b.0));
    Ok(state)
}

fn slot_order(name: &str) -> (usize, String) {
    let (slot, rest) = name.split_once('.').unwrap_or((name, ""));
    (slot.parse().unwrap_or(usize::MAX), rest.to_string())
}

pub(super) fn le_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_weights_of_one_name_are_refused_not_a_panic() {
        let dir = std::env::temp_dir().join(format!("deeptrain-save-dup-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("weights.safetensors");
        let one = || ("dense.kernel".to_string(), vec![0u8; 4], vec![1]);
        let err = write_f32_tensors(&path, &[one(), one()])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("two weights are named `dense.kernel`"),
            "{err}"
        );
        assert!(!path.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
