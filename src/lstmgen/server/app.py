"""The app factory: ``create_app(model)`` returns a FastAPI app serving one ``LanguageModel``.

    GET  /                  the playground (static HTML/CSS/JS, works offline)
    GET  /health            liveness, the batching engine's counters (live streams, steps/s, waiting) and the workers'
    GET  /info              the model's description (as ``lstmgen info --json``) and the server's limits
    GET  /v1/models         OpenAI's model list: the one model served
    POST /v1/completions    OpenAI's completions, streamed as server-sent events with ``stream: true``
    POST /v1/chat/completions  OpenAI's chat completions, for a model trained with a chat template (chat.py)
    POST /v1/render         a music model's text as MIDI, WAV or a piano-roll PNG (server/render.py)

Every GET route answers HEAD too (monitors use it). Every error is an OpenAI-style body ``{"error":
{"message", "type", "param", "code"}}``: validation failures are 400s naming the field, a missing or
wrong API key 401 (when the app has one), an unknown model 404, a too-large body 413, a full server 429,
and a bug 500, on a connection that stays usable (``errors.ServerErrorGuard``).

A completion or chat request may carry ``adapt_to`` (an lstmgen extension): a document the weights read with
dynamic evaluation's updates before generating, on a worker (``adaptation.py``); its response has an
``adaptation`` field naming the protocol.
"""

from __future__ import annotations

import logging
import mimetypes
import time
import uuid
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any, AsyncIterator, Callable

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles

from ..language_model import LanguageModel
from ..system.run_directory import is_checkpoint_name
from ..version import __version__
from .adaptation import AdaptedModels
from .auth import APIKeyGuard
from .bodies import read_json
from .chat import ChatCompletion
from .completions import Completion
from .errors import APIResponse, ServerErrorGuard, install_error_handlers, json_bytes
from .limits import ServerLimits
from .render import add_render_route
from .scheduler import EngineThread
from .schemas import CONFIG_NAMES, APIError, CompletionRequest, parse_request, unknown_model
from .workers import Busy, GenerationJob, GenerationPool

logger = logging.getLogger("lstmgen.server")

STATIC_DIR = resources.files("lstmgen.server") / "static"
# The playground's scripts are JavaScript modules, which browsers run only when served as JavaScript; on
# Windows, Python's type table comes from the registry and may say text/plain for .js.
mimetypes.add_type("text/javascript", ".js")
OPENAI_SETTINGS = {"max_tokens", "temperature", "top_p", "n", "stop", "seed", "presence_penalty", "frequency_penalty",
                   "logit_bias"}  # the rest of GenerationConfig: extensions
DISCONNECT_POLL_SECONDS = 0.5
READ_METHODS = ["GET", "HEAD"]  # HEAD: the GET answer without its body (monitors use it)


def model_id(model: LanguageModel) -> str:
    """The name clients use for the model: the run directory's name (``runs/demo/best`` -> ``demo``)."""
    if model.path is None:
        return "lstmgen"
    path = model.path
    return (path.parent.name if is_checkpoint_name(path.name) else path.name) or "lstmgen"


class GenerationStream(StreamingResponse):
    """A server-sent-event stream whose generation is cancelled however the response ends."""

    def __init__(self, content: AsyncIterator[bytes], job: GenerationJob) -> None:
        super().__init__(content, media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self.job = job

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.job.cancel()  # the client went away (or the stream ended): stop generating


def _event(data: dict[str, Any]) -> bytes:
    return b"data: " + json_bytes(data) + b"\n\n"


def create_app(model: LanguageModel, limits: ServerLimits | None = None, model_name: str | None = None,
               api_key: str | None = None, threads: int = 0) -> FastAPI:
    """A FastAPI app serving ``model``: the OpenAI-style completions API and the playground.

    With ``api_key``, the API (``/v1/*``) and ``/info`` need ``Authorization: Bearer <api_key>``. ``threads`` fixes the
    batching engine's torch threads (0: one for a few streams, every core for a batch).
    """
    limits = limits or ServerLimits()
    name = model_name or model_id(model)
    created = int(time.time())
    pool = GenerationPool(limits.workers, limits.queue_size)  # beam search, scored echoes; everything without batching
    # Every sampled request is stepped in one batch by the engine's thread (max_streams 0: each on a worker instead).
    engine = EngineThread(model, limits.max_streams, limits.prefill_tokens, limits.queue_size, threads) if limits.max_streams else None
    adapted_models = AdaptedModels(model)  # adapt_to requests: their own weights, on a worker; the last two documents kept

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        pool.shutdown()
        if engine is not None:
            engine.shutdown()

    # No /docs or /redoc: FastAPI's pages load their scripts from a CDN, and this server must work offline.
    app = FastAPI(title="lstmgen", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  default_response_class=APIResponse,
                  description="OpenAI-compatible completions from an lstmgen recurrent language model")
    app.state.model = model
    app.state.model_name = name
    app.state.pool = pool
    app.state.engine = engine
    app.state.limits = limits

    # ----- errors: always OpenAI's shape; the key, when there is one ------------------------------
    install_error_handlers(app)
    if api_key is not None:
        app.add_middleware(APIKeyGuard, api_key=api_key)
    app.add_middleware(ServerErrorGuard)  # added last: outermost, so it also catches the key check's errors

    # ----- pages and descriptions ------------------------------------------------------------------
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")

    @app.api_route("/", methods=READ_METHODS, include_in_schema=False)
    async def playground() -> FileResponse:
        return FileResponse(str(STATIC_DIR / "index.html"), media_type="text/html")

    @app.api_route("/health", methods=READ_METHODS)
    async def health() -> dict[str, Any]:
        generations = pool.stats()
        if engine is None:
            return {"status": "ok", "model": name, "generations": generations}
        for counter, value in engine.request_counts().items():  # requests, wherever they ran
            generations[counter] += value
        return {"status": "ok", "model": name, "generations": generations, "engine": engine.stats()}

    @app.api_route("/info", methods=READ_METHODS)
    async def info() -> dict[str, Any]:
        return {"id": name, "lstmgen_version": __version__, "model": model.info(), "limits": limits.to_dict(),
                "extensions": sorted(set(CONFIG_NAMES) - OPENAI_SETTINGS)}

    def model_card() -> dict[str, Any]:
        return {"id": name, "object": "model", "created": created, "owned_by": "lstmgen"}

    @app.api_route("/v1/models", methods=READ_METHODS)
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [model_card()]}

    @app.api_route("/v1/models/{requested:path}", methods=READ_METHODS)
    async def one_model(requested: str) -> dict[str, Any]:
        if requested != name:
            raise unknown_model(requested, name)
        return model_card()

    # ----- completions ---------------------------------------------------------------------------
    @app.post("/v1/completions")
    async def completions(request: Request) -> Response:
        payload = await read_json(request, limits.max_body_bytes)
        body = parse_request(CompletionRequest, payload, name)
        completion = Completion(body, model, limits)
        job = admit(completion)
        header = {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion", "created": int(time.time()), "model": name}
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            return GenerationStream(_stream(completion, job, header, include_usage), job)
        return await _collect(request, completion, job, header)

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        chat = ChatCompletion(await read_json(request, limits.max_body_bytes), model, limits, name)
        job = admit(chat.completion)
        header = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": name}
        if chat.stream:
            return GenerationStream(chat.events(job.batches(), header), job)
        return await _collect(request, chat.completion, job, header, chat.response)

    def admit(completion: Completion) -> GenerationJob:
        """Sampled requests join the engine's batch; beam search, scored echoes and adapt_to run on a worker."""
        try:
            if engine is not None and completion.batched:
                return engine.submit(completion.groups(), completion.echoes())
            return pool.submit(completion.runs(adapted_models.adapted))
        except Busy as error:
            raise APIError(429, f"the server is busy: {error}; retry shortly", type="server_busy", code="server_busy",
                           headers={"Retry-After": "1"}) from None

    add_render_route(app, model, limits.max_body_bytes)
    return app


async def _collect(request: Request, completion: Completion, job: GenerationJob, header: dict[str, Any],
                   respond: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> Response:
    """Wait for the whole completion, giving up (and stopping the generation) if the client leaves; ``respond``
    shapes the answer from the header (default: OpenAI's text_completion)."""
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
    header = _with_adaptation(header, completion)
    if respond is not None:
        return APIResponse(respond(header))
    choices = [{"text": choice.text, "index": index, "logprobs": completion.logprobs_of(index, final=True),
                "finish_reason": completion.finish_reason(index)} for index, choice in enumerate(completion.choices)]
    return APIResponse({**header, "choices": choices, "usage": completion.usage()})


async def _stream(completion: Completion, job: GenerationJob, header: dict[str, Any], include_usage: bool) -> AsyncIterator[bytes]:
    """Server-sent events shaped like OpenAI's: text chunks, a chunk of finish reasons, usage, [DONE]."""
    extra = {"usage": None} if include_usage else {}
    choice_count = len(completion.choices)
    try:
        async for steps in job.batches():  # an echoed prompt arrives as the first record of its generation
            new = completion.add(steps)
            header = _with_adaptation(header, completion)  # adapt_to: every chunk from the first text on names the protocol
            if new:
                choices = [{"text": text, "index": index, "logprobs": completion.logprobs_of(index, final=False), "finish_reason": None}
                           for index, text in sorted(new.items())]
                yield _event({**header, "choices": choices, **extra})
        choices = [{"text": "", "index": index, "logprobs": completion.logprobs_of(index, final=True),
                    "finish_reason": completion.finish_reason(index)} for index in range(choice_count)]
        yield _event({**header, "choices": choices, **extra})
        if include_usage:
            yield _event({**header, "choices": [], "usage": completion.usage()})
    except APIError as error:  # found on the worker (an adapt_to text of one token): the request's fault, in the stream
        yield _event(error.body())
    except Exception as error:  # the response has started: report the error in the stream itself
        logger.exception("generation failed while streaming")
        yield _event(APIError(500, f"generation failed: {type(error).__name__}: {error}", type="server_error").body())
    finally:
        job.cancel()
    yield b"data: [DONE]\n\n"


def _with_adaptation(header: dict[str, Any], completion: Completion) -> dict[str, Any]:
    """The response header with lstmgen's ``adaptation`` field (protocol, tokens read, ...) once an adapt_to reading is done."""
    if completion.adaptation is None or "adaptation" in header:
        return header
    return {**header, "adaptation": completion.adaptation.to_dict()}
