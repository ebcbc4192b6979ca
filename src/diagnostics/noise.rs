//! Gradient noise, by the norm test (Byrd et al. 2012; Cockpit's `NormTest`, Schneider et al.
//! 2021): the gradients of `parts` disjoint minibatches of the training batch size, g_1 ... g_m,
//! their mean ḡ, and the ratio of a minibatch gradient's variance to the signal,
//! r = Σ‖g_j - ḡ‖² / ((m - 1)·‖ḡ‖²). Above 1, one step's gradient is mostly noise: a larger
//! batch (or a smaller rate) would follow the true gradient better.

use crate::data::Dataset;
use crate::layers::Mode;
use crate::{Result, Sequential};

/// The norm test's result.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GradientNoise {
    /// Minibatches compared.
    pub parts: usize,
    /// Their size (the training batch size).
    pub batch: usize,
    /// r: a minibatch gradient's variance over the squared norm of their mean.
    pub ratio: f64,
}

/// The norm test on the first `parts`·`batch` rows of `data` (fewer parts when it is short);
/// `None` with fewer than two parts or a zero mean gradient.
pub fn gradient_noise(
    model: &mut Sequential,
    data: &Dataset,
    batch: usize,
    parts: usize,
) -> Result<Option<GradientNoise>> {
    let Some(loss) = model.loss() else {
        return Ok(None);
    };
    let units = model.output_units();
    let batch = batch.max(1);
    let parts = parts.min(data.len() / batch);
    if parts < 2 {
        return Ok(None);
    }
    let mut grads: Vec<Vec<f64>> = Vec::with_capacity(parts);
    for j in 0..parts {
        let part = data.slice(j * batch..(j + 1) * batch);
        let targets = part.targets(loss, units)?;
        model.compute_gradients(&part.x, &targets, Mode::Infer)?;
        grads.push(
            model
                .layers()
                .iter()
                .flat_map(|l| l.params().iter().filter(|p| p.trainable))
                .flat_map(|p| p.grad().into_iter().flat_map(|g| g.data()))
                .map(|&g| g as f64)
                .collect(),
        );
    }
    Ok(norm_test(&grads).map(|ratio| GradientNoise {
        parts,
        batch,
        ratio,
    }))
}

/// r = Σ‖g_j - ḡ‖² / ((m - 1)·‖ḡ‖²) of the gradients `grads`.
fn norm_test(grads: &[Vec<f64>]) -> Option<f64> {
    let m = grads.len();
    let n = grads.first()?.len();
    let mean: Vec<f64> = (0..n)
        .map(|i| grads.iter().map(|g| g[i]).sum::<f64>() / m as f64)
        .collect();
    let signal: f64 = mean.iter().map(|a| a * a).sum();
    let spread: f64 = grads
        .iter()
        .map(|g| {
            g.iter()
                .zip(&mean)
                .map(|(a, b)| (a - b).powi(2))
                .sum::<f64>()
        })
        .sum();
    (m > 1 && signal > 0.0 && signal.is_finite()).then(|| spread / ((m - 1) as f64 * signal))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn norm_test_separates_signal_from_noise() {
        // Equal gradients: no noise.
        assert_eq!(norm_test(&[vec![1.0, 2.0], vec![1.0, 2.0]]), Some(0.0));
        // Mean (1, 0), deviations ±(0, 3): spread 18 over (2 - 1)·1.
        let r = norm_test(&[vec![1.0, 3.0], vec![1.0, -3.0]]).unwrap();
        assert!((r - 18.0).abs() < 1e-12, "{r}");
        assert_eq!(norm_test(&[vec![1.0], vec![-1.0]]), None);
    }
}
