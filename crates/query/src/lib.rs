//! The text of a flag, of a duration and of a belt's status, read one way by the server (its query parameters,
//! docs/api.md#query-parameters) and by the `belt` CLI (its `--timeout`, and `--since` before it
//! is sent). Plain functions of text, without I/O: the server and the CLI share no other code,
//! and neither should carry its own reading of `true` or `2m` that drifts from the other's.

#![forbid(unsafe_code)]

pub mod status;

use std::fmt;
use std::time::Duration;

/// `true` or `false` in any ASCII case; anything else — `1`, `yes`, an empty value, a value with
/// spaces — is no flag at all, so that a mistyped flag is refused rather than read as `false`.
pub fn flag(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Which forms of a duration a use takes. Every use reads the text with [`duration`]; they differ
/// only in the units they admit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Units {
    /// Digits alone are seconds (`45`).
    pub plain_seconds: bool,
    /// `d` is a unit (`7d`).
    pub days: bool,
}

impl Units {
    /// `30s`, `10m`, `2h`: a unit always, as `kubectl logs --since` takes it (the logs' `since`).
    pub const KUBECTL: Units = Units {
        plain_seconds: false,
        days: false,
    };
    /// `45`, `90s`, `10m`, `2h`, `7d` (the CLI's timeouts, a dev token's lifetime).
    pub const ANY: Units = Units {
        plain_seconds: true,
        days: true,
    };

    fn seconds_per(self, unit: &str) -> Option<u64> {
        match unit {
            "" if self.plain_seconds => Some(1),
            "s" => Some(1),
            "m" => Some(60),
            "h" => Some(3600),
            "d" if self.days => Some(86_400),
            _ => None,
        }
    }

    fn names(self) -> &'static str {
        if self.days {
            "s, m, h or d"
        } else {
            "s, m or h"
        }
    }
}

/// Why a text is not a duration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DurationError {
    /// No digits in front, or something other than digits and one unit.
    NotADuration,
    /// Digits, then no unit or a unit these [`Units`] do not take; the units they take.
    UnknownUnit { unit: String, takes: &'static str },
    /// More seconds than a `u64` holds.
    TooLong,
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DurationError::NotADuration => f.write_str("not a duration such as 30s, 10m or 2h"),
            DurationError::UnknownUnit { unit, takes } if unit.is_empty() => {
                write!(f, "a duration needs a unit ({takes})")
            }
            DurationError::UnknownUnit { unit, takes } => {
                write!(f, "unknown unit '{unit}' (use {takes})")
            }
            DurationError::TooLong => f.write_str("a duration too long to count"),
        }
    }
}

impl std::error::Error for DurationError {}

/// A whole number of the given units: `90s`, `10m`, `2h`, and as `units` allow `7d` or plain
/// seconds (`45`). Surrounding spaces are the only tolerance; the bounds of a particular use (at
/// most a year back, more than zero) are its caller's. The product is checked: a count of hours
/// past what a `u64` of seconds holds is refused, never wrapped.
pub fn duration(text: &str, units: Units) -> Result<Duration, DurationError> {
    let text = text.trim();
    let at = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(at);
    if digits.is_empty() || !unit.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(DurationError::NotADuration);
    }
    let seconds_per_unit = units
        .seconds_per(unit)
        .ok_or_else(|| DurationError::UnknownUnit {
            unit: unit.to_string(),
            takes: units.names(),
        })?;
    // Digits only, so the one way `parse` fails is a number past `u64::MAX`.
    let amount: u64 = digits.parse().map_err(|_| DurationError::TooLong)?;
    amount
        .checked_mul(seconds_per_unit)
        .map(Duration::from_secs)
        .ok_or(DurationError::TooLong)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flag_is_true_or_false_in_any_case_and_nothing_else() {
        for (text, value) in [
            ("true", true),
            ("TRUE", true),
            ("False", false),
            ("false", false),
        ] {
            assert_eq!(flag(text), Some(value), "{text}");
        }
        for text in [
            "", "garbage", "1", "0", "yes", " true", "true ", "t", "truee",
        ] {
            assert_eq!(flag(text), None, "{text:?}");
        }
    }

    #[test]
    fn durations_in_each_unit() {
        let secs = |s| Ok(Duration::from_secs(s));
        assert_eq!(duration("45", Units::ANY), secs(45));
        assert_eq!(duration("90s", Units::ANY), secs(90));
        assert_eq!(duration("10m", Units::KUBECTL), secs(600));
        assert_eq!(duration(" 2h ", Units::KUBECTL), secs(7200));
        assert_eq!(duration("7d", Units::ANY), secs(604_800));
        assert_eq!(duration("0s", Units::KUBECTL), secs(0));
    }

    #[test]
    fn kubectl_units_need_a_unit_and_have_no_days() {
        let refused = |text| duration(text, Units::KUBECTL).unwrap_err().to_string();
        assert_eq!(refused("10"), "a duration needs a unit (s, m or h)");
        assert_eq!(refused("10d"), "unknown unit 'd' (use s, m or h)");
        assert_eq!(
            duration("2y", Units::ANY).unwrap_err().to_string(),
            "unknown unit 'y' (use s, m, h or d)"
        );
    }

    #[test]
    fn malformed_durations_are_refused() {
        for text in [
            "",
            "s",
            "-5s",
            "1.5h",
            "2 h",
            "+3m",
            "h2",
            "5m30s",
            "yesterday",
        ] {
            assert_eq!(
                duration(text, Units::ANY),
                Err(DurationError::NotADuration),
                "{text:?}"
            );
        }
        assert!(duration("2hh", Units::ANY).is_err());
    }

    #[test]
    fn durations_that_overflow_are_refused_not_wrapped() {
        // 2^64 / 3600 ≈ 5.1e15: one more hour than fits in a u64 of seconds.
        let too_long = Err(DurationError::TooLong);
        assert_eq!(duration("5124095576030432h", Units::KUBECTL), too_long);
        assert_eq!(duration("213503982334602d", Units::ANY), too_long);
        assert_eq!(duration("99999999999999999999h", Units::KUBECTL), too_long);
        assert_eq!(duration("18446744073709551616", Units::ANY), too_long);
        assert_eq!(
            duration("18446744073709551615", Units::ANY),
            Ok(Duration::from_secs(u64::MAX))
        );
    }
}
