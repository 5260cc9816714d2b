import json
import shutil

import pytest
import torch

from lstmgen import CheckpointError, LanguageModel, load_checkpoint, save_checkpoint
from lstmgen.tokenizers import CharTokenizer


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


def _copy(tiny_run, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(tiny_run / "best", target)
    return target


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


def test_newer_format_version(tiny_run, tmp_path):
    path = _copy(tiny_run, tmp_path)
    config = json.loads((path / "config.json").read_text())
    config["format_version"] = 99
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="newer than this lstmgen"):
        LanguageModel.load(path)


def test_foreign_directory_and_pickled_trainer_state(tiny_run, tmp_path):
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "config.json").write_text('{"model_type": "gpt2"}')
    with pytest.raises(CheckpointError, match="not an lstmgen checkpoint"):
        LanguageModel.load(tmp_path / "foreign")
    with pytest.raises(CheckpointError, match="does not exist"):
        LanguageModel.load(tmp_path / "nowhere")
    path = tmp_path / "last"
    shutil.copytree(tiny_run / "last", path)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"step": Evil()}, path / "trainer_state.pt")
    with pytest.raises(CheckpointError, match="unsafe"):
        load_checkpoint(path, with_trainer_state=True)


def test_mismatched_tokenizer(tiny_run, tmp_path):
    path = _copy(tiny_run, tmp_path)
    (path / "tokenizer.json").write_text(json.dumps(CharTokenizer.fit("ab").to_dict()))
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
    state = load_checkpoint(tiny_run, with_trainer_state=True, prefer="last").trainer_state
    assert calls and all(call.get("map_location") == "cpu" and call.get("weights_only") is True for call in calls)
    assert all(s.device.type == "cpu" for s in state["recurrent_state"])
