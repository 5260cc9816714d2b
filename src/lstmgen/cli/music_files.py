"""``lstmgen generate`` for music models: a music file as the prompt, and samples written as .abc or .mid files
(with ``--render``, their audio and piano roll beside them)."""

from __future__ import annotations

import argparse
import sys

from ..config import GenerationConfig
from . import batch


def add_music_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prompt-bars", type=int, default=4, metavar="N",
                        help="music models: a --prompt-file that is a music file (.abc for an ABC model; .mid/.midi/.mxl for a "
                             "MIDI model) is one prompt, its first N bars")
    parser.add_argument("--render", metavar="KINDS", default="",
                        help="with --output-dir, for ABC and MIDI models: also render each sample as wav (FluidSynth) and/or png "
                             "(a piano roll), e.g. --render wav,png")


def music_prompt_file(args: argparse.Namespace) -> bool:
    """Whether --prompt-file names a music file (one musical prompt) rather than a file of text prompts."""
    from ..music.corpora import is_music_file

    return bool(args.prompt_file) and is_music_file(args.prompt_file)


def prompt_from_music_file(model, args: argparse.Namespace) -> str:
    """A music --prompt-file's first --prompt-bars bars as the prompt (the model's own notation only)."""
    from ..music.prompts import music_prompt

    if args.prompt:
        raise ValueError("give either --prompt or a music --prompt-file, not both")
    return music_prompt(args.prompt_file, model.tokenizer, args.prompt_bars)


def write_music_files(model, config: GenerationConfig, args: argparse.Namespace, prompts) -> int:
    """--output-dir for a music model: each sample as .abc or .mid (with --render, its WAV and piano roll beside it),
    named as batch.write_files names text samples; a sample that cannot be written is reported, not fatal."""
    from ..music import MusicError
    from ..music.render import parse_renderings, write_sample

    if config.num_beams > 1:
        raise ValueError("--output-dir samples; beam search (--num-beams) prints to the terminal")
    renderings = parse_renderings(args.render)
    prompts = batch.seeded(prompts or [batch.Prompt(args.prompt, config)], config)
    samples = batch.generate(model, prompts, args.unknown)
    if args.output:
        with batch.open_output(args.output) as stream:
            batch.write_records(stream, prompts, samples, config, args.format)
    written = failed = 0
    for index, (prompt, found) in enumerate(zip(prompts, samples), start=1):
        for number, sample in enumerate(found, start=1):
            try:
                paths = write_sample(prompt.text + sample["text"], model.tokenizer, args.output_dir,
                                     f"prompt-{index:04d}-sample-{number}", renderings)
            except MusicError as error:
                failed += 1
                print(f"lstmgen: prompt {index}, sample {number}: {error}", file=sys.stderr)
                continue
            written += 1
            print(f"lstmgen: wrote {', '.join(str(path) for path in paths)}", file=sys.stderr)
    return 1 if written == 0 and failed else 0
