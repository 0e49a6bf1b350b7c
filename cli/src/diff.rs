//! What changed between two versions of a belt document, field by field; multi-line text (the
//! callback) line by line.

use serde_json::{Map, Value};

/// The service's own fields: they change on every write and say nothing about the user's edit.
const GENERATED: &[&str] = &[
    "version",
    "modifiedAt",
    "modifiedBy",
    "createdAt",
    "createdBy",
    "status",
    "_links",
    "kafkaConsumerGroupName",
    "kubernetesName",
    "projectName",
    "id",
];

/// One entry per changed field, in the new document's order, then removed fields.
pub fn changes(old: &Value, new: &Value) -> Vec<String> {
    let empty = Map::new();
    let old = old.as_object().unwrap_or(&empty);
    let new = new.as_object().unwrap_or(&empty);
    let mut out = Vec::new();
    for (key, after) in new {
        if GENERATED.contains(&key.as_str()) {
            continue;
        }
        let before = old.get(key).unwrap_or(&Value::Null);
        if before != after {
            out.push(describe(key, before, after));
        }
    }
    for (key, before) in old {
        if !new.contains_key(key) && !GENERATED.contains(&key.as_str()) {
            out.push(describe(key, before, &Value::Null));
        }
    }
    out
}

fn describe(key: &str, before: &Value, after: &Value) -> String {
    match (before, after) {
        (Value::String(a), Value::String(b)) if a.contains('\n') || b.contains('\n') => {
            let mut text = format!("{key}:");
            for line in line_diff(a, b) {
                text.push_str("\n    ");
                text.push_str(&line);
            }
            text
        }
        _ => format!("{key}: {} → {}", short(before), short(after)),
    }
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 80 {
        format!("{}…", text.chars().take(79).collect::<String>())
    } else {
        text
    }
}

/// `- old` / `+ new` lines from a longest common subsequence; unchanged lines left out.
pub fn line_diff(old: &str, new: &str) -> Vec<String> {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    if a.len() * b.len() > 4_000_000 {
        return vec![format!("({} lines → {} lines)", a.len(), b.len())];
    }
    // lcs[i][j]: the common subsequence length of a[i..] and b[j..].
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push(format!("- {}", a[i]));
            i += 1;
        } else {
            out.push(format!("+ {}", b[j]));
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_the_users_fields_count() {
        let old = json!({"version": "1", "name": "a", "replicas": 1, "modifiedAt": "x"});
        let new = json!({"version": "2", "name": "a", "replicas": 2, "modifiedAt": "y"});
        assert_eq!(changes(&old, &new), vec!["replicas: 1 → 2".to_string()]);
    }

    #[test]
    fn text_is_diffed_by_line() {
        let lines = line_diff("a\nb\nc\n", "a\nB\nc\nd\n");
        assert_eq!(lines, vec!["- b", "+ B", "+ d"]);
        let old = json!({"extractorFn": "def execute(h, e):\n    return [e]\n"});
        let new = json!({"extractorFn": "def execute(h, e):\n    return []\n"});
        assert_eq!(
            changes(&old, &new),
            vec!["extractorFn:\n    -     return [e]\n    +     return []".to_string()]
        );
    }
}
