//! `belt-api serve | token | openapi`. Thin: parse, set up logging, hand over.

use belt_api::app::{shutdown_signal, App};
use belt_api::auth::{Access, Claims, DevKey};
use belt_api::config::{Cli, Command};
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Serve(config) => {
            let telemetry = belt_api::telemetry::init(config.log_format, &config.traces)?;
            let shutdown = shutdown_signal()?;
            let app = App::build(*config).await?;
            let outcome = app.run(shutdown).await;
            telemetry.close().await;
            // Exits here rather than returning: dropping the runtime would wait for every
            // blocking task, and one that hangs must not keep the process past its grace period.
            if let Err(err) = outcome {
                eprintln!("Error: {err:?}");
                std::process::exit(1);
            }
            std::process::exit(0)
        }
        Command::Token(args) => {
            let key = DevKey::load(&args.data_dir)?;
            let roles = args.roles.iter().map(|r| r.as_str().to_string()).collect();
            let claims = Claims {
                sub: Some(args.email.clone()),
                name: Some(args.name.clone()),
                preferred_username: Some(args.name.clone()),
                email: Some(args.email.clone()),
                resource_access: [(args.project.clone(), Access { roles })].into(),
                ..Default::default()
            };
            println!("{}", key.mint(&claims, args.ttl)?);
            Ok(())
        }
        Command::Openapi => {
            println!("{}", belt_api::http::openapi::document().to_pretty_json()?);
            Ok(())
        }
    }
}
