"""``lstmgen serve CKPT``: load a checkpoint and serve it with uvicorn (loopback only unless told).

FastAPI and uvicorn (the ``server`` extra) are imported only when serving."""

from __future__ import annotations

import argparse
import ipaddress
import sys

from ..server.limits import ServerLimits

LIMIT_FLAGS = {
    "--max-tokens": ("max_tokens", "most tokens a request may ask for per choice"),
    "--max-prompt-tokens": ("max_prompt_tokens", "most tokens in one prompt"),
    "--max-n": ("max_n", "most samples (n) per prompt"),
    "--concurrency": ("concurrency", "generations running at once (0 = one per CPU core)"),
    "--queue-size": ("queue_size", "generations waiting for a worker before requests get 429"),
}


def configure(parser: argparse.ArgumentParser) -> None:
    defaults = ServerLimits()
    parser.description = ("Serve a checkpoint: POST /v1/completions (OpenAI's protocol, streaming), GET /v1/models, "
                          "GET /health, and a playground at /. Listens on loopback unless --host says otherwise.")
    parser.add_argument("checkpoint", metavar="CKPT", help="checkpoint or run directory")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 exposes it to the network)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (0 = any free port)")
    parser.add_argument("--model-name", default=argparse.SUPPRESS, help="model id clients use (default: the run directory's name)")
    for flag, (field, help_text) in LIMIT_FLAGS.items():
        parser.add_argument(flag, type=int, default=getattr(defaults, field), help=help_text)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads per process; one-token steps are too small to split, so workers run requests in parallel instead")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn
    except ImportError:
        raise ValueError("lstmgen serve needs FastAPI and uvicorn: pip install 'lstmgen[server]'") from None
    import torch

    from ..language_model import LanguageModel
    from ..runtime import set_threads
    from ..server.app import create_app

    limits = ServerLimits(**{field: getattr(args, field) for field, _ in LIMIT_FLAGS.values()})
    set_threads(args.threads)
    # The server never trains: keep oneDNN off for good, so concurrent generations do not toggle it for
    # each other (its one-token LSTM calls are slow).
    torch.backends.mkldnn.enabled = False
    model = LanguageModel.load(args.checkpoint, device=args.device)
    app = create_app(model, limits, model_name=getattr(args, "model_name", None))
    if not _is_loopback(args.host):
        print(f"lstmgen: warning: listening on {args.host}: anyone who can reach this address can use the model", file=sys.stderr)
    print(f"lstmgen: serving {model.path} as model '{app.state.model_name}' (limits: {limits.to_dict()})", file=sys.stderr, flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, timeout_graceful_shutdown=5)
    return 0


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
