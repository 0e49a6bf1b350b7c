"""The data-plane benchmark (bench/dataplane/run.sh starts it; see bench/README.md#data-plane).

1. Throughput: N events wait on one input partition. A bare consume→produce loop (bare_loop.py: the same
   confluent-kafka client, the same batches and commit-after-flush as the host, no callback) copies them to
   one topic; one replica of the bundled belt host with a trivial callback turns them into updates on
   another. Each rate is (N - 1) / (last - first output record's CreateTime): the steady state, without
   the group join either pays once.
2. Latency: once a warm-up event has come through (the host joined its group), events are produced at a fixed rate (open loop: each is due at
   start + i / rate, and its latency counts from that due time, so a stall is charged to every event due
   during it); the update's arrival minus the due time is recorded.
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

HERE = os.path.dirname(os.path.abspath(__file__))
CALLBACK = '''
def execute(headers, event):
    return {"keys": [str(event["n"])], "type": "bench", "values": [{"value": event.get("due")}]}
'''


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_broker(program, work):
    port = free_port()
    log = open(os.path.join(work, "broker.log"), "w")
    process = subprocess.Popen(
        [program, "broker", "--listener-url", f"tcp://127.0.0.1:{port}",
         "--advertised-listener-url", f"tcp://127.0.0.1:{port}",
         # nisshi reads a sqlite:// path relative to its working directory
         "--storage-engine", "sqlite://broker.db",
         "--group-initial-rebalance-delay", "0s", "--silent"],
        stdout=log, stderr=subprocess.STDOUT, cwd=work)
    bootstrap = f"127.0.0.1:{port}"
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    deadline = time.time() + 30
    while True:
        try:
            admin.list_topics(timeout=1)
            return process, bootstrap
        except Exception:  # not listening yet
            if time.time() > deadline or process.poll() is not None:
                raise SystemExit(f"the broker did not start; see {work}/broker.log")
            time.sleep(0.2)


def create_topics(bootstrap, names):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(n, 1, 1) for n in names]).values():
        future.result(timeout=30)


def produce_events(bootstrap, topic, count, first=0):
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    for n in range(first, first + count):
        while True:
            try:
                producer.produce(topic, json.dumps({"n": n, "payload": "x" * 100}).encode(),
                                 headers=[("grnry-correlation-id", f"c-{n}")])
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    producer.flush(30)


def read_outputs(bootstrap, topic, count, timeout, on_record=None):
    """Reads `count` records from `topic`; answers their CreateTimes (ms) or fails after `timeout`."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-reader-{topic}-{time.time()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "fetch.wait.max.ms": 100})
    consumer.subscribe([topic])
    stamps = []
    deadline = time.time() + timeout
    try:
        while len(stamps) < count:
            if time.time() > deadline:
                raise SystemExit(f"{topic}: {len(stamps)} of {count} records after {timeout} s")
            for message in consumer.consume(1, 0.2) + consumer.consume(499, 0):
                if message.error():
                    continue
                stamps.append(message.timestamp()[1])
                if on_record:
                    on_record(message)
    finally:
        consumer.close()
    return stamps


def rate(stamps):
    span = (max(stamps) - min(stamps)) / 1000
    return (len(stamps) - 1) / span if span > 0 else float("inf")


def host_process(args, work, bootstrap, topic_in, topic_out):
    belt_dir = os.path.join(work, "replica")
    os.makedirs(belt_dir)
    with open(os.path.join(belt_dir, "callback.py"), "w") as f:
        f.write(CALLBACK)
    open(os.path.join(belt_dir, "requirements.txt"), "w").close()
    env = {"PATH": os.environ["PATH"], "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
           "KAFKA_INPUT_TOPICS": topic_in, "EVENT_TYPES": "bench", "KAFKA_CONSUMER_GROUP": "bench-host",
           "KAFKA_DESTINATION_TOPIC": topic_out, "KAFKA_ERROR_TOPIC": "bench-dlq",
           "FETCH_PROFILE": "FALSE", "BELT_ID": "1", "BELT_VERSION": "1", "PROJECT_NAME": "bench",
           "BELT_REPLICA_NAME": "bench-1", "DEBUG": "false", "PARAMETER": ""}
    if args.source_header:
        env["BELT_SOURCE_HEADER"] = "true"
    log = open(os.path.join(work, "host.log"), "w")
    here = os.path.abspath(args.host_dir)
    # As belt-api starts a replica: the trusted host and the worker that runs the callback, joined
    # by two pipes (docs/local-sandbox.md#two-processes), without the sandbox.
    host_reads, worker_writes = os.pipe()
    worker_reads, host_writes = os.pipe()
    host = subprocess.Popen([sys.executable, "-I", os.path.join(here, "belt_host.py")],
                            cwd=belt_dir, env=env, stdin=host_reads, stdout=host_writes,
                            stderr=log)
    worker_env = {name: value for name, value in env.items() if not name.startswith("KAFKA_")}
    subprocess.Popen([sys.executable, os.path.join(here, "belt_worker.py")], cwd=belt_dir,
                     env=worker_env, stdin=worker_reads, stdout=worker_writes, stderr=log)
    for fd in (host_reads, worker_writes, worker_reads, host_writes):
        os.close(fd)
    return host


def latency(bootstrap, topic_in, topic_out, offered, seconds):
    """Open loop at `offered` events/s for `seconds`; answers sorted latencies in ms."""
    count = int(offered * seconds)
    latencies = []
    done = threading.Event()
    warm = threading.Event()

    def on_record(message):
        value = json.loads(message.value())
        if value["keys"] == ["warm-up"]:
            warm.set()
            return
        due = value["values"][0]["value"]
        latencies.append((time.time() - due) * 1000)

    def reader():
        read_outputs(bootstrap, topic_out, count + 1, seconds + 120, on_record)
        done.set()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    # linger.ms 5: the Java client's default since Kafka 4.0. With 1 ms, nearly every event is a
    # record batch of its own, and the broker serves about one batch per fetch round trip: a single
    # partition then tops out near 300 batches/s and every client behind it falls behind
    # (bench/README.md#data-plane).
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    # One event through the whole path first: the host has joined its group and the reader reads,
    # so what follows measures the running belt, not its start (which the throughput run covers).
    producer.produce(topic_in, json.dumps({"n": "warm-up", "due": time.time()}).encode(),
                     headers=[("grnry-correlation-id", "warm-up")])
    producer.flush(30)
    if not warm.wait(60):
        raise SystemExit("latency: the warm-up event got no update within 60 s")
    start = time.time()
    for n in range(count):
        due = start + n / offered
        pause = due - time.time()
        if pause > 0:
            time.sleep(pause)
        producer.produce(topic_in, json.dumps({"n": n, "due": due}).encode(),
                         headers=[("grnry-correlation-id", f"l-{n}")])
        producer.poll(0)
    producer.flush(30)
    thread.join(seconds + 90)
    if not done.is_set():
        raise SystemExit("latency: not every update arrived")
    return sorted(latencies)


def percentile(values, p):
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--broker", required=True, help="the nisshi program")
    parser.add_argument("--host-dir", required=True, help="where belt_host.py and belt_lib.py are")
    parser.add_argument("--events", type=int, default=20000, help="events for the throughput runs")
    parser.add_argument("--rate", type=float, default=500, help="offered events/s for the latency run")
    parser.add_argument("--seconds", type=float, default=20, help="length of the latency run")
    parser.add_argument("--quick", action="store_true", help="2,000 events, 5 s at 200/s (CI smoke test)")
    parser.add_argument("--out", help="the JSON result file")
    parser.add_argument("--source-header", action="store_true",
                        help="updates also carry grnry-source (belt-api's BELT_RECORD_SOURCE_HEADER)")
    args = parser.parse_args()
    if args.quick:
        args.events, args.rate, args.seconds = 2000, 200, 5
    out = args.out or os.path.join(HERE, "..", "results",
                                   "dataplane-quick.json" if args.quick else "dataplane.json")
    work = tempfile.mkdtemp(prefix="belt-dataplane-bench-")
    broker, bootstrap = start_broker(args.broker, work)
    processes = [broker]
    try:
        create_topics(bootstrap, ["bench-in", "bench-bare", "bench-out", "bench-dlq", "lat-in", "lat-out"])
        print(f"== {args.events} events waiting on one partition", flush=True)
        produce_events(bootstrap, "bench-in", args.events)

        print("== bare consume→produce loop (same client, same batches)", flush=True)
        bare = subprocess.Popen([sys.executable, os.path.join(HERE, "bare_loop.py"), bootstrap,
                                 "bench-in", "bench-bare", "bench-bare-loop"])
        processes.append(bare)
        bare_rate = rate(read_outputs(bootstrap, "bench-bare", args.events, 120))
        bare.terminate()

        print("== one replica of the belt host, trivial callback", flush=True)
        host = host_process(args, work, bootstrap, "bench-in", "bench-out")
        processes.append(host)
        host_rate = rate(read_outputs(bootstrap, "bench-out", args.events, 120))
        host.terminate()
        host.wait(30)

        print(f"== latency: {args.rate:g} events/s for {args.seconds:g} s, open loop", flush=True)
        shutil.rmtree(os.path.join(work, "replica"))
        host = host_process(args, work, bootstrap, "lat-in", "lat-out")
        processes.append(host)
        latencies = latency(bootstrap, "lat-in", "lat-out", args.rate, args.seconds)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    result = {
        "events": args.events,
        "source_header": args.source_header,
        "bare_events_per_s": round(bare_rate),
        "host_events_per_s": round(host_rate),
        "host_fraction_of_bare": round(host_rate / bare_rate, 3),
        "target_fraction": 0.75,
        "latency": {"offered_per_s": args.rate, "seconds": args.seconds, "count": len(latencies),
                    "p50_ms": round(percentile(latencies, 50), 1),
                    "p99_ms": round(percentile(latencies, 99), 1),
                    "max_ms": round(latencies[-1], 1)},
    }
    print(f"bare loop      {bare_rate:10.0f} events/s")
    print(f"belt host      {host_rate:10.0f} events/s   {host_rate / bare_rate:.0%} of the bare loop "
          f"(target ≥ 75 %)")
    lat = result["latency"]
    print(f"latency at {args.rate:g}/s: p50 {lat['p50_ms']} ms, p99 {lat['p99_ms']} ms, max {lat['max_ms']} ms")
    with open(out, "w") as f:
        json.dump(result, f, indent=2)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
