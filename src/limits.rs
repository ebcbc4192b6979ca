//! Size budgets: everything whose size comes from an input (a file, a header, a spec) is checked
//! against these limits before it is allocated, and the allocation itself is fallible, so that an
//! absurd input gives a one-line error instead of "memory allocation failed" (exit 134).

use std::path::Path;

use crate::{Error, Result};

/// The largest file read whole into memory, and the most a gzip stream may inflate to (2 GiB).
pub const MAX_FILE_BYTES: u64 = 2 << 30;

/// The most values one array read from a file may hold (2^29: 2 GiB as f32).
pub const MAX_ARRAY_VALUES: u64 = 1 << 29;

/// The most parameters (and non-trainable state values) a whole model may have (2^28: 1 GiB as
/// f32, before gradients and optimizer state).
pub const MAX_MODEL_PARAMS: u64 = 1 << 28;

/// Bytes as a short human figure: `20.0 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The number of values in an array of `dims`, refused (naming `path`) when it overflows or
/// exceeds [`MAX_ARRAY_VALUES`].
pub fn array_values(path: &Path, dims: &[u64]) -> Result<usize> {
    let count = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .unwrap_or(u64::MAX);
    if count > MAX_ARRAY_VALUES {
        return Err(Error::format(
            path,
            format!(
                "dimensions {dims:?} declare {count} values ({} as f32), over the limit of {MAX_ARRAY_VALUES} values",
                human_bytes(count.saturating_mul(4))
            ),
        ));
    }
    Ok(count as usize)
}

/// An empty vector with room for `n` values, or an error naming `path` when memory is short.
pub fn vec_with_capacity<T>(path: &Path, n: usize) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| {
        Error::format(
            path,
            format!(
                "needs {} of memory, more than is available",
                human_bytes((n as u64).saturating_mul(std::mem::size_of::<T>() as u64))
            ),
        )
    })?;
    Ok(v)
}

/// Reads `reader` to its end, refusing (naming `path`) more than `limit` bytes; `what` says what
/// the bytes are in the message (`"decompressed"`).
pub fn read_capped(
    reader: &mut dyn std::io::Read,
    path: &Path,
    limit: u64,
    what: &str,
) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::format(path, format!("cannot read: {e}"))),
        };
        if out.len() as u64 + n as u64 > limit {
            return Err(Error::format(
                path,
                format!("{what} size is over the limit of {}", human_bytes(limit)),
            ));
        }
        // Grow by doubling, but never past the limit.
        let room = (out.capacity().max(n) * 2).min(limit as usize) - out.len();
        let extra = if out.capacity() - out.len() >= n {
            0
        } else {
            room.max(n)
        };
        out.try_reserve_exact(extra).map_err(|_| {
            Error::format(
                path,
                format!(
                    "needs over {} of memory, more than is available",
                    human_bytes(out.len() as u64)
                ),
            )
        })?;
        out.extend_from_slice(&chunk[..n]);
    }
    Ok(out)
}

/// The largest number of units a Dense layer (or filters a Conv2D layer) may have (guards
/// against absurd specs).
pub const MAX_UNITS: usize = 1 << 24;

/// The largest parameter tensor a layer may have, 2^28 values (1 GiB of f32): guards against
/// absurd specs before allocating.
pub const MAX_PARAMS_PER_LAYER: usize = 1 << 28;

/// The largest `repeat` of one `[[layers]]` entry, and the most layers a model may have.
pub const MAX_REPEAT: i64 = 10_000;

/// The most inputs one layer may read (and the most model inputs).
pub const MAX_LAYER_INPUTS: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_bytes(512), "512 bytes");
        assert_eq!(human_bytes(20 << 30), "20.0 GiB");
    }

    #[test]
    fn overflowing_and_absurd_dimensions_are_refused() {
        let p = Path::new("x.idx");
        assert_eq!(array_values(p, &[2, 3]).unwrap(), 6);
        assert!(array_values(p, &[u64::MAX, 2]).is_err());
        let err = array_values(p, &[1 << 20, 1 << 20])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("x.idx: ") && err.contains("limit"), "{err}");
    }
}
