//! Keras' `SimpleRNN` cell (Elman 1990): h_t = f(x_t·W + h_{t-1}·R + b), run over time by
//! [`super::recurrent`].
//!
//! Backward of a step, with dz = dh_t ⊙ f'(h_t): dP_t = dr_t = dz; h_{t-1} gets nothing but
//! dz·Rᵀ (added by the time loop).

use super::recurrent::{activate, Activations, Cell};

/// The SimpleRNN step.
pub(super) struct SimpleRnnCell;

impl Cell for SimpleRnnCell {
    const CLASS: &'static str = "SimpleRNN";
    const CACHE: usize = 0;
    const SPLIT_RECURRENT: bool = false;
    const CARRY: bool = false;

    fn forward(
        act: Activations,
        _units: usize,
        p: &[f32],
        r: &[f32],
        _h_prev: &[f32],
        _c_prev: &[f32],
        _cache: &mut [f32],
        h: &mut [f32],
        _c: &mut [f32],
    ) {
        for ((h, &p), &r) in h.iter_mut().zip(p).zip(r) {
            *h = p + r;
        }
        activate(act.f, h);
    }

    fn backward(
        act: Activations,
        _units: usize,
        _cache: &[f32],
        _h_prev: &[f32],
        h: &[f32],
        _c_prev: &[f32],
        _c: &[f32],
        dh: &[f32],
        _dc: &mut [f32],
        dp: &mut [f32],
        _dr: &mut [f32],
        dh_prev: &mut [f32],
    ) {
        for ((dp, &dh), &h) in dp.iter_mut().zip(dh).zip(h) {
            *dp = dh * act.f.derivative(0.0, h);
        }
        dh_prev.fill(0.0);
    }
}
