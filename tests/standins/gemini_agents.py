"""A scripted "model" for the Gemini stand-in that answers our eight agents' prompts.

It reads the JSON context block every agent prompt carries (cream.agents.prompts), and answers what
a sound model would: the rule-based agents' output for that context, as JSON text, through the real
``generateContent`` wire format. The technical analyst and the trader first call a tool
(``get_quotes``) and answer once its result is back, so tool round trips run in every cycle.
The stand-in is the outside system (Gemini); the code under test is everything of ours in between.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from cream.agents.port import AgentContext
from cream.agents.prompts import context_from_prompt
from cream.agents.rules.backend import RuleBasedAgents
from cream.schemas.agents import AgentType
from cream.schemas.decisions import Environment
from cream.schemas.instruments import option_legs

TOOL_FIRST = frozenset({AgentType.TECHNICAL_ANALYST, AgentType.TRADER})
STAMPED = ("cycle_id", "as_of_timestamp", "environment")  # the system stamps these on the trader's draft


def prompt_context(body: dict[str, Any]) -> tuple[AgentType, AgentContext]:
    """The agent and its context, read back from the request's first user message."""
    return context_from_prompt(body["contents"][0]["parts"][0]["text"], cycle_id="standin",
                               environment=Environment.BACKTEST)


def _tool_results_seen(body: dict[str, Any]) -> bool:
    return any("functionResponse" in part for c in body["contents"] for part in c.get("parts", []))


def _function_call(name: str, args: dict[str, Any], model: str) -> dict[str, Any]:
    return {"candidates": [{"content": {"role": "model", "parts": [{"functionCall": {"name": name, "args": args}}]},
                            "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 100, "candidatesTokenCount": 8, "totalTokenCount": 108},
            "modelVersion": model, "responseId": uuid.uuid4().hex[:22]}


def agent_responder(model: str = "gemini-3-pro-preview",
                    edit: Callable[[AgentType, dict[str, Any]], dict[str, Any]] | None = None,
                    options: bool = False) -> Callable[[dict[str, Any]], str | dict[str, Any]]:
    """A responder for ``GeminiStandIn``; ``edit(agent, answer)`` may change an answer (bad models).
    The trader trades shares only, as the rule agents do by default, unless ``options``: then it reads the
    chain marks its prompt carries and trades options where the rule playbook says so."""
    rules = RuleBasedAgents()

    def respond(body: dict[str, Any]) -> str | dict[str, Any]:
        agent, ctx = prompt_context(body)
        if agent is AgentType.TRADER and not options:
            held = {c for p in ctx.portfolio.positions for _, c in option_legs(p)}
            ctx = ctx.model_copy(update={"option_marks": {k: m for k, m in ctx.option_marks.items()
                                                          if k in held or k in ctx.portfolio.positions}})
        mode = body.get("toolConfig", {}).get("functionCallingConfig", {}).get("mode")
        if agent in TOOL_FIRST and body.get("tools") and mode != "NONE" and not _tool_results_seen(body):
            return _function_call("get_quotes", {"symbols": sorted(ctx.snapshots)}, model)
        answer = rules.run(agent, ctx)
        if agent is AgentType.TRADER:
            answer = {k: v for k, v in answer.items() if k not in STAMPED}
        if edit is not None:
            answer = edit(agent, answer)
        return json.dumps(answer, sort_keys=True)

    return respond


__all__ = ["agent_responder", "prompt_context"]
