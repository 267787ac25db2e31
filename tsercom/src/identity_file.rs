//! The identity file: a [`CallerId`] kept on disk so that it survives
//! restarts, created exactly once, and held by one process at a time.
//!
//! - **Created once.** A new id is written to a temporary file, synced,
//!   then hard-linked to the final name: the link fails if the name exists,
//!   so when several processes create the file at once exactly one id
//!   results, and a crash leaves either no file or a whole one.
//! - **Held exclusively.** A runtime locks `<file>.lock` (an advisory
//!   `flock`, released by the kernel when the process ends, however it
//!   ends) for its lifetime and writes its PID there; a second process on
//!   the same file gets [`Error::IdentityInUse`] naming the file, the
//!   holder's PID and how to give each instance its own identity.
//! - **Only regular files, small ones.** FIFOs, devices, directories,
//!   dangling links and links to any of them are refused with
//!   [`Error::IdentityFile`]; a file longer than [`MAX_FILE_LEN`] bytes is
//!   refused without being read to its end. Files are opened non-blocking,
//!   so a FIFO swapped in after the check cannot hang start-up either.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::caller_id::CallerId;
use crate::error::{Error, Result};

/// Longest identity (or lock) file read, in bytes.
pub const MAX_FILE_LEN: u64 = 4096;

/// An identity file held by this process; the lock is released when this
/// is dropped (or the process ends).
pub struct IdentityLock {
    path: PathBuf,
    _file: File,
}

impl std::fmt::Debug for IdentityLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityLock")
            .field("path", &self.path)
            .finish()
    }
}

impl IdentityLock {
    /// The identity file held.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Locks the identity file at `path` for this process, then loads its id
/// or creates it.
///
/// # Errors
/// [`Error::IdentityInUse`] when another process holds it;
/// [`Error::IdentityFile`] for a path that is not a regular file (or too
/// long); [`Error::CorruptCallerIdFile`] for a file that does not hold an
/// id; [`Error::Io`] naming the file for anything else.
pub fn acquire(path: &Path) -> Result<(CallerId, IdentityLock)> {
    let lock_path = sidecar(path, "lock");
    ensure_parent(path)?;
    check_kind(&lock_path)?;
    let io = |source| Error::Io {
        path: lock_path.clone(),
        source,
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(&lock_path)
        .map_err(io)?;
    check_open(&lock_path, &file)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = (&file).take(64).read_to_string(&mut text);
            return Err(Error::IdentityInUse {
                path: path.to_path_buf(),
                pid: text.trim().parse().ok(),
            });
        }
        Err(fs::TryLockError::Error(e)) => return Err(io(e)),
    }
    // The holder's PID, for the next process's error message.
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    writeln!(file, "{}", std::process::id()).map_err(io)?;
    let id = load_or_create(path)?;
    Ok((
        id,
        IdentityLock {
            path: path.to_path_buf(),
            _file: file,
        },
    ))
}

/// Loads the id at `path`, or creates it exactly once (see the module
/// doc); does not lock.
///
/// # Errors
/// As [`acquire`], but never [`Error::IdentityInUse`].
pub fn load_or_create(path: &Path) -> Result<CallerId> {
    if let Some(id) = read_id(path)? {
        return Ok(id);
    }
    ensure_parent(path)?;
    let id = CallerId::random();
    let tmp = sidecar(path, &format!("tmp.{}.{}", std::process::id(), id));
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let written = (|| {
        let mut file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        writeln!(file, "{id}")?;
        file.sync_all()
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(io(e));
    }
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
            }
            Ok(id)
        }
        // Another process created it first: its id is the one.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            read_id(path)?.ok_or_else(|| Error::IdentityFile {
                path: path.to_path_buf(),
                reason: "it vanished while being created".into(),
            })
        }
        Err(e) => Err(io(e)),
    }
}

/// The id stored at `path`; `None` when nothing is there.
fn read_id(path: &Path) -> Result<Option<CallerId>> {
    if !check_kind(path)? {
        return Ok(None);
    }
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
    check_open(path, &file)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_LEN + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
    if bytes.len() as u64 > MAX_FILE_LEN {
        return Err(Error::IdentityFile {
            path: path.to_path_buf(),
            reason: format!("longer than {MAX_FILE_LEN} bytes; an identity file holds one UUID"),
        });
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| Error::CorruptCallerIdFile {
        path: path.to_path_buf(),
        reason: "not UTF-8 text".into(),
    })?;
    CallerId::parse(text.trim_end_matches(['\n', '\r']))
        .map(Some)
        .map_err(|e| Error::CorruptCallerIdFile {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
}

/// `Ok(false)` when nothing is at `path`, `Ok(true)` for a regular file
/// (or a link to one); an error for anything else.
fn check_kind(path: &Path) -> Result<bool> {
    let bad = |reason: String| Error::IdentityFile {
        path: path.to_path_buf(),
        reason,
    };
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(source) => {
            return Err(Error::Io {
                path: path.to_path_buf(),
                source,
            });
        }
        Ok(_) => {}
    }
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(bad(
                "a symbolic link to nothing (it is not replaced; remove it or point it at a file)"
                    .into(),
            ));
        }
        Err(source) => {
            return Err(Error::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    if meta.is_file() {
        Ok(true)
    } else {
        Err(bad(format!(
            "{} (or a link to one), not a regular file",
            describe(&meta.file_type())
        )))
    }
}

/// The same check on what was actually opened (the path may have changed
/// between the check and the open).
fn check_open(path: &Path, file: &File) -> Result<()> {
    let meta = file.metadata().map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if meta.is_file() {
        Ok(())
    } else {
        Err(Error::IdentityFile {
            path: path.to_path_buf(),
            reason: format!("{}, not a regular file", describe(&meta.file_type())),
        })
    }
}

fn describe(kind: &fs::FileType) -> &'static str {
    if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

fn ensure_parent(path: &Path) -> Result<()> {
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        }),
        None => Ok(()),
    }
}

/// `dir/.name.suffix` beside `path` (`dir/name.lock` for the lock, which
/// users may look for).
fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let file = if suffix == "lock" {
        format!("{name}.lock")
    } else {
        format!(".{name}.{suffix}")
    };
    path.with_file_name(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_loaded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a/b/x.caller_id");
        let first = load_or_create(&path).expect("created");
        assert_eq!(load_or_create(&path).expect("loaded"), first);
        assert_eq!(
            fs::read_to_string(&path).expect("read"),
            format!("{first}\n")
        );
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(path.parent().expect("dir"))
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("x.caller_id")]);
    }

    #[test]
    fn second_holder_in_one_process_is_refused_until_released() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.caller_id");
        let (id, lock) = acquire(&path).expect("first");
        let err = acquire(&path).expect_err("held");
        let text = err.to_string();
        assert!(
            matches!(err, Error::IdentityInUse { pid: Some(p), .. } if p == std::process::id()),
            "{text}"
        );
        assert!(
            text.contains("x.caller_id") && text.contains("TSERCOM_INSTANCE"),
            "{text}"
        );
        drop(lock);
        let (again, _lock) = acquire(&path).expect("released");
        assert_eq!(again, id);
    }

    #[test]
    fn special_files_and_dangling_links_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let reason = |path: &Path| match load_or_create(path) {
            Err(Error::IdentityFile { reason, .. }) => reason,
            other => panic!("{path:?}: expected IdentityFile, got {other:?}"),
        };
        assert!(reason(dir.path()).contains("directory"));
        let dev = dir.path().join("zero.caller_id");
        std::os::unix::fs::symlink("/dev/zero", &dev).expect("link");
        assert!(reason(&dev).contains("character device"));
        let dangling = dir.path().join("dangling.caller_id");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).expect("link");
        assert!(reason(&dangling).contains("link to nothing"));
        assert!(fs::symlink_metadata(&dangling).is_ok(), "not replaced");
        let big = dir.path().join("big.caller_id");
        fs::write(&big, vec![b'a'; 5000]).expect("write");
        assert!(reason(&big).contains("longer than"));
    }
}
