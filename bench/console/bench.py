"""The console benchmark (bench/console/run.sh starts it; see bench/README.md#console).

One `belt-api serve` (local runtime, no data plane) with N belts in one project (default 1,000),
created through the API. A dev sign-in through the console's form gives a session cookie; then the
list page's first page (`/ui/projects/{p}/belts`, the default page size) is asked for R times, one
after the other, and belt-api's own `Server-Timing: app;dur=<ms>` of each answer is recorded: the
time from the request reaching the console's routes to the answer made, without the network or
this client. Target: every first page under 300 ms of server time.

Then (live.py) status changes offered at 150 writes per second for 10 s (open loop), START and STOP over the first 200
belts, while the console's event stream and the API's watch are open: every event the watch
delivered must reach the page's stream, once and in order.
"""

import argparse
import concurrent.futures
import json
import os
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request

from live import changes_reach_the_page

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET_MS = 300.0


def start_server(binary, data_dir):
    env = {"PATH": os.environ["PATH"], "BELT_LISTEN": "127.0.0.1:0", "BELT_DATA_DIR": data_dir,
           "BELT_KAFKA_BROKER": "none", "BELT_LOCAL_SANDBOX": "none", "RUST_LOG": "warn,belt_api=info"}
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
    threading.Thread(target=lambda: [None for _ in process.stderr], daemon=True).start()
    token = subprocess.run([binary, "token", "--project", "bench", "--role", "editor", "--ttl", "2h",
                            "--data-dir", data_dir], capture_output=True, text=True, check=True)
    return process, address, token.stdout.strip()


def create_belts(address, token, count):
    def create(n):
        body = json.dumps({"name": f"console-bench-{n:05}", "eventTypes": ["test-a"],
                           "description": f"belt {n} of the console benchmark"}).encode()
        request = urllib.request.Request(f"http://{address}/projects/bench/belts", data=body,
                                         method="POST",
                                         headers={"Authorization": f"Bearer {token}",
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as answer:
            assert answer.status in (200, 201), answer.status
            return json.loads(answer.read())["id"]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        return list(pool.map(create, range(count)))


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def sign_in(address):
    """The console's dev sign-in form; answers the session cookie."""
    form = urllib.parse.urlencode({"name": "bench", "project": "bench", "role": "viewer"}).encode()
    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(f"http://{address}/ui/login", data=form, method="POST")
    try:
        opener.open(request, timeout=30)
    except urllib.error.HTTPError as answer:  # the 303 to the list
        cookie = answer.headers["Set-Cookie"]
        if answer.code != 303 or not cookie:
            raise SystemExit(f"sign-in answered {answer.code}")
        return cookie.split(";", 1)[0]
    raise SystemExit("sign-in did not redirect")


def list_page_times(address, cookie, rounds, belts):
    times = []
    for _ in range(rounds):
        request = urllib.request.Request(f"http://{address}/ui/projects/bench/belts",
                                         headers={"Cookie": cookie})
        with urllib.request.urlopen(request, timeout=30) as answer:
            page = answer.read().decode()
            timing = answer.headers["Server-Timing"]
        if f"{belts} belts match" not in page:
            raise SystemExit(f"the list page does not show {belts} belts")
        times.append(float(timing.split("dur=", 1)[1]))
    return sorted(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True, help="the belt-api program")
    parser.add_argument("--belts", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=200, help="list pages asked for")
    parser.add_argument("--rate", type=float, default=150, help="status writes offered per second")
    parser.add_argument("--seconds", type=float, default=10, help="length of the live phase")
    parser.add_argument("--out", default=os.path.join(HERE, "..", "results", "console.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="belt-console-bench-") as data_dir:
        process, address, token = start_server(args.binary, data_dir)
        try:
            started = time.monotonic()
            ids = create_belts(address, token, args.belts)
            print(f"== {args.belts} belts created in {time.monotonic() - started:.1f} s", flush=True)
            cookie = sign_in(address)
            times = list_page_times(address, cookie, args.rounds, args.belts)
            belt_ids = ids[:200]
            live = changes_reach_the_page(address, token, cookie, belt_ids, args.rate, args.seconds)
        finally:
            process.kill()
            process.wait()
    result = {
        "binary": os.path.relpath(os.path.abspath(args.binary)),
        "belts": args.belts,
        "rounds": args.rounds,
        "list_first_page_server_ms": {
            "p50": round(statistics.median(times), 2),
            "p99": round(times[min(len(times) - 1, int(len(times) * 0.99))], 2),
            "max": round(times[-1], 2),
        },
        "target_ms": TARGET_MS,
        "live": live,
    }
    page = result["list_first_page_server_ms"]
    print(f"list page, {args.belts} belts: server time p50 {page['p50']} ms, p99 {page['p99']} ms, "
          f"max {page['max']} ms (target: every page < {TARGET_MS:g} ms)")
    print(f"live: {live['writes']} writes at {live['writes_per_s']}/s, {live['events_on_the_watch']} "
          f"events on the watch ({live['events_per_s']}/s), {live['events_on_the_page']} on the page, "
          f"{live['missing_on_the_page']} missing, in order: {live['in_order']}")
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    if page["max"] >= TARGET_MS:
        raise SystemExit("the target was missed")
    if live["missing_on_the_page"] or not live["in_order"] or live["repeated_on_the_page"]:
        raise SystemExit("the page's stream lost, repeated or reordered events")


if __name__ == "__main__":
    main()
