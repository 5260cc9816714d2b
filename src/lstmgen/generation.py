"""Generation as an iterator: prefill the prompt once, then step the carried state one token at a time.

``decode_steps`` yields the next token of every sample ([B] ids) per step, with the logits it was drawn
from; ``generate_tokens`` yields the tokens alone. Neither re-feeds a window, so each token costs one
recurrent step: through ``lstmgen.fast_decode`` for LSTM models (preallocated buffers, fused matmuls),
through ``model.forward`` for the others. ``generate_text`` sits on top: it decodes the ids of
each sample incrementally, applies stop strings (holding back text that might be the start of one),
and yields the new text of every sample per step. The CLI streams from it, ``LanguageModel.generate``
collects it.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Iterator, Sequence

import torch

from .config import GenerationConfig
from .model import RecurrentLanguageModel
from .fast_decode import FastLSTMDecoder, supports_fast_decoding
from .sampling import build_processors, choose_tokens, needs_history
from .tokenizers import Tokenizer


@contextlib.contextmanager
def without_onednn() -> Iterator[None]:
    """oneDNN off inside: its one-token LSTM calls cost milliseconds each on a CPU. For loops of single
    recurrent steps whose tensors may still feed autograd later (the SeqGAN rollouts)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # oneDNN's flag setter warns about Intel GPUs
        with torch.backends.mkldnn.flags(enabled=False):
            yield


@contextlib.contextmanager
def single_step_mode() -> Iterator[None]:
    """Inference without autograd and without oneDNN: the context of every decoding loop here."""
    with torch.inference_mode(), without_onednn():
        yield


def make_generator(seed: int | None, device: torch.device | str = "cpu") -> torch.Generator | None:
    if seed is None:
        return None
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator


def decode_steps(
    model: RecurrentLanguageModel,
    prompt_ids: Sequence[int],
    config: GenerationConfig,
    generator: torch.Generator | None = None,
    banned: Sequence[int] = (),
    fast: bool | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``config.max_tokens`` steps of (tokens [B] int64, logits [B, V]) from a non-empty prompt.

    ``logits`` are the model's raw next-token logits the tokens were drawn from (``banned`` ids at -inf,
    before any processor); the tensor may be a buffer the next step overwrites, so copy it to keep it.
    The prompt is run once, for one stream, and its state copied to the ``num_samples`` streams.
    ``fast`` picks the hand-stepped LSTM decoder (None: whenever the model is an LSTM); it draws the same
    tokens as stepping ``model.forward`` (``fast=False``), which every other model uses.
    """
    if len(prompt_ids) == 0:
        raise ValueError("generation needs a prompt of at least one token")
    if config.num_beams > 1:
        raise ValueError("decode_steps samples; beam search (num_beams > 1) runs through lstmgen.beam_search")
    use_fast = supports_fast_decoding(model) if fast is None else fast
    device = model.output.weight.device
    processors = build_processors(config)
    batch = config.num_samples
    was_training = model.training
    model.eval()
    try:
        with single_step_mode():
            prompt = torch.as_tensor(list(prompt_ids), dtype=torch.long, device=device)
            logits, state = model(prompt[None], model.init_state(1, device))  # prefill once: [1, P] -> [1, P, V]
            state = tuple(s.expand(-1, batch, -1).contiguous() for s in state)  # the same start for every sample
            banned_ids = torch.as_tensor(list(banned), dtype=torch.long, device=device)
            last = logits[:, -1].expand(batch, -1)  # [B, V]
            if len(banned_ids):
                last = last.index_fill(-1, banned_ids, float("-inf"))
            decoder = None
            history = None
            if needs_history(processors):  # [B, P + max_tokens], filled as tokens are chosen
                history = torch.empty(batch, len(prompt_ids) + config.max_tokens, dtype=torch.long, device=device)
                history[:, : len(prompt_ids)] = prompt
            for step in range(config.max_tokens):
                seen = None if history is None else history[:, : len(prompt_ids) + step]
                tokens = choose_tokens(last, config, processors, generator, seen)  # [B]
                if history is not None:
                    history[:, len(prompt_ids) + step] = tokens
                yield tokens, last
                if step + 1 == config.max_tokens:
                    break
                if use_fast and decoder is None:  # built after the first token, so it does not delay it
                    decoder = FastLSTMDecoder(model, batch, banned=banned)
                    decoder.load_state(state)
                if decoder is not None:
                    last = decoder.step(tokens)  # [B, V], banned ids already -inf
                    continue
                logits, state = model(tokens[:, None], state)  # one step: [B, 1] -> [B, 1, V]
                last = logits[:, -1]
                if len(banned_ids):
                    last = last.index_fill(-1, banned_ids, float("-inf"))
    finally:
        model.train(was_training)


def generate_tokens(
    model: RecurrentLanguageModel,
    prompt_ids: Sequence[int],
    config: GenerationConfig,
    generator: torch.Generator | None = None,
    banned: Sequence[int] = (),
    fast: bool | None = None,
) -> Iterator[torch.Tensor]:
    """Yield ``config.max_tokens`` steps of next tokens, each [num_samples] int64, from a non-empty prompt.

    ``banned`` ids are never generated (the character tokenizer's unknown symbol, which is not text).
    """
    for tokens, _ in decode_steps(model, prompt_ids, config, generator, banned, fast):
        yield tokens


def _held_back(text: str, stops: Sequence[str]) -> int:
    """Length of the longest end of ``text`` that could still grow into a stop string."""
    longest = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:size]):
                longest = size
                break
    return longest


def generate_text(
    model: RecurrentLanguageModel,
    tokenizer: Tokenizer,
    prompt_ids: Sequence[int],
    config: GenerationConfig,
    generator: torch.Generator | None = None,
    fast: bool | None = None,
) -> Iterator[list[str]]:
    """Yield, per step, the new text of each sample (empty for a sample that has stopped)."""
    batch = config.num_samples
    decoders = [tokenizer.stream_decoder(prompt_ids) for _ in range(batch)]
    texts = [""] * batch
    emitted = [0] * batch
    done = [False] * batch
    for tokens in generate_tokens(model, prompt_ids, config, generator, tokenizer.never_generated, fast):
        pieces = [""] * batch
        for row, token in enumerate(tokens.tolist()):
            if done[row]:
                continue
            texts[row] += decoders[row].feed(token)
            text = texts[row]
            hits = [i for i in (text.find(s, max(0, emitted[row] - len(s))) for s in config.stop) if i >= 0]
            if hits:
                texts[row] = text = text[: min(hits)]
                done[row] = True
                safe = len(text)
            else:
                safe = len(text) - _held_back(text, config.stop)
            pieces[row] = text[emitted[row] : safe]
            emitted[row] = max(emitted[row], safe)
        yield pieces
        if all(done):
            return
    # The token budget ran out: release any text held back for a stop string that never came.
    tail = [text[count:] if not finished else "" for text, count, finished in zip(texts, emitted, done)]
    if any(tail):
        yield tail


def default_prompt_ids(tokenizer: Tokenizer, prompt: str) -> list[int]:
    """Prompt ids for generation; an empty prompt starts from a newline (or the first symbol)."""
    if prompt:
        return tokenizer.encode(prompt, unknown="replace").tolist()
    ids = tokenizer.encode("\n", unknown="skip").tolist()
    return ids or [1]
