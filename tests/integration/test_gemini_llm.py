"""The real google-genai client, through GeminiModel, against the loopback Gemini stand-in."""

from __future__ import annotations

import base64
import itertools
import json
import logging
import time
from collections.abc import Iterator
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from cream.errors import ConfigurationError, InvalidAgentOutput, TransientError
from cream.llm import LanguageModel, LlmRequest
from cream.llm.gemini import GeminiModel
from cream.llm.port import ToolCall, ToolResult, ToolSpec, Turn
from tests.standins.gemini_server import GeminiStandIn, gemini_standin

pytestmark = pytest.mark.integration

API_KEY = "AIza-test-key-that-must-never-leak-7f3a"
GOOD = '{"symbol": "AAPL", "action": "BUY", "conviction": 0.72}'


class TradeIdea(BaseModel):
    symbol: str
    action: Literal["BUY", "SELL", "HOLD"]
    conviction: float = Field(ge=0, le=1)


def request(**changes: object) -> LlmRequest:
    fields: dict[str, object] = dict(agent="trader", model="gemini-2.5-pro",
                                     system_prompt="You are the trader.",
                                     prompt="AAPL closed above its 20-day high on rising volume.",
                                     temperature=0.1, response_schema="TradeIdea")
    return LlmRequest(**{**fields, **changes})


@pytest.fixture
def standin() -> Iterator[GeminiStandIn]:
    with gemini_standin() as server:
        yield server


@pytest.fixture
def gemini(standin: GeminiStandIn) -> Iterator[GeminiModel]:
    model = GeminiModel(API_KEY, base_url=standin.base_url, timeout_s=2, max_retries=3, backoff_base=0.01)
    yield model
    model.close()


def test_happy_path_sends_schema_and_returns_validated_answer(standin: GeminiStandIn,
                                                              gemini: GeminiModel) -> None:
    standin.script(GOOD)
    port: LanguageModel = gemini
    reply = port.generate(request(), TradeIdea)

    assert reply.parsed == TradeIdea(symbol="AAPL", action="BUY", conviction=0.72).model_dump()
    assert reply.parsed == json.loads(GOOD) and reply.text == GOOD and reply.tool_calls == []
    assert reply.finish_reason == "STOP" and reply.attempts == 1 and reply.model == "gemini-2.5-pro"
    assert reply.latency_s > 0

    [sent] = standin.requests
    assert sent.path == "/v1beta/models/gemini-2.5-pro:generateContent"
    assert sent.api_key == API_KEY
    assert sent.body["contents"] == [{"role": "user", "parts": [{"text": request().prompt}]}]
    assert sent.body["systemInstruction"]["parts"] == [{"text": "You are the trader."}]
    config = sent.body["generationConfig"]
    assert config["temperature"] == 0.1 and config["responseMimeType"] == "application/json"
    schema = config["responseJsonSchema"]  # full JSON Schema (responseSchema's OpenAPI subset cannot hold ours)
    assert schema["type"] == "object" and set(schema["required"]) == {"symbol", "action", "conviction"}
    assert schema["properties"]["action"]["enum"] == ["BUY", "SELL", "HOLD"]
    assert "tools" not in sent.body


def test_usage_tokens_are_recorded(standin: GeminiStandIn, gemini: GeminiModel) -> None:
    standin.script({"candidates": [{"content": {"role": "model", "parts": [{"text": GOOD}]},
                                    "finishReason": "STOP"}],
                    "usageMetadata": {"promptTokenCount": 1234, "candidatesTokenCount": 56,
                                      "totalTokenCount": 1290},
                    "modelVersion": "gemini-2.5-pro-002", "responseId": "abc"})
    reply = gemini.generate(request(), TradeIdea)
    assert (reply.prompt_tokens, reply.output_tokens) == (1234, 56)
    assert reply.model == "gemini-2.5-pro-002"


@pytest.mark.parametrize(("reply", "message"), [
    ("The trade looks good, buy AAPL.", "not valid JSON"),
    ('{"symbol": "AAPL", "action": "YOLO", "conviction": 0.7}', "does not fit TradeIdea"),
    ('{"symbol": "AAPL", "action": "BUY", "conviction": 7}', "does not fit TradeIdea"),
    ('{"symbol": "AAPL"}', "does not fit TradeIdea"),
    ("   ", "empty answer"),
])
def test_unusable_answers_fail_closed(standin: GeminiStandIn, gemini: GeminiModel, reply: str,
                                      message: str) -> None:
    standin.script(reply)
    with pytest.raises(InvalidAgentOutput, match=message):
        gemini.generate(request(), TradeIdea)
    assert len(standin.requests) == 1  # a bad answer is not retried


@pytest.mark.parametrize(("fault", "message"), [
    ("truncated", "not valid JSON"),
    ("malformed", "unreadable reply body"),
    ("safety", "declined to answer .* SAFETY"),
    ("empty", "no answer"),
])
def test_faulty_replies_fail_closed(standin: GeminiStandIn, gemini: GeminiModel, fault: str,
                                    message: str) -> None:
    standin.script(GOOD)
    standin.fail_next(1, fault)
    with pytest.raises(InvalidAgentOutput, match=message):
        gemini.generate(request(), TradeIdea)
    assert len(standin.requests) == 1


def test_recitation_and_max_tokens_fail_closed(standin: GeminiStandIn, gemini: GeminiModel) -> None:
    for finish, message in [("RECITATION", "declined"), ("MAX_TOKENS", "cut off")]:
        standin.script({"candidates": [{"content": {"parts": [{"text": GOOD}]}, "finishReason": finish}]})
        with pytest.raises(InvalidAgentOutput, match=message):
            gemini.generate(request(), TradeIdea)


@pytest.mark.parametrize("status", [429, 500, 503])
def test_transient_status_is_retried_then_succeeds(standin: GeminiStandIn, gemini: GeminiModel,
                                                   status: int) -> None:
    standin.fail_next(2, status)
    standin.script(GOOD)
    reply = gemini.generate(request(), TradeIdea)
    assert reply.parsed is not None and reply.parsed["action"] == "BUY"
    assert reply.attempts == 3 and len(standin.requests) == 3


def test_backoff_grows_between_attempts(standin: GeminiStandIn) -> None:
    model = GeminiModel(API_KEY, base_url=standin.base_url, timeout_s=2, max_retries=3, backoff_base=0.1)
    standin.fail_next(3, 429)
    standin.script(GOOD)
    model.generate(request(), TradeIdea)
    at = [r.at for r in standin.requests]
    gaps = [b - a for a, b in itertools.pairwise(at)]
    # base * 2^(n-1) * jitter in [0.5, 1.5): 0.05-0.15, 0.1-0.3, 0.2-0.6 seconds
    assert 0.05 <= gaps[0] < 0.3 and 0.1 <= gaps[1] < 0.5 and 0.2 <= gaps[2] < 0.8
    model.close()


def test_persistent_429_raises_transient_after_max_retries(standin: GeminiStandIn, gemini: GeminiModel,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    standin.fail_next(10, 429)
    with caplog.at_level(logging.DEBUG), pytest.raises(TransientError, match="after 4 attempts") as raised:
        gemini.generate(request(), TradeIdea)
    assert len(standin.requests) == 4  # the first try and max_retries=3 retries, no SDK retries on top
    assert API_KEY not in str(raised.value) and API_KEY not in repr(raised.value)
    assert API_KEY not in caplog.text and "retrying" in caplog.text


def test_timeout_is_retried_then_raises_transient(standin: GeminiStandIn) -> None:
    model = GeminiModel(API_KEY, base_url=standin.base_url, timeout_s=0.3, max_retries=2, backoff_base=0.01)
    standin.delay_s = 1.0
    started = time.monotonic()
    with pytest.raises(TransientError, match="no reply within 300 ms") as raised:
        model.generate(request(), TradeIdea)
    elapsed = time.monotonic() - started
    assert len(standin.requests) == 3
    assert elapsed < 3 * 1.0  # each attempt was cut at the timeout, not waited out
    assert API_KEY not in str(raised.value)
    model.close()


def test_no_attempt_runs_past_the_request_deadline(standin: GeminiStandIn) -> None:
    """An agent run is bounded (cream.timeouts.AGENT_RUN_S): retries stop, and the last attempt is cut,
    at its deadline, whatever the per-call timeout and the retry count would allow."""
    model = GeminiModel(API_KEY, base_url=standin.base_url, timeout_s=5, max_retries=10, backoff_base=0.01)
    standin.delay_s = 3.0
    started = time.monotonic()
    with pytest.raises(TransientError):
        model.generate(request().model_copy(update={"deadline": started + 1.5}), TradeIdea)
    assert time.monotonic() - started < 2.5
    assert 1 <= len(standin.requests) <= 2
    model.close()


def test_per_request_timeout_overrides_default(standin: GeminiStandIn, gemini: GeminiModel) -> None:
    standin.delay_s = 0.5
    with pytest.raises(TransientError):
        gemini.generate(request(timeout_s=0.2), TradeIdea)
    assert standin.requests[0].headers.get("X-Server-Timeout") == "1"  # the SDK forwards ceil(timeout)


def test_timeout_then_success(standin: GeminiStandIn) -> None:
    calls: list[float] = []

    def slow_first(body: dict[str, object]) -> str:
        calls.append(time.monotonic())
        if len(calls) == 1:
            time.sleep(0.6)
        return GOOD

    standin.responder = slow_first
    model = GeminiModel(API_KEY, base_url=standin.base_url, timeout_s=0.3, max_retries=2, backoff_base=0.01)
    reply = model.generate(request(), TradeIdea)
    assert reply.parsed is not None and reply.parsed["symbol"] == "AAPL" and reply.attempts == 2
    model.close()


@pytest.mark.parametrize("status", [401, 403])
def test_bad_key_is_a_configuration_error(standin: GeminiStandIn, gemini: GeminiModel, status: int) -> None:
    standin.fail_next(1, status)
    with pytest.raises(ConfigurationError, match="check the key") as raised:
        gemini.generate(request(), TradeIdea)
    assert len(standin.requests) == 1 and API_KEY not in str(raised.value)


def test_other_client_errors_fail_closed_without_retry(standin: GeminiStandIn, gemini: GeminiModel) -> None:
    standin.fail_next(1, 400)
    with pytest.raises(InvalidAgentOutput, match="HTTP 400"):
        gemini.generate(request(), TradeIdea)
    assert len(standin.requests) == 1


def test_api_key_never_in_repr_or_missing_key_rejected() -> None:
    with pytest.raises(ConfigurationError):
        GeminiModel("")
    model = GeminiModel(API_KEY, base_url="http://127.0.0.1:9")
    assert API_KEY not in repr(model)
    model.close()


def test_unreachable_server_is_transient() -> None:
    model = GeminiModel(API_KEY, base_url="http://127.0.0.1:9", timeout_s=1, max_retries=1, backoff_base=0.01)
    with pytest.raises(TransientError, match="after 2 attempts") as raised:
        model.generate(request(), TradeIdea)
    assert API_KEY not in str(raised.value)
    model.close()


QUOTES = ToolSpec(name="get_quotes", description="Last prices of symbols in this cycle.",
                  parameters={"type": "object", "properties": {"symbols": {"type": "array", "items": {"type": "string"}}},
                              "required": ["symbols"]})


def test_tool_call_round_trip_keeps_the_thought_signature(standin: GeminiStandIn, gemini: GeminiModel) -> None:
    signature = base64.b64encode(b"opaque-signature").decode()
    standin.script({"candidates": [{"content": {"role": "model", "parts": [
                        {"functionCall": {"name": "get_quotes", "args": {"symbols": ["AAPL"]}},
                         "thoughtSignature": signature}]}, "finishReason": "STOP"}],
                    "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 3, "totalTokenCount": 13},
                    "modelVersion": "gemini-3-pro-preview"}, GOOD)
    asking = request(tools=[QUOTES])
    first = gemini.generate(asking, TradeIdea)
    assert first.parsed is None and first.tool_calls == [
        ToolCall(name="get_quotes", args={"symbols": ["AAPL"]}, signature=signature)]
    follow_up = asking.model_copy(update={"turns": [
        Turn(role="model", tool_calls=first.tool_calls),
        Turn(role="tool", tool_results=[ToolResult(name="get_quotes", response={"result": {"AAPL": 201.5}})])]})
    second = gemini.generate(follow_up, TradeIdea)
    assert second.parsed == json.loads(GOOD)

    first_sent, second_sent = standin.requests
    [declaration] = first_sent.body["tools"][0]["functionDeclarations"]
    # google-genai 3.4 sends this field in its proto name; proto JSON accepts both spellings.
    schema = declaration.get("parametersJsonSchema", declaration.get("parameters_json_schema"))
    assert (declaration["name"], declaration["description"], schema) == ("get_quotes", QUOTES.description,
                                                                         QUOTES.parameters)
    assert first_sent.body["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}
    model_turn, tool_turn = second_sent.body["contents"][1:]
    assert model_turn == {"role": "model", "parts": [{"functionCall": {"name": "get_quotes", "args": {"symbols": ["AAPL"]}},
                                                      "thoughtSignature": signature}]}
    assert tool_turn == {"role": "user", "parts": [{"functionResponse": {"name": "get_quotes",
                                                                         "response": {"result": {"AAPL": 201.5}}}}]}
    assert asking.request_hash() != follow_up.request_hash()


def test_tool_calls_when_none_are_allowed_fail_closed(standin: GeminiStandIn, gemini: GeminiModel) -> None:
    standin.script({"candidates": [{"content": {"role": "model", "parts": [
        {"functionCall": {"name": "get_quotes", "args": {"symbols": ["AAPL"]}}}]}, "finishReason": "STOP"}]})
    with pytest.raises(InvalidAgentOutput, match="where none were allowed"):
        gemini.generate(request(tools=[QUOTES], tools_allowed=False), TradeIdea)
    assert standin.requests[0].body["toolConfig"] == {"functionCallingConfig": {"mode": "NONE"}}
