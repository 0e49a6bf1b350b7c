use super::ProfileArgument::{Optional, Required};
use super::*;
use crate::domain::Culprit;

const REAL_EXAMPLE: &str = "from time import time\r\nfrom grnry_belt.models.update import Update\r\n\r\ndef execute(headers, event, profile=None):\r\n print(profile)\r\n update = Update(headers['grnry-correlation-id'],[\"dummy\"]).set_value(\"Hallo Belt!\",0.5,time(),'P1D','Dummy-Belt')\r\n update.set_type('TestProfileType')\r\n return [update]\r\n";
const TWO_PARAMS: &str = "def execute(event, profile=None):\n    return []\n";

fn err(source: &str, profile: ProfileArgument) -> String {
    let refused = check_extractor_fn(source, profile).expect_err("should be rejected");
    assert_eq!(refused.culprit, Culprit::Field("extractorFn".into()));
    refused.message
}

/// Where the refusal points, for an editor to mark the line.
fn at(source: &str) -> Option<SourceAt> {
    check_extractor_fn(source, Optional)
        .expect_err("should be rejected")
        .at
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
        format!(
            "Parameter 'extractorFn' must define 'execute' with 2 or 3 parameters but it has {n}."
        )
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
        if let Err(refused) = check_extractor_fn(source, Optional) {
            assert!(
                !refused.message.contains("could not be checked"),
                "{source:?}"
            );
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

#[test]
fn a_syntax_error_carries_its_line_and_column_and_nothing_else_does() {
    let source = "def execute(headers, event):\n    x = 1\n    return [x +]\n";
    assert_eq!(
        at(source),
        Some(SourceAt {
            line: 3,
            column: 16
        })
    );
    assert!(err(source, Optional).contains("at line 3, column 16"));
    // Windows line ends count as one, as Python reads them.
    let crlf = source.replace('\n', "\r\n");
    assert_eq!(
        at(&crlf),
        Some(SourceAt {
            line: 3,
            column: 16
        })
    );
    // Refusals that are not about a place in the text point nowhere.
    assert_eq!(at("x = 1\n"), None);
    assert_eq!(at("def execute(a):\n    return []\n"), None);
}
