//! Finding where this belt-api may make cgroups for its runs: its own cgroup (from
//! `/proc/self/cgroup`) in the hierarchies mounted on this machine (`/proc/self/mountinfo`).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{remove_tree, Cgroups, Version};

/// `BELT_INVOKE_CGROUP`: `auto`, `none`, or a cgroup v2 directory delegated to belt-api.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupSetting {
    Auto,
    None,
    Delegated(PathBuf),
}

impl std::str::FromStr for CgroupSetting {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "auto" => Ok(CgroupSetting::Auto),
            "none" => Ok(CgroupSetting::None),
            path if path.starts_with('/') => Ok(CgroupSetting::Delegated(PathBuf::from(path))),
            _ => Err("must be `auto`, `none` or an absolute path to a cgroup v2 directory".into()),
        }
    }
}

/// One belt-api process may build several invokers (the tests do): each gets its own directory.
static INSTANCES: AtomicU64 = AtomicU64::new(0);

const PREFIX: &str = "belt-invoke-";

/// A fresh directory of this belt-api's under `parent`, after removing those of belt-apis that
/// are gone (a crash leaves them behind).
fn own_dir_under(parent: &Path) -> io::Result<PathBuf> {
    if let Ok(entries) = std::fs::read_dir(parent) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let pid = name
                .strip_prefix(PREFIX)
                .and_then(|rest| rest.split('-').next());
            if pid.is_some_and(|pid| !Path::new("/proc").join(pid).exists()) {
                remove_tree(&entry.path(), false);
            }
        }
    }
    let n = INSTANCES.fetch_add(1, Ordering::Relaxed);
    let dir = parent.join(format!("{PREFIX}{}-{n}", std::process::id()));
    std::fs::create_dir(&dir)?;
    Ok(dir)
}

/// A mounted hierarchy: its mount point, the cgroup path its root is, and its type/options.
struct Mount {
    point: PathBuf,
    root: String,
    v2: bool,
    options: String,
}

fn mounts() -> Vec<Mount> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let dash = fields.iter().position(|f| *f == "-")?;
            let fstype = *fields.get(dash + 1)?;
            if fstype != "cgroup" && fstype != "cgroup2" {
                return None;
            }
            Some(Mount {
                point: PathBuf::from(fields.get(4)?),
                root: fields.get(3)?.to_string(),
                v2: fstype == "cgroup2",
                options: fields
                    .get(dash + 3)
                    .copied()
                    .unwrap_or_default()
                    .to_string(),
            })
        })
        .collect()
}

/// This process's cgroup path in the hierarchy whose controllers are `controller` ("" for v2).
fn own_path(controller: &str) -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, names, path) = (parts.next()?, parts.next()?, parts.next()?);
        let matches = if controller.is_empty() {
            names.is_empty()
        } else {
            names.split(',').any(|name| name == controller)
        };
        matches.then(|| path.to_string())
    })
}

/// The directory of this process's cgroup under `mount`.
fn own_dir(mount: &Mount, path: &str) -> PathBuf {
    let relative = path
        .strip_prefix(mount.root.as_str())
        .unwrap_or(path)
        .trim_start_matches('/');
    mount.point.join(relative)
}

fn v1_dir(mounts: &[Mount], controller: &str) -> Option<PathBuf> {
    let mount = mounts
        .iter()
        .find(|m| !m.v2 && m.options.split(',').any(|option| option == controller))?;
    Some(own_dir(mount, &own_path(controller)?))
}

fn controllers(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default()
}

fn has_memory_and_pids(dir: &Path) -> bool {
    let available = controllers(dir);
    ["memory", "pids"]
        .iter()
        .all(|wanted| available.split_whitespace().any(|c| c == *wanted))
}

fn enable(dir: &Path) -> io::Result<()> {
    std::fs::write(dir.join("cgroup.subtree_control"), "+memory +pids")
}

/// Under a v2 `parent` with memory and pids available: our own directory, whose children get
/// both. A parent that holds processes cannot hand controllers down ("no internal processes"):
/// belt-api's own cgroup then moves belt-api into a leaf of its own first.
fn v2_under(parent: &Path, own: bool) -> io::Result<PathBuf> {
    if !has_memory_and_pids(parent) {
        return Err(io::Error::other(format!(
            "{} has no memory and pids controllers",
            parent.display()
        )));
    }
    if enable(parent).is_err() && own {
        let leaf = parent.join("belt-api");
        std::fs::create_dir_all(&leaf)?;
        std::fs::write(leaf.join("cgroup.procs"), "0")?;
        enable(parent)?;
    }
    let dir = own_dir_under(parent)?;
    if let Err(err) = enable(&dir).and_then(|()| {
        has_memory_and_pids(&dir)
            .then_some(())
            .ok_or_else(|| io::Error::other("controllers were not handed down"))
    }) {
        let _ = std::fs::remove_dir(&dir);
        return Err(err);
    }
    Ok(dir)
}

fn v1() -> io::Result<Cgroups> {
    let mounts = mounts();
    let memory = v1_dir(&mounts, "memory")
        .ok_or_else(|| io::Error::other("no cgroup v1 memory hierarchy"))?;
    let memory = own_dir_under(&memory)?;
    if !memory.join("memory.limit_in_bytes").is_file() {
        let _ = std::fs::remove_dir(&memory);
        return Err(io::Error::other("no memory.limit_in_bytes"));
    }
    let pids = v1_dir(&mounts, "pids").and_then(|dir| own_dir_under(&dir).ok());
    Ok(Cgroups::new(Version::V1, memory, pids))
}

fn v2_auto() -> io::Result<Cgroups> {
    let mounts = mounts();
    let mount = mounts
        .iter()
        .find(|m| m.v2)
        .ok_or_else(|| io::Error::other("no cgroup2 mount"))?;
    let path = own_path("").ok_or_else(|| io::Error::other("no cgroup v2 path"))?;
    let dir = v2_under(&own_dir(mount, &path), true)?;
    Ok(Cgroups::new(Version::V2, dir, None))
}

/// The cgroups runs get under `setting`, or why there are none.
pub(in crate::invoke) fn detect(setting: &CgroupSetting) -> Result<Cgroups, String> {
    match setting {
        CgroupSetting::None => Err("BELT_INVOKE_CGROUP=none".into()),
        CgroupSetting::Delegated(parent) => v2_under(parent, false)
            .map(|dir| Cgroups::new(Version::V2, dir, None))
            .map_err(|err| format!("{}: {err}", parent.display())),
        CgroupSetting::Auto => {
            v2_auto().or_else(|v2| v1().map_err(|v1| format!("cgroup v2: {v2}; cgroup v1: {v1}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_parses() {
        assert_eq!("auto".parse(), Ok(CgroupSetting::Auto));
        assert_eq!("none".parse(), Ok(CgroupSetting::None));
        assert_eq!(
            "/sys/fs/cgroup/belt".parse(),
            Ok(CgroupSetting::Delegated(PathBuf::from(
                "/sys/fs/cgroup/belt"
            )))
        );
        assert!("relative/dir".parse::<CgroupSetting>().is_err());
    }

    #[test]
    fn a_cgroup_path_is_found_under_the_mount_of_its_root() {
        let mount = Mount {
            point: PathBuf::from("/sys/fs/cgroup/memory"),
            root: "/".into(),
            v2: false,
            options: "rw,memory".into(),
        };
        assert_eq!(
            own_dir(&mount, "/process_api/abc"),
            PathBuf::from("/sys/fs/cgroup/memory/process_api/abc")
        );
        let bound = Mount {
            root: "/docker/xyz".into(),
            ..mount
        };
        assert_eq!(
            own_dir(&bound, "/docker/xyz/inner"),
            PathBuf::from("/sys/fs/cgroup/memory/inner")
        );
    }

    #[test]
    fn a_v2_directory_without_the_controllers_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cgroup.controllers"), "cpu io\n").unwrap();
        assert!(v2_under(dir.path(), false).is_err());
    }
}
