//! Every query parameter of every route is read here (docs/api.md#query-parameters): one meaning
//! of a flag, of a number, of a status list, of a search and of a duration, and one form of the
//! 400 that names the parameter. Handlers take a [`Query`] and ask it for typed values; the text
//! of a flag and of a duration is read by the `belt-query` crate, which the CLI shares.

use std::convert::Infallible;
use std::ops::RangeInclusive;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::belts::Paging;
use crate::domain::{BeltStatus, Invalid};

/// A page of the listing, of revisions and of history: `pagesize` 1–250, default 20.
const DEFAULT_PAGE_SIZE: u64 = 20;
const MAX_PAGE_SIZE: u64 = 250;

/// Names have at most 255 characters, so a longer search can hardly match; the bound keeps the
/// remembered searches small.
pub const MAX_SEARCH_CHARS: usize = 1024;

/// The most a relative `since` reaches back: a year, far beyond any kept log.
const MAX_SINCE_SECONDS: u64 = 366 * 24 * 3600;

/// A request's query, decoded once: each parameter as given, in order.
#[derive(Debug, Clone, Default)]
pub struct Query(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Query::of(parts.uri.query()))
    }
}

impl Query {
    pub fn of(raw: Option<&str>) -> Self {
        Query(
            url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// Every (name, value) pair as given.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The refusal of the first NUL in a name or a value: PostgreSQL cannot compare or store it,
    /// SQLite can, and both must answer alike.
    pub fn nul_refusal(&self) -> Option<String> {
        self.pairs().find_map(|(key, value)| {
            if key.contains('\0') {
                Some("Query parameter names must not contain the NUL character (\\u0000).".into())
            } else if value.contains('\0') {
                Some(format!(
                    "Parameter '{key}' must not contain the NUL character (\\u0000)."
                ))
            } else {
                None
            }
        })
    }

    /// Every value of a parameter that may be repeated.
    pub fn all(&self, name: &str) -> impl Iterator<Item = &str> {
        let name = name.to_owned();
        self.pairs()
            .filter(move |(key, _)| *key == name)
            .map(|(_, value)| value)
    }

    /// The one value of a parameter that takes one: given twice, it is ambiguous, and a 400
    /// says so rather than picking one of them.
    pub fn single(&self, name: &str) -> Result<Option<&str>, Invalid> {
        once(name, self.all(name))
    }

    /// A flag: absent is `false`; `true` or `false` in any case, at most once; anything else is
    /// a 400 naming it. The name counts in any case too, so that a `Follow=true` or a
    /// `dryrun=true` is never an unknown parameter that silently does the opposite of what was
    /// asked.
    pub fn flag(&self, name: &str) -> Result<bool, Invalid> {
        let values = self
            .pairs()
            .filter(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value);
        let Some(value) = once(name, values)? else {
            return Ok(false);
        };
        belt_query::flag(value).ok_or_else(|| {
            Invalid::field_message(
                name,
                format!("Parameter '{name}' must be 'true' or 'false' but is '{value}'."),
            )
        })
    }

    /// A parameter read by `parse`; a value it refuses is a 400 saying the parameter `must be
    /// <expected>`.
    pub fn value<T>(
        &self,
        name: &str,
        expected: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<Option<T>, Invalid> {
        let Some(value) = self.single(name)? else {
            return Ok(None);
        };
        match parse(value) {
            Some(parsed) => Ok(Some(parsed)),
            None => Err(refused(name, expected, value)),
        }
    }

    /// A whole number in `range` (`pagesize`, `offset`), or `default` when absent.
    pub fn natural(
        &self,
        name: &str,
        range: RangeInclusive<u64>,
        default: u64,
    ) -> Result<u64, Invalid> {
        let parsed = self.value(name, "a natural number", |text| {
            text.trim()
                .parse::<u64>()
                .ok()
                .filter(|n| range.contains(n))
        })?;
        Ok(parsed.unwrap_or(default))
    }

    /// The page every paged answer takes (docs/api.md#listing): `pagesize` and `offset`.
    pub fn page(&self) -> Result<Paging, Invalid> {
        Ok(Paging {
            offset: self.natural("offset", 0..=i64::MAX as u64, 0)?,
            limit: self.natural("pagesize", 1..=MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE)?,
        })
    }

    /// Case-insensitive substring of a belt's name, as given (spaces included), bounded.
    pub fn search(&self) -> Result<Option<String>, Invalid> {
        let Some(value) = self.single("search")? else {
            return Ok(None);
        };
        let chars = value.chars().count();
        if chars > MAX_SEARCH_CHARS {
            return Err(Invalid::field_message(
                "search",
                format!(
                    "Parameter 'search' must be at most {MAX_SEARCH_CHARS} characters long but \
                     has {chars}."
                ),
            ));
        }
        Ok(Some(value.to_owned()))
    }

    /// The items of a list parameter: comma-separated, repeatable, blanks dropped.
    pub fn items(&self, name: &str) -> Vec<&str> {
        self.all(name)
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .collect()
    }

    /// Belt states (any case), comma-separated or repeated.
    pub fn statuses(&self, name: &str) -> Result<Vec<BeltStatus>, Invalid> {
        (self.items(name).into_iter())
            .map(|item| status_item(name, item, ""))
            .collect()
    }

    /// An instant at or after which to keep lines: an RFC 3339 time (any offset, taken as the
    /// instant it names), or a duration as `kubectl logs --since` takes it (`30s`, `10m`, `2h`) before
    /// `now`, at most a year.
    pub fn since(&self, now: OffsetDateTime) -> Result<Option<OffsetDateTime>, Invalid> {
        let expected = "an RFC 3339 time or a duration such as 30s, 10m or 2h";
        self.value("since", expected, |text| since_of(text.trim(), now))
    }
}

/// One item of a status list; `others` names what else the list may hold, for the message.
pub fn status_item(name: &str, item: &str, others: &str) -> Result<BeltStatus, Invalid> {
    item.parse::<BeltStatus>().map_err(|_| {
        let names: Vec<&str> = BeltStatus::ALL.iter().map(|s| s.as_str()).collect();
        Invalid::field_message(
            name,
            format!(
                "Parameter '{name}' must name {others}belt states ({}) but is '{item}'.",
                names.join(", ")
            ),
        )
    })
}

fn since_of(text: &str, now: OffsetDateTime) -> Option<OffsetDateTime> {
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(at.to_offset(time::UtcOffset::UTC));
    }
    let back = belt_query::duration(text, belt_query::Units::KUBECTL).ok()?;
    (back.as_secs() <= MAX_SINCE_SECONDS).then(|| now - back)
}

fn once<'a>(
    name: &str,
    mut values: impl Iterator<Item = &'a str>,
) -> Result<Option<&'a str>, Invalid> {
    let first = values.next();
    if first.is_some() && values.next().is_some() {
        return Err(Invalid::field(name, "must be given at most once"));
    }
    Ok(first)
}

fn refused(name: &str, expected: &str, value: &str) -> Invalid {
    Invalid::field_message(
        name,
        format!("Parameter '{name}' must be {expected} but is '{value}'."),
    )
}

#[cfg(test)]
#[path = "query_tests.rs"]
mod tests;
