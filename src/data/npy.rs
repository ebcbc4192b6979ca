//! NPY arrays (NumPy's `.npy` format, read with the `npyz` crate): features from one file, labels
//! from another.

use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use npyz::{DType, NpyFile, Order, TypeChar, TypeStr};

use super::{Dataset, RowOrigin};
use crate::tensor::Tensor;
use crate::{io, limits, Error, Result};

/// Reads a C-order numeric `.npy` array as f32, with its shape.
pub fn read_npy(path: &Path) -> Result<Tensor> {
    NpyRows::open(path)?.read_all()
}

/// The rows of a `.npy` array read by position, without reading the rest of the file: what a
/// rank of a data-parallel run with sharded data loads (see [`super::prepare_shard`]).
#[derive(Clone, Debug)]
pub struct NpyRows {
    path: PathBuf,
    header: Header,
    /// Where the values start in the file.
    data_start: u64,
}

impl NpyRows {
    /// Opens `path` and checks its header (type, order, that the file holds every value).
    /// The array may be larger than memory: only the rows read are bounded
    /// ([`crate::limits::array_values`]).
    pub fn open(path: &Path) -> Result<NpyRows> {
        let mut head = Vec::new();
        io::open_regular(path)?
            .take(4096)
            .read_to_end(&mut head)
            .map_err(|e| Error::io(path, e))?;
        reject_objects(path, &head)?;
        let npy = NpyFile::new(BufReader::new(io::open_regular(path)?))
            .map_err(|e| Error::format(path, format!("not a valid .npy file: {e}")))?;
        let header = Header::check(path, &npy)?;
        let length = std::fs::metadata(path)
            .map_err(|e| Error::io(path, e))?
            .len();
        let data_start = data_offset(&head);
        header.check_length(path, length, data_start)?;
        header.kind(path)?;
        Ok(NpyRows {
            path: path.to_path_buf(),
            header,
            data_start,
        })
    }

    /// The array's shape: (rows, ...).
    pub fn shape(&self) -> &[usize] {
        &self.header.shape
    }

    /// The file, where its values start, their type and whether they are big-endian: what
    /// [`super::stream`] needs to read rows itself with positioned reads.
    pub(super) fn raw_layout(&self) -> Result<(&Path, u64, Kind, bool)> {
        let kind = self.header.kind(&self.path)?;
        let big = self.header.type_str.endianness() == npyz::Endianness::Big;
        Ok((&self.path, self.data_start, kind, big))
    }

    /// The rows at `rows` (indices into the first axis), in that order, as f32 (rows, ...).
    /// The file is read in ascending row order, seeking over the rows not asked for.
    pub fn read_rows(&self, rows: &[u64]) -> Result<Tensor> {
        let total = self.header.shape.first().copied().unwrap_or(1) as u64;
        if let Some(&bad) = rows.iter().find(|&&r| r >= total) {
            return Err(Error::format(
                &self.path,
                format!("row {bad} asked for, but the array has {total} rows"),
            ));
        }
        let mut ascending: Vec<(u64, usize)> =
            rows.iter().enumerate().map(|(at, &r)| (r, at)).collect();
        ascending.sort_unstable();
        let row_shape = self.header.shape.get(1..).unwrap_or_default();
        let shape: Vec<usize> = std::iter::once(rows.len())
            .chain(row_shape.iter().copied())
            .collect();
        self.read(Some(&ascending), &shape)
    }

    /// The whole array as f32, in one pass over the file (a 0-d array as shape (1)).
    pub fn read_all(&self) -> Result<Tensor> {
        let shape = if self.header.shape.is_empty() {
            vec![1]
        } else {
            self.header.shape.clone()
        };
        self.read(None, &shape)
    }

    /// Reads the rows `ascending` lists ((row, place in the output), by row), or every value,
    /// into a tensor of `shape`; the size is checked before allocating.
    fn read(&self, ascending: Option<&[(u64, usize)]>, shape: &[usize]) -> Result<Tensor> {
        let path = self.path.as_path();
        let dims: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
        // A whole array too large for memory may still be trained on, read batch by batch.
        let hint = |e: Error| match (ascending, e) {
            (None, Error::Format { path, message }) => Error::Format {
                path,
                message: format!(
                    "{message}; to train on it without loading it, set `stream = true` in [data]"
                ),
            },
            (_, e) => e,
        };
        let count = limits::array_values(path, &dims).map_err(hint)?;
        let mut values = limits::vec_with_capacity::<f32>(path, count).map_err(hint)?;
        values.resize(count, 0.0);
        let row_len: usize = self
            .header
            .shape
            .get(1..)
            .unwrap_or_default()
            .iter()
            .product();
        let npy = NpyFile::new(KeptBuffer::new(io::open_regular(path)?))
            .map_err(|e| Error::format(path, format!("not a valid .npy file: {e}")))?;
        let (rows, out) = (ascending, &mut values[..]);
        let read = match self.header.kind(path)? {
            Kind::F32 => gather::<f32>(npy, rows, row_len, out, |v| v),
            Kind::F64 => gather::<f64>(npy, rows, row_len, out, |v| v as f32),
            Kind::U8 => gather::<u8>(npy, rows, row_len, out, f32::from),
            Kind::I32 => gather::<i32>(npy, rows, row_len, out, |v| v as f32),
            Kind::I64 => gather::<i64>(npy, rows, row_len, out, |v| v as f32),
            Kind::Bool => gather::<bool>(npy, rows, row_len, out, |v| v as u8 as f32),
        };
        read.map_err(|e| Error::format(path, format!("cannot read the values: {e}")))?;
        Ok(Tensor::from_vec(values, shape))
    }
}

/// A buffered file whose relative seeks keep the buffer (`BufReader::seek` always drops it):
/// rows read in ascending order with small gaps between them then cost a few large reads
/// rather than a seek and a read each; a gap longer than the buffer is one seek.
struct KeptBuffer {
    inner: BufReader<std::fs::File>,
    position: u64,
}

impl KeptBuffer {
    /// The buffer: a few hundred rows of a few hundred features.
    const CAPACITY: usize = 256 << 10;

    fn new(file: std::fs::File) -> Self {
        KeptBuffer {
            inner: BufReader::with_capacity(Self::CAPACITY, file),
            position: 0,
        }
    }
}

impl Read for KeptBuffer {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.position += n as u64;
        Ok(n)
    }
}

impl Seek for KeptBuffer {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        match to {
            SeekFrom::Current(delta) => {
                self.inner.seek_relative(delta)?;
                self.position = self.position.checked_add_signed(delta).ok_or_else(|| {
                    std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start")
                })?;
            }
            other => self.position = self.inner.seek(other)?,
        }
        Ok(self.position)
    }
}

/// Features are (N, ...): an error for a 1-D array.
pub(super) fn check_features_shape(path: &Path, shape: &[usize]) -> Result<()> {
    if shape.len() < 2 {
        return Err(Error::format(
            path,
            format!(
                "a 1-D array of shape {shape:?}: features are (N, F), one row per sample; save x.reshape(-1, 1) for a single feature"
            ),
        ));
    }
    Ok(())
}

/// The labels in `labels` as (N, L), checked to be one per sample of the `n` in `features`.
pub(super) fn read_labels(labels: &Path, n: usize, features: &Path) -> Result<Tensor> {
    let mut y = read_npy(labels)?;
    if y.rows() != n {
        return Err(Error::format(
            labels,
            format!(
                "{} labels for {n} samples in {}",
                y.rows(),
                features.display()
            ),
        ));
    }
    let width = y.row_len().max(1);
    y.resize(&[n, width]);
    Ok(y)
}

/// Reads the rows `ascending` lists ((row, place in the output), by row) into `out`, or, without
/// a list, the first `out.len()` values.
fn gather<T: npyz::Deserialize>(
    npy: NpyFile<KeptBuffer>,
    ascending: Option<&[(u64, usize)]>,
    row_len: usize,
    out: &mut [f32],
    to_f32: impl Fn(T) -> f32,
) -> std::io::Result<()> {
    let mut reader = npy
        .data::<T>()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
    let fill = |reader: &mut npyz::NpyReader<T, KeptBuffer>, slots: &mut [f32]| {
        for slot in slots {
            let value = reader.next().ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the file ends early")
            })??;
            *slot = to_f32(value);
        }
        Ok::<(), std::io::Error>(())
    };
    match ascending {
        None => fill(&mut reader, out)?,
        Some(rows) => {
            for &(row, at) in rows {
                reader.seek_to(row * row_len as u64)?;
                fill(&mut reader, &mut out[at * row_len..(at + 1) * row_len])?;
            }
        }
    }
    Ok(())
}

/// The element types read (as f32).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Kind {
    F32,
    F64,
    U8,
    I32,
    I64,
    Bool,
}

impl Kind {
    /// Bytes per value.
    pub(super) fn width(self) -> usize {
        match self {
            Kind::U8 | Kind::Bool => 1,
            Kind::F32 | Kind::I32 => 4,
            Kind::F64 | Kind::I64 => 8,
        }
    }
}

/// A checked `.npy` header: a C-order array of a plain numeric type, not empty.
#[derive(Clone, Debug)]
struct Header {
    shape: Vec<usize>,
    type_str: TypeStr,
}

impl Header {
    fn check<R: std::io::Read>(path: &Path, npy: &NpyFile<R>) -> Result<Header> {
        if npy.shape().contains(&0) {
            return Err(Error::format(
                path,
                format!("shape {:?} holds no values", npy.shape()),
            ));
        }
        if npy.order() != Order::C {
            return Err(Error::format(
                path,
                "Fortran-ordered arrays are not supported; save with np.ascontiguousarray",
            ));
        }
        let DType::Plain(type_str) = npy.dtype() else {
            return Err(Error::format(
                path,
                "structured arrays are not supported; save a plain numeric array",
            ));
        };
        Ok(Header {
            shape: npy.shape().iter().map(|&d| d as usize).collect(),
            type_str,
        })
    }

    /// Errors when a file of `length` bytes, its data from `offset`, cannot hold every value.
    fn check_length(&self, path: &Path, length: u64, offset: u64) -> Result<()> {
        let width = self.type_str.num_bytes().unwrap_or(0) as u64;
        let needed = self
            .shape
            .iter()
            .try_fold(width, |a, &d| a.checked_mul(d as u64))
            .ok_or_else(|| {
                Error::format(
                    path,
                    format!("shape {:?} declares more bytes than 2^64", self.shape),
                )
            })?;
        if offset.saturating_add(needed) > length {
            return Err(Error::format(
                path,
                format!(
                    "truncated .npy file: shape {:?} needs {needed} bytes of data, the file has {}",
                    self.shape,
                    length.saturating_sub(offset)
                ),
            ));
        }
        Ok(())
    }

    fn kind(&self, path: &Path) -> Result<Kind> {
        let width = self.type_str.num_bytes().unwrap_or(0);
        match (self.type_str.type_char(), width) {
            (TypeChar::Float, 4) => Ok(Kind::F32),
            (TypeChar::Float, 8) => Ok(Kind::F64),
            (TypeChar::Uint, 1) => Ok(Kind::U8),
            (TypeChar::Int, 4) => Ok(Kind::I32),
            (TypeChar::Int, 8) => Ok(Kind::I64),
            (TypeChar::Bool, 1) => Ok(Kind::Bool),
            _ => Err(Error::format(
                path,
                format!(
                    "unsupported dtype `{}`; use float32, float64, uint8, int32, int64 or bool",
                    self.type_str
                ),
            )),
        }
    }
}

/// Object arrays (pickled Python objects) are refused before parsing.
fn reject_objects(path: &Path, head: &[u8]) -> Result<()> {
    if [&b"'|O'"[..], b"\"|O\""]
        .iter()
        .any(|pat| head.windows(pat.len()).any(|w| w == *pat))
    {
        return Err(Error::format(
            path,
            "object arrays (dtype `O`) are not supported; save a numeric array (e.g. x.astype(np.float32))",
        ));
    }
    Ok(())
}

/// Where the values start: after the magic string, the version, the header's length (2 bytes
/// in version 1.0, 4 in 2.0 and 3.0) and the header (NumPy's `format.py`, "Format Version 1.0").
fn data_offset(head: &[u8]) -> u64 {
    let byte = |i: usize| u64::from(head.get(i).copied().unwrap_or(0));
    match head.get(6) {
        Some(1) => 10 + (byte(8) | byte(9) << 8),
        _ => 12 + (byte(8) | byte(9) << 8 | byte(10) << 16 | byte(11) << 24),
    }
}

/// Loads features from `features` (N, ...) and labels from `labels` (N) or (N, L).
pub fn load_npy(features: &Path, labels: &Path) -> Result<Dataset> {
    let x = read_npy(features)?;
    check_features_shape(features, x.shape())?;
    let y = read_labels(labels, x.rows(), features)?;
    let origin = RowOrigin::rows(features, x.rows());
    Ok(Dataset {
        x,
        labels: y,
        weights: None,
        origin,
        stream: None,
    })
}

/// Writes `values` as a `.npy` file of type `descr` (e.g. `"<f4"`, `">f8"`, `"|u1"`) and
/// `shape`, with npyz's writer, for tests.
#[cfg(test)]
pub(crate) fn write_npy<T: npyz::Serialize + Copy>(
    path: &Path,
    descr: &str,
    shape: &[u64],
    values: &[T],
) {
    use npyz::WriterBuilder;
    let dtype = DType::Plain(descr.parse::<TypeStr>().unwrap());
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut writer = npyz::WriteOptions::new()
        .dtype(dtype)
        .shape(shape)
        .writer(file)
        .begin_nd()
        .unwrap();
    writer.extend(values.iter().copied()).unwrap();
    writer.finish().unwrap();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_read_by_position_are_those_of_the_whole_array() {
        let dir = tempfile::tempdir().unwrap();
        let values: Vec<f64> = (0..5 * 3).map(|v| v as f64 * 1.5 - 4.0).collect();
        let path = |name: &str| dir.path().join(name);
        let f32s: Vec<f32> = values.iter().map(|&v| v as f32).collect();
        let i64s: Vec<i64> = values.iter().map(|&v| v as i64).collect();
        let u8s: Vec<u8> = (0..15).collect();
        write_npy(&path("f4.npy"), "<f4", &[5, 3], &f32s);
        write_npy(&path("f8be.npy"), ">f8", &[5, 3], &values);
        write_npy(&path("i8.npy"), "<i8", &[5, 3], &i64s);
        write_npy(&path("u1.npy"), "|u1", &[5, 3], &u8s);
        for name in ["f4.npy", "f8be.npy", "i8.npy", "u1.npy"] {
            let whole = read_npy(&path(name)).unwrap();
            let rows = NpyRows::open(&path(name)).unwrap();
            assert_eq!(rows.shape(), &[5, 3]);
            // Any order, repeats included.
            let picked = rows.read_rows(&[4, 0, 2, 2]).unwrap();
            assert_eq!(picked.shape(), &[4, 3]);
            for (at, &row) in [4usize, 0, 2, 2].iter().enumerate() {
                assert_eq!(picked.row(at), whole.row(row), "{name} row {row}");
            }
            let e = rows.read_rows(&[5]).unwrap_err().to_string();
            assert!(e.contains(name) && e.contains("row 5"), "{e}");
        }
        // The values themselves, not only the agreement of the two readers.
        let f8 = NpyRows::open(&path("f8be.npy"))
            .unwrap()
            .read_rows(&[1])
            .unwrap();
        assert_eq!(f8.data(), &[0.5, 2.0, 3.5]);
    }

    #[test]
    fn rows_of_an_array_larger_than_the_value_limit_are_read() {
        // (2^21, 512) f32: 4 GiB, over the limit a whole array may have, as a sparse file.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.npy");
        let mut header =
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2097152, 512), }".to_string();
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut head = b"\x93NUMPY\x01\x00".to_vec();
        head.extend((header.len() as u16).to_le_bytes());
        head.extend(header.as_bytes());
        let file = std::fs::File::create(&path).unwrap();
        std::os::unix::fs::FileExt::write_all_at(&file, &head, 0).unwrap();
        file.set_len(head.len() as u64 + (1 << 21) * 512 * 4)
            .unwrap();
        // One row with values.
        let row: u64 = 1_000_000;
        let values: Vec<u8> = (0..512).flat_map(|i| (i as f32).to_le_bytes()).collect();
        let at = head.len() as u64 + row * 512 * 4;
        std::os::unix::fs::FileExt::write_all_at(&file, &values, at).unwrap();
        assert!(read_npy(&path)
            .unwrap_err()
            .to_string()
            .contains("over the limit"));
        let big = NpyRows::open(&path).unwrap();
        assert_eq!(big.shape(), &[1 << 21, 512]);
        let picked = big.read_rows(&[row, 0]).unwrap();
        assert_eq!(picked.row(0)[511], 511.0);
        assert!(picked.row(1).iter().all(|&v| v == 0.0));
    }

    #[test]
    fn a_truncated_file_is_refused_when_opened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("short.npy");
        write_npy(&path, "<f4", &[4, 2], &[0.0f32; 8]);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.truncate(bytes.len() - 4);
        std::fs::write(&path, bytes).unwrap();
        let e = NpyRows::open(&path).unwrap_err().to_string();
        assert!(
            e.contains("short.npy") && e.contains("truncated") && e.contains("needs 32 bytes"),
            "{e}"
        );
        assert!(read_npy(&path)
            .unwrap_err()
            .to_string()
            .contains("truncated"));
    }
}
