//! The dtype policy (Keras' `mixed_bfloat16`, PyTorch's CPU autocast to bf16): in which
//! precision the matrix products of dense and convolution layers run.
//!
//! Under `mixed_bfloat16` the products' inputs (X·W forward, dZ·Wᵀ and Xᵀ·dZ backward) are
//! rounded to bf16 and multiplied on AVX-512 BF16 with f32 accumulation
//! ([`crate::linalg::bf16`]); weights, optimizer state, activations, normalization
//! statistics and the loss stay f32 (Micikevicius et al. 2018, "Mixed Precision Training").
//! bf16 has f32's exponent range, so there is no loss scaling.

use serde::{Deserialize, Serialize};

use crate::linalg::{self, bf16::Bf16Buffers, Mat};
use crate::{Error, Result};

/// `[compile] dtype_policy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DtypePolicy {
    /// Everything in f32 (the default).
    #[default]
    Float32,
    /// Matrix products in bf16 with f32 accumulation, everything else f32.
    MixedBfloat16,
}

impl DtypePolicy {
    /// The spec's name.
    pub fn name(self) -> &'static str {
        match self {
            DtypePolicy::Float32 => "float32",
            DtypePolicy::MixedBfloat16 => "mixed_bfloat16",
        }
    }

    /// The policy a spec names `name`, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        [DtypePolicy::Float32, DtypePolicy::MixedBfloat16]
            .into_iter()
            .find(|p| p.name() == name)
    }

    /// Whether this is the default, f32 everywhere.
    pub fn is_float32(&self) -> bool {
        *self == DtypePolicy::Float32
    }

    /// Checks that this CPU can run the policy: `mixed_bfloat16` needs AVX-512 BF16.
    pub fn check_supported(self) -> Result<()> {
        if self == DtypePolicy::MixedBfloat16 && !linalg::bf16::supported() {
            return Err(Error::Config(
                "dtype_policy = \"mixed_bfloat16\" needs a CPU with AVX-512 BF16 (vdpbf16ps), which this one lacks; use \"float32\"".into(),
            ));
        }
        Ok(())
    }
}

/// A layer's matrix products under its dtype policy, with the bf16 copies of their operands
/// (sized on the first step, reused after).
#[derive(Default)]
pub struct Products {
    bf16: Option<Bf16Buffers>,
}

impl Products {
    /// Runs the products under `policy` from now on (the caller has checked that the CPU
    /// supports it).
    pub fn set_policy(&mut self, policy: DtypePolicy) {
        self.bf16 = match policy {
            DtypePolicy::Float32 => None,
            DtypePolicy::MixedBfloat16 => Some(self.bf16.take().unwrap_or_default()),
        };
    }

    /// `out = a · b` (`accumulate` false) or `out += a · b`, as [`linalg::matmul`].
    pub fn matmul(&mut self, a: Mat, b: Mat, out: &mut [f32], accumulate: bool) {
        match &mut self.bf16 {
            None => linalg::matmul(a, b, out, accumulate),
            Some(buffers) => buffers.product(a, b, out, if accumulate { 1.0 } else { 0.0 }, 1.0),
        }
    }

    /// `out = a · w` or `out += a · w`, as [`Products::matmul`], where `w` is the layer's
    /// kernel W or its transpose Wᵀ: under bf16 its packed copy is made once after each
    /// [`Products::weights_changed`] and reused (the same bits as packing it every time).
    pub fn matmul_weights(&mut self, a: Mat, w: Mat, out: &mut [f32], accumulate: bool) {
        match &mut self.bf16 {
            None => linalg::matmul(a, w, out, accumulate),
            Some(buffers) => {
                buffers.product_by_weights(a, w, out, if accumulate { 1.0 } else { 0.0 }, 1.0)
            }
        }
    }

    /// Says that the layer's kernel changed (every path that writes it: the optimizer's
    /// update and `params_mut`, fused descent, constraints, a rebuild), so that
    /// [`Products::matmul_weights`] packs it again.
    pub fn weights_changed(&mut self) {
        if let Some(buffers) = &mut self.bf16 {
            buffers.weights_changed();
        }
    }

    /// `out += scale · a · b`, as [`linalg::matmul_add_scaled`].
    pub fn matmul_add_scaled(&mut self, a: Mat, b: Mat, out: &mut [f32], scale: f32) {
        match &mut self.bf16 {
            None => linalg::matmul_add_scaled(a, b, out, scale),
            Some(buffers) => buffers.product(a, b, out, 1.0, scale),
        }
    }
}
