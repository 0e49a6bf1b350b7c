//! belt-api's own identity on Kafka, for its admin calls (topics, offsets, lag): configured apart
//! from the belts' identities and never handed to a replica (docs/kafka-identity.md). The password
//! comes from a file and is never printed: `Debug` hides it.

use std::fmt;
use std::path::Path;

use rdkafka::config::ClientConfig;
use rdkafka::producer::BaseProducer;

/// How belt-api's Kafka clients connect and authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAuth {
    /// librdkafka's `security.protocol`: `plaintext`, `ssl`, `sasl_plaintext` or `sasl_ssl`.
    security_protocol: String,
    sasl: Option<Sasl>,
    /// A PEM file of the CAs that sign the brokers' certificates (`ssl.ca.location`).
    ca_location: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Sasl {
    mechanism: String,
    username: String,
    password: Password,
}

#[derive(Clone, PartialEq, Eq)]
struct Password(String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<hidden>")
    }
}

impl Default for ClientAuth {
    /// No TLS, no authentication: the embedded broker, or a Kafka open to belt-api's network.
    fn default() -> Self {
        ClientAuth {
            security_protocol: "plaintext".to_string(),
            sasl: None,
            ca_location: None,
        }
    }
}

/// The SASL part as configured: mechanism, user name and the file holding the password.
pub struct SaslSettings<'a> {
    pub mechanism: &'a str,
    pub username: Option<&'a str>,
    pub password_file: Option<&'a Path>,
}

impl ClientAuth {
    /// `protocol` as librdkafka spells it (any case). A SASL protocol needs a user name and a
    /// readable, non-empty password file; a protocol without SASL takes neither. Errors name the
    /// setting, never the password.
    pub fn new(
        protocol: &str,
        sasl: SaslSettings<'_>,
        ca_location: Option<&str>,
    ) -> Result<ClientAuth, String> {
        let security_protocol = protocol.to_ascii_lowercase();
        let uses_sasl = match security_protocol.as_str() {
            "plaintext" | "ssl" => false,
            "sasl_plaintext" | "sasl_ssl" => true,
            _ => return Err(format!("BELT_KAFKA_SECURITY_PROTOCOL '{protocol}' is not PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL")),
        };
        let sasl = match (uses_sasl, sasl.username, sasl.password_file) {
            (false, None, None) => None,
            (false, _, _) => {
                return Err(format!(
                    "BELT_KAFKA_SASL_USERNAME and BELT_KAFKA_SASL_PASSWORD_FILE need a SASL protocol, not {protocol}"
                ))
            }
            (true, Some(username), Some(file)) if !username.trim().is_empty() => Some(Sasl {
                mechanism: sasl.mechanism.to_string(),
                username: username.trim().to_string(),
                password: read_password(file)?,
            }),
            (true, _, _) => {
                return Err(format!(
                    "{protocol} needs BELT_KAFKA_SASL_USERNAME and BELT_KAFKA_SASL_PASSWORD_FILE"
                ))
            }
        };
        let auth = ClientAuth {
            security_protocol,
            sasl,
            ca_location: ca_location.map(str::to_string),
        };
        auth.client_accepts()?;
        Ok(auth)
    }

    /// Whether librdkafka takes these settings (a build without TLS has neither SSL nor SCRAM),
    /// so that a wrong one stops the start instead of every later admin call. Creating a client
    /// connects to nothing until it is used.
    fn client_accepts(&self) -> Result<(), String> {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", "127.0.0.1:9");
        self.apply(&mut config);
        match config.create::<BaseProducer>() {
            Ok(_) => Ok(()),
            Err(err) => {
                let mut reason = err.to_string();
                if let Some(sasl) = &self.sasl {
                    reason = reason.replace(&sasl.password.0, "<hidden>");
                }
                Err(format!(
                    "belt-api's Kafka client refuses BELT_KAFKA_SECURITY_PROTOCOL={} with these settings: {reason}",
                    self.security_protocol.to_ascii_uppercase()
                ))
            }
        }
    }

    /// Sets the connection and authentication of one client.
    pub fn apply(&self, config: &mut ClientConfig) {
        config.set("security.protocol", &self.security_protocol);
        if let Some(sasl) = &self.sasl {
            config
                .set("sasl.mechanism", &sasl.mechanism)
                .set("sasl.username", &sasl.username)
                .set("sasl.password", &sasl.password.0);
        }
        if let Some(ca) = &self.ca_location {
            config.set("ssl.ca.location", ca);
        }
    }

    /// The principal, for the startup log.
    pub fn username(&self) -> Option<&str> {
        self.sasl.as_ref().map(|sasl| sasl.username.as_str())
    }
}

/// The file's content without the line end an editor or `kubectl create secret` leaves.
fn read_password(file: &Path) -> Result<Password, String> {
    let text = std::fs::read_to_string(file).map_err(|err| {
        format!(
            "reading BELT_KAFKA_SASL_PASSWORD_FILE {}: {err}",
            file.display()
        )
    })?;
    let password = text.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        return Err(format!(
            "BELT_KAFKA_SASL_PASSWORD_FILE {} is empty",
            file.display()
        ));
    }
    Ok(Password(password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sasl<'a>(username: Option<&'a str>, file: Option<&'a Path>) -> SaslSettings<'a> {
        SaslSettings {
            mechanism: "SCRAM-SHA-512",
            username,
            password_file: file,
        }
    }

    #[test]
    fn sasl_reads_the_password_file_and_never_prints_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("password");
        std::fs::write(&file, "s3cret-admin\n").unwrap();
        let auth = ClientAuth::new("SASL_SSL", sasl(Some("belt-api"), Some(&file)), None).unwrap();
        let mut config = ClientConfig::new();
        auth.apply(&mut config);
        assert_eq!(config.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(config.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(config.get("sasl.username"), Some("belt-api"));
        assert_eq!(config.get("sasl.password"), Some("s3cret-admin"));
        assert!(!format!("{auth:?}").contains("s3cret"), "{auth:?}");
        assert_eq!(auth.username(), Some("belt-api"));
    }

    #[test]
    fn inconsistent_settings_are_refused_without_the_password() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("password");
        std::fs::write(&file, "s3cret-admin").unwrap();
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        let missing = dir.path().join("missing");
        for (protocol, username, password_file) in [
            ("SASL_SSL", None, Some(file.as_path())),
            ("SASL_SSL", Some("u"), None),
            ("SASL_SSL", Some("u"), Some(empty.as_path())),
            ("SASL_SSL", Some("u"), Some(missing.as_path())),
            ("PLAINTEXT", Some("u"), Some(file.as_path())),
            ("KERBEROS", None, None),
            // A CA file that does not exist: librdkafka refuses it when the client is made.
            ("SSL", None, None),
        ] {
            let ca = (protocol == "SSL").then_some("/nonexistent/ca.pem");
            let refused = ClientAuth::new(protocol, sasl(username, password_file), ca);
            let err = refused.expect_err(protocol);
            assert!(
                err.contains("BELT_KAFKA_") && !err.contains("s3cret"),
                "{err}"
            );
        }
        assert_eq!(
            ClientAuth::new("PLAINTEXT", sasl(None, None), None).unwrap(),
            ClientAuth::default()
        );
    }
}
