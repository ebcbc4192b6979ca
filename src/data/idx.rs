//! IDX files (the MNIST format), gzipped or not.
//!
//! Layout (yann.lecun.com/exdb/mnist): two zero bytes, a type byte (0x08 u8, 0x09 i8, 0x0B i16,
//! 0x0C i32, 0x0D f32, 0x0E f64), the number of dimensions, then each dimension as a big-endian
//! u32, then the values, big-endian, row-major.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::{io, limits, Error, Result};

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
    let file = io::open_regular(path)?;
    let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut raw = BufReader::new(file);
    let is_gzip = raw
        .fill_buf()
        .map_err(|e| Error::io(path, e))?
        .starts_with(&[0x1f, 0x8b]);
    if is_gzip {
        parse_idx(&mut MultiGzDecoder::new(raw), path, None)
    } else {
        parse_idx(&mut raw, path, Some(file_len))
    }
}

/// Parses an IDX stream; `file_len`, when known (a plain file), lets a header that claims more
/// values than the file holds be refused before anything is allocated.
fn parse_idx(reader: &mut dyn Read, path: &Path, file_len: Option<u64>) -> Result<IdxArray> {
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
    let width: usize = match type_code {
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
        dims.push(u32::from_be_bytes(d) as u64);
    }
    if dims.contains(&0) {
        return Err(Error::format(
            path,
            format!("IDX header declares dimensions {dims:?}: no values"),
        ));
    }
    let count = limits::array_values(path, &dims)?;
    let needed = count as u64 * width as u64;
    let header_len = 4 + 4 * ndim as u64;
    if let Some(len) = file_len {
        if len.saturating_sub(header_len) < needed {
            return Err(Error::format(
                path,
                format!(
                    "truncated IDX file: dimensions {dims:?} need {needed} bytes of values, found {}",
                    len.saturating_sub(header_len)
                ),
            ));
        }
    }
    // Values are decoded chunk by chunk, and memory grows only with the values actually read: a
    // gzip stream claiming more than it holds costs what it holds.
    let mut values: Vec<f32> = Vec::new();
    let mut chunk = vec![0u8; (1 << 16) * width];
    let mut read_total = 0u64;
    while (values.len()) < count {
        let want = ((count - values.len()) * width).min(chunk.len());
        let got = read_full(reader, &mut chunk[..want])
            .map_err(|e| Error::format(path, format!("cannot read the values: {e}")))?;
        read_total += got as u64;
        if got < want {
            return Err(Error::format(
                path,
                format!(
                    "truncated IDX file: dimensions {dims:?} need {needed} bytes of values, found {read_total}"
                ),
            ));
        }
        values.try_reserve(want / width).map_err(|_| {
            Error::format(
                path,
                format!(
                    "dimensions {dims:?} need {} of memory, more than is available",
                    limits::human_bytes(count as u64 * 4)
                ),
            )
        })?;
        decode(type_code, &chunk[..want], &mut values);
    }
    let dims = dims.into_iter().map(|d| d as usize).collect();
    Ok(IdxArray { dims, values })
}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
fn read_full(reader: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Appends the big-endian values of `bytes`, of IDX type `type_code`, as f32.
fn decode(type_code: u8, bytes: &[u8], out: &mut Vec<f32>) {
    match type_code {
        0x08 => out.extend(bytes.iter().map(|&b| b as f32)),
        0x09 => out.extend(bytes.iter().map(|&b| b as i8 as f32)),
        0x0B => out.extend(
            bytes
                .chunks_exact(2)
                .map(|c| i16::from_be_bytes([c[0], c[1]]) as f32),
        ),
        0x0C => out.extend(
            bytes
                .chunks_exact(4)
                .map(|c| i32::from_be_bytes([c[0], c[1], c[2], c[3]]) as f32),
        ),
        0x0D => out.extend(
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_be_bytes([c[0], c[1], c[2], c[3]])),
        ),
        _ => {
            out.extend(bytes.chunks_exact(8).map(|c| {
                f64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
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
