//! What a training run knows beside the model, saved next to it: the data the model was trained
//! on, the scaler fitted on its training part (a table's encoding included) and the class names.
//! `predict` and `evaluate` read it to prepare inputs and name outputs.
//!
//! Files, in the model directory: `run.toml` (format version, scale, class names, data spec,
//! table encoding) and `scaler.safetensors` (the scaler's offset and scale, F32). A model saved
//! by an older build (format 1) kept all this in `model.toml` and `weights.safetensors`; it is
//! read from there. A model saved on its own has none: its inputs are used as they come.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::save::{
    le_bytes, parse_safetensors, read_f32, write_f32_tensors, ModelFile, SCALER_OFFSET,
    SCALER_SCALE, WEIGHTS_FILE,
};
use crate::data::{Scale, Scaler, TableEncoding};
use crate::spec::DataSpec;
use crate::{io, Error, Result};

/// The version of `run.toml` this build writes and reads.
pub const RUN_METADATA_VERSION: u32 = 1;
const METADATA_FILE: &str = "run.toml";
const SCALER_FILE: &str = "scaler.safetensors";
/// The files the metadata is saved in.
pub(super) const FILES: [&str; 2] = [METADATA_FILE, SCALER_FILE];

/// A run's data, scaler and class names, saved beside its model.
#[derive(Clone, Debug, PartialEq)]
pub struct RunMetadata {
    /// The preprocessing fitted on the training part, applied to every input.
    pub scaler: Scaler,
    /// The data the model was trained on (the default for `deeptrain evaluate`).
    pub data: Option<DataSpec>,
    /// Class names, when the data had them.
    pub class_names: Option<Vec<String>>,
}

/// The contents of `run.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MetadataFile {
    format_version: u32,
    /// The kind of scaling (its statistics are in `scaler.safetensors`).
    scale: Scale,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    class_names: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    data: Option<DataSpec>,
    /// For tables: the columns' encoding fitted on the training part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    table: Option<TableEncoding>,
}

impl RunMetadata {
    /// No preprocessing, no data, no class names: what a model saved on its own implies.
    pub fn none() -> RunMetadata {
        RunMetadata {
            scaler: Scaler {
                offset: vec![0.0],
                scale: vec![1.0],
                table: None,
            },
            data: None,
            class_names: None,
        }
    }

    /// Writes `run.toml` and `scaler.safetensors` into the model directory `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let file = MetadataFile {
            format_version: RUN_METADATA_VERSION,
            scale: self.data.as_ref().map_or(Scale::None, |d| d.scale),
            class_names: self.class_names.clone(),
            data: self.data.clone(),
            table: self.scaler.table.clone(),
        };
        let path = dir.join(METADATA_FILE);
        let text = toml::to_string(&file).map_err(|e| Error::format(&path, e.to_string()))?;
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let tensors = [
            (SCALER_OFFSET, &self.scaler.offset),
            (SCALER_SCALE, &self.scaler.scale),
        ]
        .map(|(name, values)| (name.to_string(), le_bytes(values), vec![values.len()]));
        write_f32_tensors(&dir.join(SCALER_FILE), &tensors)?;
        io::write_atomic(&path, text.as_bytes())
    }

    /// Reads the metadata saved beside the model in `dir` (from `model.toml` and the weights
    /// for a format-1 model; [`RunMetadata::none`] when the model was saved on its own), and
    /// checks that the scaler fits the model's input shape.
    pub fn load(dir: &Path) -> Result<RunMetadata> {
        let (model, legacy) = ModelFile::read(dir)?;
        let (metadata, stats_path) = match legacy {
            Some(legacy) => {
                let path = dir.join(WEIGHTS_FILE);
                let scaler = read_scaler(&path, legacy.table)?;
                let metadata = RunMetadata {
                    scaler,
                    data: legacy.data,
                    class_names: legacy.class_names,
                };
                (metadata, path)
            }
            None if dir.join(METADATA_FILE).is_file() => {
                let path = dir.join(METADATA_FILE);
                let text = io::read_to_string(&path)?;
                let file: MetadataFile = toml::from_str(&text)
                    .map_err(|e| Error::format(&path, crate::one_line(&e.to_string())))?;
                if file.format_version != RUN_METADATA_VERSION {
                    return Err(Error::format(
                        &path,
                        format!(
                            "format_version {} is not supported (this build reads {RUN_METADATA_VERSION})",
                            file.format_version
                        ),
                    ));
                }
                let stats = dir.join(SCALER_FILE);
                let metadata = RunMetadata {
                    scaler: read_scaler(&stats, file.table)?,
                    data: file.data,
                    class_names: file.class_names,
                };
                (metadata, stats)
            }
            None => return Ok(RunMetadata::none()),
        };
        if !metadata.scaler.fits(model.input_shape.iter().product()) {
            return Err(Error::format(
                &stats_path,
                "the preprocessing statistics do not fit the input shape",
            ));
        }
        Ok(metadata)
    }
}

/// The scaler whose statistics are in the safetensors file at `path`.
fn read_scaler(path: &Path, table: Option<TableEncoding>) -> Result<Scaler> {
    let bytes = io::read(path)?;
    let st = parse_safetensors(path, &bytes)?;
    Ok(Scaler {
        offset: read_f32(path, &st, SCALER_OFFSET, &[])?,
        scale: read_f32(path, &st, SCALER_SCALE, &[])?,
        table,
    })
}
