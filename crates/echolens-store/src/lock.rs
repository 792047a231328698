//! One writer at a time: an exclusive lock on `STORE/echolens.lock`, held from before a writer reads the stored
//! keys until it is dropped.
//!
//! The lock is the operating system's advisory file lock (`flock` on Unix, `LockFileEx` on Windows), so the
//! kernel releases it when its holder exits, however it exits: a store is never left locked by a crashed or
//! killed process, and no stale-lock rule based on times or process ids is needed. The file's content (the
//! holder's process id, start time and command) is only there to say who holds it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The lock file's name in the store's folder.
pub const LOCK_FILE: &str = "echolens.lock";

/// The store's write lock; released when dropped.
#[derive(Debug)]
pub struct WriteLock {
    file: File,
    path: PathBuf,
}

impl WriteLock {
    /// Take the write lock of the store at `root` (its folder must exist), or fail at once with
    /// [`Error::Busy`], naming the holder, when another process holds it.
    pub fn acquire(root: &Path) -> Result<WriteLock> {
        let path = root.join(LOCK_FILE);
        let io = |source| Error::Io { path: path.clone(), source };
        let mut file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                // The holder writes who it is just after taking the lock: give it a moment.
                let mut holder = String::new();
                for _ in 0..20 {
                    holder.clear();
                    let _ = file.seek(SeekFrom::Start(0));
                    let _ = file.read_to_string(&mut holder);
                    if !holder.trim().is_empty() {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                return Err(Error::Busy { path, holder: describe(&holder) });
            }
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(Error::Io {
                    path,
                    source: std::io::Error::new(
                        source.kind(),
                        format!(
                            "cannot lock the store for writing ({source}); is it on a file system without file locks?"
                        ),
                    ),
                });
            }
        }
        let since = crate::rfc3339(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX)),
        );
        let command: Vec<String> = std::env::args().collect();
        let text = serde_json::json!({"pid": std::process::id(), "since": since, "command": command.join(" ")});
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(format!("{text}\n").as_bytes()).map_err(io)?;
        Ok(WriteLock { file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        // The holder's details go with the lock; the kernel releases the lock itself when the file closes.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

/// "process 123 since 2026-12-04T10:00:00Z (echolens ingest ...)" from the lock file's content.
fn describe(text: &str) -> String {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(text.trim()) else {
        return "another process".to_owned();
    };
    let pid = v["pid"].as_u64().map_or("?".to_owned(), |p| p.to_string());
    let since = v["since"].as_str().unwrap_or("?");
    match v["command"].as_str() {
        Some(command) if !command.is_empty() => format!("process {pid} since {since} ({command})"),
        _ => format!("process {pid} since {since}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_naming_the_first_and_given_once_it_is_released() {
        let dir = tempfile::tempdir().unwrap();
        let first = WriteLock::acquire(dir.path()).unwrap();
        let err = WriteLock::acquire(dir.path()).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::Busy { .. }), "{text}");
        assert!(text.contains(&format!("process {}", std::process::id())), "{text}");
        assert!(text.contains("being written"), "{text}");
        drop(first);
        let again = WriteLock::acquire(dir.path()).unwrap();
        assert!(again.path().ends_with(LOCK_FILE));
    }

    #[test]
    fn a_lock_file_left_by_a_dead_process_does_not_lock() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(LOCK_FILE), r#"{"pid": 999999, "since": "2020-01-01T00:00:00Z"}"#).unwrap();
        WriteLock::acquire(dir.path()).unwrap();
    }
}
