"""lstmgen.config: every rule of the three configurations, and the metadata the CLI and the server derive from."""

import dataclasses

import pytest

from lstmgen.config import ConfigError, GenerationConfig, ModelConfig, TrainConfig, describe_bounds


@pytest.mark.parametrize("values, message", [
    (dict(temperature=-1), "temperature must be >= 0"), (dict(top_p=0), "top_p must be in"), (dict(top_p=1.5), "top_p"),
    (dict(top_k=0), "top_k must be at least 1"), (dict(num_samples=0), "num_samples"), (dict(max_tokens=-1), "max_tokens"),
    (dict(min_p=1.5), "min_p must be in"), (dict(repetition_penalty=0), "repetition_penalty must be positive"),
    (dict(no_repeat_ngram_size=-1), "no_repeat_ngram_size"), (dict(num_beams=0), r"num_beams must be in \[1, 1024\]"),
    (dict(length_penalty=0.5), "length_penalty only applies to beam search"),
    (dict(num_beams=4, temperature=0.7), "ignores temperature"), (dict(num_beams=4, temperature=0), "ignores temperature"),
    (dict(num_beams=4, top_k=5, top_p=0.9), "ignores top_k, top_p"), (dict(num_beams=4, min_p=0.1), "ignores min_p"),
    (dict(num_beams=4, seed=1), "ignores seed"), (dict(num_beams=2, num_samples=3), "num_samples must be <= num_beams"),
    (dict(stop=("",)), "non-empty"), (dict(temperature=float("nan")), "finite"), (dict(seed=2**70), "seed must be any 64-bit integer"),
])
def test_impossible_generation_configs(values, message):
    with pytest.raises(ConfigError, match=message):
        GenerationConfig(**values)


@pytest.mark.parametrize("values, message", [
    (dict(batch_size=0), "batch_size"), (dict(learning_rate=-1), "learning_rate"), (dict(time_budget=0), "time_budget"),
    (dict(val_fraction=1.0), "val_fraction must be in"), (dict(optimizer="lbfgs"), "optimizer must be one of"),
    (dict(tokenizer="sentencepiece"), "tokenizer must be one of"), (dict(val_fraction=0.5, test_fraction=0.45), "at least 10%"),
])
def test_impossible_training_configs(values, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**values)


@pytest.mark.parametrize("values, message", [
    (dict(vocab_size=1), "vocab_size"), (dict(vocab_size=5, cell="transformer"), "cell must be one of"),
    (dict(vocab_size=5, dropout=1.0), "dropout"), (dict(vocab_size=5, num_layers=0), "num_layers"),
])
def test_impossible_model_configs(values, message):
    with pytest.raises(ConfigError, match=message):
        ModelConfig(**values)


@pytest.mark.parametrize("cls, values, field", [
    (GenerationConfig, dict(top_p=2.0), "top_p"), (GenerationConfig, dict(num_beams=2, seed=3), "num_beams"),
    (TrainConfig, dict(batch_size=0), "batch_size"), (TrainConfig, dict(optimizer="lbfgs"), "optimizer"),
    (ModelConfig, dict(vocab_size=9, hidden_size=10**9), "hidden_size"), (ModelConfig, dict(vocab_size="9"), "vocab_size"),
])
def test_errors_name_their_field(cls, values, field):
    with pytest.raises(ConfigError) as raised:
        cls(**values)
    assert raised.value.field == field


@pytest.mark.parametrize("values, message", [
    (dict(vocab_size=9, hidden_size="big"), "hidden_size must be an integer"), (dict(vocab_size=9, tie_weights=1), "true or false"),
    (dict(vocab_size=9, num_layers=True), "num_layers must be an integer"), (dict(vocab_size=9, embedding_size=10**9), "65,536"),
    (dict(vocab_size=9, num_layers=100_000), r"num_layers must be in \[1, 64\]"),
])
def test_wrong_types_and_absurd_sizes_are_refused_before_anything_is_built(values, message):
    with pytest.raises(ConfigError, match=message):
        ModelConfig(**values)


def test_from_dict_names_unknown_fields_and_round_trips():
    with pytest.raises(ConfigError, match="has no field") as raised:
        TrainConfig.from_dict({"batch_size": 4, "bach_size": 4})
    assert raised.value.field == "bach_size"
    with pytest.raises(ConfigError, match="must be a mapping"):
        ModelConfig.from_dict(["vocab_size"])
    for config in (TrainConfig(sample_temperatures=[0.5, 1]), GenerationConfig(stop="x", top_k=3), ModelConfig(vocab_size=9)):
        assert type(config).from_dict(config.to_dict()) == config
    assert TrainConfig(learning_rate=1).learning_rate == 1.0 and isinstance(TrainConfig(learning_rate=1).learning_rate, float)


def test_every_field_says_what_it_is_for():
    for cls in (ModelConfig, TrainConfig, GenerationConfig):
        for item in dataclasses.fields(cls):
            assert item.metadata.get("help"), f"{cls.__name__}.{item.name} has no help text"


def test_bounds_read_as_english():
    assert describe_bounds({"ge": 1}, integer=True) == "at least 1"
    assert describe_bounds({"ge": 0}, integer=True) == ">= 0"
    assert describe_bounds({"gt": 0.0}, integer=False) == "positive"
    assert describe_bounds({"gt": 0.0, "le": 1.0}, integer=False) == "in (0, 1]"
    assert describe_bounds({"ge": 0.0, "lt": 1.0}, integer=False) == "in [0, 1)"
