//! Open layers: a layer type defined in user code, registered under a type name, then written in
//! specs (`{ type = "my_layer", ... }`), shown by `summary`, saved and loaded like a built-in one.
//!
//! Two routes, both through the one table of [`super::registry`]:
//! - typed: settings that implement [`super::LayerConfig`], registered with
//!   [`super::register_layer_type`]; they get the size guard, `"auto"` and folding as built-ins;
//! - untyped (here): [`register_layer`] with a factory that builds the (unbuilt) layer from a
//!   [`CustomLayerSpec`], its keys kept as a TOML table. The size guard asks the unbuilt layer
//!   ([`Layer::declared_size`]), else measures it by building a copy once. Such a layer refuses
//!   `"auto"`.
//!
//! The layer's [`Layer::spec`] returns its spec, so that saving writes it back. As Keras'
//! `register_keras_serializable` and `get_config`/`from_config`.
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
//!         CustomLayerSpec::new("scale", config).into()
//!     }
//! }
//!
//! register_layer("scale", |spec| {
//!     let k = spec.config.get("k").and_then(|v| v.as_float()).unwrap_or(1.0) as f32;
//!     Ok(Box::new(Scale { name: String::new(), k }))
//! })
//! .unwrap();
//! ```

use std::sync::Arc;

use serde::{Serialize, Serializer};

use super::registry::register_layer_type;
use rand::SeedableRng as _;

use super::{Layer, LayerConfig, LayerSpec};
use crate::{Error, Result, Rng};

/// Settings of a layer of a type registered with [`register_layer`]: its type name and its own
/// keys.
#[derive(Clone)]
pub struct CustomLayerSpec {
    /// The registered type name (`type = "..."` in a spec).
    pub type_name: String,
    /// Every other key of its table but `name` and `inputs`, for the factory to read.
    pub config: toml::Table,
    /// The factory, once the spec was read through the registry.
    factory: Option<LayerFactory>,
}

impl CustomLayerSpec {
    /// A spec of registered type `type_name` with its own keys `config`.
    pub fn new(type_name: &str, config: toml::Table) -> Self {
        CustomLayerSpec {
            type_name: type_name.to_string(),
            config,
            factory: None,
        }
    }
}

impl CustomLayerSpec {
    /// (parameter and state values, largest tensor) of the layer on `input_shape`, for the
    /// size guard: what the unbuilt layer declares ([`Layer::declared_size`]), else measured by
    /// building a copy once on a throwaway random stream (the model's own stream is untouched,
    /// so the weights do not change). (0, 0) when the layer does not build on that shape: the
    /// model's own build then reports why.
    fn size(&self, input_shape: &[usize]) -> (u64, u64) {
        let Ok(mut layer) = self.build() else {
            return (0, 0);
        };
        if let Some(size) = layer.declared_size(input_shape) {
            return size;
        }
        let mut rng = Rng::seed_from_u64(0);
        if layer.build(input_shape, &mut rng).is_err() {
            return (0, 0);
        }
        let lengths = layer.params().iter().map(|p| p.value.len());
        let lengths = lengths.chain(layer.state().iter().map(|s| s.value.len()));
        lengths.fold((0, 0), |(total, largest), n| {
            (total + n as u64, largest.max(n as u64))
        })
    }
}

impl std::fmt::Debug for CustomLayerSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomLayerSpec")
            .field("type_name", &self.type_name)
            .field("config", &self.config)
            .finish()
    }
}

impl PartialEq for CustomLayerSpec {
    fn eq(&self, other: &Self) -> bool {
        self.type_name == other.type_name && self.config == other.config
    }
}

impl Serialize for CustomLayerSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        self.config.serialize(serializer)
    }
}

impl LayerConfig for CustomLayerSpec {
    fn type_name(&self) -> &str {
        &self.type_name
    }

    fn validate(&self) -> Result<()> {
        Ok(())
    }

    /// What the unbuilt layer declares ([`Layer::declared_size`]), else measured by building a
    /// copy once.
    fn param_count(&self, input_shape: &[usize]) -> u64 {
        self.size(input_shape).0
    }

    fn largest_param_tensor(&self, input_shape: &[usize]) -> u64 {
        self.size(input_shape).1
    }

    fn build(&self) -> Result<Box<dyn Layer>> {
        match &self.factory {
            Some(factory) => factory(self),
            // Made by a layer's `spec()`: read again through the registry for the factory.
            None => {
                let mut table = self.config.clone();
                table.insert("type".into(), self.type_name.clone().into());
                LayerSpec::from_table(table)?.config.build()
            }
        }
    }

    fn resolve_auto(&mut self, _following: Option<crate::Activation>) -> Result<()> {
        if self.config.values().any(|v| v.as_str() == Some("auto")) {
            return Err(Error::Config(format!(
                "layer type `{}` cannot resolve \"auto\": give its initializer by name (or register typed settings with register_layer_type)",
                self.type_name
            )));
        }
        Ok(())
    }

    /// Its keys are opaque: `auto` never looks past it.
    fn ends_auto_search(&self) -> bool {
        true
    }
}

/// Builds an unbuilt layer from its spec; an error names what is wrong with the keys. A
/// closure may capture state.
pub type LayerFactory = Arc<dyn Fn(&CustomLayerSpec) -> Result<Box<dyn Layer>> + Send + Sync>;

/// Registers a layer type under `type_name` (snake_case, as the built-in ones) whose keys stay
/// a table and whose layer `factory` builds, so that specs, model files and checkpoints can
/// name it. Registering the same name again replaces the factory; a built-in type's name is
/// refused.
pub fn register_layer(
    type_name: &str,
    factory: impl Fn(&CustomLayerSpec) -> Result<Box<dyn Layer>> + Send + Sync + 'static,
) -> Result<()> {
    let factory: LayerFactory = Arc::new(factory);
    let name = type_name.to_string();
    register_layer_type(type_name, move |config| {
        Ok(Box::new(CustomLayerSpec {
            type_name: name.clone(),
            config,
            factory: Some(factory.clone()),
        }))
    })
}

/// A layer table from a spec or model file (`type = "..."` and its keys) as a [`LayerSpec`].
pub fn layer_spec_from_table(table: toml::Table) -> Result<LayerSpec> {
    LayerSpec::from_table(table)
}

/// A [`LayerSpec`] as the table a spec or model file holds (the inverse of
/// [`layer_spec_from_table`]).
pub fn layer_spec_to_table(spec: &LayerSpec) -> Result<toml::Table> {
    spec.to_table()
}

/// Serde helpers for a list of layer specs (model files).
pub mod serde_layers {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{layer_spec_from_table, LayerSpec};

    /// Writes each layer as its table.
    pub fn serialize<S: Serializer>(
        layers: &[LayerSpec],
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        layers.serialize(serializer)
    }

    /// Reads each layer table through the registry.
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
