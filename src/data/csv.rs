//! CSV tables with a header row: every column but the named label column is a feature.

use std::path::Path;

use super::Dataset;
use crate::tensor::Tensor;
use crate::{io, Error, Result};

/// Loads a CSV file with a header, using `label_column` as the label.
pub fn load_csv(path: &Path, label_column: &str) -> Result<Dataset> {
    let bytes = read_maybe_gzipped(path)?;
    parse_csv(&bytes, path, LabelColumn::Named(label_column))
}

/// Loads a CSV file with a header whose columns are all features, but `ignore` when given
/// (labels are then empty, (N, 0)).
pub fn load_csv_features(path: &Path, ignore: Option<&str>) -> Result<Dataset> {
    let bytes = read_maybe_gzipped(path)?;
    let mut data = parse_csv(
        &bytes,
        path,
        ignore.map_or(LabelColumn::Absent, LabelColumn::Named),
    )?;
    if ignore.is_some() {
        let n = data.len();
        data.labels = Tensor::zeros(&[n, 0]);
    }
    Ok(data)
}

/// Which column holds the label.
#[derive(Clone, Copy, Debug)]
pub enum LabelColumn<'a> {
    /// The column with this header name.
    Named(&'a str),
    /// The last column of a file without a header.
    LastWithoutHeader,
    /// No label: every column of a file with a header is a feature.
    Absent,
}

pub(super) fn read_maybe_gzipped(path: &Path) -> Result<Vec<u8>> {
    let bytes = io::read(path)?;
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(bytes);
    }
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&bytes[..]), &mut out)
        .map_err(|e| Error::format(path, format!("cannot decompress: {e}")))?;
    Ok(out)
}

/// Parses CSV bytes; `path` names the source in errors.
pub fn parse_csv(bytes: &[u8], path: &Path, label: LabelColumn) -> Result<Dataset> {
    let has_header = !matches!(label, LabelColumn::LastWithoutHeader);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(has_header)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let mut label_index = None;
    if let LabelColumn::Named(name) = label {
        let headers = reader
            .headers()
            .map_err(|e| Error::format(path, format!("cannot read the header: {e}")))?;
        label_index = Some(headers.iter().position(|h| h == name).ok_or_else(|| {
            let names: Vec<&str> = headers.iter().collect();
            Error::format(
                path,
                format!(
                    "no label column `{name}` in the header (columns: {})",
                    names.join(", ")
                ),
            )
        })?);
    }
    let mut features = Vec::new();
    let mut labels = Vec::new();
    let mut width = None;
    for (i, record) in reader.records().enumerate() {
        let line = i + 1 + usize::from(has_header);
        let record = record.map_err(|e| Error::format(path, format!("line {line}: {e}")))?;
        let label_at = match label {
            LabelColumn::LastWithoutHeader => record.len().saturating_sub(1),
            _ => label_index.unwrap_or(usize::MAX),
        };
        if *width.get_or_insert(record.len()) != record.len() {
            return Err(Error::format(
                path,
                format!(
                    "line {line} has {} fields, expected {}",
                    record.len(),
                    width.unwrap_or(0)
                ),
            ));
        }
        for (j, field) in record.iter().enumerate() {
            let value: f32 = field.parse().map_err(|_| {
                Error::format(
                    path,
                    format!("line {line}, column {}: `{field}` is not a number", j + 1),
                )
            })?;
            if j == label_at {
                labels.push(value);
            } else {
                features.push(value);
            }
        }
    }
    let n = if matches!(label, LabelColumn::Absent) {
        features.len() / width.unwrap_or(1).max(1)
    } else {
        labels.len()
    };
    if n == 0 {
        return Err(Error::format(path, "no data rows"));
    }
    let f = features.len() / n;
    if matches!(label, LabelColumn::Absent) {
        return Ok(Dataset {
            x: Tensor::from_vec(features, &[n, f]),
            labels: Tensor::zeros(&[n, 0]),
            weights: None,
        });
    }
    if f == 0 {
        return Err(Error::format(path, "no feature columns besides the label"));
    }
    Ok(Dataset {
        x: Tensor::from_vec(features, &[n, f]),
        labels: Tensor::from_vec(labels, &[n, 1]),
        weights: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_label_column_is_split_off() {
        let csv = b"a,target,b\n1,0,2\n3,1,4\n";
        let d = parse_csv(csv, Path::new("t.csv"), LabelColumn::Named("target")).unwrap();
        assert_eq!(d.x.shape(), &[2, 2]);
        assert_eq!(d.x.data(), &[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(d.labels.data(), &[0.0, 1.0]);
    }

    #[test]
    fn errors_name_the_file_line_and_column() {
        let err = parse_csv(
            b"a,y\n1,0\nx,1\n",
            Path::new("t.csv"),
            LabelColumn::Named("y"),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(err, "t.csv: line 3, column 1: `x` is not a number");
        let err = parse_csv(
            b"a,y\n1,0\n",
            Path::new("t.csv"),
            LabelColumn::Named("label"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("no label column `label`"), "{err}");
        let err = parse_csv(
            b"a,y\n1,0\n1,0,3\n",
            Path::new("t.csv"),
            LabelColumn::Named("y"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("line 3"), "{err}");
    }
}
