"""The agents' tools: what each agent may call, and that every answer is right, scoped and never a crash."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
import talib

from cream import ids
from cream.adapters.local_history import LocalHistory
from cream.agents.port import AgentContext
from cream.agents.tools import TOOLS_BY_AGENT, ToolBox
from cream.llm.port import ToolCall
from cream.ports import ChainContract
from cream.schemas.agents import AgentType
from cream.schemas.decisions import Environment
from cream.schemas.market import FeatureSnapshot, OptionMark, Quote, Timeframe
from cream.storage import db
from cream.storage.models import Checkpoint, Cycle, DecisionRow, FillRow, OrderRow
from engine.options import bs_greeks
from tests.unit.agents.agent_builders import AS_OF, context, portfolio, position, real_snapshots, snapshot


def run(box: ToolBox, name: str, agent: AgentType = AgentType.TRADER, **args: Any) -> dict[str, Any]:
    box.specs(agent)
    return box.call(ToolCall(name=name, args=args))


def result(box: ToolBox, name: str, agent: AgentType = AgentType.TRADER, **args: Any) -> Any:
    reply = run(box, name, agent, **args)
    assert "error" not in reply, reply
    return reply["result"]


def error(box: ToolBox, name: str, agent: AgentType = AgentType.TRADER, **args: Any) -> str:
    reply = run(box, name, agent, **args)
    assert set(reply) == {"error"}, reply
    assert isinstance(reply["error"], str) and reply["error"]
    return str(reply["error"])


# --- declarations and refusals ---------------------------------------------------------------


def test_each_agent_is_offered_exactly_its_tools_as_json_schema_objects() -> None:
    box = ToolBox(context([snapshot()]))
    assert TOOLS_BY_AGENT[AgentType.CRITIC] == ()
    assert set(TOOLS_BY_AGENT[AgentType.TRADER]) == {
        "get_quotes", "portfolio_state", "option_chain", "get_greeks", "memory_query"}
    for agent in AgentType:
        specs = box.specs(agent)
        assert [s.name for s in specs] == list(TOOLS_BY_AGENT[agent])
        for spec in specs:
            assert spec.parameters["type"] == "object" and "properties" in spec.parameters
            jsonschema.Draft202012Validator.check_schema(spec.parameters)
            assert "$ref" not in str(spec.parameters), spec.name  # nested models are inlined
            assert spec.description


def test_a_tool_outside_the_agents_set_is_refused_with_an_error() -> None:
    box = ToolBox(context([snapshot()]))
    assert "may not call portfolio_state" in error(box, "portfolio_state", AgentType.TECHNICAL_ANALYST)
    assert "its tools: none" in error(box, "memory_query", AgentType.CRITIC)
    assert "get_greeks" in error(box, "get_greeks", AgentType.RISK_MANAGER, contracts=[])
    assert "no tool named" in error(box, "place_order", symbol="XYZ")
    fresh = ToolBox(context([snapshot()]))  # no agent known yet: nothing is allowed
    assert "specs(agent)" in fresh.call(ToolCall(name="get_quotes", args={"symbols": ["XYZ"]}))["error"]
    # The agent can also be named in the call or the constructor.
    assert "result" in fresh.call(ToolCall(name="get_quotes", args={"symbols": ["XYZ"]}), AgentType.TRADER)
    assert "error" in ToolBox(context([snapshot()]), agent=AgentType.CRITIC).call(
        ToolCall(name="get_quotes", args={"symbols": ["XYZ"]}))


@pytest.mark.parametrize("args", [
    {"symbols": ["XYZ"], "extra": 1},  # unknown argument
    {"symbols": "XYZ"},  # wrong type
    {"symbols": []},  # too few
    {},  # missing
])
def test_malformed_arguments_get_an_error_naming_the_tool(args: dict[str, Any]) -> None:
    message = error(ToolBox(context([snapshot()])), "get_quotes", **args)
    assert message.startswith("bad arguments for get_quotes")


# --- get_quotes ------------------------------------------------------------------------------


def test_get_quotes_answers_for_cycle_symbols_only() -> None:
    quote = Quote(symbol="XYZ", ts=AS_OF - timedelta(seconds=5), bid=99.9, ask=100.1, bid_size=300,
                  ask_size=200, last=100.0)
    snaps = [snapshot("XYZ").model_copy(update={"quote": quote}), snapshot("ABC", 50.0)]
    quotes = result(ToolBox(context(snaps)), "get_quotes", symbols=["xyz", "AAPL", "ABC"])["quotes"]
    assert list(quotes) == ["AAPL", "ABC", "XYZ"]  # sorted, case-normalised
    assert quotes["AAPL"] == {"error": "not in this cycle"}
    assert quotes["ABC"] == {"price": 50.0, "as_of": AS_OF.isoformat()}  # no quote: no bid/ask invented
    assert (quotes["XYZ"]["bid"], quotes["XYZ"]["ask"], quotes["XYZ"]["price"]) == (99.9, 100.1, 100.0)
    assert quotes["XYZ"]["spread_bps"] == pytest.approx(20.0)


# --- recalc_indicator ------------------------------------------------------------------------


def _ohlcv(snap: FeatureSnapshot, tf: Timeframe) -> dict[str, np.ndarray]:
    candles = snap.candles_by_timeframe[tf]
    return {k: np.array([getattr(c, k) for c in candles], dtype=np.float64)
            for k in ("high", "low", "close", "volume")}


@pytest.mark.parametrize("tf", ["1h", "1d"])
def test_recalc_indicator_matches_talib_on_the_snapshot_candles(tf: str) -> None:
    snaps = real_snapshots()
    box = ToolBox(context(snaps))
    for symbol, snap in sorted(snaps.items()):
        c = _ohlcv(snap, Timeframe(tf))
        h, lo, close = c["high"], c["low"], c["close"]
        expected = {
            ("sma", 10): talib.SMA(close, 10)[-1], ("ema", 8): talib.EMA(close, 8)[-1],
            ("rsi", 14): talib.RSI(close, 14)[-1], ("atr", 5): talib.ATR(h, lo, close, 5)[-1],
            ("volume_sma", 20): talib.SMA(c["volume"], 20)[-1],
        }
        for (name, period), want in expected.items():
            got = result(box, "recalc_indicator", AgentType.TECHNICAL_ANALYST, symbol=symbol, indicator=name,
                         period=period, timeframe=tf)
            assert got["value"] == pytest.approx(want, rel=1e-6), (symbol, name)
            assert got["bars_used"] == len(close) == 20 and got["period"] == period
        upper, middle, lower = talib.BBANDS(close, timeperiod=20, nbdevup=2.5, nbdevdn=2.5)  # SMA middle
        bands = result(box, "recalc_indicator", AgentType.TECHNICAL_ANALYST, symbol=symbol,
                       indicator="bollinger", period=20, timeframe=tf, std_dev=2.5)["values"]
        assert (bands["upper"], bands["middle"], bands["lower"]) == pytest.approx(
            (upper[-1], middle[-1], lower[-1]), rel=1e-6)
        k, d = talib.STOCH(h, lo, close, fastk_period=9, slowk_period=3, slowd_period=4)  # SMA
        stoch = result(box, "recalc_indicator", AgentType.TECHNICAL_ANALYST, symbol=symbol,
                       indicator="stochastic", period=9, timeframe=tf, slowing=3, d_period=4)["values"]
        assert (stoch["k"], stoch["d"]) == pytest.approx((k[-1], d[-1]), rel=1e-6, abs=1e-9)


def test_recalc_indicator_errors_instead_of_guessing() -> None:
    snaps = real_snapshots()
    box = ToolBox(context(snaps))

    def fails(**args: Any) -> str:
        return error(box, "recalc_indicator", AgentType.TECHNICAL_ANALYST, **args)

    assert "needs 31 1h candles" in fails(symbol="ADBE", indicator="rsi", period=30)
    assert "needs 21" in fails(symbol="ADBE", indicator="sma", period=21)
    assert "no 5m candles" in fails(symbol="ADBE", indicator="sma", timeframe="5m")
    assert "not in this cycle" in fails(symbol="AAPL", indicator="sma")
    assert "bad arguments" in fails(symbol="ADBE", indicator="macd")
    assert "bad arguments" in fails(symbol="ADBE", indicator="sma", timeframe="2h")
    # the exact minimum is enough
    rsi = result(box, "recalc_indicator", AgentType.TECHNICAL_ANALYST, symbol="ADBE", indicator="rsi",
                 period=19)
    assert rsi["bars_used"] == 20


# --- portfolio_state -------------------------------------------------------------------------


def test_portfolio_state_reports_positions_with_pnl_at_market() -> None:
    book = portfolio(position("XYZ", 100, 90.0, 100.0, stop=85.0, target=120.0),
                     position("ABC", -50, 40.0, 44.0))
    state = result(ToolBox(context([snapshot()], book=book)), "portfolio_state", AgentType.RISK_MANAGER)
    assert [p["instrument_id"] for p in state["positions"]] == ["ABC", "XYZ"]
    xyz, abc = state["positions"][1], state["positions"][0]
    assert (xyz["unrealized_pnl"], xyz["market_value"], xyz["stop_loss"]) == (1000.0, 10_000.0, 85.0)
    assert abc["unrealized_pnl"] == -200.0 and abc["unrealized_pnl_pct"] == pytest.approx(-10.0)
    assert state["unrealized_pnl"] == 800.0
    totals = (state["equity"], state["gross_exposure"], state["buying_power"])
    assert totals == (100_000.0, 12_200.0, 187_800.0)


# --- option_chain ----------------------------------------------------------------------------


def _contract(strike: float, kind: str = "call", expiry: date = date(2025, 6, 20)) -> ChainContract:
    occ = f"XYZ{expiry:%y%m%d}{kind[0].upper()}{round(strike * 1000):08d}"
    return ChainContract(occ_symbol=occ, underlying="XYZ", expiry=expiry, type=kind, strike=strike, bid=1.0,
                          ask=1.2, last=1.1, iv=0.3, delta=0.5, gamma=0.05, theta=-0.02, vega=0.1,
                          underlying_price=100.0)


class ChainStandIn:
    """A market source with an option chain (as the Polygon adapter), recording what it was asked."""

    def __init__(self, chain: list[ChainContract] | Exception) -> None:
        self.chain = chain
        self.asked: list[tuple[str, dict[str, Any]]] = []

    def option_chain(self, underlying: str, **kw: Any) -> list[ChainContract]:
        self.asked.append((underlying, kw))
        if isinstance(self.chain, Exception):
            raise self.chain
        return self.chain


def _paper(snaps: list[FeatureSnapshot]) -> AgentContext:
    return context(snaps).model_copy(update={"environment": Environment.PAPER})


def test_option_chain_without_option_data_says_so() -> None:
    msg = "no option chain in this environment"
    assert error(ToolBox(context([snapshot()])), "option_chain", underlying="XYZ") == msg


def test_a_backtest_reads_the_chain_as_of_its_hour() -> None:
    """Local history lists and prices contracts by the model from the bars closed by the cycle's hour."""
    ctx = context([snapshot("XLK", 235.47)]).model_copy(update={"as_of": datetime(2025, 6, 3, 15, tzinfo=UTC)})
    out = result(ToolBox(ctx, LocalHistory()), "option_chain", underlying="XLK", limit=2, contract_type="CALL")
    assert out["contracts_listed"] > 10
    assert min(c["expiry"] for c in out["contracts"]) == "2025-06-06"  # the first weekly after June 3
    assert all(c["bid"] < c["mid"] < c["ask"] and 0.1 < c["iv"] < 1 for c in out["contracts"])
    market = ChainStandIn([_contract(100)])
    result(ToolBox(ctx, market), "option_chain", underlying="XLK")  # type: ignore[arg-type]
    assert market.asked[0][1]["as_of"] == ctx.as_of


def test_option_chain_returns_the_contracts_nearest_the_money() -> None:
    chain = [_contract(k, kind) for k in (80, 90, 95, 100, 105, 110, 130) for kind in ("call", "put")]
    market = ChainStandIn(chain[::-1])
    box = ToolBox(_paper([snapshot("XYZ", 101.0)]), market)  # type: ignore[arg-type]
    out = result(box, "option_chain", underlying="XYZ", contract_type="CALL", limit=3,
                 expiration_gte="2025-06-01")
    assert market.asked == [("XYZ", {"expiration_gte": date(2025, 6, 1), "expiration_lte": None,
                                     "contract_type": "call", "as_of": box.ctx.as_of})]
    assert [(c["strike"], c["type"]) for c in out["contracts"]] == [(95.0, "call"), (100.0, "call"),
                                                                     (105.0, "call")]
    # The stand-in ignores the filters: the tool applies them again.
    assert out["contracts_listed"] == 7 and out["contracts"][0]["mid"] == pytest.approx(1.1)
    later = result(box, "option_chain", underlying="XYZ", expiration_gte="2025-07-01")
    assert later == {"underlying": "XYZ", "underlying_price": 101.0, "contracts_listed": 0, "contracts": []}
    both = result(box, "option_chain", underlying="XYZ", limit=4)["contracts"]
    assert [(c["type"], c["strike"]) for c in both] == [("call", 100.0), ("call", 105.0), ("put", 100.0),
                                                         ("put", 105.0)]
    assert "not in this cycle" in error(box, "option_chain", underlying="AAPL")
    assert "bad arguments" in error(box, "option_chain", underlying="XYZ", limit=51)


def test_option_chain_failures_come_back_as_errors_never_exceptions() -> None:
    timeout = ChainStandIn(TimeoutError("provider timed out"))
    failing = ToolBox(_paper([snapshot()]), timeout)  # type: ignore[arg-type]
    assert "could not be fetched (TimeoutError" in error(failing, "option_chain", underlying="XYZ")
    garbage = ToolBox(_paper([snapshot()]), ChainStandIn([object()]))  # type: ignore[list-item, arg-type]
    assert "failed unexpectedly" in error(garbage, "option_chain", underlying="XYZ")


# --- get_greeks ------------------------------------------------------------------------------


def test_get_greeks_matches_the_engine_and_put_call_parity() -> None:
    box = ToolBox(context([snapshot("XYZ", 100.0)]))
    out = result(box, "get_greeks", contracts=[
        {"occ_symbol": "XYZ250702C00105000"},
        {"underlying": "XYZ", "strike": 105, "expiry": "2025-07-02", "right": "PUT"}],
        volatility=0.3, rate=0.05, dividend_yield=0.01)["contracts"]
    call, put = out
    assert (call["occ_symbol"], put["occ_symbol"]) == ("XYZ250702C00105000", "XYZ250702P00105000")
    assert call["days_to_expiry"] == 30 and call["underlying_price"] == 100.0
    t = 30 / 365
    want = bs_greeks([100.0], [105.0], [t], [0.3], 0.05, 0.01, [True])
    for name in ("price", "delta", "gamma", "theta", "vega", "rho"):
        assert call[name] == pytest.approx(float(getattr(want, name)[0]), rel=1e-6), name
    parity = 100.0 * math.exp(-0.01 * t) - 105.0 * math.exp(-0.05 * t)
    assert call["price"] - put["price"] == pytest.approx(parity, abs=1e-5)
    assert call["delta"] - put["delta"] == pytest.approx(math.exp(-0.01 * t), abs=1e-6)
    assert call["gamma"] == put["gamma"] and call["vega"] == put["vega"]


def test_get_greeks_takes_volatility_from_the_cycles_option_mark_or_asks_for_it() -> None:
    occ = "XYZ250620C00100000"
    mark = OptionMark(instrument_id=occ, premium=3.0, underlying_price=100.0, delta=0.5, gamma=0.05, vega=0.1,
                      theta=-0.05, implied_volatility=0.42)
    box = ToolBox(context([snapshot("XYZ", 100.0)], option_marks={occ: mark}))
    put, aapl, expired = "XYZ250620P00100000", "AAPL250620C00200000", "XYZ250530C00100000"
    rows = result(box, "get_greeks", contracts=[{"occ_symbol": s} for s in (occ, put, aapl)])["contracts"]
    marked, unmarked, stranger = rows
    assert (marked["volatility"], marked["volatility_source"]) == (0.42, "option_mark")
    want = bs_greeks(100.0, 100.0, 18 / 365, 0.42, 0.0, 0.0, True).price[0]
    assert marked["price"] == pytest.approx(float(want), rel=1e-6)
    # One contract's problem is that contract's error entry; the others are still priced.
    assert unmarked == {"contract": {"occ_symbol": put}, "error": unmarked["error"]}
    assert "pass volatility" in unmarked["error"]
    assert "not in this cycle" in stranger["error"]
    gone = result(box, "get_greeks", contracts=[{"occ_symbol": expired}], volatility=0.3)["contracts"][0]
    assert "on or before the cycle date" in gone["error"]
    # An explicit spot prices a contract whose underlying is not in the cycle.
    priced = result(box, "get_greeks", contracts=[{"occ_symbol": aapl}], underlying_price=200.0,
                    volatility=0.2)["contracts"][0]
    assert priced["underlying_price"] == 200.0 and priced["price"] > 0


@pytest.mark.parametrize("contract", [
    {"occ_symbol": "XYZ25062C00100000"},  # six-digit date missing a digit
    {"occ_symbol": "XYZ250620C00100000", "strike": 100},  # both forms
    {"underlying": "XYZ", "strike": 100, "expiry": "2025-06-20"},  # no right
    {"underlying": "XYZ", "strike": 100, "expiry": "2025-06-20", "right": "straddle"},
])
def test_get_greeks_refuses_malformed_contracts(contract: dict[str, Any]) -> None:
    box = ToolBox(context([snapshot()]))
    message = error(box, "get_greeks", contracts=[contract], volatility=0.3)
    assert message.startswith("bad arguments for get_greeks")


# --- memory_query ----------------------------------------------------------------------------

NOW = AS_OF
ALPHA, BETA = "alpha", "beta"


def _cycle(book: str, at: datetime) -> str:
    return ids.cycle_id(Environment.BACKTEST, book, at)


def _rows(book: str, at: datetime, regimes: dict[str, str]) -> list[Any]:
    cid = _cycle(book, at)
    snaps = {s: {"regime": {"regime": r, "confidence": 0.7}} for s, r in regimes.items()}
    return [Cycle(id=cid, environment="BACKTEST", book=book, scheduled_for=at, symbols=sorted(regimes),
                  source="test", status="EXECUTED"),
            Checkpoint(id=f"{cid}:orient:0", cycle_id=cid, phase="orient", iteration=0,
                       data={"snapshots": snaps})]


def _decision(book: str, at: datetime, instrument: str, action: str = "BUY", direction: str = "LONG",
              rationale: str = "trend up") -> DecisionRow:
    cid = _cycle(book, at)
    return DecisionRow(id=ids.decision_id(cid, instrument), cycle_id=cid, instrument_id=instrument,
                       action=action, direction=direction, size_value=10, size_unit="SHARES",
                       stop_loss=Decimal(95),
                       take_profit=Decimal(110), strategy_family="TREND", confidence=0.6, rationale=rationale,
                       status="APPROVED" if action in ("BUY", "SELL") else "NO_ORDER")


def _order(book: str, at: datetime, instrument: str, purpose: str, side: str,
           fills: list[tuple[float, datetime]], decision: bool = True) -> list[Any]:
    cid = _cycle(book, at)
    oid = ids.client_order_id(cid, instrument, purpose)
    order = OrderRow(id=oid, book=book, cycle_id=cid, decision_id=ids.decision_id(cid, instrument) if decision
                     else None, instrument_id=instrument, side=side, quantity=10, order_type="MARKET",
                     purpose=purpose, status="FILLED" if fills else "SUBMITTED")
    return [order] + [FillRow(id=f"{oid}:{i}", order_id=oid, quantity=10, price=Decimal(str(p)),
                              fee=Decimal(1), ts=ts) for i, (p, ts) in enumerate(fills)]


H = timedelta(hours=1)
OPTION = "XYZ250620C00100000"


@pytest.fixture()
def memory_db(tmp_path: Path) -> Iterator[str]:
    """Two books; alpha traded XYZ at NOW-3h (stopped out at NOW-2.5h), NOW-2h (short, unfilled; ABC hold),
    NOW-1h (long shares and a call; the target fills only after NOW), at NOW and after NOW."""
    url = f"sqlite:///{tmp_path / 'memory.db'}"
    db.migrate(url)
    rows: list[Any] = []
    rows += _rows(ALPHA, NOW - 3 * H, {"XYZ": "BULL_TREND"})
    rows += [_decision(ALPHA, NOW - 3 * H, "XYZ", rationale="x" * 400)]
    rows += _order(ALPHA, NOW - 3 * H, "XYZ", "ENTRY", "BUY", [(100.0, NOW - 3 * H)])
    rows += _order(ALPHA, NOW - 3 * H, "XYZ", "STOP_LOSS", "SELL", [(95.0, NOW - 2.5 * H)], decision=False)
    rows += _rows(ALPHA, NOW - 2 * H, {"XYZ": "BEAR_TREND", "ABC": "RANGE_BOUND"})
    rows += [_decision(ALPHA, NOW - 2 * H, "XYZ", "SELL", "SHORT"),
             _decision(ALPHA, NOW - 2 * H, "ABC", "HOLD", "FLAT")]
    rows += _order(ALPHA, NOW - 2 * H, "XYZ", "ENTRY", "SELL", [])
    rows += _rows(ALPHA, NOW - H, {"XYZ": "BULL_TREND"})
    rows += [_decision(ALPHA, NOW - H, "XYZ"), _decision(ALPHA, NOW - H, OPTION)]
    rows += _order(ALPHA, NOW - H, "XYZ", "ENTRY", "BUY", [(102.0, NOW - H)])
    rows += _order(ALPHA, NOW - H, "XYZ", "TAKE_PROFIT", "SELL", [(110.0, NOW + 0.5 * H)], decision=False)
    for at in (NOW, NOW + H):  # the asking cycle itself and a later one: never visible
        rows += [*_rows(ALPHA, at, {"XYZ": "BULL_TREND"}), _decision(ALPHA, at, "XYZ")]
    rows += [*_rows(BETA, NOW - H, {"XYZ": "BULL_TREND"}), _decision(BETA, NOW - H, "XYZ")]
    rows += _rows(BETA, NOW, {"XYZ": "BULL_TREND"})
    with db.session_scope(url) as s:
        for row in rows:  # parents first: the foreign keys are enforced
            s.add(row)
            s.flush()
    yield url


def _memory(url: str, book: str = ALPHA, at: datetime = NOW, agent: AgentType = AgentType.TRADER,
            **args: Any) -> dict[str, Any]:
    ctx = context([snapshot()]).model_copy(update={"cycle_id": _cycle(book, at), "as_of": at})
    return dict(result(ToolBox(ctx, db_url=url), "memory_query", agent, **args))


def _keys(out: dict[str, Any]) -> list[tuple[str, str]]:
    return [(d["scheduled_for"], d["instrument_id"]) for d in out["decisions"]]


def test_memory_query_sees_only_this_books_earlier_decisions_newest_first(memory_db: str) -> None:
    out = _memory(memory_db, limit=20)
    assert _keys(out) == [((NOW - H).isoformat(), "XYZ"), ((NOW - H).isoformat(), OPTION),
                          ((NOW - 2 * H).isoformat(), "ABC"), ((NOW - 2 * H).isoformat(), "XYZ"),
                          ((NOW - 3 * H).isoformat(), "XYZ")]
    assert out["book"] == ALPHA and out["matches"] == 5
    beta = _memory(memory_db, BETA, NOW)
    assert [(d["cycle_id"], d["instrument_id"]) for d in beta["decisions"]] == [
        (_cycle(BETA, NOW - H), "XYZ")]
    assert _keys(_memory(memory_db, limit=2)) == _keys(out)[:2]


def test_memory_query_filters_by_symbol_regime_and_direction(memory_db: str) -> None:
    xyz = _memory(memory_db, symbol="xyz", limit=20)
    assert {d["underlying"] for d in xyz["decisions"]} == {"XYZ"}
    assert len(xyz["decisions"]) == 4  # the call option on XYZ included
    bull_long = _memory(memory_db, symbol="XYZ", regime="BULL_TREND", direction="LONG", limit=20)
    assert [(d["scheduled_for"], d["regime"]) for d in bull_long["decisions"]] == [
        ((NOW - H).isoformat(), "BULL_TREND")] * 2 + [((NOW - 3 * H).isoformat(), "BULL_TREND")]
    short = _memory(memory_db, direction="SHORT")["decisions"]
    assert [(d["instrument_id"], d["regime"], d["action"]) for d in short] == [("XYZ", "BEAR_TREND", "SELL")]
    assert _memory(memory_db, regime="HIGH_VOL")["decisions"] == []
    assert [d["instrument_id"] for d in _memory(memory_db, regime="RANGE_BOUND")["decisions"]] == ["ABC"]


def test_memory_query_reports_outcomes_known_at_the_cycles_time(memory_db: str) -> None:
    by_key = {(d["scheduled_for"], d["instrument_id"]): d for d in _memory(memory_db, limit=20)["decisions"]}
    stopped = by_key[((NOW - 3 * H).isoformat(), "XYZ")]
    assert stopped["outcome"] == {"state": "CLOSED", "entry_price": 100.0, "exit_price": 95.0,
                                  "filled_quantity": 10, "exit_reason": "STOP_LOSS", "realized_pnl": -52.0,
                                  "return_pct": -5.0}
    assert len(stopped["rationale"]) <= 300 and stopped["rationale"].endswith("…")
    assert (stopped["stop_loss"], stopped["take_profit"], stopped["size"]) == (95.0, 110.0, 10.0)
    assert by_key[((NOW - 2 * H).isoformat(), "XYZ")]["outcome"] == {"state": "NOT_FILLED"}
    assert by_key[((NOW - 2 * H).isoformat(), "ABC")]["outcome"] == {"state": "NO_ORDER"}
    # The target filled after NOW: the cycle at NOW cannot know it yet.
    assert by_key[((NOW - H).isoformat(), "XYZ")]["outcome"] == {"state": "OPEN", "entry_price": 102.0,
                                                                 "filled_quantity": 10}
    # Asked from NOW-2h, the stop (NOW-2.5h) is known, and the later decisions are not.
    earlier = _memory(memory_db, at=NOW - 2 * H, limit=20)
    assert _keys(earlier) == [((NOW - 3 * H).isoformat(), "XYZ")]
    assert earlier["decisions"][0]["outcome"]["state"] == "CLOSED"


def test_memory_query_answers_the_same_every_time(memory_db: str) -> None:
    assert _memory(memory_db, symbol="XYZ") == _memory(memory_db, symbol="XYZ")


def test_memory_query_for_an_unrecorded_cycle_is_an_error(memory_db: str) -> None:
    ctx = context([snapshot()]).model_copy(update={"cycle_id": "backtest-nobody-20250602T1500Z"})
    box = ToolBox(ctx, db_url=memory_db)
    assert "not recorded" in error(box, "memory_query", AgentType.BULLISH_RESEARCHER)
    assert "bad arguments" in error(box, "memory_query", regime="SIDEWAYS")
