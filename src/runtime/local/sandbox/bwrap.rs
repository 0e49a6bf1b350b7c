//! The bubblewrap command line that confines a program (docs/local-sandbox.md).

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::files::{find_program, outermost_closed_ancestor};
use super::{Cell, INSTALL_HINT, SETTING};

#[derive(Debug)]
pub(super) struct Bwrap {
    program: PathBuf,
    /// `env`, which sets SIGTERM's disposition around bwrap and inside the sandbox.
    env: PathBuf,
    /// `setpriv`, which drops to the tenant's uid inside the sandbox; `None` unless root.
    pub(super) setpriv: Option<PathBuf>,
    pub(super) uid_base: u32,
    /// Covered by an empty tmpfs: the data dir (or, under another uid, the highest of its
    /// ancestors that uid could not enter anyway), `/tmp`, `/run`.
    hidden: Vec<PathBuf>,
    /// Files and directories bound read-only at their own path: what the command needs from
    /// hidden places (the belt host, its Python environment).
    readable: Vec<PathBuf>,
    /// `/etc/resolv.conf` when it points into `/run` (systemd-resolved): bound back read-only so
    /// that names still resolve.
    resolver: Option<PathBuf>,
}

impl Bwrap {
    /// Finds the programs the sandbox needs. `check_dir` (created by this process, under the
    /// canonical `data_dir`) tells whether belt-api runs as root.
    pub(super) fn find(
        program: &Path,
        uid_base: u32,
        data_dir: &Path,
        check_dir: &Path,
        readable: Vec<PathBuf>,
    ) -> anyhow::Result<Bwrap> {
        let shown = program.display();
        let program = find_program(program).with_context(|| {
            format!("{SETTING}=bwrap: bubblewrap (`{shown}`) was not found; {INSTALL_HINT}")
        })?;
        let env = find_program(Path::new("env"))
            .with_context(|| format!("{SETTING}=bwrap: `env` (coreutils) was not found"))?;
        // What this process creates belongs to its filesystem uid.
        let root = std::fs::metadata(check_dir)?.uid() == 0;
        let setpriv = if root {
            Some(find_program(Path::new("setpriv")).with_context(|| {
                format!(
                    "{SETTING}=bwrap: belt-api runs as root, so replicas run as uids of their \
                     own, which needs `setpriv` (Debian: `apt-get install -y util-linux`)"
                )
            })?)
        } else {
            None
        };
        let mut hidden = vec![PathBuf::from("/tmp"), PathBuf::from("/run")];
        hidden.push(if root {
            outermost_closed_ancestor(data_dir).unwrap_or_else(|| data_dir.to_path_buf())
        } else {
            data_dir.to_path_buf()
        });
        hidden.extend(homes(std::env::var_os("HOME").map(PathBuf::from)));
        hidden.sort_by_key(|path| path.components().count());
        hidden.dedup();
        let resolver = std::fs::canonicalize("/etc/resolv.conf")
            .ok()
            .filter(|path| path.starts_with("/run"));
        // A directory is bound whole (the bundled host's), unless it holds a hidden path:
        // binding the data dir itself would undo the hiding.
        let readable = readable
            .into_iter()
            .filter(|path| {
                path.is_file() || (path.is_dir() && !hidden.iter().any(|h| h.starts_with(path)))
            })
            .collect();
        Ok(Bwrap {
            program,
            env,
            setpriv,
            uid_base,
            hidden,
            readable,
            resolver,
        })
    }

    pub(super) fn program(&self) -> &Path {
        &self.program
    }

    pub(super) fn readable(&self) -> &[PathBuf] {
        &self.readable
    }

    /// What to execute for `program args` in `cell`, run as `uid` when given: `env`, which
    /// starts bwrap, which starts the program.
    pub(super) fn argv(
        &self,
        cell: &Cell,
        work_dir: &Path,
        program: &str,
        args: &[String],
        uid: Option<u32>,
    ) -> (PathBuf, Vec<OsString>) {
        let mut argv = namespaces(&self.program, cell.tmpfs_bytes);
        if cell.offline {
            // bwrap brings the new namespace's loopback up; nothing else is in it.
            argv.push("--unshare-net".into());
        }
        self.hide(&mut argv, cell.tmpfs_bytes);
        self.bind(&mut argv, cell, work_dir);
        argv.extend(["--chdir".into(), work_dir.into(), "--".into()]);
        if let (Some(setpriv), Some(uid)) = (&self.setpriv, uid) {
            argv.extend(drop_privileges(setpriv, uid));
        }
        argv.extend([
            self.env.clone().into(),
            "--default-signal=TERM".into(),
            "--".into(),
        ]);
        argv.push(program.into());
        argv.extend(args.iter().map(OsString::from));
        (self.env.clone(), argv)
    }

    /// An empty tmpfs over each hidden path; `/tmp` of `tmpfs_bytes` when given.
    fn hide(&self, argv: &mut Vec<OsString>, tmpfs_bytes: Option<u64>) {
        for hidden in &self.hidden {
            let perms = if hidden == Path::new("/tmp") {
                argv.extend(sized(tmpfs_bytes));
                "1777"
            } else {
                "0755"
            };
            argv.extend([
                "--perms".into(),
                perms.into(),
                "--tmpfs".into(),
                hidden.into(),
            ]);
        }
    }

    /// Binds back what the program may see under the hidden paths, then makes the hidden paths
    /// read-only again.
    fn bind(&self, argv: &mut Vec<OsString>, cell: &Cell, work_dir: &Path) {
        let mut bound: Vec<(&str, &Path)> = Vec::new();
        if let Some(resolver) = &self.resolver {
            bound.push(("--ro-bind", resolver));
        }
        bound.extend(
            self.readable
                .iter()
                .map(|path| ("--ro-bind", path.as_path())),
        );
        bound.extend(cell.shared.iter().map(|shared| {
            let how = if shared.writable() {
                "--bind"
            } else {
                "--ro-bind"
            };
            (how, shared.path())
        }));
        bound.push(("--bind", work_dir));
        for parent in self.hidden_parents(&bound) {
            argv.extend([
                "--perms".into(),
                "0755".into(),
                "--dir".into(),
                parent.into(),
            ]);
        }
        for (how, path) in bound {
            argv.extend([how.into(), path.into(), path.into()]);
        }
        // A write next to the work dir fails instead of landing on a throwaway tmpfs.
        for hidden in self
            .hidden
            .iter()
            .filter(|hidden| *hidden != Path::new("/tmp"))
        {
            argv.extend(["--remount-ro".into(), hidden.into()]);
        }
    }

    /// The parents of bound paths inside hidden ones: bwrap would create them 0700, which
    /// another uid cannot pass through.
    fn hidden_parents<'a>(&self, bound: &[(&str, &'a Path)]) -> BTreeSet<&'a Path> {
        bound
            .iter()
            .flat_map(|(_, path)| path.ancestors().skip(1))
            .filter(|parent| {
                self.hidden
                    .iter()
                    .any(|hidden| parent.starts_with(hidden) && parent != hidden)
            })
            .collect()
    }
}

/// Home directories, covered like the data dir: belt-api's user keeps its CLI config (with a
/// token) and `~/.kube/config` there, and an unprivileged belt-api's replicas share its uid, so
/// file permissions would not keep them out. `/home`, `/root` and belt-api's own `$HOME`, unless
/// that home is a system directory a program needs (`/` or an ancestor of `/usr` or `/etc`).
/// Ancestors sort first, so a data dir inside a home is mounted after the home's tmpfs.
fn homes(own: Option<PathBuf>) -> Vec<PathBuf> {
    let own = own
        .and_then(|home| std::fs::canonicalize(home).ok())
        .filter(|home| {
            !Path::new("/usr").starts_with(home) && !Path::new("/etc").starts_with(home)
        });
    [PathBuf::from("/home"), PathBuf::from("/root")]
        .into_iter()
        .chain(own)
        .filter(|home| home.is_dir())
        .collect()
}

/// `--size` for the next `--tmpfs` (bwrap 0.8 and later), when a size is asked for.
fn sized(tmpfs_bytes: Option<u64>) -> Vec<OsString> {
    tmpfs_bytes
        .map(|bytes| vec!["--size".into(), bytes.to_string().into()])
        .unwrap_or_default()
}

/// `env` ignoring SIGTERM around bwrap, and bwrap's namespaces and fresh `/dev`, `/proc`, with
/// `/dev/shm` of `tmpfs_bytes` when given.
fn namespaces(bwrap: &Path, tmpfs_bytes: Option<u64>) -> Vec<OsString> {
    let mut argv: Vec<OsString> = [
        "--ignore-signal=TERM".into(),
        bwrap.into(),
        "--die-with-parent".into(),
        "--unshare-pid".into(),
        "--unshare-ipc".into(),
        "--unshare-uts".into(),
        "--unshare-cgroup-try".into(),
        "--ro-bind".into(),
        "/".into(),
        "/".into(),
        "--dev".into(),
        "/dev".into(),
        "--proc".into(),
        "/proc".into(),
        "--perms".into(),
        "1777".into(),
    ]
    .into();
    argv.extend(sized(tmpfs_bytes));
    argv.extend([
        "--tmpfs".into(),
        "/dev/shm".into(),
        // The sandbox stays in belt-api's session (so that stopping its process group reaches
        // the program): without its controlling terminal, it cannot inject input into the
        // operator's shell (TIOCSTI). A bound node is `nodev`: opening it fails.
        "--ro-bind".into(),
        "/dev/null".into(),
        "/dev/tty".into(),
    ]);
    argv
}

/// `setpriv` to the tenant's uid and gid, without groups or capabilities.
fn drop_privileges(setpriv: &Path, uid: u32) -> [OsString; 8] {
    [
        setpriv.into(),
        format!("--reuid={uid}").into(),
        format!("--regid={uid}").into(),
        "--clear-groups".into(),
        "--inh-caps=-all".into(),
        "--bounding-set=-all".into(),
        "--no-new-privs".into(),
        "--".into(),
    ]
}
