//! Times each matrix kernel on the products the bench models issue, alternating kernels by
//! round, and prints GFLOP/s per shape and kernel (the median of the rounds).
//!
//! ```text
//! cargo run --release --example kernel_shapes -- [THREADS] [ROUNDS]
//! ```
//!
//! A shape is `m×k×n` with the layout the engine uses: `N` is X·W (forward), `T` is dZ·Wᵀ
//! (the input's gradient), `G` is Xᵀ·dZ (the kernel's gradient).

use deeptrain::linalg::{self, Kernel, Mat};
use std::time::Instant;

/// (label, m, k, n, layout) of the products of bench models (a)–(i).
const SHAPES: &[(&str, usize, usize, usize, char)] = &[
    ("a fwd 1", 32, 784, 300, 'N'),
    ("a fwd 2", 32, 300, 100, 'N'),
    ("a fwd 3", 32, 100, 10, 'N'),
    ("a dX 2", 32, 300, 784, 'T'),
    ("a dW 1", 784, 32, 300, 'G'),
    ("a dW 2", 300, 32, 100, 'G'),
    ("b fwd 1", 256, 784, 300, 'N'),
    ("b dW 1", 784, 256, 300, 'G'),
    ("c fwd", 256, 1024, 1024, 'N'),
    ("c dX", 256, 1024, 1024, 'T'),
    ("c dW", 1024, 256, 1024, 'G'),
    ("c fwd 1", 256, 784, 1024, 'N'),
    ("d/e fwd", 32, 100, 100, 'N'),
    ("d/e dX", 32, 100, 100, 'T'),
    ("d/e dW", 100, 32, 100, 'G'),
    ("f conv1", 8 * 26 * 26, 9, 32, 'N'),
    ("f conv2", 8 * 11 * 11, 288, 64, 'N'),
    ("f conv2 dX", 8 * 11 * 11, 64, 288, 'T'),
    ("f conv2 dW", 288, 8 * 11 * 11, 64, 'G'),
    ("f dense", 32, 1600, 128, 'N'),
    ("h gates x", 32, 28, 512, 'N'),
    ("h gates h", 32, 128, 512, 'N'),
    ("h dH", 32, 512, 128, 'T'),
    ("h dW", 128, 32, 512, 'G'),
    ("infer 4096", 4096, 784, 300, 'N'),
    ("sgemm 1024", 1024, 1024, 1024, 'N'),
];

fn time_shape(
    m: usize,
    k: usize,
    n: usize,
    layout: char,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
) -> f64 {
    let flops = 2.0 * (m * k * n) as f64;
    let reps = ((2e8 / flops) as usize).clamp(3, 20_000);
    let run = |c: &mut [f32]| match layout {
        'N' => linalg::matmul(
            Mat::new(&a[..m * k], m, k),
            Mat::new(&b[..k * n], k, n),
            c,
            false,
        ),
        'T' => linalg::matmul(
            Mat::new(&a[..m * k], m, k),
            Mat::new(&b[..n * k], n, k).t(),
            c,
            false,
        ),
        _ => linalg::matmul(
            Mat::new(&a[..k * m], k, m).t(),
            Mat::new(&b[..k * n], k, n),
            c,
            false,
        ),
    };
    run(&mut c[..m * n]);
    let start = Instant::now();
    for _ in 0..reps {
        run(&mut c[..m * n]);
    }
    flops * reps as f64 / start.elapsed().as_secs_f64() / 1e9
}

fn main() {
    let mut args = std::env::args().skip(1);
    let threads: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1);
    let rounds: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(5);
    linalg::set_num_threads(threads);
    let kernels: Vec<Kernel> = [Kernel::Gemm, Kernel::Avx2, Kernel::Avx512]
        .into_iter()
        .filter(|k| k.available())
        .collect();
    let size = 4096 * 1024;
    let a: Vec<f32> = (0..size)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
        .collect();
    let b: Vec<f32> = (0..size)
        .map(|i| ((i * 104_729) % 1000) as f32 / 1000.0 - 0.5)
        .collect();
    let mut c = vec![0.0f32; size];
    println!("threads {threads}, rounds {rounds}, GFLOP/s (median of rounds)");
    print!("{:<12} {:>16}", "shape", "m×k×n");
    for kernel in &kernels {
        print!(" {:>8}", format!("{kernel:?}"));
    }
    println!();
    for &(label, m, k, n, layout) in SHAPES {
        let mut times = vec![Vec::new(); kernels.len()];
        for round in 0..rounds {
            for i in 0..kernels.len() {
                let i = (i + round) % kernels.len();
                linalg::set_kernel(kernels[i]).expect("kernel is available");
                times[i].push(time_shape(m, k, n, layout, &a, &b, &mut c));
            }
        }
        print!("{label:<12} {:>16}", format!("{m}x{k}x{n} {layout}"));
        for t in &mut times {
            t.sort_by(f64::total_cmp);
            print!(" {:>8.1}", t[t.len() / 2]);
        }
        println!();
    }
}
