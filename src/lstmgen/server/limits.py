"""The limits that keep a server alive: request sizes and how many generations run or wait at once."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..config import ConfigError
from ..system.runtime import available_cores


@dataclass(frozen=True)
class ServerLimits:
    """Caps on what one request may ask for, and on the generations in flight.

    ``concurrency`` generations run at once (each on its own worker thread; 0 = one per CPU core) and up
    to ``queue_size`` more wait for a worker; a request arriving when all are taken gets a 429 at once
    instead of an ever-growing queue.
    """

    max_tokens: int = 2048  # per choice
    default_max_tokens: int = 16  # OpenAI's default when a request gives none
    max_prompt_tokens: int = 4096  # per prompt, after tokenization
    max_n: int = 16  # samples per prompt
    max_prompts: int = 16  # prompts per request
    max_choices: int = 64  # prompts x n
    max_stop: int = 4  # stop strings, as OpenAI allows
    max_body_bytes: int = 1 << 20  # the JSON request body
    concurrency: int = 0  # generations running at once; 0 = one per CPU core
    queue_size: int = 64  # generations waiting for a worker

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            minimum = 0 if field.name in ("concurrency", "queue_size") else 1
            if not isinstance(value, int) or value < minimum:
                raise ConfigError(f"server limit {field.name} must be an integer >= {minimum}, got {value!r}")
        if self.default_max_tokens > self.max_tokens:
            raise ConfigError(f"default_max_tokens ({self.default_max_tokens}) must not exceed max_tokens ({self.max_tokens})")

    @property
    def workers(self) -> int:
        return self.concurrency or available_cores()

    def to_dict(self) -> dict[str, int]:
        return {**dataclasses.asdict(self), "concurrency": self.workers}
