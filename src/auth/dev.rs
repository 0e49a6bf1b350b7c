//! The development signing key, used when no IdP is configured.
//!
//! It lives in the data directory so tokens minted by one run (or by a CLI
//! against the same directory) stay valid across restarts.

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

use super::Claims;

/// `iss` of every development token; checked on verification.
pub const DEV_ISSUER: &str = "belt-api-dev";
/// `kid` of the development key.
pub const DEV_KID: &str = "belt-dev";
const KEY_FILE: &str = "dev-signing-key.pk8";

/// An ECDSA P-256 key pair stored as PKCS#8 in `<data_dir>/dev-signing-key.pk8`.
pub struct DevKey {
    path: PathBuf,
    pub(super) signing: EncodingKey,
    /// Public point coordinates, base64url without padding (JWK form).
    x: String,
    y: String,
}

/// Shows where the key is, never the key.
impl std::fmt::Debug for DevKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevKey")
            .field("path", &self.path)
            .field("kid", &DEV_KID)
            .finish_non_exhaustive()
    }
}

impl DevKey {
    /// Loads the key from `data_dir`, creating the directory and a fresh key
    /// (file mode 0600) when missing. A file that is not a valid P-256 PKCS#8
    /// key is an error, never silently replaced: that would invalidate every
    /// token minted so far without anyone noticing why.
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<DevKey> {
        fs::create_dir_all(data_dir)
            .with_context(|| format!("creating data dir {}", data_dir.display()))?;
        let path = data_dir.join(KEY_FILE);
        let pkcs8 = match fs::read(&path) {
            Ok(pkcs8) => {
                warn_if_readable_by_others(&path);
                pkcs8
            }
            Err(e) if e.kind() == ErrorKind::NotFound => create(&path)?,
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        Self::from_pkcs8(path, &pkcs8)
    }

    /// Loads the key the server created in `data_dir`; never creates one. A token signed with a
    /// key the server does not hold would be refused later with a bare 401, so a missing key is
    /// an error that says which data dir was looked in and how to get the right one.
    pub fn load(data_dir: &Path) -> anyhow::Result<DevKey> {
        let path = data_dir.join(KEY_FILE);
        match fs::read(&path) {
            Ok(pkcs8) => {
                warn_if_readable_by_others(&path);
                Self::from_pkcs8(path, &pkcs8)
            }
            Err(e) if e.kind() == ErrorKind::NotFound => anyhow::bail!(
                "no dev signing key in the data dir {dir} ({file} does not exist): a token is \
                 signed with the key `belt-api serve` created there in dev mode. Give the server's \
                 data dir with --data-dir or BELT_DATA_DIR, or start `belt-api serve` with this \
                 data dir once first.",
                dir = data_dir.display(),
                file = path.display()
            ),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    fn from_pkcs8(path: PathBuf, pkcs8: &[u8]) -> anyhow::Result<DevKey> {
        let pair = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            pkcs8,
            &SystemRandom::new(),
        )
        .map_err(|e| {
            anyhow::anyhow!(
                "{} is not an ECDSA P-256 PKCS#8 key ({e}); delete it to generate a new one",
                path.display()
            )
        })?;
        // Uncompressed SEC1 point: 0x04 || x (32 bytes) || y (32 bytes).
        let point = pair.public_key().as_ref();
        anyhow::ensure!(point.len() == 65, "unexpected P-256 public key length");
        Ok(DevKey {
            x: URL_SAFE_NO_PAD.encode(&point[1..33]),
            y: URL_SAFE_NO_PAD.encode(&point[33..]),
            // jsonwebtoken's EC "DER" signing key is exactly ring's PKCS#8.
            signing: EncodingKey::from_ec_der(pkcs8),
            path,
        })
    }

    /// Where the key is stored.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Signs `claims` as an ES256 token with kid `belt-dev`, overriding `iss`
    /// (`belt-api-dev`), `iat` and `nbf` (now) and `exp` (now + `ttl`).
    pub fn mint(&self, claims: &Claims, ttl: Duration) -> anyhow::Result<String> {
        let now = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs())?;
        let exp = i64::try_from(ttl.as_secs())
            .ok()
            .and_then(|ttl| now.checked_add(ttl))
            .context("token ttl too large")?;
        let claims = Claims {
            iss: Some(DEV_ISSUER.to_owned()),
            iat: Some(now),
            nbf: Some(now),
            exp: Some(exp),
            ..claims.clone()
        };
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(DEV_KID.to_owned());
        jsonwebtoken::encode(&header, &claims, &self.signing).context("signing dev token")
    }

    /// The public key as a JWKS with a single EC P-256 key.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({
            "keys": [{
                "kty": "EC",
                "crv": "P-256",
                "use": "sig",
                "alg": "ES256",
                "kid": DEV_KID,
                "x": self.x,
                "y": self.y,
            }]
        })
    }
}

fn create(path: &Path) -> anyhow::Result<Vec<u8>> {
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .map_err(|e| anyhow::anyhow!("generating dev signing key: {e}"))?;
    let mut options = fs::OpenOptions::new();
    // create_new: never clobber a key another process wrote in the meantime.
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = match options.open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            return fs::read(path).with_context(|| format!("reading {}", path.display()))
        }
        Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
    };
    file.write_all(pkcs8.as_ref())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    tracing::info!(path = %path.display(), kid = DEV_KID, "generated dev signing key");
    Ok(pkcs8.as_ref().to_vec())
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(path = %path.display(), "dev signing key is accessible to other users; chmod 600 it");
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::test_support::TempDir;

    #[test]
    fn creates_key_with_private_mode_then_reloads_it() {
        let dir = TempDir::new();
        let data_dir = dir.path().join("nested/data");
        let first = DevKey::load_or_create(&data_dir).unwrap();
        assert_eq!(first.path(), data_dir.join(KEY_FILE));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(first.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let second = DevKey::load_or_create(&data_dir).unwrap();
        assert_eq!(first.jwks(), second.jwks());
    }

    #[test]
    fn mint_sets_registered_claims() {
        let dir = TempDir::new();
        let key = DevKey::load_or_create(dir.path()).unwrap();
        let claims = Claims {
            sub: Some("dev-user".into()),
            iss: Some("someone-else".into()),
            ..Claims::default()
        };
        let token = key.mint(&claims, Duration::from_secs(120)).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::ES256);
        assert_eq!(header.kid.as_deref(), Some(DEV_KID));
        let minted = crate::auth::test_support::unverified_claims(&token);
        assert_eq!(minted.sub.as_deref(), Some("dev-user"));
        assert_eq!(minted.iss.as_deref(), Some(DEV_ISSUER));
        let iat = minted.iat.unwrap();
        assert_eq!(minted.nbf, Some(iat));
        assert_eq!(minted.exp, Some(iat + 120));
        assert!(format!("{key:?}").contains(KEY_FILE));
    }

    #[test]
    fn jwks_is_a_p256_key() {
        let dir = TempDir::new();
        let jwks = DevKey::load_or_create(dir.path()).unwrap().jwks();
        let jwk = &jwks["keys"][0];
        assert_eq!(
            (jwk["kty"].as_str(), jwk["crv"].as_str()),
            (Some("EC"), Some("P-256"))
        );
        for coordinate in ["x", "y"] {
            let bytes = URL_SAFE_NO_PAD
                .decode(jwk[coordinate].as_str().unwrap())
                .unwrap();
            assert_eq!(bytes.len(), 32);
        }
    }

    #[test]
    fn load_never_creates_a_key_and_names_the_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let err = DevKey::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains(&dir.path().display().to_string()), "{err}");
        assert!(err.contains("BELT_DATA_DIR"), "{err}");
        assert!(!dir.path().join(KEY_FILE).exists());
        let created = DevKey::load_or_create(dir.path()).unwrap();
        assert_eq!(DevKey::load(dir.path()).unwrap().jwks(), created.jwks());
    }

    #[test]
    fn refuses_a_corrupt_key_file() {
        let dir = TempDir::new();
        fs::write(dir.path().join(KEY_FILE), b"garbage").unwrap();
        let err = DevKey::load_or_create(dir.path()).unwrap_err().to_string();
        assert!(err.contains("delete it"), "{err}");
        assert_eq!(fs::read(dir.path().join(KEY_FILE)).unwrap(), b"garbage");
    }
}
