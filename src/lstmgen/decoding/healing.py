"""Token healing: a subword prompt's last token is taken back, and the first generated token must start with it.

A byte-level BPE (or unigram) model learns " king" as one token, so a prompt ending in a space, "The king ",
ends in a lone " " token the corpus rarely has there (spaces lead words, they do not end them), and the
continuation starts from a context the model hardly knows ("The king \\nThat hath..."). Healing removes the
prompt's last token and lets the first step draw only tokens whose bytes begin with that token's bytes
(" ", " is", " king's", ...): the text is the same prompt, tokenized as the model would have written it.
The first token's text repeats the removed one, which the output leaves out, so prompt + output is still
what the user typed followed by the model's continuation.

Only subword tokenizers are healed (characters, bytes and words are whole units already), only prompts of
two or more tokens, and only a last token that is whole UTF-8 on its own (a token ending inside a character
is left as it is). ``GenerationConfig.token_healing`` (``--no-token-healing``) turns it off.
"""

from __future__ import annotations

import bisect
import weakref
from dataclasses import dataclass
from typing import Sequence

import torch

from ..tokenizers import StreamDecoder, Tokenizer, supports_healing


@dataclass(frozen=True)
class Healing:
    """The prompt's last token, taken back: its text, and the ids the first step may draw."""

    text: str  # the removed token's text, repeated at the start of the first token's and left out of the output
    allowed: torch.Tensor  # [V] bool: the ids whose bytes start with the removed token's

    def constrain(self, logits: torch.Tensor) -> torch.Tensor:
        """The first step's logits [B, V] with every other id at -inf (a new tensor)."""
        return logits.masked_fill(~self.allowed.to(logits.device), float("-inf"))


def heal_prompt(tokenizer: Tokenizer, ids: Sequence[int]) -> tuple[list[int], Healing | None]:
    """(the prompt's ids without its last token, the Healing) where the prompt can be healed, else (ids, None)."""
    ids = list(ids)
    if not supports_healing(getattr(tokenizer, "kind", "")) or len(ids) < 2 or ids[-1] == tokenizer.end_of_document:
        return ids, None
    if ids[-1] in tokenizer.never_generated:  # a label (control code) ends the prompt: it is not text, nothing to heal
        return ids, None
    last = tokenizer.token_bytes(ids[-1])
    try:
        # Whole UTF-8 on its own: then it starts on a character boundary of the (whole) prompt, so the ids before it
        # decode completely, and the first token's text starts with exactly this text.
        text = last.decode("utf-8")
    except UnicodeDecodeError:
        return ids, None
    allowed = torch.zeros(tokenizer.vocab_size, dtype=torch.bool)
    allowed[_ids_starting_with(tokenizer, last)] = True  # the removed token itself among them
    return ids[:-1], Healing(text, allowed)


# tokenizer -> its tokens' bytes, sorted, with their ids: a prefix's tokens are one contiguous run of the list,
# found by two binary searches. Built once per tokenizer.
_SORTED: "weakref.WeakKeyDictionary[Tokenizer, tuple[list[bytes], list[int]]]" = weakref.WeakKeyDictionary()


def _ids_starting_with(tokenizer: Tokenizer, prefix: bytes) -> list[int]:
    cached = _SORTED.get(tokenizer)
    if cached is None:
        pairs = sorted((tokenizer.token_bytes(i), i) for i in range(tokenizer.vocab_size) if i != tokenizer.end_of_document)
        cached = _SORTED[tokenizer] = ([b for b, _ in pairs], [i for _, i in pairs])
    keys, values = cached
    start = bisect.bisect_left(keys, prefix)
    following = _successor(prefix)  # the least bytes above every extension of the prefix
    end = len(keys) if following is None else bisect.bisect_left(keys, following, lo=start)
    return values[start:end]


def _successor(prefix: bytes) -> bytes | None:
    """The least byte string greater than every string that starts with ``prefix`` (None if there is none)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


class HealedDecoder:
    """A stream decoder whose output leaves out the removed token's text, which the first token repeats."""

    def __init__(self, decoder: StreamDecoder, text: str) -> None:
        self.decoder, self.owed = decoder, text

    def feed(self, token_id: int) -> str:
        text = self.decoder.feed(token_id)
        if self.owed:
            if text.startswith(self.owed):
                text, self.owed = text[len(self.owed) :], ""
            elif self.owed.startswith(text):  # held back inside a character: the rest comes with the next token
                text, self.owed = "", self.owed[len(text) :]
            else:  # never hide what the model wrote (only a constraint bypassed could get here)
                self.owed = ""
        return text
