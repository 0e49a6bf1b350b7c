"""The trusted host's side of the worker channel while consuming (docs/local-sandbox.md#two-processes):
a batch of records out, their results back, LAZY profiles answered on the way. Everything the
worker sends is checked as data: a frame that breaks the protocol, an update for a topic that is
not the belt's own output, a field of the wrong type: the replica fails with the reason (belt-api
then kills the worker with the replica's process group). The host itself never crashes on it.
"""

from belt_frames import BadFrame, ChannelClosed

# How many LAZY profiles the worker may ask for per record of a batch: a callback reads its own.
PROFILE_REQUESTS_PER_RECORD = 4


class Violation(Exception):
    """The worker's answer is not what the protocol allows."""


def _text(value, what):
    if not isinstance(value, str):
        raise Violation(f"{what} is not a string")
    return value


def _update(update, allowed_topics):
    # One type check per field, on the hot path of every update (bench/README.md#data-plane).
    if type(update) is not list or len(update) != 4:
        raise Violation("an update is not [topic, key, headers, payload]")
    topic, key, headers, payload = update
    if type(topic) is not str or topic not in allowed_topics:
        raise Violation(f"an update for the topic {str(topic)[:200]!r}, which is not one of the "
                        f"belt's outputs {sorted(allowed_topics)}")
    if key is not None:
        key = _text(key, "a key").encode()
    if type(headers) is not list:
        raise Violation("an update's headers are not a list")
    pairs = []
    for header in headers:
        if type(header) is not list or len(header) != 2 or type(header[0]) is not str \
                or type(header[1]) is not str:
            raise Violation("a header is not [name, value] of strings")
        pairs.append((header[0], header[1]))
    return topic, key, pairs, _text(payload, "a payload").encode()


def checked_results(results, count, allowed_topics):
    """[("u", [(topic, key bytes, headers, payload bytes), …]) | ("d", (reason, error,
    traceback))], one per record sent."""
    if not isinstance(results, list) or len(results) != count:
        raise Violation(f"the results of a batch of {count} are not a list of {count}")
    checked = []
    for result in results:
        if not isinstance(result, list) or not result:
            raise Violation("a result is not a list")
        if result[0] == "u" and len(result) == 2 and isinstance(result[1], list):
            checked.append(("u", [_update(update, allowed_topics) for update in result[1]]))
        elif result[0] == "d" and len(result) == 4:
            checked.append(("d", tuple(_text(part, "a dead-letter report") for part in result[1:])))
        else:
            raise Violation("a result is neither updates nor a dead letter")
    return checked


class WorkerLink:
    def __init__(self, channel, profiles, allowed_topics, failed):
        self.channel = channel
        self.profiles = profiles
        self.allowed_topics = allowed_topics
        # Called with why the worker failed; does not return (the replica exits).
        self.failed = failed

    def run(self, records):
        """Has the worker run `records` ([headers, value, source, profile]); their results."""
        self.send(records)
        return self.results(len(records))

    def send(self, records):
        """Hands the worker a batch; its results are read with results(len(records)). The worker
        is idle when a batch goes out (it answered the one before in full), so a large frame
        cannot deadlock: the worker reads it whole before it writes anything."""
        try:
            self.channel.send({"t": "batch", "records": records})
        except ChannelClosed:
            self.failed("exited while running a batch")

    def results(self, count):
        """The checked results of the batch of `count` records sent last, answering the LAZY
        profiles the worker asks for on the way."""
        try:
            budget = PROFILE_REQUESTS_PER_RECORD * count
            while True:
                answer = self.channel.receive()
                kind = answer.get("t")
                if kind == "results":
                    return checked_results(answer.get("results"), count, self.allowed_topics)
                if kind != "profile" or self.profiles is None or budget <= 0:
                    raise Violation(f"an unexpected frame {str(answer)[:200]}")
                budget -= 1
                self.answer_profile(answer.get("key"))
        except ChannelClosed:
            self.failed("exited while running a batch")
        except (BadFrame, Violation) as error:
            self.failed(f"sent {error}")

    def answer_profile(self, key):
        if key is not None and not isinstance(key, str):
            raise Violation("a profile key is not a string")
        try:
            answer = {"t": "profile", "value": self.profiles.fetch(key)}
        except Exception as error:  # the store's failure is the record's, as in the callback
            answer = {"t": "profile", "error": f"{type(error).__name__}: {error}"}
        self.channel.send(answer)

    def check_quiet(self):
        """Between batches the worker says nothing; when it ended (or speaks), the replica fails."""
        if not self.channel.readable(0):
            return
        try:
            self.channel.receive()
        except ChannelClosed:
            self.failed("exited")
        except BadFrame as error:
            self.failed(f"sent {error}")
        self.failed("spoke unasked")
