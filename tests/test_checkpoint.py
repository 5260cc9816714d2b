"""lstmgen.checkpoint: round trips, and every way a checkpoint can be wrong is a clear CheckpointError.

A checkpoint is untrusted input. The hostile cases rewrite a file and then its manifest.json (as someone
crafting a checkpoint would), so that each check is reached instead of the manifest's SHA-256 refusing
the file first; the manifest's own checks have their tests too.
"""

import errno
import json
import os
import resource
import shutil
import signal
import struct

import pytest
import torch
from safetensors.torch import load_file, save_file

import lstmgen.checkpoint as checkpoint_module
import lstmgen.system.durable as durable
from hangs import within
from lstmgen import CheckpointError, LanguageModel, load_checkpoint, save_checkpoint
from lstmgen.checkpoint import MAX_PARAMETERS, expected_tensors, parameter_count, write_manifest
from lstmgen.config import ModelConfig
from lstmgen.tokenizers import CharTokenizer
from lstmgen.training.state import check_trainer_state


@pytest.mark.parametrize("tie", [False, True])
def test_round_trip_gives_identical_logits(tmp_path, tiny_model, tie):
    model, tokenizer = tiny_model(vocab_size=6, embedding_size=8, hidden_size=16, tie_weights=tie), CharTokenizer.fit("abcde")
    save_checkpoint(tmp_path / "ckpt", model, tokenizer)
    loaded = load_checkpoint(tmp_path / "ckpt")
    tokens = torch.randint(0, 6, (2, 9))
    assert torch.equal(model.eval()(tokens)[0], loaded.model.eval()(tokens)[0])
    assert loaded.tokenizer.characters == tokenizer.characters
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no staging directory left behind


def test_checkpoint_holds_no_pickle(tiny_run):
    last = tiny_run / "last"
    config = json.loads((last / "config.json").read_text())
    assert config["format"] == "lstmgen-checkpoint" and config["model"]["vocab_size"] > 2
    assert torch.load(last / "trainer_state.pt", weights_only=True)["step"] == 40


def _copy(tiny_run, tmp_path, name="best"):
    target = tmp_path / "copy"
    shutil.copytree(tiny_run / name, target)
    return target


def _rewrite(directory, name, data: bytes):
    """Replace a file of a checkpoint and make its manifest agree, as a hostile author would."""
    (directory / name).unlink()
    (directory / name).write_bytes(data)
    write_manifest(directory)


def _edit_config(directory, change):
    config = json.loads((directory / "config.json").read_text())
    change(config)
    _rewrite(directory, "config.json", json.dumps(config).encode())


def test_missing_file(tiny_run, tmp_path):
    path = _copy(tiny_run, tmp_path)
    (path / "tokenizer.json").unlink()
    with pytest.raises(CheckpointError, match="missing tokenizer.json"):
        LanguageModel.load(path)


def test_corrupt_weights(tiny_run, tmp_path):
    path = _copy(tiny_run, tmp_path)
    (path / "model.safetensors").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CheckpointError, match="model.safetensors is corrupt"):
        LanguageModel.load(path)
    _rewrite(path, "model.safetensors", b"\x00garbage" * 5000)  # right size for nothing, manifest agreeing
    with pytest.raises(CheckpointError, match="model.safetensors is corrupt"):
        LanguageModel.load(path)


def test_newer_format_version(tiny_run, tmp_path):
    path = _copy(tiny_run, tmp_path)
    config = json.loads((path / "config.json").read_text())
    config["format_version"] = 99
    (path / "config.json").write_text(json.dumps(config))  # the manifest is not rewritten: the version is checked first
    with pytest.raises(CheckpointError, match="newer than this lstmgen"):
        LanguageModel.load(path)


def test_foreign_directory(tmp_path):
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "config.json").write_text('{"model_type": "gpt2"}')
    with pytest.raises(CheckpointError, match="not an lstmgen checkpoint"):
        LanguageModel.load(tmp_path / "foreign")
    with pytest.raises(CheckpointError, match="does not exist"):
        LanguageModel.load(tmp_path / "nowhere")


class _CreatesAFile:
    """Unpickled, this would create the file ``path``: proof that code ran."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_malicious_pickle_never_runs(tiny_run, tmp_path):
    path = _copy(tiny_run, tmp_path, "last")
    proof = tmp_path / "pwned"
    state = torch.load(path / "trainer_state.pt", weights_only=True)
    for evil in ({"step": _CreatesAFile(proof)}, {**state, "data": _CreatesAFile(proof)}, _CreatesAFile(proof)):
        (path / "trainer_state.pt").unlink()
        torch.save(evil, path / "trainer_state.pt")
        write_manifest(path)  # the manifest agrees: what stops it is weights_only, not a hash
        with pytest.raises(CheckpointError, match="trainer_state.pt is corrupt or holds unsafe objects"):
            load_checkpoint(path, state_check=check_trainer_state)
        assert not proof.exists()


def test_mismatched_tokenizer(tiny_run, tmp_path):
    path = _copy(tiny_run, tmp_path)
    (path / "tokenizer.json").write_text(json.dumps(CharTokenizer.fit("ab").to_dict()))
    with pytest.raises(CheckpointError, match="tokenizer.json is corrupt: its size or SHA-256 does not match manifest.json"):
        LanguageModel.load(path)
    (path / "manifest.json").unlink()  # a checkpoint written before manifests: the vocabulary check still holds
    with pytest.raises(CheckpointError, match="different runs"):
        LanguageModel.load(path)


def test_trainer_state_is_loaded_onto_the_cpu_safely(tiny_run, monkeypatch):
    """A checkpoint trained on a GPU holds CUDA tensors in trainer_state.pt: they must be mapped to the CPU, and
    nothing but tensors and plain data may be unpickled."""
    calls = []
    original = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    state = load_checkpoint(tiny_run, state_check=check_trainer_state, prefer="last").trainer_state
    assert calls and all(call.get("map_location") == "cpu" and call.get("weights_only") is True for call in calls)
    assert all(s.device.type == "cpu" for s in state["recurrent_state"])


# ----- 1. sizes in config.json are refused before anything is allocated --------------------------------
@pytest.fixture
def allocations(monkeypatch):
    """The devices RecurrentLanguageModel is built on while loading ('meta' allocates nothing)."""
    devices = []
    real = checkpoint_module.RecurrentLanguageModel

    def spy(config):
        devices.append(torch.get_default_device().type)
        return real(config)

    monkeypatch.setattr(checkpoint_module, "RecurrentLanguageModel", spy)
    return devices


@pytest.mark.parametrize("change, message", [
    ({"hidden_size": 10**9}, "hidden_size must be in"),
    ({"embedding_size": 10**9}, "embedding_size must be in"),
    ({"num_layers": 100_000}, "num_layers must be in"),
    ({"vocab_size": 1 << 24, "embedding_size": 1 << 16}, "parameters"),  # each size within its bounds, the product not
    ({"num_layers": 64, "hidden_size": 1 << 16}, "parameters"),
    ({"hidden_size": "512"}, "must be an integer"),
    ({"dropout": float("nan")}, "finite"),
])
def test_absurd_sizes_are_refused_before_allocation(tiny_run, tmp_path, allocations, change, message):
    path = _copy(tiny_run, tmp_path)
    _edit_config(path, lambda config: config["model"].update(change))
    with pytest.raises(CheckpointError, match=rf"config.json.*{message}"):
        load_checkpoint(path)
    assert allocations == []


def test_a_model_larger_than_its_weights_file_is_refused_before_allocation(tiny_run, tmp_path, allocations):
    path = _copy(tiny_run, tmp_path)
    _edit_config(path, lambda config: config["model"].update(hidden_size=4096, num_layers=8))
    with pytest.raises(CheckpointError, match="model.safetensors is corrupt \\(truncated\\)"):
        load_checkpoint(path)
    assert set(allocations) <= {"meta"}


def test_parameter_count_is_the_models_and_the_cap_is_far_above_real_models():
    for cell, options in (("lstm", {}), ("gru", {}), ("rnn", {}), ("mogrifier", {}), ("mogrifier", {"mogrifier_rank": 5}),
                          ("mogrifier", {"mogrifier_rounds": 4, "mogrifier_rank": 20})):
        for tie in (False, True):
            config = ModelConfig(vocab_size=37, cell=cell, embedding_size=24, hidden_size=24, num_layers=3, tie_weights=tie, **options)
            with torch.device("meta"):
                model = checkpoint_module.RecurrentLanguageModel(config)
            assert parameter_count(config) == model.num_parameters()
            stored = expected_tensors(config)
            assert ("output.weight" in stored) is not tie
    large = ModelConfig(vocab_size=50_000, embedding_size=1024, hidden_size=4096, num_layers=4)  # a very large LSTM LM
    assert parameter_count(large) < MAX_PARAMETERS / 4


# ----- 2. the right format with the wrong contents ------------------------------------------------------
def _reshaped(state, size):
    layers, streams, _ = state["recurrent_state"][0].shape
    return {**state, "recurrent_state": [torch.zeros(layers, streams, size)] * 2}


TRAINER_STATES = {  # name -> (how to break a real trainer state, what the message says)
    "an empty dict": (lambda state: {}, "has no 'step' entry"),
    "a string step": (lambda state: {**state, "step": "40"}, "'step' = '40'"),
    "a list": (lambda state: [1, 2, 3], "holds list"),
    "no data cursor": (lambda state: {k: v for k, v in state.items() if k != "data"}, "has no 'data' entry"),
    "a cursor without its batch size": (lambda state: {**state, "data": {"epoch": 0, "window": 3}}, "batch_size"),
    "a carried state of another shape": (lambda state: _reshaped(state, 7), "recurrent_state"),
    "a NaN carried state": (lambda state: {**state, "recurrent_state": [s.fill_(float("nan")) for s in state["recurrent_state"]]},
                            "NaN"),
    "a truncated generator state": (lambda state: {**state, "torch_rng": state["torch_rng"][:10]}, "random-generator state"),
    "an optimizer for another model": (lambda state: {**state, "optimizer": {
        **state["optimizer"], "param_groups": state["optimizer"]["param_groups"][:1]}}, "groups of"),
    "best_val that is not JSON": (lambda state: {**state, "best_val": "{"}, "best_val"),
}


@pytest.mark.parametrize("variant", list(TRAINER_STATES))
def test_a_trainer_state_with_wrong_contents_is_a_checkpoint_error(tiny_run, tmp_path, variant):
    path = _copy(tiny_run, tmp_path, "last")
    state = torch.load(path / "trainer_state.pt", weights_only=True)
    breaking, message = TRAINER_STATES[variant]
    broken = breaking(state)
    (path / "trainer_state.pt").unlink()
    torch.save(broken, path / "trainer_state.pt")
    write_manifest(path)
    with pytest.raises(CheckpointError, match=rf"trainer_state.pt.*{message}"):
        load_checkpoint(path, state_check=check_trainer_state)


@pytest.mark.parametrize("lines, message", [
    (b"3\n", "line 1 is not an evaluation record"),
    (b'{"step": 20}\n"text"\n', "line 2 is not an evaluation record"),
    (b'{"step": "20"}\n', "line 1 is not an evaluation record"),
    (b'{"step": 20\n', "line 1 is not valid JSON"),
])
def test_metrics_with_wrong_contents_are_a_checkpoint_error(tiny_run, tmp_path, lines, message):
    path = _copy(tiny_run, tmp_path)
    _rewrite(path, "metrics.jsonl", lines)
    with pytest.raises(CheckpointError, match=rf"metrics.jsonl {message}"):
        load_checkpoint(path)


@pytest.mark.parametrize("change, message", [
    (lambda config: config.update(extra="text"), "'extra' entry of type str"),
    (lambda config: config["extra"].update(best_val={"val_nats": "low"}), "best_val"),
    (lambda config: config["extra"].update(steps=-3), "'steps' = -3"),
    (lambda config: config["extra"].update(data=[1]), "'data' entry of type list"),
    (lambda config: config.update(tokenizer="word"), "different runs"),
    (lambda config: config.update(model=None), "must be a mapping"),
])
def test_config_json_with_wrong_contents_is_a_checkpoint_error(tiny_run, tmp_path, change, message):
    path = _copy(tiny_run, tmp_path)
    _edit_config(path, change)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)


@pytest.mark.parametrize("data, message", [
    ({"kind": ["char"]}, "names no known tokenizer kind"),
    ({"kind": "char", "characters": 5}, "'characters' must be of type str"),
    ({"kind": "word", "words": [1, 2]}, "distinct, non-empty strings"),
    ({"kind": "word", "words": ["a", "a"]}, "distinct, non-empty strings"),
    ({"kind": "char"}, "tokenizer.json"),
])
def test_a_malformed_tokenizer_json_is_a_checkpoint_error(tiny_run, tmp_path, data, message):
    path = _copy(tiny_run, tmp_path)
    _rewrite(path, "tokenizer.json", json.dumps(data).encode())
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)


# ----- 3. FIFOs and devices never hang a load -------------------------------------------------------------
@pytest.mark.parametrize("name", ["config.json", "tokenizer.json", "model.safetensors", "trainer_state.pt", "metrics.jsonl",
                                  "manifest.json"])
@pytest.mark.parametrize("special", ["fifo", "/dev/zero", "/dev/urandom", "directory"])
def test_a_file_that_is_not_a_regular_file_is_refused_without_hanging(tiny_run, tmp_path, name, special):
    path = _copy(tiny_run, tmp_path, "last")
    (path / name).unlink()
    if special == "fifo":
        os.mkfifo(path / name)
    elif special == "directory":
        (path / name).mkdir()
    else:
        os.symlink(special, path / name)
    kind = {"fifo": "a FIFO", "directory": "a directory"}.get(special, "a character device")
    with within(10), pytest.raises(CheckpointError, match=rf"{name} .*is {kind}"):
        load_checkpoint(path, state_check=check_trainer_state)


def test_a_symlink_to_a_regular_file_is_followed(tiny_run, tmp_path):
    path = _copy(tiny_run, tmp_path)
    (tmp_path / "elsewhere.json").write_bytes((path / "tokenizer.json").read_bytes())
    (path / "tokenizer.json").unlink()
    os.symlink(tmp_path / "elsewhere.json", path / "tokenizer.json")
    assert load_checkpoint(path).tokenizer.vocab_size > 2


def test_huge_json_files_are_refused_before_reading(tiny_run, tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoint_module, "MAX_JSON_BYTES", 1000)
    path = _copy(tiny_run, tmp_path)
    with pytest.raises(CheckpointError, match="config.json .*more than the 1,000"):
        load_checkpoint(path)


# ----- 4. hostile JSON and undecodable bytes name the file ---------------------------------------------
def test_deeply_nested_json_and_undecodable_bytes_name_the_file(tiny_run, tmp_path):
    path = _copy(tiny_run, tmp_path)
    _rewrite(path, "tokenizer.json", b"[" * 200_000)
    with pytest.raises(CheckpointError, match="tokenizer.json nests JSON too deeply"):
        load_checkpoint(path)
    path = _copy(tiny_run, tmp_path / "again")
    _rewrite(path, "metrics.jsonl", b'{"step": 20}\n\xff\xfe{"step": 40}\n')
    with pytest.raises(CheckpointError, match=r"metrics.jsonl is not valid UTF-8 \(byte offset 13.*restore it"):
        load_checkpoint(path)


# ----- 5. non-finite weights ----------------------------------------------------------------------------
def test_nan_weights_are_refused_at_load_and_never_written(tiny_run, tmp_path, tiny_model):
    path = _copy(tiny_run, tmp_path)
    tensors = load_file(path / "model.safetensors")
    tensors["output.bias"][3] = float("nan")
    (path / "model.safetensors").unlink()
    save_file(tensors, str(path / "model.safetensors"), metadata={"format": "lstmgen-checkpoint"})
    write_manifest(path)
    with pytest.raises(CheckpointError, match="model.safetensors holds NaN or infinite values in output.bias"):
        load_checkpoint(path)

    model, tokenizer = tiny_model(vocab_size=6), CharTokenizer.fit("abcde")
    save_checkpoint(tmp_path / "good", model, tokenizer)
    before = (tmp_path / "good" / "model.safetensors").read_bytes()
    with torch.no_grad():
        model.output.weight[0, 0] = float("inf")
    with pytest.raises(CheckpointError, match="refusing to write .*output.weight hold NaN or infinite"):
        save_checkpoint(tmp_path / "good", model, tokenizer)
    assert (tmp_path / "good" / "model.safetensors").read_bytes() == before


def test_weights_of_another_dtype_are_refused(tiny_run, tmp_path):
    path = _copy(tiny_run, tmp_path)
    tensors = {name: value.double() for name, value in load_file(path / "model.safetensors").items()}
    (path / "model.safetensors").unlink()
    save_file(tensors, str(path / "model.safetensors"))
    write_manifest(path)
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load_checkpoint(path)


# ----- 6. the manifest: a flipped byte anywhere is refused; old checkpoints still load ---------------------
def test_a_flipped_byte_in_the_tensor_data_is_refused(tiny_run, tmp_path):
    path = _copy(tiny_run, tmp_path)
    data = bytearray((path / "model.safetensors").read_bytes())
    header = struct.unpack("<Q", data[:8])[0]
    data[8 + header + 100] ^= 0x01  # one bit of one weight: still a valid file, silently different weights
    (path / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="model.safetensors is corrupt: its size or SHA-256 does not match manifest.json"):
        load_checkpoint(path)


def test_the_manifest_lists_every_file_and_old_checkpoints_load_unverified(tiny_run, tmp_path):
    path = _copy(tiny_run, tmp_path, "last")
    manifest = json.loads((path / "manifest.json").read_text())
    assert set(manifest["files"]) == {"config.json", "tokenizer.json", "model.safetensors", "trainer_state.pt", "metrics.jsonl"}
    expected = load_checkpoint(path, state_check=check_trainer_state).model.state_dict()
    (path / "manifest.json").unlink()
    legacy = load_checkpoint(path, state_check=check_trainer_state)
    assert all(torch.equal(legacy.model.state_dict()[name], value) for name, value in expected.items())
    (path / "manifest.json").write_text("{}")
    with pytest.raises(CheckpointError, match="manifest.json is corrupt"):
        load_checkpoint(path)


def test_a_file_added_after_writing_is_refused(tiny_run, tmp_path):
    path = _copy(tiny_run, tmp_path)  # best/ has no trainer state
    shutil.copyfile(tiny_run / "last" / "trainer_state.pt", path / "trainer_state.pt")
    with pytest.raises(CheckpointError, match="trainer_state.pt is not listed in manifest.json"):
        load_checkpoint(path, state_check=check_trainer_state)


# ----- 8. a checkpoint's recorded paths are never followed -------------------------------------------------
def test_loading_opens_nothing_outside_the_checkpoint(tiny_run, tmp_path, monkeypatch):
    path = _copy(tiny_run, tmp_path, "last")
    os.mkfifo(tmp_path / "fifo")
    _edit_config(path, lambda config: config["extra"]["data"].update(store="/dev/zero", sources=[str(tmp_path / "fifo")],
                                                                     store_path="../../../../etc/passwd"))
    opened = []
    real_open, real_os_open = open, os.open
    monkeypatch.setattr("builtins.open", lambda file, *args, **kwargs: opened.append(str(file)) or real_open(file, *args, **kwargs))
    monkeypatch.setattr(os, "open", lambda file, *args, **kwargs: opened.append(str(file)) or real_os_open(file, *args, **kwargs))
    with within(10):
        load_checkpoint(path, state_check=check_trainer_state)
    assert opened and all(os.path.dirname(name) == str(path) for name in opened), opened


# ----- 11. a full disk ------------------------------------------------------------------------------------
def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("writer", ["lstmgen.checkpoint.save_file", "torch.save", "lstmgen.system.durable.write_file"])
def test_a_full_disk_is_a_clear_error_and_keeps_the_previous_checkpoint(tiny_run, tmp_path, monkeypatch, writer):
    checkpoint = load_checkpoint(tiny_run, state_check=check_trainer_state, prefer="last")
    target = tmp_path / "run" / "last"
    save_checkpoint(target, checkpoint.model, checkpoint.tokenizer, checkpoint.train_config, checkpoint.trainer_state,
                    checkpoint.metrics, checkpoint.extra)
    before = {path.name: path.read_bytes() for path in target.iterdir()}
    monkeypatch.setattr(writer, _disk_full)
    with torch.no_grad():
        checkpoint.model.output.bias.add_(1.0)
    with pytest.raises(CheckpointError, match=rf"could not write {target}: no space left on device; the previous checkpoint"):
        save_checkpoint(target, checkpoint.model, checkpoint.tokenizer, checkpoint.train_config, checkpoint.trainer_state,
                        checkpoint.metrics, checkpoint.extra)
    assert {path.name: path.read_bytes() for path in target.iterdir()} == before
    assert [path.name for path in target.parent.iterdir()] == ["last"]  # no staging directory left
    monkeypatch.undo()
    load_checkpoint(target, state_check=check_trainer_state)


def test_a_file_size_limit_from_the_os_is_a_clear_error(tiny_run, tmp_path):
    """A real failure from the kernel (EFBIG under RLIMIT_FSIZE) through safetensors' Rust and torch's C++ writers."""
    checkpoint = load_checkpoint(tiny_run, state_check=check_trainer_state, prefer="last")
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing us
    resource.setrlimit(resource.RLIMIT_FSIZE, (8192, hard))
    try:
        with pytest.raises(CheckpointError, match="could not write .*: file too large; the previous checkpoint"):
            save_checkpoint(tmp_path / "ckpt", checkpoint.model, checkpoint.tokenizer, trainer_state=checkpoint.trainer_state)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    assert list(tmp_path.iterdir()) == []


def test_every_file_and_directory_is_fsynced(tiny_run, tmp_path, monkeypatch):
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc to name the descriptors")
    checkpoint = load_checkpoint(tiny_run, state_check=check_trainer_state, prefer="last")
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(os.readlink(f"/proc/self/fd/{fd}")) or real(fd))
    target = tmp_path / "run" / "last"
    save_checkpoint(target, checkpoint.model, checkpoint.tokenizer, trainer_state=checkpoint.trainer_state, metrics=checkpoint.metrics)
    names = {os.path.basename(path) for path in synced}
    assert {"config.json", "tokenizer.json", "model.safetensors", "trainer_state.pt", "metrics.jsonl", "manifest.json"} <= names
    assert str(tmp_path / "run") in synced  # the renames themselves are durable
    assert any(os.path.basename(path).startswith(".last.") for path in synced)  # the staging directory, before its rename


def test_a_save_clears_what_earlier_crashes_left(tiny_model, tmp_path):
    model, tokenizer = tiny_model(vocab_size=6), CharTokenizer.fit("abcde")
    target = tmp_path / "last"
    save_checkpoint(target, model, tokenizer)
    for name in (".last.old", ".last.ab12cd34"):
        (tmp_path / name).mkdir()
    (tmp_path / ".lastly").mkdir()  # not a name lstmgen writes: left alone
    save_checkpoint(target, model, tokenizer)
    assert sorted(path.name for path in tmp_path.iterdir()) == [".lastly", "last"]
    assert durable.leftovers(target) == []
