//! Refresh before expiry: a session whose access token nears its `exp` gets a new one at the
//! provider's token endpoint (server-side, with the refresh token), verified as at sign-in, for
//! the same subject. When that fails the session is over and the browser signs in again.
//!
//! Every replica serves every session, so two (or two pages on one) may find a session due at
//! once, and a provider that rotates refresh tokens revokes the second use of one, ending the
//! session. So a renewal is first claimed in the store: a compare-and-set on the session's
//! version that holds for a bounded time. The winner alone asks the provider and stores the new
//! tokens over the version it read (compare-and-set again); the others wait for that and go on
//! with the winner's tokens. One refresh at the provider per renewal.

use std::future::Future;
use std::pin::Pin;

use super::callback::renew_at;
use super::SignIn;
use crate::belts;
use crate::http::caller::nul_in_names;
use crate::http::ui::session::{ProviderTokens, Renewal, Session, SessionBook};

impl Renewal for SignIn {
    fn renew<'a>(
        &'a self,
        sessions: &'a SessionBook,
        id: &'a str,
        session: Session,
    ) -> Pin<Box<dyn Future<Output = Option<Session>> + Send + 'a>> {
        Box::pin(self.renew_session(sessions, id, session))
    }
}

impl SignIn {
    async fn renew_session(
        &self,
        sessions: &SessionBook,
        id: &str,
        session: Session,
    ) -> Option<Session> {
        match sessions.claim_renewal(id, &session).await {
            Ok(true) => {}
            Ok(false) => return sessions.renewal_elsewhere(id, session).await,
            Err(err) => {
                // The token is renewed a minute before it expires: still good for this page.
                tracing::warn!(error = %err, "a console session's renewal could not be claimed");
                return Some(session);
            }
        }
        let (caller, tokens) = self.refreshed(&session).await?;
        match sessions.renewed(id, session, caller, tokens).await {
            Ok(renewed) => renewed,
            Err(err) => {
                // The old refresh token is spent (a rotating provider took it): the session ends.
                tracing::warn!(error = %err, "a console session's renewal could not be stored");
                None
            }
        }
    }

    /// The caller and tokens of a refresh at the provider, verified; `None` when the provider
    /// refuses, or answers what does not verify or names someone else.
    async fn refreshed(&self, session: &Session) -> Option<(belts::Caller, ProviderTokens)> {
        let tokens = session.provider.as_ref()?;
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
        Some((caller, renewed))
    }
}
