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
            name: String::new(),
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
            self.params[0].grad_mut().data_mut().copy_from_slice(&da);
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
        LayerSpec::new(CustomLayerSpec::new(self.type_name, config)).named(&self.name)
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
        .add(CustomLayerSpec::new(
            "scaled_tanh",
            toml::toml! { init = 0.7 },
        ))
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
    assert_eq!(spec.layers[2].type_name(), "scaled_tanh");
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
            if let Some(c) = spec.config_as_mut::<CustomLayerSpec>() {
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

/// Typed settings of a user layer: y = x·W, W (inputs, units) from `kernel_initializer`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LinearSpec {
    units: usize,
    #[serde(default = "auto")]
    kernel_initializer: deeptrain::init::Initializer,
}

fn auto() -> deeptrain::init::Initializer {
    deeptrain::init::Initializer::Auto
}

impl deeptrain::layers::LayerConfig for LinearSpec {
    fn type_name(&self) -> &str {
        "typed_linear"
    }
    fn validate(&self) -> Result<()> {
        self.kernel_initializer.validate()
    }
    fn param_count(&self, input_shape: &[usize]) -> u64 {
        self.largest_param_tensor(input_shape)
    }
    fn largest_param_tensor(&self, input_shape: &[usize]) -> u64 {
        input_shape.iter().product::<usize>() as u64 * self.units as u64
    }
    fn build(&self) -> Result<Box<dyn Layer>> {
        let mut dense = DenseSpec::new(self.units)
            .use_bias(false)
            .kernel_initializer(self.kernel_initializer);
        dense.trainable = true;
        deeptrain::layers::LayerConfig::build(&dense)
    }
    fn kernel_initializer(&self) -> Option<deeptrain::init::Initializer> {
        Some(self.kernel_initializer)
    }
    fn resolve_auto(&mut self, following: Option<Activation>) -> Result<()> {
        if self.kernel_initializer == deeptrain::init::Initializer::Auto {
            let activation = following.unwrap_or(Activation::Linear);
            self.kernel_initializer = activation.recommended_initializer();
        }
        Ok(())
    }
    fn ends_auto_search(&self) -> bool {
        true
    }
}

/// A user type registered with a closure (capturing how many tables it read) gets what a
/// built-in gets: `"auto"` resolved from the activation after it, and the size guard before
/// anything is allocated.
#[test]
fn a_typed_user_layer_gets_auto_and_the_size_guard() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let reads = Arc::new(AtomicUsize::new(0));
    let counter = reads.clone();
    deeptrain::layers::register_layer_type("typed_linear", move |table| {
        counter.fetch_add(1, Ordering::SeqCst);
        deeptrain::layers::registry::read::<LinearSpec>(table)
    })
    .unwrap();
    let spec = Spec::parse(
        &SPEC.replace(
            "type = \"scaled_tanh\"\ninit = 0.5",
            "type = \"typed_linear\"\nunits = 8\n[[layers]]\ntype = \"activation\"\nactivation = \"relu\"",
        ),
        Path::new("typed.toml"),
    )
    .unwrap();
    assert!(reads.load(Ordering::SeqCst) >= 1);
    let model = spec.build_model(&[8, 8], None).unwrap();
    let specs = model.layer_specs();
    // The layer it builds is a bias-free Dense layer, which saves as one.
    let linear = specs[2].config_as::<DenseSpec>().expect("the typed layer");
    assert_eq!(linear.units, 8);
    assert_eq!(
        linear.kernel_initializer,
        deeptrain::init::Initializer::HE_NORMAL
    );
    // 1e5 × 1e4 weights in one tensor: refused before building.
    let huge = Sequential::new(&[100_000])
        .add(LinearSpec {
            units: 10_000,
            kernel_initializer: deeptrain::init::Initializer::Zeros,
        })
        .build(1);
    let e = huge.err().expect("refused").to_string();
    assert!(e.contains("weights in one tensor"), "{e}");
}

/// A layer of the untyped route (`register_layer`) gets the size guard built-ins get: one that
/// declares nothing is measured by building a copy (ScaledTanh holds one scale per feature;
/// before, the guard counted it as 0).
#[test]
fn an_untyped_user_layer_is_measured_for_the_size_guard() {
    register();
    let spec = LayerSpec::new(CustomLayerSpec::new(
        "scaled_tanh",
        toml::toml! { init = 0.7 },
    ));
    assert_eq!(spec.param_count(&[5]), 5);
    assert_eq!(spec.largest_param_tensor(&[2, 3]), 6);
}

/// y = x with `width` declared weights per feature, never allocated by this test.
struct Declared {
    name: String,
    width: u64,
    built: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Layer for Declared {
    fn name(&self) -> &str {
        &self.name
    }
    fn set_name(&mut self, name: String) {
        self.name = name;
    }
    fn class_name(&self) -> &'static str {
        "Declared"
    }
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        self.built.store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(input_shape.to_vec())
    }
    fn forward(&mut self, x: &Tensor, y: &mut Tensor, _mode: Mode) {
        y.resize(x.shape());
        y.data_mut().copy_from_slice(x.data());
    }
    fn backward(&mut self, _x: &Tensor, _y: &Tensor, dy: &Tensor, dx: Option<&mut Tensor>) {
        if let Some(dx) = dx {
            dx.resize(dy.shape());
            dx.data_mut().copy_from_slice(dy.data());
        }
    }
    fn declared_size(&self, input_shape: &[usize]) -> Option<(u64, u64)> {
        let n = self.width * input_shape.iter().product::<usize>() as u64;
        Some((n, n))
    }
    fn spec(&self) -> LayerSpec {
        let mut config = toml::Table::new();
        config.insert("width".into(), toml::Value::Integer(self.width as i64));
        LayerSpec::new(CustomLayerSpec::new("declared", config)).named(&self.name)
    }
}

/// A user layer that declares its size is refused before it is built when one tensor would
/// exceed the limit, with the one line a built-in gets; a small one builds.
#[test]
fn an_untyped_user_layer_that_declares_an_absurd_size_is_refused_before_building() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let built = Arc::new(AtomicBool::new(false));
    let flag = built.clone();
    register_layer("declared", move |spec| {
        let width = spec
            .config
            .get("width")
            .and_then(|v| v.as_integer())
            .unwrap_or(1) as u64;
        Ok(Box::new(Declared {
            name: String::new(),
            width,
            built: flag.clone(),
        }))
    })
    .unwrap();
    let spec = |width: i64| {
        let text = format!(
            "[data]\ndataset = \"digits\"\n[[layers]]\ntype = \"flatten\"\n[[layers]]\ntype = \"declared\"\nwidth = {width}\n[[layers]]\ntype = \"dense\"\nunits = 10\n"
        );
        Spec::parse(&text, Path::new("declared.toml")).unwrap()
    };
    let e = spec(1 << 40)
        .build_model(&[8, 8], None)
        .err()
        .expect("refused")
        .to_string();
    assert!(
        e.contains("`declared`") && e.contains("more than the limit") && !e.contains('\n'),
        "{e}"
    );
    assert!(!built.load(Ordering::SeqCst), "refused before building");
    spec(2).build_model(&[8, 8], None).unwrap();
    assert!(built.load(Ordering::SeqCst));
}
