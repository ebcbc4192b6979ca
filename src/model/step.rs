//! The training step: forward, loss, backward, weight penalties, clipping and the optimizer's
//! update; and the gradients alone, without an update (gradient checks, diagnostics).

use super::compile::{update_metrics, Compiled};
use super::Model;
use crate::layers::Mode;
use crate::losses::{Loss, Targets};
use crate::optimizers::{Clipping, Optimizer};
use crate::tensor::Tensor;
use crate::{Error, Result};

impl Model {
    /// The loss of the last forward pass against `targets`, writing dL/d(output or logits) into
    /// the last gradient buffer when `with_grad`.
    pub(super) fn loss_of_last_forward(
        &mut self,
        loss: Loss,
        targets: &Targets,
        weights: Option<&[f32]>,
        with_grad: bool,
    ) -> f64 {
        let mut total = 0.0;
        for (k, &o) in self.topology.outputs.iter().enumerate() {
            let logits = self.layers[o].logits();
            let grad = if with_grad {
                Some(&mut self.grads[o])
            } else {
                None
            };
            let value = loss.compute_weighted(&self.outputs[o], logits, targets, weights, grad);
            self.output_losses[k] = value;
            let weight = self.topology.loss_weights[k];
            if weight != 1.0 {
                if with_grad {
                    self.grads[o]
                        .data_mut()
                        .iter_mut()
                        .for_each(|g| *g *= weight);
                }
                total += weight as f64 * value;
            } else {
                total += value;
            }
        }
        total
    }

    /// One optimization step on a batch: forward (training mode), loss, backward, update.
    /// Adds each metric's batch sum to `metric_sums`; returns the mean loss.
    pub fn train_step(
        &mut self,
        x: &Tensor,
        targets: &Targets,
        metric_sums: &mut [f64],
    ) -> Result<f64> {
        self.train_step_weighted(x, targets, None, metric_sums)
    }

    /// [`Model::train_step`] with per-sample weights (Keras' `sample_weight`, with the
    /// class weights folded in): each sample's loss and gradient are scaled by its weight.
    /// `metric_state` holds [`Model::metric_state_len`] slots (fewer: metrics are skipped).
    pub fn train_step_weighted(
        &mut self,
        x: &Tensor,
        targets: &Targets,
        weights: Option<&[f32]>,
        metric_state: &mut [f64],
    ) -> Result<f64> {
        let Some(compiled) = self.compiled.take() else {
            return Err(Error::Config("compile the model before training it".into()));
        };
        self.observe_step_begin(compiled.optimizer.as_ref());
        let data_loss = self.forward_for_training(&compiled, x, targets, weights, metric_state);
        // Plain SGD: layers that can update their weights within backward do (one pass less
        // over every weight and gradient). On a step whose gradients someone reads, they also
        // store them, and update the weights by the same arithmetic: watching a run never
        // changes it.
        let fused_rate = compiled.optimizer.plain_descent_rate();
        let keep_gradients = self.callbacks_need_gradients
            || self.observer.as_ref().is_some_and(|o| o.needs_gradients());
        self.fused.clear();
        for layer in &mut self.layers {
            layer.set_gradients_observed(keep_gradients);
            self.fused
                .push(fused_rate.is_some() && layer.set_fused_descent(fused_rate, keep_gradients));
        }
        // Before backward: the observer reads each layer's gradients as backward writes them.
        let fused = std::mem::take(&mut self.fused);
        self.record_stored_gradients(if keep_gradients { &[] } else { &fused });
        self.fused = fused;
        self.backward(x, None);
        for (layer, &fused) in self.layers.iter_mut().zip(&self.fused) {
            if fused {
                layer.set_fused_descent(None, false);
            }
        }
        // Weight penalties join the loss and its gradient before clipping, as in Keras.
        self.last_penalty = self.add_penalties();
        let mut compiled = compiled;
        let fused = std::mem::take(&mut self.fused);
        self.update_parameters(compiled.optimizer.as_mut(), &fused);
        self.fused = fused;
        self.compiled = Some(compiled);
        self.observe_update();
        Ok(data_loss + self.last_penalty)
    }

    /// Records, after a backward, which parameters hold their gradient: none of a layer that
    /// fused its update without keeping its gradient (`fused[i]`), every other one. A pass over
    /// flags, never over the gradients, so that the unused buffers stay untouched (and cost no
    /// resident memory).
    pub(super) fn record_stored_gradients(&mut self, fused: &[bool]) {
        for (i, layer) in self.layers.iter_mut().enumerate() {
            let stored = !fused.get(i).copied().unwrap_or(false);
            for p in layer.params_mut() {
                p.set_grad_stored(stored);
            }
        }
    }

    /// Tells the observer the number of the step about to run.
    pub(super) fn observe_step_begin(&mut self, optimizer: &dyn Optimizer) {
        if let Some(obs) = self.observer.as_mut() {
            obs.on_step_begin(optimizer.iterations() + 1);
        }
    }

    /// Shows the observer every layer after the step's update.
    pub(super) fn observe_update(&mut self) {
        if let Some(obs) = self.observer.as_mut() {
            for (i, layer) in self.layers.iter().enumerate() {
                obs.after_update(i, layer.as_ref());
            }
        }
    }

    /// A training step's forward pass: training mode, the data loss (returned) with the output
    /// gradients it writes, and the batch added to the metrics' state.
    pub(super) fn forward_for_training(
        &mut self,
        compiled: &Compiled,
        x: &Tensor,
        targets: &Targets,
        weights: Option<&[f32]>,
        metric_state: &mut [f64],
    ) -> f64 {
        self.forward(x, Mode::Train);
        let data_loss = self.loss_of_last_forward(compiled.loss, targets, weights, true);
        let y_pred = &self.outputs[self.main_output()];
        update_metrics(
            compiled,
            self.output_units(),
            y_pred,
            targets,
            weights,
            metric_state,
        );
        data_loss
    }

    /// Clips the gradients as the optimizer asks (see [`Clipping`]), then lets it
    /// update every trainable parameter, and advances its step.
    pub fn apply_gradients(&mut self, optimizer: &mut dyn Optimizer) {
        self.update_parameters(optimizer, &[]);
    }

    /// [`Model::apply_gradients`], but for the layers marked in `already_updated` (whose
    /// backward applied plain SGD itself) only the constraints.
    pub(super) fn update_parameters(
        &mut self,
        optimizer: &mut dyn Optimizer,
        already_updated: &[bool],
    ) {
        let clipping = optimizer.clipping();
        let trainable = || {
            self.layers
                .iter()
                .flat_map(|l| l.params())
                .filter(|p| p.trainable)
        };
        let global_scale = match clipping {
            Clipping::GlobalNorm(_) => clipping.global_scale(
                trainable()
                    .flat_map(|p| p.grad.data())
                    .map(|&g| (g as f64) * (g as f64))
                    .sum(),
            ),
            _ => 1.0,
        };
        let mut slot = 0;
        for (i, layer) in self.layers.iter_mut().enumerate() {
            let updated = already_updated.get(i).copied().unwrap_or(false);
            for p in layer.params_mut() {
                if p.trainable && !updated {
                    clipping.apply(p.grad.data_mut(), global_scale);
                    optimizer.update(slot, p.value.data_mut(), p.grad.data());
                }
                slot += 1;
            }
            layer.apply_constraints();
        }
        optimizer.finish_step();
    }

    /// The loss and gradients for a batch without updating the weights (for gradient checks and
    /// diagnostics). Parameter gradients are left in each layer's `params()[..].grad()`; the
    /// gradient with respect to the input is returned.
    pub fn compute_gradients(
        &mut self,
        x: &Tensor,
        targets: &Targets,
        mode: Mode,
    ) -> Result<(f64, Tensor)> {
        let loss_fn = self
            .loss()
            .ok_or_else(|| Error::Config("compile the model first".into()))?;
        self.forward(x, mode);
        let loss = self.loss_of_last_forward(loss_fn, targets, None, true);
        for layer in &mut self.layers {
            layer.set_gradients_observed(true);
        }
        let mut dx = Tensor::default();
        self.record_stored_gradients(&[]);
        self.backward(x, Some(&mut dx));
        let penalty = self.add_penalties();
        Ok((loss + penalty, dx))
    }

    /// The sum of every layer's weight penalty (L1/L2) at the current weights: the part of
    /// `evaluate`'s loss that is not the data loss, as in Keras.
    pub fn weight_penalty(&self) -> f64 {
        self.layers.iter().map(|l| l.penalty()).sum()
    }

    /// The weight penalty of the last training step (part of the loss it returned).
    pub fn last_penalty(&self) -> f64 {
        self.last_penalty
    }

    /// Whether any layer has a weight penalty.
    pub fn has_penalty(&self) -> bool {
        self.layers.iter().any(|l| l.has_penalty())
    }

    /// Adds every layer's penalty gradient; returns the total penalty.
    pub(super) fn add_penalties(&mut self) -> f64 {
        let mut total = 0.0;
        for layer in &mut self.layers {
            total += layer.penalty();
            layer.add_penalty_gradients();
        }
        total
    }

    /// The first layer whose last output holds a NaN or infinity, if any (to locate divergence).
    pub fn first_non_finite_layer(&self) -> Option<&str> {
        self.layers
            .iter()
            .zip(&self.outputs)
            .find(|(_, out)| out.data().iter().any(|v| !v.is_finite()))
            .map(|(l, _)| l.name())
    }

    /// The first parameter (or moving statistic) holding a NaN or infinity, as
    /// `layer.parameter`, if any: a ReLU network whose weights diverged can still show a finite
    /// loss, so the weights themselves are checked at every epoch's end and before every save.
    pub fn first_non_finite_parameter(&self) -> Option<String> {
        self.layers.iter().find_map(|layer| {
            layer
                .params()
                .iter()
                .map(|p| (p.name, &p.value))
                .chain(layer.state().iter().map(|s| (s.name, &s.value)))
                .find(|(_, v)| v.data().iter().any(|x| !x.is_finite()))
                .map(|(name, _)| format!("{}.{name}", layer.name()))
        })
    }
}
