//! IDX files (the MNIST format), gzipped or not.
//!
//! Layout (yann.lecun.com/exdb/mnist): two zero bytes, a type byte (0x08 u8, 0x09 i8, 0x0B i16,
//! 0x0C i32, 0x0D f32, 0x0E f64), the number of dimensions, then each dimension as a big-endian
//! u32, then the values, big-endian, row-major.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::{Error, Result};

/// The largest number of values an IDX file may declare (2^32: 16 GiB as f32).
pub const MAX_IDX_VALUES: u64 = 1 << 32;

/// An IDX array: its dimensions and its values as f32.
#[derive(Clone, Debug, PartialEq)]
pub struct IdxArray {
    /// Dimensions, outermost first (N, rows, cols for images).
    pub dims: Vec<usize>,
    /// Values, row-major.
    pub values: Vec<f32>,
}

/// Reads an IDX file; a `.gz` file (detected by its magic bytes) is decompressed on the fly.
pub fn read_idx(path: &Path) -> Result<IdxArray> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut raw = BufReader::new(file);
    let is_gzip = raw
        .fill_buf()
        .map_err(|e| Error::io(path, e))?
        .starts_with(&[0x1f, 0x8b]);
    let mut reader: Box<dyn Read> = if is_gzip {
        Box::new(MultiGzDecoder::new(raw))
    } else {
        Box::new(raw)
    };
    parse_idx(&mut reader, path)
}

fn parse_idx(reader: &mut dyn Read, path: &Path) -> Result<IdxArray> {
    let truncated =
        |what: &str| Error::format(path, format!("truncated IDX file: {what} is incomplete"));
    let mut header = [0u8; 4];
    reader
        .read_exact(&mut header)
        .map_err(|_| truncated("the header"))?;
    if header[0] != 0 || header[1] != 0 {
        return Err(Error::format(
            path,
            "not an IDX file (it must start with two zero bytes)",
        ));
    }
    let (type_code, ndim) = (header[2], header[3] as usize);
    let width = match type_code {
        0x08 | 0x09 => 1,
        0x0B => 2,
        0x0C | 0x0D => 4,
        0x0E => 8,
        other => {
            return Err(Error::format(
                path,
                format!("unknown IDX value type 0x{other:02X}"),
            ))
        }
    };
    if ndim == 0 {
        return Err(Error::format(path, "IDX file declares zero dimensions"));
    }
    let mut dims = Vec::with_capacity(ndim);
    for _ in 0..ndim {
        let mut d = [0u8; 4];
        reader
            .read_exact(&mut d)
            .map_err(|_| truncated("the dimension list"))?;
        dims.push(u32::from_be_bytes(d) as usize);
    }
    let count = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .unwrap_or(u64::MAX);
    if count > MAX_IDX_VALUES {
        return Err(Error::format(path, format!("IDX header declares dimensions {dims:?} ({count} values), over the limit of {MAX_IDX_VALUES}")));
    }
    let count = count as usize;
    let mut bytes = Vec::new();
    reader
        .take((count * width) as u64)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::format(path, format!("cannot read the values: {e}")))?;
    if bytes.len() < count * width {
        return Err(Error::format(
            path,
            format!(
                "truncated IDX file: dimensions {dims:?} need {} bytes of values, found {}",
                count * width,
                bytes.len()
            ),
        ));
    }
    let values: Vec<f32> = match type_code {
        0x08 => bytes.iter().map(|&b| b as f32).collect(),
        0x09 => bytes.iter().map(|&b| b as i8 as f32).collect(),
        0x0B => bytes
            .chunks_exact(2)
            .map(|c| i16::from_be_bytes([c[0], c[1]]) as f32)
            .collect(),
        0x0C => bytes
            .chunks_exact(4)
            .map(|c| i32::from_be_bytes([c[0], c[1], c[2], c[3]]) as f32)
            .collect(),
        0x0D => bytes
            .chunks_exact(4)
            .map(|c| f32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        _ => bytes
            .chunks_exact(8)
            .map(|c| f64::from_be_bytes(c.try_into().expect("8 bytes")) as f32)
            .collect(),
    };
    Ok(IdxArray { dims, values })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn idx_bytes(dims: &[u32], values: &[u8]) -> Vec<u8> {
        let mut out = vec![0, 0, 0x08, dims.len() as u8];
        for d in dims {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out.extend_from_slice(values);
        out
    }

    #[test]
    fn reads_plain_and_gzipped_idx() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = idx_bytes(&[2, 3], &[0, 1, 2, 3, 4, 255]);
        let plain = dir.path().join("a.idx");
        std::fs::write(&plain, &bytes).unwrap();
        let gz = dir.path().join("a.idx.gz");
        let mut enc =
            flate2::write::GzEncoder::new(File::create(&gz).unwrap(), flate2::Compression::fast());
        enc.write_all(&bytes).unwrap();
        enc.finish().unwrap();
        for p in [&plain, &gz] {
            let a = read_idx(p).unwrap();
            assert_eq!(a.dims, vec![2, 3]);
            assert_eq!(a.values, vec![0.0, 1.0, 2.0, 3.0, 4.0, 255.0]);
        }
    }

    #[test]
    fn truncated_and_absurd_headers_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.idx");
        std::fs::write(&p, idx_bytes(&[2, 3], &[0, 1, 2])).unwrap();
        let err = read_idx(&p).unwrap_err().to_string();
        assert!(err.contains("t.idx") && err.contains("truncated"), "{err}");
        std::fs::write(&p, idx_bytes(&[1_000_000, 1_000_000], &[])).unwrap();
        let err = read_idx(&p).unwrap_err().to_string();
        assert!(err.contains("over the limit"), "{err}");
        std::fs::write(&p, [1u8, 2, 3]).unwrap();
        assert!(read_idx(&p).unwrap_err().to_string().contains("truncated"));
    }
}
