//! `belt-api token`: a token for the embedded dev mode.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// Project (Keycloak client) the role is granted in.
    #[arg(long, default_value = "global")]
    pub project: String,
    /// Role in that project; repeat for several.
    #[arg(long = "role", value_enum, default_value = "editor")]
    pub roles: Vec<DevRole>,
    #[arg(long, default_value = "Dev User")]
    pub name: String,
    #[arg(long, default_value = "dev@localhost")]
    pub email: String,
    /// Lifetime, e.g. `30m`, `1h`, `7d`.
    #[arg(long, default_value = "1h", value_parser = parse_ttl)]
    pub ttl: Duration,
    #[arg(long, env = "BELT_DATA_DIR", default_value = "./belt-data")]
    pub data_dir: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DevRole {
    Editor,
    Viewer,
    DataOwner,
}

impl DevRole {
    pub fn as_str(self) -> &'static str {
        match self {
            DevRole::Editor => "editor",
            DevRole::Viewer => "viewer",
            DevRole::DataOwner => "data_owner",
        }
    }
}

/// `90s`, `30m`, `1h`, `7d`, or plain seconds, read as every duration is (the `belt-query`
/// crate, which the CLI shares), and more than zero.
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
    let ttl = belt_query::duration(text, belt_query::Units::ANY)
        .map_err(|why| format!("'{}': {why}", text.trim()))?;
    if ttl.is_zero() {
        return Err("a token must live longer than 0s".into());
    }
    Ok(ttl)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_units() {
        assert_eq!(parse_ttl("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_ttl("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_ttl("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_ttl("7d").unwrap(), Duration::from_secs(604_800));
        assert!(parse_ttl("1y").is_err());
        assert!(parse_ttl("0h").is_err());
        assert!(parse_ttl("h").is_err());
        assert!(parse_ttl("99999999999999999h").is_err());
    }
}
