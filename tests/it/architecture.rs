//! The layers of ARCHITECTURE.md, checked against the code.
//!
//! Every path a module names is read: `use` trees with their groups (`use crate::{a, b::{c}}`),
//! `super::` and `self::`, inline `crate::` paths, and a name a `use` bound (`observe::f` after
//! `use crate::lifecycle::observe`). On those:
//! - each module imports only what its layer may ([`LAYERS`], [`forbidden`]), `cli` nothing, no
//!   `cmd` module another, and the top-level modules form no cycle;
//! - each external system has one owner ([`OWNERS`], [`PROGRAMS`]);
//! - `query` names of `lifecycle` only the lock-free readings ([`QUERY_READS`]), and nothing
//!   reachable from `query` (its own code, and every `lifecycle` function it reaches, followed
//!   call by call) names a lock or a writer ([`WRITERS`]) or reads a whole transcript
//!   ([`WHOLE_TRANSCRIPT`]), but the one exception written down there;
//! - the layer tables of ARCHITECTURE.md and of `src/lib.rs` say what [`LAYERS`] says.
//!
//! The checker runs on small sources in memory too, so each rule is shown to fail.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// Each top-level module's layer, lowest first. A module may import modules of a lower layer,
/// and of its own layer as long as no cycle forms.
const LAYERS: [(&str, &[&str]); 12] = [
    (
        "base",
        &["error", "fault", "output", "poll", "pty", "store", "uuid"],
    ),
    ("model", &["unit", "identity", "transcript"]),
    (
        "adapters",
        &[
            "systemd", "session", "procfs", "agent", "tls", "journal", "push", "remote",
        ],
    ),
    (
        "records",
        &[
            "paths", "product", "state", "pin", "snapshot", "stagger", "login", "hosts", "context",
        ],
    ),
    ("testbed", &["testbed"]),
    ("lifecycle", &["lifecycle"]),
    ("query", &["query"]),
    ("fleet", &["fleet"]),
    ("server", &["server"]),
    ("cli", &["cli"]),
    ("commands", &["cmd", "demo"]),
    ("root", &["lib", "main"]),
];

/// External crates and the one module (or folder, ending in `/`) that may name each.
const OWNERS: [(&str, &str); 7] = [
    ("zbus", "systemd/"),
    // The certificate and the server configuration; the handshake on the server's runtime is
    // `server/tls`'s.
    ("rustls", "tls"),
    ("tokio_rustls", "server/tls"),
    ("libsystemd", "journal"),
    // Drawing a pairing link for a phone's camera.
    ("qrcode", "cmd/dashboard/qr"),
    // Web Push: the message's encryption, the VAPID token and the POST to a push service.
    ("web_push_native", "push"),
    ("ureq", "push"),
];

/// Programs run with `Command::new` (a literal, or a variable of that name) and the one
/// module that may run each.
const PROGRAMS: [(&str, &str); 3] = [
    ("tmux", "session"),
    ("journalctl", "journal"),
    ("ssh", "remote"),
];

/// The modules that may open a connection to the user manager: the context every command
/// is given (`context`), and what runs without one: the unit's own host and pane processes,
/// the demo's staging and the private manager.
const CONNECTORS: [&str; 5] = ["context", "systemd/", "lifecycle/host", "demo", "testbed"];

/// The modules that take a lock of their own, each on sessctl's own files (the old layout's
/// move, the start slot, the dashboard's logins and units, hosts.toml). A product's lock is taken only
/// as the value its writers must be given (`state::Locked`, made in `state/lock`).
const LOCKERS: [&str; 6] = [
    "state/lock",
    "paths",
    "stagger",
    "login",
    "lifecycle/dashboard",
    "hosts",
];

/// The one module that runs as the unit's own processes, which write their session's account
/// without the product's lock (`state::UnitClaim`). Tests of the records may make one.
const UNIT_CLAIMERS: [&str; 2] = ["state/lock", "lifecycle/host"];

/// What `query` may name of `lifecycle`: the readings that take no lock and write nothing.
/// A module named here is a namespace only; each of its items used is checked.
const QUERY_READS: [&str; 12] = [
    "lifecycle::observe::identity_of",
    "lifecycle::observe::judge_loss",
    "lifecycle::observe::Sighting",
    "lifecycle::guard::remembered",
    "lifecycle::intent::pending",
    "lifecycle::intent::describe",
    "lifecycle::intent::interrupted",
    "lifecycle::unit_file::render",
    "lifecycle::unit_file::restart_pending",
    "lifecycle::target::resolve",
    "lifecycle::target::missing",
    "lifecycle::target::Target",
];

/// Every lock and every writer of sessctl's files, in one place: nothing reachable from
/// `query` may name one. A path forbids everything under it.
const WRITERS: [&str; 35] = [
    "crate::store::Lock",
    "crate::state::Locked",
    "crate::state::UnitClaim",
    "crate::snapshot::Shelf",
    "crate::store::write_atomic",
    "crate::store::write_if_changed",
    "crate::store::write_json",
    "crate::store::create_private",
    "crate::store::rename",
    "crate::store::remove_file",
    "crate::store::clone_or_copy",
    "crate::store::copy_tree",
    "crate::state::save_record",
    "crate::state::remember",
    "crate::state::forget",
    "crate::state::claim_loss",
    "crate::state::append",
    "crate::state::append_in",
    "crate::state::append_or_warn",
    "crate::state::Intent::begin",
    "crate::state::Intent::end",
    "crate::state::Waiting::record",
    "crate::state::Waiting::clear",
    "crate::snapshot::take",
    "crate::snapshot::prune",
    "crate::snapshot::restore",
    "crate::paths::Paths::migrate",
    "crate::lifecycle::observe::observe",
    "crate::lifecycle::observe::forget",
    "crate::lifecycle::observe::loss_since_seen",
    "crate::lifecycle::observe::log_loss",
    "crate::lifecycle::intent::begin",
    "crate::lifecycle::intent::settle",
    "std::fs::write",
    "std::fs::OpenOptions",
];

/// Writers called as methods (`pin.save(..)`, `exit.save(..)`), found by their call.
const METHOD_WRITERS: [&str; 2] = [".save(", ".create(&"];

/// What reads a whole transcript, and the one query function that may: `transcript check`'s.
const WHOLE_TRANSCRIPT: [&str; 1] = ["crate::transcript::analyze"];
const WHOLE_TRANSCRIPT_READER: (&str, &str) = ("query/transcript", "check");

/// What a layer may import beyond the layers below it, or may not import of them.
fn forbidden(module: &str, layer: &str, (target_layer, top): (&str, &str), target: &str) -> bool {
    match (layer, target_layer) {
        // `cli` is data: it imports nothing of sessctl, and only `cmd` and the root read it.
        ("cli", _) => true,
        (_, "cli") => !matches!(layer, "commands" | "root"),
        // A command parses, calls lifecycle, query or fleet, and formats: never an adapter
        // itself.
        ("commands", "adapters") | ("commands", "testbed") => module.starts_with("cmd"),
        // The dashboard reads through query and changes through lifecycle, as the CLI does. It
        // owns a runtime, so it holds the one connection that runtime drives (and awaits the
        // batch reading of its list on it), and the TLS it speaks.
        // It sends Web Push too, and only it: `push` holds the key that signs for the server.
        ("server", "adapters") => !matches!(
            (top, target),
            ("systemd", "Systemd") | ("tls", _) | ("push", _)
        ),
        // Of `push`, the login sessions keep a device's subscription, as data.
        (_, "adapters") if top == "push" => !(module == "login" && target == "Subscription"),
        ("server", "testbed") => true,
        // The private manager is for the tests and the demo only.
        (_, "testbed") => module != "demo",
        _ => false,
    }
}

fn layer_of(top: &str) -> Option<(usize, &'static str)> {
    LAYERS
        .iter()
        .enumerate()
        .find(|(_, (_, modules))| modules.contains(&top))
        .map(|(rank, (name, _))| (rank, *name))
}

/// Every `.rs` file under `src`, as its module path (`query/doctor/own_units`) and its code
/// before its unit tests (which may use anything).
fn modules(dir: &Path, prefix: &str, out: &mut BTreeMap<String, String>) {
    for entry in fs::read_dir(dir).expect("src").flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            modules(&path, &format!("{prefix}{name}/"), out);
        } else if let Some(stem) = name.strip_suffix(".rs") {
            let module = match stem {
                "mod" => prefix.trim_end_matches('/').to_string(),
                _ => format!("{prefix}{stem}"),
            };
            let source = fs::read_to_string(&path).expect("a source file");
            let code = source.split("#[cfg(test)]").next().unwrap_or("");
            out.insert(module, code.to_string());
        }
    }
}

fn src() -> BTreeMap<String, String> {
    let mut sources = BTreeMap::new();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    modules(&dir, "", &mut sources);
    sources
}

/// `source` without comments; with `blank`, string and char literals keep their quotes but
/// lose their text, so that nothing in them reads as code.
fn strip(source: &str, blank: bool) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                match (chars[i], chars.get(i + 1)) {
                    ('/', Some('*')) => (depth, i) = (depth + 1, i + 2),
                    ('*', Some('/')) => (depth, i) = (depth - 1, i + 2),
                    _ => i += 1,
                }
                if depth == 0 {
                    break;
                }
            }
        } else if c == 'r' && matches!(next, Some('#' | '"')) && (i == 0 || !ident(chars[i - 1])) {
            let hashes = chars[i + 1..].iter().take_while(|&&h| h == '#').count();
            let close: String = std::iter::once('"')
                .chain("#".repeat(hashes).chars())
                .collect();
            let open = i + 1 + hashes;
            let rest: String = chars[open + 1..].iter().collect();
            let len = rest
                .find(&close)
                .map_or(rest.len(), |at| rest[..at].chars().count());
            out.push('"');
            out.extend(
                chars[open + 1..open + 1 + len]
                    .iter()
                    .map(|&c| keep(c, blank)),
            );
            out.push('"');
            i = open + 1 + len + close.chars().count();
        } else if c == '"' {
            out.push('"');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                let n = if chars[i] == '\\' { 2 } else { 1 };
                for &c in &chars[i..(i + n).min(chars.len())] {
                    out.push(keep(c, blank));
                }
                i += n;
            }
            out.push('"');
            i += 1;
        } else if c == '\'' && (chars.get(i + 2) == Some(&'\'') || next == Some('\\')) {
            let end = (i + 1..chars.len()).find(|&j| chars[j] == '\'' && chars[j - 1] != '\\');
            let end = end.unwrap_or(i + 1);
            out.push_str("' '");
            i = end + 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn keep(c: char, blank: bool) -> char {
    match c {
        '\n' => '\n',
        _ if blank => ' ',
        c => c,
    }
}

/// The words and punctuation of code, as far as paths need them.
fn tokens(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(chars[start..i].iter().collect());
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            out.push("::".into());
            i += 2;
        } else {
            if !c.is_whitespace() {
                out.push(c.to_string());
            }
            i += 1;
        }
    }
    out
}

/// One module's view of names: its own path, its child modules, and what its `use`s bind.
struct Scope {
    module: Vec<String>,
    children: BTreeSet<String>,
    aliases: BTreeMap<String, Vec<String>>,
}

impl Scope {
    fn new(module: &str, code: &str) -> Scope {
        let module: Vec<String> = match module {
            "lib" | "main" => Vec::new(),
            m => m.split('/').map(str::to_string).collect(),
        };
        let toks = tokens(code);
        let children = toks
            .windows(3)
            .filter(|w| w[0] == "mod" && w[2] == ";")
            .map(|w| w[1].clone())
            .collect();
        let mut scope = Scope {
            module,
            children,
            aliases: BTreeMap::new(),
        };
        for (path, bound) in scope.uses(&toks) {
            if let Some(name) = bound {
                scope.aliases.insert(name, path);
            }
        }
        scope
    }

    /// Every path the `use` items of `toks` import, resolved, with the name each binds.
    fn uses(&self, toks: &[String]) -> Vec<(Vec<String>, Option<String>)> {
        let mut out = Vec::new();
        for (at, tok) in toks.iter().enumerate() {
            if tok == "use" && toks.get(at.wrapping_sub(1)).is_none_or(|t| t != "::") {
                let end = (at..toks.len())
                    .find(|&j| toks[j] == ";")
                    .unwrap_or(toks.len());
                let mut items = Vec::new();
                tree(&toks[at + 1..end], &mut 0, Vec::new(), &mut items);
                for (path, bound) in items {
                    out.push((self.resolve(&path), bound));
                }
            }
        }
        out
    }

    /// `path` from the crate's root (`crate::...`), or from an external crate's.
    fn resolve(&self, path: &[String]) -> Vec<String> {
        let mut base: Vec<String> = Vec::new();
        let mut rest = path;
        match path.first().map(String::as_str) {
            Some("crate") => {
                base.push("crate".into());
                rest = &path[1..];
            }
            Some("self") | Some("super") => {
                base.push("crate".into());
                base.extend(self.module.iter().cloned());
                if path[0] == "self" {
                    rest = &path[1..];
                }
                while rest.first().is_some_and(|s| s == "super") {
                    base.pop();
                    rest = &rest[1..];
                }
            }
            Some(first) if self.children.contains(first) => {
                base.push("crate".into());
                base.extend(self.module.iter().cloned());
            }
            Some(first) if self.aliases.contains_key(first) => {
                base = self.aliases[first].clone();
                rest = &path[1..];
            }
            _ => {}
        }
        base.extend(rest.iter().cloned());
        base
    }

    /// Every path `code` names: its `use`s, its paths (`a::b::c`), and its calls of a name a
    /// `use` bound; each resolved.
    fn named(&self, code: &str) -> BTreeSet<String> {
        let toks = tokens(code);
        let mut found: BTreeSet<String> = self
            .uses(&toks)
            .into_iter()
            .map(|(path, _)| path.join("::"))
            .collect();
        let mut i = 0;
        while i < toks.len() {
            let starts =
                is_word(&toks[i]) && (i == 0 || !matches!(toks[i - 1].as_str(), "::" | "."));
            if !starts || toks[i] == "use" {
                i += 1;
                continue;
            }
            let mut path = vec![toks[i].clone()];
            let mut j = i + 1;
            while toks.get(j).is_some_and(|t| t == "::")
                && toks.get(j + 1).is_some_and(|t| is_word(t))
            {
                path.push(toks[j + 1].clone());
                j += 2;
            }
            let bound_call = path.len() == 1
                && self.aliases.contains_key(&path[0])
                && toks.get(j).is_some_and(|t| t == "(");
            if path.len() > 1 || bound_call {
                found.insert(self.resolve(&path).join("::"));
            }
            i = j;
        }
        found
    }
}

fn is_word(tok: &str) -> bool {
    tok.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
}

/// Parses one use tree of `toks` from `*at`, under `prefix`, into (path, bound name).
fn tree(
    toks: &[String],
    at: &mut usize,
    prefix: Vec<String>,
    out: &mut Vec<(Vec<String>, Option<String>)>,
) {
    let mut path = prefix;
    if toks.get(*at).is_some_and(|t| t == "::") {
        *at += 1;
    }
    loop {
        match toks.get(*at).map(String::as_str) {
            Some("{") => {
                *at += 1;
                while toks.get(*at).is_some_and(|t| t != "}") {
                    tree(toks, at, path.clone(), out);
                    if toks.get(*at).is_some_and(|t| t == ",") {
                        *at += 1;
                    }
                }
                *at += 1;
                return;
            }
            Some("*") => {
                *at += 1;
                path.push("*".into());
                out.push((path, None));
                return;
            }
            Some("self") if !path.is_empty() => {
                *at += 1;
                let bound = alias(toks, at).or_else(|| path.last().cloned());
                out.push((path, bound));
                return;
            }
            Some(word) if is_word(word) => {
                path.push(word.to_string());
                *at += 1;
                if toks.get(*at).is_some_and(|t| t == "::") {
                    *at += 1;
                    continue;
                }
                let bound = alias(toks, at).or_else(|| path.last().cloned());
                out.push((path, bound.filter(|b| b != "_")));
                return;
            }
            _ => return,
        }
    }
}

/// `as name` at `*at`, if there.
fn alias(toks: &[String], at: &mut usize) -> Option<String> {
    if toks.get(*at).is_some_and(|t| t == "as") {
        *at += 2;
        return toks.get(*at - 1).cloned();
    }
    None
}

/// The functions of `code`: name and body.
fn functions(code: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = find_word(rest, "fn") {
        let after = &rest[at + 2..];
        let name: String = after
            .trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let (Some(open), semi) = (after.find('{'), after.find(';')) else {
            break;
        };
        if semi.is_some_and(|s| s < open) {
            rest = &after[semi.unwrap_or(0) + 1..];
            continue;
        }
        let mut depth = 0;
        let mut end = after.len();
        for (i, c) in after[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                end = open + i + 1;
                break;
            }
        }
        out.push((name, after[open..end].to_string()));
        rest = &after[end..];
    }
    out
}

fn find_word(text: &str, word: &str) -> Option<usize> {
    let ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    text.match_indices(word).map(|(at, _)| at).find(|&at| {
        !ident(text[..at].chars().next_back()) && !ident(text[at + word.len()..].chars().next())
    })
}

/// Whether `path` is `writer` or under it.
fn under(path: &str, writer: &str) -> bool {
    path == writer || path.starts_with(&format!("{writer}::"))
}

/// Every rule's breaches in `sources` (module path -> code).
fn violations(sources: &BTreeMap<String, String>) -> Vec<String> {
    let mut wrong = Vec::new();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let codes: BTreeMap<&str, String> = sources
        .iter()
        .map(|(m, s)| (m.as_str(), strip(s, true)))
        .collect();
    let scopes: BTreeMap<&str, Scope> = codes.iter().map(|(m, c)| (*m, Scope::new(m, c))).collect();
    for (module, code) in &codes {
        let named = scopes[module].named(code);
        layers(module, &named, &mut wrong, &mut graph);
        owners(module, &named, &strip(&sources[*module], false), &mut wrong);
        if module.starts_with("cmd/") {
            for other in named.iter().filter_map(|p| p.strip_prefix("crate::cmd::")) {
                let other = other.split("::").next().unwrap_or("");
                if format!("cmd/{other}") != *module && !other.is_empty() {
                    wrong.push(format!("{module} names another command, cmd::{other}"));
                }
            }
        }
        if module.starts_with("query") {
            query_reads(module, &named, &mut wrong);
            reads_only(module, &named, &scopes, &codes, &mut wrong);
        }
    }
    if let Some(cycle) = find_cycle(&graph) {
        wrong.push(format!("an import cycle: {}", cycle.join(" -> ")));
    }
    wrong
}

/// The layer rules, on the crate paths a module names.
fn layers(
    module: &str,
    named: &BTreeSet<String>,
    wrong: &mut Vec<String>,
    graph: &mut BTreeMap<String, BTreeSet<String>>,
) {
    let top = module.split('/').next().expect("a module");
    let Some((rank, layer)) = layer_of(top) else {
        wrong.push(format!("{module} has no layer"));
        return;
    };
    for path in named {
        let mut segments = path.split("::");
        if segments.next() != Some("crate") {
            continue;
        }
        let (Some(target), next) = (segments.next(), segments.next().unwrap_or("")) else {
            continue;
        };
        if target == top || (top == "lib" && target == "main") {
            continue;
        }
        let Some((target_rank, target_layer)) = layer_of(target) else {
            wrong.push(format!("{module} names unknown crate::{target}"));
            continue;
        };
        if target_rank > rank || forbidden(module, layer, (target_layer, target), next) {
            wrong.push(format!(
                "{module} ({layer}) imports crate::{target}::{next} ({target_layer})"
            ));
        }
        if top != "lib" {
            graph
                .entry(top.to_string())
                .or_default()
                .insert(target.to_string());
        }
    }
}

/// The external crates and programs a module may not name.
fn owners(module: &str, named: &BTreeSet<String>, with_strings: &str, wrong: &mut Vec<String>) {
    let owns = |owner: &str| match owner.strip_suffix('/') {
        Some(folder) => module == folder || module.starts_with(owner),
        None => module == owner,
    };
    for (krate, owner) in OWNERS {
        if !owns(owner) && named.iter().any(|p| p.split("::").next() == Some(krate)) {
            wrong.push(format!("{module} names {krate}, which only {owner} may"));
        }
    }
    if with_strings.contains("Systemd::connect(") && !CONNECTORS.iter().any(|c| owns(c)) {
        wrong.push(format!(
            "{module} opens its own connection to the user manager; take the command's (`Ctx::systemd`)"
        ));
    }
    let code = with_strings.split("#[cfg(test)]").next().unwrap_or("");
    if code.contains("Lock::acquire(") && !LOCKERS.iter().any(|c| owns(c)) {
        wrong.push(format!(
            "{module} takes a lock of its own; a product's is `state::Locked::acquire`"
        ));
    }
    if code.contains("UnitClaim::new(") && !UNIT_CLAIMERS.iter().any(|c| owns(c)) {
        wrong.push(format!(
            "{module} claims the unit's right to write without the product's lock; take `state::Locked`"
        ));
    }
    for (at, _) in with_strings.match_indices("Command::new(") {
        let arg = &with_strings[at + "Command::new(".len()..];
        let arg = arg[..arg.find(')').unwrap_or(arg.len())].trim();
        for (program, owner) in PROGRAMS {
            if !owns(owner) && (arg == program || arg == format!("\"{program}\"")) {
                wrong.push(format!("{module} runs {program}, which only {owner} may"));
            }
        }
    }
}

/// `query` names of `lifecycle` only its lock-free readings.
fn query_reads(module: &str, named: &BTreeSet<String>, wrong: &mut Vec<String>) {
    for path in named.iter().filter_map(|p| p.strip_prefix("crate::")) {
        if !path.starts_with("lifecycle") {
            continue;
        }
        let allowed = QUERY_READS
            .iter()
            .any(|read| under(path, read) || read.starts_with(&format!("{path}::")));
        if !allowed {
            wrong.push(format!(
                "{module} (query) names crate::{path}, not a lock-free reading"
            ));
        }
    }
}

/// Nothing reachable from a query module locks, writes, or reads a whole transcript (but
/// [`WHOLE_TRANSCRIPT_READER`]): its own code, and each `lifecycle` function it reaches.
fn reads_only(
    module: &str,
    named: &BTreeSet<String>,
    scopes: &BTreeMap<&str, Scope>,
    sources: &BTreeMap<&str, String>,
    wrong: &mut Vec<String>,
) {
    let code = &sources[module];
    let mut seen = BTreeSet::new();
    // (module, function or "(module)", the paths it names, its code)
    let mut reached: Vec<(String, String, BTreeSet<String>, String)> = Vec::new();
    reached.push((
        module.to_string(),
        "(module)".into(),
        named.clone(),
        code.to_string(),
    ));
    let mut queue: Vec<String> = named.iter().cloned().collect();
    while let Some(path) = queue.pop() {
        let Some(rest) = path.strip_prefix("crate::lifecycle::") else {
            continue;
        };
        let parts: Vec<&str> = rest.split("::").collect();
        // `lifecycle::m` alone is a namespace; its items are named one by one.
        let [m, .., f] = parts[..] else {
            continue;
        };
        let target = format!("lifecycle/{m}");
        let (Some(scope), Some(src)) = (scopes.get(target.as_str()), sources.get(target.as_str()))
        else {
            continue;
        };
        for (name, body) in functions(src).into_iter().filter(|(n, _)| n == f) {
            if !seen.insert((target.clone(), name.clone())) {
                continue;
            }
            let mut body_named = scope.named(&body);
            let locals = functions(src).into_iter().map(|(n, _)| n);
            for local in locals.filter(|l| body.contains(&format!("{l}("))) {
                body_named.insert(format!("crate::lifecycle::{m}::{local}"));
            }
            queue.extend(body_named.iter().cloned());
            reached.push((target.clone(), name, body_named, body));
        }
    }
    for (at, function, names, body) in &reached {
        let whence = match function.as_str() {
            "(module)" => at.clone(),
            f => format!("{at}::{f}, reached from {module}"),
        };
        for path in names {
            if let Some(writer) = WRITERS.iter().find(|w| under(path, w)) {
                wrong.push(format!("{whence} names {writer}: a lock or a write"));
            }
        }
        for method in METHOD_WRITERS.iter().filter(|m| body.contains(**m)) {
            wrong.push(format!("{whence} calls {method}..): a write"));
        }
    }
    // Whole-transcript reads, judged function by function.
    let scope = &scopes[module];
    let mut functions_of: Vec<(String, String)> = functions(code);
    functions_of.extend(
        reached
            .iter()
            .filter(|(at, f, _, _)| at != module && f != "(module)")
            .map(|(at, f, _, body)| (format!("{at}::{f}"), body.clone())),
    );
    for (function, body) in functions_of {
        let names = if function.contains("::") {
            continue_named(&function, &body, scopes)
        } else {
            scope.named(&body)
        };
        let excepted = (module, function.as_str()) == WHOLE_TRANSCRIPT_READER;
        for reader in WHOLE_TRANSCRIPT
            .iter()
            .filter(|r| names.iter().any(|p| under(p, r)))
        {
            if !excepted {
                wrong.push(format!(
                    "{module}: {function} reads a whole transcript ({reader})"
                ));
            }
        }
    }
}

/// The paths a reached `lifecycle` function (`lifecycle/m::f`) names, in its own module.
fn continue_named(function: &str, body: &str, scopes: &BTreeMap<&str, Scope>) -> BTreeSet<String> {
    let module = function.split("::").next().unwrap_or("");
    scopes
        .get(module)
        .map(|s| s.named(body))
        .unwrap_or_default()
}

/// A cycle of the graph, if it has one (depth-first, with the path on the stack).
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if !done.insert(node.to_string()) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn every_module_keeps_the_rules_of_its_layer() {
    let wrong = violations(&src());
    assert!(
        wrong.is_empty(),
        "against the layers:\n{}",
        wrong.join("\n")
    );
}

/// The rows of a layer table in markdown (`| layer | `a`, `b` | what |`), highest first.
fn table(text: &str) -> Vec<(String, Vec<String>)> {
    text.lines()
        .map(|l| l.trim_start_matches("//!").trim())
        .filter(|l| l.starts_with('|') && !l.starts_with("|-") && !l.starts_with("| layer"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let modules = cells[2]
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect();
            (cells[1].to_string(), modules)
        })
        .collect()
}

/// ARCHITECTURE.md and the header of `src/lib.rs` list the layers and their modules as
/// [`LAYERS`] does, highest first.
#[test]
fn the_layer_tables_of_the_docs_are_the_tests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let expected: Vec<(String, Vec<String>)> = LAYERS
        .iter()
        .rev()
        .map(|(layer, modules)| {
            (
                layer.to_string(),
                modules.iter().map(|m| m.to_string()).collect(),
            )
        })
        .collect();
    for doc in ["ARCHITECTURE.md", "src/lib.rs"] {
        let text = fs::read_to_string(root.join(doc)).expect("the doc");
        let mut found = table(&text);
        let mut want = expected.clone();
        for rows in [&mut found, &mut want] {
            rows.iter_mut().for_each(|(_, m)| m.sort());
        }
        assert_eq!(found, want, "{doc}'s layer table");
    }
}

/// Each rule, broken once in a source held in memory, is reported.
#[test]
fn the_checker_reports_each_rule_broken() {
    let cases: [(&[(&str, &str)], &str); 18] = [
        (
            &[("cmd/x", "use crate::{agent, paths};")],
            "cmd/x (commands) imports crate::agent:: (adapters)",
        ),
        (
            &[("cmd/x", "use crate::{query::{self, names}, session::{tmux}};")],
            "cmd/x (commands) imports crate::session::tmux (adapters)",
        ),
        (
            &[("cmd/x", "use super::super::agent::Agent;")],
            "cmd/x (commands) imports crate::agent::Agent (adapters)",
        ),
        (
            &[("cmd/x", "use self::inner::y; mod inner; fn f() { crate::cmd::other::g() }")],
            "cmd/x names another command, cmd::other",
        ),
        (
            &[("query/x", "use crate::lifecycle::{observe, intent::settle};")],
            "query/x (query) names crate::lifecycle::intent::settle, not a lock-free reading",
        ),
        (
            &[(
                "query/x",
                "use crate::lifecycle::observe;\nfn f() { observe::observe(p, s, n, \"x\") }",
            )],
            "query/x (query) names crate::lifecycle::observe::observe, not a lock-free reading",
        ),
        (
            &[
                (
                    "query/x",
                    "use crate::lifecycle::observe;\nfn f() { observe::judge_loss() }",
                ),
                (
                    "lifecycle/observe",
                    "use crate::state;\npub fn judge_loss() { note() }\nfn note() { state::append(p, n, e) }",
                ),
            ],
            "lifecycle/observe::note, reached from query/x names crate::state::append: a lock or a write",
        ),
        (
            &[("query/x", "use crate::store::{self};\nfn f() { let _l = store::Lock::acquire(&p); }")],
            "query/x names crate::store::Lock: a lock or a write",
        ),
        (
            &[("query/x", "use crate::transcript;\nfn g() { transcript::analyze(f) }")],
            "query/x: g reads a whole transcript (crate::transcript::analyze)",
        ),
        (
            &[("lifecycle/x", "fn f() { let s = Systemd::connect()?; }")],
            "lifecycle/x opens its own connection to the user manager; take the command's (`Ctx::systemd`)",
        ),
        (
            &[("lifecycle/x", "use zbus::Connection;\nfn f() { std::process::Command::new(\"journalctl\") }")],
            "lifecycle/x names zbus, which only systemd/ may",
        ),
        (
            &[("lifecycle/x", "fn f() { let _l = store::Lock::acquire(&paths.lock_file(p)); }")],
            "lifecycle/x takes a lock of its own; a product's is `state::Locked::acquire`",
        ),
        (
            &[("lifecycle/x", "fn f() { state::append(&UnitClaim::new(dir), &e) }")],
            "lifecycle/x claims the unit's right to write without the product's lock; take `state::Locked`",
        ),
        (
            &[("lifecycle/x", "use crate::push;")],
            "lifecycle/x (lifecycle) imports crate::push:: (adapters)",
        ),
        (
            &[("login", "fn f() { crate::push::send(k, s, m) }")],
            "login (records) imports crate::push::send (adapters)",
        ),
        (
            &[("query/x", "use crate::state::Locked;")],
            "query/x names crate::state::Locked: a lock or a write",
        ),
        (
            &[("cmd/internal", "use crate::remote::Hello;")],
            "cmd/internal (commands) imports crate::remote::Hello (adapters)",
        ),
        (
            &[("lifecycle/x", "fn f() { Command::new(ssh) }")],
            "lifecycle/x runs ssh, which only remote may",
        ),
    ];
    for (sources, expected) in cases {
        let sources: BTreeMap<String, String> = sources
            .iter()
            .map(|(m, s)| (m.to_string(), s.to_string()))
            .collect();
        let wrong = violations(&sources);
        assert!(
            wrong.iter().any(|w| w == expected),
            "expected {expected:?} among {wrong:#?}"
        );
    }
    let run = [
        ("session".to_string(), String::new()),
        (
            "query/x".to_string(),
            "fn f() { Command::new(tmux) }".to_string(),
        ),
    ];
    assert!(
        violations(&run.into()).contains(&"query/x runs tmux, which only session may".to_string())
    );
    let journal = [(
        "systemd".to_string(),
        "fn f() { Command::new(\"journalctl\") } // Command::new(\"tmux\")".to_string(),
    )];
    assert_eq!(
        violations(&journal.into()),
        ["systemd runs journalctl, which only journal may"]
    );
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_string(), BTreeSet::from(["b".to_string()])),
        ("b".to_string(), BTreeSet::from(["c".to_string()])),
        ("c".to_string(), BTreeSet::from(["a".to_string()])),
    ]
    .into();
    assert_eq!(
        find_cycle(&graph),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    let mut acyclic = graph.clone();
    acyclic.insert("c".into(), BTreeSet::new());
    assert_eq!(find_cycle(&acyclic), None);
}
