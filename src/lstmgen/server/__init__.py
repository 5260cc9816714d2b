"""Serve a trained model: an HTTP API that speaks the OpenAI completions and chat protocols, and a web playground.

    from lstmgen import LanguageModel
    from lstmgen.server import create_app
    app = create_app(LanguageModel.load("runs/demo"))   # an ASGI app; run it with uvicorn

or from the shell: ``lstmgen serve runs/demo``. Needs the ``server`` extra (FastAPI + uvicorn), imported
only when an app is made, so ``lstmgen --help`` works without it. Never imports the training code.
"""

from .limits import ServerLimits

__all__ = ["create_app", "ServerLimits"]


def __getattr__(name: str):
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module 'lstmgen.server' has no attribute {name!r}")
