//! `belt config …`, `belt login --dev`, `belt completion SHELL`: the client's own set-up.

use std::path::PathBuf;

use clap::CommandFactory;
use serde_json::json;

use crate::args::{Cli, ConfigCommand, Global, LoginArgs};
use crate::client::Client;
use crate::config::{self, ConfigFile, Context};
use crate::error::{code, CliError, Result};
use crate::output::{cell, Out};

const LOCAL_SERVER: &str = "http://127.0.0.1:8080";

fn config_path(global: &Global) -> Result<PathBuf> {
    match &global.config {
        Some(path) => Ok(path.clone()),
        None => config::default_path(),
    }
}

pub fn config(global: &Global, command: ConfigCommand, out: Out) -> Result<i32> {
    let path = config_path(global)?;
    let mut file = ConfigFile::load(&path)?;
    match command {
        ConfigCommand::SetContext { name } => {
            let (server, project, token_command) = (
                global.server.clone(),
                global.project.clone(),
                global.token_command.clone(),
            );
            if file.find(&name).is_none() {
                file.contexts.push(Context {
                    name: name.clone(),
                    server: LOCAL_SERVER.into(),
                    project: "global".into(),
                    ..Default::default()
                });
            }
            let context = file.find_mut(&name).expect("just added");
            if let Some(server) = server {
                context.server = server;
            }
            if let Some(project) = project {
                context.project = project;
            }
            if token_command.is_some() {
                context.token_command = token_command;
            }
            file.current_context.get_or_insert(name.clone());
            file.save(&path)?;
            out.note(&format!("context '{name}' set in {}", path.display()));
        }
        ConfigCommand::UseContext { name } => {
            if file.find(&name).is_none() {
                return Err(CliError::Other(format!(
                    "no context named '{name}' (belt config get-contexts)"
                )));
            }
            file.current_context = Some(name.clone());
            file.save(&path)?;
            out.note(&format!("switched to context '{name}'"));
        }
        ConfigCommand::GetContexts => print_contexts(&file, out)?,
        ConfigCommand::CurrentContext => match &file.current_context {
            Some(name) => println!("{name}"),
            None => return Err(CliError::Other("no current context".into())),
        },
    }
    Ok(code::OK)
}

fn print_contexts(file: &ConfigFile, out: Out) -> Result<()> {
    let current = file.current_context.as_deref();
    let items: Vec<_> = file
        .contexts
        .iter()
        .map(|c| {
            json!({"name": c.name, "current": Some(c.name.as_str()) == current, "server": c.server,
                   "project": c.project, "token": if c.token_command.is_some() { "command" } else if c.token.is_some() { "stored" } else { "none" }})
        })
        .collect();
    if out.structured(&json!({"items": items}))? {
        return Ok(());
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|c| {
            let mark = if c["current"] == true { "*" } else { "" };
            let text = |key: &str| c[key].as_str().unwrap_or_default().to_string();
            vec![
                mark.to_string(),
                text("name"),
                text("server"),
                text("project"),
                text("token"),
            ]
        })
        .collect();
    out.table(&["CURRENT", "NAME", "SERVER", "PROJECT", "TOKEN"], &rows);
    Ok(())
}

/// `belt login --dev`: `belt-api token` (next to this binary, else on PATH) mints an editor token
/// for the context's project with the server's dev key; the token goes into the current context
/// (a context `local` on 127.0.0.1:8080 is made when there is none).
pub fn login(global: &Global, args: &LoginArgs, out: Out) -> Result<i32> {
    let path = config_path(global)?;
    let mut file = ConfigFile::load(&path)?;
    let name = match global.context.clone().or(file.current_context.clone()) {
        Some(name) => name,
        None => {
            file.contexts.push(Context {
                name: "local".into(),
                server: global.server.clone().unwrap_or_else(|| LOCAL_SERVER.into()),
                project: global.project.clone().unwrap_or_else(|| "global".into()),
                ..Default::default()
            });
            "local".to_string()
        }
    };
    let context = file
        .find_mut(&name)
        .ok_or_else(|| CliError::Other(format!("no context named '{name}'")))?;
    let project = global
        .project
        .clone()
        .unwrap_or_else(|| context.project.clone());
    let token = dev_token(&project, args)?;
    context.token = Some(token);
    context.token_command = None;
    file.current_context.get_or_insert(name.clone());
    file.save(&path)?;
    out.note(&format!(
        "logged in: a dev editor token for project '{project}' stored in context '{name}'"
    ));
    Ok(code::OK)
}

fn dev_token(project: &str, args: &LoginArgs) -> Result<String> {
    let program = std::env::current_exe()
        .ok()
        .and_then(|me| Some(me.parent()?.join("belt-api")))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("belt-api"));
    let output = std::process::Command::new(&program)
        .args([
            "token",
            "--project",
            project,
            "--role",
            "editor",
            "--ttl",
            &args.ttl,
            "--data-dir",
        ])
        .arg(&args.data_dir)
        .output()
        .map_err(|e| CliError::Other(format!("cannot run {}: {e}", program.display())))?;
    if !output.status.success() {
        return Err(CliError::Other(format!(
            "{} token failed: {}",
            program.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

pub fn completion(shell: clap_complete::Shell) -> Result<i32> {
    clap_complete::generate(shell, &mut Cli::command(), "belt", &mut std::io::stdout());
    Ok(code::OK)
}

/// `belt whoami`: the server's `GET /whoami`, so what it prints is what the server verified, not
/// what the token claims before verification.
pub fn whoami(client: &Client, out: Out) -> Result<i32> {
    let me = client.get_url(&client.server_url("/whoami"))?;
    if out.structured(&me)? {
        return Ok(code::OK);
    }
    let email = me["email"].as_str().filter(|email| !email.is_empty());
    let who = match email {
        Some(email) => format!("{} <{email}>", cell(&me["name"])),
        None => cell(&me["name"]),
    };
    let projects = me["projects"].as_array().cloned().unwrap_or_default();
    if projects.is_empty() {
        out.note(&format!("{who}: the token grants no role in any project"));
        return Ok(code::OK);
    }
    out.note(&who);
    let rows: Vec<Vec<String>> = (projects.iter())
        .map(|granted| vec![cell(&granted["project"]), cell(&granted["role"])])
        .collect();
    out.table(&["PROJECT", "ROLE"], &rows);
    Ok(code::OK)
}
