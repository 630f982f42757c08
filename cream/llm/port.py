"""The language-model port: one turn of a conversation in, one reply out.

A reply is either an answer (JSON text that validates against the requested schema) or a request
to call tools (function calling). The agent runner (``cream.agents.llm``) drives the conversation:
it runs the tools, appends their results as new turns and asks again, within its bounds.

Adapters (Gemini today) turn transport failures into ``TransientError`` (retry later), bad
credentials into ``ConfigurationError``, and anything the model said that does not fit the schema
(invalid or truncated JSON, refusals, empty replies) into ``InvalidAgentOutput``.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from typing import Any, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cream.errors import InvalidAgentOutput

T = TypeVar("T", bound=BaseModel)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ToolSpec(_Frozen):
    """A function the model may call: its name, what it does, and a JSON Schema of its arguments."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    description: str
    parameters: dict[str, Any]


class ToolCall(_Frozen):
    """The model asks for ``name(**args)``. ``signature`` is the provider's opaque token (Gemini's
    thought signature) that must travel back with the call in the next request."""

    name: str
    args: dict[str, Any] = Field(default_factory=dict)
    call_id: str | None = None
    signature: str | None = None


class ToolResult(_Frozen):
    name: str
    response: dict[str, Any]
    call_id: str | None = None


class Turn(_Frozen):
    """One step after the first prompt: the model's tool calls, our tool results, or a user nudge."""

    role: Literal["model", "tool", "user"]
    text: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_results: list[ToolResult] = Field(default_factory=list)


class LlmRequest(_Frozen):
    """What an agent asks of a model. ``response_schema`` is the name of the pydantic class the
    answer must satisfy; the request is hashed (``request_hash``) for recording and replay."""

    agent: str
    model: str
    system_prompt: str
    prompt: str
    turns: list[Turn] = Field(default_factory=list)
    tools: list[ToolSpec] = Field(default_factory=list)
    tools_allowed: bool = Field(default=True, description="False forces an answer, even with tools declared.")
    temperature: float = Field(default=0.2, ge=0.0, le=2.0)
    response_schema: str
    timeout_s: float | None = Field(default=None, gt=0)
    deadline: float | None = Field(default=None, description="time.monotonic() past which no attempt runs")

    def request_hash(self) -> str:
        """sha256 of everything that shapes the reply (not the time bounds): equal requests, equal hash."""
        canonical = json.dumps(self.model_dump(mode="json", exclude={"timeout_s", "deadline"}), sort_keys=True,
                               separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()


class LlmReply(_Frozen):
    """What came back, with the accounting the budget ledger needs. Exactly one of ``parsed`` (an
    answer valid against the schema) and ``tool_calls`` is set."""

    text: str = ""
    parsed: dict[str, Any] | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    model: str
    prompt_tokens: int = 0
    output_tokens: int = 0
    finish_reason: str | None = None
    latency_s: float = 0.0
    attempts: int = 1


class LanguageModel(Protocol):
    def generate(self, request: LlmRequest, schema: type[T]) -> LlmReply:
        """Ask the model once; an answer is already validated against ``schema``.

        Raises ``TransientError``, ``ConfigurationError`` or ``InvalidAgentOutput``."""
        ...


def parse_answer(text: str, schema: type[BaseModel], who: str) -> dict[str, Any]:
    """``text`` as JSON valid against ``schema`` (returned as the model's JSON dump), or
    ``InvalidAgentOutput`` saying why not. Every adapter, and replay, reads answers through here."""
    if not text.strip():
        raise InvalidAgentOutput(f"empty answer from {who}.")
    try:
        json.loads(text)
    except ValueError as exc:
        raise InvalidAgentOutput(f"the answer from {who} is not valid JSON ({exc}).") from None
    try:
        value = schema.model_validate_json(text)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(root)"
        raise InvalidAgentOutput(f"the answer from {who} does not fit {schema.__name__}: "
                                 f"{exc.error_count()} error(s); {where}: {err['msg']}") from None
    return value.model_dump(mode="json")


def answer_schema(schema: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema a provider is given for ``schema``: pydantic's, with ``oneOf`` spelled
    ``anyOf`` and OpenAPI ``discriminator`` hints dropped (structured-output dialects accept a subset;
    the full pydantic validation still runs on every answer). A fresh copy each call."""
    return json.loads(_answer_schema_text(schema))  # type: ignore[no-any-return]


@cache
def _answer_schema_text(schema: type[BaseModel]) -> str:
    """Built once per model class per process: pydantic's schema generation costs milliseconds, and every
    model call of an agent (with its tools' argument schemas) asked for it again."""
    def clean(node: Any) -> Any:
        if isinstance(node, dict):
            return {("anyOf" if k == "oneOf" else k): clean(v) for k, v in node.items() if k != "discriminator"}
        if isinstance(node, list):
            return [clean(v) for v in node]
        return node
    return json.dumps(clean(schema.model_json_schema()))
