"""belt-host: one replica of a belt on belt-api's local runtime, the trusted half.

Behaves like the real belt runtime, so a belt that fails here would fail in the cluster too: it
reads the same environment, installs requirements.txt, has the callback imported and `execute`
checked, and, when the replica gets a Kafka (KAFKA_BOOTSTRAP_SERVERS), consumes its input topics,
has `execute` run on every record and produces the updates (belt_kafka.py); without one it idles.

The user's code never runs here: belt-api starts a worker (belt_worker.py) next to this process,
without network, and connects the two with a socket pair: this process's stdin and stdout carry frames
(belt_frames.py) to and from the worker, and its log goes to stderr. Only this process holds the
Kafka connection and its credentials. belt-api runs it in Python's isolated mode (`-I`) from
<data_dir>/host/ with the replica's work dir as cwd, and marks the replica ready when it sees the
READY_LINE, so every line is flushed at once.
"""

import os
import signal
import sys

# Isolated mode leaves the script's own directory off the path; its neighbours are the host.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from belt_frames import BadFrame, Channel, ChannelClosed  # noqa: E402
from belt_requirements import install, requirements  # noqa: E402

READY_LINE = "belt-host: ready"
# Exit codes belt-api shows in podStatus: 1 = the callback broke, 2 = execute has the wrong shape.
EXIT_BROKEN = 1
# How long the host waits, when it ends, for the worker to end (within belt-api's stop grace).
WORKER_EXIT_SECONDS = 2


class Stop(BaseException):
    """Raised by the SIGTERM handler until the data plane installs its own."""


def on_sigterm(_signum, _frame):
    raise Stop()


def log(message):
    print(f"belt-host: {message}", flush=True)


def env(name, default=""):
    return os.environ.get(name, default)


def worker_failed(why):
    """The worker broke the protocol or ended: the replica fails (belt-api then kills what is left
    of its process group, the worker included)."""
    log(f"the worker {why}: stopping the replica")
    sys.exit(EXIT_BROKEN)


def await_ready(channel):
    """The worker's answer to `start`: the arity of execute, or the exit code it ended with."""
    try:
        answer = channel.receive()
    except ChannelClosed:
        worker_failed("exited before it imported callback.py")
    except BadFrame as error:
        worker_failed(f"sent {error}")
    kind, value = answer.get("t"), answer.get("code", answer.get("arity"))
    if kind == "exit" and isinstance(value, int) and 0 <= value < 256:
        sys.exit(value)
    if kind == "ready" and value in (0, 1, 2, 3):
        return value
    return worker_failed(f"answered the start with {str(answer)[:200]}")


def idle(channel, interval):
    # No Kafka: report what the real runtime reports when its topics are empty.
    while True:
        print(f"No new messages, waiting for: {interval:g}s", flush=True)
        if channel.readable(interval):
            try:
                channel.receive()
            except ChannelClosed:
                worker_failed("exited")
            except BadFrame as error:
                worker_failed(f"sent {error}")
            worker_failed("spoke unasked")


def source_header_wanted():
    return env("BELT_SOURCE_HEADER", "false").lower() == "true"


def start_message(fetch_profile, debug, site_dir):
    return {
        "t": "start",
        "site": site_dir,
        "callback": os.path.join(os.getcwd(), "callback.py"),
        "fetchProfile": fetch_profile,
        "debug": debug,
        "outputTypes": None,
        "destination": None,
        # Set only when updates carry the `grnry-source` header (BELT_SOURCE_HEADER).
        "belt": [env("BELT_ID"), env("BELT_VERSION")] if source_header_wanted() else None,
    }


def run(channel):
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
    site_dir = install(wanted) if wanted else None
    start = start_message(fetch_profile, debug, site_dir)
    if env("KAFKA_BOOTSTRAP_SERVERS"):
        import belt_kafka
        from belt_settings import Settings

        settings = Settings(os.environ)
        start["outputTypes"], start["destination"] = settings.output_types, settings.destination
        channel.send(start)
        arity = await_ready(channel)
        belt_kafka.serve(channel, settings, fetch_profile, arity,
                         lambda: print(READY_LINE, flush=True), worker_failed)
        return
    channel.send(start)
    await_ready(channel)
    print(READY_LINE, flush=True)
    idle(channel, float(env("BELT_HOST_IDLE_SECONDS", "5")))


def main():
    # stdin and stdout are the worker's channel; nothing else may write to fd 1.
    channel = Channel(os.dup(0), os.dup(1))
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    # Output reaches belt-api through a pipe: flush per line so logs and the ready line are live.
    sys.stdout.reconfigure(line_buffering=True)
    sys.stderr.reconfigure(line_buffering=True)
    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        run(channel)
    except ChannelClosed:
        worker_failed("closed the channel")
    except Stop:
        log("stopping")
        sys.exit(0)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        channel.close(WORKER_EXIT_SECONDS)


if __name__ == "__main__":
    main()
