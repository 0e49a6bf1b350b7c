"""The belt host's data plane: consume the belt's input topics, have the worker run `execute` on
each record, produce its updates, commit (docs/api.md#records).

Work goes in batches: consume up to BATCH records, send them to the worker in one frame, check and
produce every output it answers, wait until the broker has acknowledged all of them (acks=all),
and only then commit the next offsets. So a crash at any point loses nothing (the batch is
consumed again: at least once), while the broker round trips and the worker's are paid per batch,
not per record. Batches are pipelined: while the worker runs batch N, the host waits for the acks
of batch N-1's outputs and commits N-1 (Pipeline.batch). What the worker answers is data, checked
here: an update may only go to the belt's own outputs.
"""

import json
import os
import signal
import sys
import time

from belt_frames import BadFrame, ChannelClosed
from belt_profiles import Profiles
from belt_worker_link import WorkerLink

BATCH = 1000
POLL_SECONDS = 0.5
# How long a batch waits for more records once the first arrived, while the broker holds more than
# the client has fetched (a backlog). At 0.1 s a batch of 1,000 was cut short whenever the host ran
# below 10,000 records/s, and smaller batches made it slower still (bench/README.md#data-plane).
BATCH_SECONDS = 0.3
REPORT_SECONDS = 10
FLUSH_SECONDS = 5
# Dead-lettered records logged one by one per report interval; the rest are only counted.
DLQ_LINES_PER_REPORT = 5
# Profile modes in which execute gets a profile; LAZY hands an object that fetches on first use.
EAGER_PROFILE_MODES = {"TRUE", "PREFETCH", "PREFETCH_WITH_HISTORY"}
# Which profile an event is about: this header, else the record's key.
PROFILE_KEY_HEADER = "grnry-profile-key"
# What of a worker's dead-letter reason, error and traceback reaches the record.
MAX_REPORT_CHARS = 64 * 1024
EXIT_BROKEN = 1
EXIT_BAD_SETUP = 2


def log(message):
    print(f"belt-host: {message}", flush=True)


class Shutdown:
    """SIGTERM while consuming only asks to stop: the record in hand is finished, its outputs are
    produced and acknowledged, its offset committed, and the consumer leaves the group."""

    def __init__(self):
        self.requested = False

    def install(self):
        signal.signal(signal.SIGTERM, self.request)

    def request(self, _signum, _frame):
        self.requested = True


def headers_of(message):
    """The record's headers as a dict of str (a repeated name keeps its last value)."""
    decoded = {}
    for name, value in message.headers() or []:
        if isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        decoded[name] = value
    return decoded


def text_of(raw):
    return None if raw is None else raw.decode("utf-8", errors="replace")


def source_of(message):
    return f"{message.topic()}/{message.partition()}/{message.offset()}"


def profile_argument(mode, execute_arity):
    """How the worker gets the third argument of execute: a function of (headers, message) that
    answers {"v": profile} (fetched here) or, LAZY, {"k": key} (fetched when the worker asks), and
    the Profiles it fetches from; (None, None) when execute gets two. Exits with a clear message
    when a profile is required and no profile store is configured."""
    if mode == "FALSE" or (mode not in EAGER_PROFILE_MODES and execute_arity < 3):
        return None, None
    url = os.environ.get("PROFILE_STORE_URL", "")
    if not url:
        log(f"FETCH_PROFILE is {mode}, but no profile store is configured: belt-api passes "
            f"PROFILE_STORE_URL from its setting BELT_PROFILE_STORE_URL")
        sys.exit(EXIT_BAD_SETUP)
    profiles = Profiles(url, os.environ.get("PROFILE_TYPE", "_d"))

    def key_of(headers, message):
        key = headers.get(PROFILE_KEY_HEADER)
        return key if key is not None else text_of(message.key())

    if mode in EAGER_PROFILE_MODES:
        return (lambda headers, message: {"v": profiles.fetch(key_of(headers, message))}), profiles
    return (lambda headers, message: {"k": key_of(headers, message)}), profiles


def dead_letter_value(message, headers, report, belt):
    """The JSON value of a dead-lettered record (docs/api.md#the-error-topic); `report` is
    (reason, error, traceback) as text."""
    reason, error, traceback = (str(part)[:MAX_REPORT_CHARS] for part in report)
    return {
        "reason": reason,
        "error": error,
        "traceback": traceback,
        "topic": message.topic(),
        "partition": message.partition(),
        "offset": message.offset(),
        "timestamp": message.timestamp()[1],
        "key": text_of(message.key()),
        "headers": headers,
        "value": text_of(message.value()),
        "beltId": belt[0],
        "beltVersion": belt[1],
    }


class Pipeline:
    """One replica's consumer and producer, and the counts it reports."""

    def __init__(self, kafka, settings, worker, profile_for):
        self.kafka = kafka
        self.settings = settings
        self.worker = worker
        self.profile_for = profile_for
        self.consumer = kafka.Consumer(settings.consumer_config())
        self.producer = kafka.Producer(dict(settings.producer_config(),
                                            on_delivery=self.delivered))
        self.failed_deliveries = []
        self.counts = {"records": 0, "batches": 0, "updates": 0, "dead-lettered": 0}
        self.totals = dict(self.counts)
        self.dlq_lines = 0
        self.reported_at = time.monotonic()
        self.reported_errors = set()
        # The next offsets of the batch whose outputs are produced but not yet acknowledged: it
        # is settled and committed while the worker runs the batch after it.
        self.unsettled = {}

    # -- assignment ---------------------------------------------------------------------------

    def on_assign(self, consumer, partitions):
        """Applies PARTITION_OFFSETS to the partitions the group has no committed offset for
        (the first start); every other partition continues from its committed offset."""
        wanted = self.settings.partition_offsets
        if wanted:
            committed = consumer.committed(partitions, timeout=30)
            for partition, known in zip(partitions, committed):
                offsets = wanted.get(partition.topic) or []
                if known.offset < 0 and partition.partition < len(offsets):
                    partition.offset = int(offsets[partition.partition])
        consumer.assign(partitions)
        shown = ", ".join(f"{p.topic}[{p.partition}]" + (f"@{p.offset}" if p.offset >= 0 else "")
                          for p in partitions)
        log(f"assigned {len(partitions)} partition(s): {shown or '-'}")

    def on_revoke(self, _consumer, partitions):
        # The batch before the poll has its outputs produced: they are acknowledged and its
        # offsets committed before the partitions move on.
        self.settle_unsettled(self.shutdown, wait=True)
        log(f"revoked {len(partitions)} partition(s)")

    # -- producing ----------------------------------------------------------------------------

    def delivered(self, error, _message):
        if error is not None:
            self.failed_deliveries.append(error)

    def produce(self, topic, value, key, headers):
        while True:
            try:
                self.producer.produce(topic, value=value, key=key, headers=headers)
                return
            except BufferError:  # the local queue is full: let deliveries drain it
                self.producer.poll(0.1)

    def dead_letter(self, message, headers, report):
        """Produces the record to the belt's error topic; `report` is (reason, error, traceback)."""
        value = dead_letter_value(message, headers, report, self.settings.belt)
        self.produce(self.settings.error_topic, json.dumps(value, default=str).encode(),
                     message.key(), (message.headers() or []) + [("grnry-error", value["reason"])])
        self.counts["dead-lettered"] += 1
        if self.dlq_lines < DLQ_LINES_PER_REPORT:
            self.dlq_lines += 1
            log(f"record {source_of(message)} went to {self.settings.error_topic}: "
                f"{value['reason']}: {value['error']}")

    # -- one record ---------------------------------------------------------------------------

    def prepare(self, message, headers):
        """The record as the worker gets it ([headers, value, source, profile]), or None when it
        is dead-lettered here already."""
        raw = message.value()
        try:
            value = None if raw is None else raw.decode("utf-8")
        except UnicodeDecodeError as error:
            self.dead_letter(message, headers, ("the value is not JSON", describe(error), ""))
            return None
        profile = None
        if self.profile_for is not None:
            try:
                profile = self.profile_for(headers, message)
            except Exception as error:  # the store failed: as when the callback fetched it
                self.dead_letter(message, headers, ("execute raised", describe(error), ""))
                return None
        return [headers, value, source_of(message), profile]

    def apply(self, message, headers, result):
        """Produces a record's checked result: its updates, or its dead letter."""
        kind, body = result
        if kind == "d":
            self.dead_letter(message, headers, body)
            return
        for topic, key, record_headers, payload in body:
            self.produce(topic, payload, key, record_headers)
        self.counts["updates"] += len(body)

    def consumer_error(self, error):
        if error.fatal():
            log(f"the consumer failed: {error}")
            sys.exit(EXIT_BROKEN)
        if error.str() not in self.reported_errors:  # a missing topic repeats every poll
            self.reported_errors.add(error.str())
            log(f"consumer: {error}")

    # -- batches ------------------------------------------------------------------------------

    def settle(self, shutdown):
        """Waits until the broker acknowledged every output; exits (nothing committed) when one
        was refused, so the batch is consumed again."""
        while self.producer.flush(FLUSH_SECONDS) > 0:
            if shutdown.requested:
                log("stopping before the broker acknowledged every output: not committing")
                sys.exit(EXIT_BROKEN)
            log(f"waiting for the broker to acknowledge {len(self.producer)} record(s)")
        if self.failed_deliveries:
            log(f"producing failed ({self.failed_deliveries[0]}): exiting without committing, "
                f"the batch is consumed again")
            sys.exit(EXIT_BROKEN)

    def commit(self, offsets, wait):
        """Commits the next offsets of a settled batch. While running the commit is not awaited
        (a lost one only means the batch is consumed again; a later one covers it); on stop it is."""
        if not offsets:
            return
        partitions = [self.kafka.TopicPartition(topic, partition, offset)
                      for (topic, partition), offset in offsets.items()]
        try:
            self.consumer.commit(offsets=partitions, asynchronous=not wait)
        except self.kafka.KafkaException as error:
            # A rebalance took the partitions: their new owner consumes the batch again.
            log(f"committing offsets failed: {error}")

    def settle_unsettled(self, shutdown, wait):
        """Settles and commits the batch whose outputs are produced but not acknowledged."""
        if self.unsettled:
            offsets, self.unsettled = self.unsettled, {}
            self.producer.poll(0)
            self.settle(shutdown)
            self.commit(offsets, wait=wait)

    def fetch(self, shutdown):
        """Up to BATCH records: the first to arrive, what the client already holds after it, and,
        while the broker holds more of the partition than the client has fetched (a backlog),
        what arrives within BATCH_SECONDS."""
        # consume(n, timeout) waits until n records or the timeout: wait only for the first one,
        # then take what the client has already fetched, so a quiet belt answers each event at once.
        messages = self.consumer.consume(1, 0) if self.unsettled else None
        if not messages:
            # Nothing waits: the batch before is settled now, not after the wait.
            self.settle_unsettled(shutdown, wait=shutdown.requested)
            messages = self.consumer.consume(1, POLL_SECONDS)
        deadline = time.monotonic() + BATCH_SECONDS
        while messages and len(messages) < BATCH:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            more = self.consumer.consume(BATCH - len(messages), 0)
            if not more and backlog_behind(self.kafka, self.consumer, messages[-1]):
                # A fetch answers about one of the producer's record batches: without this wait
                # a backlog went out in batches of ~150, and every batch costs the broker a
                # produce, a flush and a commit (bench/README.md#data-plane).
                more = self.consumer.consume(1, left)
            if not more:
                break
            messages += more
        return messages

    def batch(self, shutdown):
        """One batch, pipelined with the one before: its records go to the worker, then, while
        the worker runs them, the outputs of the batch before are acknowledged and its offsets
        committed; then this batch's results are produced, to be settled during the next. An
        offset is still committed only once the broker acknowledged every output of its batch."""
        offsets = {}
        sent = []
        for message in self.fetch(shutdown):
            if message.error() is not None:
                self.consumer_error(message.error())
                continue
            self.counts["records"] += 1
            offsets[(message.topic(), message.partition())] = message.offset() + 1
            headers = headers_of(message)
            record = self.prepare(message, headers)
            if record is not None:
                sent.append((message, headers, record))
        if offsets:
            self.counts["batches"] += 1
        if sent:
            self.worker.send([record for _, _, record in sent])
        self.settle_unsettled(shutdown, wait=shutdown.requested)
        if sent:
            results = self.worker.results(len(sent))
            for (message, headers, _), result in zip(sent, results):
                self.apply(message, headers, result)
        else:
            self.worker.check_quiet()
        self.producer.poll(0)
        self.unsettled = offsets

    def report(self, force=False):
        now = time.monotonic()
        if not force and now - self.reported_at < REPORT_SECONDS:
            return
        for name, count in self.counts.items():
            self.totals[name] += count
        if self.counts["records"] or force:
            window = now - self.reported_at
            log(f"in the last {window:.0f}s: {self.counts['records']} record(s) in "
                f"{self.counts['batches']} batch(es), {self.counts['updates']} update(s), "
                f"{self.counts['dead-lettered']} dead-lettered; in total: "
                f"{self.totals['records']} record(s) in {self.totals['batches']} batch(es), "
                f"{self.totals['updates']} update(s), {self.totals['dead-lettered']} dead-lettered")
        self.counts = dict.fromkeys(self.counts, 0)
        self.dlq_lines = 0
        self.reported_at = now

    def run(self, shutdown, ready):
        self.consumer.subscribe(self.settings.inputs, on_assign=self.on_assign,
                                on_revoke=self.on_revoke)
        self.shutdown = shutdown
        ready()
        while not shutdown.requested:
            self.batch(shutdown)
            self.report()
        self.settle_unsettled(shutdown, wait=True)
        self.report(force=True)
        self.consumer.close()  # leaves the group: the partitions move on at once
        log("stopped: outputs acknowledged, offsets committed, left the group")


def backlog_behind(kafka, consumer, message):
    """Whether the broker holds records of `message`'s partition after it, by the high watermark
    of the client's last fetch (no request)."""
    if message.error() is not None:
        return False
    try:
        _, high = consumer.get_watermark_offsets(
            kafka.TopicPartition(message.topic(), message.partition()), cached=True)
    except (kafka.KafkaException, TypeError):
        return False  # not known yet: take what is there
    return high is not None and high > message.offset() + 1


def describe(error):
    return f"{type(error).__name__}: {error}"


def serve(channel, settings, fetch_profile, execute_arity, ready, failed):
    """Runs the data plane until SIGTERM; `failed(why)` ends the replica when the worker breaks."""
    try:
        import confluent_kafka as kafka
    except ImportError as error:
        log(f"cannot talk to Kafka: {error}; the belt host runs in the Python environment "
            f"belt-api prepares for it (BELT_LOCAL_HOST_ENV)")
        sys.exit(EXIT_BAD_SETUP)
    profile_for, profiles = profile_argument(fetch_profile, execute_arity)
    shutdown = Shutdown()
    shutdown.install()
    log(f"consuming {', '.join(settings.inputs)} from {settings.bootstrap} in group "
        f"{settings.group} (confluent-kafka {getattr(kafka, '__version__', '?')}, "
        f"librdkafka {kafka.libversion()[0]})")
    worker = WorkerLink(channel, profiles, settings.allowed_topics(), failed)
    Pipeline(kafka, settings, worker, profile_for).run(shutdown, ready)
