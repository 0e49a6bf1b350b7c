//! Where the belts' Kafka is: a broker belt-api runs itself under the data dir (the embedded
//! default), an existing Kafka, or none at all (docs/api.md#the-data-plane).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{ArgAction, Args, ValueEnum};

use crate::broker::auth::{ClientAuth, SaslSettings};

#[derive(Debug, Clone, Args)]
pub struct KafkaConfig {
    /// An existing Kafka's bootstrap servers (`host:port,…`). When set, nothing is embedded; the
    /// Kubernetes runtime needs it.
    #[arg(long, env = "BELT_KAFKA_BOOTSTRAP")]
    pub kafka_bootstrap: Option<String>,

    /// Without `BELT_KAFKA_BOOTSTRAP`: `embedded` runs a Kafka-protocol broker under the data dir;
    /// `none` runs no data plane (replicas get no bootstrap address and only idle).
    #[arg(long, env = "BELT_KAFKA_BROKER", value_enum, default_value_t = KafkaBroker::Embedded)]
    pub kafka_broker: KafkaBroker,

    /// Where the embedded broker listens; port 0 picks a free one.
    #[arg(long, env = "BELT_KAFKA_LISTEN", default_value = "127.0.0.1:9092")]
    pub kafka_listen: SocketAddr,

    /// The embedded broker's program; default: `nisshi` on PATH, then where `scripts/broker.sh`
    /// installs it.
    #[arg(long, env = "BELT_KAFKA_BROKER_COMMAND")]
    pub kafka_broker_command: Option<PathBuf>,

    /// Create the topics a belt reads and writes on START when they are missing.
    #[arg(long, env = "BELT_KAFKA_CREATE_TOPICS", default_value_t = true, action = ArgAction::Set)]
    pub kafka_create_topics: bool,

    /// How often the lag of every running belt is measured for `belt_consumer_lag`.
    #[arg(long, env = "BELT_KAFKA_LAG_INTERVAL_MS", default_value_t = 30_000)]
    pub kafka_lag_interval_ms: u64,

    /// Each update also carries the header `grnry-source` (`<belt id>/<version>/<topic>/<partition>/
    /// <offset>`: which version of which belt made it from which record, docs/api.md#records). Off
    /// by default: a broker that stores each header as a row (the embedded one) pays for it in
    /// throughput (bench/README.md#data-plane); turn it on to trace an update back to its event.
    #[arg(long, env = "BELT_RECORD_SOURCE_HEADER", default_value_t = false, action = ArgAction::Set)]
    pub record_source_header: bool,

    /// The profile store that belts with `fetchProfile` TRUE or LAZY read profiles from (an
    /// `http(s)://` URL; replicas get it as `PROFILE_STORE_URL` and fetch
    /// `GET {url}/profiles/{type}/{key}`). Without it, such a belt fails at startup, saying so.
    #[arg(long, env = "BELT_PROFILE_STORE_URL", value_parser = parse_profile_store_url)]
    pub profile_store_url: Option<String>,

    /// Partitions of a topic that belt-api creates.
    #[arg(long, env = "BELT_KAFKA_TOPIC_PARTITIONS", default_value_t = 3)]
    pub kafka_topic_partitions: u32,

    /// belt-api's own Kafka clients (topics, offsets, lag): `PLAINTEXT`, `SSL`, `SASL_PLAINTEXT`
    /// or `SASL_SSL`. Its identity is its own; belts get theirs (docs/kafka-identity.md).
    #[arg(
        long,
        env = "BELT_KAFKA_SECURITY_PROTOCOL",
        default_value = "PLAINTEXT"
    )]
    pub kafka_security_protocol: String,

    /// belt-api's SASL mechanism, with a SASL protocol.
    #[arg(long, env = "BELT_KAFKA_SASL_MECHANISM", default_value = "SCRAM-SHA-512",
        value_parser = ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"])]
    pub kafka_sasl_mechanism: String,

    /// belt-api's Kafka user name, with a SASL protocol.
    #[arg(long, env = "BELT_KAFKA_SASL_USERNAME")]
    pub kafka_sasl_username: Option<String>,

    /// A file holding belt-api's Kafka password (a mounted Secret), with a SASL protocol. Read
    /// once at startup; the password is never logged.
    #[arg(long, env = "BELT_KAFKA_SASL_PASSWORD_FILE")]
    pub kafka_sasl_password_file: Option<PathBuf>,

    /// A PEM file of the CAs that sign the brokers' certificates, with an SSL protocol.
    #[arg(long, env = "BELT_KAFKA_SSL_CA_LOCATION")]
    pub kafka_ssl_ca_location: Option<String>,
}

impl KafkaConfig {
    /// How often the lag controller measures; at least 100 ms, so a typo cannot spin it. The
    /// console's sparklines ask for new points at the same pace.
    pub fn lag_interval(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.kafka_lag_interval_ms.max(100))
    }

    /// belt-api's own Kafka identity, checked (and its password file read) at startup.
    pub fn client_auth(&self) -> anyhow::Result<ClientAuth> {
        let sasl = SaslSettings {
            mechanism: &self.kafka_sasl_mechanism,
            username: self.kafka_sasl_username.as_deref(),
            password_file: self.kafka_sasl_password_file.as_deref(),
        };
        let ca = self.kafka_ssl_ca_location.as_deref();
        ClientAuth::new(&self.kafka_security_protocol, sasl, ca).map_err(anyhow::Error::msg)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KafkaBroker {
    /// A Kafka-protocol broker run by belt-api, persistent under the data dir.
    Embedded,
    /// No data plane.
    None,
}

/// An absolute `http`/`https` URL with a host, without a query or fragment (the host appends paths).
fn parse_profile_store_url(text: &str) -> Result<String, String> {
    let url = url::Url::parse(text).map_err(|e| format!("'{text}' is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!(
            "'{text}' must be an http:// or https:// URL with a host"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("'{text}' must not carry a query or a fragment"));
    }
    Ok(text.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::parse_profile_store_url;

    #[test]
    fn a_profile_store_url_is_an_http_url_with_a_host_and_nothing_after_its_path() {
        assert_eq!(
            parse_profile_store_url("http://profiles:8080/api/").unwrap(),
            "http://profiles:8080/api"
        );
        for bad in [
            "profiles:8080",
            "ftp://x/",
            "http://x/?a=1",
            "http://x/#f",
            "file:///tmp",
        ] {
            assert!(parse_profile_store_url(bad).is_err(), "{bad} was accepted");
        }
    }
}
