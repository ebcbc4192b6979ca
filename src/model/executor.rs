//! The graph executor: forward in topological order, backward in reverse, summing the
//! gradients of outputs read by several layers (fan-out), as autograd does. Buffers are the
//! model's, one per node output, allocated once: a step allocates nothing.

use super::graph::{self, Source};
use super::Model;
use crate::layers::Mode;
use crate::tensor::Tensor;

impl Model {
    /// Runs every layer on `x` in topological order; each layer's output is in `self.outputs`.
    pub(super) fn forward(&mut self, x: &Tensor, mode: Mode) {
        for (input, value) in self.model_inputs.iter().zip(&mut self.input_values) {
            if let Some(columns) = &input.columns {
                gather_columns(x, columns, value);
            }
        }
        let placeholder = Tensor::default();
        for i in 0..self.layers.len() {
            let (before, rest) = self.outputs.split_at_mut(i);
            let sources = &self.topology.sources[i];
            let read = |s: Source| -> &Tensor {
                match s {
                    Source::Node(j) => &before[j],
                    Source::Input(k) if self.model_inputs[k].columns.is_some() => {
                        &self.input_values[k]
                    }
                    Source::Input(_) => x,
                }
            };
            if let [source] = sources[..] {
                if let Source::Node(j) = source {
                    if self.masked[j] {
                        let (done, next) = self.layers.split_at_mut(i);
                        next[0].set_input_mask(done[j].output_mask());
                    }
                }
                self.layers[i].forward(read(source), &mut rest[0], mode);
            } else {
                let mut inputs = [&placeholder; graph::MAX_LAYER_INPUTS];
                for (slot, &s) in inputs.iter_mut().zip(sources) {
                    *slot = read(s);
                }
                self.layers[i].forward_many(&inputs[..sources.len()], &mut rest[0], mode);
            }
            if let Some(obs) = self.observer.as_mut() {
                obs.after_forward(i, self.layers[i].as_ref(), &rest[0], mode);
            }
        }
    }

    /// Backward in reverse topological order from the output gradients the loss wrote,
    /// writing parameter gradients and summing the gradients of outputs read by several
    /// layers; writes dL/dx into `input_grad` when given (training skips it). Layers with no
    /// trainable parameter at or before them run no backward, and compute no input gradient
    /// nobody needs.
    pub(super) fn backward(&mut self, x: &Tensor, mut input_grad: Option<&mut Tensor>) {
        let n = self.layers.len();
        let wants_input = input_grad.is_some();
        for i in 0..n {
            self.flows[i] = self.layers[i].params().iter().any(|p| p.trainable)
                || self.topology.sources[i].iter().any(|s| match *s {
                    Source::Node(j) => self.flows[j],
                    Source::Input(_) => wants_input,
                });
            self.written[i] = self.topology.is_output(i);
        }
        // A single input read once, whole, gets its gradient written in place.
        let direct_input = self.model_inputs.len() == 1
            && self.model_inputs[0].columns.is_none()
            && self.topology.input_consumers[0] == 1;
        let mut inputs_written = [false; graph::MAX_LAYER_INPUTS];
        let placeholder = Tensor::default();
        for i in (0..n).rev() {
            if !self.flows[i] {
                continue;
            }
            let (grads_before, grads_rest) = self.grads.split_at_mut(i);
            let sources = &self.topology.sources[i];
            let outputs = &self.outputs;
            let read = |s: Source| -> &Tensor {
                match s {
                    Source::Node(j) => &outputs[j],
                    Source::Input(k) if self.model_inputs[k].columns.is_some() => {
                        &self.input_values[k]
                    }
                    Source::Input(_) => x,
                }
            };
            let direct = |s: Source| match s {
                Source::Node(j) => self.topology.consumers[j] == 1 && !self.topology.is_output(j),
                Source::Input(_) => direct_input,
            };
            let wanted = |s: Source| match s {
                Source::Node(j) => self.flows[j],
                Source::Input(_) => wants_input,
            };
            if let [source] = sources[..] {
                let grad_input = match source {
                    _ if !wanted(source) => None,
                    Source::Node(j) if direct(source) => Some(&mut grads_before[j]),
                    Source::Input(_) if direct(source) => input_grad.take(),
                    _ => Some(&mut self.scratch[i][0]),
                };
                self.layers[i].backward(read(source), &outputs[i], &grads_rest[0], grad_input);
            } else {
                let mut inputs = [&placeholder; graph::MAX_LAYER_INPUTS];
                for (slot, &s) in inputs.iter_mut().zip(sources) {
                    *slot = read(s);
                }
                let mut grad_inputs: [Option<&mut Tensor>; graph::MAX_LAYER_INPUTS] =
                    std::array::from_fn(|_| None);
                // Disjoint borrows: direct sources from `grads_before` (each read only here),
                // the rest from this node's scratch.
                let mut direct_slots = [usize::MAX; graph::MAX_LAYER_INPUTS];
                for (k, &s) in sources.iter().enumerate() {
                    if let Source::Node(j) = s {
                        if wanted(s) && direct(s) {
                            direct_slots[k] = j;
                        }
                    }
                }
                for (j, g) in grads_before.iter_mut().enumerate() {
                    if let Some(k) = direct_slots[..sources.len()].iter().position(|&d| d == j) {
                        grad_inputs[k] = Some(g);
                    }
                }
                for (k, scratch) in self.scratch[i].iter_mut().enumerate() {
                    if wanted(sources[k]) && direct_slots[k] == usize::MAX {
                        grad_inputs[k] = Some(scratch);
                    }
                }
                self.layers[i].backward_many(
                    &inputs[..sources.len()],
                    &outputs[i],
                    &grads_rest[0],
                    &mut grad_inputs[..sources.len()],
                );
            }
            // Sum what went to scratch into the gradients of the sources.
            for (k, &s) in sources.iter().enumerate() {
                if !wanted(s) || direct(s) {
                    continue;
                }
                let part = &self.scratch[i][k];
                match s {
                    Source::Node(j) => {
                        accumulate(&mut grads_before[j], part, self.written[j]);
                        self.written[j] = true;
                    }
                    Source::Input(m) => {
                        accumulate(&mut self.input_grads[m], part, inputs_written[m]);
                        inputs_written[m] = true;
                    }
                }
            }
            if let Some(obs) = self.observer.as_mut() {
                obs.after_backward(i, self.layers[i].as_ref(), &grads_rest[0]);
            }
        }
        // Model inputs whose gradients were summed apart: scatter them into dL/dx.
        if let (Some(dx), false) = (input_grad, direct_input) {
            dx.resize(x.shape());
            dx.data_mut().fill(0.0);
            for (m, input) in self.model_inputs.iter().enumerate() {
                if !inputs_written[m] {
                    continue;
                }
                let g = self.input_grads[m].data();
                match &input.columns {
                    None => dx.data_mut().iter_mut().zip(g).for_each(|(d, v)| *d += v),
                    Some(columns) => {
                        let width = x.row_len();
                        for (r, row) in g.chunks(columns.len()).enumerate() {
                            for (&c, &v) in columns.iter().zip(row) {
                                dx.data_mut()[r * width + c] += v;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `out` ← the features `columns` of every sample of `x`, (B, columns).
fn gather_columns(x: &Tensor, columns: &[usize], out: &mut Tensor) {
    let width = x.row_len();
    out.resize(&[x.rows(), columns.len()]);
    for (dst, src) in out
        .data_mut()
        .chunks_exact_mut(columns.len())
        .zip(x.data().chunks_exact(width.max(1)))
    {
        for (d, &c) in dst.iter_mut().zip(columns) {
            *d = src[c];
        }
    }
}

/// `total` ← `part` when nothing was written yet this pass, else `total + part`.
fn accumulate(total: &mut Tensor, part: &Tensor, written: bool) {
    if written {
        total
            .data_mut()
            .iter_mut()
            .zip(part.data())
            .for_each(|(t, p)| *t += p);
    } else {
        total.copy_from(part);
    }
}
