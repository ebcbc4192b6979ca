//! Feature preprocessing fitted on the training set only: x' = (x - offset) / scale.
//!
//! `unit` maps the training set's overall range to [0, 1] (Fashion-MNIST pixels: x / 255, as in
//! the textbook); `standard` gives each feature zero mean and unit variance (a feature with zero
//! variance is only centered).

use serde::{Deserialize, Serialize};

use crate::distributed::Communicator;
use crate::tensor::Tensor;

/// How features are scaled before training.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    /// (x - min) / (max - min) with the training set's overall min and max.
    #[default]
    Unit,
    /// Per feature (x - mean) / std with training-set statistics.
    Standard,
    /// Features as they are.
    None,
}

/// A fitted scaler: per-feature (or single, broadcast) offset and scale.
#[derive(Clone, Debug, PartialEq)]
pub struct Scaler {
    /// Subtracted from each feature (length 1 or F).
    pub offset: Vec<f32>,
    /// Each feature is divided by it after the offset (length 1 or F).
    pub scale: Vec<f32>,
    /// For tables: the encoding (one-hot vocabularies, fill values) fitted with the scaler and
    /// applied before it, saved with the model (see [`super::tabular`]).
    pub table: Option<super::TableEncoding>,
}

impl Scaler {
    /// Fits `kind` on training features `x` (N, ...).
    ///
    /// ```
    /// # fn main() -> deeptrain::Result<()> {
    /// use deeptrain::{data, Scale, Scaler};
    /// let splits = data::digits()?;
    /// let (mut train, mut test) = (splits.train, splits.test.unwrap_or_default());
    /// let scaler = Scaler::fit(Scale::Standard, &train.x); // statistics of the training set only
    /// scaler.apply(&mut train.x);
    /// scaler.apply(&mut test.x);
    /// # Ok(())
    /// # }
    /// ```
    pub fn fit(kind: Scale, x: &Tensor) -> Scaler {
        Scaler::fit_over(kind, x, None)
    }

    /// [`Scaler::fit`] on the union of every rank's rows, when each rank holds only its own
    /// part of the training set (`comm`; `None` is one process): the sums, extremes and counts
    /// are reduced over the ranks, so every rank gets the scaler of the whole set (equal to
    /// one process's up to the order of the f64 sums).
    pub fn fit_over(kind: Scale, x: &Tensor, comm: Option<&dyn Communicator>) -> Scaler {
        let f = x.row_len().max(1);
        let visit = |each: &mut dyn FnMut(&[f32])| {
            x.data().chunks_exact(f).for_each(&mut *each);
            Ok(())
        };
        match Scaler::fit_rows(kind, f, x.rows(), visit, comm) {
            Ok(s) => s,
            Err(_) => unreachable!("visiting rows in memory cannot fail"),
        }
    }

    /// [`Scaler::fit_over`] on `rows` rows of `f` features that `visit` shows in turn (it may
    /// be called twice, and must show the same rows in the same order each time): the rows
    /// may come from disk ([`super::stream`]), with the same sums, in the same order, as in
    /// memory.
    pub(super) fn fit_rows(
        kind: Scale,
        f: usize,
        rows: usize,
        mut visit: impl FnMut(&mut dyn FnMut(&[f32])) -> crate::Result<()>,
        comm: Option<&dyn Communicator>,
    ) -> crate::Result<Scaler> {
        let sum = |values: &mut [f64]| {
            if let Some(c) = comm {
                c.sum_f64(values)
            }
        };
        Ok(match kind {
            Scale::None => Scaler {
                offset: vec![0.0],
                scale: vec![1.0],
                table: None,
            },
            Scale::Unit => {
                let (mut min, mut max) = (f32::INFINITY, f32::NEG_INFINITY);
                visit(&mut |row| {
                    min = row.iter().copied().fold(min, f32::min);
                    max = row.iter().copied().fold(max, f32::max);
                })?;
                // The minimum is the negated maximum of the negations.
                let mut extremes = [-f64::from(min), f64::from(max)];
                if let Some(c) = comm {
                    c.max_f64(&mut extremes);
                }
                let (min, max) = (-extremes[0] as f32, extremes[1] as f32);
                // No rows anywhere leaves min = inf > max = -inf.
                let (min, range) = if max <= min {
                    (0.0, 1.0)
                } else {
                    (min, max - min)
                };
                Scaler {
                    offset: vec![min],
                    scale: vec![range],
                    table: None,
                }
            }
            Scale::Standard => {
                let mut count = [rows as f64];
                sum(&mut count);
                let n = count[0].max(1.0);
                let mut mean = vec![0f64; f];
                visit(&mut |row| mean.iter_mut().zip(row).for_each(|(m, &v)| *m += v as f64))?;
                sum(&mut mean);
                mean.iter_mut().for_each(|m| *m /= n);
                let mut var = vec![0f64; f];
                visit(&mut |row| {
                    var.iter_mut()
                        .zip(row)
                        .zip(&mean)
                        .for_each(|((s, &v), m)| *s += (v as f64 - m).powi(2))
                })?;
                sum(&mut var);
                let scale = var.iter().map(|s| (s / n).sqrt()).map(|sd| {
                    if sd > 1e-12 {
                        sd as f32
                    } else {
                        1.0
                    }
                });
                Scaler {
                    offset: mean.iter().map(|&m| m as f32).collect(),
                    scale: scale.collect(),
                    table: None,
                }
            }
        })
    }

    /// Applies the scaling in place.
    pub fn apply(&self, x: &mut Tensor) {
        let f = x.row_len().max(1);
        self.apply_rows(x.data_mut(), f);
    }

    /// Applies the scaling in place to rows of `f` features, back to back in `data`.
    pub(super) fn apply_rows(&self, data: &mut [f32], f: usize) {
        if self.offset.len() == 1 && self.scale.len() == 1 {
            let (o, inv) = (self.offset[0], 1.0 / self.scale[0]);
            data.iter_mut().for_each(|v| *v = (*v - o) * inv);
            return;
        }
        for row in data.chunks_exact_mut(f) {
            for ((v, &o), &s) in row.iter_mut().zip(&self.offset).zip(&self.scale) {
                *v = (*v - o) / s;
            }
        }
    }

    /// The scaler, or why it cannot scale: training features so spread that their range (or
    /// standard deviation) is not a finite f32.
    pub fn checked(self) -> crate::Result<Scaler> {
        if self.offset.iter().chain(&self.scale).all(|v| v.is_finite()) {
            Ok(self)
        } else {
            Err(crate::Error::Data(
                "the training features span a range too wide for f32 arithmetic, so scaling would overflow; rescale them or use scale = \"none\""
                    .into(),
            ))
        }
    }

    /// Applies the scaling to `data`'s features in place; a finite value that overflows when
    /// scaled is an error naming its row, not a NaN for training to find.
    pub fn apply_checked(&self, data: &mut super::Dataset) -> crate::Result<()> {
        if let Some((row, col)) = data.first_non_finite() {
            return Err(data.row_error(row, format!("feature {col} is not a finite number")));
        }
        self.apply(&mut data.x);
        match data.first_non_finite() {
            Some((row, col)) => Err(data.row_error(
                row,
                format!("feature {col} is finite but overflows f32 when scaled"),
            )),
            None => Ok(()),
        }
    }

    /// Whether the scaler fits features of width `features`.
    pub fn fits(&self, features: usize) -> bool {
        self.offset.len() == self.scale.len()
            && (self.offset.len() == 1 || self.offset.len() == features)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_scaling_maps_training_range_to_unit_interval() {
        let mut x = Tensor::from_vec(vec![0.0, 127.5, 255.0, 51.0], &[2, 2]);
        let s = Scaler::fit(Scale::Unit, &x);
        s.apply(&mut x);
        for (v, e) in x.data().iter().zip([0.0, 0.5, 1.0, 0.2]) {
            assert!((v - e).abs() < 1e-6, "{v} vs {e}");
        }
    }

    #[test]
    fn standard_scaling_gives_zero_mean_unit_variance() {
        let mut x = Tensor::from_vec(vec![1.0, 5.0, 3.0, 5.0, 5.0, 5.0], &[3, 2]);
        let s = Scaler::fit(Scale::Standard, &x);
        s.apply(&mut x);
        let col0: Vec<f32> = x.data().iter().step_by(2).copied().collect();
        let mean: f32 = col0.iter().sum::<f32>() / 3.0;
        let var: f32 = col0.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / 3.0;
        assert!(mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-5);
        // The constant column is centered only.
        assert!(x.data().iter().skip(1).step_by(2).all(|&v| v == 0.0));
    }
}
