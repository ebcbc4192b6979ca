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
//! - A (m × k): the word of row i and pair p, `(A[i, 2p], A[i, 2p+1])`, at `i·kp + p`
//!   (row-major words) when A's rows are contiguous, at `p·m + i` when its columns are (a
//!   transposed operand, as Xᵀ in Xᵀ·dZ); one word is broadcast to all 16 lanes.
//! - B (k × n): panels of [`NR`] = 32 columns; panel `q` holds `kp` rows of 32 words,
//!   `b[(q·kp + p)·32 + c] = (B[2p, 32q+c], B[2p+1, 32q+c])`, zero beyond column n: two
//!   vectors per k pair.
//!
//! Packing rounds 16 values at a time on AVX-512 (the same bits as [`bf16_bits`]) and is cut
//! over the threads like the product. A layer's kernel W and its transpose are packed once
//! after each change of W and reused ([`Bf16Buffers::product_by_weights`]).
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
            && std::arch::is_x86_feature_detected!("avx512bw")
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

/// The packed bf16 copies of a product's operands, sized on first use and reused (no
/// allocation once a layer's shapes have been seen), and the packed copies of a layer's kernel
/// W (as B of X·W) and of Wᵀ (as B of dZ·Wᵀ), made on their first use after the kernel
/// changed ([`Bf16Buffers::weights_changed`]) and reused until it changes again.
#[derive(Default)]
pub struct Bf16Buffers {
    a: Vec<u32>,
    b: Vec<u32>,
    /// [W, Wᵀ].
    weights: [PackedWeights; 2],
}

/// A packed B operand kept between products.
#[derive(Default)]
struct PackedWeights {
    words: Vec<u32>,
    /// The shape it was packed from (k × n).
    shape: (usize, usize),
    /// Whether `words` holds the current weights.
    fresh: bool,
}

/// Packed A: the word of row i and k pair p is `words[i·row + p·pair]` (row-major words for a
/// row-major A, pair-major for a transposed one, so that both pack with contiguous stores).
#[derive(Clone, Copy)]
struct PackedA<'a> {
    words: &'a [u32],
    row: usize,
    pair: usize,
}

/// How many parts to cut `work` (multiply-adds, or values to pack) into.
fn parts_for(work: usize, blocks: usize) -> usize {
    let threads = num_threads();
    if threads < 2 || work < super::PARALLEL_MIN_MULADDS {
        1
    } else {
        threads.min(blocks).max(1)
    }
}

/// Runs `f` on `parts` contiguous ranges covering `0..count`, in parallel.
fn in_parts(parts: usize, count: usize, f: &(dyn Fn(std::ops::Range<usize>) + Sync)) {
    let step = count.div_ceil(parts.max(1));
    let run = |part: usize| f(part * step..((part + 1) * step).min(count));
    if parts <= 1 {
        f(0..count);
    } else {
        for_each_part(parts, &run);
    }
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
        let len = n.div_ceil(NR) * k.div_ceil(2) * NR;
        grow(&mut self.b, len);
        pack_b(b, &mut self.b[..len], parts_for(m * n * k, n.div_ceil(NR)));
        product_packed(&mut self.a, a, &self.b[..len], n, out, (keep, scale));
    }

    /// As [`Bf16Buffers::product`] with B a layer's kernel W or its transpose Wᵀ, whose
    /// packed copy is kept: packed on the first product after [`Bf16Buffers::weights_changed`]
    /// (or after its shape changed), reused after. The same bits as [`Bf16Buffers::product`].
    pub fn product_by_weights(&mut self, a: Mat, w: Mat, out: &mut [f32], keep: f32, scale: f32) {
        let (m, k) = a.shape();
        let (k2, n) = w.shape();
        assert_eq!(k, k2, "inner dimensions differ: {m}x{k} · {k2}x{n}");
        assert_eq!(out.len(), m * n, "output is not {m}x{n}");
        if m == 0 || n == 0 || k == 0 || !supported() {
            super::product(a, w, out, keep, scale);
            return;
        }
        let cache = &mut self.weights[w.transposed as usize];
        let len = n.div_ceil(NR) * k.div_ceil(2) * NR;
        if !cache.fresh || cache.shape != (k, n) {
            grow(&mut cache.words, len);
            pack_b(w, &mut cache.words[..len], parts_for(k * n, n.div_ceil(NR)));
            cache.shape = (k, n);
            cache.fresh = true;
        }
        product_packed(&mut self.a, a, &cache.words[..len], n, out, (keep, scale));
    }

    /// Says that the layer's kernel changed (an update, a load, a constraint): the packed
    /// copies are made again on their next use.
    pub fn weights_changed(&mut self) {
        for w in &mut self.weights {
            w.fresh = false;
        }
    }
}

/// `out = keep · out + scale · A·B` with B already packed (`n` columns): packs A into
/// `a_buffer`, then runs the tiles, both cut over the threads.
fn product_packed(
    a_buffer: &mut Vec<u32>,
    a: Mat,
    b: &[u32],
    n: usize,
    out: &mut [f32],
    ks: (f32, f32),
) {
    let (m, k) = a.shape();
    let kp = k.div_ceil(2);
    grow(a_buffer, m * kp);
    let row_blocks = m.div_ceil(MR);
    let panels = n.div_ceil(NR);
    let parts = parts_for(m * n * k, row_blocks.max(panels));
    let pa = pack_a(a, &mut a_buffer[..m * kp], parts);
    let along_rows = row_blocks >= panels;
    let blocks = if along_rows { row_blocks } else { panels };
    let out_ptr = SharedMut::new(out);
    in_parts(parts, blocks, &|range| {
        let (rows, cols) = if along_rows {
            (range, 0..panels)
        } else {
            (0..row_blocks, range)
        };
        for q in cols {
            for r in rows.clone() {
                // SAFETY: the CPU has AVX-512 BF16 (the caller checked); each part writes its
                // own tiles of the m×n `out`, which does not alias the packed buffers.
                unsafe { tile(pa, b, kp, r * MR, q, m, n, out_ptr.add(0), ks) };
            }
        }
    });
}

fn grow(buffer: &mut Vec<u32>, len: usize) {
    if buffer.len() < len {
        buffer.resize(len, 0);
    }
}

/// The word of two f32 values: bf16(lo) in the low half, bf16(hi) in the high half.
#[inline(always)]
fn pair(lo: f32, hi: f32) -> u32 {
    bf16_bits(lo) as u32 | (bf16_bits(hi) as u32) << 16
}

/// A (m × k, either orientation) into pair words, cut over `parts` threads: row-major words
/// when A's rows are contiguous, pair-major when its columns are.
fn pack_a<'d>(a: Mat, dst: &'d mut [u32], parts: usize) -> PackedA<'d> {
    let (m, k) = a.shape();
    let (cs, rs) = a.strides();
    let kp = k.div_ceil(2);
    let shared = SharedMut::new(dst);
    if cs == 1 {
        let rs = rs as usize;
        in_parts(parts, m, &|rows| {
            // SAFETY: each part writes its own rows' words.
            let dst = unsafe { shared.slice(rows.start * kp..rows.end * kp) };
            for (i, row) in rows.zip(dst.chunks_exact_mut(kp)) {
                pair_words(&a.data[i * rs..i * rs + k], row);
            }
        });
        PackedA {
            words: dst,
            row: kp,
            pair: 1,
        }
    } else {
        // Column c of A is row c of the stored matrix: word p of every row is made of two
        // stored rows, lane by lane.
        let cs = cs as usize;
        in_parts(parts, kp, &|pairs| {
            // SAFETY: each part writes its own pairs' words.
            let dst = unsafe { shared.slice(pairs.start * m..pairs.end * m) };
            for (p, words) in pairs.zip(dst.chunks_exact_mut(m)) {
                let lo = &a.data[2 * p * cs..2 * p * cs + m];
                let hi = (2 * p + 1 < k).then(|| &a.data[(2 * p + 1) * cs..(2 * p + 1) * cs + m]);
                lane_words(lo, hi, words);
            }
        });
        PackedA {
            words: dst,
            row: 1,
            pair: m,
        }
    }
}

/// B (k × n, either orientation) into panels of [`NR`] columns of pair words, cut over `parts`
/// threads by panels.
fn pack_b(b: Mat, dst: &mut [u32], parts: usize) {
    let (k, n) = b.shape();
    let (cs, rs) = b.strides();
    let kp = k.div_ceil(2);
    let shared = SharedMut::new(dst);
    in_parts(parts, n.div_ceil(NR), &|panels| {
        // SAFETY: each part writes its own panels.
        let dst = unsafe { shared.slice(panels.start * kp * NR..panels.end * kp * NR) };
        for (q, panel) in panels.zip(dst.chunks_exact_mut(kp * NR)) {
            let j0 = q * NR;
            let width = NR.min(n - j0);
            if cs == 1 {
                let rs = rs as usize;
                for (p, words) in panel.chunks_exact_mut(NR).enumerate() {
                    let lo = &b.data[2 * p * rs + j0..][..width];
                    let hi = (2 * p + 1 < k).then(|| &b.data[(2 * p + 1) * rs + j0..][..width]);
                    lane_words(lo, hi, &mut words[..width]);
                    words[width..].fill(0);
                }
            } else {
                // Column j of B is row j of the stored matrix (k contiguous values).
                let cs = cs as usize;
                transposed_panel(&b.data[j0 * cs..], cs, k, width, panel);
            }
        }
    });
}

/// `words[p] = pair(src[2p], src[2p + 1])` (a zero after an odd last value).
fn pair_words(src: &[f32], words: &mut [u32]) {
    let full = src.len() / 32;
    #[cfg(target_arch = "x86_64")]
    if full > 0 {
        // SAFETY: `supported()` (AVX-512 F and BF16, hence BW on every such CPU, checked
        // below) was checked by the product; 32 values make 16 words.
        unsafe { simd::pair_words(&src[..32 * full], &mut words[..16 * full]) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let full = 0;
    let (src, words) = (&src[32 * full..], &mut words[16 * full..]);
    for (w, s) in words.iter_mut().zip(src.chunks(2)) {
        *w = pair(s[0], s.get(1).copied().unwrap_or(0.0));
    }
}

/// `words[j] = pair(lo[j], hi[j])` (`hi` zero when absent).
fn lane_words(lo: &[f32], hi: Option<&[f32]>, words: &mut [u32]) {
    let full = lo.len() / 16;
    #[cfg(target_arch = "x86_64")]
    if full > 0 {
        // SAFETY: as in `pair_words`.
        unsafe {
            simd::lane_words(
                &lo[..16 * full],
                hi.map(|h| &h[..16 * full]),
                &mut words[..16 * full],
            )
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let full = 0;
    for j in 16 * full..lo.len() {
        words[j] = pair(lo[j], hi.map_or(0.0, |h| h[j]));
    }
}

/// One panel of a transposed B: `panel[p·NR + c] = pair(src[c·stride + 2p], src[c·stride +
/// 2p + 1])` for the `width` columns c, zero beyond.
fn transposed_panel(src: &[f32], stride: usize, k: usize, width: usize, panel: &mut [u32]) {
    let kp = k.div_ceil(2);
    #[cfg(target_arch = "x86_64")]
    if (width - 1) * stride + k <= i32::MAX as usize {
        // SAFETY: as in `pair_words`; the gathers read `src[c·stride + p']` for c < width
        // and p' < k, inside `src` (the caller's matrix), offsets within i32.
        unsafe { simd::transposed_panel(src, stride, k, width, panel) };
        return;
    }
    for p in 0..kp {
        for c in 0..NR {
            panel[p * NR + c] = if c < width {
                let row = &src[c * stride..c * stride + k];
                pair(row[2 * p], row.get(2 * p + 1).copied().unwrap_or(0.0))
            } else {
                0
            };
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod simd {
    //! The packing loops on AVX-512: the same rounding as [`super::bf16_bits`], 16 values at
    //! a time.
    use super::NR;
    use std::arch::x86_64::*;

    /// Each lane's f32 bits plus the rounding increment, so that the high half is the bf16
    /// [`super::bf16_bits`] gives (a NaN: its bits with the quiet bit set).
    #[inline(always)]
    unsafe fn rounded(v: __m512) -> __m512i {
        let b = _mm512_castps_si512(v);
        let lsb = _mm512_and_si512(_mm512_srli_epi32::<16>(b), _mm512_set1_epi32(1));
        let t = _mm512_add_epi32(b, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7FFF)));
        let nan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v);
        _mm512_mask_or_epi32(t, nan, b, _mm512_set1_epi32(0x0040_0000))
    }

    /// The words of two rounded vectors, lane by lane: the high half of `lo` low, of `hi` high.
    #[inline(always)]
    unsafe fn combine(lo: __m512i, hi: __m512i) -> __m512i {
        _mm512_or_si512(
            _mm512_srli_epi32::<16>(lo),
            _mm512_and_si512(hi, _mm512_set1_epi32(0xFFFF_0000u32 as i32)),
        )
    }

    /// See [`super::pair_words`]; `src` holds a multiple of 32 values.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn pair_words(src: &[f32], words: &mut [u32]) {
        // u16 lane j of the result: the high half of value j of the 32 (lane 2j + 1 of the
        // concatenated pair of vectors).
        let index = _mm512_set_epi16(
            63, 61, 59, 57, 55, 53, 51, 49, 47, 45, 43, 41, 39, 37, 35, 33, 31, 29, 27, 25, 23, 21,
            19, 17, 15, 13, 11, 9, 7, 5, 3, 1,
        );
        for (s, w) in src.chunks_exact(32).zip(words.chunks_exact_mut(16)) {
            // SAFETY: 32 values read, 16 words written.
            unsafe {
                let lo = rounded(_mm512_loadu_ps(s.as_ptr()));
                let hi = rounded(_mm512_loadu_ps(s.as_ptr().add(16)));
                let packed = _mm512_permutex2var_epi16(lo, index, hi);
                _mm512_storeu_si512(w.as_mut_ptr().cast(), packed);
            }
        }
    }

    /// See [`super::lane_words`]; `lo` (and `hi`) hold a multiple of 16 values.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn lane_words(lo: &[f32], hi: Option<&[f32]>, words: &mut [u32]) {
        for (j, w) in words.chunks_exact_mut(16).enumerate() {
            // SAFETY: 16 values read from each side, 16 words written.
            unsafe {
                let l = rounded(_mm512_loadu_ps(lo.as_ptr().add(16 * j)));
                let h = match hi {
                    Some(hi) => rounded(_mm512_loadu_ps(hi.as_ptr().add(16 * j))),
                    None => _mm512_setzero_si512(),
                };
                _mm512_storeu_si512(w.as_mut_ptr().cast(), combine(l, h));
            }
        }
    }

    /// See [`super::transposed_panel`]: each word vector gathers 16 columns' values.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn transposed_panel(
        src: &[f32],
        stride: usize,
        k: usize,
        width: usize,
        panel: &mut [u32],
    ) {
        let kp = k.div_ceil(2);
        let lanes = |from: usize| match width.saturating_sub(from) {
            0 => 0u16,
            w if w >= 16 => 0xFFFF,
            w => (1u16 << w) - 1,
        };
        let step = _mm512_set1_epi32(stride as i32);
        let first = _mm512_mullo_epi32(
            _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
            step,
        );
        let offsets = [first, _mm512_add_epi32(first, _mm512_slli_epi32::<4>(step))];
        let masks = [lanes(0), lanes(16)];
        let base = src.as_ptr();
        for p in 0..kp {
            for h in 0..2 {
                let (offset, mask) = (offsets[h], masks[h]);
                // SAFETY: the masked lanes read src[c·stride + 2p (+1)], c < width, 2p + 1 < k
                // for the high value (see the caller); 16 words written inside the panel.
                unsafe {
                    let zero = _mm512_setzero_ps();
                    let lo =
                        _mm512_mask_i32gather_ps::<4>(zero, mask, offset, base.add(2 * p).cast());
                    let hi = if 2 * p + 1 < k {
                        _mm512_mask_i32gather_ps::<4>(
                            zero,
                            mask,
                            offset,
                            base.add(2 * p + 1).cast(),
                        )
                    } else {
                        zero
                    };
                    let words = combine(rounded(lo), rounded(hi));
                    _mm512_storeu_si512(panel.as_mut_ptr().add(p * NR + 16 * h).cast(), words);
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
    a: PackedA,
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
    // Rows i0.. of A: the last word read is at (rows − 1)·row + (kp − 1)·pair.
    let a = PackedA {
        words: &a.words[i0 * a.row..],
        ..a
    };
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
    _: PackedA,
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

/// The R × 32 microkernel: `C[r, 0..width] = keep · C + scale · Σ_p a[r·row + p·pair] ⊙ b[p]`.
///
/// # Safety
/// The CPU must have AVX-512 F and BF16; `a` holds R rows of `kp` words, `b` `kp` rows of 32;
/// `c` addresses R rows of `ldc` floats, of which the first `width` (≤ 32) are written.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn kernel<const R: usize>(
    a: PackedA,
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
    let ap = a.words.as_ptr();
    assert!(a.words.len() > (R - 1) * a.row + (kp - 1) * a.pair);
    for p in 0..kp {
        // SAFETY: p < kp, so the reads stay inside `b` (kp·32 words) and `a` (asserted).
        unsafe {
            let b0: __m512bh = std::mem::transmute(_mm512_loadu_si512(bp.add(p * NR).cast()));
            let b1: __m512bh = std::mem::transmute(_mm512_loadu_si512(bp.add(p * NR + 16).cast()));
            for (r, acc) in acc.iter_mut().enumerate() {
                let w: __m512bh =
                    std::mem::transmute(_mm512_set1_epi32(*ap.add(r * a.row + p * a.pair) as i32));
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
mod tests;
