//! Every matrix kernel this CPU runs ([`Kernel`]: private-gemm-x86 with AVX-512 or AVX2, and
//! the `gemm` 0.18 fallback) against a naive triple loop, on the bench models' kinds of
//! products: both transposes, accumulation, the fused C += α·Aᵀ·B of plain gradient descent,
//! split over two threads or not; and each kernel gives the same bits on a repeated product.
//! Its own test binary: [`set_kernel`] is process-wide.

use deeptrain::linalg::{matmul, matmul_add_scaled, set_kernel, set_num_threads, Kernel, Mat};

fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f64> {
    let mut c = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            c[i * n + j] = (0..k)
                .map(|p| a[i * k + p] as f64 * b[p * n + j] as f64)
                .sum();
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

fn values(n: usize, seed: usize) -> Vec<f32> {
    (0..n)
        .map(|v| (((v * 7 + seed * 13) % 29) as f32 - 14.0) * 0.05)
        .collect()
}

/// (m, k, n): a Dense layer's forward and gradients at batch 32 and 256, a convolution's
/// im2col product, a tall k = 9 one and a small one under the split threshold.
const SHAPES: [(usize, usize, usize); 6] = [
    (32, 784, 300),
    (256, 100, 152),
    (300, 32, 100),
    (847, 288, 64),
    (9, 2000, 32),
    (32, 100, 10),
];

fn check(kernel: Kernel) {
    set_kernel(kernel).unwrap();
    for threads in [1, 2] {
        set_num_threads(threads);
        for (m, k, n) in SHAPES {
            let (a, b) = (values(m * k, 1), values(k * n, 2));
            let expected = naive(&a, &b, m, k, n);
            let (at, bt) = (transpose(&a, m, k), transpose(&b, k, n));
            let tol = |y: f64| 1e-5 * (k as f64).sqrt() * y.abs().max(1.0);
            let what = format!("{kernel:?}, {threads} threads, {m}x{k}x{n}");
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                let left = if ta {
                    Mat::new(&at, k, m).t()
                } else {
                    Mat::new(&a, m, k)
                };
                let right = if tb {
                    Mat::new(&bt, n, k).t()
                } else {
                    Mat::new(&b, k, n)
                };
                let mut out = vec![f32::NAN; m * n];
                matmul(left, right, &mut out, false);
                for (x, y) in out.iter().zip(&expected) {
                    assert!((*x as f64 - y).abs() < tol(*y), "{what} {ta} {tb}: {x} {y}");
                }
                let mut again = vec![0.0; m * n];
                matmul(left, right, &mut again, false);
                assert!(
                    out.iter()
                        .zip(&again)
                        .all(|(x, y)| x.to_bits() == y.to_bits()),
                    "{what}: a repeated product differs"
                );
                matmul(left, right, &mut out, true);
                for (x, y) in out.iter().zip(&expected) {
                    assert!(
                        (*x as f64 - 2.0 * y).abs() < 2.0 * tol(*y),
                        "{what} accumulate"
                    );
                }
                matmul_add_scaled(left, right, &mut out, -0.5);
                for (x, y) in out.iter().zip(&expected) {
                    assert!((*x as f64 - 1.5 * y).abs() < 2.0 * tol(*y), "{what} scaled");
                }
            }
        }
    }
}

#[test]
fn every_available_kernel_matches_the_naive_product() {
    let mut checked = 0;
    for kernel in [Kernel::Avx512, Kernel::Avx2, Kernel::Gemm] {
        if kernel.available() {
            check(kernel);
            checked += 1;
        } else {
            let message = set_kernel(kernel).unwrap_err().to_string();
            assert!(message.contains("lacks"), "{message}");
        }
    }
    assert!(checked >= 1);
    assert!(Kernel::best().available());
    set_kernel(Kernel::best()).unwrap();
    set_num_threads(0);
}
