//! Each initializer's formula against Keras.

use super::ids::{PLAIN_IDS, PRESETS};
use super::*;
use rand::SeedableRng;

fn moments(values: &[f32]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = values
        .iter()
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    (mean, var)
}

/// Sample mean and variance of a 600×400 kernel against the formula, for every
/// initializer family, mode and distribution. With N = 240,000 draws the sampling error of
/// the variance is about var·sqrt(2/N) = 0.3% (a little more for heavy tails), of the mean
/// about sqrt(var/N); the bounds are five of those.
#[test]
fn sample_moments_match_the_formulas() {
    let shape = [600, 400];
    let n = 600.0 * 400.0;
    let mut cases: Vec<(Initializer, f64)> = vec![
        (
            Initializer::RandomNormal {
                mean: 0.5,
                stddev: 2.0,
            },
            0.5,
        ),
        (
            Initializer::RandomUniform {
                minval: -1.0,
                maxval: 3.0,
            },
            1.0,
        ),
        (
            Initializer::TruncatedNormal {
                mean: -1.0,
                stddev: 0.1,
            },
            -1.0,
        ),
        (Initializer::Orthogonal { gain: 1.5 }, 0.0),
    ];
    for id in PRESETS
        .iter()
        .map(|p| p.0)
        .chain(["random_normal", "variance_scaling"])
    {
        cases.push((id.parse().unwrap(), 0.0));
    }
    for scale in [0.5, 3.0] {
        for mode in [FanMode::FanIn, FanMode::FanOut, FanMode::FanAvg] {
            for distribution in [
                InitDistribution::TruncatedNormal,
                InitDistribution::UntruncatedNormal,
                InitDistribution::Uniform,
            ] {
                cases.push((
                    Initializer::VarianceScaling {
                        scale,
                        mode,
                        distribution,
                    },
                    0.0,
                ));
            }
        }
    }
    for (i, (init, expected_mean)) in cases.into_iter().enumerate() {
        let mut w = vec![0.0; 600 * 400];
        init.fill(&mut w, &shape, &mut Rng::seed_from_u64(i as u64));
        let (mean, var) = moments(&w);
        let expected_var = init.variance(&shape);
        let mean_tol = 5.0 * (expected_var / n).sqrt();
        assert!(
            (mean - expected_mean).abs() < mean_tol,
            "{init}: mean {mean} vs {expected_mean}"
        );
        assert!(
            (var / expected_var - 1.0).abs() < 5.0 * (2.0 / n).sqrt() * 1.5,
            "{init}: variance {var} vs {expected_var}"
        );
    }
}

#[test]
fn fans_follow_keras() {
    assert_eq!(Initializer::fans(&[784, 300]), (784, 300));
    assert_eq!(Initializer::fans(&[300]), (300, 300));
    assert_eq!(Initializer::fans(&[3, 3, 8, 16]), (72, 144));
}

#[test]
fn uniform_and_truncated_draws_stay_in_their_bounds() {
    let (fan_in, fan_out) = (400, 600);
    let mut w = vec![0.0; fan_in * fan_out];
    let mut rng = Rng::seed_from_u64(1);
    Initializer::GLOROT_UNIFORM.fill(&mut w, &[fan_in, fan_out], &mut rng);
    let limit = (6.0 / (fan_in + fan_out) as f64).sqrt() as f32;
    assert!(w.iter().all(|v| v.abs() <= limit));
    Initializer::HE_NORMAL.fill(&mut w, &[fan_in, fan_out], &mut rng);
    let bound = 2.0 * ((2.0 / fan_in as f64).sqrt() / TRUNCATED_NORMAL_STDDEV) as f32;
    assert!(w.iter().all(|v| v.abs() <= bound * 1.0001));
    let tn = Initializer::TruncatedNormal {
        mean: 1.0,
        stddev: 0.5,
    };
    tn.fill(&mut w, &[fan_in, fan_out], &mut rng);
    assert!(w.iter().all(|v| (v - 1.0).abs() <= 1.0001));
}

#[test]
fn orthogonal_is_orthogonal_in_both_orientations() {
    for (rows, cols) in [(50, 20), (20, 50), (30, 30)] {
        let mut w = vec![0.0; rows * cols];
        let gain = 2.0;
        Initializer::Orthogonal { gain }.fill(&mut w, &[rows, cols], &mut Rng::seed_from_u64(3));
        // The smaller Gram matrix (WᵀW for tall, WWᵀ for wide) is gain²·I.
        let k = rows.min(cols);
        for a in 0..k {
            for b in 0..k {
                let dot: f64 = if rows >= cols {
                    (0..rows)
                        .map(|i| (w[i * cols + a] * w[i * cols + b]) as f64)
                        .sum()
                } else {
                    (0..cols)
                        .map(|j| (w[a * cols + j] * w[b * cols + j]) as f64)
                        .sum()
                };
                let expected = if a == b { gain * gain } else { 0.0 };
                assert!(
                    (dot - expected).abs() < 1e-4,
                    "{rows}x{cols} [{a},{b}] {dot}"
                );
            }
        }
    }
}

#[test]
fn ids_and_tables_round_trip_through_toml() {
    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Holder {
        init: Initializer,
    }
    let mut all: Vec<Initializer> = PLAIN_IDS
        .iter()
        .chain(PRESETS.iter().map(|p| &p.0))
        .map(|id| id.parse().unwrap())
        .collect();
    all.extend([
        Initializer::Constant { value: 0.1 },
        Initializer::RandomNormal {
            mean: 0.0,
            stddev: 1.0,
        },
        Initializer::RandomUniform {
            minval: -0.5,
            maxval: 0.25,
        },
        Initializer::TruncatedNormal {
            mean: 0.0,
            stddev: 0.02,
        },
        Initializer::VarianceScaling {
            scale: 2.0,
            mode: FanMode::FanAvg,
            distribution: InitDistribution::UntruncatedNormal,
        },
        Initializer::Orthogonal { gain: 2.0 },
    ]);
    for init in all {
        let text = toml::to_string(&Holder { init }).unwrap();
        let back: Holder = toml::from_str(&text).unwrap();
        assert_eq!(back.init, init, "{text}");
    }
    let parsed: Holder =
        toml::from_str("init = { name = \"random_normal\", stddev = 1.0 }").unwrap();
    assert_eq!(
        parsed.init,
        Initializer::RandomNormal {
            mean: 0.0,
            stddev: 1.0
        }
    );
    // Each family's table takes its own keys, with its defaults; the message names the
    // problem on one line.
    for (table, needle) in [
        (
            "{ name = \"orthogonal\", stddev = 1.0 }",
            "initializer orthogonal: unknown field `stddev`, expected `gain`",
        ),
        (
            "{ name = \"zeros\", value = 1.0 }",
            "initializer zeros: unknown field `value`",
        ),
        (
            "{ name = \"random_normal\", stddev = -1.0 }",
            "initializer random_normal: mean must be finite and stddev",
        ),
        (
            "{ name = \"he_normal\" }",
            "unknown initializer `he_normal` in a table, expected one of zeros",
        ),
        ("{ stddev = 1.0 }", "missing field `name`"),
    ] {
        let err = toml::from_str::<Holder>(&format!("init = {table}")).unwrap_err();
        let message = err.message();
        assert!(message.contains(needle), "{needle}: {message}");
        assert!(!message.contains('\n'), "{message}");
    }
    let err = "glorot".parse::<Initializer>().unwrap_err().detail();
    assert!(err.contains("glorot_uniform"), "{err}");
}

#[test]
fn keras_aliases_name_their_initializers() {
    for (alias, id) in [
        ("uniform", "random_uniform"),
        ("normal", "random_normal"),
        ("one", "ones"),
        ("zero", "zeros"),
    ] {
        let a: Initializer = alias.parse().unwrap();
        let b: Initializer = id.parse().unwrap();
        assert_eq!(a, b, "{alias}");
        assert_eq!(a.to_string(), id);
    }
}
