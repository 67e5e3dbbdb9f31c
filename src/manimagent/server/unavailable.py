"""A home that cannot be used (a file, unwritable, no room for the secret): every request gets
the JSON 503 with the fix, instead of a server that does not start or fails one way per route."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send


class UnavailableHomeMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = scope.get("app")
        app_state = app.state if app is not None else None
        fault = getattr(app_state, "unavailable", None) if scope["type"] == "http" else None
        if fault is None:
            return await self.app(scope, receive, send)
        body = json.dumps({"error": fault.message.rstrip(".") + ".", "hint": fault.hint}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", b"60"),
        ]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})
