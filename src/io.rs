//! Small file helpers: atomic writes (temporary file, fsync, rename) and reads with the path in
//! the error.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use crate::{limits, Error, Result};

/// Writes `bytes` to `path` atomically: a reader sees the old file or the new one, never a part.
/// Only regular files are written: an existing target that is not one (a directory, FIFO,
/// device or socket, or a symbolic link to one) is refused, never replaced; through a link to
/// a regular file, that file is replaced and the link kept.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    check_writable(path)?;
    // A symbolic link to a regular file: the file it names is replaced, the link stays.
    let resolved;
    let path = match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            resolved = fs::canonicalize(path).map_err(|err| Error::io(path, err))?;
            resolved.as_path()
        }
        _ => path,
    };
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

/// Refuses `path` as a place to write a file when something other than a regular file is
/// there (a directory, FIFO, device or socket, directly or behind a symbolic link); a missing
/// path or a regular file is fine.
pub fn check_writable(path: &Path) -> Result<()> {
    match fs::metadata(path) {
        Ok(meta) if meta.is_file() => Ok(()),
        Ok(meta) if meta.is_dir() => Err(Error::format(
            path,
            "is a directory; refusing to write a file over it (give a file path)",
        )),
        Ok(_) => Err(Error::format(
            path,
            "is not a regular file (a device, pipe or socket); refusing to write over it (give a file path)",
        )),
        // A dangling symbolic link: writing would replace the link, so refuse it too.
        Err(_) if fs::symlink_metadata(path).is_ok() => Err(Error::format(
            path,
            "is a symbolic link to nothing; refusing to write over it (give a file path)",
        )),
        Err(_) => Ok(()),
    }
}

/// Creates a new regular file for writing, refusing any existing path (file, link, pipe or
/// device), as the TensorBoard event files are created.
pub fn create_new(path: &Path) -> Result<File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|err| Error::io(path, err))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_regular_files_and_refuses_every_other_target() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.txt");
        write_atomic(&file, b"one").unwrap();
        write_atomic(&file, b"two").unwrap();
        assert_eq!(fs::read(&file).unwrap(), b"two");
        let fifo = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()));
        let sub = dir.path().join("sub");
        fs::create_dir(&sub).unwrap();
        let to_dir = dir.path().join("to_dir");
        std::os::unix::fs::symlink(&sub, &to_dir).unwrap();
        let dangling = dir.path().join("dangling");
        std::os::unix::fs::symlink(dir.path().join("nothing"), &dangling).unwrap();
        for target in [&fifo, &sub, &to_dir, &dangling] {
            let err = write_atomic(target, b"x").unwrap_err().to_string();
            assert!(err.contains("refusing"), "{err}");
        }
        use std::os::unix::fs::FileTypeExt;
        assert!(fs::metadata(&fifo).unwrap().file_type().is_fifo());
        assert!(fs::symlink_metadata(&to_dir)
            .unwrap()
            .file_type()
            .is_symlink());
        assert!(fs::symlink_metadata(&dangling)
            .unwrap()
            .file_type()
            .is_symlink());
        // Through a link to a regular file, the file is written and the link kept.
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        write_atomic(&link, b"three").unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read(&file).unwrap(), b"three");
        fs::remove_file(&link).unwrap();
        // Nothing left behind by the refusals.
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 5, "{names:?}");
    }
}
