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

/// `90s`, `30m`, `1h`, `7d`, or plain seconds.
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let amount: u64 = digits
        .parse()
        .map_err(|_| format!("'{text}' is not a duration like 30m, 1h or 7d"))?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "'{text}' has unknown unit '{unit}' (use s, m, h or d)"
            ))
        }
    };
    if amount == 0 {
        return Err("a token must live longer than 0s".into());
    }
    Ok(Duration::from_secs(amount.saturating_mul(seconds)))
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
    }
}
