"""belt-invoke-pod: test-invoke in a short-lived Kubernetes pod (docs/workload-policy.md#test-invoke-pods).

belt-api mounts one Secret read-only at BELT_INVOKE_REQUEST_DIR holding this file, the bundled
runner (belt_invoke.py, belt_lib.py: the same files the local runtime runs) and the request
(callback.py, invoke-request.json, requirements.txt when there are requirements). This copies the
request into the writable work dir BELT_INVOKE_WORK_DIR, builds the virtualenv when asked (under
BELT_INVOKE_REQUIREMENTS_TIMEOUT_SECONDS), runs the runner there under BELT_INVOKE_TIMEOUT_SECONDS,
and prints exactly one line to the container's stdout, which belt-api reads from the pod log:

    belt-invoke-pod-report {"requirements": {...}, "end": {"exit"|"signal"|"timedOut"}, "stdout",
                            "stderr", "lines": [the runner's result lines]}

The runner's own stdout and stderr go to files, never to the log: nothing the callback prints
can be taken for that line. Python only, since the belt image is certain to hold python3 and
nothing else.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

MARKER = "belt-invoke-pod-report "
REQUEST_FILES = ("callback.py", "invoke-request.json", "requirements.txt")
RESULTS = "invoke-results.jsonl"
OUTPUT_CAP = 64 * 1024
RESULTS_CAP = 16 * 1024 * 1024
# Python cannot name itself without a PATH to find it on; the kernel still can.
PYTHON = sys.executable or os.path.realpath("/proc/self/exe")


def head(path, cap):
    """The first `cap` bytes of a file the run wrote, as text; a missing file is empty."""
    try:
        with open(path, "rb") as file:
            return file.read(cap).decode("utf-8", "replace")
    except OSError:
        return ""


def run(args, work, timeout, out, err, env):
    """Runs `args` in its own session; at the timeout the whole session is killed."""
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        process = subprocess.Popen(args, cwd=work, stdout=stdout, stderr=stderr, env=env,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except OSError:
                pass
            process.wait()
            return {"timedOut": True}
    # Every process the run started goes with it, as the local sandbox's process group does.
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except OSError:
        pass
    return {"signal": -code} if code < 0 else {"exit": code}


def build(runner, work, env):
    """The virtualenv from requirements.txt: the report, and the venv's path when it was built."""
    timeout = float(os.environ["BELT_INVOKE_REQUIREMENTS_TIMEOUT_SECONDS"])
    venv = os.path.join(work, "venv")
    log = os.path.join(work, "build.log")
    started = time.monotonic()
    end = run([PYTHON, runner, "--build-venv", venv], work, timeout, log, log, env)
    report = {"durationMs": round((time.monotonic() - started) * 1000),
              "output": head(log, OUTPUT_CAP)}
    if end != {"exit": 0}:
        if end.get("timedOut"):
            report["output"] += f"\nbelt-invoke: the build exceeded its {timeout:g} s\n"
        return dict(report, virtualenv="failed"), None
    return dict(report, virtualenv="built"), venv


def results(path):
    """The runner's result lines, as far as they parse: a line cut by a kill is dropped."""
    lines = []
    for line in head(path, RESULTS_CAP).splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            pass
    return lines


def main():
    source = os.environ["BELT_INVOKE_REQUEST_DIR"]
    work = os.environ["BELT_INVOKE_WORK_DIR"]
    for name in REQUEST_FILES:
        if os.path.exists(os.path.join(source, name)):
            shutil.copyfile(os.path.join(source, name), os.path.join(work, name))
    runner = os.path.join(source, "belt_invoke.py")
    env = dict(os.environ)
    report = {"requirements": {"virtualenv": "none"}}
    if os.path.exists(os.path.join(work, "requirements.txt")):
        report["requirements"], venv = build(runner, work, env)
        if venv is None:
            print(MARKER + json.dumps(report), flush=True)
            return
        env["BELT_INVOKE_VENV"] = venv
    timeout = float(os.environ["BELT_INVOKE_TIMEOUT_SECONDS"])
    out, err = os.path.join(work, "runner.out"), os.path.join(work, "runner.err")
    report["end"] = run([PYTHON, runner], work, timeout, out, err, env)
    report["stdout"] = head(out, OUTPUT_CAP + 4)
    report["stderr"] = head(err, OUTPUT_CAP + 4)
    report["lines"] = results(os.path.join(work, RESULTS))
    print(MARKER + json.dumps(report, default=str), flush=True)


if __name__ == "__main__":
    main()
