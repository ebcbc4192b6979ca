//! The diagnostics' state in a checkpoint: every row so far and the open dead-unit windows, so
//! that a resumed run writes the same `diagnostics.csv` as one that was never interrupted.

use serde_json::{json, Value};

use super::observer::DeadWindow;
use super::LayerStats;
use crate::Result;

fn malformed(row: usize) -> crate::Error {
    crate::Error::Data(format!(
        "the checkpoint's diagnostics state is malformed (row {row}); resume without diagnostics (--diagnostics-every 0) or from another checkpoint"
    ))
}

/// A float as JSON: a number, or `"NaN"`, `"inf"`, `"-inf"` (exact: serde_json round-trips).
fn float(x: f64) -> Value {
    if x.is_finite() {
        json!(x)
    } else {
        Value::String(x.to_string())
    }
}

fn float_of(v: &Value) -> Option<f64> {
    v.as_f64().or_else(|| v.as_str()?.parse().ok())
}

/// Fields of a saved row.
const FIELDS: usize = 18;

/// A row as the JSON array of its fields, in [`super::Diagnostics::to_csv`]'s order (with
/// `has_kernel` after the activation).
fn saved_row(r: &LayerStats) -> Value {
    let opt = |x: Option<f64>| x.map_or(Value::Null, float);
    json!([
        r.step,
        r.epoch,
        r.layer,
        r.name,
        r.class,
        r.activation,
        r.has_kernel,
        float(r.act_mean),
        float(r.act_std),
        float(r.non_finite),
        opt(r.saturated),
        opt(r.dead),
        opt(r.grad_norm),
        opt(r.grad_mean),
        opt(r.grad_std),
        opt(r.weight_norm),
        opt(r.grad_zero),
        opt(r.update_ratio)
    ])
}

fn restored_row(v: &Value) -> Option<LayerStats> {
    let a = v.as_array().filter(|a| a.len() == FIELDS)?;
    let text = |i: usize| a[i].as_str().map(str::to_string);
    let opt = |i: usize| -> Option<Option<f64>> {
        if a[i].is_null() {
            Some(None)
        } else {
            float_of(&a[i]).map(Some)
        }
    };
    Some(LayerStats {
        step: a[0].as_u64()?,
        epoch: usize::try_from(a[1].as_u64()?).ok()?,
        layer: usize::try_from(a[2].as_u64()?).ok()?,
        name: text(3)?,
        class: text(4)?,
        activation: text(5)?,
        has_kernel: a[6].as_bool()?,
        act_mean: float_of(&a[7])?,
        act_std: float_of(&a[8])?,
        non_finite: float_of(&a[9])?,
        saturated: opt(10)?,
        dead: opt(11)?,
        grad_norm: opt(12)?,
        grad_mean: opt(13)?,
        grad_std: opt(14)?,
        weight_norm: opt(15)?,
        grad_zero: opt(16)?,
        update_ratio: opt(17)?,
        time_grad_norms: Vec::new(),
    })
}

/// A dead-unit window: `[alive as a string of 0 and 1, samples, open, last]`.
fn saved_window(w: &DeadWindow) -> Value {
    let alive: String = w.alive.iter().map(|&a| if a { '1' } else { '0' }).collect();
    json!([alive, w.samples, w.open, w.last.map_or(Value::Null, float)])
}

fn restored_window(v: &Value) -> Option<DeadWindow> {
    let a = v.as_array().filter(|a| a.len() == 4)?;
    Some(DeadWindow {
        alive: a[0].as_str()?.chars().map(|c| c == '1').collect(),
        samples: usize::try_from(a[1].as_u64()?).ok()?,
        open: a[2].as_bool()?,
        last: if a[3].is_null() {
            None
        } else {
            Some(float_of(&a[3])?)
        },
    })
}

/// The state as JSON; the recurrent layers' gradient norms through time apart, as
/// `[row index, [norms]]` pairs.
pub(super) fn save(rows: &[LayerStats], dead: &[DeadWindow]) -> Value {
    let through_time: Vec<Value> = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.time_grad_norms.is_empty())
        .map(|(i, r)| {
            json!([
                i,
                r.time_grad_norms
                    .iter()
                    .map(|&g| float(g))
                    .collect::<Vec<_>>()
            ])
        })
        .collect();
    json!({
        "rows": rows.iter().map(saved_row).collect::<Vec<_>>(),
        "dead_windows": dead.iter().map(saved_window).collect::<Vec<_>>(),
        "time_grad_norms": through_time,
    })
}

/// Puts the saved gradient norms through time back on their rows.
fn restore_time_norms(state: &Value, rows: &mut [LayerStats]) -> Option<()> {
    let Some(saved) = state.get("time_grad_norms") else {
        return Some(());
    };
    for pair in saved.as_array()? {
        let (index, norms) = (pair.get(0)?.as_u64()?, pair.get(1)?.as_array()?);
        let row = rows.get_mut(usize::try_from(index).ok()?)?;
        row.time_grad_norms = norms.iter().map(float_of).collect::<Option<_>>()?;
    }
    Some(())
}

/// The rows and windows of a [`save`]d state.
pub(super) fn restore(state: &Value) -> Result<(Vec<LayerStats>, Vec<DeadWindow>)> {
    let rows = state
        .get("rows")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed(0))?
        .iter()
        .enumerate()
        .map(|(i, r)| restored_row(r).ok_or_else(|| malformed(i + 1)))
        .collect::<Result<Vec<_>>>()?;
    let mut rows = rows;
    restore_time_norms(state, &mut rows).ok_or_else(|| malformed(0))?;
    let windows = match state.get("dead_windows") {
        None => Vec::new(),
        Some(w) => w
            .as_array()
            .ok_or_else(|| malformed(0))?
            .iter()
            .map(|w| restored_window(w).ok_or_else(|| malformed(0)))
            .collect::<Result<Vec<_>>>()?,
    };
    Ok((rows, windows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_windows_round_trip() {
        let row = LayerStats {
            step: 3,
            epoch: 1,
            layer: 2,
            name: "d".into(),
            class: "Dense".into(),
            activation: "relu".into(),
            has_kernel: true,
            act_mean: f64::NAN,
            non_finite: 0.25,
            dead: Some(0.5),
            grad_norm: Some(f64::INFINITY),
            update_ratio: Some(1e-3),
            time_grad_norms: vec![0.5, f64::INFINITY, 2.0],
            ..LayerStats::default()
        };
        let window = DeadWindow {
            alive: vec![true, false],
            samples: 40,
            open: true,
            last: Some(0.5),
        };
        let (rows, windows) = restore(&save(
            std::slice::from_ref(&row),
            std::slice::from_ref(&window),
        ))
        .unwrap();
        assert_eq!(windows, [window]);
        assert!(rows[0].act_mean.is_nan());
        let (mut a, mut b) = (rows[0].clone(), row);
        a.act_mean = 0.0;
        b.act_mean = 0.0;
        assert_eq!(a, b);
        assert!(restore(&json!({"rows": [[1]]})).is_err());
    }
}
