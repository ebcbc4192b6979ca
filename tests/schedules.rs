//! Every schedule against tests/reference/schedules.json: Keras 3.15 for the decays (rates
//! at steps 0, 5, ..., 100, float32 in Keras), PyTorch 2.15 for OneCycleLR (rate and momentum at
//! every step) and ReduceLROnPlateau (rate after each epoch for a given metric sequence).

mod common;

use common::{floats, reference};
use deeptrain::schedules::{
    CosineSpec, ExponentialSpec, MonitorMode, OneCycleSpec, PiecewiseConstantSpec, PowerSpec,
    ReduceOnPlateauSpec, ScheduleSpec, Scheduler, ThresholdMode,
};

fn check(name: &str, ours: &[f64], theirs: &[f64], rtol: f64) {
    assert_eq!(ours.len(), theirs.len(), "{name}");
    for (i, (a, e)) in ours.iter().zip(theirs).enumerate() {
        assert!(
            (a - e).abs() <= rtol * e.abs() + 1e-12,
            "{name}[{i}]: {a} vs reference {e}"
        );
    }
}

fn rates(spec: ScheduleSpec, lr0: f64, steps: &[f64]) -> Vec<f64> {
    let scheduler = Scheduler::new(spec, lr0).unwrap();
    steps.iter().map(|&t| scheduler.at(t as u64, 0).0).collect()
}

#[test]
fn decays_match_keras() {
    let r = reference("schedules.json");
    let steps = floats(&r["steps"]);
    let s = &r["schedules"];
    // Keras computes in float32: a relative 1e-6.
    let tol = 1e-6;

    // ExponentialDecay(initial_learning_rate=0.01, decay_steps=20, decay_rate=0.1)
    let exp = ExponentialSpec {
        per: Default::default(),
        initial_learning_rate: None,
        decay_steps: 20.0,
        decay_rate: 0.1,
        staircase: false,
    };
    check(
        "exponential",
        &rates(ScheduleSpec::Exponential(exp.clone()), 0.01, &steps),
        &floats(&s["exponential_decay"]["lr"]),
        tol,
    );
    // ExponentialDecay(0.01, 20, 0.1, staircase=True)
    let stair = ScheduleSpec::Exponential(ExponentialSpec {
        staircase: true,
        ..exp
    });
    check(
        "exponential staircase",
        &rates(stair, 0.01, &steps),
        &floats(&s["exponential_decay_staircase"]["lr"]),
        tol,
    );
    // InverseTimeDecay(initial_learning_rate=0.01, decay_steps=10, decay_rate=1.0)
    let power = ScheduleSpec::Power(PowerSpec {
        per: Default::default(),
        initial_learning_rate: None,
        decay_steps: 10.0,
        decay_rate: 1.0,
        power: 1.0,
        staircase: false,
    });
    check(
        "power",
        &rates(power, 0.01, &steps),
        &floats(&s["inverse_time_decay (power scheduling, c=1)"]["lr"]),
        tol,
    );
    // PiecewiseConstantDecay(boundaries=[30, 60], values=[0.01, 0.005, 0.001])
    let piecewise = ScheduleSpec::PiecewiseConstant(PiecewiseConstantSpec {
        per: Default::default(),
        boundaries: vec![30.0, 60.0],
        values: vec![0.01, 0.005, 0.001],
    });
    check(
        "piecewise constant",
        &rates(piecewise, 0.01, &steps),
        &floats(&s["piecewise_constant"]["lr"]),
        tol,
    );
    // CosineDecay(initial_learning_rate=0.0, decay_steps=80, alpha=0.1, warmup_target=0.01,
    // warmup_steps=20)
    let cosine = ScheduleSpec::Cosine(CosineSpec {
        per: Default::default(),
        initial_learning_rate: None,
        decay_steps: 80.0,
        alpha: 0.1,
        warmup_steps: 20.0,
        warmup_target: Some(0.01),
    });
    check(
        "cosine with warm-up",
        &rates(cosine, 0.0, &steps),
        &floats(&s["cosine_decay_warmup"]["lr"]),
        tol,
    );
}

/// OneCycleLR(max_lr=0.05, total_steps=100, pct_start=0.3, anneal_strategy='linear',
/// div_factor=25, final_div_factor=1e4, cycle_momentum=True, base_momentum=0.85,
/// max_momentum=0.95), float64.
#[test]
fn one_cycle_matches_torch() {
    let r = reference("schedules.json");
    let c = &r["schedules"]["one_cycle"];
    let spec = ScheduleSpec::OneCycle(OneCycleSpec {
        max_learning_rate: Some(0.05),
        total_steps: Some(100),
        pct_start: 0.3,
        div_factor: 25.0,
        final_div_factor: 1e4,
        base_momentum: 0.85,
        max_momentum: 0.95,
        ..OneCycleSpec::default()
    });
    let scheduler = Scheduler::new(spec, 0.002).unwrap();
    let (lr, momentum): (Vec<f64>, Vec<f64>) = (0..100)
        .map(|t| {
            let (lr, m) = scheduler.at(t, 0);
            (lr, m.unwrap())
        })
        .unzip();
    check(
        "1cycle rate",
        &lr,
        &floats(&c["lr_at_every_step_0_to_99"]),
        1e-9,
    );
    check(
        "1cycle momentum",
        &momentum,
        &floats(&c["momentum_at_every_step_0_to_99"]),
        1e-9,
    );
}

/// ReduceLROnPlateau(lr0=0.1, mode='min', factor=0.5, patience=2, threshold=1e-4,
/// threshold_mode='rel', cooldown=1, min_lr=0.01), fed the file's metric sequence.
#[test]
fn reduce_on_plateau_matches_torch() {
    let r = reference("schedules.json");
    let c = &r["schedules"]["reduce_on_plateau"];
    let spec = ScheduleSpec::ReduceOnPlateau(ReduceOnPlateauSpec {
        factor: 0.5,
        patience: 2,
        min_delta: 1e-4,
        threshold_mode: ThresholdMode::Rel,
        cooldown: 1,
        min_lr: 0.01,
        ..ReduceOnPlateauSpec::default()
    });
    let mut scheduler = Scheduler::new(spec, 0.1).unwrap();
    let lrs: Vec<f64> = floats(&c["validation_metric_each_epoch"])
        .into_iter()
        .map(|v| {
            scheduler.plateau_step(v, MonitorMode::Min);
            scheduler.at(0, 0).0
        })
        .collect();
    check(
        "on plateau",
        &lrs,
        &floats(&c["lr_after_each_epoch"]),
        1e-12,
    );
}

/// Each `[schedule]` table is rejected, when read or when validated, with one line naming the
/// key or the problem.
#[test]
fn invalid_schedules_are_rejected_with_a_clear_error() {
    let cases = [
        ("name = \"exponential\"\ndecay_rate = 0.1", "missing field `decay_steps`"),
        ("name = \"exponential\"\ndecay_steps = 10", "missing field `decay_rate`"),
        (
            "name = \"exponential\"\ndecay_steps = 10\ndecay_rate = 0",
            "`decay_rate` must be a positive number",
        ),
        (
            "name = \"power\"\ndecay_steps = -1",
            "`decay_steps` must be a positive number",
        ),
        (
            "name = \"piecewise_constant\"\nboundaries = [5, 3]\nvalues = [0.1, 0.01, 0.001]",
            "increasing",
        ),
        (
            "name = \"piecewise_constant\"\nboundaries = [5]\nvalues = [0.1]",
            "one more value",
        ),
        ("name = \"one_cycle\"\npct_start = 1.5", "`pct_start` must be in (0, 1)"),
        ("name = \"one_cycle\"\ntotal_steps = 0", "`total_steps` must be at least 1"),
        (
            "name = \"reduce_on_plateau\"\nfactor = 2.0",
            "`factor` must be in (0, 1)",
        ),
        (
            "name = \"cosine\"\ndecay_steps = 10\ninitial_learning_rate = -1",
            "`initial_learning_rate` must be a number ≥ 0",
        ),
        // A key another schedule takes: the table is rejected as it is read.
        ("name = \"one_cycle\"\npatience = 3", "unknown field `patience`"),
        (
            "name = \"piecewise_constant\"\nboundaries = [1]\nvalues = [1, 2]\ninitial_learning_rate = 1",
            "unknown field `initial_learning_rate`",
        ),
        ("name = \"cosinus\"", "unknown variant `cosinus`"),
    ];
    for (text, needle) in cases {
        let err = match toml::from_str::<ScheduleSpec>(text) {
            Err(e) => e.message().to_string(),
            Ok(spec) => spec
                .validate()
                .err()
                .unwrap_or_else(|| panic!("{spec:?} accepted"))
                .to_string(),
        };
        assert!(err.contains(needle), "{needle}: {err}");
        assert!(!err.contains('\n'), "{err}");
    }
}

/// A schedule's spec round-trips through TOML, and the scheduler keeps η₀ in it.
#[test]
fn schedule_specs_round_trip_with_their_defaults() {
    let spec: ScheduleSpec =
        toml::from_str("name = \"one_cycle\"\nmax_learning_rate = 0.1").unwrap();
    assert_eq!(
        spec,
        ScheduleSpec::OneCycle(OneCycleSpec {
            max_learning_rate: Some(0.1),
            ..OneCycleSpec::default()
        })
    );
    let kept = Scheduler::new(spec, 0.004).unwrap().spec().clone();
    let text = toml::to_string(&kept).unwrap();
    assert!(text.starts_with("name = \"one_cycle\""), "{text}");
    assert!(text.contains("initial_learning_rate = 0.004"), "{text}");
    assert_eq!(toml::from_str::<ScheduleSpec>(&text).unwrap(), kept);
}

fn digits_model(
    optimizer: deeptrain::optimizers::OptimizerSpec,
) -> (deeptrain::Sequential, deeptrain::Dataset) {
    use deeptrain::{Activation, DenseSpec, LayerSpec, Loss, Metric, Scale, Scaler, Sequential};
    // The first 600 rows of the file, in its order.
    let mut train = deeptrain::data::digits_all().unwrap().slice(0..600);
    let scaler = Scaler::fit(Scale::Unit, &train.x);
    scaler.apply(&mut train.x);
    let mut model = Sequential::new(train.feature_shape())
        .add(LayerSpec::flatten())
        .add(DenseSpec::new(32).activation(Activation::Relu))
        .add(DenseSpec::new(10).activation(Activation::Softmax))
        .build(3)
        .unwrap();
    model
        .compile(
            optimizer.build().unwrap(),
            Loss::SparseCategoricalCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap();
    (model, train)
}

/// In `fit`, a per-epoch exponential decay halves the rate every epoch, the history records it,
/// and 1cycle drives SGD's momentum.
#[test]
fn fit_applies_the_schedule_and_logs_the_rate() {
    use deeptrain::optimizers::{OptimizerSpec, SgdSpec};
    use deeptrain::schedules::Per;
    use deeptrain::FitOptions;
    let (mut model, train) = digits_model(OptimizerSpec::default().with_learning_rate(0.08));
    model
        .set_schedule(Some(ScheduleSpec::Exponential(ExponentialSpec {
            per: Per::Epoch,
            initial_learning_rate: None,
            decay_steps: 1.0,
            decay_rate: 0.5,
            staircase: false,
        })))
        .unwrap();
    let options = FitOptions {
        epochs: 3,
        ..FitOptions::default()
    };
    let history = model.fit(&train, None, &options, &mut []).unwrap();
    let lrs: Vec<f64> = history.epochs.iter().map(|e| e.learning_rate).collect();
    check("per-epoch exponential", &lrs, &[0.08, 0.04, 0.02], 1e-6);

    let momentum = OptimizerSpec::Sgd(SgdSpec {
        learning_rate: 0.01,
        momentum: 0.9,
        ..SgdSpec::default()
    });
    let (mut model, train) = digits_model(momentum);
    model
        .set_schedule(Some(ScheduleSpec::OneCycle(OneCycleSpec {
            max_learning_rate: Some(0.1),
            ..OneCycleSpec::default()
        })))
        .unwrap();
    model.fit(&train, None, &options, &mut []).unwrap();
    // After the last step of the cycle: the rate is back near max/(25·1e4), momentum at 0.95.
    let optimizer = model.optimizer().unwrap();
    assert!(
        optimizer.learning_rate() < 1e-5,
        "{}",
        optimizer.learning_rate()
    );
    assert!((optimizer.momentum().unwrap() - 0.95).abs() < 1e-6);
}

/// The range test grows the rate geometrically, finds a finite suggestion, and leaves the model
/// exactly as it was (weights, optimizer).
#[test]
fn lr_range_test_restores_the_model() {
    use deeptrain::model::LrFindOptions;
    use deeptrain::optimizers::{AdamSpec, OptimizerSpec};
    let (mut model, train) = digits_model(OptimizerSpec::Adam(AdamSpec::default()));
    let before: Vec<Vec<f32>> = model
        .layers()
        .iter()
        .flat_map(|l| l.params().iter().map(|p| p.value.data().to_vec()))
        .collect();
    let result = model
        .lr_range_test(
            &train,
            &LrFindOptions {
                steps: Some(120),
                ..LrFindOptions::default()
            },
        )
        .unwrap();
    let after: Vec<Vec<f32>> = model
        .layers()
        .iter()
        .flat_map(|l| l.params().iter().map(|p| p.value.data().to_vec()))
        .collect();
    assert_eq!(before, after);
    assert_eq!(model.optimizer().unwrap().iterations(), 0);
    assert_eq!(model.optimizer().unwrap().learning_rate(), 0.001);
    let ratios: Vec<f64> = result.points.windows(2).map(|w| w[1].0 / w[0].0).collect();
    assert!(ratios.iter().all(|r| (r / ratios[0] - 1.0).abs() < 1e-9));
    assert!(result.diverged, "Adam at rates up to 10 explodes on digits");
    assert!(
        result.suggested_lr > 1e-5 && result.suggested_lr < 1.0,
        "{}",
        result.suggested_lr
    );
    assert!(result.turning_lr > result.best_lr);
    assert_eq!(result.suggested_lr, result.turning_lr / 10.0);
}
