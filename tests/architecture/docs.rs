//! docs/architecture.md is a newcomer's map, and a map that names a file or a module that is
//! gone sends the newcomer nowhere (issue 19: `domain::document`, `reconcile::delete_belt`,
//! `src/config.rs` and `tests/architecture.rs` outlived their code). This holds what the page
//! names in backticks to the tree:
//! - a repository path (`src/…`, `tests/…`, `cli/…`, `crates/…`, `bench/…`, `migrations/…`,
//!   `scripts/…`, `docs/…`) must exist (a `#fragment` is ignored; `*` matches within one name;
//!   `{a,b}` is each of `a` and `b`);
//! - a shorter file name (`queue.rs`, `app/state.rs`) must be the end of some file's path;
//! - a path of the crate (`reconcile::Reconciler::run`, `crate::domain::transition`) must walk
//!   down module files as far as they go, and each name left must be declared (`fn`, `mod`,
//!   `struct`, `trait`, `enum`, `type`, `const`, `static`, `macro_rules!`) in that module's
//!   files. A name is not tied to the exact item it belongs to (a method may be any `fn` of the
//!   module): the rule catches what does not exist, not every wrong attribution.
//!
//! Text in fenced code blocks is not read: the layer picture there is checked against
//! `LAYERS` by hand, and `tests/architecture/main.rs` holds the code to it.

use std::path::{Path, PathBuf};

use crate::text::ident_char;

const REPOSITORY_ROOTS: &[&str] = &[
    "src/",
    "tests/",
    "cli/",
    "crates/",
    "bench/",
    "migrations/",
    "scripts/",
    "docs/",
];

/// Extensions of the shorter file names held to the tree.
const FILE_EXTENSIONS: &[&str] = &[".rs", ".py", ".sh", ".sql"];

fn root() -> PathBuf {
    std::env::var("BELT_ARCH_ROOT")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into())
        .into()
}

/// Every file of the repository, relative and with `/`, build output and VCS data left out.
fn repository_files(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            let name = entry.file_name();
            if matches!(name.to_str(), Some("target" | ".git" | "node_modules")) {
                continue;
            }
            if path.is_dir() {
                todo.push(path);
            } else {
                let relative = path.strip_prefix(root).unwrap();
                found.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    found
}

/// The inline code spans of a Markdown text, fenced blocks left out.
fn code_spans(markdown: &str) -> Vec<String> {
    let mut prose = String::new();
    let mut fenced = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            prose.push_str(line);
            prose.push('\n');
        }
    }
    prose
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|span| span.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// `a/{b,c}/d` → `a/b/d`, `a/c/d` (one group, as the docs write them).
fn expand_braces(path: &str) -> Vec<String> {
    let (Some(open), Some(close)) = (path.find('{'), path.find('}')) else {
        return vec![path.to_string()];
    };
    if close < open {
        return vec![path.to_string()];
    }
    path[open + 1..close]
        .split(',')
        .map(|choice| format!("{}{choice}{}", &path[..open], &path[close + 1..]))
        .collect()
}

/// `pattern` against `name`, `*` matching any run of characters but `/`.
fn wildcard(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => {
            let Some(rest) = name.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len())
                .filter(|&at| rest.is_char_boundary(at))
                .take_while(|&at| !rest[..at].contains('/'))
                .any(|at| wildcard(tail, &rest[at..]))
        }
    }
}

/// Whether the repository path `named` (a file, or a folder with a trailing `/` or not) exists.
fn repository_path_exists(files: &[String], named: &str) -> bool {
    let named = named.split('#').next().unwrap_or_default();
    expand_braces(named).iter().all(|path| {
        let path = path.trim_end_matches('/');
        files.iter().any(|file| {
            let mut folders = file.match_indices('/').map(|(at, _)| &file[..at]);
            wildcard(path, file) || folders.any(|folder| wildcard(path, folder))
        })
    })
}

/// The module path of the crate a span starts with, if any: `a::b::C` with `a` a top-level module
/// of `src/` (after an optional `crate::` or `belt_api::`).
fn crate_path(span: &str, src: &Path) -> Option<Vec<String>> {
    let end = span
        .find(|c: char| !(ident_char(c) || c == ':'))
        .unwrap_or(span.len());
    let path = span[..end].trim_end_matches(':');
    let mut segments: Vec<String> = path.split("::").map(str::to_string).collect();
    if segments.len() < 2 || segments.iter().any(String::is_empty) {
        return None;
    }
    if matches!(segments[0].as_str(), "crate" | "belt_api") {
        segments.remove(0);
    }
    let top = segments.first()?;
    module_files(src, std::slice::from_ref(top)).map(|_| segments)
}

/// The file of the module `module` of `src/` (`a/b.rs` or `a/b/mod.rs`), and the folder its
/// children live in.
fn module_files(src: &Path, module: &[String]) -> Option<(PathBuf, PathBuf)> {
    let dir = module.iter().fold(src.to_path_buf(), |at, m| at.join(m));
    let flat = dir.with_extension("rs");
    let nested = dir.join("mod.rs");
    [flat, nested]
        .into_iter()
        .find(|file| file.is_file())
        .map(|file| (file, dir))
}

/// The Rust sources of a module: its file and every file below its folder.
fn module_sources(file: &Path, dir: &Path) -> Vec<String> {
    let mut sources = vec![std::fs::read_to_string(file).unwrap()];
    let mut todo = vec![dir.to_path_buf()];
    while let Some(dir) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for path in entries.map(|entry| entry.unwrap().path()) {
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") && path != file {
                sources.push(std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    sources
}

/// Whether `code` declares an item called `name`.
fn declares(code: &str, name: &str) -> bool {
    const KINDS: &[&str] = &[
        "fn ",
        "mod ",
        "struct ",
        "trait ",
        "enum ",
        "type ",
        "const ",
        "static ",
        "macro_rules! ",
    ];
    KINDS.iter().any(|kind| {
        let declared = format!("{kind}{name}");
        code.match_indices(&declared).any(|(at, _)| {
            let before = code[..at].chars().next_back();
            let after = code[at + declared.len()..].chars().next();
            !before.is_some_and(ident_char) && !after.is_some_and(ident_char)
        })
    })
}

/// Why the crate path `segments` does not resolve, or `None` when it does.
fn unresolved(src: &Path, segments: &[String]) -> Option<String> {
    let mut depth = 1;
    while depth < segments.len() && module_files(src, &segments[..=depth]).is_some() {
        depth += 1;
    }
    let (file, dir) = module_files(src, &segments[..depth])?;
    let sources = module_sources(&file, &dir);
    let missing: Vec<&String> = segments[depth..]
        .iter()
        .filter(|name| !sources.iter().any(|code| declares(code, name)))
        .collect();
    (!missing.is_empty()).then(|| {
        let module = segments[..depth].join("::");
        format!("{missing:?} declared nowhere in `{module}`")
    })
}

/// What `markdown` names that the tree at `root` does not have.
fn stale_names(markdown: &str, root: &Path) -> Vec<String> {
    let files = repository_files(root);
    let src = root.join("src");
    let mut found = Vec::new();
    for span in code_spans(markdown) {
        let word = span.split_whitespace().next().unwrap_or_default();
        let word = word.trim_end_matches([',', ';', ')', '.']);
        if REPOSITORY_ROOTS.iter().any(|r| word.starts_with(r)) {
            if !repository_path_exists(&files, word) {
                found.push(format!("`{span}`: no such path"));
            }
        } else if FILE_EXTENSIONS.iter().any(|e| word.ends_with(e)) && !word.contains('*') {
            let tail = format!("/{}", word.trim_start_matches('/'));
            if !files.iter().any(|f| format!("/{f}").ends_with(&tail)) {
                found.push(format!("`{span}`: no file ends so"));
            }
        } else if let Some(segments) = crate_path(&span, &src) {
            if let Some(why) = unresolved(&src, &segments) {
                found.push(format!("`{span}`: {why}"));
            }
        }
    }
    found
}

#[test]
fn the_architecture_page_names_only_what_exists() {
    let root = root();
    let page = std::fs::read_to_string(root.join("docs/architecture.md")).unwrap();
    let stale = stale_names(&page, &root);
    assert!(
        stale.is_empty(),
        "docs/architecture.md names what the tree does not have: {stale:#?}"
    );
}

/// The names issue 19 found on the page, and what resolves beside them.
#[test]
fn the_page_check_finds_names_that_do_not_exist() {
    let page = "`src/config.rs` and `tests/architecture.rs`, `domain::document` and \
                `reconcile::delete_belt`, `domain/document.rs`, `belt_frames.rs`.\n\
                ```\n`src/in_a_fence.rs`\n```\n\
                But `src/config/`, `tests/architecture/main.rs`, `docs/api.md#delete`, \
                `migrations/{sqlite,postgres}/0001_belts.sql`, `tests/api/*.rs`, `app/state.rs`, \
                `crate::domain::transition::change_state`, `reconcile::Reconciler::run`, \
                `store::BeltStore` and `http::belts::update(…)` are there; \
                `Runtime::apply` and `axum::Router` are not the crate's paths.";
    let stale = stale_names(page, &root());
    let named: Vec<&str> = stale
        .iter()
        .map(|s| s.split('`').nth(1).unwrap_or_default())
        .collect();
    assert_eq!(
        named,
        [
            "src/config.rs",
            "tests/architecture.rs",
            "domain::document",
            "reconcile::delete_belt",
            "domain/document.rs",
            "belt_frames.rs",
        ],
        "{stale:#?}"
    );
}
