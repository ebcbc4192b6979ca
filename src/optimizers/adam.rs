//! The Adam family in one update rule (Kingma & Ba 2015): Adam (optionally AMSGrad, Reddi et
//! al. 2018), AdamW (Loshchilov & Hutter 2019), AdaMax (Kingma & Ba, sec. 7) and Nadam
//! (Dozat 2016), with Keras 3's formulas. With t the step (from 1):
//! ```text
//! m ← m + (1 - β₁)(g - m)
//! Adam:    v ← v + (1 - β₂)(g² - v);  [AMSGrad: v̂ ← max(v̂, v), used for v]
//!          θ ← θ - η·sqrt(1 - β₂ᵗ)/(1 - β₁ᵗ) · m / (sqrt(v) + ε)
//! AdamW:   θ ← θ - η λ θ first, then Adam
//! AdaMax:  u ← max(β₂ u, |g|);  θ ← θ - η m / ((1 - β₁ᵗ)(u + ε))
//! Nadam:   μₜ = β₁ (1 - ½·0.96^(ψ t)),  Πₜ = Π μᵢ (i ≤ t)
//!          m̂ = μₜ₊₁ m / (1 - Πₜ μₜ₊₁) + (1 - μₜ) g / (1 - Πₜ);  v̂ = v / (1 - β₂ᵗ)
//!          θ ← θ - η m̂ / (sqrt(v̂) + ε)
//! ```
//! PyTorch differs in three places: Adam's ε is added to sqrt(v̂) = sqrt(v)/sqrt(1 - β₂ᵗ)
//! (ε scaled by sqrt(1 - β₂ᵗ) relative to Keras); AdaMax takes u ← max(β₂ u, |g| + ε); and
//! Nadam's momentum schedule uses ψ = `momentum_decay` = 0.004 where Keras 3 uses ψ = 1.

use super::slots::Slots;
use super::{
    check_learning_rate, check_non_negative, AdamSpec, AdamWSpec, AdamaxSpec, NadamSpec, Optimizer,
    OptimizerSpec, OptimizerState,
};
use crate::parallel::zip_pieces;
use crate::{Error, Result};

/// Which member of the family.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AdamVariant {
    /// Adam.
    Adam,
    /// Adam with decoupled weight decay λ.
    AdamW {
        /// λ: each step shrinks θ by η·λ·θ.
        weight_decay: f32,
    },
    /// AdaMax (infinity norm).
    Adamax,
    /// Nadam (Nesterov momentum).
    Nadam,
}

/// Nadam's momentum-schedule exponent ψ in Keras 3 (PyTorch's `momentum_decay` is 0.004).
pub const KERAS_NADAM_MOMENTUM_DECAY: f64 = 1.0;

/// Adam, AdamW, AdaMax or Nadam.
#[derive(Clone, Debug)]
pub struct Adam {
    variant: AdamVariant,
    learning_rate: f32,
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    amsgrad: bool,
    /// Nadam's ψ.
    momentum_decay: f64,
    iterations: u64,
    /// Nadam's product of momentum coefficients Πₜ.
    u_product: f64,
    slots: Slots,
}

impl Adam {
    /// A member of the Adam family with Keras' hyperparameters.
    pub fn new(
        variant: AdamVariant,
        learning_rate: f32,
        beta_1: f32,
        beta_2: f32,
        epsilon: f32,
        amsgrad: bool,
    ) -> Result<Self> {
        check_learning_rate(learning_rate)?;
        check_non_negative("epsilon", epsilon)?;
        if let AdamVariant::AdamW { weight_decay } = variant {
            check_non_negative("weight_decay", weight_decay)?;
        }
        if amsgrad && matches!(variant, AdamVariant::Adamax | AdamVariant::Nadam) {
            return Err(Error::Config(
                "`amsgrad` applies to adam and adamw only".into(),
            ));
        }
        let second = if variant == AdamVariant::Adamax {
            "norm"
        } else {
            "velocity"
        };
        let mut names = vec![("momentum", 0.0), (second, 0.0)];
        if amsgrad {
            names.push(("velocity_hat", 0.0));
        }
        Ok(Adam {
            variant,
            learning_rate,
            beta_1,
            beta_2,
            epsilon,
            amsgrad,
            momentum_decay: KERAS_NADAM_MOMENTUM_DECAY,
            iterations: 0,
            u_product: 1.0,
            slots: Slots::new(&names),
        })
    }

    /// Sets Nadam's momentum-schedule exponent ψ (PyTorch's `momentum_decay`, 0.004 there).
    pub fn with_momentum_decay(mut self, psi: f64) -> Self {
        self.momentum_decay = psi;
        self
    }

    /// μ at step `t` of Nadam's schedule.
    fn nadam_mu(&self, t: f64) -> f64 {
        self.beta_1 as f64 * (1.0 - 0.5 * 0.96f64.powf(self.momentum_decay * t))
    }
}

impl Optimizer for Adam {
    fn name(&self) -> &'static str {
        match self.variant {
            AdamVariant::Adam => "adam",
            AdamVariant::AdamW { .. } => "adamw",
            AdamVariant::Adamax => "adamax",
            AdamVariant::Nadam => "nadam",
        }
    }

    fn learning_rate(&self) -> f32 {
        self.learning_rate
    }

    fn set_learning_rate(&mut self, lr: f32) {
        self.learning_rate = lr;
    }

    fn momentum(&self) -> Option<f32> {
        Some(self.beta_1)
    }

    fn set_momentum(&mut self, momentum: f32) {
        self.beta_1 = momentum;
    }

    fn update(&mut self, slot: usize, value: &mut [f32], grad: &[f32]) {
        let t = (self.iterations + 1) as f64;
        let (b1, b2, eps) = (self.beta_1, self.beta_2, self.epsilon);
        let lr = self.learning_rate as f64;
        let bias_1 = 1.0 - (b1 as f64).powf(t);
        let bias_2 = 1.0 - (b2 as f64).powf(t);
        let variant = self.variant;
        // Nadam's coefficients (Πₜ includes μₜ: it is advanced once per step, in finish_step).
        let (mu_t, mu_next) = (self.nadam_mu(t), self.nadam_mu(t + 1.0));
        let product_t = self.u_product * mu_t;
        let nadam_m = (mu_next / (1.0 - product_t * mu_next)) as f32;
        let nadam_g = ((1.0 - mu_t) / (1.0 - product_t)) as f32;
        let step = match variant {
            AdamVariant::Adamax => (lr / bias_1) as f32,
            AdamVariant::Nadam => lr as f32,
            _ => (lr * bias_2.sqrt() / bias_1) as f32,
        };
        let inv_bias_2 = (1.0 / bias_2) as f32;
        let decay = match variant {
            AdamVariant::AdamW { weight_decay } => self.learning_rate * weight_decay,
            _ => 0.0,
        };
        let buffers = self.slots.get(slot, value.len());
        let (c1, c2) = (1.0 - b1, 1.0 - b2);
        zip_pieces(value, grad, buffers, &|value, grad, buffers| {
            let (moments, rest) = buffers.split_at_mut(1);
            let (second, hat) = rest.split_at_mut(1);
            let (m, s) = (&mut moments[0], &mut second[0]);
            let params = value
                .iter_mut()
                .zip(grad)
                .zip(m.iter_mut().zip(s.iter_mut()));
            // One loop per variant, each a single pass the compiler can vectorize.
            match (variant, hat.first_mut()) {
                (AdamVariant::Adamax, _) => {
                    for ((p, &g), (m, u)) in params {
                        *m += c1 * (g - *m);
                        *u = (b2 * *u).max(g.abs());
                        *p -= step * *m / (*u + eps);
                    }
                }
                (AdamVariant::Nadam, _) => {
                    for ((p, &g), (m, v)) in params {
                        *m += c1 * (g - *m);
                        *v += c2 * (g * g - *v);
                        let m_hat = nadam_m * *m + nadam_g * g;
                        *p -= step * m_hat / ((*v * inv_bias_2).sqrt() + eps);
                    }
                }
                (_, Some(v_max)) => {
                    for (((p, &g), (m, v)), h) in params.zip(v_max.iter_mut()) {
                        *p -= decay * *p;
                        *m += c1 * (g - *m);
                        *v += c2 * (g * g - *v);
                        *h = h.max(*v);
                        *p -= step * *m / (h.sqrt() + eps);
                    }
                }
                (_, None) => {
                    for ((p, &g), (m, v)) in params {
                        *p -= decay * *p;
                        *m += c1 * (g - *m);
                        *v += c2 * (g * g - *v);
                        *p -= step * *m / (v.sqrt() + eps);
                    }
                }
            }
        });
    }

    fn finish_step(&mut self) {
        self.iterations += 1;
        self.u_product *= self.nadam_mu(self.iterations as f64);
    }

    fn iterations(&self) -> u64 {
        self.iterations
    }

    fn spec(&self) -> OptimizerSpec {
        let (learning_rate, beta_1, beta_2, epsilon) =
            (self.learning_rate, self.beta_1, self.beta_2, self.epsilon);
        match self.variant {
            AdamVariant::Adam => OptimizerSpec::Adam(AdamSpec {
                learning_rate,
                beta_1,
                beta_2,
                epsilon,
                amsgrad: self.amsgrad,
                ..AdamSpec::default()
            }),
            AdamVariant::AdamW { weight_decay } => OptimizerSpec::AdamW(AdamWSpec {
                learning_rate,
                beta_1,
                beta_2,
                epsilon,
                amsgrad: self.amsgrad,
                weight_decay,
                ..AdamWSpec::default()
            }),
            AdamVariant::Adamax => OptimizerSpec::Adamax(AdamaxSpec {
                learning_rate,
                beta_1,
                beta_2,
                epsilon,
                ..AdamaxSpec::default()
            }),
            AdamVariant::Nadam => OptimizerSpec::Nadam(NadamSpec {
                learning_rate,
                beta_1,
                beta_2,
                epsilon,
                momentum_decay: self.momentum_decay as f32,
                ..NadamSpec::default()
            }),
        }
    }

    fn state(&self) -> OptimizerState {
        let mut state = OptimizerState {
            iterations: self.iterations,
            scalars: vec![("u_product".into(), self.u_product)],
            buffers: Vec::new(),
        };
        self.slots.export(&mut state.buffers);
        state
    }

    fn load_state(&mut self, state: &OptimizerState) -> Result<()> {
        self.iterations = state.iterations;
        self.u_product = state
            .scalars
            .iter()
            .find(|(k, _)| k == "u_product")
            .map(|s| s.1)
            .unwrap_or(1.0);
        self.slots.import(&state.buffers)
    }
}
