"""Constraints on what a sample may write: a pattern, an acrostic, words that must or must not appear.

``GenerationConfig`` names them; ``build_constraint`` turns them into one ``Constraint`` per group of streams
(a prompt's samples, or its beams), which masks each step's logits [n, V] and follows every stream's state:

- ``regex``: the generated text (not the prompt) must match the pattern as a whole. Only tokens after which the
  text is still the start of a match can be drawn (``automaton.TokenAutomaton``).
- ``line_starts`` "ABCD": line i of the generated text starts with the i-th character (an acrostic). It is the
  pattern ``A[^\\n]*\\nB[^\\n]*\\nC[^\\n]*\\nD[^\\n]*\\n?``: the sample ends at the line break after the last line.
- ``must_include``: each word appears somewhere in the generated text (as written, anywhere, even inside a
  longer word). The pattern "contains every word" joins the others; the model writes freely until the tokens
  left are just enough to spell what is still missing, and from then on only tokens that keep a whole match
  within the budget can be drawn, so the words arrive at the latest possible place.
- ``bad_words``: Hugging Face's ``bad_words_ids``, by text: each word's token sequences (its tokenization, and
  with a leading space for subword tokenizers) are banned: the last token of a sequence cannot be drawn right
  after the tokens before it. Another tokenization of the same text is not banned (as in Hugging Face).

The patterns are intersected into one automaton. Every stream keeps its state in it; at each step the tokens
allowed are those from which an accepting state stays reachable within the token budget left, so every sample
ends with a whole match. A sample finishes ("stop") once its text is a whole match that cannot go on within
the budget (the automaton accepts nothing longer); a match that could still grow goes on while the model
continues it (to ``max_tokens``, an end of document or a stop string: a stop string may cut a match short).
Constraints no text can satisfy are a ConfigError before the first step; one that leaves a stream with no
token at some step (bad words across the only path) is a ValueError there.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Sequence

import torch

from ..config import ConfigError, GenerationConfig
from ..tokenizers import SUBWORD_KINDS, Tokenizer
from .automaton import BEYOND, TokenAutomaton, automaton_for, compile_pattern, literal, start_context
from .healing import Healing
from .musical_rules import AbcRules, MidiRules, musical_rules

ANYTHING = r"[\s\S]*"
MAX_COMBINED = 200_000  # states the intersection of several patterns may reach, at most (before pruning)


def constrained(config: GenerationConfig) -> bool:
    return bool(config.regex or config.line_starts or config.must_include or config.bad_words)


def acrostic_pattern(letters: str) -> str:
    """Line i starts with letters[i]; the last line may end with a line break (which then ends the sample)."""
    lines = [literal(letter) + r"[^\n]*" for letter in letters]
    return r"\n".join(lines) + r"\n?"


@functools.lru_cache(maxsize=64)
def language(regex: str, line_starts: str, must_include: tuple[str, ...]) -> Any:
    """The interegular automaton of every pattern the settings name, intersected (None when they name none)."""
    parts = []
    if regex:
        parts.append(compile_pattern(regex, "regex"))
    if line_starts:
        parts.append(compile_pattern(acrostic_pattern(line_starts), "line_starts"))
    for word in must_include:
        parts.append(compile_pattern(ANYTHING + literal(word) + ANYTHING, "must_include"))
    if not parts:
        return None
    # The intersection's states are pairs (triples, ...) of the parts' states: bounded before it is built.
    if math.prod(len(part.states) for part in parts) > MAX_COMBINED:
        raise ConfigError(f"these constraints together could need up to {math.prod(len(part.states) for part in parts):,} states "
                          f"(the product of each one's); at most {MAX_COMBINED:,} are allowed: drop some required words",
                          "must_include" if must_include else None)
    joined = parts[0]
    for part in parts[1:]:
        joined = joined & part
    return joined


def _describe(config: GenerationConfig) -> tuple[str, str | None]:
    """What the patterns are, in words, and the field an error is about (None when several)."""
    named = [(f"the pattern {config.regex!r}", "regex")] if config.regex else []
    if config.line_starts:
        named.append((f"the acrostic {config.line_starts!r}", "line_starts"))
    if config.must_include:
        named.append((f"the words that must appear ({', '.join(map(repr, config.must_include))})", "must_include"))
    return " together with ".join(text for text, _ in named), named[0][1] if len(named) == 1 else None


class BadWords:
    """Hugging Face's bad_words_ids: the last token of a banned sequence cannot follow the rest of it.

    Each stream's last few tokens are kept as a Python tuple, and the banned sequences in a table from their
    first tokens to their last, so a step costs a few dictionary lookups per stream, not tensor work per word.
    """

    def __init__(self, sequences: Sequence[Sequence[int]], rows: int, prompt_ids: Sequence[int]) -> None:
        self.always = sorted({s[0] for s in sequences if len(s) == 1})  # one-token words: banned everywhere
        self.following: dict[tuple[int, ...], list[int]] = {}  # first tokens -> the last tokens banned after them
        for sequence in {tuple(s) for s in sequences if len(s) > 1}:
            self.following.setdefault(sequence[:-1], []).append(sequence[-1])
        self.sizes = sorted({len(prefix) for prefix in self.following})
        self.width = max(self.sizes, default=0)
        recent = tuple(prompt_ids)[len(prompt_ids) - self.width :] if self.width else ()
        self.recent = [recent] * rows  # per stream: its last ``width`` tokens (the prompt's first)
        self._always: dict[torch.device, torch.Tensor] = {}

    @classmethod
    def of(cls, tokenizer: Tokenizer, words: Sequence[str], rows: int, prompt_ids: Sequence[int]) -> "BadWords":
        sequences = []
        for word in words:
            for text in (word, " " + word) if getattr(tokenizer, "kind", "") in SUBWORD_KINDS else (word,):
                ids = tokenizer.encode(text, unknown="replace").tolist()
                if ids and tokenizer.unknown_id not in ids:  # a word spelt with unknown symbols can never be written
                    sequences.append(ids)
        banned = {s[0] for s in sequences if len(s) == 1} | set(tokenizer.never_generated)
        if len(banned) >= tokenizer.vocab_size:
            raise ConfigError("bad_words ban every token of this vocabulary: nothing could be written", "bad_words")
        return cls(sequences, rows, prompt_ids)

    def ban(self, logits: torch.Tensor) -> tuple[torch.Tensor, list[int]]:
        """(logits [n, V] with the banned tokens at -inf (a new tensor), the rows a sequence's end was banned in)."""
        masked = logits
        if self.always:
            index = self._always.get(logits.device)
            if index is None:
                index = self._always[logits.device] = torch.tensor(self.always, dtype=torch.long, device=logits.device)
            masked = masked.index_fill(-1, index, float("-inf"))
        rows, columns = [], []
        following = self.following
        for row, recent in enumerate(self.recent):
            for size in self.sizes:
                banned = following.get(recent[len(recent) - size :]) if len(recent) >= size else None
                if banned:
                    rows.extend([row] * len(banned))
                    columns.extend(banned)
        if rows:
            masked = masked.clone() if masked is logits else masked
            masked[rows, columns] = float("-inf")
        return masked, sorted(set(rows)) if not self.always else list(range(logits.shape[0]))

    def follow(self, rows: Sequence[int], tokens: Sequence[int]) -> None:
        if self.width:
            width, recent = self.width, self.recent
            self.recent = [(recent[row] + (token,))[-width:] for row, token in zip(rows, tokens)]


class Constraint:
    """The constraints of one group of streams: each stream's automaton state, the banned sequences, and a music
    model's rules (``musical_rules``: bars that add up, a piece's least length)."""

    def __init__(self, automaton: TokenAutomaton | None, bad_words: BadWords | None, rows: int, max_tokens: int,
                 rules: AbcRules | MidiRules | None = None) -> None:
        self.automaton, self.bad_words, self.max_tokens, self.rules = automaton, bad_words, max_tokens, rules
        self.states = [automaton.start] * rows if automaton is not None else []

    def mask(self, logits: torch.Tensor, step: int, free: Sequence[bool] | None = None) -> torch.Tensor:
        """Step ``step``'s logits [n, V] with every token the constraints rule out at -inf (a new tensor).

        ``free`` marks streams that have finished (their draws are ignored): nothing is masked for them.
        """
        masked = logits
        automaton = self.automaton
        if automaton is not None:
            budget = self.max_tokens - step  # tokens left, this one included
            blocked, distances = automaton.tables(logits.device)
            states = torch.tensor(self.states, dtype=torch.long, device=logits.device)
            farthest = automaton.farthest
            if max(farthest[s] for s in set(self.states)) < budget:
                block = blocked[states]  # [n, V]: with this much budget left, it cuts nothing
            else:  # near the end: only tokens that leave a whole match reachable in the budget left
                block = distances[states] >= budget
            if free is not None and any(free):
                block = block & ~torch.tensor(free, dtype=torch.bool, device=logits.device)[:, None]
            masked = logits.masked_fill(block, float("-inf"))
        if self.bad_words is not None:  # the automaton alone always leaves a token; bans may take the last one
            masked, touched = self.bad_words.ban(masked)
            if touched and automaton is not None:  # alone, bans cannot empty a row (BadWords.of refuses banning every token)
                empty = torch.isneginf(masked[touched]).all(dim=-1)
                if bool(empty.any()):
                    rows = [touched[i] for i in empty.nonzero()[:, 0].tolist()]
                    if not all(free and free[row] for row in rows):
                        raise ValueError(f"the constraints leave no token to write at step {step + 1} (banned words block the "
                                         "only continuations of the pattern); loosen them")
                    masked[rows] = logits[rows]  # finished streams: any draw will do
        if self.rules is not None:  # last: the rules let a stream go where they alone would leave it nothing to move on with
            masked = self.rules.mask(masked, free)
        return masked

    def follow(self, rows: Sequence[int], tokens: Sequence[int]) -> None:
        """Stream i continues stream ``rows[i]`` with ``tokens[i]`` (sampling: rows in order; beam search: the survivors)."""
        if self.automaton is not None:
            transitions, states = self.automaton.transitions, self.states
            self.states = [transitions[states[row]].get(token, states[row]) for row, token in zip(rows, tokens)]
        if self.bad_words is not None:
            self.bad_words.follow(rows, tokens)
        if self.rules is not None:
            self.rules.follow(rows, tokens)

    def advance(self, tokens: Sequence[int]) -> None:
        self.follow(range(len(tokens)), tokens)

    def next_state(self, row: int, token: int) -> int:
        return self.automaton.transitions[self.states[row]].get(token, self.states[row]) if self.automaton else 0

    def complete(self, state: int, steps: int) -> bool:
        """Whether a stream at ``state`` after ``steps`` tokens holds a whole match that can grow no longer: none can, or
        none fits in the tokens left (with none left, the sample ends at its length instead, unless none can)."""
        automaton = self.automaton
        if automaton is None or not automaton.accepting[state]:
            return False
        budget = self.max_tokens - steps
        return automaton.cheapest[state] == BEYOND or (budget > 0 and not automaton.can_go_on(state, budget))

    def finished(self, steps: int) -> list[bool] | None:
        """Per stream, whether its match can grow no longer after ``steps`` tokens (None: none has finished so)."""
        if self.automaton is None:
            return None
        ended = {state for state in set(self.states) if self.complete(state, steps)}
        return [state in ended for state in self.states] if ended else None


def build_constraint(tokenizer: Tokenizer, config: GenerationConfig, rows: int, prompt_ids: Sequence[int] = (),
                     prompt_text: str | None = None, healing: Healing | None = None) -> Constraint | None:
    """The constraints ``config`` names for ``rows`` streams after ``prompt_ids``, with a music model's rules (None when
    there are none).

    Raises ConfigError (naming the field) for a pattern that does not compile, that no text this vocabulary
    can spell matches, or whose shortest match takes more than ``max_tokens`` tokens.
    """
    rules = musical_rules(tokenizer, config, rows, prompt_ids)
    if not constrained(config):
        return None if rules is None else Constraint(None, None, rows, config.max_tokens, rules)
    fsm = language(config.regex, config.line_starts, tuple(config.must_include))
    automaton = None
    if fsm is not None:
        what, field = _describe(config)
        if healing is not None:
            healed = healing.text.encode("utf-8")
            key = (config.regex, config.line_starts, tuple(config.must_include), "healed", healed)
            automaton = automaton_for(key, fsm, tokenizer, healed=healed, healed_ids=healing.allowed.nonzero()[:, 0].tolist(),
                                      what=what, field=field)
        else:
            context = start_context(tokenizer, prompt_ids, prompt_text)
            key = (config.regex, config.line_starts, tuple(config.must_include), context)
            automaton = automaton_for(key, fsm, tokenizer, prompt_ids=prompt_ids, prompt_text=prompt_text, what=what, field=field)
        shortest = automaton.distance[automaton.start]
        if shortest > config.max_tokens:
            raise ConfigError(f"the shortest text matching {what} takes {shortest} tokens of this vocabulary, more than "
                              f"max_tokens={config.max_tokens}; allow more tokens", "max_tokens")
    bad_words = BadWords.of(tokenizer, config.bad_words, rows, prompt_ids) if config.bad_words else None
    return Constraint(automaton, bad_words, rows, config.max_tokens, rules)


def check_constraint(tokenizer: Tokenizer, config: GenerationConfig) -> None:
    """Raise the ConfigError ``build_constraint`` would (for a prompt that leaves no separator pending), building
    nothing per stream: what a server checks before it admits a request."""
    build_constraint(tokenizer, config, 1)


__all__ = ["BEYOND", "BadWords", "Constraint", "build_constraint", "check_constraint", "constrained", "language"]
