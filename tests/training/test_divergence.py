"""lstmgen.training.divergence: a non-finite loss or gradient never reaches the weights, best/, or a checkpoint."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from lstmgen.training.divergence import DivergenceError, DivergenceGuard, is_finite_step, is_improvement


def _toy():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    return model, torch.optim.AdamW(model.parameters(), lr=0.1)


def _step(model, optimizer, guard, poison: float = 1.0) -> bool:
    """One training step as the trainer would take it with the guard wired in."""
    inputs = torch.ones(4, 3)
    loss = (model(inputs) ** 2).mean() * poison
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    if not guard.check(loss, norm):
        optimizer.zero_grad(set_to_none=True)
        return False
    optimizer.step()
    return True


def _copy(model):
    return {name: value.clone() for name, value in model.state_dict().items()}


def test_a_nan_step_is_skipped_the_last_good_state_restored_and_the_rate_halved():
    model, optimizer = _toy()
    guard = DivergenceGuard(model, optimizer, max_failures=3)
    for _ in range(3):
        assert _step(model, optimizer, guard)
    guard.remember()  # an evaluation scored this state
    good, good_moments = _copy(model), optimizer.state_dict()["state"][0]["exp_avg"].clone()
    assert _step(model, optimizer, guard)  # a good step after the remembered state ...
    assert not _step(model, optimizer, guard, poison=float("nan"))  # ... then a NaN: back to the remembered state
    assert all(torch.equal(value, good[name]) for name, value in model.state_dict().items())
    assert torch.equal(optimizer.state_dict()["state"][0]["exp_avg"], good_moments)
    assert guard.learning_rate_scale == 0.5 and guard.failures == 1
    assert not _step(model, optimizer, guard, poison=float("inf"))
    assert guard.learning_rate_scale == 0.25
    with pytest.raises(DivergenceError, match=r"training diverged: 3 steps .*step 7.*x0.125.*Lower --learning-rate"):
        guard.check(torch.tensor(float("nan")), step=7)
    assert all(torch.isfinite(value).all() for value in model.state_dict().values())


def test_failures_count_since_the_last_good_evaluation():
    model, optimizer = _toy()
    guard = DivergenceGuard(model, optimizer, max_failures=2)
    for _ in range(5):  # five bad steps, each followed by a good evaluation: never two in a row
        assert not _step(model, optimizer, guard, poison=float("nan"))
        assert _step(model, optimizer, guard)
        guard.remember()
    assert guard.total_failures == 5 and guard.learning_rate_scale == pytest.approx(0.5 ** 5)
    restored = DivergenceGuard(model, optimizer)
    restored.load_state_dict(guard.state_dict())  # a resumed run continues with the same scale
    assert restored.state_dict() == guard.state_dict()


def test_an_infinite_gradient_with_a_finite_loss_is_refused():
    assert is_finite_step(torch.tensor(2.0), torch.tensor(1.5))
    assert not is_finite_step(torch.tensor(2.0), torch.tensor(float("inf")))
    assert not is_finite_step(float("nan"))
    assert is_finite_step(3.0, None)


def test_a_non_finite_validation_loss_is_never_an_improvement():
    assert not is_improvement(float("nan"), None)  # the first evaluation of a diverged run must not become best/
    assert not is_improvement(float("inf"), None) and not is_improvement(None, None)
    assert is_improvement(2.0, None) and is_improvement(1.5, {"val_nats": 2.0}) and not is_improvement(2.5, {"val_nats": 2.0})
    assert is_improvement(3.0, {"val_nats": float("nan")})  # a NaN best (saved before this guard) is replaced by any finite one


@pytest.mark.parametrize("guarded", [True, False])
def test_on_a_language_model_a_bad_batch_never_poisons_the_weights(tiny_model, guarded):
    """A tiny LSTM trained on random tokens, with an overflow injected at steps 12 and 13 (as a bad batch or an fp16
    overflow would give): with the guard every weight stays finite and no NaN evaluation becomes the best one."""
    model = tiny_model(vocab_size=20, num_layers=1).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    guard = DivergenceGuard(model, optimizer, max_failures=3)
    generator = torch.Generator().manual_seed(0)
    best, validation = None, torch.randint(0, 20, (2, 33), generator=generator)
    for step in range(1, 31):
        tokens = torch.randint(0, 20, (4, 17), generator=generator)
        logits, _ = model(tokens[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, 20), tokens[:, 1:].reshape(-1)) * (float("nan") if step in (12, 13) else 1.0)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        for group in optimizer.param_groups:
            group["lr"] = 1e-2 * guard.learning_rate_scale
        if guarded and not guard.check(loss, norm, step):
            continue
        optimizer.step()
        if step % 10 == 0:
            with torch.no_grad():
                logits, _ = model(validation[:, :-1])
                nats = F.cross_entropy(logits.reshape(-1, 20), validation[:, 1:].reshape(-1)).item()
            if is_improvement(nats, best):
                best = {"step": step, "val_nats": nats}
            if math.isfinite(nats):
                guard.remember()
    finite = all(bool(torch.isfinite(value).all()) for value in model.state_dict().values())
    assert finite is guarded
    if guarded:
        assert best is not None and math.isfinite(best["val_nats"]) and guard.learning_rate_scale == 0.25
    else:
        assert best["step"] == 10  # without the guard, the weights are NaN from step 12 on
