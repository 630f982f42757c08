"""Record and replay: every model call is stored under the hash of its request, with the reply and
the results of the tools that reply asked for. A replay answers from the store alone (no network,
no tool runs), so a cycle or a whole backtest re-runs to the same plan.

``RecordingModel`` wraps a live model; ``ReplayModel`` stands in for one. A request with no
recording raises ``ReplayMiss``: the agent's output is an error, as any other failure (fail closed).
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel

from cream.errors import InvalidAgentOutput
from cream.llm.port import LanguageModel, LlmReply, LlmRequest, ToolResult, parse_answer
from cream.storage.db import session_scope
from cream.storage.models import LlmExchange
from cream.storage.writes import insert_once

T = TypeVar("T", bound=BaseModel)


class ReplayMiss(InvalidAgentOutput):
    """No recorded reply for this exact request: the replay diverged from the recording."""


class ExchangeStore:
    """The llm_exchanges table. The first recording of a request wins; equal requests share it."""

    def __init__(self, database_url: str | None = None) -> None:
        self.url = database_url

    def save(self, request: LlmRequest, reply: LlmReply) -> None:
        row = LlmExchange(request_hash=request.request_hash(), agent_type=request.agent, model=request.model,
                          request=request.model_dump(mode="json", exclude={"timeout_s"}),
                          reply=reply.model_dump(mode="json"))
        with session_scope(self.url) as s:
            insert_once(s, row, row.request_hash)

    def save_tool_results(self, request_hash: str, results: list[ToolResult]) -> None:
        with session_scope(self.url) as s:
            row = s.get(LlmExchange, request_hash)
            if row is not None and row.tool_results is None:
                row.tool_results = [r.model_dump(mode="json") for r in results]

    def find(self, request_hash: str) -> tuple[LlmReply, list[ToolResult] | None] | None:
        with session_scope(self.url, readonly=True) as s:
            row = s.get(LlmExchange, request_hash)
            if row is None:
                return None
            results = [ToolResult.model_validate(r) for r in row.tool_results] if row.tool_results is not None else None
            return LlmReply.model_validate(row.reply), results


class RecordingModel:
    """A live model whose every successful reply is stored before it is used."""

    replaying = False

    def __init__(self, inner: LanguageModel, store: ExchangeStore) -> None:
        self.inner, self.store = inner, store

    def generate(self, request: LlmRequest, schema: type[T]) -> LlmReply:
        reply = self.inner.generate(request, schema)
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


def recorded_reply_count(database_url: str | None = None) -> int:
    from sqlalchemy import func, select

    with session_scope(database_url, readonly=True) as s:
        return int(s.scalar(select(func.count()).select_from(LlmExchange)) or 0)


__all__ = ["ExchangeStore", "RecordingModel", "ReplayMiss", "ReplayModel", "recorded_reply_count"]
