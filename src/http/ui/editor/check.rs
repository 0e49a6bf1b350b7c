//! The check region of the editor: what the dry run answered, and the callback as checked, line
//! by line with a number gutter, the line of a syntax error highlighted and marked in words (so
//! colour is never the only signal). htmx swaps this region in as the user types.

use super::super::highlight::{lines, Kind};
use crate::domain::{Culprit, Invalid, SourceAt};
use crate::http::ui::html::Html;

/// What a dry run of the editor's document answered.
#[derive(Debug)]
pub enum Checked {
    /// The use case would accept it: what saving would do, in words.
    Fine(String),
    /// A refused value, naming its field (and, for a Python syntax error, its line and column).
    Refused(Invalid),
    /// Any other refusal (the caller's role, a stale version, an unavailable registry): the
    /// API's sentence.
    Failed(String),
}

impl Checked {
    /// Where in extractorFn the refusal points, if it is one that does.
    fn bad_line(&self) -> Option<SourceAt> {
        match self {
            Checked::Refused(invalid) if invalid.culprit == field("extractorFn") => invalid.at,
            _ => None,
        }
    }
}

fn field(name: &str) -> Culprit {
    Culprit::Field(name.to_owned())
}

/// The sentence shown for a refusal: the field, and the line and column when known, first.
fn sentence(invalid: &Invalid) -> String {
    match (&invalid.culprit, invalid.at) {
        (Culprit::Field(name), Some(at)) => format!(
            "{name}, line {}, column {}: {}",
            at.line, at.column, invalid.message
        ),
        _ => invalid.message.clone(),
    }
}

/// `<div id="check">`: the answer (`#check-message`, which the textarea is described by) and the
/// numbered, highlighted view of `source`.
pub fn check_region(html: &mut Html, source: &str, checked: Option<&Checked>) {
    html.raw("<div id=\"check\" class=\"check\">");
    match checked {
        None => html.raw(
            "<p id=\"check-message\" class=\"hint\">The document is checked as you type, as the \
             API checks it, without saving.</p>",
        ),
        Some(Checked::Fine(said)) => html
            .raw("<p id=\"check-message\" class=\"notice\" data-check=\"fine\">")
            .text(said)
            .raw("</p>"),
        Some(Checked::Refused(invalid)) => html
            .raw("<p id=\"check-message\" class=\"problem\" data-check=\"refused\">")
            .text(sentence(invalid))
            .raw("</p>"),
        Some(Checked::Failed(said)) => html
            .raw("<p id=\"check-message\" class=\"problem\" data-check=\"failed\">")
            .text(said)
            .raw("</p>"),
    };
    code_view(html, source, checked.and_then(Checked::bad_line));
    html.raw("</div>");
}

fn code_view(html: &mut Html, source: &str, bad: Option<SourceAt>) {
    // Focusable: a long line scrolls the view, which the keyboard must reach too.
    html.raw("<figure class=\"code-view\" tabindex=\"0\">")
        .raw("<figcaption>extractorFn as checked, with line numbers</figcaption>")
        .raw("<div class=\"lines\">");
    for (index, line) in lines(source).iter().enumerate() {
        let number = index + 1;
        let marked = bad.filter(|at| at.line == number);
        html.raw(if marked.is_some() {
            "<div class=\"line bad\" id=\"bad-line\">"
        } else {
            "<div class=\"line\">"
        })
        .raw("<span class=\"ln\">")
        .text(number)
        .raw("</span><code>");
        for (kind, text) in line {
            if *kind == Kind::Plain {
                html.text(text);
            } else {
                html.raw("<span class=\"")
                    .raw(kind.class())
                    .raw("\">")
                    .text(text)
                    .raw("</span>");
            }
        }
        html.raw("</code>");
        if let Some(at) = marked {
            html.raw("<strong class=\"mark\">◀ error here, column ")
                .text(at.column)
                .raw("</strong>");
        }
        html.raw("</div>");
    }
    html.raw("</div></figure>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bad_line_is_marked_in_words_and_the_message_leads_with_the_place() {
        let invalid = Invalid::field_message("extractorFn", "Parameter 'extractorFn' is bad.")
            .at(SourceAt { line: 2, column: 5 });
        let mut html = Html::default();
        check_region(
            &mut html,
            "x = 1\ny = <\n",
            Some(&Checked::Refused(invalid)),
        );
        let page = html.finish();
        assert!(
            page.contains("extractorFn, line 2, column 5: Parameter"),
            "{page}"
        );
        assert_eq!(page.matches("class=\"line bad\"").count(), 1, "{page}");
        let bad = page.split("class=\"line bad\"").nth(1).unwrap();
        assert!(bad.starts_with(" id=\"bad-line\"><span class=\"ln\">2</span>"));
        assert!(bad.contains("&lt;") && bad.contains("error here, column 5"));
        // Another field's refusal marks no line.
        let mut html = Html::default();
        let other = Checked::Refused(Invalid::field("name", "must not be empty"));
        check_region(&mut html, "x = 1\n", Some(&other));
        assert!(!html.finish().contains("line bad"));
    }
}
