//! The lowering that turns a convolution into one matrix product (im2col, Chellapilla et al.
//! 2006), and its adjoint: [`im2col`] gathers every window of the input into a row of `cols`,
//! zeros in the padding; [`col2im`] adds each row back onto the input positions it read (the
//! input gradient). Both run over the batch on the engine's threads.

use super::Window2;
use crate::parallel::{self, PARALLEL_MIN_ELEMENTS};

/// How many samples make a piece of parallel work of at least [`PARALLEL_MIN_ELEMENTS`] values.
fn min_samples(per_sample: usize) -> usize {
    PARALLEL_MIN_ELEMENTS.div_ceil(per_sample.max(1))
}

/// cols[(n, oy, ox), (ky, kx, c)] = x[n, oy·s + ky·d − pad, ox·s + kx·d − pad, c], 0 where that
/// falls in the padding; over the batch in parallel.
pub(super) fn im2col(x: &[f32], cols: &mut [f32], window: Window2, channels: usize) {
    let sample_in = window.rows.input * window.cols.input * channels;
    let (oh, ow) = window.output();
    let sample_cols = oh * ow * window.rows.kernel * window.cols.kernel * channels;
    parallel::chunks_mut(
        cols,
        min_samples(sample_cols) * sample_cols,
        sample_cols,
        &|at, chunk| {
            for (i, cols) in chunk.chunks_exact_mut(sample_cols).enumerate() {
                let n = at / sample_cols + i;
                im2col_sample(&x[n * sample_in..][..sample_in], cols, window, channels);
            }
        },
    );
}

/// [`im2col`] of one sample: x (H, W, C) into cols (OH·OW, K).
fn im2col_sample(x: &[f32], cols: &mut [f32], window: Window2, channels: usize) {
    let (rows, columns) = (window.rows, window.cols);
    let (kh, kw) = (rows.kernel, columns.kernel);
    let k = kh * kw * channels;
    let run = kw * channels;
    for oy in 0..rows.output {
        for ox in 0..columns.output {
            let patch = &mut cols[(oy * columns.output + ox) * k..][..k];
            for ky in 0..kh {
                let taps = &mut patch[ky * run..][..run];
                let Some(iy) = rows.source(oy, ky) else {
                    taps.fill(0.0);
                    continue;
                };
                let line = &x[iy * columns.input * channels..][..columns.input * channels];
                match (columns.source(ox, 0), columns.source(ox, kw - 1)) {
                    // The whole row of taps is contiguous in the input: one copy.
                    (Some(first), Some(_)) if columns.dilation == 1 => {
                        copy_run(taps, &line[first * channels..][..run]);
                    }
                    _ => {
                        for (kx, tap) in taps.chunks_exact_mut(channels).enumerate() {
                            match columns.source(ox, kx) {
                                Some(ix) => tap.copy_from_slice(&line[ix * channels..][..channels]),
                                None => tap.fill(0.0),
                            }
                        }
                    }
                }
            }
        }
    }
}

/// dst ← src. A run of a few values (a 3×3 kernel over one channel copies 3 at a time) is
/// copied in place: `copy_from_slice` of a length unknown at compile time calls `memcpy`, whose
/// call costs more than such a copy.
#[inline(always)]
fn copy_run(dst: &mut [f32], src: &[f32]) {
    macro_rules! fixed {
        ($($n:literal)*) => {
            match dst.len() {
                $($n => dst[..$n].copy_from_slice(&src[..$n]),)*
                _ => dst.copy_from_slice(src),
            }
        };
    }
    fixed!(1 2 3 4 5 6 7 8);
}

/// dx[n, iy, ix, c] = Σ of dcols over every (window, tap) that read x[n, iy, ix, c] (the
/// adjoint of [`im2col`]); over the batch in parallel, each sample summed in a fixed order.
pub(super) fn col2im(dcols: &[f32], dx: &mut [f32], window: Window2, channels: usize) {
    let sample_in = window.rows.input * window.cols.input * channels;
    let (oh, ow) = window.output();
    let sample_cols = oh * ow * window.rows.kernel * window.cols.kernel * channels;
    parallel::chunks_mut(
        dx,
        min_samples(sample_cols) * sample_in,
        sample_in,
        &|at, chunk| {
            for (i, dx) in chunk.chunks_exact_mut(sample_in).enumerate() {
                let n = at / sample_in + i;
                col2im_sample(
                    &dcols[n * sample_cols..][..sample_cols],
                    dx,
                    window,
                    channels,
                );
            }
        },
    );
}

/// [`col2im`] of one sample: dcols (OH·OW, K) into dx (H, W, C), which it overwrites.
fn col2im_sample(dcols: &[f32], dx: &mut [f32], window: Window2, channels: usize) {
    dx.fill(0.0);
    let (rows, columns) = (window.rows, window.cols);
    let (kh, kw) = (rows.kernel, columns.kernel);
    let k = kh * kw * channels;
    let run = kw * channels;
    let line_len = columns.input * channels;
    for oy in 0..rows.output {
        for ox in 0..columns.output {
            let patch = &dcols[(oy * columns.output + ox) * k..][..k];
            for ky in 0..kh {
                let Some(iy) = rows.source(oy, ky) else {
                    continue;
                };
                let taps = &patch[ky * run..][..run];
                let line = &mut dx[iy * line_len..][..line_len];
                match (columns.source(ox, 0), columns.source(ox, kw - 1)) {
                    (Some(first), Some(_)) if columns.dilation == 1 => line[first * channels..]
                        [..run]
                        .iter_mut()
                        .zip(taps)
                        .for_each(|(d, &g)| *d += g),
                    _ => {
                        for (kx, tap) in taps.chunks_exact(channels).enumerate() {
                            if let Some(ix) = columns.source(ox, kx) {
                                line[ix * channels..][..channels]
                                    .iter_mut()
                                    .zip(tap)
                                    .for_each(|(d, &g)| *d += g);
                            }
                        }
                    }
                }
            }
        }
    }
}
