"""Gemini behind the ``LanguageModel`` port, through the official google-genai SDK.

Retry policy is ours, not the SDK's: the client is built with
``HttpRetryOptions(attempts=1)`` (google-genai's tenacity loop makes one attempt and re-raises),
and every call carries an explicit ``HttpOptions(timeout=<ms>)`` (the SDK's default is no
timeout). We retry only 429, 5xx and network failures/timeouts, ``max_retries`` times with
exponential backoff and jitter, then raise ``TransientError``. 401/403 raise ``ConfigurationError``;
any other 4xx, and every reply that does not validate against the schema, ``InvalidAgentOutput``.
The API version is pinned (``v1beta``, where the Gemini API documents structured output and function
calling; SDK 3.x would otherwise pick ``v1``). The answer schema goes as ``responseJsonSchema`` (full
JSON Schema; the older ``responseSchema`` cannot hold our unions). Tools are declared with their
JSON Schemas and run by us (the SDK's automatic function calling is off); a reply that calls them
comes back as tool calls, with Gemini's thought signatures kept for the next turn. The API key is
never logged and is scrubbed from every message we raise. The client always gets an explicit base URL,
``GEMINI_URL`` or a loopback stand-in (``cream.endpoints.endpoint``): left unset, google-genai would
take one from ``GOOGLE_GEMINI_BASE_URL`` and send the key there.
"""

from __future__ import annotations

import base64
import importlib
import logging
import random
import time
from typing import Any, TypeVar

from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from pydantic import BaseModel

from cream.endpoints import endpoint
from cream.errors import ConfigurationError, InvalidAgentOutput, TransientError
from cream.llm.port import LlmReply, LlmRequest, ToolCall, Turn, answer_schema, parse_answer

T = TypeVar("T", bound=BaseModel)
log = logging.getLogger(__name__)

GEMINI_URL = "https://generativelanguage.googleapis.com/"
_MAX_BACKOFF_S = 30.0
# Finish reasons that mean the model declined or was stopped by a filter: the answer is unusable.
_REFUSALS = frozenset({"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "LANGUAGE",
                       "OTHER", "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_OTHER",
                       "IMAGE_RECITATION"})
_ACCEPTED = frozenset({"STOP", "FINISH_REASON_UNSPECIFIED"})


def _transport_errors() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """Timeout and transport exception classes of whichever httpx the SDK runs on (httpx or its
    drop-in fork httpx2, which google-genai accepts alike)."""
    timeouts: list[type[BaseException]] = []
    transport: list[type[BaseException]] = []
    for name in ("httpx", "httpx2"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        timeouts.append(module.TimeoutException)
        transport.append(module.TransportError)
    return tuple(timeouts), tuple(transport)


_TIMEOUTS, _TRANSPORT_ERRORS = _transport_errors()


class _Retryable(Exception):
    """One attempt failed in a way worth retrying (internal to this module)."""


class GeminiModel:
    """``LanguageModel`` backed by Gemini. One instance per process; it holds one HTTP client."""

    def __init__(self, api_key: str, *, base_url: str | None = None, timeout_s: float = 60,
                 max_retries: int = 3, backoff_base: float = 0.5, api_version: str = "v1beta") -> None:
        if not api_key:
            raise ConfigurationError("No Gemini API key: set it in the agents' configuration and start "
                                     "again.")
        if timeout_s <= 0 or max_retries < 0 or backoff_base < 0:
            raise ConfigurationError("Gemini timeout must be > 0, max_retries and backoff_base >= 0.")
        self._api_key = api_key
        base_url = endpoint("CREAM_GEMINI_BASE_URL", base_url, GEMINI_URL)
        self.timeout_s, self.max_retries, self.backoff_base = timeout_s, max_retries, backoff_base
        self._client = genai.Client(
            api_key=api_key, vertexai=False,
            http_options=types.HttpOptions(base_url=base_url, api_version=api_version, timeout=_ms(timeout_s),
                                           retry_options=types.HttpRetryOptions(attempts=1)))

    def __repr__(self) -> str:  # never show the key
        return f"GeminiModel(timeout_s={self.timeout_s}, max_retries={self.max_retries})"

    def close(self) -> None:
        self._client.close()

    def generate(self, request: LlmRequest, schema: type[T]) -> LlmReply:
        config = types.GenerateContentConfig(
            system_instruction=request.system_prompt, temperature=request.temperature,
            response_mime_type="application/json", response_json_schema=answer_schema(schema),
            http_options=types.HttpOptions(timeout=_ms(request.timeout_s or self.timeout_s)),
            **_tool_config(request))
        contents = _contents(request)
        started = time.monotonic()
        for attempt in range(1, self.max_retries + 2):
            try:
                response = self._call(request, contents, self._within_deadline(request, config))
            except _Retryable as exc:
                delay = self._backoff(attempt)
                if attempt > self.max_retries or not self._time_left(request, delay + 1.0):
                    raise TransientError(self._scrub(
                        f"Gemini {request.model} for agent {request.agent} still failing after {attempt} "
                        f"attempts ({exc}); retry the cycle later.")) from None
                log.warning("gemini %s (%s) attempt %d failed: %s; retrying in %.2fs",
                            request.model, request.agent, attempt, self._scrub(str(exc)), delay)
                time.sleep(delay)
                continue
            return self._read(request, schema, response, attempt, time.monotonic() - started)
        raise AssertionError("unreachable")  # the loop either returns or raises

    def _call(self, request: LlmRequest, contents: list[types.Content],
              config: types.GenerateContentConfig) -> types.GenerateContentResponse:
        try:
            return self._client.models.generate_content(model=request.model, contents=contents,
                                                        config=config)
        except genai_errors.APIError as exc:
            if exc.code == 429 or 500 <= exc.code < 600:
                raise _Retryable(f"HTTP {exc.code} {exc.status}") from None
            if exc.code in (401, 403):
                raise ConfigurationError(self._scrub(
                    f"Gemini refused the API key (HTTP {exc.code} {exc.status}): check the key and "
                    f"its access to {request.model}.")) from None
            raise InvalidAgentOutput(self._scrub(
                f"Gemini rejected the request of agent {request.agent} (HTTP {exc.code} {exc.status}: "
                f"{exc.message})")) from None
        except _TIMEOUTS:
            raise _Retryable(f"no reply within {config.http_options.timeout} ms"  # type: ignore[union-attr]
                             ) from None
        except _TRANSPORT_ERRORS as exc:
            raise _Retryable(f"network error {type(exc).__name__}") from None
        except ValueError as exc:  # a 200 whose body is not JSON (json.JSONDecodeError)
            raise InvalidAgentOutput(self._scrub(
                f"Gemini sent an unreadable reply body to agent {request.agent}: {exc}")) from None

    def _read(self, request: LlmRequest, schema: type[T], response: types.GenerateContentResponse,
              attempts: int, latency_s: float) -> LlmReply:
        who = f"agent {request.agent} ({request.model})"
        if not response.candidates:
            block = response.prompt_feedback.block_reason if response.prompt_feedback else None
            raise InvalidAgentOutput(f"Gemini returned no answer for {who}"
                                     + (f" (prompt blocked: {_name(block)})" if block else "") + ".")
        candidate = response.candidates[0]
        finish = _name(candidate.finish_reason)
        if finish in _REFUSALS:
            raise InvalidAgentOutput(f"Gemini declined to answer for {who} (finishReason {finish}).")
        if finish == "MAX_TOKENS":
            raise InvalidAgentOutput(f"Gemini's answer for {who} was cut off at the token limit.")
        if finish is not None and finish not in _ACCEPTED:
            raise InvalidAgentOutput(f"Gemini's answer for {who} ended abnormally (finishReason {finish}).")
        parts = candidate.content.parts if candidate.content and candidate.content.parts else []
        calls = [_tool_call(p) for p in parts if p.function_call is not None]
        text = "".join(p.text for p in parts if p.text and not p.thought)
        usage = response.usage_metadata
        accounting = dict(model=response.model_version or request.model,
                          prompt_tokens=(usage.prompt_token_count or 0) if usage else 0,
                          output_tokens=(usage.candidates_token_count or 0) if usage else 0,
                          finish_reason=finish, latency_s=latency_s, attempts=attempts)
        if calls:
            if not request.tools_allowed or not request.tools:
                raise InvalidAgentOutput(f"Gemini asked for tools {[c.name for c in calls]} for {who}, "
                                         "where none were allowed.")
            return LlmReply(text=text, tool_calls=calls, **accounting)
        parsed = parse_answer(text, schema, f"Gemini for {who}")
        return LlmReply(text=text, parsed=parsed, **accounting)

    @staticmethod
    def _time_left(request: LlmRequest, needed: float) -> bool:
        return request.deadline is None or request.deadline - time.monotonic() > needed

    def _within_deadline(self, request: LlmRequest,
                         config: types.GenerateContentConfig) -> types.GenerateContentConfig:
        """This attempt's config: its timeout cut to what is left before the request's deadline."""
        if request.deadline is None:
            return config
        left = request.deadline - time.monotonic()
        if left <= 0:
            raise TransientError(f"agent {request.agent} has no time left for another model call")
        timeout = min(request.timeout_s or self.timeout_s, left)
        return config.model_copy(update={"http_options": types.HttpOptions(timeout=_ms(timeout))})

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: base * 2^(n-1), scaled by a random factor in [0.5, 1.5)."""
        doubling: float = 2 ** (attempt - 1)
        return min(_MAX_BACKOFF_S, self.backoff_base * doubling) * (0.5 + random.random())

    def _scrub(self, message: str) -> str:
        return message.replace(self._api_key, "***")


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def _name(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))


def _tool_config(request: LlmRequest) -> dict[str, Any]:
    """Declared tools (we run them ourselves: the SDK's automatic calling is off); mode NONE forces an answer."""
    if not request.tools:
        return {}
    declarations = [types.FunctionDeclaration(name=t.name, description=t.description,
                                              parameters_json_schema=t.parameters) for t in request.tools]
    mode = types.FunctionCallingConfigMode.AUTO if request.tools_allowed else types.FunctionCallingConfigMode.NONE
    return dict(tools=[types.Tool(function_declarations=declarations)],
                tool_config=types.ToolConfig(function_calling_config=types.FunctionCallingConfig(mode=mode)),
                automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True))


def _contents(request: LlmRequest) -> list[types.Content]:
    contents = [types.Content(role="user", parts=[types.Part(text=request.prompt)])]
    contents += [_content(turn) for turn in request.turns]
    return contents


def _content(turn: Turn) -> types.Content:
    if turn.role == "model":
        parts = [types.Part(text=turn.text)] if turn.text else []
        parts += [types.Part(function_call=types.FunctionCall(name=c.name, args=c.args, id=c.call_id),
                             thought_signature=base64.b64decode(c.signature) if c.signature else None)
                  for c in turn.tool_calls]
        return types.Content(role="model", parts=parts)
    if turn.role == "tool":
        return types.Content(role="user", parts=[
            types.Part(function_response=types.FunctionResponse(name=r.name, response=r.response, id=r.call_id))
            for r in turn.tool_results])
    return types.Content(role="user", parts=[types.Part(text=turn.text or "")])


def _tool_call(part: types.Part) -> ToolCall:
    call = part.function_call
    assert call is not None
    signature = base64.b64encode(part.thought_signature).decode() if part.thought_signature else None
    return ToolCall(name=call.name or "", args=dict(call.args or {}), call_id=call.id, signature=signature)
