"""Profiles from the profile store (docs/api.md#profiles). The trusted host fetches them (it has the
network); the worker's callback gets them eagerly in each record, or, in the LAZY mode, as a
LazyProfile that asks the host on first use."""

import json
import urllib.error
import urllib.parse
import urllib.request

PROFILE_TIMEOUT_SECONDS = 5


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


class ProfileUnavailable(Exception):
    """The host could not fetch the profile; raised inside execute, so the record is
    dead-lettered as when the fetch failed in the callback's own process."""


class LazyProfile:
    """A profile fetched on first use: `profile.get(…)`, `profile[…]`, `in`, iteration, or
    `profile.value` for the whole (None when the store has none). `fetch(key)` answers it."""

    def __init__(self, fetch, key):
        self._fetch = fetch
        self._key = key
        self._fetched = False
        self._value = None

    @property
    def value(self):
        if not self._fetched:
            self._value = self._fetch(self._key)
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
