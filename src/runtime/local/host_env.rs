//! The bundled Python belt host and the Python environment it runs in (docs/local-sandbox.md#the-belt-hosts-python-environment).
//!
//! The host's files are written to `<data_dir>/host/` at every start. When belt-api has a data
//! plane, the host needs a Kafka client: a virtualenv with the pinned [`HOST_REQUIREMENTS`] is
//! built once (by `python/host_env.py`, under a lock, a marker written last) and reused across
//! restarts; it is built again when the pinned list changes. Replicas then run
//! `<host env>/bin/python <data_dir>/host/belt_host.py`, and the sandbox binds the environment
//! read-only. Without a data plane the host only idles and plain `python3` runs it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;

use super::config::LocalConfig;
use super::process::Programs;
use super::sandbox::{Sandbox, Shared};

const HOST_DIR: &str = "host";
const HOST_MAIN: &str = "belt_host.py";
const WORKER_MAIN: &str = "belt_worker.py";
const HOST_FILES: &[(&str, &str)] = &[
    (HOST_MAIN, include_str!("python/belt_host.py")),
    (WORKER_MAIN, include_str!("python/belt_worker.py")),
    ("belt_lib.py", include_str!("python/belt_lib.py")),
    ("belt_frames.py", include_str!("python/belt_frames.py")),
    ("belt_profiles.py", include_str!("python/belt_profiles.py")),
    (
        "belt_requirements.py",
        include_str!("python/belt_requirements.py"),
    ),
    ("belt_kafka.py", include_str!("python/belt_kafka.py")),
    ("belt_settings.py", include_str!("python/belt_settings.py")),
    (
        "belt_worker_link.py",
        include_str!("python/belt_worker_link.py"),
    ),
    ("belt_invoke.py", include_str!("python/belt_invoke.py")),
];

/// What the host imports besides the standard library; confluent-kafka's wheels carry librdkafka.
pub const HOST_REQUIREMENTS: &str = "confluent-kafka==2.16.1\n";
/// Written last by a complete build, holding the pinned list it was built from.
const MARKER: &str = ".belt-host-env-complete";
const PREPARE: &str = include_str!("python/host_env.py");
/// Lines of the build's output kept for the error when it fails.
const KEPT_LINES: usize = 30;
/// The sandbox tenant the build runs as (belt ids start at 1, so no belt shares its uid).
const BUILD_TENANT: u64 = 0;

/// How each replica is started: the programs, and the paths under hidden places (the data dir)
/// the sandbox must bind back read-only for them.
pub(super) struct HostCommand {
    pub programs: Programs,
    pub readable: Vec<PathBuf>,
    /// The environment to [`prepare`] before a replica starts, when the command runs in one.
    pub env_dir: Option<PathBuf>,
}

/// Writes the host's files and answers the programs replicas run: the bundled host is a trusted
/// host (isolated mode, `-I`: no variable and no file of the work dir shapes its Python) and a
/// worker with the same Python. A configured command runs as given, alone; only its absolute
/// paths are made readable.
pub(super) fn host_command(config: &LocalConfig, data_dir: &Path) -> anyhow::Result<HostCommand> {
    let host = write_host(data_dir)?;
    let script = |name: &str| host.join(name).to_string_lossy().into_owned();
    let (python, env_dir) = match (&config.command, &config.host_env) {
        (Some(command), _) => {
            let programs = Programs {
                host: command.clone(),
                worker: None,
            };
            return Ok(readable_for(programs, host, None));
        }
        (None, Some(env_dir)) => {
            let env_dir = absolute(env_dir)?;
            // It must exist to be bound into the sandbox; `prepare` fills it.
            std::fs::create_dir_all(&env_dir)
                .with_context(|| format!("creating {}", env_dir.display()))?;
            let python = env_dir.join("bin").join("python");
            (python.to_string_lossy().into_owned(), Some(env_dir))
        }
        (None, None) => ("python3".to_string(), None),
    };
    let programs = Programs {
        host: vec![python.clone(), "-I".to_string(), script(HOST_MAIN)],
        worker: Some(vec![python, script(WORKER_MAIN)]),
    };
    Ok(readable_for(programs, host, env_dir))
}

fn readable_for(programs: Programs, host: PathBuf, env_dir: Option<PathBuf>) -> HostCommand {
    let command = &programs.host;
    // The command's own files may lie where the sandbox hides (the data dir, /tmp); the bundled
    // host imports its neighbour and the environment is a whole tree, so both are directories.
    let mut readable: Vec<PathBuf> = command
        .iter()
        .map(PathBuf::from)
        .filter(|p| p.is_absolute() && !p.starts_with(&host))
        .filter(|p| env_dir.as_ref().is_none_or(|env| !p.starts_with(env)))
        .collect();
    readable.push(host);
    readable.extend(env_dir.clone());
    HostCommand {
        programs,
        readable,
        env_dir,
    }
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))
}

/// Writes the bundled host into `<data_dir>/host/` and answers that directory. Each file goes via a
/// temporary one: a replica starting right now must not read half a script.
pub fn write_host(data_dir: &Path) -> anyhow::Result<PathBuf> {
    let host = data_dir.join(HOST_DIR);
    std::fs::create_dir_all(&host).with_context(|| format!("creating {}", host.display()))?;
    for (name, content) in HOST_FILES {
        let path = host.join(name);
        let temporary = host.join(format!("{name}.tmp"));
        std::fs::write(&temporary, content)
            .and_then(|()| std::fs::rename(&temporary, &path))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(host)
}

/// Whether `env_dir` holds a complete build of the current pinned list.
fn is_prepared(env_dir: &Path) -> bool {
    std::fs::read_to_string(env_dir.join(MARKER)).is_ok_and(|built| built == HOST_REQUIREMENTS)
}

/// Builds the environment at `env_dir` unless a complete build of the pinned list is there. Blocks
/// (a first build downloads the packages: seconds to a minute); its progress goes to the log.
///
/// The build runs in the replicas' sandbox (as a tenant of its own, `work_dir` its cwd), so the
/// environment is made from the `python3` replicas see: a Python under a directory the sandbox
/// hides (pyenv under `/root`) would leave a virtualenv whose interpreter replicas cannot run.
pub(super) fn prepare(
    env_dir: &Path,
    sandbox: &Arc<Sandbox>,
    work_dir: &Path,
) -> anyhow::Result<()> {
    let shown = env_dir.display();
    if is_prepared(env_dir) {
        tracing::info!(env = %shown, "reusing the belt host's Python environment");
        return Ok(());
    }
    let started = Instant::now();
    tracing::info!(
        env = %shown,
        requirements = HOST_REQUIREMENTS.trim(),
        "preparing the belt host's Python environment …"
    );
    let mut child = spawn_build(env_dir, sandbox, work_dir)?;
    let kept = relay(&mut child, &shown.to_string());
    let status = child.wait().context("waiting for the preparation")?;
    if !status.success() || !is_prepared(env_dir) {
        anyhow::bail!(
            "preparing the belt host's Python environment at {shown} failed ({status}); it needs \
             python3 with venv and pip, and PyPI (or a configured index) for {}. Set \
             BELT_LOCAL_HOST_ENV to a prepared one, or BELT_KAFKA_BROKER=none for no data plane. \
             Last output:\n{}",
            HOST_REQUIREMENTS.trim(),
            kept.join("\n")
        );
    }
    tracing::info!(
        env = %shown,
        seconds = started.elapsed().as_secs_f32(),
        "the belt host's Python environment is ready"
    );
    Ok(())
}

/// Starts `python/host_env.py` in a sandbox cell whose only writable paths are the environment,
/// its lock and `work_dir`.
fn spawn_build(
    env_dir: &Path,
    sandbox: &Arc<Sandbox>,
    work_dir: &Path,
) -> anyhow::Result<std::process::Child> {
    std::fs::create_dir_all(work_dir)
        .with_context(|| format!("creating {}", work_dir.display()))?;
    let mut lock = env_dir.as_os_str().to_owned();
    lock.push(".lock");
    let cell = sandbox.cell(
        BUILD_TENANT,
        vec![
            Shared::Dir(env_dir.to_path_buf()),
            Shared::File(lock.into()),
        ],
    );
    let args = ["-c", PREPARE, &env_dir.to_string_lossy(), HOST_REQUIREMENTS].map(String::from);
    let env = [
        ("PATH", std::env::var("PATH").unwrap_or_default()),
        ("HOME", work_dir.to_string_lossy().into_owned()),
    ];
    let mut command = cell
        .command(work_dir, "python3", &args, env)
        .context("preparing the sandbox to build the belt host's Python environment")?;
    command
        .as_std_mut()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting python3 to prepare the belt host's Python environment")
}

/// Logs the build's output (stdout and stderr) as it comes; answers its last lines.
fn relay(child: &mut std::process::Child, shown: &str) -> Vec<String> {
    let stderr = child.stderr.take().map(|stderr| {
        let shown = shown.to_string();
        std::thread::spawn(move || {
            BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
                .for_each(|line| tracing::warn!(env = %shown, "preparing: {line}"))
        })
    });
    let mut kept = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            tracing::info!(env = %shown, "preparing the belt host's Python environment: {line}");
            kept.push(line);
            if kept.len() > KEPT_LINES {
                kept.remove(0);
            }
        }
    }
    if let Some(stderr) = stderr {
        let _ = stderr.join();
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_of_another_pinned_list_is_not_a_prepared_environment() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_prepared(dir.path()));
        std::fs::write(dir.path().join(MARKER), "confluent-kafka==1.0.0\n").unwrap();
        assert!(!is_prepared(dir.path()));
        std::fs::write(dir.path().join(MARKER), HOST_REQUIREMENTS).unwrap();
        assert!(is_prepared(dir.path()));
    }

    #[test]
    fn a_configured_command_runs_as_given_and_prepares_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let env_dir = dir.path().join("never-built");
        let config = LocalConfig {
            command: Some(vec!["/opt/belt/run".into(), "--fast".into()]),
            host_env: Some(env_dir.clone()),
            ..LocalConfig::for_tests(dir.path())
        };
        let host = host_command(&config, dir.path()).unwrap();
        assert_eq!(host.programs.host, ["/opt/belt/run", "--fast"]);
        assert_eq!(host.programs.worker, None);
        assert!(!env_dir.exists());
        assert!(host.readable.contains(&PathBuf::from("/opt/belt/run")));
        assert!(dir.path().join("host/belt_lib.py").is_file());
    }
}
