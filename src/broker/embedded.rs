//! The embedded Kafka-protocol broker: nisshi (a Kafka-compatible broker in Rust) on its SQLite
//! storage under `<data dir>/broker/`, run as a supervised child process (docs/architecture.md
//! explains why a child and how it is found and stopped).

mod child;
mod probe;
mod supervise;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::BrokerError;
use child::{find_on_path, Launch};
pub use supervise::Health;
use supervise::Supervisor;

/// The broker release that `scripts/broker.sh` builds and belt-api is tested with.
pub const NISSHI_VERSION: &str = "0.8.1";

/// Remembers the port picked for `BELT_KAFKA_LISTEN` port 0, so that a restarted belt-api
/// listens where replicas that outlived it were told to connect.
const PORT_FILE: &str = "listen-port";

#[derive(Debug, Clone)]
pub struct EmbeddedConfig {
    /// The broker's program; `None`: `nisshi` on `PATH`, then the cache `scripts/broker.sh` fills.
    pub program: Option<PathBuf>,
    /// Port 0 picks a free port (the one of the previous run when it is free).
    pub listen: SocketAddr,
    /// Storage, log and port file: `<data dir>/broker`.
    pub dir: PathBuf,
    /// How long the broker may take to answer its first metadata request.
    pub ready_timeout: Duration,
    /// Between SIGTERM and SIGKILL on shutdown.
    pub stop_grace: Duration,
}

/// A running embedded broker and its controller, which restarts it if it exits.
pub struct EmbeddedBroker {
    bootstrap: String,
    health: Health,
    stop: Option<oneshot::Sender<()>>,
    controller: Option<JoinHandle<()>>,
}

impl EmbeddedBroker {
    /// Starts the broker and returns once it answers a metadata request.
    pub async fn start(config: EmbeddedConfig) -> Result<EmbeddedBroker, BrokerError> {
        let program = locate_program(config.program.as_deref())?;
        let failed = |source| BrokerError::Start {
            program: program.clone(),
            source,
        };
        std::fs::create_dir_all(&config.dir).map_err(failed)?;
        let listen = choose_address(config.listen, &config.dir).map_err(failed)?;
        let advertised = advertised(listen);
        let mut supervisor = Supervisor::new(
            Launch {
                program: program.clone(),
                listen,
                advertised,
                dir: config.dir.clone(),
            },
            config.ready_timeout,
        );
        supervisor.start().await?;
        tracing::info!(
            pid = supervisor.pid(),
            program = %program.display(),
            log = %config.dir.join("broker.log").display(),
            "embedded Kafka broker (nisshi {NISSHI_VERSION}) listening on {advertised}, data in {}",
            config.dir.display()
        );
        let health = supervisor.health();
        let (stop, stopped) = oneshot::channel();
        let controller = tokio::spawn(supervise(supervisor, stopped, config.stop_grace));
        Ok(EmbeddedBroker {
            bootstrap: advertised.to_string(),
            health,
            stop: Some(stop),
            controller: Some(controller),
        })
    }

    /// The address clients and replicas connect to (`host:port`).
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    pub fn health(&self) -> Health {
        self.health.clone()
    }

    /// Stops the broker: SIGTERM, SIGKILL after the grace; returns once it has exited.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(controller) = self.controller.take() {
            let _ = controller.await;
        }
    }
}

/// Restarts the broker whenever it exits, until `stopped` resolves (or its sender is dropped).
async fn supervise(
    mut supervisor: Supervisor,
    mut stopped: oneshot::Receiver<()>,
    grace: Duration,
) {
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            _ = supervisor.step() => {}
        }
    }
    supervisor.stop(grace).await;
    tracing::info!("embedded Kafka broker stopped");
}

/// The broker's program: the configured one; else `nisshi` on `PATH`; else where
/// `scripts/broker.sh` builds it (`$BELT_BROKER_CACHE` or `~/.cache/belt-api/broker`).
pub fn locate_program(configured: Option<&Path>) -> Result<PathBuf, BrokerError> {
    let missing = |looked: String| Err(BrokerError::ProgramMissing { looked });
    if let Some(configured) = configured {
        let found = if configured.components().count() == 1 {
            find_on_path(&configured.to_string_lossy())
        } else {
            Some(configured.to_path_buf()).filter(|path| path.is_file())
        };
        return found.map_or_else(|| missing(configured.display().to_string()), Ok);
    }
    if let Some(found) = find_on_path("nisshi") {
        return Ok(found);
    }
    let cached = cached_program();
    match cached {
        Some(path) if path.is_file() => Ok(path),
        Some(path) => missing(format!("nisshi on PATH, {}", path.display())),
        None => missing("nisshi on PATH; HOME is not set".into()),
    }
}

fn cached_program() -> Option<PathBuf> {
    let cache = match std::env::var_os("BELT_BROKER_CACHE") {
        Some(cache) => PathBuf::from(cache),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".cache/belt-api/broker"),
    };
    Some(cache.join(format!("nisshi-{NISSHI_VERSION}/bin/nisshi")))
}

/// `listen`, or with port 0 a free port: the previous run's when it is free, else any.
fn choose_address(listen: SocketAddr, dir: &Path) -> std::io::Result<SocketAddr> {
    if listen.port() != 0 {
        return Ok(listen);
    }
    let remembered = dir.join(PORT_FILE);
    let previous = std::fs::read_to_string(&remembered)
        .ok()
        .and_then(|text| text.trim().parse::<u16>().ok())
        .filter(|port| *port != 0)
        .and_then(|port| std::net::TcpListener::bind(SocketAddr::new(listen.ip(), port)).ok());
    let bound = match previous {
        Some(bound) => bound,
        None => std::net::TcpListener::bind(listen)?,
    };
    let address = bound.local_addr()?;
    drop(bound);
    std::fs::write(&remembered, address.port().to_string())?;
    Ok(address)
}

/// Where clients are told to connect: the listen address, or the loopback one of its family
/// when the broker listens on every interface.
fn advertised(listen: SocketAddr) -> SocketAddr {
    match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), listen.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), listen.port())
        }
        _ => listen,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_zero_picks_a_free_port_and_the_next_run_gets_it_again() {
        let dir = tempfile::tempdir().unwrap();
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let first = choose_address(any, dir.path()).unwrap();
        assert_ne!(first.port(), 0);
        assert_eq!(choose_address(any, dir.path()).unwrap(), first);
        let taken = std::net::TcpListener::bind(first).unwrap();
        let second = choose_address(any, dir.path()).unwrap();
        assert_ne!(second, first, "a busy remembered port is not reused");
        drop(taken);
        let fixed: SocketAddr = "127.0.0.1:9092".parse().unwrap();
        assert_eq!(choose_address(fixed, dir.path()).unwrap(), fixed);
    }

    #[test]
    fn an_unspecified_listen_address_is_advertised_as_loopback() {
        let all: SocketAddr = "0.0.0.0:9092".parse().unwrap();
        assert_eq!(advertised(all).to_string(), "127.0.0.1:9092");
        let one: SocketAddr = "127.0.0.2:9093".parse().unwrap();
        assert_eq!(advertised(one), one);
    }

    #[test]
    fn a_configured_program_that_does_not_exist_names_the_fix() {
        let err = locate_program(Some(Path::new("/nonexistent/nisshi")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/nisshi"), "{err}");
        assert!(err.contains("scripts/broker.sh"), "{err}");
        assert!(err.contains("BELT_KAFKA_BROKER=none"), "{err}");
    }
}
