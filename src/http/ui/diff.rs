//! A line diff for the revisions page: the longest common subsequence of the two texts' lines,
//! then every line marked kept, removed or added. No crate in Cargo.lock does this (`similar` is
//! not there), and the texts are belt documents and callbacks: a few hundred lines, so the
//! quadratic table is small. Larger inputs are not diffed line by line (see [`MAX_CELLS`]).

/// One line of the diff, in the order a reader goes through the new text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line<'a> {
    Same(&'a str),
    Removed(&'a str),
    Added(&'a str),
}

impl Line<'_> {
    /// The marker a unified diff prints: the meaning never rests on colour alone.
    pub fn marker(&self) -> &'static str {
        match self {
            Line::Same(_) => " ",
            Line::Removed(_) => "-",
            Line::Added(_) => "+",
        }
    }

    /// The word for screen readers and the table's marker column.
    pub fn word(&self) -> &'static str {
        match self {
            Line::Same(_) => "unchanged",
            Line::Removed(_) => "removed",
            Line::Added(_) => "added",
        }
    }

    pub fn text(&self) -> &str {
        match self {
            Line::Same(text) | Line::Removed(text) | Line::Added(text) => text,
        }
    }
}

/// Above this many table cells (lines of one text times lines of the other), the texts are shown
/// as all removed then all added: a 10 MB table per request is not worth a finer diff.
const MAX_CELLS: usize = 4_000_000;

/// The lines of `old` and `new`, each marked: common lines once, removals before additions.
pub fn lines<'a>(old: &'a str, new: &'a str) -> Vec<Line<'a>> {
    let old: Vec<&str> = old.lines().collect();
    let new: Vec<&str> = new.lines().collect();
    // Equal heads and tails need no table; a changed callback usually differs in a few lines.
    let head = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
    let tail = old[head..]
        .iter()
        .rev()
        .zip(new[head..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let mut out: Vec<Line> = old[..head].iter().map(|l| Line::Same(l)).collect();
    middle(
        &old[head..old.len() - tail],
        &new[head..new.len() - tail],
        &mut out,
    );
    out.extend(old[old.len() - tail..].iter().map(|l| Line::Same(l)));
    out
}

fn middle<'a>(old: &[&'a str], new: &[&'a str], out: &mut Vec<Line<'a>>) {
    let (n, m) = (old.len(), new.len());
    if n.saturating_mul(m) > MAX_CELLS {
        out.extend(old.iter().map(|l| Line::Removed(l)));
        out.extend(new.iter().map(|l| Line::Added(l)));
        return;
    }
    // common[i][j]: the longest common subsequence of old[i..] and new[j..].
    let width = m + 1;
    let mut common = vec![0u32; (n + 1) * width];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            common[i * width + j] = if old[i] == new[j] {
                common[(i + 1) * width + j + 1] + 1
            } else {
                common[(i + 1) * width + j].max(common[i * width + j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    while i < n && j < m {
        if old[i] == new[j] {
            out.push(Line::Same(old[i]));
            (i, j) = (i + 1, j + 1);
        } else if common[(i + 1) * width + j] >= common[i * width + j + 1] {
            out.push(Line::Removed(old[i]));
            i += 1;
        } else {
            out.push(Line::Added(new[j]));
            j += 1;
        }
    }
    out.extend(old[i..].iter().map(|l| Line::Removed(l)));
    out.extend(new[j..].iter().map(|l| Line::Added(l)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unified(old: &str, new: &str) -> String {
        lines(old, new)
            .iter()
            .map(|line| format!("{}{}\n", line.marker(), line.text()))
            .collect()
    }

    #[test]
    fn a_changed_line_is_removed_then_added_between_kept_lines() {
        let old = "def f(e):\n    return 1\n# end\n";
        let new = "def f(e):\n    return 2\n# end\n";
        assert_eq!(
            unified(old, new),
            " def f(e):\n-    return 1\n+    return 2\n # end\n"
        );
    }

    #[test]
    fn insertions_and_deletions_keep_the_longest_common_lines() {
        assert_eq!(unified("a\nb\nc\nd", "a\nc\nd\ne"), " a\n-b\n c\n d\n+e\n");
        assert_eq!(unified("x\na\ny\nb", "a\nz\nb"), "-x\n a\n-y\n+z\n b\n");
        assert_eq!(unified("", "a\nb"), "+a\n+b\n");
        assert_eq!(unified("a\nb", ""), "-a\n-b\n");
        assert_eq!(unified("same\n", "same\n"), " same\n");
        assert!(lines("", "").is_empty());
    }

    #[test]
    fn every_line_of_both_texts_appears_once_in_order() {
        let old = "1\n2\n3\n4\n5\n6\n7\n8";
        let new = "0\n2\n3\nx\n5\n8\n9";
        let diff = lines(old, new);
        let kept_old: Vec<&str> = diff
            .iter()
            .filter(|l| !matches!(l, Line::Added(_)))
            .map(Line::text)
            .collect();
        let kept_new: Vec<&str> = diff
            .iter()
            .filter(|l| !matches!(l, Line::Removed(_)))
            .map(Line::text)
            .collect();
        assert_eq!(kept_old, old.lines().collect::<Vec<_>>());
        assert_eq!(kept_new, new.lines().collect::<Vec<_>>());
        let same = diff.iter().filter(|l| matches!(l, Line::Same(_))).count();
        assert_eq!(same, 4, "2, 3, 5 and 8 are common: {diff:?}");
    }

    #[test]
    fn texts_too_large_for_the_table_are_replaced_whole() {
        let old = "a\n".repeat(2_001);
        let new = "b\n".repeat(2_001);
        let diff = lines(&old, &new);
        assert_eq!(diff.len(), 4_002);
        assert!(matches!(diff[0], Line::Removed("a")));
        assert!(matches!(diff[4_001], Line::Added("b")));
    }
}
