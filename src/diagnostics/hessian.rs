//! The top eigenvalue λmax of the loss's Hessian, by power iteration on Hessian-vector
//! products taken as central finite differences of gradients:
//! Hv ≈ (∇L(w + εv) - ∇L(w - εv)) / 2ε (Pearlmutter 1994 gives the exact product; the
//! difference is accurate to O(ε²)). Cockpit's `HessMaxEV` (Schneider et al. 2021) tracks the
//! same quantity. Gradient descent on a quadratic is stable only for a learning rate below
//! 2/λmax (the edge of stability, Cohen et al. 2021).

use crate::layers::Mode;
use crate::losses::Targets;
use crate::tensor::Tensor;
use crate::{Result, Rng, Sequential};
use rand::{Rng as _, SeedableRng};

/// The trainable parameters' values, concatenated.
fn values(model: &Sequential) -> Vec<f32> {
    model
        .layers()
        .iter()
        .flat_map(|l| l.params().iter().filter(|p| p.trainable))
        .flat_map(|p| p.value.data().iter().copied())
        .collect()
}

/// Sets the trainable parameters to `w` (as laid out by [`values`]).
fn set_values(model: &mut Sequential, w: &[f32]) {
    let mut at = 0;
    for layer in model.layers_mut() {
        for p in layer.params_mut().iter_mut().filter(|p| p.trainable) {
            let n = p.value.data().len();
            p.value.data_mut().copy_from_slice(&w[at..at + n]);
            at += n;
        }
    }
}

/// The loss's gradient at the model's current weights, concatenated like [`values`].
fn gradient(model: &mut Sequential, x: &Tensor, targets: &Targets) -> Result<Vec<f64>> {
    model.compute_gradients(x, targets, Mode::Infer)?;
    Ok(model
        .layers()
        .iter()
        .flat_map(|l| l.params().iter().filter(|p| p.trainable))
        .flat_map(|p| p.grad().into_iter().flat_map(|g| g.data()))
        .map(|&g| g as f64)
        .collect())
}

/// λmax of the Hessian of the loss on (`x`, `targets`) after `iterations` power steps from a
/// random direction (seeded); the weights are restored. `None` for a model without trainable
/// parameters or when the products are not finite. Costs 2·`iterations` gradient evaluations.
pub fn top_hessian_eigenvalue(
    model: &mut Sequential,
    x: &Tensor,
    targets: &Targets,
    iterations: usize,
    seed: u64,
) -> Result<Option<f64>> {
    let w0 = values(model);
    if w0.is_empty() {
        return Ok(None);
    }
    let norm = |v: &[f64]| v.iter().map(|a| a * a).sum::<f64>().sqrt();
    let mut rng = Rng::seed_from_u64(seed);
    let mut v: Vec<f64> = (0..w0.len()).map(|_| rng.random::<f64>() - 0.5).collect();
    let n = norm(&v);
    v.iter_mut().for_each(|a| *a /= n);
    let w_norm = w0.iter().map(|&a| (a as f64).powi(2)).sum::<f64>().sqrt();
    // A step of 1e-3 of the weights' norm: large against f32 rounding, small against curvature.
    let eps = 1e-3 * w_norm.max(1.0);
    let mut lambda = None;
    for _ in 0..iterations {
        let shifted = |sign: f64| -> Vec<f32> {
            w0.iter()
                .zip(&v)
                .map(|(&w, &d)| (w as f64 + sign * eps * d) as f32)
                .collect()
        };
        set_values(model, &shifted(1.0));
        let plus = gradient(model, x, targets);
        set_values(model, &shifted(-1.0));
        let minus = gradient(model, x, targets);
        set_values(model, &w0);
        let (plus, minus) = (plus?, minus?);
        let hv: Vec<f64> = plus
            .iter()
            .zip(&minus)
            .map(|(a, b)| (a - b) / (2.0 * eps))
            .collect();
        let rayleigh: f64 = hv.iter().zip(&v).map(|(a, b)| a * b).sum();
        let size = norm(&hv);
        if !size.is_finite() || size == 0.0 {
            return Ok(None);
        }
        lambda = Some(rayleigh);
        v = hv.into_iter().map(|a| a / size).collect();
    }
    Ok(lambda)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DenseSpec, Loss, Sgd};

    /// A linear model under mean squared error has Hessian (2/B)·Σ x̃x̃ᵀ, x̃ = (x, 1) with the
    /// bias. For x = (3, 0) and (0, 1) (B = 2) that is [[9, 0, 3], [0, 1, 1], [3, 1, 2]], whose
    /// characteristic polynomial is -λ(λ² - 12λ + 19): λmax = 6 + √17.
    #[test]
    fn power_iteration_finds_the_top_eigenvalue_of_a_quadratic() {
        let mut model = Sequential::new(&[2])
            .add(DenseSpec::new(1))
            .build(1)
            .unwrap();
        model
            .compile(
                Box::new(Sgd::new(0.1).unwrap()),
                Loss::MeanSquaredError,
                &[],
            )
            .unwrap();
        let x = Tensor::from_vec(vec![3.0, 0.0, 0.0, 1.0], &[2, 2]);
        let y = Targets::Values(Tensor::from_vec(vec![1.0, -1.0], &[2, 1]));
        let before = values(&model);
        let lambda = top_hessian_eigenvalue(&mut model, &x, &y, 30, 7)
            .unwrap()
            .unwrap();
        assert!((lambda - (6.0 + 17f64.sqrt())).abs() < 0.05, "{lambda}");
        assert_eq!(values(&model), before, "weights restored");
    }
}
