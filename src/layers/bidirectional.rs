//! Keras' `Bidirectional(layer, merge_mode)` wrapper around a `simple_rnn`, `lstm` or `gru`:
//! a forward copy of the layer and a backward copy whose `go_backwards` is flipped, each with
//! its own weights, run on the same input and merged. As Keras
//! (`keras/src/layers/rnn/bidirectional.py`), with `return_sequences` the backward copy's
//! sequence (in its processing order) is reversed along time before the merge, so that both
//! are in input order; without it, each copy's last state is merged.
//!
//! Merges of the forward output y and the backward output ȳ: `concat` [y, ȳ] on the last axis
//! (the default), `sum` y + ȳ, `mul` y ⊙ ȳ, `ave` (y + ȳ)/2. Backward splits dL/d(output) by
//! the same rule (for `mul`, dL/dy = g ⊙ ȳ and dL/dȳ = g ⊙ y) and sums both copies' dL/dx.
//!
//! A time-step mask (from an embedding with `mask_zero`) goes to both copies in input order;
//! the backward copy reads it reversed with the sequence, so each copy carries its state over
//! the padded steps. With `return_sequences` Keras sets its copies' `zero_output_for_mask`:
//! the output is 0 at a padded step (and gets no gradient there), and the mask goes on to the
//! next layer; without it the mask ends here.
//!
//! The parameters are the forward copy's then the backward copy's (kernel, recurrent kernel,
//! bias each, as Keras' weights list). The wrapper holds them between passes and lends them to
//! its copies for a forward or backward (a swap of the tensors, no copy).

use rand::{Rng as _, SeedableRng};
use serde::{Deserialize, Serialize};

use super::{CellKind, Layer, LayerConfig, LayerSpec, Mode, Param, RecurrentSpec};
use crate::activations::Activation;
use crate::init::Initializer;
use crate::tensor::Tensor;
use crate::{Error, Result, Rng};

/// How the two directions' outputs are combined (Keras' `merge_mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MergeMode {
    /// [y, ȳ] on the last axis (2·units).
    #[default]
    Concat,
    /// y + ȳ.
    Sum,
    /// y ⊙ ȳ.
    Mul,
    /// (y + ȳ) / 2.
    Ave,
}

/// The wrapped layer, a table with its own `type`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WrappedLayer {
    /// `{ type = "simple_rnn", units = ... }`.
    SimpleRnn(RecurrentSpec),
    /// `{ type = "lstm", units = ... }`.
    Lstm(RecurrentSpec),
    /// `{ type = "gru", units = ... }`.
    Gru(RecurrentSpec),
}

impl WrappedLayer {
    /// The recurrent layer's settings, its cell set from the `type`.
    pub fn spec(&self) -> RecurrentSpec {
        match self {
            WrappedLayer::SimpleRnn(s) => s.clone().cell(CellKind::SimpleRnn),
            WrappedLayer::Lstm(s) => s.clone().cell(CellKind::Lstm),
            WrappedLayer::Gru(s) => s.clone().cell(CellKind::Gru),
        }
    }

    fn spec_mut(&mut self) -> &mut RecurrentSpec {
        match self {
            WrappedLayer::SimpleRnn(s) | WrappedLayer::Lstm(s) | WrappedLayer::Gru(s) => s,
        }
    }
}

impl From<RecurrentSpec> for WrappedLayer {
    /// Keeps the cell in the variant only (as a spec file reads it).
    fn from(spec: RecurrentSpec) -> Self {
        let cell = spec.cell;
        let spec = spec.cell(CellKind::default());
        match cell {
            CellKind::SimpleRnn => WrappedLayer::SimpleRnn(spec),
            CellKind::Lstm => WrappedLayer::Lstm(spec),
            CellKind::Gru => WrappedLayer::Gru(spec),
        }
    }
}

/// Settings of a `bidirectional` layer: `{ type = "bidirectional", merge_mode = "concat",
/// layer = { type = "lstm", units = 32 } }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BidirectionalSpec {
    /// The recurrent layer run in both directions.
    pub layer: WrappedLayer,
    /// How the two outputs are combined (concat).
    #[serde(default)]
    pub merge_mode: MergeMode,
}

impl BidirectionalSpec {
    /// Keras' `Bidirectional(layer)`, merged by concatenation.
    pub fn new(layer: RecurrentSpec) -> Self {
        BidirectionalSpec {
            layer: layer.into(),
            merge_mode: MergeMode::Concat,
        }
    }

    /// Sets the merge mode.
    #[must_use]
    pub fn merge_mode(mut self, mode: MergeMode) -> Self {
        self.merge_mode = mode;
        self
    }
}

impl LayerConfig for BidirectionalSpec {
    fn type_name(&self) -> &str {
        "bidirectional"
    }

    fn validate(&self) -> Result<()> {
        self.layer
            .spec()
            .validate()
            .map_err(|e| Error::Config(format!("bidirectional layer: {}", e.detail())))
    }

    /// Twice the wrapped layer's.
    fn param_count(&self, input_shape: &[usize]) -> u64 {
        self.layer.spec().param_count(input_shape).saturating_mul(2)
    }

    fn largest_param_tensor(&self, input_shape: &[usize]) -> u64 {
        self.layer.spec().largest_param_tensor(input_shape)
    }

    fn build(&self) -> Result<Box<dyn Layer>> {
        let spec = self.layer.spec();
        let backward = spec.clone().go_backwards(!spec.go_backwards);
        Ok(Box::new(Bidirectional {
            spec: self.clone(),
            name: String::new(),
            forward: spec.build()?,
            backward: backward.build()?,
            params: Vec::new(),
            split: 0,
            rng: Rng::seed_from_u64(0),
            units: spec.units,
            out_f: Tensor::default(),
            out_b: Tensor::default(),
            grad_f: Tensor::default(),
            grad_b: Tensor::default(),
            dx_b: Tensor::default(),
            output_shape: Vec::new(),
            step_mask: Vec::new(),
        }))
    }

    fn applied_activation(&self) -> Option<Activation> {
        Some(self.layer.spec().activation)
    }

    fn kernel_initializer(&self) -> Option<Initializer> {
        Some(self.layer.spec().kernel_initializer)
    }

    fn resolve_auto(&mut self, following: Option<Activation>) -> Result<()> {
        let cell = self.layer.spec().cell;
        let inner = self.layer.spec_mut();
        let mut spec = inner.clone().cell(cell);
        spec.resolve_auto(following)?;
        *inner = spec.cell(CellKind::default());
        Ok(())
    }

    fn ends_auto_search(&self) -> bool {
        true
    }

    fn self_normalization(&self) -> super::SelfNormalization {
        super::SelfNormalization::Recurrent
    }
}

/// The wrapper (see the module docs).
struct Bidirectional {
    spec: BidirectionalSpec,
    name: String,
    forward: Box<dyn Layer>,
    backward: Box<dyn Layer>,
    /// The forward copy's parameters, then the backward copy's.
    params: Vec<Param>,
    /// How many are the forward copy's.
    split: usize,
    /// Seeds both copies' dropout streams before each training forward.
    rng: Rng,
    units: usize,
    /// The copies' outputs of the last forward and the gradients handed to them.
    out_f: Tensor,
    out_b: Tensor,
    grad_f: Tensor,
    grad_b: Tensor,
    dx_b: Tensor,
    output_shape: Vec<usize>,
    /// The time-step mask (B, T) in input order; empty without one.
    step_mask: Vec<f32>,
}

impl Bidirectional {
    /// Swaps the parameters between the wrapper and its copies (lends them, or takes them
    /// back).
    fn swap_params(&mut self) {
        let (f, b) = self.params.split_at_mut(self.split);
        for (mine, theirs) in f.iter_mut().zip(self.forward.params_mut()) {
            std::mem::swap(mine, theirs);
        }
        for (mine, theirs) in b.iter_mut().zip(self.backward.params_mut()) {
            std::mem::swap(mine, theirs);
        }
    }

    fn sequences(&self) -> bool {
        self.spec.layer.spec().return_sequences
    }

    /// Index in the backward copy's output of the value merged at `(row, step)`: its
    /// sequence is reversed in time.
    fn mirrored(&self, steps: usize) -> impl Fn(usize, usize) -> usize {
        let sequences = self.sequences();
        move |row, step| {
            if sequences {
                row * steps + (steps - 1 - step)
            } else {
                row
            }
        }
    }
}

/// Whether `(row, step)` of a returned sequence is a padded step under `mask` (B, T) (Keras'
/// zero output); never without a mask or a sequence.
fn zeroed(mask: &[f32], sequences: bool, steps: usize) -> impl Fn(usize, usize) -> bool + '_ {
    let masked = sequences && !mask.is_empty();
    move |row, step| masked && mask[row * steps + step] == 0.0
}

impl Layer for Bidirectional {
    fn name(&self) -> &str {
        &self.name
    }

    fn set_name(&mut self, name: String) {
        self.forward.set_name(format!("forward_{name}"));
        self.backward.set_name(format!("backward_{name}"));
        self.name = name;
    }

    fn class_name(&self) -> &'static str {
        "Bidirectional"
    }

    super::random_stream!(rng);

    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let mut shape = self.forward.build(input_shape, rng)?;
        self.backward.build(input_shape, rng)?;
        self.split = self.forward.params().len();
        self.params = self.forward.params().to_vec();
        self.params.extend_from_slice(self.backward.params());
        // Saved weights are keyed by name: the backward copy's get a prefix.
        for p in &mut self.params[self.split..] {
            p.name = match p.name {
                "kernel" => "backward_kernel",
                "recurrent_kernel" => "backward_recurrent_kernel",
                _ => "backward_bias",
            };
        }
        self.rng = Rng::seed_from_u64(rng.random());
        if self.spec.merge_mode == MergeMode::Concat {
            if let Some(last) = shape.last_mut() {
                *last *= 2;
            }
        }
        Ok(shape)
    }

    fn forward(&mut self, input: &Tensor, output: &mut Tensor, mode: Mode) {
        if matches!(mode, Mode::Train | Mode::Sample) {
            self.forward.set_rng(Rng::seed_from_u64(self.rng.random()));
            self.backward.set_rng(Rng::seed_from_u64(self.rng.random()));
        }
        self.swap_params();
        self.forward.forward(input, &mut self.out_f, mode);
        self.backward.forward(input, &mut self.out_b, mode);
        self.swap_params();
        let u = self.units;
        let shape = self.out_f.shape();
        let (rows, steps) = (shape[0], if shape.len() == 3 { shape[1] } else { 1 });
        self.output_shape.clear();
        self.output_shape.extend_from_slice(shape);
        let width = if self.spec.merge_mode == MergeMode::Concat {
            2 * u
        } else {
            u
        };
        if let Some(last) = self.output_shape.last_mut() {
            *last = width;
        }
        output.resize(&self.output_shape);
        let mirrored = self.mirrored(steps);
        let zeroed = zeroed(&self.step_mask, self.sequences(), steps);
        let (yf, yb, y) = (self.out_f.data(), self.out_b.data(), output.data_mut());
        for row in 0..rows {
            for step in 0..steps {
                let at = row * steps + step;
                let f = &yf[at * u..][..u];
                let b = &yb[mirrored(row, step) * u..][..u];
                let out = &mut y[at * width..][..width];
                if zeroed(row, step) {
                    out.fill(0.0);
                    continue;
                }
                match self.spec.merge_mode {
                    MergeMode::Concat => {
                        out[..u].copy_from_slice(f);
                        out[u..].copy_from_slice(b);
                    }
                    MergeMode::Sum => out
                        .iter_mut()
                        .zip(f.iter().zip(b))
                        .for_each(|(o, (&f, &b))| *o = f + b),
                    MergeMode::Mul => out
                        .iter_mut()
                        .zip(f.iter().zip(b))
                        .for_each(|(o, (&f, &b))| *o = f * b),
                    MergeMode::Ave => out
                        .iter_mut()
                        .zip(f.iter().zip(b))
                        .for_each(|(o, (&f, &b))| *o = (f + b) * 0.5),
                }
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
        let u = self.units;
        let shape = self.out_f.shape().to_vec();
        let (rows, steps) = (shape[0], if shape.len() == 3 { shape[1] } else { 1 });
        self.grad_f.resize(&shape);
        self.grad_b.resize(&shape);
        let width = grad_output.row_len() / steps;
        let mirrored = self.mirrored(steps);
        let zeroed = zeroed(&self.step_mask, self.sequences(), steps);
        let (yf, yb, g) = (self.out_f.data(), self.out_b.data(), grad_output.data());
        let (gf, gb) = (self.grad_f.data_mut(), self.grad_b.data_mut());
        for row in 0..rows {
            for step in 0..steps {
                let at = row * steps + step;
                let back = mirrored(row, step) * u;
                let g = &g[at * width..][..width];
                let (df, db) = (&mut gf[at * u..][..u], &mut gb[back..][..u]);
                if zeroed(row, step) {
                    df.fill(0.0);
                    db.fill(0.0);
                    continue;
                }
                match self.spec.merge_mode {
                    MergeMode::Concat => {
                        df.copy_from_slice(&g[..u]);
                        db.copy_from_slice(&g[u..]);
                    }
                    MergeMode::Sum => {
                        df.copy_from_slice(g);
                        db.copy_from_slice(g);
                    }
                    MergeMode::Ave => {
                        df.iter_mut().zip(g).for_each(|(d, &g)| *d = 0.5 * g);
                        db.iter_mut().zip(g).for_each(|(d, &g)| *d = 0.5 * g);
                    }
                    MergeMode::Mul => {
                        let (f, b) = (&yf[at * u..][..u], &yb[back..][..u]);
                        for j in 0..u {
                            df[j] = g[j] * b[j];
                            db[j] = g[j] * f[j];
                        }
                    }
                }
            }
        }
        drop(zeroed);
        self.swap_params();
        let mut dx = grad_input;
        self.forward
            .backward(input, &self.out_f, &self.grad_f, dx.as_deref_mut());
        let dx_b = dx.is_some().then_some(&mut self.dx_b);
        self.backward
            .backward(input, &self.out_b, &self.grad_b, dx_b);
        self.swap_params();
        if let Some(dx) = dx {
            let parts = dx.data_mut().iter_mut().zip(self.dx_b.data());
            parts.for_each(|(d, &v)| *d += v);
        }
    }

    fn params(&self) -> &[Param] {
        &self.params
    }

    fn params_mut(&mut self) -> &mut [Param] {
        &mut self.params
    }

    fn kernel_param(&self) -> Option<&Param> {
        self.params.first()
    }

    fn kernel_param_mut(&mut self) -> Option<&mut Param> {
        self.params.first_mut()
    }

    fn set_gradients_observed(&mut self, observed: bool) {
        self.forward.set_gradients_observed(observed);
        self.backward.set_gradients_observed(observed);
    }

    /// Takes a mask; keeps it on its output with `return_sequences`, as its copies do.
    fn mask_flow(&self, input_masked: bool) -> Result<bool> {
        self.forward.mask_flow(input_masked)
    }

    fn set_input_mask(&mut self, mask: &[f32]) {
        self.forward.set_input_mask(mask);
        self.backward.set_input_mask(mask);
        self.step_mask.clear();
        self.step_mask.extend_from_slice(mask);
    }

    fn output_mask(&self) -> &[f32] {
        &self.step_mask
    }

    fn scratch_values(&self, batch: usize) -> usize {
        let outputs = 4 * batch.saturating_mul(self.out_f.row_len().max(self.units));
        self.forward
            .scratch_values(batch)
            .saturating_mul(2)
            .saturating_add(outputs)
    }

    fn has_penalty(&self) -> bool {
        self.regularizers().iter().any(Option::is_some)
    }

    fn penalty(&self) -> f64 {
        let regularizers = self.regularizers();
        let (f, b) = self.params.split_at(self.split);
        crate::regularizers::penalty_of(f, &regularizers)
            + crate::regularizers::penalty_of(b, &regularizers)
    }

    fn add_penalty_gradients(&mut self) {
        let regularizers = self.regularizers();
        let (f, b) = self.params.split_at_mut(self.split);
        crate::regularizers::add_penalty_gradients(f, &regularizers);
        crate::regularizers::add_penalty_gradients(b, &regularizers);
    }

    fn spec(&self) -> LayerSpec {
        let mut spec = self.spec.clone();
        spec.layer.spec_mut().trainable = self.params.iter().all(|p| p.trainable);
        LayerSpec::new(spec).named(&self.name)
    }

    fn describe(&self) -> String {
        let mode = match self.spec.merge_mode {
            MergeMode::Concat => "concat",
            MergeMode::Sum => "sum",
            MergeMode::Mul => "mul",
            MergeMode::Ave => "ave",
        };
        format!(
            "{} of {}, {}",
            mode,
            self.forward.class_name(),
            self.forward.describe()
        )
    }
}

impl Bidirectional {
    /// The wrapped layer's kernel, recurrent kernel and bias regularizers.
    fn regularizers(&self) -> [Option<crate::regularizers::Regularizer>; 3] {
        let spec = self.spec.layer.spec();
        [
            spec.kernel_regularizer,
            spec.recurrent_regularizer,
            spec.bias_regularizer,
        ]
    }
}
