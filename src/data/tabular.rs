//! Tables as users bring them: string class labels, categorical feature columns (one-hot),
//! missing values (an error, or imputed), a column selection and a sample-weight column.
//!
//! Two steps, so that nothing is fitted on held-out rows:
//! 1. [`read_table`] parses the CSV into a [`Dataset`] whose categorical columns hold codes
//!    (indices into the file's sorted distinct values, [`TableLayout`]) and whose missing
//!    values are NaN (only when imputing; otherwise a missing value is an error naming the
//!    file, line and column). String labels become indices in sorted order.
//! 2. After the split, [`TableEncoding::fit`] learns, on the training part only, each
//!    categorical column's vocabulary (sorted) and each numeric column's fill value (mean or
//!    median); [`TableEncoding::apply`] one-hot encodes and fills every part. The encoding is
//!    saved with the model, and `predict` applies it to new CSV rows ([`encode_csv`]).
//!
//! A category not in the vocabulary (unseen in training, or missing) encodes as an all-zero
//! row, as scikit-learn's `OneHotEncoder(handle_unknown="ignore")`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::Dataset;
use crate::tensor::Tensor;
use crate::{Error, Result};

/// `impute` under `[data]`: how missing numeric values are filled, from training statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Impute {
    /// The training part's mean of the column.
    Mean,
    /// The training part's median of the column (the mean of the two middle values when even).
    Median,
}

/// What [`read_table`] needs to know about the columns.
#[derive(Clone, Copy, Debug)]
pub struct TableOptions<'a> {
    /// The label column.
    pub label: &'a str,
    /// Feature columns, in this order (default: every column but the label and weights).
    pub features: Option<&'a [String]>,
    /// Feature columns holding categories, one-hot encoded.
    pub categorical: &'a [String],
    /// Fill missing values instead of refusing them.
    pub impute: Option<Impute>,
    /// A column of per-sample weights.
    pub sample_weight_column: Option<&'a str>,
}

/// Fields that count as missing: empty, `NA`, `N/A`, `NaN`, `nan`, `null`, `?`.
pub fn is_missing(field: &str) -> bool {
    matches!(field, "" | "NA" | "N/A" | "NaN" | "nan" | "null" | "?")
}

/// The feature columns of a table as read, before encoding: name, and for a categorical column
/// its distinct values in the whole file (sorted), which its codes index.
#[derive(Clone, Debug, PartialEq)]
pub struct TableLayout {
    /// (name, categories) per feature column; `None` for numeric columns.
    pub columns: Vec<(String, Option<Vec<String>>)>,
    /// The impute rule asked for.
    pub impute: Option<Impute>,
}

/// One input column of a fitted encoding.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnEncoding {
    /// The CSV header name.
    pub name: String,
    /// For a categorical column: its vocabulary (sorted), one output column each.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vocabulary: Option<Vec<String>>,
    /// For a numeric column with imputation: the value that replaces a missing one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fill: Option<f32>,
}

/// The encoding fitted on the training part and saved beside the model (`[table]` in
/// `run.toml`; in `model.toml` for models saved before format 2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableEncoding {
    /// The input columns, in order.
    pub columns: Vec<ColumnEncoding>,
    /// The label column's name.
    pub label: String,
}

/// A string label column's classes, sorted, when the labels are not all numbers.
fn string_classes(labels: &[String]) -> Option<Vec<String>> {
    if labels.iter().all(|l| l.parse::<f32>().is_ok()) {
        return None;
    }
    let mut names = labels.to_vec();
    names.sort();
    names.dedup();
    Some(names)
}

fn column_index(headers: &csv::StringRecord, name: &str, path: &Path, what: &str) -> Result<usize> {
    headers.iter().position(|h| h == name).ok_or_else(|| {
        let names: Vec<&str> = headers.iter().collect();
        Error::format(
            path,
            format!(
                "no {what} column `{name}` in the header (columns: {})",
                names.join(", ")
            ),
        )
    })
}

/// Whether a CSV needs this module: tabular options are set, or the label column holds
/// something other than numbers (class names).
pub fn needs_table(bytes: &[u8], label: &str, options_set: bool) -> bool {
    if options_set {
        return true;
    }
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let Some(index) = reader
        .headers()
        .ok()
        .and_then(|h| h.iter().position(|c| c == label))
    else {
        return false;
    };
    reader.records().any(|r| {
        r.ok()
            .and_then(|r| r.get(index).map(|f| f.parse::<f32>().is_err()))
            .unwrap_or(false)
    })
}

/// Parses a CSV table (with header) into codes; returns the data, its layout and, for string
/// labels, the class names in index order. `path` names the source in errors.
pub fn read_table(
    bytes: &[u8],
    path: &Path,
    options: &TableOptions,
) -> Result<(Dataset, TableLayout, Option<Vec<String>>)> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let headers = reader
        .headers()
        .map_err(|e| Error::format(path, format!("cannot read the header: {e}")))?
        .clone();
    // A repeated name would make `label_column` (or a feature name) pick one of them silently.
    super::csv::check_unique_headers(&headers, path)?;
    if options.sample_weight_column == Some(options.label) {
        return Err(Error::Config(format!(
            "[data] sample_weight_column is `{}`, the label column: the weights would be the labels; name a column of per-sample weights",
            options.label
        )));
    }
    let label_at = column_index(&headers, options.label, path, "label")?;
    let weight_at = options
        .sample_weight_column
        .map(|w| column_index(&headers, w, path, "sample weight"))
        .transpose()?;
    for c in options.categorical {
        column_index(&headers, c, path, "categorical")?;
        if options.features.is_some_and(|f| !f.contains(c)) {
            return Err(Error::Config(format!(
                "[data] categorical column `{c}` is not among `features`"
            )));
        }
    }
    let feature_at: Vec<usize> = match options.features {
        Some(names) => names
            .iter()
            .map(|n| column_index(&headers, n, path, "feature"))
            .collect::<Result<_>>()?,
        None => (0..headers.len())
            .filter(|&j| j != label_at && Some(j) != weight_at)
            .collect(),
    };
    if let Some(&j) = feature_at
        .iter()
        .find(|&&j| j == label_at || Some(j) == weight_at)
    {
        return Err(Error::Config(format!(
            "[data] `features` holds `{}`, the label or weight column",
            &headers[j]
        )));
    }
    if feature_at.is_empty() {
        return Err(Error::format(path, "no feature columns besides the label"));
    }
    let categorical: Vec<bool> = feature_at
        .iter()
        .map(|&j| options.categorical.iter().any(|c| c == &headers[j]))
        .collect();

    // Every field as text first: categories and string labels are known only at the end.
    let mut labels = Vec::new();
    let mut lines = Vec::new();
    let mut weights = Vec::new();
    let mut fields: Vec<Vec<String>> = vec![Vec::new(); feature_at.len()];
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.map_err(|e| Error::format(path, format!("line {line}: {e}")))?;
        // The physical line (blank lines counted), as the other loaders report it.
        let line = record.position().map_or(line as u64, |p| p.line());
        if record.len() != headers.len() {
            return Err(Error::format(
                path,
                format!(
                    "line {line} has {} fields, expected {}",
                    record.len(),
                    headers.len()
                ),
            ));
        }
        let missing = |j: usize, what: &str| {
            Error::format(
                path,
                format!(
                    "line {line}, column {} (`{}`): missing {what}{}",
                    j + 1,
                    &headers[j],
                    if what == "value" {
                        "; drop the row, or set impute = \"mean\" or \"median\" under [data]"
                    } else {
                        ""
                    }
                ),
            )
        };
        let label = &record[label_at];
        if is_missing(label) {
            return Err(missing(label_at, "label"));
        }
        labels.push(label.to_string());
        lines.push(line);
        if let Some(w) = weight_at {
            let field = &record[w];
            let value: f32 = field.parse().map_err(|_| {
                Error::format(
                    path,
                    format!(
                        "line {line}, column {} (`{}`): sample weight `{field}` is not a number",
                        w + 1,
                        &headers[w]
                    ),
                )
            })?;
            if !value.is_finite() || value < 0.0 {
                return Err(Error::format(
                    path,
                    format!("line {line}: sample weight {value} is not a finite number >= 0"),
                ));
            }
            weights.push(value);
        }
        for (c, &j) in feature_at.iter().enumerate() {
            let field = &record[j];
            if is_missing(field) {
                if options.impute.is_none() {
                    return Err(missing(j, "value"));
                }
            } else if !categorical[c] && field.parse::<f32>().is_err() {
                return Err(Error::format(
                    path,
                    format!(
                        "line {line}, column {} (`{}`): `{field}` is not a number; list the column in `categorical = [...]` under [data] to one-hot encode it",
                        j + 1,
                        &headers[j]
                    ),
                ));
            }
            fields[c].push(field.to_string());
        }
    }
    let n = labels.len();
    if n == 0 {
        return Err(Error::format(path, "no data rows"));
    }

    let mut columns = Vec::with_capacity(feature_at.len());
    let mut x = vec![0.0f32; n * feature_at.len()];
    let f = feature_at.len();
    for (c, column) in fields.iter().enumerate() {
        let name = headers[feature_at[c]].to_string();
        if categorical[c] {
            let mut categories: Vec<String> =
                column.iter().filter(|v| !is_missing(v)).cloned().collect();
            categories.sort();
            categories.dedup();
            for (i, v) in column.iter().enumerate() {
                x[i * f + c] = categories
                    .binary_search(v)
                    .map_or(f32::NAN, |code| code as f32);
            }
            columns.push((name, Some(categories)));
        } else {
            for (i, v) in column.iter().enumerate() {
                x[i * f + c] = v.parse().unwrap_or(f32::NAN);
            }
            columns.push((name, None));
        }
    }
    let class_names = string_classes(&labels);
    let label_values: Vec<f32> = match &class_names {
        Some(names) => labels
            .iter()
            .map(|l| names.binary_search(l).map_or(0.0, |k| k as f32))
            .collect(),
        None => labels
            .iter()
            .map(|l| l.parse().unwrap_or(f32::NAN))
            .collect(),
    };
    let data = Dataset {
        x: Tensor::from_vec(x, &[n, f]),
        labels: Tensor::from_vec(label_values, &[n, 1]),
        weights: weight_at.map(|_| weights),
        origin: Some(super::RowOrigin {
            path: path.to_path_buf(),
            unit: "line",
            numbers: lines,
        }),
        stream: None,
    };
    let layout = TableLayout {
        columns,
        impute: options.impute,
    };
    Ok((data, layout, class_names))
}

impl TableEncoding {
    /// Fits the vocabularies and fill values on `train` (codes from [`read_table`]).
    pub fn fit(layout: &TableLayout, train: &Dataset, label: &str) -> Result<TableEncoding> {
        let f = layout.columns.len();
        let mut columns = Vec::with_capacity(f);
        for (c, (name, categories)) in layout.columns.iter().enumerate() {
            let values: Vec<f32> = (0..train.len())
                .map(|i| train.x.data()[i * f + c])
                .filter(|v| !v.is_nan())
                .collect();
            match categories {
                Some(categories) => {
                    let mut seen: Vec<usize> = values.iter().map(|&v| v as usize).collect();
                    seen.sort_unstable();
                    seen.dedup();
                    columns.push(ColumnEncoding {
                        name: name.clone(),
                        vocabulary: Some(seen.iter().map(|&k| categories[k].clone()).collect()),
                        fill: None,
                    });
                }
                None => {
                    let fill = match layout.impute {
                        None => None,
                        Some(_) if values.is_empty() => {
                            return Err(Error::Data(format!(
                                "column `{name}` has no value in the training part to impute from"
                            )))
                        }
                        Some(Impute::Mean) => Some(
                            (values.iter().map(|&v| v as f64).sum::<f64>() / values.len() as f64)
                                as f32,
                        ),
                        Some(Impute::Median) => Some(median(values)),
                    };
                    columns.push(ColumnEncoding {
                        name: name.clone(),
                        vocabulary: None,
                        fill,
                    });
                }
            }
        }
        Ok(TableEncoding {
            columns,
            label: label.to_string(),
        })
    }

    /// Input features after encoding: one per numeric column, one per category.
    pub fn width(&self) -> usize {
        self.columns
            .iter()
            .map(|c| c.vocabulary.as_ref().map_or(1, |v| v.len()))
            .sum()
    }

    /// Encodes `data` (codes from [`read_table`] with `layout`) in place: one-hot columns,
    /// missing numbers filled. Refuses, naming the widest categorical column, an encoding over
    /// [`crate::limits::MAX_ARRAY_VALUES`] values (300,000 categories would one-hot every row
    /// into 1.2 MB) before allocating it.
    pub fn apply(&self, layout: &TableLayout, data: &mut Dataset) -> Result<()> {
        let f = layout.columns.len();
        let width = self.width();
        let n = data.len();
        let values = (n as u64).saturating_mul(width as u64);
        if values > crate::limits::MAX_ARRAY_VALUES {
            let widest = self
                .columns
                .iter()
                .filter_map(|c| c.vocabulary.as_ref().map(|v| (v.len(), &c.name)))
                .max();
            let column = widest.map_or(String::new(), |(len, name)| {
                format!(" (categorical column `{name}` has {len} categories)")
            });
            return Err(Error::Data(format!(
                "[data] one-hot encoding gives {width} features per row{column}: {n} rows would take {} as f32, over the limit of {} values; leave the column out of `categorical`, or group its rare values",
                crate::limits::human_bytes(values.saturating_mul(4)),
                crate::limits::MAX_ARRAY_VALUES
            )));
        }
        let mut out = vec![0.0f32; n * width];
        for i in 0..n {
            let mut at = i * width;
            for (c, column) in self.columns.iter().enumerate() {
                let v = data.x.data()[i * f + c];
                match (&column.vocabulary, &layout.columns[c].1) {
                    (Some(vocabulary), Some(categories)) => {
                        if !v.is_nan() {
                            let category = &categories[v as usize];
                            if let Ok(k) = vocabulary.binary_search(category) {
                                out[at + k] = 1.0;
                            }
                        }
                        at += vocabulary.len();
                    }
                    _ => {
                        out[at] = if v.is_nan() {
                            column.fill.unwrap_or(f32::NAN)
                        } else {
                            v
                        };
                        at += 1;
                    }
                }
            }
        }
        data.x = Tensor::from_vec(out, &[n, width]);
        Ok(())
    }

    /// The encoded feature names: `name` or `name=category`.
    pub fn feature_names(&self) -> Vec<String> {
        self.columns
            .iter()
            .flat_map(|c| match &c.vocabulary {
                Some(v) => v.iter().map(|k| format!("{}={k}", c.name)).collect(),
                None => vec![c.name.clone()],
            })
            .collect()
    }
}

/// The median: the middle value, or the mean of the two middle ones.
fn median(mut values: Vec<f32>) -> f32 {
    values.sort_by(f32::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        ((values[n / 2 - 1] as f64 + values[n / 2] as f64) / 2.0) as f32
    }
}

/// Encodes the rows of a CSV file (with header, by column name) as a saved model's inputs:
/// other columns, such as the label, are ignored. A missing numeric value takes the saved
/// fill value, or is an error naming the line and column when the model was trained without
/// imputation.
pub fn encode_csv(bytes: &[u8], path: &Path, encoding: &TableEncoding) -> Result<Tensor> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let headers = reader
        .headers()
        .map_err(|e| Error::format(path, format!("cannot read the header: {e}")))?
        .clone();
    let at: Vec<usize> = encoding
        .columns
        .iter()
        .map(|c| column_index(&headers, &c.name, path, "input"))
        .collect::<Result<_>>()?;
    let width = encoding.width();
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.map_err(|e| Error::format(path, format!("line {line}: {e}")))?;
        let start = out.len();
        out.resize(start + width, 0.0);
        let mut k = start;
        for (column, &j) in encoding.columns.iter().zip(&at) {
            let field = record.get(j).unwrap_or("");
            match &column.vocabulary {
                Some(vocabulary) => {
                    if let Ok(c) = vocabulary.binary_search_by(|v| v.as_str().cmp(field)) {
                        out[k + c] = 1.0;
                    }
                    k += vocabulary.len();
                }
                None => {
                    out[k] = if is_missing(field) {
                        column.fill.ok_or_else(|| {
                            Error::format(
                                path,
                                format!(
                                    "line {line}, column {} (`{}`): missing value (the model was trained without imputation)",
                                    j + 1,
                                    column.name
                                ),
                            )
                        })?
                    } else {
                        field.parse().map_err(|_| {
                            Error::format(
                                path,
                                format!(
                                    "line {line}, column {} (`{}`): `{field}` is not a number",
                                    j + 1,
                                    column.name
                                ),
                            )
                        })?
                    };
                    k += 1;
                }
            }
        }
    }
    let n = out.len() / width.max(1);
    if n == 0 {
        return Err(Error::format(path, "no data rows"));
    }
    Ok(Tensor::from_vec(out, &[n, width]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &[u8] =
        b"colour,size,kind,w\nred,1,cat,1\nblue,,dog,2\nred,3,dog,1\ngreen,5,bird,1\n";

    fn options(impute: Option<Impute>) -> (Vec<String>, Option<Impute>) {
        (vec!["colour".to_string()], impute)
    }

    #[test]
    fn string_labels_categories_and_imputation() {
        let (cat, impute) = options(Some(Impute::Mean));
        let opts = TableOptions {
            label: "kind",
            features: None,
            categorical: &cat,
            impute,
            sample_weight_column: Some("w"),
        };
        let (data, layout, names) = read_table(TABLE, Path::new("t.csv"), &opts).unwrap();
        assert_eq!(names.unwrap(), ["bird", "cat", "dog"]);
        assert_eq!(data.labels.data(), &[1.0, 2.0, 2.0, 0.0]);
        assert_eq!(data.weights.as_deref(), Some(&[1.0, 2.0, 1.0, 1.0][..]));
        // Fitted on the first three rows only: `green` is unseen, the mean size is 2.
        let train = data.slice(0..3);
        let encoding = TableEncoding::fit(&layout, &train, "kind").unwrap();
        assert_eq!(
            encoding.feature_names(),
            ["colour=blue", "colour=red", "size"]
        );
        let mut all = data.clone();
        encoding.apply(&layout, &mut all).unwrap();
        assert_eq!(
            all.x.data(),
            &[0.0, 1.0, 1.0, 1.0, 0.0, 2.0, 0.0, 1.0, 3.0, 0.0, 0.0, 5.0]
        );
        let again = encode_csv(TABLE, Path::new("t.csv"), &encoding).unwrap();
        assert_eq!(again.data(), all.x.data());
    }

    #[test]
    fn missing_values_are_errors_naming_line_and_column() {
        let cat = vec!["colour".to_string()];
        let opts = TableOptions {
            label: "kind",
            features: None,
            categorical: &cat,
            impute: None,
            sample_weight_column: Some("w"),
        };
        let err = read_table(TABLE, Path::new("t.csv"), &opts)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("t.csv: line 3, column 2 (`size`): missing value"),
            "{err}"
        );
        assert!(!err.contains('\n'));
        let opts = TableOptions {
            categorical: &[],
            ..opts
        };
        let err = read_table(TABLE, Path::new("t.csv"), &opts)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`red` is not a number"), "{err}");
    }

    #[test]
    fn features_select_columns_in_order() {
        let features = vec!["size".to_string()];
        let opts = TableOptions {
            label: "kind",
            features: Some(&features),
            categorical: &[],
            impute: Some(Impute::Median),
            sample_weight_column: None,
        };
        let (data, layout, _) = read_table(TABLE, Path::new("t.csv"), &opts).unwrap();
        assert_eq!(data.x.shape(), &[4, 1]);
        let encoding = TableEncoding::fit(&layout, &data, "kind").unwrap();
        assert_eq!(encoding.columns[0].fill, Some(3.0));
        assert!(data.weights.is_none());
    }
}
