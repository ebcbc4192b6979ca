//! [`LayerConfig`]: what a layer's settings answer for themselves, so that the model, the spec
//! reader, folding, the static checks and diagnostics ask the settings instead of matching on a
//! list of layer kinds (as Keras' `get_config` / `from_config`, burn's `Config`).
//!
//! Each layer's settings struct lives in the layer's own file and implements this trait; one
//! line in [`super::registry`] makes its `type` name known to specs and model files.

use std::any::Any;
use std::fmt;

use serde::Serialize;

use super::Layer;
use crate::activations::Activation;
use crate::init::Initializer;
use crate::{Error, Result};

/// A layer's settings (everything in its `[[layers]]` table but `type`, `name` and `inputs`).
///
/// The size guard (`param_count`, `largest_param_tensor`) has no default: a new layer says how
/// big it gets, so that an absurd model is refused before anything is allocated.
pub trait LayerConfig: ConfigObject + fmt::Debug + Send + Sync {
    /// The type name written in specs (`dense`), also the base of automatic layer names.
    fn type_name(&self) -> &str;
    /// Checks values a type cannot (`units > 0`), naming the problem in one line.
    fn validate(&self) -> Result<()>;
    /// How many parameter and state values the layer will hold on an input of `input_shape`
    /// (at most; known before building).
    fn param_count(&self, input_shape: &[usize]) -> u64;
    /// The largest single parameter tensor it will hold on an input of `input_shape` (a Dense
    /// kernel's inputs × units), checked against a per-tensor limit before building.
    fn largest_param_tensor(&self, input_shape: &[usize]) -> u64;
    /// Creates the (unbuilt, unnamed) layer; the model names and builds it.
    fn build(&self) -> Result<Box<dyn Layer>>;
    /// The activation the layer applies, if any (its own, for Dense; PReLU and RReLU count as
    /// leaky ReLUs): what `auto` initialization and the static checks look for.
    fn applied_activation(&self) -> Option<Activation> {
        None
    }
    /// The kernel initializer the settings name, for a layer with a kernel.
    fn kernel_initializer(&self) -> Option<Initializer> {
        None
    }
    /// Replaces `"auto"` initializers by the one the textbook pairs with `following`, the
    /// activation that comes after the layer in the graph; refuses `"auto"` where it has no
    /// meaning. The default does nothing (settings without initializers).
    fn resolve_auto(&mut self, _following: Option<Activation>) -> Result<()> {
        Ok(())
    }
    /// Whether `auto` initialization, looking past layers for the activation that follows a
    /// kernel, stops here (a layer with weights of its own, a merge).
    fn ends_auto_search(&self) -> bool {
        false
    }
    /// For a layer computing x·W + b per output feature, its affine part (for folding a batch
    /// norm into it).
    fn affine(&self) -> Option<Affine> {
        None
    }
    /// Turns the bias of the affine part on or off (folding gives a layer a bias); only called
    /// on a layer whose [`LayerConfig::affine`] is `Some`.
    fn set_use_bias(&mut self, _use_bias: bool) {}
    /// What the layer does to the mean 0 / variance 1 that SELU's self-normalization keeps
    /// (Klambauer et al. 2017), for the static checks; the default keeps them.
    fn self_normalization(&self) -> SelfNormalization {
        SelfNormalization::Keeps
    }
}

/// How a layer treats the activations' mean 0 and variance 1 in a SELU network (Klambauer et
/// al. 2017, §"New Dropout Technique"; Géron ch. 11: "the network's architecture must be
/// sequential").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelfNormalization {
    /// Keeps them, or is not concerned (Dense, alpha dropout, activations, ...).
    Keeps,
    /// Sets units to 0 and rescales the rest by 1 / (1 - rate), which moves the mean and
    /// variance (ordinary dropout; alpha dropout is the kind that keeps them).
    Drops,
    /// Sums or concatenates branches (skip connections).
    MergesBranches,
    /// Normalizes with batch statistics and learned scale and shift.
    BatchStatistics,
    /// Feeds its state back through time (recurrent layers): the fixed-point argument of
    /// self-normalization covers feed-forward stacks only (Géron ch. 11: SELU does not
    /// self-normalize in recurrent networks).
    Recurrent,
}

/// The affine part of a layer y = f(x·W + b), W's last axis the output features.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Affine {
    /// Output features (W's last axis: units, filters).
    pub outputs: usize,
    /// The activation f after the affine map.
    pub activation: Activation,
    /// Whether a per-feature affine map of its input folds into W (Dense; Conv2D only with
    /// `valid` padding, where no zero padding would be scaled).
    pub takes_folded_input: bool,
}

/// What every settings struct gets from its derives: cloning, comparing and writing itself
/// through a `dyn LayerConfig` (implemented for every `Clone + PartialEq + Serialize` type).
pub trait ConfigObject: Any {
    /// A boxed copy.
    fn clone_box(&self) -> Box<dyn LayerConfig>;
    /// Equal to `other` (same type, same values).
    fn eq_dyn(&self, other: &dyn LayerConfig) -> bool;
    /// The settings as the keys of a layer table.
    fn to_table(&self) -> Result<toml::Table>;
    /// For downcasting to the concrete settings.
    fn as_any(&self) -> &dyn Any;
    /// For downcasting to the concrete settings, mutable.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T> ConfigObject for T
where
    T: LayerConfig + Clone + PartialEq + Serialize + 'static,
{
    fn clone_box(&self) -> Box<dyn LayerConfig> {
        Box::new(self.clone())
    }

    fn eq_dyn(&self, other: &dyn LayerConfig) -> bool {
        other.as_any().downcast_ref::<T>() == Some(self)
    }

    fn to_table(&self) -> Result<toml::Table> {
        toml::Table::try_from(self).map_err(|e| Error::Config(e.to_string()))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Refuses an initializer left at `"auto"` where `auto` has no meaning (a bias, PReLU's
/// slopes): `layer` and `key` name it.
pub(crate) fn refuse_auto(layer: &str, key: &str, init: Initializer, instead: &str) -> Result<()> {
    if init == Initializer::Auto {
        return Err(Error::Config(format!(
            "{layer} layer: `{key} = \"auto\"` has no meaning (auto picks a kernel initializer for the activation); use {instead}"
        )));
    }
    Ok(())
}

/// The number of values in a sample of `shape` (saturating).
pub(crate) fn elements(shape: &[usize]) -> u64 {
    shape.iter().fold(1u64, |a, &d| a.saturating_mul(d as u64))
}
