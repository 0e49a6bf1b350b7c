//! Static check of a belt's `extractorFn`: the Python 3 source must parse and define a
//! module-level `execute` whose parameters fit how the belt runtime calls it.

use rustpython_parser::ast::{self, Stmt};
use rustpython_parser::lexer::LexicalErrorType;
use rustpython_parser::{Parse, ParseError, ParseErrorType, Tok};

use super::invalid::{Invalid, SourceAt};

/// The field every refusal here names.
const FIELD: &str = "extractorFn";

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

/// Parses `source` as Python 3 (a real parser, never regexes) and checks the top-level `execute`
/// function. A syntax error's refusal carries its line and column ([`Invalid::at`]).
pub fn check_extractor_fn(source: &str, profile: ProfileArgument) -> Result<(), Invalid> {
    check(source, profile).map_err(|refused| match refused {
        Refused::Plain(message) => Invalid::field_message(FIELD, message),
        Refused::Syntax(message, at) => Invalid::field_message(FIELD, message).at(at),
    })
}

/// A refusal before it names its field: a sentence, and a place for a syntax error.
enum Refused {
    Plain(String),
    Syntax(String, SourceAt),
}

impl From<String> for Refused {
    fn from(message: String) -> Self {
        Refused::Plain(message)
    }
}

fn check(source: &str, profile: ProfileArgument) -> Result<(), Refused> {
    if source.trim().is_empty() {
        return Err("Parameter 'extractorFn' must not be empty."
            .to_owned()
            .into());
    }
    if source.len() > MAX_SOURCE_BYTES {
        return Err(format!(
            "Parameter 'extractorFn' must not be larger than {MAX_SOURCE_BYTES} bytes but it has {}.",
            source.len()
        )
        .into());
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
    Ok(check_signature(execute, profile)?)
}

/// What the check needs to know about `execute`: its positional parameters.
#[derive(Debug, Clone, Copy)]
struct ExecuteSignature {
    positional: usize,
    third_has_default: bool,
}

/// Parses the source and summarises the last module-level `execute` definition, if any.
/// Runs on the big-stack thread: the AST must be dropped there, so only a summary leaves it.
fn parse_execute(source: &str) -> Result<Option<ExecuteSignature>, Refused> {
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

fn syntax_error(source: &str, offset: usize, reason: &str) -> Refused {
    let (line, column) = line_column(source, offset);
    let message = format!(
        "Parameter 'extractorFn' is not valid Python: {reason} at line {line}, column {column}."
    );
    Refused::Syntax(message, SourceAt { line, column })
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
#[path = "python_tests.rs"]
mod tests;
