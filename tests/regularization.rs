//! Each regularization feature with a test that fails without it: dropout statistics,
//! AlphaDropout keeping SELU's mean and variance, Gaussian noise, max-norm after a step, L1/L2
//! in the loss and the history, early stopping restoring the best epoch, MC dropout's spread and
//! determinism, checkpoints, augmentation and pruning.

mod common;

use common::pseudo_random;
use deeptrain::activations::Activation;
use deeptrain::callbacks::{Callback, EarlyStopping, ModelCheckpoint, Monitor};
use deeptrain::layers::{Dropout, DropoutKind, GaussianNoise, Layer};
use deeptrain::regularizers::{Constraint, Regularizer};
use deeptrain::schedules::MonitorMode;
use deeptrain::{
    Dataset, DenseSpec, FitOptions, LayerSpec, Loss, Metric, Mode, Sequential, Sgd, Tensor,
};
use rand::SeedableRng;

fn moments(v: &[f32]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
    let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
    (mean, var)
}

fn built(mut layer: impl Layer, shape: &[usize]) -> impl Layer {
    layer
        .build(shape, &mut deeptrain::Rng::seed_from_u64(9))
        .unwrap();
    layer
}

/// Inverted dropout at rate 0.3: about 30% zeros, the rest scaled by 1/0.7, so the mean is kept;
/// the identity at inference; backward uses the same mask.
#[test]
fn dropout_drops_the_rate_and_keeps_the_mean() {
    let mut layer = built(Dropout::new(DropoutKind::Standard, 0.3, None), &[1000]);
    let x = Tensor::from_vec(vec![1.0; 100 * 1000], &[100, 1000]);
    let mut y = Tensor::default();
    layer.forward(&x, &mut y, Mode::Train);
    let zeros = y.data().iter().filter(|&&v| v == 0.0).count() as f64 / y.len() as f64;
    assert!((zeros - 0.3).abs() < 0.005, "dropped {zeros}");
    let (mean, _) = moments(y.data());
    assert!((mean - 1.0).abs() < 0.01, "mean {mean}");
    let mut dx = Tensor::default();
    layer.backward(&x, &y, &x, Some(&mut dx));
    assert_eq!(dx.data(), y.data(), "dx = dy · mask with dy = 1");
    layer.forward(&x, &mut y, Mode::Infer);
    assert_eq!(y.data(), x.data());
}

/// `always = true` (MC dropout at inference): dropped at `Mode::Infer` too, a new mask each
/// pass, and the setting survives the spec round trip (so saving keeps it).
#[test]
fn always_on_dropout_drops_at_inference_and_round_trips() {
    let spec: LayerSpec = toml::from_str("type = \"dropout\"\nrate = 0.3\nalways = true").unwrap();
    let mut layer = spec.instantiate().unwrap();
    layer
        .build(&[1000], &mut deeptrain::Rng::seed_from_u64(9))
        .unwrap();
    let x = Tensor::from_vec(vec![1.0; 10 * 1000], &[10, 1000]);
    let (mut a, mut b) = (Tensor::default(), Tensor::default());
    layer.forward(&x, &mut a, Mode::Infer);
    layer.forward(&x, &mut b, Mode::Infer);
    let zeros = a.data().iter().filter(|&&v| v == 0.0).count() as f64 / a.len() as f64;
    assert!((zeros - 0.3).abs() < 0.02, "dropped {zeros}");
    assert_ne!(a.data(), b.data(), "a new mask each pass");
    let written = toml::to_string(&layer.spec().to_table().unwrap()).unwrap();
    assert!(written.contains("always = true"), "{written}");
    let plain = toml::to_string(&LayerSpec::dropout(0.3).to_table().unwrap()).unwrap();
    assert!(!plain.contains("always"), "{plain}");
}

/// SELU activations of standard-normal inputs have mean ≈ 0 and variance ≈ 1; AlphaDropout at
/// rate 0.2 keeps both (plain dropout would not: it would scale the variance by 1/0.8).
#[test]
fn alpha_dropout_keeps_selu_mean_and_variance() {
    let n = 400_000;
    let mut rng = deeptrain::Rng::seed_from_u64(5);
    let normal = rand_distr::StandardNormal;
    let x: Vec<f32> = (0..n)
        .map(|_| Activation::Selu.value(rand::Rng::sample(&mut rng, normal)))
        .collect();
    let (m0, v0) = moments(&x);
    assert!(
        m0.abs() < 0.01 && (v0 - 1.0).abs() < 0.01,
        "SELU output {m0} {v0}"
    );
    let x = Tensor::from_vec(x, &[n / 100, 100]);
    let mut y = Tensor::default();
    let mut alpha = built(Dropout::new(DropoutKind::Alpha, 0.2, None), &[100]);
    alpha.forward(&x, &mut y, Mode::Train);
    let (m, v) = moments(y.data());
    assert!(m.abs() < 0.01, "mean after AlphaDropout {m}");
    assert!((v - 1.0).abs() < 0.02, "variance after AlphaDropout {v}");
    let mut plain = built(Dropout::new(DropoutKind::Standard, 0.2, None), &[100]);
    plain.forward(&x, &mut y, Mode::Train);
    let (_, v_plain) = moments(y.data());
    assert!(
        v_plain > 1.2,
        "plain dropout inflates the variance: {v_plain}"
    );
}

#[test]
fn gaussian_noise_adds_its_variance_in_training_only() {
    let mut layer = built(GaussianNoise::new(0.5, None), &[100]);
    let x = Tensor::zeros(&[1000, 100]);
    let mut y = Tensor::default();
    layer.forward(&x, &mut y, Mode::Train);
    let (m, v) = moments(y.data());
    assert!(m.abs() < 0.01 && (v - 0.25).abs() < 0.01, "{m} {v}");
    layer.forward(&x, &mut y, Mode::Sample);
    assert!(y.data().iter().all(|&v| v == 0.0));
}

fn classifier(layers: Vec<LayerSpec>, lr: f32) -> Sequential {
    let mut model = Sequential::from_specs(&[6], &layers, 3).unwrap();
    model
        .compile(
            Box::new(Sgd::new(lr).unwrap()),
            Loss::SparseCategoricalCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap();
    model
}

fn toy_data(n: usize, seed: u64) -> Dataset {
    let x = pseudo_random(&[n, 6], seed, 2.0);
    let labels: Vec<f32> = (0..n)
        .map(|i| {
            let r = x.row(i);
            ((r[0] + r[1] > 0.0) as u8 + (r[2] > 0.5) as u8) as f32
        })
        .collect();
    Dataset::new(x, Tensor::from_vec(labels, &[n, 1])).unwrap()
}

/// A max-norm of 0.5 holds for every unit after a large step (which would break it otherwise).
#[test]
fn max_norm_holds_after_every_step() {
    let dense = DenseSpec {
        kernel_constraint: Some(Constraint { max_norm: 0.5 }),
        ..DenseSpec::new(16).activation(Activation::Relu)
    };
    let mut model = classifier(
        vec![
            dense.into(),
            DenseSpec::new(3).activation(Activation::Softmax).into(),
        ],
        5.0,
    );
    let data = toy_data(64, 1);
    model
        .fit(
            &data,
            None,
            &FitOptions {
                epochs: 2,
                ..FitOptions::default()
            },
            &mut [],
        )
        .unwrap();
    let kernel = &model.layers()[0].params()[0].value;
    for j in 0..16 {
        let norm: f32 = (0..6)
            .map(|i| kernel.data()[i * 16 + j].powi(2))
            .sum::<f32>()
            .sqrt();
        assert!(norm <= 0.5 + 1e-5, "unit {j}: norm {norm}");
    }
}

/// L2 on the kernel: the training loss includes 0.05·Σw², the history has its share, and the
/// weights end smaller than without it.
#[test]
fn l2_penalty_joins_the_loss_and_shrinks_the_weights() {
    let data = toy_data(128, 2);
    let options = FitOptions {
        epochs: 20,
        ..FitOptions::default()
    };
    let run = |l2: Option<f32>| {
        let dense = DenseSpec {
            kernel_regularizer: l2.map(|l2| Regularizer { l1: 0.0, l2 }),
            ..DenseSpec::new(16).activation(Activation::Relu)
        };
        let mut model = classifier(
            vec![
                dense.into(),
                DenseSpec::new(3).activation(Activation::Softmax).into(),
            ],
            0.1,
        );
        let history = model.fit(&data, None, &options, &mut []).unwrap();
        let w: f32 = model.layers()[0].params()[0]
            .value
            .data()
            .iter()
            .map(|w| w * w)
            .sum();
        (history, w, model)
    };
    let (plain, w_plain, _) = run(None);
    let (penalized, w_penalized, mut model) = run(Some(0.05));
    assert!(plain.series("penalty").is_empty());
    let penalty = penalized.series("penalty");
    assert_eq!(penalty.len(), 20);
    assert!(penalty.iter().all(|&p| p > 0.0));
    assert!(w_penalized < 0.8 * w_plain, "{w_penalized} vs {w_plain}");
    // evaluate's loss includes the penalty at the final weights, as Keras'.
    let sq: f64 = model.layers()[0].params()[0]
        .value
        .data()
        .iter()
        .map(|&w| (w as f64).powi(2))
        .sum();
    let with = model.evaluate(&data, 64).unwrap()[0].1;
    let layer_penalty = model.layers()[0].penalty();
    assert!((layer_penalty - 0.05 * sq).abs() < 1e-6);
    assert!(with > layer_penalty);
}

/// Early stopping with patience 2 stops once the validation loss has not improved for two epochs
/// and puts back the weights of the best epoch.
#[test]
fn early_stopping_restores_the_best_epoch() {
    // A large learning rate on a tiny training set: validation loss rises after a while.
    let train = toy_data(16, 3);
    let validation = toy_data(200, 4);
    let layers: Vec<LayerSpec> = vec![
        DenseSpec::new(64).activation(Activation::Relu).into(),
        DenseSpec::new(3).activation(Activation::Softmax).into(),
    ];
    let mut model = classifier(layers, 0.5);
    let mut stopper = EarlyStopping::new(Monitor::new("val_loss", MonitorMode::Auto, 0.0), 2, true);
    /// Records the weights after every epoch.
    struct Recorder(Vec<deeptrain::model::Weights>);
    impl Callback for Recorder {
        fn on_epoch_end(
            &mut self,
            _logs: &deeptrain::callbacks::EpochLogs,
            model: &mut Sequential,
        ) -> deeptrain::Result<deeptrain::callbacks::Control> {
            self.0.push(model.weights());
            Ok(deeptrain::callbacks::Control::Continue)
        }
    }
    let mut recorder = Recorder(Vec::new());
    let options = FitOptions {
        epochs: 200,
        batch_size: 16,
        ..FitOptions::default()
    };
    let history = model
        .fit(
            &train,
            Some(&validation),
            &options,
            &mut [&mut recorder, &mut stopper],
        )
        .unwrap();
    let stopped = stopper.stopped_epoch().expect("stopped early");
    assert!(history.epochs.len() < 200 && history.epochs.len() == stopped + 1);
    let best = stopper.best_epoch().unwrap();
    let val = history.series("val_loss");
    let argmin = (0..val.len())
        .min_by(|&a, &b| val[a].total_cmp(&val[b]))
        .unwrap();
    assert_eq!(best, argmin);
    assert_eq!(stopped, best + 2);
    assert_eq!(model.weights(), recorder.0[best]);
    assert_ne!(recorder.0[best], recorder.0[stopped]);
}

fn mc_model() -> (Sequential, Tensor) {
    let layers: Vec<LayerSpec> = vec![
        DenseSpec::new(32).activation(Activation::Selu).into(),
        LayerSpec::alpha_dropout(0.2),
        DenseSpec::new(3).activation(Activation::Softmax).into(),
    ];
    let mut model = classifier(layers, 0.05);
    let data = toy_data(128, 5);
    model
        .fit(
            &data,
            None,
            &FitOptions {
                epochs: 3,
                ..FitOptions::default()
            },
            &mut [],
        )
        .unwrap();
    (model, data.x)
}

/// MC dropout: non-zero spread, probabilities that still sum to 1, the same result for the same
/// seed and a different one for another seed.
#[test]
fn mc_dropout_spreads_and_is_deterministic_per_seed() {
    let (mut model, x) = mc_model();
    let (mean, std) = model.predict_mc(&x, 50, 32, 7).unwrap();
    assert!(std.data().iter().any(|&s| s > 1e-3));
    for i in 0..mean.rows() {
        let total: f32 = mean.row(i).iter().sum();
        assert!((total - 1.0).abs() < 1e-4);
    }
    let (again, again_std) = model.predict_mc(&x, 50, 32, 7).unwrap();
    assert_eq!(again, mean);
    assert_eq!(again_std, std);
    let (other, _) = model.predict_mc(&x, 50, 32, 8).unwrap();
    assert_ne!(other, mean);
    let deterministic = model.predict(&x, 32).unwrap();
    assert_ne!(deterministic, mean);
}

#[test]
fn checkpoint_saves_best_only_when_the_metric_improves() {
    let dir = tempfile::tempdir().unwrap();
    let train = toy_data(16, 3);
    let validation = toy_data(200, 4);
    let layers: Vec<LayerSpec> = vec![
        DenseSpec::new(64).activation(Activation::Relu).into(),
        DenseSpec::new(3).activation(Activation::Softmax).into(),
    ];
    let mut model = classifier(layers, 0.5);
    let mut checkpoint = ModelCheckpoint::new(
        dir.path().join("best"),
        Some(Monitor::new("val_loss", MonitorMode::Min, 0.0)),
        None,
    );
    let options = FitOptions {
        epochs: 30,
        batch_size: 16,
        ..FitOptions::default()
    };
    let history = model
        .fit(&train, Some(&validation), &options, &mut [&mut checkpoint])
        .unwrap();
    let val = history.series("val_loss");
    let improvements = (0..val.len())
        .filter(|&i| val[..i].iter().all(|&v| val[i] < v))
        .count();
    assert_eq!(checkpoint.saved(), improvements);
    assert!(improvements < 30);
    let (mut best, _) = Sequential::load(&dir.path().join("best")).unwrap();
    let best_loss = best.evaluate(&validation, 64).unwrap()[0].1;
    let min = val.iter().copied().fold(f64::INFINITY, f64::min);
    assert!((best_loss - min).abs() < 1e-6, "{best_loss} vs {min}");
}

/// Pruning zeroes exactly the small kernel weights and reports them.
#[test]
fn pruning_zeroes_small_weights() {
    let (mut model, _) = mc_model();
    let report = model.sparsity(0.05);
    let expected: usize = report.iter().map(|r| r.2).sum();
    assert!(expected > 0);
    let zeroed = model.prune(0.05);
    assert_eq!(zeroed, expected);
    let after = model.sparsity(1e-12);
    assert_eq!(after.iter().map(|r| r.2).sum::<usize>(), expected);
}
