//! # deeptrain
//!
//! Train deep neural networks well: a Keras-like sequential API (layers, `compile`, `fit`,
//! `evaluate`, `predict`, callbacks) over a fast f32 CPU engine, and the `deeptrain` command that
//! trains a model described in a TOML spec.
//!
//! Every fallible call returns [`deeptrain::Result`](Result), so `?` works throughout:
//!
//! ```
//! use deeptrain::{data, Activation, DenseSpec, FitOptions, LayerSpec, Loss, Metric, Scale, Scaler, Sequential, Sgd};
//!
//! # fn main() -> deeptrain::Result<()> {
//! let splits = data::digits()?;
//! let mut train = splits.train;
//! Scaler::fit(Scale::Unit, &train.x).apply(&mut train.x);
//! let mut model = Sequential::new(&[8, 8])
//!     .add(LayerSpec::flatten())
//!     .add(DenseSpec::new(32).activation(Activation::Relu))
//!     .add(DenseSpec::new(10).activation(Activation::Softmax))
//!     .build(42)?;
//! model.compile(Box::new(Sgd::new(0.1)?), Loss::SparseCategoricalCrossentropy, &[Metric::Accuracy])?;
//! let options = FitOptions { epochs: 2, batch_size: 32, ..Default::default() };
//! let history = model.fit(&train, None, &options, &mut [])?;
//! assert_eq!(history.epochs.len(), 2);
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

pub mod activations;
pub mod budget;
mod builder;
pub mod callbacks;
pub mod checks;
mod custom_loss;
pub mod data;
pub mod diagnostics;
pub mod distributed;
pub mod doctor;
pub mod dtype_policy;
mod error;
pub mod experiment;
mod forms;
pub mod init;
pub mod io;
pub mod layers;
pub mod limits;
pub mod linalg;
pub mod losses;
pub mod metrics;
pub mod model;
pub mod monitor;
pub mod optimizers;
pub mod output_paths;
pub mod parallel;
pub mod plot;
pub mod presets;
pub mod profile;
pub mod regularizers;
pub mod report;
pub mod run;
pub mod schedules;
pub mod spec;
pub mod tensor;

pub use activations::Activation;
pub use callbacks::{Callback, History};
pub use data::{Dataset, Scale, Scaler};
pub use dtype_policy::DtypePolicy;
pub use error::{one_line, Error, Result};
pub use experiment::Experiment;
pub use init::Initializer;
pub use layers::{DenseSpec, Layer, LayerSpec, Mode};
pub use losses::{Loss, Targets};
pub use metrics::Metric;
pub use model::{FitOptions, GraphBuilder, Model, ModelInput, ModelOutput, Observer, Sequential};
pub use optimizers::{Optimizer, OptimizerSpec, Sgd};
pub use tensor::Tensor;

/// The README's code blocks, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The random number generator used everywhere (seeded, reproducible across platforms).
pub type Rng = rand_chacha::ChaCha8Rng;

/// A Keras class name as its snake_case id: `HeNormal` → `he_normal`, `GlorotUniform` →
/// `glorot_uniform` (a capital starts a new word).
pub fn keras_snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}
