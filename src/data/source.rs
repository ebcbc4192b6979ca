//! `[data]` of a spec: where the rows come from and how they are split, selected and encoded,
//! and the loader that reads them ([`DataSpec::load`]): the built-in datasets, CSV (a table when
//! its labels are strings or table options are set), NPY and IDX files.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{tabular, Dataset, Impute, Scale, SplitOrder, Splits};
use crate::{Error, Result};

/// `[data]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// `"fashion-mnist"`, `"digits"`, `"adding-T"` (the adding problem with sequences of T
    /// steps, see [`super::adding_problem`]), or a path to a `.csv` or `.npy` file or an IDX directory.
    #[serde(default = "default_dataset")]
    pub dataset: String,
    /// For `fashion-mnist`: the directory of its IDX files (default: `$DEEPTRAIN_FASHION_MNIST`,
    /// else /usr/share/datasets/fashion-mnist).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// For CSV: the name of the label column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_column: Option<String>,
    /// For NPY: the labels file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<PathBuf>,
    /// For sources without a test set: the fraction of rows held out as test (the embedded
    /// digits hold out 20% when this is 0).
    #[serde(default)]
    pub test_split: f64,
    /// Fraction of the training data held out for validation.
    #[serde(default)]
    pub validation_split: f64,
    /// Shuffle (seeded by `split_seed`, stratified by class) before the test and validation
    /// splits. Default: yes for sources without a canonical test set (CSV, NPY, the digits),
    /// no for those with one (Fashion-MNIST, IDX directories with `t10k-*` files), whose
    /// training part is split in the published order. `false` takes the last rows, as Keras'
    /// `validation_split` does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shuffle: Option<bool>,
    /// Seed of that shuffle; fixed by default, so that runs with different `seed`s are
    /// evaluated on the same rows.
    #[serde(default = "default_split_seed")]
    pub split_seed: u64,
    /// Feature scaling, fitted on the training part only.
    #[serde(default)]
    pub scale: Scale,
    /// Keep only these classes (training and test), relabeled 0, 1, ... in sorted order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<u32>>,
    /// Drop these classes (training and test); the rest are relabeled 0, 1, ... in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop_classes: Option<Vec<u32>>,
    /// Use only the first N training samples (after class selection), e.g. few-label runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_train_samples: Option<usize>,
    /// What the model learns to output: the `labels` (default), or its `inputs` (an
    /// autoencoder; the targets are the scaled, flattened inputs).
    #[serde(default, skip_serializing_if = "is_labels")]
    pub targets: TargetKind,
    /// For CSV: the feature columns, in order (default: all but the label and weights).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<Vec<String>>,
    /// For CSV: feature columns holding categories, one-hot encoded with a vocabulary fitted
    /// on the training part (an unseen category encodes as an all-zero row).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categorical: Vec<String>,
    /// For CSV: fill missing values with the training part's `mean` or `median` (default:
    /// a missing value is an error naming the line and column).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impute: Option<Impute>,
    /// For CSV: a column of per-sample weights (Keras' `sample_weight`), used in training
    /// and in the weighted validation and test loss.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_weight_column: Option<String>,
    /// The model inputs, when there are several: `[[data.inputs]] name = "wide"` with
    /// `columns = ["bill_length_mm", "island"]` (table columns by name, a categorical one
    /// with all its one-hot features) or feature indices; without `columns`, the whole sample.
    /// Default: one input, `input`, the whole sample.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<InputSpec>,
    /// For NPY under MPI: each rank reads only its block of the training rows from the
    /// features file (and rank 0 the validation and test rows), instead of every rank loading
    /// the whole set (see [`crate::data::prepare_shard`]). One process loads the whole set (a
    /// dataset that is not NPY is an error there too).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shard: bool,
    /// For NPY: the training rows stay on disk and are read batch by batch during training
    /// (a set larger than memory, see [`crate::data::prepare_streamed`]); the validation and
    /// test parts are held in memory. The same seed trains the same weights as in memory.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
}

/// `[[data.inputs]]`: a named model input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// The name layers read it by.
    pub name: String,
    /// The features it selects (names of table columns, or indices); default all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<ColumnRef>>,
}

/// A feature column, by table column name or by index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ColumnRef {
    /// The feature at this index of the (flattened) sample.
    Index(usize),
    /// A table column: all the features it encodes to (one per category when one-hot).
    Name(String),
}

impl<'de> Deserialize<'de> for ColumnRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = ColumnRef;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(COLUMN_FORMS)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<ColumnRef, E> {
                usize::try_from(v)
                    .map(ColumnRef::Index)
                    .map_err(|_| E::custom(format!("{COLUMN_FORMS}; {v} is too large")))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<ColumnRef, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom(format!("{COLUMN_FORMS}; got the negative index {v}")))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<ColumnRef, E> {
                Ok(ColumnRef::Name(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

const COLUMN_FORMS: &str =
    "[[data.inputs]] `columns` takes table column names (\"island\") or feature indices from 0";

/// What a spec's model is trained to output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// The dataset's labels.
    #[default]
    Labels,
    /// The inputs themselves (autoencoders, unsupervised pretraining).
    Inputs,
}

fn is_labels(t: &TargetKind) -> bool {
    *t == TargetKind::Labels
}

fn default_split_seed() -> u64 {
    super::DEFAULT_SPLIT_SEED
}
fn default_dataset() -> String {
    "digits".into()
}

impl Default for DataSpec {
    fn default() -> Self {
        DataSpec {
            dataset: default_dataset(),
            path: None,
            label_column: None,
            labels: None,
            test_split: 0.0,
            validation_split: 0.0,
            shuffle: None,
            split_seed: default_split_seed(),
            scale: Scale::Unit,
            classes: None,
            drop_classes: None,
            max_train_samples: None,
            targets: TargetKind::Labels,
            features: None,
            categorical: Vec::new(),
            impute: None,
            sample_weight_column: None,
            inputs: Vec::new(),
            shard: false,
            stream: false,
        }
    }
}

impl DataSpec {
    /// Whether any of the table options (features, categorical, impute, weights) is set.
    fn has_table_options(&self) -> bool {
        self.features.is_some()
            || !self.categorical.is_empty()
            || self.impute.is_some()
            || self.sample_weight_column.is_some()
    }

    /// The labels file of an NPY dataset, or the error asking for it.
    pub fn npy_labels(&self) -> Result<&Path> {
        self.labels.as_deref().ok_or_else(|| {
            Error::Config(format!(
                "[data] dataset `{}` is NPY: name its labels file with `labels = \"...\"`",
                self.dataset
            ))
        })
    }

    /// Applies `classes`, `drop_classes` and `max_train_samples`.
    fn select(&self, splits: &mut Splits) -> Result<()> {
        let keep: Option<Vec<u32>> = match (&self.classes, &self.drop_classes) {
            (Some(_), Some(_)) => {
                return Err(Error::Config(
                    "[data] give `classes` or `drop_classes`, not both".into(),
                ))
            }
            (Some(k), None) => Some(k.clone()),
            (None, Some(drop)) => {
                let max = splits
                    .train
                    .labels
                    .data()
                    .iter()
                    .fold(0.0f32, |m, &v| m.max(v)) as u32;
                Some((0..=max).filter(|c| !drop.contains(c)).collect())
            }
            (None, None) => None,
        };
        if let Some(mut keep) = keep {
            splits.train.check_class_labels()?;
            keep.sort_unstable();
            keep.dedup();
            splits.train = splits.train.select_classes(&keep)?;
            if let Some(test) = &splits.test {
                splits.test = Some(test.select_classes(&keep)?);
            }
            if let Some(names) = &splits.class_names {
                splits.class_names = Some(
                    keep.iter()
                        .map(|&c| {
                            names
                                .get(c as usize)
                                .cloned()
                                .unwrap_or_else(|| c.to_string())
                        })
                        .collect(),
                );
            }
            if splits.train.is_empty() {
                return Err(Error::Config(format!(
                    "[data] no training sample has one of the classes {keep:?}"
                )));
            }
        }
        if let Some(n) = self.max_train_samples {
            if n == 0 {
                return Err(Error::Config(
                    "[data] max_train_samples must be at least 1".into(),
                ));
            }
            splits.train = splits.train.slice(0..n.min(splits.train.len()));
        }
        Ok(())
    }

    /// Resolves relative file paths against the working directory, else `base` (the spec's
    /// directory) when the file is there, and makes them absolute.
    pub fn resolve_paths(&mut self, base: &Path) {
        // Absolute, so that what a model records does not depend on where `train` ran.
        let resolve = |p: &Path| -> PathBuf {
            let candidate = base.join(p);
            let p = if p.is_relative() && !p.exists() && candidate.exists() {
                candidate
            } else {
                p.to_path_buf()
            };
            std::path::absolute(&p).unwrap_or(p)
        };
        if !matches!(
            self.dataset.as_str(),
            "digits" | "fashion-mnist" | "fashion_mnist"
        ) && !self.dataset.starts_with("adding-")
        {
            self.dataset = resolve(Path::new(&self.dataset))
                .to_string_lossy()
                .into_owned();
        }
        self.path = self.path.as_deref().map(resolve);
        self.labels = self.labels.as_deref().map(resolve);
    }

    /// True when the source comes with its own test set (Fashion-MNIST, an IDX directory with
    /// `t10k-*` labels), published in an order that needs no shuffle.
    pub fn has_canonical_test_set(&self) -> bool {
        match self.dataset.as_str() {
            "fashion-mnist" | "fashion_mnist" => true,
            "digits" => false,
            name if name.starts_with("adding-") => true,
            other => {
                let dir = Path::new(other);
                dir.is_dir()
                    && ["t10k-labels-idx1-ubyte", "t10k-labels-idx1-ubyte.gz"]
                        .iter()
                        .any(|f| dir.join(f).is_file())
            }
        }
    }

    /// How the test and validation rows are picked (see `shuffle`).
    pub fn split_order(&self) -> SplitOrder {
        if self.shuffle.unwrap_or(!self.has_canonical_test_set()) {
            SplitOrder::Shuffled {
                seed: self.split_seed,
            }
        } else {
            SplitOrder::Tail
        }
    }

    /// Holds out `validation_split` of `train`: (training part, validation part), the latter
    /// `None` when the split is 0. The shuffle's seed differs from the test split's.
    pub fn split_validation(&self, train: Dataset) -> (Dataset, Option<Dataset>) {
        if self.validation_split <= 0.0 {
            return (train, None);
        }
        let order = match self.split_order() {
            SplitOrder::Shuffled { seed } => SplitOrder::Shuffled {
                seed: seed.wrapping_add(1),
            },
            tail => tail,
        };
        let (t, v) = train.split_off(self.validation_split, order);
        (t, Some(v))
    }

    /// Loads the data the spec names, with its test part (the source's own, or `test_split` of
    /// the rows, picked as `split_order` says).
    pub fn load(&self) -> Result<Splits> {
        let (splits, test_split) = self.load_source()?;
        self.split_test_and_select(splits, test_split)
    }

    /// The source's rows as read, and the test fraction to split off them.
    fn load_source(&self) -> Result<(Splits, f64)> {
        let mut test_split = self.test_split;
        let splits = match self.dataset.as_str() {
            "digits" => {
                if test_split == 0.0 {
                    test_split = super::DIGITS_TEST_FRACTION;
                }
                Splits {
                    train: super::digits_all()?,
                    test: None,
                    class_names: Some((0..10).map(|d| d.to_string()).collect()),
                    table: None,
                }
            }
            "fashion-mnist" | "fashion_mnist" => {
                super::fashion_mnist(&super::fashion_mnist_dir(self.path.as_deref()))?
            }
            name if name.starts_with("adding-") => {
                let steps = super::adding_steps(name)?.unwrap_or_default();
                super::adding_problem(steps)?
            }
            other => {
                let path = Path::new(other);
                let mut table = None;
                let mut class_names = None;
                if path.is_dir() {
                    super::load_idx_dir(path)?
                } else {
                    let train = match path.extension().and_then(|e| e.to_str()) {
                        Some("npy") => {
                            super::load_npy(path, self.npy_labels()?)?
                        }
                        Some("csv") | Some("gz") => {
                            let label = self.label_column.as_deref().ok_or_else(|| {
                                Error::Config(format!("[data] dataset `{other}` is CSV: name its label column with `label_column = \"...\"`"))
                            })?;
                            let bytes = super::read_csv_bytes(path)?;
                            if tabular::needs_table(&bytes, label, self.has_table_options()) {
                                let options = tabular::TableOptions {
                                    label,
                                    features: self.features.as_deref(),
                                    categorical: &self.categorical,
                                    impute: self.impute,
                                    sample_weight_column: self.sample_weight_column.as_deref(),
                                };
                                let (data, layout, names) =
                                    tabular::read_table(&bytes, path, &options)?;
                                table = Some(layout);
                                class_names = names;
                                data
                            } else {
                                super::parse_csv(&bytes, path, super::LabelColumn::Named(label))?
                            }
                        }
                        _ => {
                            return Err(Error::Config(format!(
                                "[data] dataset `{other}` is not `digits`, `fashion-mnist`, `adding-T`, a .csv or .npy file, or an IDX directory"
                            )))
                        }
                    };
                    Splits {
                        train,
                        test: None,
                        class_names,
                        table,
                    }
                }
            }
        };
        Ok((splits, test_split))
    }

    /// Splits `test_split` of the training rows off as the test part (unless the source has
    /// one), then applies `classes`, `drop_classes` and `max_train_samples`.
    pub(crate) fn split_test_and_select(
        &self,
        mut splits: Splits,
        test_split: f64,
    ) -> Result<Splits> {
        if test_split > 0.0 {
            let (train, test) = splits.train.split_off(test_split, self.split_order());
            splits.train = train;
            splits.test = Some(test);
        }
        self.select(&mut splits)?;
        // An empty test part is absent (too few rows for `test_split`, or no kept class).
        splits.test = splits.test.take().filter(|t| !t.is_empty());
        Ok(splits)
    }
}
