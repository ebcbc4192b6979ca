//! A layer type of one's own, registered under a type name: written in a TOML spec, trained,
//! saved, reloaded (the registry rebuilds it from its config) and predicting the same values.
//!
//! The layer is LayerScale (Touvron et al. 2021, "Going deeper with Image Transformers"):
//! y = γ ⊙ x, a learned per-unit scale that starts small (`init`), here on a residual branch.
//!
//!     cargo run --release --example custom_layer

use deeptrain::layers::{register_layer, CustomLayerSpec, Layer, LayerSpec, Mode, Param};
use deeptrain::spec::Spec;
use deeptrain::{Error, Experiment, Result, Rng, Sequential, Tensor};

/// y = γ ⊙ x; dL/dγ = Σ_batch dy ⊙ x; dL/dx = γ ⊙ dy.
struct LayerScale {
    name: String,
    init: f32,
    gamma: Vec<Param>,
}

impl LayerScale {
    /// The factory the registry calls with a spec's `{ type = "layer_scale", init = ... }`.
    fn from_spec(spec: &CustomLayerSpec) -> Result<Box<dyn Layer>> {
        let init = match spec.config.get("init") {
            None => 0.1,
            Some(v) => v.as_float().filter(|f| f.is_finite()).ok_or_else(|| {
                Error::Config(format!(
                    "layer_scale: `init` must be a finite number, got {v}"
                ))
            })? as f32,
        };
        Ok(Box::new(LayerScale {
            name: String::new(),
            init,
            gamma: Vec::new(),
        }))
    }
}

impl Layer for LayerScale {
    fn name(&self) -> &str {
        &self.name
    }
    fn set_name(&mut self, name: String) {
        self.name = name;
    }
    fn class_name(&self) -> &'static str {
        "LayerScale"
    }
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        let mut gamma = Param::new("gamma", &[input_shape.iter().product()]);
        gamma.value.data_mut().fill(self.init);
        self.gamma = vec![gamma];
        Ok(input_shape.to_vec())
    }
    fn forward(&mut self, x: &Tensor, y: &mut Tensor, _mode: Mode) {
        y.resize(x.shape());
        let gamma = self.gamma[0].value.data();
        for (y_row, x_row) in y
            .data_mut()
            .chunks_mut(gamma.len())
            .zip(x.data().chunks(gamma.len()))
        {
            y_row
                .iter_mut()
                .zip(x_row)
                .zip(gamma)
                .for_each(|((y, &x), &g)| *y = g * x);
        }
    }
    fn backward(&mut self, x: &Tensor, _y: &Tensor, dy: &Tensor, dx: Option<&mut Tensor>) {
        let units = self.gamma[0].value.len();
        if self.gamma[0].trainable {
            let grad = self.gamma[0].grad_mut().data_mut();
            grad.fill(0.0);
            for (x_row, dy_row) in x.data().chunks(units).zip(dy.data().chunks(units)) {
                grad.iter_mut()
                    .zip(x_row)
                    .zip(dy_row)
                    .for_each(|((g, &x), &d)| *g += d * x);
            }
        }
        if let Some(dx) = dx {
            dx.resize(x.shape());
            let gamma = self.gamma[0].value.data();
            for (dx_row, dy_row) in dx.data_mut().chunks_mut(units).zip(dy.data().chunks(units)) {
                dx_row
                    .iter_mut()
                    .zip(dy_row)
                    .zip(gamma)
                    .for_each(|((o, &d), &g)| *o = g * d);
            }
        }
    }
    fn params(&self) -> &[Param] {
        &self.gamma
    }
    fn params_mut(&mut self) -> &mut [Param] {
        &mut self.gamma
    }
    fn describe(&self) -> String {
        format!("init {}", self.init)
    }
    /// What save writes and load gives back to [`LayerScale::from_spec`].
    fn spec(&self) -> LayerSpec {
        let mut config = toml::Table::new();
        config.insert("init".into(), toml::Value::Float(self.init as f64));
        LayerSpec::new(CustomLayerSpec::new("layer_scale", config)).named(&self.name)
    }
}

const SPEC: &str = r#"
seed = 7
[data]
dataset = "digits"
scale = "standard"
[[layers]]
type = "flatten"
[[layers]]
name = "stem"
type = "dense"
units = 64
activation = "relu"
[[layers]]
type = "dense"
units = 64
activation = "relu"
[[layers]]
name = "scaled"
type = "layer_scale"
init = 0.1
[[layers]]
type = "add"
inputs = ["stem", "scaled"]
[[layers]]
type = "dense"
units = 10
activation = "softmax"
[optimizer]
name = "adam"
learning_rate = 0.003
[fit]
epochs = 10
validation_split = 0.1
"#;

fn main() -> Result<()> {
    register_layer("layer_scale", LayerScale::from_spec)?;
    let spec = Spec::parse(SPEC, std::path::Path::new("custom_layer.toml"))?;
    let mut experiment = Experiment::from_spec(&spec)?;
    print!("{}", experiment.model().summary());
    let history = experiment.fit(&mut [], None)?;
    println!(
        "validation accuracy by epoch: {:.3?}",
        history.series("val_accuracy")
    );
    let model = experiment.model();
    let scaled = model.layers().iter().find(|l| l.name() == "scaled");
    let gamma = scaled.map(|l| l.params()[0].value.data()[..4].to_vec());
    println!(
        "learned γ, first 4 of 64: {:.3?}",
        gamma.unwrap_or_default()
    );

    let dir = std::env::temp_dir().join("deeptrain-example-custom-layer");
    experiment.save(&dir)?;
    let (mut reloaded, _) = Sequential::load(&dir)?;
    let (mut model, data, _) = experiment.into_parts();
    let test = data.test.ok_or_else(|| Error::Data("no test set".into()))?;
    let before = model.predict(&test.x, 256)?;
    let after = reloaded.predict(&test.x, 256)?;
    assert_eq!(before.data(), after.data());
    println!(
        "saved to {} and reloaded: the same {} predictions, bit for bit",
        dir.display(),
        test.len()
    );
    Ok(())
}
