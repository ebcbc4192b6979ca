//! Weight penalties and constraints, with Keras' formulas.
//!
//! - `L1L2 { l1, l2 }`: penalty l1·Σ|w| + l2·Σw² added to the training loss (Keras' `l2(0.01)`
//!   is 0.01·Σw², without a ½), gradient l1·sign(w) + 2·l2·w added to the weight gradient.
//! - `MaxNorm { max_norm }`: after every update, each unit's incoming weight vector (a column
//!   of the (inputs, units) kernel) is rescaled to norm ≤ max_norm (Keras' `MaxNorm`, axis 0).

use serde::{Deserialize, Serialize};

use crate::layers::Param;
use crate::{Error, Result};

/// An L1 and/or L2 penalty: `kernel_regularizer = { l2 = 0.01 }`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Regularizer {
    /// Weight of Σ|w|.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub l1: f32,
    /// Weight of Σw².
    #[serde(default, skip_serializing_if = "is_zero")]
    pub l2: f32,
}

fn is_zero(v: &f32) -> bool {
    *v == 0.0
}

impl Regularizer {
    /// Keras' `l1(l1)`: l1·Σ|w|.
    pub fn l1(l1: f32) -> Self {
        Regularizer { l1, l2: 0.0 }
    }

    /// Keras' `l2(l2)`: l2·Σw² (no ½).
    pub fn l2(l2: f32) -> Self {
        Regularizer { l1: 0.0, l2 }
    }

    /// Keras' `l1_l2(l1, l2)`: both penalties.
    pub fn l1_l2(l1: f32, l2: f32) -> Self {
        Regularizer { l1, l2 }
    }

    /// Checks the weights are finite and non-negative, and that one is set.
    pub fn validate(&self) -> Result<()> {
        for (key, v) in [("l1", self.l1), ("l2", self.l2)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::Config(format!(
                    "regularizer: `{key}` must be a number ≥ 0, got {v}"
                )));
            }
        }
        if self.l1 == 0.0 && self.l2 == 0.0 {
            return Err(Error::Config("regularizer: set `l1`, `l2` or both".into()));
        }
        Ok(())
    }

    /// l1·Σ|w| + l2·Σw², summed in f64.
    pub fn penalty(&self, values: &[f32]) -> f64 {
        let (l1, l2) = (self.l1 as f64, self.l2 as f64);
        values
            .iter()
            .map(|&w| {
                let w = w as f64;
                l1 * w.abs() + l2 * w * w
            })
            .sum()
    }

    /// grad += l1·sign(w) + 2·l2·w.
    pub fn add_gradient(&self, values: &[f32], grad: &mut [f32]) {
        let (l1, l2) = (self.l1, 2.0 * self.l2);
        for (g, &w) in grad.iter_mut().zip(values) {
            let sign = if w > 0.0 {
                1.0
            } else if w < 0.0 {
                -1.0
            } else {
                0.0
            };
            *g += l1 * sign + l2 * w;
        }
    }
}

/// A constraint applied after every update: `kernel_constraint = { max_norm = 1.0 }`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Constraint {
    /// The largest L2 norm of a unit's incoming weights.
    pub max_norm: f32,
}

impl Constraint {
    /// Keras' `MaxNorm(max_norm)`.
    pub fn max_norm(max_norm: f32) -> Self {
        Constraint { max_norm }
    }

    /// Checks `max_norm` > 0.
    pub fn validate(&self) -> Result<()> {
        if self.max_norm.is_finite() && self.max_norm > 0.0 {
            Ok(())
        } else {
            Err(Error::Config(format!(
                "kernel_constraint: `max_norm` must be a positive number, got {}",
                self.max_norm
            )))
        }
    }

    /// Rescales each column of the row-major (rows, cols) `kernel` whose norm exceeds
    /// `max_norm`, as Keras: w · clip(‖w‖, 0, c) / (ε + ‖w‖) with ε = 1e-7.
    pub fn apply(&self, kernel: &mut [f32], cols: usize, norms: &mut Vec<f32>) {
        norms.clear();
        norms.resize(cols, 0.0);
        for row in kernel.chunks_exact(cols) {
            norms.iter_mut().zip(row).for_each(|(n, &w)| *n += w * w);
        }
        let c = self.max_norm;
        for n in norms.iter_mut() {
            let norm = n.sqrt();
            *n = if norm > c { c / (1e-7 + norm) } else { 1.0 };
        }
        if norms.iter().all(|&s| s == 1.0) {
            return;
        }
        for row in kernel.chunks_exact_mut(cols) {
            row.iter_mut().zip(norms.iter()).for_each(|(w, &s)| *w *= s);
        }
    }
}

/// The weight penalty of a layer's parameters, `regularizers[i]` applying to `params[i]`
/// (kernel, then bias): the sum of each regularizer's [`Regularizer::penalty`], in that order.
pub fn penalty_of(params: &[Param], regularizers: &[Option<Regularizer>]) -> f64 {
    params
        .iter()
        .zip(regularizers)
        .filter_map(|(p, r)| r.map(|r| r.penalty(p.value.data())))
        .fold(0.0, |total, penalty| total + penalty)
}

/// Adds each regularizer's gradient to its trainable parameter's gradient, `regularizers[i]`
/// applying to `params[i]` (a frozen parameter's gradient stays zero).
pub fn add_penalty_gradients(params: &mut [Param], regularizers: &[Option<Regularizer>]) {
    for (p, r) in params.iter_mut().zip(regularizers) {
        if let (Some(r), true) = (r, p.trainable) {
            r.add_gradient(p.value.data(), p.grad.data_mut());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn penalty_and_gradient_follow_keras() {
        let r = Regularizer { l1: 0.1, l2: 0.01 };
        let w = [1.0f32, -2.0, 0.0];
        assert!((r.penalty(&w) - (0.1 * 3.0 + 0.01 * 5.0)).abs() < 1e-6);
        let mut g = [0.0f32; 3];
        r.add_gradient(&w, &mut g);
        assert_eq!(g, [0.1 + 0.02, -0.1 - 0.04, 0.0]);
    }

    #[test]
    fn max_norm_bounds_every_unit_after_a_step() {
        // (3 inputs, 2 units): unit 0 has norm 5 (rescaled to 1), unit 1 norm 0.5 (kept).
        let mut k = [3.0f32, 0.3, 4.0, 0.4, 0.0, 0.0];
        Constraint { max_norm: 1.0 }.apply(&mut k, 2, &mut Vec::new());
        let n0 = (k[0] * k[0] + k[2] * k[2] + k[4] * k[4]).sqrt();
        let n1 = (k[1] * k[1] + k[3] * k[3] + k[5] * k[5]).sqrt();
        assert!((n0 - 1.0).abs() < 1e-5 && n0 <= 1.0, "{n0}");
        assert!((n1 - 0.5).abs() < 1e-7);
    }
}
