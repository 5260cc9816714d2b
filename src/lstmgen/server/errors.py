"""Every error as OpenAI's body, and no error that drops the connection.

Starlette hands an ``Exception`` handler to its outermost middleware, which sends the 500 and then
re-raises; uvicorn, seeing an exception after the response started, closes the connection, so the
client's next request on that keep-alive connection fails (or the 500 itself is lost to a reset).
``ServerErrorGuard`` sits inside that middleware instead: it answers an unexpected exception with a 500
in OpenAI's shape and does not re-raise, so the connection stays usable. Only when the response had
already started (a stream half sent) is there no honest answer left; then it re-raises and uvicorn
closes the connection, which tells the client the response is incomplete.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .schemas import APIError

logger = logging.getLogger("lstmgen.server")


def json_bytes(content: Any) -> bytes:
    """Compact UTF-8 JSON; refuses NaN and infinities, which JSON cannot carry.

    A lone surrogate (legal in a JSON string, not in UTF-8) is written as its ``\\udXXX`` escape, so text
    that slipped through can never make the encoding fail.
    """
    text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.encode("utf-8", errors="backslashreplace")


class APIResponse(JSONResponse):
    """The server's JSON responses, rendered by ``json_bytes``."""

    def render(self, content: Any) -> bytes:
        return json_bytes(content)


def error_response(error: APIError) -> APIResponse:
    return APIResponse(error.body(), status_code=error.status, headers=error.headers)


def install_error_handlers(app: FastAPI) -> None:
    """Answer the errors FastAPI and Starlette raise, and ours, in OpenAI's shape."""

    @app.exception_handler(APIError)
    async def _api_error(request: Request, error: APIError) -> APIResponse:
        return error_response(error)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, error: StarletteHTTPException) -> APIResponse:
        kind = "not_found_error" if error.status_code == 404 else "invalid_request_error"
        message = f"{request.method} {request.url.path}: {error.detail}"
        return error_response(APIError(error.status_code, message, type=kind, headers=getattr(error, "headers", None)))

    @app.exception_handler(RequestValidationError)
    async def _request_error(request: Request, error: RequestValidationError) -> APIResponse:
        return error_response(APIError(400, f"invalid request: {error.errors()[0].get('msg')}"))


class ServerErrorGuard:
    """ASGI middleware: an unexpected exception becomes a 500 in OpenAI's shape, on a connection kept alive."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked_send)
        except Exception as error:
            logger.exception("unexpected error answering %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise  # half a response is out: only closing the connection can say it is incomplete
            body = APIError(500, f"internal server error: {type(error).__name__}", type="server_error").body()
            await APIResponse(body, status_code=500)(scope, receive, send)
