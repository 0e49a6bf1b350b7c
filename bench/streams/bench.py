"""The stream benchmark (bench/streams/run.sh starts it; see bench/README.md#streams).

One `belt-api serve` (local runtime, no data plane, no sandbox) with one running belt, measured from
/proc while a single client process holds its streams open:

1. baseline: no stream open;
2. 1,000 watch streams (`GET /projects/{p}/watch`), idle: no event happens;
3. those and 100 `GET …/logs?follow=true` streams of the running belt, idle: the replica is quiet;
4. active: belts are created while all 1,100 streams are open; every watch stream must receive every
   event (counted), and the time from the write's answer to its last delivery is recorded.

Each idle phase reports belt-api's CPU (user + system, from /proc/<pid>/stat) per second of wall time
and its resident memory (VmRSS), next to the baseline measured in the same run.
"""

import argparse
import json
import os
import resource
import selectors
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

CALLBACK = "def execute(headers, event):\n    return None\n"
TICKS = os.sysconf("SC_CLK_TCK")


def start_server(binary, data_dir):
    # Without a broker the host says "No new messages" every 5 s; an hour makes it truly quiet.
    env = {"PATH": os.environ["PATH"], "BELT_LISTEN": "127.0.0.1:0", "BELT_DATA_DIR": data_dir,
           "BELT_KAFKA_BROKER": "none", "BELT_LOCAL_SANDBOX": "none", "RUST_LOG": "warn,belt_api=info",
           "BELT_LOCAL_HOST_IDLE_SECONDS": "3600",
           # One token holds every stream of the run: past the default shares (16 a caller).
           "BELT_STREAMS_PER_CALLER": "100000", "BELT_STREAMS_PER_SERVER": "100000"}
    process = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    for line in process.stderr:
        if "address=" in line:
            address = line.split("address=", 1)[1].split()[0].replace("http://", "")
            break
        if time.time() > deadline:
            raise SystemExit("belt-api did not listen")
    else:
        raise SystemExit("belt-api exited before listening")
    # Keep reading its stderr so that it never blocks on a full pipe.
    import threading
    threading.Thread(target=lambda: [None for _ in process.stderr], daemon=True).start()
    token = subprocess.run([binary, "token", "--project", "bench", "--role", "editor", "--ttl", "2h",
                            "--data-dir", data_dir], capture_output=True, text=True, check=True)
    return process, address, token.stdout.strip()


def call(address, token, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://{address}{path}", data=data, method=method,
                                     headers={"Authorization": f"Bearer {token}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read() or b"null")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Streams:
    """Many chunked HTTP answers held open in one process; counts the watch events each receives."""

    def __init__(self, address, token):
        self.address = address
        self.token = token
        self.selector = selectors.DefaultSelector()
        self.streams = []

    def open(self, path, count):
        host, port = self.address.rsplit(":", 1)
        for _ in range(count):
            sock = socket.create_connection((host, int(port)))
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {self.address}\r\n"
                         f"Authorization: Bearer {self.token}\r\n\r\n".encode())
            state = {"sock": sock, "buffer": b"", "events": 0, "status": None, "path": path}
            sock.setblocking(False)
            self.selector.register(sock, selectors.EVENT_READ, state)
            self.streams.append(state)
            self.pump(0)  # read what has come, so that no socket buffer fills meanwhile

    def pump(self, seconds):
        deadline = time.monotonic() + seconds
        while True:
            left = max(0.0, deadline - time.monotonic())
            for key, _ in self.selector.select(left):
                state = key.data
                chunk = state["sock"].recv(65536)
                if not chunk:
                    self.selector.unregister(state["sock"])
                    state["status"] = state["status"] or "closed"
                    continue
                state["buffer"] += chunk
                if state["status"] is None and b"\r\n" in state["buffer"]:
                    state["status"] = state["buffer"].split(b"\r\n", 1)[0].decode()
                state["events"] += chunk.count(b'"type":"event"')
            if time.monotonic() >= deadline:
                return

    def not_ok(self):
        return [s["status"] for s in self.streams if not (s["status"] or "").endswith("200 OK")]


def idle_window(pid, streams, seconds):
    """belt-api's CPU seconds per wall second and its RSS over `seconds` while the client only reads."""
    before, started = cpu_seconds(pid), time.monotonic()
    streams.pump(seconds)
    used, wall = cpu_seconds(pid) - before, time.monotonic() - started
    return {"cpu_ms_per_s": round(1000 * used / wall, 2), "rss_mib": round(rss_mib(pid), 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True, help="the belt-api program")
    parser.add_argument("--watches", type=int, default=1000)
    parser.add_argument("--follows", type=int, default=100)
    parser.add_argument("--events", type=int, default=20, help="belts created in the active phase")
    parser.add_argument("--seconds", type=float, default=20, help="length of each idle window")
    parser.add_argument("--out", help="the JSON result file")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 2 * (args.watches + args.follows) + 256
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(soft, wanted), hard), hard))

    data_dir = tempfile.mkdtemp(prefix="belt-streams-bench-")
    server, address, token = start_server(args.binary, data_dir)
    pid = server.pid
    try:
        belts = "/projects/bench/belts"
        call(address, token, "POST", belts, {"id": "1", "name": "quiet", "eventTypes": ["bench"],
                                                "extractorFn": CALLBACK})
        call(address, token, "POST", f"{belts}/1/state", {"action": "START"})
        deadline = time.time() + 120
        while call(address, token, "GET", f"{belts}/1/state")["status"] != "RUNNING":
            if time.time() > deadline:
                raise SystemExit("the belt did not reach RUNNING")
            time.sleep(0.5)
        time.sleep(2)  # let the start's own work settle

        streams = Streams(address, token)
        print(f"== baseline: no stream, {args.seconds:g} s", flush=True)
        baseline = idle_window(pid, streams, args.seconds)
        print(f"== {args.watches} watch streams open, idle, {args.seconds:g} s", flush=True)
        streams.open("/projects/bench/watch", args.watches)
        streams.pump(2)
        watches = idle_window(pid, streams, args.seconds)
        print(f"== and {args.follows} logs?follow=true streams, idle, {args.seconds:g} s", flush=True)
        streams.open(f"{belts}/1/logs?follow=true", args.follows)
        streams.pump(2)
        both = idle_window(pid, streams, args.seconds)
        refused = streams.not_ok()
        if refused:
            raise SystemExit(f"{len(refused)} streams were not answered 200: {refused[:3]}")

        print(f"== active: {args.events} belts created while every stream is open", flush=True)
        before_cpu, before_events = cpu_seconds(pid), sum(s["events"] for s in streams.streams)
        started = time.monotonic()
        for n in range(args.events):
            call(address, token, "POST", belts, {"name": f"b{n}", "eventTypes": ["bench"],
                                                 "extractorFn": CALLBACK})
        written = time.monotonic()
        expected = before_events + args.events * args.watches
        while sum(s["events"] for s in streams.streams) < expected and time.monotonic() - written < 60:
            streams.pump(0.05)
        delivered = sum(s["events"] for s in streams.streams) - before_events
        done = time.monotonic()
        active = {"events": args.events, "deliveries": delivered,
                  "expected_deliveries": args.events * args.watches,
                  "last_delivery_after_last_write_ms": round(1000 * (done - written), 1),
                  "writes_seconds": round(written - started, 2),
                  "cpu_ms": round(1000 * (cpu_seconds(pid) - before_cpu), 1),
                  "rss_mib": round(rss_mib(pid), 1)}
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
    result = {"binary": args.binary, "watches": args.watches, "follows": args.follows,
              "idle_seconds": args.seconds, "baseline": baseline, "watches_idle": watches,
              "watches_and_follows_idle": both, "active": active}
    per_stream_kib = 1024 * (both["rss_mib"] - baseline["rss_mib"]) / (args.watches + args.follows)
    print(f"baseline                      CPU {baseline['cpu_ms_per_s']:7.2f} ms/s   RSS {baseline['rss_mib']:7.1f} MiB")
    print(f"{args.watches} watches idle             CPU {watches['cpu_ms_per_s']:7.2f} ms/s   RSS {watches['rss_mib']:7.1f} MiB")
    print(f"+ {args.follows} follows idle            CPU {both['cpu_ms_per_s']:7.2f} ms/s   RSS {both['rss_mib']:7.1f} MiB"
          f"   ({per_stream_kib:.1f} KiB per stream over the baseline)")
    print(f"active: {delivered} of {args.events * args.watches} deliveries, the last "
          f"{active['last_delivery_after_last_write_ms']} ms after the last write; CPU {active['cpu_ms']} ms")
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "results", "streams.json")
    with open(out, "w") as f:
        json.dump(result, f, indent=2)
    if delivered != args.events * args.watches:
        raise SystemExit("not every watch stream received every event")


if __name__ == "__main__":
    main()
