//! `class_weight` under `[fit]`: Keras' table of class weights or scikit-learn's `"balanced"`,
//! and their resolution to one weight per class.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// `class_weight` under `[fit]`: Keras' dict of class weights, or scikit-learn's `"balanced"`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ClassWeight {
    /// `"balanced"`: w_c = n / (classes · n_c) over the training part (scikit-learn's
    /// `compute_class_weight("balanced")`; `classes` counts those present).
    Rule(ClassWeightRule),
    /// `{ name-or-index = weight, ... }`; classes left out weigh 1.
    Table(std::collections::BTreeMap<String, f64>),
}

/// The named class-weight rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassWeightRule {
    /// Inverse class frequency.
    Balanced,
}

const CLASS_WEIGHT_FORMS: &str =
    "[fit] `class_weight` is \"balanced\" or a table of weights { class = weight, ... }";

impl<'de> Deserialize<'de> for ClassWeight {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ClassWeight;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(CLASS_WEIGHT_FORMS)
            }
            fn visit_str<E: serde::de::Error>(
                self,
                v: &str,
            ) -> std::result::Result<ClassWeight, E> {
                match v {
                    "balanced" => Ok(ClassWeight::Rule(ClassWeightRule::Balanced)),
                    other => Err(E::custom(format!("{CLASS_WEIGHT_FORMS}, not \"{other}\""))),
                }
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> std::result::Result<ClassWeight, A::Error> {
                use serde::de::Error as _;
                Deserialize::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(ClassWeight::Table)
                    .map_err(|e: A::Error| A::Error::custom(format!("{CLASS_WEIGHT_FORMS}: {e}")))
            }
        }
        d.deserialize_any(V)
    }
}

impl ClassWeight {
    /// The weight of each class index 0..`classes`, from the training labels (one class index
    /// per row) and the class names, when the data has them.
    pub fn resolve(
        &self,
        labels: &crate::Tensor,
        class_names: Option<&[String]>,
        classes: usize,
    ) -> Result<Vec<f32>> {
        if labels.row_len() != 1 {
            return Err(Error::Config(
                "[fit] class_weight needs one class label per sample".into(),
            ));
        }
        let classes = classes.max(2);
        let mut weights = vec![1.0f32; classes];
        match self {
            ClassWeight::Rule(ClassWeightRule::Balanced) => {
                let mut counts = vec![0usize; classes];
                for &v in labels.data() {
                    if let Some(c) = counts.get_mut(v.max(0.0) as usize) {
                        *c += 1;
                    }
                }
                let present = counts.iter().filter(|&&c| c > 0).count().max(1);
                let n = labels.rows() as f64;
                for (w, &c) in weights.iter_mut().zip(&counts) {
                    if c > 0 {
                        *w = (n / (present as f64 * c as f64)) as f32;
                    }
                }
            }
            ClassWeight::Table(table) => {
                for (key, &w) in table {
                    let index = class_names
                        .and_then(|names| names.iter().position(|n| n == key))
                        .or_else(|| key.parse::<usize>().ok())
                        .filter(|&i| i < classes)
                        .ok_or_else(|| {
                            Error::Config(format!(
                                "[fit] class_weight: `{key}` is not a class ({})",
                                class_names.map_or_else(
                                    || format!("indices 0..{}", classes - 1),
                                    |n| n.join(", ")
                                )
                            ))
                        })?;
                    if !(w.is_finite() && w >= 0.0) {
                        return Err(Error::Config(format!(
                            "[fit] class_weight of `{key}` must be a finite number >= 0, got {w}"
                        )));
                    }
                    weights[index] = w as f32;
                }
            }
        }
        Ok(weights)
    }
}
