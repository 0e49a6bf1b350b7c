"""The console benchmark's second phase (bench/console/bench.py runs it): status changes at a
fixed rate reach an open console page without one dropped. Two streams are read at once in this
process: the console's own (`/ui/projects/{p}/belts/events`, Server-Sent Events, with the
session cookie, as the page's script opens it) and the API's watch (`/projects/{p}/watch`, NDJSON,
with a token) as the reference. Meanwhile START and STOP alternate over the project's belts at
`rate` writes per second (each write one event, and each START soon one more: the runtime's
DEPLOYING → RUNNING). Every event id the watch delivered must reach the page, once and in order.
"""

import concurrent.futures
import json
import selectors
import socket
import time
import urllib.error
import urllib.request


class Reader:
    """One streaming HTTP/1.1 answer, chunked or not; collects the event ids it carries."""

    def __init__(self, address, path, headers, parse):
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)))
        extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {address}\r\n{extra}\r\n".encode())
        self.sock.setblocking(False)
        self.buffer = b""
        self.head = None
        self.ids = []
        self.ended = None
        self.parse = parse

    def read(self):
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            self.ended = self.ended or "closed"
            return False
        self.buffer += chunk
        if self.head is None and b"\r\n\r\n" in self.buffer:
            self.head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            if not self.head.startswith(b"HTTP/1.1 200"):
                raise SystemExit(f"a stream was refused: {self.head[:200]!r}")
        if self.head is not None:
            self.buffer = self.parse(self, self.buffer)
        return True


def sse_ids(reader, data):
    """SSE events (`id:` and `event: status`), from a chunked body read as bytes: chunk-size lines
    are not SSE fields and are skipped."""
    *blocks, rest = data.split(b"\n\n")
    for block in blocks:
        fields = {}
        for line in block.split(b"\n"):
            name, _, value = line.decode(errors="replace").partition(":")
            fields[name.strip()] = value.strip()
        if fields.get("event") == "status" and "id" in fields:
            reader.ids.append(int(fields["id"]))
        if fields.get("event") == "end":
            reader.ended = fields.get("data")
    return rest


def ndjson_ids(reader, data):
    *lines, rest = data.split(b"\n")
    for line in lines:
        line = line.strip()
        if line.startswith(b"{"):
            item = json.loads(line)
            if item.get("type") == "event":
                reader.ids.append(item["id"])
    return rest


def call(address, token, method, path, body):
    """Answers whether the write was done; a refusal (a START while the belt still stops) is
    counted, not fatal: it makes no event."""
    request = urllib.request.Request(f"http://{address}{path}", data=json.dumps(body).encode(),
                                     method=method, headers={"Authorization": f"Bearer {token}",
                                                             "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            answer.read()
            return True
    except urllib.error.HTTPError as refused:
        if refused.code >= 500:
            raise
        return False


def changes_reach_the_page(address, token, cookie, belt_ids, rate, seconds):
    page = Reader(address, "/ui/projects/bench/belts/events", {"Cookie": cookie}, sse_ids)
    watch = Reader(address, "/projects/bench/watch", {"Authorization": f"Bearer {token}"},
                   ndjson_ids)
    selector = selectors.DefaultSelector()
    for reader in (page, watch):
        selector.register(reader.sock, selectors.EVENT_READ, reader)

    def pump(timeout):
        for key, _ in selector.select(timeout):
            if not key.data.read():
                selector.unregister(key.data.sock)

    pump(1.0)  # both streams answered and at their bookmark
    # Open loop: each write is sent when due by one of a pool of writers, whatever the answers
    # before it take; belt n % len(belt_ids) is started in even rounds, stopped in odd ones.
    writes, started = int(rate * seconds), time.monotonic()
    pool = concurrent.futures.ThreadPoolExecutor(32)
    sent = []
    for n in range(writes):
        due = started + n / rate
        while time.monotonic() < due:
            pump(max(0.0, due - time.monotonic()))
        belt = belt_ids[n % len(belt_ids)]
        action = "START" if (n // len(belt_ids)) % 2 == 0 else "STOP"
        path = f"/projects/bench/belts/{belt}/state"
        sent.append(pool.submit(call, address, token, "POST", path, {"action": action}))
    refused = sum(1 for done in sent if not done.result())
    took = time.monotonic() - started
    # The last writes' runtime events, then what is still on its way.
    settle = time.monotonic() + 10
    while time.monotonic() < settle:
        pump(0.2)
    stops = [pool.submit(call, address, token, "POST", f"/projects/bench/belts/{belt}/state",
                         {"action": "STOP"}) for belt in belt_ids]
    for done in stops:
        done.result()
    pool.shutdown()
    missing = sorted(set(watch.ids) - set(page.ids))
    result = {"writes": writes, "refused": refused, "writes_per_s": round(writes / took, 1),
              "events_on_the_watch": len(watch.ids), "events_on_the_page": len(page.ids),
              "events_per_s": round(len(watch.ids) / took, 1), "missing_on_the_page": len(missing),
              "in_order": page.ids == sorted(page.ids),
              "repeated_on_the_page": len(page.ids) - len(set(page.ids)),
              "page_stream_ended": page.ended}
    for reader in (page, watch):
        reader.sock.close()
    return result
