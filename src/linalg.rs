//! Matrix products: C = A·B, C += Aᵀ·B, C = A·Bᵀ on row-major slices.
//!
//! Kernel ([`Kernel`], chosen once per process by [`Kernel::default_for_cpu`]): on x86-64 with
//! AVX-512F, `private-gemm-x86` (the kernel behind faer 0.24's f32 products) with its AVX-512
//! microkernels, which packs into a per-thread buffer allocated on the thread's first product;
//! elsewhere `gemm` 0.18 (its AVX2 + FMA kernel on stable Rust, or portable code; it allocates
//! its packing buffer on every product). Either can be chosen instead ([`set_kernel`],
//! `deeptrain --kernel gemm|avx2|avx512`). On the AVX-512 development machine (Zen 4)
//! private-gemm-x86 trained the nine bench models 0.99–1.17× as fast as `gemm` 0.18 and
//! inferred 1.01–1.09× (`bench/compare.py --baseline`, 4 rounds, medians). Its assembly returns
//! with the upper halves of the vector registers dirty, so each product ends with
//! `vzeroupper`: without it the legacy-SSE code that follows (the rest of the engine's baseline
//! build) paid on every instruction, which had made model (e) (20 × 100-unit layers at batch
//! 32, Adam's update after each product) train at half `gemm` 0.18's speed and was first taken
//! for a per-product cost. `cargo run --release --example kernel_shapes` times every kernel on
//! the bench models' product shapes. Kernels sum in different orders, so a run's last bits
//! depend on the kernel (`--kernel gemm` gives an AVX-512 machine the bits of builds before
//! private-gemm-x86 became its default). `gemm` 0.19 with `x86-v4` was no faster than
//! private-gemm-x86 on the large shapes, dropped to 12–41 GFLOP/s on some small ones, and still
//! allocates on every product. The same kernel, thread count and shapes give the same bits on
//! every run.
//!
//! Threading: a product is cut into one block of C per thread (runs of rows or of columns, in
//! multiples of [`BLOCK_ALIGN`]; `split_along_rows` chooses which) and each block is a single-threaded kernel call run on the
//! engine's pool ([`crate::parallel`]), whose hand-off costs well under a microsecond while its
//! workers are busy. Measured on the 2-core development machine (best of 7, both threads
//! hot): 32×100×100 runs 1.6–1.8× faster on two threads, 32×64×64 1.5×, but 32×100×10 (32 000
//! multiply-adds) only 0.9–1.2×; so products under [`PARALLEL_MIN_MULADDS`] stay on one thread.

use std::ops::Range;
use std::sync::atomic::{AtomicU8, Ordering};

pub mod bf16;
pub mod vecmath;

use crate::parallel::{for_each_part, SharedMut};
pub use crate::parallel::{num_threads, set_num_threads};

/// Products with at least this many multiply-adds are split over all threads.
pub const PARALLEL_MIN_MULADDS: usize = 100_000;

/// Blocks of a split product start at multiples of this many rows or columns (one AVX2 vector;
/// private-gemm-x86's tile is 4 rows of C by 96 (AVX-512) or 24 (AVX2) columns, gemm 0.18's
/// 16 × 6 on AVX2 hosts).
pub const BLOCK_ALIGN: usize = 8;

/// The matrix kernel that runs the products.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// `private-gemm-x86` with AVX-512F microkernels.
    Avx512,
    /// `private-gemm-x86` with AVX2 + FMA microkernels.
    Avx2,
    /// `gemm` 0.18 (its own run-time choice: AVX2 + FMA, else portable code).
    Gemm,
}

/// [`Kernel`] as stored in [`KERNEL`]: 0 = not chosen yet.
static KERNEL: AtomicU8 = AtomicU8::new(0);

impl Kernel {
    /// The widest kernel this CPU runs (the default only on AVX-512: see [`Kernel::default_for_cpu`]).
    pub fn best() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Kernel::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Kernel::Avx2;
            }
        }
        Kernel::Gemm
    }

    /// The kernel a process starts with: [`Kernel::Avx512`] where the CPU has AVX-512F (faster
    /// on the bench models, and it allocates nothing per product: see the module's note), else
    /// [`Kernel::Gemm`] (AVX2 machines keep the bits they had).
    pub fn default_for_cpu() -> Kernel {
        match Kernel::best() {
            Kernel::Avx512 => Kernel::Avx512,
            _ => Kernel::Gemm,
        }
    }

    /// Whether this CPU runs the kernel.
    pub fn available(self) -> bool {
        match self {
            Kernel::Gemm => true,
            Kernel::Avx2 => Kernel::best() != Kernel::Gemm,
            Kernel::Avx512 => Kernel::best() == Kernel::Avx512,
        }
    }

    fn code(self) -> u8 {
        match self {
            Kernel::Avx512 => 1,
            Kernel::Avx2 => 2,
            Kernel::Gemm => 3,
        }
    }
}

/// The kernel in use: [`Kernel::default_for_cpu`] unless [`set_kernel`] chose another.
pub fn kernel() -> Kernel {
    match KERNEL.load(Ordering::Relaxed) {
        1 => Kernel::Avx512,
        2 => Kernel::Avx2,
        3 => Kernel::Gemm,
        _ => {
            // Only if nothing was chosen meanwhile: a racing [`set_kernel`] wins.
            let chosen = Kernel::default_for_cpu();
            match KERNEL.compare_exchange(0, chosen.code(), Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => chosen,
                Err(_) => kernel(),
            }
        }
    }
}

/// Runs the products on `kernel` from now on, process-wide (to compare kernels; a different
/// kernel sums in a different order, so histories differ in their last bits).
pub fn set_kernel(kernel: Kernel) -> crate::Result<()> {
    if !kernel.available() {
        return Err(crate::Error::Config(format!(
            "matrix kernel {kernel:?}: this CPU lacks its instructions"
        )));
    }
    KERNEL.store(kernel.code(), Ordering::Relaxed);
    Ok(())
}

/// A row-major matrix view: `rows × cols` with an optional transpose.
#[derive(Clone, Copy)]
pub struct Mat<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    transposed: bool,
}

impl<'a> Mat<'a> {
    /// A `rows × cols` row-major matrix.
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Self {
        assert_eq!(
            data.len(),
            rows * cols,
            "matrix data does not match {rows}x{cols}"
        );
        Mat {
            data,
            rows,
            cols,
            transposed: false,
        }
    }

    /// The transpose (a view; nothing is copied).
    pub fn t(self) -> Self {
        Mat {
            transposed: !self.transposed,
            ..self
        }
    }

    fn shape(&self) -> (usize, usize) {
        if self.transposed {
            (self.cols, self.rows)
        } else {
            (self.rows, self.cols)
        }
    }

    /// (column stride, row stride) of the logical matrix.
    fn strides(&self) -> (isize, isize) {
        if self.transposed {
            (self.cols as isize, 1)
        } else {
            (1, self.cols as isize)
        }
    }
}

/// `out = a · b` (when `accumulate` is false) or `out += a · b`; `out` is row-major `m × n`.
pub fn matmul(a: Mat, b: Mat, out: &mut [f32], accumulate: bool) {
    let keep = if accumulate { 1.0 } else { 0.0 };
    product(a, b, out, keep, 1.0);
}

/// `out += scale · a · b` in one pass over `out` (plain gradient descent on a kernel:
/// W ← W − η·xᵀ·dz).
pub fn matmul_add_scaled(a: Mat, b: Mat, out: &mut [f32], scale: f32) {
    product(a, b, out, 1.0, scale);
}

/// [`matmul`] whole on the calling thread, for a caller that already splits its work over the
/// pool (the recurrent layers' step, each thread its own rows). An element's bits are those of
/// [`matmul`] when k ≤ 512 (gemm's depth block: one pass over k, whatever the block of C) and
/// neither call has a block of C of at most 16 × 16 values (gemm sums those along k in SIMD
/// lanes, another order).
pub(crate) fn matmul_one_thread(a: Mat, b: Mat, out: &mut [f32], accumulate: bool) {
    let timer = crate::profile::start();
    let (m, k) = a.shape();
    let (k2, n) = b.shape();
    assert_eq!(k, k2, "inner dimensions differ: {m}x{k} · {k2}x{n}");
    assert_eq!(out.len(), m * n, "output is not {m}x{n}");
    if m > 0 && n > 0 && k > 0 {
        let keep = if accumulate { 1.0 } else { 0.0 };
        let c = SharedMut::new(out);
        // SAFETY: `out` is the whole m×n row-major C (asserted), borrowed mutably here, so it
        // aliases neither `a` nor `b` and no other thread touches it.
        unsafe { gemm_block(a, b, c.add(0), 0..m, 0..n, n, (keep, 1.0)) };
    } else if m > 0 && n > 0 && !accumulate {
        out.fill(0.0);
    }
    timer.stop(crate::profile::Phase::Products);
}

/// `out = keep · out + scale · a · b`, where keep is 0 (out is then not read) or 1.
fn product(a: Mat, b: Mat, out: &mut [f32], keep: f32, scale: f32) {
    let timer = crate::profile::start();
    split_product(a, b, out, keep, scale);
    timer.stop(crate::profile::Phase::Products);
}

/// [`product`], one block of `out` per thread.
fn split_product(a: Mat, b: Mat, out: &mut [f32], keep: f32, scale: f32) {
    let accumulate = keep != 0.0;
    let (m, k) = a.shape();
    let (k2, n) = b.shape();
    assert_eq!(k, k2, "inner dimensions differ: {m}x{k} · {k2}x{n}");
    assert_eq!(out.len(), m * n, "output is not {m}x{n}");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            out.fill(0.0);
        }
        return;
    }
    let out_ptr = SharedMut::new(out);
    for_each_block(m, n, k, &|rows, cols| {
        // SAFETY: each block is its own rows × columns of the m×n row-major `out` (asserted),
        // which does not alias `a` or `b`.
        unsafe { gemm_block(a, b, out_ptr.add(0), rows, cols, n, (keep, scale)) };
    });
}

/// Runs `block(rows, cols)` over a `rows × cols` grid of a product's output (of inner
/// dimension `depth`), one block per thread: cut into runs of whole multiples of
/// [`BLOCK_ALIGN`] rows or columns ([`split_along_rows`] chooses), or whole when the product
/// has fewer than [`PARALLEL_MIN_MULADDS`] multiply-adds or one thread runs. The blocks depend
/// only on the sizes, the thread count and the kernel, so a product's bits do too.
fn for_each_block(
    rows: usize,
    cols: usize,
    depth: usize,
    block: &(dyn Fn(Range<usize>, Range<usize>) + Sync),
) {
    let threads = num_threads();
    if threads < 2 || rows * cols * depth < PARALLEL_MIN_MULADDS {
        block(0..rows, 0..cols);
        return;
    }
    let along_rows = split_along_rows(rows, cols, depth, threads, kernel());
    let long = if along_rows { rows } else { cols };
    let parts = threads.min(long.div_ceil(BLOCK_ALIGN));
    let step = long.div_ceil(parts).next_multiple_of(BLOCK_ALIGN);
    let parts = long.div_ceil(step);
    for_each_part(parts, &|part| {
        let range = part * step..((part + 1) * step).min(long);
        if along_rows {
            block(range, 0..cols)
        } else {
            block(0..rows, range)
        }
    });
}

/// Whether a product C = A·B (C `rows × cols`, inner dimension `depth`) split over `threads`
/// is cut into runs of C's rows (else of its columns): along the longer side, except that
/// under the AVX-512 `kernel` a C of at least 64 rows is cut along its rows when its column
/// runs would be narrower than three of the kernel's 96-column tiles and B (which every run
/// of rows reads whole) fits in a core's L2 cache ([`SHARED_B_MAX_VALUES`]). A narrow run
/// ends in a partial tile (300 columns in two runs: 96 + 56 each, where a run of rows has
/// 3 × 96 + 12), and a narrow kernel runs further from the peak. Measured on the bench
/// models' products (`m×k×n`, 2 threads, Zen 4, medians of 5 to 7 rounds, each cut timed in
/// turn): rows gave 256×784×300 1.06–1.10× the columns' throughput, 256×100×300 (dX)
/// 1.06–1.10×, 128×32×512 (dW) 1.10×, 256×128×512 1.03×; columns stay ahead where the runs
/// are wide (256×1024×1024 1.11–1.22×, 256×300×784 even), on 32-row products (32×784×300
/// 1.02–1.03×, 32×300×784 dX 1.23×), and where B is large (128×3584×512, 7 MiB, 1.05×).
fn split_along_rows(
    rows: usize,
    cols: usize,
    depth: usize,
    threads: usize,
    kernel: Kernel,
) -> bool {
    rows >= cols
        || kernel == Kernel::Avx512
            && rows >= 64
            && cols.div_ceil(threads) < 3 * 96
            && depth * cols <= SHARED_B_MAX_VALUES
}

/// The most values of B (1 MiB of f32, a Zen 4 or Skylake-SP core's L2 cache) for which
/// [`split_along_rows`] lets every thread read all of B.
const SHARED_B_MAX_VALUES: usize = 1 << 18;

/// Clears the upper halves of the vector registers (`vzeroupper`). private-gemm-x86 returns
/// from its AVX-512 code with them dirty, and every legacy-SSE instruction after that (the
/// baseline x86-64 build of the rest of the engine) then pays for merging them: Adam's
/// update ran 8 times slower after such a product in a profile of bench model (e).
///
/// # Safety
/// The CPU supports AVX.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn zero_upper_halves() {
    std::arch::x86_64::_mm256_zeroupper();
}

/// `C[rows, cols] = keep · C[rows, cols] + scale · A[rows, :] · B[:, cols]` on one thread, where
/// C is row-major with `ldc` columns starting at `c` (not read when `keep` is 0).
///
/// # Safety
/// `c` must address a row-major matrix of at least `rows.end` rows and `ldc >= cols.end`
/// columns, not aliasing `a` or `b`, whose block `rows × cols` no other thread touches.
unsafe fn gemm_block(
    a: Mat,
    b: Mat,
    c: *mut f32,
    rows: Range<usize>,
    cols: Range<usize>,
    ldc: usize,
    (keep, scale): (f32, f32),
) {
    let k = a.shape().1;
    let (a_cs, a_rs) = a.strides();
    let (b_cs, b_rs) = b.strides();
    let (m, n) = (rows.len(), cols.len());
    // SAFETY (all three): the offsets stay inside each matrix (rows < a's rows, cols < b's
    // columns) and the caller vouches for `c`.
    let (a_ptr, b_ptr, c) = unsafe {
        (
            a.data.as_ptr().offset(rows.start as isize * a_rs),
            b.data.as_ptr().offset(cols.start as isize * b_cs),
            c.add(rows.start * ldc + cols.start),
        )
    };
    #[cfg(target_arch = "x86_64")]
    {
        let instructions = match kernel() {
            Kernel::Avx512 => Some(private_gemm_x86::InstrSet::Avx512),
            Kernel::Avx2 => Some(private_gemm_x86::InstrSet::Avx256),
            Kernel::Gemm => None,
        };
        if let Some(instructions) = instructions {
            use private_gemm_x86::{Accum, DType, DstKind, IType};
            // SAFETY: as above; the CPU has the instructions ([`set_kernel`] and
            // [`Kernel::best`] check); `scale` outlives the call; one thread, no index lists.
            unsafe {
                private_gemm_x86::gemm(
                    DType::F32,
                    IType::U64,
                    instructions,
                    m,
                    n,
                    k,
                    c.cast(),
                    ldc as isize,
                    1,
                    std::ptr::null(),
                    std::ptr::null(),
                    DstKind::Full,
                    if keep != 0.0 {
                        Accum::Add
                    } else {
                        Accum::Replace
                    },
                    a_ptr.cast(),
                    a_rs,
                    a_cs,
                    false,
                    std::ptr::null(),
                    0,
                    b_ptr.cast(),
                    b_rs,
                    b_cs,
                    false,
                    (&raw const scale).cast(),
                    1,
                );
                // SAFETY: the CPU has AVX (it runs the kernel's AVX2 or AVX-512 code).
                zero_upper_halves();
            }
            return;
        }
    }
    // SAFETY: as above.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c,
            1,
            ldc as isize,
            keep != 0.0,
            a_ptr,
            a_cs,
            a_rs,
            b_ptr,
            b_cs,
            b_rs,
            keep,
            scale,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        c
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
    fn products_with_transposes_match_naive() {
        let (m, k, n) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|v| (v as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|v| (v as f32 * 0.11).cos()).collect();
        let expected = naive(&a, &b, m, k, n);
        let mut out = vec![0.0; m * n];
        matmul(Mat::new(&a, m, k), Mat::new(&b, k, n), &mut out, false);
        for (x, y) in out.iter().zip(&expected) {
            assert!((x - y).abs() < 1e-5);
        }
        let at = transpose(&a, m, k);
        let bt = transpose(&b, k, n);
        matmul(
            Mat::new(&at, k, m).t(),
            Mat::new(&bt, n, k).t(),
            &mut out,
            false,
        );
        for (x, y) in out.iter().zip(&expected) {
            assert!((x - y).abs() < 1e-5);
        }
        // Accumulate adds a second copy.
        matmul(Mat::new(&a, m, k), Mat::new(&b, k, n), &mut out, true);
        for (x, y) in out.iter().zip(&expected) {
            assert!((x - 2.0 * y).abs() < 1e-5);
        }
    }

    #[test]
    fn split_products_match_naive_on_both_sides_with_transposes() {
        crate::parallel::set_num_threads(2);
        // Tall (split by rows) and wide (split by columns), odd sizes, both operands transposed,
        // accumulating.
        for (m, k, n) in [(301, 37, 53), (29, 41, 517)] {
            let a: Vec<f32> = (0..m * k).map(|v| ((v % 19) as f32 - 9.0) * 0.05).collect();
            let b: Vec<f32> = (0..k * n)
                .map(|v| ((v % 23) as f32 - 11.0) * 0.05)
                .collect();
            let expected = naive(&a, &b, m, k, n);
            let (at, bt) = (transpose(&a, m, k), transpose(&b, k, n));
            let mut out = vec![1.0; m * n];
            matmul(
                Mat::new(&at, k, m).t(),
                Mat::new(&bt, n, k).t(),
                &mut out,
                true,
            );
            for (x, y) in out.iter().zip(&expected) {
                assert!((x - 1.0 - y).abs() < 1e-4 * y.abs().max(1.0), "{m}x{k}x{n}");
            }
        }
    }

    /// The cut: the longer side, but rows under AVX-512 where the column runs would be
    /// narrower than three 96-column tiles, C has at least 64 rows and B fits in L2.
    #[test]
    fn products_are_cut_along_rows_where_column_runs_would_be_narrow() {
        let rows = |m, k, n, threads, kernel| split_along_rows(m, n, k, threads, kernel);
        assert!(rows(784, 256, 300, 2, Kernel::Gemm));
        assert!(!rows(256, 784, 300, 2, Kernel::Gemm));
        assert!(!rows(256, 784, 300, 2, Kernel::Avx2));
        assert!(rows(256, 784, 300, 2, Kernel::Avx512));
        assert!(rows(128, 32, 512, 2, Kernel::Avx512));
        assert!(!rows(128, 32, 512, 1, Kernel::Avx512));
        assert!(!rows(256, 1024, 1024, 2, Kernel::Avx512));
        assert!(!rows(32, 784, 300, 2, Kernel::Avx512));
        // B of 3584 × 512 values (7 MiB): each thread reads its own columns.
        assert!(!rows(128, 3584, 512, 2, Kernel::Avx512));
    }

    #[test]
    fn large_parallel_product_matches_naive() {
        let (m, k, n) = (64, 300, 256);
        let a: Vec<f32> = (0..m * k).map(|v| ((v % 17) as f32 - 8.0) * 0.1).collect();
        let b: Vec<f32> = (0..k * n).map(|v| ((v % 13) as f32 - 6.0) * 0.1).collect();
        let expected = naive(&a, &b, m, k, n);
        let mut out = vec![0.0; m * n];
        matmul(Mat::new(&a, m, k), Mat::new(&b, k, n), &mut out, false);
        for (x, y) in out.iter().zip(&expected) {
            assert!((x - y).abs() < 1e-3 * y.abs().max(1.0));
        }
    }
}
