//! String ids of initializers: Keras' family names (`"random_normal"`) with their default
//! arguments, and the named presets of VarianceScaling (`"he_normal"`); parsing and `Display`.

use std::fmt;
use std::str::FromStr;

use super::{FanMode, InitDistribution, Initializer};

/// Keras' named presets of [`Initializer::VarianceScaling`]: (id, scale, mode, distribution).
pub(super) const PRESETS: [(&str, f64, FanMode, InitDistribution); 6] = [
    (
        "glorot_uniform",
        1.0,
        FanMode::FanAvg,
        InitDistribution::Uniform,
    ),
    (
        "glorot_normal",
        1.0,
        FanMode::FanAvg,
        InitDistribution::TruncatedNormal,
    ),
    ("he_uniform", 2.0, FanMode::FanIn, InitDistribution::Uniform),
    (
        "he_normal",
        2.0,
        FanMode::FanIn,
        InitDistribution::TruncatedNormal,
    ),
    (
        "lecun_uniform",
        1.0,
        FanMode::FanIn,
        InitDistribution::Uniform,
    ),
    (
        "lecun_normal",
        1.0,
        FanMode::FanIn,
        InitDistribution::TruncatedNormal,
    ),
];

/// Ids that take no parameters or whose parameters have Keras' defaults.
pub(super) const PLAIN_IDS: [&str; 9] = [
    "zeros",
    "ones",
    "constant",
    "random_normal",
    "random_uniform",
    "truncated_normal",
    "variance_scaling",
    "orthogonal",
    "auto",
];

impl Initializer {
    /// The initializer a plain id stands for, with Keras' default parameters.
    pub(super) fn from_plain_id(id: &str) -> Option<Initializer> {
        // Keras' class names (`HeNormal`, `GlorotUniform`) stand for their snake_case ids.
        if id.starts_with(|c: char| c.is_ascii_uppercase()) {
            return Initializer::from_plain_id(&crate::keras_snake_case(id));
        }
        // Keras 3's aliases (keras/src/initializers/__init__.py, ALL_OBJECTS_DICT).
        let id = match id {
            "uniform" => "random_uniform",
            "normal" => "random_normal",
            "one" => "ones",
            "zero" => "zeros",
            other => other,
        };
        // A family name is its table with every key at its default.
        if let Some(init) = super::table::family_with_defaults(id) {
            return Some(init);
        }
        PRESETS
            .iter()
            .find(|p| p.0 == id)
            .map(|&(_, s, m, d)| Initializer::VarianceScaling {
                scale: s,
                mode: m,
                distribution: d,
            })
    }

    /// The id of this initializer when its parameters are those of a plain id.
    pub(super) fn plain_id(&self) -> Option<&'static str> {
        if let Initializer::VarianceScaling {
            scale,
            mode,
            distribution,
        } = *self
        {
            if let Some(p) = PRESETS
                .iter()
                .find(|p| p.1 == scale && p.2 == mode && p.3 == distribution)
            {
                return Some(p.0);
            }
        }
        PLAIN_IDS
            .into_iter()
            .find(|id| Initializer::from_plain_id(id).as_ref() == Some(self))
    }
}

impl FromStr for Initializer {
    type Err = crate::Error;

    /// Parses a Keras id (`"he_normal"`) or a preset name.
    fn from_str(id: &str) -> Result<Self, crate::Error> {
        Initializer::parse_id(id).map_err(crate::Error::Config)
    }
}

impl Initializer {
    /// [`FromStr`] with the message alone.
    pub(super) fn parse_id(id: &str) -> Result<Self, String> {
        Initializer::from_plain_id(id).ok_or_else(|| {
            let names: Vec<&str> = PLAIN_IDS
                .iter()
                .copied()
                .chain(PRESETS.iter().map(|p| p.0))
                .collect();
            format!(
                "unknown initializer `{id}`, expected one of {}",
                names.join(", ")
            )
        })
    }
}

impl fmt::Display for Initializer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(id) = self.plain_id() {
            return f.write_str(id);
        }
        match *self {
            Initializer::Constant { value } => write!(f, "constant(value={value})"),
            Initializer::RandomNormal { mean, stddev } => {
                write!(f, "random_normal(mean={mean}, stddev={stddev})")
            }
            Initializer::RandomUniform { minval, maxval } => {
                write!(f, "random_uniform(minval={minval}, maxval={maxval})")
            }
            Initializer::TruncatedNormal { mean, stddev } => {
                write!(f, "truncated_normal(mean={mean}, stddev={stddev})")
            }
            Initializer::VarianceScaling {
                scale,
                mode,
                distribution,
            } => write!(
                f,
                "variance_scaling(scale={scale}, mode={}, distribution={})",
                mode_name(mode),
                distribution_name(distribution)
            ),
            Initializer::Orthogonal { gain } => write!(f, "orthogonal(gain={gain})"),
            _ => f.write_str(self.family()),
        }
    }
}

fn mode_name(mode: FanMode) -> &'static str {
    match mode {
        FanMode::FanIn => "fan_in",
        FanMode::FanOut => "fan_out",
        FanMode::FanAvg => "fan_avg",
    }
}

fn distribution_name(distribution: InitDistribution) -> &'static str {
    match distribution {
        InitDistribution::TruncatedNormal => "truncated_normal",
        InitDistribution::UntruncatedNormal => "untruncated_normal",
        InitDistribution::Uniform => "uniform",
    }
}
