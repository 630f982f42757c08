"""The LLM port's pure parts: request hashing (record/replay keys), the answer schema, answer parsing."""

from __future__ import annotations

import json

import pytest

from cream.errors import InvalidAgentOutput
from cream.llm.port import LlmRequest, ToolCall, ToolResult, Turn, answer_schema, parse_answer
from cream.schemas.agents import ApprovalVerdict
from cream.schemas.decisions import TraderDraft


def request(**changes: object) -> LlmRequest:
    fields: dict[str, object] = dict(agent="critic", model="gemini-3-flash-preview", system_prompt="You audit.",
                                     prompt="Review the plan.", temperature=0.1, response_schema="ApprovalVerdict")
    return LlmRequest(**{**fields, **changes})


def test_equal_requests_hash_equal_and_the_timeout_does_not_count() -> None:
    assert request().request_hash() == request(timeout_s=5).request_hash() == request(timeout_s=90).request_hash()


@pytest.mark.parametrize("change", [
    {"model": "gemini-3-pro-preview"}, {"temperature": 0.2}, {"system_prompt": "You audit!"},
    {"prompt": "Review the plan again."}, {"response_schema": "TraderDraft"}, {"tools_allowed": False},
    {"turns": [Turn(role="model", tool_calls=[ToolCall(name="get_quotes", args={"symbols": ["XLK"]})]),
               Turn(role="tool", tool_results=[ToolResult(name="get_quotes", response={"result": {"XLK": 1.0}})])]},
])
def test_anything_that_shapes_the_reply_changes_the_hash(change: dict[str, object]) -> None:
    assert request(**change).request_hash() != request().request_hash()


def test_answer_schema_is_plain_json_schema_without_openapi_hints() -> None:
    schema = json.dumps(answer_schema(TraderDraft))
    assert '"discriminator"' not in schema and '"oneOf"' not in schema and '"anyOf"' in schema
    assert answer_schema(ApprovalVerdict)["required"] == ApprovalVerdict.model_json_schema()["required"]


@pytest.mark.parametrize("text, why", [
    ("", "empty"), ('{"agent": "critic", "verdict": "APPROVE"', "not valid JSON"),
    ('{"agent": "critic", "verdict": "MAYBE", "summary": "?"}', "does not fit ApprovalVerdict"),
    ('{"agent": "critic", "verdict": "REJECT", "summary": "no"}', "does not fit ApprovalVerdict"),
])
def test_unusable_answers_are_refused_with_the_reason(text: str, why: str) -> None:
    with pytest.raises(InvalidAgentOutput, match=why):
        parse_answer(text, ApprovalVerdict, "the critic")


def test_a_valid_answer_comes_back_as_the_schema_dump() -> None:
    out = parse_answer('{"agent": "critic", "verdict": "APPROVE", "summary": "sound"}', ApprovalVerdict, "the critic")
    assert out == {"agent": "critic", "verdict": "APPROVE", "objections": [], "summary": "sound"}
