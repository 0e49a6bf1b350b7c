//! Console sessions of the OIDC sign-in kept in the store (docs/console.md#sign-in-and-sessions):
//! the provider's answer completes on another instance than the one that began the sign-in, the
//! stored row holds none of the tokens, the CSRF token or the cookie's secret in clear, and pages
//! that find the token due at once on two instances make one refresh at the provider.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::StatusCode;
use url::Url;

use crate::backend_tests;
use crate::helpers::*;
use crate::oidc_console::{cookie_of, seen, Console};
use crate::stub_idp::StubIdp;
use crate::ui::hidden;
use crate::ui_sessions::{shared_database, texts};

backend_tests!(
    the_callback_completes_on_another_instance_than_the_one_that_began,
    the_stored_session_holds_no_token_csrf_token_or_cookie_secret_in_clear,
    pages_due_for_renewal_at_once_on_two_instances_refresh_once,
);

/// `url` as the browser reaches it through `console` instead (another replica behind one host).
fn through(console: &Console, url: &Url) -> String {
    let path = url.path();
    let query = url.query().map(|q| format!("?{q}")).unwrap_or_default();
    console.url(&format!("{path}{query}"))
}

async fn the_callback_completes_on_another_instance_than_the_one_that_began(backend: Backend) {
    let (_dir, url) = shared_database(backend).await;
    let idp = StubIdp::start("global", &["editor"]).await;
    let a = Console::start_on(backend, idp.clone(), Some(url.clone())).await;
    let mut seen = seen();
    let (authorization, binding) = a.begin(&mut seen).await;
    let back = a.at_provider(&authorization, &mut seen).await;
    // SQLite has one process at a time: B replaces A. PostgreSQL serves both at once.
    let a = match backend {
        Backend::Sqlite => {
            drop(a);
            None
        }
        Backend::Postgres => Some(a),
    };
    let b = Console::start_on(backend, idp.clone(), Some(url.clone())).await;
    let answered = b.get(&through(&b, &back), &binding).await;
    assert_eq!(answered.status(), StatusCode::OK);
    let session = cookie_of(&answered, "belt_session").expect("signed in on B");
    let page = b.get(&b.url("/ui/projects/global/belts"), &session).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("Signed in as Ada"));
    if let Some(a) = &a {
        let page = a.get(&a.url("/ui/projects/global/belts"), &session).await;
        assert_eq!(
            page.status(),
            StatusCode::OK,
            "and A serves the session too"
        );
        // The same answer replayed at A: its code is spent at the provider.
        let replayed = a.get(&through(a, &back), &binding).await;
        assert_eq!(replayed.status(), StatusCode::BAD_REQUEST);
        assert_eq!(cookie_of(&replayed, "belt_session"), None);
    }
}

async fn the_stored_session_holds_no_token_csrf_token_or_cookie_secret_in_clear(backend: Backend) {
    let (_dir, url) = shared_database(backend).await;
    let idp = StubIdp::start("global", &["editor"]).await;
    let console = Console::start_on(backend, idp.clone(), Some(url.clone())).await;
    let (session, target) = console.sign_in(&mut seen()).await;
    let page = console.get(&console.url(&target), &session).await;
    let csrf = hidden(&page.text().await.unwrap(), "csrf");
    let secret = session.strip_prefix("belt_session=").unwrap().to_string();
    let rows = texts(
        backend,
        &url,
        "SELECT key || ' ' || project || ' ' || role || ' ' || CAST(expires_at AS TEXT) || ' ' \
         || CAST(version AS TEXT) || ' ' || sealed FROM console_sessions",
    )
    .await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    let sealed = URL_SAFE_NO_PAD
        .decode(row.rsplit(' ').next().unwrap())
        .unwrap();
    let sealed = String::from_utf8_lossy(&sealed);
    let issued = idp.issued();
    assert!(issued.iter().any(|t| t.starts_with("refresh-")));
    for secret in issued.iter().chain([&csrf, &secret]) {
        assert!(!row.contains(secret.as_str()), "{secret} stored in clear");
        assert!(
            !sealed.contains(secret.as_str()),
            "{secret} in the sealed bytes"
        );
    }
    assert!(!row.contains("eyJ"), "something JWT-like stored: {row}");
    let digest = ring::digest::digest(
        &ring::digest::SHA256,
        &URL_SAFE_NO_PAD.decode(&secret).unwrap(),
    );
    let key = URL_SAFE_NO_PAD.encode(digest);
    assert!(row.starts_with(&format!("{key} global editor ")), "{row}");
}

async fn pages_due_for_renewal_at_once_on_two_instances_refresh_once(backend: Backend) {
    let (_dir, url) = shared_database(backend).await;
    let idp = StubIdp::start("global", &["editor"]).await;
    let a = Console::start_on(backend, idp.clone(), Some(url.clone())).await;
    // SQLite has one process: its pages race on the one instance, through the same claim.
    let b = match backend {
        Backend::Postgres => Some(Console::start_on(backend, idp.clone(), Some(url.clone())).await),
        Backend::Sqlite => None,
    };
    // Tokens valid for 45 s are due at once (the console renews a minute before expiry).
    idp.behave(|b| b.access_lifetime = 45);
    let (session, target) = a.sign_in(&mut seen()).await;
    idp.behave(|b| {
        b.access_lifetime = 600;
        b.name = "Ada Renewed".into();
    });
    let grants = idp.refresh_grants();
    let consoles: Vec<&Console> = (0..8)
        .map(|i| match (&b, i % 2) {
            (Some(b), 1) => b,
            _ => &a,
        })
        .collect();
    let pages = consoles.iter().map(|console| async {
        let page = console.get(&console.url(&target), &session).await;
        (page.status(), page.text().await.unwrap())
    });
    for (status, page) in futures::future::join_all(pages).await {
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.contains("Signed in as Ada Renewed"), "{page}");
    }
    assert_eq!(
        idp.refresh_grants(),
        grants + 1,
        "one refresh at the provider"
    );
    let again = a.get(&a.url(&target), &session).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(idp.refresh_grants(), grants + 1, "renewed for good");
}
