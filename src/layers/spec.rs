//! [`LayerSpec`]: one node of a model, `{ name, inputs, config }`, as a spec or model file writes
//! it (`[[layers]] type = "dense" ...`, Keras' names). The `type` picks the settings through the
//! one table in [`super::registry`]; the settings answer for themselves ([`LayerConfig`]).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{registry, Layer, LayerConfig, SelfNormalization};
use crate::activations::Activation;
use crate::init::Initializer;
use crate::Result;

/// A layer as written in a spec: its name and inputs (both optional) and its settings.
pub struct LayerSpec {
    /// Layer name (default: the type name, then `_1`, `_2`, ...).
    pub name: Option<String>,
    /// The layers (or model inputs) it reads, by name (default: the previous layer).
    pub inputs: Option<Vec<String>>,
    /// The layer's own settings.
    pub config: Box<dyn LayerConfig>,
}

impl LayerSpec {
    /// A node of `config`, unnamed, reading the previous layer.
    pub fn new(config: impl LayerConfig) -> Self {
        LayerSpec::from_box(Box::new(config))
    }

    /// [`LayerSpec::new`] of boxed settings.
    pub fn from_box(config: Box<dyn LayerConfig>) -> Self {
        LayerSpec {
            name: None,
            inputs: None,
            config,
        }
    }

    /// The settings as `T`, when they are of that type.
    pub fn config_as<T: LayerConfig>(&self) -> Option<&T> {
        self.config.as_any().downcast_ref()
    }

    /// [`LayerSpec::config_as`], mutable.
    pub fn config_as_mut<T: LayerConfig>(&mut self) -> Option<&mut T> {
        self.config.as_any_mut().downcast_mut()
    }

    /// The `type` name (`dense`).
    pub fn type_name(&self) -> &str {
        self.config.type_name()
    }

    /// The base for automatic names (`dense` → `dense`, `dense_1`, ...): the type name.
    pub fn auto_name_base(&self) -> &str {
        self.config.type_name()
    }

    /// The explicit name, if the spec gives one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The names of the layers (or model inputs) this one reads, when the spec names them.
    pub fn inputs(&self) -> Option<&[String]> {
        self.inputs.as_deref()
    }

    /// Sets the layers (or model inputs) it reads (`None`: the previous layer).
    pub fn set_inputs(&mut self, inputs: Option<Vec<String>>) {
        self.inputs = inputs;
    }

    /// Sets the layer's name.
    pub fn set_name(&mut self, name: Option<String>) {
        self.name = name;
    }

    /// Sets the layer's name (which other layers read it by).
    #[must_use]
    pub fn named(mut self, name: &str) -> Self {
        self.name = Some(name.to_string());
        self
    }

    /// Sets the layers or model inputs it reads (Keras' `layer(inputs)`).
    #[must_use]
    pub fn reads(mut self, inputs: &[&str]) -> Self {
        self.inputs = Some(inputs.iter().map(|s| s.to_string()).collect());
        self
    }

    /// Checks values a type cannot (e.g. `units > 0`), naming the problem.
    pub fn validate(&self) -> Result<()> {
        if let Some(activation) = self.config.applied_activation() {
            activation.validate()?;
        }
        self.config.validate()
    }

    /// See [`LayerConfig::param_count`].
    pub fn param_count(&self, input_shape: &[usize]) -> u64 {
        self.config.param_count(input_shape)
    }

    /// See [`LayerConfig::largest_param_tensor`].
    pub fn largest_param_tensor(&self, input_shape: &[usize]) -> u64 {
        self.config.largest_param_tensor(input_shape)
    }

    /// See [`LayerConfig::applied_activation`].
    pub fn applied_activation(&self) -> Option<Activation> {
        self.config.applied_activation()
    }

    /// See [`LayerConfig::kernel_initializer`].
    pub fn kernel_initializer(&self) -> Option<Initializer> {
        self.config.kernel_initializer()
    }

    /// See [`LayerConfig::self_normalization`].
    pub fn self_normalization(&self) -> SelfNormalization {
        self.config.self_normalization()
    }

    /// See [`LayerConfig::ends_auto_search`].
    pub fn ends_auto_search(&self) -> bool {
        self.config.ends_auto_search()
    }

    /// See [`LayerConfig::resolve_auto`].
    pub fn resolve_auto_initializer(&mut self, following: Option<Activation>) -> Result<()> {
        self.config.resolve_auto(following)
    }

    /// Creates the (unbuilt) layer, named as the spec names it.
    pub fn instantiate(&self) -> Result<Box<dyn Layer>> {
        let mut layer = self.config.build()?;
        if let Some(name) = &self.name {
            layer.set_name(name.clone());
        }
        Ok(layer)
    }

    /// The layer table a spec or model file holds: `type`, `name`, `inputs`, then the settings.
    pub fn to_table(&self) -> Result<toml::Table> {
        let mut table = toml::Table::new();
        table.insert("type".into(), self.type_name().into());
        if let Some(name) = &self.name {
            table.insert("name".into(), name.clone().into());
        }
        if let Some(inputs) = &self.inputs {
            table.insert(
                "inputs".into(),
                toml::Value::Array(inputs.iter().cloned().map(toml::Value::String).collect()),
            );
        }
        table.extend(self.config.to_table()?);
        Ok(table)
    }

    /// A layer table (`type = "..."` and its keys) read through the registry of layer types.
    pub fn from_table(table: toml::Table) -> Result<LayerSpec> {
        registry::parse(table)
    }
}

impl<T: LayerConfig> From<T> for LayerSpec {
    fn from(config: T) -> Self {
        LayerSpec::new(config)
    }
}

impl Clone for LayerSpec {
    fn clone(&self) -> Self {
        LayerSpec {
            name: self.name.clone(),
            inputs: self.inputs.clone(),
            config: self.config.clone_box(),
        }
    }
}

impl PartialEq for LayerSpec {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.inputs == other.inputs
            && self.type_name() == other.type_name()
            && self.config.eq_dyn(other.config.as_ref())
    }
}

impl fmt::Debug for LayerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LayerSpec")
            .field("type", &self.type_name())
            .field("name", &self.name)
            .field("inputs", &self.inputs)
            .field("config", &self.config)
            .finish()
    }
}

impl Serialize for LayerSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_table()
            .map_err(|e| serde::ser::Error::custom(e.detail()))?
            .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for LayerSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let table = toml::Table::deserialize(deserializer)?;
        LayerSpec::from_table(table).map_err(|e| serde::de::Error::custom(e.detail()))
    }
}
