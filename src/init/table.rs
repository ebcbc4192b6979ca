//! The table form of an initializer in a spec (`{ name = "random_normal", stddev = 1.0 }`),
//! each family's Keras arguments with Keras' defaults, and the serde forms of [`Initializer`]:
//! a plain id when there is one, else the table.

use serde::{Deserialize, Serialize};

use super::ids::PLAIN_IDS;
use super::{FanMode, InitDistribution, Initializer, KERAS_RANDOM_SCALE};

/// The table form of an initializer in a spec: `name` (a family) plus that family's Keras
/// arguments, each with Keras' default; another key is an error.
#[derive(Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
enum InitTable {
    Zeros(NoArgs),
    Ones(NoArgs),
    Constant(ConstantArgs),
    RandomNormal(NormalArgs),
    RandomUniform(UniformArgs),
    TruncatedNormal(NormalArgs),
    VarianceScaling(VarianceScalingArgs),
    Orthogonal(OrthogonalArgs),
    Auto(NoArgs),
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConstantArgs {
    /// Every value (default 0).
    #[serde(default)]
    value: f64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct NormalArgs {
    /// Mean (default 0).
    #[serde(default)]
    mean: f64,
    /// Standard deviation (Keras' 0.05).
    #[serde(default = "keras_random_scale")]
    stddev: f64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct UniformArgs {
    /// Lower bound (Keras' -0.05).
    #[serde(default = "minus_keras_random_scale")]
    minval: f64,
    /// Upper bound (Keras' 0.05).
    #[serde(default = "keras_random_scale")]
    maxval: f64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct VarianceScalingArgs {
    /// Multiplier of the variance (default 1).
    #[serde(default = "one")]
    scale: f64,
    /// Which fan divides it (default `fan_in`).
    #[serde(default = "fan_in")]
    mode: FanMode,
    /// The distribution (default `truncated_normal`).
    #[serde(default = "truncated_normal_distribution")]
    distribution: InitDistribution,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OrthogonalArgs {
    /// Multiplier (default 1).
    #[serde(default = "one")]
    gain: f64,
}

fn keras_random_scale() -> f64 {
    KERAS_RANDOM_SCALE
}
fn minus_keras_random_scale() -> f64 {
    -KERAS_RANDOM_SCALE
}
fn one() -> f64 {
    1.0
}
fn fan_in() -> FanMode {
    FanMode::FanIn
}
fn truncated_normal_distribution() -> InitDistribution {
    InitDistribution::TruncatedNormal
}

/// The family `name` with every argument at Keras' default (`"random_normal"` is
/// `{ mean = 0, stddev = 0.05 }`), or `None` when it names no family.
pub(super) fn family_with_defaults(name: &str) -> Option<Initializer> {
    InitTable::deserialize(serde_json::json!({ "name": name }))
        .ok()
        .map(Initializer::from)
}

impl From<Initializer> for InitTable {
    fn from(init: Initializer) -> Self {
        match init {
            Initializer::Zeros => InitTable::Zeros(NoArgs {}),
            Initializer::Ones => InitTable::Ones(NoArgs {}),
            Initializer::Constant { value } => InitTable::Constant(ConstantArgs { value }),
            Initializer::RandomNormal { mean, stddev } => {
                InitTable::RandomNormal(NormalArgs { mean, stddev })
            }
            Initializer::RandomUniform { minval, maxval } => {
                InitTable::RandomUniform(UniformArgs { minval, maxval })
            }
            Initializer::TruncatedNormal { mean, stddev } => {
                InitTable::TruncatedNormal(NormalArgs { mean, stddev })
            }
            Initializer::VarianceScaling {
                scale,
                mode,
                distribution,
            } => InitTable::VarianceScaling(VarianceScalingArgs {
                scale,
                mode,
                distribution,
            }),
            Initializer::Orthogonal { gain } => InitTable::Orthogonal(OrthogonalArgs { gain }),
            Initializer::Auto => InitTable::Auto(NoArgs {}),
        }
    }
}

impl From<InitTable> for Initializer {
    fn from(t: InitTable) -> Self {
        match t {
            InitTable::Zeros(_) => Initializer::Zeros,
            InitTable::Ones(_) => Initializer::Ones,
            InitTable::Constant(a) => Initializer::Constant { value: a.value },
            InitTable::RandomNormal(a) => Initializer::RandomNormal {
                mean: a.mean,
                stddev: a.stddev,
            },
            InitTable::RandomUniform(a) => Initializer::RandomUniform {
                minval: a.minval,
                maxval: a.maxval,
            },
            InitTable::TruncatedNormal(a) => Initializer::TruncatedNormal {
                mean: a.mean,
                stddev: a.stddev,
            },
            InitTable::VarianceScaling(a) => Initializer::VarianceScaling {
                scale: a.scale,
                mode: a.mode,
                distribution: a.distribution,
            },
            InitTable::Orthogonal(a) => Initializer::Orthogonal { gain: a.gain },
            InitTable::Auto(_) => Initializer::Auto,
        }
    }
}

impl Serialize for Initializer {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.plain_id() {
            Some(id) => s.serialize_str(id),
            None => InitTable::from(*self).serialize(s),
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum InitRepr {
    Id(String),
    Table(serde_json::Map<String, serde_json::Value>),
}

impl<'de> Deserialize<'de> for Initializer {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match InitRepr::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "an initializer is a string id (\"he_normal\") or a table \
                 ({ name = \"random_normal\", stddev = 1.0 }) with known keys",
            )
        })? {
            InitRepr::Id(id) => Initializer::parse_id(&id),
            InitRepr::Table(table) => {
                let name = match table.get("name") {
                    Some(serde_json::Value::String(n)) if !PLAIN_IDS.contains(&n.as_str()) => {
                        return Err(serde::de::Error::custom(format!(
                            "unknown initializer `{n}` in a table, expected one of {}",
                            PLAIN_IDS.join(", ")
                        )));
                    }
                    Some(serde_json::Value::String(n)) => format!(" {n}"),
                    _ => String::new(),
                };
                InitTable::deserialize(serde_json::Value::Object(table))
                    .map_err(|e| format!("initializer{name}: {e}"))
                    .and_then(|t| {
                        let init = Initializer::from(t);
                        init.validate().map_err(|e| e.detail())?;
                        Ok(init)
                    })
            }
        }
        .map_err(serde::de::Error::custom)
    }
}
