//! The `[[layers]]` table of a spec: `repeat = N` copies of an entry, `type = "block"` groups
//! (with `residual = true`, y = x + F(x) per copy), each entry read through the one registry of
//! layer types ([`LayerSpec::from_table`]); and the line an error inside the table points at.

use serde::Deserialize;

use crate::layers::LayerSpec;
use crate::limits::MAX_REPEAT;

/// `[[layers]]` entries, each expanded `repeat` times.
pub(super) fn deserialize_layers<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<LayerSpec>, D::Error> {
    use serde::de::Error as _;
    let entries: Vec<toml::Table> = Vec::deserialize(d)?;
    expand_layers(entries).map_err(D::Error::custom)
}

/// Expands layer tables: `repeat = N` repeats an entry; `type = "block"` with `layers = [...]`
/// (and its own `repeat`) repeats a group, such as Dense + BatchNormalization; a block with
/// `residual = true` adds each copy's input to its output (see [`add_residual_copy`]).
fn expand_layers(entries: Vec<toml::Table>) -> std::result::Result<Vec<LayerSpec>, String> {
    expand_layer_entries(entries, true)
}

/// [`expand_layers`] for the entries of the spec (`top`) or of a block.
fn expand_layer_entries(
    entries: Vec<toml::Table>,
    top: bool,
) -> std::result::Result<Vec<LayerSpec>, String> {
    let mut layers: Vec<LayerSpec> = Vec::new();
    for mut entry in entries {
        let repeat = match entry.remove("repeat") {
            None => 1,
            Some(toml::Value::Integer(n)) if (1..=MAX_REPEAT).contains(&n) => n as usize,
            Some(v) => {
                return Err(format!(
                    "`repeat` must be an integer from 1 to {MAX_REPEAT}, got {v}"
                ))
            }
        };
        let mut residual = false;
        let group = if entry.get("type").and_then(|t| t.as_str()) == Some("block") {
            entry.remove("type");
            residual = match entry.remove("residual") {
                None => false,
                Some(toml::Value::Boolean(b)) => b,
                Some(v) => return Err(format!("`residual` must be true or false, got {v}")),
            };
            if residual && !top {
                return Err("a residual block cannot sit inside another block".into());
            }
            let inner = match entry.remove("layers") {
                Some(toml::Value::Array(items)) => items
                    .into_iter()
                    .map(|v| match v {
                        toml::Value::Table(t) => Ok(t),
                        other => Err(format!("a block's `layers` holds tables, not {other}")),
                    })
                    .collect::<std::result::Result<Vec<_>, _>>()?,
                _ => return Err("a block needs `layers = [ { type = ... }, ... ]`".into()),
            };
            if let Some(key) = entry.keys().next() {
                return Err(format!(
                    "unknown field `{key}` in a block (it takes type, repeat, residual and layers)"
                ));
            }
            expand_layer_entries(inner, false)?
        } else {
            vec![crate::layers::layer_spec_from_table(entry).map_err(|e| e.detail())?]
        };
        if repeat > 1 {
            if let Some(name) = group.iter().find_map(|l| l.name()) {
                return Err(format!(
                    "layer `{name}` has a name and is repeated: names must be unique, drop one"
                ));
            }
            if group.iter().any(|l| l.inputs().is_some()) {
                return Err(
                    "a repeated layer cannot name its `inputs`: each copy reads the one before"
                        .into(),
                );
            }
        }
        // Counted before expanding: nested repeats would multiply first.
        let total = (group.len() + usize::from(residual))
            .checked_mul(repeat)
            .and_then(|n| n.checked_add(layers.len()));
        if total.is_none_or(|n| n > MAX_REPEAT as usize) {
            return Err(format!(
                "more than {MAX_REPEAT} layers once `repeat` is expanded"
            ));
        }
        for _ in 0..repeat {
            if residual {
                add_residual_copy(&mut layers, &group)?;
            } else {
                layers.extend(group.iter().cloned());
            }
        }
    }
    Ok(layers)
}

/// One copy of a residual block (`residual = true`): its layers, then `residual_K`, an `add` of
/// the block's input and its last layer, y = x + F(x) (He et al. 2016, "Deep Residual
/// Learning"). The block's input is the layer before it, which must have a name (or the model
/// input `input`, for a block that comes first); its last layer is named `residual_K_branch`
/// unless it has a name.
fn add_residual_copy(
    layers: &mut Vec<LayerSpec>,
    group: &[LayerSpec],
) -> std::result::Result<(), String> {
    let Some(last) = group.last() else {
        return Err("a residual block needs at least one layer".into());
    };
    let before = match layers.last() {
        None => crate::model::graph::DEFAULT_INPUT.to_string(),
        Some(l) => match l.name() {
            Some(name) => name.to_string(),
            None => return Err(
                "a residual block adds its input to its output: give the layer before it a `name`"
                    .into(),
            ),
        },
    };
    let k = 1 + layers
        .iter()
        .filter(|l| l.name().is_some_and(is_residual_add_name))
        .count();
    let mut last = last.clone();
    let branch = match last.name() {
        Some(name) => name.to_string(),
        None => {
            let name = format!("residual_{k}_branch");
            last.set_name(Some(name.clone()));
            name
        }
    };
    layers.extend(group[..group.len() - 1].iter().cloned());
    layers.push(last);
    layers.push(LayerSpec::add(&[&before, &branch]).named(&format!("residual_{k}")));
    Ok(())
}

/// `residual_K`, the name [`add_residual_copy`] gives its `add` layers.
fn is_residual_add_name(name: &str) -> bool {
    name.strip_prefix("residual_")
        .is_some_and(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()))
}

/// The line of an unknown key named in `message`, searching from byte `start` (serde reports
/// errors inside a tagged table, such as a layer, at the table's start).
pub(super) fn line_of_key(text: &str, start: usize, message: &str) -> Option<usize> {
    let key = message.strip_prefix("unknown field `")?.split('`').next()?;
    let first_line = text[..start].matches('\n').count() + 1;
    text.lines()
        .enumerate()
        .skip(first_line.saturating_sub(1))
        .find_map(|(i, l)| {
            let rest = l.trim_start().strip_prefix(key)?;
            rest.trim_start().starts_with('=').then_some(i + 1)
        })
}

/// For an error inside `[[layers]]` that names a key (`unknown field `k``, or "`k`: ..." as the
/// registry writes it), the line of that key in the entry that fails: each top-level entry is
/// read again on its own, and the key searched from where that entry starts.
pub(super) fn layer_error_line(text: &str, message: &str) -> Option<usize> {
    #[derive(Deserialize)]
    struct Layers {
        #[serde(default)]
        layers: Vec<toml::Spanned<toml::Table>>,
    }
    let key = if message.starts_with("unknown variant `") {
        "type"
    } else {
        message
            .strip_prefix("unknown field `")
            .or_else(|| message.strip_prefix('`'))?
            .split(['`', '.'])
            .next()?
    };
    let doc: Layers = toml::from_str(text).ok()?;
    let entry = doc.layers.iter().find(|entry| {
        expand_layers(vec![entry.get_ref().clone()]).is_err_and(|e| crate::one_line(&e) == message)
    })?;
    let start = entry.span().start.min(text.len());
    let first_line = text[..start].matches('\n').count();
    text.lines()
        .enumerate()
        .skip(first_line)
        .find_map(|(i, line)| assigns(line, key).then_some(i + 1))
}

/// Whether `line` assigns `key` (`key = ...`, also inside an inline table).
fn assigns(line: &str, key: &str) -> bool {
    line.match_indices(key).any(|(at, _)| {
        let before = line[..at].trim_end();
        let starts = before.is_empty() || before.ends_with(['{', ',']);
        starts && line[at + key.len()..].trim_start().starts_with('=')
    })
}
