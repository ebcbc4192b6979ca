//! Open metrics: a metric defined in user code, registered under a name, then used as the
//! built-in ones are (`compile`, `metrics = ["my_metric"]` in a spec, history columns with
//! their `val_` twins). A custom metric is a (weighted) mean over samples of a per-sample value,
//! as Keras' `MeanMetricWrapper`: m = Σ_i w_i·v(p_i, t_i) / Σ_i w_i.
//!
//! ```
//! use deeptrain::metrics::{register_metric, CustomMetric};
//!
//! /// The largest absolute error over a sample's outputs, averaged over samples.
//! struct MaxError;
//! impl CustomMetric for MaxError {
//!     fn sample(&self, p: &[f32], t: &[f32]) -> f64 {
//!         p.iter().zip(t).map(|(p, t)| (p - t).abs() as f64).fold(0.0, f64::max)
//!     }
//! }
//! let metric = register_metric("max_error", Box::new(MaxError))?;
//! assert_eq!(metric.name(), "max_error");
//! # Ok::<(), deeptrain::Error>(())
//! ```

use std::sync::{OnceLock, RwLock};

use super::Metric;
use crate::{Error, Result};

/// A per-sample metric value.
pub trait CustomMetric: Send + Sync {
    /// The value for one sample: `y_pred` its output row; `target` its target row (one value,
    /// the class index, when the loss takes class indices).
    fn sample(&self, y_pred: &[f32], target: &[f32]) -> f64;
}

/// A registered metric, by its index in the registry ([`Metric::Custom`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CustomMetricId(u16);

struct Entry {
    name: &'static str,
    metric: Box<dyn CustomMetric>,
}

fn registry() -> &'static RwLock<Vec<Entry>> {
    static REGISTRY: OnceLock<RwLock<Vec<Entry>>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

/// Registers `metric` under `name` and returns the [`Metric`] that names it. Registering a
/// name again replaces the function; a built-in metric's name is refused.
pub fn register_metric(name: &str, metric: Box<dyn CustomMetric>) -> Result<Metric> {
    if name.is_empty() || super::builtin_metric(name).is_some() || name.starts_with("val_") {
        return Err(Error::Config(format!(
            "cannot register a metric named `{name}`: the name is taken by a built-in metric or starts with `val_`"
        )));
    }
    let mut entries = registry()
        .write()
        .map_err(|_| Error::Config("the metric registry is poisoned".into()))?;
    if let Some(i) = entries.iter().position(|e| e.name == name) {
        entries[i].metric = metric;
        return Ok(Metric::Custom(CustomMetricId(i as u16)));
    }
    let id = u16::try_from(entries.len())
        .map_err(|_| Error::Config("too many custom metrics registered".into()))?;
    // Names live as long as the program: a registry entry is never removed.
    let name: &'static str = Box::leak(name.to_string().into_boxed_str());
    entries.push(Entry { name, metric });
    Ok(Metric::Custom(CustomMetricId(id)))
}

/// The registered metric called `name`.
pub(crate) fn find(name: &str) -> Option<Metric> {
    let entries = registry().read().ok()?;
    let i = entries.iter().position(|e| e.name == name)?;
    Some(Metric::Custom(CustomMetricId(i as u16)))
}

/// The name a custom metric was registered under.
pub(crate) fn name(id: CustomMetricId) -> &'static str {
    registry()
        .read()
        .ok()
        .and_then(|e| e.get(id.0 as usize).map(|e| e.name))
        .unwrap_or("custom_metric")
}

/// The value of sample (`y_pred`, `target`).
pub(crate) fn sample(id: CustomMetricId, y_pred: &[f32], target: &[f32]) -> f64 {
    registry()
        .read()
        .ok()
        .and_then(|e| {
            e.get(id.0 as usize)
                .map(|e| e.metric.sample(y_pred, target))
        })
        .unwrap_or(f64::NAN)
}
