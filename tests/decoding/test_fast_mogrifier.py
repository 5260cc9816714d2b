"""lstmgen.decoding.fast_mogrifier: the hand-stepped Mogrifier LSTM computes the model's own Mogrifier LSTM, and every
decoding path (generation, the stepper's streams, the batching engine, reduced precisions) runs through it."""

import functools
import sys

import pytest
import torch

from lstmgen import GenerationConfig, LanguageModel
from lstmgen.decoding import SampleGroup, Stepper, beam_search, decode, make_generator, projections
from lstmgen.decoding.engine import BatchEngine
from lstmgen.decoding.fast_mogrifier import FastMogrifierDecoder, supports_mogrifier_decoding
from lstmgen.decoding.projections import at_decoding_precision
from lstmgen.decoding.stepper import fast_decoder, has_fast_path
from lstmgen.tokenizers import CharTokenizer

RUNNABLE = [p for p in ("fp16", "bf16", "int8")
            if (p != "bf16" or projections.native_bf16(torch.device("cpu"))) and (p != "fp16" or projections.fp16_kernel())]


def mogrifier(tiny_model, **options):
    return tiny_model(cell="mogrifier", **options)


# 3 streams of 24 take the cell's tanh as it is, 200 its sigmoid form; rank 3 steps through the two factors, rank 20
# through their product (cheaper per step for 16 x 24 matrices).
@pytest.mark.parametrize("layers, tie, streams, rounds, rank", [(1, False, 3, 5, 0), (2, False, 3, 5, 0), (3, True, 3, 4, 3),
                                                                (2, False, 200, 5, 3), (2, False, 3, 6, 20), (1, False, 3, 0, 0)])
def test_fast_decoder_matches_the_model_step_by_step(tiny_model, layers, tie, streams, rounds, rank):
    model = mogrifier(tiny_model, num_layers=layers, tie_weights=tie, mogrifier_rounds=rounds, mogrifier_rank=rank)
    tokens = torch.randint(1, 30, (streams, 25), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected, final = model(tokens)
        decoder = FastMogrifierDecoder(model, streams, banned=(0,))
        decoder.load_state(model.init_state(streams))
        for t in range(tokens.shape[1]):
            logits = decoder.step(tokens[:, t])
            assert torch.isneginf(logits[:, 0]).all()  # banned ids: -inf output bias
            assert torch.allclose(logits[:, 1:], expected[:, t, 1:], atol=1e-5)
        for ours, theirs in zip(decoder.state(), final):
            assert torch.allclose(ours, theirs, atol=1e-5)


def test_the_stepper_picks_the_mogrifier_decoder_and_refuses_it_for_other_cells(tiny_model):
    model = mogrifier(tiny_model)
    assert supports_mogrifier_decoding(model) and has_fast_path(model) and fast_decoder(model) is FastMogrifierDecoder
    stepper = Stepper(model)
    stepper.prefill([1, 2, 3], batch_size=2)
    stepper.step(torch.tensor([4, 5]))
    assert isinstance(stepper._decoder, FastMogrifierDecoder)
    for cell in ("lstm", "gru"):
        with pytest.raises(ValueError, match="Mogrifier LSTM models only"):
            FastMogrifierDecoder(tiny_model(cell=cell), 1)
    assert not has_fast_path(tiny_model(cell="gru"))


class _Plain:
    """A stand-in tokenizer: ids are their own text; nothing is suppressed."""

    never_generated = ()
    end_of_document = None

    def stream_decoder(self, context=(), context_text=None):
        class Decoder:
            def feed(self, token):
                return f"<{token}>"

        return Decoder()


@pytest.mark.parametrize("config", [GenerationConfig(max_tokens=40, temperature=1.0, seed=3, num_samples=4),
                                    GenerationConfig(max_tokens=30, temperature=0.7, top_k=5, seed=11, num_samples=2),
                                    GenerationConfig(max_tokens=30, temperature=0)])
def test_seeded_samples_are_the_reference_paths_tokens(tiny_model, config):
    model = mogrifier(tiny_model, num_layers=2)
    tokens = {fast: [record.tokens for record in decode(model, _Plain(), [1, 2, 3], config, make_generator(config.seed), fast=fast)]
              for fast in (True, False)}
    assert len(tokens[True]) == config.max_tokens and tokens[True] == tokens[False]
    assert len(set(tokens[True])) > 1  # the samples move


def test_beam_search_finds_the_reference_paths_beams(tiny_model, monkeypatch):
    model = mogrifier(tiny_model, num_layers=2)
    config = GenerationConfig(max_tokens=15, num_beams=3, num_samples=2)
    beams = {}
    for fast in (True, False):
        # lstmgen.decoding.beam_search is also the name of the function: the module is found by its full name.
        monkeypatch.setattr(sys.modules["lstmgen.decoding.beam_search"], "Stepper", functools.partial(Stepper, fast=fast))
        beams[fast] = [hypothesis.token_ids for hypothesis in beam_search(model, _Plain(), [1, 2, 3], config)]
    assert beams[True] == beams[False] and len(beams[True]) == 2


def test_streams_are_selected_and_appended_as_on_the_reference_path(tiny_model):
    model = mogrifier(tiny_model)
    tokens = torch.randint(1, 30, (3, 8), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected, _ = model(tokens)
        _, extra_state = model(tokens[:2, :5])
    for fast in (True, False):
        stepper = Stepper(model, fast=fast)
        stepper.prefill(tokens[:, :3], batch_size=3)
        stepper.step(tokens[:, 3])
        stepper.select(torch.tensor([2, 2, 0]))
        assert torch.allclose(stepper.step(tokens[[2, 2, 0], 4]), expected[[2, 2, 0], 4], atol=1e-5)
        assert stepper.append(extra_state, capacity=8) == 3  # two more streams, after tokens[:2, :5]
        logits = stepper.step(torch.cat([tokens[[2, 2, 0], 5], tokens[:2, 5]]))
        assert torch.allclose(logits, expected[[2, 2, 0, 0, 1], 5], atol=1e-5)


def test_the_batching_engine_draws_the_reference_paths_text(tiny_model):
    tokenizer = CharTokenizer.fit("abcdefgh \n")
    lm = LanguageModel(mogrifier(tiny_model, vocab_size=tokenizer.vocab_size), tokenizer)
    texts = {}
    for fast in (None, False):
        engine = BatchEngine(lm.decoding_model, tokenizer, fast=fast)
        found = []
        for index, prompt in enumerate(["abc", "h", "ggg a"]):
            config = GenerationConfig(max_tokens=12 + index, seed=index, num_samples=1 + index % 2)
            group = SampleGroup(tokenizer, lm.encode_prompt(prompt), config, make_generator(config.seed), prompt_text=prompt)
            found.append([])
            engine.add(group, lambda record, into=found[-1]: into.append(record.texts), lambda error: None)
        while engine.busy:
            engine.run_once()
        texts[fast] = found
    assert texts[None] == texts[False] and all(texts[None])


@pytest.fixture
def reduce_everything(monkeypatch):
    """Tiny test models have no product big enough to be reduced: reduce every one."""
    monkeypatch.setattr(projections, "SMALLEST_REDUCED", 0)


@pytest.mark.parametrize("precision", RUNNABLE)
def test_reduced_precisions_follow_the_fp32_logits(tiny_model, precision, reduce_everything):
    model = mogrifier(tiny_model, hidden_size=64, num_layers=2)
    tokens = torch.randint(0, 30, (3, 12), generator=torch.Generator().manual_seed(1))
    logits = {}
    for name in ("fp32", precision):
        stepper = Stepper(at_decoding_precision(model, name), suppress=(0,))
        rows = [stepper.prefill(tokens[:, :4], 3)]
        for column in range(4, 12):
            rows.append(stepper.step(tokens[:, column]).clone())
        logits[name] = torch.stack(rows)
    difference = (logits[precision][..., 1:] - logits["fp32"][..., 1:]).abs().max()
    assert 0 < difference < {"fp16": 0.005, "bf16": 0.05, "int8": 0.05}[precision]


def test_language_model_accepts_reduced_precisions_for_the_mogrifier(tiny_model):
    tokenizer = CharTokenizer.fit("abcdefgh \n")
    model = mogrifier(tiny_model, vocab_size=tokenizer.vocab_size)
    lm = LanguageModel(model, tokenizer, precision="auto")  # the fastest measured here, or fp32 with its reason
    assert lm.precision in ("fp32", "fp16", "int8") and lm.precision_reason
    assert len(lm.generate("abc", max_tokens=5, seed=1)) >= 5
