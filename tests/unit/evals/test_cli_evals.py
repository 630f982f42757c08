"""`cream evals`: the per-agent report on stdout, exit 0 only when every check passed."""

from __future__ import annotations

import json

import pytest

from cream import runtime
from cream.cli import main
from cream.config import get_settings


def test_cream_evals_json_exits_0_for_the_rule_agents(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evals", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True and data["implementation"] == "rules-v1"
    assert data["agents"]["trader"]["checks_failed"] == 0 and data["agents"]["trader"]["checks_passed"] > 0
    assert "approve_sound_plan" in data["scenarios"]


def test_cream_evals_prints_a_table_for_one_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evals", "--scenario", "bull_trend", "--agents", "rules"]) == 0
    out = capsys.readouterr().out
    assert "1 golden scenario" in out and "risk_manager" in out
    assert out.rstrip().splitlines()[-1].startswith("OK")


@pytest.mark.parametrize("argv, message", [
    (["evals", "--agents", "gemini"], "need GEMINI_API_KEY"),  # never a silent fallback to the rules
    (["evals", "--scenario", "moon_landing"], "unknown scenario"),
])
def test_bad_arguments_are_reported_with_exit_2(argv: list[str], message: str, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    for key in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "CREAM_GEMINI_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    get_settings.cache_clear()
    runtime.language_model.cache_clear()
    assert main(argv) == 2
    assert message in capsys.readouterr().err
