"""The request body of ``POST /v1/completions``, validated strictly, and OpenAI-style error bodies.

Types are strict (``"5"`` is not a number, ``1`` is not a boolean) and unknown fields are refused, so a
misspelt parameter is an error rather than silently ignored. OpenAI parameters this server cannot honour
are accepted only at their no-op values (``suffix: null``) and refused otherwise, naming the field.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from ..config import GenerationConfig, field_types

MAX_LOGPROBS = 5


class APIError(Exception):
    """An error answered with an OpenAI-style body: {"error": {"message", "type", "param", "code"}}."""

    def __init__(self, status: int, message: str, param: str | None = None, type: str = "invalid_request_error",
                 code: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.type = type
        self.code = code
        self.headers = headers

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class StreamOptions(_Strict):
    include_usage: bool = False


def _generation_fields() -> dict[str, Any]:
    """One request field per GenerationConfig field, typed and bounded from its metadata; unset = the library's default.

    The request name is the field's ``request`` metadata when it has one (``num_samples`` is OpenAI's ``n``).
    ``max_tokens`` stays optional: unset, the server's limits give OpenAI's default (16).
    """
    types = field_types(GenerationConfig)
    fields: dict[str, Any] = {}
    for item in dataclasses.fields(GenerationConfig):
        base, _ = types[item.name]
        annotation: Any = {int: int, float: float, bool: bool, str: str}.get(base)
        bounds = item.metadata.get("bounds") or {}
        if base is tuple:
            annotation = str | list[str]  # stop: one string or a list of them
        elif base is dict:  # logit_bias: JSON keys are strings ("65"), GenerationConfig checks they are ids
            annotation, bounds = dict[str, Annotated[float, Field(**bounds)]], {}
        name = item.metadata.get("request") or item.name
        fields[name] = (annotation | None, Field(None, description=item.metadata.get("help"), **bounds))
    return fields


# Request field -> GenerationConfig field, where they differ.
CONFIG_NAMES = {(f.metadata.get("request") or f.name): f.name for f in dataclasses.fields(GenerationConfig)}
REQUEST_NAMES = {config: request for request, config in CONFIG_NAMES.items()}


class _CompletionBase(_Strict):
    """OpenAI's completions parameters that are not generation settings."""

    model: str | None = None
    # "" starts from a line break; token ids (one prompt, or several) are checked against the vocabulary
    prompt: str | list[str] | list[int] | list[list[int]] = ""
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    echo: bool | None = False
    logprobs: int | None = Field(None, ge=0, le=MAX_LOGPROBS)  # OpenAI's limit: the 5 likeliest tokens
    user: str | None = None  # accepted and ignored, as a courtesy to clients that always send it
    best_of: int | None = Field(None, ge=1)  # candidates per prompt; the n with the highest mean log-probability are returned
    # OpenAI parameters accepted only at the values that change nothing here.
    suffix: str | None = None
    unknown: Literal["error", "skip", "replace"] = "error"  # lstmgen: prompt symbols the vocabulary lacks
    # lstmgen: a document the weights adapt to (dynamic evaluation's updates) before generating, on a worker (server/adaptation.py)
    adapt_to: str | None = None

    def check_unsupported(self) -> None:
        """Refuse OpenAI parameters at values this server cannot honour."""
        if self.logprobs is not None and (self.num_beams or 1) > 1:
            raise APIError(400, "logprobs is not available with beam search (num_beams > 1)", "logprobs")
        if self.best_of is not None:
            if self.best_of < (self.n or 1):
                raise APIError(400, f"best_of must be at least n ({self.n or 1}), got {self.best_of}", "best_of")
            if self.best_of > (self.n or 1) and self.stream:
                raise APIError(400, "best_of cannot be used with stream: the best candidates are known only at the end", "best_of")
            if self.best_of > (self.n or 1) and (self.num_beams or 1) > 1:
                raise APIError(400, "best_of does not apply to beam search, which already returns the most probable "
                               "continuations; leave best_of unset", "best_of")
        if self.suffix:
            raise APIError(400, "suffix (insertion) is not supported by a left-to-right language model", "suffix")

    @property
    def prompts(self) -> list[str | list[int]]:
        """Each prompt: a string, or a list of token ids."""
        if isinstance(self.prompt, str) or (self.prompt and isinstance(self.prompt[0], int)):
            return [self.prompt]
        return list(self.prompt)

    @property
    def stops(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)


CompletionRequest = create_model("CompletionRequest", __base__=_CompletionBase, **_generation_fields())
CompletionRequest.__doc__ = ("OpenAI's completions parameters; the generation settings (temperature, top_p, n, stop, "
                             "seed, and lstmgen's top_k, min_p, repetition_penalty, ...) are GenerationConfig's fields.")


def unknown_model(requested: str, served: str) -> APIError:
    """OpenAI's 404 for a model this server does not serve."""
    return APIError(404, f"The model '{requested}' does not exist; this server serves '{served}'", "model", code="model_not_found")


def parse_request(schema: type[BaseModel], payload: Any, served: str) -> Any:
    """``payload`` checked as ``schema`` (a completion or chat request): a 400 naming the first bad field, its
    ``check_unsupported``, and a 404 when it names another model than ``served``."""
    try:
        request = schema.model_validate(payload)
    except ValidationError as error:
        raise validation_error(error) from None
    request.check_unsupported()
    if request.model is not None and request.model != served:
        raise unknown_model(request.model, served)
    return request


def validation_error(error: ValidationError) -> APIError:
    """The first problem pydantic found, as a 400 naming the field (OpenAI's wording for unknown ones)."""
    first = error.errors(include_url=False)[0]
    location = [str(part) for part in first["loc"]]
    if not location:
        return APIError(400, f"the request body must be a JSON object with the completion parameters: {first['msg']}")
    param = location[0]
    if first["type"] == "extra_forbidden":
        return APIError(400, f"Unrecognized request argument supplied: {'.'.join(location)}", param)
    # Unions put the member tried in the location (prompt.str, prompt.list[str].0); show only real paths.
    path = ".".join(part for part in location if not any(c in part for c in "[]") and part not in ("str", "int", "float", "bool"))
    received = repr(first.get("input"))
    if len(received) > 80:
        received = received[:77] + "..."
    return APIError(400, f"invalid value for {path or param}: {first['msg']} (got {received})", param)
