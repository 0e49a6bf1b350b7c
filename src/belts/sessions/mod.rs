//! The web console's sessions (docs/console.md#sign-in-and-sessions), kept in the store so that
//! any replica serves any browser, a restart signs nobody out and a sign-out on one replica ends
//! the session on all of them at once: every console request reads the row, and nothing of a
//! session outlives it in a process. What a row holds is useless without the browser's cookie
//! (`seal.rs`); a cookie that is altered, unknown, expired or whose row does not open is simply
//! not signed in.

mod seal;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{BeltError, Caller};
use crate::auth::Claims;
use crate::store::{ConsoleSessions, StoredSession};
pub use seal::{aead_key, open_with, random_key, random_secret, seal_with};
use seal::{decode_key, encode_key, CookieSecret};

/// How long a sign-in lasts; the dev token behind it is minted for as long.
pub const LIFETIME: Duration = Duration::from_secs(8 * 3600);
/// Sessions kept at once: dev sign-in needs no secret, so what it may store must be bounded.
pub const MAX_SESSIONS: u64 = 10_000;
/// How long one replica may take to renew a session's tokens before another may try: longer than
/// the provider's call may take (5 s), short enough that a replica that died while renewing
/// holds nobody up for long.
const RENEWAL_CLAIM_SECS: i64 = 30;
/// How long a page waits for the renewal another replica claimed, and how often it looks. The
/// session's token is still good meanwhile (it is renewed a minute before it expires), so a page
/// that waited in vain is served with it.
const RENEWAL_WAIT: Duration = Duration::from_secs(6);
const RENEWAL_LOOK: Duration = Duration::from_millis(100);

/// A signed-in browser's session, as its cookie opened it.
pub struct Session {
    pub caller: Caller,
    /// Bound to this session; every form that writes carries it.
    pub csrf: String,
    pub project: String,
    pub role: String,
    /// What the OIDC provider handed over at sign-in; `None` for a dev sign-in.
    pub provider: Option<ProviderTokens>,
    /// The stored version this was read at: a renewal is stored only over it.
    version: i64,
}

/// The provider's tokens besides the access token (which is `caller.token`): sealed in the store,
/// never in a cookie, a URL of ours, a page or a log line.
pub struct ProviderTokens {
    /// Renews the access token at the token endpoint, when the provider gave one.
    pub refresh: Option<String>,
    /// The ID token, for the provider's sign-out.
    pub id_token: String,
    /// Seconds since the Unix epoch from which the access token is renewed: before it expires,
    /// so no page is refused for an expired token.
    pub renew_at: i64,
}

/// What a row seals: every secret of the session, and the claims the token was verified for.
#[derive(Serialize, Deserialize)]
struct Secrets {
    token: String,
    claims: Claims,
    csrf: String,
    refresh: Option<String>,
    id_token: Option<String>,
}

/// The console's sessions, over the store's [`ConsoleSessions`].
pub struct SessionBook {
    store: Arc<dyn ConsoleSessions>,
}

impl SessionBook {
    pub fn new(store: Arc<dyn ConsoleSessions>) -> SessionBook {
        SessionBook { store }
    }

    /// A new session for `caller`: the cookie's value, or `None` when [`MAX_SESSIONS`] are open.
    pub async fn open(
        &self,
        caller: Caller,
        project: String,
        role: String,
        provider: Option<ProviderTokens>,
    ) -> Result<Option<String>, BeltError> {
        let secret = CookieSecret::generate();
        let now = unix_now();
        let session = Session {
            caller,
            csrf: random_secret(),
            project,
            role,
            provider,
            version: 1,
        };
        let row = StoredSession {
            key: secret.row_key(),
            project: session.project.clone(),
            role: session.role.clone(),
            expires_at: now + LIFETIME.as_secs() as i64,
            renew_at: session.provider.as_ref().map(|tokens| tokens.renew_at),
            version: session.version,
            sealed: secret.seal(&sealed_secrets(&session)),
        };
        let opened = self.store.open_session(&row, now, MAX_SESSIONS).await?;
        Ok(opened.then(|| secret.encode()))
    }

    /// The live session the cookie `cookie` stands for; `None` when there is none.
    pub async fn find(&self, cookie: &str) -> Result<Option<Session>, BeltError> {
        let Some(secret) = CookieSecret::parse(cookie) else {
            return Ok(None);
        };
        let row = self.store.session(&secret.row_key()).await?;
        Ok(row.and_then(|row| unsealed(&secret, row)))
    }

    /// Whether this replica may renew `session`'s tokens now: `false` when another renews it
    /// already (then [`SessionBook::renewal_elsewhere`]) or it changed meanwhile.
    pub async fn claim_renewal(&self, cookie: &str, session: &Session) -> Result<bool, BeltError> {
        let Some(secret) = CookieSecret::parse(cookie) else {
            return Ok(false);
        };
        let now = unix_now();
        let until = now + RENEWAL_CLAIM_SECS;
        let key = secret.row_key();
        Ok((self.store.claim_renewal(&key, session.version, now, until)).await?)
    }

    /// Stores the renewal of `session` (claimed with [`SessionBook::claim_renewal`]): its new
    /// caller and tokens, same CSRF token and lifetime. When the session changed meanwhile (a
    /// claim that outlived its time, taken over), the session as it now stands; `None` when it
    /// is gone.
    pub async fn renewed(
        &self,
        cookie: &str,
        session: Session,
        caller: Caller,
        provider: ProviderTokens,
    ) -> Result<Option<Session>, BeltError> {
        let Some(secret) = CookieSecret::parse(cookie) else {
            return Ok(None);
        };
        let read_at = session.version;
        let renewed = Session {
            caller,
            provider: Some(provider),
            version: session.version + 1,
            ..session
        };
        let renew_at = renewed
            .provider
            .as_ref()
            .map_or(0, |tokens| tokens.renew_at);
        let sealed = secret.seal(&sealed_secrets(&renewed));
        let key = secret.row_key();
        let stored = (self.store)
            .store_renewal(&key, read_at, &sealed, renew_at)
            .await?;
        if stored {
            return Ok(Some(renewed));
        }
        self.find(cookie).await
    }

    /// `session` as another replica (or another page of this one) renews it: the winner's tokens
    /// once it stored them, or `session` itself when it took too long (its token is still good).
    /// `None` when the session ended meanwhile (the renewal was refused, or a sign-out).
    /// A store that does not answer is asked again until then.
    pub async fn renewal_elsewhere(&self, cookie: &str, session: Session) -> Option<Session> {
        let deadline = tokio::time::Instant::now() + RENEWAL_WAIT;
        loop {
            match self.find(cookie).await {
                Ok(None) => return None,
                Ok(Some(now)) if now.version != session.version => return Some(now),
                Ok(Some(_)) | Err(_) => {}
            }
            if tokio::time::Instant::now() + RENEWAL_LOOK > deadline {
                return Some(session);
            }
            tokio::time::sleep(RENEWAL_LOOK).await;
        }
    }

    /// Ends the session on every replica.
    pub async fn close(&self, cookie: &str) -> Result<(), BeltError> {
        if let Some(secret) = CookieSecret::parse(cookie) {
            self.store.close_session(&secret.row_key()).await?;
        }
        Ok(())
    }

    /// The 32-byte key `name` every replica shares: made by the first that asks, kept in the
    /// store.
    pub async fn shared_key(&self, name: &str) -> Result<[u8; 32], BeltError> {
        let candidate = encode_key(&random_key());
        let kept = self.store.shared_key(name, &candidate).await?;
        decode_key(&kept)
            .ok_or_else(|| BeltError::Unexpected(anyhow::anyhow!("stored key '{name}' is corrupt")))
    }
}

fn sealed_secrets(session: &Session) -> Vec<u8> {
    let provider = session.provider.as_ref();
    let secrets = Secrets {
        token: session.caller.token.clone(),
        claims: session.caller.claims.clone(),
        csrf: session.csrf.clone(),
        refresh: provider.and_then(|tokens| tokens.refresh.clone()),
        id_token: provider.map(|tokens| tokens.id_token.clone()),
    };
    serde_json::to_vec(&secrets).expect("strings and claims serialize")
}

/// The session a row holds, if it is live and opens with the cookie's secret.
fn unsealed(secret: &CookieSecret, row: StoredSession) -> Option<Session> {
    if row.expires_at <= unix_now() {
        return None;
    }
    let secrets: Secrets = serde_json::from_slice(&secret.open(&row.sealed)?).ok()?;
    let provider = match (row.renew_at, secrets.id_token) {
        (Some(renew_at), Some(id_token)) => Some(ProviderTokens {
            refresh: secrets.refresh,
            id_token,
            renew_at,
        }),
        _ => None,
    };
    Some(Session {
        caller: Caller {
            claims: secrets.claims,
            token: secrets.token,
        },
        csrf: secrets.csrf,
        project: row.project,
        role: row.role,
        provider,
        version: row.version,
    })
}

/// Seconds since the Unix epoch, the unit of a token's `exp`.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
