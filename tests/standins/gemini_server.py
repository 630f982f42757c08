"""A loopback stand-in for the Gemini API's ``generateContent`` endpoint, speaking its wire format.

``POST /{version}/models/{model}:generateContent`` (the google-genai SDK calls ``v1beta`` and sends
the key in the ``x-goog-api-key`` header). The reply body has the real shape:
``candidates[0].content.parts[0].text``, ``finishReason``, ``usageMetadata`` with
``promptTokenCount`` / ``candidatesTokenCount`` / ``totalTokenCount``, ``modelVersion`` and
``responseId``.

What the model "says" comes from a queue of scripted texts (``script(...)``) or, when the queue is
empty, from ``responder(request_json) -> text | dict``. Faults are queued with ``fail_next``:
``429`` / ``500`` (status errors in Google's error envelope), ``"malformed"`` (a body that is not
JSON), ``"truncated"`` (valid envelope, JSON text cut in half), ``"safety"`` (finishReason SAFETY,
no text), ``"empty"`` (no candidates); with ``delay_s`` every reply takes at least that long (the
time spent composing it included). Every request is
recorded (path, headers, body, monotonic time).
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_PATH = re.compile(r"^/(?P<version>v1(?:beta|alpha)?)/models/(?P<model>[^/:]+):generateContent$")
_STATUS = {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 400: "INVALID_ARGUMENT",
           401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND"}

Responder = Callable[[dict[str, Any]], "str | dict[str, Any]"]


@dataclass
class Recorded:
    path: str
    model: str
    api_key: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float


def _prompt_tokens(body: dict[str, Any]) -> int:
    """A rough, deterministic token count: words in the contents and the system instruction."""
    words = 0
    for part_holder in [*body.get("contents", []), body.get("systemInstruction") or {}]:
        for part in part_holder.get("parts", []):
            words += len(str(part.get("text", "")).split())
    return max(words, 1)


def envelope(text: str | None, *, model: str, prompt_tokens: int,
             finish_reason: str = "STOP") -> dict[str, Any]:
    """A generateContent reply body carrying ``text`` (or no content when ``text`` is None)."""
    candidate: dict[str, Any] = {"finishReason": finish_reason, "index": 0}
    output_tokens = 0
    if text is not None:
        candidate["content"] = {"role": "model", "parts": [{"text": text}]}
        output_tokens = max(len(text.split()), 1)
    if finish_reason == "SAFETY":
        candidate["safetyRatings"] = [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH",
                                       "blocked": True}]
    return {"candidates": [candidate],
            "usageMetadata": {"promptTokenCount": prompt_tokens, "candidatesTokenCount": output_tokens,
                              "totalTokenCount": prompt_tokens + output_tokens},
            "modelVersion": model, "responseId": uuid.uuid4().hex[:22]}


class GeminiStandIn:
    def __init__(self, responder: Responder | None = None) -> None:
        self.responder = responder
        self.scripted: deque[str | dict[str, Any]] = deque()
        self.faults: deque[int | str] = deque()
        self.delay_s = 0.0
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name="gemini-standin", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> GeminiStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def script(self, *replies: str | dict[str, Any]) -> None:
        """Queue model texts (str) or whole reply bodies (dict) to return in order."""
        with self._lock:
            self.scripted.extend(replies)

    def fail_next(self, n: int, fault: int | str) -> None:
        with self._lock:
            self.faults.extend([fault] * n)

    def _next(self, body: dict[str, Any], model: str) -> tuple[int, bytes]:
        with self._lock:
            fault = self.faults.popleft() if self.faults else None
            scripted = self.scripted.popleft() if (fault is None and self.scripted) else None
        tokens = _prompt_tokens(body)
        if isinstance(fault, int):
            error = {"error": {"code": fault, "message": f"stand-in fault {fault}",
                               "status": _STATUS.get(fault, "UNKNOWN")}}
            return fault, json.dumps(error).encode()
        if fault == "malformed":
            return 200, b'{"candidates": [{"content": {"parts": [{"text": '
        if fault == "safety":
            refusal = envelope(None, model=model, prompt_tokens=tokens, finish_reason="SAFETY")
            return 200, json.dumps(refusal).encode()
        if fault == "empty":
            return 200, json.dumps({"candidates": [], "promptFeedback": {"blockReason": "OTHER"},
                                    "usageMetadata": {"promptTokenCount": tokens, "totalTokenCount": tokens},
                                    "modelVersion": model}).encode()
        reply = scripted if scripted is not None else (self.responder(body) if self.responder else "{}")
        if isinstance(reply, dict):
            return 200, json.dumps(reply).encode()
        if fault == "truncated":
            reply = reply[: max(len(reply) // 2, 1)]
        return 200, json.dumps(envelope(reply, model=model, prompt_tokens=tokens)).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _send(self, status: int, payload: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json; charset=UTF-8")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                    pass

            def do_POST(self) -> None:  # http.server's naming
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                match = _PATH.match(self.path.split("?", 1)[0])
                if match is None:
                    self._send(404, json.dumps({"error": {"code": 404, "message": f"no route {self.path}",
                                                          "status": "NOT_FOUND"}}).encode())
                    return
                body = json.loads(raw or b"{}")
                model = match["model"]
                with standin._lock:
                    standin.requests.append(Recorded(self.path, model, self.headers.get("x-goog-api-key", ""),
                                                     dict(self.headers.items()), body, time.monotonic()))
                started = time.monotonic()
                reply = standin._next(body, model)
                if standin.delay_s:
                    time.sleep(max(0.0, standin.delay_s - (time.monotonic() - started)))
                self._send(*reply)

        return Handler


@contextmanager
def gemini_standin(responder: Responder | None = None) -> Iterator[GeminiStandIn]:
    server = GeminiStandIn(responder).start()
    try:
        yield server
    finally:
        server.stop()
