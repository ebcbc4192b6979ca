//! The chapter's remedies as edits of a spec's TOML table (Géron, *Hands-On Machine Learning*,
//! ch. 10–11): initialization by activation, non-saturating activations, batch normalization,
//! gradient clipping, another learning rate or optimizer, input scaling, an output activation
//! that matches the loss.
//!
//! A remedy edits the `[[layers]]`, `[optimizer]`, `[data]` or `[compile]` tables of the spec
//! as written, never the built model, so that the repaired spec reads like the original. It
//! returns the changes it made, or `None` when it does not apply (nothing to change).

use toml::{Table, Value};

/// One remedy: its name in the doctor's table, why the chapter recommends it, and the edit.
#[derive(Clone, Copy, Debug)]
pub struct Remedy {
    /// Short name (`he_init`, `leaky_relu`, ...).
    pub name: &'static str,
    /// The chapter's reason, for the repaired spec's comments.
    pub why: &'static str,
    apply: fn(&mut Table, &Context) -> Option<Vec<String>>,
}

impl Remedy {
    /// Applies the remedy to `spec`; the changes made, or `None` (and `spec` unchanged) when it
    /// does not apply.
    pub fn apply(&self, spec: &mut Table, context: &Context) -> Option<Vec<String>> {
        let mut edited = spec.clone();
        let changes = (self.apply)(&mut edited, context)?;
        if changes.is_empty() {
            return None;
        }
        *spec = edited;
        Some(changes)
    }
}

/// What some remedies need to know beyond the spec: the labels and a range-test rate.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// Label columns per sample.
    pub label_width: usize,
    /// Whether every label is 0 or 1.
    pub labels_binary: bool,
    /// Whether every label row sums to 1 (one-hot), for several columns.
    pub labels_one_hot: bool,
    /// Whether the labels are class indices (one integer column).
    pub labels_integer: bool,
    /// The learning-rate range test's suggestion, when it was run.
    pub suggested_lr: Option<f64>,
}

/// Every remedy, by name.
pub const REMEDIES: &[Remedy] = &[
    Remedy {
        name: "he_init",
        why: "initialization by activation (He for the ReLU family, LeCun for SELU, Glorot otherwise) keeps the variance of activations and gradients about equal across layers (Glorot & Bengio 2010; He et al. 2015)",
        apply: init_auto,
    },
    Remedy {
        name: "leaky_relu",
        why: "leaky ReLU (with He initialization) does not saturate for positive inputs and never dies, unlike sigmoid, tanh, exponential or ReLU units",
        apply: |t, _| hidden_activation(t, "leaky_relu", "auto"),
    },
    Remedy {
        name: "elu",
        why: "ELU (with He initialization) does not saturate for positive inputs, has no dead units and a mean output near 0 (Clevert et al. 2015)",
        apply: |t, _| hidden_activation(t, "elu", "auto"),
    },
    Remedy {
        name: "selu",
        why: "SELU with LeCun normal initialization and standardized inputs self-normalizes a stack of Dense layers (Klambauer et al. 2017)",
        apply: selu,
    },
    Remedy {
        name: "batch_norm",
        why: "batch normalization after each hidden layer re-centres and re-scales its outputs, against vanishing and exploding gradients (Ioffe & Szegedy 2015)",
        apply: batch_norm,
    },
    Remedy {
        name: "clip",
        why: "gradient clipping (global norm 1) bounds every update, against exploding gradients (Pascanu et al. 2013)",
        apply: clip,
    },
    Remedy {
        name: "lr_range_test",
        why: "the learning-rate range test's rate: a tenth of the rate where the loss starts to climb (Smith 2017)",
        apply: lr_range,
    },
    Remedy {
        name: "lr_down",
        why: "a learning rate 10 times lower, against overshooting (divergence, oscillation, dying ReLUs)",
        apply: |t, _| scale_lr(t, 0.1),
    },
    Remedy {
        name: "lr_up",
        why: "a learning rate 10 times higher, against a loss that falls too slowly",
        apply: |t, _| scale_lr(t, 10.0),
    },
    Remedy {
        name: "adam",
        why: "Adam (rate 0.001) adapts each parameter's step to its gradient's scale, so small or uneven gradients still train",
        apply: |t, _| optimizer(t, "adam"),
    },
    Remedy {
        name: "nadam",
        why: "Nadam (rate 0.001): Adam with Nesterov momentum",
        apply: |t, _| optimizer(t, "nadam"),
    },
    Remedy {
        name: "standard_scaling",
        why: "standardized inputs (mean 0, standard deviation 1 per feature, from the training part) keep the first layer out of saturation and its gradients balanced",
        apply: standard_scaling,
    },
    Remedy {
        name: "output_for_loss",
        why: "an output activation and loss that match the targets: softmax with categorical cross-entropy for exclusive classes, sigmoid with binary cross-entropy for 0/1 targets, a linear output for regression",
        apply: output_for_loss,
    },
];

/// The remedy called `name`.
pub fn remedy(name: &str) -> Option<&'static Remedy> {
    REMEDIES.iter().find(|r| r.name == name)
}

/// The remedies the chapter gives for problem `id` (a `diagnose` verdict or warning id).
pub fn for_problem(id: &str) -> &'static [&'static str] {
    match id {
        "vanishing_gradients" | "saturation" => &[
            "he_init",
            "leaky_relu",
            "elu",
            "selu",
            "batch_norm",
            "adam",
            "lr_range_test",
        ],
        "exploding_gradients" | "divergence" | "learning_rate_too_high" => &[
            "clip",
            "lr_down",
            "lr_range_test",
            "he_init",
            "leaky_relu",
            "batch_norm",
            "adam",
        ],
        "dead_relus" => &[
            "leaky_relu",
            "elu",
            "he_init",
            "lr_down",
            "batch_norm",
            "adam",
        ],
        "oscillating_loss" => &["lr_down", "lr_range_test", "batch_norm", "adam"],
        "slow_convergence" | "learning_rate_too_low" => &[
            "lr_range_test",
            "lr_up",
            "adam",
            "nadam",
            "he_init",
            "batch_norm",
            "standard_scaling",
        ],
        "output_loss_mismatch" | "categorical_crossentropy_normalized" => &["output_for_loss"],
        "unscaled_inputs" => &["standard_scaling"],
        id if id.starts_with("selu") => &["selu", "standard_scaling"],
        _ => &[],
    }
}

/// The layer tables of `[[layers]]` (top level; a `block`'s own layers are inside it).
fn layers(t: &mut Table) -> Option<&mut Vec<Value>> {
    t.get_mut("layers")?.as_array_mut()
}

fn kind(layer: &Table) -> String {
    layer
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_ascii_lowercase()
        .replace('_', "")
}

/// A layer with weights of its own: Dense or a convolution.
fn weighted(layer: &Table) -> bool {
    matches!(kind(layer).as_str(), "dense" | "conv2d" | "conv1d")
}

/// The index of the output layer: the last weighted one.
fn output_index(list: &[Value]) -> Option<usize> {
    list.iter()
        .rposition(|l| l.as_table().is_some_and(weighted))
}

/// Where the output's activation is set: the output layer's `activation`, or an activation
/// layer after it.
fn output_activation_slot(list: &mut [Value]) -> Option<&mut Table> {
    let out = output_index(list)?;
    let after = (out + 1..list.len()).rev().find(|&i| {
        list[i]
            .as_table()
            .is_some_and(|l| kind(l) == "activation" || kind(l) == "softmax")
    });
    list[after.unwrap_or(out)].as_table_mut()
}

fn output_activation(list: &mut [Value]) -> String {
    output_activation_slot(list)
        .map(|l| {
            if kind(l) == "softmax" {
                "softmax".to_string()
            } else {
                l.get("activation")
                    .and_then(Value::as_str)
                    .unwrap_or("linear")
                    .to_string()
            }
        })
        .unwrap_or_default()
}

fn set_output_activation(list: &mut [Value], activation: &str) -> Option<String> {
    let slot = output_activation_slot(list)?;
    if kind(slot) == "softmax" {
        slot.insert("type".into(), Value::String("activation".into()));
    }
    if activation == "linear" {
        slot.remove("activation")?;
        if kind(slot) == "activation" {
            slot.insert("activation".into(), Value::String("linear".into()));
        }
    } else {
        slot.insert("activation".into(), Value::String(activation.into()));
    }
    Some(format!("output activation -> {activation}"))
}

fn output_units(list: &[Value]) -> Option<i64> {
    list[output_index(list)?]
        .as_table()?
        .get("units")
        .and_then(Value::as_integer)
}

/// The hidden layers' activations that a non-saturating one replaces.
fn replaceable(activation: &str) -> bool {
    !matches!(
        activation,
        "linear" | "leaky_relu" | "elu" | "selu" | "gelu" | "swish" | "silu" | "mish"
    ) && !activation.starts_with("leaky_relu(")
        && !activation.starts_with("elu(")
}

/// Replaces every hidden activation (before the output layer) that saturates or dies by
/// `activation`, and sets the hidden weighted layers' initializer to `init`.
fn hidden_activation(t: &mut Table, activation: &str, init: &str) -> Option<Vec<String>> {
    let list = layers(t)?;
    let out = output_index(list)?;
    let mut replaced = 0;
    let mut initialized = 0;
    for layer in list[..out].iter_mut().filter_map(Value::as_table_mut) {
        // Whatever the layer type, its `activation` key is the one it applies.
        if let Some(a) = layer.get("activation").and_then(Value::as_str) {
            if a != activation && replaceable(a) {
                layer.insert("activation".into(), Value::String(activation.into()));
                replaced += 1;
            }
        }
        if weighted(layer) && layer.get("kernel_initializer").and_then(Value::as_str) != Some(init)
        {
            layer.insert("kernel_initializer".into(), Value::String(init.into()));
            initialized += 1;
        }
    }
    if replaced == 0 {
        return None;
    }
    let mut changes = vec![format!("{replaced} hidden activation(s) -> {activation}")];
    if initialized > 0 {
        changes.push(format!(
            "kernel_initializer = \"{init}\" on {initialized} hidden layer(s)"
        ));
    }
    Some(changes)
}

fn init_auto(t: &mut Table, _: &Context) -> Option<Vec<String>> {
    let list = layers(t)?;
    let mut n = 0;
    let mut biases = 0;
    for layer in list.iter_mut().filter_map(Value::as_table_mut) {
        if !weighted(layer) {
            continue;
        }
        if layer.get("kernel_initializer").and_then(Value::as_str) != Some("auto") {
            layer.insert("kernel_initializer".into(), Value::String("auto".into()));
            n += 1;
        }
        // A random bias (a table such as { name = "random_normal", stddev = 1 }) goes back to
        // the default zeros.
        if layer.get("bias_initializer").is_some_and(Value::is_table) {
            layer.remove("bias_initializer");
            biases += 1;
        }
    }
    let mut changes = Vec::new();
    if n > 0 {
        changes.push(format!("kernel_initializer = \"auto\" on {n} layer(s)"));
    }
    if biases > 0 {
        changes.push(format!(
            "random bias initializers -> zeros on {biases} layer(s)"
        ));
    }
    Some(changes)
}

fn selu(t: &mut Table, c: &Context) -> Option<Vec<String>> {
    let mut changes = hidden_activation(t, "selu", "lecun_normal")?;
    if let Some(more) = standard_scaling(t, c) {
        changes.extend(more);
    }
    Some(changes)
}

fn batch_norm(t: &mut Table, _: &Context) -> Option<Vec<String>> {
    let list = layers(t)?;
    let out = output_index(list)?;
    let mut at = Vec::new();
    for i in 0..out {
        let Some(layer) = list[i].as_table() else {
            continue;
        };
        if !weighted(layer) {
            continue;
        }
        // After the layer's own activation, or before a separate activation layer.
        let next_is_bn = list
            .get(i + 1)
            .and_then(Value::as_table)
            .is_some_and(|l| kind(l) == "batchnormalization");
        if !next_is_bn {
            at.push(i + 1);
        }
    }
    for &i in at.iter().rev() {
        let mut bn = Table::new();
        bn.insert("type".into(), Value::String("batch_normalization".into()));
        list.insert(i, Value::Table(bn));
    }
    Some(if at.is_empty() {
        Vec::new()
    } else {
        vec![format!(
            "batch normalization after {} hidden layer(s)",
            at.len()
        )]
    })
}

fn optimizer_table(t: &mut Table) -> &mut Table {
    let entry = t
        .entry("optimizer")
        .or_insert_with(|| Value::Table(Table::new()));
    if !entry.is_table() {
        *entry = Value::Table(Table::new());
    }
    entry.as_table_mut().expect("made a table above")
}

fn clip(t: &mut Table, _: &Context) -> Option<Vec<String>> {
    let o = optimizer_table(t);
    if o.contains_key("global_clipnorm")
        || o.contains_key("clipnorm")
        || o.contains_key("clipvalue")
    {
        return None;
    }
    o.insert("global_clipnorm".into(), Value::Float(1.0));
    Some(vec!["optimizer.global_clipnorm = 1.0".into()])
}

/// The spec's learning rate (the optimizer's Keras default when it sets none).
fn learning_rate(o: &Table) -> f64 {
    match o.get("learning_rate") {
        Some(Value::Float(x)) => *x,
        Some(Value::Integer(x)) => *x as f64,
        _ => match o.get("name").and_then(Value::as_str).unwrap_or("sgd") {
            "sgd" | "SGD" | "adagrad" | "Adagrad" => 0.01,
            _ => 0.001,
        },
    }
}

fn set_lr(t: &mut Table, lr: f64) -> Option<Vec<String>> {
    let o = optimizer_table(t);
    let old = learning_rate(o);
    if !(lr.is_finite() && lr > 0.0) || (lr / old - 1.0).abs() < 1e-6 {
        return None;
    }
    let lr = round_sig(lr);
    o.insert("learning_rate".into(), Value::Float(lr));
    Some(vec![format!("optimizer.learning_rate {old} -> {lr}")])
}

/// Three significant digits, for a readable spec.
fn round_sig(x: f64) -> f64 {
    let digits = 2 - x.abs().log10().floor() as i32;
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

fn scale_lr(t: &mut Table, factor: f64) -> Option<Vec<String>> {
    let lr = learning_rate(optimizer_table(t)) * factor;
    set_lr(t, lr)
}

fn lr_range(t: &mut Table, c: &Context) -> Option<Vec<String>> {
    let suggested = c.suggested_lr?;
    let old = learning_rate(optimizer_table(t));
    // Within a factor of 2 of the current rate is no change worth a trial.
    if (suggested / old).max(old / suggested) < 2.0 {
        return None;
    }
    set_lr(t, suggested)
}

fn optimizer(t: &mut Table, name: &str) -> Option<Vec<String>> {
    let o = optimizer_table(t);
    let old = o
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("sgd")
        .to_ascii_lowercase();
    if old == name {
        return None;
    }
    let clip: Vec<(String, Value)> = ["clipnorm", "clipvalue", "global_clipnorm"]
        .iter()
        .filter_map(|k| o.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect();
    o.clear();
    o.insert("name".into(), Value::String(name.into()));
    o.insert("learning_rate".into(), Value::Float(0.001));
    o.extend(clip);
    Some(vec![format!(
        "optimizer {old} -> {name}, learning rate 0.001"
    )])
}

fn standard_scaling(t: &mut Table, _: &Context) -> Option<Vec<String>> {
    let data = t.get_mut("data")?.as_table_mut()?;
    let old = data
        .get("scale")
        .and_then(Value::as_str)
        .unwrap_or("none")
        .to_string();
    if old == "standard" {
        return None;
    }
    data.insert("scale".into(), Value::String("standard".into()));
    Some(vec![format!("data.scale {old} -> standard")])
}

fn loss_name(t: &Table) -> String {
    t.get("compile")
        .and_then(Value::as_table)
        .and_then(|c| c.get("loss"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_ascii_lowercase()
}

fn set_loss(t: &mut Table, loss: &str) -> Option<String> {
    let compile = t.get_mut("compile")?.as_table_mut()?;
    compile.insert("loss".into(), Value::String(loss.into()));
    Some(format!("loss -> {loss}"))
}

/// Makes the output activation (and, where the targets say so, the loss) fit the targets.
fn output_for_loss(t: &mut Table, c: &Context) -> Option<Vec<String>> {
    let loss = loss_name(t);
    let list = layers(t)?;
    let units = output_units(list).unwrap_or(1);
    let current = output_activation(list);
    let categorical = matches!(
        loss.as_str(),
        "categorical_crossentropy"
            | "sparse_categorical_crossentropy"
            | "categoricalcrossentropy"
            | "sparsecategoricalcrossentropy"
    );
    let binary = matches!(loss.as_str(), "binary_crossentropy" | "binarycrossentropy");
    let mut changes = Vec::new();
    let (activation, new_loss) = if categorical && units > 1 {
        ("softmax", None)
    } else if categorical || binary {
        ("sigmoid", (!binary).then_some("binary_crossentropy"))
    } else if c.label_width > 1 && c.labels_one_hot && units > 1 {
        ("softmax", Some("categorical_crossentropy"))
    } else if c.labels_binary && (c.label_width > 1 || current != "linear") {
        ("sigmoid", Some("binary_crossentropy"))
    } else {
        ("linear", None)
    };
    if current != activation {
        changes.push(set_output_activation(layers(t)?, activation)?);
    }
    if let Some(l) = new_loss {
        if l != loss {
            changes.push(set_loss(t, l)?);
        }
    }
    Some(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Table {
        toml::from_str(text).unwrap()
    }

    const SPEC: &str = r#"
[data]
dataset = "digits"
[[layers]]
type = "dense"
units = 8
activation = "sigmoid"
kernel_initializer = { name = "random_normal", stddev = 1.0 }
bias_initializer = { name = "random_normal", stddev = 1.0 }
[[layers]]
type = "dense"
units = 8
[[layers]]
type = "activation"
activation = "tanh"
[[layers]]
type = "dense"
units = 10
activation = "sigmoid"
[compile]
loss = "categorical_crossentropy"
[optimizer]
name = "sgd"
"#;

    fn layer(t: &Table, i: usize) -> &Table {
        t["layers"].as_array().unwrap()[i].as_table().unwrap()
    }

    #[test]
    fn activations_change_in_hidden_layers_only() {
        let mut t = table(SPEC);
        let changes = remedy("leaky_relu")
            .unwrap()
            .apply(&mut t, &Context::default())
            .unwrap();
        assert_eq!(layer(&t, 0)["activation"].as_str(), Some("leaky_relu"));
        assert_eq!(layer(&t, 2)["activation"].as_str(), Some("leaky_relu"));
        assert_eq!(
            layer(&t, 3)["activation"].as_str(),
            Some("sigmoid"),
            "the output stays"
        );
        assert_eq!(layer(&t, 1)["kernel_initializer"].as_str(), Some("auto"));
        assert!(changes[0].starts_with("2 hidden"), "{changes:?}");
        // Applied twice, it changes nothing and does not apply.
        assert!(remedy("leaky_relu")
            .unwrap()
            .apply(&mut t, &Context::default())
            .is_none());
    }

    #[test]
    fn init_resets_random_biases() {
        let mut t = table(SPEC);
        remedy("he_init")
            .unwrap()
            .apply(&mut t, &Context::default())
            .unwrap();
        assert!(layer(&t, 0).get("bias_initializer").is_none());
        assert_eq!(layer(&t, 3)["kernel_initializer"].as_str(), Some("auto"));
    }

    #[test]
    fn batch_norm_goes_after_each_hidden_weighted_layer() {
        let mut t = table(SPEC);
        remedy("batch_norm")
            .unwrap()
            .apply(&mut t, &Context::default())
            .unwrap();
        let kinds: Vec<String> = t["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| kind(l.as_table().unwrap()))
            .collect();
        assert_eq!(
            kinds,
            [
                "dense",
                "batchnormalization",
                "dense",
                "batchnormalization",
                "activation",
                "dense"
            ]
        );
    }

    #[test]
    fn output_matches_the_loss_and_targets() {
        let mut t = table(SPEC);
        remedy("output_for_loss")
            .unwrap()
            .apply(&mut t, &Context::default())
            .unwrap();
        assert_eq!(layer(&t, 3)["activation"].as_str(), Some("softmax"));
        // Softmax over one unit under MSE with 0/1 targets: sigmoid and binary cross-entropy.
        let mut t = table(
            &SPEC
                .replace("units = 10", "units = 1")
                .replace("categorical_crossentropy", "mse")
                .replace(
                    "activation = \"sigmoid\"\n[compile]",
                    "activation = \"softmax\"\n[compile]",
                ),
        );
        let c = Context {
            label_width: 1,
            labels_binary: true,
            ..Context::default()
        };
        remedy("output_for_loss")
            .unwrap()
            .apply(&mut t, &c)
            .unwrap();
        assert_eq!(layer(&t, 3)["activation"].as_str(), Some("sigmoid"));
        assert_eq!(t["compile"]["loss"].as_str(), Some("binary_crossentropy"));
        // A regression target: a linear output.
        let mut t = table(
            &SPEC
                .replace("units = 10", "units = 1")
                .replace("categorical_crossentropy", "mse"),
        );
        let c = Context {
            label_width: 1,
            ..Context::default()
        };
        remedy("output_for_loss")
            .unwrap()
            .apply(&mut t, &c)
            .unwrap();
        assert!(layer(&t, 3).get("activation").is_none());
    }

    #[test]
    fn optimizer_and_rate_edits() {
        let mut t = table(SPEC);
        remedy("lr_down")
            .unwrap()
            .apply(&mut t, &Context::default())
            .unwrap();
        assert_eq!(t["optimizer"]["learning_rate"].as_float(), Some(0.001));
        remedy("clip")
            .unwrap()
            .apply(&mut t, &Context::default())
            .unwrap();
        remedy("adam")
            .unwrap()
            .apply(&mut t, &Context::default())
            .unwrap();
        assert_eq!(t["optimizer"]["name"].as_str(), Some("adam"));
        assert_eq!(
            t["optimizer"]["global_clipnorm"].as_float(),
            Some(1.0),
            "clipping survives"
        );
        let c = Context {
            suggested_lr: Some(0.0015),
            ..Context::default()
        };
        assert!(
            remedy("lr_range_test").unwrap().apply(&mut t, &c).is_none(),
            "within 2x"
        );
        let c = Context {
            suggested_lr: Some(0.05),
            ..Context::default()
        };
        remedy("lr_range_test").unwrap().apply(&mut t, &c).unwrap();
        assert_eq!(t["optimizer"]["learning_rate"].as_float(), Some(0.05));
    }

    #[test]
    fn every_problem_names_known_remedies() {
        for id in [
            "vanishing_gradients",
            "exploding_gradients",
            "dead_relus",
            "oscillating_loss",
            "slow_convergence",
            "output_loss_mismatch",
            "unscaled_inputs",
            "selu_init",
        ] {
            assert!(!for_problem(id).is_empty(), "{id}");
            for r in for_problem(id) {
                assert!(remedy(r).is_some(), "{id}: {r}");
            }
        }
    }
}
