//! One estimate of the memory a model needs for batches of a given size, checked before the
//! first batch is allocated: weights, gradients and optimizer state, every layer's activations
//! (output, its gradient and the layer's own per-batch buffers, per sample × batch) and each
//! layer's scratch ([`crate::Layer::scratch_values`]: a convolution's im2col buffers). A model
//! within the parameter limit can still need more than the machine gives (16.7M values per
//! sample from concatenations, 2^22 filters, Adam's two moments): the estimate refuses it with
//! one line naming the largest layer and the figures, instead of an allocation abort.
//!
//! The budget is what the process may still map: its address-space limit (`ulimit -v`) less
//! what it already maps, and never more than the machine's memory (Linux: `/proc`).

use crate::limits::human_bytes;
use crate::optimizers::OptimizerSpec;
use crate::{Error, Result, Sequential};

/// Buffers per activation value while training: the output and its gradient, and for a layer
/// with weights its own copies of the same size (a Dense layer's pre-activation z and dz).
const TRAINING_COPIES: (u128, u128) = (2, 2);
/// While predicting or evaluating: the output, and a weighted layer's pre-activation.
const INFERENCE_COPIES: (u128, u128) = (1, 1);
/// Left for everything else (the data, the allocator, the threads' stacks).
const MARGIN_BYTES: u64 = 256 << 20;

/// The values an optimizer keeps per trainable parameter (moments, accumulators).
pub fn optimizer_slots(spec: &OptimizerSpec) -> u128 {
    match spec {
        OptimizerSpec::Sgd(s) => u128::from(s.momentum > 0.0),
        OptimizerSpec::Adagrad(_) => 1,
        OptimizerSpec::RmsProp(s) => 1 + u128::from(s.centered) + u128::from(s.momentum > 0.0),
        OptimizerSpec::Adam(s) => 2 + u128::from(s.amsgrad),
        OptimizerSpec::AdamW(s) => 2 + u128::from(s.amsgrad),
        OptimizerSpec::Adamax(_) | OptimizerSpec::Nadam(_) => 2,
    }
}

/// The estimate, in bytes, by part.
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    /// Weights and non-trainable state.
    pub weights: u128,
    /// Gradients and optimizer state (0 for inference).
    pub training_state: u128,
    /// Activations and scratch over the batch.
    pub activations: u128,
    /// The layer with the most activation and scratch values per batch, and that count.
    pub largest: Option<(String, u128)>,
}

impl Estimate {
    /// Total bytes.
    pub fn total(&self) -> u128 {
        self.weights + self.training_state + self.activations
    }
}

/// The memory `model` needs for batches of `batch` rows, training (with gradients and the
/// optimizer's state) or not.
pub fn estimate(model: &Sequential, batch: usize, training: bool) -> Estimate {
    let (trainable, frozen) = model.count_params();
    let (trainable, frozen) = (trainable as u128, frozen as u128);
    let slots = model.optimizer().map_or(0, |o| optimizer_slots(&o.spec()));
    let copies = if training {
        TRAINING_COPIES
    } else {
        INFERENCE_COPIES
    };
    let batch = batch as u128;
    let mut activations = batch
        * model
            .input_shape()
            .iter()
            .map(|&d| d as u128)
            .product::<u128>();
    let mut largest: Option<(String, u128)> = None;
    for (layer, shape) in model.layers().iter().zip(model.output_shapes()) {
        let per_sample: u128 = shape.iter().map(|&d| d as u128).product();
        let copies = copies.0 + copies.1 * u128::from(!layer.params().is_empty());
        let values = copies * per_sample * batch + layer.scratch_values(batch as usize) as u128;
        activations += values;
        if largest.as_ref().is_none_or(|(_, v)| values > *v) {
            largest = Some((layer.name().to_string(), values));
        }
    }
    Estimate {
        weights: 4 * (trainable + frozen),
        training_state: if training {
            4 * trainable * (1 + slots)
        } else {
            0
        },
        activations: 4 * activations,
        largest: largest.map(|(name, v)| (name, 4 * v)),
    }
}

/// Bytes this process may still allocate, when known: the address-space limit less what is
/// mapped already, at most the machine's memory.
pub fn available_bytes() -> Option<u64> {
    let machine = meminfo_total();
    let limit = address_space_limit().map(|l| l.saturating_sub(mapped_bytes().unwrap_or(0)));
    match (machine, limit) {
        (Some(m), Some(l)) => Some(m.min(l)),
        (m, l) => m.or(l),
    }
    .map(|b| b.saturating_sub(MARGIN_BYTES))
}

/// Refuses, with one line, a batch of `batch` rows that would need more memory than the
/// process may use; `what` says for what (`"training"`, `"evaluation"`).
pub fn check(model: &Sequential, batch: usize, training: bool, what: &str) -> Result<()> {
    let Some(available) = available_bytes() else {
        return Ok(());
    };
    let e = estimate(model, batch, training);
    if e.total() <= available as u128 {
        return Ok(());
    }
    let bytes = |b: u128| human_bytes(u64::try_from(b).unwrap_or(u64::MAX));
    let largest = e.largest.as_ref().map_or(String::new(), |(name, b)| {
        format!(" (layer `{name}`: {})", bytes(*b))
    });
    let state = if training {
        let optimizer = model.optimizer().map_or("sgd", |o| o.name());
        format!(
            ", gradients and {optimizer}'s state {}",
            bytes(e.training_state)
        )
    } else {
        String::new()
    };
    Err(Error::Config(format!(
        "{what} in batches of {batch} would need about {}: activations {}{largest}, weights {}{state}; this process may use {}: lower batch_size or the layer sizes",
        bytes(e.total()),
        bytes(e.activations),
        bytes(e.weights),
        human_bytes(available)
    )))
}

/// `RLIMIT_AS` (`ulimit -v`), when set.
fn address_space_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct it is given.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut limit) } == 0;
    (ok && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

/// The process's mapped address space (`VmSize`), when readable.
fn mapped_bytes() -> Option<u64> {
    proc_kib("/proc/self/status", "VmSize:")
}

/// The machine's memory (`MemTotal`), when readable.
fn meminfo_total() -> Option<u64> {
    proc_kib("/proc/meminfo", "MemTotal:")
}

/// A `KEY: N kB` line of a /proc file, in bytes.
fn proc_kib(path: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    let kib: u64 = line[key.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib.saturating_mul(1024))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Activation, DenseSpec, Loss};

    #[test]
    fn the_estimate_counts_weights_state_and_activations() {
        let mut model = Sequential::new(&[10])
            .add(DenseSpec::new(20).activation(Activation::Relu))
            .add(DenseSpec::new(3))
            .build(1)
            .unwrap();
        let adam: OptimizerSpec = toml::from_str("name = \"adam\"").unwrap();
        model
            .compile(adam.build().unwrap(), Loss::MeanSquaredError, &[])
            .unwrap();
        let params = 10 * 20 + 20 + 20 * 3 + 3;
        let e = estimate(&model, 8, true);
        assert_eq!(e.weights, 4 * params);
        assert_eq!(e.training_state, 4 * params * 3);
        // Input 10 values, outputs 20 and 3, four copies of each output, per sample × 8.
        assert_eq!(e.activations, 4 * 8 * (10 + 4 * (20 + 3)));
        assert_eq!(e.largest.as_ref().map(|l| l.0.as_str()), Some("dense"));
        let inference = estimate(&model, 8, false);
        assert_eq!(inference.training_state, 0);
        assert_eq!(inference.activations, 4 * 8 * (10 + 2 * (20 + 3)));
    }

    #[test]
    fn slots_follow_each_optimizer() {
        let slots = |text: &str| optimizer_slots(&toml::from_str(text).unwrap());
        assert_eq!(slots("name = \"sgd\""), 0);
        assert_eq!(slots("name = \"sgd\"\nmomentum = 0.9"), 1);
        assert_eq!(
            slots("name = \"rmsprop\"\ncentered = true\nmomentum = 0.5"),
            3
        );
        assert_eq!(slots("name = \"adam\"\namsgrad = true"), 3);
        assert_eq!(slots("name = \"nadam\""), 2);
    }
}
