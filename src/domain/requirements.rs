//! Static check of a belt's `requirementsPy`: a requirements.txt restricted to PEP 508
//! requirement specifiers, one per line.

use std::str::FromStr;

use pep508_rs::Requirement;

/// Error messages quote the offending line, which may be arbitrarily long.
const MAX_QUOTED_CHARS: usize = 100;

/// Checks a requirements.txt body: every non-blank, non-comment line must be a pip requirement specifier (PEP 508).
pub fn check_requirements(text: &str) -> Result<(), String> {
    // `lines` splits on "\n" and strips a trailing "\r".
    for (index, line) in text.lines().enumerate() {
        let requirement = strip_comment(line).trim();
        if requirement.is_empty() {
            continue;
        }
        if let Err(reason) = check_line(requirement) {
            let (n, line, reason) = (index + 1, shorten(line.trim()), shorten(&reason));
            return Err(format!(
                "Parameter 'requirementsPy' line {n} is not a pip requirement specifier: '{line}' ({reason})."
            ));
        }
    }
    Ok(())
}

/// Cuts a comment the way pip does: `#` at the start of the line or after whitespace. A `#`
/// inside a token is kept, as in a URL fragment (`pkg @ https://host/pkg.whl#sha256=…`).
pub(crate) fn strip_comment(line: &str) -> &str {
    let mut previous = None;
    for (i, c) in line.char_indices() {
        if c == '#' && previous.is_none_or(char::is_whitespace) {
            return &line[..i];
        }
        previous = Some(c);
    }
    line
}

fn check_line(requirement: &str) -> Result<(), String> {
    // pip options (`-r other.txt`, `--index-url …`, `-e .`) change where and how pip installs,
    // which a belt must not do; a dedicated reason beats the PEP 508 parser's.
    if requirement.starts_with('-') {
        return Err("pip options are not allowed".to_owned());
    }
    Requirement::<pep508_rs::VerbatimUrl>::from_str(requirement)
        // `message` is the parser's one-line reason; the error's `Display` adds the input
        // and an underline on further lines.
        .map(|_| ())
        .map_err(|error| {
            let message = error.message.to_string();
            message.lines().next().unwrap_or_default().trim().to_owned()
        })
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(MAX_QUOTED_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        check_requirements(text).expect_err("should be rejected")
    }

    #[test]
    fn accepts_requirement_specifiers() {
        for text in [
            "",
            "\n\n",
            "package1==0.0.0\r\npackage2",
            "package1==0.0.0\npackage2\n",
            "requests[security]>=2.8.1,<3",
            "foo; python_version < \"3.8\"",
            "pkg @ https://example.com/pkg-1.0-py3-none-any.whl",
            "pkg @ https://example.com/pkg-1.0.whl#sha256=0123abcd",
            "pkg @ git+https://github.com/org/pkg.git@v1.0",
            "numpy ~= 1.26",
            "Django>=4.2,!=4.2.1 ; python_version >= '3.10' and sys_platform == 'linux'",
        ] {
            assert_eq!(check_requirements(text), Ok(()), "{text:?}");
        }
    }

    #[test]
    fn accepts_comments_and_blank_lines() {
        let text = "# pinned for the belt\r\n\r\n   \r\nrequests==2.31.0  # http\r\n\t# indented comment\r\nsix\t# tab before comment\r\n";
        assert_eq!(check_requirements(text), Ok(()));
    }

    #[test]
    fn comment_needs_preceding_whitespace() {
        // pip reads `foo#bar` as a requirement, not as `foo` plus a comment.
        assert!(err("foo#bar").starts_with("Parameter 'requirementsPy' line 1 "));
    }

    #[test]
    fn rejects_garbage_with_line_number() {
        let cases = [
            ("==1.0", 1),
            ("foo==", 1),
            ("foo bar", 1),
            ("package1==0.0.0\r\nfoo==", 2),
            ("ok\n\n# comment\nfoo bar  # trailing comment", 4),
            ("requests[security", 1),
            ("foo; python_version <", 1),
            ("pkg @ ", 1),
        ];
        for (text, line) in cases {
            let message = err(text);
            assert!(
                message.starts_with(&format!(
                    "Parameter 'requirementsPy' line {line} is not a pip requirement specifier: '"
                )),
                "{text:?} gave {message:?}"
            );
            assert!(!message.contains('\n'), "{message:?}");
        }
        assert!(err("foo bar # note").contains(": 'foo bar # note' ("));
        let long = format!("{} bar", "x".repeat(10_000));
        assert!(err(&long).len() < 400);
    }

    #[test]
    fn rejects_pip_options() {
        assert_eq!(
            err("requests\n-r other.txt"),
            "Parameter 'requirementsPy' line 2 is not a pip requirement specifier: '-r other.txt' \
             (pip options are not allowed)."
        );
        for text in [
            "--index-url https://example.com/simple",
            "-e .",
            "--hash=sha256:00",
        ] {
            assert!(
                err(text).ends_with("(pip options are not allowed)."),
                "{text:?}"
            );
        }
    }
}
