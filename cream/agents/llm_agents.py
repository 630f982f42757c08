"""The eight agents on a language model (Gemini in PAPER and LIVE, recorded replies in a replay).

One run of an agent is a short conversation: the versioned prompt, then at most ``max_tool_calls``
tool calls within ``tool_seconds``, then an answer that must validate against the agent's schema.
Past either bound the model is told to answer without tools; a model that still asks for tools,
answers with something invalid, or fails in transport makes the run an error (fail closed: the caller
records it, and an approver's error counts as REJECT). Every model call is priced into the cycle's
ledger, and no call starts once the cycle's budget is spent.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Protocol

from pydantic import BaseModel

from cream.agents import prompts
from cream.agents.port import AgentContext, LlmCall, SpendLedger
from cream.agents.tools import ToolBox
from cream.errors import ConfigurationError, InvalidAgentOutput
from cream.llm.port import LanguageModel, LlmReply, LlmRequest, ToolCall, ToolResult, Turn
from cream.ports import MarketData
from cream.schemas.agents import (
    AgentType,
    ApprovalVerdict,
    BearishResearchOutput,
    BullishResearchOutput,
    FundamentalsAnalysisOutput,
    SentimentAnalysisOutput,
    TechnicalAnalysisOutput,
)
from cream.schemas.config import AgentConfig
from cream.schemas.decisions import TraderDraft
from cream.timeouts import AGENT_RUN_S

# What the model is asked to answer; the trader's draft is stamped into a DecisionPlan here.
ANSWER_SCHEMAS: dict[AgentType, type[BaseModel]] = {
    AgentType.TECHNICAL_ANALYST: TechnicalAnalysisOutput,
    AgentType.NEWS_ANALYST: SentimentAnalysisOutput,
    AgentType.FUNDAMENTALS_ANALYST: FundamentalsAnalysisOutput,
    AgentType.BULLISH_RESEARCHER: BullishResearchOutput,
    AgentType.BEARISH_RESEARCHER: BearishResearchOutput,
    AgentType.TRADER: TraderDraft,
    AgentType.RISK_MANAGER: ApprovalVerdict,
    AgentType.CRITIC: ApprovalVerdict,
}
ANSWER_NOW = "The tool budget of this step is spent. Answer now, with the JSON only, from what you have."
# One agent run, every model call, retry and tool included, ends within RUN_SECONDS (cream/timeouts.py):
# no model call starts after it and none runs past it. The threads pool cannot kill a task, so the
# bound is kept here.
RUN_SECONDS = AGENT_RUN_S
_TOOL_THREADS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="agent-tool")


class RecordedModel(LanguageModel, Protocol):
    """A model wrapped by the recorder (cream.llm.recorder): live and recording, or replaying."""

    replaying: bool

    def recorded_tool_results(self, request: LlmRequest) -> list[ToolResult] | None: ...

    def record_tool_results(self, request: LlmRequest, results: list[ToolResult]) -> None: ...


class LlmAgents:
    """``AgentBackend`` over a language model. Thread-safe: no state changes after construction."""

    def __init__(self, model: RecordedModel, configs: Mapping[AgentType, AgentConfig], *,
                 implementation: str, market: MarketData | None = None, ledger: SpendLedger | None = None) -> None:
        """``ledger`` prices every model call and stops the run once the cycle's budget is spent; without
        one (evals, replays, tests of the agents alone) nothing is recorded or limited."""
        self.model, self.configs, self.market, self.ledger = model, dict(configs), market, ledger
        self.implementation = implementation

    def version(self, agent: AgentType) -> str:
        override = self.configs[agent].system_prompt_override
        base = prompts.version_of(agent)
        return f"{base}+override-{hashlib.sha256(override.encode()).hexdigest()[:8]}" if override else base

    def run(self, agent: AgentType, context: AgentContext) -> dict[str, Any]:
        config = self.configs[agent]
        if not config.enabled:
            raise ConfigurationError(f"{agent.value} is disabled in agent_configs: no output, no trade")
        prompt = prompts.render(agent, context, system_override=config.system_prompt_override)
        tools = ToolBox(context, self.market, agent=agent)
        request = LlmRequest(
            agent=agent.value, model=config.model, system_prompt=prompt.system, prompt=prompt.user,
            tools=tools.specs(agent) if config.max_tool_calls > 0 else [], temperature=config.temperature,
            response_schema=ANSWER_SCHEMAS[agent].__name__, timeout_s=config.timeout_s,
            deadline=time.monotonic() + RUN_SECONDS)
        answer = self._converse(agent, context, config, request, tools)
        if agent is AgentType.TRADER:
            draft = TraderDraft.model_validate(answer)
            return draft.stamp(context.cycle_id, context.as_of, context.environment).model_dump(mode="json")
        return answer

    def _converse(self, agent: AgentType, ctx: AgentContext, config: AgentConfig, request: LlmRequest,
                  tools: ToolBox) -> dict[str, Any]:
        started = time.monotonic()
        calls_made, deadline = 0, started + config.tool_seconds
        while True:
            if time.monotonic() - started > RUN_SECONDS:
                raise InvalidAgentOutput(f"{agent.value} gave no answer within {RUN_SECONDS:.0f}s")
            if self.ledger:
                self.ledger.require_budget(ctx.cycle_id)
            reply = self.model.generate(request, ANSWER_SCHEMAS[agent])
            self._account(agent, ctx, config, request, reply)
            if reply.parsed is not None:
                return reply.parsed
            if not request.tools_allowed:
                raise InvalidAgentOutput(f"{agent.value} asked for tools after being told to answer")
            if calls_made + len(reply.tool_calls) > config.max_tool_calls or time.monotonic() > deadline:
                request = request.model_copy(update={"turns": [*request.turns, Turn(role="user", text=ANSWER_NOW)],
                                                     "tools_allowed": False})
                continue
            results = self.model.recorded_tool_results(request)
            if results is None:
                results = [self._call_tool(tools, call, deadline) for call in reply.tool_calls]
                self.model.record_tool_results(request, results)
            calls_made += len(reply.tool_calls)
            turns = [*request.turns, Turn(role="model", text=reply.text or None, tool_calls=reply.tool_calls),
                     Turn(role="tool", tool_results=results)]
            request = request.model_copy(update={"turns": turns})

    @staticmethod
    def _call_tool(tools: ToolBox, call: ToolCall, deadline: float) -> ToolResult:
        """Run one tool within what is left of the step's tool time; a slow tool answers with an error."""
        remaining = max(0.0, deadline - time.monotonic())
        future = _TOOL_THREADS.submit(tools.call, call)
        try:
            response = future.result(timeout=remaining)
        except FutureTimeout:
            response = {"error": f"{call.name} did not answer within the step's tool time"}
        return ToolResult(name=call.name, response=response, call_id=call.call_id)

    def _account(self, agent: AgentType, ctx: AgentContext, config: AgentConfig, request: LlmRequest,
                 reply: LlmReply) -> None:
        if not self.ledger:
            return
        replayed = self.model.replaying
        self.ledger.record_call(LlmCall(
            cycle_id=ctx.cycle_id, agent=agent.value, symbol=ctx.symbol or "*", iteration=ctx.iteration,
            request_hash=request.request_hash(), model=reply.model, prompt_tokens=reply.prompt_tokens,
            output_tokens=reply.output_tokens,
            cost_usd=0.0 if replayed else config.cost(reply.prompt_tokens, reply.output_tokens),
            latency_s=0.0 if replayed else reply.latency_s, attempts=reply.attempts, replayed=replayed))
