# Project A's hostile code (tests/tenancy_dataplane.rs): from a callback at import, or from a
# test-invoke's execute, it tries every way onto the data plane and belt-api's own services, and
# prints one `ATTEMPT <name> OK|FAILED <detail>` line per try. The targets come in TARGET_*.
import os
import socket

REPORT = []


def attempt(name, action):
    try:
        line = f"ATTEMPT {name} OK {action()!r}"
    except Exception as error:  # what stopped it is the point
        line = f"ATTEMPT {name} FAILED {type(error).__name__}: {error}"
    line = line.replace("\n", " ")[:300]
    REPORT.append(line)
    print(line, flush=True)


def connect(host, port):
    with socket.create_connection((host, int(port)), timeout=3):
        return "connected"


def unix(path):
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(3)
        sock.connect(path)
        return "connected"


BROKER = os.environ["TARGET_BROKER"]
TOPIC = os.environ["TARGET_TOPIC"]
GROUP = os.environ["TARGET_GROUP"]
CONFIG = {"bootstrap.servers": BROKER, "socket.timeout.ms": 2000, "log_level": 0}


def kafka_admin_list():
    from confluent_kafka.admin import AdminClient

    return sorted(AdminClient(CONFIG).list_topics(timeout=4).topics)


def kafka_admin_delete():
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(CONFIG)
    futures = admin.delete_topics([TOPIC], operation_timeout=3, request_timeout=4)
    futures[TOPIC].result(timeout=6)
    return "deleted"


def kafka_consume():
    from confluent_kafka import Consumer

    consumer = Consumer(dict(CONFIG, **{"group.id": GROUP, "auto.offset.reset": "earliest"}))
    consumer.subscribe([TOPIC])
    messages = [m for m in consumer.consume(10, 5) if m.error() is None]
    if not messages:
        raise RuntimeError("nothing read")
    consumer.commit(asynchronous=False)
    return f"read {len(messages)}"


def kafka_produce():
    from confluent_kafka import Producer

    outcomes = []
    producer = Producer(dict(CONFIG, **{"message.timeout.ms": 4000}))
    producer.produce(TOPIC, b'{"n": 999999}', headers=[("grnry-correlation-id", "stolen")],
                     on_delivery=lambda error, _message: outcomes.append(error))
    producer.flush(8)
    if outcomes != [None]:
        raise RuntimeError(f"not delivered: {outcomes}")
    return "delivered"


def run_all(prefix, kafka=True):
    host, port = BROKER.rsplit(":", 1)
    attempt(f"{prefix}socket-broker", lambda: connect(host, port))
    attempt(f"{prefix}socket-api", lambda: connect("127.0.0.1", os.environ["TARGET_API_PORT"]))
    attempt(f"{prefix}socket-postgres", lambda: connect("127.0.0.1", 5432))
    attempt(f"{prefix}unix-postgres", lambda: unix("/var/run/postgresql/.s.PGSQL.5432"))
    if kafka:
        attempt(f"{prefix}kafka-admin-list", kafka_admin_list)
        attempt(f"{prefix}kafka-admin-delete", kafka_admin_delete)
        attempt(f"{prefix}kafka-consume", kafka_consume)
        attempt(f"{prefix}kafka-produce", kafka_produce)
    return list(REPORT)
