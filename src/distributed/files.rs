//! A directory's files as one byte string, to send rank 0's checkpoint to the other ranks
//! (which may run on machines that cannot read rank 0's disk).
//!
//! Layout: per file, its name's length (u32, little-endian), the name (UTF-8), the contents'
//! length (u64) and the contents.

use std::path::Path;

use crate::{Error, Result};

/// The regular files directly inside `dir`, packed (sorted by name).
pub fn pack_dir(dir: &Path) -> Result<Vec<u8>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        if entry.file_type().map_err(|e| Error::io(dir, e))?.is_file() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let path = dir.join(&name);
        let contents = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        out.extend_from_slice(&(name.len() as u32).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&(contents.len() as u64).to_le_bytes());
        out.extend_from_slice(&contents);
    }
    Ok(out)
}

/// Writes the files of `packed` (from [`pack_dir`]) into `dir`, creating it.
pub fn unpack_dir(packed: &[u8], dir: &Path) -> Result<()> {
    let bad = || Error::format(dir, "the packed checkpoint from rank 0 is malformed");
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut rest = packed;
    while !rest.is_empty() {
        let name_len = u32::from_le_bytes(
            split(&mut rest, 4)
                .ok_or_else(bad)?
                .try_into()
                .map_err(|_| bad())?,
        );
        let name = split(&mut rest, name_len as usize).ok_or_else(bad)?;
        let name = std::str::from_utf8(name).map_err(|_| bad())?;
        if name.is_empty() || name.contains('/') || name.starts_with('.') {
            return Err(bad());
        }
        let len = u64::from_le_bytes(
            split(&mut rest, 8)
                .ok_or_else(bad)?
                .try_into()
                .map_err(|_| bad())?,
        );
        let contents =
            split(&mut rest, usize::try_from(len).map_err(|_| bad())?).ok_or_else(bad)?;
        let path = dir.join(name);
        crate::io::write_atomic(&path, contents)?;
    }
    Ok(())
}

/// The first `n` bytes of `rest`, which keeps the others; `None` when it has fewer.
fn split<'a>(rest: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if rest.len() < n {
        return None;
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Some(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packed_directory_unpacks_to_the_same_files() {
        let from = tempfile::tempdir().unwrap();
        std::fs::write(from.path().join("a.json"), b"{}").unwrap();
        std::fs::write(from.path().join("weights.bin"), vec![7u8; 1000]).unwrap();
        std::fs::create_dir(from.path().join("sub")).unwrap();
        let packed = pack_dir(from.path()).unwrap();
        let to = tempfile::tempdir().unwrap();
        unpack_dir(&packed, to.path()).unwrap();
        assert_eq!(std::fs::read(to.path().join("a.json")).unwrap(), b"{}");
        assert_eq!(
            std::fs::read(to.path().join("weights.bin")).unwrap(),
            vec![7u8; 1000]
        );
        assert!(!to.path().join("sub").exists());
        // Truncated: an error, not a panic.
        assert!(unpack_dir(&packed[..packed.len() - 1], to.path()).is_err());
    }
}
