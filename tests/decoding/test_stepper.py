"""lstmgen.decoding.stepper: the one place a model is stepped token by token."""

import pytest
import torch

from lstmgen.decoding import Stepper


def _forward(model, tokens):
    with torch.no_grad():
        return model(tokens)  # the reference: the whole sequence in one call


@pytest.mark.parametrize("cell, fast", [("lstm", True), ("lstm", False), ("gru", False), ("rnn", False), ("mogrifier", True),
                                        ("mogrifier", False)])
def test_prefill_then_steps_give_the_models_own_logits(tiny_model, cell, fast):
    model = tiny_model(cell=cell)
    tokens = torch.randint(1, 30, (3, 12), generator=torch.Generator().manual_seed(0))
    expected, final = _forward(model, tokens)
    stepper = Stepper(model, suppress=(0,), fast=fast)
    logits = stepper.prefill(tokens[:, :4], batch_size=3)  # one prompt per stream
    assert torch.allclose(logits[:, 1:], expected[:, 3, 1:], atol=1e-5) and torch.isneginf(logits[:, 0]).all()
    for t in range(4, 12):
        logits = stepper.step(tokens[:, t])
        assert torch.isneginf(logits[:, 0]).all()  # suppressed ids: -inf on every path
        assert torch.allclose(logits[:, 1:], expected[:, t, 1:], atol=1e-5)
    for ours, theirs in zip(stepper.state(), final):
        assert torch.allclose(ours, theirs, atol=1e-5)


def test_one_prompt_is_copied_to_every_stream(tiny_model):
    model = tiny_model()
    logits = Stepper(model).prefill([3, 4, 5], batch_size=4)
    assert logits.shape == (4, 30) and all(torch.equal(row, logits[0]) for row in logits)


def _prefilled(model, tokens, prompt: int):
    """(fast, stepper) for both paths, each after reading tokens[:, :prompt] (one prompt per stream)."""
    for fast in (True, False):
        stepper = Stepper(model, fast=fast)
        stepper.prefill(tokens[:, :prompt], batch_size=tokens.shape[0])
        yield fast, stepper


def test_the_leading_streams_step_and_the_rest_are_dropped(tiny_model):
    model = tiny_model()
    tokens = torch.randint(1, 30, (5, 6), generator=torch.Generator().manual_seed(1))
    expected, _ = _forward(model, tokens)
    for _, stepper in _prefilled(model, tokens, 2):
        assert torch.allclose(stepper.step(tokens[:, 2]), expected[:, 2], atol=1e-5)
        assert torch.allclose(stepper.step(tokens[:3, 3]), expected[:3, 3], atol=1e-5)  # two streams dropped
        assert stepper.batch_size == 3 and stepper.state()[0].shape[1] == 3
        with pytest.raises(ValueError, match="at most one token per stream"):
            stepper.step(tokens[:, 4])


def test_a_step_without_logits_advances_the_same_state(tiny_model):
    model = tiny_model()
    tokens = torch.randint(1, 30, (2, 6), generator=torch.Generator().manual_seed(2))
    expected, _ = _forward(model, tokens)
    for fast, stepper in _prefilled(model, tokens, 2):
        returned = stepper.step(tokens[:, 2], logits=False)
        assert (returned is None) == fast  # the reference path computes its logits anyway
        assert torch.allclose(stepper.step(tokens[:, 3]), expected[:, 3], atol=1e-5)


def test_select_reorders_and_repeats_streams(tiny_model):
    model = tiny_model()
    tokens = torch.randint(1, 30, (3, 5), generator=torch.Generator().manual_seed(2))
    expected, _ = _forward(model, tokens)
    for fast in (True, False):
        stepper = Stepper(model, fast=fast)
        stepper.prefill(tokens[:, :2], batch_size=3)
        stepper.step(tokens[:, 2])  # builds the fast decoder
        stepper.select(torch.tensor([2, 2, 0]))
        logits = stepper.step(tokens[[2, 2, 0], 3])
        assert torch.allclose(logits, expected[[2, 2, 0], 3], atol=1e-5)


def test_load_state_continues_from_a_carried_state(tiny_model):
    model = tiny_model()
    tokens = torch.randint(1, 30, (2, 8), generator=torch.Generator().manual_seed(3))
    expected, _ = _forward(model, tokens)
    with torch.no_grad():
        _, state = model(tokens[:, :5])
    for fast in (True, False):
        stepper = Stepper(model, fast=fast)
        stepper.load_state(state)
        assert torch.allclose(stepper.step(tokens[:, 5]), expected[:, 5], atol=1e-5)
    # prefill may continue a carried state too
    logits = Stepper(model).prefill(tokens[:, 5:7], batch_size=2, state=state)
    assert torch.allclose(logits, expected[:, 6], atol=1e-5)


def test_the_stepper_leaves_the_model_and_autograd_as_it_found_them(tiny_model):
    model = tiny_model(dropout=0.5)
    model.train()
    stepper = Stepper(model, fast=False)
    first = stepper.prefill([1, 2, 3])
    again = Stepper(model, fast=False).prefill([1, 2, 3])
    assert torch.equal(first, again)  # eval mode inside: no dropout
    assert model.training  # and training mode restored
    step = stepper.step(torch.tensor([4]))
    assert not torch.is_inference_mode_enabled() and torch.is_grad_enabled()
    assert not step.requires_grad
    # Tokens drawn from its logits are ordinary tensors: SeqGAN trains on what it draws.
    drawn = torch.multinomial(step.softmax(-1), 1)
    assert not drawn.is_inference()
    embedded = model.embedding(drawn)  # a graph can be built on them
    assert embedded.requires_grad


def test_observe_sees_every_prompt_position_in_chunks(tiny_model, monkeypatch):
    import lstmgen.decoding.stepper as stepper_module

    monkeypatch.setattr(stepper_module, "PREFILL_CHUNK", 4)
    model = tiny_model()
    tokens = torch.randint(0, 30, (1, 10), generator=torch.Generator().manual_seed(4))
    expected, _ = _forward(model, tokens)
    seen = []
    Stepper(model, suppress=(0,)).prefill(tokens[0], observe=lambda logits, offset: seen.append((offset, logits.clone())))
    assert [offset for offset, _ in seen] == [0, 4, 8]
    observed = torch.cat([logits for _, logits in seen], dim=1)  # [1, 10, V]
    assert torch.isneginf(observed[..., 0]).all()
    assert torch.allclose(observed[..., 1:], expected[..., 1:], atol=1e-5)


def test_an_empty_prompt_is_refused(tiny_model):
    with pytest.raises(ValueError, match="at least one token"):
        Stepper(tiny_model()).prefill([])
    with pytest.raises(ValueError, match="LSTM models only"):
        Stepper(tiny_model(cell="gru"), fast=True)
