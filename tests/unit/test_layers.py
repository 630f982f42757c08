"""Dependencies run one way: tasks -> services -> engine and ports; agents and schemas beneath services.

Every import is read from the source (absolute and relative, at module level, inside functions and
under TYPE_CHECKING alike), so a layer cannot reach across by importing late.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENGINE_MAY_IMPORT = {"numpy", "numba", "llvmlite", "engine"} | set(sys.stdlib_module_names)


@dataclass(frozen=True)
class Import:
    where: str  # file:line
    module: str  # absolute dotted name, relative imports resolved

    def __str__(self) -> str:
        return f"{self.where} imports {self.module}"


def imports_of(path: Path, root: Path = ROOT) -> Iterator[Import]:
    """Each module ``path`` imports; ``from a import b`` yields ``a`` and ``a.b`` (b may be a module)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    package = parts[:-1]  # a module's package; __init__.py is its package's own module
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        where = f"{path.relative_to(root)}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            yield from (Import(where, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            yield Import(where, module)
            yield from (Import(where, f"{module}.{alias.name}") for alias in node.names if alias.name != "*")


def within(*prefixes: str) -> Callable[[str], bool]:
    return lambda module: any(module == p or module.startswith(p + ".") for p in prefixes)


@dataclass(frozen=True)
class Contract:
    name: str
    files: Callable[[], list[Path]]
    forbidden: Callable[[str], bool]
    rule: str

    def offences(self) -> list[str]:
        """One 'file:line imports module' per offending import statement."""
        first: dict[str, str] = {}
        for path in self.files():
            for i in imports_of(path):
                if self.forbidden(i.module):
                    first.setdefault(i.where, str(i))
        return list(first.values())


def sources(folder: str, *, but: tuple[str, ...] = ()) -> Callable[[], list[Path]]:
    return lambda: [p for p in sorted((ROOT / folder).rglob("*.py")) if str(p.relative_to(ROOT)) not in but]


SERVICES_MAY_NOT = within("celery", "kombu", "tasks", "workers", "cream.runner")
SERVICES_RULE = "cream/services imports no Celery, kombu, tasks, workers or cream.runner (the Celery client)"
CONTRACTS = [
    Contract("engine", sources("engine"), lambda m: m.split(".")[0] not in ENGINE_MAY_IMPORT,
             "engine/ imports only numpy, numba, llvmlite, the standard library and itself"),
    Contract("schemas", sources("cream/schemas"),
             within("cream.services", "cream.adapters", "cream.storage", "cream.agents", "tasks", "workers", "celery",
                    "kombu", "sqlalchemy"),
             "cream/schemas imports no services, adapters, storage, agents, tasks, workers, Celery or SQLAlchemy"),
    Contract("services", sources("cream/services"), SERVICES_MAY_NOT, SERVICES_RULE),
    Contract("agents", sources("cream/agents"), within("cream.services"),
             "cream/agents imports no services (what they need is passed in through cream/agents/port.py)"),
]


@pytest.mark.parametrize("contract", [pytest.param(c, id=c.name) for c in CONTRACTS])
def test_layer_imports_only_what_it_may(contract: Contract) -> None:
    files = contract.files()
    assert files and all(p.is_file() for p in files), f"{contract.name}: no sources found"
    offences = contract.offences()
    assert not offences, f"{contract.rule}:\n" + "\n".join(f"  {o}" for o in offences)


def test_imports_are_read_wherever_they_are_written(tmp_path: Path) -> None:
    """Top level, in a function, under TYPE_CHECKING, relative: a walk that missed one would pass every
    contract above."""
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    source = tmp_path / "pkg" / "sub" / "mod.py"
    source.write_text("import os.path\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import celery\n"
                      "from . import sibling\nfrom ..other import thing\n\ndef late():\n    from kombu import Queue\n")
    found = {(i.where.rsplit(":", 1)[1], i.module) for i in imports_of(source, tmp_path)}
    assert {("1", "os.path"), ("4", "celery"), ("5", "pkg.sub"), ("5", "pkg.sub.sibling"), ("6", "pkg.other"),
            ("6", "pkg.other.thing"), ("9", "kombu.Queue")} <= found
    assert CONTRACTS[2].forbidden("kombu.Queue") and not CONTRACTS[2].forbidden("cream.runners_up")
