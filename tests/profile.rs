//! The step profile's timers (`deeptrain::profile`, `deeptrain bench --profile`): each phase
//! counted once on the calling thread, nothing recorded while off, and the same weights with
//! the timers on as off. One test function: the timers are process-wide.

use std::time::{Duration, Instant};

use deeptrain::profile::{self, Phase, Totals};
use deeptrain::{Activation, DenseSpec, Loss, Sequential, Sgd, Targets, Tensor};

#[test]
fn phases_are_exclusive_recorded_only_when_on_and_change_no_result() {
    nested_timers_count_their_time_once();
    pool_workers_do_not_record();
    a_profiled_run_trains_to_the_same_weights();
}

fn nested_timers_count_their_time_once() {
    profile::set_enabled(true);
    profile::take();
    let started = Instant::now();
    let outer = profile::start();
    std::thread::sleep(Duration::from_millis(5));
    let inner = profile::start();
    std::thread::sleep(Duration::from_millis(20));
    inner.stop(Phase::Waiting);
    outer.stop(Phase::Products);
    let wall = started.elapsed().as_secs_f64();
    profile::set_enabled(false);
    profile::start().stop(Phase::Diagnostics);
    let t = profile::take();
    assert!(t.get(Phase::Waiting) >= 0.020, "{t:?}");
    assert!(t.get(Phase::Products) >= 0.005, "{t:?}");
    // The inner 20 ms are not counted again in the outer phase.
    assert!(
        t.get(Phase::Products) + t.get(Phase::Waiting) <= wall,
        "{t:?} in {wall} s"
    );
    assert_eq!(t.get(Phase::Diagnostics), 0.0, "recorded while off");
    assert_eq!(profile::take(), Totals::default(), "take did not reset");
}

/// Two parts of 10 ms on two threads: only the caller's part (and its wait for the worker's)
/// is recorded, so the phases never add up to more than the caller's wall time.
fn pool_workers_do_not_record() {
    deeptrain::linalg::set_num_threads(2);
    deeptrain::parallel::for_each_part(2, &|_| {}); // start the worker
    profile::set_enabled(true);
    profile::take();
    let started = Instant::now();
    deeptrain::parallel::for_each_part(2, &|_| {
        let timer = profile::start();
        std::thread::sleep(Duration::from_millis(10));
        timer.stop(Phase::Optimizer);
    });
    let wall = started.elapsed().as_secs_f64();
    profile::set_enabled(false);
    let t = profile::take();
    assert!(t.get(Phase::Optimizer) >= 0.010, "{t:?}");
    let recorded: f64 = Phase::ALL.iter().map(|&p| t.get(p)).sum();
    assert!(
        recorded <= wall,
        "{t:?} in {wall} s: a worker's part was counted"
    );
}

fn trained(profiled: bool) -> (Vec<f32>, Totals) {
    let mut model = Sequential::new(&[64])
        .add(DenseSpec::new(256).activation(Activation::Relu))
        .add(DenseSpec::new(10).activation(Activation::Softmax))
        .build(7)
        .unwrap();
    model
        .compile(
            Box::new(Sgd::new(0.05).unwrap()),
            Loss::SparseCategoricalCrossentropy,
            &[],
        )
        .unwrap();
    let x = Tensor::from_vec(
        (0..128 * 64)
            .map(|i| ((i * 37) % 101) as f32 / 101.0)
            .collect(),
        &[128, 64],
    );
    let y = Targets::Classes((0..128).map(|i| (i * 7) % 10).collect());
    profile::set_enabled(profiled);
    profile::take();
    for _ in 0..10 {
        model.train_step(&x, &y, &mut []).unwrap();
    }
    profile::set_enabled(false);
    let weights = model
        .layers()
        .iter()
        .flat_map(|l| l.params())
        .flat_map(|p| p.value.data().to_vec())
        .collect();
    (weights, profile::take())
}

fn a_profiled_run_trains_to_the_same_weights() {
    let (plain, off) = trained(false);
    let (profiled, on) = trained(true);
    assert_eq!(off, Totals::default(), "recorded while off");
    assert!(on.get(Phase::Products) > 0.0, "{on:?}");
    assert_eq!(
        plain.iter().map(|w| w.to_bits()).collect::<Vec<_>>(),
        profiled.iter().map(|w| w.to_bits()).collect::<Vec<_>>()
    );
}
