"""Builds the belt host's own Python environment: a virtualenv with the pinned packages the host
needs to talk to Kafka. Run by belt-api as `python3 -c <this> <env dir> <requirements>`.

Several belt-api processes may share one environment (a test suite pointing many data dirs at it),
so the build runs under a lock next to it, and the marker file, written last, holds the pinned list
it was built from: a half-built environment, or one built from another list, is built again.
"""

import fcntl
import os
import subprocess
import sys
import venv

MARKER = ".belt-host-env-complete"


def say(message):
    print(message, flush=True)


def build(env_dir, wanted):
    say(f"creating virtualenv {env_dir}")
    venv.EnvBuilder(with_pip=True, clear=True, symlinks=True).create(env_dir)
    requirements = os.path.join(env_dir, "belt-host-requirements.txt")
    with open(requirements, "w", encoding="utf-8") as file:
        file.write(wanted)
    say(f"installing {', '.join(wanted.split())}")
    pip = subprocess.run(
        [os.path.join(env_dir, "bin", "python"), "-m", "pip", "install", "--no-input",
         "--disable-pip-version-check", "--progress-bar", "off", "-r", requirements],
        stdout=sys.stdout, stderr=subprocess.STDOUT, check=False,
    )
    if pip.returncode != 0:
        say(f"pip install failed with exit code {pip.returncode}")
        sys.exit(1)
    temporary = os.path.join(env_dir, MARKER + ".tmp")
    with open(temporary, "w", encoding="utf-8") as file:
        file.write(wanted)
    os.replace(temporary, os.path.join(env_dir, MARKER))


def main():
    env_dir, wanted = sys.argv[1], sys.argv[2]
    os.makedirs(os.path.dirname(env_dir) or ".", exist_ok=True)
    with open(env_dir + ".lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with open(os.path.join(env_dir, MARKER), encoding="utf-8") as file:
                built = file.read()
        except FileNotFoundError:
            built = None
        if built == wanted:
            say("reused: another process built it meanwhile")
            return
        build(env_dir, wanted)
        say("ready")


if __name__ == "__main__":
    main()
