//! The import graph of a crate's modules, read from its source, and its cycles.
//!
//! A module is a file (`a/b.rs` is `a/b`; `lib.rs`, `main.rs` and `mod.rs` name their
//! directory's module). An edge `a -> b` means a file of module `a` names something of
//! module `b`: `use crate::b::..`, a `crate::b::..` path in code, or `super::`/`self::` paths
//! that lead there, `use` groups (`use crate::{a, b::c}`) expanded one level. A path points
//! at the longest prefix of it that is a module file; paths to the crate root are left out.
//! `#[cfg(test)] mod x { .. }` blocks and comments are left out.
//!
//! A cycle is a strongly connected set of two or more files ([`ModuleGraph::file_cycles`]),
//! or of top-level modules, where every file under `a/` counts as `a`
//! ([`ModuleGraph::top_level_cycles`]). The reading is textual, not a parse: good enough to
//! keep a crate free of cycles, and no dependency to build.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::Path;

/// A module: the path of its file from the crate's source root, without `.rs`, `lib`, `main`
/// or `mod` (the root module is empty).
pub type Module = Vec<String>;

/// Which modules of a crate import which.
#[derive(Debug, Clone, Default)]
pub struct ModuleGraph {
    modules: BTreeSet<Module>,
    edges: BTreeMap<Module, BTreeSet<Module>>,
}

impl ModuleGraph {
    /// Reads every `.rs` file under `root` (a crate's `src`).
    pub fn from_dir(root: &Path) -> io::Result<ModuleGraph> {
        let mut files = Vec::new();
        collect_files(root, root, &mut files)?;
        Ok(ModuleGraph::from_sources(
            files
                .iter()
                .map(|(path, text)| (path.as_str(), text.as_str())),
        ))
    }

    /// The graph of these files, each given by its path under the source root (`a/b.rs`,
    /// with `/` separators) and its text.
    pub fn from_sources<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> ModuleGraph {
        let files: Vec<(Module, &str)> = files
            .into_iter()
            .map(|(path, text)| (module_of(path), text))
            .collect();
        let mut graph = ModuleGraph {
            modules: files.iter().map(|(module, _)| module.clone()).collect(),
            edges: BTreeMap::new(),
        };
        for (module, text) in &files {
            let code = strip_comments(&strip_tests(text));
            let targets: BTreeSet<Module> = paths_in(&code)
                .iter()
                .filter_map(|segments| graph.target(module, segments))
                .collect();
            graph.edges.insert(module.clone(), targets);
        }
        graph
    }

    /// How many modules (files) there are.
    pub fn module_count(&self) -> usize {
        self.modules.len()
    }

    /// How many edges (importing module, imported module) there are.
    pub fn edge_count(&self) -> usize {
        self.edges.values().map(BTreeSet::len).sum()
    }

    /// The modules `module` (a name as in [`report`](Self::report): `a/b`, or `lib` for the
    /// crate root) imports.
    pub fn imports(&self, module: &str) -> Vec<String> {
        let key = if module == "lib" {
            Module::new()
        } else {
            split_name(module)
        };
        let targets = self.edges.get(&key).into_iter().flatten();
        targets.map(name).collect()
    }

    /// The file-level cycles: each a sorted list of module names (`a/b`), two or more.
    pub fn file_cycles(&self) -> Vec<Vec<String>> {
        named(strongly_connected(&self.modules, &self.edges))
    }

    /// The cycles between top-level modules, where `a/b` counts as `a`.
    pub fn top_level_cycles(&self) -> Vec<Vec<String>> {
        let top = |module: &Module| module[..1].to_vec();
        let nodes: BTreeSet<Module> = self
            .modules
            .iter()
            .filter(|m| !m.is_empty())
            .map(top)
            .collect();
        let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
        for (from, targets) in self.edges.iter().filter(|(from, _)| !from.is_empty()) {
            for to in targets
                .iter()
                .filter(|to| !to.is_empty() && to[0] != from[0])
            {
                edges.entry(top(from)).or_default().insert(top(to));
            }
        }
        named(strongly_connected(&nodes, &edges))
    }

    /// Every cycle as readable lines, with the edges inside each file cycle; empty when
    /// there is none.
    pub fn report(&self) -> String {
        let mut out = String::new();
        for cycle in self.file_cycles() {
            out.push_str(&format!("file cycle: {}\n", cycle.join(", ")));
            for from in &cycle {
                for to in self.imports(from).iter().filter(|to| cycle.contains(to)) {
                    out.push_str(&format!("    {from} -> {to}\n"));
                }
            }
        }
        for cycle in self.top_level_cycles() {
            out.push_str(&format!("top-level cycle: {}\n", cycle.join(", ")));
        }
        out
    }

    /// The module a path of `module`'s file points at: the longest prefix of it that is a
    /// module, unless that is the file itself or the crate root.
    fn target(&self, module: &Module, segments: &[String]) -> Option<Module> {
        let target: Module = if segments[0] == "crate" {
            segments[1..].to_vec()
        } else {
            let mut base = module.clone();
            let mut rest = segments;
            while let Some(first) = rest.first().filter(|s| *s == "super" || *s == "self") {
                if first == "super" {
                    base.pop();
                }
                rest = &rest[1..];
            }
            base.extend(rest.iter().cloned());
            base
        };
        let found = (0..=target.len())
            .rev()
            .map(|k| &target[..k])
            .find(|candidate| self.modules.contains(*candidate))?;
        (found != module.as_slice() && !found.is_empty()).then(|| found.to_vec())
    }
}

/// Appends `(path under root, text)` for every `.rs` file under `dir`, sorted by path.
fn collect_files(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) -> io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::path);
    for entry in entries {
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            collect_files(root, &path, out)?;
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            let relative = path.strip_prefix(root).map_err(io::Error::other)?;
            let segments: Vec<_> = relative.iter().map(|s| s.to_string_lossy()).collect();
            out.push((segments.join("/"), std::fs::read_to_string(&path)?));
        }
    }
    Ok(())
}

/// The module of a file path under the source root.
fn module_of(path: &str) -> Module {
    let mut module = split_name(path.strip_suffix(".rs").unwrap_or(path));
    if module
        .last()
        .is_some_and(|last| matches!(last.as_str(), "lib" | "main" | "mod"))
    {
        module.pop();
    }
    module
}

fn split_name(name: &str) -> Module {
    name.split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn name(module: &Module) -> String {
    if module.is_empty() {
        "lib".to_owned()
    } else {
        module.join("/")
    }
}

fn named(components: Vec<Vec<Module>>) -> Vec<Vec<String>> {
    components
        .into_iter()
        .map(|component| component.iter().map(name).collect())
        .collect()
}

fn is_word(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

/// The index just past the `}` that closes the `{` before `from`, or the end.
fn matching_brace(text: &[u8], from: usize) -> usize {
    let mut depth = 1usize;
    let mut at = from;
    while at < text.len() && depth > 0 {
        match text[at] {
            b'{' => depth += 1,
            b'}' => depth -= 1,
            _ => {}
        }
        at += 1;
    }
    at
}

/// Where a `#[cfg(test)] (pub(..))? mod name {` at `at` opens its block, if one is there.
fn test_module_open(text: &[u8], at: usize) -> Option<usize> {
    let mut i = at + b"#[cfg(test)]".len();
    let skip_space = |i: &mut usize| {
        let start = *i;
        while text.get(*i).is_some_and(u8::is_ascii_whitespace) {
            *i += 1;
        }
        *i > start
    };
    skip_space(&mut i);
    if text[i..].starts_with(b"pub") {
        let mut j = i + 3;
        if text.get(j) == Some(&b'(') {
            j += text[j..].iter().position(|&b| b == b')')? + 1;
        }
        if skip_space(&mut j) {
            i = j;
        }
    }
    if !text[i..].starts_with(b"mod") {
        return None;
    }
    i += 3;
    let word_start = {
        if !skip_space(&mut i) {
            return None;
        }
        i
    };
    while text.get(i).copied().is_some_and(is_word) {
        i += 1;
    }
    if i == word_start {
        return None;
    }
    skip_space(&mut i);
    (text.get(i) == Some(&b'{')).then_some(i + 1)
}

/// The text without its `#[cfg(test)] mod x { .. }` blocks.
fn strip_tests(text: &str) -> String {
    const MARK: &str = "#[cfg(test)]";
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut kept_from = 0;
    let mut search = 0;
    while let Some(found) = text[search..].find(MARK) {
        let at = search + found;
        match test_module_open(bytes, at) {
            Some(open) => {
                out.push_str(&text[kept_from..at]);
                kept_from = matching_brace(bytes, open);
                search = kept_from;
            }
            None => search = at + MARK.len(),
        }
    }
    out.push_str(&text[kept_from..]);
    out
}

/// The text without `/* .. */` (not nested) and then `// ..` comments.
fn strip_comments(text: &str) -> String {
    let mut blockless = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("/*") {
        let Some(close) = rest[open + 2..].find("*/") else {
            break;
        };
        blockless.push_str(&rest[..open]);
        rest = &rest[open + 2 + close + 2..];
    }
    blockless.push_str(rest);
    let lines = blockless.split('\n').map(|line| match line.find("//") {
        Some(at) => &line[..at],
        None => line,
    });
    lines.collect::<Vec<_>>().join("\n")
}

/// `crate`, `super` or `self` starting at `at` (after a non-word byte), with its length.
fn path_root_at(text: &[u8], at: usize) -> Option<usize> {
    if at > 0 && is_word(text[at - 1]) {
        return None;
    }
    ["crate", "super", "self"]
        .iter()
        .find(|root| text[at..].starts_with(root.as_bytes()))
        .map(|root| root.len())
}

/// The `::word` segments from `at`: their words and where they end.
fn segments_from(text: &str, mut at: usize) -> (Vec<String>, usize) {
    let bytes = text.as_bytes();
    let mut words = Vec::new();
    while bytes[at..].starts_with(b"::") && bytes.get(at + 2).copied().is_some_and(is_word) {
        let start = at + 2;
        let end = start + bytes[start..].iter().take_while(|&&b| is_word(b)).count();
        words.push(text[start..end].to_owned());
        at = end;
    }
    (words, at)
}

/// Every `crate::`/`super::`/`self::` path of the code, as segments, `use` groups expanded
/// one level (`use crate::a::{b, c::{d}}` gives `crate::a::b` and `crate::a::c`).
fn paths_in(code: &str) -> Vec<Vec<String>> {
    let bytes = code.as_bytes();
    let mut paths = Vec::new();
    for at in 0..bytes.len() {
        let Some(len) = path_root_at(bytes, at) else {
            continue;
        };
        let (words, end) = segments_from(code, at + len);
        let mut path = vec![code[at..at + len].to_owned()];
        path.extend(words);
        if bytes[end..].starts_with(b"::{") && is_use_before(bytes, at) {
            let open = end + 3;
            let close = matching_brace(bytes, open).saturating_sub(1).max(open);
            paths.extend(group_items(&code[open..close]).into_iter().map(|item| {
                let mut full = path.clone();
                full.extend(item);
                full
            }));
        }
        if path.len() > 1 {
            paths.push(path);
        }
    }
    paths
}

/// True when `use` and whitespace come right before `at`.
fn is_use_before(text: &[u8], at: usize) -> bool {
    let before = &text[..at];
    let trimmed = before.trim_ascii_end();
    trimmed.len() < before.len()
        && trimmed.ends_with(b"use")
        && (trimmed.len() == 3 || !is_word(trimmed[trimmed.len() - 4]))
}

/// The leading paths of the items of a `use` group, split at the commas outside nested
/// groups: `b, c::{d, e}, f as g, *` gives `b`, `c::d` cut to `c`, `f`.
fn group_items(inner: &str) -> Vec<Vec<String>> {
    let bytes = inner.as_bytes();
    let mut items = Vec::new();
    let mut start = 0;
    for at in 0..=bytes.len() {
        let split = at == bytes.len() || (bytes[at] == b',' && !inside_nested_group(&bytes[at..]));
        if split {
            items.push(inner[start..at].trim());
            start = at + 1;
        }
    }
    items
        .into_iter()
        .filter_map(|item| {
            let head_len = item.bytes().take_while(|&b| is_word(b)).count();
            if head_len == 0 {
                return None;
            }
            let (rest, _) = segments_from(item, head_len);
            let mut head = vec![item[..head_len].to_owned()];
            head.extend(rest);
            Some(head)
        })
        .collect()
}

/// True when a `}` comes before any `{` after this comma: the comma is inside a nested group.
fn inside_nested_group(after_comma: &[u8]) -> bool {
    after_comma
        .iter()
        .find(|&&b| b == b'{' || b == b'}')
        .is_some_and(|&b| b == b'}')
}

/// Tarjan's strongly connected components of two or more nodes, each sorted, in the order
/// they close when nodes are visited in order.
fn strongly_connected(
    nodes: &BTreeSet<Module>,
    edges: &BTreeMap<Module, BTreeSet<Module>>,
) -> Vec<Vec<Module>> {
    let mut tarjan = Tarjan {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        components: Vec::new(),
    };
    for node in nodes {
        if !tarjan.index.contains_key(node) {
            tarjan.visit(node);
        }
    }
    tarjan.components
}

struct Tarjan<'a> {
    edges: &'a BTreeMap<Module, BTreeSet<Module>>,
    index: BTreeMap<&'a Module, usize>,
    low: BTreeMap<&'a Module, usize>,
    stack: Vec<&'a Module>,
    components: Vec<Vec<Module>>,
}

impl<'a> Tarjan<'a> {
    fn visit(&mut self, node: &'a Module) {
        let index = self.index.len();
        self.index.insert(node, index);
        self.low.insert(node, index);
        self.stack.push(node);
        for next in self.edges.get(node).into_iter().flatten() {
            let low = if !self.index.contains_key(next) {
                self.visit(next);
                self.low[next]
            } else if self.stack.contains(&next) {
                self.index[next]
            } else {
                continue;
            };
            let mine = self.low[node].min(low);
            self.low.insert(node, mine);
        }
        if self.low[node] == index {
            let at = self.stack.iter().rposition(|n| *n == node).unwrap_or(0);
            let mut component: Vec<Module> = self.stack.drain(at..).cloned().collect();
            if component.len() > 1 {
                component.sort();
                self.components.push(component);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(files: &[(&str, &str)]) -> ModuleGraph {
        ModuleGraph::from_sources(files.iter().copied())
    }

    #[test]
    fn a_tree_without_cycles_has_none() {
        let g = graph(&[
            ("lib.rs", "mod a; mod b; pub use crate::a::A;"),
            ("a.rs", "use crate::b::B;\npub struct A(B);"),
            ("b.rs", "pub struct B;"),
        ]);
        assert_eq!(g.module_count(), 3);
        assert_eq!(g.edge_count(), 2);
        assert_eq!(g.imports("a"), ["b"]);
        assert!(g.imports("lib").contains(&"a".to_owned()));
        assert!(g.file_cycles().is_empty());
        assert!(g.top_level_cycles().is_empty());
        assert_eq!(g.report(), "");
    }

    #[test]
    fn two_files_importing_each_other_are_a_cycle() {
        let g = graph(&[
            ("lib.rs", ""),
            ("a.rs", "use crate::b::B;"),
            ("b.rs", "fn f() -> crate::a::A { todo!() }"),
            ("c.rs", "use crate::a::A;"),
        ]);
        assert_eq!(g.file_cycles(), [["a", "b"]]);
        assert_eq!(g.top_level_cycles(), [["a", "b"]]);
        assert!(g.report().contains("    b -> a\n"), "{}", g.report());
    }

    #[test]
    fn a_child_naming_its_parent_back_is_a_file_cycle_only() {
        let g = graph(&[
            (
                "decode.rs",
                "mod head; use self::head::scan;\npub struct Limits;",
            ),
            ("decode/head.rs", "use super::Limits;\npub fn scan() {}"),
        ]);
        assert_eq!(g.imports("decode/head"), ["decode"]);
        assert_eq!(g.file_cycles(), [["decode", "decode/head"]]);
        assert!(g.top_level_cycles().is_empty());
    }

    #[test]
    fn files_of_two_directories_can_make_a_top_level_cycle() {
        let g = graph(&[
            ("a/mod.rs", "mod x;"),
            ("a/x.rs", "use crate::b::y::Y;"),
            ("b/mod.rs", "mod y; use crate::a::Z;"),
            ("b/y.rs", ""),
            ("a/z.rs", ""),
        ]);
        assert!(g.file_cycles().is_empty());
        assert_eq!(g.top_level_cycles(), [["a", "b"]]);
    }

    #[test]
    fn use_groups_are_expanded_one_level() {
        let g = graph(&[
            ("lib.rs", "use crate::{a::A, b::{self, B}, c as _};"),
            ("a.rs", ""),
            ("b.rs", ""),
            ("c.rs", ""),
        ]);
        assert_eq!(g.imports("lib"), ["a", "b", "c"]);
    }

    #[test]
    fn tests_and_comments_are_left_out() {
        let g = graph(&[
            ("a.rs", "// use crate::b::B;\n/* crate::b::B */\n#[cfg(test)]\nmod tests {\n    use crate::b::B;\n    fn f() { {} }\n}\npub struct A;"),
            ("b.rs", "use crate::a::A;"),
        ]);
        assert!(g.imports("a").is_empty());
        assert!(g.file_cycles().is_empty());
    }

    #[test]
    fn paths_stop_at_the_longest_module_prefix() {
        let g = graph(&[
            ("lib.rs", ""),
            ("a.rs", "fn f() { crate::b::c::d::e(); super::lib_item(); }"),
            ("b/c.rs", ""),
        ]);
        assert_eq!(g.imports("a"), ["b/c"]);
    }
}
