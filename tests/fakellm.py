"""A local fake LLM server speaking the OpenAI, Azure OpenAI, Gemini and Anthropic wire formats.

It replays scripted replies (text, an error status, or a delay) and records every request, so tests
can drive the real vendor SDKs without the internet.

In tests::

    def test_x(fake_llm):                      # fixture: a shared server, reset for each test
        fake_llm.enqueue(text="hello")
        client = openai.OpenAI(api_key="k", base_url=fake_llm.base_url_for("openai"))
        ...
        assert fake_llm.requests[-1].body["model"] == "gpt-4o-mini"

Standalone (for CLI tests in a subprocess)::

    python tests/fakellm.py --port 0 --script replies.json [--default-text TEXT] [--expected-key K]

prints the port on stdout, then serves until SIGTERM/SIGINT. `replies.json` is a list of reply
objects: {"text": ...} | {"status": 500, "message": ...} | {"delay": 2, "text": ...}, each
optionally with "wire", "prompt_tokens", "completion_tokens", "chunks", "headers", "body".
Control endpoints: GET /_fakellm/requests, POST /_fakellm/replies (one object or a list),
POST /_fakellm/reset.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

WIRES = ("openai", "azure", "gemini", "anthropic")
CONTROL_PREFIX = "/_fakellm/"

_GEMINI_PATH = re.compile(
    r"^/(?P<version>[^/]+)/models/(?P<model>[^/:]+):(?P<method>generateContent|streamGenerateContent)$"
)
_AZURE_PATH = re.compile(r"^/openai/deployments/(?P<deployment>[^/]+)/chat/completions$")


# ----------------------------------------------------------------------------- data


@dataclass
class Reply:
    """One scripted reply. `status` other than 200 sends an error body in the request's wire format."""

    text: str | None = None
    status: int = 200
    message: str | None = None  # error message (the wire's error JSON is built around it)
    body: Any = None  # an exact error body, instead of one built from `message`
    delay: float = 0.0  # seconds to wait before answering (provokes client timeouts)
    prompt_tokens: int = 10
    completion_tokens: int | None = None  # default: the number of words in `text`
    chunks: list[str] | None = None  # streaming pieces; default: word by word
    headers: dict[str, str] = field(default_factory=dict)
    wire: str | None = None  # only for this wire; None: for any

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reply:
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown reply fields: {sorted(unknown)}")
        return cls(**data)

    @property
    def output_tokens(self) -> int:
        if self.completion_tokens is not None:
            return self.completion_tokens
        return max(1, len((self.text or "").split()))

    def pieces(self) -> list[str]:
        if self.chunks is not None:
            return list(self.chunks)
        return [piece for piece in re.findall(r"\S*\s*", self.text or "") if piece]


@dataclass
class RecordedRequest:
    wire: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: Any
    stream: bool = False
    model: str | None = None
    key: str | None = None  # the API key as the vendor's SDK sent it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ----------------------------------------------------------------------------- wire formats


def _sse(data: Any, event: str | None = None) -> bytes:
    prefix = f"event: {event}\n" if event else ""
    payload = data if isinstance(data, str) else json.dumps(data)
    return f"{prefix}data: {payload}\n\n".encode()


def error_body(wire: str, status: int, message: str) -> dict[str, Any]:
    if wire == "anthropic":
        kinds = {
            400: "invalid_request_error",
            401: "authentication_error",
            403: "permission_error",
            404: "not_found_error",
            429: "rate_limit_error",
            529: "overloaded_error",
        }
        return {"type": "error", "error": {"type": kinds.get(status, "api_error"), "message": message}}
    if wire == "gemini":
        statuses = {
            400: "INVALID_ARGUMENT",
            401: "UNAUTHENTICATED",
            403: "PERMISSION_DENIED",
            404: "NOT_FOUND",
            429: "RESOURCE_EXHAUSTED",
            503: "UNAVAILABLE",
        }
        return {"error": {"code": status, "message": message, "status": statuses.get(status, "INTERNAL")}}
    codes = {401: "invalid_api_key", 429: "rate_limit_exceeded"}
    return {"error": {"message": message, "type": "fakellm_error", "param": None, "code": codes.get(status)}}


def wrong_key_error(wire: str, key: str | None) -> tuple[int, dict[str, Any]]:
    """What each vendor answers to a wrong key (Gemini: 400 with reason API_KEY_INVALID)."""
    if wire == "gemini":
        body = error_body(wire, 400, "API key not valid. Please pass a valid API key.")
        body["error"]["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
            }
        ]
        return 400, body
    return 401, error_body(wire, 401, f"Incorrect API key provided: {key}")


def openai_plain(reply: Reply, model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fakellm",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.text or ""},
                "finish_reason": "stop",
            }
        ],
        "usage": _openai_usage(reply),
    }


def _openai_usage(reply: Reply) -> dict[str, int]:
    return {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.output_tokens,
        "total_tokens": reply.prompt_tokens + reply.output_tokens,
    }


def openai_stream(reply: Reply, model: str, include_usage: bool) -> Iterator[bytes]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-fakellm",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    yield _sse(chunk({"role": "assistant", "content": ""}))
    for piece in reply.pieces():
        yield _sse(chunk({"content": piece}))
    yield _sse(chunk({}, "stop"))
    if include_usage:
        yield _sse(
            {
                "id": "chatcmpl-fakellm",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [],
                "usage": _openai_usage(reply),
            }
        )
    yield _sse("[DONE]")


def anthropic_plain(reply: Reply, model: str) -> dict[str, Any]:
    return {
        "id": "msg_fakellm",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": reply.text or ""}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": reply.prompt_tokens, "output_tokens": reply.output_tokens},
    }


def anthropic_stream(reply: Reply, model: str) -> Iterator[bytes]:
    start = anthropic_plain(reply, model)
    start.update(
        content=[], stop_reason=None, usage={"input_tokens": reply.prompt_tokens, "output_tokens": 1}
    )
    yield _sse({"type": "message_start", "message": start}, "message_start")
    yield _sse(
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        "content_block_start",
    )
    yield _sse({"type": "ping"}, "ping")
    for piece in reply.pieces():
        yield _sse(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}},
            "content_block_delta",
        )
    yield _sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
    yield _sse(
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": reply.output_tokens},
        },
        "message_delta",
    )
    yield _sse({"type": "message_stop"}, "message_stop")


def gemini_chunk(
    text: str, model: str, usage: dict[str, int] | None = None, finish: bool = False
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
    if finish:
        candidate["finishReason"] = "STOP"
    chunk: dict[str, Any] = {"candidates": [candidate], "modelVersion": model, "responseId": "fakellm"}
    if usage:
        chunk["usageMetadata"] = usage
    return chunk


def _gemini_usage(reply: Reply) -> dict[str, int]:
    return {
        "promptTokenCount": reply.prompt_tokens,
        "candidatesTokenCount": reply.output_tokens,
        "totalTokenCount": reply.prompt_tokens + reply.output_tokens,
    }


def gemini_plain(reply: Reply, model: str) -> dict[str, Any]:
    return gemini_chunk(reply.text or "", model, _gemini_usage(reply), finish=True)


def gemini_stream(reply: Reply, model: str) -> Iterator[bytes]:
    pieces = reply.pieces() or [""]
    for index, piece in enumerate(pieces):
        last = index == len(pieces) - 1
        yield _sse(gemini_chunk(piece, model, _gemini_usage(reply) if last else None, finish=last))


# ----------------------------------------------------------------------------- request parsing


def classify_request(path: str, body: Any) -> tuple[str, str | None, bool] | None:
    """(wire, model, stream) of a request path and JSON body, or None when no wire matches."""
    body = body if isinstance(body, dict) else {}
    if match := _GEMINI_PATH.match(path):
        return "gemini", match["model"], match["method"] == "streamGenerateContent"
    if match := _AZURE_PATH.match(path):
        return "azure", match["deployment"], bool(body.get("stream"))
    if path.endswith("/chat/completions"):
        return "openai", body.get("model"), bool(body.get("stream"))
    if path.endswith("/v1/messages"):
        return "anthropic", body.get("model"), bool(body.get("stream"))
    return None


def presented_key(wire: str, headers: dict[str, str], query: dict[str, str]) -> str | None:
    """The API key a request carries, where its vendor's SDK puts it (a bearer token as fallback)."""
    vendor_header = {"azure": "api-key", "anthropic": "x-api-key", "gemini": "x-goog-api-key"}.get(wire)
    if vendor_header and headers.get(vendor_header):
        return headers[vendor_header]
    if wire == "gemini" and query.get("key"):
        return query["key"]
    auth = headers.get("authorization", "")
    return auth[len("Bearer ") :] if auth.startswith("Bearer ") else None


# ----------------------------------------------------------------------------- the server


class FakeLLMServer:
    """The fake server. `start()` runs it in a daemon thread; also a context manager."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        default_text: str | None = None,
        expected_key: str | None = None,
    ):
        self.default_text = default_text
        self.expected_key = expected_key  # when set, requests carrying another key get a 401
        self.speech_audio: bytes | None = None  # the answer to OpenAI's POST .../audio/speech
        self._initial_settings = (default_text, expected_key)
        self._lock = threading.Lock()
        self._shared: deque[Reply] = deque()
        self._per_wire: dict[str, deque[Reply]] = {wire: deque() for wire in WIRES}
        self._requests: list[RecordedRequest] = []
        self._httpd = ThreadingHTTPServer((host, port), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.fake = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    # -- lifecycle

    def start(self) -> FakeLLMServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fakellm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- addresses

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def base_url_for(self, wire: str) -> str:
        """The base URL to give the vendor SDK: OpenAI's ends in /v1, the others are the root."""
        if wire not in WIRES:
            raise ValueError(f"unknown wire {wire!r}; use one of {WIRES}")
        return f"{self.url}/v1" if wire == "openai" else self.url

    # -- script

    def enqueue(self, text: str | None = None, **fields: Any) -> Reply:
        """Queue a reply: `enqueue(text="...")`, `enqueue(status=500)`, `enqueue(delay=5, text="late")`.

        Fields are those of `Reply`; `wire="gemini"` queues it for that wire only (a wire's own
        queue is used before the shared one).
        """
        return self.enqueue_reply(Reply(text=text, **fields))

    def enqueue_reply(self, reply: Reply) -> Reply:
        if reply.wire is not None and reply.wire not in WIRES:
            raise ValueError(f"unknown wire {reply.wire!r}; use one of {WIRES}")
        with self._lock:
            (self._per_wire[reply.wire] if reply.wire else self._shared).append(reply)
        return reply

    def reset(self) -> None:
        """Forget queued replies and recorded requests; restore the constructor's default text and key."""
        with self._lock:
            self._shared.clear()
            for queue in self._per_wire.values():
                queue.clear()
            self._requests.clear()
            self.default_text, self.expected_key = self._initial_settings
            self.speech_audio = None

    @property
    def pending(self) -> int:
        """How many scripted replies are still queued."""
        with self._lock:
            return len(self._shared) + sum(len(queue) for queue in self._per_wire.values())

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def last_request(self) -> RecordedRequest:
        with self._lock:
            return self._requests[-1]

    # -- used by the handler

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _next_reply(self, wire: str, path: str) -> Reply:
        with self._lock:
            for queue in (self._per_wire[wire], self._shared):
                if queue:
                    return queue.popleft()
            default = self.default_text
        if default is not None:
            return Reply(text=default)
        return Reply(status=500, message=f"fakellm: no scripted reply left for {wire} {path}")


class _Handler(BaseHTTPRequestHandler):
    server_version = "fakellm/1"

    @property
    def fake(self) -> FakeLLMServer:
        return self.server.fake  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_GET(self) -> None:
        split = urlsplit(self.path)
        if split.path == CONTROL_PREFIX + "requests":
            self._send_json(200, [request.to_dict() for request in self.fake.requests])
        else:
            self._send_json(404, {"error": {"message": f"fakellm: no route GET {split.path}"}})

    def do_POST(self) -> None:
        split = urlsplit(self.path)
        body = self._read_json()
        if split.path.startswith(CONTROL_PREFIX):
            self._control(split.path[len(CONTROL_PREFIX) :], body)
            return
        query = {name: values[-1] for name, values in parse_qs(split.query).items()}
        headers = {name.lower(): value for name, value in self.headers.items()}
        if split.path.endswith("/audio/speech"):  # OpenAI TTS: the audio the test set (speech_audio)
            headers = {name.lower(): value for name, value in self.headers.items()}
            self.fake._record(
                RecordedRequest(
                    "openai_speech",
                    "POST",
                    split.path,
                    {},
                    headers,
                    body,
                    False,
                    (body or {}).get("model"),
                    presented_key("openai", headers, {}),
                )
            )
            self._send_audio(self.fake.speech_audio)
            return
        found = classify_request(split.path, body)
        if found is None:
            self._send_json(404, {"error": {"message": f"fakellm: no route POST {split.path}"}})
            return
        wire, model, stream = found
        key = presented_key(wire, headers, query)
        self.fake._record(RecordedRequest(wire, "POST", split.path, query, headers, body, stream, model, key))
        self._answer(wire, model or "fake-model", stream, body, key)

    def _control(self, action: str, body: Any) -> None:
        if action == "reset":
            self.fake.reset()
        elif action == "replies":
            for item in body if isinstance(body, list) else [body]:
                self.fake.enqueue_reply(Reply.from_dict(item))
        else:
            self._send_json(404, {"error": {"message": f"fakellm: no control action {action!r}"}})
            return
        self._send_json(200, {"ok": True, "pending": self.fake.pending})

    def _answer(self, wire: str, model: str, stream: bool, body: Any, key: str | None) -> None:
        expected = self.fake.expected_key
        if expected is not None and key != expected:
            self._send_json(*wrong_key_error(wire, key))
            return
        reply = self.fake._next_reply(wire, self.path)
        if reply.delay:
            time.sleep(reply.delay)
        try:
            if reply.status != 200:
                message = reply.message or f"fakellm scripted error {reply.status}"
                self._send_json(
                    reply.status, reply.body or error_body(wire, reply.status, message), reply.headers
                )
            elif stream:
                self._send_stream(self._stream_events(wire, reply, model, body), reply.headers)
            else:
                self._send_json(200, self._plain_body(wire, reply, model), reply.headers)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)

    @staticmethod
    def _plain_body(wire: str, reply: Reply, model: str) -> dict[str, Any]:
        if wire == "gemini":
            return gemini_plain(reply, model)
        if wire == "anthropic":
            return anthropic_plain(reply, model)
        return openai_plain(reply, model)

    @staticmethod
    def _stream_events(wire: str, reply: Reply, model: str, body: Any) -> Iterator[bytes]:
        if wire == "gemini":
            return gemini_stream(reply, model)
        if wire == "anthropic":
            return anthropic_stream(reply, model)
        options = body.get("stream_options") if isinstance(body, dict) else None
        return openai_stream(reply, model, bool(options and options.get("include_usage")))

    def _read_json(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else None
        except json.JSONDecodeError:
            return raw.decode("utf-8", "replace")

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_audio(self, audio: bytes | None) -> None:
        if audio is None:
            self._send_json(500, error_body("openai", 500, "fakellm: no speech_audio set"))
            return
        self.send_response(200)
        self.send_header("Content-Type", "audio/mpeg")
        self.send_header("Content-Length", str(len(audio)))
        self.end_headers()
        self.wfile.write(audio)

    def _send_stream(self, events: Iterator[bytes], headers: dict[str, str]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        for event in events:
            self.wfile.write(event)
            self.wfile.flush()


# ----------------------------------------------------------------------------- pytest fixtures

try:
    import pytest
except ImportError:  # standalone use without pytest installed
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture(scope="session")
    def fake_llm_server() -> Iterator[FakeLLMServer]:
        """One fake LLM server for the whole session."""
        with FakeLLMServer() as server:
            yield server

    @pytest.fixture
    def fake_llm(fake_llm_server: FakeLLMServer) -> Iterator[FakeLLMServer]:
        """The session's fake LLM server, reset before and after the test."""
        fake_llm_server.reset()
        yield fake_llm_server
        fake_llm_server.reset()


# ----------------------------------------------------------------------------- standalone


def load_script(path: str) -> list[Reply]:
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    if not isinstance(data, list):
        raise SystemExit(f"{path}: expected a JSON list of reply objects")
    return [Reply.from_dict(item) for item in data]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Fake LLM server (OpenAI, Azure, Gemini, Anthropic wire formats)."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed on stdout)")
    parser.add_argument("--script", help="JSON file: a list of reply objects, replayed in order")
    parser.add_argument("--default-text", help="reply text once the script is used up (else HTTP 500)")
    parser.add_argument("--expected-key", help="answer 401 to requests carrying any other key")
    args = parser.parse_args(argv)
    server = FakeLLMServer(
        args.host, args.port, default_text=args.default_text, expected_key=args.expected_key
    )
    for reply in load_script(args.script) if args.script else []:
        server.enqueue_reply(reply)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(server.port, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
