//! Weight initializers, with Keras' names and formulas.
//!
//! Every fan-based initializer is `VarianceScaling(scale, mode, distribution)`
//! (keras/src/initializers/random_initializers.py): with `n` the fan chosen by `mode`,
//! the target variance is `scale / n`, drawn from a normal truncated at two standard deviations
//! (stddev divided by 0.8796..., the stddev of a unit normal truncated to [-2, 2], so that the
//! variance is exactly `scale / n`), an untruncated normal, or a uniform on
//! `[-sqrt(3·scale/n), sqrt(3·scale/n)]`. Glorot is `(1, fan_avg)`, He `(2, fan_in)`, LeCun
//! `(1, fan_in)`.
//!
//! Fans follow Keras' `compute_fans`: a kernel of shape (I, U) has fan_in = I and fan_out = U; a
//! vector of length U has fan_in = fan_out = U.
//!
//! The module's files: this one (the enum, fans, variance and fill), `draw.rs` (the normal
//! draws), `orthogonal.rs` (Keras' `Orthogonal`), `ids.rs` (string ids and Keras' presets),
//! `table.rs` (the table form in a spec and serde).
//!
//! In a spec an initializer is a string id (`"he_normal"`) or a table with its parameters
//! (`{ name = "random_normal", stddev = 1.0 }`, `{ name = "variance_scaling", scale = 2.0,
//! mode = "fan_avg", distribution = "uniform" }`).

use rand::Rng as _;
use serde::{Deserialize, Serialize};

use crate::Rng;

mod draw;
mod ids;
mod orthogonal;
mod table;

use draw::{fill_with, normal, truncated_normal};
use orthogonal::{flat_rows_cols, orthogonal};

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
///
/// ```
/// # fn main() -> deeptrain::Result<()> {
/// use deeptrain::Initializer;
/// let he: Initializer = "he_normal".parse()?;
/// assert_eq!(he, Initializer::HE_NORMAL);
/// // Var(W) = 2 / fan_in for a (300, 100) kernel
/// assert!((he.variance(&[300, 100]) - 2.0 / 300.0).abs() < 1e-12);
/// # Ok(())
/// # }
/// ```
pub enum Initializer {
    /// All zeros.
    Zeros,
    /// All ones.
    Ones,
    /// Every value the same.
    Constant {
        /// The value.
        value: f64,
    },
    /// Normal N(mean, stddev²) (Keras default stddev 0.05).
    RandomNormal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        stddev: f64,
    },
    /// Uniform on [minval, maxval) (Keras default [-0.05, 0.05)).
    RandomUniform {
        /// Lower bound.
        minval: f64,
        /// Upper bound.
        maxval: f64,
    },
    /// Normal N(mean, stddev²) redrawn beyond two stddevs, *without* variance correction (as
    /// Keras' `TruncatedNormal`: the sample stddev is 0.88·stddev).
    TruncatedNormal {
        /// Mean.
        mean: f64,
        /// Standard deviation before truncation.
        stddev: f64,
    },
    /// Variance `scale / fan(mode)` drawn from `distribution`.
    VarianceScaling {
        /// Multiplier of the variance.
        scale: f64,
        /// Which fan divides it.
        mode: FanMode,
        /// The distribution drawn from.
        distribution: InitDistribution,
    },
    /// A (semi-)orthogonal matrix times `gain` (Saxe et al. 2014): the Q of the QR
    /// decomposition of a Gaussian matrix, signs fixed by diag(R), as Keras' `Orthogonal`.
    Orthogonal {
        /// Multiplier.
        gain: f64,
    },
    /// Chosen from the activation that follows (He for the ReLU family and ELU, LeCun for SELU,
    /// Glorot otherwise); resolved when the model is built, see
    /// [`crate::activations::Activation::recommended_initializer`].
    Auto,
}

/// The stddev of a unit normal truncated to [-2, 2] (Keras' correction constant).
pub const TRUNCATED_NORMAL_STDDEV: f64 = 0.879_625_661_034_239_8;

/// Keras' default stddev / bound of `RandomNormal`, `RandomUniform` and `TruncatedNormal`.
const KERAS_RANDOM_SCALE: f64 = 0.05;

impl Initializer {
    /// Glorot (Xavier) uniform: Keras' default kernel initializer.
    pub const GLOROT_UNIFORM: Initializer = Initializer::preset(1.0, FanMode::FanAvg, true);
    /// Glorot (Xavier) normal (truncated).
    pub const GLOROT_NORMAL: Initializer = Initializer::preset(1.0, FanMode::FanAvg, false);
    /// He uniform, for the ReLU family.
    pub const HE_UNIFORM: Initializer = Initializer::preset(2.0, FanMode::FanIn, true);
    /// He normal (truncated), for the ReLU family.
    pub const HE_NORMAL: Initializer = Initializer::preset(2.0, FanMode::FanIn, false);
    /// LeCun uniform.
    pub const LECUN_UNIFORM: Initializer = Initializer::preset(1.0, FanMode::FanIn, true);
    /// LeCun normal (truncated), for SELU.
    pub const LECUN_NORMAL: Initializer = Initializer::preset(1.0, FanMode::FanIn, false);

    const fn preset(scale: f64, mode: FanMode, uniform: bool) -> Initializer {
        Initializer::VarianceScaling {
            scale,
            mode,
            distribution: if uniform {
                InitDistribution::Uniform
            } else {
                InitDistribution::TruncatedNormal
            },
        }
    }

    /// Keras' family name of this initializer (`random_normal`, `variance_scaling`, ...).
    pub fn family(&self) -> &'static str {
        match self {
            Initializer::Zeros => "zeros",
            Initializer::Ones => "ones",
            Initializer::Constant { .. } => "constant",
            Initializer::RandomNormal { .. } => "random_normal",
            Initializer::RandomUniform { .. } => "random_uniform",
            Initializer::TruncatedNormal { .. } => "truncated_normal",
            Initializer::VarianceScaling { .. } => "variance_scaling",
            Initializer::Orthogonal { .. } => "orthogonal",
            Initializer::Auto => "auto",
        }
    }

    /// Checks the parameters (positive finite stddev and scale, minval < maxval).
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |what: &str| {
            Err(crate::Error::Config(format!(
                "initializer {}: {what}",
                self.family()
            )))
        };
        match *self {
            Initializer::Constant { value } if !value.is_finite() => bad("value must be finite"),
            Initializer::RandomNormal { mean, stddev }
            | Initializer::TruncatedNormal { mean, stddev }
                if !(mean.is_finite() && stddev.is_finite() && stddev > 0.0) =>
            {
                bad("mean must be finite and stddev a finite number > 0")
            }
            Initializer::RandomUniform { minval, maxval }
                if !(minval.is_finite() && maxval.is_finite() && minval < maxval) =>
            {
                bad("minval and maxval must be finite with minval < maxval")
            }
            Initializer::VarianceScaling { scale, .. } if !(scale.is_finite() && scale > 0.0) => {
                bad("scale must be a finite number > 0")
            }
            Initializer::Orthogonal { gain } if !gain.is_finite() => bad("gain must be finite"),
            _ => Ok(()),
        }
    }

    /// (fan_in, fan_out) of a weight of this shape, as Keras' `compute_fans`.
    pub fn fans(shape: &[usize]) -> (usize, usize) {
        match shape {
            [] => (1, 1),
            [n] => (*n, *n),
            [i, o] => (*i, *o),
            _ => {
                let receptive: usize = shape[..shape.len() - 2].iter().product();
                (
                    shape[shape.len() - 2] * receptive,
                    shape[shape.len() - 1] * receptive,
                )
            }
        }
    }

    /// The variance of the values this initializer draws for a weight of `shape` (0 for
    /// constants).
    pub fn variance(&self, shape: &[usize]) -> f64 {
        let (fan_in, fan_out) = Initializer::fans(shape);
        match *self {
            Initializer::Zeros | Initializer::Ones | Initializer::Constant { .. } => 0.0,
            Initializer::RandomNormal { stddev, .. } => stddev * stddev,
            Initializer::RandomUniform { minval, maxval } => (maxval - minval).powi(2) / 12.0,
            Initializer::TruncatedNormal { stddev, .. } => {
                (stddev * TRUNCATED_NORMAL_STDDEV).powi(2)
            }
            Initializer::VarianceScaling { scale, mode, .. } => {
                scale / fan(mode, fan_in, fan_out).max(1.0)
            }
            Initializer::Orthogonal { gain } => {
                let (rows, cols) = flat_rows_cols(shape);
                gain * gain / rows.max(cols) as f64
            }
            Initializer::Auto => Initializer::GLOROT_UNIFORM.variance(shape),
        }
    }

    /// Fills `values`, a weight of the given shape (a Dense kernel is (inputs, units)).
    /// `Auto` must be resolved before; unresolved it acts as Glorot uniform.
    pub fn fill(&self, values: &mut [f32], shape: &[usize], rng: &mut Rng) {
        let (fan_in, fan_out) = Initializer::fans(shape);
        match *self {
            Initializer::Zeros => values.fill(0.0),
            Initializer::Ones => values.fill(1.0),
            Initializer::Constant { value } => values.fill(value as f32),
            Initializer::RandomNormal { mean, stddev } => {
                fill_with(values, || mean + stddev * normal(rng))
            }
            Initializer::RandomUniform { minval, maxval } => {
                fill_with(values, || rng.random_range(minval..maxval))
            }
            Initializer::TruncatedNormal { mean, stddev } => {
                fill_with(values, || mean + stddev * truncated_normal(rng))
            }
            Initializer::VarianceScaling {
                scale,
                mode,
                distribution,
            } => {
                let variance = scale / fan(mode, fan_in, fan_out).max(1.0);
                match distribution {
                    InitDistribution::Uniform => {
                        let limit = (3.0 * variance).sqrt();
                        fill_with(values, || rng.random_range(-limit..limit))
                    }
                    InitDistribution::UntruncatedNormal => {
                        let stddev = variance.sqrt();
                        fill_with(values, || stddev * normal(rng))
                    }
                    InitDistribution::TruncatedNormal => {
                        let stddev = variance.sqrt() / TRUNCATED_NORMAL_STDDEV;
                        fill_with(values, || stddev * truncated_normal(rng))
                    }
                }
            }
            Initializer::Orthogonal { gain } => orthogonal(values, shape, gain, rng),
            Initializer::Auto => Initializer::GLOROT_UNIFORM.fill(values, shape, rng),
        }
    }
}

fn fan(mode: FanMode, fan_in: usize, fan_out: usize) -> f64 {
    match mode {
        FanMode::FanIn => fan_in as f64,
        FanMode::FanOut => fan_out as f64,
        FanMode::FanAvg => (fan_in + fan_out) as f64 / 2.0,
    }
}

#[cfg(test)]
mod tests;
