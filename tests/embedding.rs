//! The Embedding layer: PyTorch's lookup and weight gradient, finite differences, a spec that
//! trains, refused token ids, and save/load.

mod common;

use std::path::Path;

use common::{assert_close, deeptrain, f32s, nested, reference, write_npy};
use deeptrain::layers::{Embedding, EmbeddingSpec, Layer};
use deeptrain::regularizers::Regularizer;
use deeptrain::{
    Activation, DenseSpec, Initializer, LayerSpec, Loss, Metric, Mode, Sequential, Sgd, Targets,
    Tensor,
};

/// embedding.json (torch 2.15 nn.Embedding(5, 3), float64, tests/reference/gen_embedding.py):
/// y for (2, 4) ids, and dL/dW for L = Σ y·w, where ids 1 and 3 appear three times (their rows
/// sum) and id 4 never (its row stays zero).
#[test]
fn embedding_lookup_and_weight_gradient_match_torch() {
    let r = &reference("embedding.json")["layer"];
    let spec = EmbeddingSpec::new(5, 3);
    let mut layer = Embedding::from_spec(spec);
    let mut rng = <deeptrain::Rng as rand::SeedableRng>::seed_from_u64(0);
    assert_eq!(layer.build(&[4], &mut rng).unwrap(), vec![4, 3]);
    layer.params_mut()[0].value = Tensor::from_vec(f32s(&r["weight"]), &[5, 3]);
    let x = Tensor::from_vec(f32s(&r["ids"]), &[2, 4]);
    layer.check_input(&x).unwrap();
    let mut y = Tensor::default();
    layer.forward(&x, &mut y, Mode::Train);
    assert_eq!(y.shape(), &[2, 4, 3]);
    assert_close(y.data(), &nested(&r["y"]), 1e-6, 1e-7, "y");
    let w = Tensor::from_vec(f32s(&r["w"]), &[2, 4, 3]);
    let mut dx = Tensor::from_vec(vec![7.0; 8], &[2, 4]);
    layer.backward(&x, &y, &w, Some(&mut dx));
    assert_close(
        layer.params()[0].grad().expect("a stored gradient").data(),
        &nested(&r["dweight"]),
        1e-5,
        1e-6,
        "dL/dW",
    );
    // Ids are not differentiable: the input gradient is written as zeros.
    assert_eq!(dx.shape(), &[2, 4]);
    assert!(dx.data().iter().all(|&v| v == 0.0));
    // A second backward overwrites (not accumulates across calls).
    layer.backward(&x, &y, &w, None);
    assert_close(
        layer.params()[0].grad().expect("a stored gradient").data(),
        &nested(&r["dweight"]),
        1e-5,
        1e-6,
        "dL/dW again",
    );
}

/// Central finite differences of the loss with respect to every embedding (and dense) weight
/// of embedding → flatten → dense → softmax cross-entropy, on ids where some repeat within and
/// across samples. (The input is not perturbed: ids off the integers are refused.)
#[test]
fn embedding_gradients_match_finite_differences() {
    let spec = EmbeddingSpec::new(6, 4).embeddings_initializer(Initializer::RandomNormal {
        mean: 0.0,
        stddev: 0.7,
    });
    check_embedding_gradients(spec.clone());
    // With Keras' penalty l1·Σ|w| + l2·Σw² on the table, added to the loss and its gradient.
    check_embedding_gradients(spec.embeddings_regularizer(Regularizer::l1_l2(0.01, 0.05)));
}

fn check_embedding_gradients(spec: EmbeddingSpec) {
    let regularized = spec.embeddings_regularizer.is_some();
    let mut model = Sequential::new(&[3])
        .add(spec)
        .add(LayerSpec::flatten())
        .add(DenseSpec::new(3).activation(Activation::Softmax))
        .build(5)
        .unwrap();
    model
        .compile(
            Box::new(Sgd::new(0.1).unwrap()),
            Loss::SparseCategoricalCrossentropy,
            &[],
        )
        .unwrap();
    let ids = [0., 2., 2., 5., 1., 2., 3., 3., 0., 2., 5., 4.];
    let x = Tensor::from_vec(ids.to_vec(), &[4, 3]);
    let targets = Targets::Classes(vec![0, 2, 1, 2]);
    let (_, dx) = model.compute_gradients(&x, &targets, Mode::Train).unwrap();
    assert_eq!(model.weight_penalty() > 0.0, regularized);
    assert!(dx.data().iter().all(|&v| v == 0.0), "ids get no gradient");
    let analytic: Vec<Vec<Vec<f32>>> = model
        .layers()
        .iter()
        .map(|l| {
            l.params()
                .iter()
                .map(|p| p.grad().expect("a stored gradient").data().to_vec())
                .collect()
        })
        .collect();
    let eps = 1e-3f32;
    let mut checked_nonzero = 0;
    for (li, grads) in analytic.iter().enumerate() {
        for (pi, grads) in grads.iter().enumerate() {
            for (k, &g) in grads.iter().enumerate() {
                let original = model.layers()[li].params()[pi].value.data()[k];
                let mut loss_at = |v: f32| {
                    model.layers_mut()[li].params_mut()[pi].value.data_mut()[k] = v;
                    model
                        .compute_gradients(&x, &targets, Mode::Train)
                        .unwrap()
                        .0 as f32
                };
                let numeric = (loss_at(original + eps) - loss_at(original - eps)) / (2.0 * eps);
                model.layers_mut()[li].params_mut()[pi].value.data_mut()[k] = original;
                assert!(
                    (g - numeric).abs() <= 2e-2 * numeric.abs().max(g.abs()) + 2e-4,
                    "layer {li} param {pi}[{k}]: analytic {g}, numeric {numeric}"
                );
                checked_nonzero += usize::from(li == 0 && g != 0.0);
            }
        }
    }
    // Rows of ids 0..=5 are all hit: every one of the 6·4 embedding gradients is non-zero.
    assert_eq!(checked_nonzero, 24);
}

/// The data check refuses, in one line naming the row, feature and layer, any value that is
/// not an integer id below `input_dim`; training with one does not start.
#[test]
fn bad_token_ids_are_refused_before_training() {
    let mut model = Sequential::new(&[2])
        .add(EmbeddingSpec::new(4, 2))
        .add(LayerSpec::flatten())
        .add(DenseSpec::new(2).activation(Activation::Softmax))
        .build(1)
        .unwrap();
    model
        .compile(
            Box::new(Sgd::new(0.1).unwrap()),
            Loss::SparseCategoricalCrossentropy,
            &[],
        )
        .unwrap();
    for (bad, shown) in [(7.5, "7.5"), (4.0, "4"), (-1.0, "-1")] {
        let x = Tensor::from_vec(vec![0.0, 1.0, 3.0, bad], &[2, 2]);
        let err = model.predict(&x, 2).err().unwrap().to_string();
        assert!(
            err.contains("feature 1 of row 1")
                && err.contains(&format!("is {shown}, not a token id"))
                && err.contains("0..4")
                && err.lines().count() == 1,
            "{err}"
        );
    }
    let x = Tensor::from_vec(vec![0.0, 1.0, 3.0, 2.0], &[2, 2]);
    assert_eq!(model.predict(&x, 2).unwrap().shape(), &[2, 2]);
    // Settings refused at construction, naming the key.
    let refuse = |spec: EmbeddingSpec, key: &str| {
        let err = Sequential::new(&[2])
            .add(spec)
            .build(1)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains(key), "{err}");
    };
    refuse(EmbeddingSpec::new(0, 2), "input_dim");
    refuse(EmbeddingSpec::new(3, 0), "output_dim");
    // A masked output would need a masked loss.
    refuse(EmbeddingSpec::new(3, 2).mask_zero(true), "mask_zero");
    // The size guard: a 2^24 × 2^24 table (2^48 values) is refused before anything is
    // allocated.
    let err = Sequential::new(&[2])
        .add(EmbeddingSpec::new(1 << 24, 1 << 24))
        .build(1)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("embedding") && err.contains("limit"), "{err}");
}

/// Saved and loaded, the model gives the same predictions and the same layer settings.
#[test]
fn embedding_model_saves_and_loads() {
    let mut model = Sequential::new(&[3])
        .add(EmbeddingSpec::new(9, 5).embeddings_regularizer(Regularizer::l2(0.01)))
        .add(LayerSpec::flatten())
        .add(DenseSpec::new(2).activation(Activation::Softmax))
        .build(4)
        .unwrap();
    model
        .compile(
            Box::new(Sgd::new(0.1).unwrap()),
            Loss::SparseCategoricalCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap();
    let x = Tensor::from_vec(vec![0., 8., 3., 3., 1., 7.], &[2, 3]);
    let targets = Targets::Classes(vec![1, 0]);
    model.compute_gradients(&x, &targets, Mode::Train).unwrap();
    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path()).unwrap();
    let (mut loaded, file) = Sequential::load(dir.path()).unwrap();
    assert_eq!(file.layers, model.layer_specs());
    assert_eq!(loaded.summary(), model.summary());
    assert_eq!(
        loaded.predict(&x, 2).unwrap(),
        model.predict(&x, 2).unwrap()
    );
    let text = std::fs::read_to_string(dir.path().join("model.toml")).unwrap();
    assert!(text.contains("type = \"embedding\""), "{text}");
    assert!(text.contains("embeddings_regularizer"), "{text}");
}

fn spec(dir: &Path, x: &Path, y: &Path) -> std::path::PathBuf {
    let text = format!(
        r#"seed = 2
[data]
dataset = "{}"
labels = "{}"
scale = "none"
validation_split = 0.25
[[layers]]
type = "embedding"
input_dim = 10
output_dim = 4
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
units = 2
activation = "softmax"
[fit]
epochs = 1
batch_size = 8
"#,
        x.display(),
        y.display()
    );
    let path = dir.join("embedding.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `[[layers]] type = "embedding"` then flatten and dense trains one epoch on an NPY of token
/// ids; the same spec on ids with 7.5 or 10 (≥ input_dim) in them is refused in one line.
#[test]
fn spec_with_an_embedding_trains_and_refuses_bad_ids() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 48 sequences of 6 ids in 0..10; the label says whether id 3 occurs.
    let ids: Vec<f32> = (0..48 * 6).map(|i| ((i * 7 + i / 5) % 10) as f32).collect();
    let labels: Vec<f32> = ids
        .chunks(6)
        .map(|s| f32::from(u8::from(s.contains(&3.0))))
        .collect();
    let (x, y) = (d.join("x.npy"), d.join("y.npy"));
    write_npy(&x, &[48, 6], &ids);
    write_npy(&y, &[48], &labels);
    let path = spec(d, &x, &y);
    let out = d.join("run");
    let o = deeptrain(&[
        "train",
        path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("Epoch 1/1"), "{text}");
    assert!(text.contains("Embedding"), "{text}");
    assert!(out.join("history.csv").is_file());
    for (bad, shown) in [
        (7.5f32, "is 7.5, not a token id"),
        (10.0, "is 10, not a token id"),
    ] {
        let mut wrong = ids.clone();
        wrong[5 * 6 + 2] = bad;
        write_npy(&x, &[48, 6], &wrong);
        let out = d.join(format!("bad{bad}"));
        let o = deeptrain(&[
            "train",
            path.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
        assert!(err.contains(shown) && err.contains("0..10"), "{err}");
    }
}
