//! Snapshots of a pinned conversation: its transcript and the folder beside it (subagent
//! transcripts, large tool results), taken before every start of the product's session so a
//! start that goes wrong never costs the conversation.
//!
//! A transcript is appended to in place, so a hard link would keep growing with the original
//! and is no snapshot: each snapshot is a reflink (a copy-on-write clone, where the file system
//! has them) or else a plain copy.
//!
//! Records layer. May import: `paths`, `state`, `store`, `transcript`.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::paths::Paths;
use crate::state::{self, Writer};
use crate::store::{clone_or_copy, copy_tree};

/// Where snapshots are written, and the right to write there: a product's shelf, for whoever
/// may write the product's records (`state::Writer`), or the loose shelf of transcripts
/// repaired by path, which belong to no product and so to no lock.
pub struct Shelf(PathBuf);

impl Shelf {
    pub fn of(writer: &impl Writer) -> Shelf {
        Shelf(writer.dir().snapshots())
    }

    pub fn loose(paths: &Paths) -> Shelf {
        Shelf(paths.loose_snapshots_dir())
    }

    /// The folder, for reading.
    pub fn dir(&self) -> &Path {
        &self.0
    }
}

/// One snapshot, as `transcript snapshots` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    /// `<time>-<session id>`: what `transcript restore` takes.
    pub name: String,
    pub transcript: PathBuf,
    pub bytes: u64,
}

/// Snapshots `transcript` (and its `<id>/` folder, if any) onto `shelf`.
pub fn take(transcript: &Path, shelf: &Shelf) -> Result<PathBuf> {
    let dir = shelf.dir();
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let now = SystemTime::now();
    let nanos = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let stamp = state::rfc3339(now)
        .replace(':', "")
        .replace('Z', &format!(".{nanos:09}Z"));
    let stem = transcript
        .file_stem()
        .context("a transcript path without a file name")?;
    let name = format!("{stamp}-{}", stem.to_string_lossy());
    let dest = dir.join(format!("{name}.jsonl"));
    clone_or_copy(transcript, &dest)?;
    let folder = transcript.with_extension("");
    if folder.is_dir() {
        copy_tree(&folder, &dir.join(&name))?;
    }
    Ok(dest)
}

/// Keeps the newest `keep` snapshots on `shelf`, with their folders.
pub fn prune(shelf: &Shelf, keep: usize) -> Result<()> {
    let dir = shelf.dir();
    let all = list(dir)?;
    for old in all.iter().take(all.len().saturating_sub(keep)) {
        fs::remove_file(&old.transcript)
            .with_context(|| format!("removing {}", old.transcript.display()))?;
        let folder = dir.join(&old.name);
        if folder.is_dir() {
            fs::remove_dir_all(&folder)
                .with_context(|| format!("removing {}", folder.display()))?;
        }
    }
    Ok(())
}

/// The snapshots in `dir`, oldest first.
pub fn list(dir: &Path) -> Result<Vec<Snapshot>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err).with_context(|| format!("listing {}", dir.display())),
    };
    let mut found = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("listing {}", dir.display()))?
            .path();
        if path.extension().is_some_and(|e| e == "jsonl") {
            let bytes = fs::metadata(&path)
                .with_context(|| format!("reading {}", path.display()))?
                .len();
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            found.push(Snapshot {
                name,
                transcript: path,
                bytes,
            });
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

/// Brings snapshot `name` of `shelf` back into `project` as conversation `new_id`, with its
/// folder; the snapshot stays.
pub fn restore(shelf: &Shelf, name: &str, project: &Path, new_id: &str) -> Result<PathBuf> {
    let dir = shelf.dir();
    let source = dir.join(format!("{name}.jsonl"));
    let old_id = crate::transcript::analyze(&source)?
        .report
        .session_id
        .unwrap_or_default();
    fs::create_dir_all(project).with_context(|| format!("creating {}", project.display()))?;
    let dest = project.join(format!("{new_id}.jsonl"));
    crate::transcript::copy_as(&source, &dest, &old_id, new_id)?;
    let folder = dir.join(name);
    if folder.is_dir() {
        copy_tree(&folder, &project.join(new_id))?;
    }
    Ok(dest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_are_copies_and_pruned_to_the_newest() {
        let tmp = std::env::temp_dir().join(format!("sessctl-snap-{}", std::process::id()));
        let source = tmp.join("projects/-p/abc.jsonl");
        fs::create_dir_all(source.parent().unwrap()).unwrap();
        fs::create_dir_all(tmp.join("projects/-p/abc/subagents")).unwrap();
        fs::write(tmp.join("projects/-p/abc/subagents/agent-1.jsonl"), "{}\n").unwrap();
        let paths = Paths {
            config_home: tmp.join("config"),
            state_home: tmp.clone(),
            runtime_dir: None,
        };
        let shelf = Shelf::loose(&paths);
        let dir = shelf.dir();
        for n in 0..3 {
            fs::write(&source, "x\n".repeat(n + 1)).unwrap();
            take(&source, &shelf).unwrap();
        }
        // Appending to the original does not change a snapshot.
        fs::write(&source, "changed\n").unwrap();
        let all = list(dir).unwrap();
        assert_eq!(all.iter().map(|s| s.bytes).collect::<Vec<_>>(), [2, 4, 6]);
        assert!(dir
            .join(&all[0].name)
            .join("subagents/agent-1.jsonl")
            .is_file());
        prune(&shelf, 2).unwrap();
        let kept = list(dir).unwrap();
        assert_eq!(kept.iter().map(|s| s.bytes).collect::<Vec<_>>(), [4, 6]);
        assert!(!dir.join(&all[0].name).exists());
        fs::remove_dir_all(&tmp).unwrap();
    }
}
