"""The baseline of the data-plane benchmark: consume → produce → flush → commit, in batches, with the
client and settings the belt host uses, and nothing else (no JSON, no callback, no records to build).

usage: bare_loop.py <bootstrap> <input topic> <output topic> <group>
"""

import signal
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

# As the belt host (src/runtime/local/python/belt_kafka.py): up to BATCH records, what arrives within
# BATCH_SECONDS of the first; flush (acks=all); then an asynchronous commit.
BATCH = 1000
POLL_SECONDS = 0.5
BATCH_SECONDS = 0.3


def behind(consumer, message):
    # As belt_kafka.backlog_behind: the broker holds more of the partition than was fetched.
    if message.error() is not None:
        return False
    try:
        _, high = consumer.get_watermark_offsets(
            TopicPartition(message.topic(), message.partition()), cached=True)
    except (KafkaException, TypeError):
        return False
    return high is not None and high > message.offset() + 1


def fetch(consumer):
    # As Pipeline.fetch: wait only for the first record, then take what the client has already
    # fetched, and while the broker holds more (a backlog) what arrives within BATCH_SECONDS.
    messages = consumer.consume(1, POLL_SECONDS)
    deadline = time.monotonic() + BATCH_SECONDS
    while messages and len(messages) < BATCH:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        more = consumer.consume(BATCH - len(messages), 0)
        if not more and behind(consumer, messages[-1]):
            more = consumer.consume(1, left)
        if not more:
            break
        messages += more
    return messages


def main():
    bootstrap, topic_in, topic_out, group = sys.argv[1:5]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "session.timeout.ms": 10000, "heartbeat.interval.ms": 1000,
                         "fetch.wait.max.ms": 100})
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    consumer.subscribe([topic_in])
    while True:
        messages = [m for m in fetch(consumer) if not m.error()]
        if not messages:
            continue
        for message in messages:
            producer.produce(topic_out, message.value(), key=message.key(), headers=message.headers())
            producer.poll(0)
        producer.flush()
        last = {}
        for message in messages:
            last[(message.topic(), message.partition())] = message.offset() + 1
        consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in last.items()],
                        asynchronous=True)


if __name__ == "__main__":
    main()
