"""Record and replay: every model call is stored under the hash of its request, with the reply and
the results of the tools that reply asked for, or with the error it ended in. A replay answers from
the store alone (no network, no tool runs), failures included, so a cycle or a whole backtest re-runs
to the same plan.

``RecordingModel`` wraps a live model; ``ReplayModel`` stands in for one. A request with no
recording raises ``ReplayMiss``: the agent's output is an error, as any other failure (fail closed).
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel

from cream.errors import ConfigurationError, CreamError, InvalidAgentOutput, TransientError
from cream.llm.port import LanguageModel, LlmReply, LlmRequest, ToolResult, parse_answer
from cream.storage.db import configured_url, session_scope
from cream.storage.models import LlmExchange
from cream.storage.writes import insert_once

T = TypeVar("T", bound=BaseModel)
# Failures a replay raises again, by name, with the message they had.
_FAILURES: dict[str, type[CreamError]] = {e.__name__: e for e in (InvalidAgentOutput, TransientError,
                                                                   ConfigurationError)}


class ReplayMiss(InvalidAgentOutput):
    """No recorded reply for this exact request: the replay diverged from the recording."""


class ExchangeStore:
    """The llm_exchanges table. The first recording of a request wins; equal requests share it."""

    def __init__(self, database_url: str | None = None) -> None:
        self.url = database_url

    def save(self, request: LlmRequest, reply: LlmReply | CreamError) -> None:
        """Store a reply, or the error the call ended in; a reply replaces an earlier error."""
        body = ({"error": {"type": type(reply).__name__, "message": str(reply)}} if isinstance(reply, CreamError)
                else reply.model_dump(mode="json"))
        row = LlmExchange(request_hash=request.request_hash(), agent_type=request.agent, model=request.model,
                          request=request.model_dump(mode="json", exclude={"timeout_s"}), reply=body)
        with session_scope(self.url or configured_url()) as s:
            existing, inserted = insert_once(s, row, row.request_hash)
            if not inserted and "error" in existing.reply and "error" not in body:
                existing.reply, existing.tool_results = body, None

    def save_tool_results(self, request_hash: str, results: list[ToolResult]) -> None:
        with session_scope(self.url or configured_url()) as s:
            row = s.get(LlmExchange, request_hash)
            if row is not None and row.tool_results is None:
                row.tool_results = [r.model_dump(mode="json") for r in results]

    def find(self, request_hash: str) -> tuple[LlmReply, list[ToolResult] | None] | None:
        """The recorded reply and tool results; a recorded failure is raised again, as it happened."""
        with session_scope(self.url or configured_url(), readonly=True) as s:
            row = s.get(LlmExchange, request_hash)
            if row is None:
                return None
            reply, stored = dict(row.reply), row.tool_results
        if "error" in reply:
            failure = reply["error"]
            raise _FAILURES.get(failure["type"], InvalidAgentOutput)(failure["message"])
        results = [ToolResult.model_validate(r) for r in stored] if stored is not None else None
        return LlmReply.model_validate(reply), results


class RecordingModel:
    """A live model whose every successful reply is stored before it is used."""

    replaying = False

    def __init__(self, inner: LanguageModel, store: ExchangeStore) -> None:
        self.inner, self.store = inner, store

    def generate(self, request: LlmRequest, schema: type[T]) -> LlmReply:
        try:
            reply = self.inner.generate(request, schema)
        except (InvalidAgentOutput, TransientError) as exc:
            self.store.save(request, exc)
            raise
        self.store.save(request, reply)
        return reply

    def recorded_tool_results(self, request: LlmRequest) -> list[ToolResult] | None:
        return None  # live: the tools run

    def record_tool_results(self, request: LlmRequest, results: list[ToolResult]) -> None:
        self.store.save_tool_results(request.request_hash(), results)


class ReplayModel:
    """Answers from the recordings only. The stored text is validated again, as a live answer is."""

    replaying = True

    def __init__(self, store: ExchangeStore) -> None:
        self.store = store

    def generate(self, request: LlmRequest, schema: type[T]) -> LlmReply:
        found = self.store.find(request.request_hash())
        if found is None:
            raise ReplayMiss(f"no recorded reply for this {request.agent} request ({request.request_hash()[:12]}): "
                             "the replay differs from the recording here")
        reply, _ = found
        if reply.tool_calls:
            return reply
        return reply.model_copy(update={"parsed": parse_answer(reply.text, schema, f"the recording of {request.agent}")})

    def recorded_tool_results(self, request: LlmRequest) -> list[ToolResult]:
        found = self.store.find(request.request_hash())
        if found is None or found[1] is None:
            raise ReplayMiss(f"no recorded tool results for this {request.agent} request "
                             f"({request.request_hash()[:12]})")
        return found[1]

    def record_tool_results(self, request: LlmRequest, results: list[ToolResult]) -> None:
        pass


__all__ = ["ExchangeStore", "RecordingModel", "ReplayMiss", "ReplayModel"]
