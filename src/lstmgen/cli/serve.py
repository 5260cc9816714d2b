"""``lstmgen serve CKPT``: load a checkpoint and serve it with uvicorn (loopback only unless told, with an
optional API key from ``--api-key`` or ``$LSTMGEN_API_KEY``).

FastAPI and uvicorn (the ``server`` extra) are imported only when serving."""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys

from ..server.limits import ServerLimits
from .flags import add_precision_argument, announce_precision

API_KEY_VARIABLE = "LSTMGEN_API_KEY"
LIMIT_FLAGS = {
    "--max-tokens": ("max_tokens", "most tokens a request may ask for per choice"),
    "--max-prompt-tokens": ("max_prompt_tokens", "most tokens in one prompt"),
    "--max-n": ("max_n", "most samples (n) per prompt"),
    "--max-streams": ("max_streams", "streams the batching engine steps together (0 = no engine: each request on a worker)"),
    "--prefill-tokens": ("prefill_tokens", "prompt tokens the engine reads between two steps (a long prompt never stalls the others longer)"),
    "--concurrency": ("concurrency", "beam searches running at once, each on a worker (0 = one per CPU core)"),
    "--queue-size": ("queue_size", "prompts waiting to join the batch (or for a worker) before requests get 429"),
    "--max-adapt-chars": ("max_adapt_chars", "most characters of a request's adapt_to document, read with dynamic evaluation's "
                                             "updates before generating (0 = adapt_to refused)"),
}


DESCRIPTION = ("Serve a checkpoint: POST /v1/completions (OpenAI's protocol, streaming), GET /v1/models, "
               "GET /health, and a playground at /. Listens on loopback unless --host says otherwise.")


def configure(parser: argparse.ArgumentParser) -> None:
    defaults = ServerLimits()
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 exposes it to the network)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (0 = any free port)")
    parser.add_argument("--model-name", default=argparse.SUPPRESS, help="model id clients use (default: the run directory's name)")
    parser.add_argument("--api-key", default=argparse.SUPPRESS, metavar="KEY",
                        help=f"require 'Authorization: Bearer KEY' on /v1/* and /info (default: ${API_KEY_VARIABLE}; "
                             "prefer the variable: a command line is visible to every user of the machine)")
    for flag, (field, help_text) in LIMIT_FLAGS.items():
        parser.add_argument(flag, type=int, default=getattr(defaults, field), help=help_text)
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads (0 = automatic: the batching engine steps a few streams on one thread and a batch "
                             "on every core; with --max-streams 0, one, as the workers run requests in parallel instead)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    add_precision_argument(parser)
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])


def run(args: argparse.Namespace) -> int:
    api_key = api_key_of(args)  # first: a bad key is refused before torch loads
    try:
        import uvicorn
    except ImportError:
        raise ValueError("lstmgen serve needs FastAPI and uvicorn: pip install 'lstmgen[server]'") from None

    from ..language_model import LanguageModel
    from ..server.app import create_app
    from ..system.runtime import set_threads

    limits = ServerLimits(**{field: getattr(args, field) for field, _ in LIMIT_FLAGS.values()})
    set_threads(args.threads or 1)  # the engine changes its own count when automatic
    model = LanguageModel.load(args.checkpoint, device=args.device, precision=args.precision)
    announce_precision(model)
    app = create_app(model, limits, model_name=getattr(args, "model_name", None), api_key=api_key, threads=args.threads)
    for line in startup_warnings(args.host, api_key is not None):
        print(f"lstmgen: warning: {line}", file=sys.stderr)
    access = "an API key is required on /v1/* and /info" if api_key else "no API key"
    print(f"lstmgen: serving {model.path} as model '{app.state.model_name}' ({access}; limits: {limits.to_dict()})",
          file=sys.stderr, flush=True)
    chat = f"chat template {model.chat_template!r}" if model.chat_template else "no chat template (train with --chat-template for chat)"
    print(f"lstmgen: /v1/chat/completions: {chat}", file=sys.stderr, flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, timeout_graceful_shutdown=5)
    return 0


def api_key_of(args: argparse.Namespace) -> str | None:
    """The key from --api-key, else from $LSTMGEN_API_KEY (an empty variable means none); never printed."""
    if hasattr(args, "api_key"):
        if not args.api_key:
            raise ValueError("--api-key must not be empty; leave it out to serve without a key")
        return args.api_key
    return os.environ.get(API_KEY_VARIABLE) or None


def startup_warnings(host: str, has_key: bool) -> list[str]:
    """What to tell the operator about who can reach the API."""
    if _is_loopback(host):
        return []
    if not has_key:
        return [f"listening on {host} and the API has no authentication: anyone who can reach this address can use "
                f"the model; set ${API_KEY_VARIABLE} (or --api-key) to require a key"]
    return [f"listening on {host}: the API key travels in plain HTTP; put a TLS proxy in front when the network is not trusted"]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
