//! Weight initializers, with Keras' names and formulas.
//!
//! Every fan-based initializer is `VarianceScaling(scale, mode, distribution)`
//! (keras/src/initializers/random_initializers.py): with `n` the fan chosen by `mode`,
//! the target variance is `scale / n`, drawn from a normal truncated at two standard deviations
//! (stddev corrected by 0.8796..., the stddev of a unit normal truncated to [-2, 2]), an
//! untruncated normal, or a uniform on `[-sqrt(3·scale/n), sqrt(3·scale/n)]`.

use rand::Rng as _;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::Rng;

/// Which fan sets the variance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FanMode {
    /// The number of inputs of a unit.
    FanIn,
    /// The number of outputs.
    FanOut,
    /// The mean of the two (Glorot).
    FanAvg,
}

/// Which distribution the weights are drawn from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InitDistribution {
    /// Normal truncated at two standard deviations (redrawn beyond), stddev corrected.
    TruncatedNormal,
    /// Plain normal.
    UntruncatedNormal,
    /// Uniform on a symmetric interval.
    Uniform,
}

/// A weight initializer. String ids follow Keras (`"glorot_uniform"`, `"he_normal"`, `"zeros"`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Initializer {
    /// All zeros.
    Zeros,
    /// All ones.
    Ones,
    /// Variance `scale / fan(mode)` drawn from `distribution`.
    VarianceScaling {
        /// Multiplier of the variance.
        scale: f64,
        /// Which fan divides it.
        mode: FanMode,
        /// The distribution drawn from.
        distribution: InitDistribution,
    },
}

/// Keras' named presets of [`Initializer::VarianceScaling`]: (id, scale, mode, distribution).
const PRESETS: [(&str, f64, FanMode, InitDistribution); 6] = [
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

/// The stddev of a unit normal truncated to [-2, 2] (Keras' correction constant).
const TRUNCATED_NORMAL_STDDEV: f64 = 0.879_625_661_034_239_8;

impl Initializer {
    /// Glorot (Xavier) uniform: Keras' default kernel initializer.
    pub const GLOROT_UNIFORM: Initializer = Initializer::VarianceScaling {
        scale: 1.0,
        mode: FanMode::FanAvg,
        distribution: InitDistribution::Uniform,
    };
    /// He normal (truncated), for the ReLU family.
    pub const HE_NORMAL: Initializer = Initializer::VarianceScaling {
        scale: 2.0,
        mode: FanMode::FanIn,
        distribution: InitDistribution::TruncatedNormal,
    };

    /// Fills `values`, the weights of a layer with the given fans.
    pub fn fill(&self, values: &mut [f32], fan_in: usize, fan_out: usize, rng: &mut Rng) {
        match *self {
            Initializer::Zeros => values.fill(0.0),
            Initializer::Ones => values.fill(1.0),
            Initializer::VarianceScaling {
                scale,
                mode,
                distribution,
            } => {
                let fan = match mode {
                    FanMode::FanIn => fan_in as f64,
                    FanMode::FanOut => fan_out as f64,
                    FanMode::FanAvg => (fan_in + fan_out) as f64 / 2.0,
                };
                let variance = scale / fan.max(1.0);
                match distribution {
                    InitDistribution::Uniform => {
                        let limit = (3.0 * variance).sqrt();
                        for v in values {
                            *v = rng.random_range(-limit..limit) as f32;
                        }
                    }
                    InitDistribution::UntruncatedNormal => {
                        let stddev = variance.sqrt();
                        for v in values {
                            let z: f64 = StandardNormal.sample(rng);
                            *v = (z * stddev) as f32;
                        }
                    }
                    InitDistribution::TruncatedNormal => {
                        let stddev = variance.sqrt() / TRUNCATED_NORMAL_STDDEV;
                        for v in values {
                            let z = loop {
                                let z: f64 = StandardNormal.sample(rng);
                                if z.abs() <= 2.0 {
                                    break z;
                                }
                            };
                            *v = (z * stddev) as f32;
                        }
                    }
                }
            }
        }
    }
}

impl FromStr for Initializer {
    type Err = String;

    fn from_str(id: &str) -> Result<Self, String> {
        match id {
            "zeros" => return Ok(Initializer::Zeros),
            "ones" => return Ok(Initializer::Ones),
            _ => {}
        }
        PRESETS
            .iter()
            .find(|(name, ..)| *name == id)
            .map(
                |&(_, scale, mode, distribution)| Initializer::VarianceScaling {
                    scale,
                    mode,
                    distribution,
                },
            )
            .ok_or_else(|| {
                let names: Vec<&str> = ["zeros", "ones"]
                    .into_iter()
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
        match *self {
            Initializer::Zeros => f.write_str("zeros"),
            Initializer::Ones => f.write_str("ones"),
            Initializer::VarianceScaling {
                scale,
                mode,
                distribution,
            } => {
                match PRESETS
                    .iter()
                    .find(|p| p.1 == scale && p.2 == mode && p.3 == distribution)
                {
                    Some(p) => f.write_str(p.0),
                    None => write!(f, "variance_scaling({scale}, {mode:?}, {distribution:?})"),
                }
            }
        }
    }
}

impl Serialize for Initializer {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Initializer {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let id = String::deserialize(d)?;
        id.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn moments(values: &[f32]) -> (f64, f64) {
        let n = values.len() as f64;
        let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = values
            .iter()
            .map(|&v| (v as f64 - mean).powi(2))
            .sum::<f64>()
            / n;
        (mean, var)
    }

    #[test]
    fn glorot_uniform_has_variance_two_over_fan_sum() {
        let (fan_in, fan_out) = (400, 600);
        let mut w = vec![0.0; fan_in * fan_out];
        Initializer::GLOROT_UNIFORM.fill(&mut w, fan_in, fan_out, &mut Rng::seed_from_u64(1));
        let (mean, var) = moments(&w);
        let expected = 2.0 / (fan_in + fan_out) as f64;
        assert!(mean.abs() < 1e-3);
        assert!(
            (var / expected - 1.0).abs() < 0.02,
            "variance {var} vs {expected}"
        );
        let limit = (6.0 / (fan_in + fan_out) as f64).sqrt() as f32;
        assert!(w.iter().all(|v| v.abs() <= limit));
    }

    #[test]
    fn he_normal_has_variance_two_over_fan_in_and_is_truncated() {
        let (fan_in, fan_out) = (500, 400);
        let mut w = vec![0.0; fan_in * fan_out];
        Initializer::HE_NORMAL.fill(&mut w, fan_in, fan_out, &mut Rng::seed_from_u64(2));
        let (mean, var) = moments(&w);
        let expected = 2.0 / fan_in as f64;
        assert!(mean.abs() < 1e-3);
        assert!(
            (var / expected - 1.0).abs() < 0.02,
            "variance {var} vs {expected}"
        );
        let bound = 2.0 * (expected.sqrt() / TRUNCATED_NORMAL_STDDEV) as f32;
        assert!(w.iter().all(|v| v.abs() <= bound * 1.0001));
    }

    #[test]
    fn string_ids_round_trip() {
        for id in [
            "zeros",
            "ones",
            "glorot_uniform",
            "he_normal",
            "lecun_normal",
        ] {
            let init: Initializer = id.parse().unwrap();
            assert_eq!(init.to_string(), id);
        }
        let err = "glorot".parse::<Initializer>().unwrap_err();
        assert!(err.contains("glorot_uniform"), "{err}");
    }
}
