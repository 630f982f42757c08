"""parse_trigger: what the `cycles` queue consumer accepts, and the reason it gives when it drops a message."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from cream.ids import cycle_id
from cream.schemas.trigger import CycleTrigger, parse_trigger

VALID: dict[str, Any] = {"kind": "cream.cycle.trigger", "version": 1, "environment": "PAPER",
                         "scheduled_for": "2026-11-20T15:20:00Z", "book": "default",
                         "symbols": ["AAPL", "MSFT"], "source": "airflow"}


def test_valid_message_becomes_a_trigger() -> None:
    t = parse_trigger(dict(VALID))
    assert isinstance(t, CycleTrigger)
    assert t.scheduled_for == datetime(2026, 11, 20, 15, tzinfo=UTC)
    assert t.symbols == ["AAPL", "MSFT"]


def test_body_decoded_from_the_wire_json_is_accepted() -> None:
    assert parse_trigger(json.loads(json.dumps(VALID))).source == "airflow"


def test_trigger_dump_is_a_valid_trigger_again() -> None:
    # The consumer forwards model_dump(mode="json") to cycles.start, which parses it again.
    t = parse_trigger(dict(VALID))
    assert parse_trigger(t.model_dump(mode="json")) == t


def test_two_messages_for_the_same_hour_map_to_one_cycle() -> None:
    a = parse_trigger(VALID | {"scheduled_for": "2026-11-20T15:00:00Z"})
    b = parse_trigger(VALID | {"scheduled_for": "2026-11-20T10:45:00-05:00", "source": "cron"})
    assert cycle_id(a.environment, a.book, a.scheduled_for) == cycle_id(b.environment, b.book, b.scheduled_for)


@pytest.mark.parametrize("body, kind", [
    ("{\"kind\": \"cream.cycle.trigger\"}", "str"),
    (b"{}", "bytes"),
    ([VALID], "list"),
    (None, "NoneType"),
    (42, "int"),
])
def test_non_object_body_is_refused_naming_its_type(body: Any, kind: str) -> None:
    with pytest.raises(ValueError, match=f"expected a JSON object, got {kind}"):
        parse_trigger(body)


def test_missing_fields_are_named() -> None:
    with pytest.raises(ValueError) as err:
        parse_trigger({"kind": "cream.cycle.trigger"})
    reason = str(err.value)
    assert "environment" in reason and "scheduled_for" in reason
    assert "Field required" in reason


def test_reason_points_at_the_offending_symbol_index() -> None:
    with pytest.raises(ValueError, match=r"symbols: .*'1ABC' is not a ticker"):
        parse_trigger(VALID | {"symbols": ["AAPL", "1abc"]})


def test_tickers_are_read_as_a_trader_types_them_once_each() -> None:
    """Case and surrounding blanks do not matter (the fuzz test's hostile symbols must not be these)."""
    assert parse_trigger(VALID | {"symbols": [" aapl", "AAPL ", "msft"]}).symbols == ["AAPL", "MSFT"]
    with pytest.raises(ValueError, match=r"'XL K' is not a ticker"):
        parse_trigger(VALID | {"symbols": ["xl k"]})


def test_naive_time_reason_tells_how_to_fix_it() -> None:
    with pytest.raises(ValueError, match=r"scheduled_for: .*needs a timezone \(e\.g\. 2026-11-20T15:00:00Z\)"):
        parse_trigger(VALID | {"scheduled_for": "2026-11-20T15:00:00"})


@pytest.mark.parametrize("over, field", [
    ({"kind": "celery.task"}, "kind"),
    ({"version": 2}, "version"),
    ({"environment": "prod"}, "environment"),
    ({"priority": 9}, "priority"),
    ({"book": "My Book"}, "book"),
])
def test_invalid_message_reason_names_the_field(over: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_trigger(VALID | over)
    assert str(err.value).startswith(f"{field}: ")


def test_error_is_a_plain_value_error_without_pydantic_chain() -> None:
    with pytest.raises(ValueError) as err:
        parse_trigger({"environment": "PAPER"})
    assert type(err.value) is ValueError
    assert err.value.__cause__ is None and err.value.__suppress_context__
    assert "\n" not in str(err.value)


def test_several_problems_are_reported_together() -> None:
    with pytest.raises(ValueError) as err:
        parse_trigger({"environment": "PAPER", "scheduled_for": "2026-11-20T15:00:00", "version": 3})
    assert str(err.value).count("; ") >= 1
    assert "version" in str(err.value) and "scheduled_for" in str(err.value)
