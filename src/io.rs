//! Small file helpers: atomic writes (temporary file, fsync, rename) and reads with the path in
//! the error.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use crate::{limits, Error, Result};

/// Writes `bytes` to `path` atomically: a reader sees the old file or the new one, never a part.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .ok_or_else(|| Error::format(path, "not a file path"))?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    result.map_err(|err: std::io::Error| {
        let _ = fs::remove_file(&tmp);
        Error::io(path, err)
    })
}

/// Opens a regular file for reading: a device, FIFO or socket (`/dev/zero`, a named pipe) is
/// refused before a byte is read, since it may never end.
pub fn open_regular(path: &Path) -> Result<File> {
    let meta = fs::metadata(path).map_err(|err| Error::io(path, err))?;
    if meta.is_dir() {
        return Err(Error::format(path, "is a directory, not a file"));
    }
    if !meta.is_file() {
        return Err(Error::format(
            path,
            "is not a regular file (a device, pipe or socket); give a file",
        ));
    }
    File::open(path).map_err(|err| Error::io(path, err))
}

/// Reads a whole regular file (at most [`limits::MAX_FILE_BYTES`]), naming it in the error.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    let mut file = open_regular(path)?;
    limits::read_capped(&mut file, path, limits::MAX_FILE_BYTES, "the file's")
}

/// Reads a whole UTF-8 text file (a regular file, at most [`limits::MAX_FILE_BYTES`]), naming
/// it in the error.
pub fn read_to_string(path: &Path) -> Result<String> {
    String::from_utf8(read(path)?).map_err(|_| Error::format(path, "is not UTF-8 text"))
}
