"""belt-worker: the half of a replica that runs the user's code (docs/local-sandbox.md#two-processes).

belt-api starts it next to the trusted host (belt_host.py), in a sandbox without network and
without any Kafka setting. It talks only to the host, in frames (belt_frames.py) on its stdin and
stdout: the host says how to start (`start`), the worker imports callback.py and answers `ready`
(or `exit` with the code the replica ends with: 1 = the callback broke, 2 = `execute` has the
wrong shape), then answers every `batch` of records with their `results`, asking the host for
LAZY profiles on the way (`profile`). It ends when the host closes the channel.
"""

import importlib.util
import inspect
import json
import os
import signal
import site
import sys

from belt_frames import BadFrame, Channel, ChannelClosed
from belt_lib import (CORRELATION_HEADER, BeltLibraryStandIn, print_user_traceback, records_of,
                      signature_problem, traceback_of)
from belt_profiles import LazyProfile, ProfileUnavailable

EXIT_BROKEN = 1
EXIT_BAD_SIGNATURE = 2


def log(message):
    print(f"belt-host: {message}", flush=True)


def private_channel():
    """The frames travel on fds 0 and 1, which the user's code must not get: they move to
    private fds, fd 1 becomes stderr (a print reaches the replica's log, never the channel) and
    fd 0 /dev/null."""
    read_fd, write_fd = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    return Channel(read_fd, write_fd)


def leave(channel, code):
    """Tells the host how the replica ends, then ends."""
    try:
        channel.send({"t": "exit", "code": code})
    except ChannelClosed:
        pass
    sys.exit(code)


def import_callback(channel, path):
    sys.path.insert(0, os.path.dirname(path))
    spec = importlib.util.spec_from_file_location("callback", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["callback"] = module
    try:
        spec.loader.exec_module(module)
    except SystemExit as stop:  # the callback's own sys.exit at import: its code is the replica's
        leave(channel, stop.code if isinstance(stop.code, int) else EXIT_BROKEN)
    except Exception as error:  # the user's code: any failure at import is theirs to read
        print_user_traceback(error, path)
        log("importing callback.py failed")
        leave(channel, EXIT_BROKEN)
    return module


def positional_arity(execute):
    """How many positional arguments execute accepts (3 when it cannot be told)."""
    try:
        parameters = inspect.signature(execute).parameters.values()
    except (TypeError, ValueError):
        return 3
    if any(p.kind == p.VAR_POSITIONAL for p in parameters):
        return 3
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters)


def describe(error):
    return f"{type(error).__name__}: {error}"


class Worker:
    def __init__(self, channel, execute, start):
        self.channel = channel
        self.execute = execute
        self.path = start["callback"]
        self.output_types = start.get("outputTypes")
        self.destination = start.get("destination")
        # (id, version) when updates carry the `grnry-source` header, else None.
        self.belt = tuple(start["belt"]) if start.get("belt") else None

    def fetch_profile(self, key):
        self.channel.send({"t": "profile", "key": key})
        answer = self.channel.receive()
        if "error" in answer:
            raise ProfileUnavailable(answer["error"])
        return answer.get("value")

    def run_one(self, record):
        """["u", [[topic, key, headers, payload], …]] or ["d", reason, error, traceback]."""
        headers, value, source, profile = record
        try:
            event = json.loads(value)
        except (TypeError, ValueError) as error:
            return ["d", "the value is not JSON", describe(error), ""]
        args = [headers, event]
        if profile is not None:
            args.append(profile["v"] if "v" in profile else
                        LazyProfile(self.fetch_profile, profile.get("k")))
        try:
            result = self.execute(*args)
        except Exception as error:  # the user's code: whatever it raises is the record's fault
            return ["d", "execute raised", describe(error), traceback_of(error, self.path)]
        try:
            records = records_of(result, headers.get(CORRELATION_HEADER), source,
                                 self.output_types, self.destination, self.belt)
        except Exception as error:  # NotAnUpdate, or an update whose to_dict() raised
            return ["d", "execute returned no update", describe(error),
                    traceback_of(error, self.path)]
        return ["u", [[r["topic"], r["key"], r["headers"], r["payload"].decode()]
                      for r in records]]

    def serve(self):
        while True:
            try:
                message = self.channel.receive()
            except ChannelClosed:
                return
            if message.get("t") == "batch":
                results = [self.run_one(record) for record in message["records"]]
                self.channel.send({"t": "results", "results": results})


def run(channel):
    start = channel.receive()
    if start.get("site"):
        # The belt's packages, installed by the host; their .pth files run here, never there.
        site.addsitedir(start["site"])
    sys.meta_path.append(BeltLibraryStandIn())
    module = import_callback(channel, start["callback"])
    execute = getattr(module, "execute", None)
    problem = signature_problem(execute, start["fetchProfile"])
    if problem:
        log(problem)
        leave(channel, EXIT_BAD_SIGNATURE)
    if start.get("debug"):
        log(f"execute{inspect.signature(execute)} loaded from callback.py")
    channel.send({"t": "ready", "arity": positional_arity(execute)})
    Worker(channel, execute, start).serve()


def main():
    sys.stdout.reconfigure(line_buffering=True)
    sys.stderr.reconfigure(line_buffering=True)
    channel = private_channel()
    # The host decides when to stop (it finishes the batch in hand first); the worker ends when
    # the host closes the channel. A handler, not SIG_IGN, so the callback's children get the
    # default back at exec.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: None)
    try:
        run(channel)
    except (ChannelClosed, BadFrame):
        pass


if __name__ == "__main__":
    main()
