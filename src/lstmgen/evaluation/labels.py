"""Label accuracy: how well a labelled model (tokenizers.labels) knows its labels, on held-out labelled documents.

Every document is scored under every label the model knows: the NLL of its text read from a fresh state
after [end of document, label], as the corpus showed it to the model and as generation under that label
starts. The label under which the text is likeliest is the model's guess (a classifier by Bayes' rule
with a uniform prior over labels); **label accuracy** is the share of documents whose true label it
guesses. Beside it, the NLL of each label's documents under their own label (nats per token and bits per
character), and the confusion counts (true label -> guessed label).

All labels of a document (and several documents) are scored side by side in one batch: rows of
[eod, label, text...], padded to the longest text and masked, read in windows with the state carried.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import torch
import torch.nn.functional as F

from ..model import RecurrentLanguageModel, device_of, evaluation_mode
from ..tokenizers import LabelledTokenizer, Tokenizer, label_id, labels_of
from .measures import nats_to_bits

PROTOCOL = "labels: each document scored from a fresh state after [end of document, label], under every label"
ROWS = 64  # rows (document x label) scored together
WINDOW = 256  # tokens per forward call (the state is carried between windows)
LOGITS = 1 << 24  # the most logits one forward call builds (as evaluation.static)


@dataclass(frozen=True)
class LabelScore:
    """One label's held-out documents: how many, how often the model put their label first, their NLL under it."""

    documents: int
    correct: int
    tokens: int
    characters: int
    total_nats: float

    @property
    def accuracy(self) -> float:
        return self.correct / self.documents if self.documents else 0.0

    @property
    def nats(self) -> float:
        return self.total_nats / self.tokens if self.tokens else 0.0

    @property
    def bits_per_character(self) -> float | None:
        return nats_to_bits(self.total_nats / self.characters) if self.characters else None

    def to_dict(self) -> dict[str, Any]:
        return {"documents": self.documents, "accuracy": self.accuracy, "nats": self.nats, "bits": nats_to_bits(self.nats),
                "tokens": self.tokens, "characters": self.characters, "bits_per_character": self.bits_per_character}


@dataclass(frozen=True)
class LabelReport:
    """Label accuracy over held-out documents, each label's NLL, and the confusion counts (true -> guessed)."""

    per_label: dict[str, LabelScore]
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)
    protocol: str = PROTOCOL

    @property
    def documents(self) -> int:
        return sum(score.documents for score in self.per_label.values())

    @property
    def accuracy(self) -> float:
        return sum(score.correct for score in self.per_label.values()) / self.documents if self.documents else 0.0

    @property
    def majority(self) -> float:
        """The accuracy of always guessing the most frequent label: the floor a model must beat."""
        return max((score.documents for score in self.per_label.values()), default=0) / self.documents if self.documents else 0.0

    @property
    def tokens(self) -> int:
        return sum(score.tokens for score in self.per_label.values())

    @property
    def nats(self) -> float:
        """Mean NLL per token of every document under its own label."""
        return sum(score.total_nats for score in self.per_label.values()) / self.tokens if self.tokens else 0.0

    @property
    def bits_per_character(self) -> float | None:
        characters = sum(score.characters for score in self.per_label.values())
        return nats_to_bits(self.nats * self.tokens / characters) if characters else None

    def to_dict(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "label_accuracy": self.accuracy, "documents": self.documents, "majority": self.majority,
                "nats": self.nats, "bits": nats_to_bits(self.nats), "tokens": self.tokens,
                "bits_per_character": self.bits_per_character,
                "labels": {label: score.to_dict() for label, score in self.per_label.items()}, "confusion": self.confusion}

    def describe(self) -> str:
        lines = [f"label accuracy {self.accuracy:.2%} ({self.documents:,} documents, {len(self.per_label)} labels; always "
                 f"guessing the most frequent label: {self.majority:.2%})",
                 f"{self.nats:.4f} nats/token under the true label ({self.tokens:,} tokens)"
                 + (f", {self.bits_per_character:.4f} bits/char" if self.bits_per_character is not None else "")]
        width = max((len(label) for label in self.per_label), default=5)
        for label, score in self.per_label.items():
            bits = f", {score.bits_per_character:.4f} bits/char" if score.bits_per_character is not None else ""
            lines.append(f"  {label:<{width}}  {score.documents:>6,} documents  accuracy {score.accuracy:7.2%}  "
                         f"{score.nats:.4f} nats/token{bits}")
        lines.append(f"protocol: {self.protocol}")
        return "\n".join(lines)


def label_nats(model: RecurrentLanguageModel, tokenizer: Tokenizer, texts: Sequence[Sequence[int]]) -> torch.Tensor:
    """[D, L] float64: the total NLL (nats) of each text's tokens read after [eod, label], for each of the L labels."""
    if not isinstance(tokenizer, LabelledTokenizer):
        raise ValueError("label accuracy needs a model trained on labelled documents (lstmgen train DATA --labels ...)")
    labels = tokenizer.labels
    label_ids = [tokenizer.label_id(label) for label in labels]
    device = device_of(model)
    totals = torch.zeros(len(texts), len(labels), dtype=torch.float64)
    per_group = max(1, min(ROWS // len(labels), LOGITS // max(1, WINDOW * len(labels) * tokenizer.vocab_size)))
    order = sorted(range(len(texts)), key=lambda index: len(texts[index]))  # like lengths together: little padding
    with evaluation_mode(model):
        for start in range(0, len(order), per_group):
            group = order[start : start + per_group]
            length = max(len(texts[index]) for index in group) + 2
            rows = torch.zeros(len(group) * len(labels), length, dtype=torch.long)  # [R, 2 + longest]: eod, label, text, padding
            scored = torch.zeros_like(rows, dtype=torch.bool)  # which positions are text to score
            for g, index in enumerate(group):
                ids = torch.as_tensor(list(texts[index]), dtype=torch.long)
                for k, label in enumerate(label_ids):
                    row = g * len(labels) + k
                    rows[row, 0], rows[row, 1] = tokenizer.end_of_document, label
                    rows[row, 2 : 2 + len(ids)] = ids
                    scored[row, 2 : 2 + len(ids)] = True
            rows, scored = rows.to(device), scored.to(device)
            nats = torch.zeros(rows.shape[0], dtype=torch.float64, device=device)
            state = None
            for left in range(0, length - 1, WINDOW):
                right = min(left + WINDOW, length - 1)
                logits, state = model(rows[:, left:right], state)  # [R, W, V] predicting rows[:, left + 1 : right + 1]
                targets = rows[:, left + 1 : right + 1]
                losses = F.cross_entropy(logits.float().transpose(1, 2), targets, reduction="none")  # [R, W]
                nats += (losses.double() * scored[:, left + 1 : right + 1]).sum(dim=1)
            totals[group] = nats.cpu().view(len(group), len(labels))
    return totals


def label_accuracy(model: RecurrentLanguageModel, tokenizer: Tokenizer, documents: Iterable[tuple[str, str]]) -> LabelReport:
    """Score held-out ``documents`` ((label, text) pairs) under every label; their labels must be the model's.

    Symbols the vocabulary lacks are scored as the unknown symbol; a document with no tokens is skipped."""
    labels = labels_of(tokenizer)
    pairs: list[tuple[str, list[int], int]] = []
    for label, text in documents:
        label_id(tokenizer, label)  # a label the model lacks: a LabelError listing the ones it knows
        ids = tokenizer.encode(text, unknown="replace").tolist()
        if ids:
            pairs.append((label, ids, len(text)))
    if not pairs:
        raise ValueError("no held-out document with text to score")
    totals = label_nats(model, tokenizer, [ids for _, ids, _ in pairs])
    guesses = totals.argmin(dim=1).tolist()
    confusion = {label: {} for label in labels}
    counts = {label: [0, 0, 0, 0, 0.0] for label in labels}  # documents, correct, tokens, characters, nats
    for (label, ids, characters), guess, row in zip(pairs, guesses, totals):
        guessed = labels[guess]
        confusion[label][guessed] = confusion[label].get(guessed, 0) + 1
        entry = counts[label]
        entry[0] += 1
        entry[1] += int(guessed == label)
        entry[2] += len(ids)
        entry[3] += characters
        entry[4] += float(row[labels.index(label)])
    per_label = {label: LabelScore(int(d), int(c), int(t), int(ch), float(n)) for label, (d, c, t, ch, n) in counts.items() if d}
    if any(not math.isfinite(score.total_nats) for score in per_label.values()):
        raise ValueError("the model's scores are not finite (a diverged checkpoint?)")
    return LabelReport(per_label, {label: row for label, row in confusion.items() if row})
