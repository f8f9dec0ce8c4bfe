//! Other hosts' products, through the sessctl installed on each ([`crate::remote`]): which
//! hosts a command names, what it asks of each, and what the answer means here. A host's
//! reports come back as JSON and are parsed into the local report types, so they print with
//! the local formatters; every other command is relayed, its output and exit code the
//! remote's. Nothing here locks or writes a local product's files.
//!
//! May import: base modules, `remote`, the records (`paths`, `hosts`, `product`, `state`'s
//! questions), `query`'s report types and `lifecycle`'s answers (a resume's outcome, a start's
//! or stop's step).

use std::time::Duration;

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{exit_with, usage, Exit};
use crate::hosts::{Entry, Hosts, ALL};
use crate::lifecycle::{control::Done, resume::Outcome};
use crate::paths::{Paths, ProductName};
use crate::pty::Size;
use crate::query::status::Report;
pub use crate::remote::Terminal;
use crate::remote::{Answer, Dest, Failure, Hello, Link};
use crate::state::{Asked, Behavior};

/// How `sessctl internal view` ends when the product has no session to show.
pub const VIEW_NOT_RUNNING: i32 = crate::error::LOST as i32;

/// How long a command waits for a host's sessctl to say hello: the handshake of a first
/// connection over a slow link fits, a host that swallows packets does not hang the shell.
const HELLO_WITHIN: Duration = Duration::from_secs(15);

/// Ends the shared connection to `dest` when one is up: a host removed from hosts.toml
/// keeps nothing running.
pub fn disconnect(paths: &Paths, dest: Dest) -> Result<()> {
    let link = Link::new(&paths.ssh_dir()?, dest, None)?;
    if link.control().exists() {
        link.close();
    }
    Ok(())
}

/// The line `sessctl internal call` says first, for the calling sessctl's `remote` to read:
/// this sessctl's version and the protocols it speaks.
pub fn hello_line() -> Result<String> {
    serde_json::to_string(&Hello::ours()).context("writing the hello line")
}

/// One host, as a command named it, and the shared connection to it.
pub struct Host {
    /// The name or destination as written: the heading of its section.
    pub name: String,
    link: Link,
    /// How long a call waits for the host's hello.
    hello_within: Duration,
}

/// The hosts `--host` names: each value may be a comma list; `all` is every host in
/// hosts.toml. Empty when the command runs here.
pub fn named(paths: &Paths, values: &[String]) -> Result<Vec<Host>> {
    let hosts = Hosts::load(paths)?;
    let mut names = Vec::new();
    for value in values.iter().flat_map(|v| v.split(',')) {
        match value {
            ALL => names.extend(hosts.hosts.keys().map(|name| name.as_str().to_string())),
            name => names.push(name.to_string()),
        }
    }
    // A host named twice (`--host h1,h2,h1`, or a name and `all`) is asked once.
    let mut seen = std::collections::HashSet::new();
    names.retain(|name| seen.insert(name.clone()));
    names
        .iter()
        .map(|name| Host::open(paths, hosts.resolve(name)?, name, HELLO_WITHIN))
        .collect()
}

/// Every host of hosts.toml, by its name there, each call waiting `hello_within` for a hello:
/// the dashboard's, whose requests may name no other host.
pub fn configured(paths: &Paths, hello_within: Duration) -> Result<Vec<Host>> {
    let hosts = Hosts::load(paths)?;
    (hosts.hosts.keys())
        .map(|name| {
            let name = name.as_str();
            Host::open(paths, hosts.resolve(name)?, name, hello_within)
        })
        .collect()
}

impl Host {
    fn open(paths: &Paths, entry: Entry, name: &str, hello_within: Duration) -> Result<Host> {
        let link = Link::new(&paths.ssh_dir()?, entry.dest.clone(), Some(entry.program()))?;
        Ok(Host {
            name: name.to_string(),
            link,
            hello_within,
        })
    }

    /// Where it connects, as ssh is told: two hosts of one name but another destination are
    /// two hosts.
    pub fn dest(&self) -> String {
        self.link.dest().to_string()
    }

    /// Runs `args` there; a connection that failed is the error, as the user should see it.
    fn call(&self, args: &[String]) -> Result<Answer> {
        self.link
            .call(args, self.hello_within)
            .map_err(|failure: Failure| failure.error(&self.name, self.link.dest()))
    }

    /// Runs `args` there and prints what it printed; its exit code is this one's.
    pub fn relay(&self, args: &[String]) -> Result<()> {
        let answer = self.call(args)?;
        out!("{}", String::from_utf8_lossy(&answer.stdout));
        {
            use std::io::Write as _;
            // As for errln!: a closed stderr leaves nowhere to say anything.
            let _ = std::io::stderr().write_all(answer.stderr.as_bytes());
        }
        exit_with(exit_code(answer.code))
    }

    /// The reports of `sessctl list --json`, or of `status [PRODUCT] --json`, run there.
    pub fn reports(&self, product: Option<&ProductName>, list: bool) -> Result<Reply<Vec<Report>>> {
        let mut args = vec![if list { "list" } else { "status" }.to_string()];
        args.extend(product.map(ProductName::to_string));
        args.push("--json".to_string());
        match product {
            // One product's status is one report, not a list of one.
            Some(_) => self.json::<Report>(&args).map(|one| Reply {
                sessctl: one.sessctl,
                value: vec![one.value],
            }),
            None => self.json(&args),
        }
    }

    /// `resume PRODUCT --no-attach --json` there: its outcome whatever the verdict, as the
    /// local resume's (a lost session exits non-zero, its outcome is the answer still).
    pub fn resume(&self, product: &ProductName) -> Result<Reply<Outcome>> {
        self.whatever_code(&["resume", product.as_str(), "--no-attach", "--json"])
    }

    /// `log PRODUCT --json` there: its events, oldest first, as JSON.
    pub fn events(&self, product: &ProductName) -> Result<Reply<serde_json::Value>> {
        self.json(&["log", product.as_str(), "--json"].map(String::from))
    }

    /// `doctor PRODUCT --json` there: its findings, whether or not there are any (exit 6).
    pub fn doctor(&self, product: &ProductName) -> Result<Reply<serde_json::Value>> {
        self.whatever_code(&["doctor", product.as_str(), "--json"])
    }

    /// Runs `args` there and parses what it printed as `T`, whatever its exit code; what
    /// does not parse is the error [`Host::parse`] says.
    fn whatever_code<T: DeserializeOwned>(&self, args: &[&str]) -> Result<Reply<T>> {
        let answer = self.call(&args.iter().map(|arg| arg.to_string()).collect::<Vec<_>>())?;
        match serde_json::from_slice(&answer.stdout) {
            Ok(value) => Ok(Reply {
                sessctl: answer.hello.sessctl,
                value,
            }),
            Err(_) => self.parse(answer),
        }
    }

    /// `start`, `stop` or `restart` (`verb`) of `product` there, with `--json`: what it did.
    pub fn control(&self, verb: &str, product: &ProductName) -> Result<Reply<Done>> {
        self.json(&[verb, product.as_str(), "--json"].map(String::from))
    }

    /// Runs `args` (a command given `--json`) there and parses its answer as `T`, with the
    /// version of the sessctl that made it.
    fn json<T: DeserializeOwned>(&self, args: &[String]) -> Result<Reply<T>> {
        let answer = self.call(args)?;
        self.parse(answer)
    }

    /// `answer` parsed as `T`. A command that failed there is the error, with what it said and
    /// its exit code.
    fn parse<T: DeserializeOwned>(&self, answer: Answer) -> Result<Reply<T>> {
        if answer.code != 0 {
            // Said as it said it, and main prefixes "sessctl: " again.
            let said = answer.stderr.trim_end();
            return Err(Exit {
                code: exit_code(answer.code),
                message: said.strip_prefix("sessctl: ").unwrap_or(said).to_string(),
            }
            .into());
        }
        let value = serde_json::from_slice(&answer.stdout).map_err(|err| {
            anyhow::anyhow!(
                "reading the answer of sessctl {} on host {}: {err}",
                answer.hello.sessctl,
                self.name
            )
        })?;
        Ok(Reply {
            sessctl: answer.hello.sessctl,
            value,
        })
    }

    /// Answers `product`'s question `id` there with `behavior`, given `by`: the question
    /// answered, or `None` when it is not open there.
    pub fn decide(
        &self,
        product: &ProductName,
        id: &str,
        behavior: Behavior,
        by: &str,
    ) -> Result<Reply<Option<Asked>>> {
        let args = [
            "internal",
            "decide",
            product.as_str(),
            id,
            behavior.as_str(),
            "--by",
            by,
        ];
        self.json(&args.map(String::from))
    }

    /// A terminal on `product`'s session there, of `size`, typing when `write`: what
    /// `sessctl internal view` shows there, for the dashboard. Its client exits
    /// [`VIEW_NOT_RUNNING`] when no session runs there.
    pub fn terminal(&self, product: &ProductName, write: bool, size: Size) -> Result<Terminal> {
        let mut args = ["internal", "view", product.as_str()]
            .map(String::from)
            .to_vec();
        if write {
            args.push("--write".to_string());
        }
        (self.link)
            .terminal(&args, size, self.hello_within)
            .map_err(|failure| failure.error(&self.name, self.link.dest()))
    }

    /// Runs `args` there on this terminal (`ssh -t`); its exit code is this one's.
    pub fn interactive(&self, args: &[String]) -> Result<()> {
        // A first call in batch mode makes the shared connection and checks the version, so
        // a refused key or an old sessctl is a one-line error, not a prompt or a usage dump.
        self.call(&["--version".to_string()])?;
        let code = self.link.interactive(args)?;
        exit_with(exit_code(code))
    }
}

/// What a host answered, and which sessctl answered it.
#[derive(Debug, Serialize)]
pub struct Reply<T> {
    pub sessctl: String,
    pub value: T,
}

/// A remote's exit code as this process's: sessctl's own are 0-6; anything else (a crash
/// there) still fails here.
fn exit_code(code: i32) -> u8 {
    u8::try_from(code).unwrap_or(crate::error::FAILURE)
}

/// A command with one product and a `--host` naming another host, or several hosts for a
/// command that runs on one.
pub fn one(hosts: Vec<Host>, command: &str) -> Result<Host> {
    let count = hosts.len();
    let mut hosts = hosts.into_iter();
    match (hosts.next(), count) {
        (Some(host), 1) => Ok(host),
        _ => Err(usage(format!(
            "sessctl {command} runs on one host, not {count}; give one --host (only list and status take several)"
        ))),
    }
}

/// `ask` of each host at once: a slow host delays the answer by its own time, not the sum.
pub fn each<T: Send>(hosts: &[Host], ask: impl Fn(&Host) -> T + Sync) -> Vec<T> {
    std::thread::scope(|scope| {
        let asked: Vec<_> = (hosts.iter())
            .map(|host| scope.spawn(|| ask(host)))
            .collect();
        (asked.into_iter())
            .map(|thread| match thread.join() {
                Ok(answer) => answer,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}
