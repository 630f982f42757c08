"""`cream`: run a cycle, a backtest, the fleet; show status; write the JSON schemas."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from cream import cli_checks
from cream.cli_checks import (
    backtest_window,
    book_arg,
    count_arg,
    cycle_hour,
    day_arg,
    directory_arg,
    hour_arg,
    one_line,
    readable,
    require_replayable,
    seconds_arg,
    symbols_arg,
)
from cream.endpoints import redact_url
from cream.errors import InvalidRequest

if TYPE_CHECKING:
    from cream.config import Settings

_T = TypeVar("_T")


def get_settings() -> Settings:
    """cream.config's settings, imported only when a command runs: the settings pull in pydantic and every
    schema (about half a second), and a usage error is answered without them."""
    from cream.config import get_settings as settings

    return settings()


def _prepare(settings: Settings) -> None:
    from cream.runtime import require_environment
    from cream.services.runtime_config import seed_defaults
    from cream.storage import db

    db.migrate()
    with db.session_scope() as s:
        seed_defaults(s)
    require_environment(settings.env)


@contextmanager
def _fleet(settings: Settings) -> Iterator[str]:
    """A fleet's broker URL for this command: the configured or running one, or a private one."""
    from cream.fleet_commands import fleet_for_command

    with fleet_for_command(settings) as url:
        yield url


def _checked(settings: Settings, check: Callable[[], _T]) -> _T:
    """``check()`` (the request against the market data), with the database made ready first, except in
    BACKTEST: local history needs no database, so a bad request is refused before any migration."""
    from cream.schemas.decisions import Environment

    if settings.env is not Environment.BACKTEST:
        _prepare(settings)
        return check()
    result = check()
    _prepare(settings)
    return result


def cmd_cycle(args: argparse.Namespace) -> int:
    from cream.runner import CycleRunner
    from cream.runtime import market_data
    from cream.schemas.trigger import CycleTrigger
    from cream.services.reports import cycle_report
    from cream.storage.db import session_scope

    settings = get_settings()
    hour = _checked(settings, lambda: cycle_hour(args.symbols, args.at, settings.env, readable(market_data())))
    trigger = CycleTrigger(environment=settings.env, scheduled_for=hour, book=args.book or settings.book,
                           symbols=args.symbols, source="cli")
    with _fleet(settings) as url:
        runner = CycleRunner(url)
        cycle_id, fresh = runner.run(trigger, timeout=args.timeout)
        runner.close()
    with session_scope() as s:
        report = cycle_report(s, cycle_id)
    report["already_ran"] = not fresh
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        _print_cycle(report)
    return 0 if report["status"] != "FAILED" else 1


def _print_cycle(r: dict[str, Any]) -> None:
    print(f"cycle {r['cycle_id']}  {r['status']}" + (f"  ({r['reason']})" if r["reason"] else ""))
    if r["already_ran"]:
        print("  this hour had already run: showing its recorded outcome (a cycle runs once per hour)")
    plan = r["plan"]
    print("plan:" if plan else f"plan: none ({r.get('plan_error') or 'no plan'})")
    for d in (plan or {}).get("decisions", []):
        inst = d["instrument"].get("symbol") or d["instrument"].get("occ_symbol") or "multi-leg"
        rl = d["risk_levels"]
        print(f"  {d['action']:<8} {inst:<6} {d['direction']:<5} {d['size']['quantity']:>6} {d['size']['unit']:<9}"
              f" stop {rl['stop_loss_level']:.2f}  target {rl['take_profit_level']:.2f}  conf {d['confidence']:.2f}")
    if plan and plan.get("portfolio_notes"):
        print(f"  notes: {plan['portfolio_notes']}")
    print("approvals:")
    for a in r["approvals"]:
        print(f"  iteration {a['iteration']}  {a['agent']:<12} {a['verdict']:<7} {a['summary']}")
    print("orders:" if r["orders"] else "orders: none")
    for o in r["orders"]:
        fill = f" @ {o['avg_fill_price']:.4f} fee {o['fees']:.2f}" if o["avg_fill_price"] else ""
        print(f"  {o['side']:<4} {o['quantity']:>6} {o['instrument']:<6} {o['purpose']:<11} {o['status']}{fill}"
              f"  [{o['client_order_id']}]")
    llm = r.get("llm") or {}
    if llm.get("calls"):
        print(f"LLM: {llm['calls']} call(s), {llm['tokens']:,} tokens, ${llm['cost_usd']:.4f}")
        for a in llm["by_agent"]:
            print(f"  {a['agent']:<21} {a['calls']:>3} call(s) {a['prompt_tokens'] + a['output_tokens']:>9,} tokens"
                  f"  ${a['cost_usd']:.4f}")


class Progress:
    """A one-line progress bar on a terminal; silent otherwise."""

    def __init__(self, label: str) -> None:
        self.label, self.t0, self.on = label, time.monotonic(), sys.stderr.isatty()

    def __call__(self, done: int, total: int) -> None:
        if not self.on:
            return
        rate = done / max(1e-9, time.monotonic() - self.t0)
        bar = "#" * int(30 * done / total)
        eta = (total - done) / rate if rate else 0
        sys.stderr.write(f"\r{self.label} [{bar:<30}] {done}/{total}  {rate:.1f}/s  eta {eta:.0f}s ")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def cmd_backtest(args: argparse.Namespace) -> int:
    from cream.runner import CycleRunner
    from cream.runtime import market_data
    from cream.services.backtest import run_backtest

    settings = get_settings()
    _checked(settings, lambda: backtest_window(args.symbols, args.start, args.end, readable(market_data())))
    if args.fast:
        metrics = _fast_backtest(args.symbols, args.start, args.end)
    elif args.in_process:
        metrics = _in_process_backtest(args)
    else:
        with _fleet(settings) as url:
            runner = CycleRunner(url)
            try:
                metrics = {**run_backtest(runner, market_data(), args.symbols, args.start, args.end,
                                          Progress("backtest"), timeout=args.timeout), "runner": "fleet"}
            finally:
                runner.close()
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        _print_backtest(metrics, args.symbols, args.fast)
    return 0 if args.fast else _failed_cycles_verdict(metrics)


def _failed_cycles_verdict(metrics: dict[str, Any]) -> int:
    """1 when every cycle FAILED (the metrics then mean nothing); 0 otherwise, counting the failures on stderr."""
    failed, total = metrics["failed_cycles"], metrics["cycles_planned"]
    if failed and failed >= total:
        print(f"cream: all {total} cycles of backtest {metrics['backtest_id']} FAILED: `cream status` shows why",
              file=sys.stderr)
        return 1
    if failed:
        print(f"cream: {failed} of {total} cycles FAILED: `cream status` shows why", file=sys.stderr)
    return 0


def _print_backtest(metrics: dict[str, Any], symbols: list[str], fast: bool) -> None:
    sharpe = "n/a" if metrics["sharpe"] is None else f"{metrics['sharpe']:.2f}"
    print(f"backtest {metrics['backtest_id']}  {', '.join(symbols)}  {metrics['start'][:10]} → {metrics['end'][:10]}")
    if fast:
        print(f"  fast path     trend rule {metrics['rule']} on {metrics['bars']} hourly bars (no agents)")
    else:
        print(f"  runner        {metrics['runner']}")
        print(f"  cycles        {metrics['cycles']}" + (f"  ({metrics['failed_cycles']} failed)"
                                                        if metrics["failed_cycles"] else ""))
    print(f"  trades        {metrics['trades']}")
    print(f"  total return  {metrics['total_return']:+.2%}")
    print(f"  max drawdown  {metrics['max_drawdown']:.2%}")
    print(f"  sharpe        {sharpe}")
    for name in ("sortino", "calmar"):
        print(f"  {name:<13} {'n/a' if metrics[name] is None else format(metrics[name], '.2f')}")
    print(f"  options       {metrics['option_trades']} fills, P&L {metrics['option_pnl']:+,.2f}; "
          f"{metrics['option_pricing']}")


def _in_process_backtest(args: argparse.Namespace) -> dict[str, Any]:
    """The cycle pipeline called in this process: deterministic agents only (rules, or recorded replies)."""
    from cream import runtime
    from cream.schemas.decisions import Environment
    from cream.services.backtest import run_backtest
    from cream.services.inprocess import InProcessRunner

    kind = runtime.agent_kind(Environment.BACKTEST)
    if kind == "gemini":
        raise InvalidRequest("a backtest with LLM agents runs on the fleet, where the agents fan out across "
                             "workers: drop --in-process (or CREAM_AGENTS=rules|replay)")
    runtime.require_environment(Environment.BACKTEST)
    metrics = run_backtest(InProcessRunner(runtime.PORTS), runtime.market_data(), args.symbols, args.start, args.end,
                           Progress(f"backtest in process ({kind} agents)"))
    return {**metrics, "runner": f"in process ({kind} agents)"}


def _fast_backtest(symbols: list[str], start: date, end: date) -> dict[str, Any]:
    """The vectorised trend rule (cream.research), recorded in the backtests table like a cycle backtest."""
    from cream.research import run_fast_backtest
    from cream.runtime import market_data
    from cream.schemas.decisions import Environment
    from cream.services.runtime_config import active_trading_config
    from cream.storage.db import session_scope
    from cream.storage.models import BacktestRow

    with session_scope(readonly=True) as s:
        config = active_trading_config(s, Environment.BACKTEST)
    metrics = run_fast_backtest(market_data(), symbols, start, end, config)
    metrics.update(option_trades=0, option_pnl=0.0, option_pricing="none: the trend rule trades shares only")
    with session_scope() as s:
        s.add(BacktestRow(id=metrics["backtest_id"], symbols=symbols, start=datetime.fromisoformat(metrics["start"]),
                          end=datetime.fromisoformat(metrics["end"]), status="DONE", cycles_total=0,
                          metrics={k: v for k, v in metrics.items() if k != "symbols"}))
    return metrics


def cmd_fleet(args: argparse.Namespace) -> int:
    """In the foreground until a signal (exit 128 + its number); exit 2 if a fleet already runs on the data dir."""
    from cream.fleet_commands import run_foreground

    settings = get_settings()
    return run_foreground(settings, beat=not args.no_beat, prepare=lambda: _prepare(settings))


def cmd_status(args: argparse.Namespace) -> int:
    from cream.services.reports import recent_cycles
    from cream.storage import db

    db.migrate()
    with db.session_scope() as s:
        rows = recent_cycles(s, args.limit)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no cycles yet: try `cream cycle`")
    for r in rows:
        print(f"{r['cycle_id']:<40} {r['status']:<9} it {r['iterations']}  {','.join(r['symbols'])}"
              + (f"  {r['reason'][:80]}" if r["reason"] else ""))
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from cream.schemas.export import write_schemas

    for path in write_schemas(args.out):
        print(path)
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    from cream.storage import db

    db.migrate()
    print(f"database at the newest schema: {redact_url(db.current_url())}")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    """List trading_config rows or promote one a step (DRAFT -> TEST -> ACTIVE)."""
    from sqlalchemy import select

    from cream.services.runtime_config import promote, seed_defaults
    from cream.storage import db
    from cream.storage.models import TradingConfigRow

    if args.action == "promote" and not args.id:
        raise InvalidRequest("promote needs the id of a trading_config: `cream config list` shows them")
    db.migrate()
    with db.session_scope() as s:
        seed_defaults(s)
        if args.action == "promote":
            row = promote(s, args.id)
            print(f"{row.id} ({row.environment} v{row.version}) is now {row.status}")
            return 0
        for row in s.scalars(select(TradingConfigRow).order_by(TradingConfigRow.environment, TradingConfigRow.version)):
            print(f"{row.id:<24} {row.environment:<9} v{row.version:<4} {row.status}")
    return 0


def cmd_evals(args: argparse.Namespace) -> int:
    """Run the golden scenarios against one agent implementation; exit 1 if any check failed."""
    from cream.evals import eval_backend, load_scenarios, run_evals

    report = run_evals(eval_backend(args.agents), load_scenarios(args.scenario))
    print(json.dumps(report.to_json(), indent=2) if args.json else report.table())
    return 0 if report.ok else 1


def cmd_replay(args: argparse.Namespace) -> int:
    """Exit 0 when the replay gives the recorded plan and verdict, 1 when it differs."""
    from cream.services.replay import replay_cycle
    from cream.storage import db

    db.assert_migrated()
    require_replayable(args.cycle_id)
    r = replay_cycle(args.cycle_id)
    if args.json:
        print(json.dumps({"cycle_id": r.cycle_id, "matches": r.matches, "outcome": r.outcome,
                          "recorded_status": r.recorded_status, "iterations": r.iterations, "errors": r.errors,
                          "plan": r.plan, "recorded_plan": r.recorded_plan}, indent=2, default=str))
    else:
        print(f"replay of {r.cycle_id}: {'same plan' if r.matches else 'DIFFERENT'} "
              f"({r.outcome} after {r.iterations} iteration(s); recorded {r.recorded_status})")
        for error in r.errors:
            print(f"  {error}")
    return 0 if r.matches else 1


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (exit 2) pointing at --help."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"cream: {one_line(message)} (see `{self.prog} --help`)\n")


SERVICES = frozenset({"data_dir", "db", "broker"})  # what cycle, backtest and fleet need before they start


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="cream", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    _add_cycle(sub)
    _add_backtest(sub)
    f = sub.add_parser("fleet", help="run the local fleet in the foreground (Redis, workers, beat)")
    f.add_argument("--no-beat", action="store_true", help="do not run the hourly schedule")
    f.set_defaults(fn=cmd_fleet, needs=SERVICES)
    st = sub.add_parser("status", help="recent cycles")
    st.add_argument("--limit", type=count_arg, default=20, help="how many cycles (default 20)")
    st.add_argument("--json", action="store_true")
    st.set_defaults(fn=cmd_status)
    sc = sub.add_parser("schema", help="write the JSON Schema of every message")
    sc.add_argument("--out", type=directory_arg, default="schemas")
    sc.set_defaults(fn=cmd_schema, needs=frozenset())
    d = sub.add_parser("db", help="database maintenance")
    d.add_argument("action", choices=["upgrade"])
    d.set_defaults(fn=cmd_db)
    cf = sub.add_parser("config", help="trading_config rows: list, or promote one DRAFT -> TEST -> ACTIVE")
    cf.add_argument("action", choices=["list", "promote"])
    cf.add_argument("id", nargs="?")
    cf.set_defaults(fn=cmd_config)
    _add_evals(sub)
    rp = sub.add_parser("replay", help="re-run a recorded cycle's agents from its checkpoints and recorded LLM "
                                       "replies (no network, no orders) and say whether the plan is the same")
    rp.add_argument("cycle_id")
    rp.add_argument("--json", action="store_true")
    rp.set_defaults(fn=cmd_replay)
    p.set_defaults(needs=frozenset({"db"}))
    return p


def _add_cycle(sub: Any) -> None:
    c = sub.add_parser("cycle", help="run one trading cycle now and print plan, approvals and orders")
    c.add_argument("--symbols", type=symbols_arg, help="comma-separated symbols (default: the ACTIVE universe)")
    c.add_argument("--at", type=hour_arg, help="a session cycle hour, ISO-8601, truncated to the hour "
                                               "(BACKTEST default: the newest one in the data)")
    c.add_argument("--book", type=book_arg, help="portfolio to trade (default: CREAM_BOOK or 'default')")
    c.add_argument("--json", action="store_true", help="print one JSON object")
    c.add_argument("--timeout", type=seconds_arg, default=600.0, help="seconds to wait for the cycle (default 600)")
    c.set_defaults(fn=cmd_cycle, needs=SERVICES)


def _add_backtest(sub: Any) -> None:
    b = sub.add_parser("backtest", help="replay hourly cycles over stored history")
    b.add_argument("--symbols", type=symbols_arg, required=True)
    b.add_argument("--start", type=day_arg, required=True, help="YYYY-MM-DD, inside the market data")
    b.add_argument("--end", type=day_arg, required=True, help="YYYY-MM-DD, inside the market data")
    b.add_argument("--json", action="store_true")
    b.add_argument("--fast", action="store_true",
                   help="vectorised trend rule in one pass (engine.simulator): no agents, no fleet; for research")
    b.add_argument("--in-process", action="store_true",
                   help="run the same cycle pipeline in this process, no fleet: rules or replay agents only")
    b.add_argument("--timeout", type=seconds_arg,
                   help="seconds each cycle may take (default: no limit); past it the backtest ends FAILED")
    b.set_defaults(fn=cmd_backtest, needs=SERVICES)


def _add_evals(sub: Any) -> None:
    ev = sub.add_parser("evals", help="run the golden agent scenarios and report checks per agent")
    ev.add_argument("--agents", default="rules", choices=["rules", "gemini", "replay"],
                    help="rules (default); gemini (needs GEMINI_API_KEY, records every exchange); "
                         "replay (the recorded replies, no network)")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.add_argument("--scenario", action="append", metavar="NAME", help="run only this scenario (repeatable)")
    ev.set_defaults(fn=cmd_evals, needs=frozenset())


def _needs(args: argparse.Namespace) -> frozenset[str]:
    needs: frozenset[str] = args.needs
    fleetless = getattr(args, "fast", False) or getattr(args, "in_process", False)
    return needs - {"broker"} if fleetless else needs


def main(argv: list[str] | None = None) -> int:
    """Run one command; a user error (input, environment, an unreachable service) is one line, exit 2."""
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    settings: Settings | None = None
    try:
        settings = get_settings()
        cli_checks.preflight(settings, _needs(args))
        return int(args.fn(args))
    except KeyboardInterrupt:
        print("cream: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        message = cli_checks.user_error(exc, settings)
        if message is None:
            raise  # a bug, not a user error: keep its traceback
        print(f"cream: {one_line(message)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
