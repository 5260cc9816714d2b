"""The MIDI bar: ``lstmgen train bach-chorales --tokenizer midi`` for a time budget, then 20 samples: each written as
a .mid that symusic and music21 load, its length in bars, rendered to WAV (FluidSynth) and a piano-roll PNG; the
samples' pitch-class histogram distance to the held-out chorales beside a unigram sampler's (tokens drawn
independently from the training tokens' frequencies), and the other MIDI measures beside the held-out pieces'.

    .venv/bin/python benchmarks/music/bach_chorales.py --minutes 5 --out runs/bach-5 --files runs/bach-5-samples

Samples use generation's defaults (a piece ends after min_bars = 8 bars at the earliest); the report adds the same
draw without that rule (min_bars=0). The bar (issue 32): every file loads with symusic and music21, lasts at least 8 bars and renders; the samples'
distance is below the unigram sampler's. Prints JSON with the machine record.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from lstmgen import LanguageModel, train
from lstmgen.music import MusicError
from lstmgen.music.measures import midi_measures, pitch_class_distance, pitch_class_histogram
from lstmgen.music.midi import score_to_music21
from lstmgen.music.render import write_sample
from lstmgen.system.runtime import machine_record


def region_pieces(run: Path, tokenizer, region: str) -> tuple[np.ndarray, list[str]]:
    """A region's tokens of the run's token store, and its pieces as event text."""
    meta = json.loads((run / "data" / "meta.json").read_text())
    start, end = meta["regions"][region]
    tokens = np.fromfile(run / "data" / "tokens.bin", dtype=meta["dtype"])[start:end]
    cuts = np.flatnonzero(tokens == tokenizer.end_of_document)
    pieces = [tokenizer.decode(part[part != tokenizer.end_of_document]) for part in np.split(tokens, cuts + 1)]
    return tokens, [piece for piece in pieces if piece.strip()]


def scores_of(texts: list[str], tokenizer) -> list:
    found = []
    for text in texts:
        try:
            score = tokenizer.decode_score(text)
        except Exception:  # a sequence miditok cannot decode counts as unreadable
            continue
        if score.note_num():
            found.append(score)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--out", default="runs/bach")
    parser.add_argument("--files", default=None, help="where the samples' .mid/.wav/.png go (default: OUT/samples)")
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--max-tokens", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    out = Path(args.out)
    files = Path(args.files) if args.files else out / "samples"
    started = time.perf_counter()
    result = train(["bach-chorales"], out_dir=out, tokenizer="midi", time_budget=args.minutes, overwrite=True, threads=args.threads,
                   seed=args.seed, log=lambda line: print(line, file=sys.stderr), progress=False)
    seconds = time.perf_counter() - started
    model = LanguageModel.load(out)
    tokenizer = model.tokenizer
    samples = model.samples("", temperature=args.temperature, num_samples=args.samples, max_tokens=args.max_tokens, seed=args.seed)
    # Beside the default (a piece ends after min_bars = 8 bars at the earliest), the same draw without that rule.
    free = model.samples("", temperature=args.temperature, num_samples=args.samples, max_tokens=args.max_tokens, seed=args.seed,
                         min_bars=0)
    free_bars = [len(score_to_music21(tokenizer.decode_score(sample)).parts[0].getElementsByClass("Measure")) for sample in free]
    checks = []
    for index, sample in enumerate(samples, start=1):
        check = {"sample": index, "events": len(sample.split()), "bars": sample.split().count("Bar_None")}
        try:
            paths = write_sample(sample, tokenizer, files, f"sample_{index:03d}", ["wav", "png"])
            import symusic

            check["symusic_notes"] = symusic.Score.from_file(str(paths[0])).note_num()
            check["music21_measures"] = len(score_to_music21(tokenizer.decode_score(sample)).parts[0].getElementsByClass("Measure"))
            check["files"] = [str(path) for path in paths]
        except MusicError as error:
            check["error"] = str(error)
        checks.append(check)
    train_tokens, _ = region_pieces(out, tokenizer, "train")
    _, heldout_texts = region_pieces(out, tokenizer, "val")
    heldout = scores_of(heldout_texts, tokenizer)
    # The unigram sampler: tokens drawn independently with the training tokens' frequencies (no end of document).
    counts = np.bincount(train_tokens.astype(np.int64), minlength=tokenizer.vocab_size).astype(float)
    counts[list(tokenizer.never_generated) + [tokenizer.end_of_document]] = 0
    generator = np.random.default_rng(args.seed)
    length = int(np.mean([len(text.split()) for text in heldout_texts])) if heldout_texts else 1000
    unigram_texts = [tokenizer.decode(generator.choice(len(counts), size=length, p=counts / counts.sum())) for _ in range(args.samples)]
    unigram = scores_of(unigram_texts, tokenizer)
    sample_scores = scores_of(samples, tokenizer)
    reference = pitch_class_histogram(heldout)
    report = {
        "benchmark": "bach_chorales", "minutes": args.minutes, "run": str(out), "trained_seconds": round(seconds, 1),
        "steps": result.steps, "stop_reason": result.stop_reason, "temperature": args.temperature,
        "all_load_last_8_bars_and_render": all("error" not in c and c["music21_measures"] >= 8 for c in checks),
        "without_min_bars": {"at_least_8_bars": sum(bars >= 8 for bars in free_bars), "of": len(free_bars), "bars": free_bars},
        "pitch_class_distance": {"samples": pitch_class_distance(pitch_class_histogram(sample_scores), reference),
                                 "unigram_sampler": pitch_class_distance(pitch_class_histogram(unigram), reference)},
        "samples": midi_measures(sample_scores, heldout), "heldout": midi_measures(heldout), "checks": checks,
        "machine": machine_record(args.threads or None),
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
