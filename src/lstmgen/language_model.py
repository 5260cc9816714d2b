"""``LanguageModel``: a trained model with its tokenizer, ready to generate and score text.

    from lstmgen import LanguageModel
    lm = LanguageModel.load("runs/demo")
    print(lm.generate("ROMEO:", max_tokens=200, temperature=0.5))

This module never imports the training code: the server and other applications only need this.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import torch

from .checkpoint import load_checkpoint, save_checkpoint
from .config import GenerationConfig, ModelConfig, TrainConfig
from .decoding import (
    DecodeStep,
    Hypothesis,
    PrecisionError,
    SampleGroup,
    Stepper,
    apply_processors,
    beam_search,
    build_processors,
    decode,
    encode_prompt,
    make_generator,
)
from .decoding.engine import MAX_STREAMS, BatchEngine
from .decoding.projections import AUTOMATIC, at_decoding_precision, automatic_precision
from .decoding.stepper import has_fast_path
from .evaluation.dynamic import DynamicEvaluation, adapted_copy, dynamic_evaluate
from .evaluation.labels import LabelReport, label_accuracy
from .evaluation.measures import LossReport
from .evaluation.static import evaluate, scored_text_size, segment_starts
from .model import RecurrentLanguageModel, device_of
from .system.runtime import resolve_device
from .tokenizers import Tokenizer, labels_of


@dataclass(frozen=True)
class TokenScore:
    """One token of a scored text: its text, log p(token | the text before it) and the likeliest alternatives."""

    token_id: int
    text: str
    logprob: float | None  # None for the first token: nothing before it to predict it from
    top: tuple[tuple[int, float], ...] | None = None  # (id, log p) of the likeliest tokens at its position


class LanguageModel:
    """A trained recurrent language model with its tokenizer, ready to generate and score text."""

    def __init__(self, model: RecurrentLanguageModel, tokenizer: Tokenizer, train_config: TrainConfig | None = None,
                 metrics: list[dict[str, Any]] | None = None, path: Path | None = None, extra: dict[str, Any] | None = None,
                 precision: str = "fp32") -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.train_config = train_config
        self.metrics = metrics or []
        self.path = path
        self.extra = extra or {}
        # Why this precision: said when "auto" chose it (the CLI prints it), None when the caller named it.
        self.precision_reason: str | None = None
        if precision == AUTOMATIC:
            precision, self.precision_reason = automatic_precision(device_of(model), has_fast_path(model))
        # What every generation path steps: the model itself in fp32, else the same parameters read at ``precision``
        # (refused here, with what to use instead, where this machine cannot run it fast).
        self.decoding_model = at_decoding_precision(self.model, precision)
        if precision != "fp32" and not has_fast_path(model):
            raise PrecisionError(f"{precision} decoding is for LSTM and Mogrifier LSTM models (this one is a {model.config.cell}); "
                                 "use fp32")
        self.precision = precision

    @classmethod
    def load(cls, path: str | os.PathLike, device: str = "cpu", precision: str = "fp32") -> "LanguageModel":
        """Load a checkpoint directory, or the best checkpoint of a run directory; ``precision`` as in ``with_precision``."""
        checkpoint = load_checkpoint(path, device=str(resolve_device(device)))  # a device this machine lacks: a clear ValueError
        return cls(checkpoint.model, checkpoint.tokenizer, checkpoint.train_config, checkpoint.metrics, checkpoint.path, checkpoint.extra,
                   precision=precision)

    def with_precision(self, precision: str) -> "LanguageModel":
        """The same model decoding with its weights in ``precision``: "fp32" (as trained), "fp16", "bf16" or "int8",
        or "auto": the one measured fastest on this kind of CPU (``decoding.projections.automatic_precision``).

        Reduced weights make token-by-token generation faster (it reads every weight once per token) at a
        small, measured cost in likelihood (docs/benchmarks.md); the prompt is stepped through the same reduced
        weights, and ``score``/``evaluate`` always use the full weights. A precision this machine cannot run fast is
        refused with what to use instead (``PrecisionError``). The weights are shared, not copied.
        """
        return LanguageModel(self.model, self.tokenizer, self.train_config, self.metrics, self.path, self.extra, precision=precision)

    def save(self, path: str | os.PathLike) -> Path:
        return save_checkpoint(path, self.model, self.tokenizer, self.train_config, metrics=self.metrics, extra=self.extra)

    # ----- generation ------------------------------------------------------------------------------
    def encode_prompt(self, prompt: str | Sequence[int], unknown: str = "error", label: str | None = None) -> list[int]:
        """Token ids of a prompt under the ``unknown`` policy; an empty prompt starts from a line break; a ``label``
        (``labels`` lists this model's) is read before it.

        A prompt given as token ids is taken as it is (an empty list as an empty prompt), after checking
        every id is in the vocabulary; a label is still read before it."""
        if isinstance(prompt, str):
            return encode_prompt(self.tokenizer, prompt, unknown, label)
        ids = [int(token) for token in prompt]
        outside = [token for token in ids if not 0 <= token < self.tokenizer.vocab_size]
        if outside:
            raise ValueError(f"the prompt holds token ids outside this model's vocabulary of {self.tokenizer.vocab_size} "
                             f"(ids 0 to {self.tokenizer.vocab_size - 1}): {outside[:10]}")
        if label is not None:
            return encode_prompt(self.tokenizer, "", unknown, label) + ids
        return ids or encode_prompt(self.tokenizer, "", unknown)

    @property
    def labels(self) -> tuple[str, ...]:
        """The labels this model was trained with (generate(..., label=...)); empty for an unlabelled model."""
        return labels_of(self.tokenizer)

    @staticmethod
    def _config(config: GenerationConfig | None, overrides: dict[str, Any]) -> GenerationConfig:
        config = config or GenerationConfig()
        return replace(config, **overrides) if overrides else config

    def _prepare(self, prompt: str | Sequence[int], config: GenerationConfig | None, unknown: str, overrides: dict[str, Any]) -> tuple[list[int], GenerationConfig]:
        config = self._config(config, overrides)
        return self.encode_prompt(prompt, unknown, config.label), config

    def decode(self, prompt: str | Sequence[int] = "", config: GenerationConfig | None = None, unknown: str = "error",
               logprobs: int | None = None, **overrides: Any) -> Iterator[DecodeStep]:
        """Sample ``num_samples`` continuations together, yielding one ``DecodeStep`` per step: the tokens,
        their text, the text released to the reader, log-probabilities (``logprobs``: None = none, 0 = the
        chosen tokens', k = also the k likeliest alternatives') and each sample's finish reason. ``prompt``
        may be token ids instead of text (checked against the vocabulary)."""
        ids, config = self._prepare(prompt, config, unknown, overrides)
        if config.num_beams > 1:
            raise ValueError("decode samples; for beam search (num_beams > 1) use beam_search() or stream_batch()")
        generator = make_generator(config.seed, device_of(self.model))
        return decode(self.decoding_model, self.tokenizer, ids, config, generator, logprobs=logprobs,
                      prompt_text=prompt if isinstance(prompt, str) else None)

    def sample_group(self, prompt: str | Sequence[int] = "", config: GenerationConfig | None = None, unknown: str = "error",
                     logprobs: int | None = None, **overrides: Any) -> SampleGroup:
        """One prompt's samples, ready for the batching engine (``lstmgen.decoding.engine``): the prompt encoded,
        the settings checked, a generator seeded from ``config.seed``."""
        ids, config = self._prepare(prompt, config, unknown, overrides)
        device = device_of(self.model)
        return SampleGroup(self.tokenizer, ids, config, make_generator(config.seed, device), logprobs,
                           prompt_text=prompt if isinstance(prompt, str) else None, device=device)

    def decode_many(self, prompts: Sequence[str], configs: GenerationConfig | Sequence[GenerationConfig] | None = None,
                    unknown: str = "error", logprobs: int | None = None, max_streams: int = MAX_STREAMS,
                    **overrides: Any) -> Iterator[tuple[int, DecodeStep]]:
        """Sample many prompts together, each with its own settings, yielding ``(prompt index, DecodeStep)`` as they come.

            for index, record in lm.decode_many(["ROMEO:", "JULIET:"], [GenerationConfig(temperature=0.5, seed=1),
                                                                        GenerationConfig(temperature=1.2, top_k=10)]):
                ...

        Every prompt's samples step through one batch (``lstmgen.decoding.engine``: the streams of every prompt are
        one matrix product per layer per step), so 64 prompts cost little more per step than one. ``configs`` is
        one configuration for all, one per prompt, or None (the defaults); ``overrides`` change every one. A
        prompt's tokens depend only on its own settings and seed (as ``decode``'s would, to float rounding).
        Beam search has its own path: use ``beam_search``.
        """
        prompts = list(prompts)
        configs = self._configs(prompts, configs, overrides)
        groups = [self.sample_group(prompt, config, unknown, logprobs) for prompt, config in zip(prompts, configs)]
        engine = BatchEngine(self.decoding_model, self.tokenizer, max(max_streams, max((g.size for g in groups), default=1)))
        records: list[tuple[int, DecodeStep]] = []
        for index, group in enumerate(groups):
            engine.add(group, lambda record, index=index: records.append((index, record)))
        while engine.busy:
            engine.run_once()
            yield from records  # handed over outside the engine's step, so the caller may take its time
            records.clear()

    def samples_many(self, prompts: Sequence[str], configs: GenerationConfig | Sequence[GenerationConfig] | None = None,
                     unknown: str = "error", **overrides: Any) -> list[list[str]]:
        """The ``num_samples`` continuations of every prompt, generated together (``decode_many``)."""
        prompts = list(prompts)
        configs = self._configs(prompts, configs, overrides)
        parts = [[[] for _ in range(config.num_samples)] for config in configs]  # [prompt][sample] -> pieces, joined once
        for index, record in self.decode_many(prompts, configs, unknown):
            for sample, text in zip(parts[index], record.texts):
                if text:
                    sample.append(text)
        return [["".join(sample) for sample in texts] for texts in parts]

    def generate_many(self, prompts: Sequence[str], configs: GenerationConfig | Sequence[GenerationConfig] | None = None,
                      unknown: str = "error", **overrides: Any) -> list[str]:
        """One continuation of every prompt, generated together (``decode_many``)."""
        return [texts[0] for texts in self.samples_many(prompts, configs, unknown, **{**overrides, "num_samples": 1})]

    def _configs(self, prompts: list[str], configs: GenerationConfig | Sequence[GenerationConfig] | None,
                 overrides: dict[str, Any]) -> list[GenerationConfig]:
        """One configuration per prompt (one given for all, or the defaults), with ``overrides`` applied."""
        if isinstance(configs, GenerationConfig) or configs is None:
            configs = [configs] * len(prompts)
        if len(configs) != len(prompts):
            raise ValueError(f"{len(configs)} generation configs for {len(prompts)} prompts: give one, or one per prompt")
        return [self._config(config, overrides) for config in configs]

    def stream_batch(self, prompt: str | Sequence[int] = "", config: GenerationConfig | None = None, unknown: str = "error", **overrides: Any) -> Iterator[list[str]]:
        """Yield, per step, the new text of every sample (they are generated together in one batch).

        With beam search (``num_beams > 1``) the continuations are only known at the end, so they come
        as one step holding the ``num_samples`` best, best first (padded with empty strings in the rare
        case that fewer distinct continuations exist).
        """
        ids, config = self._prepare(prompt, config, unknown, overrides)
        if config.num_beams > 1:
            found = beam_search(self.decoding_model, self.tokenizer, ids, config, prompt if isinstance(prompt, str) else None)
            texts = [hypothesis.text for hypothesis in found]
            return iter([texts + [""] * (config.num_samples - len(texts))])  # fewer only if fewer continuations exist
        return (list(record.texts) for record in self.decode(prompt, config, unknown))

    def stream(self, prompt: str | Sequence[int] = "", config: GenerationConfig | None = None, unknown: str = "error", **overrides: Any) -> Iterator[str]:
        """Yield the continuation of ``prompt`` piece by piece as it is generated (one sample)."""
        for pieces in self.stream_batch(prompt, config, unknown, **{**overrides, "num_samples": 1}):
            if pieces[0]:
                yield pieces[0]

    def samples(self, prompt: str | Sequence[int] = "", config: GenerationConfig | None = None, unknown: str = "error", **overrides: Any) -> list[str]:
        """Generate ``num_samples`` independent continuations of ``prompt`` (the prompt not included)."""
        config = self._config(config, overrides)
        parts: list[list[str]] = [[] for _ in range(config.num_samples)]  # joined once: concatenating per step is quadratic
        for pieces in self.stream_batch(prompt, config, unknown):
            for sample, piece in zip(parts, pieces):
                if piece:
                    sample.append(piece)
        return ["".join(sample) for sample in parts]

    def generate(self, prompt: str | Sequence[int] = "", config: GenerationConfig | None = None, unknown: str = "error", **overrides: Any) -> str:
        """Generate one continuation of ``prompt``; keywords override fields of ``GenerationConfig``."""
        return "".join(self.stream(prompt, config, unknown, **overrides))

    def beam_search(self, prompt: str | Sequence[int] = "", config: GenerationConfig | None = None, unknown: str = "error", **overrides: Any) -> list[Hypothesis]:
        """The ``num_samples`` most probable continuations under ``num_beams`` beams, each with its log-probability.

            lm.beam_search("ROMEO:", max_tokens=40, num_beams=8, num_samples=3, stop=["\n"])
        """
        ids, config = self._prepare(prompt, config, unknown, overrides)
        return beam_search(self.decoding_model, self.tokenizer, ids, config, prompt if isinstance(prompt, str) else None)

    def next_token_candidates(self, prompt: str = "", count: int = 5, config: GenerationConfig | None = None,
                              unknown: str = "error", **overrides: Any) -> list[tuple[str, float]]:
        """The ``count`` likeliest next tokens after ``prompt`` with their probabilities, as sampling sees them
        (after the configuration's processors: temperature, top-k, ...; the model's own with the defaults)."""
        ids, config = self._prepare(prompt, config, unknown, overrides)
        logits = Stepper(self.model, self.tokenizer.never_generated).prefill(ids)  # [1, V]
        history = torch.tensor([ids], device=logits.device)
        processed = apply_processors(logits.float(), build_processors(replace(config, temperature=config.temperature or 1.0)), history,
                                     len(ids))
        probabilities = processed.softmax(dim=-1)[0]
        top = probabilities.topk(min(count, probabilities.numel()))
        return [(self.tokenizer.decode([index]), value) for value, index in zip(top.values.tolist(), top.indices.tolist()) if value > 0]

    def score(self, text: str | Sequence[int], top: int = 0, unknown: str = "error") -> list[TokenScore]:
        """Each token of ``text`` with log p(token | the text before it) under the model, read from a fresh
        state (as a prompt is), and the ``top`` likeliest tokens at each position; the first token has None.
        ``text`` may be token ids (checked against the vocabulary)."""
        ids = self.tokenizer.encode(text, unknown=unknown).tolist() if isinstance(text, str) else self.encode_prompt(text)
        logprobs: list[float] = []
        alternatives: list[tuple[tuple[int, float], ...]] = []

        def observe(logits: torch.Tensor, offset: int) -> None:  # logits [1, C, V] predicting ids[offset + 1 ...]
            log_p = torch.log_softmax(logits[0].double(), dim=-1)
            targets = torch.tensor(ids[offset + 1 : offset + 1 + log_p.shape[0]], device=log_p.device)
            logprobs.extend(log_p[: len(targets)].gather(-1, targets[:, None])[:, 0].tolist())
            if top > 0:
                values, index = log_p[: len(targets)].topk(min(top, log_p.shape[-1]), dim=-1)
                alternatives.extend(tuple(zip(i, v)) for i, v in zip(index.tolist(), values.tolist()))

        if len(ids) > 1:
            Stepper(self.model, self.tokenizer.never_generated).prefill(ids[:-1], observe=observe)
        decoder = self.tokenizer.stream_decoder()
        return [TokenScore(token, decoder.feed(token), None if i == 0 else logprobs[i - 1],
                           (None if i == 0 else alternatives[i - 1]) if top > 0 else None)
                for i, token in enumerate(ids)]

    # ----- scoring ---------------------------------------------------------------------------------
    def evaluate(self, text: str, dynamic: DynamicEvaluation | bool | None = None) -> LossReport:
        """Per-token loss of a text; symbols the vocabulary lacks are scored as the unknown symbol.

        ``dynamic`` (True for the defaults, or a ``DynamicEvaluation``) scores it with dynamic evaluation: the
        weights keep learning from the text already read (``evaluation.dynamic``); this model is not changed.
        The report's ``protocol`` says which measure it is."""
        unknown = sum(self.tokenizer.unknown_symbols(text).values())
        tokens = self.tokenizer.encode(text, unknown="replace")
        characters, encoded = scored_text_size(self.tokenizer, tokens[0], len(text), len(text.encode("utf-8", errors="surrogatepass"))) \
            if len(tokens) else (None, None)
        if dynamic:
            settings = dynamic if isinstance(dynamic, DynamicEvaluation) else DynamicEvaluation()
            return dynamic_evaluate(self.model, tokens, settings, unknown=unknown, characters=characters, bytes=encoded)
        positions = segment_starts(tokens, self.tokenizer)
        return evaluate(self.model, tokens, unknown=unknown, cold_start_positions=positions, characters=characters, bytes=encoded)

    def evaluate_labels(self, documents: Iterable[tuple[str, str]]) -> LabelReport:
        """Label accuracy on held-out ``(label, text)`` documents (``evaluation.labels``): each scored under every label
        this model knows; how often its true label scores best, and each label's NLL under its own label."""
        return label_accuracy(self.model, self.tokenizer, documents)

    def adapted_to(self, text: str, settings: DynamicEvaluation | None = None) -> "LanguageModel":
        """The model after reading ``text`` with dynamic evaluation's updates (``evaluation.dynamic``): its weights
        adapted to the text's vocabulary and style. Generate with ``text`` (or its end) as the prompt to continue
        the document in its own voice. This model is not changed; the adapted one keeps its decoding precision."""
        tokens = self.tokenizer.encode(text, unknown="replace")
        adapted, _, report = adapted_copy(self.model, tokens, settings)
        language_model = LanguageModel(adapted, self.tokenizer, self.train_config, self.metrics, self.path,
                                       {**self.extra, "adapted": {"protocol": report.protocol, "tokens": report.tokens,
                                                                  "nats_while_reading": report.nats}},
                                       precision=self.precision)
        language_model.precision_reason = self.precision_reason
        return language_model

    # ----- description -----------------------------------------------------------------------------
    @property
    def config(self) -> ModelConfig:
        return self.model.config

    @property
    def chat_template(self) -> str | None:
        """The chat template the model was trained with (``train --chat-template``), or None."""
        return (self.train_config.chat_template if self.train_config is not None else "") or None

    def info(self) -> dict[str, Any]:
        best = self.extra.get("best_val") or {}
        return {
            "path": str(self.path) if self.path else None,
            "model": self.model.config.to_dict(),
            "parameters": self.model.num_parameters(),
            "parameter_table": [{"name": n, "shape": list(s), "count": c} for n, s, c in self.model.parameter_table()],
            "tokenizer": {"kind": self.tokenizer.kind, "vocab_size": self.tokenizer.vocab_size, "lowercase": getattr(self.tokenizer, "lowercase", False),
                          "labels": list(self.labels)},
            "chat_template": self.chat_template,
            "training": {"steps": self.extra.get("steps"), "evaluations": len(self.metrics), "data": self.extra.get("data", {})},
            "best_validation": {k: best[k] for k in ("step", "val_nats", "val_bits", "val_perplexity", "val_bits_per_char", "val_bits_per_byte", "val_cold_start_nats",
                                                        "val_cold_start_context_nats", "val_cold_start_ratio") if k in best},
            # The weights generation reads (what --precision auto chose, and why; reason None when it was named).
            "decoding": {"precision": self.precision, "reason": self.precision_reason},
        }
