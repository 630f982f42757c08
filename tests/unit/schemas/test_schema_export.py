"""`cream schema`: JSON Schema files other systems build their producers and consumers from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cream.schemas.export import MESSAGES, write_schemas


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


def resolve(schema: dict[str, Any], ref: str) -> dict[str, Any]:
    assert ref.startswith("#/"), ref
    node: Any = schema
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def test_one_schema_file_per_message_plus_the_instrument_union(tmp_path: Path) -> None:
    written = write_schemas(tmp_path / "schemas")
    names = sorted(p.name for p in written)
    assert names == sorted([f"{n}.schema.json" for n in MESSAGES] + ["Instrument.schema.json"])
    assert all(p.is_file() for p in written)


def test_every_file_is_json_schema_with_resolvable_refs(tmp_path: Path) -> None:
    for path in write_schemas(tmp_path):
        schema = json.loads(path.read_text())
        assert isinstance(schema, dict)
        assert "properties" in schema or "oneOf" in schema or "anyOf" in schema, path.name
        for ref in refs(schema):
            assert isinstance(resolve(schema, ref), dict), f"{path.name}: {ref} does not resolve"


def test_decision_plan_schema_requires_risk_levels_on_each_decision(tmp_path: Path) -> None:
    write_schemas(tmp_path)
    schema = json.loads((tmp_path / "DecisionPlan.schema.json").read_text())
    items = schema["properties"]["decisions"]["items"]
    decision = resolve(schema, items["$ref"]) if "$ref" in items else items
    assert "risk_levels" in decision["required"]
    levels = decision["properties"]["risk_levels"]
    levels = resolve(schema, levels["$ref"]) if "$ref" in levels else levels
    assert {"stop_loss_level", "take_profit_level"} <= set(levels["required"])
    assert levels["properties"]["stop_loss_level"]["exclusiveMinimum"] == 0


def test_trigger_schema_forbids_unknown_keys_and_pins_kind(tmp_path: Path) -> None:
    write_schemas(tmp_path)
    schema = json.loads((tmp_path / "CycleTrigger.schema.json").read_text())
    assert schema["additionalProperties"] is False
    assert schema["properties"]["kind"]["const"] == "cream.cycle.trigger"
    assert set(schema["required"]) == {"environment", "scheduled_for"}


def test_instrument_schema_discriminates_on_type(tmp_path: Path) -> None:
    write_schemas(tmp_path)
    schema = json.loads((tmp_path / "Instrument.schema.json").read_text())
    assert set(schema["discriminator"]["mapping"]) == {"EQUITY", "OPTION", "MULTI_LEG"}


def test_writing_twice_gives_identical_files(tmp_path: Path) -> None:
    first = {p.name: p.read_text() for p in write_schemas(tmp_path / "a")}
    second = {p.name: p.read_text() for p in write_schemas(tmp_path / "b")}
    assert first == second
