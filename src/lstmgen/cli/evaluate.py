"""``lstmgen eval CKPT FILE``: a full pass over FILE with carried state, and the cold-start measure; with ``--labels``,
the label accuracy of a labelled model (lstmgen.evaluation.labels). FILE may name a corpus with an official split
(wikitext2): ``--split`` picks train, valid or test (test by default), and every report says which text it scored."""

from __future__ import annotations

import argparse
import json
import sys

from ..data.corpus import OFFICIAL_SPLITS

DESCRIPTION = ("Full pass over FILE with carried state: nats/token, bits/token and perplexity; and the "
               "cold-start measure (line starts scored from a fresh state beside the same tokens in context). "
               "--dynamic scores it with dynamic evaluation instead; --labels FORMAT scores labelled documents under every "
               "label (NLL per label, label accuracy); every report names its protocol. FILE may be a named corpus with an "
               "official split (wikitext2, wikitext2-raw): --split chooses which part is scored (test by default), so "
               "figures compare with published ones; every report names the split.")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="text file to score (- for stdin), or a named corpus")
    parser.add_argument("--split", choices=OFFICIAL_SPLITS, default=None,
                        help="FILE names a corpus with an official split (wikitext2, wikitext2-raw): score this part of it "
                             "(default test); refused for other texts, which are scored whole")
    parser.add_argument("--encoding", default="utf-8", help="text encoding of FILE")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0 = automatic)")
    parser.add_argument("--windows", type=int, default=None, metavar="N",
                        help="the windowed measure instead (nanoGPT's): random windows of at most N tokens, each from a fresh state")
    labelled = parser.add_argument_group("labelled documents (a model trained with --labels): NLL per label and label accuracy "
                                         "(each document scored under every label; how often its own scores best)")
    labelled.add_argument("--labels", default="", metavar="FORMAT",
                          help="FILE holds labelled documents: jsonl, csv, tsv, directories (one per label) or auto")
    labelled.add_argument("--text-field", default="text", help="the JSON field or table column holding a document's text")
    labelled.add_argument("--label-field", default="label", help="the JSON field or table column holding a document's label")
    labelled.add_argument("--glob", default="*.txt", help="--labels directories: the documents' file pattern")
    parser.add_argument("--music-samples", type=int, default=0, metavar="N",
                        help="ABC and MIDI models: also draw N samples and report the musical measures (parse and meter shares; "
                             "pitch classes, notes in key, density, polyphony) beside FILE's pieces")
    parser.add_argument("--music-temperature", type=float, default=1.0, help="the temperature of --music-samples")
    dynamic = parser.add_argument_group("dynamic evaluation (Krause et al. 2018): the weights keep learning from the text "
                                        "already scored; the checkpoint is never changed")
    dynamic.add_argument("--dynamic", action="store_true", help="score FILE with dynamic evaluation instead of a static pass")
    dynamic.add_argument("--dynamic-method", default="rms", choices=("rms", "sgd"), help="the update: RMS-normalised or plain SGD")
    dynamic.add_argument("--dynamic-lr", type=float, default=None, help="its learning rate (default: evaluation.dynamic's)")
    dynamic.add_argument("--dynamic-decay", type=float, default=None, help="its pull back toward the trained weights, per segment")
    dynamic.add_argument("--dynamic-segment", type=int, default=50, help="tokens scored between two updates")
    dynamic.add_argument("--dynamic-streams", type=int, default=16,
                         help="parts of FILE read side by side, one set of weights learning from all (1: sequential, as Krause)")
    dynamic.add_argument("--dynamic-learn-fraction", type=float, default=0.75, metavar="F",
                         help="the share of segments learned from, spread evenly; the others are only scored, a forward pass "
                              "instead of a forward and a backward one (1: every segment, as Krause; default 0.75, about "
                              "2.4x the static pass's time instead of 3x for most of the gain)")
    dynamic.add_argument("--tune-on", metavar="FILE", default=None,
                         help="choose --dynamic-lr and --dynamic-decay on this validation text first (implies --dynamic); "
                              "a corpus with an official split (wikitext2) tunes on its valid split")


def run(args: argparse.Namespace) -> int:
    from ..language_model import LanguageModel
    from ..system.runtime import set_threads

    set_threads(args.threads)
    scored = scored_text(args.file, args.split)  # before the model loads: a refused --split costs nothing
    model = LanguageModel.load(args.checkpoint)
    settings = None
    if args.labels:
        from ..data.labelled import labelled_corpus

        corpus = labelled_corpus([args.file], args.labels, args.text_field, args.label_field, args.glob, args.encoding)
        labelled = model.evaluate_labels((document.label, document.text) for document in corpus.documents())
        print(json.dumps(labelled.to_dict()) if args.json else labelled.describe())
        return 0
    if args.windows is not None:
        from ..evaluation.static import windowed_evaluate

        text = scored.read(args.encoding)
        report = windowed_evaluate(model.model, model.tokenizer.encode(text, unknown="replace"), window=args.windows)
        print(json.dumps({**report.to_dict(), **scored.to_dict()}) if args.json else f"{report.describe()}\nscored: {scored}")
        return 0
    if args.dynamic or args.tune_on:
        settings = dynamic_settings(model, args)
        print(f"protocol: {settings.protocol}", file=sys.stderr)
    text = scored.read(args.encoding)
    report = model.evaluate(text, dynamic=settings)
    music = music_lines(model, text, report, args)
    words = scored.word_level(text, report)
    if args.json:
        print(json.dumps({**report.to_dict(), **music, **words, **scored.to_dict()}))
        return 0
    print(f"{report.nats:.4f} nats/token")
    print(f"{report.bits:.4f} bits/token")
    print(f"perplexity {report.perplexity:.4f}")
    print(f"{report.tokens:,} tokens scored ({model.tokenizer.kind} tokenizer), {report.unknown} unknown")
    if report.bits_per_character is not None:  # the scale every tokenizer shares
        print(f"{report.bits_per_character:.4f} bits/char ({report.characters:,} characters), {report.bits_per_byte:.4f} bits/byte")
    if report.cold_start is not None:
        cold = report.cold_start
        print(f"cold start   {cold.fresh_nats:.4f} nats/token from a fresh state vs {cold.context_nats:.4f} in context "
              f"(x{cold.ratio:.3f}; {cold.segments} segments, first token given, next {cold.segment_tokens - 1} scored)")
    if music:
        from ..evaluation.musical import describe

        print(f"{music['nats_per_note']:.4f} nats/note ({music['notes']:,} notes)")
        if "music" in music:
            print(describe(music["music"]))
    if words:
        print(f"word-level perplexity {words['word_perplexity']:.2f} ({words['word_tokens']:,} words and line ends, "
              "as published WikiText figures count them)")
    print(f"protocol: {report.protocol}")
    print(f"scored: {scored}")
    return 0


class ScoredText:
    """What ``eval`` scores: a whole file (or stdin), or one official split of a named corpus."""

    def __init__(self, source: str, split: str | None) -> None:
        self.source, self.split = source, split

    def read(self, encoding: str) -> str:
        from ..data.corpus import read_corpus, split_source

        if self.split is None:
            return read_corpus([self.source], encoding=encoding).text
        return read_corpus([str(split_source(self.source, self.split).path)], encoding="utf-8").text

    def to_dict(self) -> dict:
        return {"corpus": self.source, "split": self.split or "all", "official_split": self.split is not None}

    def word_level(self, text: str, report) -> dict:
        """For an official split (WikiText): the perplexity per word as the literature counts words, whatever the
        tokenizer, so a character or subword model's figure compares with published word-level ones."""
        from ..evaluation.measures import perplexity, word_level_tokens

        if self.split is None:
            return {}
        count = word_level_tokens(text)
        return {"word_tokens": count, "word_perplexity": perplexity(report.total_nats / count) if count else float("nan")}

    def __str__(self) -> str:
        if self.split is None:
            return f"all of {self.source}"
        return f"{self.source} {self.split} (official split)"


def scored_text(source: str, split: str | None) -> ScoredText:
    """FILE and --split checked: a corpus with an official split is scored on one split (test unless told), any other
    text whole; --split on a text without an official split is refused."""
    from ..data.corpus import CorpusError, corpora_with_official_splits, has_official_split

    if has_official_split(source):
        return ScoredText(source, split or "test")
    if split is not None:
        raise CorpusError(f"--split {split}: {source} has no official split, so it is scored whole; drop --split (corpora "
                          f"with an official train / valid / test split: {', '.join(corpora_with_official_splits())})")
    return ScoredText(source, None)


def music_lines(model, text: str, report, args: argparse.Namespace) -> dict:
    """For ABC and MIDI models: NLL per note, and with --music-samples the musical measures."""
    from ..evaluation.musical import MUSIC_KINDS, music_report, notes_in

    if model.tokenizer.kind not in MUSIC_KINDS:
        return {}
    notes = notes_in(text, model.tokenizer.kind)
    found = {"notes": notes, "nats_per_note": report.nats * report.tokens / notes if notes else float("nan")}
    if args.music_samples > 0:
        found["music"] = music_report(model, text, args.music_samples, args.music_temperature)
    return found


def dynamic_settings(model, args: argparse.Namespace):
    """The dynamic evaluation asked for: the flags given, the rest the defaults, or what --tune-on chose."""
    from ..data.corpus import has_official_split
    from ..evaluation.dynamic import DynamicEvaluation, tune

    values = {"method": args.dynamic_method, "segment_length": args.dynamic_segment, "streams": args.dynamic_streams,
              "learn_fraction": args.dynamic_learn_fraction}
    if args.dynamic_lr is not None:
        values["learning_rate"] = args.dynamic_lr
    if args.dynamic_decay is not None:
        values["decay"] = args.dynamic_decay
    if not args.tune_on:
        return DynamicEvaluation(**values)
    tune_text = scored_text(args.tune_on, "valid" if has_official_split(args.tune_on) else None)  # wikitext2: its valid split
    print(f"tune-on: {tune_text}", file=sys.stderr)
    tokens = model.tokenizer.encode(tune_text.read(args.encoding), unknown="replace")
    settings, tried = tune(model.model, tokens, method=args.dynamic_method, segment_length=args.dynamic_segment, streams=args.dynamic_streams,
                           learn_fraction=args.dynamic_learn_fraction,
                           **({"learning_rates": [args.dynamic_lr]} if args.dynamic_lr is not None else {}),
                           **({"decays": [args.dynamic_decay]} if args.dynamic_decay is not None else {}))
    for entry in tried:
        print(f"tune-on: lr={entry['learning_rate']:g} decay={entry['decay']:g}: {entry['nats']:.4f} nats/token", file=sys.stderr)
    return settings
