//! Other hosts by name: `$XDG_CONFIG_HOME/sessctl/hosts.toml`, one `[hosts.NAME]` table each
//! with its ssh destination (`dest`) and, where it is not `sessctl` on the login's PATH, the
//! program to run there (`sessctl`); and `product@host`, the way a command names a product on
//! another host.
//!
//! ```toml
//! [hosts.build]
//! dest = "alice@build.lan:2222"
//! sessctl = "~/.cargo/bin/sessctl"
//! ```
//!
//! Changes take a lock of their own (`Paths::hosts_lock`) and replace the file atomically.
//!
//! Records layer. May import: `paths`, `product`, `store`, `error`, and of the adapters
//! `remote::Dest` (a destination as data).

use std::collections::BTreeMap;
use std::fmt;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::error::{quoted, usage};
use crate::paths::{self, Paths};
use crate::product::ProductName;
use crate::remote::Dest;
use crate::store;

/// The name that means every host in hosts.toml, so no host may have it.
pub const ALL: &str = "all";
/// The remote program when hosts.toml names none: sessctl on the login's PATH.
pub const DEFAULT_PROGRAM: &str = "sessctl";

/// A host's name in hosts.toml: a product name's characters (`[A-Za-z0-9][A-Za-z0-9_.-]{0,63}`),
/// never `all`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HostName(String);

impl HostName {
    pub fn parse(name: &str) -> Result<HostName> {
        if name == ALL {
            return Err(usage(format!(
                "host name {} is reserved: --host all means every host in hosts.toml; choose another name",
                quoted(name)
            )));
        }
        if !paths::is_plain_name(name) {
            return Err(usage(format!(
                "invalid host name {}: use 1 to 64 of A-Z a-z 0-9 _ . - starting with a letter or digit, for example {:?}",
                quoted(name),
                paths::suggest_name(name)
            )));
        }
        Ok(HostName(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for HostName {
    type Error = String;

    fn try_from(name: String) -> Result<HostName, String> {
        HostName::parse(&name).map_err(|err| format!("{err:#}"))
    }
}

impl From<HostName> for String {
    fn from(name: HostName) -> String {
        name.0
    }
}

impl fmt::Display for HostName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One host of hosts.toml.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Host {
    /// Where ssh connects: `[user@]host[:port]`.
    #[serde(with = "dest_text")]
    pub dest: Dest,
    /// The sessctl program on that host, as its login shell runs it; none means `sessctl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessctl: Option<String>,
}

/// A destination in hosts.toml is the text `Dest::parse` takes and `Dest` prints.
mod dest_text {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::remote::Dest;

    pub fn serialize<S: Serializer>(dest: &Dest, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(dest)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Dest, D::Error> {
        let text = String::deserialize(deserializer)?;
        Dest::parse(&text).map_err(|err| serde::de::Error::custom(format!("{err:#}")))
    }
}

impl Host {
    /// The program to run on the host.
    pub fn program(&self) -> &str {
        self.sessctl.as_deref().unwrap_or(DEFAULT_PROGRAM)
    }

    /// A host as `sessctl host add` is given it: its destination and its program checked.
    pub fn parse(dest: &str, sessctl: Option<String>) -> Result<Host> {
        if let Some(program) = &sessctl {
            check_program(program)?;
        }
        Ok(Host {
            dest: Dest::parse(dest)?,
            sessctl,
        })
    }
}

/// Everything in hosts.toml.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hosts {
    #[serde(default)]
    pub hosts: BTreeMap<HostName, Host>,
}

/// What a command names as a host: a hosts.toml entry, or a destination given directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The hosts.toml name; none for a destination given directly.
    pub name: Option<HostName>,
    pub dest: Dest,
    /// The remote program; none means `sessctl`.
    pub sessctl: Option<String>,
}

impl Entry {
    /// The program to run on the host.
    pub fn program(&self) -> &str {
        self.sessctl.as_deref().unwrap_or(DEFAULT_PROGRAM)
    }
}

/// What `add` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    New,
    /// The same host was there already.
    Unchanged,
}

impl Hosts {
    /// The hosts in hosts.toml; none when there is no file.
    pub fn load(paths: &Paths) -> Result<Hosts> {
        let file = paths.hosts_file();
        let Some(text) = store::read_optional(&file)? else {
            return Ok(Hosts::default());
        };
        toml::from_str(&text).map_err(|err| {
            let line = err
                .span()
                .map_or(1, |span| text[..span.start].matches('\n').count() + 1);
            let message = err.message().trim().replace('\n', "; ");
            usage(format!(
                "cannot read {}, line {line}: {message}; fix that line, or move the file aside",
                file.display()
            ))
        })
    }

    /// The host `arg` names: a hosts.toml name wins, else `arg` is a destination.
    pub fn resolve(&self, arg: &str) -> Result<Entry> {
        if let Some((name, host)) = self.hosts.iter().find(|(name, _)| name.as_str() == arg) {
            return Ok(Entry {
                name: Some(name.clone()),
                dest: host.dest.clone(),
                sessctl: host.sessctl.clone(),
            });
        }
        let dest = Dest::parse(arg).with_context(|| {
            format!(
                "{} is no host in hosts.toml (`sessctl host list`)",
                quoted(arg)
            )
        })?;
        Ok(Entry {
            name: None,
            dest,
            sessctl: None,
        })
    }

    /// Adds `name`; refused when hosts.toml has another host of that name.
    pub fn add(paths: &Paths, name: HostName, host: Host) -> Result<Added> {
        Hosts::change(paths, |hosts| {
            match hosts.hosts.get(&name) {
            Some(had) if *had == host => Ok(Added::Unchanged),
            Some(had) => Err(usage(format!(
                "host {name} exists already, as {}; to change it, run `sessctl host remove {name}`, then add it again",
                had.dest
            ))),
            None => {
                hosts.hosts.insert(name.clone(), host);
                Ok(Added::New)
            }
        }
        })
    }

    /// Removes the host `name` and returns it; refused when there is none.
    pub fn remove(paths: &Paths, name: &str) -> Result<(HostName, Host)> {
        Hosts::change(paths, |hosts| {
            let found = hosts.hosts.keys().find(|n| n.as_str() == name).cloned();
            found
                .and_then(|name| hosts.hosts.remove_entry(&name))
                .ok_or_else(|| {
                    usage(format!(
                        "no host {} in hosts.toml; `sessctl host list` shows the hosts",
                        quoted(name)
                    ))
                })
        })
    }

    /// Loads hosts.toml, applies `edit` and writes the file back atomically, all under the
    /// hosts lock; nothing is written when `edit` fails.
    fn change<T>(paths: &Paths, edit: impl FnOnce(&mut Hosts) -> Result<T>) -> Result<T> {
        let _lock = store::Lock::acquire(&paths.hosts_lock())?;
        let mut hosts = Hosts::load(paths)?;
        let before = hosts.clone();
        let done = edit(&mut hosts)?;
        if hosts != before {
            let text = toml::to_string(&hosts).context("serialising the hosts")?;
            store::write_atomic(&paths.hosts_file(), text.as_bytes())?;
        }
        Ok(done)
    }
}

/// Checks the `--sessctl` program: a command the remote login shell runs, so no whitespace,
/// control character or leading `-`.
fn check_program(program: &str) -> Result<()> {
    let bad = program.is_empty()
        || program.starts_with('-')
        || program.chars().any(|c| c.is_whitespace() || c.is_control());
    match bad {
        false => Ok(()),
        true => Err(usage(format!(
            "invalid sessctl program {}: give its path on that host without spaces, e.g. ~/.cargo/bin/sessctl",
            quoted(program)
        ))),
    }
}

/// `product@host` into the product and the host; product names hold no `@`, so the first one
/// splits (`web@alice@box:22` is product web on `alice@box:22`). No `@`: the product alone.
pub fn split_at(arg: &str) -> Result<(ProductName, Option<String>)> {
    match arg.split_once('@') {
        None => Ok((ProductName::parse(arg)?, None)),
        Some((_, "")) => Err(usage(format!(
            "{} names no host after '@'; write PRODUCT@HOST, e.g. web@build",
            quoted(arg)
        ))),
        Some((product, host)) => Ok((ProductName::parse(product)?, Some(host.to_string()))),
    }
}

/// `product` on `host` as the dashboard and the notices name it: `web@build`, what
/// [`split_at`] splits.
pub fn join_at(product: &str, host: &str) -> String {
    format!("{product}@{host}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use std::path::PathBuf;

    fn paths(dir: &std::path::Path) -> Paths {
        Paths {
            config_home: dir.join("config"),
            state_home: dir.join("state"),
            runtime_dir: Some(dir.join("run")),
        }
    }

    fn host(dest: &str, sessctl: Option<&str>) -> Host {
        Host {
            dest: Dest::parse(dest).unwrap(),
            sessctl: sessctl.map(str::to_string),
        }
    }

    fn name(text: &str) -> HostName {
        HostName::parse(text).unwrap()
    }

    fn message(err: anyhow::Error) -> String {
        assert_eq!(crate::error::code_of(&err), crate::error::USAGE, "{err:#}");
        format!("{err:#}")
    }

    #[rstest]
    #[case("build")]
    #[case("Box-2.lan_1")]
    fn host_names_take_the_product_charset(#[case] text: &str) {
        assert_eq!(name(text).as_str(), text);
    }

    #[rstest]
    #[case("all", "host name \"all\" is reserved: --host all means every host in hosts.toml; choose another name")]
    #[case("a b", "invalid host name \"a b\": use 1 to 64 of A-Z a-z 0-9 _ . - starting with a letter or digit, for example \"a-b\"")]
    #[case("-x", "invalid host name \"-x\": use 1 to 64 of A-Z a-z 0-9 _ . - starting with a letter or digit, for example \"x\"")]
    #[case("a@b", "invalid host name \"a@b\": use 1 to 64 of A-Z a-z 0-9 _ . - starting with a letter or digit, for example \"a-b\"")]
    fn bad_host_names_are_refused_naming_the_fix(#[case] text: &str, #[case] said: &str) {
        assert_eq!(message(HostName::parse(text).unwrap_err()), said);
    }

    #[test]
    fn hosts_round_trip_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let paths = paths(dir.path());
        assert_eq!(Hosts::load(&paths).unwrap(), Hosts::default());
        let build = host("alice@build.lan:2222", Some("~/.cargo/bin/sessctl"));
        let six = host("[fe80::1]:22", None);
        assert_eq!(
            Hosts::add(&paths, name("build"), build.clone()).unwrap(),
            Added::New
        );
        assert_eq!(
            Hosts::add(&paths, name("six"), six.clone()).unwrap(),
            Added::New
        );
        assert_eq!(
            std::fs::read_to_string(paths.hosts_file()).unwrap(),
            "[hosts.build]\ndest = \"alice@build.lan:2222\"\nsessctl = \"~/.cargo/bin/sessctl\"\n\n[hosts.six]\ndest = \"[fe80::1]:22\"\n"
        );
        let loaded = Hosts::load(&paths).unwrap();
        assert_eq!(loaded.hosts.get(&name("build")), Some(&build));
        assert_eq!(loaded.hosts.get(&name("six")), Some(&six));
        assert_eq!(
            Hosts::remove(&paths, "six").unwrap(),
            (name("six"), six.clone())
        );
        assert_eq!(Hosts::load(&paths).unwrap().hosts.len(), 1);
    }

    #[test]
    fn a_second_add_is_unchanged_when_the_same_and_refused_when_not() {
        let dir = tempfile::tempdir().unwrap();
        let paths = paths(dir.path());
        let build = host("alice@build.lan", None);
        Hosts::add(&paths, name("build"), build.clone()).unwrap();
        assert_eq!(
            Hosts::add(&paths, name("build"), build).unwrap(),
            Added::Unchanged
        );
        let err = Hosts::add(&paths, name("build"), host("bob@build.lan", None)).unwrap_err();
        assert_eq!(message(err), "host build exists already, as alice@build.lan; to change it, run `sessctl host remove build`, then add it again");
    }

    #[test]
    fn removing_an_unknown_host_is_refused_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let paths = paths(dir.path());
        let err = Hosts::remove(&paths, "nope").unwrap_err();
        assert_eq!(
            message(err),
            "no host \"nope\" in hosts.toml; `sessctl host list` shows the hosts"
        );
        assert!(!paths.hosts_file().exists());
    }

    #[rstest]
    #[case("[hosts.build\ndest = \"box\"\n", 1)]
    #[case("[hosts.build]\ndest = \"-oProxyCommand=x\"\n", 2)]
    #[case("[hosts.all]\ndest = \"box\"\n", 1)]
    #[case("\n[hosts.build]\nsessctl = \"sessctl\"\n", 2)]
    fn a_file_that_does_not_parse_is_one_line_naming_it_and_the_line(
        #[case] text: &str,
        #[case] line: usize,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let paths = paths(dir.path());
        std::fs::create_dir_all(paths.hosts_file().parent().unwrap()).unwrap();
        std::fs::write(paths.hosts_file(), text).unwrap();
        let said = message(Hosts::load(&paths).unwrap_err());
        let start = format!(
            "cannot read {}, line {line}: ",
            paths.hosts_file().display()
        );
        assert!(said.starts_with(&start), "{said}");
        assert!(
            said.ends_with("; fix that line, or move the file aside"),
            "{said}"
        );
        assert!(!said.contains('\n'), "{said}");
    }

    #[test]
    fn a_name_in_hosts_toml_wins_over_a_destination() {
        let mut hosts = Hosts::default();
        hosts.hosts.insert(
            name("box"),
            host("alice@box.lan:2222", Some("/opt/sessctl")),
        );
        let named = hosts.resolve("box").unwrap();
        assert_eq!(named.program(), "/opt/sessctl");
        let direct = hosts.resolve("bob@box:22").unwrap();
        assert_eq!(direct.name, None);
        assert_eq!(direct.program(), "sessctl");
        let err = hosts.resolve("-oProxyCommand=x").unwrap_err();
        assert_eq!(message(err), "\"-oProxyCommand=x\" is no host in hosts.toml (`sessctl host list`): invalid host \"-oProxyCommand=x\": a part starts with '-'; write [user@]host[:port], e.g. alice@build.lan:2222");
    }

    #[rstest]
    #[case("web", "web", None)]
    #[case("web@build", "web", Some("build"))]
    #[case("web@alice@box:22", "web", Some("alice@box:22"))]
    fn product_at_host_splits_at_the_first_at(
        #[case] arg: &str,
        #[case] product: &str,
        #[case] at: Option<&str>,
    ) {
        let (p, h) = split_at(arg).unwrap();
        assert_eq!((p.as_str(), h.as_deref()), (product, at));
    }

    #[rstest]
    #[case(
        "web@",
        "\"web@\" names no host after '@'; write PRODUCT@HOST, e.g. web@build"
    )]
    #[case("@build", "invalid product name \"\": use 1 to 64 of A-Z a-z 0-9 _ . - starting with a letter or digit, for example \"product\"")]
    fn product_at_host_refusals(#[case] arg: &str, #[case] said: &str) {
        assert_eq!(message(split_at(arg).unwrap_err()), said);
    }

    #[rstest]
    #[case("sessctl", true)]
    #[case("~/.cargo/bin/sessctl", true)]
    #[case("", false)]
    #[case("-x", false)]
    #[case("a b", false)]
    fn the_remote_program_is_one_word(#[case] program: &str, #[case] ok: bool) {
        assert_eq!(check_program(program).is_ok(), ok);
    }

    #[test]
    fn the_files_are_where_the_docs_say() {
        let paths = paths(&PathBuf::from("/x"));
        assert_eq!(
            paths.hosts_file(),
            PathBuf::from("/x/config/sessctl/hosts.toml")
        );
        assert_eq!(
            paths.ssh_dir().unwrap(),
            PathBuf::from("/x/run/sessctl/.ssh")
        );
    }
}
