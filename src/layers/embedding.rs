//! A lookup table of learned vectors, one per token id, with Keras 3's names and defaults
//! (`keras.layers.Embedding(input_dim, output_dim, embeddings_initializer="uniform")`, the
//! "uniform" there being `RandomUniform(-0.05, 0.05)`; PyTorch's `nn.Embedding` draws N(0, 1)).
//!
//! Shapes: ids x (N, T) (any per-sample shape; token ids stored as f32), embeddings W
//! (V, D) with V = `input_dim`, D = `output_dim`, y (N, T, D):
//! ```text
//! y[n, t, :] = W[x[n, t], :]
//! dW[v, :] = Σ_{n,t : x[n,t] = v} dy[n, t, :]   (a row hit several times sums)
//! ```
//! Ids are not differentiable: the input gradient is written as zeros. Ids must be integers in
//! [0, V): the model's data check ([`Layer::check_input`]) refuses any other value in one line
//! before training or inference; a bad id that reaches forward by another path (computed by an
//! earlier layer) gives a NaN row, so the non-finite guard stops training naming this layer,
//! and never an out-of-bounds read.

use serde::{Deserialize, Serialize};

use super::{Layer, LayerConfig, LayerSpec, Mode, Param};
use crate::init::Initializer;
use crate::regularizers::Regularizer;
use crate::tensor::Tensor;
use crate::{Error, Result, Rng};

/// Settings of an [`Embedding`] layer (Keras' names and defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingSpec {
    /// Size of the vocabulary: ids run over 0..input_dim.
    pub input_dim: usize,
    /// Length of each embedding vector.
    pub output_dim: usize,
    /// Initial embeddings (Keras' "uniform": `random_uniform`, [-0.05, 0.05)).
    #[serde(default = "keras_uniform")]
    pub embeddings_initializer: Initializer,
    /// Whether id 0 is padding (Keras' `mask_zero`): the output then carries a time-step mask,
    /// 0 where the id is 0, which the next recurrent layer honours.
    #[serde(default)]
    pub mask_zero: bool,
    /// Whether the embeddings are trained.
    #[serde(default = "yes")]
    pub trainable: bool,
    /// Penalty on the embeddings: `{ l2 = 0.01 }`, `{ l1 = ... }` or both (Keras'
    /// `embeddings_regularizer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embeddings_regularizer: Option<Regularizer>,
}

fn keras_uniform() -> Initializer {
    Initializer::RandomUniform {
        minval: -0.05,
        maxval: 0.05,
    }
}

fn yes() -> bool {
    true
}

impl EmbeddingSpec {
    /// `input_dim` ids mapped to vectors of `output_dim` values, Keras' defaults otherwise.
    pub fn new(input_dim: usize, output_dim: usize) -> Self {
        EmbeddingSpec {
            input_dim,
            output_dim,
            embeddings_initializer: keras_uniform(),
            mask_zero: false,
            trainable: true,
            embeddings_regularizer: None,
        }
    }
}

crate::builder::layer_setters!(EmbeddingSpec);
crate::builder::setters!(EmbeddingSpec {
    embeddings_initializer: Initializer,
    mask_zero: bool,
    trainable: bool,
} optional {
    embeddings_regularizer: Regularizer,
});

impl LayerConfig for EmbeddingSpec {
    fn type_name(&self) -> &str {
        "embedding"
    }
    fn validate(&self) -> Result<()> {
        for (key, value) in [
            ("input_dim", self.input_dim),
            ("output_dim", self.output_dim),
        ] {
            if value == 0 || value > crate::limits::MAX_UNITS {
                return Err(Error::Config(format!(
                    "embedding layer: `{key}` must be in 1..={}, got {value}",
                    crate::limits::MAX_UNITS
                )));
            }
        }
        if let Some(r) = &self.embeddings_regularizer {
            r.validate()?;
        }
        self.embeddings_initializer.validate()
    }
    /// The (input_dim, output_dim) table, whatever the input.
    fn param_count(&self, _input_shape: &[usize]) -> u64 {
        self.largest_param_tensor(&[])
    }
    fn largest_param_tensor(&self, _input_shape: &[usize]) -> u64 {
        (self.input_dim as u64).saturating_mul(self.output_dim as u64)
    }
    fn resolve_auto(&mut self, _following: Option<crate::Activation>) -> Result<()> {
        super::config::refuse_auto(
            "embedding",
            "embeddings_initializer",
            self.embeddings_initializer,
            "random_uniform",
        )
    }
    fn ends_auto_search(&self) -> bool {
        true
    }
    fn build(&self) -> Result<Box<dyn Layer>> {
        Ok(Box::new(Embedding::from_spec(self.clone())))
    }
}

/// Marks a position whose id was not a valid token in the last forward pass.
const BAD_ID: u32 = u32::MAX;

/// Maps each integer id of its input to a learned vector.
pub struct Embedding {
    spec: EmbeddingSpec,
    name: String,
    /// The (input_dim, output_dim) table.
    params: Vec<Param>,
    /// The row of each input position in the last forward pass ([`BAD_ID`] for a bad one).
    ids: Vec<u32>,
    /// The output's shape (input's + output_dim), kept so that forward builds it without
    /// allocating.
    output_shape: Vec<usize>,
    /// With `mask_zero`: 1 where the last forward's id was not 0, else 0 (one per position).
    mask: Vec<f32>,
}

impl Embedding {
    /// An unbuilt embedding layer.
    pub fn from_spec(spec: EmbeddingSpec) -> Self {
        Embedding {
            spec,
            name: String::new(),
            params: Vec::new(),
            ids: Vec::new(),
            output_shape: Vec::new(),
            mask: Vec::new(),
        }
    }
}

/// The table row of `value`, if it is an integer id in 0..input_dim.
fn row_of(value: f32, input_dim: usize) -> Option<u32> {
    let ok = value.is_finite()
        && value >= 0.0
        && value.fract() == 0.0
        && (value as u64) < input_dim as u64;
    ok.then_some(value as u32)
}

impl Layer for Embedding {
    fn name(&self) -> &str {
        &self.name
    }

    fn set_name(&mut self, name: String) {
        self.name = name;
    }

    fn class_name(&self) -> &'static str {
        "Embedding"
    }

    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let shape = [self.spec.input_dim, self.spec.output_dim];
        let mut table = Param::new("embeddings", &shape);
        self.spec
            .embeddings_initializer
            .fill(table.value.data_mut(), &shape, rng);
        self.params = vec![table];
        let trainable = self.spec.trainable;
        self.set_trainable(trainable);
        let mut output = input_shape.to_vec();
        output.push(self.spec.output_dim);
        Ok(output)
    }

    fn check_input(&self, x: &Tensor) -> Result<()> {
        let width = x.row_len().max(1);
        match x.data().iter().position(|&v| row_of(v, self.spec.input_dim).is_none()) {
            Some(k) => Err(Error::Data(format!(
                "feature {} of row {} is {}, not a token id of layer `{}` (Embedding): ids are integers in 0..{} (read unscaled: `scale = \"none\"` in a spec's [data])",
                k % width,
                k / width,
                x.data()[k],
                self.name,
                self.spec.input_dim
            ))),
            None => Ok(()),
        }
    }

    fn forward(&mut self, input: &Tensor, output: &mut Tensor, _mode: Mode) {
        let d = self.spec.output_dim;
        self.output_shape.clear();
        self.output_shape.extend_from_slice(input.shape());
        self.output_shape.push(d);
        output.resize(&self.output_shape);
        self.ids.resize(input.len(), BAD_ID);
        let input_dim = self.spec.input_dim;
        for (slot, &v) in self.ids.iter_mut().zip(input.data()) {
            *slot = row_of(v, input_dim).unwrap_or(BAD_ID);
        }
        if self.spec.mask_zero {
            self.mask.resize(self.ids.len(), 0.0);
            for (m, &id) in self.mask.iter_mut().zip(&self.ids) {
                *m = if id == 0 { 0.0 } else { 1.0 };
            }
        }
        let table = self.params[0].value.data();
        for (y, &id) in output.data_mut().chunks_exact_mut(d).zip(&self.ids) {
            if id == BAD_ID {
                y.fill(f32::NAN);
            } else {
                let start = id as usize * d;
                y.copy_from_slice(&table[start..start + d]);
            }
        }
    }

    fn backward(
        &mut self,
        input: &Tensor,
        _output: &Tensor,
        grad_output: &Tensor,
        grad_input: Option<&mut Tensor>,
    ) {
        let d = self.spec.output_dim;
        if self.params[0].trainable {
            let dw = self.params[0].grad.data_mut();
            dw.fill(0.0);
            for (dy, &id) in grad_output.data().chunks_exact(d).zip(&self.ids) {
                if id == BAD_ID {
                    continue;
                }
                let start = id as usize * d;
                for (g, &v) in dw[start..start + d].iter_mut().zip(dy) {
                    *g += v;
                }
            }
        }
        // Ids are not differentiable: their gradient is zero.
        if let Some(dx) = grad_input {
            dx.resize_zeroed(input.shape());
        }
    }

    fn mask_flow(&self, input_masked: bool) -> Result<bool> {
        if input_masked {
            return Err(Error::Config(format!(
                "layer `{}` (Embedding) cannot take a time-step mask",
                self.name
            )));
        }
        Ok(self.spec.mask_zero)
    }

    fn output_mask(&self) -> &[f32] {
        &self.mask
    }

    fn params(&self) -> &[Param] {
        &self.params
    }

    fn params_mut(&mut self) -> &mut [Param] {
        &mut self.params
    }

    fn has_penalty(&self) -> bool {
        self.spec.embeddings_regularizer.is_some()
    }

    fn penalty(&self) -> f64 {
        crate::regularizers::penalty_of(&self.params, &[self.spec.embeddings_regularizer])
    }

    fn add_penalty_gradients(&mut self) {
        let regularizers = [self.spec.embeddings_regularizer];
        crate::regularizers::add_penalty_gradients(&mut self.params, &regularizers);
    }

    fn spec(&self) -> LayerSpec {
        let mut spec = self.spec.clone();
        spec.trainable = self.params.iter().all(|p| p.trainable);
        LayerSpec::new(spec).named(&self.name)
    }

    fn describe(&self) -> String {
        format!(
            "{} ids -> {}, {}",
            self.spec.input_dim, self.spec.output_dim, self.spec.embeddings_initializer
        )
    }
}
