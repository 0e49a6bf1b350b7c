"""belt-pod: what the belt runtime image runs (images/belt-runtime/Dockerfile) as one replica of a
belt on Kubernetes.

The Deployment belt-api renders (src/runtime/kubernetes/render.rs) names no command: the image's
entrypoint runs this, with the belt's two files (callback.py, requirements.txt) mounted read-only
from its ConfigMap at /belt (the only argument, so a test can point it elsewhere) and the replica's
environment as the Deployment sets it. It starts the same two processes belt-api's local runtime
starts (src/runtime/local/process/pair.rs, docs/local-sandbox.md#two-processes): the trusted host
(belt_host.py), which alone is given the Kafka settings, and the worker (belt_worker.py), which
imports the callback, joined by a socket pair on their stdin and stdout. So a belt behaves, logs and
exits in the cluster as it does on a laptop.

What the pod does not give, unlike the local sandbox: the worker shares the pod's network and uid,
so it could reach the host's environment through /proc. On Kubernetes the credentials the host holds
are the belt's own KafkaUser, whose ACLs cover exactly the belt's topics and group
(docs/kafka-identity.md): a callback that takes them gains nothing it could not already reach
through its own records.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CODE_DIR = "/belt"
FILES = ("callback.py", "requirements.txt")
# What the host reads of the replica's environment: HOST_VARIABLES of pair.rs (tests/deploy_manifests
# checks that every name there is here), and the CA file a cluster's brokers may need
# (src/runtime/kubernetes/kafka_ca.rs), which the local runtime never sets.
HOST_VARIABLES = (
    "BELT_ID", "BELT_VERSION", "BELT_REPLICA_OF", "BELT_HOST_IDLE_SECONDS", "BELT_SOURCE_HEADER",
    "PROJECT_NAME",
    "EVENT_TYPES", "OUTPUT_TYPES", "DEBUG", "FETCH_PROFILE", "PROFILE_TYPE", "PROFILE_STORE_URL",
    "KEYCLOAK_USER", "KEYCLOAK_PASS", "PARTITION_OFFSETS", "KAFKA_BOOTSTRAP_SERVERS",
    "KAFKA_INPUT_TOPICS", "KAFKA_CONSUMER_GROUP", "KAFKA_DESTINATION_TOPIC", "KAFKA_ERROR_TOPIC",
    "KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD",
    "KAFKA_SSL_CA_LOCATION",
)
# Besides every KAFKA_* variable, what the worker never gets (WITHHELD_FROM_WORKER of pair.rs).
WITHHELD_FROM_WORKER = ("PROFILE_STORE_URL", "KEYCLOAK_USER", "KEYCLOAK_PASS", "PARTITION_OFFSETS")
# What either process needs of the image's own environment to find and run Python.
BASICS = ("PATH", "HOME", "LANG")
# How long the worker may outlive the host before it is killed (the host itself waits 2 s).
WORKER_EXIT_SECONDS = 3


def log(message):
    print(f"belt-pod: {message}", file=sys.stderr, flush=True)


def host_env(environ, replica):
    env = {n: v for n, v in environ.items() if n in HOST_VARIABLES or n in BASICS}
    return dict(env, BELT_REPLICA_NAME=replica)


def worker_env(environ, replica):
    env = {n: v for n, v in environ.items()
           if not n.startswith("KAFKA_") and n not in WITHHELD_FROM_WORKER}
    return dict(env, BELT_REPLICA_NAME=replica)


def work_dir(code_dir):
    """A writable copy of the belt's files: the ConfigMap is read-only, and the host installs the
    requirements next to its work dir (`<root>/venv`), as on the local runtime."""
    root = tempfile.mkdtemp(prefix="belt-")
    work = os.path.join(root, "work")
    os.mkdir(work)
    for name in FILES:
        source = os.path.join(code_dir, name)
        if os.path.exists(source):
            shutil.copyfile(source, os.path.join(work, name))
    return root, work


def exit_code(status):
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def reap_until(pid, ended, deadline=None):
    """Reaps every child (this is PID 1 in the container: a callback's orphans end up here),
    noting each exit code in `ended`, until `pid` has ended; its exit code, or None when
    `deadline` passed first."""
    while pid not in ended:
        try:
            reaped, status = os.waitpid(-1, 0 if deadline is None else os.WNOHANG)
        except ChildProcessError:
            return None
        if reaped != 0:
            ended[reaped] = exit_code(status)
        elif time.monotonic() >= deadline:
            return None
        else:
            time.sleep(0.05)
    return ended[pid]


def start(work, replica):
    python = sys.executable
    host_end, worker_end = socket.socketpair()
    host = subprocess.Popen([python, "-I", os.path.join(HERE, "belt_host.py")], cwd=work,
                            env=host_env(os.environ, replica), stdin=host_end, stdout=host_end)
    worker = subprocess.Popen([python, os.path.join(HERE, "belt_worker.py")], cwd=work,
                              env=worker_env(os.environ, replica), stdin=worker_end,
                              stdout=worker_end)
    # Only the children keep their ends: each sees the channel close when the other exits.
    host_end.close()
    worker_end.close()
    return host, worker


def main():
    code_dir = sys.argv[1] if len(sys.argv) > 1 else CODE_DIR
    replica = os.environ.get("HOSTNAME") or socket.gethostname()
    # As PID 1 of the container this process ignores every signal it has no handler for: the
    # handlers come first, and a SIGTERM that arrives before the host exists is kept for it.
    started = {}
    pending = []

    def forward(signum, _frame):
        # The kubelet's SIGTERM goes to the host, which stops consuming and closes the channel;
        # the worker ends when it sees that.
        host = started.get("host")
        if host is None:
            pending.append(signum)
        elif host.returncode is None:
            try:
                os.kill(host.pid, signum)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    root, work = work_dir(code_dir)
    # The Popen objects stay referenced until their processes are reaped here: one collected
    # earlier would reap its process itself, unseen by reap_until.
    host, worker = start(work, replica)
    started["host"] = host
    for signum in pending:
        forward(signum, None)
    ended = {}
    code = host.returncode = reap_until(host.pid, ended)
    deadline = time.monotonic() + WORKER_EXIT_SECONDS
    worker.returncode = reap_until(worker.pid, ended, deadline)
    if worker.returncode is None:
        os.kill(worker.pid, signal.SIGKILL)
        worker.returncode = reap_until(worker.pid, ended)
    shutil.rmtree(root, ignore_errors=True)
    if code is None:
        log("lost track of the belt host")
        code = 1
    sys.exit(code)


if __name__ == "__main__":
    main()
