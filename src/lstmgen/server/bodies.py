"""Reading a request body: within the size limit, as strict JSON, holding only text that is text.

JSON may spell a lone UTF-16 surrogate (``"\\ud800"``): Python decodes it into a ``str`` that no UTF-8 or
UTF-32 codec will encode, so it would fail deep in a tokenizer or in the response. The body is refused
at once instead, with a 400 naming the field that holds it.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from starlette.requests import ClientDisconnect

from .schemas import APIError


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


async def read_json(request: Request, limit: int) -> Any:
    """The body parsed as JSON: 413 past ``limit`` bytes (declared or read), 400 when it is not JSON or not text."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        # Refused before reading a byte; uvicorn reads and discards the rest, so the connection stays usable.
        raise APIError(413, f"the request body is {int(declared)} bytes; this server accepts at most {limit}", code="request_too_large")
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise APIError(413, f"the request body is over this server's limit of {limit} bytes", code="request_too_large")
    except ClientDisconnect:
        raise APIError(400, "the client disconnected while sending the request") from None
    if not body.strip():
        raise APIError(400, "the request body is empty; send a JSON object such as {\"prompt\": \"The\", \"max_tokens\": 50}")
    try:
        payload = json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise APIError(400, f"the request body is not valid JSON: {error}") from None
    _check_text(payload)
    return payload


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # only lone surrogates fail
        return False
    return True


def _check_text(payload: Any) -> None:
    """Refuse a lone surrogate anywhere in the payload, naming the top-level field that holds it."""
    if not isinstance(payload, dict):
        return  # not an object: the schema refuses it, naming no field
    for key, value in payload.items():
        if not _encodable(key):
            raise APIError(400, f"a field name holds a lone UTF-16 surrogate ({ascii(key)}), which is not text")
        if _holds_surrogate(value):
            raise APIError(400, f"{key} holds a lone UTF-16 surrogate (such as \"\\ud800\"), which is not text; "
                           "send whole characters (a surrogate pair, or the character itself)", key)


def _holds_surrogate(value: Any) -> bool:
    # An explicit stack: the payload may nest thousands deep (json.loads allows it), deeper than recursion may go.
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if not _encodable(item):
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False
