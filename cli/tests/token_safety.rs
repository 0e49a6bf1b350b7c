//! The CLI keeps its token and its files to itself: links are followed only on the server's
//! origin, `apply -f DIR` and `export --dir DIR` never cross a symlink out of DIR, `login --dev`
//! reads the server's data dir from `BELT_DATA_DIR`, and `belt-api token` never signs with a key
//! the server does not hold.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use support::{belt_api, serve, User};

const TOKEN: &str = "s3cret-token";

/// A tiny HTTP server on 127.0.0.1 that keeps each request's head and answers with `answer`.
struct Recorder {
    address: String,
    heads: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    fn start(answer: impl Fn(&str) -> Value + Send + 'static) -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let heads = Arc::new(Mutex::new(Vec::new()));
        let kept = heads.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    head.push_str(&line);
                }
                let target = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                kept.lock().unwrap().push(head);
                let body = answer(&target);
                // `{"redirect": URL}` answers a 302 to URL.
                let (status, location) = match body["redirect"].as_str() {
                    Some(url) => ("302 Found", format!("Location: {url}\r\n")),
                    None => ("200 OK", String::new()),
                };
                let body = body.to_string();
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\n{location}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Recorder { address, heads }
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

fn belt(id: &str, name: &str) -> Value {
    json!({"id": id, "name": name, "status": "STOPPED", "version": 1,
           "createdAt": "2026-12-06T00:00:00Z"})
}

fn page(items: Vec<Value>, next: Option<String>) -> Value {
    let mut page = json!({"totalCount": items.len(), "items": items, "_links": {}});
    if let Some(next) = next {
        page["_links"]["next"] = json!({"href": next});
    }
    page
}

fn as_user(user: &User, server: &str, args: &[&str]) -> support::Run {
    let mut all = vec!["--server", server, "--project", "demo", "--token", TOKEN];
    all.extend(args);
    user.run(&all)
}

#[test]
fn a_link_to_another_origin_is_refused_and_the_token_never_sent() {
    let stranger = Recorder::start(|_| page(vec![belt("9", "theirs")], None));
    let elsewhere = format!("{}/projects/demo/belts?page=2", stranger.address);
    let server = Recorder::start(move |target| {
        if target.contains("page=2") {
            page(vec![belt("2", "second")], None)
        } else if target.contains("search=moved") {
            json!({"redirect": elsewhere.clone()})
        } else if target.contains("search=away") {
            page(vec![belt("1", "first")], Some(elsewhere.clone()))
        } else {
            // A relative link on the server's own origin is followed, with the token.
            page(
                vec![belt("1", "first")],
                Some("/projects/demo/belts?page=2".into()),
            )
        }
    });
    let user = User::new();

    let same = as_user(&user, &server.address, &["get"]);
    assert_eq!(same.code(), 0, "{same}");
    assert!(same.stdout().contains("second"), "{same}");
    let heads = server.heads();
    assert_eq!(heads.len(), 2, "{heads:?}");
    assert!(heads.iter().all(|h| h.contains(TOKEN)), "{heads:?}");

    let away = as_user(&user, &server.address, &["get", "--search", "away"]);
    assert_ne!(away.code(), 0, "{away}");
    assert!(
        away.stderr().contains("another origin") && away.stderr().contains(&stranger.address),
        "{away}"
    );
    assert!(!away.stdout().contains("theirs"), "{away}");
    let reached = stranger.heads();
    assert!(
        reached.iter().all(|head| !head.contains(TOKEN)),
        "the token reached another origin: {reached:?}"
    );
    assert!(reached.is_empty(), "{reached:?}");

    // A redirect to another origin is not followed either.
    let moved = as_user(&user, &server.address, &["get", "--search", "moved"]);
    assert_ne!(moved.code(), 0, "{moved}");
    assert!(moved.stderr().contains("another origin"), "{moved}");
    assert!(stranger.heads().is_empty(), "{:?}", stranger.heads());
}

#[test]
fn apply_refuses_a_symlink_that_leaves_the_directory_and_reads_nothing_through_it() {
    let server = Recorder::start(|_| page(vec![], None));
    let user = User::new();
    let outside = user.write("private/secret.yaml", "name: stolen\neventTypes: [x]\n");
    let dir = user.home.path().join("belts");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.yaml"), "name: mine\neventTypes: [x]\n").unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("b.yaml")).unwrap();

    let refused = as_user(
        &user,
        &server.address,
        &["apply", "-f", dir.to_str().unwrap()],
    );
    assert_ne!(refused.code(), 0, "{refused}");
    assert!(
        refused.stderr().contains("symlink") && refused.stderr().contains("b.yaml"),
        "{refused}"
    );
    // Nothing was sent: the refusal comes before any file is uploaded.
    assert!(server.heads().is_empty(), "{:?}", server.heads());
}

#[test]
fn export_never_writes_through_a_symlink_and_ids_are_file_names() {
    let server = Recorder::start(|target| {
        if target.contains("/belts/1?") {
            json!({"id": "../../escape", "name": "../up/and/away", "eventTypes": ["x"]})
        } else if target.contains("/belts/2?") {
            json!({"id": "2", "name": "linked", "eventTypes": ["x"]})
        } else {
            page(vec![belt("1", "one"), belt("2", "linked")], None)
        }
    });
    let user = User::new();
    let victim = user.write("victim.txt", "untouched");
    let dir = user.home.path().join("out/backup");
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(&victim, dir.join("2-linked.yaml")).unwrap();

    let export = as_user(
        &user,
        &server.address,
        &["export", "--all", "--dir", dir.to_str().unwrap()],
    );
    assert_ne!(export.code(), 0, "{export}");
    assert!(
        export.stderr().contains("symlink") && export.stderr().contains("2-linked.yaml"),
        "{export}"
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");
    // The hostile id and name became one file inside the directory, and nothing was written
    // anywhere else.
    let mut written: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(
        written,
        ["2-linked.yaml", "______escape-___up_and_away.yaml"]
    );
    let above: Vec<String> = std::fs::read_dir(user.home.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(above, ["backup"]);
    assert!(!user.home.path().join("escape").exists());
}

#[test]
fn login_dev_reads_the_servers_data_dir_from_belt_data_dir() {
    let server = serve();
    let user = User::new();
    user.ok(&[
        "config",
        "set-context",
        "local",
        "--server",
        &server.address,
        "--project",
        "demo",
    ]);
    user.ok(&["config", "use-context", "local"]);
    // No --data-dir and no ./belt-data here: only the variable names the server's.
    let login = user
        .command(&["login", "--dev"])
        .env("BELT_DATA_DIR", &server.data_dir)
        .output()
        .unwrap();
    let login = support::Run(login);
    assert_eq!(login.code(), 0, "{login}");
    let listed = user.run(&["get"]);
    assert_eq!(listed.code(), 0, "the stored token works: {listed}");
}

#[test]
fn belt_api_token_refuses_a_data_dir_without_the_servers_key() {
    let user = User::new();
    let empty = user.home.path().join("not-the-servers-data");
    let minted = std::process::Command::new(belt_api())
        .args(["token", "--data-dir", empty.to_str().unwrap()])
        .env_remove("BELT_DATA_DIR")
        .output()
        .unwrap();
    let minted = support::Run(minted);
    assert_ne!(minted.code(), 0, "{minted}");
    assert!(
        minted.stderr().contains(empty.to_str().unwrap())
            && minted.stderr().contains("BELT_DATA_DIR"),
        "{minted}"
    );
    assert_eq!(minted.stdout(), "", "no token: {minted}");
    assert!(!empty.exists(), "nothing created in {}", empty.display());

    // `belt login --dev` passes the refusal on and stores no token.
    let login = user
        .command(&["login", "--dev"])
        .env("BELT_DATA_DIR", &empty)
        .output()
        .unwrap();
    let login = support::Run(login);
    assert_ne!(login.code(), 0, "{login}");
    assert!(login.stderr().contains("no dev signing key"), "{login}");
    assert!(!empty.exists());
}
