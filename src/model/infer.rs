//! Inference: `predict`, MC-dropout `predict_mc`, and `evaluate` (alone or summed over the
//! ranks of a data-parallel run).

use super::compile::update_metrics;
use super::Model;
use crate::data::Dataset;
use crate::distributed::Communicator;
use crate::layers::Mode;
use crate::losses::Targets;
use crate::tensor::Tensor;
use crate::{Error, Result};

impl Model {
    /// The model's outputs for `x`, in inference mode, `batch_size` rows at a time.
    ///
    /// ```
    /// # fn main() -> deeptrain::Result<()> {
    /// # use deeptrain::{data, Activation, DenseSpec, FitOptions, LayerSpec, Loss, Metric, Sequential, Sgd};
    /// # let train = data::digits()?.train;
    /// # let mut model = Sequential::new(&[8, 8])
    /// #     .add(LayerSpec::flatten())
    /// #     .add(DenseSpec::new(10).activation(Activation::Softmax))
    /// #     .build(1)?;
    /// # model.compile(Box::new(Sgd::new(0.01)?), Loss::SparseCategoricalCrossentropy, &[Metric::Accuracy])?;
    /// let probabilities = model.predict(&train.x, 256)?;
    /// assert_eq!(probabilities.shape(), &[train.len(), 10]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn predict(&mut self, x: &Tensor, batch_size: usize) -> Result<Tensor> {
        self.check_input(x)?;
        crate::budget::check(
            self,
            batch_size.clamp(1, x.rows().max(1)),
            false,
            "prediction",
        )?;
        let n = x.rows();
        let units = self.output_units();
        let mut out = Tensor::zeros(&[n, units]);
        let mut batch = Tensor::default();
        let indices: Vec<usize> = (0..n).collect();
        for chunk in indices.chunks(batch_size.max(1)) {
            batch.gather_rows(x, chunk);
            self.forward(&batch, Mode::Infer);
            let y = &self.outputs[self.main_output()];
            out.data_mut()[chunk[0] * units..(chunk[0] + chunk.len()) * units]
                .copy_from_slice(y.data());
        }
        Ok(out)
    }

    /// MC dropout (Gal & Ghahramani 2016): `samples` stochastic passes over `x` with dropout
    /// active and batch norm in inference mode; returns the mean output and its standard
    /// deviation per output unit. The dropout streams are reseeded from `seed` first, so the
    /// result depends only on the weights, `x`, `samples` and `seed`.
    ///
    /// ```
    /// # fn main() -> deeptrain::Result<()> {
    /// # use deeptrain::{data, Activation, DenseSpec, FitOptions, LayerSpec, Loss, Metric, Sequential, Sgd};
    /// # let train = data::digits()?.train;
    /// # let mut model = Sequential::new(&[8, 8])
    /// #     .add(LayerSpec::flatten())
    /// #     .add(DenseSpec::new(10).activation(Activation::Softmax))
    /// #     .build(1)?;
    /// # model.compile(Box::new(Sgd::new(0.01)?), Loss::SparseCategoricalCrossentropy, &[Metric::Accuracy])?;
    /// let (mean, std) = model.predict_mc(&train.x, 10, 256, 7)?;
    /// assert_eq!(mean.shape(), std.shape());
    /// # Ok(())
    /// # }
    /// ```
    pub fn predict_mc(
        &mut self,
        x: &Tensor,
        samples: usize,
        batch_size: usize,
        seed: u64,
    ) -> Result<(Tensor, Tensor)> {
        self.check_input(x)?;
        crate::budget::check(
            self,
            batch_size.clamp(1, x.rows().max(1)),
            false,
            "prediction",
        )?;
        if samples == 0 {
            return Err(Error::Config("MC dropout needs at least one sample".into()));
        }
        for (i, layer) in self.layers.iter_mut().enumerate() {
            layer.reseed(seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        }
        let n = x.rows();
        let units = self.output_units();
        let mut sum = vec![0.0f64; n * units];
        let mut sum_sq = vec![0.0f64; n * units];
        let mut batch = Tensor::default();
        let indices: Vec<usize> = (0..n).collect();
        for (b, chunk) in indices.chunks(batch_size.max(1)).enumerate() {
            batch.gather_rows(x, chunk);
            let offset = b * batch_size.max(1) * units;
            for _ in 0..samples {
                self.forward(&batch, Mode::Sample);
                let y = self.outputs[self.main_output()].data();
                for (k, &v) in y.iter().enumerate() {
                    sum[offset + k] += v as f64;
                    sum_sq[offset + k] += (v as f64) * (v as f64);
                }
            }
        }
        let s = samples as f64;
        let mean: Vec<f32> = sum.iter().map(|&v| (v / s) as f32).collect();
        let std: Vec<f32> = sum
            .iter()
            .zip(&sum_sq)
            .map(|(&a, &b)| ((b / s - (a / s).powi(2)).max(0.0)).sqrt() as f32)
            .collect();
        Ok((
            Tensor::from_vec(mean, &[n, units]),
            Tensor::from_vec(std, &[n, units]),
        ))
    }

    /// Loss and metrics on a dataset, in inference mode: `[("loss", ..), (metric, ..), ...]`.
    ///
    /// ```
    /// # fn main() -> deeptrain::Result<()> {
    /// # use deeptrain::{data, Activation, DenseSpec, FitOptions, LayerSpec, Loss, Metric, Sequential, Sgd};
    /// # let train = data::digits()?.train;
    /// # let mut model = Sequential::new(&[8, 8])
    /// #     .add(LayerSpec::flatten())
    /// #     .add(DenseSpec::new(10).activation(Activation::Softmax))
    /// #     .build(1)?;
    /// # model.compile(Box::new(Sgd::new(0.01)?), Loss::SparseCategoricalCrossentropy, &[Metric::Accuracy])?;
    /// let results = model.evaluate(&train, 256)?;
    /// assert_eq!(results[0].0, "loss");
    /// assert_eq!(results[1].0, "accuracy");
    /// # Ok(())
    /// # }
    /// ```
    pub fn evaluate(&mut self, data: &Dataset, batch_size: usize) -> Result<Vec<(String, f64)>> {
        self.evaluate_over(data, batch_size, None)
    }

    /// [`Model::evaluate`] on the union of every rank's `data` (each rank holding its own
    /// rows, as with sharded data): the loss and metric sums are summed over the ranks of
    /// `comm`, so every rank gets the figures of the whole set. Every rank must call it.
    pub fn evaluate_over(
        &mut self,
        data: &Dataset,
        batch_size: usize,
        comm: Option<&dyn Communicator>,
    ) -> Result<Vec<(String, f64)>> {
        let loss = self
            .loss()
            .ok_or_else(|| Error::Config("compile the model before evaluating it".into()))?;
        if data.is_empty() && comm.is_none() {
            return Err(Error::Data("no samples to evaluate".into()));
        }
        match &data.stream {
            Some(rows) => self.check_input_shape(&rows.empty_batch())?,
            None => self.check_input(&data.x)?,
        }
        crate::budget::check(
            self,
            batch_size.clamp(1, data.len().max(1)),
            false,
            "evaluation",
        )?;
        let targets = self.targets_for(data, loss)?;
        self.evaluate_targets(data, &targets, batch_size, comm)
    }

    /// Loss and metrics of `data`'s features (in memory or streamed) against prepared
    /// targets; with its `weights`, the loss is weighted (Keras' evaluate with
    /// `sample_weight`), and so are the weighted metrics.
    pub(crate) fn evaluate_targets(
        &mut self,
        data: &Dataset,
        targets: &Targets,
        batch_size: usize,
        comm: Option<&dyn Communicator>,
    ) -> Result<Vec<(String, f64)>> {
        let names = self.metric_names();
        let mut state = vec![0.0; self.metric_state_len()];
        let units = self.output_units();
        let compiled = self
            .compiled
            .take()
            .ok_or_else(|| Error::Config("compile the model first".into()))?;
        let (n, weights) = (data.len(), data.weights.as_deref());
        let mut reader = data.stream.as_ref().map(|rows| rows.reader());
        let mut loss_sum = 0.0;
        let mut batch = Tensor::default();
        let mut batch_targets = Targets::default();
        let mut batch_weights = Vec::new();
        let indices: Vec<usize> = (0..n).collect();
        for chunk in indices.chunks(batch_size.max(1)) {
            match &mut reader {
                Some(r) => {
                    if let Err(e) = r.read_into(chunk, &mut batch) {
                        self.compiled = Some(compiled);
                        return Err(e);
                    }
                }
                None => batch.gather_rows(&data.x, chunk),
            }
            targets.gather(chunk, &mut batch_targets);
            let w = weights.map(|w| {
                batch_weights.clear();
                batch_weights.extend(chunk.iter().map(|&i| w[i]));
                &batch_weights[..]
            });
            self.forward(&batch, Mode::Infer);
            loss_sum += self.loss_of_last_forward(compiled.loss, &batch_targets, w, false)
                * chunk.len() as f64;
            let y = &self.outputs[self.main_output()];
            update_metrics(&compiled, units, y, &batch_targets, w, &mut state);
        }
        let mut denom = n as f64;
        if let Some(comm) = comm {
            let mut totals: Vec<f64> = [loss_sum, denom].into_iter().chain(state).collect();
            comm.sum_f64(&mut totals);
            (loss_sum, denom) = (totals[0], totals[1]);
            state = totals.split_off(2);
            if denom == 0.0 {
                self.compiled = Some(compiled);
                return Err(Error::Data("no samples to evaluate on any rank".into()));
            }
        }
        let denom = denom.max(1.0);
        // As Keras, the loss includes the weight penalties.
        let penalty = self.weight_penalty();
        self.compiled = Some(compiled);
        let mut values = vec![0.0; names.len()];
        self.metric_results(&state, &mut values);
        let mut results = vec![("loss".to_string(), loss_sum / denom + penalty)];
        results.extend(names.into_iter().zip(values));
        Ok(results)
    }
}
