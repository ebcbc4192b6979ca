//! The one table of layer types: a `type` name (and Keras' class name as an alias) to the
//! function that reads a layer table into its settings. Built-in and user types sit in the same
//! table and get the same treatment (size guard, `"auto"`, folding); a factory may be a closure,
//! so a layer defined in another language can register itself at run time.
//!
//! A new built-in layer is one file (its settings implement [`LayerConfig`]) plus one line in
//! `builtins`.

use std::sync::{Arc, OnceLock, RwLock};

use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::{
    ActivationSpec, BatchNormSpec, Conv2dSpec, DenseSpec, DropoutKind, DropoutSpec, EluSpec,
    FlattenSpec, GaussianNoiseSpec, GlobalPoolingSpec, LayerConfig, LayerSpec, LeakyReluSpec,
    MergeOp, MergeSpec, PoolKind, PoolingSpec, PreluSpec, ReshapeSpec, RreluSpec,
    SpatialDropoutSpec,
};
use crate::{Error, Result};

/// Reads a layer's own keys (its table without `type`, `name` and `inputs`) into its settings;
/// an error names the key and the problem.
pub type ConfigFactory = Arc<dyn Fn(toml::Table) -> Result<Box<dyn LayerConfig>> + Send + Sync>;

/// One line of the table.
struct LayerType {
    name: String,
    alias: Option<String>,
    read: ConfigFactory,
    builtin: bool,
}

/// A built-in line: `type` name, Keras' class name, and how its settings are read.
fn line(
    name: &str,
    alias: &str,
    read: impl Fn(toml::Table) -> Result<Box<dyn LayerConfig>> + Send + Sync + 'static,
) -> LayerType {
    LayerType {
        name: name.to_string(),
        alias: (!alias.is_empty()).then(|| alias.to_string()),
        read: Arc::new(read),
        builtin: true,
    }
}

/// Reads settings of type `T` from a table through serde (unknown keys refused by each
/// struct's `deny_unknown_fields`).
pub fn read<T: LayerConfig + DeserializeOwned>(table: toml::Table) -> Result<Box<dyn LayerConfig>> {
    read_as::<T>(table).map(|c| Box::new(c) as Box<dyn LayerConfig>)
}

/// [`read`], keeping the type.
fn read_as<T: DeserializeOwned>(table: toml::Table) -> Result<T> {
    T::deserialize(toml::Value::Table(table)).map_err(|e| Error::Config(key_first(&e.to_string())))
}

/// toml's "problem\nin `key`" as "`key`: problem".
fn key_first(message: &str) -> String {
    match message.trim_end().rsplit_once("\nin `") {
        Some((problem, key)) => format!("`{}: {}", key, problem.trim()),
        None => message.trim().to_string(),
    }
}

/// Every built-in layer type, one line each (kept one line each, not laid out by rustfmt).
#[rustfmt::skip]
fn builtins() -> Vec<LayerType> {
    use DropoutKind::{Alpha, Standard};
    use MergeOp::{Add, Average, Concatenate, Multiply, Subtract};
    use PoolKind::{Average as Mean, Max};
    let merge = |op| move |t| Ok(Box::new(read_as::<MergeSpec>(t)?.op(op)) as Box<dyn LayerConfig>);
    let pool = |k| move |t| Ok(Box::new(read_as::<PoolingSpec>(t)?.kind(k)) as Box<dyn LayerConfig>);
    let global = |k| move |t| Ok(Box::new(read_as::<GlobalPoolingSpec>(t)?.kind(k)) as Box<dyn LayerConfig>);
    let pool1d = |k| move |t| Ok(Box::new(read_as::<super::Pooling1dSpec>(t)?.kind(k)) as Box<dyn LayerConfig>);
    let global1d = |k| move |t| Ok(Box::new(read_as::<super::GlobalPooling1dSpec>(t)?.kind(k)) as Box<dyn LayerConfig>);
    let drop = |k| move |t| Ok(Box::new(read_as::<DropoutSpec>(t)?.kind(k)) as Box<dyn LayerConfig>);
    let rnn = |c| move |t| Ok(Box::new(read_as::<super::RecurrentSpec>(t)?.cell(c)) as Box<dyn LayerConfig>);
    vec![
        line("dense", "Dense", read::<DenseSpec>),
        line("conv2d", "Conv2D", read::<Conv2dSpec>),
        line("flatten", "Flatten", read::<FlattenSpec>),
        line("activation", "Activation", read::<ActivationSpec>),
        line("leaky_relu", "LeakyReLU", read::<LeakyReluSpec>),
        line("elu", "ELU", read::<EluSpec>),
        line("prelu", "PReLU", read::<PreluSpec>),
        line("rrelu", "", read::<RreluSpec>),
        line("batch_normalization", "BatchNormalization", read::<BatchNormSpec>),
        line("layer_normalization", "LayerNormalization", read::<super::LayerNormSpec>),
        line("embedding", "Embedding", read::<super::EmbeddingSpec>),
        line("simple_rnn", "SimpleRNN", rnn(super::CellKind::SimpleRnn)),
        line("lstm", "LSTM", rnn(super::CellKind::Lstm)),
        line("gru", "GRU", rnn(super::CellKind::Gru)),
        line("bidirectional", "Bidirectional", read::<super::BidirectionalSpec>),
        line("dropout", "Dropout", drop(Standard)),
        line("alpha_dropout", "AlphaDropout", drop(Alpha)),
        line("gaussian_noise", "GaussianNoise", read::<GaussianNoiseSpec>),
        line("add", "Add", merge(Add)),
        line("subtract", "Subtract", merge(Subtract)),
        line("multiply", "Multiply", merge(Multiply)),
        line("average", "Average", merge(Average)),
        line("concatenate", "Concatenate", merge(Concatenate)),
        line("max_pooling2d", "MaxPooling2D", pool(Max)),
        line("average_pooling2d", "AveragePooling2D", pool(Mean)),
        line("global_average_pooling2d", "GlobalAveragePooling2D", global(Mean)),
        line("global_max_pooling2d", "GlobalMaxPooling2D", global(Max)),
        line("reshape", "Reshape", read::<ReshapeSpec>),
        line("spatial_dropout2d", "SpatialDropout2D", read::<SpatialDropoutSpec>),
        line("conv1d", "Conv1D", read::<super::Conv1dSpec>),
        line("max_pooling1d", "MaxPooling1D", pool1d(Max)),
        line("average_pooling1d", "AveragePooling1D", pool1d(Mean)),
        line("global_average_pooling1d", "GlobalAveragePooling1D", global1d(Mean)),
        line("global_max_pooling1d", "GlobalMaxPooling1D", global1d(Max)),
    ]
}

fn table() -> &'static RwLock<Vec<LayerType>> {
    static TABLE: OnceLock<RwLock<Vec<LayerType>>> = OnceLock::new();
    TABLE.get_or_init(|| RwLock::new(builtins()))
}

/// Registers a layer type under `type_name` (snake_case, as the built-in ones) with the
/// function that reads its settings, so that specs, model files and checkpoints can name it.
/// Its settings implement [`LayerConfig`], so it gets the size guard, `"auto"` and folding as
/// the built-in types do. Registering the same name again replaces the factory; a built-in
/// type's name (or Keras alias) and `block` are refused.
///
/// [`read`] reads any settings struct that derives `Deserialize`:
/// `register_layer_type("my_layer", deeptrain::layers::registry::read::<MySpec>)`.
pub fn register_layer_type(
    type_name: &str,
    factory: impl Fn(toml::Table) -> Result<Box<dyn LayerConfig>> + Send + Sync + 'static,
) -> Result<()> {
    let mut table = table()
        .write()
        .map_err(|_| Error::Config("the layer registry is poisoned".into()))?;
    let taken = table
        .iter()
        .any(|t| t.builtin && (t.name == type_name || t.alias.as_deref() == Some(type_name)));
    if type_name.is_empty() || type_name == "block" || taken {
        return Err(Error::Config(format!(
            "cannot register a layer type named `{type_name}`: the name is taken by a built-in layer"
        )));
    }
    table.retain(|t| t.name != type_name);
    table.push(LayerType {
        name: type_name.to_string(),
        alias: None,
        read: Arc::new(factory),
        builtin: false,
    });
    Ok(())
}

/// Whether `type_name` is a registered user layer type.
pub fn is_registered(type_name: &str) -> bool {
    table()
        .read()
        .map(|t| t.iter().any(|l| !l.builtin && l.name == type_name))
        .unwrap_or(false)
}

/// Whether `type_name` is in the table (built-in or registered).
pub fn is_known(type_name: &str) -> bool {
    table()
        .read()
        .map(|t| t.iter().any(|l| l.name == type_name))
        .unwrap_or(false)
}

/// A layer table as a [`LayerSpec`]: `type` looked up in the table (name or Keras alias),
/// `name` and `inputs` taken out, the rest read by the type's factory.
pub(super) fn parse(mut table: toml::Table) -> Result<LayerSpec> {
    let type_name = match table.remove("type") {
        Some(toml::Value::String(s)) => s,
        Some(other) => {
            return Err(Error::Config(format!(
                "`type`: a layer type is a string, got {other}"
            )))
        }
        None => return Err(Error::Config("missing field `type`".into())),
    };
    let read = {
        let types = table_read()?;
        let found = types
            .iter()
            .find(|t| t.name == type_name || t.alias.as_deref() == Some(type_name.as_str()));
        match found {
            Some(t) => t.read.clone(),
            None => {
                let names: Vec<String> = types.iter().map(|t| format!("`{}`", t.name)).collect();
                return Err(Error::Config(format!(
                    "unknown variant `{type_name}`, expected one of {} (or a layer type registered with deeptrain::layers::register_layer)",
                    names.join(", ")
                )));
            }
        }
    };
    let name = match table.remove("name") {
        Some(toml::Value::String(s)) => Some(s),
        Some(other) => {
            return Err(Error::Config(format!(
                "`name` must be a string, got {other}"
            )))
        }
        None => None,
    };
    let inputs = match table.remove("inputs") {
        Some(v) => Some(
            Vec::<String>::deserialize(v)
                .map_err(|e| Error::Config(format!("`inputs`: {}", key_first(&e.to_string()))))?,
        ),
        None => None,
    };
    Ok(LayerSpec {
        name,
        inputs,
        config: read(table)?,
    })
}

fn table_read() -> Result<std::sync::RwLockReadGuard<'static, Vec<LayerType>>> {
    table()
        .read()
        .map_err(|_| Error::Config("the layer registry is poisoned".into()))
}
