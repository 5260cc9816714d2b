"""The temperature study: what temperature does to a model's samples, measured.

For each temperature T, ``temperature_sweep`` draws ``num_samples`` samples of ``length`` tokens and reports:

* ``entropy_bits``: mean entropy (bits) of the reweighted next-token distribution p^(1/T) / sum p^(1/T)
  the sampler drew each token from (0 for greedy, T = 0);
* ``nll_nats`` / ``nll_bits``: the model's own negative log-likelihood of the samples (T = 1 scoring:
  how surprising the model finds what it wrote; low T writes text the model finds very likely);
* ``distinct_1/2/3``: distinct word n-grams / all word n-grams over the samples (Li et al. 2016);
* ``repetition``: share of each sample's word 3-grams that already occurred earlier in that sample;
* ``known_words``: share of the generated words (a word cut off by the length limit excluded) that occur
  in the training corpus; the others are invented words, listed in ``invented``.

Both distributions exclude the ids the tokenizer never generates (the character model's unknown symbol),
as the sampler does. ``heldout`` (optional) gives the same measures for real text: T = 1 entropy and NLL
under teacher forcing, and the diversity of ``num_samples`` slices of ``length`` tokens of that text.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch

from .config import GenerationConfig
from .generation import decode_steps, make_generator, single_step_mode
from .sampling import entropy_bits

WORD = re.compile(r"\w+")
LN2 = 0.6931471805599453


# ----- text measures -----------------------------------------------------------------------------------
def words(text: str, complete_only: bool = False) -> list[str]:
    """Lower-cased words of ``text``; ``complete_only`` drops a last word the text may have cut short."""
    found = WORD.findall(text.lower())
    if complete_only and found and text and (text[-1].isalnum() or text[-1] == "_"):
        found = found[:-1]
    return found


def _ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def distinct_n(texts: Iterable[str], n: int) -> float | None:
    """Distinct word n-grams / all word n-grams, pooled over the texts (None when there are none)."""
    grams = [gram for text in texts for gram in _ngrams(words(text), n)]
    return len(set(grams)) / len(grams) if grams else None


def repetition_rate(texts: Iterable[str], n: int = 3) -> float | None:
    """Share of word n-grams that repeat an n-gram seen earlier in the same text (None when there are none)."""
    repeats = total = 0
    for text in texts:
        seen: set[tuple[str, ...]] = set()
        for gram in _ngrams(words(text), n):
            repeats += gram in seen
            total += 1
            seen.add(gram)
    return repeats / total if total else None


def known_word_share(texts: Iterable[str], vocabulary: set[str] | None) -> tuple[float | None, list[str]]:
    """Share of complete generated words found in ``vocabulary``, and the invented ones (most frequent first)."""
    if vocabulary is None:
        return None, []
    generated = [word for text in texts for word in words(text, complete_only=True)]
    if not generated:
        return None, []
    invented = Counter(word for word in generated if word not in vocabulary)
    return 1 - sum(invented.values()) / len(generated), [word for word, _ in invented.most_common(20)]


def text_measures(texts: Sequence[str], vocabulary: set[str] | None) -> dict[str, Any]:
    share, invented = known_word_share(texts, vocabulary)
    return {
        "distinct_1": distinct_n(texts, 1), "distinct_2": distinct_n(texts, 2), "distinct_3": distinct_n(texts, 3),
        "repetition": repetition_rate(texts), "known_words": share, "invented": invented,
    }


# ----- the study -------------------------------------------------------------------------------------
def sample_with_measures(lm, prompt_ids: list[int], temperature: float, length: int, num_samples: int, seed: int | None) -> dict[str, Any]:
    """Samples at one temperature with the mean entropy (bits) of the distributions drawn from and their NLL."""
    config = GenerationConfig(max_tokens=length, temperature=temperature, num_samples=num_samples, seed=seed)
    generator = make_generator(seed, lm.model.output.weight.device)
    entropy_sum = nll_sum = 0.0
    steps: list[torch.Tensor] = []
    for tokens, logits in decode_steps(lm.model, prompt_ids, config, generator, lm.tokenizer.never_generated):
        entropy_sum += float(entropy_bits(logits, temperature).sum())
        nll_sum -= float(torch.log_softmax(logits.double(), dim=-1).gather(-1, tokens[:, None]).sum())
        steps.append(tokens.clone())
    count = max(1, len(steps) * num_samples)
    texts = []
    for row in (torch.stack(steps, dim=1).tolist() if steps else [[] for _ in range(num_samples)]):
        decoder = lm.tokenizer.stream_decoder(prompt_ids)
        texts.append("".join(decoder.feed(token) for token in row))
    nats = nll_sum / count
    return {"entropy_bits": entropy_sum / count, "nll_nats": nats, "nll_bits": nats / LN2, "samples": texts}


def heldout_measures(lm, text: str, length: int, num_samples: int) -> dict[str, Any]:
    """T = 1 entropy and NLL of the model on real text (teacher forcing), and that text cut like the samples."""
    tokens = lm.tokenizer.encode(text, unknown="replace")[: length * num_samples + 1].tolist()
    if len(tokens) < 2:
        raise ValueError("the held-out text needs at least 2 tokens")
    device = lm.model.output.weight.device
    with single_step_mode():
        logits, _ = lm.model(torch.tensor([tokens[:-1]], device=device))  # [1, N, V]
        logits = logits[0].double()
        never = list(lm.tokenizer.never_generated)
        if never:
            logits = logits.index_fill(-1, torch.tensor(never, device=device), float("-inf"))
        targets = torch.tensor(tokens[1:], device=device)
        log_p = torch.log_softmax(logits, dim=-1).gather(-1, targets[:, None])[:, 0]
        known = torch.isfinite(log_p)  # an unknown symbol in the text cannot be scored without it
        nats = float(-log_p[known].mean())
        entropy = float(entropy_bits(logits, 1.0).mean())
    slices = [lm.tokenizer.decode(tokens[i : i + length]) for i in range(0, len(tokens) - 1, length)][:num_samples]
    return {"entropy_bits": entropy, "nll_nats": nats, "nll_bits": nats / LN2, "samples": slices}


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
    rows = []
    for temperature in temperatures:
        row = {"temperature": float(temperature)}
        row.update(sample_with_measures(lm, prompt_ids, float(temperature), length, num_samples, seed))
        row.update(text_measures(row["samples"], vocabulary))
        rows.append(row)
    result: dict[str, Any] = {
        "checkpoint": str(lm.path) if lm.path else None, "prompt": prompt, "length": length,
        "num_samples": num_samples, "seed": seed, "tokenizer": lm.tokenizer.kind, "rows": rows,
        "corpus_words": len(vocabulary) if vocabulary is not None else None,
    }
    if heldout_text is not None:
        heldout = heldout_measures(lm, heldout_text, length, num_samples)
        heldout.update(text_measures(heldout["samples"], vocabulary))
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
                       ("repetition", "repeated 3-grams"), ("known_words", "words found in corpus")):
        points = [(t, row[key]) for t, row in zip(temperatures, rows) if row[key] is not None]
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


# ----- the `lstmgen sweep` command -----------------------------------------------------------------------
def _temperatures(text: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def add_sweep_command(subparsers) -> None:
    parser = subparsers.add_parser(
        "sweep", help="measure what temperature does to the samples (entropy, NLL, diversity, invented words)",
        description="Generate samples at each temperature and report the mean entropy (bits) of the reweighted "
        "next-token distribution, the model's NLL of the samples, distinct-1/2/3, repetition, and the share of "
        "generated words found in the training corpus. Writes a table, a JSON file and a PNG plot.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("checkpoint", metavar="CKPT", help="checkpoint or run directory")
    parser.add_argument("--temperatures", type=_temperatures, default=[0.2, 0.5, 1.0, 1.2], help="comma-separated temperatures")
    parser.add_argument("--prompt", default="", help="text to start every sample from (default: a newline)")
    parser.add_argument("--length", type=int, default=300, help="tokens per sample")
    parser.add_argument("--num-samples", type=int, default=8, help="samples per temperature")
    parser.add_argument("--seed", type=int, default=1234, help="random seed (each temperature starts from it)")
    parser.add_argument("--text", metavar="FILE", help="held-out text: report the same measures for real text")
    parser.add_argument("--corpus", action="append", metavar="SOURCE",
                        help="training corpus for the known-words share (default: the sources the checkpoint records; repeatable)")
    parser.add_argument("--out", default="sweep", metavar="PREFIX", help="write PREFIX.json and PREFIX.png")
    parser.add_argument("--no-plot", action="store_true", help="skip the PNG (no matplotlib needed)")
    parser.add_argument("--unknown", default="error", choices=["error", "skip", "replace"], help="prompt symbols the vocabulary lacks")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0 = automatic)")
    parser.set_defaults(handler=run_sweep_command)


def _corpus_text(sources: Sequence[str] | None, recorded: Sequence[str], say) -> str | None:
    """The training corpus, from --corpus or the checkpoint's record; None (with a note) when unavailable."""
    from .corpus import read_corpus

    if sources:
        return read_corpus(sources).text  # asked for explicitly: errors are the user's to see
    usable = [source for source in recorded if source != "<text>"]
    if not usable:
        say("note: the checkpoint records no readable corpus (trained from a string?); pass --corpus to get the known-words share")
        return None
    try:
        return read_corpus(usable).text
    except (OSError, ValueError) as error:
        say(f"note: cannot read the training corpus ({error}); pass --corpus to get the known-words share")
        return None


def run_sweep_command(args: argparse.Namespace) -> int:
    from .corpus import read_corpus
    from .language_model import LanguageModel
    from .runtime import set_threads

    def say(line: str) -> None:
        print(line, file=sys.stderr)

    set_threads(args.threads)
    lm = LanguageModel.load(args.checkpoint)
    corpus = _corpus_text(args.corpus, lm.extra.get("data", {}).get("sources", []), say)
    heldout = read_corpus([args.text]).text if args.text else None
    result = temperature_sweep(lm, args.temperatures, prompt=args.prompt, length=args.length, num_samples=args.num_samples,
                               seed=args.seed, corpus_text=corpus, heldout_text=heldout, unknown=args.unknown)
    print(format_table(result))
    json_path = Path(f"{args.out}.json")
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
    print(f"wrote {json_path}")
    if not args.no_plot:
        try:
            print(f"wrote {plot_sweep(result, f'{args.out}.png')}")
        except ImportError as error:
            say(f"note: no plot: {error}")
    return 0
