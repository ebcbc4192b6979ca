//! Vectorized tanh and logistic sigmoid over whole slices, for the recurrent cells' gates.
//!
//! Both rest on one range reduction of e^y (Cody & Waite 1980): y = n·ln 2 + r with
//! n = round(y·log₂e) and |r| ≲ ln 2 / 2, ln 2 split in two (Cephes' 0.693359375 and
//! -2.12194440e-4, so n·ln2_hi is exact); then e^r − 1 = r + r²·P(r), P Cephes' `expf`
//! minimax polynomial of degree 5 (S. Moshier, Cephes Math Library, `expf.c`). From there
//! ```text
//! e^y     = 2^n·(1 + q)                     (2^n applied in two halves, so subnormal
//!                                            results round once)
//! e^y − 1 = (2^n − 1) + 2^n·q               (= q exactly when n = 0: small |y| keep their
//!                                            relative precision)
//! tanh x  = sign(x)·(−m) / (2 + m),  m = e^(−2|x|) − 1,  for |x| < 0.55,
//!         = sign(x)·(1 − 2e / (1 + e)),  e = e^(−2|x|),  above (|x| clamped to 9.5)
//! σ(x)    = 1 / (1 + e),  x ≥ 0;   e / (1 + e),  x < 0;   e = e^(−|x|),  |x| clamped to 104
//! ```
//! Accuracy against f64 `tanh` and 1 / (1 + e^(−x)) (tests/vecmath.rs, which asserts at most
//! 3 ulp): on every 61st f32 of [−20, 20] the largest errors are 2.17 ulp for tanh (at 0.535)
//! and 2.33 ulp for σ (at −4.85), measured in subnormal steps where σ's value is subnormal;
//! the roundings of the intermediate sums and the quotient make them. Saturation is exact:
//! tanh(±x) = ±1 for |x| ≥ 9.01 and at ±∞, σ(x) = 1 from x ≈ 16.6, σ(x) = +0 (never −0)
//! below about −103.9, and NaN stays NaN. tanh(±0) = ±0.
//!
//! Deterministic: the arithmetic is plain IEEE multiplies, adds and divides (Rust never fuses
//! them into FMAs) and integer bit operations, element by element, so the AVX-512, AVX2 and
//! portable copies below (picked at run time, like the engine's other kernels) give the same
//! bits, on any thread count and any split of a slice.
//!
//! Scope: the recurrent cells use these ([`crate::layers`]' `simple_rnn`, `lstm`, `gru`);
//! [`crate::activations::Activation`] keeps the C library's `tanhf`/`expf` for every other
//! layer, so non-recurrent histories are unchanged.

/// 1.5·2²³: adding it to |v| < 2²² rounds v to an integer held in the low mantissa bits.
const SHIFT: f32 = 12_582_912.0;
const LOG2_E: f32 = std::f32::consts::LOG2_E;
/// ln 2 = LN2_HI + LN2_LO; LN2_HI has 9 significant bits, so n·LN2_HI is exact for |n| < 2¹⁵.
const LN2_HI: f32 = 355.0 / 512.0;
const LN2_LO: f32 = -2.121_944_4e-4;
/// Cephes `expf`'s P, highest degree first: e^r = 1 + r + r²·P(r) on [−ln 2 / 2, ln 2 / 2].
const P: [f32; 6] = [
    1.987_569_2e-4,
    1.398_199_9e-3,
    8.333_452e-3,
    4.166_579_6e-2,
    0.166_666_65,
    0.5, // Cephes' 5.0000001201e-1, which rounds to 0.5 in f32
];
/// tanh(x) rounds to 1 in f32 from x ≈ 9.01; beyond the clamp the formula gives exactly 1.
const TANH_CLAMP: f32 = 9.5;
/// Below this |x|, tanh from e^(−2|x|) − 1 (no cancellation); above it, 1 − 2e/(1 + e), whose
/// rounding errors are at most half the result's ulp each (measured: 2.17 against 2.49 ulp
/// with the first form throughout).
const TANH_SMALL: f32 = 0.55;
/// e^(−104) is below half the smallest subnormal: σ(−x) rounds to 0 beyond it.
const SIGMOID_CLAMP: f32 = 104.0;
const SIGN: u32 = 0x8000_0000;

/// `if v > limit { limit } else { v }`: NaN passes through (a comparison with NaN is false).
#[inline(always)]
fn clamp_above(v: f32, limit: f32) -> f32 {
    if v > limit {
        limit
    } else {
        v
    }
}

/// y = n·ln 2 + r: (n, e^r − 1) for y ≤ 0 down to −208 (or NaN: then e^r − 1 is NaN).
#[inline(always)]
fn reduce(y: f32) -> (i32, f32) {
    let t = y * LOG2_E + SHIFT;
    let n = (t.to_bits() as i32).wrapping_sub(SHIFT.to_bits() as i32);
    let nf = t - SHIFT;
    let r = (y - nf * LN2_HI) - nf * LN2_LO;
    let poly = P.iter().skip(1).fold(P[0], |acc, &c| acc * r + c);
    (n, r * r * poly + r)
}

/// 2^n as an f32, for −126 ≤ n ≤ 127.
#[inline(always)]
fn pow2(n: i32) -> f32 {
    f32::from_bits((n.wrapping_add(127) as u32).wrapping_shl(23))
}

/// tanh x, with |x| clamped so that e^(−2|x|) stays normal (see the module's note).
#[inline(always)]
fn tanh_one(x: f32) -> f32 {
    let a = clamp_above(x.abs(), TANH_CLAMP);
    let (n, q) = reduce(-2.0 * a);
    let s = pow2(n);
    let m = (s - 1.0) + s * q;
    let e = s * (1.0 + q);
    let t = if a < TANH_SMALL {
        -m / (2.0 + m)
    } else {
        1.0 - 2.0 * e / (1.0 + e)
    };
    f32::from_bits((t.to_bits() & !SIGN) | (x.to_bits() & SIGN))
}

/// σ(x) = 1 / (1 + e^(−x)), from e = e^(−|x|) ≤ 1 so that nothing overflows.
#[inline(always)]
fn sigmoid_one(x: f32) -> f32 {
    let a = clamp_above(x.abs(), SIGMOID_CLAMP);
    let (n, q) = reduce(-a);
    // n ≥ −151: 2^n in two normal halves, the second product the only rounding.
    let half = n >> 1;
    let e = (1.0 + q) * pow2(half) * pow2(n - half);
    let numerator = if x >= 0.0 { 1.0 } else { e };
    numerator / (1.0 + e)
}

/// The instruction sets the loops are compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// AVX-512F (16 lanes).
    Avx512,
    /// AVX2 (8 lanes).
    Avx2,
    /// The baseline build (SSE2 on x86-64).
    Portable,
}

impl Isa {
    /// The widest this CPU runs (checked at run time; the check is cached by the standard
    /// library).
    pub fn best() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Isa::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                return Isa::Avx2;
            }
        }
        Isa::Portable
    }

    /// Every one this CPU runs, widest first.
    pub fn available() -> Vec<Isa> {
        let mut isas = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                isas.push(Isa::Avx512);
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                isas.push(Isa::Avx2);
            }
        }
        isas.push(Isa::Portable);
        isas
    }
}

/// Runs `map` over `values` compiled for `isa`, falling back to the portable copy where the
/// CPU lacks it.
macro_rules! dispatch {
    ($name:ident, $one:ident) => {
        #[doc = concat!("`", stringify!($one), "` on every value, in place, compiled for `isa`.")]
        pub fn $name(isa: Isa, values: &mut [f32]) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                unsafe fn avx512(values: &mut [f32]) {
                    values.iter_mut().for_each(|v| *v = $one(*v));
                }
                #[target_feature(enable = "avx2")]
                unsafe fn avx2(values: &mut [f32]) {
                    values.iter_mut().for_each(|v| *v = $one(*v));
                }
                match isa {
                    Isa::Avx512 if std::arch::is_x86_feature_detected!("avx512f") => {
                        // SAFETY: the CPU supports AVX-512F.
                        return unsafe { avx512(values) };
                    }
                    Isa::Avx2 if std::arch::is_x86_feature_detected!("avx2") => {
                        // SAFETY: the CPU supports AVX2.
                        return unsafe { avx2(values) };
                    }
                    _ => {}
                }
            }
            let _ = isa;
            values.iter_mut().for_each(|v| *v = $one(*v));
        }
    };
}

dispatch!(tanh_in_place_on, tanh_one);
dispatch!(sigmoid_in_place_on, sigmoid_one);

/// tanh on every value, in place, on the widest instruction set this CPU runs.
///
/// ```
/// let mut v = [0.5_f32, -20.0, f32::NAN];
/// deeptrain::linalg::vecmath::tanh_in_place(&mut v);
/// assert!((v[0] - 0.5_f32.tanh()).abs() <= f32::EPSILON);
/// assert_eq!(v[1], -1.0);
/// assert!(v[2].is_nan());
/// ```
pub fn tanh_in_place(values: &mut [f32]) {
    tanh_in_place_on(Isa::best(), values);
}

/// σ(x) = 1 / (1 + e^(−x)) on every value, in place, on the widest instruction set this CPU
/// runs.
///
/// ```
/// let mut v = [0.0_f32, -200.0, 200.0];
/// deeptrain::linalg::vecmath::sigmoid_in_place(&mut v);
/// assert_eq!(v, [0.5, 0.0, 1.0]);
/// assert!(v[1].is_sign_positive());
/// ```
pub fn sigmoid_in_place(values: &mut [f32]) {
    sigmoid_in_place_on(Isa::best(), values);
}
