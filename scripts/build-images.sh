#!/usr/bin/env bash
# Builds both images from their Dockerfiles without a registry or a container daemon, then checks
# what the cluster relies on: each image's config (a numeric non-root user, the exec-form
# entrypoint, the OCI labels), and that each runs: a belt in the belt runtime image, started by its
# entrypoint as its user with the belt's files at /belt as the Kubernetes runtime mounts them; and
# belt-api's binary in its image, as its user.
#
# The base images cannot be pulled here, so stand-ins are made from Debian packages (mmdebstrap)
# and handed to the Dockerfiles as PYTHON_IMAGE (python3 with its venv module, for
# `python:3.12-slim-bookworm`) and RUNTIME_IMAGE (glibc, libssl3, CA certificates, for distroless
# cc). The runtime image's own steps run as written (pip installs from PyPI). belt-api's builder
# stage needs the Rust image and a release build far beyond this machine's CI time: its output is
# handed in instead (`--build-context builder=…`), a belt-api binary built on this machine
# (BELT_API_BINARY, default target/debug/belt-api: `cargo build --bin belt-api` first).
#
# Needs: buildah and mmdebstrap (`apt-get install buildah mmdebstrap`), root. Not run by .ci/run
# (a minute or two, and 450 MB of base images); README.md, "Install on Kubernetes", says what it
# showed.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in buildah mmdebstrap; do
  if ! command -v "$tool" >/dev/null; then
    echo "scripts/build-images.sh needs $tool: apt-get install buildah mmdebstrap" >&2
    exit 1
  fi
done

cache="${BELT_IMAGE_CACHE:-$HOME/.cache/belt-api/images}"
mkdir -p "$cache"
revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
# vfs: no overlay mounts, which a build inside a container often may not make.
b() { buildah --storage-driver vfs "$@"; }

# base NAME PACKAGES: a Debian bookworm image of those packages, made once.
base() {
  local name=$1 packages=$2 rootfs
  if b inspect --type image "$name" >/dev/null 2>&1; then
    return
  fi
  rootfs="$cache/$(basename "${name%%:*}")-bookworm.tar"
  if [ ! -f "$rootfs" ]; then
    echo "== a Debian bookworm root with $packages (mmdebstrap)"
    mmdebstrap --variant=minbase --include="$packages" bookworm "$rootfs.tmp" \
      http://deb.debian.org/debian
    mv "$rootfs.tmp" "$rootfs"
  fi
  local ctr
  ctr=$(b from scratch)
  b add "$ctr" "$rootfs" / >/dev/null
  b config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$ctr"
  b commit --rm "$ctr" "$name" >/dev/null
}

# checked IMAGE: checks its config; prints its user, then its entrypoint and command a word a line.
checked() {
  b inspect --type image "$1" >"$cache/config.json"
  python3 - "$cache/config.json" <<'EOF'
import json, sys
config = json.load(open(sys.argv[1]))["OCIv1"]["config"]
uid, _, gid = config["User"].partition(":")
assert uid.isdigit() and gid.isdigit() and int(uid) > 0, f"User {config['User']}"
assert config["Entrypoint"] and config["Entrypoint"][0].startswith("/"), config["Entrypoint"]
labels = config.get("Labels") or {}
for key in ("title", "description", "version", "revision", "licenses"):
    assert labels.get(f"org.opencontainers.image.{key}"), f"no label {key}"
print(f"user {config['User']}, entrypoint {config['Entrypoint']}, command {config.get('Cmd')}",
      file=sys.stderr)
print(config["User"])
for word in config["Entrypoint"] + (config.get("Cmd") or []):
    print(word)
EOF
}

# Behind a TLS-intercepting proxy the build's pip must trust what this machine trusts: its CA
# bundle and pip settings are mounted for the RUN steps only, and stay out of the image.
mounts=()
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  mounts+=(-v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro)
fi
if [ -f /etc/pip.conf ]; then
  mounts+=(-v /etc/pip.conf:/etc/pip.conf:ro)
fi

containers=()
scratch=$(mktemp -d)
trap 'for c in "${containers[@]}"; do b rm "$c" >/dev/null; done; rm -rf "$scratch"' EXIT

runtime_image() {
  local image=localhost/grnry-belt:dev python=localhost/belt-base/debian-python3:bookworm
  base "$python" python3,python3-venv,ca-certificates
  echo "== buildah bud -f images/belt-runtime/Dockerfile"
  # The previous build goes, rather than staying behind untagged.
  b rmi "$image" >/dev/null 2>&1 || true
  b bud --isolation chroot --layers=false --pull=never "${mounts[@]}" \
    --build-arg PYTHON_IMAGE="$python" --build-arg REVISION="$revision" \
    -f images/belt-runtime/Dockerfile -t "$image" . >"$cache/build.log" 2>&1 ||
    { cat "$cache/build.log" >&2; exit 1; }
  local run user ctr code log
  readarray -t run < <(checked "$image")
  user=${run[0]}
  ctr=$(b from "$image")
  containers+=("$ctr")
  echo "== its Kafka client, as $user"
  b run --isolation chroot --user "$user" "$ctr" -- python3 -c \
    'import confluent_kafka, os; print("confluent-kafka", confluent_kafka.version(), "librdkafka", confluent_kafka.libversion()[0], "uid", os.getuid())'
  echo "== a belt run by the entrypoint (no Kafka: it gets ready and idles; stopped after 8 s)"
  code="$scratch/belt"
  mkdir "$code"
  printf 'def execute(headers, event):\n    return []\n' >"$code/callback.py"
  : >"$code/requirements.txt"
  # World-readable, as a ConfigMap volume's files are: the image's user is not this script's.
  chmod 0755 "$code" && chmod 0644 "$code"/*
  log="$cache/belt.log"
  timeout 8 buildah --storage-driver vfs run --isolation chroot --user "$user" \
    -v "$code:/belt:ro" -e BELT_ID=1 -e BELT_VERSION=1 -e BELT_HOST_IDLE_SECONDS=1 \
    "$ctr" -- "${run[@]:1}" >"$log" 2>&1 || true
  cat "$log"
  grep -q "belt-host: ready" "$log" && grep -q "No new messages" "$log" ||
    { echo "the belt did not get ready in the image" >&2; exit 1; }
  echo "== $image: built, configured as checked, runs a belt"
}

belt_api_image() {
  local image=localhost/belt-api:dev runtime=localhost/belt-base/debian-cc:bookworm
  local binary="${BELT_API_BINARY:-target/debug/belt-api}"
  if [ ! -x "$binary" ]; then
    echo "no belt-api binary at $binary: cargo build --bin belt-api, or set BELT_API_BINARY" >&2
    exit 1
  fi
  base "$runtime" libssl3,ca-certificates
  # What the builder stage leaves in /out.
  mkdir -p "$scratch/builder/out/data"
  cp "$binary" "$scratch/builder/out/belt-api"
  echo "== buildah bud -f Dockerfile (the builder stage's /out from $binary)"
  b rmi "$image" >/dev/null 2>&1 || true
  b bud --isolation chroot --layers=false --pull=never \
    --build-context builder="$scratch/builder" \
    --build-arg RUNTIME_IMAGE="$runtime" --build-arg REVISION="$revision" \
    -f Dockerfile -t "$image" "$scratch/builder" >"$cache/build-belt-api.log" 2>&1 ||
    { cat "$cache/build-belt-api.log" >&2; exit 1; }
  local run user ctr
  readarray -t run < <(checked "$image")
  user=${run[0]}
  ctr=$(b from "$image")
  containers+=("$ctr")
  echo "== belt-api in it, as $user: its version, its OpenAPI document"
  b run --isolation chroot --user "$user" "$ctr" -- "${run[1]}" --version
  b run --isolation chroot --user "$user" "$ctr" -- "${run[1]}" openapi >"$cache/openapi.json"
  grep -m1 '"openapi"' "$cache/openapi.json"
  b run --isolation chroot --user "$user" "$ctr" -- "${run[1]}" serve --help >/dev/null
  echo "== serve, as the entrypoint runs it (no cluster here: it must stop at connecting to Kubernetes)"
  local log="$cache/belt-api.log"
  timeout 20 buildah --storage-driver vfs run --isolation chroot --user "$user" \
    -e BELT_KAFKA_BOOTSTRAP=127.0.0.1:1 -e BELT_K8S_KAFKA_USERS=none \
    "$ctr" -- "${run[@]:1}" >"$log" 2>&1 || true
  head -6 "$log"
  grep -q "connecting to Kubernetes" "$log" ||
    { echo "belt-api did not reach the Kubernetes runtime in its image" >&2; exit 1; }
  echo "== $image: built from the Dockerfile's final stage, configured as checked, runs belt-api"
}

runtime_image
belt_api_image
