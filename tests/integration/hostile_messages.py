"""Hypothesis strategies for messages nobody should send a Cream fleet, and a valid trigger to mix in.

Each message is (queue, raw) where raw is what lands in the Redis list: kombu's JSON envelope (built
with hostile bodies, headers and content types), or not even that. None of them is a valid command:
every trigger breaks at least one rule, every Celery task message either names a task that does not
exist, arrives on the wrong queue, carries wrong arguments or headers, or names a cycle that does not
exist.
"""

from __future__ import annotations

import base64
import json
import pickle
import uuid
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

QUEUES = ("cycles", "agents", "data", "execution")
TASKS = ("cycles.start", "cycles.analysts_done", "cycles.research_done", "cycles.gate", "cycles.scheduled",
         "cycles.recover", "data.observe", "data.orient", "agents.technical_analyst", "agents.news_analyst",
         "agents.fundamentals_analyst", "agents.bullish_researcher", "agents.bearish_researcher", "agents.trader",
         "agents.risk_manager", "agents.critic", "execution.act")
GOOD_TRIGGER = {"kind": "cream.cycle.trigger", "version": 1, "environment": "BACKTEST",
                "scheduled_for": "2025-09-19T18:00:00Z", "book": "fuzz", "symbols": ["XLK"], "source": "fuzz"}
CONTENT_TYPES = ("application/json", "application/x-python-serialize", "application/x-yaml",
                 "application/x-msgpack", "text/plain", "application/octet-stream", "", "application/json; x=1")
BAD_DATES = ("0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-14:00", "2025-09-20T15:00:00Z",
             "2025-09-24T03:00:00Z", "1990-01-02T15:00:00Z", "2030-01-02T15:00:00Z", "9999-01-04T15:00:00Z",
             "notadate", "", "2025-02-30T15:00:00Z", "2025-09-24T15:00:00", "+275760-09-13T00:00:00Z")

json_leaf = (st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30)
             | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40))
json_value = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


bad_symbol_lists = st.one_of(
    # (" xlk" would be XLK: triggers read tickers case- and blank-insensitively)
    st.lists(st.sampled_from(["X$K", "", "xl k", "ZZZZ", "A" * 50, "💥", "XLK;DROP", "1ABC"]), min_size=1, max_size=3),
    st.just(["XLK"] * 101), st.just([]), st.just(["ZZZZ"]), json_value.filter(lambda v: not isinstance(v, list)))

TRIGGER_BREAKS: dict[str, st.SearchStrategy[Any]] = {
    "scheduled_for": st.sampled_from(BAD_DATES) | json_value.filter(lambda v: not isinstance(v, str)),
    "environment": st.sampled_from(["PAPER", "LIVE", "live", " BACKTEST ", "", "backtest"]) | st.integers(),
    "symbols": bad_symbol_lists,
    "book": st.sampled_from(["BAD BOOK", "", "x" * 41, "../etc", "-lead", "café"]) | st.integers(),
    "kind": st.sampled_from(["cream.cycle.trigger2", "", "CREAM.CYCLE.TRIGGER"]) | json_value,
    "version": st.sampled_from([0, 2, "1", 1.5, -1, 10**40]),
    "source": st.sampled_from(["", "s" * 101]) | st.integers(),
}


@st.composite
def broken_trigger(draw: st.DrawFn) -> dict[str, Any]:
    """A trigger with at least one rule broken, sometimes several, sometimes with a stranger key."""
    body = dict(GOOD_TRIGGER, book=f"fz{uuid.uuid4().hex[:8]}")
    keys = draw(st.lists(st.sampled_from(sorted(TRIGGER_BREAKS)), min_size=1, max_size=3, unique=True))
    for key in keys:
        body[key] = draw(TRIGGER_BREAKS[key])
    if draw(st.booleans()):
        body[draw(st.sampled_from(["quantity", "", "__proto__", "x" * 200]))] = draw(json_value)
    untouched = sorted(set(GOOD_TRIGGER) - set(keys))
    if untouched and draw(st.integers(0, 9)) == 0:  # a key missing too (never the one that was broken)
        body.pop(draw(st.sampled_from(untouched)))
    return body


def envelope(body: bytes, content_type: str, encoding: str, headers: dict[str, Any], queue: str) -> bytes:
    """kombu's Redis message envelope around ``body`` (carried base64-encoded, as kombu does)."""
    return json.dumps({
        "body": base64.b64encode(body).decode(),
        "content-encoding": encoding, "content-type": content_type, "headers": headers,
        "properties": {"delivery_mode": 2, "delivery_info": {"exchange": queue, "routing_key": queue},
                       "priority": 0, "body_encoding": "base64", "delivery_tag": str(uuid.uuid4())},
    }).encode()


def json_message(queue: str, value: Any) -> tuple[str, bytes]:
    return queue, envelope(json.dumps(value, default=str).encode(), "application/json", "utf-8", {}, queue)


@st.composite
def trigger_message(draw: st.DrawFn) -> tuple[str, bytes]:
    return json_message(draw(st.sampled_from(QUEUES)), draw(broken_trigger()))


@st.composite
def odd_body(draw: st.DrawFn, marker: Path) -> tuple[str, bytes]:
    """Not a trigger at all: any JSON, deep nesting, huge bodies, pickle (which must never run), junk."""
    queue = draw(st.sampled_from(QUEUES))
    kind = draw(st.sampled_from(["json", "deep", "huge", "pickle", "bytes", "content-type"]))
    if kind == "json":
        return json_message(queue, draw(json_value))
    if kind == "deep":
        raw = nested(draw(st.sampled_from([500, 5_000, 200_000]))).encode()
        return queue, envelope(raw, "application/json", "utf-8", {}, queue)
    if kind == "huge":
        big = {"kind": "cream.cycle.trigger", "pad": "x" * draw(st.sampled_from([100_000, 2_000_000]))}
        return json_message(queue, big)
    if kind == "pickle":
        evil = pickle.dumps(_Touch(str(marker)))
        return queue, envelope(evil, "application/x-python-serialize", "binary", {}, queue)
    raw = draw(st.binary(max_size=200))
    if kind == "bytes":
        return queue, envelope(raw, "application/json", "binary", {}, queue)
    content_type = draw(st.sampled_from(CONTENT_TYPES))
    encoding = draw(st.sampled_from(["utf-8", "binary", "latin-1", "rot13", ""]))
    return queue, envelope(raw, content_type, encoding, {}, queue)


class _Touch:
    """Unpickled, it would create a file: the test checks the file never appears."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return open, (self.path, "w")


def fake_cycle_id() -> st.SearchStrategy[Any]:
    ids = st.builds(lambda b, d: f"backtest-{b}-{d}T1500Z", st.from_regex(r"[a-z][a-z0-9]{2,8}", fullmatch=True),
                    st.sampled_from(["20250924", "19900102", "99991231"]))
    return ids | st.sampled_from(["", "x" * 500, "paper-default-20250924T1500Z"]) | json_value


@st.composite
def task_message(draw: st.DrawFn) -> tuple[str, bytes]:
    """A Celery protocol 2 message: unknown or wrong-queue tasks, wrong arguments, hostile headers."""
    queue = draw(st.sampled_from(QUEUES))
    task = draw(st.sampled_from(TASKS) | st.sampled_from(["celery.chord_unlock", "nope", "", "cycles.start "])
                | json_value)
    args = draw(st.lists(fake_cycle_id() | json_value, max_size=4) | json_value)
    kwargs = draw(st.dictionaries(st.text(max_size=10), json_value, max_size=3) | json_value)
    task_id = str(uuid.uuid4())
    headers: dict[str, Any] = {"lang": "py", "task": task, "id": task_id, "root_id": task_id, "parent_id": None,
                               "group": None, "eta": None, "expires": None, "retries": 0,
                               "timelimit": [None, None], "argsrepr": "()", "kwargsrepr": "{}", "origin": "fuzz"}
    for key in draw(st.lists(st.sampled_from(["eta", "expires", "retries", "timelimit", "id", "lang", "group",
                                              "ignore_result", "shadow", "stamps", "replaced_task_nesting"]),
                             max_size=3, unique=True)):
        headers[key] = draw(st.sampled_from((*BAD_DATES[:4], "2099-01-01T00:00:00Z")) | json_value)
    embed = draw(st.sampled_from([{"callbacks": None, "errbacks": None, "chain": None, "chord": None}, {}, None])
                 | json_value)
    body = json.dumps([args, kwargs, embed] if draw(st.integers(0, 4)) else draw(json_value))
    return queue, envelope(body.encode(), "application/json", "utf-8", headers, queue)


@st.composite
def not_an_envelope(draw: st.DrawFn) -> tuple[str, bytes]:
    """What someone could push straight into a queue's Redis list."""
    raw = draw(st.sampled_from([b"not json", b"{}", b'{"body": 1}', b'{"properties": 5}', b"[]", b"null",
                                b'{"body": "", "properties": {"delivery_tag": []}}', b"\xff\xfe"])
               | st.binary(max_size=100))
    return draw(st.sampled_from(QUEUES)), raw


class Hostile(tuple[str, bytes]):
    """(queue, raw item), shown short: hypothesis prints failing examples, and some are megabytes."""

    def __repr__(self) -> str:
        queue, raw = self
        return f"Hostile({queue!r}, {raw[:160]!r}{'…' if len(raw) > 160 else ''} [{len(raw)} bytes])"


def hostile_message(marker: Path) -> st.SearchStrategy[Hostile]:
    return st.one_of(trigger_message(), odd_body(marker), task_message(), not_an_envelope()).map(Hostile)
