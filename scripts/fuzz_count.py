"""Counts the HTTP requests a schemathesis run made, from its NDJSON event report (scripts/fuzz.sh)."""

import json
import sys


def count(path):
    requests = 0
    with open(path, encoding="utf-8") as events:
        for line in events:
            line = line.strip()
            if not line:
                continue
            event = json.loads(line)
            requests += sum(1 for _ in find_interactions(event))
    return requests


def find_interactions(node):
    """Every recorded request/response pair, wherever the event nests it."""
    if isinstance(node, dict):
        if "request" in node and "response" in node:
            yield node
            return
        for value in node.values():
            yield from find_interactions(value)
    elif isinstance(node, list):
        for value in node:
            yield from find_interactions(value)


if __name__ == "__main__":
    try:
        print(count(sys.argv[1]))
    except OSError:
        print(0)
