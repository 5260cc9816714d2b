"""``lstmgen generate --prompt-file FILE``: many prompts generated together, samples to JSON Lines, text or files.

A prompt file holds one prompt per line (``\\n`` in a line stands for a line break; blank lines are skipped),
or, as JSON Lines (a ``.jsonl`` file, or every line a JSON object), one ``{"prompt": ..., <settings>}`` per line,
where the settings are GenerationConfig fields by name (``max_tokens``, ``temperature``, ``top_k``, ``seed``, ...)
that override the command line's for that prompt. Every prompt's samples step through one batch
(``LanguageModel.decode_many``), so 64 prompts cost little more per step than one.

With ``--seed S`` prompt ``i`` (from 0) is sampled with seed ``S + i``: its samples are those of
``lstmgen generate --prompt P --seed S+i`` (to float rounding), and two prompts never share random draws.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from ..config import ConfigError, GenerationConfig

FORMATS = ("jsonl", "text")
SETTING_NAMES = {field.name for field in dataclasses.fields(GenerationConfig)}


@dataclasses.dataclass
class Prompt:
    text: str
    config: GenerationConfig
    where: str = "--prompt"  # the file and line it came from, for errors


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prompt-file", metavar="FILE", default=None,
                        help="many prompts, generated together: one per line (\\n for a line break), or JSON Lines of "
                             "{\"prompt\": ..., <GenerationConfig fields>} with per-prompt settings")
    parser.add_argument("--output", metavar="FILE", default=None,
                        help="write the samples to FILE instead of the terminal: one JSON record per sample (prompt, text, label, "
                             "seed, settings, mean log-probability, finish reason), or the text alone with --format text")
    parser.add_argument("--format", choices=FORMATS, default="jsonl", help="--output: JSON Lines (default) or the text alone")
    parser.add_argument("--output-dir", metavar="DIR", default=None,
                        help="write each sample to its own file in DIR (prompt-0001-sample-1.txt, ...): the prompt and its continuation")


def wants_batch(args: argparse.Namespace) -> bool:
    return bool(args.prompt_file or args.output or args.output_dir)


def read_prompts(path: str, base: GenerationConfig) -> list[Prompt]:
    """The prompts of a prompt file, each with its settings (``base`` overridden by its JSON fields)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ValueError(f"prompt file {path} does not exist") from None
    except UnicodeDecodeError as error:
        raise ValueError(f"prompt file {path} is not UTF-8 text ({error.reason} at byte {error.start})") from None
    except OSError as error:
        raise ValueError(f"cannot read prompt file {path}: {error.strerror or error}") from None
    filled = [(number, line) for number, line in enumerate(lines, start=1) if line.strip()]
    as_json = path.endswith(".jsonl") or bool(filled and filled[0][1].lstrip().startswith("{"))  # JSON Lines from the first line on
    prompts = [_json_prompt(path, number, line, base) if as_json else Prompt(line.replace("\\n", "\n"), base, f"{path}, line {number}")
               for number, line in filled]
    if not prompts:
        raise ValueError(f"prompt file {path} holds no prompt (blank lines are skipped)")
    return prompts


def _json_prompt(path: str, number: int, line: str, base: GenerationConfig) -> Prompt:
    where = f"{path}, line {number}"
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"{where}: not JSON ({error.msg})") from None
    if not isinstance(record, dict) or not isinstance(record.get("prompt"), str):
        raise ValueError(f'{where}: expected an object with a "prompt" string, e.g. {{"prompt": "ROMEO:", "temperature": 0.5}}')
    settings = {name: value for name, value in record.items() if name != "prompt"}
    unknown = sorted(set(settings) - SETTING_NAMES)
    if unknown:
        raise ValueError(f"{where}: unknown settings {unknown}; settings are GenerationConfig fields: {', '.join(sorted(SETTING_NAMES))}")
    if isinstance(settings.get("stop"), (str, list)):
        settings["stop"] = (settings["stop"],) if isinstance(settings["stop"], str) else tuple(settings["stop"])
    try:
        return Prompt(record["prompt"], dataclasses.replace(base, **settings), where)
    except (ConfigError, TypeError, ValueError) as error:
        raise ValueError(f"{where}: {error}") from None


def run(model: Any, base: GenerationConfig, args: argparse.Namespace, prompts: list[Prompt] | None = None) -> int:
    """Generate every prompt of --prompt-file (``prompts``, read already) or the one --prompt, then write the samples where asked."""
    if base.num_beams > 1:
        raise ValueError("--prompt-file, --output and --output-dir sample; beam search (--num-beams) prints to the terminal")
    prompts = prompts or [Prompt(args.prompt, base)]
    prompts = seeded(prompts, base)
    for prompt in prompts:  # every prompt checked before anything is generated, with the line it came from
        try:
            model.encode_prompt(prompt.text, args.unknown)
        except ValueError as error:
            raise ValueError(f"{prompt.where}: {error}") from None
    samples = generate(model, prompts, args.unknown)
    if args.output_dir:
        write_files(Path(args.output_dir), prompts, samples)
    if args.output:
        with open_output(args.output) as stream:
            write_records(stream, prompts, samples, base, args.format)
    if not args.output and not args.output_dir:
        for index, (prompt, found) in enumerate(zip(prompts, samples), start=1):
            for number, sample in enumerate(found, start=1):
                sys.stdout.write(f"=== prompt {index}, sample {number}\n{prompt.text}{sample['text']}\n")
    written = sum(len(found) for found in samples)
    where = " and ".join(filter(None, [args.output, args.output_dir]))
    if where:
        print(f"lstmgen: wrote {written} samples of {len(prompts)} prompts to {where}", file=sys.stderr)
    return 0


def seeded(prompts: list[Prompt], base: GenerationConfig) -> list[Prompt]:
    """With a seed S on the command line, prompt i gets seed S + i (unless its own line names another)."""
    if base.seed is None:
        return prompts
    return [dataclasses.replace(p, config=dataclasses.replace(p.config, seed=base.seed + i)) if p.config.seed == base.seed else p
            for i, p in enumerate(prompts)]


def generate(model: Any, prompts: list[Prompt], unknown: str) -> list[list[dict[str, Any]]]:
    """Every prompt's samples: text, finish reason, generated tokens and mean log-probability, all in one batch."""
    results = [[{"text": [], "finish_reason": None, "tokens": 0, "logprob": 0.0} for _ in range(p.config.num_samples)] for p in prompts]
    for index, record in model.decode_many([p.text for p in prompts], [p.config for p in prompts], unknown=unknown, logprobs=0):
        for row, sample in enumerate(results[index]):
            if record.tokens[row] is None:
                continue
            sample["text"].append(record.texts[row])
            sample["tokens"] += 1
            sample["logprob"] += record.logprobs[row]
            sample["finish_reason"] = record.finish_reasons[row] or sample["finish_reason"]
    for found in results:
        for sample in found:
            sample["text"] = "".join(sample["text"])
            sample["mean_logprob"] = sample.pop("logprob") / sample["tokens"] if sample["tokens"] else None
            sample["finish_reason"] = sample["finish_reason"] or "length"
    return results


def write_records(stream: TextIO, prompts: list[Prompt], samples: list[list[dict[str, Any]]], base: GenerationConfig, form: str) -> None:
    defaults = GenerationConfig()
    for index, (prompt, found) in enumerate(zip(prompts, samples)):
        settings = {field.name: getattr(prompt.config, field.name) for field in dataclasses.fields(GenerationConfig)
                    if getattr(prompt.config, field.name) != getattr(defaults, field.name) and field.name != "seed"}
        for number, sample in enumerate(found):
            if form == "text":
                stream.write(f"{prompt.text}{sample['text']}\n\n")
                continue
            record = {"prompt_index": index, "sample": number, "prompt": prompt.text, "text": sample["text"],
                      "label": prompt.config.label, "seed": prompt.config.seed, "settings": _json_ready(settings), "tokens": sample["tokens"],
                      "mean_logprob": sample["mean_logprob"], "finish_reason": sample["finish_reason"]}
            stream.write(json.dumps(record, ensure_ascii=False) + "\n")


def write_files(directory: Path, prompts: list[Prompt], samples: list[list[dict[str, Any]]]) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(f"cannot create --output-dir {directory}: {error.strerror or error}") from None
    for index, (prompt, found) in enumerate(zip(prompts, samples), start=1):
        for number, sample in enumerate(found, start=1):
            (directory / f"prompt-{index:04d}-sample-{number}.txt").write_text(prompt.text + sample["text"] + "\n", encoding="utf-8")


def open_output(path: str) -> TextIO:
    try:
        return open(path, "w", encoding="utf-8")
    except OSError as error:
        raise ValueError(f"cannot write --output {path}: {error.strerror or error}") from None


def _json_ready(settings: dict[str, Any]) -> dict[str, Any]:
    return {name: list(value) if isinstance(value, tuple) else value for name, value in settings.items()}
