"""OpenAI's chat completions (``POST /v1/chat/completions``) for a model trained on dialogues.

A model answers chat requests when it was trained with a chat template (``lstmgen train dialogues.txt
--documents blank-lines --chat-template "{role}: {content}\\n"``), saved in its checkpoint. The messages
are rendered through the template, one turn each; then the assistant's turn is opened (the template up to
``{content}``, for the role ``assistant``: "assistant: ") and the model writes its content. Generation stops
where the next turn would start (the template after ``{content}`` followed by the start of a turn of any
role: "\\nuser:", "\\nsystem:", "\\nassistant:"), or at the end of a document in document mode. The
turn's closing text (the template after ``{content}``: "\\n") is not part of the answer when it ends it.

Everything else is the completions machinery: the rendered conversation is the prompt of one
``Completion`` (so limits, settings, ``n``, ``seed``, penalties, ``logit_bias``, ``logprobs`` and usage work
as there), scheduled the same way; this module only translates the request and shapes the answers as
``chat.completion`` objects and ``chat.completion.chunk`` events.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any, AsyncIterator, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from ..language_model import LanguageModel
from .completions import Completion
from .errors import json_bytes
from .limits import ServerLimits
from .schemas import CONFIG_NAMES, MAX_LOGPROBS, APIError, CompletionRequest, StreamOptions, _generation_fields, _Strict, parse_request

logger = logging.getLogger("lstmgen.server")

ROLES = ("system", "user", "assistant")
ROLE_ALIASES = {"developer": "system"}  # OpenAI's newer name for the system message
HOW_TO_TRAIN = ("train it on dialogues with a chat template, e.g. lstmgen train dialogues.txt --documents blank-lines "
                "--chat-template '{role}: {content}\\n' (the corpus written in that format), or use /v1/completions")


@dataclass(frozen=True)
class ChatTemplate:
    """One turn of a dialogue, with ``{role}`` before ``{content}`` (checked by TrainConfig)."""

    text: str

    def turn(self, role: str, content: str) -> str:
        return self.text.replace("{role}", role, 1).replace("{content}", content, 1)  # content last: its braces stay text

    def opening(self, role: str = "assistant") -> str:
        """The start of a turn before its content ("assistant: ")."""
        return self.turn(role, "")[: self.text.replace("{role}", role, 1).index("{content}")]

    @property
    def closing(self) -> str:
        """The template's text after {content}: what ends a turn ("\\n")."""
        return self.text[self.text.index("{content}") + len("{content}") :]

    @property
    def stops(self) -> tuple[str, ...]:
        """Where the assistant's turn ends: the turn's closing text, then the start of any next turn."""
        stops = [(self.closing + self.opening(role)).rstrip(" \t") for role in ROLES]
        return tuple(dict.fromkeys(stop for stop in stops if stop))

    def prompt(self, messages: list[tuple[str, str]]) -> str:
        """The conversation, then the assistant's turn opened."""
        return "".join(self.turn(role, content) for role, content in messages) + self.opening("assistant")


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ContentPart(_Lenient):
    type: str
    text: str | None = None


class ChatMessage(_Lenient):
    """A message; fields other than role and content (name, ...) are accepted and ignored."""

    role: str
    content: str | list[ContentPart] | None = None

    def as_turn(self, index: int) -> tuple[str, str]:
        role = ROLE_ALIASES.get(self.role, self.role)
        if role not in ROLES:
            raise APIError(400, f"messages[{index}].role: {self.role!r} is not supported by a model trained on dialogue text; "
                           f"use {', '.join(ROLES)}", "messages")
        if isinstance(self.content, list):
            if any(part.type != "text" for part in self.content):
                raise APIError(400, f"messages[{index}].content: only text parts are supported", "messages")
            return role, "".join(part.text or "" for part in self.content)
        return role, self.content or ""


class _ChatBase(_Strict):
    """OpenAI's chat parameters that are not generation settings."""

    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    logprobs: bool | None = False
    top_logprobs: int | None = Field(None, ge=0, le=MAX_LOGPROBS)
    max_completion_tokens: int | None = Field(None, ge=0)  # OpenAI's newer name for max_tokens
    user: str | None = None
    unknown: Literal["error", "skip", "replace"] = "error"
    adapt_to: str | None = None  # lstmgen: a document the weights adapt to before answering (as in completions)
    # Accepted and ignored (clients send them by default); tools and other output formats are refused.
    store: bool | None = None
    metadata: dict[str, str] | None = None
    parallel_tool_calls: bool | None = None
    tools: list[Any] | None = None
    tool_choice: Any | None = None
    functions: list[Any] | None = None
    function_call: Any | None = None
    response_format: dict[str, Any] | None = None

    def check_unsupported(self) -> None:
        for name in ("tools", "functions"):
            if getattr(self, name):
                raise APIError(400, f"{name} (function calling) is not supported by this server", name)
        for name in ("tool_choice", "function_call"):
            if getattr(self, name) not in (None, "none", "auto"):
                raise APIError(400, f"{name} is not supported by this server", name)
        if self.response_format not in (None, {"type": "text"}):
            raise APIError(400, "response_format: only {\"type\": \"text\"} is supported", "response_format")
        if self.top_logprobs and not self.logprobs:
            raise APIError(400, "top_logprobs needs logprobs: true", "top_logprobs")
        if self.logprobs and (self.num_beams or 1) > 1:
            raise APIError(400, "logprobs is not available with beam search (num_beams > 1)", "logprobs")


ChatRequest = create_model("ChatCompletionRequest", __base__=_ChatBase, **_generation_fields())
ChatRequest.__doc__ = "OpenAI's chat completions parameters; the generation settings are GenerationConfig's fields."


def _token_entry(text: str, logprob: float | None) -> dict[str, Any]:
    return {"token": text, "logprob": logprob, "bytes": list(text.encode("utf-8"))}


class ChatCompletion:
    """A chat request checked and rendered into a ``Completion``, and its answers in the chat shapes."""

    def __init__(self, payload: Any, model: LanguageModel, limits: ServerLimits, served: str) -> None:
        request = parse_request(ChatRequest, payload, served)
        if not model.chat_template:
            raise APIError(400, f"this model was trained without a chat template, so it cannot answer chat completions; "
                           f"{HOW_TO_TRAIN}", "messages", code="chat_template_missing")
        template = ChatTemplate(model.chat_template)
        self.request = request
        self.stream = bool(request.stream)
        self.include_usage = bool(request.stream and request.stream_options and request.stream_options.include_usage)
        settings = {name: getattr(request, name) for name in CONFIG_NAMES if getattr(request, name) is not None}
        if request.max_completion_tokens is not None:
            settings["max_tokens"] = request.max_completion_tokens
        # OpenAI's chat has no short default (its completions' is 16): an answer runs to its turn's end, up to the server's cap.
        settings.setdefault("max_tokens", limits.max_tokens)
        prompt = template.prompt([message.as_turn(index) for index, message in enumerate(request.messages)])
        body = CompletionRequest.model_validate({
            **settings, "prompt": prompt, "stream": self.stream, "unknown": request.unknown, "adapt_to": request.adapt_to,
            "logprobs": (request.top_logprobs or 0) if request.logprobs else None,
        })
        try:
            self.completion = Completion(body, model, limits)
        except APIError as error:  # the rendered conversation stands for the messages
            if error.param == "prompt":
                error.param, error.message = "messages", error.message.replace("prompt", "messages (rendered through the chat template)", 1)
            raise
        config = self.completion.config
        self.completion.config = replace(config, stop=config.stop + tuple(s for s in template.stops if s not in config.stop))
        self.closing = template.closing
        self.held = [""] * len(self.completion.choices)  # per choice: released text that may be the turn's closing text

    def _release(self, index: int, text: str) -> str:
        """The text to send now: all but an end that may still be the closing text (held until more comes)."""
        text = self.held[index] + text
        keep = next((size for size in range(min(len(self.closing), len(text)), 0, -1) if text.endswith(self.closing[:size])), 0)
        self.held[index] = text[len(text) - keep :] if keep else ""
        return text[: len(text) - keep]

    def _rest(self, index: int) -> str:
        """At the end: what was held back, unless it is the whole closing text (the turn ended there)."""
        rest, self.held[index] = self.held[index], ""
        return "" if rest == self.closing else rest

    def content(self, index: int) -> str:
        text = self.completion.choices[index].text
        return text[: -len(self.closing)] if self.closing and text.endswith(self.closing) else text

    # ----- answers -------------------------------------------------------------------------------
    def _logprobs(self, index: int, final: bool) -> dict[str, Any] | None:
        """OpenAI's chat logprobs: {"content": [{token, logprob, bytes, top_logprobs: [...]}]} for released tokens."""
        shown = self.completion.logprobs_of(index, final)
        if shown is None:
            return None
        tops = shown["top_logprobs"] or [None] * len(shown["tokens"])
        return {"content": [{**_token_entry(token, logprob), "top_logprobs": [_token_entry(t, v) for t, v in (top or {}).items()]}
                            for token, logprob, top in zip(shown["tokens"], shown["token_logprobs"], tops)], "refusal": None}

    def _rest_logprobs(self, index: int) -> dict[str, Any] | None:
        """The final chunk's: the entries not sent yet, or null when none are left (as OpenAI's last chunk)."""
        rest = self._logprobs(index, final=True)
        return rest if rest and rest["content"] else None

    def response(self, header: dict[str, Any]) -> dict[str, Any]:
        completion = self.completion
        choices = [{"index": index, "message": {"role": "assistant", "content": self.content(index), "refusal": None},
                    "logprobs": self._logprobs(index, final=True), "finish_reason": completion.finish_reason(index)}
                   for index in range(len(completion.choices))]
        return {**header, "object": "chat.completion", "choices": choices, "usage": completion.usage()}

    async def events(self, batches: AsyncIterator[list], header: dict[str, Any]) -> AsyncIterator[bytes]:
        """``chat.completion.chunk`` events: the role first, then content deltas, then the finish reasons; usage; [DONE]."""
        header = {**header, "object": "chat.completion.chunk", **({"usage": None} if self.include_usage else {})}
        completion = self.completion
        count = len(completion.choices)
        yield _event({**header, "choices": [{"index": index, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
                                             "finish_reason": None} for index in range(count)]})
        try:
            async for steps in batches:
                new = {index: self._release(index, text) for index, text in completion.add(steps).items()}
                if completion.adaptation is not None and "adaptation" not in header:  # adapt_to: lstmgen's field, as in completions
                    header = {**header, "adaptation": completion.adaptation.to_dict()}
                if any(new.values()):
                    yield _event({**header, "choices": [{"index": index, "delta": {"content": text},
                                                         "logprobs": self._logprobs(index, final=False), "finish_reason": None}
                                                        for index, text in sorted(new.items()) if text]})
            rest = {index: self._rest(index) for index in range(count)}
            if any(rest.values()):
                yield _event({**header, "choices": [{"index": index, "delta": {"content": text}, "logprobs": None, "finish_reason": None}
                                                    for index, text in sorted(rest.items()) if text]})
            yield _event({**header, "choices": [{"index": index, "delta": {}, "logprobs": self._rest_logprobs(index),
                                                 "finish_reason": completion.finish_reason(index)} for index in range(count)]})
            if self.include_usage:
                yield _event({**header, "choices": [], "usage": completion.usage()})
        except APIError as error:  # found on the worker (an adapt_to text of one token): the request's fault, in the stream
            yield _event(error.body())
        except Exception as error:  # the response has started: report the error in the stream itself
            logger.exception("chat generation failed while streaming")
            yield _event(APIError(500, f"generation failed: {type(error).__name__}: {error}", type="server_error").body())
        yield b"data: [DONE]\n\n"


def _event(data: dict[str, Any]) -> bytes:
    return b"data: " + json_bytes(data) + b"\n\n"
