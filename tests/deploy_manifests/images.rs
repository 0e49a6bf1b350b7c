//! The Dockerfiles, read: no image can be built on this machine (no registry for the base images,
//! no container daemon; README.md says what was and was not built), so what can be checked
//! without building is: a non-root numeric user, an exec-form entrypoint, the OCI labels, and every
//! file a COPY takes from the repository existing there.

use std::path::Path;

use crate::render::repository;

pub const BELT_API: &str = "Dockerfile";
pub const BELT_RUNTIME: &str = "images/belt-runtime/Dockerfile";

const OCI_LABELS: &[&str] = &[
    "org.opencontainers.image.title",
    "org.opencontainers.image.description",
    "org.opencontainers.image.version",
    "org.opencontainers.image.revision",
    "org.opencontainers.image.licenses",
];

/// One instruction: its keyword (upper case) and its arguments, continuation lines joined.
#[derive(Debug, Clone)]
pub struct Instruction {
    pub keyword: String,
    pub arguments: String,
}

/// The instructions from one FROM to the next.
#[derive(Debug, Clone)]
pub struct Stage {
    pub instructions: Vec<Instruction>,
}

pub struct Dockerfile {
    pub path: String,
    pub stages: Vec<Stage>,
}

pub fn belt_api() -> Dockerfile {
    read(BELT_API)
}

pub fn belt_runtime() -> Dockerfile {
    read(BELT_RUNTIME)
}

pub fn read(path: &str) -> Dockerfile {
    let text = std::fs::read_to_string(repository().join(path)).unwrap();
    let mut stages: Vec<Stage> = Vec::new();
    let mut logical = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && logical.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => logical.push_str(part),
            None => {
                logical.push_str(trimmed);
                let (keyword, arguments) = logical.split_once(' ').unwrap_or((&logical, ""));
                let instruction = Instruction {
                    keyword: keyword.to_uppercase(),
                    arguments: arguments.trim().to_string(),
                };
                if instruction.keyword == "FROM" {
                    stages.push(Stage {
                        instructions: Vec::new(),
                    });
                }
                if let Some(stage) = stages.last_mut() {
                    stage.instructions.push(instruction);
                }
                logical.clear();
            }
        }
    }
    Dockerfile {
        path: path.to_string(),
        stages,
    }
}

impl Dockerfile {
    pub fn final_stage(&self) -> &Stage {
        self.stages.last().expect("a FROM")
    }
}

impl Stage {
    fn all(&self, keyword: &str) -> impl Iterator<Item = &str> {
        let keyword = keyword.to_string();
        self.instructions
            .iter()
            .filter(move |i| i.keyword == keyword)
            .map(|i| i.arguments.as_str())
    }

    fn last(&self, keyword: &str) -> Option<&str> {
        self.all(keyword).last()
    }

    /// USER as numbers: the kubelet can check runAsNonRoot only on a numeric uid.
    pub fn user(&self) -> (u32, u32) {
        let user = self.last("USER").expect("a USER");
        let (uid, gid) = user.split_once(':').expect("USER uid:gid");
        let number = |n: &str| n.parse::<u32>().unwrap_or_else(|_| panic!("USER {user}"));
        (number(uid), number(gid))
    }

    /// ENTRYPOINT in exec form (a JSON array): no shell between the runtime and the program,
    /// which gets the kubelet's SIGTERM itself.
    pub fn entrypoint(&self) -> Vec<String> {
        let entrypoint = self.last("ENTRYPOINT").expect("an ENTRYPOINT");
        serde_json::from_str(entrypoint).expect("ENTRYPOINT in exec form")
    }

    pub fn exposed(&self) -> Vec<i32> {
        self.all("EXPOSE")
            .flat_map(str::split_whitespace)
            .map(|port| port.trim_end_matches("/tcp").parse().unwrap())
            .collect()
    }

    /// LABEL key="value" pairs (values may hold spaces inside their quotes).
    pub fn labels(&self) -> Vec<(String, String)> {
        let mut labels = Vec::new();
        for arguments in self.all("LABEL") {
            let mut rest = arguments.trim();
            while let Some((key, after)) = rest.split_once("=\"") {
                let (value, after) = after.split_once('"').expect("a closing quote");
                labels.push((key.trim().to_string(), value.to_string()));
                rest = after.trim();
            }
        }
        labels
    }

    /// (sources, destination) of each COPY from the build context (not `--from` another stage).
    pub fn copies(&self) -> Vec<(Vec<String>, String)> {
        self.all("COPY")
            .map(|arguments| arguments.split_whitespace().collect::<Vec<_>>())
            .filter(|words| !words.iter().any(|w| w.starts_with("--from")))
            .map(|words| {
                let words: Vec<_> = words.into_iter().filter(|w| !w.starts_with("--")).collect();
                let (destination, sources) = words.split_last().expect("COPY src dst");
                (
                    sources.iter().map(|s| s.to_string()).collect(),
                    destination.to_string(),
                )
            })
            .collect()
    }
}

/// The repository files a COPY source names: one file, a directory, or `dir/*.ext`.
pub fn sources(source: &str) -> Vec<std::path::PathBuf> {
    let root = repository();
    match source.rsplit_once("/*") {
        Some((dir, suffix)) => std::fs::read_dir(root.join(dir))
            .map(|entries| {
                entries
                    .map(|e| e.unwrap().path())
                    .filter(|p| p.to_string_lossy().ends_with(suffix))
                    .collect()
            })
            .unwrap_or_default(),
        None => Some(root.join(source))
            .filter(|p| p.exists())
            .into_iter()
            .collect(),
    }
}

#[test]
fn both_images_run_as_a_numeric_non_root_user_with_an_exec_entrypoint_and_oci_labels() {
    for dockerfile in [belt_api(), belt_runtime()] {
        let path = &dockerfile.path;
        let stage = dockerfile.final_stage();
        let (uid, gid) = stage.user();
        assert!(uid > 0 && gid > 0, "{path}: root");
        assert!(!stage.entrypoint().is_empty(), "{path}");
        let labels = stage.labels();
        for wanted in OCI_LABELS {
            let value = labels.iter().find(|(key, _)| key == wanted).map(|(_, v)| v);
            assert!(value.is_some_and(|v| !v.is_empty()), "{path}: no {wanted}");
        }
        for (sources, _) in dockerfile.stages.iter().flat_map(Stage::copies) {
            for source in &sources {
                assert!(
                    !self::sources(source).is_empty(),
                    "{path}: COPY {source} is missing"
                );
            }
        }
    }
}

#[test]
fn belt_api_is_built_in_one_stage_and_runs_serve_from_another() {
    let dockerfile = belt_api();
    assert!(
        dockerfile.stages.len() >= 2,
        "a builder stage and a runtime stage"
    );
    let stage = dockerfile.final_stage();
    let entrypoint = stage.entrypoint();
    let program = Path::new(&entrypoint[0])
        .file_name()
        .and_then(|name| name.to_str());
    assert_eq!(program, Some("belt-api"));
    assert_eq!(entrypoint[1..], ["serve"]);
    let binary = stage
        .all("COPY")
        .any(|c| c.contains("--from=builder") && c.ends_with(&entrypoint[0]));
    assert!(
        binary,
        "the entrypoint is the binary copied from the builder"
    );
}

#[test]
fn the_runtime_image_pins_the_kafka_client_the_local_runtime_pins() {
    let host_env =
        std::fs::read_to_string(repository().join("src/runtime/local/host_env.rs")).unwrap();
    let pinned = host_env
        .split("HOST_REQUIREMENTS: &str = \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("HOST_REQUIREMENTS in host_env.rs");
    let installs: String = belt_runtime().final_stage().all("RUN").collect();
    for requirement in pinned.split("\\n").filter(|r| !r.is_empty()) {
        assert!(
            installs.contains(&format!("\"{requirement}\"")),
            "{requirement} is not installed"
        );
    }
}
