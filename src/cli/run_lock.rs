//! One training process per run directory: an advisory lock on `DIR/.lock`, which holds the
//! owner's pid. The kernel releases the lock when its process ends, however it ends, so a lock
//! left by a killed run is detected as stale and taken over.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::Path;

use deeptrain::{Error, Result};

/// Held while a run writes into its directory; released when dropped or when the process ends.
pub struct RunLock {
    file: File,
}

impl RunLock {
    /// Takes the lock of run directory `dir`, or fails naming the process that holds it.
    pub fn acquire(dir: &Path) -> Result<RunLock> {
        let path = dir.join(".lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        // SAFETY: flock on a descriptor this function owns.
        let taken = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
        if !taken {
            let mut owner = String::new();
            let _ = file.read_to_string(&mut owner);
            let owner = owner.trim();
            return Err(Error::Io {
                path,
                message: format!(
                    "another deeptrain process{} is training into {}: wait for it to finish or stop it, or choose another --out",
                    if owner.is_empty() {
                        String::new()
                    } else {
                        format!(" (pid {owner})")
                    },
                    dir.display()
                ),
            });
        }
        let mut previous = String::new();
        let _ = file.read_to_string(&mut previous);
        if !previous.trim().is_empty() {
            println!(
                "Took over the stale lock of {} (pid {} has ended)",
                dir.display(),
                previous.trim()
            );
        }
        let write = |file: &mut File| -> std::io::Result<()> {
            file.set_len(0)?;
            file.rewind()?;
            writeln!(file, "{}", std::process::id())?;
            file.flush()
        };
        write(&mut file).map_err(|e| Error::io(&path, e))?;
        Ok(RunLock { file })
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // An empty file marks a cleanly ended run; the kernel drops the lock with the file.
        let _ = self.file.set_len(0);
    }
}
