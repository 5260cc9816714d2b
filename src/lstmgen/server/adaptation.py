"""Requests that carry ``adapt_to``: the served model adapted to a document, on a worker thread, the last few kept.

Adapting reads the document with dynamic evaluation's updates (``LanguageModel.adapted_to``,
``evaluation.dynamic``): seconds of CPU and a copy of the weights, so it runs on a generation worker, never
on the event loop, and the request then generates from its own weights on that worker (it cannot join the
batching engine's batch, whose rows share one set of weights). A client sending the same document again
(a playground session, several prompts after one document) pays once: the last ``size`` adapted models are
kept, keyed by the document's SHA-256 and the settings. One adaptation runs at a time, so a burst of
documents costs one copy of the weights in progress (plus the kept ones) and a repeated one waits for the
first reading instead of doing it twice. The served model is never modified.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

from ..evaluation.dynamic import DynamicEvaluation
from ..language_model import LanguageModel

# Sequential reading of every segment, as adapted_copy does for generation, so the protocol the response names is the one used.
SERVER_SETTINGS = DynamicEvaluation(streams=1, learn_fraction=1.0)


@dataclass(frozen=True)
class Adaptation:
    """What a response says about the reading its weights came from (the record a worker sends first)."""

    protocol: str
    tokens: int  # tokens of the document scored while reading
    nats_while_reading: float
    cached: bool  # the adapted model was kept from an earlier request with the same document

    def to_dict(self) -> dict:
        return {"protocol": self.protocol, "tokens": self.tokens, "nats_while_reading": self.nats_while_reading, "cached": self.cached}


class AdaptedModels:
    """The served model adapted to documents, the ``size`` most recently used kept (least recently used dropped)."""

    def __init__(self, model: LanguageModel, settings: DynamicEvaluation = SERVER_SETTINGS, size: int = 2) -> None:
        self.model = model
        self.settings = settings
        self.size = size
        self._kept: OrderedDict[tuple[str, DynamicEvaluation], LanguageModel] = OrderedDict()
        self._lock = threading.Lock()  # held while adapting: one copy of the weights in progress at a time

    def adapted(self, text: str) -> tuple[LanguageModel, Adaptation]:
        """The model adapted to ``text`` (from the kept ones, or read now: call from a worker thread)."""
        key = (hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest(), self.settings)
        with self._lock:
            model = self._kept.get(key)
            cached = model is not None
            if model is None:
                model = self.model.adapted_to(text, self.settings)
                self._kept[key] = model
                while len(self._kept) > self.size:
                    self._kept.popitem(last=False)
            self._kept.move_to_end(key)
        reading = model.extra["adapted"]
        return model, Adaptation(reading["protocol"], reading["tokens"], reading["nats_while_reading"], cached)
