import pytest

from conftest import TINY_TEXT
from lstmgen import LanguageModel, ModelConfig, TrainConfig, train
from lstmgen.training.presets import PRESETS, get_preset


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_builds_valid_configs(name):
    spec = get_preset(name)
    assert spec["description"]
    ModelConfig(vocab_size=60, **spec["model"])
    TrainConfig.from_dict(spec["train"])


@pytest.mark.parametrize("name", ["keras-nietzsche", "tf-tutorial", "char-rnn", "small"])
def test_presets_train_a_step_and_print_samples(tmp_path, name):
    lines = []
    # The real preset sizes, shortened to two steps on a tiny text; samples at the preset's temperatures.
    result = train(text=TINY_TEXT.upper() if name == "tf-tutorial" else TINY_TEXT, out_dir=tmp_path / name, preset=name,
                   max_steps=2, eval_interval=2, sample_length=10, batch_size=4, threads=1, progress=False, log=lines.append)
    assert result.steps == 2
    temperatures = TrainConfig.from_dict(PRESETS[name]["train"]).sample_temperatures
    assert sum("--- temperature" in line for line in lines) == len(temperatures)
    lm = LanguageModel.load(tmp_path / name)
    assert lm.config.hidden_size == PRESETS[name]["model"]["hidden_size"]
    if name == "keras-nietzsche":
        assert lm.tokenizer.lowercase and temperatures == (0.2, 0.5, 1.0, 1.2)
    if name == "tf-tutorial":
        assert any("ROMEO:" in line for line in lines)
