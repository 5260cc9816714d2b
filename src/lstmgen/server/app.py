"""The app factory: ``create_app(model)`` returns a FastAPI app serving one ``LanguageModel``.

    GET  /                  the playground (static HTML/CSS/JS, works offline)
    GET  /health            liveness and the generation workers' counters
    GET  /info              the model's description (as ``lstmgen info --json``) and the server's limits
    GET  /v1/models         OpenAI's model list: the one model served
    POST /v1/completions    OpenAI's completions, streamed as server-sent events with ``stream: true``

Every error is an OpenAI-style body ``{"error": {"message", "type", "param", "code"}}``: validation
failures are 400s naming the field, an unknown model 404, a too-large body 413, a full server 429.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import time
import uuid
from contextlib import asynccontextmanager
from functools import partial
from importlib import resources
from typing import Any, AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from .. import __version__
from ..config import ConfigError, GenerationConfig
from ..language_model import LanguageModel
from ..tokenizers import TokenizerError
from .limits import ServerLimits
from .schemas import APIError, CompletionRequest, validation_error
from .workers import Busy, GenerationJob, GenerationPool

logger = logging.getLogger("lstmgen.server")

STATIC_DIR = resources.files("lstmgen.server") / "static"
CONFIG_FIELDS = {field.name for field in dataclasses.fields(GenerationConfig)}
# Request fields passed straight to GenerationConfig when set (n, max_tokens and stop are mapped apart).
SAMPLING_FIELDS = ("temperature", "top_p", "top_k", "min_p", "repetition_penalty", "no_repeat_ngram_size", "num_beams",
                   "length_penalty", "seed")
REQUEST_NAMES = {"num_samples": "n"}  # GenerationConfig field -> request field, where they differ
DISCONNECT_POLL_SECONDS = 0.5


def model_id(model: LanguageModel) -> str:
    """The name clients use for the model: the run directory's name (``runs/demo/best`` -> ``demo``)."""
    if model.path is None:
        return "lstmgen"
    path = model.path
    return (path.parent.name if path.name in ("best", "last") else path.name) or "lstmgen"


class Completion:
    """What one request asked for, checked and tokenized, and the text of its choices as it arrives."""

    def __init__(self, request: CompletionRequest, model: LanguageModel, limits: ServerLimits) -> None:
        self.request = request
        self.model = model
        self.prompts = request.prompts
        self.n = request.n or 1
        self.config = self._config(limits)  # checks the counts first, before tokenizing anything
        self.prompt_tokens = sum(self._check_prompt(prompt, limits) for prompt in self.prompts)
        self.texts = [""] * (len(self.prompts) * self.n)  # choice index = prompt index * n + sample

    def _check_prompt(self, prompt: str, limits: ServerLimits) -> int:
        try:
            ids = self.model.tokenizer.encode(prompt, unknown=self.request.unknown)
        except TokenizerError as error:
            symbols = self.model.tokenizer.unknown_symbols(prompt)
            if not symbols:
                raise APIError(400, f"prompt: {error}", "prompt") from None
            listed = ", ".join(f"{symbol!r} (x{count})" for symbol, count in symbols.most_common(20))
            raise APIError(400, f"prompt holds symbols the model's vocabulary lacks: {listed}. Remove them, or set "
                           "\"unknown\" to \"skip\" (drop them) or \"replace\" (use the unknown symbol)", "prompt") from None
        if prompt and len(ids) == 0:
            raise APIError(400, "prompt holds no symbol the model knows once unknown ones are skipped", "prompt")
        if len(ids) > limits.max_prompt_tokens:
            raise APIError(400, f"prompt is {len(ids)} tokens long, more than this server's limit of {limits.max_prompt_tokens}",
                           "prompt", code="context_length_exceeded")
        return len(ids)

    def _config(self, limits: ServerLimits) -> GenerationConfig:
        request = self.request
        max_tokens = limits.default_max_tokens if request.max_tokens is None else request.max_tokens
        if max_tokens > limits.max_tokens:
            raise APIError(400, f"max_tokens is {max_tokens}, more than this server's limit of {limits.max_tokens}", "max_tokens")
        if self.n > limits.max_n:
            raise APIError(400, f"n is {self.n}, more than this server's limit of {limits.max_n}", "n")
        if not self.prompts or len(self.prompts) > limits.max_prompts:
            raise APIError(400, f"prompt must be a string or a list of 1 to {limits.max_prompts} strings", "prompt")
        if len(self.prompts) * self.n > limits.max_choices:
            raise APIError(400, f"{len(self.prompts)} prompts x n={self.n} is more than this server's limit of "
                           f"{limits.max_choices} choices per request", "n")
        if (request.num_beams or 1) > limits.max_n:
            raise APIError(400, f"num_beams is {request.num_beams}, more than this server's limit of {limits.max_n}", "num_beams")
        if len(request.stops) > limits.max_stop:
            raise APIError(400, f"stop holds {len(request.stops)} strings; at most {limits.max_stop} are allowed", "stop")
        values: dict[str, Any] = {"max_tokens": max_tokens, "num_samples": self.n, "stop": tuple(request.stops)}
        for name in SAMPLING_FIELDS:
            value = getattr(request, name)
            if value is None:
                continue
            if name not in CONFIG_FIELDS:
                raise APIError(400, f"{name} is not supported by this version of lstmgen ({__version__})", name)
            values[name] = value
        try:
            return GenerationConfig(**values)
        except ConfigError as error:  # its message names the field first (or explains beam search's rules)
            message = str(error)
            named = [word for word in re.findall(r"[a-z_]+", message) if word in CONFIG_FIELDS]
            param = REQUEST_NAMES.get(named[0], named[0]) if named else None
            raise APIError(400, message, param) from None

    def runs(self) -> list:
        """One generation per prompt; each yields, per step, the new text of its n samples."""
        return [partial(self.model.stream_batch, prompt, self.config, unknown=self.request.unknown) for prompt in self.prompts]

    def add(self, steps: list[tuple[int, list[str]]]) -> dict[int, str]:
        """Record new text; return it by choice index (choices with nothing new left out)."""
        new: dict[int, str] = {}
        for prompt_index, pieces in steps:
            for sample, piece in enumerate(pieces):
                if piece:
                    index = prompt_index * self.n + sample
                    self.texts[index] += piece
                    new[index] = new.get(index, "") + piece
        return new

    def completion_tokens(self, index: int) -> int:
        return len(self.model.tokenizer.encode(self.texts[index], unknown="replace"))

    def finish_reason(self, index: int) -> str:
        # A choice cut by a stop string holds fewer tokens than the budget; one that used it all ran out.
        if self.config.stop and self.completion_tokens(index) < self.config.max_tokens:
            return "stop"
        return "length"

    def usage(self) -> dict[str, int]:
        completion = sum(self.completion_tokens(index) for index in range(len(self.texts)))
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": completion, "total_tokens": self.prompt_tokens + completion}

    def echoed(self, index: int) -> str:
        return self.prompts[index // self.n] if self.request.echo else ""


class GenerationStream(StreamingResponse):
    """A server-sent-event stream whose generation is cancelled however the response ends."""

    def __init__(self, content: AsyncIterator[str], job: GenerationJob) -> None:
        super().__init__(content, media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self.job = job

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.job.cancel()  # the client went away (or the stream ended): stop generating


def _event(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


async def _read_json(request: Request, limit: int) -> Any:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
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
        return json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise APIError(400, f"the request body is not valid JSON: {error}") from None


def create_app(model: LanguageModel, limits: ServerLimits | None = None, model_name: str | None = None) -> FastAPI:
    """A FastAPI app serving ``model``: the OpenAI-style completions API and the playground."""
    limits = limits or ServerLimits()
    name = model_name or model_id(model)
    created = int(time.time())
    pool = GenerationPool(limits.workers, limits.queue_size)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        pool.shutdown()

    # No /docs or /redoc: FastAPI's pages load their scripts from a CDN, and this server must work offline.
    app = FastAPI(title="lstmgen", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="OpenAI-compatible completions from an lstmgen recurrent language model")
    app.state.model = model
    app.state.model_name = name
    app.state.pool = pool
    app.state.limits = limits

    # ----- errors: always OpenAI's shape ---------------------------------------------------------
    @app.exception_handler(APIError)
    async def _api_error(request: Request, error: APIError) -> JSONResponse:
        return JSONResponse(error.body(), status_code=error.status, headers=error.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        kind = "not_found_error" if error.status_code == 404 else "invalid_request_error"
        body = APIError(error.status_code, f"{request.method} {request.url.path}: {error.detail}", type=kind).body()
        return JSONResponse(body, status_code=error.status_code, headers=getattr(error, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _request_error(request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse(APIError(400, f"invalid request: {error.errors()[0].get('msg')}").body(), status_code=400)

    @app.exception_handler(Exception)
    async def _server_error(request: Request, error: Exception) -> JSONResponse:
        logger.exception("unexpected error answering %s %s", request.method, request.url.path)
        return JSONResponse(APIError(500, f"internal server error: {type(error).__name__}", type="server_error").body(), status_code=500)

    # ----- pages and descriptions ------------------------------------------------------------------
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")

    @app.get("/", include_in_schema=False)
    async def playground() -> FileResponse:
        return FileResponse(str(STATIC_DIR / "index.html"), media_type="text/html")

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "model": name, "generations": pool.stats()}

    @app.get("/info")
    async def info() -> dict[str, Any]:
        return {"id": name, "lstmgen_version": __version__, "model": model.info(), "limits": limits.to_dict(),
                "extensions": sorted(set(SAMPLING_FIELDS) & CONFIG_FIELDS - {"temperature", "top_p", "seed"})}

    def model_card() -> dict[str, Any]:
        return {"id": name, "object": "model", "created": created, "owned_by": "lstmgen"}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [model_card()]}

    @app.get("/v1/models/{requested:path}")
    async def one_model(requested: str) -> dict[str, Any]:
        if requested != name:
            raise APIError(404, f"The model '{requested}' does not exist; this server serves '{name}'", "model", code="model_not_found")
        return model_card()

    # ----- completions ---------------------------------------------------------------------------
    @app.post("/v1/completions")
    async def completions(request: Request) -> Response:
        payload = await _read_json(request, limits.max_body_bytes)
        try:
            body = CompletionRequest.model_validate(payload)
        except ValidationError as error:
            raise validation_error(error) from None
        body.check_unsupported()
        if body.model is not None and body.model != name:
            raise APIError(404, f"The model '{body.model}' does not exist; this server serves '{name}'", "model", code="model_not_found")
        completion = Completion(body, model, limits)
        try:
            job = pool.submit(completion.runs())
        except Busy as error:
            raise APIError(429, f"the server is busy: {error}; retry shortly", type="server_busy", code="server_busy",
                           headers={"Retry-After": "1"}) from None
        header = {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion", "created": int(time.time()), "model": name}
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            return GenerationStream(_stream(completion, job, header, include_usage), job)
        return await _collect(request, completion, job, header)

    return app


async def _collect(request: Request, completion: Completion, job: GenerationJob, header: dict[str, Any]) -> Response:
    """Wait for the whole completion, giving up (and stopping the generation) if the client leaves."""
    last_check = time.monotonic()
    try:
        async for steps in job.batches():
            completion.add(steps)
            if time.monotonic() - last_check > DISCONNECT_POLL_SECONDS:
                last_check = time.monotonic()
                if await request.is_disconnected():
                    job.cancel()
                    return Response(status_code=499)  # nobody reads it: the client has gone
    finally:
        job.cancel()
    choices = [{"text": completion.echoed(index) + text, "index": index, "logprobs": None, "finish_reason": completion.finish_reason(index)}
               for index, text in enumerate(completion.texts)]
    return JSONResponse({**header, "choices": choices, "usage": completion.usage()})


async def _stream(completion: Completion, job: GenerationJob, header: dict[str, Any], include_usage: bool) -> AsyncIterator[str]:
    """Server-sent events shaped like OpenAI's: text chunks, a chunk of finish reasons, usage, [DONE]."""
    extra = {"usage": None} if include_usage else {}
    choice_count = len(completion.texts)
    try:
        if completion.request.echo:
            choices = [{"text": completion.echoed(index), "index": index, "logprobs": None, "finish_reason": None} for index in range(choice_count)]
            yield _event({**header, "choices": choices, **extra})
        async for steps in job.batches():
            new = completion.add(steps)
            if new:
                choices = [{"text": text, "index": index, "logprobs": None, "finish_reason": None} for index, text in sorted(new.items())]
                yield _event({**header, "choices": choices, **extra})
        choices = [{"text": "", "index": index, "logprobs": None, "finish_reason": completion.finish_reason(index)} for index in range(choice_count)]
        yield _event({**header, "choices": choices, **extra})
        if include_usage:
            yield _event({**header, "choices": [], "usage": completion.usage()})
    except Exception as error:  # the response has started: report the error in the stream itself
        logger.exception("generation failed while streaming")
        yield _event(APIError(500, f"generation failed: {type(error).__name__}: {error}", type="server_error").body())
    finally:
        job.cancel()
    yield "data: [DONE]\n\n"
