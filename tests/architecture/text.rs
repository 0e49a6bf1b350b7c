//! The text side of the scan: literals and comments blanked, test items skipped, functions
//! measured.

/// Comments, string and char literals become spaces (newlines kept), so braces count true.
pub fn blank_literals(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < chars.len() {
        let rest = |n: usize| chars.get(i + n).copied().unwrap_or('\0');
        let end = if chars[i] == '/' && rest(1) == '/' {
            (i..chars.len())
                .find(|&j| chars[j] == '\n')
                .unwrap_or(chars.len())
        } else if chars[i] == '/' && rest(1) == '*' {
            block_comment_end(&chars, i)
        } else if chars[i] == 'r'
            && (rest(1) == '"' || rest(1) == '#')
            && !ident_char(prev(&chars, i))
        {
            raw_string_end(&chars, i).unwrap_or(i + 1)
        } else if chars[i] == '"' {
            string_end(&chars, i)
        } else if chars[i] == '\'' && rest(1) == '\\' {
            (i + 3..chars.len())
                .find(|&j| chars[j] == '\'')
                .map_or(chars.len(), |j| j + 1)
        } else if chars[i] == '\'' && rest(2) == '\'' {
            i + 3
        } else {
            out.push(chars[i]);
            i += 1;
            continue;
        };
        out.extend(chars[i..end].iter().map(|&c| blank(c)));
        i = end.max(i + 1);
    }
    out
}

fn prev(chars: &[char], i: usize) -> char {
    if i == 0 {
        ' '
    } else {
        chars[i - 1]
    }
}

pub fn ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn block_comment_end(chars: &[char], start: usize) -> usize {
    let (mut depth, mut j) = (0, start);
    while j + 1 < chars.len() {
        if chars[j] == '/' && chars[j + 1] == '*' {
            depth += 1;
            j += 2;
        } else if chars[j] == '*' && chars[j + 1] == '/' {
            depth -= 1;
            j += 2;
            if depth == 0 {
                return j;
            }
        } else {
            j += 1;
        }
    }
    chars.len()
}

fn raw_string_end(chars: &[char], start: usize) -> Option<usize> {
    let hashes = chars[start + 1..].iter().take_while(|&&c| c == '#').count();
    if chars.get(start + 1 + hashes) != Some(&'"') {
        return None;
    }
    let closing: String = std::iter::once('"')
        .chain(std::iter::repeat_n('#', hashes))
        .collect();
    let text: String = chars[start + 2 + hashes..].iter().collect();
    let at = text.find(&closing)?;
    Some(start + 2 + hashes + text[..at].chars().count() + closing.len())
}

fn string_end(chars: &[char], start: usize) -> usize {
    let mut j = start + 1;
    while j < chars.len() && chars[j] != '"' {
        j += if chars[j] == '\\' { 2 } else { 1 };
    }
    j + 1
}

/// The index just past the item that starts at `from`: its `;`, or its balanced `{…}`.
pub fn item_end(code: &[u8], from: usize) -> usize {
    let mut depth = 0i32;
    for (j, &b) in code.iter().enumerate().skip(from) {
        match b {
            b'(' | b'[' => depth += 1,
            b')' | b']' => depth -= 1,
            b';' if depth == 0 => return j + 1,
            b'{' if depth == 0 => return matching_brace(code, j) + 1,
            _ => {}
        }
    }
    code.len()
}

pub fn matching_brace(code: &[u8], open: usize) -> usize {
    let mut depth = 0;
    for (j, &b) in code.iter().enumerate().skip(open) {
        depth += match b {
            b'{' => 1,
            b'}' => -1,
            _ => 0,
        };
        if depth == 0 {
            return j;
        }
    }
    code.len()
}

/// Blanks every `#[cfg(test)]` item; answers the names of test modules kept in their own files.
pub fn strip_tests(code: &str) -> (String, Vec<String>) {
    let mut bytes = code.as_bytes().to_vec();
    let mut test_files = Vec::new();
    while let Some(at) = String::from_utf8_lossy(&bytes).find("#[cfg(test)]") {
        let end = item_end(&bytes, at + "#[cfg(test)]".len());
        let item = String::from_utf8_lossy(&bytes[at..end]).to_string();
        let words: Vec<&str> = item
            .split(|c: char| !ident_char(c))
            .filter(|w| !w.is_empty())
            .collect();
        if item.trim_end().ends_with(';') && words.contains(&"mod") {
            test_files.push(words.last().unwrap_or(&"").to_string());
        }
        for b in &mut bytes[at..end] {
            if *b != b'\n' {
                *b = b' ';
            }
        }
    }
    (String::from_utf8_lossy(&bytes).into_owned(), test_files)
}

/// (name, lines) of every function body longer than the limit.
pub fn long_functions(code: &str, limit: usize) -> Vec<(String, usize)> {
    let bytes = code.as_bytes();
    let mut found = Vec::new();
    for (at, _) in code.match_indices("fn ") {
        if at > 0 && ident_char(bytes[at - 1] as char) {
            continue;
        }
        let name: String = code[at + 3..]
            .chars()
            .take_while(|&c| ident_char(c))
            .collect();
        let end = item_end(bytes, at);
        if name.is_empty() || bytes[end - 1] != b'}' {
            continue;
        }
        let lines = code[at..end].lines().count();
        if lines > limit {
            found.push((name, lines));
        }
    }
    found
}
