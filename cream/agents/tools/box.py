"""The tool box an LLM agent calls into: which tools each agent has, their declarations, one entry point.

``ToolBox.call`` never raises: a refused, malformed or failing call comes back as {"error": "..."} for
the model to read and correct, and a good one as {"result": ...} (plain, sorted, rounded JSON).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from cream.agents.port import AgentContext
from cream.agents.tools import market as market_tools
from cream.agents.tools import memory, options
from cream.agents.tools.args import (
    GreeksArgs,
    IndicatorArgs,
    MemoryArgs,
    NoArgs,
    OptionChainArgs,
    QuotesArgs,
    ToolArgs,
)
from cream.agents.tools.common import ToolError
from cream.llm.port import ToolCall, ToolSpec, answer_schema
from cream.ports import MarketData
from cream.schemas.agents import AgentType

log = logging.getLogger(__name__)

_ANALYSIS = ("memory_query",)
TOOLS_BY_AGENT: dict[AgentType, tuple[str, ...]] = {
    AgentType.TECHNICAL_ANALYST: ("get_quotes", "recalc_indicator", "memory_query"),
    AgentType.NEWS_ANALYST: _ANALYSIS,
    AgentType.FUNDAMENTALS_ANALYST: _ANALYSIS,
    AgentType.BULLISH_RESEARCHER: _ANALYSIS,
    AgentType.BEARISH_RESEARCHER: _ANALYSIS,
    AgentType.TRADER: ("get_quotes", "portfolio_state", "option_chain", "get_greeks", "memory_query"),
    AgentType.RISK_MANAGER: ("portfolio_state",),
    AgentType.CRITIC: (),
}


@dataclass(frozen=True)
class _Tool:
    args: type[ToolArgs]
    description: str


TOOLS: dict[str, _Tool] = {
    "get_quotes": _Tool(QuotesArgs, "Last price, and bid/ask when quoted, of symbols in this cycle as of its "
                                    "time. Symbols outside the cycle get an error entry, never data."),
    "recalc_indicator": _Tool(IndicatorArgs, (
        "Recompute a technical indicator (sma, ema, rsi, atr, bollinger, stochastic, volume_sma) with "
        "another period over the candles this cycle holds for a symbol (about 20 per timeframe). Returns "
        "the last value(s) and the bars used; smoothed indicators (ema, rsi, atr) differ slightly from the "
        "snapshot's, which use longer history.")),
    "portfolio_state": _Tool(NoArgs, "The book now: cash, equity, exposures, buying power, day trades in 5 "
                                     "sessions, and each position with unrealised P&L at the market price."),
    "option_chain": _Tool(OptionChainArgs, (
        "Listed option contracts of a symbol in this cycle, nearest the money first (up to limit), with "
        "bid/ask, implied vol and Greeks from the provider. Not available in backtests.")),
    "get_greeks": _Tool(GreeksArgs, (
        "Black-Scholes price and Greeks of option contracts (OCC symbol, or underlying+strike+expiry+right) "
        "at the cycle date; spot defaults to the underlying's price in this cycle.")),
    "memory_query": _Tool(MemoryArgs, (
        "Similar past decisions of this book (before this cycle), newest first: filter by symbol, market "
        "regime at the time and direction. Each with its action, levels, confidence, rationale and "
        "outcome.")),
}


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with every ``$ref`` replaced by its ``$defs`` entry (function-calling dialects differ
    in ``$ref`` support; these argument models are not recursive)."""
    defs = schema.get("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {k: resolve(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return resolve(schema)  # type: ignore[no-any-return]


def _validation_message(name: str, exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(arguments)"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"bad arguments for {name}: {where}: {first['msg']}{more}; see the tool's parameters."


def _plain(value: Any) -> Any:
    """JSON-only values with sorted keys (what the model reads, and what a replay compares)."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


class ToolBox:
    """The tools of one agent run over its context; ``market`` is the cycle's data source, when any."""

    def __init__(self, ctx: AgentContext, market: MarketData | None = None, *, agent: AgentType | None = None,
                 db_url: str | None = None) -> None:
        self.ctx = ctx
        self.market = market
        self.agent = AgentType(agent) if agent is not None else None  # set by specs() when not given
        self.db_url = db_url  # None: the configured database
        self._handlers: dict[str, Callable[[Any], dict[str, Any]]] = {
            "get_quotes": lambda a: market_tools.get_quotes(self.ctx, a),
            "recalc_indicator": lambda a: market_tools.recalc_indicator(self.ctx, a),
            "portfolio_state": lambda a: market_tools.portfolio_state(self.ctx, a),
            "option_chain": lambda a: options.option_chain(self.ctx, self.market, a),
            "get_greeks": lambda a: options.get_greeks(self.ctx, a),
            "memory_query": lambda a: memory.memory_query(self.ctx, a, self.db_url),
        }

    def specs(self, agent: AgentType) -> list[ToolSpec]:
        """The declarations of the tools ``agent`` may call (none for the critic); later calls are held
        to that set."""
        self.agent = AgentType(agent)
        return [ToolSpec(name=name, description=TOOLS[name].description,
                         parameters=_inline_refs(answer_schema(TOOLS[name].args)))
                for name in TOOLS_BY_AGENT.get(AgentType(agent), ())]

    def call(self, call: ToolCall, agent: AgentType | None = None) -> dict[str, Any]:
        """Run one tool call: {"result": ...} or {"error": "<one sentence>"}; never raises.

        A tool outside the agent's set is refused: the agent is ``agent`` when given, else the one of the
        constructor or of the last ``specs`` call; with none known every call is refused (fail closed).
        """
        try:
            return self._call(call, agent)
        except Exception as exc:  # a tool's bug must not kill the agent run: the model is told instead
            log.exception("tool %s failed for cycle %s", call.name, self.ctx.cycle_id)
            return {"error": f"{call.name} failed unexpectedly ({type(exc).__name__}); try other arguments "
                             "or answer without it."}

    def _call(self, call: ToolCall, agent: AgentType | None) -> dict[str, Any]:
        tool = TOOLS.get(call.name)
        if tool is None:
            return {"error": f"there is no tool named {call.name!r}."}
        who = AgentType(agent) if agent is not None else self.agent
        if who is None:
            return {"error": "no agent is set for this tool box: declare its tools with specs(agent) first."}
        if call.name not in TOOLS_BY_AGENT.get(who, ()):
            allowed = ", ".join(TOOLS_BY_AGENT.get(who, ())) or "none"
            return {"error": f"{who.value} may not call {call.name} (its tools: {allowed})."}
        try:
            args = tool.args.model_validate(call.args or {})
        except ValidationError as exc:
            return {"error": _validation_message(call.name, exc)}
        try:
            return {"result": _plain(self._handlers[call.name](args))}
        except ToolError as exc:
            return {"error": str(exc)}
