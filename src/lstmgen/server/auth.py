"""An optional API key: ``Authorization: Bearer KEY`` on the API (``/v1/*``) and ``/info``.

The health check stays open (monitors have no key) and so do the playground's page and its static files
(it asks for the key itself and sends it with its requests). A request without the right key gets a 401
in OpenAI's shape, as the openai client expects (it raises ``AuthenticationError``). The key is compared
in constant time and never written to a log or an error message.
"""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import error_response
from .schemas import APIError

PROTECTED = ("/v1", "/info")  # and everything under them; the rest (/, /static/..., /health, /openapi.json) is open


def is_protected(path: str) -> bool:
    return path in PROTECTED or path.startswith(tuple(prefix + "/" for prefix in PROTECTED))


def bearer_token(header: bytes | None) -> bytes | None:
    """The token of an ``Authorization: Bearer TOKEN`` header (the scheme's case does not matter)."""
    if header is None:
        return None
    scheme, _, token = header.strip().partition(b" ")
    if scheme.lower() != b"bearer" or not token.strip():
        return None
    return token.strip()


class APIKeyGuard:
    """ASGI middleware: answer 401 to requests for protected paths that lack ``Authorization: Bearer <key>``."""

    def __init__(self, app: ASGIApp, api_key: str) -> None:
        if not api_key:
            raise ValueError("an API key must not be empty")
        self.app = app
        self.key = api_key.encode("utf-8")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_protected(scope["path"]):
            header = next((value for name, value in scope["headers"] if name == b"authorization"), None)
            token = bearer_token(header)
            if token is None:
                await _unauthorized("this server needs an API key: send it in an Authorization header as "
                                    "\"Authorization: Bearer YOUR_KEY\" (the openai client's api_key does this)")(scope, receive, send)
                return
            if not hmac.compare_digest(token, self.key):
                await _unauthorized("incorrect API key provided")(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _unauthorized(message: str):
    return error_response(APIError(401, message, code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"}))
