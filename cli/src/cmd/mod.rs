//! One module per group of commands; `run` hands each command to its module.

mod apply;
mod belts;
mod describe_text;
mod files;
mod history;
mod invoke;
mod lag;
mod logs;
mod samples;
mod setup;
mod state;
mod wait;

use crate::args::{Cli, Command};
use crate::client::Client;
use crate::error::{code, Result};
use crate::output::Out;

/// Runs the command; the `Ok` value is the exit code (a bulk action that refused some belts is
/// not an error of the call, but a script must see it).
pub fn run(cli: Cli, out: Out) -> Result<i32> {
    let global = cli.global;
    let client = || Client::from_global(&global);
    match cli.command {
        Command::Config(command) => setup::config(&global, command, out),
        Command::Login(args) => setup::login(&global, &args, out),
        Command::Whoami => setup::whoami(&client()?, out),
        Command::Completion { shell } => setup::completion(shell),
        Command::Get(args) => belts::get(&client()?, &args, out),
        Command::Describe(args) => belts::describe(&client()?, args.id, out),
        Command::Export(args) => belts::export(&client()?, &args, out),
        Command::Delete(args) => belts::delete(&client()?, &args.ids, out),
        Command::Apply(args) => apply::apply(&client()?, &args.files, out),
        Command::Start(args) => state::change(&client()?, "START", &args, out),
        Command::Stop(args) => state::change(&client()?, "STOP", &args, out),
        Command::Wait(args) => {
            let status = wait::parse_status(&args.status)?;
            wait::wait_for(&client()?, args.id, &status, args.timeout, out)?;
            Ok(code::OK)
        }
        Command::Logs(args) => logs::logs(&client()?, &args, out),
        Command::History(args) => history::history(&client()?, &args, out),
        Command::Lag(args) => lag::lag(&client()?, &args, out),
        Command::Revisions(args) => history::revisions(&client()?, &args, out),
        Command::Rollback(args) => history::rollback(&client()?, &args, out),
        Command::Invoke(args) => invoke::invoke(&client()?, &args, out),
        Command::Samples(command) => samples::samples(&client()?, command, out),
    }
}

pub fn belt_path(id: u64) -> String {
    format!("/belts/{id}")
}
