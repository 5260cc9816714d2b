"""``train``: from a corpus to a run directory (sources -> token store -> Trainer).

    from lstmgen import train
    result = train(["my.txt"], out_dir="runs/mine", time_budget=3)   # keywords set TrainConfig fields
    train(data="data/shakespeare", out_dir="runs/big")                # a store made by `lstmgen prepare`
    train(resume="runs/mine")                                         # continue exactly where it stopped

A corpus is tokenized into a token store first (``lstmgen.data.store``: streamed, never held in memory as one
string): into ``RUN/data`` for a corpus named by files, or a store the user prepared (``data=``, or a
store directory named as the corpus). Training memory-maps it. Resume reads only the run directory
(and a store the user names again): never a path a checkpoint records, which is untrusted input.

One process at a time writes a run directory: ``train`` holds ``RUN/.lock`` (``lstmgen.system.run_directory``) from
before it looks at the directory until it returns, so a second run into the same ``--out``, an
``--overwrite`` of a live run, or a second ``--resume`` refuses at once, naming the holder. With the lock
held, ``lstmgen.training.recovery`` repairs what a crash left (a checkpoint between two renames, staging folders,
metrics written after the last checkpoint, a run that stopped before its first checkpoint).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from ..checkpoint import load_checkpoint, resolve_checkpoint_dir
from ..config import ConfigError, ModelConfig, TrainConfig
from ..data.corpus import resolve_sources, text_source, validation_sources
from ..data.labelled import labelled_corpus
from ..data.store import StoreError, TokenStore, is_store, prepare
from ..model import RecurrentLanguageModel
from ..system import run_directory
from ..system.console import default_log, progress_bar, show_progress
from ..system.locks import exclusive_lock
from ..system.run_directory import RunLock
from ..system.runtime import available_cores, resolve_device, set_threads
from ..tokenizers.labels import labels_of
from ..tokenizers.registry import default_documents, has_word_pieces
from .distributed import World, close
from .precision import check_training_precision
from .presets import get_preset
from .recovery import recover_run_directory
from .trainer import Hook, Trainer, TrainResult

STORE_SETTINGS = ("tokenizer", "lowercase", "min_frequency", "vocab_size", "documents", "val_fraction", "test_fraction",
                  "labels", "text_field", "label_field")  # fixed by a store


def build_configs(vocab_size: int, preset: str = "default", model_overrides: dict[str, Any] | None = None,
                  train_overrides: dict[str, Any] | None = None) -> tuple[ModelConfig, TrainConfig]:
    """Preset values, then explicit overrides (unset = None values are ignored)."""
    spec = get_preset(preset)
    model_values = {**spec["model"], **{k: v for k, v in (model_overrides or {}).items() if v is not None}}
    train_values = {**spec["train"], **{k: v for k, v in (train_overrides or {}).items() if v is not None}}
    return ModelConfig(vocab_size=vocab_size, **model_values), TrainConfig.from_dict(train_values)


def preset_train_config(preset: str = "default", **overrides: Any) -> TrainConfig:
    spec = get_preset(preset)
    return TrainConfig.from_dict({**spec["train"], **{k: v for k, v in overrides.items() if v is not None}})


def train(
    corpus: Sequence[str] = (),
    out_dir: str | os.PathLike = "runs/latest",
    preset: str = "default",
    val: str | None = None,
    text: str | None = None,
    data: str | os.PathLike | None = None,
    resume: str | os.PathLike | None = None,
    model: dict[str, Any] | None = None,
    hook: Hook | None = None,
    log: Callable[[str], None] | None = None,
    progress: bool | None = None,
    encoding: str = "utf-8",
    encoding_errors: str = "strict",
    glob: str = "*.txt",
    overwrite: bool = False,
    init_from: str | os.PathLike | None = None,
    unknown: str = "error",
    tensorboard: str | os.PathLike | None = None,
    **train_overrides: Any,
) -> TrainResult:
    """Train (or resume) a model and write its run directory; keyword arguments set ``TrainConfig`` fields.

    ``corpus`` names files, directories, globs, ``-`` or named corpora (empty = the embedded default), or a
    token store directory; ``text`` passes the training text directly instead; ``data`` names a token store
    (``lstmgen prepare``); ``val`` names a validation file to use instead of splitting off the end of the
    corpus (a named corpus with an official split, such as ``wikitext2``, trains on its train split and validates on
    its valid split); ``model`` overrides ``ModelConfig`` fields of the preset.

    ``init_from`` fine-tunes: the new run starts from that checkpoint's weights and tokenizer, with a fresh
    optimizer and schedule (``resume`` instead continues the same run). Symbols of the new corpus its
    vocabulary lacks are an error listing them, unless ``unknown`` is "replace" or "skip".
    """
    say = log or default_log
    if resume is not None and text is not None:
        raise ConfigError("resume continues on the run's own token store; pass no text=... (start a new run to train on other text)")
    config = preset_train_config(preset, **train_overrides)
    device = resolve_device(config.device, int(os.environ.get("LOCAL_RANK", "0")))
    world = World.from_environment(device, config.distributed_timeout)
    try:
        if resume is not None:
            if init_from is not None:
                raise ConfigError("--resume continues a run; --init-from starts a new one from a model: choose one")
            if not Path(resume).is_dir():
                raise ConfigError(f"--resume {resume}: no such run directory")
            with _run_lock(Path(resume), world, say):
                return _resume(Path(resume), corpus, data, hook, log, progress, train_overrides, world, tensorboard)
        check_training_precision(config.precision, device)  # before the corpus is read and the budget probed
        out = Path(out_dir)
        source = _starting_point(init_from, model, train_overrides)
        with _run_lock(out, world, say):
            return _train_new(out, source, corpus, text, data, val, config, preset, model, hook, log, progress, encoding,
                              encoding_errors, glob, overwrite, unknown, tensorboard, train_overrides, world, say)
    finally:
        close(world, finished=sys.exc_info()[0] is None)  # an error: no barrier (the other ranks may never reach it)


@contextlib.contextmanager
def _run_lock(run_dir: Path, world: World, say: Callable[[str], None]):
    """Hold RUN/.lock (the job's first process only: one lock per job) and repair what a crash left."""
    if not world.is_main:
        yield
        return
    with RunLock(run_dir):
        for line in recover_run_directory(run_dir):
            say(f"recovered {run_dir}: {line}")
        yield


def _train_new(out: Path, source, corpus, text, data, val, config: TrainConfig, preset: str, model, hook, log, progress,
               encoding: str, encoding_errors: str, glob: str, overwrite: bool, unknown: str, tensorboard, train_overrides,
               world: World, say) -> TrainResult:
    if world.is_main:
        _prepare_out_dir(out, overwrite)
    world.barrier()
    if not config.documents and source is None and data is None:  # music: one piece per document unless told otherwise
        config = replace(config, documents=default_documents(config.tokenizer))
    store = _store(out, corpus, text, data, val, config, train_overrides, encoding, encoding_errors, glob, say, progress, world,
                   given=source.tokenizer if source is not None else None, unknown=unknown)
    config = replace(config, **{name: value for name, value in _store_settings(store).items()})
    data_info = {**store.info(), "store": _recorded_path(store.path, out), "preset": preset, "val_source": val}
    if source is None:
        model = _label_inputs(store, model)
    if preset == "default" and source is None:  # the default adapts to the budget, the corpus and the machine
        plan = _plan(store, config, train_overrides, model, world)
        config = replace(config, **plan.train)
        model = {**plan.model, **{k: v for k, v in (model or {}).items() if v is not None}}
        data_info["plan"] = {"model": plan.model, "train": plan.train, "tokens": round(plan.tokens), "epochs": round(plan.epochs, 2),
                             "probe_tokens_per_second": plan.probe, "reasons": plan.reasons}
        if world.is_main:
            say(plan.describe())
    torch.manual_seed(config.seed)  # the initial weights depend on the seed only: the same on every rank
    if source is not None:
        network = source.model  # its weights; the optimizer, schedule and step start afresh
        data_info["init_from"] = str(source.path)
    else:
        network = RecurrentLanguageModel(build_configs(store.tokenizer.vocab_size, preset, model)[0])
    trainer = Trainer(network, store.tokenizer, store.train, store.val, config, out, hook=hook, log=log, progress=progress,
                      data_info=data_info, world=world, tensorboard=tensorboard)
    _announce(trainer, log)
    return trainer.run()


def _label_inputs(store: TokenStore, model: dict[str, Any] | None) -> dict[str, Any]:
    """A labelled corpus: the model reads the label beside every token (lstmgen.model), unless --label-inputs 0."""
    labels, asked = labels_of(store.tokenizer), (model or {}).get("label_inputs")
    if asked not in (None, 0, len(labels)):
        raise ConfigError(f"--label-inputs {asked}: this corpus has {len(labels)} labels; give {len(labels)} (every token reads "
                          "its document's label, the default for labelled corpora) or 0 (the label is read once, as a token)")
    return {**(model or {}), "label_inputs": len(labels) if asked is None else asked}


def _plan(store: TokenStore, config: TrainConfig, train_overrides: dict[str, Any], model: dict[str, Any] | None, world: World):
    """The budget-aware default's choices for this run (lstmgen.training.budget), the user's explicit settings kept."""
    from .budget import CHARACTER_VOCABULARY, plan_default

    set_threads(config.threads or (max(1, available_cores() // world.local_size) if world.active else 0))  # as the trainer will
    vocab = store.tokenizer.vocab_size
    words = has_word_pieces(store.tokenizer.kind) or vocab > CHARACTER_VOCABULARY
    explicit = [name for name, value in train_overrides.items() if value is not None]
    fixed = {name: value for name, value in (model or {}).items() if value is not None}
    # Under torchrun each rank probes its own share of the batch; the sum of the ranks' rates is the job's.
    combine = (lambda values: world.sum(values)) if world.active else (lambda values: values)
    return plan_default(vocab, words, store.train, config, explicit, fixed, resolve_device(config.device, world.local_rank),
                        probe_batch=max(1, config.batch_size // world.size), combine=combine)


def _starting_point(init_from, model: dict[str, Any] | None, overrides: dict[str, Any]):
    """The checkpoint a fine-tuning run starts from (None for a new model), after checking nothing contradicts it."""
    if init_from is None:
        return None
    if any(value is not None for value in (model or {}).values()):
        raise ConfigError("--init-from takes the model's shape from the checkpoint; drop the model settings "
                          f"({', '.join(k for k, v in (model or {}).items() if v is not None)})")
    fixed = [name for name in ("tokenizer", "lowercase", "min_frequency", "vocab_size") if overrides.get(name) is not None]
    if fixed:
        raise ConfigError(f"--init-from keeps the checkpoint's tokenizer; drop {', '.join(fixed)}")
    return load_checkpoint(init_from)


def _store_settings(store: TokenStore) -> dict[str, Any]:
    """The TrainConfig fields a store fixes (its tokenizer and split)."""
    settings = store.meta["settings"]
    labelled = settings.get("labelled") or {}
    return {"labels": labelled.get("format", ""), "text_field": labelled.get("text_field", "text"),
            "label_field": labelled.get("label_field", "label"),"tokenizer": settings["kind"], "lowercase": settings["lowercase"], "min_frequency": settings["min_frequency"],
            "vocab_size": settings.get("vocab_size", 4096), "documents": settings.get("documents", ""),
            "val_fraction": settings["val_fraction"], "test_fraction": settings["test_fraction"]}


def _store(out: Path, corpus: Sequence[str], text: str | None, data, val: str | None, config: TrainConfig,
           overrides: dict[str, Any], encoding: str, errors: str, glob: str, say, progress: bool | None,
           world: World, given=None, unknown: str = "error") -> TokenStore:
    """The token store to train on: the one named, or one prepared from the corpus into the run directory.

    Under torchrun the first process of each machine prepares it (a lock keeps two machines sharing a disk
    from writing it at once) while the others wait, and every rank checks it trains on the same tokens.
    """
    store = _open_or_prepare(out, corpus, text, data, val, config, overrides, encoding, errors, glob, say, progress, world,
                             given, unknown)
    if given is not None and store.tokenizer.to_dict() != given.to_dict():
        raise ConfigError(f"the token store {store.path} was prepared with another tokenizer than the --init-from model's; "
                          "pass the corpus itself, so it is tokenized with the model's vocabulary")
    digests = world.gather_rows(torch.tensor(list(bytes.fromhex(store.sha256)), dtype=torch.uint8)[None], dim=0)
    if not bool((digests == digests[0]).all()):
        raise ConfigError(f"the processes of this job see different token stores at {store.path}; give every machine the same "
                          "corpus (or a shared --out)")
    return store


def _open_or_prepare(out: Path, corpus, text, data, val, config, overrides, encoding, errors, glob, say, progress,
                     world: World, given=None, unknown: str = "error") -> TokenStore:
    if text is not None and (corpus or data is not None):
        raise ConfigError("pass either a corpus, data=... or text=..., not several")
    if data is None and len(corpus) == 1 and is_store(corpus[0]):
        data, corpus = corpus[0], ()
    if data is not None:
        if corpus or val is not None:
            raise ConfigError("a token store holds its own validation region; pass the store alone (prepare it with --val)")
        store = TokenStore.open(data)
        fixed = _store_settings(store)
        clashes = [f"{name}={overrides[name]!r} (the store has {fixed[name]!r})" for name in STORE_SETTINGS
                   if overrides.get(name) is not None and overrides[name] != fixed[name]]
        if clashes:
            raise ConfigError(f"{data} was prepared with other settings: {', '.join(clashes)}; prepare the corpus again with "
                              "them (lstmgen prepare ...), or leave them unset")
        return store
    if text is not None and not text.strip():
        raise ConfigError("the training text is empty")
    if world.local_rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(out / ".prepare.lock"):
            labelled = None
            if config.labels:
                if text is not None:
                    raise ConfigError("labelled training reads its documents from files; pass the corpus, not text=...")
                labelled = labelled_corpus(list(corpus), config.labels, config.text_field, config.label_field, glob, encoding, errors)
                sources = labelled.files()
            else:
                sources = [text_source(text)] if text is not None else resolve_sources(list(corpus), pattern=glob, encoding=encoding,
                                                                                       spool_dir=out / ".spool")
            # --val's file, or the official valid split of a named corpus that has one (WikiText-2)
            val_sources = validation_sources(list(corpus), val, encoding, config.test_fraction)
            total = sum(source.size for source in sources + val_sources)
            with progress_bar(3 * total, 0, show_progress(progress) and world.is_main and total > 50_000_000, unit="B") as bar:
                prepare(sources, out / run_directory.STORE, given if given is not None else config.tokenizer, config.lowercase,
                        config.min_frequency, config.val_fraction, config.test_fraction, errors, val_sources=val_sources,
                        reuse=True, vocab_size=config.vocab_size, documents=config.documents, unknown=unknown,
                        progress=bar.update, log=say if world.is_main else None, labelled=labelled)
            shutil.rmtree(out / ".spool", ignore_errors=True)
    world.barrier()
    return TokenStore.open(out / run_directory.STORE)


def _recorded_path(store: Path, out: Path) -> str:
    """The store's path as the checkpoint records it: relative when it lies in the run directory."""
    try:
        return str(store.resolve().relative_to(out.resolve()))
    except ValueError:
        return str(store.resolve())


def _prepare_out_dir(out_dir: Path, overwrite: bool) -> None:
    """Refuse to mix two runs in one directory unless asked to replace the old one."""
    if not run_directory.holds_run(out_dir):
        return
    if not overwrite:
        raise ConfigError(f"{out_dir} already holds a training run; continue it with --resume {out_dir}, "
                          "choose another --out, or pass --overwrite to replace it")
    run_directory.clear_run(out_dir)


def _announce(trainer: Trainer, log: Callable[[str], None] | None) -> None:
    say = log or trainer.log
    model, data = trainer.model, trainer.data_info
    say(
        f"model: {model.config.cell.upper()} {model.config.num_layers}x{model.config.hidden_size}, embedding "
        f"{model.config.embedding_size}, {model.num_parameters():,} parameters | vocabulary {trainer.tokenizer.vocab_size} "
        f"({trainer.tokenizer.kind}) | train {data.get('train_tokens', 0):,} tokens, validation {data.get('val_tokens', 0):,} | "
        f"{trainer.batches.steps_per_epoch} steps/epoch | {trainer.threads} thread(s) on {trainer.device}"
    )


def _resume(run_dir: Path, corpus: Sequence[str], data, hook, log, progress, overrides, world: World,
            tensorboard=None) -> TrainResult:
    """Continue a run from its own token store (RUN/data), or from the store the user names again."""
    if not run_directory.has_checkpoint(run_dir):
        raise ConfigError(f"{run_dir} holds no checkpoint to resume (a run stopped before its first evaluation saved one, or not "
                          f"a run directory); start the run again with the command that started it: lstmgen train CORPUS --out "
                          f"{run_dir} ...")
    checkpoint = load_checkpoint(run_dir, prefer=run_directory.LAST)
    recorded = checkpoint.extra.get("data", {}) if isinstance(checkpoint.extra.get("data"), dict) else {}
    named = data if data is not None else (corpus[0] if len(corpus) == 1 and is_store(corpus[0]) else None)
    if corpus and named is None:
        raise ConfigError(f"resume {run_dir} without a corpus: it continues on its own token store ({run_dir}/{run_directory.STORE}); "
                          "to train on other text, start a new run (--init-from to start from this model's weights)")
    if named is not None:
        store_path = Path(named)
    elif recorded.get("store") == run_directory.STORE:
        store_path = run_dir / run_directory.STORE
    else:
        where = recorded.get("store")
        # The recorded path is only shown, never opened: the user names the store again to confirm it.
        hint = (f"name it again: lstmgen train {str(where)[:300]!r} --resume {run_dir}" if where
                else "it was trained before token stores existed")
        raise ConfigError(f"{run_dir} was trained on a token store outside the run directory; {hint}")
    try:
        store = TokenStore.open(store_path)
        if world.local_rank == 0:
            store.verify()
    except StoreError as error:
        raise ConfigError(f"cannot resume {run_dir}: {error}") from None
    if recorded.get("store_sha256") != store.sha256:
        raise ConfigError(f"the token store {store_path} is not the one {run_dir} was trained on (SHA-256 "
                          f"{store.sha256[:12]}… against {str(recorded.get('store_sha256'))[:12]}…); resume with the same data, or "
                          "start a new run")
    how_long = {k: v for k, v in overrides.items() if k in ("max_epochs", "max_steps", "time_budget", "patience", "threads") and v is not None}
    config = replace(checkpoint.train_config, **how_long)
    data_info = {**recorded, **store.info(), "store": recorded.get("store")}
    trainer = Trainer.resume(run_dir, store.train, store.val, config, hook=hook, log=log, progress=progress, data_info=data_info,
                             world=world, tensorboard=tensorboard)
    (log or trainer.log)(f"resuming {resolve_checkpoint_dir(run_dir, prefer='last')} at step {trainer.step}")
    return trainer.run()
