"""Reduced-precision decoding weights (lstmgen.decoding.projections): each precision computes the same products
to its rounding, the decoder and LanguageModel use them, and a precision this machine cannot run is refused."""

from __future__ import annotations

import pytest
import torch

from lstmgen import LanguageModel
from lstmgen.cli import main
from lstmgen.decoding import Stepper, projections
from lstmgen.decoding.projections import PrecisionError, Projection, at_decoding_precision, check_precision, decoding_precision

RUNNABLE = [p for p in ("fp32", "fp16", "bf16", "int8")
            if (p != "bf16" or projections.native_bf16(torch.device("cpu"))) and (p != "fp16" or projections.fp16_kernel())]
needs_fp16 = pytest.mark.skipif(not projections.fp16_kernel(), reason="FBGEMM's fp16 kernels need an x86-64 CPU with AVX2 and F16C")


needs_bf16 = pytest.mark.skipif(not projections.native_bf16(torch.device("cpu")),
                                reason="this CPU has no bf16 instructions (AVX-512-BF16 or AMX); the refusal is tested below")
MARKS = {"fp16": needs_fp16, "bf16": needs_bf16}


@pytest.mark.parametrize("precision", [pytest.param(p, marks=MARKS.get(p, ())) for p in ("fp32", "fp16", "bf16", "int8")])
@pytest.mark.parametrize("accumulate", [False, True])
def test_a_projection_computes_x_times_w_plus_b_to_its_rounding(precision, accumulate):
    torch.manual_seed(0)
    weight, bias, x = torch.randn(512, 640) * 0.05, torch.randn(640), torch.randn(5, 512)  # big enough to be reduced
    start = torch.randn(5, 640)
    out = start.clone() if accumulate else torch.empty(5, 640)
    Projection(weight, bias, precision)(x, out, accumulate=accumulate)
    expected = (start if accumulate else 0) + x @ weight + bias
    error = (out - expected).abs().max() / expected.abs().max()
    assert error < {"fp32": 1e-6, "fp16": 1e-3, "bf16": 1e-2, "int8": 2e-2}[precision]
    assert precision == "fp32" or error > 1e-5  # the reduced kinds really are reduced


def test_int8_keeps_every_column_on_its_own_scale():
    weight = torch.ones(1024, 256)
    weight[:, 0], weight[:, 1], weight[:, 2] = 1e-4, 1.0, 100.0  # columns six orders of magnitude apart
    weight[0] *= -1
    out = torch.empty(1, 256)
    Projection(weight, None, "int8")(torch.full((1, 1024), 0.5), out)
    assert torch.allclose(out[0, :3], (torch.full((1, 1024), 0.5) @ weight)[0, :3], rtol=1e-2)


@pytest.mark.parametrize("precision", ["fp16", "bf16", "int8"])
def test_small_products_stay_fp32(precision):
    projection = Projection(torch.randn(512, 65), torch.zeros(65), precision)  # a character model's output layer
    assert projection.precision == "fp32"


@pytest.fixture
def reduce_everything(monkeypatch):
    """Tiny test models have no product big enough to be reduced: reduce every one."""
    monkeypatch.setattr(projections, "SMALLEST_REDUCED", 0)


@pytest.mark.parametrize("precision", RUNNABLE)
def test_the_stepper_at_each_precision_follows_the_fp32_logits(tiny_model, precision, reduce_everything):
    model = tiny_model(vocab_size=30, hidden_size=64, num_layers=2)
    tokens = torch.randint(0, 30, (3, 12), generator=torch.Generator().manual_seed(1))
    logits = {}
    for name in ("fp32", precision):
        stepper = Stepper(at_decoding_precision(model, name), suppress=(0,))
        rows = [stepper.prefill(tokens[:, :4], 3)]
        for column in range(4, 12):
            rows.append(stepper.step(tokens[:, column]).clone())
        logits[name] = torch.stack(rows)  # [9, 3, V]
    assert torch.isinf(logits[precision][..., 0]).all()  # suppressed ids stay -inf at every precision
    finite = logits["fp32"][..., 1:]
    difference = (logits[precision][..., 1:] - finite).abs().max()
    assert difference < {"fp32": 1e-5, "fp16": 0.005, "bf16": 0.05, "int8": 0.05}[precision]


@pytest.mark.parametrize("precision", [p for p in RUNNABLE if p != "fp32"])
def test_a_reduced_stepper_reads_the_prompt_through_its_own_weights(tiny_model, precision, reduce_everything, monkeypatch):
    model = tiny_model(vocab_size=30, hidden_size=64, num_layers=2)
    prompt = torch.randint(1, 30, (7,), generator=torch.Generator().manual_seed(3))
    # The reference: a fresh state, then every prompt token stepped one at a time at this precision.
    stepwise = Stepper(at_decoding_precision(model, precision), suppress=(0,))
    stepwise.load_state(model.init_state(1))
    with torch.inference_mode():
        for token in prompt:
            expected = stepwise.step(token[None]).clone()  # [1, V]
    stepper = Stepper(at_decoding_precision(model, precision), suppress=(0,))
    outputs = []  # the products that write logits [n, V]: the prompt's last position only
    original = Projection.__call__

    def counting(self, x, out, **options):
        if out.shape[-1] == 30:
            outputs.append(len(x))
        return original(self, x, out, **options)

    monkeypatch.setattr(Projection, "__call__", counting)
    logits = stepper.prefill(prompt, batch_size=3)  # [3, V]: the one prompt's start copied to 3 streams
    monkeypatch.setattr(Projection, "__call__", original)
    assert len(outputs) == 1
    assert torch.equal(logits, expected.expand(3, -1))
    h, c = stepper.state()
    assert h.shape[1] == 3 and torch.equal(h[:, 0], h[:, 2]) and torch.equal(c[:, 1], stepwise.state()[1][:, 0])
    with torch.inference_mode():
        fp32 = model.eval()(prompt[None])[0][0, -1]
    assert (logits[0, 1:] - fp32[1:]).abs().max() > 1e-6  # really read at the reduced precision
    # Scoring a prompt position by position (observe) reads it with the fp32 model, as the docs say.
    seen = []
    Stepper(at_decoding_precision(model, precision), suppress=(0,)).prefill(prompt, observe=lambda chunk, start: seen.append(chunk.clone()))
    assert torch.allclose(seen[0][0, -1, 1:], fp32[1:], atol=1e-5)


@pytest.mark.parametrize("precision", [p for p in RUNNABLE if p != "fp32"])
def test_a_reduced_model_writes_what_the_full_one_writes(lm, precision, reduce_everything):
    reduced = lm.with_precision(precision)
    assert reduced.precision == precision and reduced.model is lm.model  # shared weights, not a copy
    assert all(a is b for a, b in zip(reduced.decoding_model.parameters(), lm.model.parameters()))
    assert decoding_precision(reduced.decoding_model) == precision and decoding_precision(lm.decoding_model) == "fp32"
    full = lm.generate("the quick", max_tokens=40, temperature=0)
    # Greedy decoding of a trained model: rounding the weights rarely changes which token is likeliest.
    assert reduced.generate("the quick", max_tokens=40, temperature=0)[:20] == full[:20]
    assert len(reduced.samples("the", max_tokens=30, num_samples=3, seed=2)) == 3
    assert lm.precision == "fp32"


def test_impossible_precisions_are_refused_with_what_to_use(monkeypatch, tiny_model, lm):
    with pytest.raises(PrecisionError, match="must be one of"):
        lm.with_precision("fp8")
    monkeypatch.setattr(projections, "cpu_flags", lambda: frozenset({"avx2", "fma"}))  # an AVX2-only CPU without F16C
    with pytest.raises(PrecisionError, match="fp16.*int8"):
        check_precision("bf16", torch.device("cpu"))
    with pytest.raises(PrecisionError, match="no bf16 instructions"):  # a Projection made directly says the same
        Projection(torch.randn(512, 640), None, "bf16")
    with pytest.raises(PrecisionError, match="AVX2 and F16C"):
        check_precision("fp16", torch.device("cpu"))
    with pytest.raises(PrecisionError, match="AVX2 and F16C"):  # and so does a Projection made directly
        Projection(torch.randn(512, 640), None, "fp16")
    check_precision("int8", torch.device("cpu"))
    gru = LanguageModel(tiny_model(cell="gru", vocab_size=lm.tokenizer.vocab_size), lm.tokenizer)
    with pytest.raises(PrecisionError, match="LSTM"):
        gru.with_precision("int8")


@pytest.mark.parametrize("precision", [p for p in RUNNABLE if p != "fp32"])
def test_generate_takes_a_precision_flag(tiny_run, capsys, precision):
    assert main(["generate", str(tiny_run), "--prompt", "the", "--length", "30", "--precision", precision, "--seed", "3"]) == 0
    assert capsys.readouterr().out.startswith("the")
    with pytest.raises(SystemExit):  # argparse refuses a precision it does not know, naming the choices
        main(["generate", str(tiny_run), "--precision", "fp8"])
    assert "fp32, fp16, bf16, int8" in capsys.readouterr().err.replace("'", "")


@needs_fp16
def test_fp16_refuses_a_weight_beyond_its_range():
    weight = torch.randn(512, 640)
    weight[3, 7] = 1e5  # fp16's largest finite value is 65,504
    with pytest.raises(PrecisionError, match="beyond fp16's range"):
        Projection(weight, None, "fp16")


def test_auto_picks_the_precision_measured_fastest_for_the_cpu(monkeypatch, tiny_model, lm):
    cpu = torch.device("cpu")
    monkeypatch.setattr(projections, "_VNNI", True)  # an AVX-512 or AMX CPU with VNNI
    assert projections.automatic_precision(cpu)[0] == "int8"
    monkeypatch.setattr(projections, "_VNNI", False)
    monkeypatch.setattr(projections, "cpu_flags", lambda: frozenset({"sse2", "avx2", "fma", "f16c"}))  # AVX2 only
    if "fbgemm" in torch.backends.quantized.supported_engines:
        precision, reason = projections.automatic_precision(cpu)
        assert precision == "fp16" and "no VNNI" in reason
    monkeypatch.setattr(projections, "cpu_flags", lambda: frozenset({"sse2"}))  # nothing measured faster
    assert projections.automatic_precision(cpu)[0] == "fp32"
    assert projections.automatic_precision(torch.device("cuda"))[0] == "fp32"
    assert projections.automatic_precision(cpu, lstm=False)[0] == "fp32"
    gru = LanguageModel(tiny_model(cell="gru", vocab_size=lm.tokenizer.vocab_size), lm.tokenizer, precision="auto")
    assert gru.precision == "fp32" and "LSTM" in gru.precision_reason


def test_auto_on_this_machine_runs_and_says_what_it_chose(tiny_run, capsys):
    chosen = LanguageModel.load(tiny_run, precision="auto")
    assert chosen.precision in RUNNABLE and chosen.precision_reason
    assert chosen.info()["decoding"] == {"precision": chosen.precision, "reason": chosen.precision_reason}  # what /info serves
    assert LanguageModel.load(tiny_run, precision="fp32").precision_reason is None  # a named precision is not explained
    assert main(["generate", str(tiny_run), "--prompt", "the", "--length", "20", "--precision", "auto", "--seed", "3"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("the") and f"decoding precision {chosen.precision}: " in err
