//! A product: its validated name and the settings its session runs with, stored as TOML.
//!
//! Records layer. May import: `agent` (the profile handle), `error`, `paths`, `state` (the right to write a config), `store`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::error::{quoted, usage};
use crate::paths::Paths;
pub use crate::paths::{check_name, ProductName};
use crate::state::Locked;
use crate::store;

/// The settings of one product, as stored in `$XDG_CONFIG_HOME/sessctl/products/<name>.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub name: String,
    /// Absolute and canonical.
    pub dir: String,
    /// The agent's argv; the first word is an absolute path resolved when `enable` ran.
    pub command: Vec<String>,
    /// The tmux binary the unit hosts the session with, resolved like the command.
    pub tmux: String,
    /// The agent profile: detected from the command, or chosen with `--agent`.
    #[serde(default)]
    pub agent: crate::agent::Agent,
    /// How many snapshots of the pinned conversation to keep.
    #[serde(default = "default_keep_snapshots")]
    pub keep_snapshots: u32,
    /// Seconds between this agent's start and another product's (`enable --stagger`).
    #[serde(default = "default_stagger")]
    pub stagger: u32,
    /// Seconds of quiet after which an agent that cannot say it waits is marked waiting
    /// (`enable --silence`); 0 turns it off.
    #[serde(default = "default_silence")]
    pub silence: u32,
    /// A shell command run when the agent starts waiting (`enable --on-waiting`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_waiting: Option<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

impl Product {
    pub fn load(paths: &Paths, name: &str) -> Result<Product> {
        let text = Product::config_text(paths, name)?;
        let path = paths.product_file(name);
        toml::from_str(&text).with_context(|| format!("parsing product config {}", path.display()))
    }

    /// The product's config as written, parsed or not: what proves the product exists to a
    /// command that must work even on a config it cannot parse (stop).
    pub fn config_text(paths: &Paths, name: &str) -> Result<String> {
        let path = paths.product_file(name);
        store::read_optional(&path)?.ok_or_else(|| {
            usage(format!(
                "unknown product {name:?}: no {}; create it with `sessctl enable {name}`",
                path.display()
            ))
        })
    }

    /// Loads the product if it has a config.
    pub fn load_optional(paths: &Paths, name: &str) -> Result<Option<Product>> {
        if paths.product_file(name).exists() {
            Product::load(paths, name).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Writes the config, under this product's lock.
    pub fn save(&self, paths: &Paths, lock: &Locked) -> Result<()> {
        anyhow::ensure!(
            lock.name().as_str() == self.name,
            "writing {}'s config under {}'s lock",
            self.name,
            lock.name()
        );
        let text = toml::to_string(self).context("serialising the product config")?;
        store::write_atomic(&paths.product_file(&self.name), text.as_bytes())
    }

    /// The names of every configured product, sorted.
    pub fn names(paths: &Paths) -> Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in store::entries(&paths.products_dir())? {
            let file = entry.file_name();
            if let Some(name) = file.to_str().and_then(|f| f.strip_suffix(".toml")) {
                if check_name(name).is_ok() {
                    names.push(name.to_string());
                }
            }
        }
        names.sort();
        Ok(names)
    }
}

/// The snapshots kept of a pinned conversation unless `--keep-snapshots` says otherwise.
pub const KEEP_SNAPSHOTS: u32 = 10;

fn default_keep_snapshots() -> u32 {
    KEEP_SNAPSHOTS
}

/// The seconds between two products' agent starts unless `--stagger` says otherwise: long
/// enough for one Claude Code start to refresh and store a rotated OAuth token before the
/// next one reads it, short enough that ten products are all up within 20 s of a login.
pub const STAGGER_SECONDS: u32 = 2;

fn default_stagger() -> u32 {
    STAGGER_SECONDS
}

/// The quiet after which tmux's silence monitor marks an agent waiting, unless `--silence`
/// says otherwise: longer than an agent's usual pause while it thinks, short enough to tell a
/// phone soon after it stopped.
pub const SILENCE_SECONDS: u32 = 30;

fn default_silence() -> u32 {
    SILENCE_SECONDS
}

impl Product {
    /// What the session needs that is gone since `enable` resolved it: the work directory,
    /// the agent's program, tmux. Without them systemd reports only `ExecMainStatus=200` (no
    /// directory) or a clean `Result=success` (the pane's program could not be run), with no
    /// reason shown. Empty when nothing is missing.
    pub fn missing(&self) -> Vec<String> {
        let mut missing = Vec::new();
        if !Path::new(&self.dir).is_dir() {
            missing.push(format!("the work directory {} does not exist", self.dir));
        }
        let programs = [
            ("the agent", self.command.first()),
            ("tmux", Some(&self.tmux)),
        ];
        for (what, program) in programs {
            let program = program.map_or("", String::as_str);
            if !is_executable(Path::new(program)) {
                missing.push(format!(
                    "{what} {program} does not exist or is not executable"
                ));
            }
        }
        missing
    }

    /// [`Product::missing`] as one line with the fix, or `None` when nothing is missing.
    pub fn missing_line(&self) -> Option<String> {
        let missing = self.missing();
        (!missing.is_empty()).then(|| {
            format!(
                "{}: put it back, or enable the product again with what replaces it: {}",
                missing.join("; "),
                self.enable_command()
            )
        })
    }

    /// The `sessctl enable` command line that recreates this product's settings exactly,
    /// quoted for a POSIX shell: the fix doctor prints.
    pub fn enable_command(&self) -> String {
        let mut words = vec!["sessctl".to_string(), "enable".into(), self.name.clone()];
        words.extend(["--dir".to_string(), shell_quote(&self.dir)]);
        if self.agent
            != crate::agent::Agent::detect(self.command.first().map_or("", String::as_str))
        {
            words.extend(["--agent".to_string(), self.agent.name().to_string()]);
        }
        for (k, v) in &self.env {
            words.extend(["--env".to_string(), shell_quote(&format!("{k}={v}"))]);
        }
        if self.keep_snapshots != KEEP_SNAPSHOTS {
            words.extend([
                "--keep-snapshots".to_string(),
                self.keep_snapshots.to_string(),
            ]);
        }
        if self.stagger != STAGGER_SECONDS {
            words.extend(["--stagger".to_string(), self.stagger.to_string()]);
        }
        if self.silence != SILENCE_SECONDS {
            words.extend(["--silence".to_string(), self.silence.to_string()]);
        }
        if let Some(command) = &self.on_waiting {
            words.extend(["--on-waiting".to_string(), shell_quote(command)]);
        }
        words.push("--".into());
        words.extend(self.command.iter().map(|a| shell_quote(a)));
        words.join(" ")
    }
}

/// `word` as one POSIX shell word: bare when it is plainly safe, else single-quoted.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-=:,+@%".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// `DIR` as an existing directory's canonical absolute path.
pub fn resolve_dir(dir: &Path) -> Result<String> {
    let shown = quoted(&dir.to_string_lossy());
    let canonical = dir.canonicalize().map_err(|err| match err.kind() {
        std::io::ErrorKind::NotFound => usage(format!(
            "directory {shown} does not exist; pass an existing directory with --dir"
        )),
        // A symlink loop, a permission error: say which, not "does not exist".
        _ => usage(format!(
            "directory {shown} cannot be resolved ({err}); pass a directory you can reach with --dir"
        )),
    })?;
    if !canonical.is_dir() {
        return Err(usage(format!(
            "{:?} is not a directory; pass a directory with --dir",
            dir
        )));
    }
    canonical.into_os_string().into_string().map_err(|raw| {
        usage(format!(
            "directory {raw:?} is not valid UTF-8; use another directory"
        ))
    })
}

/// The command's first word as an absolute path: systemd's search path lacks the places agent
/// CLIs usually live, such as `~/.local/bin`, so the caller's `PATH` decides, once.
pub fn resolve_program(program: &str) -> Result<String> {
    let found = if program.contains('/') {
        std::path::absolute(program)
            .ok()
            .filter(|p| is_executable(p))
    } else {
        std::env::var_os("PATH").and_then(|path| find_in_path(program, &path))
    };
    let found = found.ok_or_else(|| {
        usage(format!(
            "command {program:?} was not found in PATH or is not executable; install it, or give its absolute path after --"
        ))
    })?;
    found
        .into_os_string()
        .into_string()
        .map_err(|raw| usage(format!("command path {raw:?} is not valid UTF-8")))
}

/// Bare `program`'s executable in the first directory of `path` (a PATH) that has one;
/// relative directories are skipped, as they mean nothing to a unit.
pub fn find_in_path(program: &str, path: &std::ffi::OsStr) -> Option<PathBuf> {
    std::env::split_paths(path)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(program))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Parses `--env KEY=VALUE`.
pub fn parse_env(assignment: &str) -> Result<(String, String)> {
    let bad = || {
        usage(format!(
            "invalid --env {}: use KEY=VALUE, KEY made of A-Z a-z 0-9 _ and not starting with a digit",
            quoted(assignment)
        ))
    };
    let (key, value) = assignment.split_once('=').ok_or_else(bad)?;
    let key_ok = key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !key_ok {
        return Err(bad());
    }
    Ok((key.to_string(), value.to_string()))
}

/// Where to look for `DIR` when `--dir` is absent.
pub fn default_dir() -> Result<PathBuf> {
    std::env::current_dir().context("reading the current directory")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    /// The defaults `--keep-snapshots` and `--stagger` show in `--help` are the product's.
    #[test]
    fn the_command_lines_defaults_are_the_products() {
        use clap::CommandFactory;
        let cli = crate::cli::Cli::command();
        let enable = cli.find_subcommand("enable").expect("enable");
        let default = |id: &str| -> String {
            let arg = enable.get_arguments().find(|a| a.get_id() == id).expect(id);
            arg.get_default_values()[0].to_string_lossy().into_owned()
        };
        assert_eq!(default("keep_snapshots"), KEEP_SNAPSHOTS.to_string());
        assert_eq!(default("stagger"), STAGGER_SECONDS.to_string());
        assert_eq!(default("silence"), SILENCE_SECONDS.to_string());
    }

    #[test]
    fn enable_command_quotes_for_the_shell() {
        let product = Product {
            name: "web".into(),
            dir: "/src/my app".into(),
            command: vec!["/bin/claude".into(), "it's".into(), "".into()],
            tmux: "/usr/bin/tmux".into(),
            agent: crate::agent::Agent::default(),
            keep_snapshots: KEEP_SNAPSHOTS,
            stagger: STAGGER_SECONDS,
            silence: SILENCE_SECONDS,
            on_waiting: None,
            env: [("K".to_string(), "a b".to_string())].into(),
        };
        assert_eq!(
            product.enable_command(),
            r"sessctl enable web --dir '/src/my app' --agent generic --env 'K=a b' -- /bin/claude 'it'\''s' ''"
        );
    }

    #[rstest]
    #[case("K=v", ("K", "v"))]
    #[case("_K1=a=b", ("_K1", "a=b"))]
    #[case("K=", ("K", ""))]
    fn env_assignments(#[case] input: &str, #[case] expected: (&str, &str)) {
        let (k, v) = parse_env(input).unwrap();
        assert_eq!((k.as_str(), v.as_str()), expected);
    }

    #[rstest]
    #[case("K")]
    #[case("1K=v")]
    #[case("K-2=v")]
    #[case("=v")]
    fn bad_env_assignments(#[case] input: &str) {
        assert!(parse_env(input).is_err());
    }
}
