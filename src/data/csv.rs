//! CSV tables with a header row: every column but the named label column is a feature.

use std::path::Path;

use super::{Dataset, RowOrigin};
use crate::tensor::Tensor;
use crate::{io, limits, Error, Result};

/// Loads a CSV file with a header, using `label_column` as the label.
///
/// ```
/// # fn main() -> deeptrain::Result<()> {
/// let path = std::env::temp_dir().join(format!("deeptrain-doc-{}.csv", std::process::id()));
/// std::fs::write(&path, "a,b,label\n1,2,0\n3,4,1\n").expect("a temporary file");
/// let data = deeptrain::data::load_csv(&path, "label")?;
/// assert_eq!((data.len(), data.feature_shape()), (2, &[2][..]));
/// # std::fs::remove_file(&path).ok();
/// # Ok(())
/// # }
/// ```
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

/// The file's bytes, decompressed when it is gzipped (its magic bytes), within
/// [`limits::MAX_FILE_BYTES`] either way: a CSV declares no size, so the budget is the bound.
pub(super) fn read_maybe_gzipped(path: &Path) -> Result<Vec<u8>> {
    let bytes = io::read(path)?;
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(bytes);
    }
    let mut decoder = flate2::read::MultiGzDecoder::new(&bytes[..]);
    limits::read_capped(
        &mut decoder,
        path,
        limits::MAX_FILE_BYTES,
        "the decompressed",
    )
}

/// Refuses a header that names a column twice (the second `y` would silently be a feature).
pub(super) fn check_unique_headers(headers: &csv::StringRecord, path: &Path) -> Result<()> {
    let mut seen = std::collections::HashMap::new();
    for (i, h) in headers.iter().enumerate() {
        if let Some(first) = seen.insert(h, i) {
            return Err(Error::format(
                path,
                format!(
                    "line 1: column `{h}` appears twice in the header (columns {} and {}); rename one",
                    first + 1,
                    i + 1
                ),
            ));
        }
    }
    Ok(())
}

/// The byte offset of a CSV reader error, where the crate knows it.
fn csv_error_position(e: &csv::Error) -> Option<u64> {
    match e.kind() {
        csv::ErrorKind::UnequalLengths { pos: Some(p), .. } => Some(p.byte()),
        csv::ErrorKind::Utf8 { pos: Some(p), .. } => Some(p.byte()),
        _ => e.position().map(|p| p.byte()),
    }
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
        check_unique_headers(headers, path)?;
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
    if let LabelColumn::Absent = label {
        let headers = reader
            .headers()
            .map_err(|e| Error::format(path, format!("cannot read the header: {e}")))?;
        check_unique_headers(headers, path)?;
    }
    let mut features = Vec::new();
    let mut labels = Vec::new();
    let mut width = None;
    let mut lines = Vec::new();
    // The physical line of a byte offset (blank lines counted), as an editor shows it; records
    // come in order, so counting goes on from the last one.
    let mut counted = (0usize, 1u64);
    let mut line_at = |byte: u64| -> u64 {
        // A record's position is where its parsing began: before any blank lines it skipped.
        let mut byte = (byte as usize).min(bytes.len());
        while byte < bytes.len() && matches!(bytes[byte], b'\n' | b'\r') {
            byte += 1;
        }
        if byte >= counted.0 {
            counted.1 += bytes[counted.0..byte]
                .iter()
                .filter(|&&b| b == b'\n')
                .count() as u64;
            counted.0 = byte;
            counted.1
        } else {
            1 + bytes[..byte].iter().filter(|&&b| b == b'\n').count() as u64
        }
    };
    for record in reader.records() {
        let record = record.map_err(|e| {
            let at = csv_error_position(&e).map(&mut line_at);
            Error::format(
                path,
                match at {
                    Some(l) => format!("line {l}: {e}"),
                    None => e.to_string(),
                },
            )
        })?;
        let line = record.position().map_or(0, |p| line_at(p.byte()));
        lines.push(line);
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
    let origin = RowOrigin {
        path: path.to_path_buf(),
        unit: "line",
        numbers: lines,
    };
    if matches!(label, LabelColumn::Absent) {
        return Ok(Dataset {
            x: Tensor::from_vec(features, &[n, f]),
            labels: Tensor::zeros(&[n, 0]),
            weights: None,
            origin: Some(origin),
            stream: None,
        });
    }
    if f == 0 {
        return Err(Error::format(path, "no feature columns besides the label"));
    }
    Ok(Dataset {
        x: Tensor::from_vec(features, &[n, f]),
        labels: Tensor::from_vec(labels, &[n, 1]),
        weights: None,
        origin: Some(origin),
        stream: None,
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
