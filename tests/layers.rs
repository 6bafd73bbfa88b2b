//! The layering of `src/` is a rule, not a hope: every file belongs to one layer of [`LAYERS`]
//! (lowest first), and no file imports a layer above its own. The layer list here is the one
//! `src/lib.rs` and `docs/ARCHITECTURE.md` describe; a `crate::` path that runs back up fails
//! this test with the file, the line and the two layers.
//!
//! Paths are read from the source text: `crate::module::…`, `crate::{a, b::c}` groups, and
//! `crate::Name` for a name `lib.rs` re-exports (`pub use module::{Name, …}`), which counts as
//! an import of `module`. Comments (doc links included) and `#[cfg(test)]` modules at the end of a
//! file are not imports of the library and are skipped.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// The layers, lowest first; a module may import its own layer and those before it. The first
/// layer also holds the macros `lib.rs` defines (`expensive_check!`).
const LAYERS: &[(&str, &[&str])] = &[
    ("foundation", &["sync", "fork", "error", "size_class", "config", "prometheus", "zero"]),
    ("entry", &["entry"]),
    ("core", &["core"]),
    ("cache", &["cache"]),
    ("handles", &["segment", "alloc_api"]),
    ("stats", &["stats"]),
    ("facade", &["arena_manager", "global", "owned_segment"]),
    ("managers", &["manager"]),
    ("pools", &["buffer_pool"]),
    ("bench", &["bench"]),
];

/// The layer index of a top-level module, if it is listed.
fn layer_of_module(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, modules)| modules.contains(&module))
}

/// The top-level module a file under `src/` belongs to (`None` for `lib.rs` and the binaries,
/// which sit above everything and reach the library through its public API).
fn module_of_file(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    match first {
        "lib.rs" | "bin" => None,
        name => Some(name.trim_end_matches(".rs").to_owned()),
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read src/") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `lib.rs`'s root re-exports: name → module it comes from (`pub use module::{A, B};`).
fn root_reexports(lib: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for stmt in lib.split(';') {
        let stmt = stmt.trim();
        let Some(rest) = stmt.rsplit("\n").next().and_then(|l| l.trim().strip_prefix("pub use ")) else {
            continue;
        };
        let Some((module, names)) = rest.split_once("::") else { continue };
        let names = names.trim_start_matches('{').trim_end_matches('}');
        for name in names.split(',') {
            let name = name.trim().split("::").last().unwrap_or("").trim();
            if !name.is_empty() {
                map.insert(name.to_owned(), module.trim().to_owned());
            }
        }
    }
    map
}

/// The library text of a file: comments dropped, and a trailing `#[cfg(test)]` module cut off
/// (only a module: a `#[cfg(test)]` item elsewhere does not hide the lines after it).
fn code_of(text: &str) -> Vec<(usize, String)> {
    let mut lines = Vec::new();
    let all: Vec<&str> = text.lines().collect();
    for (i, line) in all.iter().enumerate() {
        let trimmed = line.trim_start();
        let next = all.get(i + 1).map_or("", |l| l.trim_start());
        if trimmed.starts_with("#[cfg(test)]") && (next.starts_with("mod ") || next.starts_with("pub(crate) mod ")) {
            break;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        let code = line.split(" //").next().unwrap_or(line);
        lines.push((i + 1, code.to_owned()));
    }
    lines
}

fn ident_at(s: &str) -> &str {
    let end = s.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(s.len());
    &s[..end]
}

/// The first segment of every `crate::` path in `code` (with the line it starts on).
fn crate_paths(code: &[(usize, String)]) -> Vec<(usize, String)> {
    let joined: String = code.iter().map(|(_, l)| format!("{l}\n")).collect();
    let line_at = |offset: usize| {
        let newlines = joined[..offset].matches('\n').count();
        code.get(newlines).map_or(0, |(n, _)| *n)
    };
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(pos) = joined[from..].find("crate::") {
        let at = from + pos;
        from = at + "crate::".len();
        let before = joined[..at].chars().next_back();
        if before.is_some_and(|c| c == '$' || c.is_alphanumeric() || c == '_') {
            continue; // `$crate::` in a macro, or a path like `my_crate::`
        }
        let rest = &joined[from..];
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a, b::c, d}`: the first segment of each top-level item.
            let (mut depth, mut item_start, mut end) = (0usize, 0usize, group.len());
            let mut items = Vec::new();
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        end = i;
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        items.push(&group[item_start..i]);
                        item_start = i + 1;
                    }
                    _ => {}
                }
            }
            items.push(&group[item_start..end]);
            for item in items {
                let name = ident_at(item.trim());
                if !name.is_empty() && name != "self" {
                    found.push((line_at(at), name.to_owned()));
                }
            }
        } else {
            let name = ident_at(rest);
            if !name.is_empty() {
                found.push((line_at(at), name.to_owned()));
            }
        }
    }
    found
}

/// Every upward import in `src/`, as readable lines.
fn upward_imports(src: &Path) -> Vec<String> {
    let lib = fs::read_to_string(src.join("lib.rs")).expect("read lib.rs");
    let reexports = root_reexports(&lib);
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut violations = Vec::new();
    for file in &files {
        let Some(module) = module_of_file(src, file) else { continue };
        let own = layer_of_module(&module)
            .unwrap_or_else(|| panic!("{} is in no layer: add `{module}` to LAYERS", file.display()));
        let text = fs::read_to_string(file).expect("read source file");
        for (line, name) in crate_paths(&code_of(&text)) {
            let target = if layer_of_module(&name).is_some() {
                name.clone()
            } else if let Some(module) = reexports.get(&name) {
                module.clone()
            } else {
                continue; // a macro or item of lib.rs itself (the foundation)
            };
            let Some(theirs) = layer_of_module(&target) else {
                panic!("{}:{line}: `crate::{name}` leads to `{target}`, which is in no layer", file.display())
            };
            if theirs > own {
                violations.push(format!(
                    "{}:{line}: `crate::{name}` — layer `{}` imports the higher layer `{}`",
                    file.display(),
                    LAYERS[own].0,
                    LAYERS[theirs].0
                ));
            }
        }
    }
    violations
}

#[test]
fn no_layer_imports_a_higher_one() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let violations = upward_imports(&src);
    assert!(violations.is_empty(), "upward imports:\n{}", violations.join("\n"));
}

#[test]
fn every_module_of_lib_rs_is_in_a_layer() {
    let lib = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).expect("read lib.rs");
    for line in lib.lines() {
        let line = line.trim();
        let decl = ["pub mod ", "pub(crate) mod ", "mod "].iter().find_map(|p| line.strip_prefix(p));
        if let Some(name) = decl.and_then(|d| d.strip_suffix(';')) {
            assert!(layer_of_module(name).is_some(), "module `{name}` of lib.rs is in no layer of LAYERS");
        }
    }
}

/// The checker itself: it sees a plain path, a group, a re-exported name, and ignores comments.
#[test]
fn the_parser_finds_what_it_must() {
    let code = code_of(
        "use crate::core::Core;\n// use crate::ArenaManager;\nuse crate::{entry, cache::{self, sizing}};\nlet x = crate::ArenaManager::new;\n$crate::sync\n",
    );
    let names: Vec<String> = crate_paths(&code).into_iter().map(|(_, n)| n).collect();
    assert_eq!(names, ["core", "entry", "cache", "ArenaManager"]);
    let map = root_reexports("pub use arena_manager::ArenaManager;\npub use segment::{Segment, SegmentBatch};\n");
    assert_eq!(map.get("SegmentBatch").map(String::as_str), Some("segment"));
    assert_eq!(map.get("ArenaManager").map(String::as_str), Some("arena_manager"));
    // A `#[cfg(test)]` item that is not the test module hides nothing after it; the module does.
    let code = code_of(
        "#[cfg(test)]\nconst T: u8 = 0;\nuse crate::cache::X;\n#[cfg(test)]\nmod tests {\nuse crate::manager::Y;\n}\n",
    );
    let names: Vec<String> = crate_paths(&code).into_iter().map(|(_, n)| n).collect();
    assert_eq!(names, ["cache"]);
}
