//! `cargo xtask layout`: the workspace's shape, checked. Two rules of ARCHITECTURE.md that no
//! compiler enforces:
//! - no import cycle between the files of a crate: every `crate::`, `super::` and `self::` path
//!   (in `use` trees and inline) is an edge from its file to the file of the module it names,
//!   and no strongly connected set of files may hold more than one;
//! - each local AWS twin depends only downwards: the AppSync twin knows no storage, the
//!   DynamoDB twin no AppSync, the support crate none of ours (`cargo tree`, dev-dependencies
//!   included).
//!
//! The scan reads source text, not the compiler's view: comments and `mod tests` at a file's
//! end are left out, and a path that names no file of the crate (an item of the crate root,
//! a re-export) is no edge. So it can miss a cycle, never invent one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::step::{cargo, output, project_root};

/// Crates the layout forbids to each crate, among its dependencies of every kind.
const FORBIDDEN: &[(&str, &[&str])] = &[
    ("quotecast-aws-local", &["quotecast-"]),
    (
        "quotecast-appsync",
        &[
            "redb",
            "quotecast-dynamodb",
            "quotecast-esm",
            "quotecast-msk",
            "quotecast ",
        ],
    ),
    (
        "quotecast-dynamodb",
        &[
            "quotecast-appsync ",
            "quotecast-esm",
            "quotecast-msk",
            "quotecast ",
        ],
    ),
    (
        "quotecast-esm",
        &["quotecast-appsync", "quotecast-dynamodb", "quotecast "],
    ),
    ("quotecast-msk", &["quotecast-"]),
];

pub fn check() -> Result<()> {
    let root = project_root();
    let mut problems = Vec::new();
    for src in source_roots(&root)? {
        let modules = read_crate(&src)?;
        for cycle in cycles(&edges(&modules)) {
            let files: Vec<String> = cycle
                .iter()
                .map(|m| modules[m].path.display().to_string())
                .collect();
            problems.push(format!("import cycle between {}", files.join(", ")));
        }
    }
    for (package, banned) in FORBIDDEN {
        let Some(tree) = output(cargo().args([
            "tree",
            "--package",
            package,
            "--edges",
            "normal,build,dev",
            "--prefix",
            "none",
        ])) else {
            problems.push(format!(
                "`cargo tree --package {package}` failed: is the crate still in the workspace?"
            ));
            continue;
        };
        // The first line is the package itself.
        for line in tree.lines().skip(1) {
            let line = format!("{} ", line.trim());
            if let Some(b) = banned.iter().find(|b| line.starts_with(*b)) {
                problems.push(format!(
                    "{package} depends on {} (the layout forbids {b:?})",
                    line.trim()
                ));
            }
        }
    }
    let unique: BTreeSet<String> = problems.into_iter().collect();
    if unique.is_empty() {
        println!("    no import cycles; every local twin depends only downwards");
        return Ok(());
    }
    for p in &unique {
        eprintln!("    {p}");
    }
    bail!("{} layout problem(s)", unique.len())
}

/// Every `src/` beside a `Cargo.toml` in the project, outside `target/`.
fn source_roots(root: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        if dir.join("Cargo.toml").is_file() && dir.join("src").is_dir() {
            found.push(dir.join("src"));
        }
        for entry in std::fs::read_dir(&dir).with_context(|| format!("{}", dir.display()))? {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if path.is_dir()
                && !name.starts_with('.')
                && !matches!(name, "target" | "node_modules" | "src" | "dist")
            {
                stack.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// A module path inside its crate (`["appsync", "graphql"]`); the crate root is `[]`.
type ModPath = Vec<String>;

struct Module {
    path: PathBuf,
    /// Source without comments and without a trailing `mod tests`.
    text: String,
}

fn read_crate(src: &Path) -> Result<BTreeMap<ModPath, Module>> {
    let mut modules = BTreeMap::new();
    let has_lib = src.join("lib.rs").is_file();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let rel = path.strip_prefix(src)?.with_extension("");
            let mut parts: ModPath = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            let last = parts.last().cloned().unwrap_or_default();
            let is_dir_module = matches!(last.as_str(), "mod" | "lib" | "main");
            if last == "main" && has_lib && parts.len() == 1 {
                // A binary beside a library is a crate of its own; it reaches the library
                // by name, never through `crate::`.
                continue;
            }
            // `a/mod.rs` is module `a`, so its `super` is `a`'s parent, as for `a.rs`.
            if is_dir_module {
                parts.pop();
            }
            let source = std::fs::read_to_string(&path)?;
            modules.insert(
                parts,
                Module {
                    path: path
                        .strip_prefix(project_root())
                        .unwrap_or(&path)
                        .to_owned(),
                    text: strip(&source),
                },
            );
        }
    }
    Ok(modules)
}

/// The source with line and block comments blanked, cut before a `#[cfg(test)] mod tests`.
fn strip(source: &str) -> String {
    let cut = source
        .find("#[cfg(test)]\nmod tests")
        .unwrap_or(source.len());
    let source = &source[..cut];
    let mut out = String::with_capacity(source.len());
    let mut chars = source.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '/' && chars.peek() == Some(&'/') {
            for c in chars.by_ref() {
                if c == '\n' {
                    out.push('\n');
                    break;
                }
            }
        } else if c == '/' && chars.peek() == Some(&'*') {
            let mut prev = ' ';
            for c in chars.by_ref() {
                if prev == '*' && c == '/' {
                    break;
                }
                prev = c;
            }
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    out
}

/// For each module, the modules (files) its paths name.
fn edges(modules: &BTreeMap<ModPath, Module>) -> BTreeMap<ModPath, BTreeSet<ModPath>> {
    let mut graph = BTreeMap::new();
    for (here, module) in modules {
        let mut targets = BTreeSet::new();
        for path in paths(&module.text) {
            let Some(absolute) = resolve(here, &path) else {
                continue;
            };
            // The longest prefix that is a file of the crate.
            let target = (1..=absolute.len())
                .rev()
                .map(|n| absolute[..n].to_vec())
                .find(|prefix| modules.contains_key(prefix));
            if let Some(target) = target.filter(|t| t != here) {
                targets.insert(target);
            }
        }
        graph.insert(here.clone(), targets);
    }
    graph
}

/// `path` (starting with `crate`, `super` or `self`) as a path from the crate root.
fn resolve(here: &[String], path: &[String]) -> Option<ModPath> {
    let mut base: ModPath = here.to_vec();
    let mut rest = path;
    match rest.first().map(String::as_str) {
        Some("crate") => {
            base.clear();
            rest = &rest[1..];
        }
        Some("self") => rest = &rest[1..],
        Some("super") => {
            while rest.first().map(String::as_str) == Some("super") {
                base.pop()?;
                rest = &rest[1..];
            }
        }
        _ => return None,
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

/// Every path that starts with `crate::`, `super::` or `self::`, use trees expanded
/// (`use super::{a, b::{c, d}}` gives `super::a`, `super::b::c`, `super::b::d`).
fn paths(text: &str) -> Vec<Vec<String>> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let at_word_start = i == 0 || !is_ident(bytes[i - 1]) && bytes[i - 1] != b':';
        if at_word_start {
            for head in ["crate", "super", "self"] {
                let end = i + head.len();
                if bytes[i..].starts_with(head.as_bytes()) && bytes[end..].starts_with(b"::") {
                    let (mut trees, next) = tree(text, i);
                    found.append(&mut trees);
                    i = next.max(i + 1);
                    break;
                }
            }
        }
        i += 1;
    }
    found
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Reads the path (or use tree) at `start`: the expanded paths and where it ended.
fn tree(text: &str, start: usize) -> (Vec<Vec<String>>, usize) {
    let bytes = text.as_bytes();
    let mut prefix = Vec::new();
    let mut i = start;
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i < bytes.len() && bytes[i] == b'{' {
            // A group: each comma-separated member is a tree of its own under `prefix`.
            let mut out = Vec::new();
            i += 1;
            loop {
                while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b',') {
                    i += 1;
                }
                if i >= bytes.len() || bytes[i] == b'}' {
                    return (out, i + 1);
                }
                let (members, next) = tree(text, i);
                for m in members {
                    let mut p = prefix.clone();
                    p.extend(m);
                    out.push(p);
                }
                if next <= i {
                    return (out, i + 1);
                }
                i = next;
                // Skip `as name` and anything else up to the member's end.
                while i < bytes.len() && !matches!(bytes[i], b',' | b'}') {
                    i += 1;
                }
            }
        }
        let word_start = i;
        while i < bytes.len() && is_ident(bytes[i]) {
            i += 1;
        }
        if i == word_start {
            return (vec![prefix], i);
        }
        prefix.push(text[word_start..i].to_owned());
        if bytes[i..].starts_with(b"::") {
            i += 2;
        } else {
            return (vec![prefix], i);
        }
    }
}

/// The strongly connected sets of more than one module (Tarjan's algorithm).
fn cycles(graph: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> Vec<Vec<ModPath>> {
    struct Walk<'a> {
        graph: &'a BTreeMap<ModPath, BTreeSet<ModPath>>,
        index: BTreeMap<&'a ModPath, usize>,
        low: BTreeMap<&'a ModPath, usize>,
        stack: Vec<&'a ModPath>,
        on_stack: BTreeSet<&'a ModPath>,
        found: Vec<Vec<ModPath>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, v: &'a ModPath) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on_stack.insert(v);
            let graph = self.graph;
            for w in graph.get(v).into_iter().flatten() {
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.on_stack.contains(w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut set = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    set.push(w.clone());
                    if w == v {
                        break;
                    }
                }
                if set.len() > 1 {
                    set.sort();
                    self.found.push(set);
                }
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !walk.index.contains_key(v) {
            walk.visit(v);
        }
    }
    walk.found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(text: &str) -> Module {
        Module {
            path: PathBuf::from("x.rs"),
            text: strip(text),
        }
    }

    fn m(path: &str) -> ModPath {
        path.split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn use_trees_expand_and_comments_do_not_count() {
        let found = paths(&strip(
            "use super::{a, b::{c, d as e}};\n// crate::nothing\nfn f() { crate::x::y(); }\n",
        ));
        let found: Vec<String> = found.iter().map(|p| p.join("::")).collect();
        assert_eq!(
            found,
            ["super::a", "super::b::c", "super::b::d", "crate::x::y"]
        );
    }

    #[test]
    fn a_loop_through_siblings_is_found_and_a_chain_is_not() {
        let mut modules = BTreeMap::new();
        modules.insert(m(""), module("mod a; mod b; mod c;"));
        modules.insert(m("a"), module("use super::b::Thing;"));
        modules.insert(m("b"), module("use crate::c::Other;"));
        modules.insert(m("c"), module("fn f() {}"));
        assert!(cycles(&edges(&modules)).is_empty());
        modules.insert(
            m("c"),
            module("fn f() { super::a::g() }\n#[cfg(test)]\nmod tests { use super::b; }"),
        );
        assert_eq!(cycles(&edges(&modules)), vec![vec![m("a"), m("b"), m("c")]]);
    }

    #[test]
    fn super_in_a_mod_rs_is_the_parent_of_its_directory() {
        let mut modules = BTreeMap::new();
        modules.insert(m("h"), module("pub mod store;"));
        modules.insert(m("h::store"), module("use super::writer::Row;"));
        modules.insert(m("h::writer"), module("use super::store::Error;"));
        modules.insert(m("other"), module("use crate::h::store::X;"));
        assert_eq!(
            cycles(&edges(&modules)),
            vec![vec![m("h::store"), m("h::writer")]]
        );
    }
}
