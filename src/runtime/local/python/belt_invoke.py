"""belt-invoke: runs a belt's callback on sample events for belt-api's test-invoke
(docs/api.md#test-invoke), the way a replica would run it on records.

belt-api starts it in a sandbox with a fresh work dir as cwd, holding callback.py and
invoke-request.json (`{"events": [{"headers", "event", "profile"?}]}`), and the replica's
environment (FETCH_PROFILE, OUTPUT_TYPES / KAFKA_DESTINATION_TOPIC, PARAMETER, BELT_ID, ...). It
writes one JSON line per step to invoke-results.jsonl as it goes, flushed at once, so that when
the invocation is killed (time, memory) belt-api still reads every event finished before:

    {"import": {"stdout", "stderr", "error"?}}     first; with "error", nothing else follows
    {"index": i, "updates" | "error", "stdout", "stderr", "durationMs"}   one per event

`--build-venv DIR` instead builds the virtualenv DIR from requirements.txt in the cwd.
"""

import importlib.util
import io
import json
import os
import resource
import site
import subprocess
import sys
import sysconfig
import time
import traceback
import uuid

from belt_lib import (CORRELATION_HEADER, PROFILE_MODES, BeltLibraryStandIn, records_of,
                      signature_problem, traceback_of)

REQUEST = "invoke-request.json"
RESULTS = "invoke-results.jsonl"
# What one event (or the import) may print; belt-api caps the process's own output as well.
OUTPUT_CAP = 64 * 1024
VENV_COMPLETE = ".belt-invoke-complete"
DEFAULT_DESTINATION_TOPIC = "profile-update"


class Capped(io.TextIOBase):
    """A text stream that keeps the first OUTPUT_CAP characters and says whether it cut."""

    def __init__(self):
        super().__init__()
        self.parts, self.size, self.truncated = [], 0, False

    def writable(self):
        return True

    def write(self, text):
        text = str(text)
        room = OUTPUT_CAP - self.size
        if len(text) > room:
            self.truncated = True
        kept = text[:max(room, 0)]
        if kept:
            self.parts.append(kept)
            self.size += len(kept)
        return len(text)

    def value(self):
        text = "".join(self.parts)
        return text + "\n[output truncated]\n" if self.truncated else text


class Captured:
    """sys.stdout and sys.stderr redirected to Capped streams while user code runs."""

    def __enter__(self):
        self.out, self.err = Capped(), Capped()
        self.saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = self.out, self.err
        return self

    def __exit__(self, *exc):
        sys.stdout, sys.stderr = self.saved
        return False

    def fields(self):
        return {"stdout": self.out.value(), "stderr": self.err.value()}


def limit_resources():
    """The limits belt-api also sets from outside (prlimit); set here again so that they hold
    where prlimit is missing. Lowering a limit is always allowed."""
    for name, which in (("BELT_INVOKE_MEMORY_BYTES", resource.RLIMIT_AS),
                        ("BELT_INVOKE_CPU_SECONDS", resource.RLIMIT_CPU),
                        ("BELT_INVOKE_NPROC", resource.RLIMIT_NPROC)):
        wanted = int(os.environ.get(name) or 0)
        if wanted <= 0:
            continue
        _, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            wanted = min(wanted, hard)
        try:
            resource.setrlimit(which, (wanted, wanted if hard == resource.RLIM_INFINITY else hard))
        except (ValueError, OSError):
            pass


def line_of(error, path):
    """The line of callback.py the error points at: the syntax error's, else the deepest frame
    in callback.py."""
    if isinstance(error, SyntaxError) and error.filename == path:
        return error.lineno
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename == path]
    return frames[-1].lineno if frames else None


def error_of(error, path):
    return {"type": type(error).__name__, "message": str(error),
            "traceback": traceback_of(error, path), "line": line_of(error, path)}


def import_callback(path):
    sys.path.insert(0, os.getcwd())
    spec = importlib.util.spec_from_file_location("callback", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["callback"] = module
    spec.loader.exec_module(module)
    return module


def takes_profile(execute, fetch_profile, sample):
    import inspect

    try:
        parameters = inspect.signature(execute).parameters.values()
    except (TypeError, ValueError):
        return fetch_profile in PROFILE_MODES
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 3 and (fetch_profile in PROFILE_MODES or "profile" in sample)


def run_event(index, sample, execute, path, wants_profile):
    headers = {str(k): str(v) for k, v in (sample.get("headers") or {}).items()}
    correlation_id = headers.get(CORRELATION_HEADER) or str(uuid.uuid4())
    headers[CORRELATION_HEADER] = correlation_id
    args = [headers, sample.get("event")]
    if wants_profile:
        args.append(sample.get("profile"))
    output_types = json.loads(os.environ.get("OUTPUT_TYPES") or "null")
    destination = os.environ.get("KAFKA_DESTINATION_TOPIC") or DEFAULT_DESTINATION_TOPIC
    belt = ((os.environ.get("BELT_ID", ""), os.environ.get("BELT_VERSION", ""))
            if os.environ.get("BELT_SOURCE_HEADER", "").lower() == "true" else None)
    started = time.monotonic()
    with Captured() as captured:
        try:
            result = execute(*args)
            records = records_of(result, correlation_id, f"invoke/{index}", output_types,
                                 destination, belt)
            entry = {"updates": [{"topic": record["topic"], "key": record["key"],
                                  "headers": dict(record["headers"]),
                                  "value": json.loads(record["payload"])}
                                 for record in records]}
        except BaseException as error:  # noqa: BLE001 - whatever the user's code raises is reported
            entry = {"error": error_of(error, path)}
    entry.update(captured.fields())
    entry["index"] = index
    entry["durationMs"] = round((time.monotonic() - started) * 1000)
    return entry


def venv_site_packages(venv_dir):
    """Where a virtualenv keeps its packages: the `venv` scheme's, not this interpreter's default
    (Debian's python3 defaults to `local/lib/python3.X/dist-packages`)."""
    scheme = "venv" if "venv" in sysconfig.get_scheme_names() else "posix_prefix"
    return sysconfig.get_path("purelib", scheme, vars={"base": venv_dir, "platbase": venv_dir})


def invoke():
    limit_resources()
    with open(REQUEST, encoding="utf-8") as file:
        events = json.load(file)["events"]
    results = open(RESULTS, "w", encoding="utf-8")

    def emit(entry):
        results.write(json.dumps(entry, default=str) + "\n")
        results.flush()

    venv_dir = os.environ.get("BELT_INVOKE_VENV")
    if venv_dir:
        site.addsitedir(venv_site_packages(venv_dir))
    sys.meta_path.append(BeltLibraryStandIn())
    path = os.path.join(os.getcwd(), "callback.py")
    fetch_profile = os.environ.get("FETCH_PROFILE", "FALSE").upper()
    with Captured() as captured:
        try:
            module = import_callback(path)
            error = None
        except BaseException as caught:  # noqa: BLE001 - a SyntaxError, ImportError, SystemExit...
            error = error_of(caught, path)
    if error is None:
        execute = getattr(module, "execute", None)
        problem = signature_problem(execute, fetch_profile)
        if problem:
            error = {"type": "BadSignature", "message": problem, "traceback": None, "line": None}
    emit({"import": dict(captured.fields(), **({"error": error} if error else {}))})
    if error:
        return
    for index, sample in enumerate(events):
        emit(run_event(index, sample, execute, path, takes_profile(execute, fetch_profile, sample)))


def host_pip():
    """Whether this interpreter has pip: it then installs into a virtualenv without pip of its
    own (`pip --python`), which is smaller and builds in a fraction of the time."""
    return subprocess.call([sys.executable, "-m", "pip", "--version"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL) == 0


def build_venv(venv_dir):
    """Creates the virtualenv and installs requirements.txt into it, from wheels only (a wheel
    runs no code at install; a source distribution would run its setup.py here); marks it
    complete last, so that an interrupted build is started again rather than used."""
    import venv

    print(f"belt-invoke: creating virtualenv {venv_dir}", flush=True)
    outside = host_pip()
    venv.EnvBuilder(with_pip=not outside, clear=True).create(venv_dir)
    python = os.path.join(venv_dir, "bin", "python")
    pip = [sys.executable, "-m", "pip", "--python", python] if outside else [python, "-m", "pip"]
    code = subprocess.call(pip + ["install", "--disable-pip-version-check", "--no-input",
                                  "--only-binary=:all:", "-r", "requirements.txt"],
                           stderr=subprocess.STDOUT)
    if code != 0:
        print(f"belt-invoke: pip install failed with exit code {code}", flush=True)
        sys.exit(code)
    open(os.path.join(venv_dir, VENV_COMPLETE), "w", encoding="utf-8").close()
    print("belt-invoke: requirements installed", flush=True)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--build-venv":
        build_venv(sys.argv[2])
    else:
        invoke()
