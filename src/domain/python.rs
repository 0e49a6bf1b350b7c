//! Static check of a belt's `extractorFn`: the Python 3 source must parse and define a
//! module-level `execute` whose parameters fit how the belt runtime calls it.

use rustpython_parser::ast::{self, Stmt};
use rustpython_parser::lexer::LexicalErrorType;
use rustpython_parser::{Parse, ParseError, ParseErrorType, Tok};

/// Whether the belt's fetchProfile mode hands a profile to `execute`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileArgument {
    Required,
    Optional,
}

/// Larger sources are refused before parsing. This bounds the parse time (about 1 µs per byte
/// on pathological input) and the stack reserved below. The HTTP body limit is 1 MiB as well,
/// so a request can never reach this limit; only a configured default could.
const MAX_SOURCE_BYTES: usize = 1024 * 1024;

/// The parser itself is table-driven and needs no deep stack, but the AST it returns is dropped
/// recursively: `-------1`, `1+1+1…`, `f()()()…` or `[[[…]]]` nest one node per one or two
/// source bytes, mostly without brackets that a depth limit could count, and 40k such levels
/// overflow a 2 MiB (tokio worker) stack, which aborts the whole process. Bounding the depth
/// before parsing would take a second parser, so parsing runs on its own thread with a stack
/// sized for the worst case: at most one level per source byte, measured at under 128 bytes of
/// stack per source byte in unoptimised builds. The stack is only reserved, not touched, unless
/// the input really is that deep; spawning the thread costs some tens of microseconds.
const STACK_BYTES_PER_SOURCE_BYTE: usize = 256;
const BASE_STACK_BYTES: usize = 1024 * 1024;

/// Error messages quote parser output, which may contain arbitrary user text (string tokens).
const MAX_REASON_CHARS: usize = 100;

/// Parses `source` as Python 3 (a real parser, never regexes) and checks the top-level `execute` function.
pub fn check_extractor_fn(source: &str, profile: ProfileArgument) -> Result<(), String> {
    if source.trim().is_empty() {
        return Err("Parameter 'extractorFn' must not be empty.".to_owned());
    }
    if source.len() > MAX_SOURCE_BYTES {
        return Err(format!(
            "Parameter 'extractorFn' must not be larger than {MAX_SOURCE_BYTES} bytes but it has {}.",
            source.len()
        ));
    }
    // Python translates "\r\n" and a lone "\r" to "\n" before tokenising; doing the same keeps
    // the reported line and column numbers simple to compute.
    let source = source.replace("\r\n", "\n").replace('\r', "\n");
    // CPython refuses null bytes anywhere; this lexer lets them through inside string literals.
    if let Some(offset) = source.find('\0') {
        return Err(syntax_error(
            &source,
            offset,
            "source code cannot contain null bytes",
        ));
    }

    let stack_size = BASE_STACK_BYTES + STACK_BYTES_PER_SOURCE_BYTE * source.len();
    let parsed = std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("extractor-fn-check".to_owned())
            .stack_size(stack_size)
            .spawn_scoped(scope, || parse_execute(&source))
            .map_err(|e| format!("Parameter 'extractorFn' could not be checked: {e}."))?;
        // A parser panic must not take the request down with it; join turns it into an error.
        handle.join().map_err(|_| {
            "Parameter 'extractorFn' could not be checked: the parser failed.".to_owned()
        })
    })?;

    let execute = parsed?
        .ok_or_else(|| "Parameter 'extractorFn' must define a function 'execute'.".to_owned())?;
    check_signature(execute, profile)
}

/// What the check needs to know about `execute`: its positional parameters.
#[derive(Debug, Clone, Copy)]
struct ExecuteSignature {
    positional: usize,
    third_has_default: bool,
}

/// Parses the source and summarises the last module-level `execute` definition, if any.
/// Runs on the big-stack thread: the AST must be dropped there, so only a summary leaves it.
fn parse_execute(source: &str) -> Result<Option<ExecuteSignature>, String> {
    let suite = ast::Suite::parse(source, "<extractorFn>").map_err(|error| {
        let (reason, offset) = describe(source, &error);
        syntax_error(source, offset, &reason)
    })?;
    Ok(suite.iter().rev().find_map(|stmt| {
        let args = match stmt {
            Stmt::FunctionDef(def) if def.name.as_str() == "execute" => &def.args,
            Stmt::AsyncFunctionDef(def) if def.name.as_str() == "execute" => &def.args,
            _ => return None,
        };
        // `*args`, keyword-only parameters and `**kwargs` are not filled positionally.
        let mut positional = args.posonlyargs.iter().chain(&args.args);
        Some(ExecuteSignature {
            positional: args.posonlyargs.len() + args.args.len(),
            third_has_default: positional.nth(2).is_some_and(|arg| arg.default.is_some()),
        })
    }))
}

fn check_signature(execute: ExecuteSignature, profile: ProfileArgument) -> Result<(), String> {
    let n = execute.positional;
    if !(2..=3).contains(&n) {
        return Err(format!(
            "Parameter 'extractorFn' must define 'execute' with 2 or 3 parameters but it has {n}."
        ));
    }
    match profile {
        ProfileArgument::Required if n != 3 => Err(
            "Parameter 'extractorFn' must define 'execute' with 3 parameters (headers, event, profile) \
             because fetchProfile hands it a profile."
                .to_owned(),
        ),
        ProfileArgument::Optional if n == 3 && !execute.third_has_default => Err(
            "Parameter 'extractorFn' must give the 3rd parameter of 'execute' a default value \
             (e.g. profile=None) because fetchProfile is FALSE or LAZY."
                .to_owned(),
        ),
        _ => Ok(()),
    }
}

fn syntax_error(source: &str, offset: usize, reason: &str) -> String {
    let (line, column) = line_column(source, offset);
    format!(
        "Parameter 'extractorFn' is not valid Python: {reason} at line {line}, column {column}."
    )
}

/// 1-based line and column (in characters, as CPython counts them) of a byte offset.
fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &source[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    (line, before[line_start..].chars().count() + 1)
}

/// A short, human reason for a parse error and the byte offset to report it at. The parser's
/// own `Display` leaks token debug dumps (`Got extraneous token: Name { name: "x" }`), echoes
/// whole string literals and mixes capitalisation styles.
fn describe(source: &str, error: &ParseError) -> (String, usize) {
    let mut offset = error.offset.to_usize();
    let reason = match &error.error {
        ParseErrorType::Eof => "unexpected EOF while parsing".to_owned(),
        ParseErrorType::InvalidToken => "invalid token".to_owned(),
        ParseErrorType::UnrecognizedToken(Tok::Indent, _) => "unexpected indent".to_owned(),
        ParseErrorType::UnrecognizedToken(_, Some(expected)) if expected == "Indent" => {
            "expected an indented block".to_owned()
        }
        ParseErrorType::ExtraToken(tok) | ParseErrorType::UnrecognizedToken(tok, _) => {
            format!("invalid syntax, unexpected {}", describe_token(tok))
        }
        ParseErrorType::Lexical(error) => match error {
            LexicalErrorType::UnrecognizedToken { tok } => {
                // Reported just after the character; point at it instead.
                if source.get(..offset).is_some_and(|s| s.ends_with(*tok)) {
                    offset -= tok.len_utf8();
                }
                format!("invalid character {tok:?}")
            }
            LexicalErrorType::StringError => "invalid string literal".to_owned(),
            LexicalErrorType::UnicodeError => {
                "invalid escape sequence in string literal".to_owned()
            }
            LexicalErrorType::NestingError => "unmatched closing bracket".to_owned(),
            LexicalErrorType::TabError | LexicalErrorType::TabsAfterSpaces => {
                "inconsistent use of tabs and spaces in indentation".to_owned()
            }
            LexicalErrorType::OtherError(message) if message.starts_with("EOL") => {
                // Reported at the start of the next line; point at the end of the unterminated one.
                offset = offset.saturating_sub(1);
                "unterminated string literal".to_owned()
            }
            // Malformed radix literals such as `0x` surface as a debug dump of the integer
            // parser's error (`ParseBigIntError { kind: Empty }`).
            LexicalErrorType::OtherError(message) if message.starts_with("Parse") => {
                "invalid number literal".to_owned()
            }
            // Fixed English phrases, some capitalised ("Invalid Token").
            LexicalErrorType::OtherError(message) => message.to_lowercase(),
            other => other.to_string(),
        },
    };
    (concise(&reason), offset)
}

fn describe_token(tok: &Tok) -> String {
    match tok {
        Tok::Newline => "end of line".to_owned(),
        Tok::EndOfFile => "end of file".to_owned(),
        Tok::Indent => "indent".to_owned(),
        Tok::Dedent => "dedent".to_owned(),
        Tok::String { .. } => "string literal".to_owned(),
        other => format!("token {other}"),
    }
}

/// Escapes control characters and cuts long reasons (they may quote user text). Drops a
/// trailing full stop, since the reason is embedded in a sentence.
fn concise(reason: &str) -> String {
    let mut out = String::new();
    for (i, c) in reason.trim_end_matches('.').chars().enumerate() {
        if i == MAX_REASON_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::ProfileArgument::{Optional, Required};
    use super::*;

    const REAL_EXAMPLE: &str = "from time import time\r\nfrom grnry_belt.models.update import Update\r\n\r\ndef execute(headers, event, profile=None):\r\n print(profile)\r\n update = Update(headers['grnry-correlation-id'],[\"dummy\"]).set_value(\"Hallo Belt!\",0.5,time(),'P1D','Dummy-Belt')\r\n update.set_type('TestProfileType')\r\n return [update]\r\n";
    const TWO_PARAMS: &str = "def execute(event, profile=None):\n    return []\n";

    fn err(source: &str, profile: ProfileArgument) -> String {
        check_extractor_fn(source, profile).expect_err("should be rejected")
    }

    #[test]
    fn accepts_the_real_examples() {
        assert_eq!(check_extractor_fn(REAL_EXAMPLE, Optional), Ok(()));
        assert_eq!(check_extractor_fn(REAL_EXAMPLE, Required), Ok(()));
        assert_eq!(check_extractor_fn(TWO_PARAMS, Optional), Ok(()));
    }

    #[test]
    fn required_profile_needs_three_parameters() {
        assert_eq!(
            err(TWO_PARAMS, Required),
            "Parameter 'extractorFn' must define 'execute' with 3 parameters (headers, event, profile) \
             because fetchProfile hands it a profile."
        );
        let no_default = "def execute(headers, event, profile):\n    return []\n";
        assert_eq!(check_extractor_fn(no_default, Required), Ok(()));
    }

    #[test]
    fn optional_profile_needs_a_default() {
        let no_default = "def execute(headers, event, profile):\n    return []\n";
        assert_eq!(
            err(no_default, Optional),
            "Parameter 'extractorFn' must give the 3rd parameter of 'execute' a default value \
             (e.g. profile=None) because fetchProfile is FALSE or LAZY."
        );
        let all_defaults = "def execute(headers=None, event=None, profile=None):\n    return []\n";
        assert_eq!(check_extractor_fn(all_defaults, Optional), Ok(()));
    }

    #[test]
    fn rejects_empty_source() {
        for source in ["", "   ", "\r\n\r\n", "\t\n"] {
            assert_eq!(
                err(source, Optional),
                "Parameter 'extractorFn' must not be empty."
            );
        }
    }

    #[test]
    fn rejects_missing_execute() {
        let expected = "Parameter 'extractorFn' must define a function 'execute'.";
        for source in [
            "# only a comment\n",
            "def run(headers, event):\n    pass\n",
            "execute = lambda headers, event: []\n",
            // Nested definitions are not module-level.
            "class C:\n    def execute(self, headers, event):\n        pass\n",
            "def outer():\n    def execute(headers, event):\n        pass\n",
        ] {
            assert_eq!(err(source, Optional), expected, "{source:?}");
        }
    }

    #[test]
    fn counts_only_positional_parameters() {
        let count = |n| {
            format!("Parameter 'extractorFn' must define 'execute' with 2 or 3 parameters but it has {n}.")
        };
        let cases = [
            ("def execute():\n pass\n", 0),
            ("def execute(event):\n pass\n", 1),
            ("def execute(*args, **kwargs):\n pass\n", 0),
            ("def execute(event, *, headers, profile=None):\n pass\n", 1),
            ("def execute(a, b, c=1, d=2):\n pass\n", 4),
            ("def execute(a, /, b, c=None, d=None):\n pass\n", 4),
        ];
        for (source, n) in cases {
            assert_eq!(err(source, Optional), count(n), "{source:?}");
        }
        for source in [
            "def execute(headers, event, *args, **kwargs):\n pass\n",
            "def execute(headers, /, event, *, profile):\n pass\n",
            "def execute(headers, event, /, profile=None):\n pass\n",
            "async def execute(headers, event):\n pass\n",
            "@decorator\ndef execute(headers: dict, event: 'Event', profile: dict | None = None) -> list:\n pass\n",
        ] {
            assert_eq!(check_extractor_fn(source, Optional), Ok(()), "{source:?}");
        }
    }

    #[test]
    fn the_last_definition_counts() {
        let source = "def execute(a, b):\n pass\n\ndef execute(a):\n pass\n";
        assert!(err(source, Optional).ends_with("but it has 1."));
        let source = "def execute(a):\n pass\n\nasync def execute(a, b):\n pass\n";
        assert_eq!(check_extractor_fn(source, Optional), Ok(()));
    }

    #[test]
    fn reports_syntax_errors_with_location() {
        let cases = [
            (
                "def execute(headers, event)\n    return []\n",
                "invalid syntax, unexpected end of line at line 1, column 28",
            ),
            (
                "import os\r\n\r\ndef execute(headers, event):\r\n    return [\r\n",
                "unexpected EOF while parsing at line 5, column 1",
            ),
            (
                "def execute(headers, event):\nreturn []\n",
                "expected an indented block at line 2, column 1",
            ),
            ("x = 1\n  y = 2\n", "unexpected indent at line 2, column 1"),
            (
                "x = 1\r\ns = 'unterminated\r\n",
                "unterminated string literal at line 2, column 18",
            ),
            ("x = 0x\n", "invalid number literal at line 1, column 5"),
            ("x = 08\n", "invalid token at line 1, column 7"),
            ("x = $\n", "invalid character '$' at line 1, column 5"),
            ("x = )\n", "unmatched closing bracket at line 1, column 6"),
            (
                "s = 'äöü' +* 1\n",
                "invalid syntax, unexpected token '*' at line 1, column 12",
            ),
            (
                "def execute(a=1, b):\n pass\n",
                "non-default argument follows default argument at line 1, column 18",
            ),
            (
                "x = '\\N{NO SUCH NAME}'\n",
                "invalid escape sequence in string literal at line 1, column 9",
            ),
            (
                "x = f'{x!z}'\n",
                "f-string: invalid conversion character at line 1, column 11",
            ),
            (
                "if 1:\n\tx = 1\n        y = 2\n",
                "inconsistent use of tabs and spaces in indentation at line 3, column 9",
            ),
        ];
        for (source, expected) in cases {
            assert_eq!(
                err(source, Optional),
                format!("Parameter 'extractorFn' is not valid Python: {expected}."),
                "{source:?}"
            );
        }
    }

    #[test]
    fn quoted_user_text_is_cut_and_escaped() {
        let source = format!("x = 1 '{}\u{7}'\n", "a".repeat(10_000));
        let message = err(&source, Optional);
        assert!(message.len() < 300, "{message}");
        assert!(!message.contains('\u{7}'));
    }

    #[test]
    fn rejects_null_bytes() {
        let source = "def execute(headers, event):\n    return []\n\0garbage(\n";
        assert_eq!(
            err(source, Optional),
            "Parameter 'extractorFn' is not valid Python: source code cannot contain null bytes \
             at line 3, column 1."
        );
    }

    #[test]
    fn rejects_oversized_source() {
        let source = format!("{TWO_PARAMS}x = '{}'\n", "a".repeat(MAX_SOURCE_BYTES));
        assert!(err(&source, Optional).contains("must not be larger than"));
    }

    #[test]
    fn survives_deep_nesting() {
        // Each of these (but parentheses) nests one AST level per repetition; dropping such
        // trees overflowed the 2 MiB test thread stack at 10k to 40k levels before parsing
        // moved to its own thread. All are valid Python, so the whole tree gets built.
        let depth = 80_000;
        let sources = [
            format!("x = {}1{}\n", "(".repeat(depth), ")".repeat(depth)),
            format!("x = {}1{}\n", "[".repeat(depth), "]".repeat(depth)),
            format!("x = {}1{}\n", "{1:".repeat(depth), "}".repeat(depth)),
            format!("x = {}1{}\n", "x[".repeat(depth), "]".repeat(depth)),
            format!("x = {}1\n", "-".repeat(depth)),
            format!("x = {}1\n", "~".repeat(depth)),
            format!("x = {}1\n", "not ".repeat(depth)),
            format!("x = {}1\n", "lambda:".repeat(depth)),
            format!("x = 1{}\n", "+1".repeat(depth)),
            format!("x = 1{}\n", "**1".repeat(depth)),
            format!("x = 1{}\n", " if 1 else 1".repeat(depth)),
            format!("x = f{}\n", "()".repeat(depth)),
            format!("x = f{}\n", ".a".repeat(depth)),
            format!("x = f'{{{}1}}'\n", "-".repeat(depth)),
            format!(
                "async def f():\n return {}1{}\n",
                "await (".repeat(depth),
                ")".repeat(depth)
            ),
        ];
        for source in sources {
            let with_execute = format!("{TWO_PARAMS}{source}");
            let result = check_extractor_fn(&with_execute, Optional);
            assert_eq!(result, Ok(()), "{}…", &source[..20]);
        }
        let unclosed = format!("x = {}1\n", "(".repeat(depth));
        assert!(err(&unclosed, Optional).contains("unexpected EOF while parsing"));
    }

    #[test]
    fn survives_nasty_input() {
        let huge_string = format!("{TWO_PARAMS}x = '{}'\n", "ä".repeat(200_000));
        assert_eq!(check_extractor_fn(&huge_string, Optional), Ok(()));
        let sources = [
            "x = '\\N{NO SUCH NAME}'\n",
            "x = '\\N{'\n",
            "x = b'\\xä'\n",
            "x = '\\u12'\n",
            "x = '\\U0011ffff'\n",
            "x = f'{'\n",
            "x = f'{x!z}'\n",
            "x = f'{f\"{f'{1}'}\"}'\n",
            "if 1:\n\tx = 1\n        y = 2\n",
            "if 1:\n        x = 1\n\ty = 2\n",
            "if 1:\n \tx = 1\n\t y = 2\n",
            "\u{feff}def execute(a, b):\n pass\n",
            "def execute(a, a):\n pass\n",
            "def execute(a, b):\n pass\n\\",
            "\u{0}",
            "\u{fffd}\u{10ffff}",
            "'''",
            "(",
            ")",
            "\\\n",
            "lambda: (yield)",
            "match x:\n case {**rest}: pass\n",
            "type X = int\n",
        ];
        for source in sources {
            // A parser panic would surface as "could not be checked".
            if let Err(message) = check_extractor_fn(source, Optional) {
                assert!(!message.contains("could not be checked"), "{source:?}");
            }
        }
    }

    #[test]
    fn typical_source_is_fast() {
        let started = std::time::Instant::now();
        for _ in 0..100 {
            check_extractor_fn(REAL_EXAMPLE, Optional).unwrap();
        }
        // Generous for unoptimised builds on a busy CI machine; about 0.1 ms each in release.
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }
}
