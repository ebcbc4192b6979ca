//! Open losses: a loss defined in user code, registered under a name, then used as the
//! built-in ones are (`compile`, `loss = "my_loss"` in a spec, save/load, checkpoints).
//!
//! A custom loss is a mean over samples of a per-sample function of the prediction row and the
//! target row, with its gradient (Keras' `LossFunctionWrapper` with `sum_over_batch_size`):
//! L = (1/B) Σ_i w_i·ℓ(p_i, t_i).
//!
//! ```
//! use deeptrain::losses::{register_loss, CustomLoss};
//!
//! /// ℓ(p, t) = Σ_k (p_k - t_k)⁴ / K, a loss that punishes large errors hard.
//! struct Quartic;
//! impl CustomLoss for Quartic {
//!     fn sample(&self, p: &[f32], t: &[f32], grad: &mut [f32]) -> f64 {
//!         let k = p.len() as f32;
//!         let mut total = 0.0;
//!         for ((g, &p), &t) in grad.iter_mut().zip(p).zip(t) {
//!             let d = p - t;
//!             total += (d.powi(4) / k) as f64;
//!             *g = 4.0 * d.powi(3) / k;
//!         }
//!         total
//!     }
//! }
//! let loss = register_loss("quartic", Box::new(Quartic))?;
//! assert_eq!(loss.name(), "quartic");
//! # Ok::<(), deeptrain::Error>(())
//! ```

use std::sync::{OnceLock, RwLock};

use crate::losses::Loss;
use crate::{Error, Result};

/// A per-sample loss ℓ(p, t) and its gradient.
pub trait CustomLoss: Send + Sync {
    /// ℓ for one sample: `y_pred` its output row, `target` its target row (same length);
    /// writes ∂ℓ/∂p into `grad` (same length, to overwrite).
    fn sample(&self, y_pred: &[f32], target: &[f32], grad: &mut [f32]) -> f64;
}

/// A registered loss, by its index in the registry ([`Loss::Custom`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CustomLossId(u16);

struct Entry {
    name: &'static str,
    loss: Box<dyn CustomLoss>,
}

fn registry() -> &'static RwLock<Vec<Entry>> {
    static REGISTRY: OnceLock<RwLock<Vec<Entry>>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

/// Registers `loss` under `name` and returns the [`Loss`] that names it. Registering a name
/// again replaces the function (the same `Loss` value); a built-in loss's name is refused.
pub fn register_loss(name: &str, loss: Box<dyn CustomLoss>) -> Result<Loss> {
    if name.is_empty() || crate::losses::builtin_loss(name).is_some() {
        return Err(Error::Config(format!(
            "cannot register a loss named `{name}`: the name is taken by a built-in loss"
        )));
    }
    let mut entries = registry()
        .write()
        .map_err(|_| Error::Config("the loss registry is poisoned".into()))?;
    if let Some(i) = entries.iter().position(|e| e.name == name) {
        entries[i].loss = loss;
        return Ok(Loss::Custom(CustomLossId(i as u16)));
    }
    let id = u16::try_from(entries.len())
        .map_err(|_| Error::Config("too many custom losses registered".into()))?;
    // Names live as long as the program: a registry entry is never removed.
    let name: &'static str = Box::leak(name.to_string().into_boxed_str());
    entries.push(Entry { name, loss });
    Ok(Loss::Custom(CustomLossId(id)))
}

/// The registered loss called `name`.
pub(crate) fn find(name: &str) -> Option<Loss> {
    let entries = registry().read().ok()?;
    let i = entries.iter().position(|e| e.name == name)?;
    Some(Loss::Custom(CustomLossId(i as u16)))
}

/// The name a custom loss was registered under.
pub(crate) fn name(id: CustomLossId) -> &'static str {
    registry()
        .read()
        .ok()
        .and_then(|e| e.get(id.0 as usize).map(|e| e.name))
        .unwrap_or("custom_loss")
}

/// L = (1/B) Σ_i w_i·ℓ(p_i, t_i) over rows of width `k`; `grad` (when given, the size of
/// `y_pred`) gets w_i·∂ℓ/∂p_i / B.
pub(crate) fn compute(
    id: CustomLossId,
    y_pred: &[f32],
    target: &[f32],
    k: usize,
    weights: Option<&[f32]>,
    mut grad: Option<&mut [f32]>,
) -> f64 {
    let Ok(entries) = registry().read() else {
        return f64::NAN;
    };
    let loss = &entries[id.0 as usize].loss;
    let batch = y_pred.len() / k.max(1);
    let inv_batch = 1.0 / batch.max(1) as f32;
    let mut scratch = [0.0f32; 64];
    let mut total = 0.0;
    for i in 0..batch {
        let w = weights.map_or(1.0, |w| w[i]);
        let rows = i * k..(i + 1) * k;
        let (p, t) = (&y_pred[rows.clone()], &target[rows.clone()]);
        let value = match grad.as_deref_mut() {
            Some(g) => {
                let g = &mut g[rows];
                let value = loss.sample(p, t, g);
                g.iter_mut().for_each(|v| *v *= w * inv_batch);
                value
            }
            // Without a gradient to keep, a small stack buffer (or a throwaway one) takes it.
            None if k <= scratch.len() => loss.sample(p, t, &mut scratch[..k]),
            None => loss.sample(p, t, &mut vec![0.0; k]),
        };
        total += value * w as f64;
    }
    total / batch.max(1) as f64
}
