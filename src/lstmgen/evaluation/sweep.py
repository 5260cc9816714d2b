"""The temperature study: what temperature does to a model's samples, measured.

For each temperature T, ``temperature_sweep`` draws ``num_samples`` samples of ``length`` tokens and reports:

* ``entropy_bits``: mean entropy (bits) of the reweighted next-token distribution p^(1/T) / sum p^(1/T)
  the sampler drew each token from (0 for greedy, T = 0);
* ``nll_nats`` / ``nll_bits``: the model's own negative log-likelihood of the samples (T = 1 scoring:
  how surprising the model finds what it wrote; low T writes text the model finds very likely);
* ``distinct_1/2/3``: distinct word n-grams / all word n-grams over the samples (Li et al. 2016);
* ``repetition``: share of each sample's word 3-grams that already occurred earlier in that sample;
* ``known_words``: share of the generated words (a word cut off by the length limit excluded) that occur
  in the training corpus; the others are invented words, listed in ``invented``;
* for a music model (abc or midi tokenizer), the musical measures (``evaluation.musical.sweep_measures``):
  ``parse_share`` and ``meter_share`` (ABC); ``readable_share``, ``in_key_share``, ``polyphony`` and
  ``pitch_class_distance`` to the held-out pieces (MIDI).

Both distributions exclude the ids the tokenizer never generates (the character model's unknown symbol),
as the sampler does. ``heldout`` (optional) gives the same measures for real text: T = 1 entropy and NLL
under teacher forcing, and the diversity of ``num_samples`` slices of ``length`` tokens of that text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch

from ..config import GenerationConfig
from ..decoding import Stepper, decode, make_generator
from ..model import device_of
from .measures import LN2, entropy_bits, text_measures, words
from .musical import MUSIC_KINDS, heldout_pieces, sweep_measures


def sample_with_measures(lm, prompt_ids: list[int], temperature: float, length: int, num_samples: int, seed: int | None,
                         prompt_text: str | None = None) -> dict[str, Any]:
    """Samples at one temperature with the mean entropy (bits) of the distributions drawn from and their NLL."""
    config = GenerationConfig(max_tokens=length, temperature=temperature, num_samples=num_samples, seed=seed)
    generator = make_generator(seed, device_of(lm.model))
    entropy_sum = nll_sum = 0.0
    count = 0
    texts = [""] * num_samples
    for record in decode(lm.decoding_model, lm.tokenizer, prompt_ids, config, generator, logprobs=0, keep_logits=True,
                         prompt_text=prompt_text):
        live = [row for row, token in enumerate(record.tokens) if token is not None]  # samples that ended (documents) drop out
        entropy_sum += float(entropy_bits(record.logits[live], temperature).sum())
        nll_sum -= sum(record.logprobs[row] for row in live)
        count += len(live)
        texts = [text + piece for text, piece in zip(texts, record.pieces)]
    nats = nll_sum / max(count, 1)
    return {"entropy_bits": entropy_sum / max(count, 1), "nll_nats": nats, "nll_bits": nats / LN2, "samples": texts}


def heldout_measures(lm, text: str, length: int, num_samples: int) -> dict[str, Any]:
    """T = 1 entropy and NLL of the model on real text (teacher forcing), and that text cut like the samples."""
    tokens = lm.tokenizer.encode(text, unknown="replace")[: length * num_samples + 1].tolist()
    if len(tokens) < 2:
        raise ValueError("the held-out text needs at least 2 tokens")
    sums = {"nll": 0.0, "known": 0, "entropy": 0.0, "positions": 0}

    def observe(logits: torch.Tensor, offset: int) -> None:  # logits [1, C, V] predicting tokens[offset + 1 ...]
        log_p = torch.log_softmax(logits[0].double(), dim=-1)
        targets = torch.tensor(tokens[offset + 1 : offset + 1 + log_p.shape[0]], device=log_p.device)
        picked = log_p.gather(-1, targets[:, None])[:, 0]
        known = torch.isfinite(picked)  # an unknown symbol in the text cannot be scored without it
        sums["nll"] -= float(picked[known].sum())
        sums["known"] += int(known.sum())
        sums["entropy"] += float(entropy_bits(logits[0], 1.0).sum())
        sums["positions"] += log_p.shape[0]

    Stepper(lm.model, lm.tokenizer.never_generated).prefill(tokens[:-1], observe=observe)
    nats = sums["nll"] / max(sums["known"], 1)
    slices = [lm.tokenizer.decode(tokens[i : i + length]) for i in range(0, len(tokens) - 1, length)][:num_samples]
    return {"entropy_bits": sums["entropy"] / sums["positions"], "nll_nats": nats, "nll_bits": nats / LN2, "samples": slices}


def temperature_sweep(
    lm,
    temperatures: Sequence[float],
    prompt: str = "",
    length: int = 300,
    num_samples: int = 8,
    seed: int | None = 1234,
    corpus_text: str | None = None,
    heldout_text: str | None = None,
    unknown: str = "error",
) -> dict[str, Any]:
    """Run the study on a ``LanguageModel``; returns a JSON-ready dict with one row per temperature."""
    if not temperatures:
        raise ValueError("the sweep needs at least one temperature, e.g. 0.2,0.5,1.0,1.2")
    if any(t < 0 for t in temperatures):
        raise ValueError(f"temperatures must be >= 0 (0 = greedy), got {list(temperatures)}")
    if length < 1 or num_samples < 1:
        raise ValueError(f"length and num_samples must be at least 1, got {length} and {num_samples}")
    prompt_ids = lm.encode_prompt(prompt, unknown)
    vocabulary = set(words(corpus_text)) if corpus_text is not None else None
    music = lm.tokenizer.kind in MUSIC_KINDS
    pieces = heldout_pieces(heldout_text, lm.tokenizer.kind)[:num_samples] if music and heldout_text else None
    rows = []
    for temperature in temperatures:
        row = {"temperature": float(temperature)}
        row.update(sample_with_measures(lm, prompt_ids, float(temperature), length, num_samples, seed, prompt))
        row.update(text_measures(row["samples"], vocabulary))
        if music:
            row.update(sweep_measures([prompt + sample for sample in row["samples"]], lm.tokenizer, pieces))
        rows.append(row)
    result: dict[str, Any] = {
        "checkpoint": str(lm.path) if lm.path else None, "prompt": prompt, "length": length,
        "num_samples": num_samples, "seed": seed, "tokenizer": lm.tokenizer.kind, "rows": rows,
        "corpus_words": len(vocabulary) if vocabulary is not None else None,
    }
    if heldout_text is not None:
        heldout = heldout_measures(lm, heldout_text, length, num_samples)
        heldout.update(text_measures(heldout["samples"], vocabulary))
        if music:
            heldout.update(sweep_measures(pieces, lm.tokenizer, pieces))
        result["heldout"] = heldout
    return result


# ----- output ------------------------------------------------------------------------------------------
def _cell(value: Any, width: int, digits: int = 3) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.{digits}f}"


def format_table(result: dict[str, Any], excerpt: int = 60) -> str:
    header = f"{'T':>5} {'entropy':>8} {'NLL':>7} {'dist-1':>7} {'dist-2':>7} {'dist-3':>7} {'repeat':>7} {'known':>7}  sample"
    units = f"{'':>5} {'bits':>8} {'bits/tk':>7} {'':>7} {'':>7} {'':>7} {'3-gram':>7} {'words':>7}"
    lines = [header, units]
    rows = list(result["rows"]) + ([{**result["heldout"], "temperature": None}] if "heldout" in result else [])
    for row in rows:
        label = "text" if row["temperature"] is None else f"{row['temperature']:g}"
        sample = (row["samples"][0] if row["samples"] else "")[:excerpt].replace("\n", "\\n")
        lines.append(
            f"{label:>5} {_cell(row['entropy_bits'], 8)} {_cell(row['nll_bits'], 7)} {_cell(row['distinct_1'], 7)} "
            f"{_cell(row['distinct_2'], 7)} {_cell(row['distinct_3'], 7)} {_cell(row['repetition'], 7)} "
            f"{_cell(row['known_words'], 7)}  {sample}"
        )
    return "\n".join(lines)


def plot_sweep(result: dict[str, Any], path: str | Path) -> Path:
    """Entropy and NLL (left) and the diversity measures (right) against temperature, as a PNG."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError("the sweep plot needs matplotlib: pip install 'lstmgen[plots]' (or pass --no-plot)") from error
    rows = result["rows"]
    temperatures = [row["temperature"] for row in rows]
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.plot(temperatures, [row["entropy_bits"] for row in rows], marker="o", label="entropy of the sampled distribution")
    left.plot(temperatures, [row["nll_bits"] for row in rows], marker="s", label="model's NLL of the samples")
    if "heldout" in result:
        left.axhline(result["heldout"]["nll_bits"], color="grey", linestyle="--", label="NLL of held-out text")
    left.set_xlabel("temperature")
    left.set_ylabel("bits per token")
    left.grid(alpha=0.3)
    left.legend(fontsize=8)
    for key, label in (("distinct_1", "distinct-1"), ("distinct_2", "distinct-2"), ("distinct_3", "distinct-3"),
                       ("repetition", "repeated 3-grams"), ("known_words", "words found in corpus"),
                       ("parse_share", "ABC samples that parse"), ("meter_share", "bars keep the meter"),
                       ("readable_share", "samples readable as MIDI"), ("in_key_share", "notes in key")):
        points = [(t, row[key]) for t, row in zip(temperatures, rows) if row.get(key) is not None]
        if points:
            right.plot(*zip(*points), marker="o", label=label)
    right.set_xlabel("temperature")
    right.set_ylabel("share")
    right.set_ylim(-0.02, 1.02)
    right.grid(alpha=0.3)
    right.legend(fontsize=8)
    figure.suptitle(f"temperature sweep: {result.get('checkpoint') or 'model'}", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return Path(path)
