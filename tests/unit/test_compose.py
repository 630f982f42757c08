"""docker-compose.yml passes the cream services exactly the variables Cream reads, and keeps Flower behind
basic auth on loopback. Read with a small reader of the YAML the file is written in (no PyYAML here)."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import AliasChoices

from cream.config import Settings

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"
PROVIDER_KEYS = {"POLYGON_API_KEY", "ALPACA_API_KEY", "ALPACA_SECRET_KEY", "GEMINI_API_KEY"}


# --- a reader for the YAML subset compose files use -----------------------------------------------


class _Reader:
    """Block mappings and sequences, flow ``[..]``/``{..}``, quoted and plain scalars, ``|`` blocks,
    comments, anchors, aliases and ``<<`` merges. Anything else raises, so the test cannot misread."""

    def __init__(self, text: str) -> None:
        self.lines, self.i, self.anchors = text.splitlines(), 0, {}  # type: ignore[var-annotated]

    def peek(self) -> tuple[int, str] | None:
        """(indent, text without comment) of the next line with content; blank and comment lines skipped."""
        while self.i < len(self.lines):
            raw = self.lines[self.i]
            text = _uncomment(raw).strip()
            if text:
                if "\t" in raw[: len(raw) - len(raw.lstrip())]:
                    raise ValueError(f"line {self.i + 1}: tab in indentation")
                return len(raw) - len(raw.lstrip(" ")), text
            self.i += 1
        return None

    def block(self, indent: int) -> Any:
        nxt = self.peek()
        if nxt is None or nxt[0] < indent:
            return None
        return self.sequence(nxt[0]) if _is_item(nxt[1]) else self.mapping(nxt[0])

    def mapping(self, indent: int) -> dict[str, Any]:
        own: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        while (nxt := self.peek()) and nxt[0] == indent and not _is_item(nxt[1]):
            match = re.fullmatch(r"""("[^"]*"|'[^']*'|[^'"\s][^:]*?)\s*:(?:\s+(.*))?""", nxt[1])
            if match is None:
                raise ValueError(f"line {self.i + 1}: not a 'key: value' line: {nxt[1]!r}")
            self.i += 1
            key, value = _scalar(match.group(1)), self.value(match.group(2) or "", indent, in_mapping=True)
            if key == "<<":
                merged.update(value)
            elif key in own:
                raise ValueError(f"line {self.i}: duplicate key {key!r}")
            else:
                own[key] = value
        if (nxt := self.peek()) and nxt[0] > indent:
            raise ValueError(f"line {self.i + 1}: unexpected indentation")
        return {**merged, **own}

    def sequence(self, indent: int) -> list[Any]:
        items = []
        while (nxt := self.peek()) and nxt[0] == indent and _is_item(nxt[1]):
            self.i += 1
            items.append(self.value(nxt[1][1:].strip(), indent, in_mapping=False))
        return items

    def value(self, text: str, indent: int, *, in_mapping: bool) -> Any:
        anchor = None
        if text.startswith("&"):
            anchor, _, text = text[1:].partition(" ")
            text = text.strip()
        if text.startswith("*"):
            return self.anchors[text[1:]]
        if text == "":
            nxt = self.peek()
            # A mapping's value is its deeper lines, or a sequence written at the key's own indentation.
            deeper = nxt is not None and (nxt[0] > indent or (in_mapping and nxt[0] == indent and _is_item(nxt[1])))
            result = self.block(nxt[0]) if deeper and nxt is not None else None
        elif text == "|":
            result = self.literal(indent)
        elif text[0] in "[{":
            while _depth(text) > 0:
                text += " " + _uncomment(self.lines[self.i]).strip()
                self.i += 1
            result, end = _flow(text, 0)
            if text[end:].strip():
                raise ValueError(f"line {self.i}: text after a flow collection: {text[end:]!r}")
        elif re.match(r"[^'\"]*:\s", text) or text[0] in "|>!%@`" or text.startswith("- "):
            raise ValueError(f"line {self.i}: YAML this reader does not handle: {text!r}")
        else:
            result = _scalar(text)
        if anchor:
            self.anchors[anchor] = result
        return result

    def literal(self, indent: int) -> str:
        """A ``|`` block: the lines indented deeper than its parent, unindented, with one final newline."""
        body: list[str] = []
        while self.i < len(self.lines):
            raw = self.lines[self.i]
            if raw.strip() and len(raw) - len(raw.lstrip(" ")) <= indent:
                break
            body.append(raw)
            self.i += 1
        while body and not body[-1].strip():
            body.pop()
        cut = min(len(line) - len(line.lstrip(" ")) for line in body if line.strip())
        return "\n".join(line[cut:] for line in body) + "\n"


def _is_item(text: str) -> bool:
    return text == "-" or text.startswith("- ")


def _uncomment(line: str) -> str:
    """``line`` without its comment: a ``#`` at the start or after a space, outside quotes."""
    quote = None
    for i, c in enumerate(line):
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i]
    return line


def _depth(text: str) -> int:
    depth, quote = 0, None
    for c in text:
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
    return depth


def _scalar(text: str) -> Any:
    if text.startswith('"'):
        return json.loads(text)
    if text.startswith("'"):
        return text[1:-1].replace("''", "'")
    return None if text in ("", "~", "null") else text


def _flow(text: str, pos: int) -> tuple[Any, int]:
    """The flow value at ``text[pos:]`` and where it ends."""
    while text[pos] == " ":
        pos += 1
    opener = text[pos]
    if opener not in "[{":
        match = re.compile(r"""\s*("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^,\[\]{}]+?(?=\s*(?:[,\]}]|:\s)))""")
        found = match.match(text, pos)
        if found is None:
            raise ValueError(f"bad flow scalar at {text[pos:]!r}")
        return _scalar(found.group(1).strip()), found.end()
    closer, items, pairs = "]" if opener == "[" else "}", [], {}
    pos += 1
    while True:
        while text[pos] in " ,":
            pos += 1
        if text[pos] == closer:
            return (items if opener == "[" else pairs), pos + 1
        value, pos = _flow(text, pos)
        if opener == "{":
            colon = re.compile(r"\s*:\s").match(text, pos)
            if colon is None:
                raise ValueError(f"flow mapping without ':' at {text[pos:]!r}")
            pairs[value], pos = _flow(text, colon.end())
        else:
            items.append(value)


@lru_cache(maxsize=1)
def compose() -> dict[str, Any]:
    """docker-compose.yml as Python data (``$$`` still escaped, as compose stores it)."""
    reader = _Reader(COMPOSE.read_text())
    document = reader.block(0)
    if reader.peek() is not None:
        raise ValueError(f"line {reader.i + 1}: not read")
    return document  # type: ignore[no-any-return]


def command(service: str) -> list[str]:
    """The argv compose gives ``service``: ``$$`` is compose's escape for ``$``; nothing else is interpolated."""
    argv = compose()["services"][service]["command"]
    assert not any(re.search(r"(?<!\$)\$\{|(?<!\$)\$(?!\$)", "".join(a.split("$$"))) for a in argv), \
        f"{service}'s command has a compose interpolation: it would not be the same outside compose"
    return [a.replace("$$", "$") for a in argv]


# --- the tests ------------------------------------------------------------------------------------


def settings_variables() -> set[str]:
    """Every environment variable Settings reads: CREAM_<field>, or a field's aliases."""
    names: set[str] = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [f"CREAM_{name}"]
        names.update(str(c) for c in choices)
    return {n.upper() for n in names}


def cream_services() -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in compose()["services"].items() if svc.get("image") == "cream:latest"}


def test_the_reader_reads_what_compose_would() -> None:
    services = compose()["services"]
    assert set(cream_services()) == {"migrate", "worker-cycles", "worker-agents", "worker-data",
                                     "worker-execution", "beat", "flower"}
    assert services["worker-agents"]["command"][-4:] == ["--pool", "threads", "--concurrency", "64"]
    assert services["migrate"]["restart"] == "no" and services["beat"]["restart"] == "unless-stopped"
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert services["worker-data"]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert services["flower"]["environment"]["CREAM_BROKER_URL"] == "redis://redis:6379/0"  # *cream-env merged


def test_cream_services_pass_only_variables_cream_reads() -> None:
    known = settings_variables()
    for name, service in cream_services().items():
        passed = set(service["environment"])
        extra = {"FLOWER_BASIC_AUTH"} if name == "flower" else set()
        assert passed - extra <= known, f"{name} passes {sorted(passed - extra - known)}, which nothing reads"
        assert PROVIDER_KEYS | {"CREAM_LIVE_CONFIRMATION"} <= passed, f"{name} lacks a key PAPER/LIVE need"


def test_secrets_are_passed_through_never_written_or_emptied() -> None:
    for name, service in cream_services().items():
        for key in PROVIDER_KEYS | {"CREAM_LIVE_CONFIRMATION"}:
            # No value: compose takes it from the environment or .env when set, else leaves it unset.
            assert service["environment"][key] is None, f"{name}: {key} must have no value in the file"


def test_every_cream_variable_named_in_the_file_is_one_cream_reads() -> None:
    named = set(re.findall(r"\bCREAM_[A-Z0-9_]+", COMPOSE.read_text()))
    assert named <= settings_variables(), f"docker-compose.yml names {sorted(named - settings_variables())}"


def test_flower_is_behind_basic_auth_and_published_on_loopback_only() -> None:
    flower = compose()["services"]["flower"]
    assert flower["environment"]["FLOWER_BASIC_AUTH"] is None
    assert not any(k.startswith("FLOWER_") and k != "FLOWER_BASIC_AUTH" for k in flower["environment"])
    assert flower["ports"] and all(p.startswith("127.0.0.1:") for p in flower["ports"])
    argv = command("flower")
    assert argv[:2] == ["sh", "-c"] and 'exec celery -A workers.app flower --basic-auth="$auth"' in argv[2]
