"""The report of a ``gan train`` run: did the GAN beat simply cooling the starting model, on the user's held-out text?

For the starting (MLE) model and every seed's final GAN generator, swept over temperatures (lstmgen.gan.curve),
on the run's *test* windows (never trained on, never used to choose anything):

    bleu5, self_bleu5    BLEU-5 of the samples against the test windows (quality) and against each other (lower =
                         more diverse), words split on white space (lstmgen.gan.bleu, NLTK)
    nll_test, entropy    coverage of the test windows at that temperature; the model's entropy rate there
    lm_score             the starting model's NLL of the samples (Semeniuta et al.'s LM score)
    reverse_lm_score     at ``reverse_temperatures``: a small LM trained on the samples scores the test windows

then each GAN run placed on the starting model's curve: delta NLL-test at matched BLEU-5 (> 0: dominated by
cooling), T*, Caccia's min over T of (LM score + NLL-test) (on real text the starting model stands in for the
oracle; it favours its own samples, so read it beside the reverse-LM score), mean ± sd over seeds; and the final
discriminators' diagnostics (accuracy on validation windows it never trained on; rank correlation of its reward
with the starting model's log-likelihood).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any, Sequence

import torch

from ..checkpoint import load_checkpoint
from ..config import ConfigError
from ..system.console import Log, default_log
from ..system.run_directory import LAST, RunLock
from ..system.runtime import set_threads
from .config import GanConfig
from .curve import TEMPERATURES, at_temperature, compare, format_spread, plot_panels, sweep
from .diagnostics import discriminator_diagnostics
from .discriminator import make_discriminator
from .language_scores import lm_score, reverse_lm_score
from .run_layout import MLE, RUN_FILE, holds_gan_run, read_inputs, read_run_record, run_directories, seed_run_directory
from .sequences import sample_sequences, sequence_nll
from .state import check_gan_state
from .text import decode_words

REPORT_TEMPERATURES = TEMPERATURES


def text_judge(tokenizer, references: list[list[str]], judge_model, start_token: int):
    """BLEU-5 against the references, self-BLEU-5, and the starting model's LM score of the samples."""
    from ..evaluation.bleu import ReferenceIndex, bleu, self_bleu  # NLTK: the bleu extra

    index = ReferenceIndex(references, 5)

    def judge(samples: torch.Tensor) -> dict[str, float]:
        words = decode_words(samples, tokenizer)
        return {"bleu5": bleu(words, references, (5,), index)["bleu5"], "self_bleu5": self_bleu(words, (5,))["self_bleu5"],
                "lm_score": lm_score(judge_model, samples, start_token)}
    return judge


def report_run(run_dir: str | os.PathLike, temperatures: Sequence[float] = REPORT_TEMPERATURES, samples: int = 500,
               reverse_temperatures: Sequence[float] = (0.8, 1.0, 1.2), reverse_samples: int = 2000, reverse_epochs: int = 10,
               diagnostic_samples: int = 500, seed: int = 7, threads: int = 0, log: Log | None = None,
               lock: bool = True) -> dict[str, Any]:
    """Measure and write RUN/report.json, report.md and curves.png; return the report.

    Every seed must have finished (a run still training, or stopped, is refused with what to do). ``lock``
    takes the run's lock for the report (``fine_tune``, which holds it already, passes False), so a report
    never reads, or writes into, a run another process is training."""
    run_dir = Path(run_dir)
    if not holds_gan_run(run_dir):
        raise ConfigError(f"{run_dir} is not a gan train run (it has no {RUN_FILE}): run lstmgen gan train first")
    with RunLock(run_dir) if lock else contextlib.nullcontext():
        return _report(run_dir, temperatures, samples, reverse_temperatures, reverse_samples, reverse_epochs, diagnostic_samples,
                       seed, threads, log or default_log)


def _report(run_dir: Path, temperatures: Sequence[float], samples: int, reverse_temperatures: Sequence[float], reverse_samples: int,
            reverse_epochs: int, diagnostic_samples: int, seed: int, threads: int, say: Log) -> dict[str, Any]:
    set_threads(threads)
    record = read_run_record(run_dir)
    unfinished = [str(seed_run) for seed_run in record.seeds if _phase(seed_run_directory(run_dir, record.seeds, seed_run)) != "done"]
    if unfinished:
        raise ConfigError(f"{run_dir}: seed(s) {', '.join(unfinished)} have not finished; the report compares finished runs: "
                          f"continue it first (lstmgen gan train --resume {run_dir})")
    start = load_checkpoint(run_dir / MLE)
    data = read_inputs(run_dir, record, start.tokenizer.vocab_size)
    tokenizer, start_token, suppress = start.tokenizer, data.start_token, tokenizer_suppress(start.tokenizer)
    references = decode_words(data.test, tokenizer)
    judge = text_judge(tokenizer, references, start.model, start_token)
    runs = [path for path in run_directories(run_dir) if (path / LAST).exists()]
    models = {"mle": start.model, **{_name(path): load_checkpoint(path, prefer=LAST).model for path in runs}}
    curves: dict[str, list[dict[str, Any]]] = {}
    for name, model in models.items():
        say(f"report: sweeping {name} over {len(temperatures)} temperatures ({samples} samples each)")
        curve = sweep(model, data.test, judge, temperatures, samples, seed, start_token, suppress)
        for point in curve:
            if any(abs(point["temperature"] - t) < 1e-9 for t in reverse_temperatures):
                drawn = sample_sequences(model, reverse_samples, data.test.shape[1], start_token, point["temperature"],
                                         torch.Generator().manual_seed(seed + 1), suppress=suppress)
                point.update(reverse_lm_score(drawn, data.test, model.config.vocab_size, start_token, reverse_epochs, seed=seed))
        curves[name] = curve
    gan_names = [name for name in curves if name != "mle"]
    position = compare(curves["mle"], [curves[name] for name in gan_names], "bleu5", "lm_score")
    diagnostics = {_name(path): _diagnostics(path, start, data, diagnostic_samples, seed) for path in runs}
    report = {"run": str(run_dir), "tokenizer": tokenizer.kind, "sequence_length": int(data.test.shape[1]),
              "windows": {"train": len(data.train), "validation": len(data.validation), "test": len(data.test)},
              "samples": samples, "curves": curves, "position": position, "discriminator": diagnostics}
    (run_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (run_dir / "report.md").write_text(markdown_report(report), encoding="utf-8")
    plot = plot_panels([
        {"curves": curves, "x": "bleu5", "y": "nll_test", "x_label": "BLEU-5 against held-out text (higher = better)",
         "y_label": "NLL-test (nats/token; lower = covers held-out text)"},
        {"curves": curves, "x": "bleu5", "y": "self_bleu5", "x_label": "BLEU-5 against held-out text",
         "y_label": "self-BLEU-5 (lower = more diverse)"}], str(run_dir / "curves.png"), f"{run_dir.name}: temperature sweeps")
    report["plot"] = plot
    return report


def tokenizer_suppress(tokenizer) -> tuple[int, ...]:
    return tuple(tokenizer.never_generated)


def _phase(seed_dir: Path) -> str | None:
    """The phase a seed's run reached (None before its first checkpoint)."""
    return load_checkpoint(seed_dir, prefer=LAST).extra.get("phase") if os.path.lexists(seed_dir / LAST) else None


def _name(path: Path) -> str:
    seed = load_checkpoint(path, prefer=LAST).extra.get("gan", {}).get("seed")
    return f"gan seed {seed}"


def _diagnostics(path: Path, start, data, count: int, seed: int) -> dict[str, Any]:
    checkpoint = load_checkpoint(path, prefer=LAST, state_check=check_gan_state)
    config = GanConfig.from_dict(checkpoint.extra["gan"])
    discriminator = make_discriminator(checkpoint.model.config.vocab_size, config)
    discriminator.load_state_dict(checkpoint.trainer_state["discriminator"])
    generated = sample_sequences(checkpoint.model, count, data.test.shape[1], data.start_token, 1.0,
                                 torch.Generator().manual_seed(seed + 2), suppress=tokenizer_suppress(checkpoint.tokenizer))
    judge = lambda s: -sequence_nll(start.model, s, data.start_token) * s.shape[1]  # noqa: E731  log-likelihood per sequence
    held_out = data.validation[:count]
    return discriminator_diagnostics(discriminator, generated, data.train[:count], held_out, judge)


def markdown_report(report: dict[str, Any]) -> str:
    curves, position = report["curves"], report["position"]
    lines = [f"Run {report['run']} ({report['tokenizer']} tokenizer; windows of {report['sequence_length']} tokens: "
             f"{report['windows']['train']:,} train, {report['windows']['validation']:,} validation, "
             f"{report['windows']['test']:,} test; {report['samples']} samples per point).", "",
             "| model | T | BLEU-5 | self-BLEU-5 | NLL-test | entropy | LM score | reverse-LM score |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, curve in curves.items():
        for p in curve:
            reverse = f"{p['reverse_lm_score']:.3f}" if "reverse_lm_score" in p else ""
            lines.append(f"| {name} | {p['temperature']:g} | {p['bleu5']:.3f} | {p['self_bleu5']:.3f} | {p['nll_test']:.3f} | "
                         f"{p['entropy']:.3f} | {p['lm_score']:.3f} | {reverse} |")
    summary = position["summary"]
    reference = position["reference_caccia"]
    lines += ["", "The GAN against cooling the starting model (mean ± sd over seeds; delta > 0 = dominated):", "",
              "| BLEU-5 at T=1 | NLL-test at T=1 | entropy | delta NLL-test at matched BLEU-5 | T* | "
              "Caccia min(LM score + NLL-test) | the starting model's |",
              "| --- | --- | --- | --- | --- | --- | --- |",
              f"| {format_spread(summary['bleu5'])} | {format_spread(summary['nll_test'])} | {format_spread(summary['entropy'])} | "
              f"{format_spread(summary['delta_nll_test'])} | {format_spread(summary['matched_temperature'], 2)} | "
              f"{format_spread(summary['caccia'])} | {reference['caccia']:.3f} (T={reference['caccia_temperature']:g}) |",
              "", f"Verdict: the GAN is {position['verdict']}."]
    mle_one = at_temperature(curves["mle"])
    lines.append(f"At T = 1 the starting model has BLEU-5 {mle_one['bleu5']:.3f}, NLL-test {mle_one['nll_test']:.3f}.")
    if report["discriminator"]:
        lines += ["", "| final discriminator | accuracy: generated / training / held-out real | Spearman(P(real), starting "
                  "model's log-likelihood) |", "| --- | --- | --- |"]
        for name, d in report["discriminator"].items():
            lines.append(f"| {name} | {d['accuracy_generated']:.3f} / {d['accuracy_training']:.3f} / {d['accuracy_held_out']:.3f} | "
                         f"{d['spearman_reward_vs_judge']:+.3f} |")
    return "\n".join(lines) + "\n"
