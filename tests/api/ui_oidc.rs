//! The console's sign-in through an OpenID Connect provider (docs/console.md), against the stub
//! provider of `stub_idp.rs`: the authorization-code flow with PKCE, every way a callback can be
//! wrong, refresh before expiry, sign-out, and no token ever where the browser can see it.

use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use url::Url;

use crate::backend_tests;
use crate::helpers::*;
use crate::oidc_console::{cookie_of, query_of, seen, Console};
use crate::stub_idp::CLIENT_ID;

backend_tests!(
    the_full_flow_lands_signed_in_and_no_token_reaches_the_browser,
    a_wrong_state_or_another_browser_signs_nobody_in,
    a_wrong_verifier_or_a_replayed_code_signs_nobody_in,
    a_wrong_nonce_or_a_foreign_key_signs_nobody_in,
    the_provider_refusing_access_is_a_page_and_no_session,
    a_viewer_by_the_tokens_roles_sees_no_write_buttons_and_a_forged_write_is_403,
    refresh_replaces_the_token_before_expiry_and_a_refused_one_ends_the_session,
    sign_out_ends_the_session_here_and_at_the_provider,
    the_header_leads_to_each_project_the_token_grants_and_names_the_role_there,
);

async fn the_full_flow_lands_signed_in_and_no_token_reaches_the_browser(backend: Backend) {
    let console = Console::start(backend, "global", &["editor"]).await;
    let mut seen = seen();
    let (authorization, _) = console.begin(&mut seen).await;
    assert_eq!(authorization.path(), "/auth");
    let asked = query_of(&authorization);
    assert_eq!(asked["response_type"], "code");
    assert_eq!(asked["client_id"], CLIENT_ID);
    assert_eq!(asked["scope"], "openid");
    assert_eq!(asked["redirect_uri"], console.url("/ui/callback"));
    assert_eq!(asked["code_challenge_method"], "S256");
    assert_eq!(asked["code_challenge"].len(), 43, "base64url of SHA-256");
    assert!(asked["state"].len() >= 43 && asked["nonce"].len() >= 43);
    assert!(!asked.contains_key("code_verifier"));

    let (session, target) = console.sign_in(&mut seen).await;
    assert_eq!(target, "/ui/projects/global/belts");
    let page = seen.bodies.last().unwrap();
    assert!(page.contains("Signed in as Ada Lovelace"), "{page}");
    assert!(page.contains("(editor of global)"), "{page}");
    assert!(session.len() > "belt_session=".len() + 40);
    console.assert_no_token(&seen);
    let logs = captured_logs();
    for token in console.idp.issued() {
        assert!(!logs.contains(&token), "a token in the logs");
    }
}

async fn a_wrong_state_or_another_browser_signs_nobody_in(backend: Backend) {
    let console = Console::start(backend, "global", &["editor"]).await;
    let mut seen = seen();
    let (authorization, binding) = console.begin(&mut seen).await;
    let back = console.at_provider(&authorization, &mut seen).await;
    let code = query_of(&back)["code"].clone();
    let forged =
        Url::parse(&console.url(&format!("/ui/callback?code={code}&state=forged"))).unwrap();
    let page = console
        .refused(&forged, &binding, StatusCode::BAD_REQUEST)
        .await;
    assert!(page.contains("unknown, expired, already used"), "{page}");
    // The right state from a browser that did not begin the sign-in (no binding cookie) signs
    // nobody in, and leaves the sign-in to the browser that began it: it holds what the sign-in
    // needs (src/http/ui/oidc/pending.rs). That browser signs in, once; a replay is refused.
    console.refused(&back, "", StatusCode::BAD_REQUEST).await;
    let signed_in = console.get(back.as_str(), &binding).await;
    assert_eq!(signed_in.status(), StatusCode::OK);
    assert!(cookie_of(&signed_in, "belt_session").is_some());
    console
        .refused(&back, &binding, StatusCode::BAD_REQUEST)
        .await;
    let stranger = "belt_login=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let (authorization, _) = console.begin(&mut seen).await;
    let back = console.at_provider(&authorization, &mut seen).await;
    console
        .refused(&back, stranger, StatusCode::BAD_REQUEST)
        .await;
}

async fn a_wrong_verifier_or_a_replayed_code_signs_nobody_in(backend: Backend) {
    let console = Console::start(backend, "global", &["editor"]).await;
    // The stub verifies PKCE: a code exchanged with a verifier that does not hash to its
    // challenge is refused, and the console shows that, signing nobody in.
    console.idp.behave(|b| b.corrupt_challenge = true);
    let mut seen = seen();
    let (authorization, binding) = console.begin(&mut seen).await;
    let back = console.at_provider(&authorization, &mut seen).await;
    let page = console
        .refused(&back, &binding, StatusCode::BAD_REQUEST)
        .await;
    assert!(
        page.contains("refused to complete the sign-in (invalid_grant)"),
        "{page}"
    );

    // A code used once, handed in again with a new sign-in's state: the provider refuses it.
    console.idp.behave(|b| b.corrupt_challenge = false);
    let (authorization, binding) = console.begin(&mut seen).await;
    let used = console.at_provider(&authorization, &mut seen).await;
    assert_eq!(
        console.get(used.as_str(), &binding).await.status(),
        StatusCode::OK
    );
    let (authorization, binding) = console.begin(&mut seen).await;
    let fresh = console.at_provider(&authorization, &mut seen).await;
    let state = &query_of(&fresh)["state"];
    let code = &query_of(&used)["code"];
    let replayed = Url::parse(&console.url(&format!("/ui/callback?code={code}&state={state}")));
    let page = console
        .refused(&replayed.unwrap(), &binding, StatusCode::BAD_REQUEST)
        .await;
    assert!(page.contains("invalid_grant"), "{page}");
    console.assert_no_token(&seen);
}

async fn a_wrong_nonce_or_a_foreign_key_signs_nobody_in(backend: Backend) {
    let console = Console::start(backend, "global", &["editor"]).await;
    let mut seen = seen();
    for misbehave in [
        (|b: &mut crate::stub_idp::Behaviour| b.wrong_nonce = true) as fn(&mut _),
        |b| {
            b.wrong_nonce = false;
            b.foreign_id_key = true;
        },
    ] {
        console.idp.behave(misbehave);
        let (authorization, binding) = console.begin(&mut seen).await;
        let back = console.at_provider(&authorization, &mut seen).await;
        let page = console
            .refused(&back, &binding, StatusCode::BAD_REQUEST)
            .await;
        assert!(page.contains("did not verify"), "{page}");
        seen.bodies.push(page);
    }
    console.assert_no_token(&seen);
}

async fn the_provider_refusing_access_is_a_page_and_no_session(backend: Backend) {
    let console = Console::start(backend, "global", &["editor"]).await;
    console
        .idp
        .behave(|b| b.deny = Some("access_denied".into()));
    let mut seen = seen();
    let (authorization, binding) = console.begin(&mut seen).await;
    let back = console.at_provider(&authorization, &mut seen).await;
    assert_eq!(query_of(&back)["error"], "access_denied");
    let page = console
        .refused(&back, &binding, StatusCode::FORBIDDEN)
        .await;
    assert!(
        page.contains("did not sign you in (access_denied)"),
        "{page}"
    );
    // Anyone can write a callback link: only a plain error code is repeated on the page.
    let hostile = console.url("/ui/callback?error=%3Cb%3EVisit+evil.example%3C%2Fb%3E");
    let page = console
        .refused(&Url::parse(&hostile).unwrap(), "", StatusCode::FORBIDDEN)
        .await;
    assert!(
        page.contains("did not sign you in (unknown)") && !page.contains("evil"),
        "{page}"
    );
    // And with no role in any project: signed in at the provider, not in the console.
    console.idp.behave(|b| {
        b.deny = None;
        b.roles = vec!["manage-account".into()];
    });
    let (authorization, binding) = console.begin(&mut seen).await;
    let back = console.at_provider(&authorization, &mut seen).await;
    let page = console
        .refused(&back, &binding, StatusCode::FORBIDDEN)
        .await;
    assert!(page.contains("hold no console role"), "{page}");
}

async fn a_viewer_by_the_tokens_roles_sees_no_write_buttons_and_a_forged_write_is_403(
    backend: Backend,
) {
    let console = Console::start(backend, "global", &["viewer"]).await;
    let editor = console.idp.api_token("global", &["editor"]);
    let created = console
        .app
        .post("/belts", &editor, &minimal_belt("seen"))
        .await;
    assert_eq!(created.status(), StatusCode::OK);
    let (_, body) = json_of(created).await;
    let id = body["id"].as_str().unwrap();
    let (session, _) = console.sign_in(&mut seen()).await;
    let belt = format!("/ui/projects/global/belts/{id}");
    let page = console
        .get(&console.url(&belt), &session)
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("(viewer of global)"), "{page}");
    assert!(!page.contains("/state\""), "no START/STOP form: {page}");
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string();
    let forged = (console.app.client)
        .post(console.url(&format!("{belt}/state")))
        .header(COOKIE, &session)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}&action=START&version=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let state = console
        .app
        .get(&format!("/belts/{id}/state"), &editor)
        .await;
    assert_eq!(json_of(state).await.1["status"], "STOPPED");
}

async fn refresh_replaces_the_token_before_expiry_and_a_refused_one_ends_the_session(
    backend: Backend,
) {
    let console = Console::start(backend, "global", &["editor"]).await;
    // Valid for 45 s more: under the minute before expiry at which the console renews.
    console.idp.behave(|b| b.access_lifetime = 45);
    let mut seen = seen();
    let (session, target) = console.sign_in(&mut seen).await;
    let grants = console.idp.refresh_grants();
    assert!(grants >= 1, "the first page renewed the token");
    console.idp.behave(|b| b.name = "Ada Renewed".into());
    let page = console.get(&console.url(&target), &session).await;
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    assert!(page.contains("Signed in as Ada Renewed"), "{page}");
    assert_eq!(console.idp.refresh_grants(), grants + 1);
    seen.bodies.push(page);
    console.assert_no_token(&seen);

    // A long-lived token is not renewed at every page.
    console.idp.behave(|b| b.access_lifetime = 600);
    console.get(&console.url(&target), &session).await;
    let settled = console.idp.refresh_grants();
    console.get(&console.url(&target), &session).await;
    assert_eq!(console.idp.refresh_grants(), settled);

    // The provider no longer renews: the session ends, and the browser signs in again.
    let (session, target) = {
        console.idp.behave(|b| b.access_lifetime = 45);
        console.sign_in(&mut seen).await
    };
    console.idp.behave(|b| b.refuse_refresh = true);
    let ended = console.get(&console.url(&target), &session).await;
    assert_eq!(ended.status(), StatusCode::SEE_OTHER);
    assert_eq!(ended.headers()[LOCATION], "/ui/login");
    let again = console.get(&console.url(&target), &session).await;
    assert_eq!(again.headers()[LOCATION], "/ui/login");
}

async fn sign_out_ends_the_session_here_and_at_the_provider(backend: Backend) {
    let console = Console::start(backend, "global", &["editor"]).await;
    let (session, target) = console.sign_in(&mut seen()).await;
    let page = console
        .get(&console.url(&target), &session)
        .await
        .text()
        .await
        .unwrap();
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string();
    let out = (console.app.client)
        .post(console.url("/ui/logout"))
        .header(COOKIE, &session)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let cleared = out.headers()[SET_COOKIE].to_str().unwrap();
    assert!(cleared.starts_with("belt_session=;") && cleared.contains("Max-Age=0"));
    let to_provider = Url::parse(out.headers()[LOCATION].to_str().unwrap()).unwrap();
    assert_eq!(to_provider.path(), "/logout");
    let asked = query_of(&to_provider);
    assert_eq!(
        asked["post_logout_redirect_uri"],
        console.url("/ui/signed-out")
    );
    assert_eq!(asked["client_id"], CLIENT_ID, "{asked:?}");
    let issued = console.idp.issued();
    assert!(
        !asked.contains_key("id_token_hint")
            && !issued
                .iter()
                .any(|token| to_provider.as_str().contains(token.as_str())),
        "no token in the sign-out URL: {to_provider}"
    );
    let back = console.get(to_provider.as_str(), "").await;
    assert_eq!(console.idp.logouts().len(), 1);
    let signed_out = back.headers()[LOCATION].to_str().unwrap().to_string();
    let page = console.get(&signed_out, "").await.text().await.unwrap();
    assert!(page.contains("You are signed out"), "{page}");
    let gone = console.get(&console.url(&target), &session).await;
    assert_eq!(gone.headers()[LOCATION], "/ui/login");
}

/// A token with roles in several projects: the console opens on `global`, and every page's header
/// lists the projects with the role in each, the page's own marked, and names the role in the
/// page's project; a project the token grants nothing in is refused, and listed nowhere.
async fn the_header_leads_to_each_project_the_token_grants_and_names_the_role_there(
    backend: Backend,
) {
    let console = Console::start(backend, "team-a", &["viewer"]).await;
    console.idp.behave(|b| {
        b.also = vec![
            ("global".into(), vec!["editor".into()]),
            ("team-b".into(), vec!["editor".into(), "viewer".into()]),
            ("account".into(), vec!["manage-account".into()]),
        ];
    });
    let (session, target) = console.sign_in(&mut seen()).await;
    assert_eq!(target, "/ui/projects/global/belts", "global first");
    let page = |path: &'static str| {
        let (console, session) = (&console, &session);
        async move {
            let answer = console.get(&console.url(path), session).await;
            assert_eq!(answer.status(), StatusCode::OK, "{path}");
            answer.text().await.unwrap()
        }
    };
    let nav = |page: &str| {
        let start = page
            .find("<nav aria-label=\"Your projects\">")
            .expect("the projects");
        page[start..start + page[start..].find("</nav>").unwrap()].to_string()
    };

    let global = page("/ui/projects/global/belts").await;
    assert!(global.contains("(editor of global)"), "{global}");
    let listed = nav(&global);
    let order: Vec<usize> = ["/global/", "/team-a/", "/team-b/"]
        .iter()
        .map(|p| listed.find(p).unwrap_or_else(|| panic!("{p} in {listed}")))
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{listed}");
    assert!(
        listed.contains("/ui/projects/global/belts\" aria-current=\"page\">global</a>"),
        "{listed}"
    );
    assert!(
        listed.contains("team-a</a> <span class=\"role\">viewer"),
        "{listed}"
    );
    assert!(
        listed.contains("team-b</a> <span class=\"role\">editor"),
        "{listed}"
    );
    assert!(!listed.contains("account"), "not a project role: {listed}");

    let team_a = page("/ui/projects/team-a/belts").await;
    assert!(team_a.contains("(viewer of team-a)"), "{team_a}");
    assert!(
        !team_a.contains("id=\"new-belt\""),
        "a viewer creates nothing: {team_a}"
    );
    let listed = nav(&team_a);
    assert!(
        listed.contains("/ui/projects/team-a/belts\" aria-current=\"page\">team-a</a>"),
        "{listed}"
    );
    assert_eq!(listed.matches("aria-current").count(), 1, "{listed}");

    let elsewhere = console
        .get(&console.url("/ui/projects/team-c/belts"), &session)
        .await;
    assert_eq!(elsewhere.status(), StatusCode::FORBIDDEN);
}
