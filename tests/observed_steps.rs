//! Watching a run never changes it. Under plain SGD, Dense and convolution layers update their
//! kernels within backward (W ← W − η·xᵀ·dz in the product itself); on a step whose gradients
//! someone reads (diagnostics sampling it, or a callback that says it reads gradients) they
//! also store g, and still update W by the same product. So training with diagnostics on,
//! off, or with a gradient-reading callback ends with the same weights and history, bit for
//! bit, on Dense, Conv2D (one im2col piece or several, and the 1×1 kernel that reads its input
//! as its im2col) and Conv1D models; and the gradient such a callback reads is the one the step
//! applied. The same holds under `mixed_bfloat16`, where the kernels' packed bf16 copies are
//! kept between products and made again after each update.

mod common;

use deeptrain::callbacks::BatchEnd;
use deeptrain::diagnostics::Diagnostics;
use deeptrain::layers::{Conv1dSpec, Conv2dSpec, Padding};
use deeptrain::{
    data, Activation, Callback, Dataset, DenseSpec, DtypePolicy, FitOptions, History, LayerSpec,
    Loss, Metric, Sequential, Sgd, Tensor,
};

const RATE: f32 = 0.05;

/// Who watches the run.
#[derive(Clone, Copy, Debug)]
enum Watch {
    Nobody,
    /// Diagnostics sampling every 3rd step and each epoch's first.
    Diagnostics,
    /// A callback reading every gradient, checking each against the step's update.
    GradientReader,
}

/// Reads every kernel's gradient before each step, and checks that the step before moved
/// the kernel by −η·g (to the product's rounding): the gradient it reads is the one applied.
#[derive(Default)]
struct GradientReader {
    /// The kernels before the last step.
    before: Vec<Vec<f32>>,
    /// Steps checked.
    checked: usize,
}

fn kernels(model: &Sequential) -> Vec<Vec<f32>> {
    model
        .layers()
        .iter()
        .filter_map(|l| l.kernel_param())
        .map(|p| p.value.data().to_vec())
        .collect()
}

impl Callback for GradientReader {
    fn needs_gradients(&self) -> bool {
        true
    }

    fn on_batch_begin(
        &mut self,
        _epoch: usize,
        _step: usize,
        model: &mut Sequential,
    ) -> deeptrain::Result<()> {
        if !self.before.is_empty() {
            let params = model.layers().iter().filter_map(|l| l.kernel_param());
            for (p, before) in params.zip(&self.before) {
                let g = p
                    .grad()
                    .expect("a callback that reads gradients gets every kernel's")
                    .data();
                assert!(g.iter().any(|&v| v != 0.0), "a kernel gradient of zeros");
                for ((&w, &w0), &g) in p.value.data().iter().zip(before).zip(g) {
                    let expected = w0 - RATE * g;
                    assert!(
                        (w - expected).abs() <= 1e-5 * expected.abs().max(1.0),
                        "w {w} after the step, w0 − η·g = {expected}"
                    );
                }
            }
            self.checked += 1;
        }
        self.before = kernels(model);
        Ok(())
    }

    fn on_batch_end(&mut self, _logs: &BatchEnd) {}
}

/// Every parameter's bits, and each epoch's history values.
type Ending = (Vec<Vec<u32>>, Vec<Vec<(String, f64)>>);

/// Trains `model` for 2 epochs under plain SGD and `policy`, watched by `watch`; returns every
/// parameter's bits and the history's values.
fn train(
    model: Sequential,
    data: &(Dataset, Dataset),
    batch_size: usize,
    watch: Watch,
    policy: DtypePolicy,
) -> Ending {
    let mut model = model;
    model
        .compile(
            Box::new(Sgd::new(RATE).unwrap()),
            Loss::SparseCategoricalCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap();
    model.set_dtype_policy(policy).unwrap();
    let diagnostics = Diagnostics::new(3);
    if let Watch::Diagnostics = watch {
        model
            .install_observer(Box::new(diagnostics.clone()))
            .unwrap();
    }
    let mut reader = GradientReader::default();
    let options = FitOptions {
        epochs: 2,
        batch_size,
        validation_split: 0.0,
        ..FitOptions::default()
    };
    let history: History = match watch {
        Watch::GradientReader => model.fit(&data.0, Some(&data.1), &options, &mut [&mut reader]),
        _ => model.fit(&data.0, Some(&data.1), &options, &mut []),
    }
    .unwrap();
    match watch {
        Watch::GradientReader => assert!(reader.checked > 5, "the reader checked steps"),
        Watch::Diagnostics => assert!(
            diagnostics.to_csv().lines().count() > 1,
            "diagnostics sampled steps"
        ),
        Watch::Nobody => {}
    }
    let bits = model
        .layers()
        .iter()
        .flat_map(|l| l.params())
        .map(|p| p.value.data().iter().map(|v| v.to_bits()).collect())
        .collect();
    let values = history.epochs.into_iter().map(|e| e.values).collect();
    (bits, values)
}

/// Trains the same seed unwatched, with diagnostics and with a gradient reader, in f32 and
/// (where the CPU has AVX-512 BF16) in mixed bf16; asserts that all three end alike, bit for
/// bit, under each policy.
fn assert_watching_changes_nothing(
    what: &str,
    make: &dyn Fn() -> Sequential,
    data: &(Dataset, Dataset),
    batch_size: usize,
) {
    assert_watching_changes_nothing_under(what, make, data, batch_size, DtypePolicy::Float32);
    if deeptrain::linalg::bf16::supported() {
        let policy = DtypePolicy::MixedBfloat16;
        assert_watching_changes_nothing_under(what, make, data, batch_size, policy);
    } else {
        eprintln!("{what}: bf16 skipped, this CPU has no AVX-512 BF16");
    }
}

fn assert_watching_changes_nothing_under(
    what: &str,
    make: &dyn Fn() -> Sequential,
    data: &(Dataset, Dataset),
    batch_size: usize,
    policy: DtypePolicy,
) {
    let what = &format!("{what} ({})", policy.name());
    let (weights, history) = train(make(), data, batch_size, Watch::Nobody, policy);
    let first = history[0][0].1;
    let last = history[1][0].1;
    assert!(last < first, "{what} learns: loss {first} then {last}");
    for watch in [Watch::Diagnostics, Watch::GradientReader] {
        let (w, h) = train(make(), data, batch_size, watch, policy);
        assert_eq!(
            h, history,
            "{what} watched by {watch:?}: the history differs"
        );
        assert!(
            w == weights,
            "{what} watched by {watch:?}: the weights differ"
        );
    }
}

/// 320 training and 64 validation digits, each sample reshaped to `shape`.
fn digits(shape: &[usize]) -> (Dataset, Dataset) {
    let all = data::digits().unwrap().train;
    let reshape = |d: Dataset| {
        let n = d.len();
        let x: Vec<f32> = d.x.data().iter().map(|v| v / 16.0).collect();
        let x = Tensor::from_vec(x, &[&[n], shape].concat());
        Dataset::new(x, d.labels.clone()).unwrap()
    };
    (reshape(all.slice(0..320)), reshape(all.slice(320..384)))
}

/// 256 training and 64 validation digits scaled up to 28×28×1.
fn digits_at_28() -> (Dataset, Dataset) {
    let all = data::digits().unwrap().train;
    let scale = |d: Dataset| common::digits_at_28(&d, &[28, 28, 1]);
    (scale(all.slice(0..256)), scale(all.slice(256..320)))
}

#[test]
fn dense_model_trains_alike_watched_or_not() {
    let make = || {
        Sequential::new(&[64])
            .add(DenseSpec::new(32).activation(Activation::Relu))
            .add(DenseSpec::new(16).activation(Activation::Tanh))
            .add(DenseSpec::new(10).activation(Activation::Softmax))
            .build(11)
            .unwrap()
    };
    assert_watching_changes_nothing("dense", &make, &digits(&[64]), 32);
}

#[test]
fn conv2d_model_trains_alike_watched_or_not() {
    // 3×3 "same" then 1×1 (which reads its input as its im2col), the batch in one piece.
    let make = || {
        Sequential::new(&[8, 8, 1])
            .add(
                Conv2dSpec::new(6, 3)
                    .padding(Padding::Same)
                    .activation(Activation::Relu),
            )
            .add(Conv2dSpec::new(4, 1).activation(Activation::Relu))
            .add(LayerSpec::flatten())
            .add(DenseSpec::new(10).activation(Activation::Softmax))
            .build(12)
            .unwrap()
    };
    assert_watching_changes_nothing("conv2d", &make, &digits(&[8, 8, 1]), 32);
}

#[test]
fn conv2d_model_in_several_im2col_pieces_trains_alike_watched_or_not() {
    // 28×28 with a 3×3 kernel: 26·26·9 values of im2col a sample, so a batch of 64 runs in
    // pieces, whose gradients add up before the update.
    let make = || {
        Sequential::new(&[28, 28, 1])
            .add(Conv2dSpec::new(4, 3).activation(Activation::Relu))
            .add(LayerSpec::max_pooling2d(2))
            .add(LayerSpec::flatten())
            .add(DenseSpec::new(10).activation(Activation::Softmax))
            .build(13)
            .unwrap()
    };
    assert_watching_changes_nothing("conv2d in pieces", &make, &digits_at_28(), 64);
}

#[test]
fn conv1d_model_trains_alike_watched_or_not() {
    let make = || {
        Sequential::new(&[8, 8])
            .add(
                Conv1dSpec::new(8, 3)
                    .padding(Padding::Causal)
                    .activation(Activation::Relu),
            )
            .add(Conv1dSpec::new(6, 3).activation(Activation::Relu))
            .add(LayerSpec::flatten())
            .add(DenseSpec::new(10).activation(Activation::Softmax))
            .build(14)
            .unwrap()
    };
    assert_watching_changes_nothing("conv1d", &make, &digits(&[8, 8]), 32);
}
