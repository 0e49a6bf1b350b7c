"""belt-host: one replica of a belt on belt-api's local runtime.

Behaves like the real belt runtime, so a belt that fails here would fail in the cluster too: it
reads the same environment, installs requirements.txt, imports callback.py, checks `execute`, and,
when the replica gets a Kafka (KAFKA_BOOTSTRAP_SERVERS), consumes its input topics, runs `execute`
on every record and produces the updates (belt_kafka.py); without one it idles. belt-api writes
this file to <data_dir>/host/ and starts it with the replica's work dir (holding callback.py and
requirements.txt) as cwd. belt-api marks the replica ready when it sees the READY_LINE on stdout,
so every line is flushed at once.
"""

import fcntl
import importlib.util
import inspect
import os
import re
import signal
import subprocess
import sys
import sysconfig
import time

from belt_lib import BeltLibraryStandIn, print_user_traceback, signature_problem

READY_LINE = "belt-host: ready"
# Exit codes belt-api shows in podStatus: 1 = the callback broke, 2 = execute has the wrong shape.
EXIT_BROKEN = 1
EXIT_BAD_SIGNATURE = 2


class Stop(BaseException):
    """Raised by the SIGTERM handler. A BaseException, so a callback's `except Exception` cannot
    swallow the shutdown."""


def on_sigterm(_signum, _frame):
    raise Stop()


def log(message):
    print(f"belt-host: {message}", flush=True)


def env(name, default=""):
    return os.environ.get(name, default)


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


def install_requirements(wanted):
    """Installs into <work dir>/../venv, shared by the belt's replicas and kept across restarts, so
    only the first replica of a belt pays for pip. A lock file keeps two replicas from building it
    at the same time."""
    venv_dir = os.path.abspath(os.path.join(os.getcwd(), os.pardir, "venv"))
    python = os.path.join(venv_dir, "bin", "python")
    # Written only after a complete build: a venv interrupted half-way is rebuilt, not reused.
    complete = os.path.join(venv_dir, ".belt-host-complete")
    with open(venv_dir + ".lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(complete):
            log(f"reusing virtualenv {venv_dir}")
        else:
            import venv

            log(f"creating virtualenv {venv_dir}")
            venv.EnvBuilder(with_pip=True, clear=True).create(venv_dir)
            open(complete, "w", encoding="utf-8").close()
        log(f"installing {len(wanted)} requirement(s): {', '.join(wanted)}")
        pip = subprocess.Popen(
            [python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
             "-r", "requirements.txt"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
        )
        for line in pip.stdout:
            print(f"pip: {line.rstrip()}", flush=True)
        if pip.wait() != 0:
            log(f"pip install failed with exit code {pip.returncode}")
            sys.exit(EXIT_BROKEN)
        log("requirements installed")
    # The venv was built by this same interpreter, so its site-packages fit this process.
    import site

    site.addsitedir(sysconfig.get_path("purelib", vars={"base": venv_dir, "platbase": venv_dir}))


def import_callback():
    path = os.path.join(os.getcwd(), "callback.py")
    sys.path.insert(0, os.getcwd())
    spec = importlib.util.spec_from_file_location("callback", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["callback"] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # the user's code: any failure at import is theirs to read
        print_user_traceback(error, path)
        log("importing callback.py failed")
        sys.exit(EXIT_BROKEN)
    return module


def idle(interval):
    # No Kafka: report what the real runtime reports when its topics are empty.
    while True:
        print(f"No new messages, waiting for: {interval:g}s", flush=True)
        time.sleep(interval)


def run():
    fetch_profile = env("FETCH_PROFILE", "FALSE").upper()
    debug = env("DEBUG", "false").lower() == "true"
    log(f"starting belt {env('BELT_ID', '?')} version {env('BELT_VERSION', '?')} "
        f"as {env('BELT_REPLICA_NAME', '?')} in project {env('PROJECT_NAME', '?')}")
    log(f"input topics: {env('KAFKA_INPUT_TOPICS')} (event types: {env('EVENT_TYPES')}), "
        f"consumer group: {env('KAFKA_CONSUMER_GROUP')}")
    output = env("OUTPUT_TYPES") or env("KAFKA_DESTINATION_TOPIC") or "-"
    log(f"output: {output}, error topic: {env('KAFKA_ERROR_TOPIC')}, "
        f"fetch profile: {fetch_profile}, debug: {debug}")
    offsets = os.environ.get("PARTITION_OFFSETS")
    if offsets:
        log(f"starting from partition offsets {offsets}")
    else:
        log("continuing from the consumer group's committed offsets")

    wanted = requirements()
    if wanted:
        install_requirements(wanted)
    sys.meta_path.append(BeltLibraryStandIn())
    module = import_callback()
    problem = signature_problem(getattr(module, "execute", None), fetch_profile)
    if problem:
        log(problem)
        sys.exit(EXIT_BAD_SIGNATURE)
    if debug:
        log(f"execute{inspect.signature(module.execute)} loaded from callback.py")
    if env("KAFKA_BOOTSTRAP_SERVERS"):
        import belt_kafka

        callback_path = os.path.join(os.getcwd(), "callback.py")
        belt_kafka.serve(module.execute, fetch_profile, positional_arity(module.execute),
                         callback_path, lambda: print(READY_LINE, flush=True))
        return
    print(READY_LINE, flush=True)
    idle(float(env("BELT_HOST_IDLE_SECONDS", "5")))


def positional_arity(execute):
    """How many positional arguments execute accepts (3 when it cannot be told)."""
    try:
        parameters = inspect.signature(execute).parameters.values()
    except (TypeError, ValueError):
        return 3
    if any(p.kind == p.VAR_POSITIONAL for p in parameters):
        return 3
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters)


def main():
    # Output reaches belt-api through pipes: flush per line so logs and the ready line are live.
    sys.stdout.reconfigure(line_buffering=True)
    sys.stderr.reconfigure(line_buffering=True)
    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        run()
    except Stop:
        log("stopping")
        sys.exit(0)


if __name__ == "__main__":
    main()
