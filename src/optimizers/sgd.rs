//! Plain stochastic gradient descent: θ ← θ - η·g (Keras `SGD`, PyTorch `torch.optim.SGD`).

use super::{check_learning_rate, Optimizer, OptimizerSpec, SgdSpec};

/// Stochastic gradient descent.
#[derive(Clone, Debug)]
pub struct Sgd {
    learning_rate: f32,
}

impl Sgd {
    /// SGD with step size `learning_rate` (> 0).
    pub fn new(learning_rate: f32) -> Result<Self, String> {
        check_learning_rate(learning_rate)?;
        Ok(Sgd { learning_rate })
    }
}

impl Optimizer for Sgd {
    fn name(&self) -> &'static str {
        "sgd"
    }

    fn learning_rate(&self) -> f32 {
        self.learning_rate
    }

    fn set_learning_rate(&mut self, lr: f32) {
        self.learning_rate = lr;
    }

    fn update(&mut self, _slot: usize, value: &mut [f32], grad: &[f32]) {
        let lr = self.learning_rate;
        value.iter_mut().zip(grad).for_each(|(v, &g)| *v -= lr * g);
    }

    fn spec(&self) -> OptimizerSpec {
        OptimizerSpec::Sgd(SgdSpec {
            learning_rate: self.learning_rate,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sgd_steps_against_the_gradient() {
        let mut sgd = Sgd::new(0.1).unwrap();
        let mut w = [1.0, -2.0];
        sgd.update(0, &mut w, &[0.5, -1.0]);
        assert_eq!(w, [0.95, -1.9]);
    }

    #[test]
    fn sgd_rejects_bad_learning_rates() {
        for lr in [0.0, -1.0, f32::NAN, f32::INFINITY] {
            assert!(Sgd::new(lr).is_err());
        }
    }
}
