"""The batching engine: many groups stepped together, each drawing from its own rows; joining, leaving, cancelling."""

from __future__ import annotations

import pytest
import torch

from lstmgen import GenerationConfig, LanguageModel
from lstmgen.decoding import SampleGroup, decode, make_generator
from lstmgen.decoding.engine import PREFILL_SLICE, SHORT_PROMPT, BatchEngine
from lstmgen.tokenizers import CharTokenizer

PROMPTS = ["the quick ", "a stitch", "the lazy dog", "t", "over the ", "saves nine; "]


def group_of(lm: LanguageModel, prompt: str, **settings) -> SampleGroup:
    config = GenerationConfig(**{"max_tokens": 40, **settings})
    return SampleGroup(lm.tokenizer, lm.encode_prompt(prompt), config, make_generator(config.seed), prompt_text=prompt)


class Collected:
    """What an engine handed one group: its texts per sample, its records and how it ended."""

    def __init__(self, samples: int = 1) -> None:
        self.texts = [""] * samples
        self.records = []
        self.ended = []

    def emit(self, record) -> None:
        self.records.append(record)
        self.texts = [a + b for a, b in zip(self.texts, record.texts)]

    def finish(self, error) -> None:
        self.ended.append(error)


def run_alone(lm: LanguageModel, prompt: str, **settings) -> list[str]:
    engine = BatchEngine(lm.decoding_model, lm.tokenizer)
    collected = Collected(settings.get("num_samples", 1))
    engine.add(group_of(lm, prompt, **settings), collected.emit, collected.finish)
    while engine.busy:
        engine.run_once()
    assert collected.ended == [None]
    return collected.texts


def varied_settings(index: int) -> dict:
    """64 different requests: temperatures, truncations, penalties, lengths, sample counts, stop strings."""
    settings = {"seed": 1000 + index, "temperature": 0.4 + (index % 7) / 5, "max_tokens": 20 + index % 23}
    if index % 3 == 0:
        settings["top_k"] = 1 + index % 5
    if index % 4 == 1:
        settings["top_p"] = 0.8
    if index % 5 == 2:
        settings["repetition_penalty"] = 1.3
    if index % 6 == 3:
        settings["num_samples"] = 3
    if index % 8 == 5:
        settings["stop"] = ("o",)
    if index % 9 == 4:
        settings["temperature"] = 0.0  # greedy
    return settings


def test_a_seeded_request_gets_the_same_tokens_alone_and_among_63_others(lm):
    requests = [(PROMPTS[i % len(PROMPTS)], varied_settings(i)) for i in range(64)]
    engine = BatchEngine(lm.decoding_model, lm.tokenizer)
    collected = [Collected(settings.get("num_samples", 1)) for _, settings in requests]
    for (prompt, settings), into in zip(requests, collected):
        engine.add(group_of(lm, prompt, **settings), into.emit, into.finish)
    widest = 0
    while engine.busy:
        engine.run_once()
        widest = max(widest, engine.rows)
    assert widest >= 64  # they really ran side by side
    for (prompt, settings), into in zip(requests[:24], collected):  # 24 of them re-run alone
        assert run_alone(lm, prompt, **settings) == into.texts, (prompt, settings)
    assert all(into.ended == [None] for into in collected)


def test_the_engine_samples_what_decode_samples(lm):
    # One group alone: the same draws as the one-prompt path (its prompt is read in other slices: equal to rounding).
    config = GenerationConfig(max_tokens=60, temperature=0.8, seed=3, num_samples=2)
    ids = lm.encode_prompt("the quick ")
    expected = [""] * 2
    for record in decode(lm.decoding_model, lm.tokenizer, ids, config, make_generator(3)):
        expected = [a + b for a, b in zip(expected, record.texts)]
    assert run_alone(lm, "the quick ", max_tokens=60, temperature=0.8, seed=3, num_samples=2) == expected


def test_groups_join_and_leave_mid_generation_and_rows_are_reused(lm):
    engine = BatchEngine(lm.decoding_model, lm.tokenizer, max_streams=4)
    first, second, third = Collected(), Collected(2), Collected(2)
    engine.add(group_of(lm, "the quick ", max_tokens=30, seed=1), first.emit, first.finish)
    engine.run_once()  # a short prompt joins at once, and is read in the batch: a token per step
    assert engine.rows == 1 and first.records == []
    for _ in range(len(lm.encode_prompt("the quick "))):
        engine.run_once()
    assert len(first.records) == 1  # its first tokens: from the step that read its prompt's last
    for _ in range(4):
        engine.run_once()
    assert len(first.records) == 5
    engine.add(group_of(lm, "a stitch", max_tokens=10, seed=2, num_samples=2), second.emit, second.finish)
    engine.run_once()
    assert engine.rows == 3 and second.records == [] and len(first.records) == 6
    for _ in range(len(lm.encode_prompt("a stitch"))):  # the second reads its prompt beside the first's tokens
        engine.run_once()
    assert len(second.records) == 1 and len(first.records) == 6 + len(lm.encode_prompt("a stitch"))
    engine.add(group_of(lm, "the lazy dog", max_tokens=5, seed=3, num_samples=2), third.emit, third.finish)
    engine.run_once()
    assert len(engine.waiting) == 1 and engine.rows == 3  # 3 + 2 streams do not fit 4: it waits its turn
    while second.ended == []:
        engine.run_once()
    assert engine.rows == 1  # the second left at once
    engine.run_once()
    assert engine.rows == 3 and not engine.waiting  # its rows went to the third
    while engine.busy:
        engine.run_once()
    assert [len(c.records) for c in (first, second, third)] == [30, 10, 5]
    # Joining and leaving changed nothing for anyone: each got what it gets alone.
    assert first.texts == run_alone(lm, "the quick ", max_tokens=30, seed=1)
    assert second.texts == run_alone(lm, "a stitch", max_tokens=10, seed=2, num_samples=2)
    assert third.texts == run_alone(lm, "the lazy dog", max_tokens=5, seed=3, num_samples=2)


def test_prompts_either_side_of_the_short_limit_join_a_running_batch_and_draw_what_they_draw_alone(lm):
    # SHORT_PROMPT tokens: read in the batch, a token per step; one more: read between steps by model.forward.
    text = "the quick brown fox jumps over the lazy dog"
    short, long = text[:SHORT_PROMPT], text[: SHORT_PROMPT + 1]
    assert len(lm.encode_prompt(short)) == SHORT_PROMPT and len(lm.encode_prompt(long)) == SHORT_PROMPT + 1
    engine = BatchEngine(lm.decoding_model, lm.tokenizer)
    running, in_batch, apart = Collected(), Collected(2), Collected()
    engine.add(group_of(lm, "a stitch", max_tokens=60, seed=4), running.emit, running.finish)
    for _ in range(12):
        engine.run_once()
    engine.add(group_of(lm, short, max_tokens=25, seed=5, num_samples=2, temperature=0.7), in_batch.emit, in_batch.finish)
    engine.add(group_of(lm, long, max_tokens=25, seed=6), apart.emit, apart.finish)
    engine.run_once()
    assert engine.rows == 4 and in_batch.records == [] and len(apart.records) == 1  # both joined; one draws at once
    for _ in range(SHORT_PROMPT - 1):
        engine.run_once()
    assert in_batch.records == []
    engine.run_once()  # the step that reads the short prompt's last token
    assert len(in_batch.records) == 1
    while engine.busy:
        engine.run_once()
    assert running.texts == run_alone(lm, "a stitch", max_tokens=60, seed=4)
    assert in_batch.texts == run_alone(lm, short, max_tokens=25, seed=5, num_samples=2, temperature=0.7)
    assert apart.texts == run_alone(lm, long, max_tokens=25, seed=6)
    config = GenerationConfig(max_tokens=25, seed=5, num_samples=2, temperature=0.7)
    expected = [""] * 2
    for record in decode(lm.decoding_model, lm.tokenizer, lm.encode_prompt(short), config, make_generator(5)):
        expected = [a + b for a, b in zip(expected, record.texts)]
    assert in_batch.texts == expected  # the one-prompt path reads it through model.forward: equal to rounding


def test_a_cancelled_group_leaves_at_the_next_step_and_frees_its_rows(lm):
    engine = BatchEngine(lm.decoding_model, lm.tokenizer)
    going, staying = Collected(), Collected()
    ticket = engine.add(group_of(lm, "the quick ", max_tokens=10_000, seed=1), going.emit, going.finish)
    engine.add(group_of(lm, "a stitch", max_tokens=50, seed=2), staying.emit, staying.finish)
    for _ in range(3):
        engine.run_once()
    ticket.cancel()
    engine.run_once()
    assert engine.rows == 1 and going.ended == [None] and engine.counts["cancelled"] == 1
    steps = len(going.records)
    while engine.busy:
        engine.run_once()
    assert len(going.records) == steps and len(staying.records) == 50


def test_a_stream_that_hits_its_stop_string_leaves_while_the_others_go_on(lm):
    engine = BatchEngine(lm.decoding_model, lm.tokenizer)
    stopping, going = Collected(), Collected()
    engine.add(group_of(lm, "the quick ", max_tokens=500, seed=5, stop=(" ",)), stopping.emit, stopping.finish)
    engine.add(group_of(lm, "the quick ", max_tokens=200, seed=5), going.emit, going.finish)
    while not stopping.ended:
        engine.run_once()
    assert stopping.records[-1].finish_reasons == ("stop",) and " " not in stopping.texts[0]
    assert engine.rows == 1 and len(stopping.records) < 200
    while engine.busy:
        engine.run_once()
    assert len(going.records) == 200 and going.records[-1].finish_reasons == ("length",)


def test_a_long_prompt_is_read_a_slice_at_a_time_while_the_others_keep_generating(lm):
    engine = BatchEngine(lm.decoding_model, lm.tokenizer, prefill_tokens=PREFILL_SLICE)
    live, reading = Collected(), Collected()
    engine.add(group_of(lm, "the quick ", max_tokens=100, seed=1), live.emit, live.finish)
    while not live.records:
        engine.run_once()
    long_prompt = ("the quick brown fox jumps over the lazy dog. " * 20)[: 10 * PREFILL_SLICE]
    engine.add(group_of(lm, long_prompt, max_tokens=5, seed=2), reading.emit, reading.finish)
    calls = 0
    while not reading.records:
        engine.run_once()
        calls += 1
    assert calls == 10  # one slice per call: the prompt never held the live stream back for more than a slice
    assert len(live.records) == 1 + calls  # which drew a token at every one of those calls
    while engine.busy:
        engine.run_once()
    assert reading.texts == run_alone(lm, long_prompt, max_tokens=5, seed=2)


def test_a_failing_group_fails_alone(lm):
    engine = BatchEngine(lm.decoding_model, lm.tokenizer)
    broken, fine = Collected(), Collected()
    group = group_of(lm, "the quick ", max_tokens=20, seed=1)

    def choose(logits):
        raise RuntimeError("a broken group")

    group.choose = choose
    engine.add(group, broken.emit, broken.finish)
    engine.add(group_of(lm, "a stitch", max_tokens=20, seed=2), fine.emit, fine.finish)
    while engine.busy:
        engine.run_once()
    assert isinstance(broken.ended[0], RuntimeError) and len(broken.ended) == 1
    assert fine.ended == [None] and len(fine.records) == 20 and engine.counts["failed"] == 1


@pytest.mark.parametrize("cell", ["gru", "lstm", "mogrifier"])
def test_the_reference_path_batches_too(tiny_model, cell):
    # GRU models step through model.forward: their state rows are appended and selected the same way.
    tokenizer = CharTokenizer.fit("abcdefgh \n")
    model = tiny_model(vocab_size=tokenizer.vocab_size, cell=cell)
    lm = LanguageModel(model, tokenizer)
    fast = None if cell in ("lstm", "mogrifier") else False
    engine = BatchEngine(lm.decoding_model, tokenizer, fast=fast)
    collected = [Collected() for _ in range(5)]
    for index, into in enumerate(collected):
        engine.add(group_of(lm, "abc"[: 1 + index % 3], max_tokens=8 + index, seed=index), into.emit, into.finish)
    while engine.busy:
        engine.run_once()
    for index, into in enumerate(collected):
        alone = BatchEngine(lm.decoding_model, tokenizer, fast=fast)
        single = Collected()
        alone.add(group_of(lm, "abc"[: 1 + index % 3], max_tokens=8 + index, seed=index), single.emit, single.finish)
        while alone.busy:
            alone.run_once()
        assert single.texts == into.texts and len(into.records) == 8 + index


def test_many_prompts_with_their_own_settings_through_the_python_api(lm):
    configs = [GenerationConfig(max_tokens=12, seed=1), GenerationConfig(max_tokens=7, temperature=0.3, num_samples=2, seed=2),
               GenerationConfig(max_tokens=0)]
    found = lm.samples_many(["the quick ", "a stitch", "the"], configs)
    assert [len(texts) for texts in found] == [1, 2, 1]
    assert found[0] == run_alone(lm, "the quick ", max_tokens=12, seed=1)
    assert found[1] == run_alone(lm, "a stitch", max_tokens=7, temperature=0.3, num_samples=2, seed=2)
    assert found[2] == [""]
    assert lm.generate_many(["the", "a"], max_tokens=9, seed=4) == [run_alone(lm, "the", max_tokens=9, seed=4)[0],
                                                                     run_alone(lm, "a", max_tokens=9, seed=4)[0]]
    with pytest.raises(ValueError, match="2 generation configs for 3 prompts"):
        list(lm.decode_many(["a", "b", "c"], configs[:2]))


def test_the_engine_refuses_what_cannot_fit(lm):
    engine = BatchEngine(lm.decoding_model, lm.tokenizer, max_streams=2)
    with pytest.raises(ValueError, match="3 samples do not fit"):
        engine.add(group_of(lm, "the", num_samples=3), Collected().emit)
    with pytest.raises(ValueError, match="max_streams"):
        BatchEngine(lm.decoding_model, lm.tokenizer, max_streams=0)
    assert torch.is_inference_mode_enabled() is False


@pytest.mark.parametrize("symbols", [12, 700])  # a character-sized vocabulary (the race) and a word-sized one (inverse CDF)
def test_groups_with_the_same_settings_choose_together_and_draw_what_they_draw_alone(tiny_model, monkeypatch, symbols):
    import lstmgen.decoding.engine as engine_module

    tokenizer = CharTokenizer.fit("".join(chr(0x100 + i) for i in range(symbols - 1)) + " ")
    lm = LanguageModel(tiny_model(vocab_size=tokenizer.vocab_size), tokenizer)
    prompt = chr(0x100) + " "
    settings = [{"seed": index, "temperature": 0.8, "top_k": 8} if index % 3 else {"seed": index, "top_p": 0.9, "num_samples": 2}
                for index in range(12)]
    batches = []
    real = engine_module.choose_together
    monkeypatch.setattr(engine_module, "choose_together", lambda groups, logits: batches.append(len(groups)) or real(groups, logits))
    engine = BatchEngine(lm.decoding_model, tokenizer)
    collected = [Collected(config.get("num_samples", 1)) for config in settings]
    for config, into in zip(settings, collected):
        engine.add(group_of(lm, prompt, max_tokens=10, **config), into.emit, into.finish)
    while engine.busy:
        engine.run_once()
    assert batches and max(batches) == 8  # the eight top-k requests drew together, every step
    for config, into in zip(settings, collected):
        expected = [""] * config.get("num_samples", 1)
        generation = GenerationConfig(max_tokens=10, **config)
        for record in decode(lm.decoding_model, tokenizer, lm.encode_prompt(prompt), generation, make_generator(config["seed"])):
            expected = [a + b for a, b in zip(expected, record.texts)]
        assert into.texts == expected, config


def test_the_decoder_grows_with_the_crowd_and_shrinks_when_it_leaves(lm):
    # A lone stream steps faster in a decoder of its size; the rebuilds keep every stream's state (the same text).
    engine = BatchEngine(lm.decoding_model, lm.tokenizer)
    long, crowd = Collected(), [Collected() for _ in range(20)]
    engine.add(group_of(lm, "the quick ", max_tokens=60, seed=5), long.emit, long.finish)
    engine.run_once()
    assert 1 <= engine.stepper.capacity <= 2
    for index, into in enumerate(crowd):
        engine.add(group_of(lm, PROMPTS[index % len(PROMPTS)], max_tokens=10, seed=index), into.emit, into.finish)
    engine.run_once()
    assert engine.rows == 21 and 21 <= engine.stepper.capacity <= 64
    while len(engine.live) > 1:
        engine.run_once()
    engine.run_once()
    assert engine.rows == 1 and engine.stepper.capacity <= 2  # rebuilt for the one stream left
    while engine.busy:
        engine.run_once()
    assert long.texts == run_alone(lm, "the quick ", max_tokens=60, seed=5)
    assert all(into.texts == run_alone(lm, PROMPTS[index % len(PROMPTS)], max_tokens=10, seed=index) for index, into in enumerate(crowd))
