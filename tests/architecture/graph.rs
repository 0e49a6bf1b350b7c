//! The module side of the scan: which file each `crate::…` / `super::…` / `self::…` path names,
//! and what the resulting file graph breaks.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::text::{blank_literals, ident_char, matching_brace, strip_tests};
use crate::{ALLOWED_EDGES, LAYERS};

pub type Module = Vec<String>;

pub struct File {
    pub path: String,
    pub module: Module,
    pub code: String,
    pub lines: usize,
}

fn module_of(path: &str) -> Module {
    let inner = path.trim_start_matches("src/").trim_end_matches(".rs");
    let mut parts: Module = inner.split('/').map(str::to_string).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// Every path a `use` tree names, expanded (`a::{b, c::d}` → `a::b`, `a::c::d`).
fn expand_use(tree: &str) -> Vec<String> {
    let words: Vec<&str> = tree.split_whitespace().collect();
    let tree = words.join(" ").replace(" as ", "@").replace(' ', "");
    let Some(open) = tree.find('{') else {
        return vec![tree
            .split('@')
            .next()
            .unwrap_or("")
            .trim_end_matches("::")
            .to_string()];
    };
    let prefix = &tree[..open];
    let close = matching_brace(tree.as_bytes(), open);
    let (mut parts, mut depth, mut start) = (Vec::new(), 0, open + 1);
    for (j, c) in tree.char_indices().take(close).skip(open + 1) {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&tree[start..j]);
                start = j + 1;
            }
            _ => {}
        }
    }
    parts.push(&tree[start..close]);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| expand_use(&format!("{prefix}{p}")))
        .map(|p| p.trim_end_matches("::self").to_string())
        .collect()
}

/// An absolute module path for `path` as written in `module`, or `None` for outside crates.
/// A path that starts with a child module's name is relative to `module`.
fn absolute(known: &HashMap<Module, usize>, module: &Module, path: &str) -> Option<Module> {
    let mut segments = path.split("::").peekable();
    let first = *segments.peek()?;
    let mut base = match first {
        "crate" | "$crate" | "belt_api" => Vec::new(),
        "super" => module[..module.len().saturating_sub(1)].to_vec(),
        "self" => module.clone(),
        child if known.contains_key(&[module.clone(), vec![child.to_string()]].concat()) => {
            let mut base = module.clone();
            base.push(child.to_string());
            base
        }
        _ => return None,
    };
    segments.next();
    for segment in segments {
        match segment {
            "super" => {
                base.pop();
            }
            "*" | "" => {}
            s => base.push(s.to_string()),
        }
    }
    Some(base)
}

pub struct Crate {
    pub files: Vec<File>,
    by_module: HashMap<Module, usize>,
    /// (file, name) → the absolute path a `pub use` gives that name.
    reexports: HashMap<(usize, String), Module>,
    /// Per file, the absolute paths it names.
    paths: Vec<Vec<Module>>,
}

fn uses_of(code: &str) -> Vec<(bool, String)> {
    let mut found = Vec::new();
    for (at, _) in code.match_indices("use ") {
        if at > 0 && ident_char(code.as_bytes()[at - 1] as char) {
            continue;
        }
        let end = code[at..].find(';').map_or(code.len(), |e| at + e);
        let public = code[..at].trim_end().ends_with("pub") || code[..at].trim_end().ends_with(')');
        for path in expand_use(&code[at + 4..end]) {
            found.push((public, path));
        }
    }
    found
}

fn inline_paths(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    for root in ["crate::", "super::", "self::", "belt_api::"] {
        for (at, _) in code.match_indices(root) {
            if at > 0
                && (ident_char(code.as_bytes()[at - 1] as char) || code.as_bytes()[at - 1] == b':')
            {
                continue;
            }
            let len = code[at..]
                .find(|c: char| !(ident_char(c) || c == ':' || c == '$'))
                .unwrap_or(code.len() - at);
            found.push(code[at..at + len].trim_end_matches(':').to_string());
        }
    }
    found
}

pub fn parse(sources: &[(String, String)]) -> Crate {
    let mut files = Vec::new();
    let mut test_modules = BTreeSet::new();
    for (path, source) in sources {
        let (code, tests) = strip_tests(&blank_literals(source));
        let module = if path == "src/main.rs" {
            vec!["main".to_string()]
        } else {
            module_of(path)
        };
        for test in tests {
            test_modules.insert([module.clone(), vec![test]].concat());
        }
        files.push(File {
            path: path.clone(),
            module,
            code,
            lines: source.lines().count(),
        });
    }
    files.retain(|f| !test_modules.iter().any(|t| f.module.starts_with(t)));
    let by_module = files
        .iter()
        .enumerate()
        .map(|(i, f)| (f.module.clone(), i))
        .collect();
    let mut krate = Crate {
        files,
        by_module,
        reexports: HashMap::new(),
        paths: Vec::new(),
    };
    for (i, file) in krate.files.iter().enumerate() {
        let mut paths = Vec::new();
        for (public, path) in uses_of(&file.code) {
            let Some(target) = absolute(&krate.by_module, &file.module, &path) else {
                continue;
            };
            if public {
                if let Some(name) = target.last() {
                    krate.reexports.insert((i, name.clone()), target.clone());
                }
            }
            paths.push(target);
        }
        let inline = inline_paths(&file.code);
        paths.extend(
            inline
                .iter()
                .filter_map(|p| absolute(&krate.by_module, &file.module, p)),
        );
        krate.paths.push(paths);
    }
    krate
}

impl Crate {
    /// The file that defines what `path` names, following re-exports.
    fn resolve(&self, path: &Module, hops: usize) -> Option<usize> {
        let (file, used) = (0..=path.len())
            .rev()
            .find_map(|n| self.by_module.get(&path[..n]).map(|&f| (f, n)))?;
        match path
            .get(used)
            .and_then(|name| self.reexports.get(&(file, name.clone())))
        {
            Some(target) if hops < 8 && target != path => {
                self.resolve(target, hops + 1).or(Some(file))
            }
            _ => Some(file),
        }
    }

    /// File → the files it depends on; a module's own descendants do not count (it declares them).
    pub fn edges(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut edges = BTreeMap::new();
        for (i, file) in self.files.iter().enumerate() {
            let targets: &mut BTreeSet<String> = edges.entry(file.path.clone()).or_default();
            for path in &self.paths[i] {
                let Some(j) = self.resolve(path, 0) else {
                    continue;
                };
                let target = &self.files[j];
                if j != i && !target.module.starts_with(&file.module) {
                    targets.insert(target.path.clone());
                }
            }
        }
        edges
    }
}

pub fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let allowed = |a: &str, b: &str| ALLOWED_EDGES.contains(&(a, b));
    let reach = |from: &str| {
        let (mut seen, mut todo) = (BTreeSet::new(), vec![from.to_string()]);
        while let Some(at) = todo.pop() {
            for next in edges
                .get(&at)
                .into_iter()
                .flatten()
                .filter(|n| !allowed(&at, n))
            {
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<&String, BTreeSet<String>> =
        edges.keys().map(|f| (f, reach(f))).collect();
    let mut found: BTreeSet<Vec<String>> = BTreeSet::new();
    for (file, reached) in &reaches {
        if reached.contains(*file) {
            let mut cycle: Vec<String> = reached
                .iter()
                .filter(|o| reaches[o].contains(*file))
                .cloned()
                .collect();
            cycle.sort();
            found.insert(cycle);
        }
    }
    found.into_iter().collect()
}

fn layer_of(path: &str) -> Option<usize> {
    let top = module_of(path)
        .first()
        .cloned()
        .unwrap_or_else(|| "lib".into());
    LAYERS
        .iter()
        .position(|layer| layer.contains(&top.as_str()))
}

pub fn upward(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut found = Vec::new();
    for (from, targets) in edges {
        for to in targets {
            let (Some(a), Some(b)) = (layer_of(from), layer_of(to)) else {
                found.push(format!("{from} or {to} has no layer"));
                continue;
            };
            if b > a && !ALLOWED_EDGES.contains(&(from.as_str(), to.as_str())) {
                found.push(format!("{from} (layer {a}) uses {to} (layer {b})"));
            }
        }
    }
    found
}
