"""Versioned prompt templates of the eight agents: one Markdown file per agent, rendered per context.

Each ``<agent>.md`` starts with a line ``version: N``; the rest is the agent's system instruction, in
which ``{{field}}`` stands for a ``TradingRules`` value and ``{{field%}}`` for a fraction shown as a
percentage. Bump N whenever the text changes: ``version_of`` is recorded on every agent output.

The user message is a short instruction and exactly one fenced ``json`` block holding
``{"agent": ..., "context": ...}``: the context without its cycle id and environment (also taken out
of the plans it carries), so that the same market situation hashes equal in every backtest, paper
and live run (record/replay). ``context_from_prompt`` puts them back.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from cream.agents.port import AgentContext
from cream.schemas.agents import ANALYSTS, AgentType, Objection
from cream.schemas.config import TradingRules
from cream.schemas.decisions import Environment

# Agents that see every symbol's snapshot: their candles are dropped to keep the prompt small.
PORTFOLIO_AGENTS = frozenset({AgentType.BULLISH_RESEARCHER, AgentType.BEARISH_RESEARCHER, AgentType.TRADER,
                              AgentType.RISK_MANAGER, AgentType.CRITIC})
# Facts of the run, not of the market: kept out of every prompt (the plans carry them too).
RUN_FIELDS = ("cycle_id", "environment")
PLAN_FIELDS = ("plan", "previous_plan")

_VERSION_LINE = re.compile(r"version:\s*(\d+)\s*")
_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)(%?)\s*\}\}")
_FENCE = re.compile(r"^```json\n(.*?)\n```$", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Prompt:
    system: str  # the system instruction
    user: str  # the user message
    version: str  # e.g. "technical_analyst/v1" - recorded on every agent output


@dataclass(frozen=True)
class _Template:
    version: int
    text: str


@cache
def _template(agent: AgentType) -> _Template:
    """The parsed ``<agent>.md``; a malformed template fails here, at first use, saying what to fix."""
    name = f"{agent.value}.md"
    raw = resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
    first, _, body = raw.partition("\n")
    match = _VERSION_LINE.fullmatch(first)
    if match is None:
        raise ValueError(f"prompt template {name} must start with a line 'version: <n>', got {first!r}")
    unknown = {m.group(1) for m in _PLACEHOLDER.finditer(body)} - set(TradingRules.model_fields)
    if unknown:
        raise ValueError(f"prompt template {name} names unknown trading rules {sorted(unknown)}: "
                         f"use fields of TradingRules")
    return _Template(version=int(match.group(1)), text=body.strip() + "\n")


def version_of(agent: AgentType) -> str:
    """``"<agent>/v<n>"``, n from the first line of the agent's template."""
    return f"{agent.value}/v{_template(agent).version}"


def _number(value: float) -> str:
    """A rule value as a reader expects it: 50000.0 -> "50,000", 0.45 -> "0.45", -500 -> "-500"."""
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,}"


def _percent(value: float) -> str:
    return f"{value * 100:.4g}%"


def system_text(agent: AgentType, rules: TradingRules) -> str:
    """The agent's template with the configured rule values filled in."""
    def fill(m: re.Match[str]) -> str:
        value = getattr(rules, m.group(1))
        return _percent(value) if m.group(2) else _number(value)
    return _PLACEHOLDER.sub(fill, _template(agent).text)


def context_payload(agent: AgentType, ctx: AgentContext) -> dict[str, Any]:
    """The context as the agent sees it: JSON, without run facts, candles only for the analysts."""
    data = ctx.model_dump(mode="json", exclude=set(RUN_FIELDS))
    for key in PLAN_FIELDS:
        if data.get(key) is not None:
            for field in RUN_FIELDS:
                data[key].pop(field, None)
    if agent in PORTFOLIO_AGENTS:
        for snap in data["snapshots"].values():
            snap["candles_by_timeframe"] = {}
    return data


def _one_line(text: str) -> str:
    """Text safe inside the instruction line: one line, no backticks that could open a fence."""
    return " ".join(text.split()).replace("`", "'")


def _objection_text(o: Objection) -> str:
    where = "" if o.decision_index is None else f" on decision {o.decision_index}"
    what = f" ({o.instrument_id})" if o.instrument_id else ""
    return f"{o.severity.value} {o.code}{where}{what}: {o.message}"


def _symbol(agent: AgentType, ctx: AgentContext) -> str:
    if ctx.symbol is not None:
        return ctx.symbol
    if len(ctx.snapshots) == 1:
        return next(iter(ctx.snapshots))
    raise ValueError(f"the {agent.value} prompt needs one symbol: set AgentContext.symbol")


def _trader_instruction(ctx: AgentContext, as_of: str) -> str:
    line = (f"Write the decision plan for iteration {ctx.iteration} as of {as_of}. Answer with a TraderDraft "
            f"(decisions and portfolio_notes only); the system stamps the cycle id, the as-of time and the "
            f"environment.")
    if ctx.iteration > 1:
        listed = "; ".join(_objection_text(o) for o in ctx.objections) or "none recorded"
        line += (f" Your previous plan (iteration {ctx.iteration - 1}) was rejected. Objections: {listed}. "
                 f"Revise it so that every CRITICAL objection is resolved.")
    return line


def instruction(agent: AgentType, ctx: AgentContext, as_of: str) -> str:
    """The one-line task above the JSON block."""
    if agent is AgentType.TRADER:
        return _one_line(_trader_instruction(ctx, as_of))
    if agent is AgentType.RISK_MANAGER:
        return f"Review the plan of iteration {ctx.iteration} against the hard risk limits as of {as_of}."
    if agent is AgentType.CRITIC:
        return (f"Review the plan of iteration {ctx.iteration} for logic, evidence and hallucinations "
                f"as of {as_of}.")
    symbol = _symbol(agent, ctx)
    if agent is AgentType.BULLISH_RESEARCHER:
        return f"Build the strongest long case for {symbol} as of {as_of}."
    if agent is AgentType.BEARISH_RESEARCHER:
        return f"Build the strongest short case for {symbol} as of {as_of}."
    assert agent in ANALYSTS
    return f"Analyse {symbol} as of {as_of}."


def user_text(agent: AgentType, ctx: AgentContext) -> str:
    """The user message: byte-identical for equal contexts (sorted keys, ASCII, one JSON line, and the
    only ``` in it are the fence's own)."""
    payload = context_payload(agent, ctx)
    block = json.dumps({"agent": agent.value, "context": payload}, sort_keys=True, separators=(",", ":"),
                       ensure_ascii=True)
    # Backticks occur only inside JSON strings: escaped, no text from the context can close the fence.
    block = block.replace("`", "\\u0060")
    return f"{instruction(agent, ctx, payload['as_of'])}\n\n```json\n{block}\n```\n"


def _override_version(agent: AgentType, override: str) -> str:
    digest = hashlib.sha256(override.encode("utf-8")).hexdigest()[:8]
    return f"{version_of(agent)}+override-{digest}"


def render(agent: AgentType, ctx: AgentContext, *, system_override: str | None = None) -> Prompt:
    """The prompt of ``agent`` for ``ctx``. ``system_override`` (agent_configs) replaces the template's
    system text verbatim and marks the version with its hash; an empty override counts as none."""
    user = user_text(agent, ctx)
    if system_override:
        return Prompt(system=system_override, user=user, version=_override_version(agent, system_override))
    return Prompt(system=system_text(agent, ctx.rules), user=user, version=version_of(agent))


def context_from_prompt(user: str, *, cycle_id: str,
                        environment: Environment) -> tuple[AgentType, AgentContext]:
    """The agent and context a user message was rendered from, with the run facts put back (also on
    the plans). Candles dropped for portfolio agents stay dropped."""
    blocks = _FENCE.findall(user)
    if len(blocks) != 1:
        raise ValueError(f"a prompt holds exactly one ```json block, found {len(blocks)}")
    data = json.loads(blocks[0])
    context = dict(data["context"], cycle_id=cycle_id, environment=environment.value)
    for key in PLAN_FIELDS:
        if context.get(key) is not None:
            context[key] = dict(context[key], cycle_id=cycle_id, environment=environment.value)
    return AgentType(data["agent"]), AgentContext.model_validate(context)


__all__ = ["Prompt", "context_from_prompt", "render", "version_of"]
