//! The recurrent cells' vectorized tanh and sigmoid (src/linalg/vecmath.rs): accuracy against
//! f64 over [−20, 20], exact saturation, NaN, signed zeros, and the same bits on every
//! instruction set this CPU runs.

use deeptrain::linalg::vecmath::{
    sigmoid_in_place, sigmoid_in_place_on, tanh_in_place, tanh_in_place_on, Isa,
};

/// Every `step`-th f32 from `lo` to `hi` (by bit pattern, so every binade is covered), with
/// both signs.
fn sweep(hi: f32, step: u32) -> Vec<f32> {
    let top = hi.to_bits();
    let mut values: Vec<f32> = (0..=top)
        .step_by(step as usize)
        .map(f32::from_bits)
        .collect();
    values.extend(values.clone().iter().map(|v| -v));
    values
}

/// |got − want| in units of the last place of `want` rounded to f32 (the subnormal step below
/// the smallest normal).
fn ulps(got: f32, want: f64) -> f64 {
    let w = want as f32;
    let ulp = if w.abs() < f32::MIN_POSITIVE {
        f64::from(f32::from_bits(1))
    } else {
        let next = f32::from_bits(w.abs().to_bits() + 1);
        f64::from(next) - f64::from(w.abs())
    };
    (f64::from(got) - want).abs() / ulp
}

fn logistic(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// The largest error in ulp over the sweep, and the input where it is.
fn max_error(f: fn(&mut [f32]), reference: fn(f64) -> f64) -> (f64, f32) {
    let xs = sweep(20.0, 61);
    let mut ys = xs.clone();
    f(&mut ys);
    xs.iter()
        .zip(&ys)
        .map(|(&x, &y)| (ulps(y, reference(f64::from(x))), x))
        .fold((0.0, 0.0), |a, b| if b.0 > a.0 { b } else { a })
}

#[test]
fn tanh_is_within_3_ulp_of_f64_on_minus_20_to_20() {
    let (err, at) = max_error(tanh_in_place, f64::tanh);
    eprintln!("tanh: max {err:.3} ulp at {at:e}");
    assert!(err <= 3.0, "tanh: {err} ulp at {at:e}");
}

#[test]
fn sigmoid_is_within_3_ulp_of_f64_on_minus_20_to_20() {
    let (err, at) = max_error(sigmoid_in_place, logistic);
    eprintln!("sigmoid: max {err:.3} ulp at {at:e}");
    assert!(err <= 3.0, "sigmoid: {err} ulp at {at:e}");
}

#[test]
fn sigmoid_is_within_3_ulp_out_to_its_subnormal_tail() {
    let mut xs: Vec<f32> = (0..=200_000).map(|i| -20.0 - i as f32 * 4.2e-4).collect();
    xs.extend((0..=200_000).map(|i| 20.0 + i as f32 * 4.2e-4));
    let mut ys = xs.clone();
    sigmoid_in_place(&mut ys);
    for (&x, &y) in xs.iter().zip(&ys) {
        let err = ulps(y, logistic(f64::from(x)));
        assert!(err <= 3.0, "sigmoid({x:e}) = {y:e}: {err} ulp");
    }
}

#[test]
fn saturation_is_exact_and_nan_propagates() {
    let mut t = [
        9.1,
        -9.1,
        20.0,
        -20.0,
        1e30,
        -1e30,
        f32::MAX,
        f32::INFINITY,
        f32::NEG_INFINITY,
        0.0,
        -0.0,
        f32::NAN,
        1e-40,
        -1e-40,
    ];
    tanh_in_place(&mut t);
    assert_eq!(&t[..9], &[1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0, 1.0, -1.0]);
    assert!(t[9] == 0.0 && t[9].is_sign_positive());
    assert!(t[10] == 0.0 && t[10].is_sign_negative());
    assert!(t[11].is_nan());
    assert_eq!((t[12], t[13]), (1e-40, -1e-40));

    let mut s = [
        200.0,
        -200.0,
        1e30,
        -1e30,
        f32::MAX,
        f32::MIN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        0.0,
        -0.0,
        f32::NAN,
        -110.0,
    ];
    sigmoid_in_place(&mut s);
    assert_eq!(
        &s[..10],
        &[1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.5, 0.5]
    );
    for (i, v) in s.iter().enumerate().filter(|&(_, v)| *v == 0.0) {
        assert!(v.is_sign_positive(), "sigmoid gives -0 at entry {i}");
    }
    assert!(s[10].is_nan());
    assert_eq!(s[11].to_bits(), 0);
    let mut ys: Vec<f32> = (0..2000).map(|i| -60.0 - i as f32 * 0.05).collect();
    sigmoid_in_place(&mut ys);
    assert!(ys.iter().all(|&y| y >= 0.0 && y.is_sign_positive()));
}

#[test]
fn every_instruction_set_gives_the_same_bits() {
    let mut xs = sweep(120.0, 997);
    xs.extend([f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e-45, -1e-45]);
    let isas = Isa::available();
    eprintln!("instruction sets: {isas:?}");
    for f in [tanh_in_place_on, sigmoid_in_place_on] {
        let mut want = xs.clone();
        f(Isa::Portable, &mut want);
        for &isa in &isas {
            // Odd offsets and lengths: the vector loops' heads and tails too.
            for start in [0, 1, 7] {
                let mut got = xs[start..].to_vec();
                f(isa, &mut got);
                for (i, (g, w)) in got.iter().zip(&want[start..]).enumerate() {
                    assert_eq!(
                        g.to_bits(),
                        w.to_bits(),
                        "{isa:?} at x = {:e}",
                        xs[start + i]
                    );
                }
            }
        }
    }
}
