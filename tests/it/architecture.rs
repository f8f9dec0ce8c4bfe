//! The layers of ARCHITECTURE.md, checked against the code: every `crate::` path of every
//! module names a module its layer may import, `cli` imports nothing, no `cmd` module imports
//! another, and the graph of top-level modules has no cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// Each top-level module's layer, lowest first. A module may import modules of a lower layer,
/// and of its own layer as long as no cycle forms.
const LAYERS: [(&str, &[&str]); 11] = [
    (
        "base",
        &["error", "fault", "output", "poll", "store", "uuid"],
    ),
    ("model", &["unit", "identity", "pin", "transcript"]),
    (
        "adapters",
        &["systemd", "session", "procfs", "agent", "tls", "journal"],
    ),
    (
        "records",
        &["paths", "product", "state", "snapshot", "stagger", "login"],
    ),
    ("testbed", &["testbed"]),
    ("lifecycle", &["lifecycle"]),
    ("query", &["query"]),
    ("server", &["server"]),
    ("cli", &["cli"]),
    ("commands", &["cmd", "demo"]),
    ("root", &["lib", "main"]),
];

/// What a layer may import beyond the layers below it, or may not import of them.
fn forbidden(module: &str, layer: &str, (target_layer, top): (&str, &str), target: &str) -> bool {
    match (layer, target_layer) {
        // `cli` is data: it imports nothing of sessctl, and only `cmd` and the root read it.
        ("cli", _) => true,
        (_, "cli") => !matches!(layer, "commands" | "root"),
        // A command parses, calls lifecycle or query, and formats: never an adapter itself.
        ("commands", "adapters") | ("commands", "testbed") => module.starts_with("cmd"),
        // The dashboard reads through query and changes through lifecycle, as the CLI does. It
        // owns a runtime, so it holds the one connection that runtime drives (and awaits the
        // batch reading of its list on it), and the TLS it speaks.
        ("server", "adapters") => !matches!((top, target), ("systemd", "Systemd") | ("tls", _)),
        ("server", "testbed") => true,
        // The private manager is for the tests and the demo only.
        (_, "testbed") => module != "demo",
        // Queries only read: lifecycle's lock-free readings (of sessions, of the transcript
        // guard, of changes under way) and file rendering, nothing else.
        ("query", "lifecycle") => !matches!(
            target,
            "observe" | "guard" | "intent" | "unit_file" | "target"
        ),
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

/// Every `.rs` file under `src`, as its module path (`query/doctor/own_units`).
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
            // Unit tests, at the end of a file, may use anything.
            let code = source.split("#[cfg(test)]").next().unwrap_or("");
            out.insert(module, code.to_string());
        }
    }
}

/// The `crate::a::b` paths a source names outside comments, as (`a`, `b`); `b` is empty for
/// `crate::a` itself, and each name of `crate::a::{b, c::d}` counts.
fn crate_paths(source: &str) -> BTreeSet<(String, String)> {
    let word = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut found = BTreeSet::new();
    for line in source.lines() {
        let code = line.split("//").next().unwrap_or("");
        for (at, _) in code.match_indices("crate::") {
            let rest = &code[at + "crate::".len()..];
            let top = word(rest);
            let after = rest[top.len()..].strip_prefix("::").unwrap_or("");
            let nexts: Vec<String> = match after.strip_prefix('{') {
                Some(list) => list
                    .split('}')
                    .next()
                    .unwrap_or("")
                    .split(',')
                    .map(word)
                    .collect(),
                None => vec![word(after)],
            };
            for next in nexts.into_iter().filter(|_| !top.is_empty()) {
                found.insert((top.clone(), next));
            }
        }
    }
    found
}

#[test]
fn every_module_imports_only_what_its_layer_allows() {
    let mut sources = BTreeMap::new();
    modules(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src").as_path(),
        "",
        &mut sources,
    );
    let mut wrong = Vec::new();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, source) in &sources {
        let top = module.split('/').next().expect("a module");
        let (rank, layer) = layer_of(top).unwrap_or_else(|| panic!("{module} has no layer"));
        for (target, next) in crate_paths(source) {
            if target == top {
                continue;
            }
            let (target_rank, target_layer) = layer_of(&target)
                .unwrap_or_else(|| panic!("{module} names unknown crate::{target}"));
            if target_rank > rank || forbidden(module, layer, (target_layer, &target), &next) {
                wrong.push(format!(
                    "{module} ({layer}) imports crate::{target}::{next} ({target_layer})"
                ));
            }
            graph.entry(top.to_string()).or_default().insert(target);
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
    if let Some(cycle) = find_cycle(&graph) {
        panic!("an import cycle: {}", cycle.join(" -> "));
    }
}

/// No `cmd` module names another: each calls lifecycle or query, never a sibling.
#[test]
fn no_command_imports_another() {
    let mut sources = BTreeMap::new();
    modules(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src").as_path(),
        "",
        &mut sources,
    );
    let commands: Vec<&str> = sources
        .keys()
        .filter_map(|m| m.strip_prefix("cmd/"))
        .collect();
    for (module, source) in sources.iter().filter(|(m, _)| m.starts_with("cmd/")) {
        for other in commands.iter().filter(|c| format!("cmd/{c}") != *module) {
            for named in [format!("super::{other}::"), format!("crate::cmd::{other}")] {
                assert!(!source.contains(&named), "{module} names {named}");
            }
        }
    }
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
