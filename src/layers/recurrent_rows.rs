//! The recurrent cells' step over a batch: [`Cell::forward`] and [`Cell::backward`] with the
//! batch's rows split between the pool's threads (a row's arithmetic is the same whatever the
//! split, so the bits do not depend on the thread count), and the row sums the time loop uses.

use super::recurrent::{Activations, Cell};
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
