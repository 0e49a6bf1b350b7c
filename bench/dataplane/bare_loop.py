"""The baseline of the data-plane benchmark: consume → produce → flush → commit, in batches, with the
client and settings the belt host uses, and nothing else (no JSON, no callback, no records to build).

usage: bare_loop.py <bootstrap> <input topic> <output topic> <group>
"""

import signal
import sys

from confluent_kafka import Consumer, Producer, TopicPartition

BATCH = 500


def main():
    bootstrap, topic_in, topic_out, group = sys.argv[1:5]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    consumer.subscribe([topic_in])
    while True:
        messages = [m for m in consumer.consume(BATCH, 0.1) if not m.error()]
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
                        asynchronous=False)


if __name__ == "__main__":
    main()
