//! Durable, crash-safe writes and the per-product lock that serialises state changes.
//!
//! A leaf of the base layer: imports nothing of sessctl.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use nix::fcntl::{Flock, FlockArg};

/// Writes `contents` to `path` through a temporary file in the same directory and a rename, so
/// a reader sees the old file or the new one, never a half-written one.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .context("a file path without a parent directory")?;
    fs::create_dir_all(dir).with_context(|| format!("creating directory {}", dir.display()))?;
    let name = path
        .file_name()
        .context("a file path without a file name")?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let write = || -> Result<()> {
        let mut file = File::create(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        Ok(())
    };
    write()
        .inspect_err(|_| {
            // Best effort: the rename did not happen, so the temp file is garbage.
            let _ = fs::remove_file(&tmp);
        })
        .with_context(|| format!("writing {}", path.display()))
}

/// The files of `dir` that [`write_atomic`] began for `.NAME.PID.tmp` and never renamed,
/// because its process was killed mid-write: `(NAME, path)` for each whose PID no longer
/// runs. (A process that runs may be writing it now.)
pub fn abandoned_temp_files(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    Ok(entries(dir)?
        .into_iter()
        .filter_map(|entry| {
            let file = entry.file_name().into_string().ok()?;
            let (name, pid) = file
                .strip_prefix('.')?
                .strip_suffix(".tmp")?
                .rsplit_once('.')?;
            let pid: u32 = pid.parse().ok()?;
            let running = Path::new(&format!("/proc/{pid}")).exists();
            (!running).then(|| (name.to_string(), entry.path()))
        })
        .collect())
}

/// Writes `text` to `path` (atomically) unless the file already holds exactly that; returns
/// whether it wrote.
pub fn write_if_changed(path: &Path, text: &str) -> Result<bool> {
    if read_optional(path)?.as_deref() == Some(text) {
        return Ok(false);
    }
    write_atomic(path, text.as_bytes())?;
    Ok(true)
}

/// Creates `path` with `contents`, readable by its owner only (0600), unless it exists: then
/// nothing is written and `false` returned. Whole or absent: the file is written under a
/// temporary name and linked into place, and of two racing callers one link wins.
pub fn create_private(path: &Path, contents: &[u8]) -> Result<bool> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path
        .parent()
        .context("a file path without a parent directory")?;
    fs::create_dir_all(dir).with_context(|| format!("creating directory {}", dir.display()))?;
    let tmp = dir.join(format!(".new.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<bool> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        match fs::hard_link(&tmp, path) {
            Ok(()) => Ok(true),
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(err) => Err(err),
        }
    };
    let created = write();
    // The temporary name is garbage whether or not the link happened.
    let _ = fs::remove_file(&tmp);
    created.with_context(|| format!("creating {}", path.display()))
}

/// Renames `from` to `to`, creating `to`'s parent: one atomic step on one file system.
pub fn rename(from: &Path, to: &Path) -> Result<()> {
    if let Some(dir) = to.parent() {
        fs::create_dir_all(dir).with_context(|| format!("creating directory {}", dir.display()))?;
    }
    fs::rename(from, to).with_context(|| format!("moving {} to {}", from.display(), to.display()))
}

/// The entries of directory `dir`; one that does not exist has none.
pub fn entries(dir: &Path) -> Result<Vec<fs::DirEntry>> {
    match fs::read_dir(dir) {
        Ok(list) => list
            .collect::<std::io::Result<_>>()
            .with_context(|| format!("listing {}", dir.display())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(err) => Err(err).with_context(|| format!("listing {}", dir.display())),
    }
}

/// Removes `path`; a file that is already gone is not an error.
pub fn remove_file(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            Err(err).with_context(|| format!("removing {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// Reads the JSON value in `path`, or `None` when the file does not exist.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match read_optional(path)? {
        None => Ok(None),
        Some(text) => serde_json::from_str(&text)
            .map(Some)
            .with_context(|| format!("parsing {}", path.display())),
    }
}

/// Writes `value` as pretty JSON to `path`, atomically; `what` names it in an error.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T, what: &str) -> Result<()> {
    let text =
        serde_json::to_string_pretty(value).with_context(|| format!("serialising {what}"))?;
    write_atomic(path, text.as_bytes())
}

/// Reads `path`, or `None` when it does not exist.
pub fn read_optional(path: &Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
    }
}

/// An exclusive `flock` held until dropped. The kernel releases it when the process dies, so a
/// killed sessctl never leaves a stale lock behind.
pub struct Lock {
    flock: Flock<File>,
}

impl Lock {
    pub fn acquire(path: &Path) -> Result<Lock> {
        use std::os::unix::fs::MetadataExt;
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)
                .with_context(|| format!("creating directory {}", dir.display()))?;
        }
        loop {
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true)
                .open(path)
                .with_context(|| format!("opening lock file {}", path.display()))?;
            let flock = Flock::lock(file, FlockArg::LockExclusive)
                .map_err(|(_, errno)| errno)
                .with_context(|| format!("locking {}", path.display()))?;
            // gc removes a gone product's lock file while it holds it: a lock taken on the
            // removed file guards nothing, so lock the file now at that path instead.
            let held = flock
                .metadata()
                .with_context(|| format!("reading lock file {}", path.display()))?;
            if let Ok(now) = fs::metadata(path) {
                if now.ino() == held.ino() && now.dev() == held.dev() {
                    return Ok(Lock { flock });
                }
            }
        }
    }

    /// The locked file, for a lock that guards its own content.
    pub fn file(&mut self) -> &mut File {
        &mut self.flock
    }
}
/// A reflink of `src` at `dest` where the file system can clone, else a copy.
pub fn clone_or_copy(src: &Path, dest: &Path) -> Result<()> {
    let from = File::open(src).with_context(|| format!("opening {}", src.display()))?;
    let to = File::create(dest).with_context(|| format!("creating {}", dest.display()))?;
    // FICLONE, _IOW(0x94, 9, int): clones the whole file on btrfs, XFS and others.
    const FICLONE: nix::libc::c_ulong = 0x4004_9409;
    // Safety: both descriptors are open for the duration of the call, and FICLONE reads only
    // the integer passed by value.
    let cloned = unsafe { nix::libc::ioctl(to.as_raw_fd(), FICLONE as _, from.as_raw_fd()) } == 0;
    if !cloned {
        drop(to);
        fs::copy(src, dest)
            .with_context(|| format!("copying {} to {}", src.display(), dest.display()))?;
    }
    Ok(())
}

/// Copies the tree `src` to `dest`, each file a reflink where the file system can clone.
pub fn copy_tree(src: &Path, dest: &Path) -> Result<()> {
    fs::create_dir_all(dest).with_context(|| format!("creating {}", dest.display()))?;
    for entry in fs::read_dir(src).with_context(|| format!("listing {}", src.display()))? {
        let path = entry
            .with_context(|| format!("listing {}", src.display()))?
            .path();
        let target = dest.join(path.file_name().context("an entry without a name")?);
        if path.is_dir() {
            copy_tree(&path, &target)?;
        } else {
            clone_or_copy(&path, &target)?;
        }
    }
    Ok(())
}
