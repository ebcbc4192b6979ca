//! Open layers: a layer type defined here, registered, checked against finite differences,
//! written in a TOML spec, trained, saved, reloaded and predicting the same values; a layer
//! whose type is not registered refuses to save.

mod common;

use std::path::Path;

use common::{check_gradients, pseudo_random};
use deeptrain::layers::{register_layer, CustomLayerSpec, Layer, LayerSpec, Mode, Param};
use deeptrain::spec::Spec;
use deeptrain::{Activation, DenseSpec, Loss, Result, Rng, Scale, Scaler, Sequential, Sgd};
use deeptrain::{Targets, Tensor};

/// y = a ⊙ tanh(x) with a learned scale a per unit (initialized to `init`).
struct ScaledTanh {
    name: String,
    init: f32,
    type_name: &'static str,
    params: Vec<Param>,
}

impl ScaledTanh {
    fn from_spec(spec: &CustomLayerSpec) -> Result<Box<dyn Layer>> {
        let init = match spec.config.get("init") {
            None => 1.0,
            Some(v) => v.as_float().ok_or_else(|| {
                deeptrain::Error::Config(format!("scaled_tanh: `init` must be a number, got {v}"))
            })? as f32,
        };
        Ok(Box::new(ScaledTanh {
            name: spec.name.clone().unwrap_or_default(),
            init,
            type_name: "scaled_tanh",
            params: Vec::new(),
        }))
    }
}

impl Layer for ScaledTanh {
    fn name(&self) -> &str {
        &self.name
    }
    fn set_name(&mut self, name: String) {
        self.name = name;
    }
    fn class_name(&self) -> &'static str {
        "ScaledTanh"
    }
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        let mut scale = Param::new("scale", input_shape);
        scale.value.data_mut().fill(self.init);
        self.params = vec![scale];
        Ok(input_shape.to_vec())
    }
    fn forward(&mut self, x: &Tensor, y: &mut Tensor, _mode: Mode) {
        y.resize(x.shape());
        let a = self.params[0].value.data();
        for (row_y, row_x) in y
            .data_mut()
            .chunks_mut(a.len())
            .zip(x.data().chunks(a.len()))
        {
            for ((o, &v), &s) in row_y.iter_mut().zip(row_x).zip(a) {
                *o = s * v.tanh();
            }
        }
    }
    fn backward(&mut self, x: &Tensor, _y: &Tensor, dy: &Tensor, dx: Option<&mut Tensor>) {
        let units = self.params[0].value.len();
        let mut da = vec![0.0f32; units];
        for (row_x, row_g) in x.data().chunks(units).zip(dy.data().chunks(units)) {
            for ((d, &v), &g) in da.iter_mut().zip(row_x).zip(row_g) {
                *d += g * v.tanh();
            }
        }
        if self.params[0].trainable {
            self.params[0].grad.data_mut().copy_from_slice(&da);
        }
        if let Some(dx) = dx {
            dx.resize(x.shape());
            let a = self.params[0].value.data();
            for ((o, (&v, &g)), k) in dx
                .data_mut()
                .iter_mut()
                .zip(x.data().iter().zip(dy.data()))
                .zip((0..units).cycle())
            {
                let t = v.tanh();
                *o = g * a[k] * (1.0 - t * t);
            }
        }
    }
    fn params(&self) -> &[Param] {
        &self.params
    }
    fn params_mut(&mut self) -> &mut [Param] {
        &mut self.params
    }
    fn spec(&self) -> LayerSpec {
        let mut config = toml::Table::new();
        config.insert("init".into(), toml::Value::Float(self.init as f64));
        LayerSpec::Custom(CustomLayerSpec::new(
            self.type_name,
            Some(self.name.clone()),
            config,
        ))
    }
}

fn register() {
    register_layer("scaled_tanh", ScaledTanh::from_spec).unwrap();
}

#[test]
fn a_custom_layer_gradient_matches_finite_differences() {
    register();
    let model = Sequential::new(&[3])
        .add(DenseSpec::new(4))
        .add(LayerSpec::Custom(CustomLayerSpec::new(
            "scaled_tanh",
            None,
            toml::toml! { init = 0.7 },
        )))
        .add(DenseSpec::new(2).activation(Activation::Softmax))
        .build(3)
        .unwrap();
    let mut model = model;
    model
        .compile(
            Box::new(Sgd::new(0.1).unwrap()),
            Loss::SparseCategoricalCrossentropy,
            &[],
        )
        .unwrap();
    check_gradients(
        Mode::Train,
        model,
        pseudo_random(&[5, 3], 2, 1.0),
        Targets::Classes(vec![0, 1, 1, 0, 1]),
        "scaled_tanh",
    );
}

const SPEC: &str = r#"
seed = 3
[data]
dataset = "digits"
scale = "unit"
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
units = 16
name = "hidden"
[[layers]]
type = "scaled_tanh"
init = 0.5
[[layers]]
type = "dense"
units = 10
activation = "softmax"
[compile]
loss = "sparse_categorical_crossentropy"
metrics = ["accuracy"]
[fit]
epochs = 2
"#;

#[test]
fn a_custom_layer_in_a_spec_trains_saves_and_reloads_with_the_same_predictions() {
    register();
    let spec = Spec::parse(SPEC, Path::new("custom.toml")).unwrap();
    assert!(matches!(&spec.layers[2], LayerSpec::Custom(c) if c.type_name == "scaled_tanh"));
    let splits = deeptrain::data::digits().unwrap();
    let mut train = splits.train;
    let scaler = Scaler::fit(Scale::Unit, &train.x);
    scaler.apply(&mut train.x);
    let mut model = spec.build_model(train.feature_shape(), None).unwrap();
    assert!(
        model.summary().contains("scaled_tanh (ScaledTanh)"),
        "{}",
        model.summary()
    );
    model
        .compile(
            Box::new(Sgd::new(0.1).unwrap()),
            spec.compile.loss,
            &spec.compile.metrics,
        )
        .unwrap();
    let options = deeptrain::FitOptions {
        epochs: 2,
        batch_size: 32,
        ..Default::default()
    };
    model.fit(&train, None, &options, &mut []).unwrap();
    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path()).unwrap();
    let text = std::fs::read_to_string(dir.path().join("model.toml")).unwrap();
    assert!(text.contains("type = \"scaled_tanh\""), "{text}");
    let (mut loaded, _) = Sequential::load(dir.path()).unwrap();
    assert_eq!(loaded.weights(), model.weights());
    let a = model.predict(&train.x, 64).unwrap();
    let b = loaded.predict(&train.x, 64).unwrap();
    assert_eq!(a.data(), b.data());
}

#[test]
fn a_layer_of_an_unregistered_type_refuses_to_save() {
    struct Unregistered(ScaledTanh);
    impl Layer for Unregistered {
        fn name(&self) -> &str {
            self.0.name()
        }
        fn set_name(&mut self, name: String) {
            self.0.set_name(name)
        }
        fn class_name(&self) -> &'static str {
            "Unregistered"
        }
        fn build(&mut self, s: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
            self.0.build(s, rng)
        }
        fn forward(&mut self, x: &Tensor, y: &mut Tensor, mode: Mode) {
            self.0.forward(x, y, mode)
        }
        fn backward(&mut self, x: &Tensor, y: &Tensor, dy: &Tensor, dx: Option<&mut Tensor>) {
            self.0.backward(x, y, dy, dx)
        }
        fn spec(&self) -> LayerSpec {
            let mut spec = self.0.spec();
            if let LayerSpec::Custom(c) = &mut spec {
                c.type_name = "never_registered".into();
            }
            spec
        }
    }
    let mut model = Sequential::new(&[3])
        .add(DenseSpec::new(3))
        .build(1)
        .unwrap();
    let mut layer = Unregistered(ScaledTanh {
        name: "mine".into(),
        init: 1.0,
        type_name: "scaled_tanh",
        params: Vec::new(),
    });
    layer
        .build(&[3], &mut <Rng as rand::SeedableRng>::seed_from_u64(1))
        .unwrap();
    model.layers_mut()[0] = Box::new(layer);
    model
        .compile(
            Box::new(Sgd::new(0.1).unwrap()),
            Loss::MeanSquaredError,
            &[],
        )
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("model");
    let e = model.save(&target).unwrap_err().to_string();
    assert!(
        e.contains("`mine`") && e.contains("never_registered") && e.contains("not registered"),
        "{e}"
    );
    assert!(!target.exists(), "nothing is written");
}

#[test]
fn a_custom_type_cannot_take_a_built_in_name() {
    let e = register_layer("dense", ScaledTanh::from_spec).unwrap_err();
    assert!(e.to_string().contains("built-in"), "{e}");
}
