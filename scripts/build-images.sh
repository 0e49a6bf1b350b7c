#!/usr/bin/env bash
# Builds the belt runtime image (images/belt-runtime/Dockerfile) without a registry or a container
# daemon, then checks what the cluster relies on: the image's config (a numeric non-root user, the
# exec-form entrypoint, the OCI labels), its Kafka client, and a belt run in it by that entrypoint as
# that user, with the belt's files mounted at /belt as the Kubernetes runtime mounts them.
#
# The base image cannot be pulled here, so it is made from Debian packages (mmdebstrap: python3 and
# its venv module, what the Dockerfile needs of `python:3.12-slim-bookworm`) and handed to the
# Dockerfile as PYTHON_IMAGE. The Dockerfile's own steps run as written (pip installs from PyPI).
# belt-api's own image (./Dockerfile) is not built: its builder needs the Rust image, and a release
# build of belt-api inside it takes far longer than this machine's CI may spend.
#
# Needs: buildah and mmdebstrap (`apt-get install buildah mmdebstrap`), root. Not run by .ci/run
# (about a minute and a 225 MB base); README.md, "Install on Kubernetes", says what it showed.
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
# vfs: no overlay mounts, which a build inside a container often may not make.
b() { buildah --storage-driver vfs "$@"; }

base=localhost/belt-base/debian-python3:bookworm
if ! b inspect --type image "$base" >/dev/null 2>&1; then
  rootfs="$cache/debian-python3-bookworm.tar"
  if [ ! -f "$rootfs" ]; then
    echo "== a Debian bookworm root with python3 (mmdebstrap)"
    mmdebstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
      bookworm "$rootfs.tmp" http://deb.debian.org/debian
    mv "$rootfs.tmp" "$rootfs"
  fi
  ctr=$(b from scratch)
  b add "$ctr" "$rootfs" / >/dev/null
  b config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$ctr"
  b commit --rm "$ctr" "$base" >/dev/null
fi

# Behind a TLS-intercepting proxy the build's pip must trust what this machine trusts: its CA
# bundle and pip settings are mounted for the RUN steps only, and stay out of the image.
mounts=()
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  mounts+=(-v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro)
fi
if [ -f /etc/pip.conf ]; then
  mounts+=(-v /etc/pip.conf:/etc/pip.conf:ro)
fi

image=localhost/grnry-belt:dev
echo "== buildah bud -f images/belt-runtime/Dockerfile"
b bud --isolation chroot --layers=false "${mounts[@]}" \
  --build-arg PYTHON_IMAGE="$base" \
  --build-arg REVISION="$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
  -f images/belt-runtime/Dockerfile -t "$image" . >"$cache/build.log" 2>&1 ||
  { cat "$cache/build.log" >&2; exit 1; }

echo "== the image's config"
config="$cache/config.json"
b inspect --type image "$image" >"$config"
# Prints the user, then the entrypoint and command one word a line.
readarray -t run < <(python3 - "$config" <<'EOF'
import json, sys
config = json.load(open(sys.argv[1]))["OCIv1"]["config"]
uid, _, gid = config["User"].partition(":")
assert uid.isdigit() and gid.isdigit() and int(uid) > 0, f"User {config['User']}"
assert config["Entrypoint"] and config["Entrypoint"][0].startswith("/"), config["Entrypoint"]
labels = config.get("Labels") or {}
for key in ("title", "description", "version", "revision", "licenses"):
    assert labels.get(f"org.opencontainers.image.{key}"), f"no label {key}"
print(f"user {config['User']}, entrypoint {config['Entrypoint']}, command {config['Cmd']}",
      file=sys.stderr)
print(config["User"])
for word in config["Entrypoint"] + (config.get("Cmd") or []):
    print(word)
EOF
)
user=${run[0]}
command=("${run[@]:1}")

ctr=$(b from "$image")
code=$(mktemp -d)
trap 'b rm "$ctr" >/dev/null; rm -rf "$code"' EXIT
in_image() { b run --isolation chroot --user "$user" "$@"; }

echo "== its Kafka client, as $user"
in_image "$ctr" -- python3 -c \
  'import confluent_kafka, os; print("confluent-kafka", confluent_kafka.version(), "librdkafka", confluent_kafka.libversion()[0], "uid", os.getuid())'

echo "== a belt run by the entrypoint (no Kafka: it gets ready and idles; stopped after 8 s)"
printf 'def execute(headers, event):\n    return []\n' >"$code/callback.py"
: >"$code/requirements.txt"
# World-readable, as a ConfigMap volume's files are: the image's user is not this script's.
chmod 0755 "$code" && chmod 0644 "$code"/*
log="$cache/belt.log"
timeout 8 buildah --storage-driver vfs run --isolation chroot --user "$user" -v "$code:/belt:ro" \
  -e BELT_ID=1 -e BELT_VERSION=1 -e BELT_HOST_IDLE_SECONDS=1 "$ctr" -- "${command[@]}" >"$log" 2>&1 || true
cat "$log"
grep -q "belt-host: ready" "$log" && grep -q "No new messages" "$log" ||
  { echo "the belt did not get ready in the image" >&2; exit 1; }
echo "== $image: built, configured as checked, runs a belt"
