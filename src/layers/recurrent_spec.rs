//! The settings of the recurrent layers `simple_rnn`, `lstm` and `gru` (Keras 3's names and
//! defaults): one [`RecurrentSpec`] whose [`CellKind`] the registry sets from the `type`. The
//! time loop they build is [`super::recurrent`]; each cell's step is in its own file.

use serde::{Deserialize, Serialize};

use super::recurrent::Recurrent;
use super::{Layer, LayerConfig, SelfNormalization};
use crate::activations::Activation;
use crate::init::Initializer;
use crate::regularizers::Regularizer;
use crate::{Error, Result};

/// Which recurrent cell a [`RecurrentSpec`] builds (set by its `type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CellKind {
    /// `simple_rnn`: h_t = f(x_t·W + h_{t-1}·R + b).
    #[default]
    SimpleRnn,
    /// `lstm` (Hochreiter & Schmidhuber 1997), Keras' gate order i, f, c, o.
    Lstm,
    /// `gru` (Cho et al. 2014), Keras' gate order z, r, h, reset gate after the product.
    Gru,
}

/// Settings of a recurrent layer (`simple_rnn`, `lstm`, `gru`), with Keras 3's names and
/// defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecurrentSpec {
    /// Size of the state h (and of the output).
    pub units: usize,
    /// The state's activation (tanh), Keras' `activation`.
    #[serde(default = "tanh")]
    pub activation: Activation,
    /// The gates' activation (sigmoid; unused by `simple_rnn`).
    #[serde(default = "sigmoid")]
    pub recurrent_activation: Activation,
    /// Whether to add biases.
    #[serde(default = "yes")]
    pub use_bias: bool,
    /// Initializer of the input kernel W (glorot_uniform).
    #[serde(default = "glorot_uniform")]
    pub kernel_initializer: Initializer,
    /// Initializer of the recurrent kernel R (orthogonal, gain 1).
    #[serde(default = "orthogonal")]
    pub recurrent_initializer: Initializer,
    /// Initializer of the bias (zeros).
    #[serde(default = "zeros")]
    pub bias_initializer: Initializer,
    /// LSTM only: the forget gate's bias starts at 1 (Jozefowicz et al. 2015); default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_forget_bias: Option<bool>,
    /// GRU only: the reset gate multiplies the recurrent product (true, the default, as cuDNN
    /// and PyTorch, with an input and a recurrent bias) or the state before it (false, Cho et
    /// al. 2014, one bias).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_after: Option<bool>,
    /// Whether the output is every step's state (B, T, U) rather than the last (B, U).
    #[serde(default)]
    pub return_sequences: bool,
    /// Whether the sequence is read from its last step to its first.
    #[serde(default)]
    pub go_backwards: bool,
    /// Fraction of the input features dropped in training (one mask per sequence), [0, 1).
    #[serde(default)]
    pub dropout: f32,
    /// Fraction of the state dropped before the recurrent product in training, [0, 1).
    #[serde(default)]
    pub recurrent_dropout: f32,
    /// Whether the parameters are trained.
    #[serde(default = "yes")]
    pub trainable: bool,
    /// Penalty on W: `{ l2 = 0.01 }`, `{ l1 = ... }` or both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_regularizer: Option<Regularizer>,
    /// Penalty on R.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurrent_regularizer: Option<Regularizer>,
    /// Penalty on the bias.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bias_regularizer: Option<Regularizer>,
    /// The cell (from the `type`).
    #[serde(skip)]
    pub cell: CellKind,
}

fn tanh() -> Activation {
    Activation::Tanh
}
fn sigmoid() -> Activation {
    Activation::Sigmoid
}
fn yes() -> bool {
    true
}
fn glorot_uniform() -> Initializer {
    Initializer::GLOROT_UNIFORM
}
fn orthogonal() -> Initializer {
    Initializer::Orthogonal { gain: 1.0 }
}
fn zeros() -> Initializer {
    Initializer::Zeros
}

impl RecurrentSpec {
    /// A layer of `cell` with `units`, Keras' defaults otherwise.
    pub fn new(cell: CellKind, units: usize) -> Self {
        RecurrentSpec {
            units,
            activation: tanh(),
            recurrent_activation: sigmoid(),
            use_bias: true,
            kernel_initializer: glorot_uniform(),
            recurrent_initializer: orthogonal(),
            bias_initializer: zeros(),
            unit_forget_bias: None,
            reset_after: None,
            return_sequences: false,
            go_backwards: false,
            dropout: 0.0,
            recurrent_dropout: 0.0,
            trainable: true,
            kernel_regularizer: None,
            recurrent_regularizer: None,
            bias_regularizer: None,
            cell,
        }
    }

    /// Keras' `SimpleRNN(units)`.
    pub fn simple_rnn(units: usize) -> Self {
        Self::new(CellKind::SimpleRnn, units)
    }

    /// Keras' `LSTM(units)`.
    pub fn lstm(units: usize) -> Self {
        Self::new(CellKind::Lstm, units)
    }

    /// Keras' `GRU(units)`.
    pub fn gru(units: usize) -> Self {
        Self::new(CellKind::Gru, units)
    }

    /// Sets the cell (the registry does, from the `type`).
    #[must_use]
    pub fn cell(mut self, cell: CellKind) -> Self {
        self.cell = cell;
        self
    }

    /// The number of gates G: the kernels have G·U columns.
    pub fn gates(&self) -> usize {
        match self.cell {
            CellKind::SimpleRnn => 1,
            CellKind::Lstm => 4,
            CellKind::Gru => 3,
        }
    }

    /// Whether this is a GRU with the reset gate after the recurrent product (two biases).
    fn resets_after(&self) -> bool {
        self.cell == CellKind::Gru && self.reset_after != Some(false)
    }

    /// Bias values: G·U, or 2·3·U for a GRU with `reset_after` (input and recurrent biases).
    fn bias_len(&self) -> u64 {
        let per = (self.gates() as u64).saturating_mul(self.units as u64);
        match (self.use_bias, self.resets_after()) {
            (false, _) => 0,
            (true, true) => per.saturating_mul(2),
            (true, false) => per,
        }
    }
}

crate::builder::layer_setters!(RecurrentSpec);
crate::builder::setters!(RecurrentSpec {
    activation: Activation,
    recurrent_activation: Activation,
    use_bias: bool,
    kernel_initializer: Initializer,
    recurrent_initializer: Initializer,
    bias_initializer: Initializer,
    return_sequences: bool,
    go_backwards: bool,
    dropout: f32,
    recurrent_dropout: f32,
    trainable: bool,
} optional {
    unit_forget_bias: bool,
    reset_after: bool,
    kernel_regularizer: Regularizer,
    recurrent_regularizer: Regularizer,
    bias_regularizer: Regularizer,
});

impl LayerConfig for RecurrentSpec {
    fn type_name(&self) -> &str {
        match self.cell {
            CellKind::SimpleRnn => "simple_rnn",
            CellKind::Lstm => "lstm",
            CellKind::Gru => "gru",
        }
    }

    fn validate(&self) -> Result<()> {
        let layer = self.type_name();
        let fail = |message: String| Err(Error::Config(format!("{layer} layer: {message}")));
        if self.units == 0 || self.units > crate::limits::MAX_UNITS {
            return fail(format!(
                "`units` must be in 1..={}, got {}",
                crate::limits::MAX_UNITS,
                self.units
            ));
        }
        for (key, rate) in [
            ("dropout", self.dropout),
            ("recurrent_dropout", self.recurrent_dropout),
        ] {
            if !(0.0..1.0).contains(&rate) {
                return fail(format!("`{key}` must be in [0, 1), got {rate}"));
            }
        }
        for (key, f) in [
            ("activation", self.activation),
            ("recurrent_activation", self.recurrent_activation),
        ] {
            f.validate()?;
            if f.needs_input() || f == Activation::Softmax {
                return fail(format!(
                    "`{key} = \"{}\"` is not supported in a recurrent layer (its derivative needs more than its output); use tanh, sigmoid, relu or another element-wise activation",
                    f.name()
                ));
            }
        }
        if self.unit_forget_bias.is_some() && self.cell != CellKind::Lstm {
            return fail("`unit_forget_bias` is a key of `lstm` only".into());
        }
        if self.reset_after.is_some() && self.cell != CellKind::Gru {
            return fail("`reset_after` is a key of `gru` only".into());
        }
        for (key, init) in [
            ("kernel_initializer", self.kernel_initializer),
            ("recurrent_initializer", self.recurrent_initializer),
            ("bias_initializer", self.bias_initializer),
        ] {
            super::config::refuse_auto(layer, key, init, "glorot_uniform, orthogonal or zeros")?;
            init.validate()?;
        }
        for r in [
            self.kernel_regularizer,
            self.recurrent_regularizer,
            self.bias_regularizer,
        ]
        .iter()
        .flatten()
        {
            r.validate()?;
        }
        Ok(())
    }

    /// F·G·U + U·G·U + the bias, F the last axis of the input.
    fn param_count(&self, input_shape: &[usize]) -> u64 {
        let columns = (self.gates() as u64).saturating_mul(self.units as u64);
        let features = input_shape.last().copied().unwrap_or(0) as u64;
        features
            .saturating_add(self.units as u64)
            .saturating_mul(columns)
            .saturating_add(self.bias_len())
    }

    fn largest_param_tensor(&self, input_shape: &[usize]) -> u64 {
        let columns = (self.gates() as u64).saturating_mul(self.units as u64);
        let features = input_shape.last().copied().unwrap_or(0) as u64;
        features
            .max(self.units as u64)
            .saturating_mul(columns)
            .max(self.bias_len())
    }

    fn build(&self) -> Result<Box<dyn Layer>> {
        Ok(match self.cell {
            CellKind::SimpleRnn => Box::new(Recurrent::<super::simple_rnn::SimpleRnnCell>::new(
                self.clone(),
            )),
            CellKind::Lstm => Box::new(Recurrent::<super::lstm::LstmCell>::new(self.clone())),
            CellKind::Gru if self.resets_after() => {
                Box::new(Recurrent::<super::gru::GruCell>::new(self.clone()))
            }
            CellKind::Gru => Box::new(
                Recurrent::<super::gru_reset_before::GruResetBeforeCell>::new(self.clone()),
            ),
        })
    }

    fn applied_activation(&self) -> Option<Activation> {
        Some(self.activation)
    }

    fn kernel_initializer(&self) -> Option<Initializer> {
        Some(self.kernel_initializer)
    }

    fn resolve_auto(&mut self, _following: Option<Activation>) -> Result<()> {
        let layer = self.type_name().to_string();
        super::config::refuse_auto(
            &layer,
            "kernel_initializer",
            self.kernel_initializer,
            "glorot_uniform",
        )
    }

    fn ends_auto_search(&self) -> bool {
        true
    }

    fn self_normalization(&self) -> SelfNormalization {
        SelfNormalization::Recurrent
    }
}
