//! The fused multiply-add peak of this machine's cores, measured: the bound that a training
//! step's matrix products can approach (issue 34 asks model (c) for 85% of it).
//!
//! Each thread runs [`CHAINS`] independent FMA chains on the widest vectors the CPU has
//! (AVX-512F: 16 lanes, else AVX2 + FMA: 8 lanes, else SSE multiply and add), so that neither
//! the FMA latency (4 cycles on Zen 4 and recent Intel cores) nor the register count limits
//! the rate: peak = lanes × 2 FLOPs × FMAs issued per cycle × clock. Zen 4 splits a 512-bit FMA
//! over its two 256-bit units, so AVX-512 and AVX2 reach the same 32 FLOPs per cycle there.

use std::hint::black_box;
use std::sync::Barrier;
use std::time::Instant;

/// Independent accumulators per thread: enough to cover 2 FMA units × 4 cycles latency with
/// room to spare, few enough to stay in the 16 AVX2 registers (with the two operands).
const CHAINS: usize = 12;

/// Timed runs per figure.
const RUNS: usize = 60;

/// The instruction set the loop uses and its FLOPs per iteration (all chains).
fn isa() -> (&'static str, f64) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return ("avx512f", (CHAINS * 16 * 2) as f64);
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return ("avx2+fma", (CHAINS * 8 * 2) as f64);
        }
    }
    ("portable", (CHAINS * 8 * 2) as f64)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn fma_avx512(iterations: u64) -> f32 {
    use std::arch::x86_64::*;
    let x = _mm512_set1_ps(0.999_999);
    let y = _mm512_set1_ps(1e-7);
    let mut acc = [_mm512_set1_ps(1.0); CHAINS];
    for _ in 0..iterations {
        for a in &mut acc {
            *a = _mm512_fmadd_ps(*a, x, y);
        }
    }
    acc.iter().map(|&a| _mm512_reduce_add_ps(a)).sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn fma_avx2(iterations: u64) -> f32 {
    use std::arch::x86_64::*;
    let x = _mm256_set1_ps(0.999_999);
    let y = _mm256_set1_ps(1e-7);
    let mut acc = [_mm256_set1_ps(1.0); CHAINS];
    for _ in 0..iterations {
        for a in &mut acc {
            *a = _mm256_fmadd_ps(*a, x, y);
        }
    }
    let mut lanes = [0.0f32; 8];
    let mut total = 0.0;
    for a in acc {
        // SAFETY: `lanes` holds 8 f32, the width of one 256-bit store.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), a) };
        total += lanes.iter().sum::<f32>();
    }
    total
}

/// Multiply and add in 8-lane arrays, which the compiler vectorizes for the baseline ISA.
fn fma_portable(iterations: u64) -> f32 {
    let mut acc = [[1.0f32; 8]; CHAINS];
    for _ in 0..iterations {
        for a in &mut acc {
            for v in a {
                *v = *v * 0.999_999 + 1e-7;
            }
        }
    }
    acc.iter().flatten().sum()
}

fn fma_loop(iterations: u64) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked just above).
            return unsafe { fma_avx512(iterations) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has AVX2 and FMA (checked just above).
            return unsafe { fma_avx2(iterations) };
        }
    }
    fma_portable(iterations)
}

/// Seconds for `threads` threads to run `iterations` loop iterations each, started together:
/// from the first thread's start to the last one's end, each read by the thread itself (the
/// spawning thread may wake from the barrier only after the others have finished).
fn timed(threads: usize, iterations: u64) -> f64 {
    let barrier = Barrier::new(threads);
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    let started = Instant::now();
                    black_box(fma_loop(black_box(iterations)));
                    (started, Instant::now())
                })
            })
            .collect();
        workers.into_iter().filter_map(|w| w.join().ok()).collect()
    });
    let first = spans.iter().map(|s| s.0).min();
    let last = spans.iter().map(|s| s.1).max();
    match (first, last) {
        (Some(first), Some(last)) => last.duration_since(first).as_secs_f64(),
        _ => f64::INFINITY,
    }
}

/// The FMA peak in GFLOP/s: one thread alone, and `threads` threads at once, with the
/// instruction set used. Each figure is the best of [`RUNS`] short runs (about 3 ms, shorter
/// than a scheduler time slice), so that a run on a shared machine can fall between other
/// processes' slices; on an idle machine every run gives the same figure.
pub fn measure(threads: usize) -> (&'static str, f64, f64) {
    let (name, flops_per_iteration) = isa();
    let probe = 50_000;
    let seconds = timed(1, probe).max(1e-6);
    let iterations = ((probe as f64 * 0.003 / seconds) as u64).max(1);
    let best = |threads: usize| {
        let seconds = (0..RUNS)
            .map(|_| timed(threads, iterations))
            .fold(f64::INFINITY, f64::min);
        flops_per_iteration * (iterations as usize * threads) as f64 / seconds / 1e9
    };
    let one = best(1);
    let all = best(threads.max(1));
    (name, one, all)
}
