//! A tiny HTML writer that escapes every piece of text it is handed: belt names, descriptions,
//! callbacks and log lines are written by users, so nothing reaches the page unescaped unless it
//! is one of our own literal fragments ([`Html::raw`] takes `&'static str` only, for that reason).

use std::fmt::Write;

/// A page being written.
#[derive(Default)]
pub struct Html(String);

impl Html {
    /// Markup of our own: a literal, never data.
    pub fn raw(&mut self, markup: &'static str) -> &mut Self {
        self.0.push_str(markup);
        self
    }

    /// Text, escaped for both element content and a quoted attribute value.
    pub fn text(&mut self, text: impl std::fmt::Display) -> &mut Self {
        let mut plain = String::new();
        let _ = write!(plain, "{text}");
        for c in plain.chars() {
            match c {
                '&' => self.0.push_str("&amp;"),
                '<' => self.0.push_str("&lt;"),
                '>' => self.0.push_str("&gt;"),
                '"' => self.0.push_str("&quot;"),
                '\'' => self.0.push_str("&#39;"),
                c => self.0.push(c),
            }
        }
        self
    }

    /// `<tag>text</tag>` for a literal tag.
    pub fn element(&mut self, tag: &'static str, text: impl std::fmt::Display) -> &mut Self {
        self.raw("<")
            .raw(tag)
            .raw(">")
            .text(text)
            .raw("</")
            .raw(tag)
            .raw(">")
    }

    /// A hidden form field.
    pub fn hidden(&mut self, name: &'static str, value: impl std::fmt::Display) -> &mut Self {
        self.raw("<input type=\"hidden\" name=\"")
            .raw(name)
            .raw("\" value=\"")
            .text(value)
            .raw("\">")
    }

    pub fn finish(self) -> String {
        self.0
    }
}

/// A query-string or path component, percent-encoded (then escaped when written as text).
pub fn encode(component: &str) -> String {
    url::form_urlencoded::byte_serialize(component.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_and_descriptions_are_escaped() {
        let hostile = "<script>alert('x')</script>\"><img src=x onerror=alert(1)>&amp;";
        let mut html = Html::default();
        html.raw("<td title=\"").text(hostile).raw("\">");
        html.element("pre", hostile);
        let page = html.finish();
        assert!(!page.contains("<script>"), "{page}");
        assert!(!page.contains("<img"), "{page}");
        // Only our own two quotes around the attribute: the value could not close it early.
        assert_eq!(page.matches('"').count(), 2, "{page}");
        assert!(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;&gt;"));
        assert!(page.contains("&amp;amp;"), "{page}");
    }

    #[test]
    fn path_components_are_percent_encoded() {
        assert_eq!(encode("a b&c=<d>"), "a+b%26c%3D%3Cd%3E");
    }
}
