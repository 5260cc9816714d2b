"""Fuzz what lstmgen reads from outside: tokenizers, the corpus reader, checkpoints (property-based, hypothesis).

    PYTHONPATH=src python stress/fuzz_inputs.py                  # about 11,000 generated cases, prints JSON
    PYTHONPATH=src python stress/fuzz_inputs.py --scale 0.05     # a quick look

Every case is classified:

    ok         accepted, and the result is right (a round trip holds, the weights are the ones written, ...)
    refused    refused with the documented error (TokenizerError, CorpusError, CheckpointError)
    traceback  any other exception (a bug: the message a user gets is a traceback)
    hang       still running after the per-case limit (10 s)
    wrong      accepted with a wrong result: a broken round trip, changed bytes loaded silently, a model
               allocated for sizes its weights do not have, code run from a pickle

The bar is 0 traceback, 0 hang, 0 wrong. ``tests/test_fuzz_*.py`` run the same properties with a few
dozen examples each; this script runs them with many more, and never stops at a failure: it counts them
and keeps the first few of each property as examples.

Properties (case counts at --scale 1):
    tokenizer_round_trip     arbitrary Unicode (surrogates too) through every tokenizer kind        3,000
    tokenizer_from_json      arbitrary JSON as a tokenizer.json, straight into tokenizers.py         1,000
    corpus_bytes             arbitrary bytes, encodings (real, exotic, non-text codecs, garbage
                             names) and error handlers through read_corpus, iter_blocks and stdin   2,000
    store_prepare            the same through lstmgen.data.store.prepare                                  300
    checkpoint_mutation      each file of a checkpoint truncated and bytes flipped at random offsets  3,000
    checkpoint_mutation_legacy   the same on a checkpoint without manifest.json (cannot see flips)    500
    config_values            absurd values anywhere in config.json (manifest made to agree)         1,000
    json_structure           random JSON as tokenizer.json / metrics.jsonl / trainer_state entries     700
    malicious_pickle         trainer_state.pt pickles that would create a file if unpickled          200
    special_files            FIFOs, devices, sockets, loops for every checkpoint and corpus file      ~60
    generation_settings      prompts (empty, unknown symbols, lone surrogates, up to 30,000 chars) and
                             up to 3 GenerationConfig fields at edge values (0, -1, 10**7, 10**30,
                             NaN, infinities, 1e-45, 5e-324, empty stop strings) via LanguageModel  1,000
    gan_run_files            a gan train run's gan_run.json and data.npz truncated, flipped, replaced by a
                             FIFO, their entries replaced, the windows rolled or swapped between regions,
                             then read as --resume reads them                                        400
    gan_run_files_legacy     the same on a run written before the hashes (cannot see plausible edits)  200
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import json
import math
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

import lstmgen.checkpoint as checkpoint_module
from lstmgen.checkpoint import CheckpointError, load_checkpoint, write_manifest
from lstmgen.config import ConfigError, GenerationConfig, ModelConfig, TrainConfig
from lstmgen.data.corpus import CorpusError, Source, iter_blocks, read_corpus, resolve_sources
from lstmgen.system.runtime import machine_record
from lstmgen.tokenizers import TokenizerError, fit_tokenizer, tokenizer_from_dict
from lstmgen.training.state import check_trainer_state

OUTCOMES = ("ok", "refused", "traceback", "hang", "wrong", "silently_different")
CASE_SECONDS = 10
EXAMPLES_KEPT = 5


class Wrong(Exception):
    """A property failed: an input was accepted with a wrong result."""


class Silent(Exception):
    """Accepted with another result where nothing could have told (a file without a hash): counted, not judged."""


class Hang(BaseException):  # BaseException: no `except Exception` in the code under test may swallow it
    pass


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise Hang in the main thread after ``seconds`` (SIGALRM interrupts a blocking open or read)."""
    def expire(signum, frame):
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_case(check: Callable[[Any], str], case: Any, seconds: float = CASE_SECONDS) -> tuple[str, str]:
    """(outcome, detail) of one case; ``check`` returns 'ok' or 'refused' and raises Wrong for a wrong result."""
    try:
        with time_limit(seconds):
            return check(case), ""
    except Hang as error:
        return "hang", str(error)
    except Wrong as error:
        return "wrong", str(error)
    except Silent as error:
        return "silently_different", str(error)
    except Exception as error:
        frame = traceback.extract_tb(error.__traceback__)[-1]
        where = f"{type(error).__name__} at {Path(frame.filename).name}:{frame.lineno} ({frame.name})"
        return "traceback", where + "\n" + traceback.format_exc(limit=-4)


# ----- tokenizers ----------------------------------------------------------------------------------------
ANY_CHARACTER = st.characters(exclude_categories=())  # surrogates included: legal in a Python string
texts = st.one_of(st.text(max_size=60), st.text(ANY_CHARACTER, max_size=30),
                  st.lists(st.sampled_from(["the", "The", " ", "\n", "'", "can't", "l'été", "İ", "ß", ".", "(", ")", "东京",
                                            "e\u0301", "\ud800", "\t", "1", "_", "--", "«", "»"]), max_size=30).map("".join))
tokenizer_cases = st.tuples(st.sampled_from(["char", "word", "byte"]), st.booleans(), texts, texts)


def check_tokenizer_round_trip(case: tuple[str, bool, str, str]) -> str:
    kind, lowercase, text, other = case
    try:
        tokenizer = fit_tokenizer(kind, text, lowercase=lowercase)
    except TokenizerError:
        if kind == "byte" and lowercase:
            return "refused"  # documented: the byte tokenizer does not lower-case
        raise
    seen = text.lower() if lowercase else text
    ids = tokenizer.encode(text)  # every symbol of the training text is known
    decoded = tokenizer.decode(ids)
    has_surrogate = any(0xD800 <= ord(c) <= 0xDFFF for c in text)
    if kind == "char" and decoded != seen:
        raise Wrong(f"char: decode(encode({text!r})) = {decoded!r}")
    if kind == "byte" and not has_surrogate and decoded != text:
        raise Wrong(f"byte: decode(encode({text!r})) = {decoded!r}")
    if kind == "word" and list(tokenizer.encode(decoded)) != list(ids):
        raise Wrong(f"word: encode(decode(encode({text!r}))) differs from encode({text!r}) (decoded {decoded!r})")
    decoder = tokenizer.stream_decoder()
    streamed = "".join(decoder.feed(int(i)) for i in ids)
    if streamed != decoded and not (kind == "byte" and has_surrogate):
        raise Wrong(f"{kind}: the stream decoder gave {streamed!r}, decode {decoded!r}")
    again = tokenizer_from_dict(json.loads(json.dumps(tokenizer.to_dict())))
    if list(again.encode(text)) != list(ids):
        raise Wrong(f"{kind}: the tokenizer read back from its JSON encodes {text!r} differently")
    for policy in ("skip", "replace"):
        tokenizer.decode(tokenizer.encode(other, unknown=policy))
    unknown = tokenizer.unknown_symbols(other)
    try:
        tokenizer.encode(other, unknown="error")
    except TokenizerError:
        if not unknown:
            raise Wrong(f"{kind}: encode({other!r}) refused, but unknown_symbols finds none")
        return "refused"
    if unknown:
        raise Wrong(f"{kind}: encode({other!r}) accepted, but unknown_symbols finds {dict(unknown)}")
    return "ok"


json_leaves = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True), st.text(max_size=12))
json_values = st.recursive(json_leaves, lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                                 st.dictionaries(st.text(max_size=8), inner, max_size=5)),
                           max_leaves=12)
tokenizer_dicts = st.one_of(
    json_values,
    st.fixed_dictionaries({"kind": st.one_of(st.sampled_from(["char", "word", "byte"]), json_values)},
                          optional={"characters": json_values, "words": json_values, "lowercase": json_values}),
    st.fixed_dictionaries({"kind": st.just("word"), "words": st.lists(st.one_of(st.text(max_size=5), json_leaves), max_size=6)}),
    st.fixed_dictionaries({"kind": st.just("char"), "characters": st.text(ANY_CHARACTER, max_size=10)}),
)


def check_tokenizer_from_json(data: Any) -> str:
    """tokenizers.tokenizer_from_dict on its own (the checkpoint loader checks the fields before calling it)."""
    try:
        tokenizer = tokenizer_from_dict(data)
        for text in ("abc def", "", "\n", "東京"):
            tokenizer.decode(tokenizer.encode(text, unknown="replace"))
        tokenizer.decode(range(tokenizer.vocab_size))
    except TokenizerError:
        return "refused"
    return "ok"


# ----- the corpus reader ---------------------------------------------------------------------------------
TEXT_ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "latin-1", "cp1252", "ascii",
                  "shift_jis", "gb18030", "big5", "euc-jp", "iso2022_jp", "utf-7", "idna", "punycode", "mac-roman", "koi8-r",
                  "cp037", "unicode_escape", "raw_unicode_escape"]
NOT_TEXT_ENCODINGS = ["base64", "zlib", "bz2", "rot13", "hex", "uu", "quopri", "undefined", "no-such-codec", "", "utf-8\x00"]
ERRORS = ["strict", "replace", "ignore", "surrogateescape", "backslashreplace", "surrogatepass", "xmlcharrefreplace",
          "namereplace", "bogus", ""]


@st.composite
def corpus_cases(draw):
    """(bytes, encoding, error handler, block size): mostly text in the encoding named (so that decoding succeeds as
    often as it fails), then that text damaged, random bytes, and codecs and handlers that make no sense."""
    encoding = draw(st.one_of(st.sampled_from(TEXT_ENCODINGS), st.sampled_from(["utf-8", "utf-16", "latin-1"]),
                              st.sampled_from(NOT_TEXT_ENCODINGS), st.text(max_size=10)))
    errors = draw(st.one_of(st.sampled_from(["strict", "replace"]), st.sampled_from(ERRORS), st.text(max_size=6)))
    text = draw(st.one_of(st.text(max_size=80), st.text(ANY_CHARACTER, max_size=40), st.just("   \n\t ")))
    try:
        data = text.encode(encoding, errors="replace")
    except Exception:  # not a text encoding, or one that cannot encode this text
        data = text.encode("utf-8", errors="surrogatepass")
    how = draw(st.sampled_from(["as is", "as is", "flipped", "truncated", "random", "nul", "empty"]))
    if how == "flipped" and data:
        position = draw(st.integers(0, len(data) - 1))
        data = data[:position] + bytes([data[position] ^ draw(st.integers(1, 255))]) + data[position + 1:]
    elif how == "truncated":
        data = data[: draw(st.integers(0, len(data)))]
    elif how == "random":
        data = draw(st.binary(max_size=300))
    elif how == "nul":
        data = data + b"\x00" + data
    elif how == "empty":
        data = b""
    return data, encoding, errors, draw(st.sampled_from([1, 2, 3, 7, 64, 4 << 20]))


@dataclass
class Workspace:
    """A private temporary directory for the cases of one run."""

    root: Path

    def file(self, name: str) -> Path:
        return self.root / name


REFUSED = object()


def check_corpus(case: tuple[bytes, str, str, int], workspace: Workspace) -> str:
    data, encoding, errors, block = case
    path = workspace.file("corpus.txt")
    path.write_bytes(data)
    results = {}
    readers = {
        "read_corpus": lambda: read_corpus([str(path)], encoding=encoding, errors=errors).text,
        "iter_blocks": lambda: "".join(text for _, text in iter_blocks(Source("c", path=path, encoding=encoding), errors, block)),
        "stdin": lambda: read_corpus(["-"], encoding=encoding, errors=errors, stdin=io.BytesIO(data)).text,
        "spooled": lambda: [s.name for s in resolve_sources(["-"], encoding=encoding, stdin=io.BytesIO(data),
                                                           spool_dir=workspace.file("spool"))],
    }
    for name, read in readers.items():
        try:
            results[name] = read()
        except CorpusError:
            results[name] = REFUSED
    if (results["read_corpus"] is REFUSED) != (results["stdin"] is REFUSED) or (
            results["read_corpus"] is not REFUSED and results["read_corpus"] != results["stdin"]):
        raise Wrong(f"a file and standard input with the same bytes differ: {results['read_corpus']!r} vs {results['stdin']!r}")
    if results["read_corpus"] is not REFUSED and results["iter_blocks"] != results["read_corpus"]:
        raise Wrong(f"iter_blocks (blocks of {block}) gave {results['iter_blocks']!r}, read_corpus {results['read_corpus']!r}")
    return "refused" if results["read_corpus"] is REFUSED else "ok"


def check_store_prepare(case: tuple[bytes, str, str, int], workspace: Workspace) -> str:
    """lstmgen.data.store.prepare on the same inputs (store.py: another engineer's; counted, never asserted here)."""
    from lstmgen.data.store import StoreError, prepare

    data, encoding, errors, _ = case
    path = workspace.file("corpus.txt")
    path.write_bytes(data * 8)  # long enough for a validation split (most generated texts are short)
    try:
        prepare([Source("c", path=path, encoding=encoding)], workspace.file("store"), tokenizer="char", encoding_errors=errors)
    except (CorpusError, StoreError, TokenizerError):
        return "refused"
    return "ok"


# ----- checkpoints ---------------------------------------------------------------------------------------
@dataclass
class CheckpointLab:
    """A working copy of a checkpoint (with trainer state), restored file by file after each case, and what it
    loads to, for comparing."""

    source: Path
    work: Path
    legacy: bool = False
    originals: dict[str, bytes] = field(default_factory=dict)
    expected: Any = None

    def __post_init__(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)
        shutil.copytree(self.source, self.work)
        if self.legacy:
            (self.work / "manifest.json").unlink()
        self.originals = {path.name: path.read_bytes() for path in self.work.iterdir()}
        self.expected = load_checkpoint(self.work, state_check=check_trainer_state)

    def restore(self) -> None:
        for path in self.work.iterdir():
            if path.name not in self.originals:
                shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
        for name, data in self.originals.items():
            path = self.work / name
            if path.is_symlink() or not path.is_file():
                shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink(missing_ok=True)
            if not path.exists() or path.read_bytes() != data:
                path.write_bytes(data)

    def same_as_written(self, loaded) -> str | None:
        """What differs between a loaded checkpoint and the original (None: nothing)."""
        expected = self.expected
        weights, original = loaded.model.state_dict(), expected.model.state_dict()
        if weights.keys() != original.keys() or any(not torch.equal(weights[k], original[k]) for k in original):
            return "different weights"
        if loaded.tokenizer.to_dict() != expected.tokenizer.to_dict():
            return "a different tokenizer"
        if json.dumps(loaded.metrics) != json.dumps(expected.metrics) or loaded.extra != expected.extra:
            return "different metrics or extra"
        if loaded.model.config != expected.model.config or loaded.train_config != expected.train_config:
            return "a different configuration"
        if not _same_state(loaded.trainer_state, expected.trainer_state):
            return "a different trainer state"
        return None


def _same_state(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and bool(
            torch.equal(a, b))
    if isinstance(a, dict) or isinstance(b, dict):
        return isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys() and all(_same_state(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b) and all(
            _same_state(x, y) for x, y in zip(a, b))
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


mutations = st.tuples(st.sampled_from(["truncate", "flip", "flip3"]), st.floats(0, 1), st.integers(1, 255), st.integers(0, 2**16))


def check_checkpoint_mutation(case: tuple[str, tuple[str, float, int, int]], lab: CheckpointLab) -> str:
    """Mutate one file; the load must refuse it, or load exactly what was written (only when the bytes changed
    nothing: a manifest.json whose JSON means the same; on a legacy checkpoint, anything)."""
    name, (how, where, value, spread) = case
    lab.restore()
    path = lab.work / name
    data = bytearray(lab.originals[name])
    offset = min(int(where * len(data)), max(len(data) - 1, 0))
    if how == "truncate":
        data = data[:offset]
    else:
        for index in ([offset] if how == "flip" else [offset, (offset + spread) % max(len(data), 1), (offset * 7 + spread) % max(len(data), 1)]):
            if data:
                data[index] ^= value
    if bytes(data) == lab.originals[name]:
        return "ok"  # nothing changed (an empty file truncated)
    path.write_bytes(bytes(data))
    try:
        loaded = load_checkpoint(lab.work, state_check=check_trainer_state)
    except CheckpointError:
        return "refused"
    difference = lab.same_as_written(loaded)
    if lab.legacy:
        return "silently_different" if difference else "ok"
    meaningless = name == "manifest.json" and _json_equal(bytes(data), lab.originals[name])
    if difference or not meaningless:
        raise Wrong(f"{name} {how} at {offset} loaded silently ({difference or 'the same content, but the bytes changed'})")
    return "ok"


def _json_equal(a: bytes, b: bytes) -> bool:
    try:
        return json.loads(a) == json.loads(b)
    except ValueError:
        return False


MODEL_FIELDS = [item for item in ModelConfig.__dataclass_fields__]
TRAIN_FIELDS = [item for item in TrainConfig.__dataclass_fields__]
absurd_numbers = st.sampled_from([10**9, 2**16, 2**16 + 1, 2**24, 2**31, 2**63, 10**30, -1, 0, 1, 64, 65, 1.5, float("nan"),
                                  float("inf"), -0.0, True, False, None, "512", [512], {"n": 1}])
config_edits = st.tuples(
    st.sampled_from(["model", "model", "model", "train", "extra", "top"]),
    st.one_of(st.sampled_from(MODEL_FIELDS + TRAIN_FIELDS + ["format", "format_version", "tokenizer", "train", "extra", "model",
                                                             "best_val", "steps", "data", "lstmgen_version"]), st.text(max_size=6)),
    st.one_of(absurd_numbers, json_values),
    st.lists(st.tuples(st.sampled_from(MODEL_FIELDS), absurd_numbers), max_size=3),
)


@contextlib.contextmanager
def counting_real_models():
    """The configs of every RecurrentLanguageModel built on a real device (not 'meta') meanwhile."""
    built: list[ModelConfig] = []
    real = checkpoint_module.RecurrentLanguageModel

    def spy(config):
        if torch.get_default_device().type != "meta":
            built.append(config)
        return real(config)

    checkpoint_module.RecurrentLanguageModel = spy
    try:
        yield built
    finally:
        checkpoint_module.RecurrentLanguageModel = real


def _shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    return {name: tuple(tensor.shape) for name, tensor in checkpoint_module.expected_tensors(config).items()}


def _use(loaded) -> None:
    """What a user does next with a loaded checkpoint: describe it, generate from it (it must not fail then)."""
    from lstmgen.language_model import LanguageModel

    model = LanguageModel(loaded.model, loaded.tokenizer, loaded.train_config, loaded.metrics, loaded.path, loaded.extra)
    model.info()
    model.generate("", max_tokens=3, seed=1, unknown="replace")


def check_config_values(case, lab: CheckpointLab) -> str:
    where, key, value, sizes = case
    lab.restore()
    config = json.loads(lab.originals["config.json"])
    target = {"model": config["model"], "train": config.get("train") or {}, "extra": config.get("extra") or {}, "top": config}[where]
    target[key] = value
    for name, number in sizes:
        config["model"][name] = number
    (lab.work / "config.json").write_text(json.dumps(config), encoding="utf-8")
    write_manifest(lab.work)  # as a hostile author would: the manifest agrees with the edit
    original = _shapes(lab.expected.model.config)
    with counting_real_models() as built:
        try:
            loaded = load_checkpoint(lab.work, state_check=check_trainer_state)
        except CheckpointError:
            loaded = None
    foreign = [c for c in built if _shapes(c) != original]
    if foreign:
        raise Wrong(f"a model was allocated for {foreign[0]}, whose shapes are not those of the weights")
    if loaded is None:
        return "refused"
    if _shapes(loaded.model.config) != original:
        raise Wrong(f"loaded a model of another shape: {loaded.model.config}")
    _use(loaded)
    return "ok"


structure_cases = st.tuples(st.sampled_from(["tokenizer.json", "metrics.jsonl", "trainer_state"]), json_values,
                            st.sampled_from(["step", "elapsed", "optimizer", "torch_rng", "rank_rng", "cuda_rng", "grad_scaler",
                                             "data", "recurrent_state", "best_val", "evaluations_without_improvement"]),
                            st.sampled_from(["replace", "delete", "tensor"]), st.integers(0, 3), st.integers(1, 40))


def check_json_structure(case, lab: CheckpointLab, train_tokens=None) -> str:
    """Random structure in tokenizer.json, metrics.jsonl or one trainer-state entry; whatever loads must then work:
    info and generation, and (for a trainer state) Trainer.load_state_dict and one training step."""
    name, value, key, how, rank, size = case
    lab.restore()
    if name == "tokenizer.json":
        (lab.work / name).write_text(json.dumps(value), encoding="utf-8")
    elif name == "metrics.jsonl":
        lines = lab.originals[name].decode().splitlines()
        lines.insert(rank % (len(lines) + 1), json.dumps(value))
        (lab.work / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:
        state = dict(lab.expected.trainer_state)
        if how == "delete":
            state.pop(key, None)
        elif how == "tensor":
            shape = [size] * rank
            state[key] = torch.zeros(shape, dtype=[torch.float32, torch.uint8, torch.int64, torch.float64][rank % 4])
        else:
            state[key] = value
        buffer = io.BytesIO()
        torch.save(state, buffer)
        (lab.work / "trainer_state.pt").write_bytes(buffer.getvalue())
    write_manifest(lab.work)
    try:
        loaded = load_checkpoint(lab.work, state_check=check_trainer_state)
    except CheckpointError:
        return "refused"
    _use(loaded)
    if name == "trainer_state" and train_tokens is not None:
        _resume_one_step(loaded, train_tokens, lab.work.parent / "trainer-out")
    return "ok"


def _resume_one_step(loaded, tokens, out_dir: Path) -> None:
    from lstmgen.training.trainer import Trainer

    trainer = Trainer(loaded.model, loaded.tokenizer, tokens, None, loaded.train_config, out_dir, log=lambda line: None,
                      progress=False)
    trainer.load_state_dict(loaded.trainer_state, loaded.metrics)
    trainer.train_step()


class _Observable:
    """When unpickled, ``call(*arguments)`` runs: each creates the file ``proof`` (harmless, and visible)."""

    def __init__(self, call, arguments):
        self.call, self.arguments = call, arguments

    def __reduce__(self):
        return self.call, self.arguments


def _payloads(proof: Path) -> list[_Observable]:
    command = f"touch {proof}"
    return [
        _Observable(open, (str(proof), "w")),
        _Observable(exec, (f"open({str(proof)!r}, 'w')",)),
        _Observable(eval, (f"open({str(proof)!r}, 'w')",)),
        _Observable(os.system, (command,)),
        _Observable(subprocess.call, (["touch", str(proof)],)),
        _Observable(Path.touch, (proof,)),
        _Observable(shutil.copyfile, (__file__, str(proof))),
        _Observable(torch.save, ({}, str(proof))),
        _Observable(getattr, (os, "system")),  # a module cannot be pickled: refused when written
    ]


pickle_cases = st.tuples(st.integers(0, 8), st.integers(0, 5), st.sampled_from(["bare", "in_state", "in_list", "raw_pickle",
                                                                               "legacy_torch"]))


def check_malicious_pickle(case, lab: CheckpointLab) -> str:
    index, protocol, where = case
    lab.restore()
    proof = lab.work.parent / "proof-of-execution"
    proof.unlink(missing_ok=True)
    payload = _payloads(proof)[index]
    obj = {"bare": payload, "in_state": {**lab.expected.trainer_state, "data": payload},
           "in_list": {**lab.expected.trainer_state, "recurrent_state": [payload]}}.get(where, {"step": payload})
    buffer = io.BytesIO()
    try:
        if where == "raw_pickle":
            buffer.write(pickle.dumps(obj, protocol=protocol))
        else:
            torch.save(obj, buffer, pickle_protocol=max(protocol, 2), _use_new_zipfile_serialization=where != "legacy_torch")
    except (TypeError, pickle.PicklingError, AttributeError):
        return "refused"  # the payload itself cannot be pickled (a module)
    (lab.work / "trainer_state.pt").write_bytes(buffer.getvalue())
    write_manifest(lab.work)  # the manifest agrees: what must stop it is weights_only
    try:
        load_checkpoint(lab.work, state_check=check_trainer_state)
        outcome = "loaded"
    except CheckpointError:
        outcome = "refused"
    if proof.exists():
        raise Wrong(f"unpickling ran {payload.call.__name__}: {proof} was created")
    if outcome == "loaded":
        raise Wrong("a trainer state holding a callable loaded")
    return "refused"


def special_file_cases(lab: CheckpointLab, workspace: Workspace) -> list[tuple[str, Callable[[], str]]]:
    """FIFOs, devices, sockets, dangling links and loops in place of every checkpoint file and as corpora."""
    cases = []

    def make(path: Path, kind: str) -> None:
        if kind == "fifo":
            os.mkfifo(path)
        elif kind == "socket":
            server = socket.socket(socket.AF_UNIX)
            server.bind(str(path))
            server.close()
        elif kind == "directory":
            path.mkdir()
        elif kind == "loop":
            os.symlink(path.name, path)
        elif kind == "dangling":
            os.symlink(path.parent / "nowhere", path)
        else:
            os.symlink(kind, path)

    kinds = ["fifo", "/dev/zero", "/dev/urandom", "directory", "socket", "loop", "dangling"]
    for name in sorted(lab.originals):
        for kind in kinds:
            def checkpoint_case(name=name, kind=kind):
                lab.restore()
                (lab.work / name).unlink()
                make(lab.work / name, kind)
                try:
                    load_checkpoint(lab.work, state_check=check_trainer_state)
                except CheckpointError:
                    return "refused"
                raise Wrong(f"{name} as {kind} loaded")
            cases.append((f"checkpoint {name} as {kind}", checkpoint_case))
    for kind in kinds:
        def corpus_case(kind=kind):
            path = workspace.file(f"corpus-{kind.strip('/').replace('/', '-')}.txt")
            if os.path.lexists(path):
                shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
            make(path, kind)
            outcomes = []
            for read in (lambda: read_corpus([str(path)]), lambda: resolve_sources([str(path)])):
                try:
                    read()
                    outcomes.append("ok")
                except CorpusError:
                    outcomes.append("refused")
            if kind == "directory" and outcomes == ["refused", "refused"]:
                return "refused"  # an empty directory: 'holds no files matching'
            if "ok" in outcomes:
                raise Wrong(f"a corpus that is {kind} was read")
            return "refused"
        cases.append((f"corpus as {kind}", corpus_case))

    def directory_of_specials():
        folder = workspace.file("mixed")
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        (folder / "a.txt").write_text("alpha\n")
        for index, kind in enumerate(["fifo", "/dev/zero", "socket", "loop", "dangling"]):
            make(folder / f"s{index}.txt", kind)
        if read_corpus([str(folder)]).text != "alpha\n" or read_corpus([str(folder / "*.txt")]).text != "alpha\n":
            raise Wrong("a directory with special files read something besides its regular file")
        return "ok"
    cases.append(("a directory holding FIFOs, devices, sockets and loops", directory_of_specials))
    for device in ("/dev/zero", "/dev/urandom"):
        def standard_input(device=device):
            with open(device, "rb") as stream:
                for read in (lambda: read_corpus(["-"], stdin=stream),
                             lambda: resolve_sources(["-"], stdin=stream, spool_dir=workspace.file("spool"))):
                    try:
                        read()
                    except CorpusError:
                        continue
                    raise Wrong(f"standard input from {device} was accepted")
            return "refused"
        cases.append((f"standard input from {device}", standard_input))
    return cases


# ----- running ---------------------------------------------------------------------------------------------
@dataclass
class Tally:
    counts: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)
    tracebacks: dict[str, int] = field(default_factory=dict)  # "TypeError at tokenizers.py:329 (tokenizer_from_dict)" -> cases
    seconds: float = 0.0

    def add(self, outcome: str, detail: str, case: Any) -> None:
        self.counts[outcome] = self.counts.get(outcome, 0) + 1
        if outcome == "traceback":
            where = detail.split("\n", 1)[0]
            self.tracebacks[where] = self.tracebacks.get(where, 0) + 1
        if outcome not in ("ok", "refused") and len(self.examples) < EXAMPLES_KEPT:
            self.examples.append(f"{outcome}: {repr(case)[:300]} -> {detail.strip()[-600:]}")


def fuzz(strategy, check: Callable[[Any], str], examples: int, seed: int) -> Tally:
    """Run ``check`` on ``examples`` cases drawn from ``strategy`` (generation only: nothing is shrunk or stopped)."""
    tally = Tally()
    started = time.perf_counter()

    @hypothesis_seed(seed)
    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def run(case):
        outcome, detail = run_case(check, case)
        tally.add(outcome, detail, case)

    run()
    tally.seconds = time.perf_counter() - started
    return tally


EDGE_INTEGERS = st.sampled_from([0, 1, 2, 3, 5, -1, 1024, 1025, 10**7, 10**30])
EDGE_FLOATS = st.sampled_from([0.0, 0.5, 1.0, 1.5, -1.0, 1e-45, 5e-324, 1e308, 1e-300, math.nan, math.inf, -math.inf])
GENERATION_FIELDS = {
    "max_tokens": EDGE_INTEGERS, "temperature": EDGE_FLOATS, "top_k": st.one_of(st.none(), EDGE_INTEGERS),
    "top_p": st.one_of(st.none(), EDGE_FLOATS), "num_samples": EDGE_INTEGERS, "seed": st.one_of(st.none(), EDGE_INTEGERS),
    "stop": st.lists(st.one_of(st.text(max_size=3), st.text(ANY_CHARACTER, max_size=2)), max_size=3).map(tuple),
    "min_p": st.one_of(st.none(), EDGE_FLOATS), "repetition_penalty": EDGE_FLOATS, "no_repeat_ngram_size": EDGE_INTEGERS,
    "num_beams": EDGE_INTEGERS, "length_penalty": EDGE_FLOATS,
    "presence_penalty": EDGE_FLOATS, "frequency_penalty": EDGE_FLOATS,
    "logit_bias": st.one_of(st.none(), st.dictionaries(st.one_of(EDGE_INTEGERS, st.sampled_from(["1", "7", "x", "-1", ""])),
                                                       EDGE_FLOATS, max_size=3)),
}
# Prefill is linear in the prompt (about 40 us a character for the fuzz model on a busy 2-core machine, so a
# 1 MB prompt takes 40 s: work asked for, not a hang); the property keeps to 30,000 characters so that the
# 10 s limit still catches a real hang. docs/reliability.md gives the 1 MB timings, measured apart.
LONG_PROMPTS = st.sampled_from([1_000, 10_000, 30_000]).map(lambda size: ("the lazy dog. " * (size // 14 + 1))[:size])
generation_cases = st.tuples(
    st.one_of(texts, texts, texts, st.just(""), LONG_PROMPTS),
    # a few fields at a time: with every field at an edge value nearly every case would be refused
    st.lists(st.one_of([st.tuples(st.just(name), values) for name, values in GENERATION_FIELDS.items()]), max_size=3).map(dict),
    st.sampled_from(["error", "replace", "skip"]),
)
GENERATED_STEPS = 40  # steps drawn from the iterator: a length of 10**7 is a stream the caller stops, not a hang
BEAM_TOKENS = 30  # beam search is not an iterator: its length is capped here (a long one is work asked for, not a bug)


def check_generation(case, lm) -> str:
    """A prompt and settings through LanguageModel: refused with a ConfigError/TokenizerError/ValueError that says
    why, or generated right: as many samples as asked, no sample longer than max_tokens, no stop string left
    in a text, the same text again for the same seed (or greedy)."""
    prompt, settings, unknown = case
    try:
        config = GenerationConfig(**settings)
    except ConfigError:
        return "refused"
    if config.num_beams > 1:
        config = GenerationConfig(**{**settings, "max_tokens": min(config.max_tokens, BEAM_TOKENS)})

    def run() -> tuple[list[str], int]:
        texts, steps = [""] * config.num_samples, 0
        for pieces in lm.stream_batch(prompt, config, unknown=unknown):
            texts = [a + b for a, b in zip(texts, pieces)]
            steps += 1
            if steps == GENERATED_STEPS:
                break
        return texts, steps

    try:
        texts, steps = run()
    except (ConfigError, TokenizerError) as error:
        return "refused" if str(error) else "traceback"
    except ValueError as error:  # documented for prompts the model cannot start from (no line break for "")
        if "prompt" not in str(error) and "vocabulary" not in str(error):
            raise
        return "refused"
    if len(texts) != config.num_samples:
        raise Wrong(f"{config.num_samples} samples asked, {len(texts)} came")
    if config.max_tokens == 0 and any(texts):
        raise Wrong(f"max_tokens 0 generated {texts!r}")
    if config.num_beams == 1 and steps > config.max_tokens:
        raise Wrong(f"{steps} steps for max_tokens {config.max_tokens}")
    for text in texts:
        for stop in config.stop:
            if stop in text:
                raise Wrong(f"stop string {stop!r} left in {text!r}")
    if config.num_beams > 1 or config.seed is not None or config.greedy:
        again, _ = run()
        if again != texts:
            raise Wrong(f"the same seed (or greedy, or beam search) gave {texts!r}, then {again!r}")
    return "ok"


# ----- gan train run files ----------------------------------------------------------------------------------
class GanRunLab:
    """A finished ``gan train`` run's gan_run.json and data.npz, restored after each case, and what resuming it reads."""

    def __init__(self, start: Path, root: Path) -> None:
        from lstmgen.gan import fine_tune
        from lstmgen.gan.run_layout import read_inputs, read_run_record

        text = ("the quick brown fox jumps over the lazy dog.\nnaïve café owners say «bonjour» — 東京 too.\n") * 30
        corpus = root / "gan-corpus.txt"
        corpus.write_text(text, encoding="utf-8")
        self.run = root / "gan-run"
        fine_tune([str(corpus)], init_from=str(start), out_dir=self.run, preset="quick-dense", seeds=(1,), report=False,
                  overrides={"sequence_length": 24, "rounds": 1, "pretrain_epochs": 1, "pretrain_d_steps": 1, "d_holdout": 8,
                             "d_samples": 64, "adversarial_batch_size": 32}, log=lambda line: None, progress=False, threads=1)
        self.originals = {name: (self.run / name).read_bytes() for name in ("gan_run.json", "data.npz")}
        self.vocab_size = load_checkpoint(self.run / "start").tokenizer.vocab_size
        self.record = read_run_record(self.run)
        self.data = read_inputs(self.run, self.record, self.vocab_size)

    def restore(self) -> None:
        for name, data in self.originals.items():
            path = self.run / name
            if path.is_symlink() or path.exists() and not path.is_file():
                path.unlink()
            path.write_bytes(data)

    def read(self):
        """What ``gan train --resume`` reads before it trains: the checked record and the checked windows."""
        from lstmgen.gan.run_layout import read_inputs, read_run_record

        record = read_run_record(self.run)
        return record, read_inputs(self.run, record, self.vocab_size)


gan_file_damage = st.one_of(mutations, st.tuples(st.just("fifo"), st.just(0.0), st.just(0), st.just(0)),
                            st.tuples(st.just("shuffle"), st.floats(0, 1), st.integers(1, 5), st.integers(0, 2)),
                            st.tuples(st.just("entry"), st.floats(0, 1), st.integers(0, 5), st.integers(0, 2**16)))
# The last entry: whether the run was written before the hashes existed (then the structure checks alone meet the damage).
gan_file_cases = st.tuples(st.sampled_from(["gan_run.json", "data.npz"]), gan_file_damage, st.just(False))
gan_file_cases_legacy = st.tuples(st.sampled_from(["gan_run.json", "data.npz"]), gan_file_damage, st.just(True))


def check_gan_run_file(case, lab: GanRunLab) -> str:
    """Damage gan_run.json or data.npz (bytes truncated or flipped, a FIFO in its place, the windows shuffled between
    regions or rolled, a JSON entry replaced): resuming must refuse it with the run's error naming the file, or read
    exactly the run's own settings and windows. A resume that reads other settings or other windows is wrong."""
    import numpy as np

    from lstmgen.gan.run_layout import GanRunError

    name, (how, where, value, spread), legacy = case
    lab.restore()
    if legacy:
        record = json.loads(lab.originals["gan_run.json"])
        for key in ("record_sha256", "data_sha256"):
            record.pop(key, None)
        (lab.run / "gan_run.json").write_text(json.dumps(record), encoding="utf-8")
    path = lab.run / name
    original = path.read_bytes()
    if how == "fifo":
        path.unlink()
        os.mkfifo(path)
    elif how == "shuffle" and name == "data.npz":
        with np.load(io.BytesIO(original)) as saved:
            arrays = {key: saved[key] for key in saved.files}
        regions = ["train", "validation", "test"]
        a, b = regions[spread % 3], regions[(spread + 1) % 3]
        arrays[a] = np.roll(arrays[a], value, axis=int(where < 0.5))  # rows or tokens moved: the same ids, other windows
        if where > 0.8:
            arrays[a], arrays[b] = arrays[b], arrays[a]
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        path.write_bytes(buffer.getvalue())
    elif how == "entry" and name == "data.npz":  # one array replaced by one of another kind, shape or range
        with np.load(io.BytesIO(original)) as saved:
            arrays = {key: saved[key] for key in saved.files}
        keys = sorted(arrays)
        key = keys[int(where * len(keys)) % len(keys)]
        replacements = [lambda a: np.array(-1), lambda a: np.zeros((2, 3), dtype=np.float32), lambda a: np.array("x"),
                        lambda a: np.arange(5), lambda a: a.reshape(-1)[:1], lambda a: np.full(a.shape, 10**6)]
        arrays[key] = replacements[value % 6](arrays[key])
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        path.write_bytes(buffer.getvalue())
    elif how in ("shuffle", "entry"):  # gan_run.json: one entry replaced by a value of another kind or an edge value
        record = json.loads(original)
        keys = sorted(record) + ["gan." + key for key in sorted(record["gan"])]
        key = keys[int(where * len(keys)) % len(keys)]
        replacement = [None, -1, 10**30, "x", [], {"a": 1}][value % 6]
        target = record["gan"] if key.startswith("gan.") else record
        target[key.removeprefix("gan.")] = replacement
        path.write_text(json.dumps(record), encoding="utf-8")
    else:
        data = bytearray(original)
        offset = min(int(where * len(data)), max(len(data) - 1, 0))
        if how == "truncate":
            data = data[:offset]
        else:
            for index in ([offset] if how == "flip" else [offset, (offset + spread) % len(data), (offset * 7 + spread) % len(data)]):
                data[index] ^= value
        if bytes(data) == original:
            return "ok"
        path.write_bytes(bytes(data))
    try:
        record, data = lab.read()
    except (GanRunError, ConfigError, CheckpointError) as error:
        if name not in str(error):
            raise Wrong(f"{name} {how}: the error does not name the file: {error}")
        return "refused"
    same = record.gan == lab.record.gan and record.seeds == lab.record.seeds and all(
        torch.equal(data.region(region), lab.data.region(region)) for region in ("train", "validation", "test")) \
        and data.start_token == lab.data.start_token
    if not same:
        if legacy:  # nothing recorded what the run was: a plausible change cannot be seen (counted, not judged)
            differs = sorted(key for key in set(record.gan.to_dict()) | set(lab.record.gan.to_dict())
                             if record.gan.to_dict().get(key) != lab.record.gan.to_dict().get(key))
            raise Silent(f"{name} {how}: settings {differs or 'the same'}, seeds {record.seeds}")
        raise Wrong(f"{name} {how} at {where:.3f}: resumed on other settings or windows")
    return "ok"


def build_checkpoint(root: Path) -> Path:
    """A tiny trained run (char LSTM of 2 layers with dropout, 20 steps): its last/ has every file."""
    from lstmgen import train

    text = ("the quick brown fox jumps over the lazy dog.\nnaïve café owners say «bonjour» — 東京 too.\n") * 30
    train(text=text, out_dir=root / "run", model=dict(embedding_size=16, hidden_size=24, num_layers=2, dropout=0.1),
          batch_size=4, seq_length=16, max_steps=20, eval_interval=10, sample_length=0, threads=1, warmup_steps=5,
          progress=False, log=lambda line: None)
    return root / "run" / "last"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every property's case count")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", help="comma-separated properties to run (default: all)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message="Detected pickle protocol")  # torch's note on the pickles made here
    started = time.perf_counter()

    def count(n: int) -> int:
        return max(1, round(n * args.scale))

    with tempfile.TemporaryDirectory(prefix="lstmgen-fuzz-") as temporary:
        root = Path(temporary)
        source = build_checkpoint(root)
        workspace = Workspace(root / "files")
        workspace.root.mkdir()
        lab, legacy = CheckpointLab(source, root / "lab"), CheckpointLab(source, root / "legacy", legacy=True)
        from lstmgen.data.store import TokenStore

        tokens = TokenStore.open(root / "run" / "data").train
        files = sorted(lab.originals)
        from lstmgen import LanguageModel

        language_model = LanguageModel.load(source.parent)
        gan_lab = GanRunLab(source.parent, root)
        plan = {
            "tokenizer_round_trip": (tokenizer_cases, check_tokenizer_round_trip, 3000),
            "tokenizer_from_json": (tokenizer_dicts, check_tokenizer_from_json, 1000),
            "corpus_bytes": (corpus_cases(), lambda case: check_corpus(case, workspace), 2000),
            "store_prepare": (corpus_cases(), lambda case: check_store_prepare(case, workspace), 300),
            "checkpoint_mutation": (st.tuples(st.sampled_from(files), mutations), lambda case: check_checkpoint_mutation(case, lab), 3000),
            "checkpoint_mutation_legacy": (st.tuples(st.sampled_from(sorted(legacy.originals)), mutations),
                                           lambda case: check_checkpoint_mutation(case, legacy), 500),
            "config_values": (config_edits, lambda case: check_config_values(case, lab), 1000),
            "json_structure": (structure_cases, lambda case: check_json_structure(case, lab, tokens), 700),
            "malicious_pickle": (pickle_cases, lambda case: check_malicious_pickle(case, lab), 200),
            "generation_settings": (generation_cases, lambda case: check_generation(case, language_model), 1000),
            "gan_run_files": (gan_file_cases, lambda case: check_gan_run_file(case, gan_lab), 400),
            "gan_run_files_legacy": (gan_file_cases_legacy, lambda case: check_gan_run_file(case, gan_lab), 200),
        }
        results: dict[str, Tally] = {}
        chosen = set(args.only.split(",")) if args.only else set(plan) | {"special_files"}
        for index, (name, (strategy, check, examples)) in enumerate(plan.items()):
            if name not in chosen:
                continue
            results[name] = fuzz(strategy, check, count(examples), args.seed + index)
            print(f"{name}: {results[name].counts} in {results[name].seconds:.1f} s", file=sys.stderr, flush=True)
        specials = Tally()
        clock = time.perf_counter()
        for label, case in special_file_cases(lab, workspace) if "special_files" in chosen else []:
            outcome, detail = run_case(lambda _: case(), None)
            specials.add(outcome, detail, label)
        specials.seconds = time.perf_counter() - clock
        results["special_files"] = specials
        print(f"special_files: {specials.counts}", file=sys.stderr, flush=True)

    if "special_files" not in chosen:
        del results["special_files"]
    ours = list(results)  # every property exercises lstmgen's own code
    totals = {outcome: sum(tally.counts.get(outcome, 0) for tally in results.values()) for outcome in OUTCOMES}
    report = {
        "benchmark": "fuzz_inputs",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": "stress/fuzz_inputs.py " + " ".join(sys.argv[1:]),
        "seed": args.seed,
        "cases": sum(sum(tally.counts.values()) for tally in results.values()),
        "totals": totals,
        "by_property": {name: {"cases": sum(t.counts.values()), **t.counts, "seconds": round(t.seconds, 1)} for name, t in results.items()},
        "bar_met_for_lstmgens_own_code": all(results[name].counts.get(bad, 0) == 0 for name in ours for bad in ("traceback", "hang", "wrong")),
        "not_judged_here": {"checkpoint_mutation_legacy": "no manifest: flipped weights cannot be seen (silently_different)",
                            "gan_run_files_legacy": "runs written before the hashes: a plausible change cannot be seen "
                                                    "(silently_different)"},
        "tracebacks_by_place": {name: tally.tracebacks for name, tally in results.items() if tally.tracebacks},
        "examples": {name: tally.examples for name, tally in results.items() if tally.examples},
        "wall_s": round(time.perf_counter() - started, 1),
        "machine": machine_record(),
    }
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
