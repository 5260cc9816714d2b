"""``lstmgen train [CORPUS ...]``: every TrainConfig and ModelConfig field is a flag; the preset fills the rest."""

from __future__ import annotations

import argparse

from ..config import ModelConfig, TrainConfig
from ..tokenizers import UNKNOWN_POLICIES
from ..training.presets import PRESETS
from .flags import add_config_flags, config_values

ENCODING_ERRORS = ("strict", "replace", "ignore")


DESCRIPTION = ("Train a recurrent language model. With no CORPUS the embedded default (Python's documentation "
               "text) is used; a name such as nietzsche or tinyshakespeare downloads that corpus once (wikitext2 and wikitext2-raw "
               "come with an official split: training fits on train and validates on valid); a token "
               "store made by `lstmgen prepare` is memory-mapped as it is. Flags left unset take the preset's value.")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("corpus", nargs="*", metavar="CORPUS",
                        help="files, directories, globs, - for stdin, a named corpus, or a token store directory (lstmgen prepare)")
    parser.add_argument("--val", metavar="FILE", help="validation text to use instead of splitting off the end of the corpus "
                        "(a corpus with an official split, such as wikitext2, validates on its own)")
    parser.add_argument("--preset", default="default", choices=sorted(PRESETS), help="starting settings; flags override them")
    parser.add_argument("--out", default="runs/latest", metavar="DIR", help="run directory (best/ and last/ checkpoints, metrics)")
    parser.add_argument("--resume", metavar="DIR", help="continue the run in DIR exactly where it stopped")
    parser.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    parser.add_argument("--encoding", default="utf-8", help="text encoding of the corpus files")
    parser.add_argument("--encoding-errors", default="strict", choices=ENCODING_ERRORS, help="what to do with invalid bytes")
    parser.add_argument("--glob", default="*.txt", help="file pattern when a CORPUS is a directory")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--init-from", metavar="CKPT", help="fine-tune: start from this checkpoint's weights and tokenizer, "
                        "with a fresh optimizer and schedule (--resume instead continues the same run)")
    parser.add_argument("--unknown", default="error", choices=UNKNOWN_POLICIES,
                        help="--init-from: symbols of the new corpus the model's vocabulary lacks (error lists them)")
    parser.add_argument("--tensorboard", metavar="DIR", help="mirror every evaluation record into TensorBoard event files in DIR "
                        "(metrics.jsonl stays the record; needs the tensorboard extra)")
    training = parser.add_argument_group("training (TrainConfig)")
    parser.set_defaults(train_fields=add_config_flags(training, TrainConfig, use_defaults=False))
    model = parser.add_argument_group("model (ModelConfig)")
    parser.set_defaults(model_fields=add_config_flags(model, ModelConfig, use_defaults=False, skip=("vocab_size",)))


def run(args: argparse.Namespace) -> int:
    import os

    from ..training.pipeline import train

    settings = config_values(args, args.train_fields)
    if "chat_template" in settings:  # a shell passes "\n" as a backslash and an n: the template means a line break
        settings["chat_template"] = settings["chat_template"].replace("\\n", "\n").replace("\\t", "\t")
    result = train(
        args.corpus, out_dir=args.resume or args.out, preset=args.preset, val=args.val, resume=args.resume,
        model=config_values(args, args.model_fields), progress=False if args.no_progress else None, encoding=args.encoding,
        encoding_errors=args.encoding_errors, glob=args.glob, overwrite=args.overwrite, init_from=args.init_from,
        unknown=args.unknown, tensorboard=args.tensorboard, **settings,
    )
    if os.environ.get("RANK", "0") != "0":  # under torchrun, the first process speaks for the job
        return 0
    best = result.best_val or {}
    if "val_nats" in best:
        print(f"best validation (step {best['step']}): {best['val_nats']:.4f} nats/token, {best['val_bits']:.4f} bits/token, "
              f"perplexity {best['val_perplexity']:.3f}" + (f", on {result.validation}" if result.validation else ""))
    print(f"checkpoints in {result.out_dir} (best/ and last/); try: lstmgen generate {result.out_dir}")
    return 0
