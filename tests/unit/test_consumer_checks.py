"""The consumer's checks accept every task message our own code sends, and refuse the ones it never does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import tasks.agents  # register the tasks, as a worker does
import tasks.cycle
import tasks.data
import tasks.execution  # noqa: F401
from cream.schemas.cycle import Phase
from cream.services.pipeline import following
from tasks.canvas import step_signature
from workers.app import app
from workers.consumer import NotOurMessage, check_task_message

CYCLE = "backtest-default-20250924T1500Z"
NOW = datetime(2026, 1, 5, 15, tzinfo=UTC)
RESUMABLE = [Phase.OBSERVE, Phase.ORIENT, Phase.ANALYSTS, Phase.RESEARCH, Phase.TRADER, Phase.GATE, Phase.APPROVAL]


def _sent(name: str, args: list, **options) -> tuple[dict, list]:
    """Headers and body of the message Celery builds for this call."""
    message = app.amqp.create_task_message(
        "0f1e2d3c-0000-4000-8000-000000000000", name, args, {}, **options)
    return message.headers, [list(message.body[0]), message.body[1], message.body[2]]


def _with_limits(name: str) -> dict:
    task = app.tasks[name]
    return {"time_limit": task.time_limit, "soft_time_limit": task.soft_time_limit}


@pytest.mark.parametrize("name, args", [
    ("cycles.start", [{"kind": "cream.cycle.trigger"}]), ("data.observe", [CYCLE]), ("agents.trader", [CYCLE, 1]),
    ("agents.news_analyst", [CYCLE, "XLK"]), ("cycles.gate", [CYCLE, 2]), ("execution.act", [CYCLE]),
    ("cycles.recover", []),
])
def test_messages_our_code_sends_pass(name: str, args: list) -> None:
    headers, body = _sent(name, args, **_with_limits(name))
    check_task_message(headers, body, NOW)
    retry_headers, retry_body = _sent(name, args, retries=3, eta=(NOW + timedelta(seconds=30)).isoformat())
    check_task_message(retry_headers, retry_body, NOW)


@pytest.mark.parametrize("after", [None, *RESUMABLE])
def test_every_message_of_a_cycles_canvas_passes(after: Phase | None) -> None:
    for step in following(["XLK", "MA"], after, 1):
        sig = step_signature(CYCLE, step)
        headers, body = _sent(sig.task, list(sig.args))
        check_task_message(headers, body, NOW)


@pytest.mark.parametrize("change, says", [
    ({"task": "celery.chord_unlock"}, "not a task of this fleet"),
    ({"lang": "rb"}, "not a task of this fleet"),
    ({"shadow": {"x": True}}, "header shadow is a dict"),
    ({"shadow": "agents.critic"}, "the task's own name"),
    ({"retries": "1"}, "header retries is a str"),
    ({"retries": True}, "header retries is a bool"),
    ({"retries": 10**6}, "not a retry count"),
    ({"timelimit": [0.001, 0.001]}, "time limits of its own"),
    ({"eta": "2099-01-01T00:00:00Z"}, "further ahead"),
    ({"eta": "garbage"}, "is not a time"),
    ({"id": ""}, "task id"),
])
def test_headers_our_code_never_sends_are_refused(change: dict, says: str) -> None:
    headers, body = _sent("data.observe", [CYCLE])
    with pytest.raises(NotOurMessage, match=says):
        check_task_message(headers | change, body, NOW)


@pytest.mark.parametrize("body, says", [
    ([[CYCLE], {}], "body must be"), ({"args": []}, "body must be"), ([CYCLE, {}, None], "body must be"),
    ([[CYCLE], {}, {"chain": "x"}], "must be lists"), ([[CYCLE], {}, {"surprise": 1}], "nothing else"),
])
def test_bodies_our_code_never_sends_are_refused(body, says: str) -> None:
    headers, _ = _sent("data.observe", [CYCLE])
    with pytest.raises(NotOurMessage, match=says):
        check_task_message(headers, body, NOW)
