//! The web console's sign-in through the OpenID Connect provider (docs/console.md): the client
//! belt-api is at the provider, and the address the provider sends the browser back to.

use clap::Args;

#[derive(Clone, Default, Args)]
pub struct ConsoleConfig {
    /// The console's client id at the OIDC provider (a Keycloak client with the standard flow
    /// on). Unset: the console cannot sign anyone in through the provider; the API is unchanged.
    #[arg(long, env = "BELT_CONSOLE_OIDC_CLIENT_ID")]
    pub console_oidc_client_id: Option<String>,

    /// The client's secret, for a confidential client; unset for a public one (PKCE protects
    /// the code either way). Never logged.
    #[arg(long, env = "BELT_CONSOLE_OIDC_CLIENT_SECRET", hide_env_values = true)]
    pub console_oidc_client_secret: Option<String>,

    /// The console's external base URL (`https://belts.example.com`), from which the redirect
    /// URI `<it>/ui/callback` is built. Unset: built from the request's host, or from the
    /// forwarded headers of a proxy in `BELT_TRUSTED_HOSTS`.
    #[arg(long, env = "BELT_CONSOLE_BASE_URL")]
    pub console_base_url: Option<String>,
}

// By hand, so that the secret never reaches a log line through `{:?}`.
impl std::fmt::Debug for ConsoleConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = self
            .console_oidc_client_secret
            .as_ref()
            .map(|_| "<redacted>");
        f.debug_struct("ConsoleConfig")
            .field("console_oidc_client_id", &self.console_oidc_client_id)
            .field("console_oidc_client_secret", &secret)
            .field("console_base_url", &self.console_base_url)
            .finish()
    }
}
