//! Python source split into highlighted lines for the editor's read-only view. Done on the server
//! with the lexer the check itself parses with, so the console ships no highlighter script and
//! the view agrees with the check on what is a string and what is code.

use rustpython_parser::lexer::lex;
use rustpython_parser::{Mode, Tok};

/// What a piece of a line is; the view gives each kind a class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Plain,
    Keyword,
    Str,
    Number,
    Comment,
}

impl Kind {
    pub fn class(self) -> &'static str {
        match self {
            Kind::Plain => "",
            Kind::Keyword => "kw",
            Kind::Str => "str",
            Kind::Number => "num",
            Kind::Comment => "com",
        }
    }
}

/// One line of source: its pieces in order.
pub type Line = Vec<(Kind, String)>;

/// The source's lines (line ends as Python reads them: `\r\n` and `\r` are one). After a lexical
/// error the rest of the text is plain: the check's message says what is wrong there.
pub fn lines(source: &str) -> Vec<Line> {
    let source = source.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = Lines(vec![Vec::new()]);
    let mut at = 0;
    for token in lex(&source, Mode::Module) {
        let Ok((tok, range)) = token else { break };
        let (start, end) = (range.start().to_usize(), range.end().to_usize());
        // Indents and dedents may be empty or overlap what was written already.
        if start < at || end > source.len() {
            continue;
        }
        out.gap(&source[at..start]);
        out.push(kind_of(&tok), &source[start..end]);
        at = end;
    }
    out.gap(&source[at..]);
    let mut lines = out.0;
    // The last line end opens no line of its own.
    if lines.len() > 1 && lines.last().is_some_and(Vec::is_empty) {
        lines.pop();
    }
    lines
}

fn kind_of(tok: &Tok) -> Kind {
    match tok {
        Tok::String { .. } => Kind::Str,
        Tok::Int { .. } | Tok::Float { .. } | Tok::Complex { .. } => Kind::Number,
        Tok::Name { .. } => Kind::Plain,
        other => {
            // Keywords show as `'def'`; operators as `'+'`, layout tokens without quotes.
            let shown = other.to_string();
            let word = shown.trim_matches('\'');
            let keyword = shown.starts_with('\'')
                && !word.is_empty()
                && word.chars().all(|c| c.is_ascii_alphabetic() || c == '_');
            if keyword {
                Kind::Keyword
            } else {
                Kind::Plain
            }
        }
    }
}

struct Lines(Vec<Line>);

impl Lines {
    /// Text of one kind, opening a new line at every line end.
    fn push(&mut self, kind: Kind, text: &str) {
        for (i, part) in text.split('\n').enumerate() {
            if i > 0 {
                self.0.push(Vec::new());
            }
            if !part.is_empty() {
                if let Some(line) = self.0.last_mut() {
                    line.push((kind, part.to_owned()));
                }
            }
        }
    }

    /// What the lexer skipped between tokens: blanks, line continuations and comments (a `#`
    /// there always starts a comment, which runs to the line end).
    fn gap(&mut self, text: &str) {
        let mut rest = text;
        while let Some(hash) = rest.find('#') {
            self.push(Kind::Plain, &rest[..hash]);
            let end = rest[hash..].find('\n').map_or(rest.len(), |n| hash + n);
            self.push(Kind::Comment, &rest[hash..end]);
            rest = &rest[end..];
        }
        self.push(Kind::Plain, rest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(line: &Line) -> Vec<(Kind, &str)> {
        line.iter().map(|(k, t)| (*k, t.as_str())).collect()
    }

    #[test]
    fn keywords_strings_numbers_and_comments_are_told_apart() {
        let source = "def execute(h, e):  # why\r\n    return ['#x', 12]\n";
        let lines = lines(source);
        assert_eq!(lines.len(), 2);
        let first = kinds(&lines[0]);
        assert_eq!(first[0], (Kind::Keyword, "def"));
        assert!(first.contains(&(Kind::Comment, "# why")), "{first:?}");
        let second = kinds(&lines[1]);
        assert!(second.contains(&(Kind::Keyword, "return")), "{second:?}");
        assert!(second.contains(&(Kind::Str, "'#x'")), "{second:?}");
        assert!(second.contains(&(Kind::Number, "12")), "{second:?}");
        // Every character is kept, in order.
        let text: String = lines[1].iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(text, "    return ['#x', 12]");
    }

    #[test]
    fn a_triple_quoted_string_spans_lines_and_an_error_leaves_the_rest_plain() {
        let lines = lines("x = \"\"\"a\nb\"\"\"\ny = $ 'never'\nz\n");
        assert_eq!(lines.len(), 4);
        assert_eq!(kinds(&lines[1]), vec![(Kind::Str, "b\"\"\"")]);
        let text: String = lines[2].iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(text, "y = $ 'never'");
        assert_eq!(kinds(&lines[3]), vec![(Kind::Plain, "z")]);
    }
}
