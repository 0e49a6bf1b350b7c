//! How the API writes instants (docs/api.md#fields); the document itself is the HTTP layer's
//! (`src/http/document.rs`).

use time::format_description::well_known::iso8601::{
    Config, EncodedConfig, Iso8601, TimePrecision,
};
use time::OffsetDateTime;

const RFC3339_MILLIS: EncodedConfig = Config::DEFAULT
    .set_time_precision(TimePrecision::Second {
        decimal_digits: std::num::NonZeroU8::new(3),
    })
    .encode();

/// `2021-09-24T08:38:50.848Z`
pub fn format_timestamp(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(&Iso8601::<RFC3339_MILLIS>)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::belt::from_epoch_millis;

    #[test]
    fn timestamps_are_rfc3339_utc_with_millis() {
        assert_eq!(
            format_timestamp(from_epoch_millis(1_632_472_730_848)),
            "2021-09-24T08:38:50.848Z"
        );
        assert_eq!(
            format_timestamp(from_epoch_millis(1_632_472_730_000)),
            "2021-09-24T08:38:50.000Z"
        );
    }
}
