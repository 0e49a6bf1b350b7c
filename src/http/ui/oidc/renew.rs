//! Refresh before expiry: a session whose access token nears its `exp` gets a new one at the
//! provider's token endpoint (server-side, with the refresh token), verified as at sign-in, for
//! the same subject. When that fails the session is over and the browser signs in again.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::callback::renew_at;
use super::SignIn;
use crate::belts;
use crate::http::caller::nul_in_names;
use crate::http::ui::session::{unix_now, ProviderTokens, Renewal, Session, Sessions};

impl Renewal for SignIn {
    fn renew<'a>(
        &'a self,
        sessions: &'a Sessions,
        id: &'a str,
        _: Arc<Session>,
    ) -> Pin<Box<dyn Future<Output = Option<Arc<Session>>> + Send + 'a>> {
        Box::pin(self.renew_session(sessions, id))
    }
}

impl SignIn {
    async fn renew_session(&self, sessions: &Sessions, id: &str) -> Option<Arc<Session>> {
        let _one_at_a_time = self.renewing.lock().await;
        // Read again under the lock: a page loaded at the same time may have renewed it.
        let session = sessions.find(id)?;
        let tokens = session.provider.as_ref()?;
        if tokens.renew_at > unix_now() {
            return Some(session);
        }
        let provider = self.provider.as_ref()?;
        let answer = match provider.refresh(tokens.refresh.as_deref()?).await {
            Ok(answer) => answer,
            Err(err) => {
                tracing::info!(error = ?err, "a console session could not be renewed; it ends");
                return None;
            }
        };
        let claims = self.verifier.verify(&answer.access_token).await.ok()?;
        // The same person, or nobody: a refresh must not turn a session into someone else's.
        let same = claims.sub.is_some() && claims.sub == session.caller.claims.sub;
        if !same || nul_in_names(&claims).is_some() {
            tracing::info!("a renewed console token was refused; the session ends");
            return None;
        }
        let id_token = match answer.id_token {
            Some(id_token) => {
                let client_id = &provider.client_id;
                self.verifier
                    .verify_id_token(&id_token, client_id)
                    .await
                    .ok()?;
                id_token
            }
            None => tokens.id_token.clone(),
        };
        let renewed = ProviderTokens {
            refresh: answer.refresh_token.or_else(|| tokens.refresh.clone()),
            id_token,
            renew_at: renew_at(&claims),
        };
        let caller = belts::Caller {
            claims,
            token: answer.access_token,
        };
        sessions.renewed(id, caller, renewed)
    }
}
