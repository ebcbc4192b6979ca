//! Matrix products over the `gemm` crate: C = A·B, C += Aᵀ·B, C = A·Bᵀ on row-major slices.
//!
//! Threading rule, measured on the 2-core development machine (probe in `benches/`):
//! a product of fewer than ~4·10⁶ multiply-adds (e.g. 32×300×100) runs *slower* on two threads
//! than on one (33 vs 83 GFLOP/s), while 32×784×300 gains (90 → 117 GFLOP/s) and 256×1024×1024
//! doubles. So small products stay on one thread.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Products with at least this many multiply-adds use all threads.
pub const PARALLEL_MIN_MULADDS: usize = 4_000_000;

static THREADS: AtomicUsize = AtomicUsize::new(0);

/// Sets how many threads matrix products may use (0 = all cores, the default).
pub fn set_num_threads(threads: usize) {
    THREADS.store(threads, Ordering::Relaxed);
}

/// The number of threads matrix products may use.
pub fn num_threads() -> usize {
    match THREADS.load(Ordering::Relaxed) {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        n => n,
    }
}

fn parallelism(m: usize, n: usize, k: usize) -> gemm::Parallelism {
    let threads = num_threads();
    if threads > 1 && m * n * k >= PARALLEL_MIN_MULADDS {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    }
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
    let (a_cs, a_rs) = a.strides();
    let (b_cs, b_rs) = b.strides();
    let alpha = if accumulate { 1.0 } else { 0.0 };
    // SAFETY: the asserts above check that every slice holds exactly the elements addressed by
    // its shape and strides, and `out` does not alias `a` or `b` (distinct borrows).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            a_cs,
            a_rs,
            b.data.as_ptr(),
            b_cs,
            b_rs,
            alpha,
            1.0,
            false,
            false,
            false,
            parallelism(m, n, k),
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
