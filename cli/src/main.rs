//! `belt`: the command-line client of Belt API. It talks only to the public HTTP API, so it works
//! against any belt-api, local or in a cluster.

#![forbid(unsafe_code)]

mod args;
mod client;
mod cmd;
mod config;
mod diff;
mod error;
mod output;

use std::io::IsTerminal;

use clap::Parser;

fn main() {
    let cli = args::Cli::parse();
    let out = output::Out::new(cli.global.output);
    let code = match cmd::run(cli, out) {
        Ok(code) => code,
        Err(error) => {
            if out.machine() {
                eprintln!("{}", error.to_json());
            } else if std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
                eprintln!("\x1b[31merror:\x1b[0m {error}");
            } else {
                eprintln!("error: {error}");
            }
            error.exit_code()
        }
    };
    std::process::exit(code);
}
