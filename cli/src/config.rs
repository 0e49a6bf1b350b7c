//! Contexts, as in a kubeconfig: a named server + project + how to get a token. One YAML file
//! under the user's config dir, written with mode 0600 because it may hold a token.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{CliError, Result};

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ConfigFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_context: Option<String>,
    #[serde(default)]
    pub contexts: Vec<Context>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Context {
    pub name: String,
    pub server: String,
    pub project: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// `--config` / `BELT_CONFIG`, else `$XDG_CONFIG_HOME/belt/config.yaml` (`dirs::config_dir()`).
pub fn default_path() -> Result<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(dirs::config_dir)
        .ok_or_else(|| {
            CliError::Other("no config directory: set XDG_CONFIG_HOME or --config".into())
        })?;
    Ok(base.join("belt").join("config.yaml"))
}

impl ConfigFile {
    pub fn load(path: &Path) -> Result<ConfigFile> {
        match std::fs::read_to_string(path) {
            Ok(text) if text.trim().is_empty() => Ok(ConfigFile::default()),
            Ok(text) => serde_yaml::from_str(&text)
                .map_err(|e| CliError::Other(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile::default()),
            Err(e) => Err(CliError::Other(format!("{}: {e}", path.display()))),
        }
    }

    /// Writes through a temporary file created 0600, then renames it over the old one.
    pub fn save(&self, path: &Path) -> Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let text = serde_yaml::to_string(self).map_err(|e| CliError::Other(e.to_string()))?;
        let temporary = dir.join(".config.yaml.tmp");
        let _ = std::fs::remove_file(&temporary);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)?;
        Ok(())
    }

    pub fn find(&self, name: &str) -> Option<&Context> {
        self.contexts.iter().find(|c| c.name == name)
    }

    pub fn find_mut(&mut self, name: &str) -> Option<&mut Context> {
        self.contexts.iter_mut().find(|c| c.name == name)
    }

    /// The context named on the command line, else the current one.
    pub fn selected(&self, name: Option<&str>) -> Result<Option<&Context>> {
        match name.or(self.current_context.as_deref()) {
            None => Ok(None),
            Some(name) => self.find(name).map(Some).ok_or_else(|| {
                CliError::Other(format!(
                    "no context named '{name}' (belt config get-contexts)"
                ))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn saved_with_mode_0600_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("belt/config.yaml");
        let mut config = ConfigFile::default();
        config.contexts.push(Context {
            name: "a".into(),
            server: "http://x".into(),
            project: "p".into(),
            ..Default::default()
        });
        config.current_context = Some("a".into());
        config.save(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let back = ConfigFile::load(&path).unwrap();
        assert_eq!(back.selected(None).unwrap().unwrap().server, "http://x");
        assert!(back.selected(Some("b")).is_err());
    }
}
