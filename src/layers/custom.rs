//! Open layers: a layer type defined in user code, registered under a type name, then written in
//! specs (`{ type = "my_layer", ... }`), shown by `summary`, saved and loaded like a built-in one.
//!
//! The registry maps a type name to a factory that builds the (unbuilt) layer from its
//! [`CustomLayerSpec`]; the layer's [`Layer::spec`] returns that spec, so that saving writes it
//! back. As Keras' `register_keras_serializable` and `get_config`/`from_config`.
//!
//! ```
//! use deeptrain::layers::{register_layer, CustomLayerSpec, Layer, LayerSpec, Mode};
//! use deeptrain::{Result, Rng, Tensor};
//!
//! /// y = k·x, k fixed.
//! struct Scale { name: String, k: f32 }
//!
//! impl Layer for Scale {
//!     fn name(&self) -> &str { &self.name }
//!     fn set_name(&mut self, name: String) { self.name = name }
//!     fn class_name(&self) -> &'static str { "Scale" }
//!     fn build(&mut self, shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> { Ok(shape.to_vec()) }
//!     fn forward(&mut self, x: &Tensor, y: &mut Tensor, _mode: Mode) {
//!         y.resize(x.shape());
//!         for (o, i) in y.data_mut().iter_mut().zip(x.data()) { *o = self.k * i }
//!     }
//!     fn backward(&mut self, _x: &Tensor, _y: &Tensor, dy: &Tensor, dx: Option<&mut Tensor>) {
//!         if let Some(dx) = dx {
//!             dx.resize(dy.shape());
//!             for (o, g) in dx.data_mut().iter_mut().zip(dy.data()) { *o = self.k * g }
//!         }
//!     }
//!     fn spec(&self) -> LayerSpec {
//!         let mut config = toml::Table::new();
//!         config.insert("k".into(), toml::Value::Float(self.k as f64));
//!         LayerSpec::Custom(CustomLayerSpec::new("scale", Some(self.name.clone()), config))
//!     }
//! }
//!
//! register_layer("scale", |spec| {
//!     let k = spec.config.get("k").and_then(|v| v.as_float()).unwrap_or(1.0) as f32;
//!     Ok(Box::new(Scale { name: spec.name.clone().unwrap_or_default(), k }))
//! })
//! .unwrap();
//! ```

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

use serde::Deserialize;

use super::{Layer, LayerSpec};
use crate::{Error, Result};

/// A layer of a registered custom type: its type name, name, inputs and its own keys.
#[derive(Clone, Debug, PartialEq)]
pub struct CustomLayerSpec {
    /// The registered type name (`type = "..."` in a spec).
    pub type_name: String,
    /// Layer name.
    pub name: Option<String>,
    /// The layers (or model inputs) it reads, by name (default: the previous layer).
    pub inputs: Option<Vec<String>>,
    /// Every other key of its table, for the factory to read.
    pub config: toml::Table,
}

impl CustomLayerSpec {
    /// A spec of registered type `type_name` with its own keys `config`.
    pub fn new(type_name: &str, name: Option<String>, config: toml::Table) -> Self {
        CustomLayerSpec {
            type_name: type_name.to_string(),
            name,
            inputs: None,
            config,
        }
    }
}

/// Builds an unbuilt layer from its spec; an error names what is wrong with the keys.
pub type LayerFactory = fn(&CustomLayerSpec) -> Result<Box<dyn Layer>>;

fn registry() -> &'static RwLock<HashMap<String, LayerFactory>> {
    static REGISTRY: OnceLock<RwLock<HashMap<String, LayerFactory>>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

/// Registers a layer type under `type_name` (snake_case, as the built-in ones), so that specs,
/// model files and checkpoints can name it. Registering the same name again replaces the
/// factory; a built-in type's name is refused.
pub fn register_layer(type_name: &str, factory: LayerFactory) -> Result<()> {
    if type_name.is_empty() || type_name == "block" || is_builtin(type_name) {
        return Err(Error::Config(format!(
            "cannot register a layer type named `{type_name}`: the name is taken by a built-in layer"
        )));
    }
    registry()
        .write()
        .map_err(|_| Error::Config("the layer registry is poisoned".into()))?
        .insert(type_name.to_string(), factory);
    Ok(())
}

/// Whether `type_name` is a registered custom layer type.
pub fn is_registered(type_name: &str) -> bool {
    registry()
        .read()
        .map(|r| r.contains_key(type_name))
        .unwrap_or(false)
}

fn is_builtin(type_name: &str) -> bool {
    let mut table = toml::Table::new();
    table.insert("type".into(), toml::Value::String(type_name.to_string()));
    match LayerSpec::deserialize(toml::Value::Table(table)) {
        Ok(_) => true,
        Err(e) => !e.to_string().contains("unknown variant"),
    }
}

/// Creates a custom layer through its factory.
pub(super) fn instantiate(spec: &CustomLayerSpec) -> Result<Box<dyn Layer>> {
    let factory = registry()
        .read()
        .ok()
        .and_then(|r| r.get(&spec.type_name).copied())
        .ok_or_else(|| {
            Error::Config(format!(
                "unknown layer type `{}`: register it with deeptrain::layers::register_layer before building or loading the model",
                spec.type_name
            ))
        })?;
    let mut layer = factory(spec)?;
    if let Some(name) = &spec.name {
        layer.set_name(name.clone());
    }
    Ok(layer)
}

/// A layer table from a spec or model file (`type = "..."` and its keys) as a [`LayerSpec`]:
/// a registered custom type, else a built-in one (whose unknown keys and values are refused).
pub fn layer_spec_from_table(mut table: toml::Table) -> Result<LayerSpec> {
    let type_name = table
        .get("type")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    if let Some(type_name) = type_name.filter(|t| is_registered(t)) {
        table.remove("type");
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
                    .map_err(|e| Error::Config(format!("`inputs`: {e}")))?,
            ),
            None => None,
        };
        return Ok(LayerSpec::Custom(CustomLayerSpec {
            type_name,
            name,
            inputs,
            config: table,
        }));
    }
    LayerSpec::deserialize(toml::Value::Table(table)).map_err(|e| {
        let message = e.to_string();
        Error::Config(if message.contains("unknown variant") {
            format!("{message} (or a layer type registered with deeptrain::layers::register_layer)")
        } else {
            message
        })
    })
}

/// A [`LayerSpec`] as the table a spec or model file holds (the inverse of
/// [`layer_spec_from_table`]).
pub fn layer_spec_to_table(spec: &LayerSpec) -> Result<toml::Table> {
    match spec {
        LayerSpec::Custom(c) => {
            let mut table = toml::Table::new();
            table.insert("type".into(), toml::Value::String(c.type_name.clone()));
            if let Some(name) = &c.name {
                table.insert("name".into(), toml::Value::String(name.clone()));
            }
            if let Some(inputs) = &c.inputs {
                table.insert(
                    "inputs".into(),
                    toml::Value::Array(inputs.iter().cloned().map(toml::Value::String).collect()),
                );
            }
            for (k, v) in &c.config {
                table.insert(k.clone(), v.clone());
            }
            Ok(table)
        }
        builtin => toml::Table::try_from(builtin).map_err(|e| Error::Config(e.to_string())),
    }
}

/// Serde helpers for a list of layer specs that may hold custom layers (model files).
pub mod serde_layers {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{layer_spec_from_table, layer_spec_to_table, LayerSpec};

    /// Writes each layer as its table.
    pub fn serialize<S: Serializer>(
        layers: &[LayerSpec],
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        let tables = layers
            .iter()
            .map(layer_spec_to_table)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| serde::ser::Error::custom(e.detail()))?;
        tables.serialize(serializer)
    }

    /// Reads each layer table, custom types through the registry.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Vec<LayerSpec>, D::Error> {
        Vec::<toml::Table>::deserialize(deserializer)?
            .into_iter()
            .enumerate()
            .map(|(i, t)| {
                layer_spec_from_table(t).map_err(|e| {
                    serde::de::Error::custom(format!("layer {}: {}", i + 1, e.detail()))
                })
            })
            .collect()
    }
}
