//! The directories under which the dashboard may create products (`sessctl dashboard enable
//! --root`), and the product it creates there with the very checks of `sessctl enable`.
//!
//! The roots live in their own small file in sessctl's config directory
//! (`Paths::dashboard_roots`), not on the server unit's command line: the server reads them
//! on every request, so a change needs no restart, and a path needs no unit-file quoting.
//! They are stored canonical, so a root later replaced by a symlink moves nothing. The page's
//! command runs in the user manager's environment, so its program is found in the manager's
//! PATH, not the server's.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::control::{self, Request, Step};
use crate::agent::Agent;
use crate::context::Ctx;
use crate::error::{quoted, usage};
use crate::paths::Paths;
use crate::product;
use crate::store;

/// What the page and the API say while no root is set.
pub const OFF: &str = "creating products from the dashboard is off: turn it on with `sessctl dashboard enable --root DIR`, DIR the directory the new products' directories are under";

#[derive(Serialize, Deserialize)]
struct Roots {
    roots: Vec<String>,
}

/// Replaces the roots with `dirs`, each made canonical (none turns creating off); what it
/// changed, as a line, but nothing while creating stays off.
pub fn set(paths: &Paths, dirs: &[PathBuf]) -> Result<Option<String>> {
    let roots = dirs
        .iter()
        .map(|dir| canonical(dir))
        .collect::<Result<Vec<_>>>()?;
    let file = paths.dashboard_roots();
    if roots.is_empty() {
        let was_on = file.exists();
        store::remove_file(&file)?;
        let line = "creating products from the dashboard: off (no --root)";
        return Ok(was_on.then(|| line.to_string()));
    }
    let line = format!(
        "creating products from the dashboard: under {}",
        roots.join(", ")
    );
    store::write_json(&file, &Roots { roots }, "the dashboard's roots")?;
    Ok(Some(line))
}

/// A `--root` made canonical, or a one-line refusal naming it.
fn canonical(dir: &Path) -> Result<String> {
    let shown = quoted(&dir.to_string_lossy());
    let resolved = dir.canonicalize().map_err(|err| {
        usage(format!(
            "--root {shown} cannot be resolved ({err}); give an existing directory"
        ))
    })?;
    if !resolved.is_dir() {
        return Err(usage(format!(
            "--root {shown} is not a directory; give a directory"
        )));
    }
    resolved.into_os_string().into_string().map_err(|raw| {
        usage(format!(
            "--root {raw:?} is not valid UTF-8; give another directory"
        ))
    })
}

/// The roots, canonical; none when creating is off.
pub fn read(paths: &Paths) -> Result<Vec<String>> {
    let file = paths.dashboard_roots();
    let roots: Option<Roots> = store::read_json(&file)
        .with_context(|| format!("reading the dashboard's roots in {}", file.display()))?;
    Ok(roots.map(|r| r.roots).unwrap_or_default())
}

/// The agent profiles a new product may have, by name.
pub fn agents() -> Vec<&'static str> {
    Agent::all().map(Agent::name).collect()
}

/// Creates the product `request` asks for, as `sessctl enable` would, if its directory,
/// symlinks resolved, is under one of the roots; the steps `enable` took.
pub fn create(ctx: &Ctx, request: &Request) -> Result<Vec<Step>> {
    let roots = read(&ctx.paths)?;
    if roots.is_empty() {
        return Err(usage(OFF));
    }
    let dir = match &request.dir {
        Some(dir) if dir.is_absolute() => dir,
        // Relative to what? The server's working directory means nothing to the page.
        other => {
            let shown = other.as_deref().unwrap_or(Path::new("")).to_string_lossy();
            return Err(usage(format!(
                "directory {} is not an absolute path; give one under {}",
                quoted(&shown),
                roots.join(", ")
            )));
        }
    };
    check_within(&roots, dir)?;
    let mut request = request.clone();
    request.command = in_managers_path(ctx, &request.command)?;
    let wanted = control::wanted(&request)?;
    // Again on the directory `enable` resolved: it may have been made, or moved, since.
    check_under(&roots, &wanted.dir)?;
    control::enable(ctx, &wanted, false)
}

/// Refuses `dir` (absolute) unless the part of it that exists, symlinks resolved, is under a
/// root. A directory that does not exist is judged by its nearest ancestor that does, so a
/// path outside the roots gets the roots refusal whether it exists or not: the page learns
/// nothing of the files outside them, and is told the one thing it must change. Inside the
/// roots, `enable`'s own checks say what is wrong (it does not exist, it is a file).
fn check_within(roots: &[String], dir: &Path) -> Result<()> {
    let Some((found, existing)) = dir
        .ancestors()
        .find_map(|d| Some((d, d.canonicalize().ok()?)))
    else {
        // Not even `/` resolves: `enable` says why.
        return Ok(());
    };
    let shown = match found == dir {
        true => existing.to_string_lossy(),
        false => dir.to_string_lossy(),
    };
    if under(roots, &existing) {
        return Ok(());
    }
    Err(outside(roots, &shown))
}

/// The command with its program, when a bare name, found in the user manager's PATH: the
/// unit runs in the manager's environment, and the server that asks may not (`sessctl serve`
/// from a shell), so its own PATH proves nothing. A relative path is refused: it would be
/// relative to the server's working directory.
fn in_managers_path(ctx: &Ctx, command: &[String]) -> Result<Vec<String>> {
    let mut command = match command.is_empty() {
        true => vec![control::DEFAULT_PROGRAM.to_string()],
        false => command.to_vec(),
    };
    let program = &command[0];
    if program.starts_with('/') {
        return Ok(command);
    }
    if program.contains('/') {
        return Err(usage(format!(
            "command {} is a relative path; give its absolute path, or a name the user manager's PATH finds",
            quoted(program)
        )));
    }
    let environment = ctx.systemd()?.environment()?;
    let path = environment
        .iter()
        .find_map(|var| var.strip_prefix("PATH="))
        .unwrap_or_default();
    let found = product::find_in_path(program, std::ffi::OsStr::new(path)).ok_or_else(|| {
        usage(format!(
            "command {} was not found in the user manager's PATH ({path}), which the product's unit runs with; give its absolute path (`command -v {program}` prints it)",
            quoted(program)
        ))
    })?;
    command[0] = found
        .into_os_string()
        .into_string()
        .map_err(|raw| usage(format!("command path {raw:?} is not valid UTF-8")))?;
    Ok(command)
}

/// Refuses `dir` (canonical) unless it is a root or under one.
fn check_under(roots: &[String], dir: &str) -> Result<()> {
    match under(roots, Path::new(dir)) {
        true => Ok(()),
        false => Err(outside(roots, dir)),
    }
}

/// Whether `dir` is a root or under one, compared by whole components.
fn under(roots: &[String], dir: &Path) -> bool {
    roots.iter().any(|root| dir.starts_with(root))
}

fn outside(roots: &[String], dir: &str) -> anyhow::Error {
    usage(format!(
        // In full, however long: the path is the canonical one the user must recognise.
        "directory {dir:?} is not under the dashboard's roots ({}); choose one under them, or add its root with `sessctl dashboard enable --root DIR`",
        roots.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_is_under_a_root_by_whole_components() {
        let roots = ["/srv/work".to_string(), "/home/u/src".to_string()];
        for dir in ["/srv/work", "/srv/work/a", "/home/u/src/x/y"] {
            assert!(check_under(&roots, dir).is_ok(), "{dir}");
        }
        for dir in ["/srv/workshop", "/srv", "/home/u", "/"] {
            let err = check_under(&roots, dir).unwrap_err().to_string();
            assert!(err.contains("is not under the dashboard's roots"), "{err}");
        }
    }

    #[test]
    fn a_missing_directory_is_judged_by_what_of_it_exists() {
        let scratch = tempfile::tempdir().unwrap();
        let base = scratch.path().canonicalize().unwrap();
        let (root, elsewhere) = (base.join("root"), base.join("elsewhere"));
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, root.join("link")).unwrap();
        let roots = [root.to_string_lossy().into_owned()];
        for inside in [root.join("new/deeper"), root.join("new/../also-new")] {
            assert!(check_within(&roots, &inside).is_ok(), "{inside:?}");
        }
        let escapes = [
            elsewhere.join("new"),
            base.join("no/such/dir"),
            root.join("../new"),
            root.join("link/new"),
        ];
        for outside in escapes {
            let err = check_within(&roots, &outside).unwrap_err().to_string();
            let shown = format!("directory {:?} is not under", outside.to_string_lossy());
            assert!(err.starts_with(&shown), "{err}");
        }
    }
}
