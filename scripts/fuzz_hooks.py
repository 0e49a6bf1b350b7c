"""schemathesis hooks for scripts/fuzz.sh (loaded through SCHEMATHESIS_HOOKS)."""

import schemathesis


@schemathesis.hook
def map_query(context, query):
    # `follow=true` on a running belt keeps the answer open for as long as the belt runs, so a
    # fuzzed one would hold the fuzzer until its request timeout. Streaming is covered by
    # tests/api/logs_follow.rs (follow_keeps_delivering_across_a_restart_and_ends_when_the_belt_stops).
    if query:
        query.pop("follow", None)
    return query
