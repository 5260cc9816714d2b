"""``lstmgen generate CKPT``: every GenerationConfig field is a flag (``--length`` is ``max_tokens``)."""

from __future__ import annotations

import argparse
import sys

from ..config import GenerationConfig
from ..tokenizers import UNKNOWN_POLICIES
from . import batch
from .flags import add_config_flags, add_precision_argument, announce_precision, config_values
from .music_files import add_music_arguments, music_prompt_file, prompt_from_music_file, write_music_files

DESCRIPTION = ("Prime the model with a prompt and sample a continuation, streamed as it is generated. "
               "Processors run in this order: repetition penalty, no-repeat n-gram, presence/frequency penalties, "
               "logit bias, temperature, top-k, top-p, min-p (--logit-bias takes token ids: lstmgen info lists the vocabulary "
               "size). --num-beams > 1 searches for the most probable continuations instead of sampling.")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prompt", default="", help="text to start from (default: a line break)")
    parser.set_defaults(generation_fields=add_config_flags(parser, GenerationConfig, use_defaults=True))
    parser.add_argument("--unknown", default="error", choices=UNKNOWN_POLICIES, help="prompt symbols the vocabulary lacks")
    parser.add_argument("--interactive", action="store_true", help="type prompts, watch the text stream, see the next-token candidates")
    parser.add_argument("--candidates", type=int, default=5, help="--interactive: how many next-token candidates to show")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0 = 1 for a few samples, else the free cores)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    parser.add_argument("--adapt-to", metavar="FILE", default=None,
                        help="read FILE first with dynamic evaluation's updates, then continue it in its own style "
                             "(the prompt follows FILE's text)")
    batch.add_arguments(parser)
    add_music_arguments(parser)
    add_precision_argument(parser)


def run(args: argparse.Namespace) -> int:
    from ..language_model import LanguageModel
    from ..system.runtime import generation_threads

    config = GenerationConfig(**config_values(args, args.generation_fields))
    if args.render and not args.output_dir:
        raise ValueError("--render writes files beside the samples: give --output-dir DIR too")
    musical = music_prompt_file(args)
    prompts = batch.read_prompts(args.prompt_file, config) if args.prompt_file and not musical else None  # a bad file: an error before loading
    generation_threads(config.num_samples * config.num_beams * (len(prompts) if prompts else 1), args.threads)
    model = LanguageModel.load(args.checkpoint, device=args.device, precision=args.precision)
    announce_precision(model)
    if musical:
        args.prompt, args.prompt_file = prompt_from_music_file(model, args), None
    if args.adapt_to:
        from ..data.corpus import read_corpus

        document = read_corpus([args.adapt_to]).text
        model = model.adapted_to(document)
        adapted = model.extra["adapted"]
        print(f"lstmgen: adapted to {args.adapt_to} ({adapted['tokens']:,} tokens read, {adapted['nats_while_reading']:.4f} "
              f"nats/token while reading; {adapted['protocol']})", file=sys.stderr)
        return _continue(model, document, config, args)
    if args.interactive:
        return interactive(model, config, args)
    if args.output_dir and model.tokenizer.kind in ("abc", "midi"):
        return write_music_files(model, config, args, prompts)
    if batch.wants_batch(args):
        return batch.run(model, config, args, prompts)
    if config.num_beams > 1:
        for rank, found in enumerate(model.beam_search(args.prompt, config, unknown=args.unknown), start=1):
            sys.stdout.write(f"=== beam {rank}: log-probability {found.log_probability:.4f} over {len(found.token_ids)} tokens, "
                             f"score {found.score:.4f}\n{args.prompt}{found.text}\n")
        return 0
    texts = [""] * config.num_samples
    # All samples are generated together; the first streams live, the others are printed when done.
    if config.num_samples > 1:
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


def _continue(model, document: str, config: GenerationConfig, args: argparse.Namespace) -> int:
    """Samples that continue ``document`` (then the prompt): the document is read as the prompt's start, not printed."""
    # The document is read like an evaluated text: symbols the vocabulary lacks go through the unknown symbol.
    for index, text in enumerate(model.samples(document + args.prompt, config, unknown="replace"), start=1):
        if config.num_samples > 1:
            sys.stdout.write(f"=== sample {index}\n")
        sys.stdout.write(f"{args.prompt}{text}\n")
    return 0


def interactive(model, config: GenerationConfig, args: argparse.Namespace) -> int:
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
