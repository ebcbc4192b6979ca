//! Keras' `LSTM` cell (Hochreiter & Schmidhuber 1997; forget gate of Gers et al. 2000), gate
//! order i, f, c, o as Keras (PyTorch's `nn.LSTM` orders its rows i, f, g, o: the same order,
//! transposed), run over time by [`super::recurrent`]. With z = x_t·W + h_{t-1}·R + b split in
//! four, σ the gate activation and f the state activation:
//! ```text
//! i = σ(z_i)   f = σ(z_f)   g = f(z_c)   o = σ(z_o)
//! c_t = f ⊙ c_{t-1} + i ⊙ g      h_t = o ⊙ f(c_t)
//! ```
//! Backward of a step, from dh_t and dc_t (the carry from step t+1):
//! dc = dc_t + dh_t ⊙ o ⊙ f'(c_t); dz_i = dc ⊙ g ⊙ σ'(i), dz_f = dc ⊙ c_{t-1} ⊙ σ'(f),
//! dz_c = dc ⊙ i ⊙ f'(g), dz_o = dh_t ⊙ f(c_t) ⊙ σ'(o); dc_{t-1} = dc ⊙ f.

use super::recurrent::{activate, Activations, Cell};
use super::RecurrentSpec;
use crate::activations::Activation;

/// The LSTM step.
pub(super) struct LstmCell;

impl Cell for LstmCell {
    const CLASS: &'static str = "LSTM";
    /// i, f, g, o and f(c_t).
    const CACHE: usize = 5;
    const SPLIT_RECURRENT: bool = false;
    const CARRY: bool = true;

    /// Keras' `unit_forget_bias` (default true): the forget gate's bias starts at 1
    /// (Jozefowicz et al. 2015).
    fn adjust_bias(spec: &RecurrentSpec, bias: &mut [f32]) {
        if spec.unit_forget_bias.unwrap_or(true) {
            let u = spec.units;
            bias[u..2 * u].fill(1.0);
        }
    }

    fn forward(
        act: Activations,
        u: usize,
        p: &[f32],
        r: &[f32],
        _h_prev: &[f32],
        c_prev: &[f32],
        cache: &mut [f32],
        h: &mut [f32],
        c: &mut [f32],
    ) {
        let rows = p
            .chunks_exact(4 * u)
            .zip(r.chunks_exact(4 * u))
            .zip(cache.chunks_exact_mut(5 * u));
        for (b, ((p, r), cache)) in rows.enumerate() {
            let (gates, tc) = cache.split_at_mut(4 * u);
            gates
                .iter_mut()
                .zip(p.iter().zip(r))
                .for_each(|(g, (&p, &r))| *g = p + r);
            // Each activation over a whole gate slice at once (vectorized for tanh and σ).
            let (ifg, o) = gates.split_at_mut(3 * u);
            let (i_f, g) = ifg.split_at_mut(2 * u);
            activate(act.gate, i_f);
            activate(act.f, g);
            activate(act.gate, o);
            let (c_prev, c, h) = (
                &c_prev[b * u..][..u],
                &mut c[b * u..][..u],
                &mut h[b * u..][..u],
            );
            for j in 0..u {
                c[j] = i_f[u + j] * c_prev[j] + i_f[j] * g[j];
            }
            tc.copy_from_slice(c);
            activate(act.f, tc);
            for ((h, &o), &tc) in h.iter_mut().zip(&*o).zip(&*tc) {
                *h = o * tc;
            }
        }
    }

    fn backward(
        act: Activations,
        u: usize,
        cache: &[f32],
        _h_prev: &[f32],
        _h: &[f32],
        c_prev: &[f32],
        c: &[f32],
        dh: &[f32],
        dc: &mut [f32],
        dp: &mut [f32],
        _dr: &mut [f32],
        dh_prev: &mut [f32],
    ) {
        let rows = cache.chunks_exact(5 * u).zip(dp.chunks_exact_mut(4 * u));
        for (b, (cache, dp)) in rows.enumerate() {
            let at = b * u..(b + 1) * u;
            let (c_prev, c, dh, dc) = (
                &c_prev[at.clone()],
                &c[at.clone()],
                &dh[at.clone()],
                &mut dc[at],
            );
            // Keras' default activations with their derivatives written out, so that the row
            // vectorizes (the same expressions as `Activation::derivative`, so the same bits).
            if let (Activation::Tanh, Activation::Sigmoid) = (act.f, act.gate) {
                row_backward(
                    cache,
                    c_prev,
                    c,
                    dh,
                    dc,
                    dp,
                    |_, y| 1.0 - y * y,
                    |y| y * (1.0 - y),
                );
            } else {
                let (f, gate) = (act.f, act.gate);
                let (df, dgate) = (|x, y| f.derivative(x, y), |y| gate.derivative(0.0, y));
                row_backward(cache, c_prev, c, dh, dc, dp, df, dgate);
            }
        }
        dh_prev.fill(0.0);
    }
}

/// One row's backward (the module's formulas), `df(c_t, f(c_t))` the state activation's
/// derivative and `dgate(σ)` the gates'.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn row_backward(
    cache: &[f32],
    c_prev: &[f32],
    c: &[f32],
    dh: &[f32],
    dc: &mut [f32],
    dp: &mut [f32],
    df: impl Fn(f32, f32) -> f32,
    dgate: impl Fn(f32) -> f32,
) {
    let u = dc.len();
    let (i, rest) = cache.split_at(u);
    let (f, rest) = rest.split_at(u);
    let (g, rest) = rest.split_at(u);
    let (o, tc) = rest.split_at(u);
    let (dp_i, rest) = dp.split_at_mut(u);
    let (dp_f, rest) = rest.split_at_mut(u);
    let (dp_g, dp_o) = rest.split_at_mut(u);
    let (tc, c_prev, c, dh, dp_o) = (&tc[..u], &c_prev[..u], &c[..u], &dh[..u], &mut dp_o[..u]);
    for j in 0..u {
        let dcc = dc[j] + dh[j] * o[j] * df(c[j], tc[j]);
        dp_i[j] = dcc * g[j] * dgate(i[j]);
        dp_f[j] = dcc * c_prev[j] * dgate(f[j]);
        dp_g[j] = dcc * i[j] * df(0.0, g[j]);
        dp_o[j] = dh[j] * tc[j] * dgate(o[j]);
        dc[j] = dcc * f[j];
    }
}
