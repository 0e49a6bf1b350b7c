//! The command line: every command, flag and example `belt --help` shows.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXIT_CODES: &str = "\
Exit codes:
  0  ok
  1  any other failure (a bad file, no context, a failed local command)
  2  the command line is wrong
  3  not found (404: no such belt, revision or context on the server; 410: watch history gone)
  4  refused (other 4xx: a bad value, no token or role, a START that does not apply; a bulk action
     that refused some belts)
  5  conflict (409 or 412: the belt changed since it was read, an id or name is taken)
  6  timed out (wait, start --wait, stop --wait)
  7  server error (5xx) or server unreachable

Examples:
  belt config set-context local --server http://127.0.0.1:8080 --project demo
  belt login --dev
  belt apply -f belts/
  belt start 42 --wait --timeout 2m
  belt logs 42 -f
  belt get -o wide --status RUNNING,FAILED
  belt rollback 42
  belt stop --status FAILED";

#[derive(Debug, Parser)]
#[command(name = "belt", version, about = "Drive belts of a Belt API from the shell.", after_help = EXIT_CODES)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Use this context instead of the current one.
    #[arg(long, global = true, env = "BELT_CONTEXT")]
    pub context: Option<String>,
    /// Server URL (overrides the context's).
    #[arg(long, global = true, env = "BELT_SERVER")]
    pub server: Option<String>,
    /// Project (overrides the context's).
    #[arg(long, short = 'p', global = true, env = "BELT_PROJECT")]
    pub project: Option<String>,
    /// Bearer token (overrides every other source).
    #[arg(long, global = true, env = "BELT_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// A shell command whose output is the token (e.g. a Keycloak CLI).
    #[arg(long, global = true, env = "BELT_TOKEN_COMMAND")]
    pub token_command: Option<String>,
    /// Config file [default: $XDG_CONFIG_HOME/belt/config.yaml].
    #[arg(long, global = true, env = "BELT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Output format: table (default), wide, json or yaml.
    #[arg(long, short = 'o', global = true, value_enum, default_value = "table")]
    pub output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Wide,
    Json,
    Yaml,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Contexts: which server, project and token to use.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Store a token in the current context.
    #[command(
        after_help = "Examples:\n  belt login --dev\n  belt login --dev --data-dir /srv/belt-data"
    )]
    Login(LoginArgs),
    /// Who the token names, and the projects it grants a role in (the server's answer).
    #[command(
        after_help = "Examples:\n  belt whoami\n  belt whoami -o json | jq -r '.projects[].project'"
    )]
    Whoami,
    /// List belts, or show some.
    #[command(
        after_help = "Examples:\n  belt get\n  belt get 42 -o yaml\n  belt get --status FAILED --search orders -o wide\n  belt get -o json | jq '.items[].id'"
    )]
    Get(GetArgs),
    /// A belt's document, state, replicas and recent history, explained.
    #[command(after_help = "Examples:\n  belt describe 42")]
    Describe(IdArg),
    /// YAML of only what differs from the defaults, ready for `belt apply -f`.
    #[command(
        after_help = "Examples:\n  belt export 42 > belt-42.yaml\n  belt export --all --dir backup/   # one file per belt"
    )]
    Export(ExportArgs),
    /// Create or replace belts from YAML/JSON files; unchanged ones stay as they are.
    #[command(
        after_help = "Examples:\n  belt apply -f belt.yaml\n  belt apply -f backup/\n\nA belt is matched by its `id`, else by its `name` in the project. A replace sends\nIf-Match with the version just read: a concurrent edit ends in a conflict (exit 5), never an\noverwrite."
    )]
    Apply(ApplyArgs),
    /// Delete belts (their replicas first).
    #[command(after_help = "Examples:\n  belt delete 42")]
    Delete(IdsArg),
    /// START belts by id, or every belt matching --status/--search.
    #[command(
        after_help = "Examples:\n  belt start 42 --wait --timeout 2m\n  belt start --status FAILED\n  belt start --status STOPPED --search orders"
    )]
    Start(StateArgs),
    /// STOP belts by id, or every belt matching --status/--search.
    #[command(
        after_help = "Examples:\n  belt stop 42 --wait\n  belt stop --status FAILED,RUNNING_BUT_OUTDATED"
    )]
    Stop(StateArgs),
    /// Wait until a belt reaches a status (uses the server's watch; polls when it has none).
    #[command(after_help = "Examples:\n  belt wait 42 --for=RUNNING --timeout 2m")]
    Wait(WaitArgs),
    /// Replica logs; -f follows them.
    #[command(
        after_help = "Examples:\n  belt logs 42 --tail 50\n  belt logs 42 -f --since 10m\n  belt logs 42 --previous"
    )]
    Logs(LogsArgs),
    /// What happened to a belt: writes and status changes, newest first.
    #[command(after_help = "Examples:\n  belt history 42\n  belt history 42 --limit 100 -o json")]
    History(ListArgs),
    /// A belt's consumer lag over time, and the records it consumed per second (kept a day).
    #[command(after_help = "Examples:\n  belt lag 42\n  belt lag 42 --since 10m -o json")]
    Lag(LagArgs),
    /// A belt's stored versions, newest first; with VERSION, that version's document.
    #[command(after_help = "Examples:\n  belt revisions 42\n  belt revisions 42 3 -o yaml")]
    Revisions(RevisionsArgs),
    /// Store an older version's content as a new version.
    #[command(
        after_help = "Examples:\n  belt rollback 42            # to the version before the current one\n  belt rollback 42 --to 3"
    )]
    Rollback(RollbackArgs),
    /// Run a belt's callback once on sample events in the server's sandbox (nothing is stored).
    #[command(
        after_help = "Examples:\n  belt invoke 42 --sample order-7\n  belt invoke 42 -f events.yaml -o json\n  belt invoke 42 --sample order-7 --callback extractor.py   # a new callback, before saving it\n  belt invoke --belt belt.yaml -f events.yaml               # a belt not applied yet\n  belt invoke --callback extractor.py -f events.yaml\n\nA file holds `events: [...]` (each `{headers?, event, profile?}`) or a bare list of events.\nThe exit code is 0 whenever the callback ran, whatever it did: read `outcome`."
    )]
    Invoke(InvokeArgs),
    /// Sample events saved with a belt, for `belt invoke --sample` and the console's test panel.
    #[command(subcommand)]
    Samples(SamplesCommand),
    /// Shell completions.
    #[command(
        after_help = "Examples:\n  belt completion bash > ~/.local/share/bash-completion/completions/belt\n  belt completion zsh > \"${fpath[1]}/_belt\"\n  belt completion fish > ~/.config/fish/completions/belt.fish"
    )]
    Completion { shell: clap_complete::Shell },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Create or update a context (the first one also becomes current).
    #[command(
        after_help = "Examples:\n  belt config set-context prod --server https://belts.example.com --project shop \\\n      --token-command 'kcadm.sh config credentials … && cat ~/.token'"
    )]
    SetContext {
        /// The context's name; `--server`, `--project` and `--token-command` set its fields.
        name: String,
    },
    /// Make a context the current one.
    UseContext { name: String },
    /// List the contexts; `*` marks the current one.
    GetContexts,
    /// Print the current context's name.
    CurrentContext,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Mint a token with the local dev signing key (`belt-api token`).
    #[arg(long, required = true)]
    pub dev: bool,
    /// The server's data dir, which holds the dev signing key (as for `belt-api serve`).
    #[arg(long, env = "BELT_DATA_DIR", default_value = "./belt-data")]
    pub data_dir: PathBuf,
    /// Token lifetime, e.g. 1h, 12h, 7d.
    #[arg(long, default_value = "12h")]
    pub ttl: String,
}

#[derive(Debug, Args)]
pub struct IdArg {
    pub id: u64,
}

#[derive(Debug, Args)]
pub struct IdsArg {
    #[arg(required = true)]
    pub ids: Vec<u64>,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    pub ids: Vec<u64>,
    /// Only belts in these statuses (comma list).
    #[arg(long, value_delimiter = ',')]
    pub status: Vec<String>,
    /// Only belts whose name contains this (case-insensitive).
    #[arg(long)]
    pub search: Option<String>,
    /// Belts per request while paging through the list (1-250).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=250))]
    pub chunk_size: u32,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    pub ids: Vec<u64>,
    /// Every belt of the project.
    #[arg(long)]
    pub all: bool,
    /// Write one file per belt into this directory instead of printing.
    #[arg(long, short = 'd')]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A .yaml/.yml/.json file (several YAML documents allowed) or a directory of them.
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct StateArgs {
    /// Belt ids; or use --status/--search for every matching belt.
    #[arg(conflicts_with_all = ["status", "search"])]
    pub ids: Vec<u64>,
    /// Every belt in these statuses (comma list).
    #[arg(long, value_delimiter = ',')]
    pub status: Vec<String>,
    /// Every belt whose name contains this.
    #[arg(long)]
    pub search: Option<String>,
    /// Wait until each belt is RUNNING (start) or STOPPED (stop).
    #[arg(long, conflicts_with_all = ["status", "search"])]
    pub wait: bool,
    /// How long --wait waits, e.g. 90s, 2m.
    #[arg(long, default_value = "2m", value_parser = parse_duration)]
    pub timeout: Duration,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    pub id: u64,
    /// The status to wait for: RUNNING, STOPPED, FAILED, DEPLOYING, RUNNING_BUT_OUTDATED.
    #[arg(long = "for")]
    pub status: String,
    #[arg(long, default_value = "2m", value_parser = parse_duration)]
    pub timeout: Duration,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    pub id: u64,
    /// Keep the stream open and print new lines as replicas write them.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Only lines since a time (RFC 3339) or for a duration back (30s, 10m, 2h).
    #[arg(long)]
    pub since: Option<String>,
    /// The previous run of each restarted replica.
    #[arg(long)]
    pub previous: bool,
    /// The last N lines of each replica (1-500).
    #[arg(long)]
    pub tail: Option<u32>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    pub id: u64,
    /// At most this many entries.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

#[derive(Debug, Args)]
pub struct LagArgs {
    pub id: u64,
    /// Samples since a time (RFC 3339) or for a duration back (30s, 10m, 2h); default the last hour.
    #[arg(long)]
    pub since: Option<String>,
}

#[derive(Debug, Args)]
pub struct RevisionsArgs {
    pub id: u64,
    pub version: Option<u64>,
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    pub id: u64,
    /// The version whose content to restore [default: the one before the current].
    #[arg(long)]
    pub to: Option<u64>,
}

#[derive(Debug, Args)]
pub struct InvokeArgs {
    /// The saved belt to run. Without it, a belt not saved yet runs: give its callback with
    /// --callback or --belt, and its events with -f.
    pub id: Option<u64>,
    /// Run the events of this saved sample.
    #[arg(long, required_unless_present = "file", conflicts_with = "file")]
    pub sample: Option<String>,
    /// Run the events of this YAML/JSON file.
    #[arg(short = 'f', long = "filename")]
    pub file: Option<PathBuf>,
    /// Run this Python file as the callback (extractorFn) instead of the saved one.
    #[arg(long, value_name = "FILE.py")]
    pub callback: Option<PathBuf>,
    /// Build these requirements (a requirements.txt) instead of the saved ones.
    #[arg(long, value_name = "FILE")]
    pub requirements: Option<PathBuf>,
    /// The parameter the callback reads, instead of the saved one.
    #[arg(long)]
    pub parameter: Option<String>,
    /// Take extractorFn, requirementsPy and parameter from this belt file (YAML/JSON of one
    /// belt, as `belt apply -f` reads it); --callback, --requirements and --parameter win.
    #[arg(long, value_name = "FILE")]
    pub belt: Option<PathBuf>,
    /// How long to wait for the answer: a first run with requirements builds a virtualenv.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub timeout: Duration,
}

#[derive(Debug, Subcommand)]
pub enum SamplesCommand {
    /// The samples saved with a belt, by name.
    #[command(after_help = "Examples:\n  belt samples list 42\n  belt samples list 42 -o json")]
    List(IdArg),
    /// Save events from a file under a name (replacing the sample of that name).
    #[command(
        after_help = "Examples:\n  belt samples save 42 order-7 -f events.yaml\n\nA file holds `events: [...]` (each `{headers?, event, profile?}`) or a bare list of events."
    )]
    Save {
        id: u64,
        name: String,
        /// A YAML/JSON file of events.
        #[arg(short = 'f', long = "filename")]
        file: PathBuf,
    },
    /// Delete a saved sample.
    #[command(after_help = "Examples:\n  belt samples delete 42 order-7")]
    Delete { id: u64, name: String },
}

/// `90s`, `2m`, `1h`, `1d`, or plain seconds: read as the server reads a duration (the
/// `belt-query` crate), with its overflow check.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    belt_query::duration(text, belt_query::Units::ANY)
        .map_err(|why| format!("'{}': {why}", text.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert_eq!(
            parse_duration("2y"),
            Err("'2y': unknown unit 'y' (use s, m, h or d)".into())
        );
        assert!(parse_duration("99999999999999999h").is_err());
    }
}
