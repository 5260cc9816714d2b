"""The limits that keep a server alive: request sizes and how many generations run or wait at once."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..config import ConfigError
from ..system.runtime import available_cores


@dataclass(frozen=True)
class ServerLimits:
    """Caps on what one request may ask for, and on the generations in flight.

    Sampled requests are stepped together by the batching engine: up to ``max_streams`` streams at once, and
    up to ``queue_size`` prompts waiting to join beyond the free rows. Beam search (and echoed prompts scored
    for logprobs) runs on worker threads: ``concurrency`` at once (0 = one per CPU core) and up to
    ``queue_size`` more waiting. A request arriving when all are taken gets a 429 at once instead of an
    ever-growing queue. ``max_streams`` 0 turns the engine off: every request then runs on a worker, one
    stream at a time (the server before the engine). ``max_adapt_chars`` bounds a request's ``adapt_to`` document
    (0 refuses the field): reading it costs seconds of CPU on a worker.
    """

    max_tokens: int = 2048  # per choice
    default_max_tokens: int = 16  # OpenAI's default when a request gives none
    max_prompt_tokens: int = 4096  # per prompt, after tokenization
    max_n: int = 16  # samples per prompt
    max_prompts: int = 16  # prompts per request
    max_choices: int = 64  # prompts x n
    max_stop: int = 4  # stop strings, as OpenAI allows
    max_body_bytes: int = 1 << 20  # the JSON request body
    concurrency: int = 0  # beam searches (and scored echoes) running at once, each on a worker; 0 = one per CPU core
    queue_size: int = 64  # prompts waiting to join the batch (or requests waiting for a worker) before 429s
    max_streams: int = 256  # streams the batching engine steps together; 0 = no engine: each request on a worker
    prefill_tokens: int = 128  # prompt tokens the engine reads between two steps at most
    max_adapt_chars: int = 50_000  # characters of a request's adapt_to document; 0 = adapt_to refused

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            minimum = 0 if field.name in ("concurrency", "queue_size", "max_streams", "max_adapt_chars") else 1
            if not isinstance(value, int) or value < minimum:
                raise ConfigError(f"server limit {field.name} must be an integer >= {minimum}, got {value!r}")
        if self.default_max_tokens > self.max_tokens:
            raise ConfigError(f"default_max_tokens ({self.default_max_tokens}) must not exceed max_tokens ({self.max_tokens})")

    @property
    def workers(self) -> int:
        return self.concurrency or available_cores()

    def to_dict(self) -> dict[str, int]:
        return {**dataclasses.asdict(self), "concurrency": self.workers}
