"""Pure-ASGI middleware: request ids, bounded bodies, and request metrics (cheap on the hot path)."""

from __future__ import annotations

import re
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException

from api.errors import PROBLEM_JSON, problem_bytes
from api.metrics import ServiceMetrics

_RID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class ServiceMiddleware:
    """Give every request an id (the caller's `X-Request-ID` if sane), refuse bodies over `max_body`
    bytes with 413 problem+json, and record count and latency per route template."""

    def __init__(self, app, *, max_body: int, metrics: ServiceMetrics | None = None):
        self.app = app
        self.max_body = max_body
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        rid = None
        length = None
        for k, v in scope.get("headers", ()):
            if k == b"x-request-id":
                text = v.decode("latin-1")
                rid = text if _RID.match(text) else None
            elif k == b"content-length":
                try:
                    length = int(v)
                except ValueError:
                    length = -1
        rid = rid or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        status = [500]

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                MutableHeaders(scope=message).append("x-request-id", rid)
            await send(message)

        try:
            if length is not None and (length > self.max_body or length < 0):
                code = 413 if length > self.max_body else 400
                detail = (
                    f"request body is {length} bytes; the limit is {self.max_body}"
                    if code == 413
                    else "invalid Content-Length header"
                )
                body = problem_bytes(
                    code, detail, path=scope.get("path", ""), request_id=rid, kind="too-large" if code == 413 else None
                )
                await send_wrapper(
                    {
                        "type": "http.response.start",
                        "status": code,
                        "headers": [
                            (b"content-type", PROBLEM_JSON.encode()),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send_wrapper({"type": "http.response.body", "body": body})
                return
            received = 0
            limit = self.max_body

            async def receive_wrapper():
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > limit:  # chunked bodies have no Content-Length: count as they come
                        raise HTTPException(413, f"request body exceeds the limit of {limit} bytes")
                return message

            await self.app(scope, receive_wrapper, send_wrapper)
        finally:
            if self.metrics is not None:
                route = scope.get("route")
                template = getattr(route, "path", None) or "unmatched"
                self.metrics.observe(scope.get("method", ""), template, status[0], time.perf_counter() - start)
