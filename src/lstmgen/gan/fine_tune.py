"""Adversarial fine-tuning of a user's trained lstmgen model on their own corpus (``lstmgen gan train``).

    from lstmgen.gan import fine_tune, report_run
    fine_tune(["my.txt"], init_from="runs/mine", out_dir="runs/mine-gan")   # dense rewards, 3 seeds, then the report
    fine_tune(resume="runs/mine-gan")                                       # go on exactly where it stopped
    report_run("runs/mine-gan")                                             # the comparison with cooling, again

The run directory:

    start/             the model it started from (--init-from), copied first: every seed starts from it
    data.npz           the corpus's windows (train / validation / test; lstmgen.gan.text) and its SHA-256
    gan_run.json       the seeds, the preset, the settings, the checkpoint it started from and data.npz's SHA-256,
                       written last: the mark that the run began (gan.run_layout)
    mle/               the first seed's starting model, as the GAN saw it (the report's MLE model)
    last/              the first seed's generator at the end: what ``lstmgen generate RUN``, ``eval`` and ``serve``
                       load (an ordinary checkpoint), with everything needed to resume
    seeds/SEED/last/   the other seeds' generators (the report gives mean ± sd over all of them)
    report.json, report.md, curves.png   the report (lstmgen.gan.report)

Nothing is chosen on the test text: every seed's final generator is its result, and the log shows the NLL of
the validation windows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from ..checkpoint import load_checkpoint, save_checkpoint
from ..config import ConfigError
from ..data.corpus import read_corpus
from ..system.console import Log, default_log
from ..system.run_directory import LAST, RunLock
from ..training.recovery import recover_checkpoints
from .config import GanConfig, gan_preset
from .run_layout import (
    CHECKPOINTS,
    MLE,
    RUN_FILE,
    SEEDS,
    START,
    GanRunError,
    clear_gan_run,
    holds_gan_run,
    leftovers,
    read_inputs,
    read_run_record,
    run_directories,
    seed_run_directory,
    write_inputs,
)
from .sequences import sample_sequences, sequence_nll
from .text import TextSequences, corpus_sequences, decode_texts, sequence_shapes
from .trainer import SeqGANTrainer

DEFAULT_SEEDS = (88, 89, 90)
SAMPLES_SHOWN = 2  # decoded samples in the log at each evaluation


@dataclass(frozen=True)
class _Request:
    """What ``fine_tune`` was asked for, as the run reads it (see fine_tune's arguments)."""

    corpus: Sequence[str]
    init_from: str | os.PathLike | None
    preset: str
    overrides: dict[str, Any] | None
    seeds: Sequence[int]
    overwrite: bool
    unknown: str
    encoding: str
    encoding_errors: str
    glob: str
    progress: bool | None
    threads: int
    report: bool
    report_settings: dict[str, Any] | None


def fine_tune(
    corpus: Sequence[str] = (),
    init_from: str | os.PathLike | None = None,
    out_dir: str | os.PathLike = "runs/gan",
    preset: str = "dense-text",
    overrides: dict[str, Any] | None = None,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    resume: str | os.PathLike | None = None,
    overwrite: bool = False,
    unknown: str = "error",
    encoding: str = "utf-8",
    encoding_errors: str = "strict",
    glob: str = "*.txt",
    log: Log | None = None,
    progress: bool | None = None,
    threads: int = 0,
    report: bool = True,
    report_settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Fine-tune ``init_from`` adversarially on ``corpus``, one run per seed, then report (see the module docstring).

    ``overrides`` set GanConfig fields of the preset; ``resume`` continues a run directory instead (its own data and
    settings; ``overrides`` may only lengthen it: rounds). Returns the report (or the status when interrupted).
    """
    say = log or default_log
    out = Path(resume if resume is not None else out_dir)
    if resume is not None and not out.is_dir():
        raise ConfigError(f"--resume {out}: no such run directory")
    if resume is None:  # checked before the lock creates the directory
        if init_from is None:
            raise ConfigError("gan train fine-tunes a trained model: name it with --init-from CKPT (lstmgen train makes one)")
        if not seeds or len(set(seeds)) != len(seeds):
            raise ConfigError(f"give one or more distinct seeds, got {list(seeds)}")
    # One process at a time writes a GAN run: a second gets a clear error, not checkpoints mixed with the first's.
    request = _Request(corpus, init_from, preset, overrides, seeds, overwrite, unknown, encoding, encoding_errors, glob,
                       progress, threads, report, report_settings)
    with RunLock(out):
        return _fine_tune(out, resume is not None, request, say)


def _fine_tune(out: Path, resuming: bool, request: _Request, say: Log) -> dict[str, Any]:
    seeds, threads = request.seeds, request.threads
    for directory in [out, *(out / SEEDS).glob("*")] if out.is_dir() else []:
        for line in recover_checkpoints(directory, CHECKPOINTS):  # what a crash left between two renames
            say(f"recovered {directory}: {line}")
    if resuming:
        gan, seeds, start_dir, tokenizer, data = _resumed_inputs(out, request)
    else:
        _prepare(out, request.overwrite, say)
        start = load_checkpoint(request.init_from)
        gan = gan_preset(request.preset, **(request.overrides or {}))
        text = read_corpus(list(request.corpus), encoding=request.encoding, errors=request.encoding_errors, pattern=request.glob).text
        data = corpus_sequences(text, start.tokenizer, gan.sequence_length, unknown=request.unknown)
        tokenizer = start.tokenizer
        out.mkdir(parents=True, exist_ok=True)
        # The inputs in an order a crash cannot break: start/, data.npz, then gan_run.json (the mark that the run began).
        start_dir = out / START
        save_checkpoint(start_dir, start.model, tokenizer, start.train_config, metrics=start.metrics, extra=start.extra)
        record = {"seeds": list(seeds), "preset": request.preset, "init_from": str(request.init_from), "corpus": list(request.corpus),
                  "corpus_sha256": data.corpus_sha256, "gan": gan.to_dict()}
        write_inputs(out, data, record)
        say(f"corpus: {data.corpus_tokens:,} tokens ({tokenizer.kind}); windows of {gan.sequence_length} tokens after each "
            f"start token: {', '.join(sequence_shapes(data))}")
    gan = GanConfig.from_dict({**gan.to_dict(), "start_token": data.start_token})
    evaluate = _validation(data.validation, data.start_token)
    show = _shown_samples(tokenizer, gan, data.start_token)
    for seed in seeds:
        run_dir = seed_run_directory(out, seeds, seed)
        config = GanConfig.from_dict({**gan.to_dict(), "seed": seed})
        common = dict(evaluate=evaluate, log=say, progress=request.progress, threads=threads, suppress=tokenizer.never_generated,
                      show_samples=show)
        if (run_dir / LAST).exists():
            saved = load_checkpoint(run_dir, prefer=LAST).extra
            if saved.get("phase") == "done" and saved.get("completed", 0) >= config.rounds:
                continue
            trainer = SeqGANTrainer.resume(run_dir, data.train, config=config, **common)
        else:
            # Every seed starts from the model the run started from, so the seeds are replicates (each its own MLE
            # pre-training where the preset has one).
            trainer = SeqGANTrainer(load_checkpoint(start_dir).model, tokenizer, data.train, config, run_dir, **common)
        say(f"seed {seed}: {config.method} GAN, {config.rounds} rounds of {config.adversarial_batch_size} sequences -> {run_dir}")
        result = trainer.run()
        if result.phase != "done":
            return {"status": "interrupted", "run": str(run_dir), "phase": result.phase}
    say(f"generators: {', '.join(str(p / LAST) for p in run_directories(out))}; try: lstmgen generate {out}")
    if not request.report:
        return {"status": "done", "out_dir": str(out)}
    from .report import report_run

    return report_run(out, log=say, threads=threads, lock=False, **(request.report_settings or {}))  # the lock is held here


def _prepare(out: Path, overwrite: bool, say: Log) -> None:
    if holds_gan_run(out):
        if not overwrite:
            raise ConfigError(f"{out} already holds a GAN run; continue it with --resume {out}, choose another --out, "
                              "or pass --overwrite to replace it")
        clear_gan_run(out)
    elif leftovers(out):  # a run stopped before it began: nothing was trained from these, so they go
        say(f"removed {', '.join(leftovers(out))} from {out}: a run that stopped before it began left them")
        clear_gan_run(out)


def _resumed_inputs(out: Path, request: _Request) -> tuple[GanConfig, tuple[int, ...], Path, Any, TextSequences]:
    if request.corpus or request.init_from is not None:
        raise ConfigError(f"--resume {out} continues on the run's own data and model; pass no corpus or --init-from")
    if not holds_gan_run(out):
        if leftovers(out):
            raise ConfigError(f"{out} holds a GAN run that stopped before it began (no {RUN_FILE} yet; nothing was trained): "
                              "run the command that started it again, without --resume")
        raise ConfigError(f"{out} is not a gan train run (it has no {RUN_FILE}): start one with lstmgen gan train CORPUS --init-from CKPT")
    record = read_run_record(out)
    longer = {k: v for k, v in (request.overrides or {}).items() if k == "rounds"}
    others = sorted(set(request.overrides or {}) - set(longer))
    if others:
        raise ConfigError(f"a resumed run keeps its settings; only rounds may change (got {', '.join(others)})")
    # Runs written before start/ existed began every seed from mle/ (the first seed's starting model).
    start_dir = out / START if os.path.lexists(out / START) else out / MLE
    if not os.path.lexists(start_dir):
        raise GanRunError(f"{out} has no {START}/ (nor {MLE}/), the model the run started from: start the run again "
                          "(lstmgen gan train ... --overwrite)")
    tokenizer = load_checkpoint(start_dir).tokenizer
    data = read_inputs(out, record, tokenizer.vocab_size)
    return GanConfig.from_dict({**record.gan.to_dict(), **longer}), record.seeds, start_dir, tokenizer, data


def _validation(validation: torch.Tensor, start_token: int) -> Callable:
    def evaluate(model) -> dict[str, float]:
        return {"nll_validation": float(sequence_nll(model, validation, start_token).mean())}
    return evaluate


def _shown_samples(tokenizer, gan: GanConfig, start_token: int) -> Callable:
    def show(model) -> list[str]:
        drawn = sample_sequences(model, SAMPLES_SHOWN, gan.sequence_length, start_token, 1.0,
                                 torch.Generator().manual_seed(0), suppress=tokenizer.never_generated)
        return decode_texts(drawn, tokenizer)
    return show
