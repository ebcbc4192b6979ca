//! The normal draws behind the random initializers (rand_distr's `StandardNormal`), and Keras'
//! truncation at two standard deviations.

use rand_distr::{Distribution, StandardNormal};

use crate::Rng;

pub(super) fn fill_with(values: &mut [f32], mut draw: impl FnMut() -> f64) {
    for v in values {
        *v = draw() as f32;
    }
}

pub(super) fn normal(rng: &mut Rng) -> f64 {
    StandardNormal.sample(rng)
}

/// A unit normal redrawn until it lies in [-2, 2].
pub(super) fn truncated_normal(rng: &mut Rng) -> f64 {
    loop {
        let z = normal(rng);
        if z.abs() <= 2.0 {
            return z;
        }
    }
}
