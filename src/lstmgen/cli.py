"""The ``lstmgen`` command: thin subcommands over the library.

Each subcommand parses its flags, builds the configs, calls the library and prints. Library errors
(ValueError subclasses with a message that says how to fix things) become one line on stderr and exit
status 2; Ctrl-C becomes status 130.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from typing import Any, Callable, Sequence

from . import __version__
from .config import TrainConfig
from .presets import PRESETS
from .sweep import add_sweep_command


def _floats(text: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


# ----- train -----------------------------------------------------------------------------------------
TRAIN_FLAGS: list[tuple[str, dict[str, Any]]] = [
    ("--tokenizer", dict(choices=["char", "word", "byte"], help="token unit (default: char)")),
    ("--lowercase", dict(action="store_true", default=None, help="lower-case the text before tokenizing")),
    ("--min-frequency", dict(type=int, help="word tokenizer: words seen fewer times become <unk>")),
    ("--val-fraction", dict(type=float, help="fraction at the end of the corpus held out for validation (default 0.1)")),
    ("--test-fraction", dict(type=float, help="fraction at the very end held out as a test set (default 0)")),
    ("--batch-size", dict(type=int, help="parallel streams B per step")),
    ("--seq-length", dict(type=int, help="truncated-BPTT window T in tokens")),
    ("--state-reset-probability", dict(type=float, help="chance per window that a stream's carried state is reset to "
                                       "the fresh state generation starts from (default 0.05; 1 = stateless)")),
    ("--optimizer", dict(choices=["adamw", "adam", "rmsprop", "sgd"], help="optimizer (default adamw)")),
    ("--learning-rate", dict(type=float, help="peak learning rate")),
    ("--weight-decay", dict(type=float, help="decoupled weight decay on weight matrices")),
    ("--grad-clip", dict(type=float, help="clip the gradient norm to this (0 = no clipping)")),
    ("--schedule", dict(choices=["cosine", "constant"], help="learning-rate schedule after warm-up")),
    ("--warmup-steps", dict(type=int, help="linear warm-up steps")),
    ("--max-epochs", dict(type=float, help="stop after this many passes over the training text (unset: 10, or no limit with --time-budget)")),
    ("--max-steps", dict(type=int, help="stop after this many steps (overrides --max-epochs)")),
    ("--time-budget", dict(type=float, metavar="MINUTES", help="stop after this many minutes; the cosine schedule anneals to it")),
    ("--eval-interval", dict(type=int, help="steps between validation passes, samples and checkpoints (0 = once per epoch)")),
    ("--patience", dict(type=int, help="stop after this many evaluations without improvement (0 = never)")),
    ("--sample-prompt", dict(help="prompt for the samples printed at each evaluation")),
    ("--sample-length", dict(type=int, help="length of those samples in tokens (0 = none)")),
    ("--sample-temperatures", dict(type=_floats, help="comma-separated temperatures for the samples (default 0.2,0.5,1.0,1.2)")),
    ("--seed", dict(type=int, help="random seed: the same seed and settings give the same run")),
    ("--threads", dict(type=int, help="CPU threads (0 = automatic: the cores free now)")),
    ("--device", dict(help="auto, cpu or cuda[:N] (default auto)")),
]
MODEL_FLAGS: list[tuple[str, dict[str, Any]]] = [
    ("--cell", dict(choices=["lstm", "gru", "rnn"], help="recurrent cell (default lstm)")),
    ("--embedding-size", dict(type=int, help="token embedding size")),
    ("--hidden-size", dict(type=int, help="recurrent state size per layer")),
    ("--num-layers", dict(type=int, help="number of recurrent layers")),
    ("--dropout", dict(type=float, help="dropout between layers and before the output")),
    ("--tie-weights", dict(action="store_true", default=None, help="share the embedding and output weights")),
]


def _add_train(subparsers) -> None:
    parser = subparsers.add_parser(
        "train", help="train a model on a corpus", description="Train a recurrent language model. With no CORPUS the "
        "embedded default (Python's documentation text) is used; a name such as nietzsche or tinyshakespeare "
        "downloads that corpus once.", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("corpus", nargs="*", metavar="CORPUS", help="files, directories, globs, - for stdin, or a named corpus")
    parser.add_argument("--val", metavar="FILE", help="validation text to use instead of splitting off the end of the corpus")
    parser.add_argument("--preset", default="default", choices=sorted(PRESETS), help="starting settings; flags override them")
    parser.add_argument("--out", default="runs/latest", metavar="DIR", help="run directory (best/ and last/ checkpoints, metrics)")
    parser.add_argument("--resume", metavar="DIR", help="continue the run in DIR exactly where it stopped")
    parser.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    parser.add_argument("--encoding", default="utf-8", help="text encoding of the corpus files")
    parser.add_argument("--encoding-errors", default="strict", choices=["strict", "replace", "ignore"], help="what to do with invalid bytes")
    parser.add_argument("--glob", default="*.txt", help="file pattern when a CORPUS is a directory")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    for flag, options in TRAIN_FLAGS + MODEL_FLAGS:
        parser.add_argument(flag, **options)
    parser.set_defaults(handler=_train)


def _train(args: argparse.Namespace) -> int:
    from .pipeline import train

    train_names = {f.name for f in fields(TrainConfig)}
    values = vars(args)
    train_overrides = {k: v for k, v in values.items() if k in train_names and v is not None}
    model_overrides = {flag[2:].replace("-", "_"): values[flag[2:].replace("-", "_")] for flag, _ in MODEL_FLAGS}
    result = train(
        args.corpus, out_dir=args.resume or args.out, preset=args.preset, val=args.val, resume=args.resume,
        model=model_overrides, progress=False if args.no_progress else None, encoding=args.encoding,
        encoding_errors=args.encoding_errors, glob=args.glob, overwrite=args.overwrite, **train_overrides,
    )
    best = result.best_val or {}
    if "val_nats" in best:
        print(f"best validation (step {best['step']}): {best['val_nats']:.4f} nats/token, {best['val_bits']:.4f} bits/token, "
              f"perplexity {best['val_perplexity']:.3f}")
    print(f"checkpoints in {result.out_dir} (best/ and last/); try: lstmgen generate {result.out_dir}")
    return 0


# ----- generate --------------------------------------------------------------------------------------
def _add_generate(subparsers) -> None:
    parser = subparsers.add_parser("generate", help="generate text from a checkpoint",
                                   description="Prime the model with a prompt and sample a continuation, streamed as it is generated. "
                                   "Processors run in this order: repetition penalty, no-repeat n-gram, temperature, top-k, top-p, min-p. "
                                   "--num-beams > 1 searches for the most probable continuations instead of sampling.",
                                   formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("checkpoint", metavar="CKPT", help="checkpoint or run directory")
    parser.add_argument("--prompt", default="", help="text to start from (default: a newline)")
    parser.add_argument("--length", type=int, default=500, help="tokens to generate per sample")
    parser.add_argument("--temperature", type=float, default=1.0, help="0 = greedy; <1 more predictable, >1 more surprising")
    parser.add_argument("--top-k", type=int, help="sample only among the k most likely tokens")
    parser.add_argument("--top-p", type=float, help="sample only among the most likely tokens totalling probability p")
    parser.add_argument("--min-p", type=float, help="sample only among tokens at least this fraction as likely as the best one")
    parser.add_argument("--repetition-penalty", type=float, default=1.0, help=">1 makes tokens already in the text less likely")
    parser.add_argument("--no-repeat-ngram-size", type=int, default=0, help="never repeat an n-gram of this many tokens (0 = off)")
    parser.add_argument("--num-beams", type=int, default=1, help="beam search with this many beams (1 = sample)")
    parser.add_argument("--length-penalty", type=float, default=1.0, help="beam search: rank by log-prob / length^this")
    parser.add_argument("--num-samples", type=int, default=1, help="independent samples, generated together in one batch "
                        "(with --num-beams: how many of the best continuations to print)")
    parser.add_argument("--stop", action="append", default=[], help="stop a sample at this string (repeatable)")
    parser.add_argument("--seed", type=int, help="random seed for reproducible output")
    parser.add_argument("--unknown", default="error", choices=["error", "skip", "replace"], help="prompt symbols the vocabulary lacks")
    parser.add_argument("--interactive", action="store_true", help="type prompts, watch the text stream, see the next-token candidates")
    parser.add_argument("--candidates", type=int, default=5, help="--interactive: how many next-token candidates to show")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0 = 1 for a few samples, else the free cores)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    parser.set_defaults(handler=_generate)


def _generate(args: argparse.Namespace) -> int:
    from .language_model import LanguageModel
    from .config import GenerationConfig
    from .runtime import generation_threads

    config = GenerationConfig(max_tokens=args.length, temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                              min_p=args.min_p, repetition_penalty=args.repetition_penalty,
                              no_repeat_ngram_size=args.no_repeat_ngram_size, num_beams=args.num_beams,
                              length_penalty=args.length_penalty, num_samples=args.num_samples, seed=args.seed,
                              stop=tuple(args.stop))
    generation_threads(config.num_samples * config.num_beams, args.threads)
    model = LanguageModel.load(args.checkpoint, device=args.device)
    if args.interactive:
        return _interactive(model, config, args)
    if config.num_beams > 1:
        for rank, found in enumerate(model.beam_search(args.prompt, config, unknown=args.unknown), start=1):
            sys.stdout.write(f"=== beam {rank}: log-probability {found.log_probability:.4f} over {len(found.token_ids)} tokens, "
                             f"score {found.score:.4f}\n{args.prompt}{found.text}\n")
        return 0
    texts = [""] * config.num_samples
    # All samples are generated together; the first streams live, the others are printed when done.
    header = config.num_samples > 1
    if header:
        print("=== sample 1", flush=True)
    sys.stdout.write(args.prompt)
    for pieces in model.stream_batch(args.prompt, config, unknown=args.unknown):
        texts = [a + b for a, b in zip(texts, pieces)]
        if pieces[0]:
            sys.stdout.write(pieces[0])
            sys.stdout.flush()
    sys.stdout.write("\n")
    for index, text in enumerate(texts[1:], start=2):
        sys.stdout.write(f"=== sample {index}\n{args.prompt}{text}\n")
    return 0


def _interactive(model, config, args: argparse.Namespace) -> int:
    """A prompt loop: show the likeliest next tokens, then stream one continuation. Empty line: go on."""
    print("Type a prompt and press Enter; an empty line continues the text so far; Ctrl-D quits.", file=sys.stderr)
    text = args.prompt
    while True:
        try:
            line = input("> ")
        except EOFError:
            print(file=sys.stderr)
            return 0
        text = text if line == "" else line.replace("\\n", "\n")
        try:
            candidates = model.next_token_candidates(text, args.candidates, config, unknown=args.unknown)
            print("next: " + "  ".join(f"{token!r} {probability:.1%}" for token, probability in candidates), flush=True)
            sys.stdout.write(text)
            for piece in model.stream(text, config, unknown=args.unknown):
                sys.stdout.write(piece)
                sys.stdout.flush()
                text += piece
            sys.stdout.write("\n")
        except ValueError as error:  # e.g. a symbol the vocabulary lacks: say so and ask again
            print(f"lstmgen: error: {error}", file=sys.stderr)


# ----- eval and info ---------------------------------------------------------------------------------
def _add_eval(subparsers) -> None:
    parser = subparsers.add_parser("eval", help="score a text under a model (nats, bits per token, perplexity)",
                                   description="Full pass over FILE with carried state; prints nats/token, bits/token and perplexity.")
    parser.add_argument("checkpoint", metavar="CKPT", help="checkpoint or run directory")
    parser.add_argument("file", metavar="FILE", help="text file to score (- for stdin)")
    parser.add_argument("--encoding", default="utf-8", help="text encoding of FILE")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0 = automatic)")
    parser.set_defaults(handler=_eval)


def _eval(args: argparse.Namespace) -> int:
    from .language_model import LanguageModel
    from .corpus import read_corpus
    from .runtime import set_threads

    set_threads(args.threads)
    model = LanguageModel.load(args.checkpoint)
    report = model.evaluate(read_corpus([args.file], encoding=args.encoding).text)
    if args.json:
        print(json.dumps(report.to_dict()))
        return 0
    print(f"{report.nats:.4f} nats/token")
    print(f"{report.bits:.4f} bits/token")
    print(f"perplexity {report.perplexity:.4f}")
    print(f"{report.tokens:,} tokens scored ({model.tokenizer.kind} tokenizer), {report.unknown} unknown")
    if report.cold_start is not None:
        cold = report.cold_start
        print(f"cold start   {cold.fresh_nats:.4f} nats/token from a fresh state vs {cold.context_nats:.4f} in context "
              f"(x{cold.ratio:.3f}; {cold.segments} segments, first token given, next {cold.segment_tokens - 1} scored)")
    return 0


def _add_info(subparsers) -> None:
    parser = subparsers.add_parser("info", help="describe a checkpoint: model, parameters, tokenizer, training")
    parser.add_argument("checkpoint", metavar="CKPT", help="checkpoint or run directory")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(handler=_info)


def _info(args: argparse.Namespace) -> int:
    from .language_model import LanguageModel

    info = LanguageModel.load(args.checkpoint).info()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    model, tokenizer, training = info["model"], info["tokenizer"], info["training"]
    print(f"checkpoint   {info['path']}")
    print(f"model        {model['cell'].upper()} {model['num_layers']} x {model['hidden_size']}, embedding {model['embedding_size']}, "
          f"dropout {model['dropout']}, tied weights {'yes' if model['tie_weights'] else 'no'}")
    print(f"tokenizer    {tokenizer['kind']}, {tokenizer['vocab_size']} symbols{', lower-cased' if tokenizer['lowercase'] else ''}")
    print("parameters")
    for row in info["parameter_table"]:
        print(f"  {row['name']:<28} {'x'.join(map(str, row['shape'])):>14} {row['count']:>12,}")
    print(f"  {'total':<28} {'':>14} {info['parameters']:>12,}")
    data = training.get("data", {})
    print(f"training     {training['steps']} steps, {training['evaluations']} evaluations, preset {data.get('preset', '?')}, "
          f"corpus {', '.join(data.get('sources', [])) or '?'}")
    best = info["best_validation"]
    if best:
        print(f"best val     step {best['step']}: {best['val_nats']:.4f} nats/token, {best['val_bits']:.4f} bits/token, "
              f"perplexity {best['val_perplexity']:.3f}")
        if "val_cold_start_nats" in best:
            print(f"cold start   {best['val_cold_start_nats']:.4f} nats/token from a fresh state vs "
                  f"{best['val_cold_start_context_nats']:.4f} in context (x{best['val_cold_start_ratio']:.3f})")
    return 0


def _add_presets(subparsers) -> None:
    parser = subparsers.add_parser("presets", help="list the presets and their settings")
    parser.set_defaults(handler=_presets)


def _presets(args: argparse.Namespace) -> int:
    for name, spec in PRESETS.items():
        print(f"{name:<16} {spec['description']}")
        print(f"{'':<16} model {json.dumps(spec['model'])}")
        print(f"{'':<16} train {json.dumps(spec['train'])}")
    return 0


def _add_serve(subparsers) -> None:
    from .server.command import add_serve_command  # FastAPI and uvicorn are imported only to serve

    add_serve_command(subparsers)


def _add_gan(subparsers) -> None:
    from .gan.command import add_gan_command  # SeqGAN: adversarial training and its benchmarks

    add_gan_command(subparsers)


SUBCOMMANDS: list[Callable] = [_add_train, _add_generate, _add_eval, _add_info, _add_presets, _add_serve, add_sweep_command, _add_gan]



def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lstmgen", description="Train recurrent (LSTM) language models and generate text.")
    parser.add_argument("--version", action="version", version=f"lstmgen {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `lstmgen generate ... | head`
        return 0
    except (ValueError, OSError) as error:
        print(f"lstmgen: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
