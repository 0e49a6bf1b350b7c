"""requirements.txt on the local runtime (docs/local-sandbox.md#requirements): installed by the
trusted host, which has network, before the worker (which has none) imports the callback.

Nothing the belt chooses may run with network: pip installs wheels only (`--only-binary=:all:`;
building an sdist runs its setup code), from lines that name packages or wheel URLs (no local
paths, no VCS, no options but the index), with the host's own pip in isolated mode, into
`<belt dir>/venv/site`, a directory the worker only reads.
"""

import fcntl
import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys

EXIT_BROKEN = 1
# Options a requirements line may carry: where packages come from, nothing that changes how.
INDEX_OPTIONS = {"-i", "--index-url", "--extra-index-url"}
WHEEL_URL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9._, -]*\])?\s*@\s*https://\S+\.whl"
                       r"(\s*;[^/\\]*)?$")


def log(message):
    print(f"belt-host: {message}", flush=True)


def requirements(path="requirements.txt"):
    """The requirement lines of requirements.txt; comments are cut as pip cuts them (a `#` at the
    start or after whitespace, so URL fragments survive)."""
    try:
        with open(path, encoding="utf-8") as file:
            lines = file.read().splitlines()
    except FileNotFoundError:
        return []
    stripped = (re.sub(r"(^|\s)#.*$", "", line).strip() for line in lines)
    return [line for line in stripped if line]


def refusal(line):
    """Why the host will not hand `line` to pip, or None."""
    if line.startswith("-"):
        option = re.split(r"[\s=]", line, maxsplit=1)[0]
        if option in INDEX_OPTIONS:
            return None
        return f"the option {option} (only {', '.join(sorted(INDEX_OPTIONS))} are allowed)"
    if re.search(r"[/\\]", line) and not WHEEL_URL.match(line):
        return "a path or a URL that is not `name @ https://….whl` (only wheels are installed)"
    return None


def check(wanted):
    for line in wanted:
        why = refusal(line)
        if why:
            log(f"requirements.txt: {line!r} is refused: {why}")
            sys.exit(EXIT_BROKEN)


def pip_command(venv_dir):
    """The host's own pip, isolated (`-I`: nothing of the work dir or the environment on its path);
    when the host's Python has none, pip in a virtualenv of its own next to the packages."""
    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-I", "-m", "pip"]
    import venv

    tool = os.path.join(venv_dir, "pip-tool")
    python = os.path.join(tool, "bin", "python")
    if not os.path.exists(python):
        log(f"creating virtualenv {tool} for pip")
        venv.EnvBuilder(with_pip=True, clear=True).create(tool)
    return [python, "-I", "-m", "pip"]


def install(wanted):
    """Installs `wanted` into <work dir>/../venv/site, shared by the belt's replicas and kept while
    requirements.txt stays the same; answers that directory. A lock file keeps two replicas from
    building it at the same time; a marker written last tells a complete build from a broken one."""
    check(wanted)
    venv_dir = os.path.abspath(os.path.join(os.getcwd(), os.pardir, "venv"))
    site_dir = os.path.join(venv_dir, "site")
    marker = os.path.join(venv_dir, ".belt-host-complete")
    digest = hashlib.sha256("\n".join(wanted + [sys.version]).encode()).hexdigest()
    os.makedirs(venv_dir, exist_ok=True)
    with open(venv_dir + ".lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _read(marker) == digest:
            log(f"reusing virtualenv {venv_dir}")
            return site_dir
        log(f"creating virtualenv {venv_dir}")
        if os.path.exists(marker):
            os.remove(marker)
        shutil.rmtree(site_dir, ignore_errors=True)
        checked = os.path.join(venv_dir, "requirements.checked.txt")
        with open(checked, "w", encoding="utf-8") as file:
            file.write("\n".join(wanted) + "\n")
        log(f"installing {len(wanted)} requirement(s), wheels only: {', '.join(wanted)}")
        _pip(pip_command(venv_dir) + [
            "install", "--only-binary=:all:", "--disable-pip-version-check", "--no-input",
            "--target", site_dir, "-r", checked], venv_dir)
        with open(marker, "w", encoding="utf-8") as file:
            file.write(digest)
        log("requirements installed")
    return site_dir


def _pip(command, cwd):
    pip = subprocess.Popen(command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, errors="replace")
    for line in pip.stdout:
        print(f"pip: {line.rstrip()}", flush=True)
    if pip.wait() != 0:
        log(f"pip install failed with exit code {pip.returncode} (only wheels are installed: a "
            f"package without a wheel for this Python cannot be used on the local runtime)")
        sys.exit(EXIT_BROKEN)


def _read(path):
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except OSError:
        return None
