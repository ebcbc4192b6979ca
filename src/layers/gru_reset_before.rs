//! Keras' `GRU` with `reset_after = false` (the form of Cho et al. 2014; Keras 3's
//! `GRUCell.call`): the reset gate multiplies the state *before* the candidate's recurrent
//! product, and there is one bias b (3·U), added to the input part. Gate order z, r, h as
//! Keras. With p = x_t·W + b, h̃ the state times its recurrent dropout mask, and R_zr, R_h the
//! first 2·U and the last U columns of R:
//! ```text
//! z = σ(p_z + (h̃_{t-1}·R_zr)_z)   r = σ(p_r + (h̃_{t-1}·R_zr)_r)
//! s = r ⊙ h̃_{t-1}   ĥ = f(p_h + s·R_h)   h_t = z ⊙ h_{t-1} + (1 - z) ⊙ ĥ
//! ```
//! The candidate's product needs r, so a step runs two products ([`ResetBefore::forward_step`]
//! around the cell's [`Cell::forward`]). Backward of a step, from dh_t:
//! ```text
//! da = dh_t ⊙ (1 - z) ⊙ f'(ĥ) = dp_h    dp_z = dh_t ⊙ (h_{t-1} - ĥ) ⊙ σ'(z)
//! ds = da·R_hᵀ    dp_r = ds ⊙ h̃_{t-1} ⊙ σ'(r)
//! dh̃_{t-1} = dp_zr·R_zrᵀ + ds ⊙ r,   and h_{t-1} gets dh_t ⊙ z directly
//! ```
//! and over all steps dR_zr = h̃ᵀ·dp_zr, dR_h = sᵀ·dp_h (dW and db as every cell: x̃ᵀ·dP, Σ dP).

use super::recurrent::{Activations, Cell};
use crate::linalg::{matmul, Mat};

/// The GRU step with the reset gate before the recurrent product.
pub(super) struct GruResetBeforeCell;

impl Cell for GruResetBeforeCell {
    const CLASS: &'static str = "GRU";
    /// z, r and ĥ.
    const CACHE: usize = 3;
    const SPLIT_RECURRENT: bool = false;
    const CARRY: bool = false;
    const RESET_BEFORE: bool = true;

    /// `r` holds h̃·R_zr in its first 2·U columns and s·R_h in its last U; the reset gate is
    /// already in the cache ([`ResetBefore::forward_step`]).
    fn forward(
        act: Activations,
        u: usize,
        p: &[f32],
        r: &[f32],
        h_prev: &[f32],
        _c_prev: &[f32],
        cache: &mut [f32],
        h: &mut [f32],
        _c: &mut [f32],
    ) {
        let rows = p
            .chunks_exact(3 * u)
            .zip(r.chunks_exact(3 * u))
            .zip(cache.chunks_exact_mut(3 * u));
        for (b, ((p, q), cache)) in rows.enumerate() {
            let (h_prev, h) = (&h_prev[b * u..][..u], &mut h[b * u..][..u]);
            for j in 0..u {
                let z = act.gate.value(p[j] + q[j]);
                let hh = act.f.value(p[2 * u + j] + q[2 * u + j]);
                h[j] = z * h_prev[j] + (1.0 - z) * hh;
                cache[j] = z;
                cache[2 * u + j] = hh;
            }
        }
    }

    /// Writes dp_z, dp_h and dh_{t-1}'s direct part; dp_r is 0 until
    /// [`ResetBefore::backward_step`] has ds.
    fn backward(
        act: Activations,
        u: usize,
        cache: &[f32],
        h_prev: &[f32],
        _h: &[f32],
        _c_prev: &[f32],
        _c: &[f32],
        dh: &[f32],
        _dc: &mut [f32],
        dp: &mut [f32],
        _dr: &mut [f32],
        dh_prev: &mut [f32],
    ) {
        let rows = cache.chunks_exact(3 * u).zip(dp.chunks_exact_mut(3 * u));
        for (b, (cache, dp)) in rows.enumerate() {
            let at = b * u;
            for j in 0..u {
                let (z, hh) = (cache[j], cache[2 * u + j]);
                let dh = dh[at + j];
                dp[j] = dh * (h_prev[at + j] - hh) * act.gate.derivative(0.0, z);
                dp[u + j] = 0.0;
                dp[2 * u + j] = dh * (1.0 - z) * act.f.derivative(0.0, hh);
                dh_prev[at + j] = dh * z;
            }
        }
    }
}

/// The two recurrent products of each step and their buffers (empty for the other cells).
#[derive(Default)]
pub(super) struct ResetBefore {
    /// R_zr (U, 2·U) and R_h (U, U), copied from R at each forward.
    r_zr: Vec<f32>,
    r_h: Vec<f32>,
    /// s = r ⊙ h̃_{t-1} of every step (T·B, U).
    s: Vec<f32>,
    /// One step's product before it goes into its columns: (B, 2·U) or (B, U).
    q: Vec<f32>,
    /// Backward: ds (B, U) and a step's dp columns gathered (B, 2·U) or (B, U).
    ds: Vec<f32>,
    d: Vec<f32>,
    /// dp_zr (T·B, 2·U) and dp_h (T·B, U) of every step, and dR's two blocks.
    dp_zr: Vec<f32>,
    dp_h: Vec<f32>,
    g_zr: Vec<f32>,
    g_h: Vec<f32>,
}

/// Copies columns `cols` of the rows of `src` (width `width`) into `dst` (width cols.len()).
fn gather(src: &[f32], width: usize, cols: std::ops::Range<usize>, dst: &mut [f32]) {
    let n = cols.len();
    for (row, out) in src.chunks_exact(width).zip(dst.chunks_exact_mut(n)) {
        out.copy_from_slice(&row[cols.clone()]);
    }
}

/// Copies the rows of `src` (width cols.len()) into columns `cols` of `dst` (width `width`).
fn scatter(src: &[f32], width: usize, cols: std::ops::Range<usize>, dst: &mut [f32]) {
    let n = cols.len();
    for (row, out) in src.chunks_exact(n).zip(dst.chunks_exact_mut(width)) {
        out[cols.clone()].copy_from_slice(row);
    }
}

impl ResetBefore {
    /// Before a forward pass over `rows` = T·B rows: splits the recurrent kernel R (U, 3·U).
    pub(super) fn start(&mut self, kernel: &[f32], u: usize, rows: usize) {
        self.r_zr.resize(u * 2 * u, 0.0);
        self.r_h.resize(u * u, 0.0);
        gather(kernel, 3 * u, 0..2 * u, &mut self.r_zr);
        gather(kernel, 3 * u, 2 * u..3 * u, &mut self.r_h);
        self.s.resize(rows * u, 0.0);
    }

    /// Step `step`'s products, before the cell: `q` (B, 3·U) gets h̃·R_zr and s·R_h, the reset
    /// gate goes into the cache, and s is kept.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn forward_step(
        &mut self,
        act: Activations,
        u: usize,
        step: usize,
        p: &[f32],
        h_in: &[f32],
        q: &mut [f32],
        cache: &mut [f32],
    ) {
        let batch = h_in.len() / u;
        self.q.resize(batch * 2 * u, 0.0);
        let zr = Mat::new(&self.r_zr, u, 2 * u);
        matmul(Mat::new(h_in, batch, u), zr, &mut self.q, false);
        scatter(&self.q, 3 * u, 0..2 * u, q);
        let s = &mut self.s[step * batch * u..][..batch * u];
        for b in 0..batch {
            let (p, q) = (&p[b * 3 * u..][..3 * u], &q[b * 3 * u..][..3 * u]);
            let cache = &mut cache[b * 3 * u..][..3 * u];
            for j in 0..u {
                let r = act.gate.value(p[u + j] + q[u + j]);
                cache[u + j] = r;
                s[b * u + j] = r * h_in[b * u + j];
            }
        }
        let q_h = &mut self.q[..batch * u];
        matmul(Mat::new(s, batch, u), Mat::new(&self.r_h, u, u), q_h, false);
        scatter(q_h, 3 * u, 2 * u..3 * u, q);
    }

    /// After the cell's backward of a step (and the padding's zeros): completes dp_r in `dp`
    /// (B, 3·U) and writes dL/dh̃_{t-1} through R (dp_zr·R_zrᵀ + ds ⊙ r) into `dh_rec` (B, U).
    pub(super) fn backward_step(
        &mut self,
        act: Activations,
        u: usize,
        dp: &mut [f32],
        cache: &[f32],
        h_in: &[f32],
        dh_rec: &mut [f32],
    ) {
        let batch = h_in.len() / u;
        self.d.resize(batch * 2 * u, 0.0);
        self.ds.resize(batch * u, 0.0);
        let da = &mut self.d[..batch * u];
        gather(dp, 3 * u, 2 * u..3 * u, da);
        matmul(
            Mat::new(da, batch, u),
            Mat::new(&self.r_h, u, u).t(),
            &mut self.ds,
            false,
        );
        for b in 0..batch {
            let (dp, cache) = (&mut dp[b * 3 * u..][..3 * u], &cache[b * 3 * u..][..3 * u]);
            for j in 0..u {
                let (r, ds) = (cache[u + j], &mut self.ds[b * u + j]);
                dp[u + j] = *ds * h_in[b * u + j] * act.gate.derivative(0.0, r);
                *ds *= r;
            }
        }
        gather(dp, 3 * u, 0..2 * u, &mut self.d);
        let zr = Mat::new(&self.r_zr, u, 2 * u);
        dh_rec.copy_from_slice(&self.ds);
        matmul(Mat::new(&self.d, batch, 2 * u), zr.t(), dh_rec, true);
    }

    /// dR (U, 3·U) over all `rows` = T·B rows: h̃ᵀ·dp_zr in its first 2·U columns and sᵀ·dp_h
    /// in its last U, from dP (T·B, 3·U) and h̃ (T·B, U).
    pub(super) fn kernel_gradient(&mut self, u: usize, dp: &[f32], h_in: &[f32], grad: &mut [f32]) {
        let rows = h_in.len() / u;
        self.dp_zr.resize(rows * 2 * u, 0.0);
        self.dp_h.resize(rows * u, 0.0);
        self.g_zr.resize(u * 2 * u, 0.0);
        self.g_h.resize(u * u, 0.0);
        gather(dp, 3 * u, 0..2 * u, &mut self.dp_zr);
        gather(dp, 3 * u, 2 * u..3 * u, &mut self.dp_h);
        let (h_t, s_t) = (Mat::new(h_in, rows, u).t(), Mat::new(&self.s, rows, u).t());
        matmul(
            h_t,
            Mat::new(&self.dp_zr, rows, 2 * u),
            &mut self.g_zr,
            false,
        );
        matmul(s_t, Mat::new(&self.dp_h, rows, u), &mut self.g_h, false);
        scatter(&self.g_zr, 3 * u, 0..2 * u, grad);
        scatter(&self.g_h, 3 * u, 2 * u..3 * u, grad);
    }

    /// Values held for a batch of `batch` sequences of `steps` steps and `u` units.
    pub(super) fn scratch_values(steps: usize, batch: usize, u: usize) -> usize {
        let rows = steps.saturating_mul(batch);
        rows.saturating_mul(4 * u)
            .saturating_add(batch.saturating_mul(3 * u))
            .saturating_add(6 * u * u)
    }
}
