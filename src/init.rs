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
//! Why over 800 lines: 700 of code (the math, then the serde id mirror `InitTable`, 431-700)
//! and 225 of tests checking each formula against Keras; the mirror goes once `Initializer`
//! derives its tagged form (review §5), which is the split to make, not a cut in the middle.
//!
//! In a spec an initializer is a string id (`"he_normal"`) or a table with its parameters
//! (`{ name = "random_normal", stddev = 1.0 }`, `{ name = "variance_scaling", scale = 2.0,
//! mode = "fan_avg", distribution = "uniform" }`).

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

/// Ids that take no parameters or whose parameters have Keras' defaults.
const PLAIN_IDS: [&str; 9] = [
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

    /// The initializer a plain id stands for, with Keras' default parameters.
    fn from_plain_id(id: &str) -> Option<Initializer> {
        // Keras' class names (`HeNormal`, `GlorotUniform`) stand for their snake_case ids.
        if id.starts_with(|c: char| c.is_ascii_uppercase()) {
            return Initializer::from_plain_id(&crate::keras_snake_case(id));
        }
        // A family name is its table with every key at its default.
        if let Ok(table) = InitTable::deserialize(serde_json::json!({ "name": id })) {
            return Some(table.into());
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
    fn plain_id(&self) -> Option<&'static str> {
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

fn fill_with(values: &mut [f32], mut draw: impl FnMut() -> f64) {
    for v in values {
        *v = draw() as f32;
    }
}

fn normal(rng: &mut Rng) -> f64 {
    StandardNormal.sample(rng)
}

/// A unit normal redrawn until it lies in [-2, 2].
fn truncated_normal(rng: &mut Rng) -> f64 {
    loop {
        let z = normal(rng);
        if z.abs() <= 2.0 {
            return z;
        }
    }
}

/// Keras' flattening for `Orthogonal`: rows = product of all axes but the last.
fn flat_rows_cols(shape: &[usize]) -> (usize, usize) {
    match shape.split_last() {
        None => (1, 1),
        Some((&cols, rest)) => (rest.iter().product::<usize>().max(1), cols),
    }
}

/// Fills a (rows, cols) matrix with orthonormal columns (rows ≥ cols) or rows (rows < cols),
/// times `gain`: modified Gram-Schmidt in f64 on a Gaussian (max, min) matrix, which gives
/// the Q of its QR decomposition with diag(R) > 0 (Keras' sign correction).
fn orthogonal(values: &mut [f32], shape: &[usize], gain: f64, rng: &mut Rng) {
    let (rows, cols) = flat_rows_cols(shape);
    let (n, m) = (rows.max(cols), rows.min(cols));
    // Column j of the (n, m) matrix is q[j*n .. (j+1)*n].
    let mut q: Vec<f64> = (0..n * m).map(|_| normal(rng)).collect();
    for j in 0..m {
        let (done, rest) = q.split_at_mut(j * n);
        let col = &mut rest[..n];
        for prev in done.chunks_exact(n) {
            let dot: f64 = prev.iter().zip(col.iter()).map(|(a, b)| a * b).sum();
            col.iter_mut().zip(prev).for_each(|(c, p)| *c -= dot * p);
        }
        let norm = col.iter().map(|c| c * c).sum::<f64>().sqrt();
        if norm > 0.0 {
            col.iter_mut().for_each(|c| *c /= norm);
        }
    }
    for i in 0..rows {
        for j in 0..cols {
            // rows ≥ cols: W = Q (n = rows); otherwise W = Qᵀ (n = cols).
            let v = if rows >= cols {
                q[j * n + i]
            } else {
                q[i * n + j]
            };
            values[i * cols + j] = (gain * v) as f32;
        }
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
    fn parse_id(id: &str) -> Result<Self, String> {
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

    /// Sample mean and variance of a 600×400 kernel against the formula, for every
    /// initializer family, mode and distribution. With N = 240,000 draws the sampling error of
    /// the variance is about var·sqrt(2/N) = 0.3% (a little more for heavy tails), of the mean
    /// about sqrt(var/N); the bounds are five of those.
    #[test]
    fn sample_moments_match_the_formulas() {
        let shape = [600, 400];
        let n = 600.0 * 400.0;
        let mut cases: Vec<(Initializer, f64)> = vec![
            (
                Initializer::RandomNormal {
                    mean: 0.5,
                    stddev: 2.0,
                },
                0.5,
            ),
            (
                Initializer::RandomUniform {
                    minval: -1.0,
                    maxval: 3.0,
                },
                1.0,
            ),
            (
                Initializer::TruncatedNormal {
                    mean: -1.0,
                    stddev: 0.1,
                },
                -1.0,
            ),
            (Initializer::Orthogonal { gain: 1.5 }, 0.0),
        ];
        for id in PRESETS
            .iter()
            .map(|p| p.0)
            .chain(["random_normal", "variance_scaling"])
        {
            cases.push((id.parse().unwrap(), 0.0));
        }
        for scale in [0.5, 3.0] {
            for mode in [FanMode::FanIn, FanMode::FanOut, FanMode::FanAvg] {
                for distribution in [
                    InitDistribution::TruncatedNormal,
                    InitDistribution::UntruncatedNormal,
                    InitDistribution::Uniform,
                ] {
                    cases.push((
                        Initializer::VarianceScaling {
                            scale,
                            mode,
                            distribution,
                        },
                        0.0,
                    ));
                }
            }
        }
        for (i, (init, expected_mean)) in cases.into_iter().enumerate() {
            let mut w = vec![0.0; 600 * 400];
            init.fill(&mut w, &shape, &mut Rng::seed_from_u64(i as u64));
            let (mean, var) = moments(&w);
            let expected_var = init.variance(&shape);
            let mean_tol = 5.0 * (expected_var / n).sqrt();
            assert!(
                (mean - expected_mean).abs() < mean_tol,
                "{init}: mean {mean} vs {expected_mean}"
            );
            assert!(
                (var / expected_var - 1.0).abs() < 5.0 * (2.0 / n).sqrt() * 1.5,
                "{init}: variance {var} vs {expected_var}"
            );
        }
    }

    #[test]
    fn fans_follow_keras() {
        assert_eq!(Initializer::fans(&[784, 300]), (784, 300));
        assert_eq!(Initializer::fans(&[300]), (300, 300));
        assert_eq!(Initializer::fans(&[3, 3, 8, 16]), (72, 144));
    }

    #[test]
    fn uniform_and_truncated_draws_stay_in_their_bounds() {
        let (fan_in, fan_out) = (400, 600);
        let mut w = vec![0.0; fan_in * fan_out];
        let mut rng = Rng::seed_from_u64(1);
        Initializer::GLOROT_UNIFORM.fill(&mut w, &[fan_in, fan_out], &mut rng);
        let limit = (6.0 / (fan_in + fan_out) as f64).sqrt() as f32;
        assert!(w.iter().all(|v| v.abs() <= limit));
        Initializer::HE_NORMAL.fill(&mut w, &[fan_in, fan_out], &mut rng);
        let bound = 2.0 * ((2.0 / fan_in as f64).sqrt() / TRUNCATED_NORMAL_STDDEV) as f32;
        assert!(w.iter().all(|v| v.abs() <= bound * 1.0001));
        let tn = Initializer::TruncatedNormal {
            mean: 1.0,
            stddev: 0.5,
        };
        tn.fill(&mut w, &[fan_in, fan_out], &mut rng);
        assert!(w.iter().all(|v| (v - 1.0).abs() <= 1.0001));
    }

    #[test]
    fn orthogonal_is_orthogonal_in_both_orientations() {
        for (rows, cols) in [(50, 20), (20, 50), (30, 30)] {
            let mut w = vec![0.0; rows * cols];
            let gain = 2.0;
            Initializer::Orthogonal { gain }.fill(
                &mut w,
                &[rows, cols],
                &mut Rng::seed_from_u64(3),
            );
            // The smaller Gram matrix (WᵀW for tall, WWᵀ for wide) is gain²·I.
            let k = rows.min(cols);
            for a in 0..k {
                for b in 0..k {
                    let dot: f64 = if rows >= cols {
                        (0..rows)
                            .map(|i| (w[i * cols + a] * w[i * cols + b]) as f64)
                            .sum()
                    } else {
                        (0..cols)
                            .map(|j| (w[a * cols + j] * w[b * cols + j]) as f64)
                            .sum()
                    };
                    let expected = if a == b { gain * gain } else { 0.0 };
                    assert!(
                        (dot - expected).abs() < 1e-4,
                        "{rows}x{cols} [{a},{b}] {dot}"
                    );
                }
            }
        }
    }

    #[test]
    fn ids_and_tables_round_trip_through_toml() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct Holder {
            init: Initializer,
        }
        let mut all: Vec<Initializer> = PLAIN_IDS
            .iter()
            .chain(PRESETS.iter().map(|p| &p.0))
            .map(|id| id.parse().unwrap())
            .collect();
        all.extend([
            Initializer::Constant { value: 0.1 },
            Initializer::RandomNormal {
                mean: 0.0,
                stddev: 1.0,
            },
            Initializer::RandomUniform {
                minval: -0.5,
                maxval: 0.25,
            },
            Initializer::TruncatedNormal {
                mean: 0.0,
                stddev: 0.02,
            },
            Initializer::VarianceScaling {
                scale: 2.0,
                mode: FanMode::FanAvg,
                distribution: InitDistribution::UntruncatedNormal,
            },
            Initializer::Orthogonal { gain: 2.0 },
        ]);
        for init in all {
            let text = toml::to_string(&Holder { init }).unwrap();
            let back: Holder = toml::from_str(&text).unwrap();
            assert_eq!(back.init, init, "{text}");
        }
        let parsed: Holder =
            toml::from_str("init = { name = \"random_normal\", stddev = 1.0 }").unwrap();
        assert_eq!(
            parsed.init,
            Initializer::RandomNormal {
                mean: 0.0,
                stddev: 1.0
            }
        );
        // Each family's table takes its own keys, with its defaults; the message names the
        // problem on one line.
        for (table, needle) in [
            (
                "{ name = \"orthogonal\", stddev = 1.0 }",
                "initializer orthogonal: unknown field `stddev`, expected `gain`",
            ),
            (
                "{ name = \"zeros\", value = 1.0 }",
                "initializer zeros: unknown field `value`",
            ),
            (
                "{ name = \"random_normal\", stddev = -1.0 }",
                "initializer random_normal: mean must be finite and stddev",
            ),
            (
                "{ name = \"he_normal\" }",
                "unknown initializer `he_normal` in a table, expected one of zeros",
            ),
            ("{ stddev = 1.0 }", "missing field `name`"),
        ] {
            let err = toml::from_str::<Holder>(&format!("init = {table}")).unwrap_err();
            let message = err.message();
            assert!(message.contains(needle), "{needle}: {message}");
            assert!(!message.contains('\n'), "{message}");
        }
        let err = "glorot".parse::<Initializer>().unwrap_err().detail();
        assert!(err.contains("glorot_uniform"), "{err}");
    }
}
