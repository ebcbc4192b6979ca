//! The recurrent cells' step over a batch: [`Cell::forward`] and [`Cell::backward`] with the
//! batch's rows split between the pool's threads (a row's arithmetic is the same whatever the
//! split, so the bits do not depend on the thread count), and the row sums the time loop uses.
//!
//! [`forward_step`] and [`backward_step`] run a whole step as one job: each thread takes its
//! rows through the step's recurrent product (h̃·R, or dr·Rᵀ backward, on its rows only) and
//! the cell, so a step waits for the other thread once instead of after every product and every
//! element-wise pass, and a row's gates are still in its core's cache when the cell reads them.
//! An element of a product over some rows has the bits of the product over all of them
//! ([`crate::linalg::matmul_one_thread`]).

use std::ops::Range;

use super::recurrent::{Activations, Cell};
use crate::linalg::{matmul, matmul_one_thread, Mat, PARALLEL_MIN_MULADDS};
use crate::parallel::SharedMut;

/// A step's element-wise work on fewer values (batch × G·U) than this stays on one thread. Each
/// value costs an activation (tens of nanoseconds) against about a microsecond for the split.
const CELL_PARALLEL_MIN: usize = 2048;

/// The batch's rows in `parts` ranges for the pool's threads: by rows of `width` values.
fn row_ranges(batch: usize, width: usize, f: &(dyn Fn(std::ops::Range<usize>) + Sync)) {
    let min_rows = CELL_PARALLEL_MIN.div_ceil(width.max(1));
    crate::parallel::for_each_range(batch, min_rows, 1, f);
}

/// [`Cell::forward`] over the batch, its rows split between the pool's threads (a row's
/// arithmetic is the same whatever the split, so the bits do not depend on the thread count).
#[allow(clippy::too_many_arguments)]
pub(super) fn forward_rows<C: Cell>(
    act: Activations,
    u: usize,
    p: &[f32],
    r: &[f32],
    h_prev: &[f32],
    c_prev: &[f32],
    cache: &mut [f32],
    h: &mut [f32],
    c: &mut [f32],
) {
    let (batch, gu, cu) = (h.len() / u, p.len() / (h.len() / u).max(1), C::CACHE * u);
    let (cache, h, c) = (SharedMut::new(cache), SharedMut::new(h), SharedMut::new(c));
    let carry = |rows: &std::ops::Range<usize>| {
        if C::CARRY {
            rows.start * u..rows.end * u
        } else {
            0..0
        }
    };
    row_ranges(batch, gu, &|rows| {
        let (ru, rg, rc) = (
            rows.start * u..rows.end * u,
            rows.start * gu..rows.end * gu,
            carry(&rows),
        );
        // SAFETY: the ranges of rows are disjoint and within the batch; each slice holds
        // batch rows of its width (or is empty, with an empty range, for a cell without carry).
        let (cache, h_out, c_out) = unsafe {
            (
                cache.slice(rows.start * cu..rows.end * cu),
                h.slice(ru.clone()),
                c.slice(rc.clone()),
            )
        };
        C::forward(
            act,
            u,
            &p[rg.clone()],
            &r[rg],
            &h_prev[ru],
            &c_prev[rc],
            cache,
            h_out,
            c_out,
        );
    });
}

/// [`Cell::backward`] over the batch, its rows split between the pool's threads as in
/// [`forward_rows`].
#[allow(clippy::too_many_arguments)]
pub(super) fn backward_rows<C: Cell>(
    act: Activations,
    u: usize,
    cache: &[f32],
    h_prev: &[f32],
    h: &[f32],
    c_prev: &[f32],
    c: &[f32],
    dh: &[f32],
    dc: &mut [f32],
    dp: &mut [f32],
    dr: &mut [f32],
    dh_prev: &mut [f32],
) {
    let batch = dh.len() / u;
    let (gu, cu) = (dp.len() / batch.max(1), C::CACHE * u);
    let split = C::SPLIT_RECURRENT;
    let (dc, dp, dr, dh_prev) = (
        SharedMut::new(dc),
        SharedMut::new(dp),
        SharedMut::new(dr),
        SharedMut::new(dh_prev),
    );
    row_ranges(batch, gu, &|rows| {
        let (ru, rg) = (rows.start * u..rows.end * u, rows.start * gu..rows.end * gu);
        let rc = if C::CARRY { ru.clone() } else { 0..0 };
        let rr = if split { rg.clone() } else { 0..0 };
        // SAFETY: as in forward_rows: disjoint row ranges within the batch, empty ranges for the
        // empty slices of a cell without carry or split recurrent part.
        let (dc, dp, dr, dh_prev) = unsafe {
            (
                dc.slice(rc.clone()),
                dp.slice(rg),
                dr.slice(rr),
                dh_prev.slice(ru.clone()),
            )
        };
        C::backward(
            act,
            u,
            &cache[rows.start * cu..rows.end * cu],
            &h_prev[ru.clone()],
            &h[ru.clone()],
            &c_prev[rc.clone()],
            &c[rc],
            &dh[ru],
            dc,
            dp,
            dr,
            dh_prev,
        );
    });
}

/// `rows` += `bias` for every row.
pub(super) fn add_rows(rows: &mut [f32], bias: &[f32]) {
    for row in rows.chunks_exact_mut(bias.len()) {
        row.iter_mut().zip(bias).for_each(|(v, &b)| *v += b);
    }
}

/// `sum` = Σ over rows of `rows`.
pub(super) fn sum_rows(rows: &[f32], sum: &mut [f32]) {
    sum.fill(0.0);
    for row in rows.chunks_exact(sum.len()) {
        sum.iter_mut().zip(row).for_each(|(s, &v)| *s += v);
    }
}

/// Rows per thread of a fused step at least: fewer, and a thread's product would be too small
/// to pay for the split.
const STEP_MIN_ROWS: usize = 16;

/// Runs `f(rows, whole)` over the batch: split into ranges of rows between the pool's threads
/// (`whole` false) when the step's product has at least [`PARALLEL_MIN_MULADDS`] multiply-adds
/// and every thread gets [`STEP_MIN_ROWS`] rows; else once over every row (`whole` true), where
/// the step runs as the time loop did before fusing: its product split by [`matmul`] and its
/// cell by [`forward_rows`] or [`backward_rows`]. Those splits give a smaller batch the same bits
/// as before (gemm sums blocks of at most 16 × 16 values of C in another order, which a split
/// by rows never makes: its blocks have at least 16 rows and, the product being large, more
/// than 16 columns).
fn step_rows(batch: usize, muladds: usize, f: &(dyn Fn(Range<usize>, bool) + Sync)) {
    let threads = crate::parallel::num_threads();
    if muladds < PARALLEL_MIN_MULADDS || threads < 2 || batch < 2 * STEP_MIN_ROWS {
        f(0..batch, true);
    } else {
        crate::parallel::for_each_range(batch, STEP_MIN_ROWS, 1, &|rows| f(rows, false));
    }
}

/// `out = a·b` (or `+=` when `accumulate`): on this thread for a part of a split step, else
/// split as [`matmul`] splits it.
fn product(whole: bool, a: Mat, b: Mat, out: &mut [f32], accumulate: bool) {
    if whole {
        matmul(a, b, out, accumulate);
    } else {
        matmul_one_thread(a, b, out, accumulate);
    }
}

/// The rows padded at one step: `mask` (B, T) is the time-step mask in input order (empty
/// without one), `t` the input step read.
#[derive(Clone, Copy)]
pub(super) struct Padding<'a> {
    pub mask: &'a [f32],
    pub steps: usize,
    pub t: usize,
}

impl Padding<'_> {
    /// Whether row `b` is padding at this step.
    pub(super) fn padded(&self, b: usize) -> bool {
        !self.mask.is_empty() && self.mask[b * self.steps + self.t] == 0.0
    }
}

/// What one step reads besides its inputs: the cell's activations, units U, the recurrent
/// kernel R (U, G·U), the recurrent bias (G·U) of a split cell, the state dropout mask (B, U;
/// empty when off) and the step's padding.
#[derive(Clone, Copy)]
pub(super) struct Step<'a> {
    pub act: Activations,
    pub units: usize,
    pub recurrent: Mat<'a>,
    pub recurrent_bias: Option<&'a [f32]>,
    pub state_mask: &'a [f32],
    pub padding: Padding<'a>,
}

/// A forward step's outputs, (B, ·) row-major: h̃_{t-1} (B, U; empty without recurrent
/// dropout), r = h̃_{t-1}·R (+ recurrent bias) (B, G·U), the gates (B, CACHE·U), h_t and c_t
/// (empty for a cell without carry).
pub(super) struct ForwardOut<'a> {
    pub h_masked: &'a mut [f32],
    pub r: &'a mut [f32],
    pub cache: &'a mut [f32],
    pub h: &'a mut [f32],
    pub c: &'a mut [f32],
}

/// One forward step of a cell without [`Cell::RESET_BEFORE`], from its input part `p`
/// (B, G·U) and the previous states, each thread on its rows: h̃ = h_{t-1} ⊙ mask,
/// r = h̃·R (+ bias), the cell, and a padded row's states carried through.
pub(super) fn forward_step<C: Cell>(
    step: &Step,
    p: &[f32],
    h_prev: &[f32],
    c_prev: &[f32],
    out: ForwardOut,
) {
    let u = step.units;
    let batch = h_prev.len() / u.max(1);
    let (gu, cu) = (p.len() / batch.max(1), C::CACHE * u);
    let masked = !step.state_mask.is_empty();
    let h_masked = SharedMut::new(out.h_masked);
    let (r, cache) = (SharedMut::new(out.r), SharedMut::new(out.cache));
    let (h, c) = (SharedMut::new(out.h), SharedMut::new(out.c));
    step_rows(batch, batch * u * gu, &|rows, whole| {
        let (ru, rg) = (rows.start * u..rows.end * u, rows.start * gu..rows.end * gu);
        let rc = if C::CARRY { ru.clone() } else { 0..0 };
        // SAFETY: the ranges of rows are disjoint and within the batch; each slice holds batch
        // rows of its width, or is empty with an empty range (no recurrent dropout, no carry).
        let (h_masked, r, cache, h, c) = unsafe {
            (
                h_masked.slice(if masked { ru.clone() } else { 0..0 }),
                r.slice(rg.clone()),
                cache.slice(rows.start * cu..rows.end * cu),
                h.slice(ru.clone()),
                c.slice(rc.clone()),
            )
        };
        let h_in: &[f32] = if masked {
            let rows = h_masked.iter_mut().zip(&h_prev[ru.clone()]);
            for ((d, &h), &m) in rows.zip(&step.state_mask[ru.clone()]) {
                *d = h * m;
            }
            h_masked
        } else {
            &h_prev[ru.clone()]
        };
        product(
            whole,
            Mat::new(h_in, rows.len(), u),
            step.recurrent,
            r,
            false,
        );
        if let Some(bias) = step.recurrent_bias {
            add_rows(r, bias);
        }
        let (h_prev, c_prev) = (&h_prev[ru], &c_prev[rc]);
        if whole {
            forward_rows::<C>(step.act, u, &p[rg], r, h_prev, c_prev, cache, h, c);
        } else {
            C::forward(step.act, u, &p[rg], r, h_prev, c_prev, cache, h, c);
        }
        // A padded step carries the state through.
        for b in rows.clone().filter(|&b| step.padding.padded(b)) {
            let row = (b - rows.start) * u..(b - rows.start + 1) * u;
            h[row.clone()].copy_from_slice(&h_prev[row.clone()]);
            if C::CARRY {
                c[row.clone()].copy_from_slice(&c_prev[row]);
            }
        }
    });
}

/// A backward step's inputs, (B, ·) row-major: the gates, h_{t-1}, h_t, c_{t-1}, c_t (empty
/// without carry), dL/dh_t, and the output's gradient at the step before (with
/// `return_sequences`): (dy, T), dy the output's gradient (B, T, U) from step t-1 on.
pub(super) struct BackwardIn<'a> {
    pub cache: &'a [f32],
    pub h_prev: &'a [f32],
    pub h: &'a [f32],
    pub c_prev: &'a [f32],
    pub c: &'a [f32],
    pub dh: &'a [f32],
    pub dy: Option<(&'a [f32], usize)>,
}

/// A backward step's outputs and scratch: dL/dc (in: dc_t; out: dc_{t-1}), its copy before the
/// step (B, U; for padding with carry, else empty), dP_t and dr_t (B, G·U; dr empty but for a
/// split cell), dL/dh_{t-1} and dr_t·Rᵀ (B, U; used with recurrent dropout only).
pub(super) struct BackwardOut<'a> {
    pub dc: &'a mut [f32],
    pub dc_keep: &'a mut [f32],
    pub dp: &'a mut [f32],
    pub dr: &'a mut [f32],
    pub dh_prev: &'a mut [f32],
    pub dh_rec: &'a mut [f32],
}

/// One backward step of a cell without [`Cell::RESET_BEFORE`], each thread on its rows: the
/// cell's backward, a padded row's dh and dc passed through with no gradient of its own, and,
/// unless this is the first step (`first`), dh_{t-1} += (dr_t·Rᵀ) ⊙ mask plus the output's
/// gradient at t-1.
pub(super) fn backward_step<C: Cell>(step: &Step, first: bool, inp: BackwardIn, out: BackwardOut) {
    let u = step.units;
    let batch = inp.dh.len() / u.max(1);
    let (gu, cu) = (out.dp.len() / batch.max(1), C::CACHE * u);
    let masked = !step.state_mask.is_empty();
    let keep = !out.dc_keep.is_empty();
    let (dc, dc_keep) = (SharedMut::new(out.dc), SharedMut::new(out.dc_keep));
    let (dp, dr) = (SharedMut::new(out.dp), SharedMut::new(out.dr));
    let (dh_prev, dh_rec) = (SharedMut::new(out.dh_prev), SharedMut::new(out.dh_rec));
    step_rows(batch, batch * u * gu, &|rows, whole| {
        let (ru, rg) = (rows.start * u..rows.end * u, rows.start * gu..rows.end * gu);
        let rc = if C::CARRY { ru.clone() } else { 0..0 };
        let rr = if C::SPLIT_RECURRENT { rg.clone() } else { 0..0 };
        // SAFETY: as in forward_step: disjoint row ranges within the batch, empty ranges for
        // the empty slices.
        let (dc, dc_keep, dp, dr, dh_prev, dh_rec) = unsafe {
            (
                dc.slice(rc.clone()),
                dc_keep.slice(if keep { ru.clone() } else { 0..0 }),
                dp.slice(rg),
                dr.slice(rr),
                dh_prev.slice(ru.clone()),
                dh_rec.slice(if masked { ru.clone() } else { 0..0 }),
            )
        };
        dc_keep.copy_from_slice(&dc[..dc_keep.len()]);
        let dh = &inp.dh[ru.clone()];
        let cell = if whole {
            backward_rows::<C>
        } else {
            C::backward
        };
        cell(
            step.act,
            u,
            &inp.cache[rows.start * cu..rows.end * cu],
            &inp.h_prev[ru.clone()],
            &inp.h[ru.clone()],
            &inp.c_prev[rc.clone()],
            &inp.c[rc],
            dh,
            dc,
            dp,
            dr,
            dh_prev,
        );
        // A padded step passes dh and dc through and has no gradient of its own.
        for b in rows.clone().filter(|&b| step.padding.padded(b)) {
            let (row, gates) = ((b - rows.start) * u, (b - rows.start) * gu);
            dp[gates..gates + gu].fill(0.0);
            if C::SPLIT_RECURRENT {
                dr[gates..gates + gu].fill(0.0);
            }
            dh_prev[row..row + u].copy_from_slice(&dh[row..row + u]);
            if C::CARRY {
                dc[row..row + u].copy_from_slice(&dc_keep[row..row + u]);
            }
        }
        if first {
            return;
        }
        // dh_{t-1} = direct part + (dr_t·Rᵀ) ⊙ mask + the output's gradient at t - 1.
        let d_rec = Mat::new(if C::SPLIT_RECURRENT { &*dr } else { &*dp }, rows.len(), gu);
        if masked {
            product(whole, d_rec, step.recurrent.t(), dh_rec, false);
            let mask = &step.state_mask[ru];
            for ((d, &g), &m) in dh_prev.iter_mut().zip(&*dh_rec).zip(mask) {
                *d += g * m;
            }
        } else {
            product(whole, d_rec, step.recurrent.t(), dh_prev, true);
        }
        if let Some((dy, steps)) = inp.dy {
            for (b, d) in rows.zip(dh_prev.chunks_exact_mut(u)) {
                let src = &dy[b * steps * u..][..u];
                d.iter_mut().zip(src).for_each(|(d, &g)| *d += g);
            }
        }
    });
}
