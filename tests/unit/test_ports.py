"""Every adapter implements every method of its port, callable the way the port declares it, so a method
added to a port cannot be forgotten by one adapter (and code never has to ask which adapter it holds)."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from cream.adapters.alpaca_broker import AlpacaBroker
from cream.adapters.local_history import LocalHistory
from cream.adapters.polygon_data import PolygonMarketData
from cream.adapters.sim_broker import SimulatedBroker
from cream.ports import Broker, MarketData

ADAPTERS: dict[Any, list[type]] = {
    MarketData: [LocalHistory, PolygonMarketData],
    Broker: [AlpacaBroker, SimulatedBroker],
}


def port_methods(port: Any) -> list[str]:
    return sorted(name for name, member in vars(port).items()
                  if inspect.isfunction(member) and not name.startswith("_"))


def shape(fn: Any) -> tuple[int, list[str]]:
    """How a method is called: the number of positional parameters after self, and the keyword-only names."""
    params = list(inspect.signature(fn).parameters.values())[1:]
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional), sorted(p.name for p in params if p.kind is p.KEYWORD_ONLY)


@pytest.mark.parametrize(("port", "adapter"), [(port, a) for port, adapters in ADAPTERS.items() for a in adapters],
                         ids=lambda x: x.__name__)
def test_the_adapter_has_every_method_of_its_port(port: Any, adapter: type) -> None:
    missing = [name for name in port_methods(port) if not callable(getattr(adapter, name, None))]
    assert missing == [], f"{adapter.__name__} lacks {port.__name__} methods {missing}"
    differ = {name: (shape(getattr(adapter, name)), shape(getattr(port, name))) for name in port_methods(port)
              if shape(getattr(adapter, name)) != shape(getattr(port, name))}
    assert differ == {}, f"{adapter.__name__} methods called unlike {port.__name__}'s: {differ}"


def test_the_ports_hold_what_observe_needs() -> None:
    # Working exits, option chains and option marks are asked of the port, never of one adapter.
    assert "bracket_exit" in port_methods(Broker)
    assert {"option_chain", "option_marks"} <= set(port_methods(MarketData))
