//! The real agent clients the tests run, each installed by `./test` from npm at the versions
//! pinned in `tests/<client>.version` (one per line, oldest first), into
//! `$XDG_CACHE_HOME/sessctl-test/<client>/<version>/`. `SESSCTL_TEST_<CLIENT>` names another
//! binary instead. A client that is missing skips the test ([`super::skip`]), or fails it under
//! `CI`.

use std::path::PathBuf;

/// One npm client the tests can run.
#[derive(Debug, Clone, Copy)]
pub struct Client {
    /// Its folder under the cache, and its version file's name: `claude-code`.
    pub name: &'static str,
    /// The versions pinned for it, one per line.
    pub versions: &'static str,
    /// Its program in `node_modules/.bin`.
    pub bin: &'static str,
    /// The variable that points the tests at another binary.
    pub override_var: &'static str,
}

pub const CLAUDE: Client = Client {
    name: "claude-code",
    versions: include_str!("../../claude-code.version"),
    bin: "claude",
    override_var: "SESSCTL_TEST_CLAUDE",
};

pub const CODEX: Client = Client {
    name: "codex",
    versions: include_str!("../../codex.version"),
    bin: "codex",
    override_var: "SESSCTL_TEST_CODEX",
};

pub const GEMINI: Client = Client {
    name: "gemini-cli",
    versions: include_str!("../../gemini-cli.version"),
    bin: "gemini",
    override_var: "SESSCTL_TEST_GEMINI",
};

impl Client {
    /// Every pinned version, oldest first.
    pub fn versions(self) -> Vec<&'static str> {
        self.versions
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect()
    }

    /// The newest pinned version.
    pub fn newest(self) -> &'static str {
        self.versions().last().copied().unwrap_or_default()
    }

    /// Where `./test` installs `version`, unless the override variable names a binary.
    pub fn binary(self, version: &str) -> Result<PathBuf, String> {
        if let Some(path) = std::env::var_os(self.override_var) {
            let path = PathBuf::from(path);
            return match path.is_file() {
                true => Ok(path),
                false => Err(format!(
                    "{}={} is not a file",
                    self.override_var,
                    path.display()
                )),
            };
        }
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .ok_or("neither XDG_CACHE_HOME nor HOME is set")?;
        let path = cache
            .join("sessctl-test")
            .join(self.name)
            .join(version)
            .join("node_modules/.bin")
            .join(self.bin);
        match path.is_file() {
            true => Ok(path),
            false => Err(format!(
                "{} {version} is not installed at {} (./test installs it)",
                self.name,
                path.display()
            )),
        }
    }

    /// [`Client::binary`], or `None` when it is missing: the test is then skipped (see
    /// [`super::skip`]).
    #[track_caller]
    pub fn require(self, version: &str) -> Option<PathBuf> {
        match self.binary(version) {
            Ok(binary) => Some(binary),
            Err(why) => super::skip(format_args!("no real {}: {why}", self.name)),
        }
    }
}
