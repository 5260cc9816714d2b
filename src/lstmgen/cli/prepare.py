"""``lstmgen prepare CORPUS... --out DATA_DIR``: tokenize a corpus once into a token store (lstmgen.data.store)."""

from __future__ import annotations

import argparse

from ..config import TrainConfig
from .flags import add_config_flags, config_values
from .train import ENCODING_ERRORS

STORE_FIELDS = ("tokenizer", "lowercase", "min_frequency", "vocab_size", "documents", "val_fraction", "test_fraction",
                "labels", "text_field", "label_field")


DESCRIPTION = ("Tokenize a corpus of any size into DATA_DIR (tokens.bin, tokenizer.json, meta.json), reading it in "
               "blocks; `lstmgen train DATA_DIR` then memory-maps it. The vocabulary is fitted on the training part.")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("corpus", nargs="*", metavar="CORPUS", help="files, directories, globs, - for stdin, or a named corpus")
    parser.add_argument("--out", required=True, metavar="DATA_DIR", help="where to write the token store (replaced if present)")
    parser.add_argument("--val", metavar="FILE", help="validation text to use instead of splitting off the end of the corpus "
                        "(a corpus with an official split, such as wikitext2, validates on its own)")
    parser.add_argument("--encoding", default="utf-8", help="text encoding of the corpus files")
    parser.add_argument("--encoding-errors", default="strict", choices=ENCODING_ERRORS, help="what to do with invalid bytes")
    parser.add_argument("--glob", default="*.txt", help="file pattern when a CORPUS is a directory")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(store_fields=add_config_flags(parser, TrainConfig, use_defaults=True, only=STORE_FIELDS))


def run(args: argparse.Namespace) -> int:
    from ..data.corpus import resolve_sources, validation_sources
    from ..data.labelled import labelled_corpus
    from ..data.store import prepare
    from ..system.console import progress_bar, show_progress
    from ..tokenizers.registry import default_documents

    settings = TrainConfig(**config_values(args, args.store_fields))  # validated like training's own settings
    labelled = (labelled_corpus(args.corpus, settings.labels, settings.text_field, settings.label_field, args.glob, args.encoding,
                                args.encoding_errors) if settings.labels else None)
    sources = labelled.files() if labelled else resolve_sources(args.corpus, pattern=args.glob, encoding=args.encoding,
                                                                spool_dir=f"{args.out}.spool")
    val_sources = validation_sources(args.corpus, args.val, args.encoding, settings.test_fraction)  # --val, or an official split
    total = sum(source.size for source in sources + val_sources)
    with progress_bar(3 * total, 0, show_progress(None if not args.no_progress else False), unit="B") as bar:
        store = prepare(sources, args.out, settings.tokenizer, settings.lowercase, settings.min_frequency, settings.val_fraction,
                        settings.test_fraction, args.encoding_errors, val_sources=val_sources, vocab_size=settings.vocab_size,
                        documents=settings.documents or default_documents(settings.tokenizer), progress=bar.update, labelled=labelled)
    meta = store.meta
    megabytes = sum(source["bytes"] for source in meta["sources"] + meta["val_sources"]) / 1e6
    print(f"{store.path}: {meta['tokens']:,} tokens ({meta['dtype']}), vocabulary {store.tokenizer.vocab_size:,} "
          f"({store.tokenizer.kind}); train {len(store.train):,}, validation {len(store.val):,}, test {len(store.test):,}; "
          f"{megabytes:,.1f} MB in {meta['seconds']:.1f} s ({megabytes / max(meta['seconds'], 1e-9):,.0f} MB/s)")
    print(f"train on it: lstmgen train {store.path}")
    return 0
