"""Labels (control codes) measured: label accuracy of a labelled model, and whether its samples read as their label.

    .venv/bin/python benchmarks/training/labels.py                     # three sources, a 5-minute model
    .venv/bin/python benchmarks/training/labels.py --mode speakers     # the ten most frequent Tiny Shakespeare speakers
    .venv/bin/python benchmarks/training/labels.py --minutes 0.2 --samples 5    # a quick check that it runs

``--mode sources``: Tiny Shakespeare, Nietzsche and the COCO captions (``--data``, default ../shared/data) cut into
documents of about ``--document-characters`` characters (captions joined a line each), labelled by their source.
The last 10 % of each source's documents are held out; a labelled character model is trained on the rest for
``--minutes`` (the budget-aware default, ``lstmgen train --labels jsonl --time-budget``). Reported: the held-out
**label accuracy** (``evaluation.labels``: each document scored under every label), and for ``--samples`` samples
per label (``--length`` tokens at ``--temperature``) the share that a character 3-gram naive Bayes classifier,
trained on the training documents (not the model), assigns to the label they were generated under. The issue's
bars: label accuracy >= 95 %, samples classified as their label >= 90 %.

``--mode speakers``: the speeches of the ten most frequent Tiny Shakespeare speakers, labelled by speaker (the name
line removed), the last 10 % of each speaker's speeches held out; the model's label accuracy against a
unigram-of-words naive Bayes classifier's accuracy on the same held-out speeches.

Naive Bayes here is multinomial with add-one smoothing, written out (a few lines; scikit-learn is not a dependency).
Prints JSON with the machine record; stderr carries the training log.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from lstmgen import LanguageModel, train
from lstmgen.system.runtime import machine_record, set_threads

SOURCES = {"shakespeare": "tinyshakespeare/input.txt", "nietzsche": "nietzsche/nietzsche.txt", "coco": "coco-captions/train.txt"}
HELD_OUT = 0.1


# ----- documents ----------------------------------------------------------------------------------
def cut(text: str, size: int) -> list[str]:
    """Consecutive documents of about ``size`` characters, each ending at a line end (or a space) and stripped."""
    documents, start = [], 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            line_end = text.rfind("\n", start + size // 2, end + size // 4)
            end = line_end if line_end > 0 else max(text.rfind(" ", start + size // 2, end), end)
        piece = text[start:end].strip()
        if piece:
            documents.append(piece)
        start = end + 1
    return documents


def source_documents(data: Path, size: int) -> dict[str, list[str]]:
    missing = [str(data / path) for path in SOURCES.values() if not (data / path).is_file()]
    if missing:
        sys.exit(f"labels benchmark: the shared data is absent ({', '.join(missing)}); pass --data DIR holding "
                 + ", ".join(SOURCES.values()))
    return {label: cut((data / path).read_text(encoding="utf-8"), size) for label, path in SOURCES.items()}


SPEAKER = re.compile(r"^([A-Z][A-Za-z' ]*[A-Za-z]):\s*$")


def speeches(text: str) -> list[tuple[str, str]]:
    """(speaker, speech) for every block of Tiny Shakespeare that opens with a 'NAME:' line (the line itself dropped)."""
    found = []
    for block in re.split(r"\n\s*\n", text):
        lines = block.strip("\n").split("\n")
        match = SPEAKER.match(lines[0]) if lines else None
        if match and len(lines) > 1 and "".join(lines[1:]).strip():
            found.append((match.group(1).strip(), "\n".join(lines[1:])))
    return found


def speaker_documents(data: Path, speakers: int) -> dict[str, list[str]]:
    path = data / SOURCES["shakespeare"]
    if not path.is_file():
        sys.exit(f"labels benchmark: {path} is absent; pass --data DIR holding {SOURCES['shakespeare']}")
    found = speeches(path.read_text(encoding="utf-8"))
    top = [name for name, _ in Counter(name for name, _ in found).most_common(speakers)]
    return {name: [speech for who, speech in found if who == name] for name in top}


def split(documents: dict[str, list[str]]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(training, held-out) (label, text) pairs: the last HELD_OUT of each label's documents held out; training shuffled."""
    training, held_out = [], []
    for label, texts in documents.items():
        cut_at = len(texts) - max(1, int(len(texts) * HELD_OUT))
        training += [(label, text) for text in texts[:cut_at]]
        held_out += [(label, text) for text in texts[cut_at:]]
    random.Random(0).shuffle(training)
    return training, held_out


# ----- naive Bayes ----------------------------------------------------------------------------------
def character_ngrams(text: str, n: int = 3) -> list[str]:
    padded = f" {text} "
    return [padded[i : i + n] for i in range(len(padded) - n + 1)]


def words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


class NaiveBayes:
    """Multinomial naive Bayes with add-one smoothing over the features ``features(text)`` returns."""

    def __init__(self, features, documents: list[tuple[str, str]]) -> None:
        self.features = features
        self.counts: dict[str, Counter] = {}
        documents_per_label: Counter = Counter()
        for label, text in documents:
            self.counts.setdefault(label, Counter()).update(features(text))
            documents_per_label[label] += 1
        self.vocabulary = len(set().union(*self.counts.values()))
        self.totals = {label: sum(counts.values()) for label, counts in self.counts.items()}
        self.priors = {label: math.log(count / len(documents)) for label, count in documents_per_label.items()}

    def classify(self, text: str) -> str:
        observed = Counter(self.features(text))

        def score(label: str) -> float:
            counts, denominator = self.counts[label], self.totals[label] + self.vocabulary
            return self.priors[label] + sum(n * math.log((counts[f] + 1) / denominator) for f, n in observed.items())

        return max(self.counts, key=score)

    def accuracy(self, documents: list[tuple[str, str]]) -> float:
        return sum(self.classify(text) == label for label, text in documents) / len(documents)


# ----- the run --------------------------------------------------------------------------------------
def train_labelled(training: list[tuple[str, str]], minutes: float, threads: int, out: Path, extra: dict) -> LanguageModel:
    corpus = out / "train.jsonl"
    corpus.write_text("".join(json.dumps({"text": text, "label": label}) + "\n" for label, text in training), encoding="utf-8")
    train([str(corpus)], out_dir=out / "run", labels="jsonl", time_budget=minutes, threads=threads, val_fraction=0.05,
          sample_length=0, overwrite=True, log=lambda line: print(line, file=sys.stderr), progress=False, **extra)
    return LanguageModel.load(out / "run")


def held_out_sample(held_out: list[tuple[str, str]], limit: int) -> list[tuple[str, str]]:
    """At most ``limit`` held-out documents per label (evenly spaced through each label's documents)."""
    chosen = []
    for label in sorted({label for label, _ in held_out}):
        texts = [text for who, text in held_out if who == label]
        step = max(1, len(texts) // limit)
        chosen += [(label, text) for text in texts[::step][:limit]]
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=("sources", "speakers"), default="sources")
    parser.add_argument("--data", default="../shared/data", help="the folder holding the shared corpora")
    parser.add_argument("--minutes", type=float, default=5.0, help="the training budget")
    parser.add_argument("--document-characters", type=int, default=300, help="--mode sources: the documents' size")
    parser.add_argument("--speakers", type=int, default=10, help="--mode speakers: how many of the most frequent speakers")
    parser.add_argument("--samples", type=int, default=50, help="--mode sources: samples generated per label")
    parser.add_argument("--length", type=int, default=300, help="tokens per sample (a sample also ends at an end of document)")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--eval-documents", type=int, default=300, help="held-out documents scored per label (at most)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0 = the free cores)")
    parser.add_argument("--out", default=None, help="where to keep the run (default: a temporary directory)")
    args = parser.parse_args()
    threads = set_threads(args.threads)
    data = Path(args.data)
    documents = source_documents(data, args.document_characters) if args.mode == "sources" else speaker_documents(data, args.speakers)
    training, held_out = split(documents)
    held_out = held_out_sample(held_out, args.eval_documents)
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(args.out) if args.out else Path(scratch)
        out.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        lm = train_labelled(training, args.minutes, args.threads, out, {})
        trained = time.perf_counter() - started
        report = lm.evaluate_labels(held_out)
        result = {"benchmark": "labels", "mode": args.mode, "minutes": args.minutes, "training_seconds": round(trained, 1),
                  "model": lm.info()["model"], "steps": lm.extra.get("steps"),
                  "documents": {label: len(texts) for label, texts in documents.items()},
                  "training_documents": len(training), "held_out_documents": len(held_out),
                  "label_accuracy": report.accuracy, "label_report": report.to_dict()}
        if args.mode == "sources":
            classifier = NaiveBayes(character_ngrams, training)
            per_label = {}
            for index, label in enumerate(lm.labels):
                samples = lm.samples(label=label, num_samples=args.samples, max_tokens=args.length, temperature=args.temperature,
                                     seed=index)
                guesses = [classifier.classify(sample) for sample in samples]
                per_label[label] = {"classified_as_label": sum(g == label for g in guesses) / len(samples),
                                    "guesses": dict(Counter(guesses)), "mean_characters": sum(map(len, samples)) / len(samples),
                                    "example": samples[0][:300]}
            result.update({"classifier": "character 3-gram multinomial naive Bayes, trained on the training documents",
                           "classifier_held_out_accuracy": classifier.accuracy(held_out),
                           "samples": {"per_label": args.samples, "length": args.length, "temperature": args.temperature},
                           "samples_classified_as_label": sum(row["classified_as_label"] for row in per_label.values()) / len(per_label),
                           "per_label": per_label, "bars": {"label_accuracy": 0.95, "samples_classified_as_label": 0.90}})
        else:
            classifier = NaiveBayes(words, training)
            result.update({"classifier": "unigram-of-words multinomial naive Bayes, trained on the training documents",
                           "classifier_accuracy": classifier.accuracy(held_out), "majority": report.majority})
    result["machine"] = machine_record(threads)
    print(json.dumps(result, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
