//! Keras' `GRU` cell (Cho et al. 2014) with `reset_after = true` (Keras 3's default, the cuDNN
//! and PyTorch `nn.GRU` form), gate order z, r, h as Keras (PyTorch orders its rows r, z, n),
//! run over time by [`super::recurrent`]. With x-parts p = x_t·W + b_in and recurrent parts
//! q = h_{t-1}·R + b_rec, each split in three:
//! ```text
//! z = σ(p_z + q_z)   r = σ(p_r + q_r)   ĥ = f(p_h + r ⊙ q_h)
//! h_t = z ⊙ h_{t-1} + (1 - z) ⊙ ĥ
//! ```
//! Backward of a step, from dh_t: da = dh_t ⊙ (1 - z) ⊙ f'(ĥ); dp_h = da, dq_h = da ⊙ r;
//! dp_r = dq_r = da ⊙ q_h ⊙ σ'(r); dp_z = dq_z = dh_t ⊙ (h_{t-1} - ĥ) ⊙ σ'(z); and h_{t-1}
//! gets dh_t ⊙ z directly (the time loop adds dq·Rᵀ).

use super::recurrent::{activate, Activations, Cell};

/// The GRU step.
pub(super) struct GruCell;

impl Cell for GruCell {
    const CLASS: &'static str = "GRU";
    /// z, r, ĥ and q_h.
    const CACHE: usize = 4;
    const SPLIT_RECURRENT: bool = true;
    const CARRY: bool = false;

    fn forward(
        act: Activations,
        u: usize,
        p: &[f32],
        q: &[f32],
        h_prev: &[f32],
        _c_prev: &[f32],
        cache: &mut [f32],
        h: &mut [f32],
        _c: &mut [f32],
    ) {
        let rows = p
            .chunks_exact(3 * u)
            .zip(q.chunks_exact(3 * u))
            .zip(cache.chunks_exact_mut(4 * u));
        for (b, ((p, q), cache)) in rows.enumerate() {
            let (h_prev, h) = (&h_prev[b * u..][..u], &mut h[b * u..][..u]);
            // z and r, then ĥ, each activation over a whole gate slice (vectorized for tanh and σ).
            let (zr, rest) = cache.split_at_mut(2 * u);
            let (hh, qh) = rest.split_at_mut(u);
            zr.iter_mut()
                .zip(p.iter().zip(q))
                .for_each(|(g, (&p, &q))| *g = p + q);
            activate(act.gate, zr);
            let (z, r) = zr.split_at(u);
            qh.copy_from_slice(&q[2 * u..]);
            for j in 0..u {
                hh[j] = p[2 * u + j] + r[j] * qh[j];
            }
            activate(act.f, hh);
            for j in 0..u {
                h[j] = z[j] * h_prev[j] + (1.0 - z[j]) * hh[j];
            }
        }
    }

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
        dq: &mut [f32],
        dh_prev: &mut [f32],
    ) {
        let rows = cache
            .chunks_exact(4 * u)
            .zip(dp.chunks_exact_mut(3 * u))
            .zip(dq.chunks_exact_mut(3 * u));
        for (b, ((cache, dp), dq)) in rows.enumerate() {
            let at = b * u;
            for j in 0..u {
                let (z, r, hh, qh) = (cache[j], cache[u + j], cache[2 * u + j], cache[3 * u + j]);
                let dh = dh[at + j];
                let da = dh * (1.0 - z) * act.f.derivative(0.0, hh);
                let dr = da * qh * act.gate.derivative(0.0, r);
                let dz = dh * (h_prev[at + j] - hh) * act.gate.derivative(0.0, z);
                dp[j] = dz;
                dq[j] = dz;
                dp[u + j] = dr;
                dq[u + j] = dr;
                dp[2 * u + j] = da;
                dq[2 * u + j] = da * r;
                dh_prev[at + j] = dh * z;
            }
        }
    }
}
