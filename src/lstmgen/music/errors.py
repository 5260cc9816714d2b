"""MusicError, and ``need``: the optional packages music needs, imported with an error that names the extra."""

from __future__ import annotations

import importlib
from types import ModuleType


class MusicError(ValueError):
    """A piece cannot be read, written or rendered; the message names the file (and the tune) and how to fix it."""


def need(module: str) -> ModuleType:
    """Import ``module`` (music21, miditok, symusic), or say how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MusicError(f"music needs the {module} package: pip install 'lstmgen[music]' (music21, miditok, symusic)") from error
