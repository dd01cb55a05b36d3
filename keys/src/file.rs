//! Reading and writing key files safely: bounded reads, owner-only permissions, atomic replace.
//!
//! A secret file is checked on the open descriptor (no race between the
//! check and the read) and refused if group or others can access it, as
//! ssh refuses a loose private key. Writes go to a 0600 temporary file in the
//! same directory, are fsynced, then renamed over the target, so a crash
//! during `rotate` or `retire` leaves either the old or the new file, never a
//! torn one.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::error::{KeyError, Result};

/// Largest identity file accepted (about 500 generations).
pub(crate) const MAX_IDENTITY_BYTES: u64 = 64 * 1024;
/// Largest recipients / trusted-cameras file accepted.
pub(crate) const MAX_LIST_BYTES: u64 = 1024 * 1024;

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |error| KeyError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// Reads a whole text file of at most `limit` bytes into a zeroizing buffer.
///
/// With `secret` set, refuses files that group or others may access (Unix).
pub(crate) fn read_bounded(path: &Path, limit: u64, secret: bool) -> Result<Zeroizing<String>> {
    let file = File::open(path).map_err(io_err(path))?;
    let meta = file.metadata().map_err(io_err(path))?;
    if !meta.is_file() {
        return Err(KeyError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    if secret {
        check_owner_only(path, &meta)?;
    }
    if meta.len() > limit {
        return Err(too_large(path, limit));
    }
    let len = usize::try_from(meta.len()).map_err(|_| too_large(path, limit))?;
    // Capacity fixed up front (plus one byte to detect growth) so the buffer
    // holding secrets never reallocates and leaves a copy behind.
    let mut bytes = Zeroizing::new(Vec::with_capacity(len + 1));
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err(path))?;
    if bytes.len() as u64 > limit {
        return Err(too_large(path, limit));
    }
    match std::str::from_utf8(&bytes) {
        Ok(s) => {
            let mut text = Zeroizing::new(String::with_capacity(s.len()));
            text.push_str(s);
            Ok(text)
        }
        Err(e) => {
            let line = 1 + bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            Err(KeyError::NotUtf8 {
                file: path.display().to_string(),
                line,
            })
        }
    }
}

fn too_large(path: &Path, limit: u64) -> KeyError {
    KeyError::TooLarge {
        path: path.to_path_buf(),
        limit,
    }
}

#[cfg(unix)]
fn check_owner_only(path: &Path, meta: &std::fs::Metadata) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(KeyError::InsecurePermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_owner_only(_path: &Path, _meta: &std::fs::Metadata) -> Result<()> {
    // No portable mode bits; Windows ACLs are out of scope (documented in KEYS.md).
    Ok(())
}

/// How [`write_atomic`] treats an existing target.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Overwrite {
    /// Fail with [`KeyError::AlreadyExists`] if the target exists.
    Refuse,
    /// Atomically replace the target.
    Replace,
}

/// Writes `contents` to `path` through a 0600 temporary file, fsync and rename.
pub(crate) fn write_atomic(path: &Path, contents: &[u8], overwrite: Overwrite) -> Result<()> {
    let dir = parent_dir(path);
    let mut builder = tempfile::Builder::new();
    builder.prefix(".kvs-e2ee-keys.").suffix(".tmp");
    // tempfile already creates 0600 files on Unix; say so explicitly, it is the point.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o600));
    }
    let mut tmp = builder.tempfile_in(&dir).map_err(io_err(&dir))?;
    tmp.write_all(contents).map_err(io_err(tmp.path()))?;
    tmp.as_file().sync_all().map_err(io_err(tmp.path()))?;
    let persisted = match overwrite {
        // rename(RENAME_NOREPLACE), or link-then-unlink where unsupported: atomic, and fails
        // if the target exists (no check-then-create race).
        Overwrite::Refuse => tmp.persist_noclobber(path),
        Overwrite::Replace => tmp.persist(path),
    };
    persisted.map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            KeyError::AlreadyExists {
                path: path.to_path_buf(),
            }
        } else {
            KeyError::Io {
                path: path.to_path_buf(),
                error: e.error,
            }
        }
    })?;
    sync_dir(&dir);
    Ok(())
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Makes the rename durable. Best effort: some filesystems cannot fsync a directory.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}
