//! A replica of the bundled belt host is two processes (docs/local-sandbox.md#two-processes): the
//! trusted host, which alone holds the Kafka connection, and the worker, which imports the user's
//! callback.py in a cell without network. belt-api connects them with a socket pair (one end is
//! the host's stdin and stdout, the other the worker's) and puts both in the host's process group,
//! so that stopping, killing and recovering a replica reach both exactly as they reached one.

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::process::Stdio;

use tokio::process::Child;

use super::{inherited, Launch};
use crate::runtime::local::sandbox::{Cell, Shared};

/// What the trusted host reads of the replica's environment (belt_host.py, belt_settings.py). Nothing
/// else reaches it: a variable the belt chose (`PYTHONPATH`, `LD_PRELOAD`) must never shape the
/// one process that holds the Kafka connection.
const HOST_VARIABLES: &[&str] = &[
    "BELT_ID",
    "BELT_VERSION",
    "BELT_REPLICA_OF",
    "BELT_HOST_IDLE_SECONDS",
    "BELT_SOURCE_HEADER",
    "PROJECT_NAME",
    "EVENT_TYPES",
    "OUTPUT_TYPES",
    "DEBUG",
    "FETCH_PROFILE",
    "PROFILE_TYPE",
    "PROFILE_STORE_URL",
    "KEYCLOAK_USER",
    "KEYCLOAK_PASS",
    "PARTITION_OFFSETS",
    "KAFKA_BOOTSTRAP_SERVERS",
    "KAFKA_INPUT_TOPICS",
    "KAFKA_CONSUMER_GROUP",
    "KAFKA_DESTINATION_TOPIC",
    "KAFKA_ERROR_TOPIC",
    "KAFKA_SECURITY_PROTOCOL",
    "KAFKA_SASL_MECHANISM",
    "KAFKA_SASL_USERNAME",
    "KAFKA_SASL_PASSWORD",
];

/// Variables the worker never gets besides every `KAFKA_*`: where and how the host fetches
/// profiles, and where a first start begins (the host's business).
const WITHHELD_FROM_WORKER: &[&str] = &[
    "PROFILE_STORE_URL",
    "KEYCLOAK_USER",
    "KEYCLOAK_PASS",
    "PARTITION_OFFSETS",
];

pub(super) fn host_sees(name: &str) -> bool {
    HOST_VARIABLES.contains(&name)
}

pub(super) fn worker_sees(name: &str) -> bool {
    !name.starts_with("KAFKA_") && !WITHHELD_FROM_WORKER.contains(&name)
}

/// The worker's cell: the host's tenant and uid, offline, and the belt's virtualenv read-only
/// (the host installs it; the worker only imports from it).
pub(super) fn worker_cell(host: &Cell) -> Cell {
    let shared = host
        .shared
        .iter()
        .filter_map(|shared| match shared {
            Shared::Dir(path) | Shared::ReadOnlyDir(path) => {
                Some(Shared::ReadOnlyDir(path.clone()))
            }
            Shared::File(_) => None,
        })
        .collect();
    Cell {
        shared,
        ..host.clone()
    }
    .offline()
}

/// Both processes of a replica; the host leads the process group.
pub(super) struct Pair {
    pub host: Child,
    pub worker: Child,
}

impl Launch {
    /// Starts the host, then the worker in the host's process group. Should the worker not
    /// start, the host is killed and reaped before the error is returned.
    pub(super) fn spawn_pair(&self, worker: &[String]) -> io::Result<Pair> {
        // Both ends are close-on-exec: each process gets only its own, as stdin and stdout.
        let (host_end, worker_end) = UnixStream::pair()?;
        let mut host = self.command_of(&self.cell, &self.command, host_sees)?;
        host.stdin(Stdio::from(OwnedFd::from(host_end.try_clone()?)))
            .stdout(Stdio::from(OwnedFd::from(host_end)))
            .process_group(0);
        let mut host = host.spawn()?;
        let group = host
            .id()
            .and_then(|pid| i32::try_from(pid).ok())
            .unwrap_or(0);
        let spawned = self
            .command_of(&worker_cell(&self.cell), worker, worker_sees)
            .and_then(|mut command| {
                command
                    .stdin(Stdio::from(OwnedFd::from(worker_end.try_clone()?)))
                    .stdout(Stdio::from(OwnedFd::from(worker_end)))
                    .process_group(group)
                    .spawn()
            });
        // Both commands (and with them belt-api's copies of the sockets) are dropped by now, so
        // each process sees the end of its input when the other one exits.
        match spawned {
            Ok(worker) => Ok(Pair { host, worker }),
            Err(err) => {
                let _ = host.start_kill();
                let _ = host.try_wait();
                Err(err)
            }
        }
    }

    /// `program args` in `cell`, with stderr piped and the variables of the replica's
    /// environment that `visible` lets through.
    fn command_of(
        &self,
        cell: &Cell,
        program_and_args: &[String],
        visible: fn(&str) -> bool,
    ) -> io::Result<tokio::process::Command> {
        let (program, args) = program_and_args.split_first().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "the replica command is empty")
        })?;
        let env = std::env::vars_os()
            .filter(|(name, _)| name.to_str().is_some_and(inherited))
            .map(|(name, value)| (name.to_string_lossy().into_owned(), value));
        let own = self
            .env
            .iter()
            .filter(|(name, _)| visible(name))
            .map(|(name, value)| (name.clone(), value.into()));
        let mut command = cell.command(&self.dir, program, args, env.chain(own))?;
        command
            .env("BELT_REPLICA_NAME", &self.name)
            .stderr(Stdio::piped());
        Ok(command)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worker_never_sees_kafka_or_profile_store_settings() {
        for name in [
            "KAFKA_BOOTSTRAP_SERVERS",
            "KAFKA_SASL_PASSWORD",
            "KAFKA_ANYTHING",
            "PROFILE_STORE_URL",
            "KEYCLOAK_PASS",
        ] {
            assert!(!worker_sees(name), "{name}");
        }
        for name in ["BELT_ID", "PARAMETER", "FETCH_PROFILE", "MY_SETTING"] {
            assert!(worker_sees(name), "{name}");
        }
    }

    #[test]
    fn the_host_sees_only_the_platforms_variables() {
        for name in [
            "PYTHONPATH",
            "LD_PRELOAD",
            "PARAMETER",
            "MY_SETTING",
            "HOME",
        ] {
            assert!(!host_sees(name), "{name}");
        }
        assert!(host_sees("KAFKA_SASL_PASSWORD") && host_sees("BELT_REPLICA_OF"));
    }

    #[test]
    fn the_worker_cell_is_offline_and_reads_the_virtualenv_only() {
        let sandbox = std::sync::Arc::new(crate::runtime::local::sandbox::Sandbox::unconfined());
        let host = sandbox.cell(
            7,
            vec![
                Shared::Dir("/b/venv".into()),
                Shared::File("/b/venv.lock".into()),
            ],
        );
        let worker = worker_cell(&host);
        assert!(worker.offline && !host.offline);
        assert_eq!(worker.tenant, 7);
        assert_eq!(worker.shared, vec![Shared::ReadOnlyDir("/b/venv".into())]);
    }
}
