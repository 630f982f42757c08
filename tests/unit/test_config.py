"""Settings from the environment: a bad value or an unknown CREAM_ variable is one line naming it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cream.config import SCRIPT_VARIABLES, Settings, get_settings, known_variables
from cream.errors import ConfigurationError
from cream.schemas.decisions import Environment

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _fresh_settings() -> object:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def refusal(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as info:
        get_settings()
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("value", ["garbage", "live", " LIVE ", "", "Live", "LIVE\n"])
def test_an_environment_that_is_not_exactly_one_of_three_is_refused(monkeypatch: pytest.MonkeyPatch,
                                                                    value: str) -> None:
    message = refusal(monkeypatch, CREAM_ENV=value)
    assert message.startswith(f"CREAM_ENV={value!a}: must be one of BACKTEST, PAPER, LIVE")


def test_each_invalid_variable_is_named_with_what_it_may_be(monkeypatch: pytest.MonkeyPatch) -> None:
    message = refusal(monkeypatch, CREAM_VISIBILITY_TIMEOUT="abc", CREAM_BOOK="BAD BOOK", CREAM_AGENTS="gpt",
                      CREAM_LOG_LEVEL="LOUD", CREAM_DATA_DIR=" ")
    assert "CREAM_VISIBILITY_TIMEOUT='abc': input should be a valid integer" in message
    assert "CREAM_BOOK='BAD BOOK': a book name is 1-40 lower-case letters" in message
    assert "CREAM_AGENTS='gpt': must be one of rules, gemini, replay" in message
    assert "CREAM_LOG_LEVEL='LOUD': use one of DEBUG, INFO, WARNING, ERROR, CRITICAL" in message
    assert "CREAM_DATA_DIR=' ': it is empty" in message
    assert message.endswith("; fix or unset them")


@pytest.mark.parametrize(("value", "said"), [
    ('{"iv_rv_ratio": -1}', "CREAM_OPTION_MODEL='-1': iv_rv_ratio input should be greater than 0"),
    ('{"ivv": 1}', "CREAM_OPTION_MODEL='1': ivv extra inputs are not permitted"),
    ("nope", "CREAM_OPTION_MODEL: not a JSON object"),
    ("[1, 2]", "CREAM_OPTION_MODEL='[1, 2]': input should be a valid dictionary"),
])
def test_the_option_model_is_json_and_each_bad_key_is_named(monkeypatch: pytest.MonkeyPatch, value: str,
                                                            said: str) -> None:
    assert refusal(monkeypatch, CREAM_OPTION_MODEL=value).startswith(said)


def test_the_option_model_reads_only_the_keys_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREAM_OPTION_MODEL", '{"iv_rv_ratio": 1.25, "skew": 0}')
    model = Settings().option_model
    assert (model.iv_rv_ratio, model.skew, model.rv_window) == (1.25, 0.0, 20)


@pytest.mark.parametrize(("value", "said"), [
    ('{"strikes": 0}', "CREAM_OPTION_CHAINS='0': strikes input should be greater than or equal to 1"),
    ('{"min_days": 30, "max_days": 7}', "CREAM_OPTION_CHAINS"),
    ('{"expiry": 1}', "CREAM_OPTION_CHAINS='1': expiry extra inputs are not permitted"),
])
def test_the_option_chain_window_is_json_and_each_bad_key_is_named(monkeypatch: pytest.MonkeyPatch, value: str,
                                                                   said: str) -> None:
    refused = refusal(monkeypatch, CREAM_OPTION_CHAINS=value)
    assert refused.startswith(said), refused
    if "max_days" in value:
        assert "max_days 7 is before min_days 30" in refused


def test_the_option_chain_window_reads_only_the_keys_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREAM_OPTION_CHAINS", '{"enabled": false, "strikes": 6}')
    window = Settings().option_chains
    assert (window.enabled, window.strikes, window.expiries) == (False, 6, 2)


def test_a_long_value_is_shortened_in_the_message(monkeypatch: pytest.MonkeyPatch) -> None:
    message = refusal(monkeypatch, CREAM_ENV="X" * 10_000)
    assert len(message) < 200 and "XXX...'" in message


@pytest.mark.parametrize(("name", "hint"), [("CREAM_FOO", ""), ("CREAM_ENVIRONMENT", " (did you mean CREAM_ENV?)"),
                                            ("CREAM_BROKER", " (did you mean CREAM_BROKER_URL?)"),
                                            ("cream_book_name", " (did you mean CREAM_BOOK?)")])
def test_an_unknown_cream_variable_is_refused(monkeypatch: pytest.MonkeyPatch, name: str, hint: str) -> None:
    message = refusal(monkeypatch, **{name: "1"})
    assert message.startswith(f"unknown environment variable {name}{hint}: unset it")


def test_every_unknown_variable_is_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    message = refusal(monkeypatch, CREAM_FOO="1", CREAM_ENVIRONMENT="LIVE")
    assert message.startswith("unknown environment variables CREAM_ENVIRONMENT (did you mean CREAM_ENV?), CREAM_FOO")


def test_settings_built_in_code_check_the_environment_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREAM_FOO", "1")
    with pytest.raises(ConfigurationError, match="CREAM_FOO"):
        Settings(env=Environment.BACKTEST)


def test_valid_values_still_work(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name, value in {"CREAM_ENV": "PAPER", "CREAM_BOOK": "swing-2", "CREAM_LOG_LEVEL": "debug",
                        "CREAM_DATA_DIR": str(tmp_path), "CREAM_POLYGON_API_KEY": "k", "GOOGLE_API_KEY": "",
                        "CREAM_VENV": str(tmp_path / "venv")}.items():
        monkeypatch.setenv(name, value)
    settings = get_settings()
    assert settings.env is Environment.PAPER and settings.book == "swing-2" and settings.log_level == "DEBUG"
    assert settings.polygon_api_key is not None and settings.polygon_api_key.get_secret_value() == "k"
    assert settings.gemini_api_key is None  # an empty key is a missing key, so PAPER's check names it


def test_every_field_is_a_known_variable() -> None:
    """Derived from the model: a field added later is known without touching the check."""
    known = known_variables()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names = [c for c in alias.choices if c.startswith("CREAM_")] if alias else [f"CREAM_{name.upper()}"]
        assert names and set(names) <= known, name
    assert SCRIPT_VARIABLES <= known


def _variables_used_in(paths: list[Path]) -> set[str]:
    return {m for path in paths for m in re.findall(r"\bCREAM_[A-Z0-9_]*[A-Z0-9]", path.read_text())}


def test_every_variable_the_code_and_scripts_set_is_known() -> None:
    """A variable a script, worker or test sets but Settings does not know would stop every start."""
    paths = [*ROOT.glob("scripts/*.sh"), *ROOT.glob("cream/**/*.py"), *ROOT.glob("workers/**/*.py"),
             *ROOT.glob("tasks/**/*.py"), *ROOT.glob("tests/integration/**/*.py"), ROOT / "Dockerfile"]
    deliberate = {ROOT / "tests/integration/test_worker_refusal.py"}  # sets unknown ones to see them refused
    used = _variables_used_in([p for p in paths if p.exists() and p not in deliberate])
    assert used and not used - known_variables(), sorted(used - known_variables())


def test_every_known_variable_is_in_the_readme_configuration_table() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Configuration"):readme.index("Runtime trading configuration")]
    missing = [name for name in known_variables() if f"`{name}`" not in table]
    assert not missing, missing
