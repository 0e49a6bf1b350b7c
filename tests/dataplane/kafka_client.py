"""The tests' Kafka client (confluent-kafka, from the belt host's environment). One command per
run; every answer is JSON on stdout, one object per line.

  topics   BOOTSTRAP NAME:PARTITIONS...          create topics (existing ones are fine)
  produce  BOOTSTRAP TOPIC FIRST COUNT PARTITIONS  events {"n": i} for i in FIRST..FIRST+COUNT,
           key str(i), header grnry-correlation-id c-<i>, partition i % PARTITIONS; prints each
           record's {"n", "partition", "offset"}
  read     BOOTSTRAP TOPIC EXPECTED TIMEOUT LINGER [distinct]  reads the topic from the start (no
           group) until EXPECTED records (with `distinct`: records of EXPECTED different
           correlation ids) or TIMEOUT seconds, then LINGER more seconds for extras;
           prints each record's {"partition", "offset", "key", "headers", "value"}
  count    BOOTSTRAP TOPIC                       prints {"count": records in the topic}
"""

import json
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def topics(bootstrap, *specs):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    wanted = [NewTopic(name, int(partitions), 1)
              for name, partitions in (spec.rsplit(":", 1) for spec in specs)]
    for name, future in admin.create_topics(wanted, operation_timeout=10).items():
        try:
            future.result()
        except KafkaException as error:
            if "TOPIC_ALREADY_EXISTS" not in str(error):
                raise
        print(json.dumps({"created": name}))


def produce(bootstrap, topic, first, count, partitions):
    first, count, partitions = int(first), int(count), int(partitions)
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    delivered = []

    def on_delivery(error, message):
        if error is not None:
            raise KafkaException(error)
        delivered.append({"n": int(message.key()), "partition": message.partition(),
                          "offset": message.offset()})

    for n in range(first, first + count):
        while True:
            try:
                producer.produce(topic, value=json.dumps({"n": n}).encode(), key=str(n).encode(),
                                 partition=n % partitions, on_delivery=on_delivery,
                                 headers=[("grnry-correlation-id", f"c-{n}")])
                break
            except BufferError:
                producer.poll(0.1)
    if producer.flush(30) != 0:
        sys.exit("not every event was acknowledged")
    for record in delivered:
        print(json.dumps(record))


def partitions_of(consumer, topic):
    metadata = consumer.list_topics(topic, timeout=10).topics[topic]
    if metadata.error is not None:
        raise KafkaException(metadata.error)
    return sorted(metadata.partitions)


def read(bootstrap, topic, expected, timeout, linger, distinct=""):
    expected, timeout, linger = int(expected), float(timeout), float(linger)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "tests-reader",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions_of(consumer, topic)])
    seen = set() if distinct else 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (len(seen) if distinct else seen) >= expected:
            deadline = min(deadline, time.monotonic() + linger)
        for message in consumer.consume(1000, 0.2):
            if message.error() is not None:
                continue
            headers = {k: v.decode() for k, v in message.headers() or []}
            if distinct:
                seen.add(headers.get("grnry-correlation-id"))
            else:
                seen += 1
            print(json.dumps({
                "partition": message.partition(), "offset": message.offset(),
                "key": None if message.key() is None else message.key().decode(),
                "headers": headers, "value": json.loads(message.value()),
            }))
    consumer.close()


def count(bootstrap, topic):
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "tests-counter"})
    total = 0
    for partition in partitions_of(consumer, topic):
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
        total += high - low
    consumer.close()
    print(json.dumps({"count": total}))


def paced(bootstrap, topic, group, rate, seconds):
    """Produces `rate` events a second to partition 0 of `topic` for `seconds`, and once a second
    measures `group` as any Kafka client sees it: its committed offsets and the log end, summed
    over the topic's partitions. Prints the measurements, one JSON line each (`at` in epoch ms)."""
    rate, seconds = int(rate), int(seconds)
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    observer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "enable.auto.commit": False})
    partitions = [TopicPartition(topic, p) for p in partitions_of(observer, topic)]
    start = time.monotonic()
    for second in range(seconds):
        for n in range(rate):
            due = start + second + n / rate
            time.sleep(max(0.0, due - time.monotonic()))
            number = second * rate + n
            producer.produce(topic, value=json.dumps({"n": number}).encode(), key=str(number).encode(),
                             partition=0, headers=[("grnry-correlation-id", f"c-{number}")])
            producer.poll(0)
        producer.flush(10)
        committed = observer.committed(partitions, timeout=10)
        log_end = sum(observer.get_watermark_offsets(p, timeout=10)[1] for p in partitions)
        done = sum(max(c.offset, 0) for c in committed)
        print(json.dumps({"at": int(time.time() * 1000), "committed": done, "logEnd": log_end}),
              flush=True)
    observer.close()


if __name__ == "__main__":
    commands = {"topics": topics, "produce": produce, "read": read, "count": count, "paced": paced}
    commands[sys.argv[1]](*sys.argv[2:])
