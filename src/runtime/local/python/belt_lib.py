"""What the belt host (a replica) and test-invoke share, so that a test-invoke behaves as a replica:
the stand-in belt library, the check of `execute`'s signature, the user's traceback, and how the
results of `execute` become Kafka records (docs/api.md#records).

belt-api writes this file next to belt_host.py (<data_dir>/host/); both run from there.
"""

import importlib.abc
import importlib.util
import inspect
import json
import sys
import traceback

# Modes in which the runtime always hands a profile to execute, so it needs a third parameter.
PROFILE_MODES = {"TRUE", "PREFETCH", "PREFETCH_WITH_HISTORY"}
# The header that ties an update to the event it came from.
CORRELATION_HEADER = "grnry-correlation-id"
# The header that says which belt version made an update from which record.
SOURCE_HEADER = "grnry-source"
# Where the events of a type are read, and where an output type's records go.
INPUT_TOPIC_PREFIX = "grnry_data_in_"


class Update:
    """Stand-in for the belt library's profile update: records what `execute` sets."""

    def __init__(self, correlation_id, keys):
        self.correlation_id = correlation_id
        self.keys = list(keys)
        self.values = []
        self.type = None

    def set_value(self, value, confidence=None, timestamp=None, validity=None, source=None):
        self.values.append({"value": value, "confidence": confidence, "timestamp": timestamp,
                            "validity": validity, "source": source})
        return self

    def set_type(self, profile_type):
        self.type = profile_type
        return self

    def __repr__(self):
        return f"Update({self.correlation_id!r}, {self.keys!r}, type={self.type!r}, values={self.values!r})"


class BeltLibraryStandIn(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """The real runtime image ships the belt library that callbacks import (`grnry_belt`, and the
    legacy `grnry.beltextractor`); the default hello-world belt imports it too. Locally it is
    usually missing. Last on sys.meta_path, this finder only answers when nothing else does, so a
    library installed from requirements.txt wins."""

    PACKAGES = {"grnry_belt", "grnry_belt.models", "grnry", "grnry.beltextractor"}
    MODULES = {"grnry_belt.models.update", "grnry.beltextractor.update"}

    def find_spec(self, fullname, path, target=None):
        if fullname not in self.PACKAGES and fullname not in self.MODULES:
            return None
        return importlib.util.spec_from_loader(fullname, self,
                                               is_package=fullname in self.PACKAGES)

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        if module.__name__ in self.MODULES:
            print(f"belt-host: {module.__name__} is not installed; using belt-host's stand-in",
                  flush=True)
            module.Update = Update


def print_user_traceback(error, path):
    """The traceback from the first frame in callback.py on: the host's own frames would only
    bury the line the user has to fix. A SyntaxError has no such frame and shows the line itself."""
    print(traceback_of(error, path), end="", file=sys.stderr, flush=True)


def signature_problem(execute, fetch_profile):
    """Why `execute` cannot be called the way the runtime calls it, or None."""
    if not callable(execute):
        return "callback.py must define a function execute(headers, event[, profile])"
    try:
        parameters = inspect.signature(execute).parameters.values()
    except (TypeError, ValueError):
        return None  # a builtin or C function: nothing to check
    positional = [p for p in parameters
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    keyword_only = [p.name for p in parameters
                    if p.kind == p.KEYWORD_ONLY and p.default is p.empty]
    if keyword_only:
        return f"execute must not require keyword-only parameters, but requires {keyword_only}"
    if not 2 <= len(positional) <= 3:
        return (f"execute must take 2 or 3 positional parameters (headers, event[, profile]), "
                f"but takes {len(positional)}")
    if fetch_profile in PROFILE_MODES and len(positional) != 3:
        return (f"execute must take 3 parameters (headers, event, profile) because FETCH_PROFILE "
                f"is {fetch_profile}, but takes {len(positional)}")
    if fetch_profile not in PROFILE_MODES and len(required) > 2:
        return (f"the third parameter of execute needs a default because FETCH_PROFILE is "
                f"{fetch_profile} and no profile is passed")
    return None



# json.dumps(value, default=str) builds a new encoder on every call: one, made once.
encode_update = json.JSONEncoder(default=str).encode


class NotAnUpdate(TypeError):
    """`execute` returned something that cannot become a record."""


def updates_of(result):
    """The updates `execute` returned: None (nothing), one update, or a list or tuple of them. An
    update is the belt library's Update (or the stand-in) or a dict that is already the record value."""
    if result is None:
        return []
    items = list(result) if isinstance(result, (list, tuple)) else [result]
    for item in items:
        if not isinstance(item, dict) and not hasattr(item, "keys"):
            raise NotAnUpdate(f"execute returned {type(item).__name__}, expected an Update, a dict, "
                              f"a list of them or None")
    return items


def value_of(update):
    """The JSON value of an update's record."""
    if isinstance(update, dict):
        return update
    to_dict = getattr(update, "to_dict", None)
    if callable(to_dict):  # the real belt library knows its own form
        return to_dict()
    return {"correlationId": getattr(update, "correlation_id", None),
            "keys": list(getattr(update, "keys", []) or []),
            "type": getattr(update, "type", None),
            "values": list(getattr(update, "values", []) or [])}


def topic_of(value, output_types, destination_topic):
    """An update goes to the destination topic, or, when the belt has output types, to the input
    topic of its type (`grnry_data_in_<type>`, so that other belts can consume it); with a single
    output type, an update without a type goes there."""
    if not output_types:
        return destination_topic
    names = [output["name"] for output in output_types]
    wanted = value.get("type") or (names[0] if len(names) == 1 else None)
    if wanted not in names:
        raise NotAnUpdate(f"the update's type {wanted!r} is not one of the belt's output types {names}")
    return INPUT_TOPIC_PREFIX + wanted


def records_of(result, correlation_id, source, output_types, destination_topic, belt=None):
    """The records `execute`'s result becomes: a list of dicts with `topic`, `key` (str or None),
    `headers` (list of (name, str)) and `payload` (the record's value: UTF-8 JSON bytes, serialized
    once, exactly as produced). `source` names the input record (`<topic>/<partition>/<offset>`),
    `belt` is (id, version) when updates carry the `grnry-source` header, else None."""
    records = []
    for update in updates_of(result):
        value = value_of(update)
        if not isinstance(value, dict):
            raise NotAnUpdate(f"an update must render as a JSON object, not {type(value).__name__}")
        value.setdefault("correlationId", correlation_id)
        keys = value.get("keys") or []
        headers = [(CORRELATION_HEADER, str(value.get("correlationId") or correlation_id or ""))]
        # Where the update came from, in one header, and only when the platform asks for it
        # (`belt` given): the embedded broker stores every header as a row of its own, and the
        # second header alone cost the host about a tenth of its rate (bench/README.md#data-plane).
        if source and belt:
            headers.append((SOURCE_HEADER, f"{belt[0]}/{belt[1]}/{source}"))
        records.append({
            "topic": topic_of(value, output_types, destination_topic),
            "key": ",".join(str(key) for key in keys) if keys else None,
            "headers": headers,
            "payload": encode_update(value).encode(),
        })
    return records


def traceback_of(error, path):
    """The user's part of a traceback as text (see print_user_traceback)."""
    report = traceback.TracebackException.from_exception(error)
    frames = list(report.stack)
    first = next((i for i, frame in enumerate(frames) if frame.filename == path), len(frames))
    report.stack = traceback.StackSummary.from_list(frames[first:])
    return "".join(report.format())
