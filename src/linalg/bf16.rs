//! Mixed-precision matrix products: bf16 inputs, f32 accumulation, on AVX-512 BF16
//! (`vdpbf16ps`), as PyTorch's CPU autocast and Keras' `mixed_bfloat16` policy
//! (Micikevicius et al. 2018, "Mixed Precision Training"; bf16 keeps f32's exponent range, so
//! no loss scaling).
//!
//! `out = keep · out + scale · bf16(A) · bf16(B)`, each input rounded to the nearest bf16
//! (ties to even), each product of two bf16 values exact in f32 and summed in f32.
//!
//! # Packed layout (oneDNN / BLIS style, for `vdpbf16ps`)
//! `vdpbf16ps acc, a, b` reads 32 bf16 pairs and adds `a[2j]·b[2j] + a[2j+1]·b[2j+1]` to f32
//! lane j. So both operands are packed as u32 words holding two consecutive k's (low half: even
//! k, high half: odd k; an odd k is padded with a zero), `kp = ⌈k/2⌉` words per row:
//! - A (m × k): row-major words, `a[i·kp + p] = (A[i, 2p], A[i, 2p+1])`; one word is broadcast
//!   to all 16 lanes.
//! - B (k × n): panels of [`NR`] = 32 columns; panel `q` holds `kp` rows of 32 words,
//!   `b[(q·kp + p)·32 + c] = (B[2p, 32q+c], B[2p+1, 32q+c])`, zero beyond column n: two
//!   vectors per k pair.
//!
//! The microkernel keeps an [`MR`] × 32 tile of C in 16 registers and runs over all of k, so
//! every element of C is one sum in k order, whichever thread computes it: the result does not
//! depend on the thread count.

use super::Mat;
use crate::parallel::{for_each_part, num_threads, SharedMut};

/// Rows of C per microkernel tile.
pub const MR: usize = 8;
/// Columns of C per microkernel tile (two 16-lane vectors).
pub const NR: usize = 32;

/// Whether this CPU runs `vdpbf16ps` (AVX-512 BF16), unless [`force_unsupported`] or the
/// environment variable `DEEPTRAIN_NO_BF16` (any value) said no, as on a CPU without it.
pub fn supported() -> bool {
    static NO_BF16_ENV: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if FORCED_OFF.load(std::sync::atomic::Ordering::Relaxed)
        || *NO_BF16_ENV.get_or_init(|| std::env::var_os("DEEPTRAIN_NO_BF16").is_some())
    {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

static FORCED_OFF: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes [`supported`] answer false for the rest of the process, as on a CPU without AVX-512
/// BF16 (for tests of the refusal and the fallback).
pub fn force_unsupported() {
    FORCED_OFF.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// The bf16 bits nearest to `x` (round to nearest, ties to even; a NaN stays a quiet NaN).
#[inline(always)]
pub fn bf16_bits(x: f32) -> u16 {
    let b = x.to_bits();
    if x.is_nan() {
        ((b >> 16) | 0x40) as u16
    } else {
        (b.wrapping_add(0x7FFF + ((b >> 16) & 1)) >> 16) as u16
    }
}

/// `x` rounded to the nearest bf16, as an f32.
pub fn round_to_bf16(x: f32) -> f32 {
    f32::from_bits((bf16_bits(x) as u32) << 16)
}

#[inline(always)]
fn pair(lo: f32, hi: f32) -> u32 {
    bf16_bits(lo) as u32 | (bf16_bits(hi) as u32) << 16
}

/// The packed bf16 copies of a product's operands, sized on first use and reused (no
/// allocation once a layer's shapes have been seen).
#[derive(Default)]
pub struct Bf16Buffers {
    a: Vec<u32>,
    b: Vec<u32>,
}

impl Bf16Buffers {
    /// `out = keep · out + scale · A·B` in bf16 with f32 accumulation, where `keep` is 0 (out
    /// is then not read) or 1. Falls back to the f32 product where [`supported`] is false.
    pub fn product(&mut self, a: Mat, b: Mat, out: &mut [f32], keep: f32, scale: f32) {
        let (m, k) = a.shape();
        let (k2, n) = b.shape();
        assert_eq!(k, k2, "inner dimensions differ: {m}x{k} · {k2}x{n}");
        assert_eq!(out.len(), m * n, "output is not {m}x{n}");
        if m == 0 || n == 0 || k == 0 || !supported() {
            super::product(a, b, out, keep, scale);
            return;
        }
        let kp = k.div_ceil(2);
        let panels = n.div_ceil(NR);
        grow(&mut self.a, m * kp);
        grow(&mut self.b, panels * kp * NR);
        pack_a(a, &mut self.a[..m * kp]);
        pack_b(b, &mut self.b[..panels * kp * NR]);
        let (pa, pb) = (&self.a[..m * kp], &self.b[..panels * kp * NR]);
        let row_blocks = m.div_ceil(MR);
        let threads = num_threads();
        let parts = if threads < 2 || m * n * k < super::PARALLEL_MIN_MULADDS {
            1
        } else {
            threads.min(row_blocks.max(panels))
        };
        let along_rows = row_blocks >= panels;
        let blocks = if along_rows { row_blocks } else { panels };
        let step = blocks.div_ceil(parts);
        let out_ptr = SharedMut::new(out);
        let run = |part: usize| {
            let range = part * step..((part + 1) * step).min(blocks);
            let (rows, cols) = if along_rows {
                (range, 0..panels)
            } else {
                (0..row_blocks, range)
            };
            for q in cols {
                for r in rows.clone() {
                    // SAFETY: the CPU has AVX-512 BF16 (checked above); each part writes its
                    // own tiles of the m×n `out`, which does not alias the packed buffers.
                    unsafe { tile(pa, pb, kp, r * MR, q, m, n, out_ptr.add(0), (keep, scale)) };
                }
            }
        };
        if parts == 1 {
            run(0);
        } else {
            for_each_part(parts, &run);
        }
    }
}

fn grow(buffer: &mut Vec<u32>, len: usize) {
    if buffer.len() < len {
        buffer.resize(len, 0);
    }
}

/// A (m × k, any strides) into row-major pair words.
fn pack_a(a: Mat, dst: &mut [u32]) {
    let (m, k) = a.shape();
    let (cs, rs) = a.strides();
    let kp = k.div_ceil(2);
    let at = |i: usize, p: usize| a.data[i * rs as usize + p * cs as usize];
    if cs == 1 {
        for (i, row) in dst.chunks_exact_mut(kp).enumerate() {
            let src = &a.data[i * rs as usize..i * rs as usize + k];
            for (w, s) in row.iter_mut().zip(src.chunks_exact(2)) {
                *w = pair(s[0], s[1]);
            }
            if k % 2 == 1 {
                row[kp - 1] = pair(src[k - 1], 0.0);
            }
        }
    } else {
        // Columns of A are contiguous: walk k outside.
        for p in 0..k / 2 {
            for i in 0..m {
                dst[i * kp + p] = pair(at(i, 2 * p), at(i, 2 * p + 1));
            }
        }
        if k % 2 == 1 {
            for i in 0..m {
                dst[i * kp + kp - 1] = pair(at(i, k - 1), 0.0);
            }
        }
    }
}

/// B (k × n, any strides) into panels of [`NR`] columns of pair words.
fn pack_b(b: Mat, dst: &mut [u32]) {
    let (k, n) = b.shape();
    let (cs, rs) = b.strides();
    let kp = k.div_ceil(2);
    let at = |p: usize, j: usize| {
        if p < k {
            b.data[p * rs as usize + j * cs as usize]
        } else {
            0.0
        }
    };
    for (q, panel) in dst.chunks_exact_mut(kp * NR).enumerate() {
        let j0 = q * NR;
        let width = NR.min(n - j0);
        if cs == 1 {
            for (p, words) in panel.chunks_exact_mut(NR).enumerate() {
                let lo = &b.data[2 * p * rs as usize + j0..][..width];
                if 2 * p + 1 < k {
                    let hi = &b.data[(2 * p + 1) * rs as usize + j0..][..width];
                    for ((w, &l), &h) in words.iter_mut().zip(lo).zip(hi) {
                        *w = pair(l, h);
                    }
                } else {
                    for (w, &l) in words.iter_mut().zip(lo) {
                        *w = pair(l, 0.0);
                    }
                }
                words[width..].fill(0);
            }
        } else {
            for c in 0..NR {
                for p in 0..kp {
                    panel[p * NR + c] = if c < width {
                        pair(at(2 * p, j0 + c), at(2 * p + 1, j0 + c))
                    } else {
                        0
                    };
                }
            }
        }
    }
}

/// One tile of C: rows `i0..i0+MR` (clipped to m) of panel `q`.
///
/// # Safety
/// The CPU must have AVX-512 F and BF16; `c` must address the m×n row-major C.
#[allow(clippy::too_many_arguments)]
#[cfg(target_arch = "x86_64")]
unsafe fn tile(
    a: &[u32],
    b: &[u32],
    kp: usize,
    i0: usize,
    q: usize,
    m: usize,
    n: usize,
    c: *mut f32,
    ks: (f32, f32),
) {
    let rows = MR.min(m - i0);
    let a = &a[i0 * kp..(i0 + rows) * kp];
    let b = &b[q * kp * NR..(q + 1) * kp * NR];
    let width = NR.min(n - q * NR);
    // SAFETY: forwarded from the caller.
    unsafe {
        match rows {
            8 => kernel::<8>(a, b, kp, c.add(i0 * n + q * NR), n, width, ks),
            7 => kernel::<7>(a, b, kp, c.add(i0 * n + q * NR), n, width, ks),
            6 => kernel::<6>(a, b, kp, c.add(i0 * n + q * NR), n, width, ks),
            5 => kernel::<5>(a, b, kp, c.add(i0 * n + q * NR), n, width, ks),
            4 => kernel::<4>(a, b, kp, c.add(i0 * n + q * NR), n, width, ks),
            3 => kernel::<3>(a, b, kp, c.add(i0 * n + q * NR), n, width, ks),
            2 => kernel::<2>(a, b, kp, c.add(i0 * n + q * NR), n, width, ks),
            _ => kernel::<1>(a, b, kp, c.add(i0 * n + q * NR), n, width, ks),
        }
    }
}

#[allow(clippy::too_many_arguments)]
#[cfg(not(target_arch = "x86_64"))]
unsafe fn tile(
    _: &[u32],
    _: &[u32],
    _: usize,
    _: usize,
    _: usize,
    _: usize,
    _: usize,
    _: *mut f32,
    _: (f32, f32),
) {
    unreachable!("bf16 products run only where `supported()`")
}

/// The R × 32 microkernel: `C[r, 0..width] = keep · C + scale · Σ_p a[r·kp+p] ⊙ b[p]`.
///
/// # Safety
/// The CPU must have AVX-512 F and BF16; `a` holds R rows of `kp` words, `b` `kp` rows of 32;
/// `c` addresses R rows of `ldc` floats, of which the first `width` (≤ 32) are written.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn kernel<const R: usize>(
    a: &[u32],
    b: &[u32],
    kp: usize,
    c: *mut f32,
    ldc: usize,
    width: usize,
    (keep, scale): (f32, f32),
) {
    use std::arch::x86_64::*;
    let mut acc = [[_mm512_setzero_ps(); 2]; R];
    let bp = b.as_ptr();
    let ap = a.as_ptr();
    for p in 0..kp {
        // SAFETY: p < kp, so the reads stay inside `b` (kp·32 words) and `a` (R·kp words).
        unsafe {
            let b0: __m512bh = std::mem::transmute(_mm512_loadu_si512(bp.add(p * NR).cast()));
            let b1: __m512bh = std::mem::transmute(_mm512_loadu_si512(bp.add(p * NR + 16).cast()));
            for (r, acc) in acc.iter_mut().enumerate() {
                let w: __m512bh =
                    std::mem::transmute(_mm512_set1_epi32(*ap.add(r * kp + p) as i32));
                acc[0] = _mm512_dpbf16_ps(acc[0], w, b0);
                acc[1] = _mm512_dpbf16_ps(acc[1], w, b1);
            }
        }
    }
    let lanes = |from: usize| match width.saturating_sub(from) {
        0 => 0u16,
        w if w >= 16 => 0xFFFF,
        w => (1u16 << w) - 1,
    };
    let masks = [lanes(0), lanes(16)];
    let scale_v = _mm512_set1_ps(scale);
    for (r, acc) in acc.iter().enumerate() {
        for (h, (&v, &mask)) in acc.iter().zip(&masks).enumerate() {
            if mask == 0 {
                continue;
            }
            // SAFETY: row r < R and the masked lanes stay within `width` columns of it.
            unsafe {
                let ptr = c.add(r * ldc + h * 16);
                let v = if keep != 0.0 {
                    let old = _mm512_maskz_loadu_ps(mask, ptr);
                    _mm512_fmadd_ps(v, scale_v, old)
                } else {
                    _mm512_mul_ps(v, scale_v)
                };
                _mm512_mask_storeu_ps(ptr, mask, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// f64 sums of bf16-rounded inputs: exact products, the f32 kernel differs only by its
    /// accumulation rounding.
    fn reference(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> (Vec<f64>, Vec<f64>) {
        let mut c = vec![0.0; m * n];
        let mut mag = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                for p in 0..k {
                    let t = round_to_bf16(a[i * k + p]) as f64 * round_to_bf16(b[p * n + j]) as f64;
                    c[i * n + j] += t;
                    mag[i * n + j] += t.abs();
                }
            }
        }
        (c, mag)
    }

    fn transpose(a: &[f32], rows: usize, cols: usize) -> Vec<f32> {
        let mut t = vec![0.0; a.len()];
        for i in 0..rows {
            for j in 0..cols {
                t[j * rows + i] = a[i * cols + j];
            }
        }
        t
    }

    #[test]
    fn rounding_is_to_nearest_even() {
        assert_eq!(bf16_bits(1.0), 0x3F80);
        // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to the even 1.0.
        assert_eq!(round_to_bf16(1.0 + 1.0 / 256.0), 1.0);
        assert_eq!(round_to_bf16(1.0 + 3.0 / 256.0), 1.0 + 4.0 / 256.0);
        assert!(round_to_bf16(f32::NAN).is_nan());
        assert_eq!(round_to_bf16(f32::INFINITY), f32::INFINITY);
    }

    #[test]
    fn bf16_products_match_f32_products_of_rounded_inputs() {
        if !supported() {
            eprintln!("skipped: this CPU has no AVX-512 BF16");
            return;
        }
        crate::parallel::set_num_threads(2);
        let mut buffers = Bf16Buffers::default();
        // Odd k, partial tiles in both directions, tall and wide (split by rows and by
        // panels), both operands transposed.
        for (m, k, n) in [
            (1, 1, 1),
            (9, 7, 33),
            (301, 37, 53),
            (29, 41, 517),
            (64, 300, 256),
        ] {
            let a: Vec<f32> = (0..m * k).map(|v| (v as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..k * n).map(|v| (v as f32 * 0.11).cos()).collect();
            let (expected, mag) = reference(&a, &b, m, k, n);
            let (at, bt) = (transpose(&a, m, k), transpose(&b, k, n));
            let tol = |j: usize| 2.0 * k as f64 * f32::EPSILON as f64 * mag[j] + 1e-30;
            for transposed in [false, true] {
                let mut out = vec![f32::NAN; m * n];
                let (ma, mb) = if transposed {
                    (Mat::new(&at, k, m).t(), Mat::new(&bt, n, k).t())
                } else {
                    (Mat::new(&a, m, k), Mat::new(&b, k, n))
                };
                buffers.product(ma, mb, &mut out, 0.0, 1.0);
                for (j, (&x, &y)) in out.iter().zip(&expected).enumerate() {
                    assert!((x as f64 - y).abs() <= tol(j), "{m}x{k}x{n} {x} vs {y}");
                }
                // keep = 1, scale = -0.5: out - 0.5·A·B.
                buffers.product(ma, mb, &mut out, 1.0, -0.5);
                for (j, (&x, &y)) in out.iter().zip(&expected).enumerate() {
                    assert!((x as f64 - 0.5 * y).abs() <= 2.0 * tol(j), "{m}x{k}x{n}");
                }
            }
        }
    }

    #[test]
    fn bf16_products_do_not_depend_on_the_thread_count() {
        if !supported() {
            return;
        }
        let (m, k, n) = (97, 130, 75);
        let a: Vec<f32> = (0..m * k).map(|v| (v as f32 * 0.7).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|v| (v as f32 * 0.3).cos()).collect();
        let mut buffers = Bf16Buffers::default();
        let mut one = vec![0.0; m * n];
        let mut two = vec![0.0; m * n];
        crate::parallel::set_num_threads(1);
        buffers.product(Mat::new(&a, m, k), Mat::new(&b, k, n), &mut one, 0.0, 1.0);
        crate::parallel::set_num_threads(2);
        buffers.product(Mat::new(&a, m, k), Mat::new(&b, k, n), &mut two, 0.0, 1.0);
        assert_eq!(one, two);
    }
}
