"""The language-model port: one request in, one schema-validated answer out.

Adapters (Gemini today) turn transport failures into ``TransientError`` (retry later),
bad credentials into ``ConfigurationError``, and anything the model said that does not fit the
schema (invalid or truncated JSON, refusals, empty replies) into ``InvalidAgentOutput``.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T", bound=BaseModel)


class LlmRequest(BaseModel):
    """What an agent asks of a model. ``response_schema`` names the pydantic class (or holds a JSON
    schema) the reply must satisfy; it is recorded so a request can be hashed and replayed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    agent: str
    model: str
    system_prompt: str
    prompt: str
    temperature: float = Field(default=0.2, ge=0.0, le=2.0)
    response_schema: str | dict[str, Any]
    timeout_s: float | None = Field(default=None, gt=0)


class LlmReply(BaseModel):
    """What came back, with the accounting the budget ledger needs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str
    parsed: dict[str, Any]
    model: str
    prompt_tokens: int = 0
    output_tokens: int = 0
    finish_reason: str | None = None
    latency_s: float = 0.0
    attempts: int = 1


class LanguageModel(Protocol):
    def generate(self, request: LlmRequest, schema: type[T]) -> tuple[T, LlmReply]:
        """Ask the model; return the reply validated against ``schema`` and its raw record.

        Raises ``TransientError``, ``ConfigurationError`` or ``InvalidAgentOutput``."""
        ...
