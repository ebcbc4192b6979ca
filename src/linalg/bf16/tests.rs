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

/// Values whose rounding is delicate: ties both ways, the largest finite values, infinities,
/// NaNs (quiet and signalling), subnormals and signed zeros, then ordinary ones.
fn awkward(len: usize) -> Vec<f32> {
    let special = [
        1.0 + 1.0 / 256.0,
        1.0 + 3.0 / 256.0,
        -(1.0 + 1.0 / 256.0),
        f32::MAX,
        f32::MIN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        f32::from_bits(0x7F80_0001),
        f32::from_bits(0xFFC0_1234),
        f32::from_bits(1),
        f32::from_bits(0x0000_8000),
        f32::from_bits(0x807F_FFFF),
        0.0,
        -0.0,
        f32::MIN_POSITIVE,
    ];
    (0..len)
        .map(|i| {
            special
                .get(i % 40)
                .copied()
                .unwrap_or(((i as f32) * 0.731).sin() * 1e3)
        })
        .collect()
}

#[test]
fn vector_packing_gives_the_bits_of_scalar_rounding() {
    if !supported() {
        return;
    }
    // Row-major pairs (A's rows), lane pairs (B's rows, Aᵀ's columns) and transposed
    // panels (Wᵀ), with tails shorter than a vector and an odd k.
    for len in [1, 31, 32, 33, 64, 95, 130] {
        let src = awkward(len);
        let mut words = vec![0; len.div_ceil(2)];
        pair_words(&src, &mut words);
        for (p, &w) in words.iter().enumerate() {
            let hi = src.get(2 * p + 1).copied().unwrap_or(0.0);
            assert_eq!(
                w,
                pair(src[2 * p], hi),
                "pair_words, {len} values, word {p}"
            );
        }
        let other: Vec<f32> = src.iter().rev().copied().collect();
        let mut lanes = vec![0; len];
        for hi in [Some(&other[..]), None] {
            lane_words(&src, hi, &mut lanes);
            for (j, &w) in lanes.iter().enumerate() {
                let expected = pair(src[j], hi.map_or(0.0, |h| h[j]));
                assert_eq!(w, expected, "lane_words, {len} values, word {j}");
            }
        }
    }
    for (k, width) in [(1, 1), (7, 17), (40, 32), (33, 31)] {
        let stride = k + 3;
        let src = awkward(width * stride);
        let mut panel = vec![u32::MAX; k.div_ceil(2) * NR];
        transposed_panel(&src, stride, k, width, &mut panel);
        for p in 0..k.div_ceil(2) {
            for c in 0..NR {
                let expected = if c < width {
                    let hi = if 2 * p + 1 < k {
                        src[c * stride + 2 * p + 1]
                    } else {
                        0.0
                    };
                    pair(src[c * stride + 2 * p], hi)
                } else {
                    0
                };
                assert_eq!(
                    panel[p * NR + c],
                    expected,
                    "k {k}, width {width}, ({p}, {c})"
                );
            }
        }
    }
}

#[test]
fn kept_weights_give_the_bits_of_packing_every_time_until_they_change() {
    if !supported() {
        return;
    }
    crate::parallel::set_num_threads(2);
    let (m, k, n) = (70, 129, 45);
    let x: Vec<f32> = (0..m * k).map(|v| (v as f32 * 0.3).sin()).collect();
    let dz: Vec<f32> = (0..m * n).map(|v| (v as f32 * 0.7).cos()).collect();
    let mut w: Vec<f32> = (0..k * n).map(|v| (v as f32 * 0.11).cos()).collect();
    let (mut kept, mut fresh) = (Bf16Buffers::default(), Bf16Buffers::default());
    let mut expected = (vec![0.0; m * n], vec![0.0; m * k]);
    let mut got = expected.clone();
    for step in 0..3 {
        let (xm, dzm, wm) = (Mat::new(&x, m, k), Mat::new(&dz, m, n), Mat::new(&w, k, n));
        // Twice each: the second product reuses the packed W and Wᵀ.
        for _ in 0..2 {
            kept.product_by_weights(xm, wm, &mut got.0, 0.0, 1.0);
            kept.product_by_weights(dzm, wm.t(), &mut got.1, 0.0, 1.0);
            fresh.product(xm, wm, &mut expected.0, 0.0, 1.0);
            fresh.product(dzm, wm.t(), &mut expected.1, 0.0, 1.0);
            assert_eq!(got, expected, "step {step}");
        }
        // An update, said: the next products see it.
        w.iter_mut().for_each(|v| *v *= -1.5);
        kept.weights_changed();
    }
    // An update not said is not seen (which is why every writer of a kernel says it).
    kept.product_by_weights(Mat::new(&x, m, k), Mat::new(&w, k, n), &mut got.0, 0.0, 1.0);
    let stale = got.0.clone();
    w.iter_mut().for_each(|v| *v += 1.0);
    kept.product_by_weights(Mat::new(&x, m, k), Mat::new(&w, k, n), &mut got.0, 0.0, 1.0);
    assert_eq!(got.0, stale);
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
