"""The belt host's data plane: consume the belt's input topics, run `execute` on each record,
produce its updates, commit (docs/api.md#records).

Work goes in batches: consume up to BATCH records, run them, produce every output, wait until the
broker has acknowledged all of them (acks=all), and only then commit the next offsets. So a crash
at any point loses nothing (the batch is consumed again: at least once), while the broker round
trips are paid per batch, not per record.
"""

import json
import os
import signal
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from belt_lib import CORRELATION_HEADER, records_of, traceback_of

BATCH = 1000
POLL_SECONDS = 0.5
# How long a batch waits for more records once the first arrived.
BATCH_SECONDS = 0.1
REPORT_SECONDS = 10
FLUSH_SECONDS = 5
# Dead-lettered records logged one by one per report interval; the rest are only counted.
DLQ_LINES_PER_REPORT = 5
# Profile modes in which execute gets a profile; LAZY hands an object that fetches on first use.
EAGER_PROFILE_MODES = {"TRUE", "PREFETCH", "PREFETCH_WITH_HISTORY"}
# Which profile an event is about: this header, else the record's key.
PROFILE_KEY_HEADER = "grnry-profile-key"
PROFILE_TIMEOUT_SECONDS = 5
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


class Profiles:
    """Fetches a profile from the profile store: GET {url}/profiles/{type}/{key}, answered with
    JSON (404: no profile yet, None)."""

    def __init__(self, url, profile_type):
        self.url = url.rstrip("/")
        self.profile_type = profile_type

    def fetch(self, key):
        if key is None:
            return None
        quote = urllib.parse.quote
        url = f"{self.url}/profiles/{quote(self.profile_type, safe='')}/{quote(key, safe='')}"
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=PROFILE_TIMEOUT_SECONDS) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise


class LazyProfile:
    """A profile fetched on first use: `profile.get(…)`, `profile[…]`, `in`, iteration, or
    `profile.value` for the whole (None when the store has none)."""

    def __init__(self, profiles, key):
        self._profiles = profiles
        self._key = key
        self._fetched = False
        self._value = None

    @property
    def value(self):
        if not self._fetched:
            self._value = self._profiles.fetch(self._key)
            self._fetched = True
        return self._value

    def __getitem__(self, name):
        return (self.value or {})[name]

    def get(self, name, default=None):
        return (self.value or {}).get(name, default)

    def __contains__(self, name):
        return name in (self.value or {})

    def __iter__(self):
        return iter(self.value or {})

    def __bool__(self):
        return bool(self.value)

    def __repr__(self):
        return f"LazyProfile({self._key!r})"


def profile_argument(mode, execute_arity):
    """How the third argument of execute is made, or None when execute gets two. Exits with a
    clear message when a profile is required and no profile store is configured."""
    if mode == "FALSE" or (mode not in EAGER_PROFILE_MODES and execute_arity < 3):
        return None
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
        return lambda headers, message: profiles.fetch(key_of(headers, message))
    return lambda headers, message: LazyProfile(profiles, key_of(headers, message))


class Settings:
    """What the replica's environment says about its topics (docs/api.md#what-a-replica-receives)."""

    def __init__(self, environ):
        self.bootstrap = environ["KAFKA_BOOTSTRAP_SERVERS"]
        self.group = environ.get("KAFKA_CONSUMER_GROUP", "")
        self.inputs = [t for t in environ.get("KAFKA_INPUT_TOPICS", "").split(",") if t]
        self.output_types = json.loads(environ.get("OUTPUT_TYPES") or "null")
        self.destination = environ.get("KAFKA_DESTINATION_TOPIC") or "profile-update"
        self.error_topic = environ.get("KAFKA_ERROR_TOPIC", "")
        self.partition_offsets = json.loads(environ.get("PARTITION_OFFSETS") or "{}")
        self.belt = (environ.get("BELT_ID", ""), environ.get("BELT_VERSION", ""))
        self.client_id = environ.get("BELT_REPLICA_NAME") or f"belt-{self.belt[0]}"

    def consumer_config(self):
        return {
            "bootstrap.servers": self.bootstrap,
            "group.id": self.group,
            "client.id": self.client_id,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            # A replica killed without leaving the group holds its partitions this long.
            "session.timeout.ms": 10000,
            "heartbeat.interval.ms": 1000,
            # An idle partition's fetch waits this long for data before answering; librdkafka's
            # 500 ms default put up to half a second on every event of a quiet belt.
            "fetch.wait.max.ms": 100,
        }

    def producer_config(self):
        return {
            "bootstrap.servers": self.bootstrap,
            "client.id": self.client_id,
            "acks": "all",
            "linger.ms": 5,
            # Only a failed delivery calls back into Python (Pipeline.delivered): a report per
            # acknowledged record costs the host a Python call per update.
            "delivery.report.only.error": True,
        }


def dead_letter_value(message, headers, error, reason, callback_path, belt):
    """The JSON value of a dead-lettered record (docs/api.md#the-error-topic)."""
    return {
        "reason": reason,
        "error": f"{type(error).__name__}: {error}",
        "traceback": traceback_of(error, callback_path),
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

    def __init__(self, kafka, settings, execute, profile_for, callback_path):
        self.kafka = kafka
        self.settings = settings
        self.execute = execute
        self.profile_for = profile_for
        self.callback_path = callback_path
        self.consumer = kafka.Consumer(settings.consumer_config())
        self.producer = kafka.Producer(dict(settings.producer_config(),
                                            on_delivery=self.delivered))
        self.failed_deliveries = []
        self.counts = {"records": 0, "updates": 0, "dead-lettered": 0}
        self.totals = dict(self.counts)
        self.dlq_lines = 0
        self.reported_at = time.monotonic()
        self.reported_errors = set()

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
        # Every batch is committed before the next poll, so nothing is pending here.
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

    def dead_letter(self, message, headers, error, reason):
        value = dead_letter_value(message, headers, error, reason, self.callback_path,
                                  self.settings.belt)
        self.produce(self.settings.error_topic, json.dumps(value, default=str).encode(),
                     message.key(), (message.headers() or []) + [("grnry-error", reason)])
        self.counts["dead-lettered"] += 1
        if self.dlq_lines < DLQ_LINES_PER_REPORT:
            self.dlq_lines += 1
            log(f"record {source_of(message)} went to {self.settings.error_topic}: "
                f"{reason}: {value['error']}")

    # -- one record ---------------------------------------------------------------------------

    def handle(self, message):
        """Runs execute on one record and produces its updates, or dead-letters it."""
        self.counts["records"] += 1
        headers = headers_of(message)
        try:
            event = json.loads(message.value())
        except (TypeError, ValueError) as error:
            self.dead_letter(message, headers, error, "the value is not JSON")
            return
        try:
            args = [headers, event]
            if self.profile_for is not None:
                args.append(self.profile_for(headers, message))
            result = self.execute(*args)
        except Exception as error:  # the user's code: whatever it raises is the record's fault
            self.dead_letter(message, headers, error, "execute raised")
            return
        try:
            records = records_of(result, headers.get(CORRELATION_HEADER), source_of(message),
                                 self.settings.output_types, self.settings.destination,
                                 self.settings.belt)
        except Exception as error:  # NotAnUpdate, or an update whose to_dict() raised
            self.dead_letter(message, headers, error, "execute returned no update")
            return
        for record in records:
            key = record["key"].encode() if record["key"] is not None else None
            self.produce(record["topic"], record["payload"], key, record["headers"])
        self.counts["updates"] += len(records)

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

    def fetch(self):
        """Up to BATCH records: the first to arrive, and what the client already holds after it."""
        # consume(n, timeout) waits until n records or the timeout: wait only for the first one,
        # then take what the client has already fetched, so a quiet belt answers each event at once
        # and a busy one still gets full batches.
        messages = self.consumer.consume(1, POLL_SECONDS)
        deadline = time.monotonic() + BATCH_SECONDS
        while messages and len(messages) < BATCH and time.monotonic() < deadline:
            more = self.consumer.consume(BATCH - len(messages), 0)
            if not more:
                break
            messages += more
        return messages

    def batch(self, shutdown):
        offsets = {}
        for message in self.fetch():
            if message.error() is not None:
                self.consumer_error(message.error())
                continue
            self.handle(message)
            offsets[(message.topic(), message.partition())] = message.offset() + 1
            if shutdown.requested:
                break
        self.producer.poll(0)
        self.settle(shutdown)
        self.commit(offsets, wait=shutdown.requested)

    def report(self, force=False):
        now = time.monotonic()
        if not force and now - self.reported_at < REPORT_SECONDS:
            return
        for name, count in self.counts.items():
            self.totals[name] += count
        if self.counts["records"] or force:
            window = now - self.reported_at
            log(f"in the last {window:.0f}s: {self.counts['records']} record(s), "
                f"{self.counts['updates']} update(s), {self.counts['dead-lettered']} "
                f"dead-lettered; in total: {self.totals['records']} record(s), "
                f"{self.totals['updates']} update(s), {self.totals['dead-lettered']} dead-lettered")
        self.counts = dict.fromkeys(self.counts, 0)
        self.dlq_lines = 0
        self.reported_at = now

    def run(self, shutdown, ready):
        self.consumer.subscribe(self.settings.inputs, on_assign=self.on_assign,
                                on_revoke=self.on_revoke)
        ready()
        while not shutdown.requested:
            self.batch(shutdown)
            self.report()
        self.report(force=True)
        self.consumer.close()  # leaves the group: the partitions move on at once
        log("stopped: outputs acknowledged, offsets committed, left the group")


def serve(execute, fetch_profile, execute_arity, callback_path, ready):
    """Runs the data plane until SIGTERM."""
    try:
        import confluent_kafka as kafka
    except ImportError as error:
        log(f"cannot talk to Kafka: {error}; the belt host runs in the Python environment "
            f"belt-api prepares for it (BELT_LOCAL_HOST_ENV)")
        sys.exit(EXIT_BAD_SETUP)
    settings = Settings(os.environ)
    profile_for = profile_argument(fetch_profile, execute_arity)
    shutdown = Shutdown()
    shutdown.install()
    log(f"consuming {', '.join(settings.inputs)} from {settings.bootstrap} in group "
        f"{settings.group} (confluent-kafka {getattr(kafka, '__version__', '?')}, librdkafka {kafka.libversion()[0]})")
    Pipeline(kafka, settings, execute, profile_for, callback_path).run(shutdown, ready)
